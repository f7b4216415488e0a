//! Interop with independent OAuth servers: the specs under tests/interop/
//! run against oidc-provider (a certified OpenID provider) and
//! oauth2-mock-server, both node packages pinned by
//! tests/interop/package-lock.json and started on loopback by the launcher
//! scripts beside them.
//!
//! Needs `npm ci --prefix tests/interop`. Without tests/interop/node_modules
//! the tests are skipped with a note, unless `CI` is set: then they fail.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{failures, run_with};
use oauthspec_core::check::value::Environment;
use oauthspec_core::check::CheckOptions;
use oauthspec_core::results::{AttemptKind, FailureClass, Outcome, RunResult};
use oauthspec_core::run::RunOptions;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Whether node and the interop servers' packages are installed.
fn node_ready(test: &str) -> bool {
    let modules = interop_dir().join("node_modules");
    crate::common::tool_ready(
        test,
        crate::common::runs("node", "--version")
            && modules.join("oidc-provider").is_dir()
            && modules.join("oauth2-mock-server").is_dir(),
        "install node and run `npm ci --prefix tests/interop`",
    )
}

/// A launcher script running under node; killed on drop.
struct Server {
    child: Child,
    url: String,
    /// The `TOKEN ...` lines it printed, one per token endpoint answer.
    tokens: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(script: &str, envs: &[(&str, &str)]) -> Server {
        let mut child = Command::new("node")
            .arg(script)
            .arg("0")
            .current_dir(interop_dir())
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        {
            let tokens = tokens.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("READY ") {
                        let _ = ready_tx.send(url.trim().to_string());
                    } else if line.starts_with("TOKEN ") {
                        tokens.lock().unwrap().push(line);
                    }
                }
            });
        }
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stderr_pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let mut server = Server {
            child,
            url: String::new(),
            tokens,
            stderr,
        };
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(url) => server.url = url,
            Err(_) => {
                let status = server.child.try_wait().ok().flatten();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "{script} did not print READY within {READY_TIMEOUT:?} (exit: {status:?})\nstderr:\n{}",
                    server.stderr()
                );
            }
        }
        assert!(
            ["http://127.0.0.1:", "https://127.0.0.1:"]
                .iter()
                .any(|loopback| server.url.starts_with(loopback)),
            "{script} serves {}, not loopback",
            server.url
        );
        server
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The TOKEN lines, once `ok` and `error` lines reach the expected
    /// counts (the reader thread may lag the run by a moment) or 5 s pass.
    fn token_lines(&self, ok: usize, error: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let lines = self.tokens.lock().unwrap().clone();
            let count = |kind: &str| {
                lines
                    .iter()
                    .filter(|l| l.split(' ').nth(1) == Some(kind))
                    .count()
            };
            if (count("ok") >= ok && count("error") >= error) || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn options(vars: &[(&str, &str)]) -> RunOptions {
    let mut env = Environment::default();
    for (name, value) in vars {
        env.fixed.insert(name.to_string(), value.to_string());
    }
    RunOptions {
        check: CheckOptions {
            env,
            ..CheckOptions::default()
        },
        timeout: Duration::from_secs(15),
        transcripts: true,
        ..RunOptions::default()
    }
}

/// Every step's problems, for a failure message.
fn describe(result: &RunResult) -> String {
    let mut out = String::new();
    for suite in &result.suites {
        for step in &suite.steps {
            out.push_str(&format!("[{:?}] {}\n", step.outcome, step.name));
            if let Some(error) = &step.error {
                out.push_str(&format!("    error: {error}\n"));
            }
            for f in failures(step) {
                out.push_str(&format!("    expect {f}\n"));
            }
            if let Some(excerpt) = step
                .response_excerpt
                .as_ref()
                .filter(|_| !matches!(step.outcome, Outcome::Passed))
            {
                out.push_str(&format!("    response: {excerpt}\n"));
            }
        }
    }
    out
}

fn assert_all_passed(result: &RunResult, server: &Server) {
    let counts = result.counts();
    assert!(
        counts.failed == 0 && counts.skipped == 0 && counts.passed > 0,
        "{counts:?}\n{}\nserver stderr:\n{}",
        describe(result),
        server.stderr()
    );
}

/// Direct token requests (steps that POST to the token endpoint) that got
/// an answer with `status`.
fn direct_token_requests(result: &RunResult, token_endpoint_suffix: &str, status: u16) -> usize {
    result
        .suites
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|s| &s.attempts)
        .filter(|a| {
            a.kind == AttemptKind::Request
                && a.method == "POST"
                && a.url.ends_with(token_endpoint_suffix)
                && a.status == Some(status)
        })
        .count()
}

