//! Running one step: resolve, authenticate, send (with retry, repeat and
//! one token re-fetch after a 401), judge, capture, classify.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::expect::{self, Actual, OperandKind, QueryInputs, ResponseView};
use super::Runner;
use crate::check::{Checked, MissingEnv};
use crate::client::{ClientConfig, Endpoint};
use crate::http::{
    transcript_of, Exchange, TlsKey, TransportError, TransportErrorKind, TRANSCRIPT_LINE,
};
use crate::load::Spec;
use crate::oauth::{RequestPolicy, ResolvedClient, Token};
use crate::plan::{CompiledQuery, StepPlan};
use crate::results::{
    supersede_last, Attempt, AttemptKind, CaptureResult, ExpectResult, FailureClass, Outcome,
    StepResult,
};
use crate::retry::RetryPolicy;
use crate::secrets::{is_secret_field, looks_secret};
use crate::syntax::ast::*;
use crate::value::{EvalError, Evaluator, Resolved, Scope};

pub(super) struct SpecRun<'a> {
    pub runner: &'a Runner,
    pub spec: &'a Spec,
    pub checked: &'a Checked,
    pub scope: Scope,
    pub clients: HashMap<String, ResolvedClient>,
}

/// A step's request with every value resolved.
struct Outgoing {
    method: reqwest::Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    auth: AuthPlan,
    /// The step's own `ca_cert`, and `client_cert` with `client_key`.
    ca_cert: Option<String>,
    identity: Option<(String, String)>,
}

enum AuthPlan {
    None,
    Header(String),
    Client(String),
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
    StepResult {
        name: step.name.node.clone(),
        source: file.source.clone(),
        span: step.name.span,
        outcome: Outcome::Passed,
        attempts: Vec::new(),
        expectations: Vec::new(),
        error: None,
        notes: Vec::new(),
        trace: Vec::new(),
        captures: Vec::new(),
        response_excerpt: None,
        duration: Duration::ZERO,
    }
}

