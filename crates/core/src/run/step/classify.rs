//! Where the flow broke: a pure function of the step, its results and
//! the response.

use crate::results::{FailureClass, StepResult};
use crate::run::expect::ResponseView;
use crate::syntax::ast::{Body, Op, QueryKind, Step};

/// Where the flow broke, for a step whose expectations failed. The
/// response's own signals count unless the step expected its status.
pub(super) fn classify(step: &Step, result: &StepResult, view: &ResponseView) -> FailureClass {
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
    use std::path::Path;
    use std::time::Duration;

    use super::super::blank;
    use super::*;
    use crate::http::Exchange;
    use crate::results::ExpectResult;

    /// Classifies the first step of `spec` as failed on `status` and
    /// `body`, with the expectations marked as `passed`.
    fn class_of(
        spec: &str,
        status: u16,
        body: &str,
        passed: &[bool],
        challenge: &str,
    ) -> FailureClass {
        let (spec, diagnostics) = crate::check::load::load_str(Path::new("t.oauthspec"), spec);
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
