//! `report merge`: the reports of one run from the JSON reports of its
//! partitions.

use std::path::PathBuf;

use oauthspec_core::diagnostic::Diagnostic;
use oauthspec_core::report::console::Console;
use oauthspec_core::report::merge;
use oauthspec_core::report::ReportPaths;

use crate::exit::Exit;
use crate::output::{print_diagnostics, print_error, usage_error};

pub(crate) fn merge(
    shards: &[PathBuf],
    reports: &ReportPaths,
    console: &Console,
    color: bool,
) -> Exit {
    let mut read = Vec::with_capacity(shards.len());
    for path in shards {
        match merge::read(path) {
            Ok(report) => read.push((path.clone(), report)),
            Err(e) => return usage_error(&e.to_string(), color),
        }
    }
    let result = match merge::merge(read) {
        Ok(result) => result,
        Err(e) => return usage_error(&e.to_string(), color),
    };
    let unwritten = reports.write_all(&result);
    if !unwritten.is_empty() {
        print_diagnostics(
            unwritten.iter().map(|e| Diagnostic::error(e.to_string())),
            color,
        );
        return Exit::Internal;
    }
    print!("{}", console.summary(&result));
    let written = reports.written();
    if !written.is_empty() {
        println!("reports: {}", written.join(", "));
    }
    if let Some(why) = result.interruption() {
        print_error(why, color);
        return Exit::Failed;
    }
    if result.counts().failed > 0 {
        Exit::Failed
    } else {
        Exit::Passed
    }
}
