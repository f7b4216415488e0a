//! Metrics for Prometheus, kept across the runs of a monitor: a reporter
//! of run events, rendered in the OpenMetrics text format or the older
//! Prometheus text format (0.0.4), whichever the scraper asks for.
//!
//! Labels are spec data only (suite, step, failure class): never a URL, a
//! header or a value, so nothing secret can reach them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::results::{AttemptKind, FailureClass, Outcome, RunResult, StepResult};
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

/// What a token request came to, as `oauthspec_token_requests_total`
/// counts it.
const TOKEN_OUTCOMES: [&str; 4] = ["ok", "refused", "server_error", "unreachable"];

#[derive(Default)]
pub struct Metrics {
    steps: BTreeMap<(String, String), Series>,
    /// Token requests by client.
    tokens: BTreeMap<String, Tokens>,
    runs: BTreeMap<&'static str, u64>,
    run_durations: Histogram,
    last_run: Option<SystemTime>,
    reload_failures: u64,
    write_failures: u64,
}

#[derive(Default)]
struct Series {
    up: bool,
    durations: Histogram,
    failures: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
struct Tokens {
    durations: Histogram,
    outcomes: BTreeMap<&'static str, u64>,
    renewal: Option<SystemTime>,
}

#[derive(Default)]
struct Histogram {
    /// Cumulative counts per bucket of `BUCKETS`.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    /// Its samples, `labels` naming the series.
    fn render(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let bucket = |le: &str| {
            let mut with_le = labels.to_vec();
            with_le.push(("le", le));
            label_text(&with_le)
        };
        for (count, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{} {count}", bucket(&bound.to_string()));
        }
        let _ = writeln!(
            out,
            "{name}_bucket{} {}\n{name}_count{} {}\n{name}_sum{} {}",
            bucket("+Inf"),
            self.count,
            label_text(labels),
            self.count,
            label_text(labels),
            self.sum
        );
    }
}

impl Reporter for Metrics {
    fn report(&mut self, event: &Event<'_>) {
        match event {
            Event::StepFinished { suite, step } => self.step(suite, step),
            Event::RunFinished(result) if result.interrupted.is_none() => self.run(result),
            _ => {}
        }
    }
}

impl Metrics {
    /// Metrics whose series start at 0 for every step and client that
    /// can appear, so that `rate()` and `increase()` see the first
    /// failure.
    pub fn new<'a>(
        steps: impl IntoIterator<Item = (&'a str, &'a str)>,
        clients: impl IntoIterator<Item = &'a str>,
    ) -> Metrics {
        let mut metrics = Metrics::default();
        metrics.track(steps, clients);
        for result in ["passed", "failed"] {
            metrics.runs.insert(result, 0);
        }
        metrics
    }

