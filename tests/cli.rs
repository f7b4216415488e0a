//! The `oauthspec` binary: exit codes, `check`, `run` and `demo` end to end.

mod common;

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

#[test]
fn demo_runs_the_examples_against_the_sandbox() {
    let (code, stdout, stderr) = output(oauthspec().arg("demo"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("orders api smoke"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "7 passed, 0 failed, 0 skipped"),
        "{stdout}"
    );
    assert!(!stdout.contains("demo-secret"));
}

#[test]
fn demo_with_a_broken_authorization_server_fails_and_says_where() {
    let (code, stdout, _) = output(oauthspec().args(["demo", "--fault", "token:status=503"]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("[auth_server]"), "{stdout}");
    assert!(
        stdout.contains("--> specs/examples/orders-smoke.oauthspec:29:3"),
        "{stdout}"
    );
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
fn run_refuses_missing_env_and_lists_all_of_it() {
    let (code, stdout, stderr) = output(oauthspec().args(["run", "specs/examples"]));
    assert_eq!(code, 2);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("error: environment variable ORDERS_CLIENT_ID is not set"));
    assert!(stderr.contains("error: environment variable ORDERS_CLIENT_SECRET is not set"));
    assert!(stderr.contains("nothing was run"));
}

#[test]
fn spec_errors_exit_2_with_a_located_message() {
    let specs = common::Specs::new();
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

#[tokio::test(flavor = "multi_thread")]
async fn run_exits_0_when_all_pass_and_1_when_a_step_fails() {
    let sandbox = common::sandbox().await;
    let base = sandbox.base_url();
    let specs = common::Specs::new();
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
