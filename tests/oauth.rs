//! The OAuth engine against the sandbox: grants, client authentication,
//! discovery, the shared token cache, renewal, rotation, and token faults.

use std::path::PathBuf;

use crate::common::*;
use oauthspec_core::results::FailureClass;
use oauthspec_sandbox::{
    parse_fault, ClientAuthMethod, GrantType, RegisteredClient, Sandbox, SandboxConfig, UserConfig,
};

fn client_block(base: &str, extra: &str) -> String {
    format!(
        "client orders {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret secret(\"demo-secret\")\n{extra}}}\n"
    )
}

fn orders_step(base: &str, name: &str) -> String {
    format!("step \"{name}\" {{\n  GET \"{base}/v1/orders\"\n  auth orders\n  expect status == 200\n}}\n")
}

#[tokio::test]
async fn client_secret_post_and_password_grants() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"client post {{
  token_url "{base}/oauth2/token"
  client_id "demo-client"
  client_secret "demo-secret"
  auth_method client_secret_post
  scope "orders:read"
}}
client alice {{
  token_url "{base}/oauth2/token"
  grant password
  client_id "public-client"
  auth_method none
  username "alice"
  password secret("alice-password")
}}
step "post" {{
  GET "{base}/v1/orders"
  auth post
  expect status == 200
}}
step "password" {{
  GET "{base}/v1/orders"
  auth alice
  expect status == 200
}}
"#
    );
    let result = run_text(&base, &spec).await;
    for s in &result.suites[0].steps {
        assert!(passed(s), "{}: {:?} {:?}", s.name, s.error, failures(s));
    }
    let stats = sandbox.stats();
    assert_eq!(stats.grant("client_credentials"), 1);
    assert_eq!(stats.grant("password"), 1);
}

/// A password-grant refresh token, fetched outside oauthspec.
async fn refresh_token(base: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "public-client"),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let response: serde_json::Value = serde_json::from_slice(&response).unwrap();
    response["refresh_token"].as_str().unwrap().to_string()
}

fn refresh_spec(base: &str) -> String {
    format!(
        r#"client zoho {{
  token_url "{base}/oauth2/token"
  grant refresh_token
  client_id "public-client"
  auth_method none
  refresh_token secret(env("ZOHO_REFRESH_TOKEN"))
  scheme "Zoho-oauthtoken"
}}
step "orders" {{
  GET "{base}/v1/orders"
  auth zoho
  expect status == 200
}}
"#
    )
}

#[tokio::test]
async fn rotated_refresh_tokens_are_used_from_then_on() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let first = refresh_token(&base).await;
    // The resource rejects the first token once: the second token request
    // must present the rotated refresh token, or the sandbox refuses it.
    sandbox.add_fault(parse_fault("api:invalid_token,times=1").unwrap());
    let specs = Specs::new();
    let path = specs.write("zoho.oauthspec", &refresh_spec(&base));
    let mut options = options(&base);
    options
        .check
        .env
        .fixed
        .insert("ZOHO_REFRESH_TOKEN".into(), first.clone());
    let (result, _) = run_with(&[path], options).await;
    let orders = step(&result, "orders");
    assert!(passed(orders), "{:?} {:?}", orders.error, failures(orders));
    assert_eq!(sandbox.stats().grant("refresh_token"), 2);
    // Custom scheme on the wire: the sandbox accepts Zoho-oauthtoken.
    assert!(orders.attempts.iter().any(|a| a
        .transcript
        .as_deref()
        .unwrap_or("")
        .contains("authorization: Zoho-oauthtoken ***")));
}

