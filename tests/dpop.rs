//! DPoP-bound tokens (RFC 9449) against the sandbox: proofs on token and
//! resource requests, nonces, tokens that come back unbound, and requests
//! that leave the proof out to see the API refuse the token.

use oauthspec_core::results::{AttemptKind, FailureClass, Outcome, RunResult, StepResult};
use oauthspec_sandbox::{Sandbox, SandboxConfig};

use crate::common::{options, run_with, step, Specs};

fn spec(base: &str, dpop: &str) -> String {
    format!(
        r#"client bound {{
  token_url     "{base}/oauth2/token"
  client_id     "demo-client"
  client_secret secret("demo-secret")
  dpop          {dpop}
}}

step "orders with a proof" {{
  GET "{base}/v1/orders"
  auth bound
  expect status == 200
}}

step "the token is bound to the client's key" {{
  GET "{base}/v1/whoami"
  auth bound
  expect status == 200
  expect json "$.cnf.jkt" == dpop_thumbprint(bound)
}}

step "the token alone is refused" {{
  GET "{base}/v1/orders"
  auth bound without_proof
  expect status == 401
  expect header "WWW-Authenticate" contains "DPoP"
}}

step "a proof for another URL is refused" always {{
  GET "{base}/v1/orders"
  auth bound proof_for "https://api.elsewhere.example/v1/orders"
  expect status == 401
  expect oauth_error == invalid_dpop_proof
  expect oauth_error_description contains "htu must be"
}}
"#
    )
}

async fn run(base: &str, text: &str) -> RunResult {
    let specs = Specs::new();
    let path = specs.write("t.oauthspec", text);
    run_with(&[path], options(base)).await.0
}

fn statuses(step: &StepResult, kind: AttemptKind) -> Vec<(Option<u16>, bool)> {
    (step.attempts.iter())
        .filter(|a| a.kind == kind)
        .map(|a| (a.status, a.superseded))
        .collect()
}

/// A sandbox with `fault` active from the start.
async fn with_fault(fault: &str) -> Sandbox {
    let config = SandboxConfig {
        faults: vec![oauthspec_sandbox::parse_fault(fault).unwrap()],
        ..SandboxConfig::default()
    };
    Sandbox::start(config, 0).await.unwrap()
}

