//! What can stop a run from starting or from keeping its files, as data.
//! Problems in spec files are [`Diagnostic`](crate::diagnostic::Diagnostic)s
//! and failed steps are results; these are the rest.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// The run-wide CA certificates (`RunOptions::cacert`) cannot be read
    /// or used.
    CaCert { path: PathBuf, reason: String },
    /// The token cache file cannot be read, locked, parsed or written.
    TokenCache {
        path: PathBuf,
        action: CacheAction,
        reason: String,
    },
    /// A report file that could not be written.
    Report { path: PathBuf, source: io::Error },
    /// A shard's report, or a spec file it ran, that `report merge` cannot
    /// merge.
    Merge { path: PathBuf, reason: String },
}

/// What was being done to the token cache file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAction {
    Read,
    Lock,
    Write,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::CaCert { path, reason } => {
                write!(
                    f,
                    "cannot use the CA certificates in {}: {reason}",
                    path.display()
                )
            }
            Error::TokenCache {
                path,
                action,
                reason,
            } => {
                let verb = match action {
                    CacheAction::Read => "read",
                    CacheAction::Lock => "lock",
                    CacheAction::Write => "write",
                };
                write!(f, "cannot {verb} token cache {}: {reason}", path.display())
            }
            Error::Report { path, source } => {
                write!(f, "cannot write report {}: {source}", path.display())
            }
            Error::Merge { path, reason } => write!(f, "cannot merge {}: {reason}", path.display()),
        }
    }
}

/// The messages already hold their cause, so none is chained.
impl std::error::Error for Error {}

impl Error {
    pub(crate) fn cache(
        path: &std::path::Path,
        action: CacheAction,
        reason: impl fmt::Display,
    ) -> Error {
        Error::TokenCache {
            path: path.to_path_buf(),
            action,
            reason: reason.to_string(),
        }
    }
}