#[tokio::test]
async fn the_token_cache_file_keeps_tokens_and_the_newest_refresh_token() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let first = refresh_token(&base).await;
    sandbox.reset_stats();
    let specs = Specs::new();
    let path = specs.write("zoho.oauthspec", &refresh_spec(&base));
    let cache: PathBuf = specs.path().join("cache/tokens.json");
    let run = |path: PathBuf| {
        let mut options = options(&base);
        options
            .check
            .env
            .fixed
            .insert("ZOHO_REFRESH_TOKEN".into(), first.clone());
        options.token_cache = Some(cache.clone());
        async move { run_with(&[path], options).await.0 }
    };
    let result = run(path.clone()).await;
    assert!(passed(step(&result, "orders")));
    assert_eq!(sandbox.stats().token, 1);
    assert_private(&cache);
    // A second run reuses the cached access token: no token request.
    let result = run(path.clone()).await;
    assert!(passed(step(&result, "orders")));
    assert_eq!(sandbox.stats().token, 1);
    // A third run whose token is rejected must refresh with the rotated
    // refresh token kept in the file (the first one is spent).
    sandbox.add_fault(parse_fault("api:invalid_token,times=1").unwrap());
    let result = run(path).await;
    let orders = step(&result, "orders");
    assert!(passed(orders), "{:?} {:?}", orders.error, failures(orders));
    assert_eq!(sandbox.stats().token, 2);
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(
        !text.contains(&first),
        "the spent refresh token is replaced"
    );
    assert!(!specs.path().join("cache").read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tmp")));
}

#[tokio::test]
async fn expired_tokens_are_renewed() {
    let config = SandboxConfig {
        token_lifetime: 2,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config, 0).await.unwrap();
    let base = sandbox.base_url();
    let spec = format!(
        "{}{}step \"wait\" {{\n  GET \"{base}/v1/health\"\n  delay 1100ms\n}}\n{}",
        client_block(&base, ""),
        orders_step(&base, "first"),
        orders_step(&base, "second")
    );
    let specs = Specs::new();
    let path = specs.write("t.oauthspec", &spec);
    let mut options = options(&base);
    options.token_skew = std::time::Duration::from_secs(1);
    let (result, _) = run_with(&[path], options).await;
    assert!(passed(step(&result, "second")));
    assert_eq!(
        sandbox.stats().token,
        2,
        "renewed once the 2 s token had 1 s left"
    );
}

/// The `expires_at` (seconds since the epoch) the cache file holds for
/// its only entry, and now.
fn cached_expiry(cache: &std::path::Path) -> (u64, u64) {
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cache).unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (file["entries"][0]["expires_at"].as_u64().unwrap(), now)
}

/// Zoho's older accounts server: `expires_in` in milliseconds beside
/// `expires_in_sec`. The seconds win, `-v` says so, and the cache file
/// keeps the true expiry, not one 41 days away.
#[tokio::test]
async fn expires_in_sec_wins_over_milliseconds_in_expires_in() {
    let sandbox = sandbox().await;
    sandbox.add_fault(parse_fault("token:expires_in_sec").unwrap());
    let base = sandbox.base_url();
    let specs = Specs::new();
    let path = specs.write(
        "t.oauthspec",
        &format!(
            "{}{}",
            client_block(&base, ""),
            orders_step(&base, "orders")
        ),
    );
    let cache = specs.path().join("tokens.json");
    let mut options = options(&base);
    options.token_cache = Some(cache.clone());
    let (result, _) = run_with(&[path], options).await;
    let orders = step(&result, "orders");
    assert!(passed(orders));
    assert!(
        orders.trace.contains(
            &"client `orders`: `expires_in` 3600000 disagrees with `expires_in_sec` 3600: the token lives 3600 s"
                .to_string()
        ),
        "{:?}",
        orders.trace
    );
    let (expires_at, now) = cached_expiry(&cache);
    assert!(
        (now + 3500..=now + 3600).contains(&expires_at),
        "{expires_at} vs {now}"
    );
}

