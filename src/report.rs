//! `report merge`: the reports of one run from the JSON reports of its
//! partitions.

use std::path::PathBuf;

use oauthspec_core::diagnostic::Diagnostic;
use oauthspec_core::report::console::Console;
use oauthspec_core::report::merge;
use oauthspec_core::report::ReportPaths;

use crate::exit::Exit;
use crate::output::{print_diagnostics, print_error};
use crate::run::outcome;

/// Reads every shard (all problems reported at once), merges, writes the
/// reports; exits as the whole run would have.
pub(crate) fn merge(
    shards: &[PathBuf],
    reports: &ReportPaths,
    console: &Console,
    color: bool,
) -> Exit {
    let (read, unreadable): (Vec<_>, Vec<_>) = (shards.iter())
        .map(|path| merge::read(path).map(|report| (path.clone(), report)))
        .partition(Result::is_ok);
    let refused = |errors: Vec<oauthspec_core::error::Error>| {
        print_diagnostics(
            errors.iter().map(|e| Diagnostic::error(e.to_string())),
            color,
        );
        print_error("nothing was merged", color);
        Exit::Usage
    };
    if !unreadable.is_empty() {
        return refused(unreadable.into_iter().filter_map(Result::err).collect());
    }
    let result = match merge::merge(read.into_iter().filter_map(Result::ok).collect()) {
        Ok(result) => result,
        Err(e) => return refused(vec![e]),
    };
    let unwritten = reports.write_all(&result);
    if !unwritten.is_empty() {
        let errors = unwritten.iter().map(|e| Diagnostic::error(e.to_string()));
        print_diagnostics(errors, color);
        return Exit::Internal;
    }
    print!("{}", console.summary(&result));
    let written = reports.written();
    if !written.is_empty() {
        println!("reports: {}", written.join(", "));
    }
    if let Some(why) = result.interruption() {
        print_error(why, color);
    }
    outcome(&result, color)
}
