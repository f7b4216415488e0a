//! No secret reaches any output: the console with -v, every report
//! format, and a monitor's log, metrics, page and notifications, in every
//! encoding a secret can travel in.

use std::process::Command;

use base64::Engine as _;

/// The forms a secret may take on the way out.
fn encodings(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json = serde_json::to_string(secret).unwrap();
    vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        json[1..json.len() - 1].to_string(),
        b64.encode(secret),
        b64url.encode(secret),
    ]
}

const EXTRA_SPEC: &str = r#"
suite "secrets everywhere"
import "clients.oauthspec"

vars {
  api_key = secret("k3y-that-must-not-show")
  user_password = secret("alice-password")
}

client alice {
  token_url "{{issuer}}/oauth2/token"
  grant password
  client_id "public-client"
  auth_method none
  username "alice"
  password "{{user_password}}"
}

step "password grant, shown in a failure" {
  POST "{{issuer}}/oauth2/token"
  form {
    grant_type = "password"
    client_id = "public-client"
    username = "alice"
    password = "{{user_password}}"
  }
  header "X-Api-Key" = "{{api_key}}"
  expect status == 299
  capture refresh = json "$.refresh_token"
}

step "managed clients" always {
  GET "{{issuer}}/v1/orders?key={{api_key}}"
  auth alice
  header "X-Api-Key" = "{{api_key}}"
  expect status == 299
}

client alice_web {
  discovery "{{issuer}}"
  grant authorization_code
  client_id "public-client"
  auth_method none
  redirect_uri "http://127.0.0.1/callback"
  scope "openid orders:read"
  login {
    username = "alice"
    password = "{{user_password}}"
  }
}

client alice_tv {
  discovery "{{issuer}}"
  grant device_code
  client_id "public-client"
  auth_method none
  scope "orders:read"
  login {
    username = "alice"
    password = "{{user_password}}"
  }
}

step "user tokens, shown in a failure" always {
  GET "{{issuer}}/v1/orders"
  auth alice_web
  expect status == 299
}

step "a device's token, shown in a failure" always {
  GET "{{issuer}}/v1/orders"
  auth alice_tv
  expect status == 299
}

client bound {
  token_url "{{issuer}}/oauth2/token"
  client_id "demo-client"
  client_secret secret("demo-secret")
  dpop true
}

step "a DPoP-bound token, shown in a failure" always {
  GET "{{issuer}}/v1/orders"
  auth bound
  expect status == 299
}

client traded {
  token_url "{{issuer}}/oauth2/token"
  grant token_exchange
  client_id "admin-client"
  client_secret secret("admin-secret")
  subject_token token(alice)
  scope "orders:read"
}

step "an exchanged token, shown in a failure" always {
  GET "{{issuer}}/v1/orders"
  auth traded
  expect status == 299
}

