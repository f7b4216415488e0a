//! JUnit XML, for the CI systems that show test results: Jenkins' `junit`
//! step, GitLab's `artifacts:reports:junit`, GitHub annotation actions,
//! Azure DevOps.
//!
//! The document is built with the `junit-report` crate, then decorated with
//! what that crate cannot express, by a streaming pass with `quick-xml`
//! (the parser `junit-report` itself writes with): the totals on
//! `<testsuites>`, `skipped` and `file` on `<testsuite>`, `line` on
//! `<testcase>`, a reason on `<skipped>`, a `<system-out>` beside a
//! `<failure>`/`<error>`, and every `time` cut to milliseconds.
//!
//! Every text handed to the crate is sanitized first ([`xml_safe`]): the
//! crate writes characters illegal in XML 1.0 and `]]>` as they are, which a
//! response excerpt would otherwise turn into a broken report.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use junit_report::{OffsetDateTime, Report, TestCase, TestSuite};
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;
use quick_xml::{Reader, Writer};

use crate::diagnostic::render_snippet;
use crate::results::{Outcome, RunResult, StepResult, SuiteResult};
use crate::util::files::write_atomic as atomic;

/// The report as an XML document.
pub fn render(result: &RunResult) -> String {
    let host = hostname();
    let mut report = Report::new();
    let mut extras = Vec::new();
    let partition = result.partition.map(|share| share.partition.to_string());
    for suite in &result.suites {
        let (testsuite, extra) = testsuite(suite, &host, partition.clone());
        report.add_testsuite(testsuite);
        extras.push(extra);
    }
    let mut totals = totals(result);
    // An interrupted run ends with an error CI systems show, so the report
    // never reads as a complete green run.
    if let Some(why) = result.interruption() {
        let mut ts = TestSuite::new("oauthspec");
        ts.package = String::new();
        ts.hostname = attr(&host);
        ts.add_testcase(TestCase::error(
            "run interrupted",
            junit_report::Duration::ZERO,
            "interrupted",
            &attr(&why),
        ));
        report.add_testsuite(ts);
        extras.push(SuiteExtra {
            partition: None,
            file: String::new(),
            time: seconds(std::time::Duration::ZERO),
            skipped: 0,
            cases: vec![CaseExtra {
                file: String::new(),
                line: 0,
                time: seconds(std::time::Duration::ZERO),
                skip_reason: None,
                system_out: String::new(),
            }],
        });
        totals.tests += 1;
        totals.errors += 1;
    }
    let mut raw = Vec::new();
    report
        .write_xml(&mut raw)
        .expect("writing XML into memory cannot fail");
    decorate(&raw, &totals, &extras)
        .expect("junit-report writes well-formed XML from sanitized text")
}

/// Writes [`render`]'s document to `path`, replacing the file atomically.
pub fn write(result: &RunResult, path: &Path) -> io::Result<()> {
    atomic(path, render(result).as_bytes())
}

/// What the decorating pass adds to one `<testsuite>`.
struct SuiteExtra {
    /// The run's partition, as a `<property>`, so that merged reports can
    /// tell the shards apart.
    partition: Option<String>,
    file: String,
    time: String,
    skipped: usize,
    cases: Vec<CaseExtra>,
}

/// What the decorating pass adds to one `<testcase>`.
struct CaseExtra {
    file: String,
    line: usize,
    time: String,
    skip_reason: Option<String>,
    system_out: String,
}

struct Totals {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    time: String,
}

fn totals(result: &RunResult) -> Totals {
    let steps = || result.suites.iter().flat_map(|s| &s.steps);
    let counts = result.counts();
    Totals {
        tests: steps().count(),
        failures: steps()
            .filter(|s| matches!(s.outcome, Outcome::Failed(c) if !c.is_error()))
            .count(),
        errors: steps()
            .filter(|s| matches!(s.outcome, Outcome::Failed(c) if c.is_error()))
            .count(),
        skipped: counts.skipped,
        time: seconds(result.duration),
    }
}

