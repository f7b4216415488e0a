//! The console: one line per step, details under each failure, and the
//! closing `N passed, N failed, N skipped` line. Steps skipped in a row for
//! one reason are one line (each with `-v`), and the summary names each
//! distinct failure cause once, however many files it broke.

use std::fmt::Write as _;

use crate::diagnostic::{paint, Diagnostic, BLUE, BOLD, DIM, GREEN, RED, YELLOW};
use crate::duration::human;
use crate::results::{AttemptKind, FailureClass, Outcome, RunResult, StepResult, SuiteResult};

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
        let mut steps = suite.steps.iter().peekable();
        while let Some(step) = steps.next() {
            let mut run = 1;
            let bare = |s: &StepResult| s.outcome == step.outcome && s.notes.is_empty();
            if let (Outcome::Skipped(reason), false) = (&step.outcome, self.verbose || !bare(step))
            {
                while steps.next_if(|s| bare(s)).is_some() {
                    run += 1;
                }
                if run > 1 {
                    let _ = writeln!(
                        out,
                        "  {} {run} steps  {}",
                        paint(self.color, YELLOW, "SKIP"),
                        paint(self.color, DIM, &format!("({reason})"))
                    );
                    continue;
                }
            }
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
            out.push_str(&self.window(excerpt, step.response_focus));
            out.push('\n');
        }
        out
    }

    /// The response as a failure shows it: the status line, then the body
    /// around the node the failed JSONPath looked at (marked `>`), or its
    /// start; never more than [`WINDOW`] lines of it.
    fn window(&self, excerpt: &str, focus: Option<(usize, usize)>) -> String {
        let lines: Vec<&str> = excerpt.lines().collect();
        let (from, to) = match focus {
            Some((start, end)) => {
                let from = start.saturating_sub(CONTEXT).max(1);
                (from, (end + CONTEXT).min(from + WINDOW - 1))
            }
            None => (1, WINDOW),
        };
        let to = to.min(lines.len().saturating_sub(1));
        let mut out = String::new();
        let mut line = |marker: &str, text: &str| {
            let _ = writeln!(out, "       {marker} {text}");
        };
        line(" ", lines.first().copied().unwrap_or_default());
        let dim = |text: String| paint(self.color, DIM, &text);
        if from > 1 {
            line(" ", &dim(format!("… {} lines above", from - 1)));
        }
        for (n, text) in lines.iter().enumerate().take(to + 1).skip(from) {
            let inside = focus.is_some_and(|(start, end)| (start..=end).contains(&n));
            line(if inside { ">" } else { " " }, text);
        }
        if to + 1 < lines.len() {
            line(" ", &dim(format!("… {} lines below", lines.len() - to - 1)));
        }
        out
    }

    /// The distinct failure causes, then the closing line, alone on its
    /// line as CI log readers expect.
    pub fn summary(&self, result: &RunResult) -> String {
        let mut out = String::new();
        let causes = causes(result);
        if !causes.is_empty() {
            let _ = writeln!(out, "{}", paint(self.color, BOLD, "failures:"));
        }
        for cause in causes {
            let class = paint(self.color, RED, &format!("[{}]", cause.class));
            let what = &cause.what;
            let _ = match (cause.files.as_slice(), cause.step) {
                ([file], Some(step)) => writeln!(out, "  {file}: step {step:?}: {what} {class}"),
                ([file], None) => writeln!(out, "  {file}: {what} {class}"),
                (files, Some(step)) => writeln!(
                    out,
                    "  {} files failed on the same step {step:?}: {what} {class}",
                    files.len()
                ),
                (files, None) => writeln!(out, "  {} files: {what} {class}", files.len()),
            };
        }
        if !out.is_empty() {
            out.push('\n');
        }
        let counts = result.counts();
        let _ = write!(
            out,
            "{} passed, {} failed, {} skipped\n{}\n",
            counts.passed,
            counts.failed,
            counts.skipped,
            paint(
                self.color,
                DIM,
                &format!("finished in {}", human(result.duration))
            )
        );
        out
    }
}

impl Console {
    /// A monitor's line for one run: when it finished, its counts and
    /// time, and each failed step with its class.
    pub fn run_line(&self, n: u64, result: &RunResult) -> String {
        let counts = result.counts();
        let finished = super::json::rfc3339(result.started + result.duration);
        let mut line = format!(
            "{finished} run {n}: {} passed, {} failed, {} skipped in {}",
            counts.passed,
            counts.failed,
            counts.skipped,
            human(result.duration)
        );
        let failed: Vec<String> = (result.suites.iter())
            .flat_map(|suite| suite.steps.iter().map(move |step| (suite, step)))
            .filter_map(|(suite, step)| {
                let class = step.class()?;
                let tag = paint(self.color, RED, &format!("[{}]", class.as_str()));
                Some(format!("{} › {} {tag}", suite.name, step.name))
            })
            .collect();
        if !failed.is_empty() {
            let _ = write!(line, "; failed: {}", failed.join(", "));
        }
        line.push('\n');
        line
    }
}

/// Lines of context around the node a failure points at.
const CONTEXT: usize = 3;
/// The most body lines a failure shows in the console.
const WINDOW: usize = 30;

/// One way a run failed: a step of that name, failing for the same
/// reason in the same class, in one or more files.
struct Cause<'a> {
    /// None when every step of the file failed so (`config`).
    step: Option<&'a str>,
    what: String,
    class: &'static str,
    files: Vec<String>,
}

/// The failed steps grouped by cause, in the order they first appear.
fn causes(result: &RunResult) -> Vec<Cause<'_>> {
    let mut causes: Vec<Cause> = Vec::new();
    for suite in &result.suites {
        for step in &suite.steps {
            let Outcome::Failed(class) = &step.outcome else {
                continue;
            };
            let what = match (&step.error, step.failed_expectations().next()) {
                (Some(error), _) => error.clone(),
                (None, Some(e)) => format!(
                    "{}: expected {}, got {}",
                    e.statement(),
                    e.expected,
                    e.actual
                ),
                (None, None) => "failed".to_string(),
            };
            let file = suite.file.display().to_string();
            // A file not run for a missing variable fails each of its steps
            // the same way: that is one cause, not one per step.
            let step_name = (*class != FailureClass::Config).then_some(step.name.as_str());
            let same =
                |c: &&mut Cause| c.step == step_name && c.class == class.as_str() && c.what == what;
            match causes.iter_mut().find(same) {
                Some(cause) if cause.files.last() == Some(&file) => {}
                Some(cause) => cause.files.push(file),
                None => causes.push(Cause {
                    step: step_name,
                    what,
                    class: class.as_str(),
                    files: vec![file],
                }),
            }
        }
    }
    causes
}

fn indent(text: &str, prefix: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let _ = writeln!(out, "{prefix}{line}");
    }
    out
}
