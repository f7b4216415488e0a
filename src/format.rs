//! `fmt`: the canonical layout, comments kept.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::output::{print_diagnostics, print_error, usage_error};

/// `fmt`: rewrites files in place (atomically), or with `check` only
/// names them. Files that do not parse are reported and left alone.
pub(crate) fn files(paths: &[PathBuf], check: bool, color: bool) -> Exit {
    let files = match oauthspec_core::check::load::discover(paths) {
        Ok(f) => f,
        Err(d) => {
            print_diagnostics(std::iter::once(d), color);
            return Exit::Usage;
        }
    };
    let (mut unformatted, mut broken) = (0, 0);
    for path in &files {
        let text = match oauthspec_core::util::files::read_input(path) {
            Ok(t) => t,
            Err(e) => return usage_error(&format!("cannot read {}: {e}", path.display()), color),
        };
        let formatted = match oauthspec_core::syntax::format::format_source(&text) {
            Ok(f) => f,
            Err(reason) => {
                broken += 1;
                let source = oauthspec_core::source::SourceFile::new(path, text);
                let (_, diagnostics) = oauthspec_core::syntax::parse(&source);
                match diagnostics.first() {
                    Some(d) => print_diagnostics(std::iter::once(d.clone()), color),
                    None => print_error(format!("{}: {reason}", path.display()), color),
                }
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        unformatted += 1;
        if check {
            println!("would reformat {}", path.display());
        } else if let Err(e) = oauthspec_core::util::files::write_atomic(path, formatted.as_bytes())
        {
            print_error(format!("cannot write {}: {e}", path.display()), color);
            return Exit::Internal;
        } else {
            println!("formatted {}", path.display());
        }
    }
    if broken > 0 {
        let (files, verb) = if broken == 1 {
            ("file", "does")
        } else {
            ("files", "do")
        };
        print_error(
            format!("{broken} {files} {verb} not parse; they were left alone"),
            color,
        );
        Exit::Usage
    } else if check && unformatted > 0 {
        Exit::Failed
    } else {
        Exit::Passed
    }
}
