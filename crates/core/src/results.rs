//! What a run found: the model every reporter reads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::run::partition::Partition;
use crate::source::{SourceFile, Span};

/// Where the flow broke, for a failed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// DNS, connect, TLS or timeout talking to the API.
    Network,
    /// The token endpoint unreachable, 5xx, 429 or a malformed answer.
    AuthServer,
    /// invalid_client, invalid_grant, unauthorized_client.
    Credentials,
    /// invalid_scope, insufficient_scope, 403.
    Scope,
    /// 401 / invalid_token from a resource, after the one re-fetch.
    TokenRejected,
    /// 5xx or an unexpected answer from the API.
    Resource,
    /// Any other mismatch.
    Expectation,
    /// Not run: the run's configuration is incomplete (an environment
    /// variable is missing), so no request was sent.
    Config,
}

impl FailureClass {
    pub const ALL: [FailureClass; 8] = [
        FailureClass::Network,
        FailureClass::AuthServer,
        FailureClass::Credentials,
        FailureClass::Scope,
        FailureClass::TokenRejected,
        FailureClass::Resource,
        FailureClass::Expectation,
        FailureClass::Config,
    ];

    /// The class [`as_str`](Self::as_str) names.
    pub fn parse(name: &str) -> Option<FailureClass> {
        FailureClass::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Network => "network",
            FailureClass::AuthServer => "auth_server",
            FailureClass::Credentials => "credentials",
            FailureClass::Scope => "scope",
            FailureClass::TokenRejected => "token_rejected",
            FailureClass::Resource => "resource",
            FailureClass::Expectation => "expectation",
            FailureClass::Config => "config",
        }
    }

    /// Whether the failure is an error (the check could not be made) rather
    /// than a mismatch (the check was made and failed).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            FailureClass::Network | FailureClass::AuthServer | FailureClass::Config
        )
    }
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub suites: Vec<SuiteResult>,
    pub started: SystemTime,
    pub duration: Duration,
    /// The signal that stopped the run (e.g. `SIGINT`): the suites are
    /// those that finished, not all there were.
    pub interrupted: Option<String>,
    /// The share of a larger run this was, for a CI matrix job.
    pub partition: Option<Share>,
}

/// A partition's place in the whole run, so that the reports of every
/// shard can be merged into the report of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub partition: Partition,
    /// The suites of the whole run, every partition's.
    pub of_suites: usize,
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.of_suites == 1 { "" } else { "s" };
        write!(
            f,
            "partition {} of a run of {} suite{s}",
            self.partition, self.of_suites
        )
    }
}

impl RunResult {
    /// Why the reports are incomplete, for an interrupted run.
    pub fn interruption(&self) -> Option<String> {
        self.interrupted.as_ref().map(|signal| {
            format!(
                "the run was interrupted by {signal}: only the suites that finished are reported"
            )
        })
    }

    /// Whether a suite could not run for want of configuration.
    pub fn incomplete(&self) -> bool {
        self.suites
            .iter()
            .flat_map(|s| &s.steps)
            .any(|s| s.class() == Some(FailureClass::Config))
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for step in self.suites.iter().flat_map(|s| &s.steps) {
            match step.outcome {
                Outcome::Passed => c.passed += 1,
                Outcome::Failed(_) => c.failed += 1,
                Outcome::Skipped(_) => c.skipped += 1,
            }
        }
        c
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone)]
pub struct SuiteResult {
    /// Its place (0-based) among the suites of the whole run, across
    /// partitions: the order a merged report puts the suites in.
    pub index: usize,
    pub name: String,
    pub file: PathBuf,
    pub steps: Vec<StepResult>,
    pub started: SystemTime,
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed(FailureClass),
    /// With the reason.
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct StepResult {
    pub name: String,
    pub source: Arc<SourceFile>,
    pub span: Span,
    pub outcome: Outcome,
    pub attempts: Vec<Attempt>,
    pub expectations: Vec<ExpectResult>,
    /// A problem that kept the step from being checked: a transport error,
    /// a token that could not be had, a variable never captured. Redacted.
    pub error: Option<String>,
    /// Things worth knowing, e.g. "token re-fetched after a 401".
    pub notes: Vec<String>,
    /// Where the step's token came from and why, for `-v`.
    pub trace: Vec<String>,
    /// Captured names; values shown only when not secret.
    pub captures: Vec<CaptureResult>,
    /// A redacted excerpt of the last response, for failures: the status
    /// line, then the body (JSON pretty-printed).
    pub response_excerpt: Option<String>,
    /// The excerpt's lines (0-based, inclusive) holding the node the first
    /// failed JSONPath expectation looked at.
    pub response_focus: Option<(usize, usize)>,
    pub duration: Duration,
}

impl StepResult {
    /// A step that passed with nothing recorded yet: what a run fills in.
    pub fn new(name: impl Into<String>, source: Arc<SourceFile>, span: Span) -> StepResult {
        StepResult {
            name: name.into(),
            source,
            span,
            outcome: Outcome::Passed,
            attempts: Vec::new(),
            expectations: Vec::new(),
            error: None,
            notes: Vec::new(),
            trace: Vec::new(),
            captures: Vec::new(),
            response_excerpt: None,
            response_focus: None,
            duration: Duration::ZERO,
        }
    }

