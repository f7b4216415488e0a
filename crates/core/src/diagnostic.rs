//! Diagnostics and their one renderer, shared by `check`, `run` and every
//! report, so an error looks the same wherever it is shown.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::source::{SourceFile, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub location: Option<(Arc<SourceFile>, Span)>,
    /// Short text printed after the carets.
    pub label: Option<String>,
    /// `= help: ...` / `= note: ...` lines.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            location: None,
            label: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    pub fn at(mut self, file: &Arc<SourceFile>, span: Span) -> Diagnostic {
        self.location = Some((file.clone(), span));
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.notes.push(format!("help: {}", help.into()));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(format!("note: {}", note.into()));
        self
    }

    /// Adds "did you mean `x`?" when a candidate is close to `word`.
    pub fn suggest<'a>(self, word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match closest(word, candidates) {
            Some(best) => self.help(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col`, when the diagnostic points into a file.
    pub fn location_string(&self) -> Option<String> {
        self.location
            .as_ref()
            .map(|(file, span)| file.location(span.start))
    }

    pub fn render(&self, color: bool) -> String {
        let head = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let head_style = match self.severity {
            Severity::Error => RED,
            Severity::Warning => YELLOW,
        };
        let mut out = format!(
            "{}: {}\n",
            paint(color, head_style, head),
            paint(color, BOLD, &self.message)
        );
        if let Some((file, span)) = &self.location {
            out.push_str(&render_snippet(
                file,
                *span,
                self.label.as_deref(),
                color,
                head_style,
            ));
        }
        let pad = self.gutter_width();
        for note in &self.notes {
            let _ = writeln!(out, "{:pad$} {} {note}", "", paint(color, BLUE, "="));
        }
        out
    }

    fn gutter_width(&self) -> usize {
        self.location
            .as_ref()
            .map_or(1, |(file, span)| digits(file.line_col(span.start).0))
    }
}

/// The most characters of a source line a snippet shows.
const MAX_LINE_SHOWN: usize = 160;

/// The `--> file:line:col`, source line and caret block under a message.
pub fn render_snippet(
    file: &SourceFile,
    span: Span,
    label: Option<&str>,
    color: bool,
    caret_style: &str,
) -> String {
    let (line, col) = file.line_col(span.start);
    let text = file.line_text(line);
    let pad = digits(line);
    // Carets cover the span's part on its first line, at least one column.
    let line_chars = text.chars().count();
    let span_chars = file.text[span.start.min(file.text.len())..span.end.min(file.text.len())]
        .split('\n')
        .next()
        .unwrap_or("")
        .chars()
        .count();
    // A long line shows a window around the caret: an error near the end
    // of a 50 MB line must not print it whole.
    let (start, end) = if line_chars > MAX_LINE_SHOWN {
        let start = (col - 1).saturating_sub(MAX_LINE_SHOWN / 3);
        (start, (start + MAX_LINE_SHOWN).min(line_chars))
    } else {
        (0, line_chars)
    };
    let byte_at = |chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(i, _)| i)
    };
    let (from, to) = (byte_at(start), byte_at(end));
    let cut_before = if start > 0 { "…" } else { "" };
    let cut_after = if end < line_chars { "…" } else { "" };
    let shown = format!("{cut_before}{}{cut_after}", &text[from..to]);
    let width = span_chars.min(end.saturating_sub(col - 1)).max(1);
    let bar = paint(color, BLUE, "|");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:pad$}{} {}",
        "",
        paint(color, BLUE, "-->"),
        file.location(span.start)
    );
    let _ = writeln!(out, "{:pad$} {bar}", "");
    let _ = writeln!(
        out,
        "{} {bar} {shown}",
        paint(color, BLUE, &line.to_string())
    );
    let carets = paint(color, caret_style, &"^".repeat(width));
    let label = label.map(|l| format!(" {}", paint(color, caret_style, l)));
    // The gutter keeps the source's tabs so the caret lines up under them.
    let indent: String = cut_before
        .chars()
        .chain(text[from..].chars().take((col - 1).saturating_sub(start)))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let _ = writeln!(
        out,
        "{:pad$} {bar} {indent}{carets}{}",
        "",
        label.unwrap_or_default()
    );
    out
}

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo. Case differences cost nothing: `get` suggests `GET`.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn digits(n: usize) -> usize {
    n.to_string().len()
}

pub(crate) const RED: &str = "\x1b[1;31m";
pub(crate) const YELLOW: &str = "\x1b[1;33m";
pub(crate) const GREEN: &str = "\x1b[1;32m";
pub(crate) const BLUE: &str = "\x1b[1;34m";
pub(crate) const BOLD: &str = "\x1b[1m";
pub(crate) const DIM: &str = "\x1b[2m";

pub(crate) fn paint(color: bool, style: &str, text: &str) -> String {
    if color {
        format!("{style}{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The closing line of `check` and of a `run` that refused to start, worded
/// the same for both.
pub fn refusal(errors: usize) -> String {
    let s = if errors == 1 { "" } else { "s" };
    format!("{errors} error{s} in spec files; nothing was run")
}
