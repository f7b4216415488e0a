//! `oauthspec monitor` against the sandbox: runs on a schedule, one token
//! for every run, one log line per run, and metrics a Prometheus scraper
//! (and promtool) accepts.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::{runs, sandbox, tool_ready, Specs};

fn spec(base: &str) -> String {
    format!(
        r#"suite "orders \"live\""
client orders {{
  token_url "{base}/oauth2/token"
  client_id "demo-client"
  client_secret secret("demo-secret")
}}
step "list" {{
  GET "{base}/v1/orders"
  auth orders
  expect status == 200
}}
step "admin" {{
  GET "{base}/v1/admin/stats"
  auth orders
  expect status == 200
}}
"#
    )
}

/// A monitor of `path`, started with `args` on a free port and killed
/// when the test ends, however it ends.
struct Monitor {
    child: Reap,
    /// Its stdout after the first line (which gave `address`).
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    address: String,
}

impl Monitor {
    fn start(path: &std::path::Path, args: &[&str]) -> Monitor {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
            .arg("monitor")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .arg(path)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let address = served_at(&lines.next().unwrap().unwrap());
        Monitor {
            child: Reap(child),
            lines,
            address,
        }
    }

    /// The next line it prints.
    fn line(&mut self) -> String {
        self.lines.next().unwrap().unwrap()
    }

    /// Its lines up to the one that contains `end`.
    fn until(&mut self, end: &str) -> Vec<String> {
        let mut said: Vec<String> = Vec::new();
        while !said.last().is_some_and(|l| l.contains(end)) {
            said.push(self.line());
        }
        said
    }

    /// Sends it a signal (`TERM`, `HUP`).
    fn signal(&self, name: &str) {
        let pid = self.child.0.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
        assert!(sent.unwrap().success());
    }

    /// Waits for it to exit: its code, the rest of its stdout, its stderr.
    fn finish(mut self) -> (Option<i32>, Vec<String>, String) {
        use std::io::Read as _;
        let rest = self.lines.by_ref().map(Result::unwrap).collect();
        let status = self.child.0.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.0.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        (status.code(), rest, stderr)
    }
}

/// The address in a monitor's first line.
fn served_at(first: &str) -> String {
    first
        .strip_prefix("monitor: metrics on http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_string()
}

/// A GET with an `Accept` header: status, content type, body.
async fn get(url: &str, accept: &str) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .get(url)
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monitor_runs_on_schedule_with_one_token_and_serves_metrics() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let path = specs.write("live.oauthspec", &spec(&base));
    let junit = specs.path().join("junit.xml");
    let junit_path = junit.to_str().unwrap();
    let mut monitor = Monitor::start(
        &path,
        &["--every", "1s", "--iterations", "3", "--junit", junit_path],
    );
    let address = monitor.address.clone();
    let run1 = monitor.line();
    assert!(
        run1.contains(" run 1: 1 passed, 1 failed, 0 skipped in ")
            && run1.ends_with("; failed: orders \"live\" › admin [scope]"),
        "{run1}"
    );

    let url = format!("http://{address}");
    let (status, kind, open) = get(
        &format!("{url}/metrics"),
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        kind,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");
    for line in [
        "oauthspec_step_up{suite=\"orders \\\"live\\\"\",step=\"list\"} 1",
        "oauthspec_step_up{suite=\"orders \\\"live\\\"\",step=\"admin\"} 0",
        "# TYPE oauthspec_step_failures counter",
        "oauthspec_step_failures_total{suite=\"orders \\\"live\\\"\",step=\"admin\",class=\"scope\"} 1",
        "oauthspec_step_failures_total{suite=\"orders \\\"live\\\"\",step=\"list\",class=\"scope\"} 0",
        "# TYPE oauthspec_step_duration_seconds histogram",
        "oauthspec_token_requests_total{client=\"orders\",outcome=\"ok\"} 1",
        "oauthspec_token_requests_total{client=\"orders\",outcome=\"server_error\"} 0",
        "oauthspec_token_request_duration_seconds_count{client=\"orders\"} 1",
        "oauthspec_runs_total{result=\"failed\"} 1",
        "oauthspec_runs_total{result=\"passed\"} 0",
        "oauthspec_run_duration_seconds_count 1",
    ] {
        assert!(open.lines().any(|l| l == line), "{line}\n{open}");
    }
    // The sandbox's token lives an hour; it is renewed 30 s before.
    let expiry: f64 = (open.lines())
        .find_map(|l| {
            l.strip_prefix("oauthspec_token_expiry_timestamp_seconds{client=\"orders\"} ")
        })
        .unwrap_or_else(|| panic!("no expiry\n{open}"))
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (3500.0..3600.0).contains(&(expiry - now)),
        "{expiry} vs {now}"
    );
    let plain = get(&format!("{url}/metrics"), "text/plain").await;
    let health = get(&format!("{url}/healthz"), "*/*").await;
    let page = get(&format!("{url}/"), "text/html").await;
    assert_eq!(plain.1, "text/plain; version=0.0.4; charset=utf-8");
    assert!(plain
        .2
        .contains("# TYPE oauthspec_step_failures_total counter"));
    assert!(!plain.2.contains("# EOF"));
    assert_eq!((health.0, health.2.as_str()), (200, "ok\n"));
    assert!(page.2.starts_with("<!DOCTYPE html>"), "{}", page.2);
    assert!(!open.contains("demo-secret") && !plain.2.contains("demo-secret"));

    // promtool reads (and lints) the Prometheus text format.
    if tool_ready(
        "the promtool check of /metrics",
        runs("promtool", "--version"),
        "apt-get install prometheus",
    ) {
        let (ok, said) = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .output_with_stdin(plain.2.as_bytes());
        assert!(ok, "promtool: {said}");
    }

    let (code, rest, _) = monitor.finish();
    assert_eq!(code, Some(1), "the last run failed: {rest:?}");
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert!(rest[1].contains(" run 3: "), "{rest:?}");
    // One token for every run: the runner and its cache live across runs.
    assert_eq!(sandbox.stats().token, 1);
    assert!(std::fs::read_to_string(&junit)
        .unwrap()
        .contains("<testsuites"));
}