    /// The failure class, for a failed step.
    pub fn class(&self) -> Option<FailureClass> {
        match self.outcome {
            Outcome::Failed(class) => Some(class),
            _ => None,
        }
    }

    pub fn failed_expectations(&self) -> impl Iterator<Item = &ExpectResult> {
        self.expectations.iter().filter(|e| !e.passed)
    }

    /// The last HTTP status the step's own request got.
    pub fn status(&self) -> Option<u16> {
        self.attempts
            .iter()
            .rev()
            .find(|a| a.kind == AttemptKind::Request)
            .and_then(|a| a.status)
    }

    /// Latency of the step's requests: the mean over repeats, leaving out
    /// attempts that were retried.
    pub fn latency(&self) -> Option<Duration> {
        let samples: Vec<Duration> = self
            .attempts
            .iter()
            .filter(|a| a.kind == AttemptKind::Request && a.status.is_some() && !a.superseded)
            .map(|a| a.latency)
            .collect();
        if samples.is_empty() {
            return None;
        }
        Some(samples.iter().sum::<Duration>() / samples.len() as u32)
    }

    /// The outcomes of the attempts that were tried again, in order, e.g.
    /// `["token 503", "404"]`.
    pub fn superseded(&self) -> Vec<String> {
        self.attempts
            .iter()
            .filter(|a| a.superseded)
            .map(|a| match a.kind {
                AttemptKind::Token => format!("token {}", a.outcome()),
                AttemptKind::Request => a.outcome(),
            })
            .collect()
    }

    /// A one-line summary of why the step failed.
    pub fn failure_message(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        self.failed_expectations().next().map(ExpectResult::summary)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    /// The step's own request.
    Request,
    /// A token request made for the step's `auth CLIENT`.
    Token,
}

impl AttemptKind {
    pub fn parse(name: &str) -> Option<AttemptKind> {
        [AttemptKind::Request, AttemptKind::Token]
            .into_iter()
            .find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Request => "request",
            AttemptKind::Token => "token",
        }
    }
}

/// Marks the latest attempt as tried again.
pub(crate) fn supersede_last(attempts: &mut [Attempt]) {
    if let Some(last) = attempts.last_mut() {
        last.superseded = true;
    }
}

/// One HTTP exchange, as the reports show it (redacted).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub kind: AttemptKind,
    pub method: String,
    pub url: String,
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
    /// Redacted request and response text, with `-v`.
    pub transcript: Option<String>,
    /// Another attempt replaced this one: a retry, or a token fetched
    /// again after a 401.
    pub superseded: bool,
    /// For a token request, the client block it was made for.
    pub client: Option<String>,
}

impl Attempt {
    /// The status, or what kept the exchange from having one.
    pub fn outcome(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) => format!("error: {e}"),
            (None, None) => "no response".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExpectResult {
    /// The expectation as written, e.g. `json "$.id" == "ord_1001"`.
    pub text: String,
    pub source: Arc<SourceFile>,
    pub span: Span,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
}

impl ExpectResult {
    pub fn location(&self) -> String {
        self.source.location(self.span.start)
    }

    /// The statement as written: `expect ...` or `capture ...`.
    pub fn statement(&self) -> String {
        if self.text.starts_with("capture ") {
            self.text.clone()
        } else {
            format!("expect {}", self.text)
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "{}: expected {}, got {}",
            self.statement(),
            self.expected,
            self.actual
        )
    }
}

#[derive(Debug, Clone)]
pub struct CaptureResult {
    pub name: String,
    /// `None` when secret.
    pub value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(status: u16, ms: u64, superseded: bool) -> Attempt {
        Attempt {
            kind: AttemptKind::Request,
            method: "GET".into(),
            url: "http://h/".into(),
            status: Some(status),
            latency: Duration::from_millis(ms),
            error: None,
            transcript: None,
            superseded,
            client: None,
        }
    }

    #[test]
    fn latency_is_the_mean_of_the_attempts_that_counted() {
        let step = StepResult {
            attempts: vec![
                attempt(503, 900, true),
                attempt(200, 10, false),
                attempt(200, 30, false),
            ],
            ..StepResult::new("s", SourceFile::new("t.oauthspec", ""), Span::default())
        };
        assert_eq!(step.latency(), Some(Duration::from_millis(20)));
        assert_eq!(step.superseded(), ["503"]);
    }
}
