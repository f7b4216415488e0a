//! `report merge`: the JSON reports of a run's partitions (one per CI
//! matrix job) read back into the result of one run, for every reporter
//! to write as if one machine had run everything.
//!
//! The shards must be every partition of one run, by this version: a
//! missing or repeated partition, or a report from another version, is
//! refused rather than merged into a report that reads as complete. The
//! spec files are read again, as the shards ran them, for the source lines
//! the reports quote; a file that changed since is refused too.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::error::Error;
use crate::results::{
    Attempt, AttemptKind, CaptureResult, ExpectResult, FailureClass, Outcome, RunResult, Share,
    StepResult, SuiteResult,
};
use crate::run::partition::Partition;
use crate::source::{SourceFile, Span};
use crate::util::files::read_input;

use super::json::SCHEMA;

/// More would be no CI matrix, and would cost memory to check.
const MAX_PARTITIONS: usize = 10_000;
const CHANGED: &str = "changed since the shards ran";
const SAME_COMMIT: &str = "merge in a checkout of the commit the shards ran";

/// One shard's JSON report, as read.
#[derive(Deserialize)]
pub struct ShardReport {
    tool: Tool,
    started: String,
    duration_ms: f64,
    interrupted: Option<String>,
    partition: Option<ShardShare>,
    suites: Vec<ShardSuite>,
}

#[derive(Deserialize)]
struct Tool {
    version: String,
}

#[derive(Deserialize)]
struct ShardShare {
    name: String,
    suites: usize,
}

#[derive(Deserialize)]
struct ShardSuite {
    index: usize,
    name: String,
    file: PathBuf,
    /// Absent from reports of older versions.
    #[serde(default)]
    sha256: Option<String>,
    started: String,
    duration_ms: f64,
    steps: Vec<ShardStep>,
}

#[derive(Deserialize)]
struct ShardStep {
    name: String,
    file: PathBuf,
    line: usize,
    column: usize,
    span: [usize; 2],
    outcome: String,
    class: Option<String>,
    skip_reason: Option<String>,
    error: Option<String>,
    duration_ms: f64,
    attempts: Vec<ShardAttempt>,
    expectations: Vec<ShardExpectation>,
    captures: Captures,
    notes: Vec<String>,
    trace: Vec<String>,
    response_excerpt: Option<String>,
    response_focus: Option<(usize, usize)>,
}

#[derive(Deserialize)]
struct ShardAttempt {
    kind: String,
    method: String,
    url: String,
    status: Option<u16>,
    latency_ms: f64,
    error: Option<String>,
    transcript: Option<String>,
    superseded: bool,
    client: Option<String>,
}

#[derive(Deserialize)]
struct ShardExpectation {
    text: String,
    location: String,
    span: [usize; 2],
    passed: bool,
    expected: String,
    actual: String,
}

/// Captures by name, in the order of the report's object (capture order);
/// a secret's value is null.
struct Captures(Vec<(String, Option<String>)>);

impl<'de> Deserialize<'de> for Captures {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> serde::de::Visitor<'de> for InOrder {
            type Value = Captures;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of captured values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Captures, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Captures(pairs))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

