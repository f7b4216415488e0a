//! Running one step: resolve, authenticate, send (with retry, repeat and
//! one token re-fetch after a 401), judge, capture, classify. Each of
//! those but the first is a module here: request.rs builds the request,
//! send.rs sends it as the retry policy allows, judge.rs reads the
//! response, classify.rs says where a failed flow broke.

mod classify;
mod judge;
mod request;
mod send;

use classify::classify;
use request::{AuthPlan, Outgoing, ProofPlan};

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::expect::{self, Actual, ResponseView};
use super::Runner;
use crate::check::client::{ClientConfig, Endpoint};
use crate::check::load::Spec;
use crate::check::value::{EvalError, Evaluator, Resolved, Scope};
use crate::check::{Checked, MissingEnv};
use crate::http::Exchange;
use crate::oauth::login::ResolvedLogin;
use crate::oauth::{RequestPolicy, ResolvedClient, Token};
use crate::plan::StepPlan;
use crate::results::{
    supersede_last, AttemptKind, ExpectResult, FailureClass, Outcome, StepResult,
};
use crate::retry::RetryPolicy;
use crate::syntax::ast::*;

pub(super) struct SpecRun<'a> {
    pub runner: &'a Runner,
    pub spec: &'a Spec,
    pub checked: &'a Checked,
    pub scope: Scope,
    pub clients: HashMap<String, ResolvedClient>,
}

impl<'a> SpecRun<'a> {
    /// A spec about to run: nothing resolved yet (see `resolve_vars`).
    pub fn new(runner: &'a Runner, spec: &'a Spec, checked: &'a Checked) -> SpecRun<'a> {
        SpecRun {
            runner,
            spec,
            checked,
            scope: Scope::new(),
            clients: HashMap::new(),
        }
    }
}

pub(super) fn skipped(file: &SpecFile, step: &Step, reason: &str) -> StepResult {
    StepResult {
        outcome: Outcome::Skipped(format!("skipped: {reason}")),
        ..blank(file, step)
    }
}

/// Every step of a file that lacks environment variables: each fails as
/// `config`, as pytest reports each test whose fixture failed.
pub(super) fn not_run(file: &SpecFile, missing: &[MissingEnv]) -> Vec<StepResult> {
    let names: Vec<&str> = missing.iter().map(|m| m.name.as_str()).collect();
    let (noun, verb) = match names.len() {
        1 => ("variable", "is"),
        _ => ("variables", "are"),
    };
    let first = &missing[0];
    let error = format!(
        "not run: environment {noun} {} {verb} not set (or empty); needed at {}",
        names.join(", "),
        first.source.location(first.span.start)
    );
    file.steps
        .iter()
        .map(|step| StepResult {
            outcome: Outcome::Failed(FailureClass::Config),
            error: Some(error.clone()),
            ..blank(file, step)
        })
        .collect()
}

fn blank(file: &SpecFile, step: &Step) -> StepResult {
    StepResult::new(&step.name.node, file.source.clone(), step.name.span)
}

impl SpecRun<'_> {
    pub fn resolve_vars(&mut self) -> Result<(), String> {
        super::resolve_vars(self.spec, &self.runner.options.check, &mut self.scope)
            .map_err(|e| format!("the spec's vars could not be resolved: {}", e.message()))?;
        for value in self.scope.values().filter(|v| v.secret) {
            self.runner.redactor.add(&value.text);
        }
        // `dpop_thumbprint(CLIENT)`: the key is made (or read) now, and is
        // the one the client's tokens are bound to.
        for (name, config) in &self.checked.clients {
            if config.dpop == crate::check::client::Dpop::Off {
                continue;
            }
            // Only what the key depends on: a client whose other values
            // are known later (a token exchange) has its key now.
            let dir = config.source.path.parent().unwrap_or(Path::new(""));
            let pem = config.dpop_key.as_ref().map(|v| self.eval_in(v, dir));
            let client = ResolvedClient {
                name: name.clone(),
                dpop: config.dpop,
                dpop_key: match pem {
                    Some(Ok(pem)) => Some(pem.text),
                    Some(Err(_)) => continue,
                    None => None,
                },
                ..ResolvedClient::default()
            };
            let key = self.runner.tokens.dpop_key(&client).ok().flatten();
            if let Some(key) = key {
                let var = crate::check::value::thumbprint_var(name);
                self.scope
                    .insert(var, Resolved::plain(key.thumbprint.clone()));
            }
        }
        Ok(())
    }

    fn base_dir(&self) -> &Path {
        self.spec.file.source.path.parent().unwrap_or(Path::new(""))
    }

