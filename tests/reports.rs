//! The file reports (JUnit, TAP, JSON, HTML), built from hand-made runs and
//! read back by the tools CI systems use: xmllint with Jenkins' JUnit
//! schema, npm's tap-parser (strict) for TAP 14, Perl's `prove` for TAP 13.
//!
//! Those tools are installed by CI (see docs/reports.md); where one is
//! missing the check fails under `CI`, and is skipped with a note elsewhere.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauthspec_core::report::tap::TapVersion;
use oauthspec_core::report::{html, json, junit, tap};
use oauthspec_core::results::{
    Attempt, AttemptKind, CaptureResult, ExpectResult, FailureClass, Outcome, RunResult,
    StepResult, SuiteResult,
};
use oauthspec_core::source::{SourceFile, Span};
use oauthspec_core::util::files::write_atomic;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};

const ORDERS: &str = include_str!("reports/fixtures/orders-smoke.oauthspec.txt");
const BILLING: &str = include_str!("reports/fixtures/billing.oauthspec.txt");

/// A response excerpt as a broken upstream might send it: CRLF, ANSI colour,
/// NUL, BEL and other C0 controls, a noncharacter, and a CDATA terminator.
const NASTY_EXCERPT: &str = "HTTP/1.1 401 Unauthorized\r\n\
    www-authenticate: Bearer error=\"invalid_token\"\r\n\r\n\
    {\"error\":\"invalid_token\",\"trace\":\"]]><x/> \u{1b}[31mred\u{1b}[0m \
    \u{0}\u{7}\u{8}\u{b}\u{c}\u{1f}\u{fffe} caf\u{e9} \u{2713}\"}";

// ---------------------------------------------------------------- fixtures

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The span of the first `needle` after `anchor` (itself the first match).
fn span_in(src: &SourceFile, anchor: &str, needle: &str) -> Span {
    let from = src
        .text
        .find(anchor)
        .unwrap_or_else(|| panic!("fixture lacks {anchor:?}"));
    let start = from
        + src.text[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("fixture lacks {needle:?} after {anchor:?}"));
    Span::new(start, start + needle.len())
}

fn step(src: &Arc<SourceFile>, name: &str, outcome: Outcome, duration: u64) -> StepResult {
    let header = format!("step \"{name}\"");
    StepResult {
        outcome,
        duration: ms(duration),
        ..StepResult::new(name, src.clone(), span_in(src, &header, &header))
    }
}

fn attempt(kind: AttemptKind, method: &str, url: &str, status: Option<u16>, ms_: u64) -> Attempt {
    Attempt {
        kind,
        method: method.to_string(),
        url: url.to_string(),
        status,
        latency: ms(ms_),
        error: None,
        transcript: None,
        superseded: false,
        client: None,
    }
}

fn token(status: u16, latency: u64) -> Attempt {
    let url = "http://127.0.0.1:9000/oauth2/token";
    attempt(AttemptKind::Token, "POST", url, Some(status), latency)
}

fn request(method: &str, url: &str, status: u16, latency: u64) -> Attempt {
    attempt(AttemptKind::Request, method, url, Some(status), latency)
}