/// The JWT access tokens the sandbox issued, decoded.
fn issued_claims(sandbox: &Sandbox) -> Vec<serde_json::Value> {
    (sandbox.issued_tokens().iter())
        .filter_map(|t| oauthspec_core::oauth::jwt::claims(t).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bound_token_goes_with_a_proof_and_alone_is_refused() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let result = run(&base, &spec(&base, "true")).await;
    let first = step(&result, "orders with a proof");
    assert!(matches!(first.outcome, Outcome::Passed), "{first:#?}");
    let bound = step(&result, "the token is bound to the client's key");
    assert!(matches!(bound.outcome, Outcome::Passed), "{bound:#?}");
    // Refused, and not fetched again: that 401 was the point.
    for name in [
        "the token alone is refused",
        "a proof for another URL is refused",
    ] {
        let refused = step(&result, name);
        assert!(matches!(refused.outcome, Outcome::Passed), "{refused:#?}");
        assert_eq!(
            statuses(refused, AttemptKind::Request),
            [(Some(401), false)]
        );
        assert!(statuses(refused, AttemptKind::Token).is_empty());
    }
    // The sandbox bound the token to the key the proofs were signed with.
    let claims = issued_claims(&sandbox);
    let jkt = claims[0]["cnf"]["jkt"].as_str().unwrap_or_default();
    assert_eq!(jkt.len(), 43, "{claims:?}");
    // Introspection says so too (RFC 9449 §6.2).
    let token = sandbox.issued_tokens()[0].clone();
    let introspected: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/oauth2/introspect"))
        .basic_auth("demo-client", Some("demo-secret"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["token_type"], "DPoP", "{introspected}");
    assert_eq!(introspected["cnf"]["jkt"], jkt, "{introspected}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_nonce_is_used_after_one_refusal() {
    let config = SandboxConfig {
        dpop_nonce: true,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config, 0).await.unwrap();
    let base = sandbox.base_url();
    let result = run(&base, &spec(&base, "true")).await;
    let first = step(&result, "orders with a proof");
    assert!(matches!(first.outcome, Outcome::Passed), "{first:#?}");
    // The token endpoint asked once (use_dpop_nonce); the API knew the
    // nonce by then.
    assert_eq!(
        statuses(first, AttemptKind::Token),
        [(Some(400), true), (Some(200), false)]
    );
    assert_eq!(statuses(first, AttemptKind::Request), [(Some(200), false)]);
    // A proof for another URL still carries this server's nonce: it is
    // refused for its htu, not for want of a nonce.
    let elsewhere = step(&result, "a proof for another URL is refused");
    assert!(
        matches!(elsewhere.outcome, Outcome::Passed),
        "{elsewhere:#?}"
    );
    let transcript = (elsewhere.attempts.iter())
        .find(|a| a.kind == AttemptKind::Request)
        .and_then(|a| a.transcript.clone())
        .unwrap_or_default();
    for needle in [
        "\"htu\":\"https://api.elsewhere.example/v1/orders\"",
        "\"nonce\":\"",
    ] {
        assert!(transcript.contains(needle), "{needle}: {transcript}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unbound_token_fails_unless_dpop_is_optional() {
    let sandbox = with_fault("token:unbound_dpop").await;
    let base = sandbox.base_url();
    let result = run(&base, &spec(&base, "true")).await;
    let first = step(&result, "orders with a proof");
    assert_eq!(first.class(), Some(FailureClass::AuthServer), "{first:#?}");
    let error = first.error.clone().unwrap_or_default();
    assert!(
        error.contains("the token came back as token_type Bearer: it is not bound to the key"),
        "{error}"
    );
    let text = spec(&base, "optional").replace(
        "  auth bound without_proof\n  expect status == 401\n  expect header \"WWW-Authenticate\" contains \"DPoP\"",
        "  auth bound\n  expect status == 200",
    );
    let result = run(&base, &text).await;
    let first = step(&result, "orders with a proof");
    assert!(matches!(first.outcome, Outcome::Passed), "{first:#?}");
    assert!(
        first.trace.iter().any(|t| t.contains("not DPoP-bound")),
        "{:?}",
        first.trace
    );
    // No proof to aim elsewhere, and the step says so.
    let elsewhere = step(&result, "a proof for another URL is refused");
    assert!(
        elsewhere
            .notes
            .iter()
            .any(|n| n.contains("`proof_for` sent no proof")),
        "{elsewhere:#?}"
    );
}

/// An API that wants a nonce of its own: the 401 `use_dpop_nonce` is
/// answered once with it.
#[tokio::test(flavor = "multi_thread")]
async fn an_api_nonce_is_used_after_one_401() {
    let sandbox = with_fault("api:new_dpop_nonce,times=1").await;
    let base = sandbox.base_url();
    let result = run(&base, &spec(&base, "true")).await;
    let first = step(&result, "orders with a proof");
    assert!(matches!(first.outcome, Outcome::Passed), "{first:#?}");
    assert_eq!(
        statuses(first, AttemptKind::Request),
        [(Some(401), true), (Some(200), false)]
    );
    // The nonce went with the second proof.
    let shown = first
        .attempts
        .last()
        .and_then(|a| a.transcript.clone())
        .unwrap_or_default();
    assert!(shown.contains("\"nonce\":"), "{shown}");
}

/// A server that asks for a new nonce every time: one retry, then its
/// answer stands, as `auth_server`.
#[tokio::test(flavor = "multi_thread")]
async fn a_nonce_asked_for_forever_is_asked_once() {
    let sandbox = with_fault("token:new_dpop_nonce").await;
    let base = sandbox.base_url();
    let result = run(&base, &spec(&base, "true")).await;
    let first = step(&result, "orders with a proof");
    assert_eq!(first.class(), Some(FailureClass::AuthServer), "{first:#?}");
    assert_eq!(
        statuses(first, AttemptKind::Token),
        [(Some(400), true), (Some(400), false)]
    );
    let error = first.error.clone().unwrap_or_default();
    assert!(error.contains("use_dpop_nonce"), "{error}");
}

/// `-v` shows that a proof went, never the proof.
#[tokio::test(flavor = "multi_thread")]
async fn proofs_are_secrets() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let path = specs.write("t.oauthspec", &spec(&base, "true"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .args(["run", "-v"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("> dpop: ***"), "{stdout}");
    // Its header and claims, not its signature.
    assert!(
        stdout.contains("= DPoP proof: header {\"typ\":\"dpop+jwt\""),
        "{stdout}"
    );
    assert!(stdout.contains("\"htm\":\"GET\",\"htu\":"), "{stdout}");
    // base64url of `{"typ":"dpop+jwt",`: the start of every proof.
    assert!(!stdout.contains("eyJ0eXAiOiJkcG9wK2p3dCIs"), "{stdout}");
}
