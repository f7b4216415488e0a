//! `oauthspec run` against the in-process sandbox: queries, predicates,
//! chains, repeat, retry, timeouts and failure classes.

use std::time::{Duration, Instant};

use crate::common::*;
use oauthspec_core::results::{AttemptKind, FailureClass, Outcome};
use oauthspec_sandbox::parse_fault;

#[tokio::test]
async fn the_sketch_runs_and_every_step_passes() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let (result, runner) = run_with(
        &["specs/examples/orders-smoke.oauthspec".into()],
        options(&base),
    )
    .await;
    let suite = &result.suites[0];
    assert_eq!(suite.name, "orders api smoke");
    for step in &suite.steps {
        assert!(
            passed(step),
            "{}: {:?} {:?} {:?}",
            step.name,
            step.outcome,
            step.error,
            failures(step)
        );
    }
    assert_eq!(suite.steps.len(), 8);
    // The direct token request, the wrong secret, and one managed-client token.
    assert_eq!(sandbox.stats().token, 3);
    assert_eq!(runner.tokens.requests_sent(), 1);
    let health = step(&result, "the health probe stays fast");
    assert_eq!(
        health
            .attempts
            .iter()
            .filter(|a| a.kind == AttemptKind::Request)
            .count(),
        20
    );
}

#[tokio::test]
async fn every_query_and_predicate_passes_on_real_responses() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"
vars {{ base = "{base}" }}
client orders {{
  token_url "{{{{base}}}}/oauth2/token"
  client_id "demo-client"
  client_secret secret("demo-secret")
}}
step "token" {{
  POST "{{{{base}}}}/oauth2/token"
  form {{ grant_type = "client_credentials" }}
  basic_auth "demo-client" "demo-secret"
  expect status == 200
  expect status != 500
  expect status >= 200
  expect status <= 299
  expect status < 300
  expect status > 199
  expect latency < 5s
  expect body contains "access_token"
  expect body not contains "error"
  expect body startswith "{{"
  expect body endswith "}}"
  expect body matches "token_type.*Bearer"
  expect header "content-type" startswith "application/json"
  expect header "X-Nope" not exists
  expect json "$.token_type" == "Bearer"
  expect json "$.expires_in" > 60
  expect json "$.scope" == "orders:read"
  expect json "$.nope" not exists
  expect regex "\"token_type\":\\s*\"(\\w+)\"" == "Bearer"
  expect no oauth_error
  expect no oauth_error_description
  expect jwt "$.access_token" claim "scope" contains "orders:read"
  expect jwt "$.access_token" claim "scope" not contains "orders:admin"
  expect jwt "$.access_token" claim "scope" == "orders:read"
  expect jwt "$.access_token" claim "client_id" == "demo-client"
  expect jwt "$.access_token" claim "exp" > 1700000000
  expect jwt "$.access_token" signature valid
  capture access = json "$.access_token"
}}
step "orders" {{
  GET "{{{{base}}}}/v1/orders"
  auth orders
  expect json "$.orders[*].id" contains "ord_1001"
  expect json "$.orders[0].id" matches "^ord_[0-9]+$"
  expect jwt "{{{{access}}}}" claim "iss" == "{{{{base}}}}"
  expect jwt "{{{{access}}}}" signature valid
}}
step "refused" {{
  POST "{{{{base}}}}/oauth2/token"
  form {{ grant_type = "client_credentials" }}
  basic_auth "demo-client" "wrong-secret"
  expect status == 401
  expect oauth_error == invalid_client
  expect oauth_error_description exists
  expect header "WWW-Authenticate" contains "Basic"
}}
step "insufficient scope" {{
  GET "{{{{base}}}}/v1/admin/stats"
  auth orders
  expect status == 403
  expect oauth_error == insufficient_scope
  expect header "www-authenticate" contains "orders:admin"
}}
"#
    );
    let result = run_text(&base, &spec).await;
    for step in &result.suites[0].steps {
        assert!(
            passed(step),
            "{}: {:?} {:?}",
            step.name,
            step.error,
            failures(step)
        );
    }
}