/// Managed-client token requests that got `status`.
fn managed_token_requests(result: &RunResult, status: u16) -> usize {
    result
        .suites
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|s| &s.attempts)
        .filter(|a| a.kind == AttemptKind::Token && a.status == Some(status))
        .count()
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

/// oidc-provider started for specs that need no private_key_jwt client
/// (its key is made and dropped), and `spec` of tests/interop/ run against
/// it.
async fn run_against_oidc_provider(spec: &str) -> (RunResult, Server) {
    let keys = tempfile::tempdir().expect("a temporary directory");
    let (public_pem, _) = client_key(keys.path());
    let server = Server::start(
        "oidc-provider.mjs",
        &[("INTEROP_CLIENT_PUBLIC_KEY", &public_pem)],
    );
    let (result, _) = run_with(
        &[interop_dir().join(spec)],
        options(&[("OIDC_ISSUER", server.url.as_str())]),
    )
    .await;
    (result, server)
}

/// A fresh RSA key for the private_key_jwt client: the public half goes to
/// the provider's client registration, the private half to a temporary file
/// the spec reads with `file(...)`.
fn client_key(dir: &Path) -> (String, PathBuf) {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("an RSA key");
    let public = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("a public PEM");
    let path = dir.join("client-key.pem");
    std::fs::write(
        &path,
        private
            .to_pkcs1_pem(LineEnding::LF)
            .expect("a private PEM")
            .as_bytes(),
    )
    .expect("write the private key");
    (public, path)
}

#[tokio::test]
async fn oidc_provider_interop() {
    if !node_ready("oidc_provider_interop") {
        return;
    }
    let keys = tempfile::tempdir().expect("a temporary directory");
    let (public_pem, key_file) = client_key(keys.path());
    let kid = "interop-key";
    let server = Server::start(
        "oidc-provider.mjs",
        &[
            ("INTEROP_CLIENT_PUBLIC_KEY", &public_pem),
            ("INTEROP_CLIENT_KEY_ID", kid),
        ],
    );
    let key_file = key_file.to_str().expect("a UTF-8 temp path");
    let vars = [
        ("OIDC_ISSUER", server.url.as_str()),
        ("OIDC_CLIENT_KEY_FILE", key_file),
        ("OIDC_CLIENT_KEY_ID", kid),
    ];

    // Every step of the main spec passes.
    let (result, runner) = run_with(
        &[interop_dir().join("oidc-provider.oauthspec")],
        options(&vars),
    )
    .await;
    assert_all_passed(&result, &server);
    assert_eq!(result.counts().passed, 21, "{}", describe(&result));
    // Managed clients basic, post, signed (private_key_jwt) and direct: one
    // token each, however often used.
    assert_eq!(runner.tokens.requests_sent(), 4);
    assert_eq!(managed_token_requests(&result, 200), 4);
    // Direct requests: basic, post, post-via-basic and the opaque one;
    // refused: wrong basic secret, wrong post secret, a secret for the
    // private_key_jwt client (401), an unknown resource and two auth
    // mechanisms at once (400).
    assert_eq!(direct_token_requests(&result, "/token", 200), 4);
    assert_eq!(direct_token_requests(&result, "/token", 401), 3);
    assert_eq!(direct_token_requests(&result, "/token", 400), 2);
    // What the provider itself saw.
    assert_eq!(
        sorted(server.token_lines(8, 5)),
        sorted(vec![
            "TOKEN ok cc-basic client_credentials".into(),
            "TOKEN ok cc-basic client_credentials".into(),
            "TOKEN ok cc-basic client_credentials".into(),
            "TOKEN ok cc-post client_credentials".into(),
            "TOKEN ok cc-post client_credentials".into(),
            "TOKEN ok cc-post client_credentials".into(),
            "TOKEN ok cc-post client_credentials".into(),
            "TOKEN ok cc-jwt client_credentials".into(),
            "TOKEN error cc-basic invalid_client".into(),
            "TOKEN error cc-post invalid_client".into(),
            "TOKEN error cc-jwt invalid_client".into(),
            "TOKEN error cc-basic invalid_target".into(),
            "TOKEN error - invalid_request".into(),
        ])
    );

    // Managed clients the provider refuses: each step fails as a
    // credentials failure that names invalid_client, after one request.
    let (result, runner) = run_with(
        &[interop_dir().join("oidc-provider-refusals.oauthspec")],
        options(&vars),
    )
    .await;
    let steps = &result.suites[0].steps;
    assert_eq!(steps.len(), 3);
    for step in steps {
        let error = step.error.as_deref().unwrap_or_default();
        assert!(
            matches!(step.outcome, Outcome::Failed(FailureClass::Credentials))
                && error.contains("invalid_client"),
            "{}: {:?} {error:?}\n{}",
            step.name,
            step.outcome,
            describe(&result)
        );
        assert!(
            step.attempts.iter().all(|a| a.kind == AttemptKind::Token),
            "{}: no request may follow a refused token: {:?}",
            step.name,
            step.attempts
        );
        assert!(
            !error.contains("not-the-secret") && !error.contains("cc-basic-secret"),
            "{}: a secret leaked into the error: {error}",
            step.name
        );
    }
    assert_eq!(runner.tokens.requests_sent(), 3);
    assert_eq!(managed_token_requests(&result, 401), 3);
    let lines = server.token_lines(7, 7);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.ends_with(" invalid_client"))
            .count(),
        6,
        "{lines:?}"
    );
}