/// A JWT access token is never used past its `exp`, whatever
/// `expires_in` says: here `expires_in` claims 2000 s for a 2 s token.
#[tokio::test]
async fn a_jwt_access_token_is_renewed_by_its_exp() {
    let config = SandboxConfig {
        token_lifetime: 2,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config, 0).await.unwrap();
    sandbox.add_fault(parse_fault("token:expires_in_ms").unwrap());
    let base = sandbox.base_url();
    let spec = format!(
        "{}{}step \"wait\" {{\n  GET \"{base}/v1/health\"\n  delay 2100ms\n}}\n{}",
        client_block(&base, ""),
        orders_step(&base, "first"),
        orders_step(&base, "second")
    );
    let specs = Specs::new();
    let path = specs.write("t.oauthspec", &spec);
    let mut options = options(&base);
    options.token_skew = std::time::Duration::ZERO;
    let (result, _) = run_with(&[path], options).await;
    let first = step(&result, "first");
    assert!(
        first
            .trace
            .iter()
            .any(|t| t.contains("`exp` ends it in") && t.contains("before `expires_in` 2000 s")),
        "{:?}",
        first.trace
    );
    // Renewed before the call, not after the API refused the dead token.
    let second = step(&result, "second");
    assert!(passed(second), "{:?}", failures(second));
    assert!(
        second.attempts.iter().all(|a| a.status != Some(401)),
        "{:?}",
        second.attempts
    );
    assert_eq!(sandbox.stats().token, 2);
}

#[tokio::test]
async fn discovery_is_fetched_once_and_checks_the_issuer() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let spec = format!(
        r#"vars {{ issuer = "{base}" }}
client orders {{
  discovery "{{{{issuer}}}}"
  client_id "demo-client"
  client_secret "demo-secret"
}}
step "one" {{
  GET "{base}/v1/orders"
  auth orders
  expect status == 200
}}
"#
    );
    let specs = Specs::new();
    let a = specs.write("a.oauthspec", &spec);
    let b = specs.write("b.oauthspec", &spec);
    let (result, _) = run_with(&[a, b], options(&base)).await;
    for suite in &result.suites {
        let s = &suite.steps[0];
        assert!(passed(s), "{:?} {:?}", s.error, failures(s));
    }
    assert_eq!(sandbox.stats().discovery, 1);
    assert_eq!(sandbox.stats().token, 1);

    // Asked as `localhost`, the sandbox's metadata names 127.0.0.1: refused.
    let other = base.replace("127.0.0.1", "localhost");
    let spec = format!(
        "client orders {{\n  discovery \"{other}\"\n  client_id \"demo-client\"\n  client_secret \"demo-secret\"\n}}\n{}",
        orders_step(&base, "mismatch")
    );
    let result = run_text(&base, &spec).await;
    let s = step(&result, "mismatch");
    assert_eq!(
        step(&result, "mismatch").class(),
        Some(FailureClass::AuthServer)
    );
    let error = s.error.as_deref().unwrap();
    assert!(
        error.contains("discovery failed") && error.contains("names issuer"),
        "{error}"
    );
}

async fn private_key_case(alg: &str) {
    let (private_pem, public_pem) = match alg {
        "RS256" => {
            use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
            (
                key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                key.to_public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap(),
            )
        }
        _ => {
            use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
            let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
            (
                key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                key.public_key().to_public_key_pem(LineEnding::LF).unwrap(),
            )
        }
    };
    let mut config = SandboxConfig::default();
    config.clients.push(RegisteredClient {
        id: "jwt-client".into(),
        secret: None,
        public_key_pem: Some(public_pem),
        self_signed_cert_pem: None,
        grants: vec![GrantType::ClientCredentials],
        scopes: vec!["orders:read".into()],
        auth_methods: vec![ClientAuthMethod::PrivateKeyJwt],
        redirect_uris: Vec::new(),
    });
    let sandbox = Sandbox::start(config, 0).await.unwrap();
    let base = sandbox.base_url();
    let specs = Specs::new();
    specs.write("key.pem", &private_pem);
    let path = specs.write(
        "jwt.oauthspec",
        &format!(
            "client orders {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"jwt-client\"\n  auth_method private_key_jwt\n  private_key secret(file(\"key.pem\"))\n  alg {alg}\n  key_id \"k1\"\n}}\n{}{}",
            orders_step(&base, "first"),
            orders_step(&base, "second")
        ),
    );
    // A rejected token forces a second assertion: its jti must be fresh.
    sandbox.add_fault(parse_fault("api:invalid_token,times=1").unwrap());
    let (result, _) = run_with(&[path], options(&base)).await;
    for name in ["first", "second"] {
        let s = step(&result, name);
        assert!(passed(s), "{alg} {name}: {:?} {:?}", s.error, failures(s));
    }
    assert_eq!(sandbox.stats().tokens_issued, 2);
}

