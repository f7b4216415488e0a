//! The `oauthspec` binary: exit codes, `check`, `run` and `demo` end to end.

use std::process::Command;

fn oauthspec() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauthspec"));
    cmd.env_remove("ORDERS_CLIENT_ID")
        .env_remove("ORDERS_CLIENT_SECRET")
        .env_remove("OAUTH_ISSUER")
        .env("NO_COLOR", "1");
    cmd
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run outside the source checkout: the examples are built in.
#[test]
fn demo_runs_the_examples_against_the_sandbox() {
    let elsewhere = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = output(oauthspec().arg("demo").current_dir(elsewhere.path()));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("orders api smoke"), "{stdout}");
    let examples = crate::common::example_specs();
    let summary = stdout
        .lines()
        .find(|l| l.ends_with(" passed, 0 failed, 0 skipped"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 20, "{summary}");
    // Every example file with steps ran as a suite (clients.oauthspec has none).
    assert_eq!(
        stdout.matches("target/oauthspec-demo/examples/").count(),
        examples - 1,
        "{stdout}"
    );
    // The demo leaves the examples and its reports behind, and says where.
    let out = elsewhere.path().join("target/oauthspec-demo");
    assert!(out.join("examples/orders-smoke.oauthspec").is_file());
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains(&format!("tests=\"{passed}\"")), "{junit}");
    let tap = std::fs::read_to_string(out.join("report.tap")).unwrap();
    assert!(tap.starts_with("TAP version 14"));
    assert!(
        stdout
            .contains("reports: target/oauthspec-demo/junit.xml, target/oauthspec-demo/report.tap"),
        "{stdout}"
    );
    assert!(!stdout.contains("demo-secret"));
}

#[test]
fn demo_with_a_broken_authorization_server_fails_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = output(
        oauthspec()
            .args(["demo", "--fault", "token:status=503", "--out"])
            .arg(dir.path()),
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("[auth_server]"), "{stdout}");
    assert!(
        stdout.contains("examples/orders-smoke.oauthspec:29:3"),
        "{stdout}"
    );
    assert!(dir.path().join("junit.xml").is_file());
}

#[test]
fn check_accepts_the_sketch_and_warns_about_missing_env() {
    let (code, stdout, stderr) = output(oauthspec().args(["check", "specs/examples"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("ok"), "{stdout}");
    assert!(stderr.contains("warning: environment variable ORDERS_CLIENT_ID is not set"));
    assert!(stderr.contains("warning: environment variable ORDERS_CLIENT_SECRET is not set"));
}

#[test]
fn run_strict_refuses_missing_env_and_lists_all_of_it() {
    let (code, stdout, stderr) = output(oauthspec().args(["run", "specs/examples", "--strict"]));
    assert_eq!(code, 2);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("error: environment variable ORDERS_CLIENT_ID is not set"));
    assert!(stderr.contains("error: environment variable ORDERS_CLIENT_SECRET is not set"));
    assert!(stderr.contains("nothing was run"));
}

#[test]
fn a_file_missing_a_variable_fails_as_config_and_the_others_run() {
    let specs = crate::common::Specs::new();
    specs.write(
        "a_needs_env.oauthspec",
        "step \"needs\" {\n  GET env(\"OAUTHSPEC_TEST_UNSET_URL\")\n}\nstep \"also\" {\n  GET \"http://127.0.0.1:1/\"\n}\n",
    );
    specs.write(
        "b_complete.oauthspec",
        "step \"refused\" {\n  GET \"http://127.0.0.1:1/\"\n  expect status == 200\n}\n",
    );
    let junit = specs.path().join("junit.xml");
    let (code, stdout, stderr) = output(
        oauthspec()
            .arg("run")
            .arg(specs.path())
            .arg("--junit")
            .arg(&junit)
            .env_remove("OAUTHSPEC_TEST_UNSET_URL"),
    );
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("error: environment variable OAUTHSPEC_TEST_UNSET_URL is not set"),
        "{stderr}"
    );
    // The complete file ran (and failed on its own terms).
    assert!(stdout.contains("FAIL refused"), "{stdout}");
    assert!(stdout.contains("[network]"), "{stdout}");
    // Each step of the incomplete one is a `config` error, with the reason
    // (and the summary names the cause once).
    let (steps, summary) = stdout.split_once("failures:").unwrap();
    assert_eq!(steps.matches("[config]").count(), 2, "{stdout}");
    assert_eq!(
        summary.matches("[config]").count(),
        1,
        "one cause for the file: {stdout}"
    );
    assert!(
        stdout.contains("not run: environment variable OAUTHSPEC_TEST_UNSET_URL is not set (or empty); needed at"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<error type=\"config\"").count(), 2, "{xml}");
}