    fn evaluator<'s>(&'s self, base_dir: &'s Path) -> Evaluator<'s> {
        Evaluator {
            env: &self.runner.options.check.env,
            scope: &self.scope,
            base_dir,
        }
    }

    /// Evaluates with `file(...)` relative to `base_dir`; secret results
    /// join the redactor.
    fn eval_in(&self, value: &Value, base_dir: &Path) -> Result<Resolved, EvalError> {
        let resolved = self.evaluator(base_dir).value(value)?;
        if resolved.secret {
            self.runner.redactor.add(&resolved.text);
        }
        Ok(resolved)
    }

    fn eval(&self, value: &Value) -> Result<Resolved, EvalError> {
        self.eval_in(value, self.base_dir())
    }

    fn template(&self, template: &Template) -> Result<Resolved, EvalError> {
        self.evaluator(self.base_dir()).template(template)
    }

    /// Runs a step; `after_failure` says why the suite already failed (an
    /// `always` step runs anyway).
    pub async fn run_step(
        &mut self,
        step: &Step,
        plan: &StepPlan,
        after_failure: Option<&str>,
    ) -> StepResult {
        let clock = Instant::now();
        let file = self.spec.file.clone();
        let mut result = blank(&file, step);
        let outcome = self.execute(step, plan, after_failure, &mut result).await;
        result.outcome = outcome;
        result.duration = clock.elapsed();
        result
    }

    async fn execute(
        &mut self,
        step: &Step,
        plan: &StepPlan,
        after_failure: Option<&str>,
        result: &mut StepResult,
    ) -> Outcome {
        let outgoing = match (self.outgoing(step), after_failure) {
            (Ok(p), _) => p,
            // A cleanup step has nothing to clean up when the step that
            // captures its input failed.
            (Err(EvalError::UndefinedVar { name, .. }), Some(why)) => {
                return Outcome::Skipped(format!("skipped: `{name}` was never captured ({why})"));
            }
            (Err(e), _) => {
                result.error = Some(self.undefined_message(&e));
                return Outcome::Failed(FailureClass::Expectation);
            }
        };
        if let Some(delay) = &step.options.delay {
            tokio::time::sleep(delay.node).await;
        }
        let policy = retry_policy(step);
        let until_pass = step.options.retry.as_ref().is_some_and(|r| r.until_pass);
        // With `until pass` the whole try is repeated; within a try, or
        // without it, only failed exchanges are sent again.
        let exchanges = if until_pass {
            RetryPolicy::NONE
        } else {
            policy
        };
        let mut tries = 0;
        loop {
            let first = result.attempts.len();
            let outcome = self
                .try_once(step, plan, &outgoing, &exchanges, result)
                .await;
            if !until_pass || matches!(outcome, Outcome::Passed) {
                return outcome;
            }
            let Some(wait) = policy.wait(tries, None) else {
                return outcome;
            };
            // The whole try was tried again: its requests (repeats
            // included) and any failed token request. A token that was
            // issued stays in use.
            for attempt in &mut result.attempts[first..] {
                let issued = attempt.kind == AttemptKind::Token
                    && attempt.status.is_some_and(|s| (200..300).contains(&s));
                attempt.superseded |= !issued;
            }
            result.expectations.clear();
            result.captures.clear();
            result.error = None;
            result.response_excerpt = None;
            result.response_focus = None;
            tokio::time::sleep(wait).await;
            tries += 1;
        }
    }

