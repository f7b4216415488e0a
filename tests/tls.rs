//! TLS end to end: the sandbox serves HTTPS with a certificate from a test
//! CA made here (rcgen), optionally asking for client certificates; specs
//! trust it through `--cacert`, a client's or a step's `ca_cert`, or not at
//! all (`insecure`), and authenticate with `client_cert`/`client_key`,
//! including RFC 8705 `tls_client_auth` at the token endpoint.

use crate::common::*;
use oauthspec_core::error::Error;
use oauthspec_core::results::{FailureClass, RunResult, StepResult};
use oauthspec_sandbox::{
    ClientAuthMethod, GrantType, RegisteredClient, Sandbox, SandboxConfig, TlsSettings,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA and what it signed, all PEM.
pub(crate) struct Pki {
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    /// CN `mtls-client`.
    pub client_cert: String,
    pub client_key: String,
    /// Signed by the same CA, CN `someone-else`.
    pub other_cert: String,
    pub other_key: String,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap().pem();
    (params, key, cert)
}

fn leaf(
    issuer: &Issuer<'_, &KeyPair>,
    cn: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap().pem();
    (cert, key.serialize_pem())
}

/// A self-signed end-entity certificate and its key, PEM.
pub(crate) fn self_signed(cn: &str) -> (String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

/// A certificate's RFC 8705 `x5t#S256`: the base64url SHA-256 of its DER.
pub(crate) fn x5t(pem: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("a PEM certificate");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
}

pub(crate) fn pki() -> Pki {
    let (params, key, ca) = ca("oauthspec test CA");
    let issuer = Issuer::from_params(&params, &key);
    let (server_cert, server_key) = leaf(
        &issuer,
        "localhost",
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(
        &issuer,
        "mtls-client",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (other_cert, other_key) = leaf(
        &issuer,
        "someone-else",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki {
        ca,
        server_cert,
        server_key,
        client_cert,
        client_key,
        other_cert,
        other_key,
    }
}

fn config() -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.clients.push(RegisteredClient {
        id: "mtls-client".into(),
        secret: None,
        public_key_pem: None,
        self_signed_cert_pem: None,
        grants: vec![GrantType::ClientCredentials],
        scopes: vec!["orders:read".into()],
        auth_methods: vec![ClientAuthMethod::TlsClientAuth],
        redirect_uris: Vec::new(),
    });
    config
}

async fn tls_sandbox(pki: &Pki, client_certs: Option<bool>) -> Sandbox {
    Sandbox::start_tls(
        config(),
        0,
        TlsSettings {
            cert_pem: pki.server_cert.clone(),
            key_pem: pki.server_key.clone(),
            client_ca_pem: client_certs.map(|_| pki.ca.clone()),
            require_client_cert: client_certs == Some(true),
            ..TlsSettings::default()
        },
    )
    .await
    .expect("the TLS sandbox starts")
}

fn error(step: &StepResult) -> String {
    step.error.clone().unwrap_or_default()
}

/// Each of these steps passed.
fn assert_passed(result: &RunResult, names: &[&str]) {
    for name in names {
        let s = step(result, name);
        assert!(
            passed(s),
            "{name}: {:?} {} {:?}",
            s.outcome,
            error(s),
            failures(s)
        );
    }
}

/// The token endpoint refused the client's credentials, saying `why`.
fn assert_refused(step: &StepResult, why: &str) {
    assert_eq!(
        step.class(),
        Some(FailureClass::Credentials),
        "{:?}",
        step.outcome
    );
    assert!(error(step).contains(why), "{}", error(step));
}

/// Writes the PEM files next to the spec and runs it.
async fn run_spec(
    pki: &Pki,
    base: &str,
    text: &str,
    tweak: impl FnOnce(&mut oauthspec_core::run::RunOptions, &Specs),
) -> oauthspec_core::results::RunResult {
    let specs = Specs::new();
    for (name, pem) in [
        ("ca.pem", &pki.ca),
        ("client.pem", &pki.client_cert),
        ("client-key.pem", &pki.client_key),
        ("other.pem", &pki.other_cert),
        ("other-key.pem", &pki.other_key),
    ] {
        specs.write(name, pem);
    }
    let path = specs.write("t.oauthspec", text);
    let mut options = options(base);
    tweak(&mut options, &specs);
    run_with(&[path], options).await.0
}

fn health(base: &str, extra: &str) -> String {
    format!("step \"health\" {{\n  GET \"{base}/v1/health\"\n{extra}  expect status == 200\n}}\n")
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_network_failure_that_says_so() {
    let pki = pki();
    let sandbox = tls_sandbox(&pki, None).await;
    let base = sandbox.base_url();
    assert!(base.starts_with("https://localhost:"), "{base}");
    let result = run_spec(&pki, &base, &health(&base, ""), |_, _| {}).await;
    let s = step(&result, "health");
    assert_eq!(s.class(), Some(FailureClass::Network), "{:?}", s.outcome);
    let message = error(s);
    assert!(message.contains("certificate is not trusted"), "{message}");
    assert!(message.contains("--cacert"), "{message}");
}

/// A certificate made the common way (`openssl req -x509 ... -subj
/// /CN=localhost`) is a self-signed CA:TRUE certificate. curl serves with
/// it; rustls refuses it even when trusted, so the failure says why and
/// how to make one it accepts.
#[tokio::test]
async fn a_self_signed_ca_certificate_as_the_servers_own_says_how_to_fix_it() {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap().pem();
    let sandbox = Sandbox::start_tls(
        config(),
        0,
        TlsSettings {
            cert_pem: cert.clone(),
            key_pem: key.serialize_pem(),
            ..TlsSettings::default()
        },
    )
    .await
    .unwrap();
    let base = sandbox.base_url();
    let specs = Specs::new();
    let ca = specs.write("cert.pem", &cert);
    let path = specs.write("t.oauthspec", &health(&base, ""));
    let mut options = options(&base);
    options.cacert = Some(ca);
    let result = run_with(&[path], options).await.0;
    let s = step(&result, "health");
    assert_eq!(s.class(), Some(FailureClass::Network), "{:?}", s.outcome);
    let message = error(s);
    for needle in [
        "is a CA certificate (basicConstraints CA:TRUE)",
        "-addext basicConstraints=critical,CA:FALSE -addext subjectAltName=DNS:localhost",
        "CaUsedAsEndEntity",
    ] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
}

#[tokio::test]
async fn cacert_trusts_the_test_ca() {
    let pki = pki();
    let sandbox = tls_sandbox(&pki, None).await;
    let base = sandbox.base_url();
    let result = run_spec(&pki, &base, &health(&base, ""), |o, specs| {
        o.cacert = Some(specs.path().join("ca.pem"));
    })
    .await;
    let s = step(&result, "health");
    assert!(passed(s), "{:?} {}", s.outcome, error(s));
    // 127.0.0.1 is in the certificate too.
    let ip = base.replace("localhost", "127.0.0.1");
    let result = run_spec(&pki, &ip, &health(&ip, ""), |o, specs| {
        o.cacert = Some(specs.path().join("ca.pem"));
    })
    .await;
    let s = step(&result, "health");
    assert!(passed(s), "{:?} {}", s.outcome, error(s));
}

/// Plain-HTTP requests share a pool built without root certificates; one
/// that follows redirects may meet TLS and must trust what the run trusts.
#[tokio::test]
async fn a_redirect_from_http_to_https_trusts_the_cacert() {
    let pki = pki();
    let sandbox = tls_sandbox(&pki, None).await;
    let target = format!("{}/v1/health", sandbox.base_url());
    let app = axum::Router::new().route(
        "/go",
        axum::routing::get(move || {
            let target = target.clone();
            async move { axum::response::Redirect::temporary(&target) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let text = format!(
        "step \"follows\" {{\n  GET \"{http}/go\"\n  follow_redirects\n  expect status == 200\n}}\n\
         step \"stays\" {{\n  GET \"{http}/go\"\n  expect status == 307\n}}\n"
    );
    let result = run_spec(&pki, &sandbox.base_url(), &text, |o, specs| {
        o.cacert = Some(specs.path().join("ca.pem"));
    })
    .await;
    assert_passed(&result, &["follows", "stays"]);
}

#[tokio::test]
async fn a_cacert_that_is_not_pem_stops_the_runner() {
    let specs = Specs::new();
    let path = specs.write("ca.pem", "not a certificate");
    let options = oauthspec_core::run::RunOptions {
        cacert: Some(path.clone()),
        ..Default::default()
    };
    let Err(Error::CaCert {
        path: named,
        reason,
    }) = oauthspec_core::run::Runner::new(options)
    else {
        panic!("a non-PEM --cacert is refused");
    };
    assert_eq!(named, path);
    assert!(reason.contains("not PEM"), "{reason}");
}

#[tokio::test]
async fn a_step_ca_cert_trusts_the_test_ca() {
    let pki = pki();
    let sandbox = tls_sandbox(&pki, None).await;
    let base = sandbox.base_url();
    let text = health(&base, "  ca_cert file(\"ca.pem\")\n");
    let result = run_spec(&pki, &base, &text, |_, _| {}).await;
    let s = step(&result, "health");
    assert!(passed(s), "{:?} {}", s.outcome, error(s));
}

#[tokio::test]
async fn a_client_ca_cert_is_used_for_its_token_endpoint_and_api_calls() {
    let pki = pki();
    let sandbox = tls_sandbox(&pki, None).await;
    let base = sandbox.base_url();
    let text = format!(
        "client orders {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret \"demo-secret\"\n  scope \"orders:read\"\n  ca_cert file(\"ca.pem\")\n}}\nstep \"orders\" {{\n  GET \"{base}/v1/orders\"\n  auth orders\n  expect status == 200\n}}\n"
    );
    let result = run_spec(&pki, &base, &text, |_, _| {}).await;
    let s = step(&result, "orders");
    assert!(passed(s), "{:?} {}", s.outcome, error(s));

    // Without it the token endpoint is not trusted: the auth server is
    // unreachable, and the message says why.
    let untrusted = text.replace("  ca_cert file(\"ca.pem\")\n", "");
    let result = run_spec(&pki, &base, &untrusted, |_, _| {}).await;
    let s = step(&result, "orders");
    assert_eq!(s.class(), Some(FailureClass::AuthServer), "{:?}", s.outcome);
    assert!(
        error(s).contains("certificate is not trusted"),
        "{}",
        error(s)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_steps_pass_and_the_cli_warns_once() {
    let pki = pki();
    let sandbox = tls_sandbox(&pki, None).await;
    let base = sandbox.base_url();
    let text = format!(
        "{}{}",
        health(&base, "  insecure\n"),
        health(&base, "  insecure\n").replace("\"health\"", "\"again\"")
    );
    let result = run_spec(&pki, &base, &text, |_, _| {}).await;
    assert!(passed(step(&result, "health")));
    assert!(passed(step(&result, "again")));

    // Through the binary: `--insecure` works for every step, and stderr
    // carries the warning exactly once.
    let specs = Specs::new();
    let path = specs.write(
        "t.oauthspec",
        &format!(
            "{}{}",
            health(&base, ""),
            health(&base, "").replace("\"health\"", "\"again\"")
        ),
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_oauthspec"))
            .arg("run")
            .arg("--insecure")
            .arg(&path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{stderr}\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        stderr
            .matches("warning: TLS certificate verification is OFF")
            .count(),
        1,
        "{stderr}"
    );
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate() {
    let pki = pki();
    let sandbox = tls_sandbox(&pki, Some(true)).await;
    let base = sandbox.base_url();
    let trust = |o: &mut oauthspec_core::run::RunOptions, specs: &Specs| {
        o.cacert = Some(specs.path().join("ca.pem"));
    };
    let result = run_spec(&pki, &base, &health(&base, ""), trust).await;
    let s = step(&result, "health");
    assert_eq!(s.class(), Some(FailureClass::Network), "{:?}", s.outcome);
    assert!(error(s).contains("client certificate"), "{}", error(s));

    let with_cert = health(
        &base,
        "  client_cert file(\"client.pem\")\n  client_key secret(file(\"client-key.pem\"))\n",
    );
    let result = run_spec(&pki, &base, &with_cert, trust).await;
    let s = step(&result, "health");
    assert!(passed(s), "{:?} {}", s.outcome, error(s));
}

fn mtls_spec(base: &str, cert: &str, key: &str) -> String {
    format!(
        "client mtls {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"mtls-client\"\n  auth_method tls_client_auth\n  client_cert file(\"{cert}\")\n  client_key secret(file(\"{key}\"))\n  scope \"orders:read\"\n}}\nstep \"orders\" {{\n  GET \"{base}/v1/orders\"\n  auth mtls\n  expect status == 200\n}}\n"
    )
}

#[tokio::test]
async fn tls_client_auth_at_the_token_endpoint() {
    let pki = pki();
    let sandbox = tls_sandbox(&pki, Some(false)).await;
    let base = sandbox.base_url();
    let trust = |o: &mut oauthspec_core::run::RunOptions, specs: &Specs| {
        o.cacert = Some(specs.path().join("ca.pem"));
    };
    let text = mtls_spec(&base, "client.pem", "client-key.pem");
    let result = run_spec(&pki, &base, &text, trust).await;
    let s = step(&result, "orders");
    assert!(passed(s), "{:?} {}", s.outcome, error(s));
    assert_eq!(sandbox.stats().token, 1);

    // Over https the metadata advertises it.
    let discovery = format!(
        "step \"metadata\" {{\n  GET \"{base}/.well-known/oauth-authorization-server\"\n  expect json \"$.token_endpoint_auth_methods_supported\" contains \"tls_client_auth\"\n}}\n"
    );
    let result = run_spec(&pki, &base, &discovery, trust).await;
    let s = step(&result, "metadata");
    assert!(passed(s), "{:?} {} {:?}", s.outcome, error(s), failures(s));

    // A certificate the CA signed for someone else: invalid_client.
    let text = mtls_spec(&base, "other.pem", "other-key.pem");
    let result = run_spec(&pki, &base, &text, trust).await;
    let s = step(&result, "orders");
    assert_refused(s, "invalid_client");
    // No private key ever shows.
    assert!(!error(s).contains("PRIVATE KEY"), "{}", error(s));

    // A self-signed certificate, where only the CA's are asked for, ends
    // the handshake: the token endpoint is out of reach.
    let (forged, forged_key) = self_signed("mtls-client");
    let text = mtls_spec(&base, "forged.pem", "forged-key.pem");
    let result = run_spec(&pki, &base, &text, |o, specs| {
        trust(o, specs);
        specs.write("forged.pem", &forged);
        specs.write("forged-key.pem", &forged_key);
    })
    .await;
    let s = step(&result, "orders");
    assert_eq!(s.class(), Some(FailureClass::AuthServer), "{:?}", s.outcome);
    assert!(error(s).contains("UnknownCA"), "{}", error(s));
}

#[tokio::test]
async fn tls_client_auth_settings_are_checked() {
    let specs = Specs::new();
    let path = specs.write(
        "t.oauthspec",
        "client c {\n  token_url \"https://localhost/token\"\n  client_id \"x\"\n  auth_method tls_client_auth\n}\nclient d {\n  token_url \"https://localhost/token\"\n  client_id \"y\"\n  auth_method self_signed_tls_client_auth\n}\nstep \"s\" {\n  GET \"https://localhost/\"\n  client_cert \"client.pem\"\n  expect status == 200\n}\n",
    );
    let project = oauthspec_core::check::check_paths(&[path], &Default::default());
    let messages: Vec<String> = project
        .diagnostics
        .iter()
        .map(|d| d.render(false))
        .collect();
    let all = messages.join("\n");
    assert!(
        all.contains("needs `client_cert` for `auth_method tls_client_auth`"),
        "{all}"
    );
    assert!(
        all.contains("needs `client_key` for `auth_method self_signed_tls_client_auth`"),
        "{all}"
    );
    assert!(all.contains("`client_cert` without `client_key`"), "{all}");
    assert!(all.contains("`client_cert` is not PEM"), "{all}");
    assert!(all.contains("client_cert file(\"client.pem\")"), "{all}");
}

/// Certificate-bound tokens (RFC 8705 §3): a token asked for over the
/// client's certificate carries its thumbprint (`cnf.x5t#S256`), and the
/// API refuses it over another certificate or none.
#[tokio::test]
async fn a_certificate_bound_token_goes_only_with_its_certificate() {
    let pki = pki();
    let sandbox = tls_sandbox(&pki, Some(false)).await;
    let base = sandbox.base_url();
    let trust = |o: &mut oauthspec_core::run::RunOptions, specs: &Specs| {
        o.cacert = Some(specs.path().join("ca.pem"));
    };
    let text = format!(
        "{}\nstep \"bound\" {{\n  GET \"{base}/v1/whoami\"\n  auth mtls\n  expect status == 200\n  expect json \"$.cnf['x5t#S256']\" == \"{}\"\n}}\n\nstep \"over another certificate\" always {{\n  GET \"{base}/v1/whoami\"\n  auth mtls\n  client_cert file(\"other.pem\")\n  client_key secret(file(\"other-key.pem\"))\n  expect status == 401\n}}\n\nstep \"over none\" always {{\n  GET \"{base}/v1/whoami\"\n  auth mtls without_proof\n  expect status == 401\n  expect body contains \"bound to a client certificate\"\n}}\n",
        mtls_spec(&base, "client.pem", "client-key.pem"),
        x5t(&pki.client_cert)
    );
    let result = run_spec(&pki, &base, &text, trust).await;
    assert_passed(
        &result,
        &["orders", "bound", "over another certificate", "over none"],
    );
    // Refused, and not fetched again: the token was fine, the certificate not.
    assert_eq!(
        sandbox.stats().token,
        2,
        "one token, fetched again once after the other certificate's 401"
    );
}

/// RFC 8705 §2.2: a self-signed certificate authenticates the client it is
/// registered for, and binds its tokens; in the same sandbox
/// `tls_client_auth` still takes only what the client CA signed.
#[tokio::test]
async fn self_signed_tls_client_auth_at_the_token_endpoint() {
    let pki = pki();
    let (own_cert, own_key) = self_signed("robot");
    let (impostor_cert, impostor_key) = self_signed("robot");
    // Named like the CA-signed client, but nobody signed it.
    let (forged_cert, forged_key) = self_signed("mtls-client");
    let mut config = config();
    config.clients.push(RegisteredClient {
        id: "robot".into(),
        secret: None,
        public_key_pem: None,
        self_signed_cert_pem: Some(own_cert.clone()),
        grants: vec![GrantType::ClientCredentials],
        scopes: vec!["orders:read".into()],
        auth_methods: vec![ClientAuthMethod::SelfSignedTlsClientAuth],
        redirect_uris: Vec::new(),
    });
    let sandbox = Sandbox::start_tls(
        config,
        0,
        TlsSettings {
            cert_pem: pki.server_cert.clone(),
            key_pem: pki.server_key.clone(),
            client_ca_pem: Some(pki.ca.clone()),
            self_signed_client_certs: true,
            require_client_cert: false,
        },
    )
    .await
    .unwrap();
    let base = sandbox.base_url();
    let with_certs = |o: &mut oauthspec_core::run::RunOptions, specs: &Specs| {
        o.cacert = Some(specs.path().join("ca.pem"));
        for (name, pem) in [
            ("own.pem", &own_cert),
            ("own-key.pem", &own_key),
            ("impostor.pem", &impostor_cert),
            ("impostor-key.pem", &impostor_key),
            ("forged.pem", &forged_cert),
            ("forged-key.pem", &forged_key),
        ] {
            specs.write(name, pem);
        }
    };
    let robot = |cert: &str| {
        mtls_spec(&base, cert, &cert.replace(".pem", "-key.pem"))
            .replace("mtls-client", "robot")
            .replace("tls_client_auth", "self_signed_tls_client_auth")
    };
    let text = format!(
        "{}\nstep \"bound\" {{\n  GET \"{base}/v1/whoami\"\n  auth mtls\n  expect status == 200\n  expect json \"$.client_id\" == \"robot\"\n  expect json \"$.cnf['x5t#S256']\" == \"{}\"\n}}\n\nstep \"metadata\" {{\n  GET \"{base}/.well-known/oauth-authorization-server\"\n  expect json \"$.token_endpoint_auth_methods_supported\" contains \"self_signed_tls_client_auth\"\n  expect json \"$.tls_client_certificate_bound_access_tokens\" == true\n}}\n",
        robot("own.pem"),
        x5t(&own_cert)
    );
    let result = run_spec(&pki, &base, &text, with_certs).await;
    assert_passed(&result, &["orders", "bound", "metadata"]);

    // Another self-signed certificate, even with the same subject: refused.
    let result = run_spec(&pki, &base, &robot("impostor.pem"), with_certs).await;
    let s = step(&result, "orders");
    assert_refused(s, "not the one registered");

    // tls_client_auth: a self-signed certificate naming the client is not
    // enough, the CA-signed one still is.
    let text = mtls_spec(&base, "forged.pem", "forged-key.pem");
    let result = run_spec(&pki, &base, &text, with_certs).await;
    let s = step(&result, "orders");
    assert_refused(s, "not signed by the client CA");
    let text = mtls_spec(&base, "client.pem", "client-key.pem");
    let result = run_spec(&pki, &base, &text, with_certs).await;
    let s = step(&result, "orders");
    assert!(passed(s), "{:?} {}", s.outcome, error(s));
}