#[tokio::test]
async fn private_key_jwt_rs256() {
    private_key_case("RS256").await;
}

#[tokio::test]
async fn private_key_jwt_es256() {
    private_key_case("ES256").await;
}

/// Each token-endpoint fault fails the step that needed the token with the
/// class and a message naming the client.
#[tokio::test]
async fn token_endpoint_faults_are_classified() {
    let cases: &[(&str, FailureClass, &str)] = &[
        (
            "token:malformed_json",
            FailureClass::AuthServer,
            "malformed token response",
        ),
        ("token:error_200", FailureClass::AuthServer, "access denied"),
        (
            "token:status=429,retry_after=1",
            FailureClass::AuthServer,
            "429",
        ),
        ("token:status=503", FailureClass::AuthServer, "503"),
        ("token:close", FailureClass::AuthServer, "unreachable"),
        ("token:latency=2s", FailureClass::AuthServer, "timed out"),
        (
            "token:rotate_secret=demo-client:new-secret",
            FailureClass::Credentials,
            "invalid_client",
        ),
        (
            "token:remove_scope=demo-client:orders:read",
            FailureClass::Scope,
            "invalid_scope",
        ),
    ];
    for (fault, class, needle) in cases {
        let sandbox = sandbox().await;
        let base = sandbox.base_url();
        sandbox.add_fault(parse_fault(fault).unwrap());
        let spec = format!(
            "{}{}",
            client_block(&base, "  scope \"orders:read\"\n"),
            orders_step(&base, "orders")
        );
        let specs = Specs::new();
        let path = specs.write("t.oauthspec", &spec);
        let mut options = options(&base);
        options.timeout = std::time::Duration::from_millis(500);
        let (result, _) = run_with(&[path], options).await;
        let s = step(&result, "orders");
        assert_eq!(
            step(&result, "orders").class(),
            Some(*class),
            "{fault}: {:?}",
            s.error
        );
        let error = s.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("client `orders`") && error.contains(needle),
            "{fault}: {error}"
        );
        assert!(!error.contains("demo-secret"));
    }
}

#[tokio::test]
async fn a_token_rejected_after_the_refetch_is_token_rejected() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    // A token for another audience: the API rejects it, and the fresh one too.
    let spec = format!(
        "{}{}",
        client_block(&base, "  audience \"billing-api\"\n"),
        orders_step(&base, "orders")
    );
    let result = run_text(&base, &spec).await;
    let s = step(&result, "orders");
    assert_eq!(
        step(&result, "orders").class(),
        Some(FailureClass::TokenRejected),
        "{:?}",
        s.error
    );
    assert_eq!(sandbox.stats().token, 2, "fetched again once");
    assert!(s.notes[0].contains("fetched a new one and retried once"));
    assert_eq!(s.status(), Some(401));
}

/// `file(...)` in a client block is relative to the file that defines it,
/// also when that is an import in another directory (check reads it so; the
/// run read it relative to the importer).
#[tokio::test]
async fn file_values_in_an_imported_client_are_relative_to_the_import() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    std::fs::create_dir(specs.path().join("shared")).unwrap();
    specs.write("shared/secret.txt", "demo-secret");
    specs.write(
        "shared/clients.oauthspec",
        &format!(
            "client orders {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret secret(file(\"secret.txt\"))\n}}\n"
        ),
    );
    let path = specs.write(
        "orders.oauthspec",
        &format!(
            "import \"shared/clients.oauthspec\"\n{}",
            orders_step(&base, "orders")
        ),
    );
    let (result, _) = run_with(&[path], options(&base)).await;
    let s = step(&result, "orders");
    assert!(passed(s), "{:?} {:?}", s.error, failures(s));
}

/// A client block for `client_id`, with everything else as written.
fn client(name: &str, base: &str, body: &str) -> String {
    format!("client {name} {{\n  token_url \"{base}/oauth2/token\"\n{body}}}\n")
}

fn step_as(name: &str, base: &str, client: &str) -> String {
    format!(
        "step \"{name}\" {{\n  GET \"{base}/v1/orders\"\n  auth {client}\n  expect status == 200\n}}\n"
    )
}