    /// One try of the step: its requests (each `repeat`), judged.
    async fn try_once(
        &mut self,
        step: &Step,
        plan: &StepPlan,
        outgoing: &Outgoing,
        policy: &RetryPolicy,
        result: &mut StepResult,
    ) -> Outcome {
        let repeat = step.options.repeat.as_ref().map_or(1, |r| r.node);
        let mut judged: Vec<Option<ExpectResult>> = vec![None; step.expects.len()];
        let mut samples = Vec::with_capacity(repeat as usize);
        let mut last: Option<Exchange> = None;
        let mut token: Option<Token> = None;
        let mut refetched = false;
        for _ in 0..repeat {
            if let AuthPlan::Client(name) = &outgoing.auth {
                if token.is_none() {
                    match self.client_token(name, step, policy, result).await {
                        Ok(t) => {
                            // `dpop optional` took an unbound token: there
                            // is no proof to make for another URL.
                            if t.scheme != "DPoP" && matches!(outgoing.proof, ProofPlan::For(_)) {
                                result.notes.push(format!(
                                    "client `{name}`'s token is not DPoP-bound: `proof_for` sent no proof"
                                ));
                            }
                            token = Some(t);
                        }
                        Err((class, message)) => {
                            result.error = Some(self.redact(&message));
                            return Outcome::Failed(class);
                        }
                    }
                }
            }
            let mut exchange = self
                .send(step, outgoing, token.as_ref(), policy, &mut result.attempts)
                .await;
            // A managed token the resource rejects is fetched again once
            // (not one sent without its proof, or with a proof for another
            // URL, on purpose: that 401 is the point).
            if let (Ok(x), AuthPlan::Client(name), Some(rejected)) =
                (&exchange, &outgoing.auth, &token)
            {
                if x.status == 401 && !refetched && outgoing.proof == ProofPlan::AsClient {
                    refetched = true;
                    let client = self.clients.get(name).cloned().unwrap_or_default();
                    self.runner.tokens.invalidate(&client, rejected).await;
                    supersede_last(&mut result.attempts);
                    match self.client_token(name, step, policy, result).await {
                        Ok(fresh) => {
                            result.notes.push(format!(
                                "the resource answered 401 to client `{name}`'s token; fetched a new one and retried once"
                            ));
                            token = Some(fresh);
                            exchange = self
                                .send(step, outgoing, token.as_ref(), policy, &mut result.attempts)
                                .await;
                        }
                        Err((class, message)) => {
                            result.error = Some(self.redact(&message));
                            return Outcome::Failed(class);
                        }
                    }
                }
            }
            let x = match exchange {
                Ok(x) => x,
                Err(e) => {
                    result.error = Some(self.redact(&e.message));
                    return Outcome::Failed(FailureClass::Network);
                }
            };
            samples.push(x.latency);
            if self.runner.http.is_truncated(&x)
                && result.notes.iter().all(|n| !n.starts_with("the body"))
            {
                result.notes.push(format!(
                    "the body is {} bytes; assertions saw the first {} (--max-body)",
                    x.size,
                    x.body.len()
                ));
            }
            let view = ResponseView::new(&x);
            for (i, expect) in step.expects.iter().enumerate() {
                let compiled = plan.expect(i);
                let per_sample = !matches!(
                    expect.query.kind,
                    QueryKind::Latency(Some(_)) | QueryKind::JwtSignature { .. }
                );
                // Keep the first failure over repeats, else the latest pass.
                if per_sample && judged[i].as_ref().is_none_or(|j| j.passed) {
                    judged[i] =
                        Some(self.expectation(&file_of(self.spec), expect, compiled, &view, None));
                }
            }
            last = Some(x);
        }
        let Some(last) = last else {
            return Outcome::Passed;
        };
        let view = ResponseView::new(&last);
        for (i, expect) in step.expects.iter().enumerate() {
            let compiled = plan.expect(i);
            match &expect.query.kind {
                QueryKind::Latency(Some(p)) => {
                    let actual = Actual::Duration(expect::percentile(&samples, p.node));
                    judged[i] = Some(self.expectation(
                        &file_of(self.spec),
                        expect,
                        compiled,
                        &view,
                        Some(actual),
                    ));
                }
                QueryKind::JwtSignature { source } => {
                    let actual = self.signature(source, compiled, &view, step).await;
                    judged[i] = Some(self.expectation(
                        &file_of(self.spec),
                        expect,
                        compiled,
                        &view,
                        Some(actual),
                    ));
                }
                _ => {}
            }
        }
        // The node the first failed JSONPath looked at, to show the body there.
        let focus = (judged.iter().enumerate())
            .find(|(_, j)| j.as_ref().is_some_and(|j| !j.passed))
            .and_then(|(i, _)| plan.expect(i).path.as_deref())
            .and_then(|path| expect::node_path(&view, path));
        result.expectations = judged.into_iter().flatten().collect();
        self.capture(step, plan, &view, result);
        if result.expectations.iter().all(|e| e.passed) {
            return Outcome::Passed;
        }
        let (excerpt, lines) = self.excerpt(&last, focus.as_deref());
        result.response_excerpt = Some(excerpt);
        result.response_focus = lines;
        Outcome::Failed(classify(step, result, &view))
    }

    fn undefined_message(&self, e: &EvalError) -> String {
        let location = self.spec.file.source.location(e.span().start);
        match e {
            EvalError::UndefinedVar { name, .. } => {
                format!("variable `{name}` has no value at {location}: the step that captures it did not run or capture it")
            }
            other => format!("{} at {location}", other.message()),
        }
    }

