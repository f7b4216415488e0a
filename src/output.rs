//! What the command prints itself: every message is a rendered
//! [`Diagnostic`], coloured like the rest.

use std::io::IsTerminal;

use oauthspec_core::diagnostic::Diagnostic;

use crate::args::Color;
use crate::exit::Exit;

/// Whether to colour a stream: `auto` colours a terminal unless `NO_COLOR`
/// is set.
pub(crate) fn use_color(choice: Color, stream: &impl IsTerminal) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && stream.is_terminal()
        }
    }
}

/// Prints diagnostics, the first [`MAX_SHOWN`] of them: a file of 40,000
/// mistakes needs the first few, and a count.
pub(crate) fn print_diagnostics(diagnostics: impl Iterator<Item = Diagnostic>, color: bool) {
    const MAX_SHOWN: usize = 50;
    let mut more = 0;
    for (i, d) in diagnostics.enumerate() {
        if i < MAX_SHOWN {
            to_stderr(&d.render(color));
        } else {
            more += 1;
        }
    }
    if more > 0 {
        to_stderr(&format!("… and {more} more\n"));
    }
}

/// Every error the command prints itself, rendered like the others.
pub(crate) fn print_error(message: impl Into<String>, color: bool) {
    to_stderr(&Diagnostic::error(message).render(color));
}

/// A note for the user, not an error: `note: ...` on stderr.
pub(crate) fn print_note(message: &str) {
    to_stderr(&format!("note: {message}"));
}

/// A line on stderr; a closed stderr must not stop a monitor.
fn to_stderr(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{text}");
}

pub(crate) fn usage_error(message: &str, color: bool) -> Exit {
    print_error(message, color);
    Exit::Usage
}
