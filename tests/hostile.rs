//! Hostile input: servers and specs that try to make oauthspec leak a
//! secret, crash, or print what the terminal would obey. Each case runs the
//! binary with every report and `-v`, and searches everything it wrote.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;

/// A loopback HTTP/1.1 server answering each path prefix with a fixed
/// status and body; `{auth}` and `{path}` in a body are replaced by the
/// request's Authorization header and path, as debugging endpoints echo
/// them.
fn server(routes: Vec<(&'static str, u16, String)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            let _ = stream.read_exact(&mut body);
            let path = head.split(' ').nth(1).unwrap_or("/").to_string();
            let auth = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("authorization")
                        .then(|| value.trim().to_string())
                })
                .unwrap_or_default();
            let (status, text) = routes
                .iter()
                .find(|(prefix, _, _)| path.starts_with(prefix))
                .map(|(_, s, b)| (*s, b.replace("{auth}", &auth).replace("{path}", &path)))
                .unwrap_or((404, "{}".into()));
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    base
}

/// Runs `oauthspec ARGS` with every report and `-v`; returns the exit code
/// and all it wrote: stdout, stderr and each report.
fn run_everything(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .args(args)
        .arg("-v")
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .arg("--tap")
        .arg(dir.join("report.tap"))
        .arg("--json")
        .arg(dir.join("report.json"))
        .arg("--html")
        .arg(dir.join("html"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all += &String::from_utf8_lossy(&out.stderr);
    for report in ["junit.xml", "report.tap", "report.json", "html/index.html"] {
        all += &std::fs::read_to_string(dir.join(report)).unwrap_or_default();
    }
    (out.status.code().unwrap_or(-1), all)
}

/// The forms a secret must not be found in.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let mut forms = vec![
        secret.to_string(),
        json[1..json.len() - 1].to_string(),
        json[1..json.len() - 1].replace('/', "\\/"),
        base64::engine::general_purpose::STANDARD.encode(secret),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ];
    let mut ascii = String::new();
    for c in secret.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            ascii += &format!("\\u{:04x}", c as u32);
        }
    }
    forms.push(ascii.replace('/', "\\/"));
    let mut url = url::Url::parse("http://h/").unwrap();
    url.set_path(secret);
    forms.push(url.path()[1..].to_string());
    url.set_query(Some(secret));
    forms.push(url.query().unwrap().to_string());
    forms
}

fn assert_hidden(all: &str, secrets: &[&str]) {
    for secret in secrets {
        for form in forms(secret) {
            assert!(
                !all.contains(&form),
                "{form:?} (of {secret:?}) leaked:\n{all}"
            );
        }
    }
}

