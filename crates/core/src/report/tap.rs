//! TAP, the Test Anything Protocol.
//!
//! TAP 14 (the default) gives each spec file a subtest whose test points are
//! its steps. TAP 13 is one flat stream, numbered across every file, for
//! consumers that reject TAP 14, such as Perl's `prove` (Test::Harness 3.x).
//! Both mark skipped steps `# SKIP reason` and follow each failure with a
//! YAML diagnostics block.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::str::FromStr;

use crate::results::{Outcome, RunResult, StepResult, SuiteResult};
use crate::util::files::write_atomic as atomic;

/// The TAP dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TapVersion {
    /// A flat stream: sequential numbers across suites, no subtests.
    V13,
    /// One subtest per spec file.
    #[default]
    V14,
}

impl FromStr for TapVersion {
    type Err = String;

    /// `13` or `14`.
    fn from_str(s: &str) -> Result<TapVersion, String> {
        match s.trim() {
            "13" => Ok(TapVersion::V13),
            "14" => Ok(TapVersion::V14),
            other => Err(format!("unknown TAP version `{other}`: use 13 or 14")),
        }
    }
}

/// The report as a TAP stream.
pub fn render(result: &RunResult, version: TapVersion) -> String {
    match version {
        TapVersion::V14 => render_14(result),
        TapVersion::V13 => render_13(result),
    }
}

/// Writes [`render`]'s stream to `path`, replacing the file atomically.
pub fn write(result: &RunResult, version: TapVersion, path: &Path) -> io::Result<()> {
    atomic(path, render(result, version).as_bytes())
}

fn render_14(result: &RunResult) -> String {
    let mut out = String::from("TAP version 14\n");
    partition(&mut out, result);
    plan(&mut out, "", result.suites.len(), "no spec files");
    for (i, suite) in result.suites.iter().enumerate() {
        let n = i + 1;
        let name = description(&suite.name);
        let _ = writeln!(out, "# Subtest: {}", line(&suite.name));
        let _ = writeln!(out, "    # {}", line(&suite.file.display().to_string()));
        if suite.steps.is_empty() {
            plan(&mut out, "    ", 0, "no steps");
            let _ = writeln!(out, "ok {n} - {name} # SKIP no steps");
            continue;
        }
        let _ = writeln!(out, "    1..{}", suite.steps.len());
        for (j, step) in suite.steps.iter().enumerate() {
            test_point(&mut out, "    ", j + 1, &description(&step.name), step);
        }
        let ok = if suite_failed(suite) { "not ok" } else { "ok" };
        let _ = writeln!(out, "{ok} {n} - {name}");
    }
    summary(&mut out, result);
    out
}

fn render_13(result: &RunResult) -> String {
    let mut out = String::from("TAP version 13\n");
    partition(&mut out, result);
    let total: usize = result.suites.iter().map(|s| s.steps.len()).sum();
    plan(&mut out, "", total, "no steps");
    let mut n = 0;
    for suite in &result.suites {
        let _ = writeln!(
            out,
            "# {} ({})",
            line(&suite.name),
            line(&suite.file.display().to_string())
        );
        for step in &suite.steps {
            n += 1;
            let desc = description(&format!("{}: {}", suite.name, step.name));
            test_point(&mut out, "", n, &desc, step);
        }
    }
    summary(&mut out, result);
    out
}

/// A comment naming the run's partition, if it is one.
fn partition(out: &mut String, result: &RunResult) {
    if let Some(share) = &result.partition {
        let _ = writeln!(out, "# {share}");
    }
}

/// `1..N`, or `1..0 # SKIP why` for nothing to run.
fn plan(out: &mut String, indent: &str, n: usize, why: &str) {
    if n == 0 {
        let _ = writeln!(out, "{indent}1..0 # SKIP {why}");
    } else {
        let _ = writeln!(out, "{indent}1..{n}");
    }
}

fn suite_failed(suite: &SuiteResult) -> bool {
    suite
        .steps
        .iter()
        .any(|s| matches!(s.outcome, Outcome::Failed(_)))
}

fn summary(out: &mut String, result: &RunResult) {
    let c = result.counts();
    let _ = writeln!(
        out,
        "# {} passed, {} failed, {} skipped in {:.0}ms",
        c.passed,
        c.failed,
        c.skipped,
        result.duration.as_secs_f64() * 1000.0
    );
    if let Some(why) = result.interruption() {
        let _ = writeln!(out, "Bail out! {}", line(&why));
    }
}