    /// The managed client's token, resolving the client on first use; its
    /// requests follow the step's timeout and retry policy.
    async fn client_token(
        &mut self,
        name: &str,
        step: &Step,
        retry: &RetryPolicy,
        result: &mut StepResult,
    ) -> Result<Token, (FailureClass, String)> {
        self.client_token_within(name, step, retry, result, 0).await
    }

    /// `client_token`, `depth` token exchanges down: `check` refuses
    /// exchanges that go round, and this bound keeps a run safe anyway.
    async fn client_token_within(
        &mut self,
        name: &str,
        step: &Step,
        retry: &RetryPolicy,
        result: &mut StepResult,
        depth: usize,
    ) -> Result<Token, (FailureClass, String)> {
        const MAX_EXCHANGES: usize = 8;
        if depth > MAX_EXCHANGES {
            return Err((
                FailureClass::Config,
                format!("client `{name}`: token exchanges nest more than {MAX_EXCHANGES} deep"),
            ));
        }
        let config = self
            .checked
            .clients
            .get(name)
            .expect("checked: the client exists")
            .clone();
        // A token exchange trades the current tokens of the clients it
        // names: fetched (or renewed) first, and the client resolved anew.
        let traded: Vec<String> = [&config.subject_token, &config.actor_token]
            .into_iter()
            .flatten()
            .filter_map(|v| match &v.kind {
                crate::syntax::ast::ValueKind::ClientToken(other) => Some(other.node.clone()),
                _ => None,
            })
            .collect();
        for other in &traded {
            let token =
                Box::pin(self.client_token_within(other, step, retry, result, depth + 1)).await?;
            let var = crate::check::value::client_token_var(other);
            self.scope.insert(
                var,
                Resolved {
                    text: token.access_token,
                    secret: true,
                },
            );
        }
        if !traded.is_empty() || !self.clients.contains_key(name) {
            let resolved = self.resolve_client(&config).map_err(|e| {
                (
                    FailureClass::Credentials,
                    format!("client `{name}`: {}", e.message()),
                )
            })?;
            self.clients.insert(name.to_string(), resolved);
        }
        let client = &self.clients[name];
        let policy = RequestPolicy {
            timeout: self.timeout(step),
            retry: *retry,
        };
        let (token, source) = self
            .runner
            .tokens
            .token(client, &policy, &mut result.attempts, &mut result.trace)
            .await
            .map_err(|e| (e.class, e.message))?;
        result
            .trace
            .push(format!("client `{name}`: token from {}", source.describe()));
        Ok(token)
    }

    fn timeout(&self, step: &Step) -> Duration {
        step.options
            .timeout
            .as_ref()
            .map_or(self.runner.options.timeout, |t| t.node)
    }

    pub(super) fn resolve_client(
        &self,
        c: &Arc<ClientConfig>,
    ) -> Result<ResolvedClient, EvalError> {
        // `file(...)` in a client is relative to the file that defines it,
        // which may be an import in another directory (as `check` reads it).
        let dir = c.source.path.parent().unwrap_or(Path::new(""));
        let eval = |v: &Value| self.eval_in(v, dir).map(|r| r.text);
        let opt = |v: &Option<Value>| v.as_ref().map(eval).transpose();
        let (token_url, discovery) = match &c.endpoint {
            Endpoint::TokenUrl(v) => (Some(eval(v)?), None),
            Endpoint::Discovery(v) => (None, Some(eval(v)?)),
        };
        let mut params = Vec::new();
        for (name, value) in &c.params {
            params.push((self.evaluator(dir).template(name)?.text, eval(value)?));
        }
        let login = match &c.login {
            Some(def) => {
                let mut login = ResolvedLogin::default();
                for field in &def.fields {
                    let name = self.evaluator(dir).template(&field.name)?.text;
                    let value = self.eval_in(&field.value, dir)?;
                    if value.secret || looks_secret(&name) {
                        login.secrets.push(value.text.clone());
                    }
                    login.fields.push((name, value.text));
                }
                login.consent = opt(&def.consent)?;
                Some(login)
            }
            None => None,
        };
        Ok(ResolvedClient {
            name: c.name.node.clone(),
            token_url,
            discovery,
            grant: Some(c.grant),
            auth_method: Some(c.auth_method),
            client_id: opt(&c.client_id)?.unwrap_or_default(),
            client_secret: opt(&c.client_secret)?,
            refresh_token: opt(&c.refresh_token)?,
            username: opt(&c.username)?,
            password: opt(&c.password)?,
            scope: opt(&c.scope)?,
            audience: opt(&c.audience)?,
            resource: opt(&c.resource)?,
            private_key: opt(&c.private_key)?,
            key_id: opt(&c.key_id)?,
            alg: Some(c.alg),
            scheme: opt(&c.scheme)?,
            jwks_uri: opt(&c.jwks_uri)?,
            ca_cert: opt(&c.ca_cert)?,
            client_cert: opt(&c.client_cert)?,
            client_key: opt(&c.client_key)?,
            params,
            authorize_url: opt(&c.authorize_url)?,
            redirect_uri: opt(&c.redirect_uri)?,
            prompt: opt(&c.prompt)?,
            login_hint: opt(&c.login_hint)?,
            acr_values: opt(&c.acr_values)?,
            device_authorization_url: opt(&c.device_authorization_url)?,
            login,
            dpop: c.dpop,
            dpop_key: opt(&c.dpop_key)?,
            subject: opt(&c.subject)?,
            assertion_audience: opt(&c.assertion_audience)?,
            subject_token: opt(&c.subject_token)?,
            subject_token_type: opt(&c.subject_token_type)?,
            actor_token: opt(&c.actor_token)?,
            actor_token_type: opt(&c.actor_token_type)?,
            requested_token_type: opt(&c.requested_token_type)?,
        })
    }

