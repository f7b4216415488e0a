//! Scale-out in CI: the reports of partitions, `report merge`, and
//! GitHub annotations, through the `oauthspec` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn oauthspec(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauthspec"));
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_WORKSPACE")
        .env_remove("OAUTHSPEC_PARTITION")
        .env_remove("CI_NODE_INDEX")
        .env_remove("CI_NODE_TOTAL");
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

/// A project of 30 spec files in two directories, with an imported file
/// (not a suite): suites that pass, fail (and skip what follows), use a
/// managed client, capture values, and one that is secret.
fn thirty_files(base: &str) -> crate::common::Specs {
    let specs = crate::common::Specs::new();
    for dir in ["api", "auth"] {
        std::fs::create_dir_all(specs.path().join(dir)).unwrap();
    }
    specs.write(
        "clients.oauthspec",
        &format!(
            "vars {{\n  base = \"{base}\"\n}}\n\nclient orders {{\n  token_url \"{{{{base}}}}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret secret(\"demo-secret\")\n  scope \"orders:read\"\n}}\n"
        ),
    );
    for i in 0..30 {
        let dir = if i % 2 == 0 { "api" } else { "auth" };
        let mut text = format!("suite \"suite {i:02}\"\nimport \"../clients.oauthspec\"\n\n");
        text.push_str(
            "step \"health\" {\n  GET \"{{base}}/v1/health\"\n  expect status == 200\n  capture health = json \"$.status\"\n}\n\n",
        );
        if i % 3 == 0 {
            text.push_str(
                "step \"orders\" {\n  GET \"{{base}}/v1/orders\"\n  auth orders\n  expect status == 200\n  capture first = json \"$.orders[0].id\"\n}\n\n",
            );
        }
        if i % 5 == 0 {
            text.push_str(&format!(
                "step \"broken {i}\" {{\n  GET \"{{{{base}}}}/v1/health\"\n  expect status == 500\n  expect json \"$.status\" == \"down\"\n}}\n\nstep \"after the break\" {{\n  GET \"{{{{base}}}}/v1/health\"\n  expect status == 200\n}}\n"
            ));
        }
        specs.write(&format!("{dir}/s{i:02}.oauthspec"), &text);
    }
    specs
}

/// The report with every time and duration taken out.
fn without_timings(mut report: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for key in ["started", "duration_ms", "latency_ms"] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut report);
    report
}

/// Equal texts, or the first line that differs.
fn same(merged: &str, whole: &str) {
    let difference = merged.lines().zip(whole.lines()).find(|(m, w)| m != w);
    assert!(
        difference.is_none(),
        "merged and whole differ: {difference:?}"
    );
    assert_eq!(merged.lines().count(), whole.lines().count());
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every `NAME="…"` attribute of the document taken out.
fn without_attribute(xml: &str, name: &str) -> String {
    let needle = format!(" {name}=\"");
    let mut out = String::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&needle) {
        out.push_str(&rest[..at]);
        let after = &rest[at + needle.len()..];
        rest = &after[after.find('"').map_or(after.len(), |q| q + 1)..];
    }
    out.push_str(rest);
    out
}

/// The JUnit document without times: attributes, and the latency at the
/// end of each exchange's line (`request GET … -> 200 in 1.2ms`).
fn junit_without_timings(path: &Path) -> String {
    let xml = std::fs::read_to_string(path).unwrap();
    let xml = without_attribute(&without_attribute(&xml, "time"), "timestamp");
    (xml.lines())
        .map(|l| match l.rfind(" in ") {
            Some(at) if l.contains(" -&gt; ") => format!("{}\n", &l[..at]),
            _ => format!("{l}\n"),
        })
        .collect()
}

/// The TAP stream without its times (latencies in the YAML blocks, the
/// closing comment's duration).
fn tap_without_timings(path: &Path) -> String {
    let tap = std::fs::read_to_string(path).unwrap();
    (tap.lines())
        .filter(|l| !l.trim_start().starts_with("latency_ms:"))
        .map(|l| match l.find(" skipped in ") {
            Some(at) if l.starts_with("# ") => format!("{}\n", &l[..at]),
            _ => format!("{l}\n"),
        })
        .collect()
}

