//! The console: one line per step, details under each failure, and the
//! closing `N passed, N failed, N skipped` line.

use std::fmt::Write as _;
use std::time::Duration;

use crate::diagnostic::{paint, Diagnostic, BLUE, BOLD, DIM, GREEN, RED, YELLOW};
use crate::duration::human;
use crate::results::{AttemptKind, Counts, Outcome, StepResult, SuiteResult};

pub struct Console {
    pub color: bool,
    pub verbose: bool,
}

impl Console {
    /// A suite's block: its header and its steps.
    pub fn suite(&self, suite: &SuiteResult) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {}",
            paint(self.color, BOLD, &suite.name),
            paint(self.color, DIM, &suite.file.display().to_string())
        );
        for step in &suite.steps {
            out.push_str(&self.step(step));
        }
        out.push('\n');
        out
    }

    fn step(&self, step: &StepResult) -> String {
        let c = self.color;
        let (tag, style) = match &step.outcome {
            Outcome::Passed => ("PASS", GREEN),
            Outcome::Failed(_) => ("FAIL", RED),
            Outcome::Skipped(_) => ("SKIP", YELLOW),
        };
        let mut line = format!("  {} {}", paint(c, style, tag), step.name);
        if let Some(status) = step.status() {
            let _ = write!(line, "  {status}");
        }
        let superseded = step.superseded();
        if !superseded.is_empty() {
            let _ = write!(line, " after {}", superseded.join(", "));
        }
        if let Some(latency) = step.latency() {
            let _ = write!(line, "  {}", human(latency));
        }
        match &step.outcome {
            Outcome::Failed(class) => {
                let _ = write!(
                    line,
                    "  {}",
                    paint(c, RED, &format!("[{}]", class.as_str()))
                );
            }
            Outcome::Skipped(reason) => {
                let _ = write!(line, "  {}", paint(c, DIM, &format!("({reason})")));
            }
            Outcome::Passed => {}
        }
        let mut out = line + "\n";
        for note in &step.notes {
            let _ = writeln!(out, "       {} {note}", paint(c, BLUE, "note:"));
        }
        if self.verbose {
            for t in &step.trace {
                let _ = writeln!(out, "       {} {t}", paint(c, DIM, "*"));
            }
            for a in &step.attempts {
                let kind = match a.kind {
                    AttemptKind::Token => " (token)",
                    AttemptKind::Request => "",
                };
                let status = a.status.map_or_else(|| "—".to_string(), |s| s.to_string());
                let _ = writeln!(
                    out,
                    "       {} {} {} {status} {}{kind}",
                    paint(c, DIM, "*"),
                    a.method,
                    a.url,
                    human(a.latency)
                );
                if let Some(t) = &a.transcript {
                    out.push_str(&indent(t, "         "));
                }
            }
        }
        if !matches!(step.outcome, Outcome::Failed(_)) {
            return out;
        }
        if let Some(error) = &step.error {
            let _ = writeln!(out, "       {} {error}", paint(c, RED, "error:"));
        }
        for e in step.failed_expectations() {
            let d = Diagnostic::error(e.statement())
                .at(&e.source, e.span)
                .label(format!("expected {}, got {}", e.expected, e.actual));
            out.push_str(&indent(&d.render(c), "       "));
        }
        if let Some(excerpt) = &step.response_excerpt {
            let _ = writeln!(out, "       {}", paint(c, DIM, "response:"));
            out.push_str(&indent(excerpt, "         "));
            out.push('\n');
        }
        out
    }

    /// The closing line, alone on its line as CI log readers expect.
    pub fn summary(&self, counts: Counts, duration: Duration) -> String {
        format!(
            "{} passed, {} failed, {} skipped\n{}\n",
            counts.passed,
            counts.failed,
            counts.skipped,
            paint(self.color, DIM, &format!("finished in {}", human(duration)))
        )
    }
}

fn indent(text: &str, prefix: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let _ = writeln!(out, "{prefix}{line}");
    }
    out
}
