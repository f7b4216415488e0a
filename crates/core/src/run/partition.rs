//! Splitting a run's spec files across the jobs of a CI matrix, as
//! cargo-nextest does: `count:K/N` deals the files round-robin in the
//! sorted order of their paths, `hash:K/N` by a stable hash of each path
//! (adding a file moves no other). A file's steps always run together.
//! Paths are taken relative to the working directory, with `/`, so every
//! machine and OS splits alike.

use std::fmt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Count,
    Hash,
}

/// Partition `index` (1-based) of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub method: Method,
    pub index: usize,
    pub total: usize,
}

impl Partition {
    /// `count:K/N` or `hash:K/N`, 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Partition, String> {
        let bad = || format!("{text:?} is not a partition like count:1/3 or hash:2/4");
        let (method, share) = text.split_once(':').ok_or_else(bad)?;
        let method = match method {
            "count" => Method::Count,
            "hash" => Method::Hash,
            _ => return Err(bad()),
        };
        let (index, total) = share.split_once('/').ok_or_else(bad)?;
        let (index, total): (usize, usize) = (
            index.parse().map_err(|_| bad())?,
            total.parse().map_err(|_| bad())?,
        );
        if index == 0 || index > total {
            return Err(format!(
                "{text:?}: the partition number goes from 1 to {total}"
            ));
        }
        Ok(Partition {
            method,
            index,
            total,
        })
    }

    /// Whether the file at `path` (as [`portable`] writes it), the
    /// `position`-th (0-based) of the files in that order, is in this
    /// partition.
    pub fn contains(&self, path: &str, position: usize) -> bool {
        let bucket = match self.method {
            Method::Count => position % self.total,
            Method::Hash => {
                let digest = Sha256::digest(path.as_bytes());
                let mut first = [0u8; 8];
                first.copy_from_slice(&digest[..8]);
                (u64::from_be_bytes(first) % self.total as u64) as usize
            }
        };
        bucket + 1 == self.index
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = match self.method {
            Method::Count => "count",
            Method::Hash => "hash",
        };
        write!(f, "{method}:{}/{}", self.index, self.total)
    }
}

/// `path` relative to the working directory when under it, with `/`.
pub fn portable(path: &Path) -> String {
    match std::env::current_dir() {
        Ok(cwd) => portable_under(path, &cwd),
        Err(_) => portable_under(path, Path::new("")),
    }
}

/// `path` relative to `root` when under it, with `/`.
pub fn portable_under(path: &Path, root: &Path) -> String {
    let relative = std::fs::canonicalize(path)
        .ok()
        .and_then(|absolute| {
            let root = std::fs::canonicalize(root).ok()?;
            absolute.strip_prefix(root).ok().map(Path::to_path_buf)
        })
        .unwrap_or_else(|| path.to_path_buf());
    let parts: Vec<String> = relative
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_parse_as_nextest_writes_them() {
        let p = Partition::parse("hash:2/4").unwrap();
        assert_eq!((p.method, p.index, p.total), (Method::Hash, 2, 4));
        assert_eq!(p.to_string(), "hash:2/4");
        for bad in [
            "count:0/3",
            "count:4/3",
            "count3",
            "slice:1/2",
            "count:a/2",
            "count:1/",
        ] {
            assert!(Partition::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_file_is_in_exactly_one_partition() {
        let paths: Vec<String> = (0..40)
            .map(|i| format!("specs/s{i:02}.oauthspec"))
            .collect();
        for method in ["count", "hash"] {
            let shards: Vec<Partition> = (1..=3)
                .map(|k| Partition::parse(&format!("{method}:{k}/3")).unwrap())
                .collect();
            let mut sizes = [0; 3];
            for (i, path) in paths.iter().enumerate() {
                let holders: Vec<usize> = (0..3).filter(|&s| shards[s].contains(path, i)).collect();
                assert_eq!(holders.len(), 1, "{method} {path}");
                sizes[holders[0]] += 1;
            }
            assert!(sizes.iter().all(|&n| n >= 8), "{method}: {sizes:?}");
        }
        // A stable hash, the same on every machine (pinned from Python's
        // hashlib: SHA-256 of the path, first 8 bytes big-endian, mod N),
        // and adding a file moves no other.
        let h = Partition::parse("hash:1/3").unwrap();
        let first: Vec<usize> = (0..20)
            .filter(|i| h.contains(&format!("specs/s{i:02}.oauthspec"), 999))
            .collect();
        assert_eq!(first, [9, 11, 18]);
    }
}