#[test]
fn a_run_that_runs_nothing_is_a_usage_error() {
    let specs = crate::common::Specs::new();
    let (code, stdout, stderr) = output(oauthspec().arg("run").arg(specs.path()));
    assert_eq!(code, 2, "{stdout}");
    assert!(stderr.contains("no spec files found under"), "{stderr}");
    assert!(stderr.contains("nothing was run"), "{stderr}");
    let (code, _, _) = output(
        oauthspec()
            .arg("run")
            .arg(specs.path())
            .arg("--allow-empty"),
    );
    assert_eq!(code, 0);

    specs.write(
        "a.oauthspec",
        "step \"health\" {\n  GET \"http://127.0.0.1:1/\"\n}\n",
    );
    let filtered = || {
        let mut cmd = oauthspec();
        cmd.arg("run")
            .arg(specs.path())
            .args(["--filter", "nomatch*"]);
        cmd
    };
    let (code, stdout, stderr) = output(&mut filtered());
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stderr.contains("the filter matched no step (--filter nomatch*)"),
        "{stderr}"
    );
    let (code, stdout, _) = output(filtered().env("OAUTHSPEC_ALLOW_EMPTY", "true"));
    assert_eq!(code, 0);
    assert!(stdout.contains("0 passed, 0 failed, 0 skipped"), "{stdout}");

    let only_clients = crate::common::Specs::new();
    only_clients.write(
        "clients.oauthspec",
        "client c {\n  token_url \"http://127.0.0.1:1/t\"\n  client_id \"x\"\n  client_secret \"y\"\n}\n",
    );
    let (code, _, stderr) = output(oauthspec().arg("run").arg(only_clients.path()));
    assert_eq!(code, 2);
    assert!(stderr.contains("have no steps"), "{stderr}");
}

#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let (code, _, stderr) = output(
        oauthspec()
            .args(["run", "specs/examples"])
            .env("ORDERS_CLIENT_ID", "")
            .env("ORDERS_CLIENT_SECRET", "s"),
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("error: environment variable ORDERS_CLIENT_ID is not set (or is empty)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ORDERS_CLIENT_SECRET is not set"),
        "{stderr}"
    );
}