step "admin client" always {
  GET "{{issuer}}/v1/admin/stats"
  auth admin
  expect status == 200
  expect body contains "{{api_key}}"
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_any_output_in_any_encoding() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = crate::common::Specs::new();
    let dir = specs.path();
    for name in ["orders-smoke.oauthspec", "clients.oauthspec"] {
        std::fs::copy(format!("specs/examples/{name}"), dir.join(name)).unwrap();
    }
    specs.write("secrets.oauthspec", EXTRA_SPEC);
    let out = dir.join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .arg("run")
        .arg(dir)
        .arg("-v")
        .args(["--color", "never"])
        .arg("--junit")
        .arg(out.join("junit.xml"))
        .arg("--tap")
        .arg(out.join("report.tap"))
        .arg("--json")
        .arg(out.join("report.json"))
        .arg("--html")
        .arg(out.join("html"))
        .arg("--token-cache")
        .arg(out.join("tokens.json"))
        // A partition of one, for `report merge` below.
        .args(["--partition", "hash:1/1"])
        // The failures as GitHub annotations too.
        .env("GITHUB_ACTIONS", "true")
        .env("OAUTH_ISSUER", &base)
        .env("ORDERS_CLIENT_ID", "demo-client")
        .env("ORDERS_CLIENT_SECRET", "demo-secret")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "some steps fail on purpose");
    let merged = out.join("merged");
    let merge = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .args(["report", "merge", "--color", "never"])
        .arg(out.join("report.json"))
        .arg("--junit")
        .arg(merged.join("junit.xml"))
        .arg("--tap")
        .arg(merged.join("report.tap"))
        .arg("--json")
        .arg(merged.join("report.json"))
        .arg("--html")
        .arg(merged.join("html"))
        .output()
        .unwrap();
    assert_eq!(merge.status.code(), Some(1), "{merge:?}");
    let mut artifacts = vec![
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ),
    ];
    artifacts.push((
        "merge stdout".to_string(),
        String::from_utf8_lossy(&merge.stdout).into_owned(),
    ));
    for file in ["junit.xml", "report.tap", "report.json", "html/index.html"] {
        for (dir, name) in [
            (&out, file.to_string()),
            (&merged, format!("merged {file}")),
        ] {
            artifacts.push((name, std::fs::read_to_string(dir.join(file)).unwrap()));
        }
    }
    let stdout = &artifacts[0].1;
    assert!(stdout.contains("\n::error file="), "{stdout}");
    // The run really carried secrets: transcripts, failures, excerpts.
    assert!(stdout.contains("authorization: Basic ***"), "{stdout}");
    assert!(stdout.contains("authorization: Bearer ***"), "{stdout}");
    assert!(stdout.contains("x-api-key: ***"), "{stdout}");
    assert!(stdout.contains("\"access_token\":\"***\""), "{stdout}");

    artifacts.extend(monitor_artifacts(dir, &base).await);

    // Tokens, codes, device and user codes, session cookies.
    let tokens = sandbox.issued_tokens();
    assert!(tokens.len() >= 12, "{tokens:?}");
    let mut secrets: Vec<String> = tokens;
    secrets.extend(
        [
            "demo-secret",
            "admin-secret",
            "alice-password",
            "k3y-that-must-not-show",
            "demo-client:demo-secret",
            "admin-client:admin-secret",
        ]
        .map(String::from),
    );
    // DPoP proofs: base64url of `{"typ":"dpop+jwt",`, how each begins.
    for (name, text) in &artifacts {
        assert!(
            !text.contains("eyJ0eXAiOiJkcG9wK2p3dCIs"),
            "{name} shows a DPoP proof"
        );
    }
    assert!(
        artifacts[0].1.contains("> dpop: ***"),
        "the run sent proofs"
    );
    for secret in &secrets {
        // A secret cut short before redaction would leave its start behind.
        if secret.len() > 40 {
            let start = &secret[..32];
            for (name, text) in &artifacts {
                assert!(
                    !text.contains(start),
                    "{name} shows the start of a secret ({start:?}…)"
                );
            }
        }
        for form in encodings(secret) {
            for (name, text) in &artifacts {
                assert!(
                    !text.contains(&form),
                    "{name} shows a secret ({secret:?} as {form:?})"
                );
            }
        }
    }
    // The token cache holds tokens by design, but only its owner may read it.
    crate::common::assert_private(&out.join("tokens.json"));
}

/// The same specs under `oauthspec monitor` with notifications: its log,
/// its metrics in both formats, its page and what it POSTs.
async fn monitor_artifacts(dir: &std::path::Path, base: &str) -> Vec<(String, String)> {
    use std::io::{BufRead as _, BufReader};
    use std::sync::{Arc, Mutex};
    let posted: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let posted = posted.clone();
            move |body: String| async move { posted.lock().unwrap().push(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .args(["monitor", "--every", "500ms", "--iterations", "2"])
        .args(["--listen", "127.0.0.1:0", "--notify", &hook])
        .arg(dir)
        .env("OAUTH_ISSUER", base)
        .env("ORDERS_CLIENT_ID", "demo-client")
        .env("ORDERS_CLIENT_SECRET", "demo-secret")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = String::new();
    let first = lines.next().unwrap().unwrap();
    let address = first
        .strip_prefix("monitor: metrics on http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains(" run 1: ");
        log.push_str(&line);
        log.push('\n');
        if done {
            break;
        }
    }
    let mut artifacts = Vec::new();
    for (name, path, accept) in [
        (
            "metrics (OpenMetrics)",
            "/metrics",
            "application/openmetrics-text",
        ),
        ("metrics (0.0.4)", "/metrics", "text/plain"),
        ("monitor page", "/", "text/html"),
    ] {
        let text = reqwest::Client::new()
            .get(format!("http://{address}{path}"))
            .header("Accept", accept)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        artifacts.push((name.to_string(), text));
    }
    log.extend(lines.map(|l| l.unwrap() + "\n"));
    let out = child.wait_with_output().unwrap();
    assert!(log.contains(" run 2: "), "{log}");
    artifacts.push(("monitor log".into(), log));
    artifacts.push((
        "monitor stderr".into(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ));
    let posted = posted.lock().unwrap().join("\n");
    assert!(posted.contains("\"state\":\"failing\""), "{posted}");
    artifacts.push(("notifications".into(), posted));
    artifacts
}
