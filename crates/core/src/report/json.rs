//! The JSON report: schema `oauthspec-report/1`, documented in
//! `docs/reports.md`.
//!
//! The model is mirrored into private structs here, so the run model carries
//! no serialization concerns and the schema changes only on purpose: a change
//! that breaks a consumer bumps [`SCHEMA`].

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::results::{
    Attempt, CaptureResult, ExpectResult, Outcome, RunResult, StepResult, SuiteResult,
};
use crate::util::files::write_atomic as atomic;

/// The value of the report's `schema` field.
pub const SCHEMA: &str = "oauthspec-report/1";

/// The report as a pretty-printed JSON document.
pub fn render(result: &RunResult) -> String {
    let mut json = serde_json::to_string_pretty(&Report::from(result))
        .expect("the report mirror always serializes");
    json.push('\n');
    json
}

/// Writes [`render`]'s document to `path`, replacing the file atomically.
pub fn write(result: &RunResult, path: &Path) -> io::Result<()> {
    atomic(path, render(result).as_bytes())
}

#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    tool: Tool,
    /// RFC 3339, UTC, milliseconds.
    started: String,
    duration_ms: f64,
    /// The signal that stopped the run, or null for a run that finished:
    /// an interrupted report holds only the suites that finished.
    interrupted: Option<&'a str>,
    /// The share of a larger run this was (`run --partition`), or null.
    partition: Option<JsonShare>,
    summary: Summary,
    suites: Vec<Suite<'a>>,
}

#[derive(Serialize)]
struct JsonShare {
    /// E.g. `hash:2/4`.
    name: String,
    /// The suites of the whole run, every partition's.
    suites: usize,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize, Default)]
struct Summary {
    /// Only in the run's summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    suites: Option<usize>,
    steps: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
    /// Failed steps by failure class.
    classes: BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct Suite<'a> {
    /// Its place (0-based) among the suites of the whole run.
    index: usize,
    name: &'a str,
    file: String,
    /// SHA-256 (hex) of the spec file as it ran, so that `report merge`
    /// can tell it changed since.
    sha256: Option<String>,
    started: String,
    duration_ms: f64,
    summary: Summary,
    steps: Vec<Step<'a>>,
}

#[derive(Serialize)]
struct Step<'a> {
    name: &'a str,
    /// `file:line:col` of the step.
    location: String,
    file: String,
    line: usize,
    column: usize,
    /// Byte offsets `[start, end)` of the step in its file.
    span: [usize; 2],
    /// `passed`, `failed` or `skipped`.
    outcome: &'static str,
    /// The failure class when failed, e.g. `credentials`.
    class: Option<&'static str>,
    /// Whether the failure is an error (the check could not be made).
    is_error: Option<bool>,
    skip_reason: Option<&'a str>,
    /// One line: why the step failed.
    message: Option<String>,
    error: Option<&'a str>,
    status: Option<u16>,
    latency_ms: Option<f64>,
    duration_ms: f64,
    attempts: Vec<JsonAttempt<'a>>,
    expectations: Vec<Expectation<'a>>,
    captures: Captures<'a>,
    notes: &'a [String],
    /// Where the step's token came from, and why.
    trace: &'a [String],
    response_excerpt: Option<&'a str>,
    /// The excerpt's lines (0-based, inclusive) holding the node the first
    /// failed JSONPath expectation looked at.
    response_focus: Option<(usize, usize)>,
}

#[derive(Serialize)]
struct JsonAttempt<'a> {
    /// `token` or `request`.
    kind: &'static str,
    method: &'a str,
    url: &'a str,
    status: Option<u16>,
    latency_ms: f64,
    error: Option<&'a str>,
    transcript: Option<&'a str>,
    /// It was tried again (a retry, or a token fetched again after a 401).
    superseded: bool,
    /// For a token request, the client block it was made for.
    client: Option<&'a str>,
}

#[derive(Serialize)]
struct Expectation<'a> {
    text: &'a str,
    location: String,
    /// Byte offsets `[start, end)` in the file of `location`.
    span: [usize; 2],
    passed: bool,
    expected: &'a str,
    actual: &'a str,
}

/// Captures as an object by name, in capture order; a secret's value is
/// `null`.
struct Captures<'a>(&'a [CaptureResult]);

impl Serialize for Captures<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for c in self.0 {
            map.serialize_entry(&c.name, &c.value)?;
        }
        map.end()
    }
}