/// The merge of the JSON reports of 3 hash partitions is the report of
/// the run of everything, field by field apart from timings, in every
/// format; the shards' reports carry their partition.
#[tokio::test(flavor = "multi_thread")]
async fn merged_partitions_equal_the_whole_run() {
    let sandbox = crate::common::sandbox().await;
    let specs = thirty_files(&sandbox.base_url());
    let dir = specs.path();
    let out = tempfile::tempdir().unwrap();
    let o = |name: &str| out.path().join(name);
    // Every run reads the same tokens from the cache, so the runs do the
    // same work: without it each shard fetches its own (docs/ci.md).
    let cache = o("tokens.json");
    let run = |extra: &[&str], prefix: &str| {
        output(
            oauthspec(dir)
                .args(["run", "."])
                .args(extra)
                .arg("--token-cache")
                .arg(&cache)
                .arg("--json")
                .arg(o(&format!("{prefix}.json")))
                .arg("--junit")
                .arg(o(&format!("{prefix}.xml")))
                .arg("--tap")
                .arg(o(&format!("{prefix}.tap"))),
        )
    };
    let (code, stdout, stderr) = run(&[], "warm");
    assert_eq!(code, 1, "{stdout}{stderr}");
    let (code, whole_stdout, _) = run(&[], "whole");
    assert_eq!(code, 1);

    let mut shards = Vec::new();
    let mut durations = Vec::new();
    let mut shard_suites = Vec::new();
    for k in 1..=3 {
        let share = format!("hash:{k}/3");
        let (code, stdout, stderr) = run(&["--partition", &share], &format!("shard-{k}"));
        assert!(code == 0 || code == 1, "{stdout}{stderr}");
        let report = json(&o(&format!("shard-{k}.json")));
        assert_eq!(report["partition"]["name"], share.as_str());
        assert_eq!(report["partition"]["suites"], 30);
        let suites = report["suites"].as_array().unwrap();
        assert!(!suites.is_empty() && suites.len() < 30, "{share}");
        durations.push(report["duration_ms"].as_f64().unwrap());
        shard_suites.extend(suites.iter().cloned());
        let xml = std::fs::read_to_string(o(&format!("shard-{k}.xml"))).unwrap();
        assert!(
            xml.contains(&format!(
                "<properties>\n      <property name=\"partition\" value=\"{share}\"/>"
            )),
            "{xml}"
        );
        crate::reports::validate_junit(&xml);
        let tap = std::fs::read_to_string(o(&format!("shard-{k}.tap"))).unwrap();
        assert!(
            tap.contains(&format!("\n# partition {share} of a run of 30 suites\n")),
            "{tap}"
        );
        shards.push(o(&format!("shard-{k}.json")));
    }
    // Given in any order.
    shards.reverse();
    let (code, stdout, stderr) = output(
        oauthspec(dir)
            .args(["report", "merge"])
            .args(&shards)
            .arg("--json")
            .arg(o("merged.json"))
            .arg("--junit")
            .arg(o("merged.xml"))
            .arg("--tap")
            .arg(o("merged.tap"))
            .arg("--html")
            .arg(o("html")),
    );
    assert_eq!(
        code, 1,
        "a step failed, as in the whole run: {stdout}{stderr}"
    );
    // The same closing summary as the run of everything.
    let summary =
        |s: &str| s[s.find("failures:").unwrap()..s.find("finished in").unwrap()].to_string();
    assert_eq!(summary(&stdout), summary(&whole_stdout));

    let whole = json(&o("whole.json"));
    let merged = json(&o("merged.json"));
    assert_eq!(merged["partition"], Value::Null);
    assert_eq!(merged["summary"]["suites"], 30);
    assert_eq!(merged["summary"]["failed"], 6);
    assert_eq!(without_timings(merged.clone()), without_timings(whole));
    // Each suite keeps the times its shard measured.
    for suite in merged["suites"].as_array().unwrap() {
        let ran = (shard_suites.iter())
            .find(|s| s["index"] == suite["index"])
            .unwrap();
        for field in ["started", "duration_ms"] {
            assert_eq!(suite[field], ran[field], "{}", suite["name"]);
        }
        for (step, ran) in
            (suite["steps"].as_array().unwrap().iter()).zip(ran["steps"].as_array().unwrap())
        {
            assert_eq!(step["duration_ms"], ran["duration_ms"]);
            assert_eq!(step["latency_ms"], ran["latency_ms"]);
        }
    }
    // The shards ran side by side: the run took as long as the slowest.
    let slowest = durations.iter().cloned().fold(0.0, f64::max);
    assert!((merged["duration_ms"].as_f64().unwrap() - slowest).abs() < 0.01);

    same(
        &junit_without_timings(&o("merged.xml")),
        &junit_without_timings(&o("whole.xml")),
    );
    same(
        &tap_without_timings(&o("merged.tap")),
        &tap_without_timings(&o("whole.tap")),
    );
    // The page, with every number masked (times, bar widths).
    let masked = |path: &Path| {
        let html = std::fs::read_to_string(path).unwrap();
        let mut out = String::new();
        let mut in_number = false;
        for c in html.chars() {
            // `12ms`, `9.5ms`, `1.2s`: any number is one 0.
            let numeric = c.is_ascii_digit() || (in_number && c == '.');
            if !numeric {
                out.push(c);
            } else if !in_number {
                out.push('0');
            }
            in_number = numeric;
        }
        out
    };
    let whole_html = o("whole-html");
    let (code, ..) = output(
        oauthspec(dir)
            .args(["run", "."])
            .arg("--token-cache")
            .arg(&cache)
            .arg("--html")
            .arg(&whole_html),
    );
    assert_eq!(code, 1);
    same(
        &masked(&o("html/index.html")),
        &masked(&whole_html.join("index.html")),
    );
}