/// `expect TEXT` inside the step named `step`.
fn expect(s: &StepResult, text: &str, passed: bool, expected: &str, actual: &str) -> ExpectResult {
    let header = format!("step \"{}\"", s.name);
    ExpectResult {
        text: text.to_string(),
        source: s.source.clone(),
        span: span_in(&s.source, &header, &format!("expect {text}")),
        passed,
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

const T0: u64 = 1_714_550_400; // 2024-05-01T08:00:00Z

fn at(offset_ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0) + ms(offset_ms)
}

/// Two suites: 4 passed, 2 failed on expectations, 2 errors, 1 skipped.
fn sample_run() -> RunResult {
    let orders = SourceFile::new("specs/orders-smoke.oauthspec", ORDERS);
    let billing = SourceFile::new("specs/billing.oauthspec", BILLING);
    let api = "http://127.0.0.1:9000";

    let mut s1 = step(
        &orders,
        "token endpoint issues a usable token",
        Outcome::Passed,
        87,
    );
    s1.attempts
        .push(request("POST", &format!("{api}/oauth2/token"), 200, 85));
    s1.expectations = vec![
        expect(&s1, "status == 200", true, "200", "200"),
        expect(
            &s1,
            "json \"$.token_type\" == \"Bearer\"",
            true,
            "\"Bearer\"",
            "\"Bearer\"",
        ),
    ];
    s1.captures.push(CaptureResult {
        name: "token".into(),
        value: None,
    });

    let mut s2 = step(
        &orders,
        "orders are listed with the captured token",
        Outcome::Passed,
        44,
    );
    s2.attempts
        .push(request("GET", &format!("{api}/v1/orders"), 200, 42));
    s2.expectations = vec![expect(&s2, "status == 200", true, "200", "200")];
    s2.captures.push(CaptureResult {
        name: "first_order".into(),
        value: Some("ord_1001".into()),
    });

    let mut s3 = step(
        &orders,
        "one order, with the managed client's token",
        Outcome::Failed(FailureClass::TokenRejected),
        262,
    );
    let order = format!("{api}/v1/orders/ord_1001");
    s3.attempts = vec![
        token(200, 120),
        request("GET", &order, 401, 30),
        token(200, 84),
        request("GET", &order, 401, 28),
    ];
    s3.expectations = vec![
        expect(&s3, "status == 200", false, "200", "401"),
        expect(
            &s3,
            "json \"$.id\" == \"{{first_order}}\"",
            false,
            "\"ord_1001\"",
            "no JSON body",
        ),
    ];
    s3.notes.push("token re-fetched after a 401".into());
    s3.response_excerpt = Some(NASTY_EXCERPT.into());

    let mut s4 = step(
        &orders,
        "admin needs a scope this client lacks",
        Outcome::Failed(FailureClass::Scope),
        40,
    );
    s4.attempts = vec![request("GET", &format!("{api}/v1/admin/stats"), 200, 38)];
    s4.expectations = vec![expect(&s4, "status == 403", false, "403", "200")];
    s4.response_excerpt = Some("{\"requests\": 1024, \"errors\": 3}".into());

    let mut s5 = step(
        &orders,
        "the health probe stays fast",
        Outcome::Failed(FailureClass::Network),
        3_012,
    );
    for _ in 0..3 {
        let mut a = attempt(
            AttemptKind::Request,
            "GET",
            &format!("{api}/v1/health"),
            None,
            1_000,
        );
        a.error = Some("connect: connection refused (127.0.0.1:9000)".into());
        s5.attempts.push(a);
    }
    s5.error = Some("connect: connection refused (127.0.0.1:9000) after 3 attempts".into());

    let mut s6 = step(&orders, "clean up", Outcome::Passed, 25);
    s6.attempts = vec![request(
        "DELETE",
        &format!("{api}/v1/orders/ord_1001/hold"),
        204,
        23,
    )];
    s6.expectations = vec![expect(&s6, "status < 500", true, "< 500", "204")];

    let mut b1 = step(&billing, "invoices need a token", Outcome::Passed, 160);
    let invoices = "http://127.0.0.1:9100/v1/invoices";
    b1.attempts = vec![token(200, 95), request("GET", invoices, 200, 61)];
    b1.expectations = vec![expect(&b1, "status == 200", true, "200", "200")];

    let mut b2 = step(
        &billing,
        "<script>alert(1)</script> & friends",
        Outcome::Failed(FailureClass::AuthServer),
        502,
    );
    b2.attempts = vec![token(503, 500)];
    b2.error = Some("token endpoint answered 503 Service Unavailable\u{7}".into());
    b2.response_excerpt = Some("<html><body>upstream down</body></html>".into());

    let b3 = step(
        &billing,
        "refund # not ready",
        Outcome::Skipped("needs `refund_id`, which no step captured".into()),
        0,
    );

    RunResult {
        suites: vec![
            SuiteResult {
                index: 0,
                name: "orders api smoke".into(),
                file: PathBuf::from("specs/orders-smoke.oauthspec"),
                steps: vec![s1, s2, s3, s4, s5, s6],
                started: at(0),
                duration: Duration::from_micros(3_470_456),
            },
            SuiteResult {
                index: 1,
                name: "billing".into(),
                file: PathBuf::from("specs/billing.oauthspec"),
                steps: vec![b1, b2, b3],
                started: at(3_500),
                duration: ms(663),
            },
        ],
        started: at(0),
        duration: Duration::from_micros(4_163_900),
        interrupted: None,
        partition: None,
    }
}

/// The run the examples in docs/reports.md show: a few steps of each kind.
fn docs_run() -> RunResult {
    let mut run = sample_run();
    let keep = [
        "orders are listed with the captured token",
        "one order, with the managed client's token",
        "the health probe stays fast",
        "refund # not ready",
    ];
    for suite in &mut run.suites {
        suite.steps.retain(|s| keep.contains(&s.name.as_str()));
        for step in &mut suite.steps {
            if step.response_excerpt.as_deref() == Some(NASTY_EXCERPT) {
                step.response_excerpt = Some(
                    "HTTP/1.1 401 Unauthorized\n\
                     www-authenticate: Bearer error=\"invalid_token\"\n\n\
                     {\"error\":\"invalid_token\"}"
                        .into(),
                );
            }
        }
    }
    run.suites[0].duration = ms(3_318);
    run.suites[1].started = at(3_320);
    run.suites[1].duration = ms(1);
    run.duration = ms(3_321);
    run
}

/// A run with no suites, and one whose only suite has no steps.
fn edge_runs() -> Vec<RunResult> {
    let empty = RunResult {
        suites: Vec::new(),
        started: at(0),
        duration: Duration::ZERO,
        interrupted: None,
        partition: None,
    };
    let no_steps = RunResult {
        suites: vec![SuiteResult {
            index: 0,
            name: "nothing yet".into(),
            file: PathBuf::from("specs/empty.oauthspec"),
            steps: Vec::new(),
            started: at(0),
            duration: ms(1),
        }],
        started: at(0),
        duration: ms(1),
        interrupted: None,
        partition: None,
    };
    vec![empty, no_steps]
}

// ------------------------------------------------------------- tool access

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn temp_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, text).unwrap();
    path
}