/// One test point, with its YAML block when the step failed.
fn test_point(out: &mut String, indent: &str, n: usize, desc: &str, step: &StepResult) {
    match &step.outcome {
        Outcome::Passed => {
            let _ = writeln!(out, "{indent}ok {n} - {desc}");
        }
        Outcome::Skipped(reason) => {
            let _ = writeln!(out, "{indent}ok {n} - {desc} # SKIP {}", line(reason));
        }
        Outcome::Failed(_) => {
            let _ = writeln!(out, "{indent}not ok {n} - {desc}");
            diagnostics(out, &format!("{indent}  "), step);
        }
    }
}

/// The YAML block under a failed test point.
fn diagnostics(out: &mut String, indent: &str, step: &StepResult) {
    let class = match step.outcome {
        Outcome::Failed(class) => class,
        _ => return,
    };
    let first = step.failed_expectations().next();
    let message = step
        .failure_message()
        .unwrap_or_else(|| format!("step failed ({})", class.as_str()));
    let mut lines = vec![
        ("message", yaml_str(&message)),
        (
            "severity",
            if class.is_error() { "error" } else { "fail" }.to_string(),
        ),
        ("class", class.as_str().to_string()),
    ];
    let at = match (&step.error, first) {
        (None, Some(e)) => e.location(),
        _ => step.source.location(step.span.start),
    };
    lines.push(("at", yaml_str(&at)));
    if let Some(e) = first {
        lines.push(("expected", yaml_str(&e.expected)));
        lines.push(("actual", yaml_str(&e.actual)));
    }
    if let Some(status) = step.status() {
        lines.push(("status", status.to_string()));
    }
    if let Some(latency) = step.latency() {
        lines.push((
            "latency_ms",
            format!("{:.1}", latency.as_secs_f64() * 1000.0),
        ));
    }
    let _ = writeln!(out, "{indent}---");
    for (key, value) in lines {
        let _ = writeln!(out, "{indent}{key}: {value}");
    }
    let failed: Vec<_> = step.failed_expectations().collect();
    if failed.len() > 1 {
        let _ = writeln!(out, "{indent}failures:");
        for e in failed {
            let _ = writeln!(out, "{indent}  - expect: {}", yaml_str(&e.text));
            let _ = writeln!(out, "{indent}    at: {}", yaml_str(&e.location()));
            let _ = writeln!(out, "{indent}    expected: {}", yaml_str(&e.expected));
            let _ = writeln!(out, "{indent}    actual: {}", yaml_str(&e.actual));
        }
    }
    if !step.notes.is_empty() {
        let _ = writeln!(out, "{indent}notes:");
        for note in &step.notes {
            let _ = writeln!(out, "{indent}  - {}", yaml_str(note));
        }
    }
    if let Some(excerpt) = &step.response_excerpt {
        let _ = writeln!(out, "{indent}response: {}", yaml_str(excerpt));
    }
    let _ = writeln!(out, "{indent}...");
}

/// A YAML double-quoted scalar: every character YAML does not print
/// (controls, DEL, C1, BOM, …) escaped, so the block stays valid whatever
/// a response held.
fn yaml_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FEFE}' => out.push(c),
            '\u{FF00}'..='\u{FFFD}' | '\u{10000}'.. => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Text on one TAP line: control characters and line breaks become spaces.
fn line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A test point description: on one line, with `\` and `#` escaped as
/// TAP 14 asks (an unescaped `#` would start a directive).
fn description(text: &str) -> String {
    line(text).replace('\\', "\\\\").replace('#', "\\#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_escape_directives() {
        assert_eq!(description("a # SKIP\nb\\c"), "a \\# SKIP b\\\\c");
    }

    #[test]
    fn yaml_strings_escape_what_yaml_cannot_print() {
        assert_eq!(
            yaml_str("a\"b\\\n\u{1b}\u{7f}\u{85}\u{feff}é"),
            "\"a\\\"b\\\\\\n\\x1b\\x7f\\x85\\ufeffé\""
        );
    }

    #[test]
    fn versions_parse() {
        assert_eq!("13".parse::<TapVersion>(), Ok(TapVersion::V13));
        assert_eq!("14".parse::<TapVersion>(), Ok(TapVersion::V14));
        assert!("12".parse::<TapVersion>().is_err());
        assert_eq!(TapVersion::default(), TapVersion::V14);
    }
}