#[tokio::test]
async fn a_token_is_shared_only_by_clients_with_the_same_credentials_and_settings() {
    let mut config = SandboxConfig::default();
    config.users.push(UserConfig {
        username: "bob".into(),
        password: "bob-password".into(),
        scopes: None,
    });
    let sandbox = Sandbox::start(config, 0).await.unwrap();
    let base = sandbox.base_url();
    let demo = "  client_id \"demo-client\"\n";
    let user = |name: &str| {
        format!("  grant password\n  client_id \"public-client\"\n  auth_method none\n  username \"{name}\"\n  password secret(\"{name}-password\")\n")
    };
    let clients = [
        client(
            "good",
            &base,
            &format!("{demo}  client_secret secret(\"demo-secret\")\n"),
        ),
        client(
            "twin",
            &base,
            &format!("{demo}  client_secret secret(\"demo-secret\")\n"),
        ),
        client(
            "rotated",
            &base,
            &format!("{demo}  client_secret secret(\"rotated-away\")\n"),
        ),
        client(
            "post",
            &base,
            &format!(
                "{demo}  client_secret secret(\"demo-secret\")\n  auth_method client_secret_post\n"
            ),
        ),
        client(
            "scoped",
            &base,
            &format!("{demo}  client_secret secret(\"demo-secret\")\n  scope \"orders:read\"\n"),
        ),
        client(
            "tenant",
            &base,
            &format!(
                "{demo}  client_secret secret(\"demo-secret\")\n  param \"tenant\" = \"t1\"\n"
            ),
        ),
        client("alice", &base, &user("alice")),
        client("bob", &base, &user("bob")),
    ]
    .concat();
    let specs = Specs::new();
    // Each step in a suite of its own, so a failure skips nothing.
    let mut paths = Vec::new();
    for name in [
        "good", "twin", "rotated", "post", "scoped", "tenant", "alice", "bob",
    ] {
        let text = format!("{clients}{}", step_as(name, &base, name));
        paths.push(specs.write(&format!("{name}.oauthspec"), &text));
    }
    let mut options = options(&base);
    options.jobs = 1;
    let (result, _) = run_with(&paths, options).await;
    let rotated = step(&result, "rotated");
    assert_eq!(
        rotated.class(),
        Some(FailureClass::Credentials),
        "a wrong secret must not borrow the right one's token: {:?}",
        rotated.error
    );
    for name in ["good", "twin", "post", "scoped", "tenant", "alice", "bob"] {
        let s = step(&result, name);
        assert!(passed(s), "{name}: {:?} {:?}", s.error, failures(s));
    }
    let stats = sandbox.stats();
    // good (twin shares it), rotated, post, scoped, tenant, alice, bob.
    assert_eq!(stats.token, 7, "{stats:?}");
    assert_eq!(stats.issued_to("demo-client"), 4);
    assert_eq!(stats.issued_to("public-client/alice"), 1);
    assert_eq!(stats.issued_to("public-client/bob"), 1);
    assert!(step(&result, "twin")
        .trace
        .contains(&"client `twin`: token from this run's cache".to_string()));
}

#[tokio::test]
async fn two_refresh_tokens_are_two_identities() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let (one, two) = (refresh_token(&base).await, refresh_token(&base).await);
    let tenant = |name: &str, token: &str| {
        client(
            name,
            &base,
            &format!("  grant refresh_token\n  client_id \"public-client\"\n  auth_method none\n  refresh_token secret(\"{token}\")\n"),
        )
    };
    let spec = [
        tenant("one", &one),
        tenant("two", &two),
        step_as("one", &base, "one"),
        step_as("two", &base, "two"),
    ]
    .concat();
    sandbox.reset_stats();
    let result = run_text(&base, &spec).await;
    for name in ["one", "two"] {
        let s = step(&result, name);
        assert!(passed(s), "{name}: {:?} {:?}", s.error, failures(s));
    }
    assert_eq!(sandbox.stats().grant("refresh_token"), 2);
}

