//! Metrics for Prometheus, kept across the runs of a monitor: a reporter
//! of run events, rendered in the OpenMetrics text format or the older
//! Prometheus text format (0.0.4), whichever the scraper asks for.
//!
//! Labels are spec data only (suite, step, failure class): never a URL, a
//! header or a value, so nothing secret can reach them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::results::{Outcome, StepResult};
use crate::run::{Event, Reporter};

/// The upper bounds of the step duration histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The text formats a scraper may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
    /// `text/plain; version=0.0.4`, Prometheus's own.
    Prometheus,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// it, else Prometheus's text format.
    pub fn from_accept(accept: &str) -> Format {
        if accept.contains("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    steps: BTreeMap<(String, String), Series>,
    runs: u64,
    last_run: Option<SystemTime>,
}

#[derive(Default)]
struct Series {
    up: bool,
    /// Cumulative counts per bucket of `BUCKETS`.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
    failures: BTreeMap<&'static str, u64>,
}

impl Reporter for Metrics {
    fn report(&mut self, event: &Event<'_>) {
        match event {
            Event::StepFinished { suite, step } => self.step(suite, step),
            Event::RunFinished(result) if result.interrupted.is_none() => {
                self.runs += 1;
                self.last_run = Some(result.started + result.duration);
            }
            _ => {}
        }
    }
}

impl Metrics {
    fn step(&mut self, suite: &str, step: &StepResult) {
        let series = (self.steps)
            .entry((suite.to_string(), step.name.clone()))
            .or_default();
        series.up = step.outcome == Outcome::Passed;
        if let Outcome::Failed(class) = &step.outcome {
            *series.failures.entry(class.as_str()).or_default() += 1;
        }
        if matches!(step.outcome, Outcome::Skipped(_)) {
            return;
        }
        let seconds = step.duration.as_secs_f64();
        for (bucket, bound) in series.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        series.count += 1;
        series.sum += seconds;
    }

    /// Every metric, in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::new();
        let open = format == Format::OpenMetrics;
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            // OpenMetrics names a counter's family without `_total`.
            let name = match (open, kind) {
                (true, "counter") => name.trim_end_matches("_total"),
                _ => name,
            };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };

        family(
            &mut out,
            "oauthspec_step_up",
            "gauge",
            "Whether the step passed in the last run (1) or not (0).",
        );
        for ((suite, step), s) in &self.steps {
            let _ = writeln!(
                out,
                "oauthspec_step_up{} {}",
                labels(&[("suite", suite), ("step", step)]),
                u8::from(s.up)
            );
        }

        family(
            &mut out,
            "oauthspec_step_duration_seconds",
            "histogram",
            "How long the step took, its requests and token requests included.",
        );
        for ((suite, step), s) in &self.steps {
            let base = [("suite", suite.as_str()), ("step", step.as_str())];
            for (count, bound) in s.buckets.iter().zip(BUCKETS) {
                let le = bound.to_string();
                let with_le = [base[0], base[1], ("le", le.as_str())];
                let _ = writeln!(
                    out,
                    "oauthspec_step_duration_seconds_bucket{} {count}",
                    labels(&with_le)
                );
            }
            let inf = [base[0], base[1], ("le", "+Inf")];
            let _ = writeln!(
                out,
                "oauthspec_step_duration_seconds_bucket{} {}\n\
                 oauthspec_step_duration_seconds_count{} {}\n\
                 oauthspec_step_duration_seconds_sum{} {}",
                labels(&inf),
                s.count,
                labels(&base),
                s.count,
                labels(&base),
                s.sum
            );
        }

        family(
            &mut out,
            "oauthspec_step_failures_total",
            "counter",
            "Failed runs of the step, by where the flow broke.",
        );
        for ((suite, step), s) in &self.steps {
            for (class, n) in &s.failures {
                let _ = writeln!(
                    out,
                    "oauthspec_step_failures_total{} {n}",
                    labels(&[("suite", suite), ("step", step), ("class", class)])
                );
            }
        }

        family(
            &mut out,
            "oauthspec_runs_total",
            "counter",
            "Runs finished since the monitor started.",
        );
        let _ = writeln!(out, "oauthspec_runs_total {}", self.runs);
        if let Some(at) = self.last_run {
            family(
                &mut out,
                "oauthspec_last_run_timestamp_seconds",
                "gauge",
                "When the last run finished (Unix time).",
            );
            let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default();
            let _ = writeln!(
                out,
                "oauthspec_last_run_timestamp_seconds {}",
                secs.as_secs_f64()
            );
        }
        if open {
            out.push_str("# EOF\n");
        }
        out
    }
}

/// `{name="value",...}`, values escaped as both formats require.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            labels(&[("suite", "a \"b\"\\c\nd"), ("step", "é")]),
            "{suite=\"a \\\"b\\\"\\\\c\\nd\",step=\"é\"}"
        );
    }

    #[test]
    fn formats_follow_the_accept_header() {
        assert_eq!(
            Format::from_accept("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_accept("text/plain"), Format::Prometheus);
        assert_eq!(Format::from_accept(""), Format::Prometheus);
        let empty = Metrics::default();
        assert!(empty.render(Format::OpenMetrics).ends_with("# EOF\n"));
        assert!(!empty.render(Format::Prometheus).contains("# EOF"));
        assert!(empty
            .render(Format::OpenMetrics)
            .contains("# TYPE oauthspec_runs counter\n"));
        assert!(empty
            .render(Format::Prometheus)
            .contains("# TYPE oauthspec_runs_total counter\n"));
    }
}