trait WithStdin {
    fn output_with_stdin(&mut self, input: &[u8]) -> (bool, String);
}

impl WithStdin for Command {
    /// Runs with `input` on stdin: success, and stdout and stderr.
    fn output_with_stdin(&mut self, input: &[u8]) -> (bool, String) {
        use std::io::Write as _;
        let mut child = self
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// SIGTERM (a container stopping) ends a monitor with exit 0.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_monitor_cleanly() {
    let sandbox = sandbox().await;
    let specs = Specs::new();
    let path = specs.write("live.oauthspec", &spec(&sandbox.base_url()));
    let mut monitor = Monitor::start(&path, &["--every", "1m", "--jitter", "50ms"]);
    let run1 = monitor.line();
    assert!(run1.contains(" run 1: "), "{run1}");
    // Waiting for the next run, a minute away.
    monitor.signal("TERM");
    let (code, rest, _) = monitor.finish();
    assert_eq!(code, Some(0), "{rest:?}");
    assert_eq!(rest, ["monitor: stopped by SIGTERM"]);
}

/// Kills a child process when the test ends, however it ends.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real Prometheus scrapes a monitor of the sandbox, whose token
/// endpoint fails once (503) and whose API then refuses the token twice:
/// Prometheus's own API reports the failure classes and the recovery.
#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_scrapes_the_monitor() {
    if !tool_ready(
        "the Prometheus scrape test",
        runs("prometheus", "--version"),
        "apt-get install prometheus",
    ) {
        return;
    }
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    for fault in ["token:status=503,times=1", "api:invalid_token,times=2"] {
        sandbox.add_fault(oauthspec_sandbox::parse_fault(fault).unwrap());
    }
    let specs = Specs::new();
    let path = specs.write(
        "live.oauthspec",
        &format!(
            "suite \"orders\"\nclient orders {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret secret(\"demo-secret\")\n}}\nstep \"list\" {{\n  GET \"{base}/v1/orders\"\n  auth orders\n  expect status == 200\n}}\n"
        ),
    );
    let monitor = Monitor::start(&path, &["--every", "300ms"]);
    let target = monitor.address.clone();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = specs.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 500ms\nscrape_configs:\n  - job_name: oauthspec\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    );
    let _prometheus = Reap(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                specs.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let api = format!("http://127.0.0.1:{port}/api/v1/query");
    let query = |q: &'static str| {
        let api = api.clone();
        async move {
            let r = reqwest::Client::new()
                .get(&api)
                .query(&[("query", q)])
                .send()
                .await
                .ok()?;
            let body: serde_json::Value = serde_json::from_str(&r.text().await.ok()?).ok()?;
            let value = body["data"]["result"][0]["value"][1].as_str()?.to_string();
            Some(value)
        }
    };
    let wanted = [
        ("up{job=\"oauthspec\"}", "1"),
        ("oauthspec_step_failures_total{class=\"auth_server\"}", "1"),
        (
            "oauthspec_step_failures_total{class=\"token_rejected\"}",
            "1",
        ),
        ("oauthspec_step_up", "1"),
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        seen.clear();
        for (q, _) in wanted {
            seen.push(query(q).await);
        }
        let tokens = query("oauthspec_token_request_duration_seconds_count").await;
        let done = wanted
            .iter()
            .zip(&seen)
            .all(|((_, want), got)| got.as_deref() == Some(*want))
            && tokens
                .as_deref()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|t| t >= 2.0);
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus never saw {wanted:?}: {seen:?}, token requests {tokens:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The alert rules docs/monitoring.md offers are valid Prometheus rules.
#[test]
fn the_documented_alert_rules_are_valid() {
    if !tool_ready(
        "the promtool check of docs/alerts.yml",
        runs("promtool", "--version"),
        "apt-get install prometheus",
    ) {
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "rules", "docs/alerts.yml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SUCCESS: 7 rules found"), "{text}");
}