#[tokio::test]
async fn the_token_cache_file_is_used_only_while_the_settings_match() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let spec = format!(
        "{}{}",
        client(
            "orders",
            &base,
            "  client_id \"demo-client\"\n  client_secret secret(env(\"ORDERS_CLIENT_SECRET\"))\n"
        ),
        step_as("orders", &base, "orders")
    );
    let path = specs.write("t.oauthspec", &spec);
    let cache = specs.path().join("tokens.json");
    let run = |secret: &'static str| {
        let mut options = options(&base);
        options
            .check
            .env
            .fixed
            .insert("ORDERS_CLIENT_SECRET".into(), secret.into());
        options.token_cache = Some(cache.clone());
        let path = path.clone();
        async move { run_with(&[path], options).await.0 }
    };
    let first = run("demo-secret").await;
    let orders = step(&first, "orders");
    assert!(passed(orders));
    assert!(orders
        .trace
        .contains(&"client `orders`: token from a token request".to_string()));
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(!text.contains("demo-secret"), "no secret in the cache file");

    // A secret rotated away in CI must fail, not pass on yesterday's token.
    let wrong = run("rotated-away").await;
    let orders = step(&wrong, "orders");
    assert_eq!(orders.class(), Some(FailureClass::Credentials));
    assert_eq!(sandbox.stats().token, 2);
    assert!(
        orders
            .trace
            .iter()
            .any(|t| t
                == "the cached token was not used: `client_secret` changed since it was issued"),
        "{:?}",
        orders.trace
    );
    let console = oauthspec_core::report::console::Console {
        color: false,
        verbose: true,
    }
    .suite(&wrong.suites[0]);
    assert!(console.contains("`client_secret` changed"), "{console}");
    assert!(!console.contains("rotated-away"), "{console}");

    // The right secret again: the first run's token, from the file.
    let again = run("demo-secret").await;
    let orders = step(&again, "orders");
    assert!(passed(orders));
    assert_eq!(sandbox.stats().token, 2);
    assert!(orders
        .trace
        .contains(&"client `orders`: token from the token cache file".to_string()));
}

