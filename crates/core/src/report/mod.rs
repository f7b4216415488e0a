//! Reporters: what a run found, for people (console) and CI systems.

pub mod annotations;
pub mod console;
pub mod html;
pub mod json;
pub mod junit;
pub mod merge;
pub mod metrics;
pub mod tap;
pub mod transitions;

use std::path::PathBuf;

use crate::error::Error;
use crate::results::RunResult;
use crate::run::{Event, Reporter};

/// The report files as a reporter: written when the run finishes, also
/// when it was interrupted. A file that cannot be written is kept in
/// `errors` for the caller.
pub struct ReportFiles {
    pub paths: ReportPaths,
    /// The reports that could not be written when the run finished.
    pub errors: Vec<Error>,
}

impl Reporter for ReportFiles {
    fn report(&mut self, event: &Event<'_>) {
        if let Event::RunFinished(result) = event {
            self.errors = self.paths.write_all(result);
        }
    }
}

/// The report files a run writes, any combination.
#[derive(Debug, Clone, Default)]
pub struct ReportPaths {
    pub junit: Option<PathBuf>,
    pub tap: Option<PathBuf>,
    pub tap_version: tap::TapVersion,
    pub json: Option<PathBuf>,
    /// A directory: the page is `index.html` in it.
    pub html: Option<PathBuf>,
}

impl ReportPaths {
    /// The requested reports, as paths to show.
    pub fn written(&self) -> Vec<String> {
        let html = self.html.as_ref().map(|d| d.join("index.html"));
        [&self.junit, &self.tap, &self.json, &html]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect()
    }

    /// Writes every requested report (each atomically, each fresh). All are
    /// attempted; the errors are those that failed.
    pub fn write_all(&self, result: &RunResult) -> Vec<Error> {
        let mut errors = Vec::new();
        let mut attempt =
            |path: &Option<PathBuf>, write: &dyn Fn(&std::path::Path) -> std::io::Result<()>| {
                if let Some(path) = path {
                    if let Err(source) = write(path) {
                        let path = path.clone();
                        errors.push(Error::Report { path, source });
                    }
                }
            };
        attempt(&self.junit, &|p| junit::write(result, p));
        attempt(&self.tap, &|p| tap::write(result, self.tap_version, p));
        attempt(&self.json, &|p| json::write(result, p));
        attempt(&self.html, &|p| html::write(result, p));
        errors
    }
}