#[tokio::test]
async fn failures_say_expected_actual_and_where() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"step "health" {{
  GET "{base}/v1/health"
  expect status == 201
  expect body contains "nope"
  expect json "$.status" == "down"
  expect json "$.missing" exists
  expect header "Content-Type" == "text/plain"
  expect oauth_error exists
  expect latency > 1m
}}
"#
    );
    let result = run_text(&base, &spec).await;
    let health = step(&result, "health");
    assert!(matches!(health.outcome, Outcome::Failed(_)));
    let f = failures(health);
    assert_eq!(f.len(), 7, "{f:#?}");
    assert_eq!(f[0], "status == 201 | == 201 | 200 | 3:3");
    assert!(
        f[1].starts_with(r#"body contains "nope" | contains "nope" | "{"#),
        "{}",
        f[1]
    );
    assert_eq!(
        f[2],
        r#"json "$.status" == "down" | == "down" | "ok" | 5:3"#
    );
    assert_eq!(
        f[3],
        r#"json "$.missing" exists | exists | nothing (the path matches nothing) | 6:3"#
    );
    assert!(f[4].contains("application/json"), "{}", f[4]);
    assert_eq!(
        f[5],
        "oauth_error exists | exists | nothing (no OAuth error) | 8:3"
    );
    assert!(f[6].starts_with("latency > 1m | > 1m | "), "{}", f[6]);
    assert!(health
        .response_excerpt
        .as_deref()
        .unwrap()
        .starts_with("HTTP 200"));
}

#[tokio::test]
async fn a_failed_step_skips_the_rest_except_always_steps() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"step "first" {{
  GET "{base}/v1/health"
  expect status == 200
  capture status_text = json "$.status"
}}
step "second" {{
  GET "{base}/v1/health?s={{{{status_text}}}}"
  expect status == 404
}}
step "third" {{
  GET "{base}/v1/health"
}}
step "cleanup" always {{
  GET "{base}/v1/health"
  expect status == 200
}}
"#
    );
    let result = run_text(&base, &spec).await;
    assert!(passed(step(&result, "first")));
    assert_eq!(
        step(&result, "first").captures[0].value.as_deref(),
        Some("ok")
    );
    assert!(matches!(
        step(&result, "second").outcome,
        Outcome::Failed(FailureClass::Expectation)
    ));
    match &step(&result, "third").outcome {
        Outcome::Skipped(reason) => assert_eq!(reason, "skipped: step \"second\" failed"),
        other => panic!("{other:?}"),
    }
    assert!(passed(step(&result, "cleanup")));
    let counts = result.counts();
    assert_eq!((counts.passed, counts.failed, counts.skipped), (2, 1, 1));
}

#[tokio::test]
async fn a_cleanup_step_whose_input_was_never_captured_is_skipped() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"step "create" {{
  GET "{base}/v1/health"
  expect status == 200
  capture id = json "$.id"
}}
step "delete" always {{
  DELETE "{base}/v1/orders/{{{{id}}}}/hold"
}}
step "health" always {{
  GET "{base}/v1/health"
  expect status == 200
}}
"#
    );
    let result = run_text(&base, &spec).await;
    match &step(&result, "delete").outcome {
        Outcome::Skipped(reason) => assert_eq!(
            reason,
            "skipped: `id` was never captured (step \"create\" failed)"
        ),
        other => panic!("{other:?}"),
    }
    assert!(passed(step(&result, "health")));
    let counts = result.counts();
    assert_eq!((counts.passed, counts.failed, counts.skipped), (1, 1, 1));
}

#[tokio::test]
async fn repeat_collects_samples_for_percentiles() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"step "probe" {{
  GET "{base}/v1/health"
  repeat 12
  expect latency p50 < 5s
  expect latency p99 < 5s
  expect latency max > 0ms
  expect latency p95 < 0ms
}}
"#
    );
    let result = run_text(&base, &spec).await;
    let probe = step(&result, "probe");
    assert_eq!(sandbox.stats().api, 12);
    let f = failures(probe);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("latency p95 < 0ms | < 0ms | "), "{}", f[0]);
}

#[tokio::test]
async fn retry_backs_off_and_keeps_every_attempt() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    sandbox.add_fault(parse_fault("api:status=503,times=2").unwrap());
    let spec = format!(
        r#"step "flaky" {{
  GET "{base}/v1/health"
  retry 3 backoff 10ms
  expect status == 200
}}
"#
    );
    let result = run_text(&base, &spec).await;
    let flaky = step(&result, "flaky");
    assert!(passed(flaky), "{:?}", failures(flaky));
    let statuses: Vec<Option<u16>> = flaky.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
    assert_eq!(sandbox.stats().api, 3);
}