/// A refresh token in the cache file that the server no longer knows
/// (revoked, or lost to another runner) gives way to the one the spec
/// gives, which is still good: the provider does not rotate them.
#[tokio::test]
async fn a_refused_cached_refresh_token_gives_way_to_the_one_the_spec_gives() {
    let sandbox = Sandbox::start(
        SandboxConfig {
            rotate_refresh_tokens: false,
            ..SandboxConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let base = sandbox.base_url();
    let given = refresh_token(&base).await;
    let specs = Specs::new();
    let path = specs.write("zoho.oauthspec", &refresh_spec(&base));
    let cache = specs.path().join("tokens.json");
    let run = || {
        let mut options = options(&base);
        options
            .check
            .env
            .fixed
            .insert("ZOHO_REFRESH_TOKEN".into(), given.clone());
        options.token_cache = Some(cache.clone());
        let path = path.clone();
        async move { run_with(&[path], options).await.0 }
    };
    assert!(passed(step(&run().await, "orders")));
    assert_eq!(sandbox.stats().grant("refresh_token"), 1);

    // The file's entry for exactly these settings now holds a refresh
    // token the server never issued, and no access token.
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let entry = &mut file["entries"][0];
    entry["access_token"] = serde_json::Value::Null;
    entry["refresh_token"] = "forgotten-by-the-server".into();
    std::fs::write(&cache, file.to_string()).unwrap();

    let result = run().await;
    let orders = step(&result, "orders");
    assert!(passed(orders), "{:?} {:?}", orders.error, failures(orders));
    assert_eq!(sandbox.stats().grant("refresh_token"), 3);
    let tokens: Vec<bool> = (orders.attempts.iter())
        .filter(|a| a.url.ends_with("/oauth2/token"))
        .map(|a| a.superseded)
        .collect();
    assert_eq!(tokens, [true, false]);
    assert!(
        orders.trace.contains(
            &"client `zoho`: the cached refresh token was refused (invalid_grant); trying the one the spec gives"
                .to_string()
        ),
        "{:?}",
        orders.trace
    );
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(!text.contains("forgotten-by-the-server"), "{text}");
}

/// Seven runs at once share one `--token-cache`, each rotating its own
/// refresh token: every rotated token must survive in the file.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_runs_sharing_a_token_cache_keep_every_rotated_refresh_token() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let cache = specs.path().join("tokens.json");
    let mut given = Vec::new();
    let mut children = Vec::new();
    for i in 0..7 {
        let token = refresh_token(&base).await;
        // The delay keeps every run's start (when it reads the file) before
        // any run's save.
        let spec = format!(
            "{}step \"wait\" {{\n  GET \"{base}/v1/health\"\n  delay 1s\n}}\n{}",
            client(
                "tenant",
                &base,
                &format!("  grant refresh_token\n  client_id \"public-client\"\n  auth_method none\n  refresh_token secret(\"{token}\")\n"),
            ),
            step_as("orders", &base, "tenant")
        );
        let path = specs.write(&format!("tenant{i}.oauthspec"), &spec);
        given.push(token);
        children.push(
            std::process::Command::new(env!("CARGO_BIN_EXE_oauthspec"))
                .arg("run")
                .arg(&path)
                .arg("--token-cache")
                .arg(&cache)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    let outputs = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for out in &outputs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let stored: Vec<String> = file["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["refresh_token"].as_str().map(str::to_string))
        .collect();
    assert_eq!(stored.len(), 7, "{file:#}");
    // Each is the rotated token of its chain, and still good.
    for token in &stored {
        assert!(!given.contains(token));
        let status = reqwest::Client::new()
            .post(format!("{base}/oauth2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "public-client"),
                ("refresh_token", token.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
}

/// Reports follow the umask, as a file made by `>` would; the token cache
/// stays private.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn reports_follow_the_umask_and_the_token_cache_stays_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let path = specs.write(
        "t.oauthspec",
        &format!(
            "{}{}",
            client_block(&base, ""),
            orders_step(&base, "orders")
        ),
    );
    let dir = specs.path();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 027; exec '{}' run '{}' --junit '{}' --token-cache '{}'",
            env!("CARGO_BIN_EXE_oauthspec"),
            path.display(),
            dir.join("junit.xml").display(),
            dir.join("tokens.json").display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("junit.xml"), 0o640);
    assert_eq!(mode("tokens.json"), 0o600);
}

/// A token cache that cannot be written fails the run as an internal error
/// (exit 3) once it ends; the steps it served pass, and no step is blamed
/// on the authorization server.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_token_cache_is_the_runs_problem_not_the_servers() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let spec = format!(
        "{}step \"wait\" {{\n  GET \"{base}/v1/health\"\n  delay 1500ms\n}}\n{}",
        client_block(&base, ""),
        orders_step(&base, "orders")
    );
    let path = specs.write("t.oauthspec", &spec);
    let cache_dir = specs.path().join("cache");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .arg("run")
        .arg(&path)
        .arg("--token-cache")
        .arg(cache_dir.join("tokens.json"))
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While the first step waits, the cache's directory becomes a file.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    std::fs::remove_dir_all(&cache_dir).unwrap();
    std::fs::write(&cache_dir, "not a directory").unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stdout.contains("PASS orders"), "{stdout}");
    assert!(!stdout.contains("[auth_server]"), "{stdout}");
    assert!(stderr.contains("token cache"), "{stderr}");
}

/// The JWT bearer grant (RFC 7523 §2.1): a service account's assertion,
/// signed with its key, about the user it acts for; fresh per attempt, the
/// only credential.
#[tokio::test(flavor = "multi_thread")]
async fn jwt_bearer_gets_a_token_for_the_assertions_subject() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let mut config = SandboxConfig::default();
    config.clients.push(RegisteredClient {
        id: "robot-account".into(),
        secret: None,
        public_key_pem: Some(key.public_key().to_public_key_pem(LineEnding::LF).unwrap()),
        self_signed_cert_pem: None,
        grants: vec![GrantType::JwtBearer],
        scopes: vec!["orders:read".into()],
        auth_methods: vec![ClientAuthMethod::None],
        redirect_uris: Vec::new(),
    });
    let sandbox = Sandbox::start(config, 0).await.unwrap();
    let base = sandbox.base_url();
    let specs = Specs::new();
    specs.write("key.pem", &key.to_pkcs8_pem(LineEnding::LF).unwrap());
    let spec = |subject: &str, audience: &str| {
        format!(
            "client svc {{\n  token_url \"{base}/oauth2/token\"\n  grant jwt_bearer\n  client_id \"robot-account\"\n  private_key secret(file(\"key.pem\"))\n  alg ES256\n  subject \"{subject}\"\n{audience}}}\n\nstep \"who\" {{\n  GET \"{base}/v1/whoami\"\n  auth svc\n  expect status == 200\n  expect json \"$.sub\" == \"{subject}\"\n}}\n"
        )
    };
    let path = specs.write("jwt-bearer.oauthspec", &spec("alice@example.com", ""));
    // A rejected token makes a second assertion: its jti must be fresh.
    sandbox.add_fault(parse_fault("api:invalid_token,times=1").unwrap());
    let (result, _) = run_with(&[path], options(&base)).await;
    let who = step(&result, "who");
    assert!(passed(who), "{:?} {:?}", who.error, failures(who));
    assert_eq!(sandbox.stats().tokens_issued, 2);
    let form = (who.attempts.iter())
        .find(|a| a.url.ends_with("/oauth2/token"))
        .and_then(|a| a.transcript.clone())
        .unwrap_or_default();
    assert!(
        form.contains(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&client_id=robot-account&assertion=***"
        ),
        "{form}"
    );
    // An assertion for another audience is refused: credentials.
    let path = specs.write(
        "wrong-aud.oauthspec",
        &spec(
            "alice@example.com",
            "  assertion_audience \"https://elsewhere.example\"\n",
        ),
    );
    let (result, _) = run_with(&[path], options(&base)).await;
    let who = step(&result, "who");
    assert_eq!(
        who.class(),
        Some(FailureClass::Credentials),
        "{:?}",
        who.error
    );
    assert!(
        who.error
            .as_deref()
            .unwrap_or_default()
            .contains("the assertion's aud must be"),
        "{:?}",
        who.error
    );
}

/// Token exchange (RFC 8693): another client's current token traded for
/// one of the same subject; the issued token type is checked.
#[tokio::test(flavor = "multi_thread")]
async fn token_exchange_trades_another_clients_token() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let spec = |requested: &str| {
        format!(
            r#"client orders {{
  token_url     "{base}/oauth2/token"
  client_id     "demo-client"
  client_secret secret("demo-secret")
}}

client traded {{
  token_url     "{base}/oauth2/token"
  grant         token_exchange
  client_id     "admin-client"
  client_secret secret("admin-secret")
  subject_token token(orders)
  scope         "orders:read"
{requested}}}

step "the subject's token, exchanged" {{
  GET "{base}/v1/whoami"
  auth traded
  expect status == 200
  expect json "$.sub" == "demo-client"
  expect json "$.client_id" == "admin-client"
}}
"#
        )
    };
    let specs = Specs::new();
    let path = specs.write("exchange.oauthspec", &spec(""));
    let (result, runner) = run_with(&[path], options(&base)).await;
    let s = step(&result, "the subject's token, exchanged");
    assert!(passed(s), "{:?} {:?}", s.error, failures(s));
    // The subject's token first, then the exchange.
    assert_eq!(runner.tokens.requests_sent(), 2);
    let exchange = s
        .attempts
        .iter()
        .rfind(|a| a.url.ends_with("/oauth2/token"))
        .unwrap();
    let form = exchange.transcript.clone().unwrap_or_default();
    assert!(
        form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=***&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"),
        "{form}"
    );
    // A token type the server does not issue: its refusal, auth_server.
    let path = specs.write(
        "refused.oauthspec",
        &spec("  requested_token_type \"urn:ietf:params:oauth:token-type:id_token\"\n"),
    );
    let (result, _) = run_with(&[path], options(&base)).await;
    let s = step(&result, "the subject's token, exchanged");
    assert_eq!(s.class(), Some(FailureClass::AuthServer), "{:?}", s.error);
    assert!(
        s.error
            .as_deref()
            .unwrap_or_default()
            .contains("requested_token_type"),
        "{:?}",
        s.error
    );
}