/// An address that cannot be had is a usage error before any run.
#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_is_a_clear_usage_error() {
    let sandbox = sandbox().await;
    let specs = Specs::new();
    let path = specs.write("live.oauthspec", &spec(&sandbox.base_url()));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .args([
            "monitor",
            "--iterations",
            "1",
            "--jitter",
            "10ms",
            "--listen",
            &address,
        ])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("error: cannot listen on {address}: ")),
        "{stderr}"
    );
    assert_eq!(sandbox.stats().api, 0, "nothing was run");
    // So is an interval that is not a duration.
    let out = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .args(["monitor", "--every", "soon"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--every"));
    // A --notify that is no URL is refused without showing it.
    let out = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .args(["monitor", "--notify", "hooks.example/s3cr3t-path"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--notify is not a URL"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

/// SIGHUP, or an edited file, makes the monitor read its specs again: a
/// broken edit is reported and counted and the previous specs keep
/// running; a good one is used from the next run.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn specs_are_reread_on_sighup_and_when_a_file_changes() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let path = specs.write("live.oauthspec", &spec(&base));
    let mut monitor = Monitor::start(&path, &["--every", "200ms"]);
    let address = monitor.address.clone();
    assert!(monitor.line().contains(" run 1: 1 passed, 1 failed"));

    monitor.signal("HUP");
    let said = monitor.until("the next run uses them");
    assert!(
        said.contains(&"monitor: re-reading the specs".to_string()),
        "{said:?}"
    );

    std::fs::write(&path, "step \"broken\" {\n  GET \"{{nowhere\"\n}\n").unwrap();
    let said = monitor.until("keep running");
    assert!(
        said.contains(&"monitor: re-reading the specs (a file changed)".to_string()),
        "{said:?}"
    );
    // The previous specs still run.
    assert!(monitor
        .until(" run ")
        .last()
        .unwrap()
        .contains(": 1 passed, 1 failed"));
    let metrics = get(&format!("http://{address}/metrics"), "text/plain")
        .await
        .2;
    assert!(
        metrics.contains("\noauthspec_spec_reload_failures_total 1\n"),
        "{metrics}"
    );

    std::fs::write(
        &path,
        spec(&base)
            .replace("step \"admin\"", "step \"health\"")
            .replace("/v1/admin/stats", "/v1/health"),
    )
    .unwrap();
    monitor.until("the next run uses them");
    let run = monitor.until(" run ").pop().unwrap();
    assert!(run.contains(": 2 passed, 0 failed"), "{run}");
    let metrics = get(&format!("http://{address}/metrics"), "text/plain")
        .await
        .2;
    assert!(
        metrics.contains("oauthspec_step_up{suite=\"orders \\\"live\\\"\",step=\"health\"} 1"),
        "{metrics}"
    );
    // The step the edit removed is gone, not down for good.
    assert!(!metrics.contains("step=\"admin\""), "{metrics}");
    assert_eq!(sandbox.stats().token, 1, "the token outlives the reload");
}

/// `--notify URL` POSTs a JSON document when a step starts or stops
/// failing (not on every run), retrying a receiver that fails.
#[tokio::test(flavor = "multi_thread")]
async fn notifications_on_state_changes_only_and_retried() {
    use axum::http::StatusCode;
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hooks/{secret}",
        axum::routing::post({
            let received = received.clone();
            let calls = calls.clone();
            move |body: String| async move {
                // The first delivery fails: it must be tried again.
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                received
                    .lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!(
        "http://{}/hooks/hook-secret-123",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let sandbox = sandbox().await;
    // `list` fails in the first run only; `admin` always fails (scope).
    sandbox.add_fault(oauthspec_sandbox::parse_fault("api:status=503,times=1").unwrap());
    let specs = Specs::new();
    let path = specs.write("live.oauthspec", &spec(&sandbox.base_url()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_oauthspec"))
            .args(["monitor", "--every", "200ms", "--iterations", "4"])
            .args(["--listen", "127.0.0.1:0", "--notify", &hook])
            .arg(&path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("not delivered (try 1 of 5): HTTP status server error (500"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("hook-secret-123") && !stderr.contains("hook-secret-123"),
        "the webhook URL is never printed: {stdout}{stderr}"
    );
    // The monitor waited for the deliveries before it exited.
    let got = received.lock().unwrap().clone();
    let summary: Vec<(String, String, String)> = got
        .iter()
        .map(|n| {
            (
                n["step"].as_str().unwrap().to_string(),
                n["state"].as_str().unwrap().to_string(),
                n["class"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    // Run 1: `list` fails and `admin` is skipped after it (no news);
    // run 2: `list` passes again and `admin` fails; runs 3 and 4: no news.
    let expected = [
        ("list", "failing", "resource"),
        ("list", "passing", "-"),
        ("admin", "failing", "scope"),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(summary, expected, "{got:#?}\n{stdout}");
    assert!(
        got[0]["message"].as_str().unwrap().contains("503"),
        "{got:#?}"
    );
    assert!(got[0]["report"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(!format!("{got:?}").contains("demo-secret"));
}

/// A report that cannot be written is logged and counted, run after run;
/// the monitor goes on probing.
#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_report_is_logged_and_counted() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let specs = Specs::new();
    let path = specs.write(
        "live.oauthspec",
        &format!("step \"up\" {{\n  GET \"{base}/v1/health\"\n  expect status == 200\n}}\n"),
    );
    // A directory where the report's parent should be is a plain file.
    let blocker = specs.write("not-a-dir", "");
    let junit = blocker.join("junit.xml");
    let mut monitor = Monitor::start(
        &path,
        &[
            "--every",
            "1s",
            "--iterations",
            "2",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let address = monitor.address.clone();
    assert!(monitor.line().contains(" run 1: 1 passed"));
    let metrics = get(&format!("http://{address}/metrics"), "text/plain")
        .await
        .2;
    assert!(
        metrics.contains("\noauthspec_write_failures_total 1\n"),
        "{metrics}"
    );
    let (code, _, stderr) = monitor.finish();
    assert_eq!(code, Some(0), "the runs passed: {stderr}");
    assert_eq!(
        stderr.matches("error: cannot write report").count(),
        2,
        "{stderr}"
    );
}

/// While notifications are still on their way, a second SIGTERM ends the
/// wait, with the code a shell gives (143).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_ends_the_wait_for_notifications() {
    // A receiver that takes the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://{}/hook", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(std::time::Duration::from_secs(30));
        drop(held);
    });
    let sandbox = sandbox().await;
    let specs = Specs::new();
    let path = specs.write("live.oauthspec", &spec(&sandbox.base_url()));
    let mut monitor = Monitor::start(&path, &["--every", "1m", "--notify", &hook]);
    assert!(monitor.line().contains(" run 1: "));
    monitor.signal("TERM");
    assert_eq!(monitor.line(), "monitor: stopped by SIGTERM");
    // Said once the second signal is listened for.
    assert_eq!(
        monitor.line(),
        "monitor: waiting up to 10 s for notifications still on their way"
    );
    monitor.signal("TERM");
    let (code, rest, _) = monitor.finish();
    assert_eq!(code, Some(143), "{rest:?}");
    assert_eq!(rest, ["monitor: stopped by SIGTERM; notifications dropped"]);
}

/// A run longer than the interval is reported, and the next one starts
/// right after it; `--every 0s` runs back to back without the report.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_longer_than_the_interval_is_reported() {
    let sandbox = sandbox().await;
    sandbox.add_fault(oauthspec_sandbox::parse_fault("api:latency=50ms").unwrap());
    let specs = Specs::new();
    let path = specs.write("live.oauthspec", &spec(&sandbox.base_url()));
    // Off the runtime that serves the sandbox.
    let run = |every: &'static str| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
                .args(["monitor", "--every", every, "--iterations", "2"])
                .args(["--listen", "127.0.0.1:0"])
                .arg(&path)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };
    let slow = run("10ms").await.unwrap();
    assert!(
        slow.contains("monitor: run 1 took longer than the interval; the next starts now"),
        "{slow}"
    );
    assert!(slow.contains(" run 2: "), "{slow}");
    let back_to_back = run("0s").await.unwrap();
    assert!(!back_to_back.contains("took longer"), "{back_to_back}");
    assert!(back_to_back.contains(" run 2: "), "{back_to_back}");
}
