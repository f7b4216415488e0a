//! Users' tokens against the sandbox: the authorization code flow with
//! PKCE and the device flow, signed in headlessly by a `login` block, then
//! renewed with the refresh token; and each way they fail, classified.

use std::time::Duration;

use oauthspec_core::results::{AttemptKind, FailureClass, Outcome, RunResult, StepResult};
use oauthspec_sandbox::{Sandbox, SandboxConfig};

use crate::common::{options, run_with, step, Specs};

/// A client of the sandbox's `public-client` by `grant`, with `login`.
fn spec(base: &str, grant: &str, settings: &str, login: &str) -> String {
    format!(
        r#"client alice {{
  discovery    "{base}"
  grant        {grant}
  client_id    "public-client"
  auth_method  none
  scope        "openid orders:read"
{settings}
  login {{
{login}
  }}
}}

step "orders as alice" {{
  GET "{base}/v1/orders"
  auth alice
  expect status == 200
}}

step "again, same token" {{
  GET "{base}/v1/orders"
  auth alice
  expect status == 200
}}
"#
    )
}

const CODE: &str = "authorization_code";
const REDIRECT: &str = "  redirect_uri \"http://127.0.0.1:8765/callback\"";
const ALICE: &str = "    username = \"alice\"\n    password = secret(\"alice-password\")";

/// The spec without its `login` block: a person has to sign in.
fn without_login(text: &str) -> String {
    let start = text.find("  login {").expect("a login block");
    let end = start + text[start..].find("  }\n").expect("its end") + 4;
    format!("{}{}", &text[..start], &text[end..])
}

async fn run(base: &str, text: &str) -> RunResult {
    let specs = Specs::new();
    let path = specs.write("t.oauthspec", text);
    run_with(&[path], options(base)).await.0
}

async fn sandbox_with(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config, 0).await.expect("the sandbox starts")
}

fn urls(step: &StepResult) -> Vec<String> {
    (step.attempts.iter())
        .filter(|a| a.kind == AttemptKind::Token)
        .map(|a| format!("{} {}", a.method, a.url))
        .collect()
}