/// Users' tokens from oidc-provider, signed in headlessly on its
/// development pages: the authorization code flow with PKCE and the device
/// flow, each token accepted by its userinfo endpoint, each renewable.
#[tokio::test(flavor = "multi_thread")]
async fn oidc_provider_user_tokens_interop() {
    if !node_ready("oidc_provider_user_tokens_interop") {
        return;
    }
    let (result, server) = run_against_oidc_provider("oidc-provider-users.oauthspec").await;
    assert_all_passed(&result, &server);
    assert_eq!(result.counts().passed, 2);
    // The pages each flow went through.
    let pages = |step: usize| -> Vec<String> {
        result.suites[0].steps[step]
            .attempts
            .iter()
            .filter(|a| a.kind == AttemptKind::Token)
            .map(|a| {
                let path = a.url.trim_start_matches(&server.url);
                let path = path.split('/').take(2).collect::<Vec<_>>().join("/");
                format!("{} {path}", a.method)
            })
            .collect()
    };
    let code = pages(0);
    assert_eq!(
        code.first().map(String::as_str),
        Some("GET /auth"),
        "{code:?}"
    );
    assert!(code.contains(&"POST /interaction".to_string()), "{code:?}");
    assert_eq!(
        code.last().map(String::as_str),
        Some("POST /token"),
        "{code:?}"
    );
    let device = pages(1);
    assert_eq!(
        device.first().map(String::as_str),
        Some("POST /device"),
        "{device:?}"
    );
    assert_eq!(
        device.last().map(String::as_str),
        Some("POST /token"),
        "{device:?}"
    );
    // Renewable: each flow brought a refresh token (offline_access).
    for step in &result.suites[0].steps {
        let token = step
            .attempts
            .iter()
            .rfind(|a| a.url.ends_with("/token"))
            .unwrap();
        let transcript = token.transcript.as_deref().unwrap_or_default();
        assert!(
            transcript.contains("\"refresh_token\":\"***\""),
            "{transcript}"
        );
    }
    let lines = server.token_lines(2, 0);
    for expected in [
        "TOKEN ok spa authorization_code",
        "TOKEN ok tv urn:ietf:params:oauth:grant-type:device_code",
    ] {
        assert!(lines.iter().any(|l| l == expected), "{expected}: {lines:?}");
    }
}

/// DPoP-bound client-credentials tokens from oidc-provider: its token type
/// DPoP and `cnf.jkt` the thumbprint of our key, accepted with a proof and
/// refused without; and the nonce round trip for a client that needs one.
#[tokio::test(flavor = "multi_thread")]
async fn oidc_provider_dpop_interop() {
    if !node_ready("oidc_provider_dpop_interop") {
        return;
    }
    let (result, server) = run_against_oidc_provider("oidc-provider-dpop.oauthspec").await;
    assert_all_passed(&result, &server);
    assert_eq!(result.counts().passed, 3);
    // The provider asked for its nonce once, and then issued.
    let nonced = &result.suites[0].steps[0];
    let token_statuses: Vec<Option<u16>> = (nonced.attempts.iter())
        .filter(|a| a.kind == AttemptKind::Token)
        .map(|a| a.status)
        .collect();
    assert_eq!(
        token_statuses,
        [Some(400), Some(200)],
        "{}",
        describe(&result)
    );
    let lines = server.token_lines(2, 1);
    assert!(
        lines
            .iter()
            .any(|l| l == "TOKEN error cc-dpop-nonce use_dpop_nonce"),
        "{lines:?}"
    );
}