impl<'a> From<&'a RunResult> for Report<'a> {
    fn from(r: &'a RunResult) -> Report<'a> {
        let suites: Vec<Suite> = r.suites.iter().map(Suite::from).collect();
        let mut summary = summary(r.suites.iter().flat_map(|s| &s.steps));
        summary.suites = Some(suites.len());
        Report {
            schema: SCHEMA,
            tool: Tool {
                name: "oauthspec",
                version: env!("CARGO_PKG_VERSION"),
            },
            started: rfc3339(r.started),
            duration_ms: ms(r.duration),
            interrupted: r.interrupted.as_deref(),
            partition: r.partition.map(|share| JsonShare {
                name: share.partition.to_string(),
                suites: share.of_suites,
            }),
            summary,
            suites,
        }
    }
}

fn summary<'a>(steps: impl Iterator<Item = &'a StepResult>) -> Summary {
    let mut s = Summary::default();
    for step in steps {
        s.steps += 1;
        match step.outcome {
            Outcome::Passed => s.passed += 1,
            Outcome::Failed(class) => {
                s.failed += 1;
                *s.classes.entry(class.as_str()).or_default() += 1;
            }
            Outcome::Skipped(_) => s.skipped += 1,
        }
    }
    s
}

impl<'a> From<&'a SuiteResult> for Suite<'a> {
    fn from(s: &'a SuiteResult) -> Suite<'a> {
        Suite {
            index: s.index,
            name: &s.name,
            file: s.file.display().to_string(),
            sha256: s.steps.first().map(|step| sha256_hex(&step.source.text)),
            started: rfc3339(s.started),
            duration_ms: ms(s.duration),
            summary: summary(s.steps.iter()),
            steps: s.steps.iter().map(Step::from).collect(),
        }
    }
}

impl<'a> From<&'a StepResult> for Step<'a> {
    fn from(s: &'a StepResult) -> Step<'a> {
        let (line, column) = s.source.line_col(s.span.start);
        let (outcome, class, skip_reason) = match &s.outcome {
            Outcome::Passed => ("passed", None, None),
            Outcome::Failed(c) => ("failed", Some(*c), None),
            Outcome::Skipped(reason) => ("skipped", None, Some(reason.as_str())),
        };
        Step {
            name: &s.name,
            location: s.source.location(s.span.start),
            file: s.source.path().display().to_string(),
            line,
            column,
            span: [s.span.start, s.span.end],
            outcome,
            class: class.map(|c| c.as_str()),
            is_error: class.map(|c| c.is_error()),
            skip_reason,
            message: class.map(|c| {
                s.failure_message()
                    .unwrap_or_else(|| format!("step failed ({})", c.as_str()))
            }),
            error: s.error.as_deref(),
            status: s.status(),
            latency_ms: s.latency().map(ms),
            duration_ms: ms(s.duration),
            attempts: s.attempts.iter().map(JsonAttempt::from).collect(),
            expectations: s.expectations.iter().map(Expectation::from).collect(),
            captures: Captures(&s.captures),
            notes: &s.notes,
            trace: &s.trace,
            response_excerpt: s.response_excerpt.as_deref(),
            response_focus: s.response_focus,
        }
    }
}

impl<'a> From<&'a Attempt> for JsonAttempt<'a> {
    fn from(a: &'a Attempt) -> JsonAttempt<'a> {
        JsonAttempt {
            kind: a.kind.as_str(),
            method: &a.method,
            url: &a.url,
            status: a.status,
            latency_ms: ms(a.latency),
            error: a.error.as_deref(),
            transcript: a.transcript.as_deref(),
            superseded: a.superseded,
            client: a.client.as_deref(),
        }
    }
}

impl<'a> From<&'a ExpectResult> for Expectation<'a> {
    fn from(e: &'a ExpectResult) -> Expectation<'a> {
        Expectation {
            text: &e.text,
            location: e.location(),
            span: [e.span.start, e.span.end],
            passed: e.passed,
            expected: &e.expected,
            actual: &e.actual,
        }
    }
}

/// The SHA-256 of a spec file's text, in hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Milliseconds, to the microsecond (cut, not rounded: a report read back
/// by `report merge` then shows every coarser time as the run did).
fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_294_400_123);
        assert_eq!(rfc3339(t), "2024-03-01T12:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn milliseconds_keep_microseconds() {
        assert_eq!(ms(Duration::from_micros(12_345)), 12.345);
        assert_eq!(ms(Duration::from_nanos(12_999_600)), 12.999);
    }
}