#[tokio::test]
async fn retry_honours_retry_after() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    sandbox.add_fault(parse_fault("api:status=429,retry_after=1,times=1").unwrap());
    let spec = format!(
        r#"step "limited" {{
  GET "{base}/v1/health"
  retry 1 backoff 1ms
  expect status == 200
}}
"#
    );
    let start = Instant::now();
    let result = run_text(&base, &spec).await;
    assert!(passed(step(&result, "limited")));
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn retry_does_not_paper_over_an_assertion() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"step "wrong" {{
  GET "{base}/v1/health"
  retry 3 backoff 1ms
  expect status == 204
}}
"#
    );
    let result = run_text(&base, &spec).await;
    let wrong = step(&result, "wrong");
    assert_eq!(wrong.class(), Some(FailureClass::Expectation));
    assert_eq!(wrong.attempts.len(), 1);
    assert_eq!(sandbox.stats().api, 1);
}

#[tokio::test]
async fn a_timeout_is_a_network_failure() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    sandbox.add_fault(parse_fault("api:latency=3s").unwrap());
    let spec = format!(
        r#"step "slow" {{
  GET "{base}/v1/health"
  timeout 200ms
  expect status == 200
}}
"#
    );
    let start = Instant::now();
    let result = run_text(&base, &spec).await;
    let slow = step(&result, "slow");
    assert!(matches!(
        slow.outcome,
        Outcome::Failed(FailureClass::Network)
    ));
    assert!(slow
        .error
        .as_deref()
        .unwrap()
        .contains("timed out after 200ms"));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn connection_refused_is_a_network_failure() {
    // A port that was just free: bind, read it, drop it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let spec =
        format!("step \"down\" {{\n  GET \"{base}/v1/health\"\n  expect status == 200\n}}\n");
    let result = run_text(&base, &spec).await;
    let down = step(&result, "down");
    assert!(matches!(
        down.outcome,
        Outcome::Failed(FailureClass::Network)
    ));
    assert!(
        down.error.as_deref().unwrap().contains("could not connect"),
        "{:?}",
        down.error
    );
}

#[tokio::test]
async fn a_json_query_on_a_non_json_body_fails_clearly() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    sandbox.add_fault(parse_fault("api:malformed_json").unwrap());
    let spec = format!("step \"broken\" {{\n  GET \"{base}/v1/health\"\n  expect json \"$.status\" == \"ok\"\n}}\n");
    let result = run_text(&base, &spec).await;
    let f = failures(step(&result, "broken"));
    assert_eq!(
        f,
        [r#"json "$.status" == "ok" | == "ok" | nothing (the body is not JSON) | 3:3"#]
    );
}

#[tokio::test]
async fn a_rejected_managed_token_is_fetched_again_once() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    sandbox.add_fault(parse_fault("api:invalid_token,times=1").unwrap());
    let spec = format!(
        r#"client orders {{
  token_url "{base}/oauth2/token"
  client_id "demo-client"
  client_secret "demo-secret"
}}
step "orders" {{
  GET "{base}/v1/orders"
  auth orders
  expect status == 200
}}
"#
    );
    let result = run_text(&base, &spec).await;
    let orders = step(&result, "orders");
    assert!(passed(orders), "{:?} {:?}", orders.error, failures(orders));
    assert_eq!(sandbox.stats().token, 2);
    assert!(
        orders.notes[0].contains("answered 401"),
        "{:?}",
        orders.notes
    );
    let kinds: Vec<(AttemptKind, Option<u16>)> =
        orders.attempts.iter().map(|a| (a.kind, a.status)).collect();
    assert_eq!(
        kinds,
        [
            (AttemptKind::Token, Some(200)),
            (AttemptKind::Request, Some(401)),
            (AttemptKind::Token, Some(200)),
            (AttemptKind::Request, Some(200)),
        ]
    );
}

#[tokio::test]
async fn a_client_that_cannot_get_a_token_fails_with_its_class() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = |secret: &str| {
        format!(
            r#"client orders {{
  token_url "{base}/oauth2/token"
  client_id "demo-client"
  client_secret "{secret}"
}}
step "orders" {{
  GET "{base}/v1/orders"
  auth orders
  expect status == 200
}}
"#
        )
    };
    let result = run_text(&base, &spec("not-it")).await;
    let orders = step(&result, "orders");
    assert!(
        matches!(orders.outcome, Outcome::Failed(FailureClass::Credentials)),
        "{:?}",
        orders.outcome
    );
    let error = orders.error.as_deref().unwrap();
    assert!(
        error.contains("client `orders`") && error.contains("invalid_client"),
        "{error}"
    );

    sandbox.add_fault(parse_fault("token:status=503").unwrap());
    let result = run_text(&base, &spec("demo-secret")).await;
    let orders = step(&result, "orders");
    assert!(
        matches!(orders.outcome, Outcome::Failed(FailureClass::AuthServer)),
        "{:?}",
        orders.outcome
    );
    assert!(orders.error.as_deref().unwrap().contains("503"));
}

