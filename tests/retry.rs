//! `retry`: token requests made for a step follow its policy, `until pass`
//! polls until the expectations hold, and `max` bounds the whole.

use std::time::{Duration, Instant};

use crate::common::*;
use oauthspec_core::report::console::Console;
use oauthspec_core::results::FailureClass;
use oauthspec_sandbox::parse_fault;

fn spec(base: &str, secret: &str, step_body: &str) -> String {
    format!(
        "client orders {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret secret(\"{secret}\")\n}}\nstep \"s\" {{\n  GET \"{base}/v1/orders\"\n  auth orders\n{step_body}\n}}\n"
    )
}

/// Runs `spec` with one step against the sandbox at `base`.
async fn one_step(base: &str, secret: &str, step_body: &str) -> oauthspec_core::results::RunResult {
    run_text(base, &spec(base, secret, step_body)).await
}

fn console_line(result: &oauthspec_core::results::RunResult) -> String {
    let text = Console {
        color: false,
        verbose: false,
    }
    .suite(&result.suites[0]);
    text.lines().nth(1).unwrap_or_default().to_string()
}

#[tokio::test]
async fn token_requests_follow_the_steps_retry() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    for fault in [
        "token:status=503,times=2",
        "token:close,times=2",
        "token:status=429,retry_after=0,times=2",
    ] {
        sandbox.reset_stats();
        sandbox.add_fault(parse_fault(fault).unwrap());
        let result = one_step(
            &base,
            "demo-secret",
            "  retry 3 backoff 10ms\n  expect status == 200",
        )
        .await;
        let s = step(&result, "s");
        assert!(passed(s), "{fault}: {:?}", s.error);
        assert_eq!(sandbox.stats().token, 3, "{fault}");
        let line = console_line(&result);
        let shown = s.superseded();
        assert_eq!(shown.len(), 2, "{fault}: {shown:?}");
        assert!(
            line.contains(&format!("PASS s  200 after {}", shown.join(", "))),
            "{fault}: {line}"
        );
        if fault.starts_with("token:status=503") {
            assert_eq!(shown, ["token 503", "token 503"]);
        }
        sandbox.clear_faults();
    }
    // Without `retry`, the first refusal fails the step.
    sandbox.add_fault(parse_fault("token:status=503,times=1").unwrap());
    let result = one_step(&base, "demo-secret", "  expect status == 200").await;
    assert_eq!(step(&result, "s").class(), Some(FailureClass::AuthServer));
}

#[tokio::test]
async fn refused_credentials_are_never_retried() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let result = one_step(
        &base,
        "wrong",
        "  retry 5 backoff 10ms\n  expect status == 200",
    )
    .await;
    assert_eq!(step(&result, "s").class(), Some(FailureClass::Credentials));
    assert_eq!(sandbox.stats().token, 1);
}

#[tokio::test]
async fn until_pass_retries_while_expectations_fail() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    // A 404 is not a transport failure: plain `retry` takes it as final.
    sandbox.add_fault(parse_fault("api:status=404,times=2").unwrap());
    let result = one_step(
        &base,
        "demo-secret",
        "  retry 5 backoff 10ms\n  expect status == 200",
    )
    .await;
    assert_eq!(sandbox.stats().api, 1);
    assert!(!passed(step(&result, "s")));

    sandbox.clear_faults();
    sandbox.reset_stats();
    sandbox.add_fault(parse_fault("api:status=404,times=2").unwrap());
    let result = one_step(
        &base,
        "demo-secret",
        "  retry 5 until pass backoff 10ms\n  expect status == 200",
    )
    .await;
    let s = step(&result, "s");
    assert!(passed(s), "{:?}", failures(s));
    assert_eq!(sandbox.stats().api, 3);
    assert_eq!(sandbox.stats().token, 1, "the token is fetched once");
    assert!(
        console_line(&result).contains("200 after 404, 404"),
        "{}",
        console_line(&result)
    );
}

#[tokio::test]
async fn max_bounds_a_retrying_step() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let clock = Instant::now();
    let result = one_step(
        &base,
        "demo-secret",
        "  retry 1000 until pass backoff 50ms max 400ms\n  expect status == 201",
    )
    .await;
    let elapsed = clock.elapsed();
    let s = step(&result, "s");
    assert_eq!(s.class(), Some(FailureClass::Expectation));
    let tries = sandbox.stats().api;
    assert!((2..=9).contains(&tries), "{tries} tries in 400ms at 50ms");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

/// A step's `timeout` bounds the requests made for it: discovery and the
/// token request, not only its own.
#[tokio::test]
async fn a_steps_timeout_bounds_discovery_and_token_requests() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    for (fault, what) in [
        ("discovery:latency=10s", "discovery failed"),
        ("token:latency=10s", "token endpoint unreachable"),
    ] {
        sandbox.clear_faults();
        sandbox.add_fault(parse_fault(fault).unwrap());
        let spec = format!(
            "client orders {{\n  discovery \"{base}\"\n  client_id \"demo-client\"\n  client_secret secret(\"demo-secret\")\n}}\nstep \"s\" {{\n  GET \"{base}/v1/orders\"\n  auth orders\n  timeout 300ms\n}}\n"
        );
        let clock = Instant::now();
        let result = run_text(&base, &spec).await;
        let s = step(&result, "s");
        assert_eq!(s.class(), Some(FailureClass::AuthServer), "{fault}");
        let error = s.error.as_deref().unwrap();
        assert!(error.contains(what), "{error}");
        assert_eq!(error.matches("client `orders`").count(), 1, "{error}");
        assert!(
            clock.elapsed() < Duration::from_secs(5),
            "{fault}: {:?}",
            clock.elapsed()
        );
    }
}

/// A refresh token is spent by its first use: its request is sent again
/// only when the server surely did not act on it.
#[tokio::test]
async fn a_refresh_token_request_is_not_replayed_after_an_unknown_outcome() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    for (fault, requests, passes) in [
        ("token:status=503,times=1", 2, true),
        ("token:close,times=1", 1, false),
    ] {
        let token = sandbox.demo_refresh_token().await.unwrap();
        sandbox.clear_faults();
        sandbox.reset_stats();
        sandbox.add_fault(parse_fault(fault).unwrap());
        let spec = format!(
            "client zoho {{\n  token_url \"{base}/oauth2/token\"\n  grant refresh_token\n  client_id \"public-client\"\n  auth_method none\n  refresh_token secret(\"{token}\")\n}}\nstep \"s\" {{\n  GET \"{base}/v1/orders\"\n  auth zoho\n  retry 3 backoff 10ms\n  expect status == 200\n}}\n"
        );
        let result = run_text(&base, &spec).await;
        let s = step(&result, "s");
        assert_eq!(passed(s), passes, "{fault}: {:?}", s.error);
        assert_eq!(sandbox.stats().grant("refresh_token"), requests, "{fault}");
    }
}