fn class_and_error(step: &StepResult) -> (Option<FailureClass>, String) {
    (step.class(), step.error.clone().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_code_with_pkce_signs_in_headlessly_once() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let result = run(&base, &spec(&base, CODE, REDIRECT, ALICE)).await;
    let first = step(&result, "orders as alice");
    assert!(matches!(first.outcome, Outcome::Passed), "{first:#?}");
    let path = |u: &str| format!("{base}{u}");
    assert_eq!(
        urls(first),
        [
            format!("GET {}", path("/oauth2/authorize")),
            format!("POST {}", path("/oauth2/login")),
            format!("POST {}", path("/oauth2/consent")),
            format!("POST {}", path("/oauth2/token")),
        ]
    );
    // The token is the user's, and shared: one sign-in per run.
    let second = step(&result, "again, same token");
    assert!(matches!(second.outcome, Outcome::Passed));
    assert!(urls(second).is_empty(), "{:?}", urls(second));
    assert_eq!(
        sandbox.issued_tokens().len(),
        5,
        "session cookie, code, access, refresh and ID token"
    );
}

/// A cached refresh token renews the user's token without the pages; a
/// refused one sends the client through them again.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_token_is_renewed_with_its_refresh_token() {
    // Tokens of 31 s, renewed 30 s early: stale after a second.
    let config = SandboxConfig {
        token_lifetime: 31,
        ..SandboxConfig::default()
    };
    let sandbox = sandbox_with(config).await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let path = specs.write("t.oauthspec", &spec(&base, CODE, REDIRECT, ALICE));
    let cache = specs.path().join("tokens.json");
    let with_cache = || {
        let mut o = options(&base);
        o.token_cache = Some(cache.clone());
        o
    };
    let stale = || std::thread::sleep(Duration::from_millis(1100));
    let (result, _) = run_with(std::slice::from_ref(&path), with_cache()).await;
    assert_eq!(urls(step(&result, "orders as alice")).len(), 4);
    stale();
    let (result, _) = run_with(std::slice::from_ref(&path), with_cache()).await;
    let renewed = step(&result, "orders as alice");
    assert!(matches!(renewed.outcome, Outcome::Passed), "{renewed:#?}");
    assert_eq!(urls(renewed), [format!("POST {base}/oauth2/token")]);
    let form = renewed.attempts[0].transcript.clone().unwrap_or_default();
    assert!(form.contains("grant_type=refresh_token"), "{form}");

    // The rotated refresh token was spent by another client of the cache:
    // signing in again recovers.
    let spent = std::fs::read_to_string(&cache).unwrap();
    stale();
    let (_, _) = run_with(std::slice::from_ref(&path), with_cache()).await;
    std::fs::write(&cache, spent).unwrap();
    stale();
    let (result, _) = run_with(std::slice::from_ref(&path), with_cache()).await;
    let again = step(&result, "orders as alice");
    assert!(matches!(again.outcome, Outcome::Passed), "{again:#?}");
    assert_eq!(urls(again).len(), 5, "{:?}", urls(again));
    assert!(
        again.trace.iter().any(|t| t.contains("signing in again")),
        "{:?}",
        again.trace
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_failures_say_where_the_flow_broke() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let failed = |result: &RunResult| class_and_error(step(result, "orders as alice"));

    let wrong = "    username = \"alice\"\n    password = secret(\"not-her-password\")";
    let (class, error) = failed(&run(&base, &spec(&base, CODE, REDIRECT, wrong)).await);
    assert_eq!(class, Some(FailureClass::Credentials), "{error}");
    assert!(
        error.contains("the login form came back after password and username were submitted (wrong username or password?): the page says \"Invalid username or password.\""),
        "{error}"
    );

    let refuse = format!("{ALICE}\n    consent \"Deny\"");
    let (class, error) = failed(&run(&base, &spec(&base, CODE, REDIRECT, &refuse)).await);
    assert_eq!(class, Some(FailureClass::Scope), "{error}");
    assert!(
        error.contains("refused: access_denied (the user denied the request)"),
        "{error}"
    );

    // The provider's login page changed its field names.
    let renamed = "    user = \"alice\"\n    pass = secret(\"alice-password\")";
    let (class, error) = failed(&run(&base, &spec(&base, CODE, REDIRECT, renamed)).await);
    assert_eq!(class, Some(FailureClass::AuthServer), "{error}");
    assert!(
        error.contains("the page \"Sign in · oauthspec sandbox\" (")
            && error.contains("has no form with the login fields (user, pass)")
            && error.contains("fields interaction, csrf, username, password; buttons \"Sign in\""),
        "{error}"
    );

    // A redirect URI the provider does not know: its error page.
    let unknown = "  redirect_uri \"http://127.0.0.1:8765/elsewhere\"";
    let (class, error) = failed(&run(&base, &spec(&base, CODE, unknown, ALICE)).await);
    assert_eq!(class, Some(FailureClass::AuthServer), "{error}");
    assert!(error.contains("answered 400: Invalid request"), "{error}");

    // No way to sign in: the person has to, once.
    let text = without_login(&spec(&base, CODE, REDIRECT, ALICE));
    let (class, error) = failed(&run(&base, &text).await);
    assert_eq!(class, Some(FailureClass::Config), "{error}");
    assert!(
        error.contains("run `oauthspec login alice` once with --token-cache FILE"),
        "{error}"
    );
}

/// A scope the user may not grant is refused after the password, as
/// `scope`, in both flows.
#[tokio::test(flavor = "multi_thread")]
async fn a_scope_the_user_may_not_grant_is_scope() {
    let mut config = SandboxConfig::default();
    config.users[0].scopes = Some(vec!["openid".into()]);
    let sandbox = sandbox_with(config).await;
    let base = sandbox.base_url();
    let result = run(&base, &spec(&base, CODE, REDIRECT, ALICE)).await;
    let (class, error) = class_and_error(step(&result, "orders as alice"));
    assert_eq!(class, Some(FailureClass::Scope), "{error}");
    assert!(
        error.contains("invalid_scope (user `alice` may not grant scope `orders:read`)"),
        "{error}"
    );
    let result = run(&base, &spec(&base, "device_code", "", ALICE)).await;
    let (class, error) = class_and_error(step(&result, "orders as alice"));
    assert_eq!(class, Some(FailureClass::Scope), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_flow_is_approved_on_the_device_page() {
    let config = SandboxConfig {
        device_interval: 1,
        ..SandboxConfig::default()
    };
    let sandbox = sandbox_with(config).await;
    let base = sandbox.base_url();
    let result = run(&base, &spec(&base, "device_code", "", ALICE)).await;
    let first = step(&result, "orders as alice");
    assert!(matches!(first.outcome, Outcome::Passed), "{first:#?}");
    let urls = urls(first);
    assert_eq!(urls[0], format!("POST {base}/oauth2/device_authorization"));
    assert_eq!(urls[1], format!("GET {base}/device"));
    assert_eq!(urls[2], format!("POST {base}/device"));
    assert_eq!(urls[3], format!("POST {base}/oauth2/login"));
    assert_eq!(urls[4], format!("POST {base}/oauth2/consent"));
    assert_eq!(urls[5..], [format!("POST {base}/oauth2/token")]);

    // Denied on the consent page.
    let refuse = format!("{ALICE}\n    consent \"Deny\"");
    let result = run(&base, &spec(&base, "device_code", "", &refuse)).await;
    let (class, error) = class_and_error(step(&result, "orders as alice"));
    assert_eq!(class, Some(FailureClass::Scope), "{error}");
    assert!(
        error.contains("the user denied the device (access_denied)"),
        "{error}"
    );
}

/// `slow_down` adds 5 s to the interval; `expired_token` ends the flow.
#[tokio::test(flavor = "multi_thread")]
async fn device_polling_slows_down_and_stops_on_expiry() {
    let config = SandboxConfig {
        device_interval: 1,
        faults: vec![oauthspec_sandbox::parse_fault("token:slow_down,times=1").unwrap()],
        ..SandboxConfig::default()
    };
    let sandbox = sandbox_with(config).await;
    let base = sandbox.base_url();
    let started = std::time::Instant::now();
    let result = run(&base, &spec(&base, "device_code", "", ALICE)).await;
    let first = step(&result, "orders as alice");
    assert!(matches!(first.outcome, Outcome::Passed), "{first:#?}");
    // 1 s, slow_down, then 6 s: never faster than allowed.
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    let polls: Vec<_> = (first.attempts.iter())
        .filter(|a| a.url.ends_with("/oauth2/token"))
        .map(|a| (a.status, a.superseded))
        .collect();
    assert_eq!(polls, [(Some(400), true), (Some(200), false)]);

    sandbox.add_fault(oauthspec_sandbox::parse_fault("token:expired_token").unwrap());
    let result = run(&base, &spec(&base, "device_code", "", ALICE)).await;
    let (class, error) = class_and_error(step(&result, "orders as alice"));
    assert_eq!(class, Some(FailureClass::Credentials), "{error}");
    assert!(
        error.contains("the user code expired before the device was approved (expired_token)"),
        "{error}"
    );
}

/// `oauthspec login alice SPEC --token-cache CACHE`, and its stdout's lines.
fn login_alice(
    path: &std::path::Path,
    cache: &std::path::Path,
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .args(["login", "alice"])
        .arg(path)
        .arg("--token-cache")
        .arg(cache)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    (child, std::io::BufReader::new(stdout).lines())
}

/// A run with the cache `oauthspec login` filled: no sign-in, no device
/// code.
async fn runs_from_the_cache(base: &str, path: &std::path::Path, cache: &std::path::Path) {
    let mut o = options(base);
    o.token_cache = Some(cache.to_path_buf());
    let (result, _) = run_with(&[path.to_path_buf()], o).await;
    let first = step(&result, "orders as alice");
    assert!(matches!(first.outcome, Outcome::Passed), "{first:#?}");
    assert!(urls(first).is_empty(), "{:?}", urls(first));
}

/// `oauthspec login` for a device client: the person reads the user code
/// on the terminal and approves it; later runs use and renew the cached
/// tokens without a `login` block. No token reaches the terminal.
#[tokio::test(flavor = "multi_thread")]
async fn login_keeps_a_device_clients_tokens_for_later_runs() {
    let config = SandboxConfig {
        device_interval: 1,
        ..SandboxConfig::default()
    };
    let sandbox = sandbox_with(config).await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let text = without_login(&spec(&base, "device_code", "", ALICE));
    let path = specs.write("t.oauthspec", &text);
    let cache = specs.path().join("tokens.json");
    let (child, mut lines) = login_alice(&path, &cache);
    let mut shown = String::new();
    let user_code = loop {
        let line = lines.next().expect("the user code is shown").unwrap();
        shown.push_str(&line);
        shown.push('\n');
        if let Some(code) = line.trim().strip_prefix("and enter the code") {
            break code.trim().to_string();
        }
    };
    assert!(shown.contains(&format!("{base}/device\n")), "{shown}");
    let approve = reqwest::Client::new()
        .post(format!("{base}/sandbox/device/approve"))
        .header("Content-Type", "application/json")
        .body(format!(
            r#"{{"user_code":"{user_code}","username":"alice"}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), 204);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    shown.extend(lines.map_while(Result::ok).map(|l| l + "\n"));
    shown.push_str(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("signed in: client `alice`'s tokens are kept in"),
        "{shown}"
    );
    for token in sandbox.issued_tokens().iter().filter(|t| **t != user_code) {
        assert!(
            !shown.contains(token.as_str()),
            "a token on the terminal: {shown}"
        );
    }
    crate::common::assert_private(&cache);
    runs_from_the_cache(&base, &path, &cache).await;
}

/// `oauthspec login` for a code client: the browser comes back to its
/// loopback listener (any port: the registered URI has none).
#[tokio::test(flavor = "multi_thread")]
async fn login_receives_the_code_on_a_loopback_listener() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let redirect = "  redirect_uri \"http://127.0.0.1/callback\"";
    let text = without_login(&spec(&base, CODE, redirect, ALICE));
    let path = specs.write("t.oauthspec", &text);
    let cache = specs.path().join("tokens.json");
    let (child, mut lines) = login_alice(&path, &cache);
    let url = loop {
        let line = lines.next().expect("the URL is shown").unwrap();
        if line
            .trim()
            .starts_with(&format!("{base}/oauth2/authorize?"))
        {
            break line.trim().to_string();
        }
    };
    // The person's browser: it keeps cookies and follows the redirect back.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let hidden = |page: &str, name: &str| {
        let at = page.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
        page[at..at + page[at..].find('"').unwrap()].to_string()
    };
    let page = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (interaction, csrf) = (hidden(&page, "interaction"), hidden(&page, "csrf"));
    let form = |extra: &[(&str, &str)]| {
        let mut f = vec![
            ("interaction", interaction.as_str()),
            ("csrf", csrf.as_str()),
        ];
        f.extend_from_slice(extra);
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(f)
            .finish()
    };
    let post = |path: &str, body: String| {
        browser
            .post(format!("{base}{path}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    post(
        "/oauth2/login",
        form(&[("username", "alice"), ("password", "alice-password")]),
    )
    .await
    .unwrap();
    let back = post("/oauth2/consent", form(&[("decision", "approve")]))
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    assert!(back
        .text()
        .await
        .unwrap()
        .contains("return to the terminal"));
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let shown: String = lines.map_while(Result::ok).map(|l| l + "\n").collect();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{shown}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    runs_from_the_cache(&base, &path, &cache).await;
}

/// `login` for a client that is not a user flow, or not there: exit 2.
#[test]
fn login_refuses_what_it_cannot_sign_in() {
    let specs = Specs::new();
    let path = specs.write(
        "t.oauthspec",
        "client svc {\n  token_url \"http://127.0.0.1:9/token\"\n  client_id \"svc\"\n  client_secret secret(\"s3cret-value\")\n}\n",
    );
    let login = |client: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauthspec"))
            .args(["login", client])
            .arg(&path)
            .arg("--token-cache")
            .arg(specs.path().join("tokens.json"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = login("svc");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("client `svc` uses `grant client_credentials`: `login` signs a person in for `grant authorization_code` or `grant device_code`"), "{stderr}");
    let (code, stderr) = login("nobody");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("no client `nobody` in the specs (clients: svc)"),
        "{stderr}"
    );
}

/// A provider that answers a wrong password with 401 and the login form
/// again (Auth0 does): `credentials`, not `auth_server`.
#[tokio::test(flavor = "multi_thread")]
async fn a_login_form_back_with_401_is_a_wrong_password() {
    use axum::response::Html;
    const FORM: &str = r#"<title>Log in</title><p role="alert">Wrong email or password.</p>
        <form method="post" action="/login"><input name="email"><input type="password" name="pwd">
        <button>Continue</button></form>"#;
    let app = axum::Router::new()
        .route("/authorize", axum::routing::get(|| async { Html(FORM) }))
        .route(
            "/login",
            axum::routing::post(|| async { (axum::http::StatusCode::UNAUTHORIZED, Html(FORM)) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let text = format!(
        r#"client alice {{
  token_url     "{base}/token"
  authorize_url "{base}/authorize"
  grant         authorization_code
  client_id     "spa"
  auth_method   none
  redirect_uri  "http://127.0.0.1/callback"
  login {{
    email = "alice@example.com"
    pwd   = "not-her-password"
  }}
}}

step "orders as alice" {{
  GET "{base}/orders"
  auth alice
  expect status == 200
}}
"#
    );
    let result = run(&base, &text).await;
    let (class, error) = class_and_error(step(&result, "orders as alice"));
    assert_eq!(class, Some(FailureClass::Credentials), "{error}");
    assert!(
        error.contains("the page says \"Wrong email or password.\""),
        "{error}"
    );
    // `pwd` is a password by its name: never shown.
    let failed = step(&result, "orders as alice");
    let shown = format!("{:?} {:?}", failed.attempts, failed.error);
    assert!(!shown.contains("not-her-password"), "{shown}");
}