#[tokio::test]
async fn failure_classes_follow_the_response() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"client orders {{
  token_url "{base}/oauth2/token"
  client_id "demo-client"
  client_secret "demo-secret"
}}
step "scope" {{
  GET "{base}/v1/admin/stats"
  auth orders
  expect status == 200
}}
step "no token" always {{
  GET "{base}/v1/orders"
  expect status == 200
}}
step "expected 403 but slow" always {{
  GET "{base}/v1/admin/stats"
  auth orders
  expect status == 403
  expect latency < 0ms
}}
"#
    );
    let result = run_text(&base, &spec).await;
    let class = |name| step(&result, name).class();
    assert_eq!(class("scope"), Some(FailureClass::Scope));
    assert_eq!(class("no token"), Some(FailureClass::TokenRejected));
    assert_eq!(
        class("expected 403 but slow"),
        Some(FailureClass::Expectation)
    );
}

#[tokio::test]
async fn a_200_that_carries_an_error_is_caught() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    sandbox.add_fault(parse_fault("token:error_200").unwrap());
    let spec = format!(
        r#"step "token" {{
  POST "{base}/oauth2/token"
  form {{ grant_type = "client_credentials" }}
  basic_auth "demo-client" "demo-secret"
  expect status == 200
  expect no oauth_error
}}
"#
    );
    let result = run_text(&base, &spec).await;
    let token = step(&result, "token");
    assert!(
        matches!(token.outcome, Outcome::Failed(FailureClass::AuthServer)),
        "{:?}",
        token.outcome
    );
    assert_eq!(
        failures(token),
        [r#"no oauth_error | not exists | "access denied" | 6:3"#]
    );
}

#[tokio::test]
async fn one_token_request_for_many_specs_sharing_a_client() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    specs.write(
        "clients.oauthspec",
        &format!(
            "client orders {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret \"demo-secret\"\n}}\n"
        ),
    );
    for i in 0..100 {
        specs.write(
            &format!("s{i:03}.oauthspec"),
            &format!(
                "import \"clients.oauthspec\"\nstep \"orders {i}\" {{\n  GET \"{base}/v1/orders\"\n  auth orders\n  expect status == 200\n}}\n"
            ),
        );
    }
    let mut options = options(&base);
    options.jobs = 8;
    let (result, _) = run_with(&[specs.path().to_path_buf()], options).await;
    assert_eq!(result.suites.len(), 100);
    assert_eq!(result.counts().passed, 100);
    assert_eq!(sandbox.stats().token, 1);
    // Deterministic order whatever finished first.
    let names: Vec<&str> = result.suites.iter().map(|s| s.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[tokio::test]
async fn every_predicate_fails_with_its_expectation_and_location() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"step "health" {{
  GET "{base}/v1/health"
  expect status != 200
  expect status < 200
  expect status <= 199
  expect status > 200
  expect status >= 201
  expect body startswith "["
  expect body endswith "]"
  expect body matches "^down"
  expect body not contains "ok"
  expect json "$.status" not exists
  expect header "Content-Type" not startswith "application/json"
}}
"#
    );
    let result = run_text(&base, &spec).await;
    let f = failures(step(&result, "health"));
    let expected = [
        "status != 200 | != 200 | 200 | 3:3",
        "status < 200 | < 200 | 200 | 4:3",
        "status <= 199 | <= 199 | 200 | 5:3",
        "status > 200 | > 200 | 200 | 6:3",
        "status >= 201 | >= 201 | 200 | 7:3",
        r#"body startswith "[" | startswith "[" | "{\"status\":\"ok\"}" | 8:3"#,
        r#"body endswith "]" | endswith "]" | "{\"status\":\"ok\"}" | 9:3"#,
        r#"body matches "^down" | matches "^down" | "{\"status\":\"ok\"}" | 10:3"#,
        r#"body not contains "ok" | not contains "ok" | "{\"status\":\"ok\"}" | 11:3"#,
        r#"json "$.status" not exists | not exists | "ok" | 12:3"#,
    ];
    assert_eq!(&f[..expected.len()], expected, "{f:#?}");
    assert_eq!(f.len(), 11);
}