#[test]
fn tokens_are_hidden_however_the_token_endpoint_writes_them() {
    let token = |body: &str| (200, body.to_string());
    let mut routes: Vec<(&'static str, u16, String)> = Vec::new();
    for (prefix, (status, body)) in [
        // PHP escapes `/`; Python and Java escape non-ASCII.
        (
            "/php/",
            token(
                r#"{"access_token":"php\/tok\/en-9f8e7d6c","token_type":"Bearer","expires_in":60,"id-token":"hyphen-name-tok-4321","x\u002dauth\u002dtoken":"escaped-name-tok-8765"}"#,
            ),
        ),
        (
            "/py/",
            token(
                r#"{"access_token":"py-t\u00f6ken-5a4b3c2d","token_type":"Bearer","expires_in":60}"#,
            ),
        ),
        // Not valid JSON: never parsed, still scanned.
        (
            "/trailing/",
            token(
                r#"{"access_token":"trailing-tok-1a2b3c4d","refresh_token":"trailing-ref-99887766","token_type":"Bearer"} junk"#,
            ),
        ),
        (
            "/huge/",
            token(
                r#"{"access_token":"huge-num-tok-55443322","token_type":"Bearer","expires_in":1e400}"#,
            ),
        ),
        (
            "/twice/",
            token(
                r#"{"access_token":"twice-first-11223344","access_token":"twice-second-55667788","token_type":"Bearer"}"#,
            ),
        ),
    ] {
        routes.push((prefix, status, body));
    }
    // The API echoes the credential it was sent, JSON-escaped.
    routes.push((
        "/api",
        401,
        r#"{"error":"invalid_token","seen":"{auth}"}"#.into(),
    ));
    let base = server(routes);
    let mut spec = String::new();
    for name in ["php", "py", "trailing", "huge", "twice"] {
        spec += &format!(
            "client {name} {{\n  token_url \"{base}/{name}/token\"\n  client_id \"c\"\n  client_secret secret(\"client-secret-{name}-0000\")\n}}\nstep \"{name}\" {{\n  GET \"{base}/api\"\n  auth {name}\n  expect status == 200\n}}\n"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oauthspec");
    std::fs::write(&path, spec).unwrap();
    let (code, all) = run_everything(dir.path(), &["run", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{all}");
    // The runs got far enough to show what they were sent.
    assert!(all.contains("\"seen\":\"Bearer ***\""), "{all}");
    assert_hidden(
        &all,
        &[
            "php/tok/en-9f8e7d6c",
            "hyphen-name-tok-4321",
            "escaped-name-tok-8765",
            "py-töken-5a4b3c2d",
            "trailing-tok-1a2b3c4d",
            "trailing-ref-99887766",
            "huge-num-tok-55443322",
            "twice-first-11223344",
            "twice-second-55667788",
            "client-secret-php-0000",
        ],
    );
}

#[test]
fn a_secret_in_a_url_is_hidden_in_the_url_librarys_own_encoding() {
    let base = server(vec![("/echo", 404, r#"{"path":"{path}"}"#.into())]);
    let secret = "sp ace!$'(x)*,;=:@~k3y";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oauthspec");
    std::fs::write(
        &path,
        format!(
            "vars {{ key = secret(\"{secret}\") }}\nstep \"s\" {{\n  GET \"{base}/echo/{{{{key}}}}?k={{{{key}}}}\"\n  query {{ q = \"{{{{key}}}}\" }}\n  expect status == 200\n}}\n"
        ),
    )
    .unwrap();
    let (code, all) = run_everything(dir.path(), &["run", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{all}");
    assert!(all.contains("/echo/***"), "{all}");
    assert_hidden(&all, &[secret]);
}

#[test]
fn check_does_not_print_a_secret_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oauthspec");
    std::fs::write(
        &path,
        "vars { u = secret(\"not a url hunter2-url-secret\") }\nstep \"s\" {\n  GET \"{{u}}\"\n}\n",
    )
    .unwrap();
    let (code, _, stderr) = bounded(&["check", path.to_str().unwrap()], SECONDS_20);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn server_bytes_cannot_drive_the_terminal() {
    let body = "{\"x\":\"\u{1b}[2J\u{1b}]0;owned\u{7}\rover\u{0}\"}".to_string();
    let base = server(vec![("/", 500, body)]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oauthspec");
    std::fs::write(
        &path,
        format!("step \"s\" {{\n  GET \"{base}/\"\n  expect status == 200\n  expect json \"$.x\" == \"y\"\n}}\n"),
    )
    .unwrap();
    let (code, stdout, _) = bounded(&["run", "-v", path.to_str().unwrap()], SECONDS_20);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("\\u{1b}[2J"), "shown escaped: {stdout}");
    for c in ['\u{1b}', '\u{7}', '\r', '\u{0}'] {
        assert!(
            !stdout.contains(c),
            "{c:?} reached the terminal: {stdout:?}"
        );
    }
}

/// Runs the binary with `args`, failing the test if it takes longer than
/// `limit` (a hang) or dies of a signal (a crash); returns (code, stdout,
/// stderr).
fn bounded(args: &[&str], limit: std::time::Duration) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("oauthspec {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("oauthspec {args:?} crashed: {:?}", out.status));
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SECONDS_20: std::time::Duration = std::time::Duration::from_secs(20);

#[test]
fn deep_nesting_in_a_spec_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [
        (
            "objects",
            format!("json {}1{}", "{\"a\":".repeat(9000), "}".repeat(9000)),
        ),
        (
            "arrays",
            format!("json {}{}", "[".repeat(15000), "]".repeat(15000)),
        ),
        (
            "calls",
            format!("body {}\"x\"{}", "secret(".repeat(5000), ")".repeat(5000)),
        ),
    ] {
        let path = dir.path().join(format!("{name}.oauthspec"));
        std::fs::write(
            &path,
            format!("step \"s\" {{\n  POST \"http://127.0.0.1:1/\"\n  {body}\n}}\n"),
        )
        .unwrap();
        let path = path.to_str().unwrap();
        for command in ["check", "run", "fmt"] {
            let (code, _, stderr) = bounded(&[command, path], SECONDS_20);
            assert_eq!(code, 2, "{name} {command}: {stderr}");
            assert!(
                stderr.contains("brackets nest deeper than 130 levels"),
                "{stderr}"
            );
            assert!(stderr.contains(&format!("{name}.oauthspec:3:")), "{stderr}");
        }
    }
    // An unknown top-level statement reads `#` and an unclosed quote as
    // plain characters, and nests the braces after them.
    for (name, text) in [
        ("after-hash", format!("x # {}\n", "{\"}\"".repeat(20_000))),
        ("after-quote", format!("x \"\"\" {}\n", "{".repeat(20_000))),
    ] {
        let path = dir.path().join(format!("{name}.oauthspec"));
        std::fs::write(&path, text).unwrap();
        let (code, _, stderr) = bounded(&["check", path.to_str().unwrap()], SECONDS_20);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains("brackets nest deeper"), "{name}: {stderr}");
    }
}

#[test]
fn deep_responses_and_explosive_jsonpaths_fail_as_expectations() {
    let nested = |levels: usize| format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels));
    let base = server(vec![
        ("/deep", 200, nested(10_000)),
        ("/a120", 200, nested(120)),
        (
            "/big",
            200,
            format!("[{}\"x\"]", "\"aaaaaaaaaa\",".repeat(200_000)),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oauthspec");
    std::fs::write(
        &path,
        format!(
            r#"step "deep" always {{
  GET "{base}/deep"
  expect json "$.a" exists
}}
step "descents" always {{
  GET "{base}/a120"
  expect json "$..a..a..a..a" exists
}}
step "regex" always {{
  GET "{base}/big"
  expect json "$[?search(@, '(a|aa)*b')]" exists
}}
"#
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = bounded(&["run", path.to_str().unwrap()], SECONDS_20);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let (steps, _) = stdout.split_once("failures:").unwrap();
    assert_eq!(steps.matches("[expectation]").count(), 3, "{stdout}");
    assert!(stdout.contains("the body is not JSON"), "{stdout}");
    assert!(
        stdout.contains("not evaluated: 4 recursive descents"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not evaluated: search()/match()"),
        "{stdout}"
    );
}

#[test]
fn a_bad_regex_in_a_jsonpath_is_a_spec_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oauthspec");
    std::fs::write(
        &path,
        "step \"s\" {\n  GET \"http://127.0.0.1:1/\"\n  expect json \"$[?match(@.id, 'ord_(')]\" exists\n}\n",
    )
    .unwrap();
    let (code, _, stderr) = bounded(&["check", path.to_str().unwrap()], SECONDS_20);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid regex in JSONPath"), "{stderr}");
    assert!(stderr.contains("t.oauthspec:3:15"), "{stderr}");
}

#[test]
fn variables_that_double_each_other_stop_at_a_mebibyte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oauthspec");
    let mut text = String::from("vars {\n  a0 = \"0123456789abcdef\"\n");
    for i in 1..=40 {
        text += &format!("  a{i} = \"{{{{a{}}}}}{{{{a{}}}}}\"\n", i - 1, i - 1);
    }
    text += "}\nstep \"s\" {\n  GET \"http://127.0.0.1:1/{{a40}}\"\n}\n";
    std::fs::write(&path, text).unwrap();
    let (code, _, stderr) = bounded(&["check", path.to_str().unwrap()], SECONDS_20);
    assert_eq!(code, 2, "{stderr}");
    // a16 is 1 MiB; a17 would be 2.
    assert!(
        stderr.contains("this value expands to more than 1048576 bytes"),
        "{stderr}"
    );
    assert!(stderr.contains("t.oauthspec:19:9"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn directory_links_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(
        sub.join("a.oauthspec"),
        "step \"s\" {\n  GET \"http://127.0.0.1:1/\"\n}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
    std::os::unix::fs::symlink(&sub, sub.join("again")).unwrap();
    let (code, stdout, stderr) = bounded(&["check", dir.path().to_str().unwrap()], SECONDS_20);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ok: 1 file, 1 steps"), "{stdout}");
}

#[cfg(unix)]
#[test]
fn only_regular_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo = fifo.to_str().unwrap();
    let spec = |body: &str| {
        let path = dir.path().join(format!("{}.oauthspec", body.len()));
        std::fs::write(&path, body).unwrap();
        path.to_str().unwrap().to_string()
    };
    let step = "step \"s\" {\n  GET \"http://127.0.0.1:1/\"\n}\n";
    for source in ["/dev/zero", fifo] {
        let imports = spec(&format!("import \"{source}\"\n{step}"));
        let file_call = spec(&format!(
            "step \"s\" {{\n  POST \"http://127.0.0.1:1/\"\n  body file(\"{source}\")\n}}\n"
        ));
        let plain = spec(step);
        for args in [
            vec!["check", imports.as_str()],
            vec!["check", file_call.as_str()],
            vec!["check", source],
            vec!["check", "--vars-file", source, plain.as_str()],
            vec!["run", "--token-cache", source, plain.as_str()],
            vec!["run", "--cacert", source, plain.as_str()],
        ] {
            let (code, _, stderr) = bounded(&args, SECONDS_20);
            assert_eq!(code, 2, "{args:?}: {stderr}");
            assert!(stderr.contains("not a regular file"), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn many_errors_and_long_lines_print_a_bounded_report() {
    let dir = tempfile::tempdir().unwrap();
    let many = dir.path().join("many.oauthspec");
    let text: String = (0..40_000).map(|i| format!("bogus{i} \"x\"\n")).collect();
    std::fs::write(&many, text).unwrap();
    let (code, _, stderr) = bounded(&["check", many.to_str().unwrap()], SECONDS_20);
    assert_eq!(code, 2);
    assert_eq!(
        stderr.matches("error: unknown").count(),
        50,
        "{}",
        &stderr[..2000]
    );
    assert!(
        stderr.contains("… and 39950 more"),
        "{}",
        &stderr[stderr.len() - 500..]
    );
    assert!(stderr.contains("error: 40000 errors in spec files; nothing was run"));

    let long = dir.path().join("long.oauthspec");
    let line = format!(
        "step \"s\" {{ GET \"http://127.0.0.1:1/{}\" expect status =! 200 }}\n",
        "x".repeat(5_000_000)
    );
    std::fs::write(&long, line).unwrap();
    let (code, _, stderr) = bounded(&["check", long.to_str().unwrap()], SECONDS_20);
    assert_eq!(code, 2);
    assert!(stderr.len() < 4_000, "{} bytes of errors", stderr.len());
    assert!(stderr.contains('…') && stderr.contains('^'), "{stderr}");
}

/// A token response cut off inside the token (the sandbox's
/// `token:malformed_json`) still hides the part it carries.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_cut_off_mid_value_is_hidden() {
    let sandbox = crate::common::sandbox().await;
    let base = sandbox.base_url();
    sandbox.add_fault(oauthspec_sandbox::parse_fault("token:malformed_json").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.oauthspec");
    std::fs::write(
        &path,
        format!("client c {{\n  token_url \"{base}/oauth2/token\"\n  client_id \"demo-client\"\n  client_secret secret(\"demo-secret\")\n}}\nstep \"s\" {{\n  GET \"{base}/v1/orders\"\n  auth c\n}}\n"),
    )
    .unwrap();
    let (code, all) = run_everything(dir.path(), &["run", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{all}");
    assert!(all.contains("malformed token response"), "{all}");
    let tokens = sandbox.issued_tokens();
    assert_eq!(tokens.len(), 1);
    // The body was cut in half: some of the token went out, none may show.
    // Within what a transcript line shows.
    let shown_part = &tokens[0][40..64];
    assert!(!all.contains(shown_part), "{shown_part} leaked:\n{all}");
}

/// Imports that meet again (a diamond, repeated) are resolved once each:
/// walking every path was exponential.
#[test]
fn diamond_imports_are_resolved_once() {
    let dir = tempfile::tempdir().unwrap();
    let levels = 30;
    for i in 0..levels {
        let next = format!("d{}.oauthspec", i + 1);
        std::fs::write(
            dir.path().join(format!("d{i}.oauthspec")),
            format!("import \"a{i}.oauthspec\"\nimport \"b{i}.oauthspec\"\n"),
        )
        .unwrap();
        for side in ["a", "b"] {
            std::fs::write(
                dir.path().join(format!("{side}{i}.oauthspec")),
                format!("import \"{next}\"\n"),
            )
            .unwrap();
        }
    }
    std::fs::write(
        dir.path().join(format!("d{levels}.oauthspec")),
        "vars { v = \"x\" }\n",
    )
    .unwrap();
    let top = dir.path().join("top.oauthspec");
    std::fs::write(
        &top,
        "import \"d0.oauthspec\"\nstep \"s\" {\n  GET \"http://127.0.0.1:1/{{v}}\"\n}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = bounded(&["check", top.to_str().unwrap()], SECONDS_20);
    assert_eq!(code, 0, "{stdout}{stderr}");
}