#[test]
fn spec_errors_exit_2_with_a_located_message() {
    let specs = crate::common::Specs::new();
    let path = specs.write(
        "bad.oauthspec",
        "step \"x\" {\n  GET \"http://127.0.0.1:1/\"\n  auth nobody\n}\n",
    );
    for command in ["check", "run"] {
        let (code, _, stderr) = output(oauthspec().arg(command).arg(&path));
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(
            stderr.contains("error: unknown client `nobody`"),
            "{stderr}"
        );
        assert!(stderr.contains("bad.oauthspec:3:8"), "{stderr}");
        assert!(stderr.contains("  auth nobody\n"), "{stderr}");
        assert!(stderr.contains("^^^^^^"), "{stderr}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = output(oauthspec().args(["run", "--var", "novalue", "specs/examples"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("expected NAME=VALUE"));
    let (code, _, _) = output(oauthspec().args(["check", "does/not/exist"]));
    assert_eq!(code, 2);
    let (code, _, _) = output(oauthspec().arg("--no-such-flag"));
    assert_eq!(code, 2);
}

/// A failed JSONPath shows the pretty body around the node it looked at,
/// in the console (marked `>`, at most 30 lines) and in the HTML report
/// (marked, with a copy button); a long body is cut with how much is left.
#[tokio::test(flavor = "multi_thread")]
async fn failures_show_the_json_body_pretty_around_the_failing_node() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = crate::common::Specs::new();
    let path = specs.write(
        "t.oauthspec",
        &format!(
            "client orders {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret secret(\"demo-secret\")\n}}\nstep \"list\" {{\n  GET \"{base}/v1/orders\"\n  auth orders\n  expect json \"$.orders[1].status\" == \"shipped\"\n}}\n"
        ),
    );
    let html = specs.path().join("html");
    let (code, stdout, _) = output(oauthspec().arg("run").arg(&path).arg("--html").arg(&html));
    assert_eq!(code, 1, "{stdout}");
    let response = stdout.split("response:\n").nth(1).unwrap();
    let marked: Vec<&str> = response
        .lines()
        .filter(|l| l.trim_start().starts_with('>'))
        .collect();
    assert_eq!(
        marked,
        ["       >       \"status\": \"processing\","],
        "{stdout}"
    );
    assert!(
        response.contains("lines above") && response.contains("lines below"),
        "{stdout}"
    );
    assert!(response.contains("\"id\": \"ord_1002\","), "{stdout}");
    assert!(
        !response.contains("ord_1001"),
        "the window, not the document: {stdout}"
    );
    let page = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(
        page.contains("<mark>      &quot;status&quot;: &quot;processing&quot;,</mark>"),
        "{page}"
    );
    assert!(page.contains("class=\"copy\""), "{page}");
}

/// Reports carry the pretty body too (a short one whole).
#[tokio::test(flavor = "multi_thread")]
async fn reports_carry_the_pretty_body() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = crate::common::Specs::new();
    let path = specs.write(
        "t.oauthspec",
        &format!(
            "step \"big\" {{\n  GET \"{base}/v1/health\"\n  expect body contains \"nowhere\"\n}}\n"
        ),
    );
    let json = specs.path().join("r.json");
    let (code, _, _) = output(oauthspec().arg("run").arg(&path).arg("--json").arg(&json));
    assert_eq!(code, 1);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let excerpt = report["suites"][0]["steps"][0]["response_excerpt"]
        .as_str()
        .unwrap();
    // The health body is small: pretty, whole, no marker.
    assert!(excerpt.starts_with("HTTP 200\n{\n  \""), "{excerpt}");
    assert!(!excerpt.contains("more bytes"), "{excerpt}");
}

