//! Finding spec files and resolving their imports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;
use crate::syntax::{self, ast::SpecFile};

/// The file extension of spec files.
pub const EXTENSION: &str = "oauthspec";

/// A spec file with everything it imports, ready to check and run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub file: Arc<SpecFile>,
    /// Imported files, depth first, each once, in the order their `vars`
    /// and `client` blocks take effect (before the file's own).
    pub imports: Vec<Arc<SpecFile>>,
}

impl Spec {
    /// `suite "name"`, else the file stem.
    pub fn suite_name(&self) -> String {
        match &self.file.suite {
            Some(name) => name.node.clone(),
            None => self
                .file
                .source
                .path
                .file_stem()
                .map_or_else(|| "spec".into(), |s| s.to_string_lossy().into_owned()),
        }
    }

    /// Files with no steps only share `vars` and clients; they are not suites.
    pub fn is_suite(&self) -> bool {
        !self.file.steps.is_empty()
    }

    /// This file and its imports, imports first.
    pub fn files(&self) -> impl Iterator<Item = &Arc<SpecFile>> {
        self.imports.iter().chain(std::iter::once(&self.file))
    }
}

/// Every `*.oauthspec` file under `paths` (files are taken as named,
/// directories recursively), sorted for a deterministic order.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostic> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found).map_err(|e| {
                Diagnostic::error(format!("cannot read directory {}: {e}", path.display()))
            })?;
        } else if path.is_file() {
            found.push(path.clone());
        } else if path.exists() {
            return Err(Diagnostic::error(format!(
                "not a regular file: {}",
                path.display()
            )));
        } else {
            return Err(Diagnostic::error(format!(
                "no such file or directory: {}",
                path.display()
            )));
        }
    }
    found.dedup();
    Ok(found)
}