/// Reads one shard's report.
pub fn read(path: &Path) -> Result<ShardReport, Error> {
    let refuse = |reason: String| Error::Merge {
        path: path.to_path_buf(),
        reason,
    };
    let text = read_input(path).map_err(|e| refuse(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| refuse(format!("not a JSON document: {e}")))?;
    let schema = value.get("schema").and_then(|s| s.as_str());
    if schema != Some(SCHEMA) {
        return Err(refuse(format!(
            "not an oauthspec JSON report (its schema is {}, not {SCHEMA}): give the files `run --json` wrote",
            schema.map_or("missing".to_string(), |s| format!("{s:?}"))
        )));
    }
    let report: ShardReport = serde_json::from_value(value)
        .map_err(|e| refuse(format!("not a complete {SCHEMA} report: {e}")))?;
    let ours = env!("CARGO_PKG_VERSION");
    if report.tool.version != ours {
        return Err(refuse(format!(
            "written by oauthspec {}, and this is {ours}: merge with the version that ran the shards",
            report.tool.version
        )));
    }
    Ok(report)
}

/// The run the shards were partitions of. `shards` are the paths the
/// reports were read from, with the reports.
pub fn merge(shards: Vec<(PathBuf, ShardReport)>) -> Result<RunResult, Error> {
    check_partitions(&shards)?;
    let mut sources = Sources::default();
    let mut suites: Vec<SuiteResult> = Vec::new();
    let mut owner: HashMap<usize, &Path> = HashMap::new();
    let mut started = None::<SystemTime>;
    let mut duration = Duration::ZERO;
    let mut interrupted = None;
    for (path, shard) in &shards {
        let refuse = |reason: String| Error::Merge {
            path: path.clone(),
            reason,
        };
        let shard_started = time(&shard.started).ok_or_else(|| refuse(bad_time(&shard.started)))?;
        started = Some(started.map_or(shard_started, |s| s.min(shard_started)));
        // The shards ran side by side: the run took as long as the slowest.
        duration = duration.max(millis(shard.duration_ms).map_err(refuse)?);
        let of_suites = shard.partition.as_ref().map_or(0, |p| p.suites);
        interrupted = interrupted.or(shard.interrupted.clone());
        for suite in &shard.suites {
            if suite.index >= of_suites {
                return Err(refuse(format!(
                    "suite {:?} is number {} of a run of {of_suites} suites",
                    suite.name,
                    suite.index + 1
                )));
            }
            if let Some(other) = owner.insert(suite.index, path) {
                return Err(refuse(format!(
                    "suite {:?} ({}) is also in {}: give each partition's report once",
                    suite.name,
                    suite.file.display(),
                    other.display()
                )));
            }
            // A problem of a spec file names it; one of the report, the shard.
            let merged = sources
                .suite(suite)
                .map_err(|(file, reason)| Error::Merge {
                    path: file.unwrap_or_else(|| path.clone()),
                    reason,
                })?;
            suites.push(merged);
        }
    }
    suites.sort_by_key(|s| s.index);
    Ok(RunResult {
        suites,
        started: started.unwrap_or(UNIX_EPOCH),
        duration,
        interrupted,
        partition: None,
    })
}

/// The shards must be every partition of one run, each once.
fn check_partitions(shards: &[(PathBuf, ShardReport)]) -> Result<(), Error> {
    let mut seen: BTreeMap<usize, &Path> = BTreeMap::new();
    let mut first: Option<(Share, &Path)> = None;
    for (path, shard) in shards {
        let refuse = |reason: String| Error::Merge {
            path: path.clone(),
            reason,
        };
        let Some(share) = &shard.partition else {
            return Err(refuse(
                "not the report of a partition (run --partition): only the shards of one run merge"
                    .to_string(),
            ));
        };
        let partition = Partition::parse(&share.name).map_err(refuse)?;
        if partition.total > MAX_PARTITIONS {
            return Err(refuse(format!(
                "partition {partition}: more than {MAX_PARTITIONS} partitions"
            )));
        }
        let share = Share {
            partition,
            of_suites: share.suites,
        };
        match first {
            None => first = Some((share, path)),
            Some((one, one_path)) => {
                let same_run = one.partition.method == partition.method
                    && one.partition.total == partition.total
                    && one.of_suites == share.of_suites;
                if !same_run {
                    return Err(refuse(format!(
                        "partition {partition} of {} suites is not from the run of {} (partition {} of {} suites)",
                        share.of_suites,
                        one_path.display(),
                        one.partition,
                        one.of_suites
                    )));
                }
            }
        }
        if let Some(other) = seen.insert(partition.index, path) {
            return Err(refuse(format!(
                "partition {partition} is also in {}: give each partition's report once",
                other.display()
            )));
        }
    }
    let Some((one, one_path)) = first else {
        return Ok(());
    };
    let missing: Vec<usize> = (1..=one.partition.total)
        .filter(|k| !seen.contains_key(k))
        .collect();
    if !missing.is_empty() {
        let mut named: Vec<String> = missing.iter().take(10).map(|k| k.to_string()).collect();
        if missing.len() > 10 {
            named.push(format!("and {} more", missing.len() - 10));
        }
        return Err(Error::Merge {
            path: one_path.to_path_buf(),
            reason: format!(
                "it is one of {} partitions, and {}: a merged report without {} would read as the whole run",
                one.partition.total,
                match missing.len() {
                    1 => format!("the report of partition {} is missing", named[0]),
                    _ => format!("the reports of partitions {} are missing", named.join(", ")),
                },
                if missing.len() == 1 { "it" } else { "them" }
            ),
        });
    }
    Ok(())
}

/// The spec files the shards ran, read once each.
#[derive(Default)]
struct Sources {
    files: HashMap<PathBuf, Arc<SourceFile>>,
}

/// What is wrong, and with which spec file (none: with the report).
type SourceProblem = (Option<PathBuf>, String);

impl Sources {
    fn get(&mut self, path: &Path) -> Result<Arc<SourceFile>, SourceProblem> {
        if let Some(file) = self.files.get(path) {
            return Ok(file.clone());
        }
        let text = read_input(path).map_err(|e| {
            (
                Some(path.to_path_buf()),
                format!("it cannot be read ({e}): {SAME_COMMIT}"),
            )
        })?;
        let file = SourceFile::new(path, text);
        self.files.insert(path.to_path_buf(), file.clone());
        Ok(file)
    }

    /// The span at `[start, end)` of `path`, which the shard found at
    /// `line:column`.
    fn span(
        &mut self,
        path: &Path,
        [start, end]: [usize; 2],
        (line, column): (usize, usize),
    ) -> Result<(Arc<SourceFile>, Span), SourceProblem> {
        let file = self.get(path)?;
        let fits = start <= end
            && end <= file.text.len()
            && file.text.is_char_boundary(start)
            && file.text.is_char_boundary(end);
        if !fits || file.line_col(start) != (line, column) {
            return Err((
                Some(path.to_path_buf()),
                format!("{CHANGED} (nothing is at {line}:{column} as they saw it): {SAME_COMMIT}"),
            ));
        }
        Ok((file, Span::new(start, end)))
    }

    fn suite(&mut self, suite: &ShardSuite) -> Result<SuiteResult, SourceProblem> {
        if let Some(expected) = &suite.sha256 {
            let file = self.get(&suite.file)?;
            if &super::json::sha256_hex(&file.text) != expected {
                return Err((
                    Some(suite.file.clone()),
                    format!("{CHANGED}: {SAME_COMMIT}"),
                ));
            }
        }
        let steps = (suite.steps.iter())
            .map(|step| self.step(step))
            .collect::<Result<_, _>>()?;
        Ok(SuiteResult {
            index: suite.index,
            name: suite.name.clone(),
            file: suite.file.clone(),
            steps,
            started: time(&suite.started).ok_or_else(|| (None, bad_time(&suite.started)))?,
            duration: millis(suite.duration_ms).map_err(|m| (None, m))?,
        })
    }

    fn step(&mut self, step: &ShardStep) -> Result<StepResult, SourceProblem> {
        let invalid = |what: String| (None, format!("step {:?}: {what}", step.name));
        let (source, span) = self.span(&step.file, step.span, (step.line, step.column))?;
        let outcome = match (step.outcome.as_str(), &step.class, &step.skip_reason) {
            ("passed", None, None) => Outcome::Passed,
            ("failed", Some(class), None) => Outcome::Failed(
                FailureClass::parse(class)
                    .ok_or_else(|| invalid(format!("no failure class is called {class:?}")))?,
            ),
            ("skipped", None, Some(reason)) => Outcome::Skipped(reason.clone()),
            (outcome, ..) => {
                return Err(invalid(format!(
                    "outcome {outcome:?} is not one a report has"
                )))
            }
        };
        let mut attempts = Vec::with_capacity(step.attempts.len());
        for a in &step.attempts {
            attempts.push(Attempt {
                kind: AttemptKind::parse(&a.kind)
                    .ok_or_else(|| invalid(format!("attempt kind {:?}", a.kind)))?,
                method: a.method.clone(),
                url: a.url.clone(),
                status: a.status,
                latency: millis(a.latency_ms).map_err(invalid)?,
                error: a.error.clone(),
                transcript: a.transcript.clone(),
                superseded: a.superseded,
                client: a.client.clone(),
            });
        }
        let mut expectations = Vec::with_capacity(step.expectations.len());
        for e in &step.expectations {
            let (path, line, column) = split_location(&e.location).ok_or_else(|| {
                invalid(format!("location {:?} is not FILE:LINE:COL", e.location))
            })?;
            let (source, span) = self.span(&path, e.span, (line, column))?;
            expectations.push(ExpectResult {
                text: e.text.clone(),
                source,
                span,
                passed: e.passed,
                expected: e.expected.clone(),
                actual: e.actual.clone(),
            });
        }
        let captures = (step.captures.0.iter())
            .map(|(name, value)| CaptureResult {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        Ok(StepResult {
            outcome,
            attempts,
            expectations,
            error: step.error.clone(),
            notes: step.notes.clone(),
            trace: step.trace.clone(),
            captures,
            response_excerpt: step.response_excerpt.clone(),
            response_focus: step.response_focus,
            duration: millis(step.duration_ms).map_err(invalid)?,
            ..StepResult::new(step.name.clone(), source, span)
        })
    }
}

/// `FILE:LINE:COL`, split from the right (a Windows path has a colon).
fn split_location(location: &str) -> Option<(PathBuf, usize, usize)> {
    let mut parts = location.rsplitn(3, ':');
    let column = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((PathBuf::from(parts.next()?), line, column))
}

/// A time of a report, to the microsecond it was written with; refused
/// when no run could have taken it (negative, not a number, over 30 years).
fn millis(ms: f64) -> Result<Duration, String> {
    const MAX_MS: f64 = 1e12;
    if !(0.0..=MAX_MS).contains(&ms) {
        return Err(format!("{ms} ms is not a time a run takes"));
    }
    Ok(Duration::from_micros((ms * 1000.0).round() as u64))
}

fn bad_time(text: &str) -> String {
    format!("{text:?} is not a time as the reports write it (YYYY-MM-DDTHH:MM:SS.mmmZ)")
}

/// The time [`super::json::rfc3339`] wrote.
fn time(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let shape_ok = b.len() == 24
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b'T'
        && [13, 16].iter().all(|&i| b[i] == b':')
        && b[19] == b'.'
        && b[23] == b'Z';
    if !shape_ok {
        return None;
    }
    let number = |from: usize, to: usize| text.get(from..to)?.parse::<u64>().ok();
    let (y, m, d) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hh, mm, ss, ms) = (
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
        number(20, 23)?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, m as u32, d as u32);
    let secs = u64::try_from(days).ok()? * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm, the inverse of the one the JSON report writes with).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp as i64 + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::json::rfc3339;

    #[test]
    fn times_read_back_as_written() {
        for ms in [0, 951_782_400_000, 1_709_294_400_123, 4_102_444_799_999] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(time(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        for bad in [
            "",
            "2024-03-01T12:00:00Z",
            "2024-13-01T12:00:00.000Z",
            "2024-03-01 12:00:00.000Z",
        ] {
            assert_eq!(time(bad), None, "{bad}");
        }
    }

    /// A one-step shard of `count:1/1` for a spec file in a temporary
    /// directory, edited by `edit`; what merging it says.
    fn merged(edit: impl Fn(&mut serde_json::Value)) -> Result<RunResult, String> {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("é.oauthspec");
        std::fs::write(&spec, "step \"é\" {\n  GET \"http://h/\"\n}\n").unwrap();
        let mut report = serde_json::json!({
            "schema": SCHEMA,
            "tool": {"name": "oauthspec", "version": env!("CARGO_PKG_VERSION")},
            "started": "2024-05-01T08:00:00.000Z",
            "duration_ms": 1.5,
            "interrupted": null,
            "partition": {"name": "count:1/1", "suites": 1},
            "suites": [{
                "index": 0, "name": "é", "file": spec, "started": "2024-05-01T08:00:00.000Z",
                "duration_ms": 1.0,
                "steps": [{
                    "name": "é", "file": spec, "line": 1, "column": 1, "span": [0, 10],
                    "outcome": "passed", "class": null, "skip_reason": null, "error": null,
                    "duration_ms": 1.0, "attempts": [], "expectations": [], "captures": {},
                    "notes": [], "trace": [], "response_excerpt": null, "response_focus": null
                }]
            }]
        });
        edit(&mut report);
        let shard = serde_json::from_value(report).map_err(|e| e.to_string())?;
        merge(vec![(PathBuf::from("shard.json"), shard)]).map_err(|e| e.to_string())
    }

    #[test]
    fn hostile_shards_are_refused_not_obeyed() {
        assert!(merged(|_| {}).is_ok());
        let refused = |edit: &dyn Fn(&mut serde_json::Value), why: &str| {
            let e = merged(edit).unwrap_err();
            assert!(e.contains(why), "{e}");
        };
        refused(
            &|r| r["duration_ms"] = serde_json::json!(1.5e22),
            "is not a time a run takes",
        );
        refused(
            &|r| r["suites"][0]["steps"][0]["duration_ms"] = serde_json::json!(-1),
            "is not a time",
        );
        refused(
            &|r| r["partition"]["name"] = serde_json::json!("count:1/18446744073709551615"),
            "more than 10000 partitions",
        );
        refused(
            &|r| r["suites"][0]["index"] = serde_json::json!(7),
            "is number 8 of a run of 1 suites",
        );
        refused(
            &|r| r["suites"][0]["steps"][0]["span"] = serde_json::json!([0, 9999]),
            CHANGED,
        );
        // Inside the two bytes of `é`.
        refused(
            &|r| r["suites"][0]["steps"][0]["span"] = serde_json::json!([6, 10]),
            CHANGED,
        );
        refused(
            &|r| r["suites"][0]["sha256"] = serde_json::json!("00"),
            CHANGED,
        );
        refused(
            &|r| r["suites"][0]["steps"][0]["class"] = serde_json::json!("boom"),
            "outcome",
        );
        refused(
            &|r| r["partition"]["name"] = serde_json::json!("count:1/3"),
            "the reports of partitions 2, 3 are missing",
        );
    }

    #[test]
    fn locations_split_from_the_right() {
        assert_eq!(
            split_location(r"C:\specs\a.oauthspec:12:5"),
            Some((PathBuf::from(r"C:\specs\a.oauthspec"), 12, 5))
        );
        assert_eq!(split_location("a.oauthspec:12"), None);
    }
}