/// Reports that are not every partition of one run, by this version, are
/// refused (exit 2, nothing written) with the file and the reason.
#[tokio::test(flavor = "multi_thread")]
async fn merge_refuses_what_is_not_one_whole_run() {
    let sandbox = crate::common::sandbox().await;
    let specs = thirty_files(&sandbox.base_url());
    let dir = specs.path();
    let out = tempfile::tempdir().unwrap();
    let o = |name: &str| out.path().join(name);
    let mut shards: Vec<PathBuf> = Vec::new();
    for k in 1..=2 {
        let path = o(&format!("shard-{k}.json"));
        let (code, ..) = output(
            oauthspec(dir)
                .args(["run", ".", "--partition", &format!("count:{k}/2"), "--json"])
                .arg(&path),
        );
        assert_eq!(code, 1);
        shards.push(path);
    }
    let (code, ..) = output(
        oauthspec(dir)
            .args(["run", ".", "--json"])
            .arg(o("whole.json")),
    );
    assert_eq!(code, 1);
    let edited = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut report = json(&shards[1]);
        edit(&mut report);
        let path = o(name);
        std::fs::write(&path, report.to_string()).unwrap();
        path
    };
    let old = edited("old.json", &|r| r["tool"]["version"] = "0.0.1".into());
    let other_run = edited("other.json", &|r| {
        r["partition"]["name"] = "count:2/3".into()
    });
    std::fs::write(o("not.json"), "<testsuites/>").unwrap();
    std::fs::write(o("junit.json"), r#"{"schema":"junit"}"#).unwrap();

    let merge = |args: &[PathBuf]| {
        let merged = o("merged.xml");
        let _ = std::fs::remove_file(&merged);
        let result = output(
            oauthspec(dir)
                .args(["report", "merge"])
                .args(args)
                .arg("--junit")
                .arg(&merged),
        );
        if result.0 == 2 {
            assert!(!merged.exists(), "{args:?}: nothing is written: {result:?}");
        }
        result
    };
    let cases: Vec<(Vec<PathBuf>, String)> = vec![
        (
            vec![shards[0].clone(), old],
            format!(
                "old.json: written by oauthspec 0.0.1, and this is {}: merge with the version that ran the shards",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        (
            vec![shards[0].clone(), shards[0].clone(), shards[1].clone()],
            "shard-1.json: partition count:1/2 is also ".to_string(),
        ),
        (
            vec![shards[0].clone()],
            "shard-1.json: it is one of 2 partitions, and the report of partition 2 is missing"
                .to_string(),
        ),
        (
            vec![shards[0].clone(), other_run],
            "other.json: partition count:2/3 of 30 suites is not from the run of".to_string(),
        ),
        (
            vec![o("whole.json")],
            "whole.json: not the report of a partition (run --partition)".to_string(),
        ),
        (vec![o("not.json")], "not.json: not a JSON document".to_string()),
        (
            vec![o("junit.json")],
            "junit.json: not an oauthspec JSON report (its schema is \"junit\"".to_string(),
        ),
        (vec![o("absent.json")], "absent.json: ".to_string()),
    ];
    for (args, message) in cases {
        let (code, stdout, stderr) = merge(&args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("error: cannot merge ") && stderr.contains(&message),
            "{args:?}: expected {message:?} in\n{stderr}"
        );
    }

    // A spec file changed since the shards ran: its lines would be wrong.
    let changed = dir.join("api/s00.oauthspec");
    let text = std::fs::read_to_string(&changed).unwrap();
    std::fs::write(&changed, format!("# a new first line\n{text}")).unwrap();
    let (code, _, stderr) = merge(&[shards[0].clone(), shards[1].clone()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("api/s00.oauthspec: changed since the shards ran"),
        "{stderr}"
    );
    std::fs::write(&changed, text).unwrap();
    let (code, stdout, stderr) = merge(&[shards[1].clone(), shards[0].clone()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
}

/// In GitHub Actions (or with --annotations github) each failure is also
/// a workflow command at the line that failed, its texts escaped; the
/// path is relative to the checkout, wherever the run started.
#[tokio::test(flavor = "multi_thread")]
async fn failures_become_github_annotations() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    let specs = crate::common::Specs::new();
    std::fs::create_dir_all(specs.path().join("specs")).unwrap();
    specs.write(
        "specs/x.oauthspec",
        &format!(
            "suite \"smoke, 100%\"\n\nstep \"up: yes, really\" {{\n  GET \"{base}/v1/health\"\n  expect status == 200\n  expect json \"$.status\" == \"down\"\n}}\n\nstep \"no server\" always {{\n  GET \"http://127.0.0.1:9/\"\n  expect status == 200\n}}\n\nstep \"fine\" always {{\n  GET \"{base}/v1/health\"\n  expect status == 200\n}}\n"
        ),
    );
    let annotations = |stdout: &str| -> Vec<String> {
        (stdout.lines())
            .filter(|l| l.starts_with("::"))
            .map(str::to_string)
            .collect()
    };
    let (code, stdout, _) = output(
        oauthspec(&specs.path().join("specs"))
            .args(["run", "x.oauthspec"])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", specs.path()),
    );
    assert_eq!(code, 1);
    let lines = annotations(&stdout);
    assert_eq!(
        lines[0],
        "::error file=specs/x.oauthspec,line=6,col=3,title=smoke%2C 100% › up%3A yes%2C really (expectation)::expect json \"$.status\" == \"down\": expected == \"down\", got \"ok\""
            .replace("100%", "100%25"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("::error file=specs/x.oauthspec,line=9,col=6,title=smoke%2C 100%25 › no server (network)::could not connect to http://127.0.0.1:9/: "),
        "{stdout}"
    );
    assert_eq!(lines.len(), 2, "{stdout}");

    // Asked for outside GitHub; turned off inside it; none by default.
    let (_, stdout, _) =
        output(oauthspec(specs.path()).args(["run", "specs", "--annotations", "github"]));
    assert!(
        annotations(&stdout)[0].starts_with("::error file=specs/x.oauthspec,line=6,col=3,"),
        "{stdout}"
    );
    let (_, stdout, _) = output(
        oauthspec(specs.path())
            .args(["run", "specs", "--annotations", "none"])
            .env("GITHUB_ACTIONS", "true"),
    );
    assert!(annotations(&stdout).is_empty(), "{stdout}");
    let (_, stdout, _) = output(oauthspec(specs.path()).args(["run", "specs"]));
    assert!(annotations(&stdout).is_empty(), "{stdout}");
}