/// 3 files whose first step fails on the token: the console shows each
/// failure once, the skipped steps after it as one line, and the summary
/// names the one cause; `-v` and the reports keep every step.
#[tokio::test(flavor = "multi_thread")]
async fn one_failure_one_line_and_one_cause() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = crate::common::Specs::new();
    let step = |name: &str| {
        format!("step \"{name}\" {{\n  GET \"{base}/v1/orders\"\n  auth orders\n  expect status == 200\n}}\n")
    };
    let text = format!(
        "client orders {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret secret(\"wrong-secret\")\n}}\n{}{}{}{}",
        step("get token"),
        step("list"),
        step("count"),
        step("again")
    );
    for file in ["a", "b", "c"] {
        specs.write(&format!("{file}.oauthspec"), &text);
    }
    let junit = specs.path().join("junit.xml");
    let (code, stdout, _) = output(
        oauthspec()
            .arg("run")
            .arg(specs.path())
            .arg("--junit")
            .arg(&junit),
    );
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(stdout.matches("FAIL get token").count(), 3, "{stdout}");
    assert_eq!(
        stdout
            .matches("SKIP 3 steps  (skipped: step \"get token\" failed)")
            .count(),
        3,
        "{stdout}"
    );
    assert!(!stdout.contains("SKIP list"), "{stdout}");
    assert!(
        stdout.contains(
            "failures:\n  3 files failed on the same step \"get token\": client `orders`: token endpoint answered 401 invalid_client"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("[credentials]\n\n0 passed, 3 failed, 9 skipped"),
        "{stdout}"
    );
    assert!(!stdout.contains("wrong-secret"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<skipped").count(), 9, "{xml}");

    let (_, verbose, _) = output(oauthspec().arg("run").arg(specs.path()).arg("-v"));
    assert_eq!(verbose.matches("SKIP list").count(), 3, "{verbose}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_exits_0_when_all_pass_and_1_when_a_step_fails() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = crate::common::Specs::new();
    let good = specs.write(
        "good.oauthspec",
        &format!("step \"up\" {{\n  GET \"{base}/v1/health\"\n  expect status == 200\n}}\n"),
    );
    let bad = specs.write(
        "bad.oauthspec",
        &format!("step \"down\" {{\n  GET \"{base}/v1/health\"\n  expect status == 500\n}}\n"),
    );
    let (code, stdout, _) = output(oauthspec().arg("run").arg(&good));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "1 passed, 0 failed, 0 skipped"),
        "{stdout}"
    );
    let (code, stdout, _) = output(oauthspec().arg("run").arg(&good).arg(&bad));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "1 passed, 1 failed, 0 skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("expected == 500, got 200"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn values_resolve_vars_then_vars_file_then_env_then_var_then_captures() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = crate::common::Specs::new();
    let spec = specs.write(
        "order.oauthspec",
        &format!(
            r#"vars {{
  a = "from-vars"
  b = "from-vars"
  c = env("C_ENV", "from-default")
  d = env("D_ENV", "from-default")
  e = env("E_ENV", "from-default")
}}
step "first" {{
  GET "{base}/v1/health?a={{{{a}}}}&b={{{{b}}}}&c={{{{c}}}}&d={{{{d}}}}&e={{{{e}}}}"
  expect status == 200
  capture b = json "$.status"
}}
step "second" {{
  GET "{base}/v1/health?b={{{{b}}}}"
  expect status == 200
}}
"#
        ),
    );
    let vars_file = specs.write(
        "vars.env",
        "# dotenv\nC_ENV=from-vars-file\nexport D_ENV='from-vars-file'\n",
    );
    let (code, stdout, stderr) = output(
        oauthspec()
            .args(["run", "-v", "--var", "b=from-cli", "--vars-file"])
            .arg(&vars_file)
            .arg(&spec)
            .env("D_ENV", "from-env")
            .env_remove("C_ENV")
            .env_remove("E_ENV"),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    // vars < --vars-file < environment < --var < captures.
    assert!(
        stdout.contains("?a=from-vars&b=from-cli&c=from-vars-file&d=from-env&e=from-default"),
        "{stdout}"
    );
    assert!(
        stdout.contains("/v1/health?b=ok"),
        "the capture wins: {stdout}"
    );
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let (_, _, plain) = output(oauthspec().args(["check", "--color", "never", "does/not/exist"]));
    assert!(!plain.contains('\x1b'), "{plain:?}");
    let (_, _, coloured) =
        output(oauthspec().args(["check", "--color", "always", "does/not/exist"]));
    assert!(coloured.contains("\x1b[1;31merror"), "{coloured:?}");
    // auto: no colour when not a terminal, and none with NO_COLOR either way.
    let (_, _, auto) = output(oauthspec().args(["check", "does/not/exist"]));
    assert!(!auto.contains('\x1b'), "{auto:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_run_reports_what_finished_and_exits_128_plus_the_signal() {
    use oauthspec_sandbox::parse_fault;
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    // The second suite hangs on a slow discovery endpoint.
    sandbox.add_fault(parse_fault("discovery:latency=60s").unwrap());
    let specs = crate::common::Specs::new();
    specs.write(
        "a.oauthspec",
        &format!("step \"fast\" {{\n  GET \"{base}/v1/health\"\n  expect status == 200\n}}\n"),
    );
    specs.write(
        "b.oauthspec",
        &format!(
            "step \"slow\" {{\n  GET \"{base}/.well-known/openid-configuration\"\n  expect status == 200\n}}\n"
        ),
    );
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let junit = specs.path().join(format!("junit-{signal}.xml"));
        let (tap, json, html) = (
            specs.path().join(format!("{signal}.tap")),
            specs.path().join(format!("{signal}.json")),
            specs.path().join(format!("html-{signal}")),
        );
        let child = oauthspec()
            .args(["run", "--jobs", "1", "--junit"])
            .arg(&junit)
            .arg("--tap")
            .arg(&tap)
            .arg("--json")
            .arg(&json)
            .arg("--html")
            .arg(&html)
            .arg(specs.path().join("a.oauthspec"))
            .arg(specs.path().join("b.oauthspec"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        // Until the first suite is done and the second is waiting.
        while sandbox.stats().discovery == 0 && started.elapsed().as_secs() < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(started.elapsed().as_secs() < 20, "stopped promptly");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("interrupted by SIG{signal}")),
            "{stderr}"
        );
        let report = std::fs::read_to_string(&junit).unwrap();
        assert!(report.contains("name=\"fast\""), "{report}");
        assert!(!report.contains("name=\"slow\""), "{report}");
        // No report reads as a complete run.
        let why = format!("the run was interrupted by SIG{signal}");
        assert!(report.contains("<error type=\"interrupted\""), "{report}");
        assert!(report.contains("errors=\"1\""), "{report}");
        let tap = std::fs::read_to_string(&tap).unwrap();
        assert!(tap.contains(&format!("Bail out! {why}")), "{tap}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(json["interrupted"], format!("SIG{signal}"));
        let page = std::fs::read_to_string(html.join("index.html")).unwrap();
        assert!(
            page.contains(&format!("class=\"interrupted\">{why}")),
            "{page}"
        );
        sandbox.reset_stats();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filter_selects_suites_and_fail_fast_stops_after_a_failure() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = crate::common::Specs::new();
    for (file, suite, step, status) in [
        ("a.oauthspec", "alpha", "health one", 500),
        ("b.oauthspec", "beta", "health two", 200),
        ("c.oauthspec", "gamma", "orders list", 200),
    ] {
        specs.write(
            file,
            &format!("suite \"{suite}\"\nstep \"{step}\" {{\n  GET \"{base}/v1/health\"\n  expect status == {status}\n}}\n"),
        );
    }
    let run = |args: &[&str]| {
        output(
            oauthspec()
                .arg("run")
                .args(args)
                .arg(specs.path())
                .args(["--jobs", "1"]),
        )
    };
    // By suite name, and by step name (a glob).
    let (code, stdout, _) = run(&["--filter", "beta", "--filter", "orders*"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("beta") && stdout.contains("gamma") && !stdout.contains("alpha"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l == "2 passed, 0 failed, 0 skipped"),
        "{stdout}"
    );
    // Fail fast: alpha fails first, nothing after it starts.
    let (code, stdout, _) = run(&["--fail-fast"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "0 passed, 1 failed, 0 skipped"),
        "{stdout}"
    );
    assert_eq!(
        sandbox.stats().api,
        3,
        "2 runs of the filter + 1 of fail-fast"
    );
    let (_, _, stderr) = run(&["--filter", "[oops"]);
    assert!(stderr.contains("is not a glob pattern"), "{stderr}");
}

#[test]
fn completions_and_init() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, stdout, _) = output(oauthspec().args(["completions", shell]));
        assert_eq!(code, 0);
        assert!(
            stdout.contains("oauthspec") && stdout.contains("token-cache"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = output(oauthspec().arg("init").arg(dir.path()));
    assert_eq!(code, 0, "{stdout}");
    let starter = dir.path().join("specs/starter.oauthspec");
    assert!(starter.exists() && dir.path().join(".github/workflows/oauthspec.yml").exists());
    // The starter checks clean, with no environment at all.
    let (code, stdout, stderr) = output(oauthspec().arg("check").arg(&starter));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    // The workflow installs a real package, and the spec it runs waits for
    // the service it starts instead of racing it.
    let workflow =
        std::fs::read_to_string(dir.path().join(".github/workflows/oauthspec.yml")).unwrap();
    assert!(
        workflow.contains("run: cargo install --locked oauthspec\n"),
        "{workflow}"
    );
    assert!(!workflow.contains("example.invalid"), "{workflow}");
    assert!(std::fs::read_to_string(&starter)
        .unwrap()
        .contains("retry 60 until pass"));
    // A second init refuses to overwrite.
    let (code, _, stderr) = output(oauthspec().arg("init").arg(dir.path()));
    assert_eq!(code, 2);
    assert!(stderr.contains("already exist"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_starter_spec_passes_against_the_sandbox() {
    let sandbox = crate::common::sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    crate::common::init_project(dir.path());
    let (code, stdout, stderr) = output(
        oauthspec()
            .arg("run")
            .arg(dir.path().join("specs"))
            .env("OAUTH_ISSUER", sandbox.base_url()),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.lines().any(|l| l == "3 passed, 0 failed, 0 skipped"),
        "{stdout}"
    );
}

#[test]
fn fmt_rewrites_checks_and_leaves_broken_files_alone() {
    let specs = crate::common::Specs::new();
    let messy = specs.write(
        "messy.oauthspec",
        "step \"x\"{\nGET \"http://127.0.0.1:1/\"   # keep me\n      expect status==200}\n",
    );
    let broken_text = "step \"x\" {\n  GET \"unterminated\n}\n";
    let broken = specs.write("broken.oauthspec", broken_text);
    let (code, stdout, _) = output(oauthspec().args(["fmt", "--check"]).arg(&messy));
    assert_eq!(code, 1);
    assert!(stdout.contains("would reformat"), "{stdout}");
    let (code, _, _) = output(oauthspec().arg("fmt").arg(&messy));
    assert_eq!(code, 0);
    let formatted = std::fs::read_to_string(&messy).unwrap();
    assert_eq!(
        formatted,
        // The comment keeps its column: the line's tokens did not change.
        "step \"x\" {\n  GET \"http://127.0.0.1:1/\"   # keep me\n  expect status == 200\n}\n"
    );
    let (code, _, _) = output(oauthspec().args(["fmt", "--check"]).arg(&messy));
    assert_eq!(code, 0, "idempotent");
    let (code, _, stderr) = output(oauthspec().arg("fmt").arg(&broken));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unterminated string") && stderr.contains("broken.oauthspec:2:7"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), broken_text);
}

/// Several suites at once run on the concurrent runtime; the console still
/// prints them in file order, even when the first finishes last.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_suites_print_in_file_order() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = crate::common::Specs::new();
    let names: Vec<String> = (0..8).map(|i| format!("suite {i}")).collect();
    for (i, name) in names.iter().enumerate() {
        // The first suites wait longest, so they finish last.
        let delay = 40 * (names.len() - i);
        specs.write(
            &format!("s{i}.oauthspec"),
            &format!(
                "suite \"{name}\"\nstep \"health\" {{\n  GET \"{base}/v1/health\"\n  delay {delay}ms\n  expect status == 200\n}}\n"
            ),
        );
    }
    let (code, stdout, stderr) = output(oauthspec().arg("run").arg(specs.path()));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let at: Vec<usize> = names
        .iter()
        .map(|n| {
            stdout
                .find(n.as_str())
                .unwrap_or_else(|| panic!("{n}: {stdout}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{stdout}");
}

/// The Containerfile builds an image that runs, where a working container
/// engine is at hand. It also needs an image registry for its base image,
/// which this project's CI machines cannot reach, so there it says so and
/// skips (the one tool test that does).
#[test]
fn the_container_image_builds_and_runs() {
    let works = |engine: &str| {
        Command::new(engine)
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let Some(engine) = ["podman", "docker"].into_iter().find(|e| works(e)) else {
        eprintln!("note: skipping the container build: no working podman or docker");
        return;
    };
    let root = env!("CARGO_MANIFEST_DIR");
    let tag = "localhost/oauthspec-test:latest";
    let (code, stdout, stderr) = output(
        Command::new(engine)
            .args(["build", "-t", tag, "-f", "Containerfile", "."])
            .current_dir(root),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) =
        output(Command::new(engine).args(["run", "--rm", tag, "--version"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("oauthspec "), "{stdout}");
}

/// `--partition` splits the spec files across CI jobs: every file runs in
/// exactly one share, alike for `count` and `hash`; a share with nothing
/// in it passes and says so; `check` checks every file whatever the share.
#[test]
fn partitions_split_the_files_across_jobs() {
    let specs = crate::common::Specs::new();
    for i in 0..7 {
        // Each step fails (nothing listens on port 1): its name shows
        // which files a share ran.
        specs.write(
            &format!("s{i}.oauthspec"),
            &format!("step \"file {i}\" {{\n  GET \"http://127.0.0.1:1/\"\n}}\n"),
        );
    }
    let ran = |share: &str| -> Vec<String> {
        let (code, stdout, stderr) =
            output(
                oauthspec()
                    .current_dir(specs.path())
                    .args(["run", ".", "--partition", share]),
            );
        assert!(code == 1 || code == 0, "{share}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("note: partition {share}: ")),
            "{stderr}"
        );
        (0..7)
            .filter(|i| stdout.contains(&format!("FAIL file {i}")))
            .map(|i| i.to_string())
            .collect()
    };
    for method in ["count", "hash"] {
        let mut all: Vec<String> = (1..=3)
            .flat_map(|k| ran(&format!("{method}:{k}/3")))
            .collect();
        all.sort();
        assert_eq!(all, ["0", "1", "2", "3", "4", "5", "6"], "{method}");
    }
    assert_eq!(ran("count:1/3"), ["0", "3", "6"]);

    // More shards than files: the empty one passes, and says so.
    let (code, stdout, stderr) = output(oauthspec().current_dir(specs.path()).args([
        "run",
        ".",
        "--partition",
        "count:9/9",
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("partition count:9/9: 0 of 7 spec files: nothing to run here"),
        "{stderr}"
    );

    // `auto` with no CI variables runs every file, and says so.
    let (_, stdout, stderr) = output(
        oauthspec()
            .current_dir(specs.path())
            .env_remove("CI_NODE_INDEX")
            .env_remove("BUILDKITE_PARALLEL_JOB")
            .args(["run", ".", "--partition", "auto"]),
    );
    assert!(
        stderr.contains("--partition auto: no CI partition variables"),
        "{stderr}"
    );
    assert_eq!(stdout.matches("FAIL file").count(), 7, "{stdout}");
    // GitLab's variables.
    let (_, stdout, _) = output(
        oauthspec()
            .current_dir(specs.path())
            .env("CI_NODE_INDEX", "1")
            .env("CI_NODE_TOTAL", "3")
            .args(["run", ".", "--partition", "auto"]),
    );
    assert_eq!(stdout.matches("FAIL file").count(), 3, "{stdout}");

    // A syntax error in a file of another share still stops the run.
    specs.write("s7.oauthspec", "step \"broken\" {\n  GET \"http://x/\n}\n");
    let (code, _, stderr) = output(oauthspec().current_dir(specs.path()).args([
        "run",
        ".",
        "--partition",
        "count:1/9",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unterminated string"), "{stderr}");
}