    /// The last response for a failure: its status, then its body
    /// (pretty-printed if JSON), redacted and cut at [`EXCERPT_LIMIT`]; and
    /// the excerpt's lines that hold the node at `focus`, when shown.
    fn excerpt(&self, x: &Exchange, focus: Option<&str>) -> (String, Option<(usize, usize)>) {
        let text = x.body_text();
        let text = text.trim();
        // Past a mebibyte a body is shown as sent: pretty-printing all of
        // it to show 4 KiB would cost more than the failure is worth.
        let pretty = (text.len() <= PRETTY_MAX)
            .then(|| crate::util::json::pretty(text, focus))
            .flatten();
        let (body, lines) = pretty.unwrap_or_else(|| (text.to_string(), None));
        // Redacted whole, then cut: a cut secret would not be recognised.
        let (body, left_out) = cut(
            self.runner.redactor.redact(&body).into_owned(),
            EXCERPT_LIMIT,
        );
        // The body lines shown whole (the last one may be cut, the marker
        // is not the body's); line 0 of the excerpt is the status line.
        let whole = body.lines().count() - 2 * usize::from(left_out);
        let lines = lines
            .filter(|(start, _)| *start < whole)
            .map(|(start, end)| (start + 1, end.min(whole.saturating_sub(1)) + 1));
        (format!("HTTP {}\n{body}", x.status), lines)
    }

    fn redact(&self, text: &str) -> String {
        self.runner.redactor.redact(text).into_owned()
    }
}

/// The step's `retry`: exponential backoff from 100ms, or with `until
/// pass` a poll every `backoff` (1s unless given); `max` bounds the whole.
fn retry_policy(step: &Step) -> RetryPolicy {
    let Some(retry) = &step.options.retry else {
        return RetryPolicy::NONE;
    };
    let default = if retry.until_pass {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(100)
    };
    RetryPolicy {
        retries: retry.count,
        backoff: retry.backoff.unwrap_or(default),
        constant: retry.until_pass,
        deadline: retry.max.map(|max| Instant::now() + max),
    }
}

/// How much of a response body a failure shows (characters).
const EXCERPT_LIMIT: usize = 4096;

/// The most body bytes pretty-printed for an excerpt.
const PRETTY_MAX: usize = 1 << 20;

/// `text` up to `limit` characters, saying how many bytes were left out;
/// and whether any were.
fn cut(mut text: String, limit: usize) -> (String, bool) {
    let Some((at, _)) = text.char_indices().nth(limit) else {
        return (text, false);
    };
    let more = text.len() - at;
    text.truncate(at);
    text.push_str(&format!("\n… {more} more bytes"));
    (text, true)
}

pub(super) fn file_of(spec: &Spec) -> Arc<crate::source::SourceFile> {
    spec.file.source.clone()
}

/// Whether a login field's name says its value is a secret, marked or not.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "pass", "pwd", "secret", "pin", "otp", "totp", "token", "code", "key",
    ]
    .iter()
    .any(|w| name.contains(w))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_excerpt_says_how_much_is_left() {
        assert_eq!(super::cut("héllo".into(), 10), ("héllo".into(), false));
        assert_eq!(
            super::cut("héllo wörld".into(), 4),
            ("héll\n… 8 more bytes".into(), true)
        );
    }
}