fn testsuite(
    suite: &SuiteResult,
    host: &str,
    partition: Option<String>,
) -> (TestSuite, SuiteExtra) {
    let mut ts = TestSuite::new(&attr(&suite.name));
    // The crate's default `package` is "testsuite/NAME", which consumers
    // that prefix the package show as the suite name twice. A spec file has
    // no package: the suite name already is every testcase's classname.
    ts.package = String::new();
    ts.hostname = attr(host);
    ts.set_timestamp(timestamp(suite.started));
    let mut cases = Vec::new();
    for step in &suite.steps {
        let (case, extra) = testcase(suite, step);
        ts.add_testcase(case);
        cases.push(extra);
    }
    let extra = SuiteExtra {
        partition,
        file: attr(&suite.file.display().to_string()),
        time: seconds(suite.duration),
        skipped: suite
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Skipped(_)))
            .count(),
        cases,
    };
    (ts, extra)
}

fn testcase(suite: &SuiteResult, step: &StepResult) -> (TestCase, CaseExtra) {
    let name = attr(&step.name);
    let time = junit_report::Duration::milliseconds(step.duration.as_millis() as i64);
    let mut case = match &step.outcome {
        Outcome::Passed => TestCase::success(&name, time),
        Outcome::Skipped(_) => TestCase::skipped(&name),
        Outcome::Failed(class) => {
            let message = failure_message(step);
            let kind = class.as_str();
            let mut case = if class.is_error() {
                TestCase::error(&name, time, kind, &attr(&message))
            } else {
                TestCase::failure(&name, time, kind, &attr(&message))
            };
            // The crate writes a failed case's `system_out` as the text of
            // its <failure>/<error>: that is where the details go.
            case.set_system_out(&cdata(&failure_text(step, &message)));
            case
        }
    };
    case.set_classname(&attr(&suite.name));
    let file = attr(&step.source.path().display().to_string());
    case.set_filepath(&file);
    let extra = CaseExtra {
        file,
        line: step.source.line_col(step.span.start).0,
        time: seconds(step.duration),
        skip_reason: match &step.outcome {
            Outcome::Skipped(reason) => Some(attr(reason)),
            _ => None,
        },
        system_out: xml_safe(&attempt_log(step)).into_owned(),
    };
    (case, extra)
}

/// The one-line reason a step failed: its error, or its first failed
/// expectation.
fn failure_message(step: &StepResult) -> String {
    step.failure_message()
        .unwrap_or_else(|| match step.outcome {
            Outcome::Failed(class) => format!("step failed ({})", class.as_str()),
            _ => "step failed".to_string(),
        })
}

/// The text of a `<failure>`/`<error>`: the message, then every failed
/// expectation with expected, actual, location and source excerpt, then the
/// response excerpt.
fn failure_text(step: &StepResult, message: &str) -> String {
    let mut out = format!("{message}\n");
    if step.error.is_some() {
        let _ = writeln!(out, "\nat {}", step.source.location(step.span.start));
        out.push_str(&render_snippet(&step.source, step.span, None, false, ""));
    }
    for e in step.failed_expectations() {
        let _ = writeln!(out, "\nexpect {}", e.text);
        let _ = writeln!(out, "  expected: {}", e.expected);
        let _ = writeln!(out, "  actual:   {}", e.actual);
        let _ = writeln!(out, "  at:       {}", e.location());
        let label = format!("expected {}, got {}", e.expected, e.actual);
        out.push_str(&render_snippet(&e.source, e.span, Some(&label), false, ""));
    }
    if let Some(excerpt) = &step.response_excerpt {
        let _ = writeln!(out, "\nresponse:\n{}", excerpt.trim_end());
    }
    out
}