// ----------------------------------------------------------- a tiny XML DOM

#[derive(Debug)]
struct Elem {
    name: String,
    attrs: HashMap<String, String>,
    text: String,
    parent: Option<usize>,
}

impl Elem {
    fn attr(&self, key: &str) -> &str {
        self.attrs
            .get(key)
            .unwrap_or_else(|| panic!("<{}> has no `{key}` attribute: {:?}", self.name, self.attrs))
    }
}

struct Doc(Vec<Elem>);

impl Doc {
    fn parse(xml: &str) -> Doc {
        let mut reader = Reader::from_str(xml);
        let mut elems: Vec<Elem> = Vec::new();
        let mut stack: Vec<usize> = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Eof => break,
                ev @ (Event::Start(_) | Event::Empty(_)) => {
                    let (e, open) = match &ev {
                        Event::Start(e) => (e, true),
                        Event::Empty(e) => (e, false),
                        _ => unreachable!(),
                    };
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (
                                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                a.unescape_value().unwrap().into_owned(),
                            )
                        })
                        .collect();
                    elems.push(Elem {
                        name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
                        attrs,
                        text: String::new(),
                        parent: stack.last().copied(),
                    });
                    if open {
                        stack.push(elems.len() - 1);
                    }
                }
                Event::End(_) => {
                    stack.pop();
                }
                Event::Text(t) => {
                    if let Some(&top) = stack.last() {
                        elems[top].text.push_str(&t.unescape().unwrap());
                    }
                }
                Event::CData(c) => {
                    if let Some(&top) = stack.last() {
                        elems[top].text.push_str(std::str::from_utf8(&c).unwrap());
                    }
                }
                _ => {}
            }
        }
        assert!(stack.is_empty(), "unclosed elements");
        Doc(elems)
    }

    fn all(&self, name: &str) -> Vec<usize> {
        (0..self.0.len())
            .filter(|&i| self.0[i].name == name)
            .collect()
    }

    fn children(&self, parent: usize, name: &str) -> Vec<usize> {
        (0..self.0.len())
            .filter(|&i| self.0[i].parent == Some(parent) && self.0[i].name == name)
            .collect()
    }

    fn child(&self, parent: usize, name: &str) -> &Elem {
        let found = self.children(parent, name);
        assert_eq!(
            found.len(),
            1,
            "<{}> has {} <{name}>",
            self.0[parent].name,
            found.len()
        );
        &self.0[found[0]]
    }

    fn case(&self, name: &str) -> usize {
        self.all("testcase")
            .into_iter()
            .find(|&i| self.0[i].attrs.get("name").map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no testcase {name:?}"))
    }
}

/// The document without what Jenkins' schema lacks: `file` and `line` on
/// `<testcase>`, and `skipped` on `<testsuites>` (which GitLab, Azure and
/// most producers use but the schema predates).
fn strip_for_schema(xml: &str) -> String {
    let strip: &[(&[u8], &[&[u8]])] = &[
        (b"testcase", &[b"file", b"line"]),
        (b"testsuites", &[b"skipped"]),
    ];
    let mut reader = Reader::from_str(xml);
    let mut writer = Writer::new(Vec::new());
    loop {
        let event = reader.read_event().unwrap();
        let event = match event {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                match strip.iter().find(|(n, _)| e.name().as_ref() == *n) {
                    None => event.clone(),
                    Some((_, drop)) => {
                        let mut new = BytesStart::new(
                            String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                        );
                        for a in e.attributes() {
                            let a = a.unwrap();
                            if !drop.contains(&a.key.as_ref()) {
                                new.push_attribute(a);
                            }
                        }
                        if matches!(event, Event::Start(_)) {
                            Event::Start(new)
                        } else {
                            Event::Empty(new)
                        }
                    }
                }
            }
            other => other,
        };
        writer.write_event(event).unwrap();
    }
    String::from_utf8(writer.into_inner()).unwrap()
}

/// Validates a JUnit document with xmllint against Jenkins' schema, or
/// returns false when xmllint is missing outside CI.
pub(crate) fn validate_junit(xml: &str) -> bool {
    if !crate::common::tool_ready(
        "the JUnit schema check",
        crate::common::runs("xmllint", "--version"),
        "apt-get install -y libxml2-utils",
    ) {
        return false;
    }
    let xsd = manifest_dir().join("../shared/reference/junit-10.xsd");
    assert!(
        xsd.is_file(),
        "the JUnit schema is missing at {}",
        xsd.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "junit.xml", &strip_for_schema(xml));
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmllint rejects the report:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        xml
    );
    true
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

