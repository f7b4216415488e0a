//! Writing files so that no reader ever sees half of one.

use std::io::Write as _;
use std::path::Path;

/// The most a file named as input may hold: a spec, an import, a
/// `file(...)`, a vars file, the token cache, a CA bundle.
pub const MAX_INPUT_LEN: u64 = 64 << 20;

/// The text of a file named as input. Only a regular file of at most
/// [`MAX_INPUT_LEN`] bytes is read: `/dev/zero` would never end and a FIFO
/// would block forever.
pub fn read_input(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    let too_big = || invalid(format!("larger than {} MiB", MAX_INPUT_LEN >> 20));
    if meta.len() > MAX_INPUT_LEN {
        return Err(too_big());
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_INPUT_LEN + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_INPUT_LEN {
        return Err(too_big());
    }
    Ok(text)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames
/// it over `path`. Parent directories are created. The file's mode follows
/// the umask, as a file made by `>` would.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, None)
}

/// Like [`write_atomic`], readable by the owner only (mode 0600 on Unix),
/// for files that hold secrets.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, Some(0o600))
}

/// Holds an exclusive advisory lock on `path.lock` (created beside `path`)
/// until dropped: processes that share a file through read-merge-write
/// take turns. The lock file stays; removing it would race.
pub fn lock_beside(path: &Path) -> std::io::Result<std::fs::File> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock = path.with_file_name(name);
    if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(lock)?;
    file.lock()?;
    Ok(file)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".oauthspec-").suffix(".tmp");
    // The system takes the umask off the mode a file is created with;
    // tempfile's own default would be 0600 for every report.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(mode.unwrap_or(0o666)));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable where the platform allows it.
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