/// Certificate-bound tokens from oidc-provider over HTTPS (its mTLS
/// feature): `tls_client_auth` with a certificate the test CA signed and
/// `self_signed_tls_client_auth` with a registered self-signed one; each
/// token's `cnf.x5t#S256` is its certificate's, and the resource refuses
/// it over none or another.
#[tokio::test(flavor = "multi_thread")]
async fn oidc_provider_mtls_interop() {
    if !node_ready("oidc_provider_mtls_interop") {
        return;
    }
    let pki = crate::tls::pki();
    let (self_signed, self_signed_key) = crate::tls::self_signed("interop-robot");
    let certs = tempfile::tempdir().expect("a temporary directory");
    let write = |name: &str, pem: &str| {
        let path = certs.path().join(name);
        std::fs::write(&path, pem).expect("write a PEM file");
        path.to_str().expect("a UTF-8 temp path").to_string()
    };
    let ca = write("ca.pem", &pki.ca);
    write("client.pem", &pki.client_cert);
    write("client-key.pem", &pki.client_key);
    write("self-signed.pem", &self_signed);
    write("self-signed-key.pem", &self_signed_key);
    let keys = tempfile::tempdir().expect("a temporary directory");
    let (public_pem, _) = client_key(keys.path());
    let server = Server::start(
        "oidc-provider.mjs",
        &[
            ("INTEROP_CLIENT_PUBLIC_KEY", &public_pem),
            ("INTEROP_TLS_CERT", &pki.server_cert),
            ("INTEROP_TLS_KEY", &pki.server_key),
            ("INTEROP_TLS_CLIENT_CA", &pki.ca),
            ("INTEROP_SELF_SIGNED_CERT", &self_signed),
            // The resource fetches the provider's keys over HTTPS too.
            ("NODE_EXTRA_CA_CERTS", &ca),
        ],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let (client_x5t, self_signed_x5t) = (
        crate::tls::x5t(&pki.client_cert),
        crate::tls::x5t(&self_signed),
    );
    let mut options = options(&[
        ("OIDC_ISSUER", server.url.as_str()),
        ("OIDC_CERT_DIR", certs.path().to_str().unwrap()),
        ("OIDC_CLIENT_X5T", &client_x5t),
        ("OIDC_SELF_SIGNED_X5T", &self_signed_x5t),
    ]);
    options.cacert = Some(ca.into());
    let (result, _) = run_with(
        &[interop_dir().join("oidc-provider-mtls.oauthspec")],
        options,
    )
    .await;
    assert_all_passed(&result, &server);
    assert_eq!(result.counts().passed, 4);
    // Both clients authenticated by certificate, and nothing refused.
    let lines = server.token_lines(2, 0);
    for expected in [
        "TOKEN ok cc-mtls client_credentials",
        "TOKEN ok cc-self-signed client_credentials",
    ] {
        assert!(lines.iter().any(|l| l == expected), "{expected}: {lines:?}");
    }
    assert!(
        lines.iter().all(|l| l.starts_with("TOKEN ok ")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn oauth2_mock_server_interop() {
    if !node_ready("oauth2_mock_server_interop") {
        return;
    }
    let server = Server::start("oauth2-mock-server.mjs", &[]);
    let (result, runner) = run_with(
        &[interop_dir().join("oauth2-mock-server.oauthspec")],
        options(&[("MOCK_ISSUER", server.url.as_str())]),
    )
    .await;
    assert_all_passed(&result, &server);
    assert_eq!(result.counts().passed, 11, "{}", describe(&result));
    // Managed clients mock (basic) and mock_post: one token each.
    assert_eq!(runner.tokens.requests_sent(), 2);
    assert_eq!(managed_token_requests(&result, 200), 2);
    assert_eq!(direct_token_requests(&result, "/token", 200), 2);
    assert_eq!(direct_token_requests(&result, "/token", 401), 1);
    let lines = server.token_lines(4, 1);
    let count = |line: &str| lines.iter().filter(|l| *l == line).count();
    assert_eq!(
        count("TOKEN ok mock-client client_credentials"),
        4,
        "{lines:?}"
    );
    assert_eq!(
        count("TOKEN error mock-client invalid_client"),
        1,
        "{lines:?}"
    );
    assert_eq!(lines.len(), 5, "{lines:?}");
}
