//! Judging a response: expectations, JWT signatures, captures.

use std::sync::Arc;

use super::{file_of, SpecRun};
use crate::check::value::{EvalError, Resolved};
use crate::plan::{CompiledQuery, StepPlan};
use crate::results::{CaptureResult, ExpectResult, StepResult};
use crate::run::expect::{self, Actual, OperandKind, QueryInputs, ResponseView};
use crate::secrets::looks_secret;
use crate::syntax::ast::*;

impl SpecRun<'_> {
    /// One expectation judged against a response, as reports show it.
    pub(super) fn expectation(
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
    pub(super) async fn signature(
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

    pub(super) fn capture(
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
}