/// Directories reached through a symbolic link are not entered (as
/// ripgrep does): a link to `..` would repeat every spec, two would loop.
/// A linked spec file is taken. Hidden entries (`.git`, the `..data`
/// copies of a Kubernetes ConfigMap) are skipped, as ripgrep does.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = std::fs::read_dir(dir)?
        .map(|e| e.and_then(|e| Ok((e.path(), e.file_type()?))))
        .collect::<Result<_, _>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in entries {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if kind.is_dir() {
            walk(&path, found)?;
        } else if (kind.is_file() || (kind.is_symlink() && path.is_file()))
            && path.extension().is_some_and(|e| e == EXTENSION)
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Parses files once each, however often they are imported.
#[derive(Default)]
pub struct Loader {
    parsed: HashMap<PathBuf, Parsed>,
    /// The files as `discover` named them, by key: a file is shown under
    /// that name even when an import (`../x`) reaches it first.
    named: HashMap<PathBuf, PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
}

/// One file's parse. Its diagnostics move to the loader's list when the
/// file is first used, so they appear in the same order however (and on
/// however many threads) the files were parsed.
struct Parsed {
    file: Option<Arc<SpecFile>>,
    diagnostics: Vec<Diagnostic>,
    /// Its tree was dropped (see `release`); its diagnostics were reported.
    released: bool,
}

fn parse_text(path: &Path, text: String) -> Parsed {
    let source = SourceFile::new(path, text);
    let (file, diagnostics) = syntax::parse(&source);
    Parsed {
        file: file.map(Arc::new),
        diagnostics,
        released: false,
    }
}

impl Loader {
    /// Loads `path` and its imports. Problems go to `self.diagnostics`.
    pub fn load(&mut self, path: &Path) -> Option<Spec> {
        let file = match self.parse_file(path) {
            Ok(file) => file?,
            Err(e) => {
                let message = format!("cannot read {}: {e}", path.display());
                self.diagnostics.push(Diagnostic::error(message));
                return None;
            }
        };
        let mut imports = Vec::new();
        let mut chain = vec![(path.to_path_buf(), normalize(path))];
        self.collect_imports(&file, &mut chain, &mut imports);
        Some(Spec { file, imports })
    }

    /// The file's tree (`None` when it has syntax errors, which go to the
    /// diagnostics), or why it could not be read.
    fn parse_file(&mut self, path: &Path) -> std::io::Result<Option<Arc<SpecFile>>> {
        let key = normalize(path);
        let path = self.named.get(&key).map_or(path, PathBuf::as_path);
        if !self.parsed.contains_key(&key) {
            let text = crate::util::files::read_input(path)?;
            self.parsed.insert(key.clone(), parse_text(path, text));
        }
        let Some(parsed) = self.parsed.get_mut(&key) else {
            return Ok(None);
        };
        if parsed.released {
            // Wanted again (an import of a later file): parsed again, its
            // diagnostics already reported once.
            let again = parse_text(path, crate::util::files::read_input(path)?);
            parsed.file = again.file;
            parsed.released = false;
        }
        self.diagnostics.append(&mut parsed.diagnostics);
        Ok(parsed.file.clone())
    }

    /// The files `discover` found, so that each is shown by that name.
    pub fn name(&mut self, files: &[PathBuf]) {
        let keys = crate::util::parallel::map(files, |path| normalize(path));
        self.named
            .extend(keys.into_iter().zip(files.iter().cloned()));
    }

    /// Drops the loader's tree of `path`, once its spec is done with.
    pub fn release(&mut self, path: &Path) {
        if let Some(parsed) = self.parsed.get_mut(&normalize(path)) {
            parsed.file = None;
            parsed.released = true;
        }
    }

    /// Parses `files` on every core up front; `load` then finds them
    /// parsed. Unreadable files are left for `load` to report.
    pub fn parse_ahead(&mut self, files: &[PathBuf]) {
        let parsed = crate::util::parallel::map(files, |path| {
            let key = normalize(path);
            // Met already as an import: parsed, and maybe reported.
            if self.parsed.contains_key(&key) {
                return None;
            }
            let text = crate::util::files::read_input(path).ok()?;
            Some((key, parse_text(path, text)))
        });
        self.parsed.extend(parsed.into_iter().flatten());
    }

    /// `chain` holds the files importing this one, as written and as
    /// keys (normalized once each: a deep chain made this cubic).
    fn collect_imports(
        &mut self,
        file: &Arc<SpecFile>,
        chain: &mut Vec<(PathBuf, PathBuf)>,
        out: &mut Vec<Arc<SpecFile>>,
    ) {
        let dir = file.source.path.parent().unwrap_or(Path::new(""));
        for import in &file.imports {
            let target = dir.join(&import.node);
            let chain_text = || {
                chain
                    .iter()
                    .map(|(p, _)| p)
                    .chain(std::iter::once(&target))
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" → ")
            };
            let key = normalize(&target);
            if chain.iter().any(|(_, k)| *k == key) {
                self.diagnostics.push(
                    Diagnostic::error(format!("import cycle: {}", chain_text()))
                        .at(&file.source, import.span)
                        .label("this import closes the cycle"),
                );
                continue;
            }
            let imported = match self.parse_file(&target) {
                Ok(Some(imported)) => imported,
                Ok(None) => continue,
                Err(e) => {
                    let (message, help) = if e.kind() == std::io::ErrorKind::NotFound {
                        (
                            format!("imported file {} does not exist", target.display()),
                            "import paths are relative to the importing file",
                        )
                    } else {
                        (
                            format!("cannot read imported file {}: {e}", target.display()),
                            "an import must be a readable spec file",
                        )
                    };
                    self.diagnostics.push(
                        Diagnostic::error(message)
                            .at(&file.source, import.span)
                            .label("imported here")
                            .note(format!("import chain: {}", chain_text()))
                            .help(help),
                    );
                    continue;
                }
            };
            // Reached before by another path: it and its imports are in.
            if out.iter().any(|f| Arc::ptr_eq(f, &imported)) {
                continue;
            }
            chain.push((target.clone(), key));
            self.collect_imports(&imported, chain, out);
            chain.pop();
            out.push(imported);
        }
    }
}

/// A path key that treats `a/./b` and `a/b` as one file.
fn normalize(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.components().collect())
}

/// Loads a spec held in memory (tests, tools); imports are read from disk
/// relative to `path`.
pub fn load_str(path: &Path, text: &str) -> (Option<Spec>, Vec<Diagnostic>) {
    let source = SourceFile::new(path, text);
    let (file, mut diagnostics) = syntax::parse(&source);
    let Some(file) = file.map(Arc::new) else {
        return (None, diagnostics);
    };
    let mut loader = Loader::default();
    let mut imports = Vec::new();
    let mut chain = vec![(path.to_path_buf(), normalize(path))];
    loader.collect_imports(&file, &mut chain, &mut imports);
    diagnostics.append(&mut loader.diagnostics);
    (Some(Spec { file, imports }), diagnostics)
}