#[tokio::test]
async fn a_5xx_from_the_api_is_a_resource_failure() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    sandbox.add_fault(parse_fault("api:status=500").unwrap());
    let spec = format!("step \"api\" {{\n  GET \"{base}/v1/health\"\n  expect status == 200\n}}\n");
    let result = run_text(&base, &spec).await;
    assert!(matches!(
        step(&result, "api").outcome,
        Outcome::Failed(FailureClass::Resource)
    ));
}

/// `init`'s starter spec, as its CI workflow runs it: against a service
/// that is still starting, with the unset repository variables GitHub
/// Actions passes as "".
#[tokio::test]
async fn the_starter_spec_waits_for_a_late_service_and_takes_defaults_for_empty_variables() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let specs = Specs::new();
    crate::common::init_project(specs.path());
    let mut options = options(&format!("http://127.0.0.1:{port}"));
    for (name, value) in [
        ("OAUTH_ISSUER", format!("http://127.0.0.1:{port}")),
        ("API_URL", String::new()),
        ("CLIENT_ID", String::new()),
        ("CLIENT_SECRET", String::new()),
    ] {
        options.check.env.fixed.insert(name.into(), value);
    }
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        oauthspec_sandbox::Sandbox::start(Default::default(), port)
            .await
            .unwrap()
    });
    let (result, _) = run_with(&[specs.path().join("specs")], options).await;
    let _sandbox = late.await.unwrap();
    for s in &result.suites[0].steps {
        assert!(passed(s), "{}: {:?} {:?}", s.name, s.error, failures(s));
    }
    let up = step(&result, "the API is up");
    assert!(
        up.attempts
            .iter()
            .any(|a| a.superseded && a.status.is_none()),
        "the first tries found nothing listening: {:?}",
        up.attempts
    );
}

/// Reporters see the run start, each suite in file order, and its end;
/// an interrupted run ends the same way, holding what finished.
#[tokio::test]
async fn reporters_see_every_event_in_order_and_an_interruption() {
    use oauthspec_core::run::{Event, Reporter, Runner};

    #[derive(Default)]
    struct Recorder(Vec<String>);
    impl Reporter for Recorder {
        fn report(&mut self, event: &Event<'_>) {
            self.0.push(match event {
                Event::RunStarted { suites } => format!("started {suites}"),
                Event::StepFinished { suite, step } => format!("step {suite}: {}", step.name),
                Event::SuiteFinished(s) => format!("suite {}", s.name),
                Event::RunFinished(r) => {
                    format!("finished {} {:?}", r.suites.len(), r.interrupted.as_deref())
                }
            });
        }
    }

    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let step = |name: &str, delay: &str| {
        format!("step \"{name}\" {{\n  GET \"{base}/v1/health\"\n  delay {delay}\n}}\n")
    };
    let paths = [
        specs.write("a.oauthspec", &step("a", "300ms")),
        specs.write("b.oauthspec", &step("b", "1ms")),
        specs.write("c.oauthspec", &step("c", "10s")),
    ];
    let options = options(&base);
    let project = oauthspec_core::check::check_paths(&paths, &options.check);
    let runner = Runner::new(options).unwrap();
    let mut recorder = Recorder::default();
    // Stopped while `c` waits: `a` and `b` are done. Their steps are told
    // as they finish (`b` first), their suites in file order.
    let stop = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        "SIGTERM".to_string()
    };
    let result = runner.execute(&project, &mut [&mut recorder], stop).await;
    assert_eq!(
        recorder.0,
        [
            "started 3",
            "step b: b",
            "step a: a",
            "suite a",
            "suite b",
            "finished 2 Some(\"SIGTERM\")"
        ]
    );
    assert_eq!(result.interrupted.as_deref(), Some("SIGTERM"));
}

/// Hidden directories are not searched: a ConfigMap mounted in Kubernetes
/// holds each file twice, once under `..2026_…/`, and `.git` holds copies.
#[tokio::test]
async fn hidden_directories_are_not_searched_for_specs() {
    let specs = Specs::new();
    let step = "step \"s\" {\n  GET \"http://127.0.0.1:1/\"\n}\n";
    specs.write("a.oauthspec", step);
    std::fs::create_dir_all(specs.path().join("..2026_12_02")).unwrap();
    std::fs::write(specs.path().join("..2026_12_02/a.oauthspec"), step).unwrap();
    std::fs::create_dir_all(specs.path().join(".git")).unwrap();
    std::fs::write(specs.path().join(".git/b.oauthspec"), step).unwrap();
    let found = oauthspec_core::check::load::discover(&[specs.path().to_path_buf()]).unwrap();
    assert_eq!(found, [specs.path().join("a.oauthspec")]);
}