/// A testcase's `<system-out>`: each HTTP exchange, then the notes.
fn attempt_log(step: &StepResult) -> String {
    let mut out = String::new();
    for a in &step.attempts {
        let kind = a.kind.as_str();
        let status = a.outcome();
        let _ = writeln!(
            out,
            "{kind} {} {} -> {status} in {}",
            a.method,
            a.url,
            crate::duration::human(a.latency)
        );
        if let Some(t) = &a.transcript {
            for line in t.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    for note in &step.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// Rewrites the crate's document, adding what it cannot express. Elements
/// are matched by order: the n-th `<testsuite>` is the n-th suite.
fn decorate(raw: &[u8], totals: &Totals, suites: &[SuiteExtra]) -> quick_xml::Result<String> {
    let text = std::str::from_utf8(raw).expect("junit-report writes UTF-8");
    let mut reader = Reader::from_str(text);
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut suite: Option<&SuiteExtra> = None;
    let mut suite_index = 0;
    let mut case_index = 0;
    let mut case: Option<&CaseExtra> = None;
    loop {
        let event = reader.read_event()?;
        match event {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let new = match e.name().as_ref() {
                    b"testsuites" => rebuild(
                        e,
                        &[
                            ("name", Some("oauthspec".to_string())),
                            ("tests", Some(totals.tests.to_string())),
                            ("failures", Some(totals.failures.to_string())),
                            ("errors", Some(totals.errors.to_string())),
                            ("skipped", Some(totals.skipped.to_string())),
                            ("time", Some(totals.time.clone())),
                        ],
                    ),
                    b"testsuite" => {
                        let s = &suites[suite_index];
                        suite_index += 1;
                        case_index = 0;
                        suite = Some(s);
                        rebuild(
                            e,
                            &[
                                ("name", None),
                                ("tests", None),
                                ("failures", None),
                                ("errors", None),
                                ("skipped", Some(s.skipped.to_string())),
                                ("time", Some(s.time.clone())),
                                ("timestamp", None),
                                ("hostname", None),
                                ("file", Some(s.file.clone())),
                                ("id", None),
                                ("package", None),
                            ],
                        )
                    }
                    b"testcase" => {
                        let s = suite.expect("a testcase is inside a testsuite");
                        let c = &s.cases[case_index];
                        case_index += 1;
                        case = Some(c);
                        rebuild(
                            e,
                            &[
                                ("name", None),
                                ("classname", None),
                                ("file", Some(c.file.clone())),
                                ("line", Some(c.line.to_string())),
                                ("time", Some(c.time.clone())),
                            ],
                        )
                    }
                    b"skipped" => {
                        let reason = case.and_then(|c| c.skip_reason.clone());
                        rebuild(e, &[("message", reason)])
                    }
                    _ => e.to_owned(),
                };
                let is_case = e.name().as_ref() == b"testcase";
                let needs_out = is_case && case.is_some_and(|c| !c.system_out.is_empty());
                let properties = match e.name().as_ref() {
                    b"testsuite" => suite.and_then(|s| s.partition.as_deref()),
                    _ => None,
                };
                if let Some(partition) = properties {
                    // <properties> comes first in a <testsuite>.
                    writer.write_event(Event::Start(new))?;
                    writer
                        .create_element("properties")
                        .write_inner_content(|w| {
                            w.create_element("property")
                                .with_attributes([("name", "partition"), ("value", partition)])
                                .write_empty()
                                .map(|_| ())
                        })?;
                    if empty {
                        writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
                    }
                } else if !empty {
                    writer.write_event(Event::Start(new))?;
                } else if needs_out {
                    // A passed case the crate wrote empty: open it to give
                    // it its <system-out>.
                    writer.write_event(Event::Start(new))?;
                    close_case(&mut writer, case.take())?;
                } else {
                    if is_case {
                        case = None;
                    }
                    writer.write_event(Event::Empty(new))?;
                }
            }
            Event::End(ref e) if e.name().as_ref() == b"testcase" => {
                close_case(&mut writer, case.take())?;
            }
            other => writer.write_event(other)?,
        }
    }
    let mut xml = String::from_utf8(writer.into_inner()).expect("quick-xml writes UTF-8");
    xml.push('\n');
    Ok(xml)
}

/// Writes a testcase's `<system-out>`, then `</testcase>`.
fn close_case(writer: &mut Writer<Vec<u8>>, case: Option<&CaseExtra>) -> quick_xml::Result<()> {
    if let Some(c) = case.filter(|c| !c.system_out.is_empty()) {
        writer.write_event(Event::Start(BytesStart::new("system-out")))?;
        writer.write_event(Event::Text(BytesText::new(&c.system_out)))?;
        writer.write_event(Event::End(BytesEnd::new("system-out")))?;
    }
    writer.write_event(Event::End(BytesEnd::new("testcase")))?;
    Ok(())
}

/// A copy of `e` with its attributes in `order`: `Some(value)` sets (or
/// adds) one, `None` keeps the crate's value. Attributes not named keep
/// their place at the end.
fn rebuild(e: &BytesStart<'_>, order: &[(&str, Option<String>)]) -> BytesStart<'static> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let original: Vec<(Vec<u8>, Vec<u8>)> = e
        .attributes()
        .filter_map(Result::ok)
        .map(|a| (a.key.as_ref().to_vec(), a.value.into_owned()))
        .collect();
    let mut new = BytesStart::new(name);
    for (key, value) in order {
        match value {
            // Escaped by quick-xml.
            Some(v) => new.push_attribute((*key, v.as_str())),
            None => {
                if let Some((k, v)) = original.iter().find(|(k, _)| k == key.as_bytes()) {
                    new.push_attribute(raw_attribute(k, v));
                }
            }
        }
    }
    for (k, v) in &original {
        if !order.iter().any(|(key, _)| key.as_bytes() == k.as_slice()) {
            new.push_attribute(raw_attribute(k, v));
        }
    }
    new
}

/// An attribute whose value is already escaped, kept as it is.
fn raw_attribute<'a>(key: &'a [u8], value: &'a [u8]) -> Attribute<'a> {
    Attribute {
        key: QName(key),
        value: Cow::Borrowed(value),
    }
}

/// Replaces every character XML 1.0 does not allow (most C0 controls,
/// U+FFFE, U+FFFF), and the C1 controls and DEL it discourages, with a
/// visible `\xNN` / `\u{NNNN}` escape.
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    fn allowed(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{A0}'..='\u{FFFD}' | '\u{10000}'..)
    }
    if text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if allowed(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Text for an attribute: XML-safe and on one line.
fn attr(text: &str) -> String {
    xml_safe(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text the crate writes inside `<![CDATA[...]]>`: XML-safe, with `]]>`
/// split across two sections, tabs expanded (the crate's ANSI stripping
/// drops tabs) and carriage returns dropped.
fn cdata(text: &str) -> String {
    xml_safe(text)
        .replace('\r', "")
        .replace('\t', "    ")
        .replace("]]>", "]]]]><![CDATA[>")
}

/// Seconds with millisecond precision, as JUnit's `time` wants it.
fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The start time, to the second, in UTC.
fn timestamp(t: SystemTime) -> OffsetDateTime {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn hostname() -> String {
    let from_env = ["HOSTNAME", "COMPUTERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok());
    let from_files = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok());
    from_env
        .chain(from_files)
        .map(|h| h.trim().to_string())
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_safe_escapes_illegal_characters_only() {
        assert_eq!(xml_safe("a\tb\nc é ✓"), "a\tb\nc é ✓");
        assert_eq!(xml_safe("a\u{0}b\u{1b}[31m\u{7f}"), "a\\x00b\\x1b[31m\\x7f");
        assert_eq!(xml_safe("\u{fffe}"), "\\u{fffe}");
    }

    #[test]
    fn cdata_splits_the_terminator() {
        assert_eq!(cdata("a]]>b\tc\r\n"), "a]]]]><![CDATA[>b    c\n");
    }

    #[test]
    fn attr_is_one_line() {
        assert_eq!(attr(" a\n  b\tc \u{1} "), "a b c \\x01");
    }

    #[test]
    fn time_has_millisecond_precision() {
        assert_eq!(seconds(Duration::from_micros(1_234_567)), "1.235");
        assert_eq!(seconds(Duration::ZERO), "0.000");
    }
}