    /// The steps and clients that may appear from now on (specs re-read):
    /// new ones get series from 0, those already kept keep their counts,
    /// and those gone are dropped (a removed step must not stay down).
    pub fn track<'a>(
        &mut self,
        steps: impl IntoIterator<Item = (&'a str, &'a str)>,
        clients: impl IntoIterator<Item = &'a str>,
    ) {
        let steps: Vec<(&str, &str)> = steps.into_iter().collect();
        let clients: Vec<&str> = clients.into_iter().collect();
        (self.steps).retain(|(suite, step), _| steps.contains(&(suite.as_str(), step.as_str())));
        self.tokens
            .retain(|client, _| clients.contains(&client.as_str()));
        for (suite, step) in steps {
            self.series(suite, step);
        }
        for client in clients {
            self.client(client);
        }
    }

    /// Files a run could not write: its reports, its token cache.
    pub fn write_failed(&mut self, files: usize) {
        self.write_failures += files as u64;
    }

    /// The specs were re-read and no longer check.
    pub fn reload_failed(&mut self) {
        self.reload_failures += 1;
    }

    fn series(&mut self, suite: &str, step: &str) -> &mut Series {
        let series = (self.steps)
            .entry((suite.to_string(), step.to_string()))
            .or_default();
        for class in FailureClass::ALL {
            series.failures.entry(class.as_str()).or_default();
        }
        series
    }

    fn client(&mut self, name: &str) -> &mut Tokens {
        let tokens = self.tokens.entry(name.to_string()).or_default();
        for outcome in TOKEN_OUTCOMES {
            tokens.outcomes.entry(outcome).or_default();
        }
        tokens
    }

    fn step(&mut self, suite: &str, step: &StepResult) {
        for attempt in step
            .attempts
            .iter()
            .filter(|a| a.kind == AttemptKind::Token)
        {
            let Some(client) = &attempt.client else {
                continue;
            };
            let outcome = match attempt.status {
                Some(200..=299) => "ok",
                Some(429 | 500..) => "server_error",
                Some(_) => "refused",
                None => "unreachable",
            };
            let tokens = self.client(client);
            tokens.durations.observe(attempt.latency.as_secs_f64());
            *tokens.outcomes.entry(outcome).or_default() += 1;
        }
        let series = self.series(suite, &step.name);
        series.up = step.outcome == Outcome::Passed;
        if let Outcome::Failed(class) = &step.outcome {
            *series.failures.entry(class.as_str()).or_default() += 1;
        }
        if !matches!(step.outcome, Outcome::Skipped(_)) {
            series.durations.observe(step.duration.as_secs_f64());
        }
    }

    /// When each client's token is to be renewed, as the token manager
    /// says after a run.
    pub fn renewals(&mut self, renewals: impl IntoIterator<Item = (String, SystemTime)>) {
        for (client, at) in renewals {
            // Only clients of the current specs.
            if let Some(tokens) = self.tokens.get_mut(&client) {
                tokens.renewal = Some(at);
            }
        }
    }

    fn run(&mut self, result: &RunResult) {
        let verdict = if result.counts().failed > 0 {
            "failed"
        } else {
            "passed"
        };
        *self.runs.entry(verdict).or_default() += 1;
        self.run_durations.observe(result.duration.as_secs_f64());
        self.last_run = Some(result.started + result.duration);
    }

    /// Every metric, in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::new();
        let open = format == Format::OpenMetrics;
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            // OpenMetrics names a counter's family without `_total`.
            let name = match (open, kind) {
                (true, "counter") => name.strip_suffix("_total").unwrap_or(name),
                _ => name,
            };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };

        family(
            &mut out,
            "oauthspec_build_info",
            "gauge",
            "The oauthspec version serving these metrics.",
        );
        let version = [("version", env!("CARGO_PKG_VERSION"))];
        let _ = writeln!(out, "oauthspec_build_info{} 1", label_text(&version));

        family(
            &mut out,
            "oauthspec_step_up",
            "gauge",
            "Whether the step passed in the last run (1) or not (0).",
        );
        for ((suite, step), s) in &self.steps {
            let labels = [("suite", suite.as_str()), ("step", step.as_str())];
            let _ = writeln!(
                out,
                "oauthspec_step_up{} {}",
                label_text(&labels),
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
            let labels = [("suite", suite.as_str()), ("step", step.as_str())];
            s.durations
                .render(&mut out, "oauthspec_step_duration_seconds", &labels);
        }

        family(
            &mut out,
            "oauthspec_step_failures_total",
            "counter",
            "Failed runs of the step, by where the flow broke.",
        );
        for ((suite, step), s) in &self.steps {
            for (class, n) in &s.failures {
                let labels = [
                    ("suite", suite.as_str()),
                    ("step", step.as_str()),
                    ("class", class),
                ];
                let _ = writeln!(
                    out,
                    "oauthspec_step_failures_total{} {n}",
                    label_text(&labels)
                );
            }
        }

        family(
            &mut out,
            "oauthspec_token_request_duration_seconds",
            "histogram",
            "How long the token endpoint took to answer a client's token request.",
        );
        for (client, t) in &self.tokens {
            let labels = [("client", client.as_str())];
            t.durations.render(
                &mut out,
                "oauthspec_token_request_duration_seconds",
                &labels,
            );
        }

        family(
            &mut out,
            "oauthspec_token_requests_total",
            "counter",
            "Token requests by client and outcome (ok, refused, server_error, unreachable).",
        );
        for (client, t) in &self.tokens {
            for (outcome, n) in &t.outcomes {
                let labels = [("client", client.as_str()), ("outcome", outcome)];
                let _ = writeln!(
                    out,
                    "oauthspec_token_requests_total{} {n}",
                    label_text(&labels)
                );
            }
        }

        family(
            &mut out,
            "oauthspec_token_expiry_timestamp_seconds",
            "gauge",
            "When the client's current token is renewed: its expiry less the skew (Unix time).",
        );
        for (client, t) in &self.tokens {
            if let Some(at) = t.renewal {
                let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default();
                let labels = [("client", client.as_str())];
                let _ = writeln!(
                    out,
                    "oauthspec_token_expiry_timestamp_seconds{} {}",
                    label_text(&labels),
                    secs.as_secs_f64()
                );
            }
        }

        family(
            &mut out,
            "oauthspec_run_duration_seconds",
            "histogram",
            "How long a whole run took.",
        );
        self.run_durations
            .render(&mut out, "oauthspec_run_duration_seconds", &[]);

        family(
            &mut out,
            "oauthspec_runs_total",
            "counter",
            "Runs finished since the monitor started, by result.",
        );
        for (result, n) in &self.runs {
            let _ = writeln!(
                out,
                "oauthspec_runs_total{} {n}",
                label_text(&[("result", result)])
            );
        }

        family(
            &mut out,
            "oauthspec_spec_reload_failures_total",
            "counter",
            "Times the specs were re-read (SIGHUP or an edited file) and did not check; the previous ones kept running.",
        );
        let _ = writeln!(
            out,
            "oauthspec_spec_reload_failures_total {}",
            self.reload_failures
        );

        family(
            &mut out,
            "oauthspec_write_failures_total",
            "counter",
            "Report or token cache files a run could not write.",
        );
        let _ = writeln!(
            out,
            "oauthspec_write_failures_total {}",
            self.write_failures
        );

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

/// `{name="value",...}` (nothing for no labels), values escaped as both
/// formats require.
fn label_text(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
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
            label_text(&[("suite", "a \"b\"\\c\nd"), ("step", "é")]),
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