// ------------------------------------------------------------------- JUnit

#[test]
fn junit_counts_and_attributes() {
    let xml = junit::render(&sample_run());
    let doc = Doc::parse(&xml);

    let root = doc.all("testsuites");
    assert_eq!(root.len(), 1);
    let r = &doc.0[root[0]];
    assert_eq!(r.attr("tests"), "9");
    assert_eq!(r.attr("failures"), "2");
    assert_eq!(r.attr("errors"), "2");
    assert_eq!(r.attr("skipped"), "1");
    assert_eq!(r.attr("time"), "4.164");

    let suites = doc.all("testsuite");
    assert_eq!(suites.len(), 2);
    let orders = &doc.0[suites[0]];
    assert_eq!(orders.attr("name"), "orders api smoke");
    assert_eq!(orders.attr("file"), "specs/orders-smoke.oauthspec");
    assert_eq!(orders.attr("tests"), "6");
    assert_eq!(orders.attr("failures"), "2");
    assert_eq!(orders.attr("errors"), "1");
    assert_eq!(orders.attr("skipped"), "0");
    assert_eq!(orders.attr("time"), "3.470");
    assert_eq!(orders.attr("timestamp"), "2024-05-01T08:00:00Z");
    assert!(!orders.attr("hostname").is_empty());
    assert_eq!(orders.attr("package"), "", "no `testsuite/NAME` package");
    let billing = &doc.0[suites[1]];
    assert_eq!(billing.attr("name"), "billing");
    assert_eq!(
        (billing.attr("tests"), billing.attr("failures")),
        ("3", "0")
    );
    assert_eq!(
        (billing.attr("errors"), billing.attr("skipped")),
        ("1", "1")
    );
    assert_eq!(billing.attr("timestamp"), "2024-05-01T08:00:03Z");
    assert_eq!(doc.children(suites[0], "testcase").len(), 6);
    assert_eq!(doc.children(suites[1], "testcase").len(), 3);

    for i in doc.all("testcase").into_iter().chain(suites.clone()) {
        let time = doc.0[i].attr("time");
        let (whole, frac) = time.split_once('.').expect("a decimal time");
        assert!(
            whole.chars().all(|c| c.is_ascii_digit()) && frac.len() == 3,
            "{time}"
        );
    }

    // A passed step: location, and the attempt log in <system-out>.
    let c = doc.case("token endpoint issues a usable token");
    let case = &doc.0[c];
    assert_eq!(case.attr("classname"), "orders api smoke");
    assert_eq!(case.attr("file"), "specs/orders-smoke.oauthspec");
    assert_eq!(case.attr("line"), "17");
    assert_eq!(case.attr("time"), "0.087");
    assert!(doc.children(c, "failure").is_empty() && doc.children(c, "error").is_empty());
    let out = &doc.child(c, "system-out").text;
    assert!(
        out.contains("request POST http://127.0.0.1:9000/oauth2/token -> 200 in 85ms"),
        "{out}"
    );

    // An expectation mismatch: <failure>, first expectation as message,
    // every failed expectation in the text.
    let c = doc.case("one order, with the managed client's token");
    let failure = doc.child(c, "failure");
    let message = "expect status == 200: expected 200, got 401";
    assert_eq!(failure.attr("message"), message);
    assert_eq!(failure.attr("type"), "token_rejected");
    let text = &failure.text;
    assert!(text.starts_with(message), "{text}");
    for needle in [
        "expect status == 200\n  expected: 200\n  actual:   401\n  at:       specs/orders-smoke.oauthspec:36:3",
        "expect json \"$.id\" == \"{{first_order}}\"\n  expected: \"ord_1001\"\n  actual:   no JSON body\n  at:       specs/orders-smoke.oauthspec:37:3",
        "--> specs/orders-smoke.oauthspec:37:3",
        "37 |   expect json \"$.id\" == \"{{first_order}}\"",
        "^^^^ expected \"ord_1001\", got no JSON body",
        "response:\nHTTP/1.1 401 Unauthorized\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let out = &doc.child(c, "system-out").text;
    for needle in [
        "token POST http://127.0.0.1:9000/oauth2/token -> 200 in 120ms",
        "request GET http://127.0.0.1:9000/v1/orders/ord_1001 -> 401 in 30ms",
        "note: token re-fetched after a 401",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert!(doc.children(c, "error").is_empty());
    let scope = doc.case("admin needs a scope this client lacks");
    assert_eq!(doc.child(scope, "failure").attr("type"), "scope");

    // A transport problem: <error>.
    let c = doc.case("the health probe stays fast");
    assert!(doc.children(c, "failure").is_empty());
    let error = doc.child(c, "error");
    assert_eq!(error.attr("type"), "network");
    assert_eq!(
        error.attr("message"),
        "connect: connection refused (127.0.0.1:9000) after 3 attempts"
    );
    assert!(
        error.text.contains("at specs/orders-smoke.oauthspec:46:1"),
        "{}",
        error.text
    );
    assert!(doc.child(c, "system-out").text.contains(
        "request GET http://127.0.0.1:9000/v1/health -> error: connect: connection refused"
    ));
    let c = doc.case("<script>alert(1)</script> & friends");
    assert_eq!(doc.child(c, "error").attr("type"), "auth_server");
    assert_eq!(doc.0[c].attr("classname"), "billing");

    // A skipped step: <skipped message="reason">.
    let c = doc.case("refund # not ready");
    assert_eq!(
        doc.child(c, "skipped").attr("message"),
        "needs `refund_id`, which no step captured"
    );
    assert_eq!(doc.0[c].attr("line"), "23");
}

#[test]
fn junit_validates_against_the_jenkins_schema() {
    if !validate_junit(&junit::render(&sample_run())) {
        return;
    }
    for run in edge_runs() {
        validate_junit(&junit::render(&run));
    }
    let mut interrupted = sample_run();
    interrupted.interrupted = Some("SIGTERM".into());
    let xml = junit::render(&interrupted);
    assert!(xml.contains("<error type=\"interrupted\" message=\"the run was interrupted by SIGTERM: only the suites that finished are reported\""), "{xml}");
    validate_junit(&xml);
}

#[test]
fn junit_schema_check_catches_an_invalid_report() {
    // The validation above must be able to fail: an element the schema
    // does not know is rejected.
    let xml = junit::render(&sample_run()).replace("<system-out>", "<stdout>");
    let xml = xml.replace("</system-out>", "</stdout>");
    if !crate::common::tool_ready(
        "the JUnit schema check",
        crate::common::runs("xmllint", "--version"),
        "apt-get install -y libxml2-utils",
    ) {
        return;
    }
    let result = std::panic::catch_unwind(|| validate_junit(&xml));
    assert!(result.is_err(), "xmllint accepted <stdout>");
}

#[test]
fn junit_sanitizes_control_characters_and_cdata_terminators() {
    let xml = junit::render(&sample_run());
    let bad: Vec<char> = xml.chars().filter(|&c| !is_xml_char(c)).collect();
    assert!(bad.is_empty(), "characters illegal in XML 1.0: {bad:?}");
    assert!(!xml.contains('\u{1b}') && !xml.contains('\u{7}'));

    let doc = Doc::parse(&xml);
    let c = doc.case("one order, with the managed client's token");
    let text = &doc.child(c, "failure").text;
    // `]]>` survives, split over two CDATA sections; controls are shown.
    assert!(
        text.contains("\"trace\":\"]]><x/> \\x1b[31mred\\x1b[0m"),
        "{text}"
    );
    assert!(
        text.contains("\\x00\\x07\\x08\\x0b\\x0c\\x1f\\u{fffe}"),
        "{text}"
    );
    assert!(
        text.contains("caf\u{e9} \u{2713}"),
        "non-ASCII text kept: {text}"
    );
    assert!(!text.contains('\r'));
    let c = doc.case("<script>alert(1)</script> & friends");
    assert_eq!(
        doc.child(c, "error").attr("message"),
        "token endpoint answered 503 Service Unavailable\\x07"
    );
    // A document no parser can read would fail here under xmllint too.
    validate_junit(&xml);
}

// --------------------------------------------------------------------- TAP

#[derive(Debug, PartialEq, Default)]
struct TapCounts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

#[test]
fn tap14_is_read_strictly_by_tap_parser() {
    let text = tap::render(&sample_run(), TapVersion::V14);
    assert!(text.starts_with("TAP version 14\n1..2\n# Subtest: orders api smoke\n"));
    assert!(text.contains("    ok 3 - refund \\# not ready # SKIP needs `refund_id`"));

    if !tap_parser_ready() {
        return;
    }
    let parsed = tap_parser(&text);
    let problems = &parsed["problems"];
    assert_eq!(
        problems.as_array().unwrap().len(),
        0,
        "{problems:#}\n{text}"
    );
    assert_eq!(parsed["extra"].as_array().unwrap().len(), 0, "{parsed:#}");
    assert_eq!(parsed["version"], 14);

    let points = parsed["points"].as_array().unwrap();
    let leaves: Vec<_> = points
        .iter()
        .filter(|p| p["path"].as_array().unwrap().len() == 1)
        .collect();
    let suites: Vec<_> = points
        .iter()
        .filter(|p| p["path"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(suites.len(), 2);
    assert_eq!(suites[0]["name"], "orders api smoke");
    assert_eq!(suites[0]["ok"], false);
    assert_eq!(suites[1]["name"], "billing");
    let mut counts = TapCounts::default();
    for p in &leaves {
        if !p["skip"].is_null() {
            counts.skipped += 1;
        } else if p["ok"] == true {
            counts.passed += 1;
        } else {
            counts.failed += 1;
        }
    }
    assert_eq!(
        counts,
        TapCounts {
            passed: 4,
            failed: 4,
            skipped: 1
        }
    );

    let rejected = leaves
        .iter()
        .find(|p| p["name"] == "one order, with the managed client's token")
        .unwrap();
    let diag = &rejected["diag"];
    assert_eq!(
        diag["message"],
        "expect status == 200: expected 200, got 401"
    );
    assert_eq!(diag["severity"], "fail");
    assert_eq!(diag["class"], "token_rejected");
    assert_eq!(diag["at"], "specs/orders-smoke.oauthspec:36:3");
    assert_eq!(diag["expected"], "200");
    assert_eq!(diag["actual"], "401");
    assert_eq!(diag["status"], 401);
    assert_eq!(diag["latency_ms"], 29.0);
    assert_eq!(diag["failures"].as_array().unwrap().len(), 2);
    assert!(diag["response"]
        .as_str()
        .unwrap()
        .contains("]]><x/> \u{1b}[31mred"));

    let network = leaves
        .iter()
        .find(|p| p["name"] == "the health probe stays fast")
        .unwrap();
    assert_eq!(network["diag"]["severity"], "error");
    assert_eq!(network["diag"]["class"], "network");
    assert_eq!(network["diag"]["at"], "specs/orders-smoke.oauthspec:46:1");
    let skipped = leaves.iter().find(|p| !p["skip"].is_null()).unwrap();
    assert_eq!(skipped["name"], "refund # not ready");

    for run in edge_runs() {
        let text = tap::render(&run, TapVersion::V14);
        let parsed = tap_parser(&text);
        assert_eq!(
            parsed["problems"].as_array().unwrap().len(),
            0,
            "{parsed:#}\n{text}"
        );
    }
}

#[test]
fn tap_parser_check_catches_a_broken_stream() {
    if !tap_parser_ready() {
        return;
    }
    let text = tap::render(&sample_run(), TapVersion::V14);
    let wrong_plan = text.replace("    1..6\n", "    1..7\n");
    let stray_line = format!("{text}stray line\n");
    for broken in [wrong_plan, stray_line] {
        let parsed = tap_parser(&broken);
        assert!(
            !parsed["problems"].as_array().unwrap().is_empty(),
            "{parsed:#}"
        );
    }
}

#[test]
fn an_interrupted_tap_stream_bails_out() {
    let mut interrupted = sample_run();
    interrupted.interrupted = Some("SIGINT".into());
    let text = tap::render(&interrupted, TapVersion::V14);
    assert!(
        text.ends_with("Bail out! the run was interrupted by SIGINT: only the suites that finished are reported\n"),
        "{text}"
    );
    if !tap_parser_ready() {
        return;
    }
    // A reader takes the bail-out as a failed run.
    let parsed = tap_parser(&text);
    let top = parsed["results"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(top["ok"], false, "{parsed:#}");
}

/// Whether tap-parser can run (skips locally without it, fails under CI).
fn tap_parser_ready() -> bool {
    let dir = manifest_dir().join("tests/reports");
    let node_ok =
        crate::common::runs("node", "--version") && dir.join("node_modules/tap-parser").is_dir();
    crate::common::tool_ready("the TAP 14 check", node_ok, "npm ci --prefix tests/reports")
}

fn tap_parser(text: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "report.tap", text);
    let script = manifest_dir().join("tests/reports/tap-check.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(&file)
        .current_dir(manifest_dir().join("tests/reports"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tap-check.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn tap13_is_flat_and_read_by_prove() {
    let text = tap::render(&sample_run(), TapVersion::V13);
    assert!(text.starts_with("TAP version 13\n1..9\n"));
    assert!(!text.contains("# Subtest"));
    for line in text.lines() {
        // Only YAML blocks are indented: no subtests.
        if line.starts_with(' ') {
            assert!(
                line.starts_with("  ") && !line.trim_start().starts_with("ok"),
                "{line}"
            );
        }
    }
    let numbers: Vec<usize> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ok ").or_else(|| l.strip_prefix("not ok ")))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers, (1..=9).collect::<Vec<_>>());

    if !crate::common::tool_ready(
        "the TAP 13 check",
        crate::common::runs("prove", "--version"),
        "apt-get install -y perl",
    ) {
        return;
    }
    let counts = prove(&text);
    assert_eq!(
        counts,
        ProveResult {
            tests: 9,
            failed: 4,
            skipped: Some(1),
            parse_errors: false
        },
        "{text}"
    );
    for run in edge_runs() {
        let result = prove(&tap::render(&run, TapVersion::V13));
        assert!(!result.parse_errors && result.failed == 0, "{result:?}");
    }
    // And prove refuses TAP 14, which is why TAP 13 exists.
    let v14 = prove(&tap::render(&sample_run(), TapVersion::V14));
    assert!(v14.parse_errors, "prove accepted TAP 14");
}

#[derive(Debug, PartialEq)]
struct ProveResult {
    tests: usize,
    failed: usize,
    /// prove states it only beside failures.
    skipped: Option<usize>,
    parse_errors: bool,
}

/// Runs `prove` on a static TAP file (`--exec cat` makes the file's text
/// the test's output) and reads the counts from prove's own summary.
fn prove(text: &str) -> ProveResult {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "report.tap", text);
    let out = Command::new("prove")
        .args(["--exec", "cat", "--nocolor"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let number_after = |prefix: &str| -> Option<usize> {
        let at = stdout.find(prefix)? + prefix.len();
        let digits: String = stdout[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    let parse_errors = stdout.contains("Parse errors");
    let tests = number_after("Files=1, Tests=").expect("prove's summary line");
    let failed = number_after("Failed ").unwrap_or(0);
    if !parse_errors {
        assert_eq!(
            out.status.success(),
            failed == 0,
            "prove's exit status disagrees:\n{stdout}"
        );
        if tests == 0 {
            assert!(stdout.contains("Result: NOTESTS"), "{stdout}");
        } else if failed == 0 {
            assert!(stdout.contains("All tests successful."), "{stdout}");
        } else {
            assert!(
                stdout.contains(&format!("Failed {failed}/{tests} subtests")),
                "{stdout}"
            );
        }
    }
    ProveResult {
        tests,
        failed,
        skipped: number_after("(less "),
        parse_errors,
    }
}

// -------------------------------------------------------------------- JSON

#[test]
fn json_follows_the_documented_schema() {
    let text = json::render(&sample_run());
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["schema"], "oauthspec-report/1");
    assert_eq!(v["tool"]["name"], "oauthspec");
    assert_eq!(v["started"], "2024-05-01T08:00:00.000Z");
    assert_eq!(v["duration_ms"], 4163.9);
    assert_eq!(
        v["summary"],
        serde_json::json!({
            "suites": 2, "steps": 9, "passed": 4, "failed": 4, "skipped": 1,
            "classes": {"auth_server": 1, "network": 1, "scope": 1, "token_rejected": 1}
        })
    );
    let suites = v["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 2);
    assert_eq!(suites[0]["name"], "orders api smoke");
    assert_eq!(suites[0]["file"], "specs/orders-smoke.oauthspec");
    assert_eq!(suites[0]["duration_ms"], 3470.456);
    assert_eq!(
        suites[1]["summary"],
        serde_json::json!({
            "steps": 3, "passed": 1, "failed": 1, "skipped": 1,
            "classes": {"auth_server": 1}
        })
    );

    let steps = suites[0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    let s = &steps[0];
    assert_eq!(s["outcome"], "passed");
    assert_eq!(s["class"], serde_json::Value::Null);
    assert_eq!(s["location"], "specs/orders-smoke.oauthspec:17:1");
    assert_eq!(
        (s["line"].as_u64(), s["column"].as_u64()),
        (Some(17), Some(1))
    );
    assert_eq!(s["captures"], serde_json::json!({"token": null}));
    assert_eq!(
        steps[1]["captures"],
        serde_json::json!({"first_order": "ord_1001"})
    );

    let s = &steps[2];
    assert_eq!(s["outcome"], "failed");
    assert_eq!(s["class"], "token_rejected");
    assert_eq!(s["is_error"], false);
    assert_eq!(s["message"], "expect status == 200: expected 200, got 401");
    assert_eq!(s["status"], 401);
    assert_eq!(s["latency_ms"], 29.0);
    assert_eq!(s["duration_ms"], 262.0);
    let attempts = s["attempts"].as_array().unwrap();
    let kinds: Vec<_> = attempts
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["token", "request", "token", "request"]);
    assert_eq!(attempts[0]["latency_ms"], 120.0);
    assert_eq!(attempts[0]["method"], "POST");
    let e = &s["expectations"][1];
    assert_eq!(e["text"], "json \"$.id\" == \"{{first_order}}\"");
    assert_eq!(e["location"], "specs/orders-smoke.oauthspec:37:3");
    assert_eq!(e["passed"], false);
    assert_eq!(e["expected"], "\"ord_1001\"");
    assert_eq!(e["actual"], "no JSON body");
    assert_eq!(s["notes"][0], "token re-fetched after a 401");
    assert_eq!(s["response_excerpt"], NASTY_EXCERPT);

    let s = &steps[4];
    assert_eq!(s["class"], "network");
    assert_eq!(s["is_error"], true);
    assert_eq!(s["status"], serde_json::Value::Null);
    assert_eq!(s["attempts"][0]["status"], serde_json::Value::Null);
    assert_eq!(
        s["attempts"][0]["error"],
        "connect: connection refused (127.0.0.1:9000)"
    );
    let s = &suites[1]["steps"][2];
    assert_eq!(s["outcome"], "skipped");
    assert_eq!(
        s["skip_reason"],
        "needs `refund_id`, which no step captured"
    );

    for run in edge_runs() {
        let v: serde_json::Value = serde_json::from_str(&json::render(&run)).unwrap();
        assert_eq!(v["schema"], "oauthspec-report/1");
    }
}

// -------------------------------------------------------------------- HTML

#[test]
fn html_is_self_contained_escaped_and_shows_both_latencies() {
    let page = html::render(&sample_run());
    assert!(page.starts_with("<!DOCTYPE html>"));
    let lower = page.to_ascii_lowercase();
    for external in ["src=", "href=", "<link", "@import", "url(", "<script"] {
        assert!(!lower.contains(external), "external reference {external:?}");
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends"));
    assert!(page.contains("&lt;html&gt;&lt;body&gt;upstream down"));
    assert!(page.contains("<span class=\"badge passed\">4 passed</span>"));
    assert!(page.contains("<span class=\"badge failed\">4 failed</span>"));
    assert!(page.contains("<span class=\"badge skipped\">1 skipped</span>"));
    // Both kinds of latency, with a legend.
    assert!(page.contains("class=\"seg token\""));
    assert!(page.contains("class=\"seg request\""));
    assert!(page.contains("<span class=\"swatch token\"></span> token request"));
    assert!(page.contains("<span class=\"swatch request\"></span> API request"));
    // Failures with their source and response excerpts.
    assert!(page.contains("--&gt; specs/orders-smoke.oauthspec:37:3"));
    assert!(page.contains("expected &quot;ord_1001&quot;, got no JSON body"));
    assert!(page.contains("]]&gt;&lt;x/&gt; \\x1b[31mred"));
    assert!(page.contains("needs `refund_id`, which no step captured"));
    assert!(page.contains("<code>token</code> <span class=\"muted\">(secret)</span>"));
    assert!(!page.contains('\u{1b}') && !page.contains('\u{0}'));
    for run in edge_runs() {
        assert!(html::render(&run).ends_with("</html>\n"));
    }
}

// ----------------------------------------------------------------- writing

#[test]
fn atomic_replaces_the_whole_file_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/report.xml");
    let long = "x".repeat(100_000);
    write_atomic(&path, long.as_bytes()).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), long);
    write_atomic(&path, b"short").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "short");
    let names: Vec<String> = fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.xml"]);
}

#[test]
fn every_format_writes_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = sample_run();
    let d = dir.path();
    // Each report replaces an older, longer one entirely.
    for name in ["junit.xml", "report.tap", "report.json", "html/index.html"] {
        fs::create_dir_all(d.join(name).parent().unwrap()).unwrap();
        fs::write(d.join(name), "stale ".repeat(100_000)).unwrap();
    }
    junit::write(&run, &d.join("junit.xml")).unwrap();
    tap::write(&run, TapVersion::V14, &d.join("report.tap")).unwrap();
    json::write(&run, &d.join("report.json")).unwrap();
    html::write(&run, &d.join("html")).unwrap();
    html::write(&run, &d.join("new/dir")).unwrap();
    assert_eq!(
        fs::read_to_string(d.join("junit.xml")).unwrap(),
        junit::render(&run)
    );
    assert_eq!(
        fs::read_to_string(d.join("report.tap")).unwrap(),
        tap::render(&run, TapVersion::V14)
    );
    assert_eq!(
        fs::read_to_string(d.join("report.json")).unwrap(),
        json::render(&run)
    );
    assert_eq!(
        fs::read_to_string(d.join("html/index.html")).unwrap(),
        html::render(&run)
    );
    assert!(d.join("new/dir/index.html").is_file());
}

/// Regenerates the examples in docs/reports.md:
/// `cargo test --test integration -- reports:: --ignored --nocapture print_examples`.
#[test]
#[ignore]
fn print_examples() {
    let run = docs_run();
    let dir = manifest_dir().join("target/report-examples");
    junit::write(&run, &dir.join("junit.xml")).unwrap();
    tap::write(&run, TapVersion::V14, &dir.join("report.tap")).unwrap();
    tap::write(&run, TapVersion::V13, &dir.join("report13.tap")).unwrap();
    json::write(&run, &dir.join("report.json")).unwrap();
    html::write(&run, &dir.join("html")).unwrap();
    println!("examples written to {}", dir.display());
}

/// The JSON example in docs/reports.md is what the reporter writes for
/// `docs_run`, so the documented fields stay the real ones.
#[test]
fn the_documented_json_example_is_current() {
    let docs = std::fs::read_to_string(manifest_dir().join("docs/reports.md")).unwrap();
    let from = docs.find("## JSON").unwrap();
    let start = from + docs[from..].find("```json\n").unwrap() + "```json\n".len();
    let end = start + docs[start..].find("```").unwrap();
    let mut documented: serde_json::Value = serde_json::from_str(&docs[start..end]).unwrap();
    let mut written: serde_json::Value = serde_json::from_str(&json::render(&docs_run())).unwrap();
    for v in [&mut documented, &mut written] {
        v["tool"]["version"] = serde_json::Value::Null;
    }
    assert!(
        documented == written,
        "docs/reports.md's JSON example is stale: regenerate it with print_examples"
    );
}