impl SpecRun<'_> {
    pub fn resolve_vars(&mut self) -> Result<(), String> {
        super::resolve_vars(self.spec, &self.runner.options.check, &mut self.scope)
            .map_err(|e| format!("the spec's vars could not be resolved: {}", e.message()))?;
        for value in self.scope.values().filter(|v| v.secret) {
            self.runner.redactor.add(&value.text);
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
                        Ok(t) => token = Some(t),
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
            // A managed token the resource rejects is fetched again once.
            if let (Ok(x), AuthPlan::Client(name), Some(rejected)) =
                (&exchange, &outgoing.auth, &token)
            {
                if x.status == 401 && !refetched {
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
        result.expectations = judged.into_iter().flatten().collect();
        self.capture(step, plan, &view, result);
        if result.expectations.iter().all(|e| e.passed) {
            return Outcome::Passed;
        }
        result.response_excerpt = Some(self.excerpt(&last));
        Outcome::Failed(classify(step, result, &view))
    }

    /// The step's request with every value resolved.
    fn outgoing(&self, step: &Step) -> Result<Outgoing, EvalError> {
        let request = step
            .request
            .as_ref()
            .expect("checked: every step has a request");
        let url = self.eval(&request.url)?.text;
        let mut query = Vec::new();
        for pair in &step.query {
            query.push((
                self.template(&pair.name)?.text,
                self.eval(&pair.value)?.text,
            ));
        }
        let mut headers = Vec::new();
        for header in &step.headers {
            let name = self.template(&header.name)?.text;
            let value = self.eval(&header.value)?;
            if name.eq_ignore_ascii_case("authorization") {
                self.runner.redactor.add(&value.text);
            }
            headers.push((name, value.text));
        }
        let has_content_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        let body = match &step.body {
            None => None,
            Some(Body::Form(pairs)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for pair in pairs {
                    let name = self.template(&pair.name)?.text;
                    let value = self.eval(&pair.value)?.text;
                    if is_secret_field(&name) {
                        self.runner.redactor.add(&value);
                    }
                    form.append_pair(&name, &value);
                }
                if !has_content_type {
                    headers.push((
                        "Content-Type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ));
                }
                Some(form.finish().into_bytes())
            }
            Some(Body::Json(json)) => {
                let mut text = String::new();
                self.render_json(json, &mut text)?;
                if !has_content_type {
                    headers.push(("Content-Type".into(), "application/json".into()));
                }
                Some(text.into_bytes())
            }
            Some(Body::Raw(value)) => Some(self.eval(value)?.text.into_bytes()),
        };
        let auth = match &step.auth {
            None => AuthPlan::None,
            Some(Auth::Basic { user, password }) => {
                let user = self.eval(user)?.text;
                let password = self.eval(password)?.text;
                self.runner.redactor.add_basic(&user, &password);
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                AuthPlan::Header(format!("Basic {encoded}"))
            }
            Some(Auth::Bearer(token)) => {
                let token = self.eval(token)?.text;
                self.runner.redactor.add(&token);
                AuthPlan::Header(format!("Bearer {token}"))
            }
            Some(Auth::Client(name)) => AuthPlan::Client(name.node.clone()),
        };
        let ca_cert = step
            .options
            .ca_cert
            .as_ref()
            .map(|v| self.eval(v))
            .transpose()?
            .map(|r| r.text);
        let identity = match (&step.options.client_cert, &step.options.client_key) {
            (Some(cert), Some(key)) => {
                let cert = self.eval(cert)?.text;
                let key = self.eval(key)?.text;
                self.runner.redactor.add(&key);
                Some((cert, key))
            }
            _ => None,
        };
        Ok(Outgoing {
            method: reqwest::Method::from_bytes(request.method.node.as_str().as_bytes())
                .unwrap_or(reqwest::Method::GET),
            url,
            query,
            headers,
            body,
            auth,
            ca_cert,
            identity,
        })
    }

    fn render_json(&self, json: &Json, out: &mut String) -> Result<(), EvalError> {
        match json {
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(
                        &serde_json::to_string(&self.template(key)?.text).unwrap_or_default(),
                    );
                    out.push(':');
                    self.render_json(value, out)?;
                }
                out.push('}');
            }
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.render_json(item, out)?;
                }
                out.push(']');
            }
            Json::Str(t) => {
                out.push_str(&serde_json::to_string(&self.template(t)?.text).unwrap_or_default())
            }
            Json::Literal(l) => out.push_str(l),
            Json::Raw(name) => {
                let value = self
                    .scope
                    .get(&name.node)
                    .ok_or_else(|| EvalError::UndefinedVar {
                        name: name.node.clone(),
                        span: name.span,
                    })?;
                // JSON text goes in as JSON; anything else as a string.
                match serde_json::from_str::<serde_json::Value>(&value.text) {
                    Ok(v) => out.push_str(&v.to_string()),
                    Err(_) => out.push_str(&serde_json::to_string(&value.text).unwrap_or_default()),
                }
            }
        }
        Ok(())
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
        if !self.clients.contains_key(name) {
            let config = self
                .checked
                .clients
                .get(name)
                .expect("checked: the client exists")
                .clone();
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

    fn resolve_client(&self, c: &Arc<ClientConfig>) -> Result<ResolvedClient, EvalError> {
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
        })
    }

    /// Sends the request, again as `policy` allows; every attempt is
    /// recorded.
    async fn send(
        &self,
        step: &Step,
        outgoing: &Outgoing,
        token: Option<&Token>,
        policy: &RetryPolicy,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Exchange, TransportError> {
        let http = &self.runner.http;
        // The step's TLS settings, else those of the client it authenticates
        // as (a certificate-bound token is used over the same certificate).
        let managed = match &outgoing.auth {
            AuthPlan::Client(name) => self.clients.get(name),
            _ => None,
        };
        let key = TlsKey {
            follow_redirects: step.options.follow_redirects.unwrap_or(false),
            insecure: step.options.insecure,
            ca_cert: outgoing
                .ca_cert
                .clone()
                .or_else(|| managed.and_then(|c| c.ca_cert.clone())),
            identity: outgoing
                .identity
                .clone()
                .or_else(|| managed.and_then(|c| c.client_cert.clone().zip(c.client_key.clone()))),
        };
        let client = http
            .client_for(&key, &outgoing.url)
            .map_err(|message| TransportError {
                kind: TransportErrorKind::Tls,
                message,
                latency: Duration::ZERO,
                transcript: None,
            })?;
        let timeout = self.timeout(step);
        let shown_url = self.redact(&outgoing.url);
        let first = attempts.len();
        policy
            .send(crate::retry::retryable, async || {
                if attempts.len() > first {
                    supersede_last(attempts);
                }
                let mut request = client.request(outgoing.method.clone(), &outgoing.url);
                if !outgoing.query.is_empty() {
                    request = request.query(&outgoing.query);
                }
                for (name, value) in &outgoing.headers {
                    request = request.header(name, value);
                }
                match (&outgoing.auth, token) {
                    (AuthPlan::Header(value), _) => {
                        request = request.header("Authorization", value)
                    }
                    (AuthPlan::Client(_), Some(token)) => {
                        request = request.header("Authorization", token.authorization())
                    }
                    _ => {}
                }
                if let Some(body) = &outgoing.body {
                    request = request.body(body.clone());
                }
                let result = http.send(request, timeout).await;
                if let Ok(x) = &result {
                    self.runner.redactor.add_fields_of(&x.body);
                }
                attempts.push(Attempt {
                    kind: AttemptKind::Request,
                    method: outgoing.method.to_string(),
                    url: shown_url.clone(),
                    status: result.as_ref().ok().map(|x| x.status),
                    latency: match &result {
                        Ok(x) => x.latency,
                        Err(e) => e.latency,
                    },
                    error: result.as_ref().err().map(|e| self.redact(&e.message)),
                    transcript: transcript_of(&result)
                        .map(|t| self.runner.redactor.show_lines(t, TRANSCRIPT_LINE)),
                    superseded: false,
                });
                result
            })
            .await
    }

    /// One expectation judged against a response, as reports show it.
    fn expectation(
        &self,
        file: &Arc<crate::source::SourceFile>,
        expect: &Expect,
        compiled: &CompiledQuery,
        view: &ResponseView,
        actual: Option<Actual>,
    ) -> ExpectResult {
        let text = file.text[expect.span.start..expect.span.end]
            .trim_start_matches("expect")
            .trim()
            .to_string();
        let failed = |actual: String| ExpectResult {
            text: text.clone(),
            source: file.clone(),
            span: expect.span,
            passed: false,
            expected: String::new(),
            actual,
        };
        let arg = match self.query_arg(&expect.query.kind) {
            Ok(a) => a,
            Err(e) => return failed(self.undefined_message(&e)),
        };
        let actual = actual.unwrap_or_else(|| {
            expect::read(
                view,
                &expect.query.kind,
                &QueryInputs {
                    path: compiled.path.as_deref(),
                    regex: compiled.regex.as_ref(),
                    arg: arg.as_deref(),
                },
            )
        });
        let operand = match expect
            .predicate
            .operand
            .as_ref()
            .map(|o| self.eval(o))
            .transpose()
        {
            Ok(o) => o,
            Err(e) => return failed(self.undefined_message(&e)),
        };
        let kind = match expect.predicate.operand.as_ref().map(|o| &o.kind) {
            Some(ValueKind::Number(_)) => OperandKind::Number,
            Some(ValueKind::Bool(_)) => OperandKind::Bool,
            Some(ValueKind::Duration(d)) => OperandKind::Duration(*d),
            _ => OperandKind::Text,
        };
        let (passed, expected) = expect::judge(
            &actual,
            &expect.predicate,
            operand.as_ref(),
            kind,
            compiled.matches.as_ref(),
        );
        ExpectResult {
            text: self.redact(&text),
            source: file.clone(),
            span: expect.span,
            passed,
            expected: self.redact(&expected),
            actual: self.runner.redactor.show(&actual.display(), 200),
        }
    }

    /// The resolved text argument of a query: a header name, or a JWT
    /// source written as a template.
    fn query_arg(&self, kind: &QueryKind) -> Result<Option<String>, EvalError> {
        Ok(match kind {
            QueryKind::Header(name) => Some(self.template(name)?.text),
            QueryKind::JwtClaim {
                source: JwtSource::Value(source),
                ..
            }
            | QueryKind::JwtSignature {
                source: JwtSource::Value(source),
            } => Some(self.template(source)?.text),
            _ => None,
        })
    }

    /// `jwt SOURCE signature valid`: verified against the JWKS of the
    /// step's client, else of the token's issuer (found by discovery).
    async fn signature(
        &self,
        source: &JwtSource,
        compiled: &CompiledQuery,
        view: &ResponseView<'_>,
        step: &Step,
    ) -> Actual {
        let arg = match source {
            JwtSource::BodyPath(_) => None,
            JwtSource::Value(t) => match self.template(t) {
                Ok(r) => Some(r.text),
                Err(e) => return Actual::Missing(self.undefined_message(&e)),
            },
        };
        let token = match expect::jwt_token(view, compiled.path.as_deref(), arg.as_deref()) {
            Ok(t) => t,
            Err(missing) => return missing,
        };
        let jwks_uri = match self.jwks_uri(&token, step).await {
            Ok(uri) => uri,
            Err(e) => return Actual::Missing(e),
        };
        let jwks = match self.runner.tokens.jwks(&jwks_uri, self.timeout(step)).await {
            Ok(j) => j,
            Err(e) => return Actual::Missing(e),
        };
        match crate::oauth::jwt::verify(&token, &jwks) {
            Ok(()) => Actual::Value(serde_json::Value::Bool(true)),
            Err(e) => Actual::Missing(e),
        }
    }

    async fn jwks_uri(&self, token: &str, step: &Step) -> Result<String, String> {
        if let Some(Auth::Client(name)) = &step.auth {
            if let Some(client) = self.clients.get(&name.node) {
                if let Some(uri) = &client.jwks_uri {
                    return Ok(uri.clone());
                }
                if let Some(issuer) = &client.discovery {
                    if let Some(uri) = self
                        .runner
                        .tokens
                        .metadata(issuer, self.timeout(step))
                        .await?
                        .jwks_uri
                    {
                        return Ok(uri);
                    }
                }
            }
        }
        let claims = crate::oauth::jwt::claims(token)?;
        let issuer = claims
            .get("iss")
            .and_then(|i| i.as_str())
            .ok_or("the JWT has no `iss` claim to find its keys by")?;
        self.runner
            .tokens
            .metadata(issuer, self.timeout(step))
            .await?
            .jwks_uri
            .ok_or_else(|| format!("the metadata of {issuer} has no jwks_uri"))
    }

    fn capture(
        &mut self,
        step: &Step,
        plan: &StepPlan,
        view: &ResponseView,
        result: &mut StepResult,
    ) {
        let file = file_of(self.spec);
        for (i, capture) in step.captures.iter().enumerate() {
            let compiled = plan.capture(i);
            let arg = self.query_arg(&capture.query.kind).ok().flatten();
            let actual = expect::read(
                view,
                &capture.query.kind,
                &QueryInputs {
                    path: compiled.path.as_deref(),
                    regex: compiled.regex.as_ref(),
                    arg: arg.as_deref(),
                },
            );
            let Some(text) = actual.capture_text() else {
                result.expectations.push(ExpectResult {
                    text: format!(
                        "capture {} = {}",
                        capture.name.node,
                        capture.query.kind.describe()
                    ),
                    source: file.clone(),
                    span: capture.span,
                    passed: false,
                    expected: "a value".into(),
                    actual: self.runner.redactor.show(&actual.display(), 200),
                });
                continue;
            };
            let path = match &capture.query.kind {
                QueryKind::Json(p) => Some(p.node.as_str()),
                _ => None,
            };
            let secret = capture.secret || looks_secret(&capture.name.node, path, &text);
            if secret {
                self.runner.redactor.add(&text);
            }
            result.captures.push(CaptureResult {
                name: capture.name.node.clone(),
                value: (!secret).then(|| self.redact(&text)),
            });
            self.scope
                .insert(capture.name.node.clone(), Resolved { text, secret });
        }
    }

    fn excerpt(&self, x: &Exchange) -> String {
        let redactor = &self.runner.redactor;
        format!(
            "HTTP {}\n{}",
            x.status,
            redactor.show(x.body_text().trim(), 500)
        )
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

fn file_of(spec: &Spec) -> Arc<crate::source::SourceFile> {
    spec.file.source.clone()
}

/// Where the flow broke, for a step whose expectations failed. The
/// response's own signals count unless the step expected its status.
fn classify(step: &Step, result: &StepResult, view: &ResponseView) -> FailureClass {
    let status_anticipated = step
        .expects
        .iter()
        .zip(&result.expectations)
        .any(|(e, r)| matches!(e.query.kind, QueryKind::Status) && r.passed);
    let is_token_request = matches!(&step.body, Some(Body::Form(pairs))
        if pairs.iter().any(|p| p.name.as_literal().as_deref() == Some("grant_type")));
    let status = view.exchange.status;
    if !status_anticipated {
        if let Some((error, _)) = view.oauth_error() {
            match error.as_str() {
                "invalid_client" | "invalid_grant" | "unauthorized_client" => {
                    return FailureClass::Credentials
                }
                "invalid_scope" | "insufficient_scope" => return FailureClass::Scope,
                "invalid_token" => return FailureClass::TokenRejected,
                _ => {}
            }
        }
        match status {
            401 if is_token_request => return FailureClass::Credentials,
            401 => return FailureClass::TokenRejected,
            403 => return FailureClass::Scope,
            429 | 500..=599 if is_token_request => return FailureClass::AuthServer,
            500..=599 => return FailureClass::Resource,
            _ => {}
        }
    }
    let error_in_body = step.expects.iter().zip(&result.expectations).any(|(e, r)| {
        !r.passed
            && matches!(e.query.kind, QueryKind::OAuthError)
            && e.predicate.negated
            && e.predicate.op == Op::Exists
    });
    match (error_in_body, is_token_request) {
        (true, true) => FailureClass::AuthServer,
        (true, false) => FailureClass::Resource,
        _ => FailureClass::Expectation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classifies the first step of `spec` as failed on `status` and
    /// `body`, with the expectations marked as `passed`.
    fn class_of(
        spec: &str,
        status: u16,
        body: &str,
        passed: &[bool],
        challenge: &str,
    ) -> FailureClass {
        let (spec, diagnostics) = crate::load::load_str(Path::new("t.oauthspec"), spec);
        assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
        let spec = spec.unwrap();
        let step = &spec.file.steps[0];
        let mut headers = reqwest::header::HeaderMap::new();
        if !challenge.is_empty() {
            headers.insert("www-authenticate", challenge.parse().unwrap());
        }
        let exchange = Exchange {
            status,
            headers,
            body: bytes::Bytes::from(body.to_string()),
            size: body.len() as u64,
            latency: Duration::ZERO,
            transcript: None,
        };
        let mut result = blank(&spec.file, step);
        result.expectations = step
            .expects
            .iter()
            .zip(passed)
            .map(|(e, &passed)| ExpectResult {
                text: String::new(),
                source: spec.file.source.clone(),
                span: e.span,
                passed,
                expected: String::new(),
                actual: String::new(),
            })
            .collect();
        classify(step, &result, &ResponseView::new(&exchange))
    }

    const API: &str = "step \"s\" {\n  GET \"http://h/\"\n  expect status == 200\n}\n";
    const TOKEN: &str = "step \"s\" {\n  POST \"http://h/token\"\n  form { grant_type = \"client_credentials\" }\n  expect status == 200\n}\n";

    #[test]
    fn every_class_from_a_response() {
        use FailureClass::*;
        let cases: [(&str, u16, &str, &str, FailureClass); 10] = [
            (API, 401, "", "", TokenRejected),
            (
                API,
                401,
                "",
                "Bearer error=\"invalid_token\"",
                TokenRejected,
            ),
            (API, 403, "", "Bearer error=\"insufficient_scope\"", Scope),
            (API, 403, "", "", Scope),
            (API, 500, "", "", Resource),
            (API, 200, "{\"error\":\"invalid_client\"}", "", Credentials),
            (TOKEN, 401, "", "", Credentials),
            (TOKEN, 400, "{\"error\":\"invalid_scope\"}", "", Scope),
            (TOKEN, 503, "", "", AuthServer),
            (API, 404, "", "", Expectation),
        ];
        for (spec, status, body, challenge, want) in cases {
            assert_eq!(
                class_of(spec, status, body, &[false], challenge),
                want,
                "{status} {body} {challenge}"
            );
        }
    }

    #[test]
    fn an_expected_status_silences_the_responses_signals() {
        let spec = "step \"s\" {\n  GET \"http://h/\"\n  expect status == 401\n  expect body contains \"x\"\n}\n";
        assert_eq!(
            class_of(spec, 401, "", &[true, false], ""),
            FailureClass::Expectation
        );
    }
}
