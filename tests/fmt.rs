//! `oauthspec fmt`: the formatted file means what the original meant (same
//! syntax tree, same parser diagnostics), keeps every comment, and is its
//! own format; checked on every spec in the repository, on valid
//! neighbours of the invalid corpus, and on fixtures under `tests/fmt/`.

use std::path::{Path, PathBuf};

use oauthspec_core::source::SourceFile;
use oauthspec_core::syntax::format::{comments, format_source, is_formatted, MAX_WIDTH};
use oauthspec_core::syntax::parse;
use regex::Regex;

// ---------------------------------------------------------------- helpers

/// The syntax tree and the parser's diagnostics of `text`, spans left out
/// (they move when the layout does).
fn tree(name: &str, text: &str) -> String {
    let source = SourceFile::new(name, text);
    let (file, diagnostics) = parse(&source);
    let file = file.unwrap_or_else(|| panic!("{name}: no syntax tree"));
    let mut out = format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n",
        file.suite, file.imports, file.vars, file.clients, file.steps
    );
    for d in diagnostics {
        out.push_str(&format!("{:?} {:?} {:?}\n", d.message, d.label, d.notes));
    }
    let spans = Regex::new(r"Span \{ start: \d+, end: \d+ \}").unwrap();
    spans.replace_all(&out, "Span").into_owned()
}

/// A readable difference between two texts, line by line.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i), a.get(i));
        if x != y {
            out.push_str(&format!(
                "line {}:\n  expected {:?}\n  actual   {:?}\n",
                i + 1,
                x.unwrap_or(&"<none>"),
                y.unwrap_or(&"<none>")
            ));
        }
    }
    out
}

/// Formats `text` and checks everything `fmt` promises. Returns the output.
fn check(name: &str, text: &str) -> String {
    let out = format_source(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        tree(name, &out),
        tree(name, text),
        "{name}: formatting changed the meaning; formatted:\n{out}"
    );
    assert_eq!(
        comments(&out).unwrap(),
        comments(text).unwrap(),
        "{name}: comments lost or changed; formatted:\n{out}"
    );
    let again = format_source(&out).unwrap_or_else(|e| panic!("{name}: formatted: {e}"));
    assert!(
        again == out,
        "{name}: formatting is not idempotent:\n{}\nfirst pass:\n{out}",
        diff(&out, &again)
    );
    assert!(is_formatted(&out).unwrap());
    // Layout promises that hold whatever the input.
    if !text.trim().is_empty() {
        assert!(out.ends_with('\n') && !out.ends_with("\n\n"), "{name}: end");
        assert!(!out.starts_with('\n'), "{name}: leading blank line");
    }
    assert!(!out.contains("\n\n\n"), "{name}: two blank lines in a row");
    if !text.contains("\"\"\"") {
        for (i, line) in out.lines().enumerate() {
            assert_eq!(line.trim_end(), line, "{name}:{}: trailing blanks", i + 1);
            assert!(!line.contains('\t'), "{name}:{}: a tab", i + 1);
        }
    }
    out
}

/// `*.oauthspec` files directly in `dir`, sorted.
fn specs_in(dir: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "oauthspec"))
        .collect();
    paths.sort();
    paths
}

/// Every `*.oauthspec` under `dir`, recursively.
fn specs_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            specs_under(&path, found);
        } else if path.extension().is_some_and(|e| e == "oauthspec") {
            found.push(path);
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A tiny deterministic generator, for messing layouts up.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `text` with each line re-indented at random (spaces and tabs), trailing
/// blanks added, blank lines tripled, CRLF line ends: none of that may
/// change the formatted output. Not for texts with triple-quoted strings,
/// whose lines are content.
fn scramble(text: &str, seed: u64) -> String {
    let mut rng = Lcg(seed);
    let mut out = String::from("\r\n\n");
    for line in text.lines() {
        let body = line.trim_start();
        if body.is_empty() {
            out.push_str("\r\n  \n\t\r\n");
            continue;
        }
        for _ in 0..rng.next(7) {
            out.push(if rng.next(3) == 0 { '\t' } else { ' ' });
        }
        out.push_str(body);
        for _ in 0..rng.next(3) {
            out.push(' ');
        }
        out.push_str(if rng.next(2) == 0 { "\r\n" } else { "\n" });
    }
    out.push_str("\n\n");
    out
}

/// Byte offsets of the blanks that follow a token, outside strings,
/// templates and comments: where a comment may be inserted.
fn gaps(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut gaps = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if let Some(raw) = rest.strip_prefix("\"\"\"") {
            i += 3 + raw.find("\"\"\"").expect("closed") + 3;
        } else if rest.starts_with('"') {
            i += 1;
            while bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if rest.starts_with("{{") {
            i += rest.find("}}").expect("closed") + 2;
        } else if rest.starts_with('#') {
            i += rest.find('\n').unwrap_or(rest.len());
        } else {
            if bytes[i].is_ascii_whitespace() && i > 0 && !bytes[i - 1].is_ascii_whitespace() {
                gaps.push(i);
            }
            i += 1;
        }
    }
    gaps
}

/// `text` with `comment(n)` inserted at every gap whose index is `phase`
/// modulo `every`.
fn with_comments(
    text: &str,
    every: usize,
    phase: usize,
    comment: impl Fn(usize) -> String,
) -> String {
    let mut out = String::new();
    let mut from = 0;
    for (n, at) in gaps(text).into_iter().enumerate() {
        if n % every == phase {
            out.push_str(&text[from..at]);
            out.push_str(&comment(n));
            from = at;
        }
    }
    out.push_str(&text[from..]);
    out
}

/// Files whose every line break is insignificant (no unknown statements).
fn repository_specs() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    specs_under(Path::new("specs"), &mut paths);
    paths.extend(specs_in("tests/interop"));
    paths.extend(specs_in("tests/fmt"));
    assert!(paths.len() >= 12, "too few specs found: {paths:?}");
    paths
}

// ------------------------------------------------------------------ tests

#[test]
fn every_spec_in_the_repository() {
    for path in repository_specs() {
        let name = path.display().to_string();
        let text = read(&path);
        let out = check(&name, &text);
        if text.contains("\"\"\"") {
            continue;
        }
        for seed in 0..4 {
            let messy = scramble(&text, seed);
            let again = format_source(&messy).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                again == out,
                "{name}: re-indenting (seed {seed}) changed the output:\n{}",
                diff(&out, &again)
            );
        }
    }
}

#[test]
fn the_examples_are_formatted() {
    // The examples are the style guide: fmt leaves them alone.
    for path in specs_in("specs/examples") {
        let text = read(&path);
        let out = format_source(&text).unwrap();
        assert!(
            out == text,
            "{} is not in canonical layout:\n{}",
            path.display(),
            diff(&text, &out)
        );
    }
}

#[test]
fn comments_anywhere_are_kept_and_stable() {
    // A comment after any token, trailing, on a line of its own or between
    // blank lines, in many places at once: the output still means the
    // same, keeps them all and is its own format.
    for path in repository_specs() {
        let name = path.display().to_string();
        let text = read(&path);
        for every in [1, 4] {
            for phase in 0..every {
                let trailing = with_comments(&text, every, phase, |n| format!("  # t{n}\n"));
                check(&format!("{name} (trailing {every}/{phase})"), &trailing);
                let own = with_comments(&text, every, phase, |n| format!("\n# o{n}\n"));
                check(&format!("{name} (own line {every}/{phase})"), &own);
                let apart = with_comments(&text, every, phase, |n| format!("\n\n# b{n}\n\n"));
                check(&format!("{name} (blank lines {every}/{phase})"), &apart);
            }
        }
    }
}

#[test]
fn messy_fixture_matches_its_golden_file() {
    let text = read(Path::new("tests/fmt/messy.oauthspec"));
    let out = check("messy", &text);
    let golden = Path::new("tests/fmt/messy.expected.oauthspec");
    if std::env::var_os("OAUTHSPEC_BLESS").is_some() {
        std::fs::write(golden, &out).unwrap();
    }
    let expected = read(golden);
    assert!(
        out == expected,
        "tests/fmt/messy.oauthspec formats differently (OAUTHSPEC_BLESS=1 rewrites the golden file):\n{}",
        diff(&expected, &out)
    );
}

#[test]
fn the_constructs_fixture_is_canonical_and_clean() {
    let text = read(Path::new("tests/fmt/constructs.oauthspec"));
    let source = SourceFile::new("constructs.oauthspec", text.as_str());
    let (_, diagnostics) = parse(&source);
    let messages: Vec<_> = diagnostics.iter().map(|d| d.render(false)).collect();
    assert!(messages.is_empty(), "{}", messages.join("\n"));
    assert!(is_formatted(&text).unwrap());
}

/// Each invalid case that the grammar rejects, mended into its nearest
/// valid neighbour: (file, what to replace, with what).
const MENDS: &[(&str, &str, &str)] = &[
    ("01-unterminated-string", "v1/orders\n", "v1/orders\"\n"),
    ("02-single-equals", "status = 200", "status == 200"),
    ("03-missing-closing-brace", "== 200\n", "== 200\n}\n"),
    ("07-bad-duration-unit", "5sec", "5s"),
    ("10-percentile-out-of-range", "p100", "p99"),
    (
        "11-missing-predicate",
        "expect status\n",
        "expect status exists\n",
    ),
    (
        "12-missing-operand",
        "expect status ==\n",
        "expect status == 200\n",
    ),
    ("13-unknown-query", "stauts", "status"),
    ("16-json-missing-comma", "\"A1\" \"qty\"", "\"A1\", \"qty\""),
    ("17-json-unquoted-key", "{ sku:", "{ \"sku\":"),
    ("18-template-unclosed", "{{id\"", "{{id}}\""),
    (
        "21-unterminated-triple-string",
        "\"A1\"}\n",
        "\"A1\"}\n  \"\"\"\n",
    ),
    ("22-unterminated-string-escaped-quote", "A1\n", "A1\"\n"),
    (
        "23-header-missing-equals",
        "\"Accept\" \"",
        "\"Accept\" = \"",
    ),
    ("24-capture-missing-equals", "first json", "first = json"),
    ("25-client-without-name", "client {", "client orders {"),
    (
        "26-suite-without-string",
        "suite orders",
        "suite \"orders\"",
    ),
    (
        "89-step-without-brace",
        "\"list orders\"\n",
        "\"list orders\" {\n",
    ),
    ("90-dangling-capture", "capture\n", "capture id = status\n"),
    (
        "91-capture-without-query",
        "capture id\n",
        "capture id = status\n",
    ),
    (
        "92-missing-predicate-before-comments",
        "\"$.id\" #",
        "\"$.id\" exists #",
    ),
    (
        "93-latency-without-comparison",
        "latency\n",
        "latency < 1s\n",
    ),
    ("broken", "auth.example.com\n", "auth.example.com\"\n"),
    (
        "113-proof-for-without-a-url",
        "proof_for\n",
        "proof_for \"https://api.example/other\"\n",
    ),
];

#[test]
fn the_invalid_corpus_and_its_valid_neighbours() {
    let mut paths = specs_in("tests/corpus/invalid");
    paths.extend(specs_in("tests/corpus/invalid/support"));
    assert!(paths.len() >= 80);
    let mut used = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let text = read(&path);
        let mend = MENDS.iter().find(|(case, _, _)| *case == stem);
        match (format_source(&text), mend) {
            (Ok(_), None) => {
                check(&name, &text);
            }
            (Err(e), Some((_, from, to))) => {
                assert!(e.starts_with("syntax error at line "), "{name}: {e}");
                assert!(text.contains(from), "{name}: mend does not apply");
                let mended = text.replacen(from, to, 1);
                check(&format!("{name} (mended)"), &mended);
                used.push(stem.to_string());
            }
            (Ok(_), Some(_)) => panic!("{name} now parses: drop its mend"),
            (Err(e), None) => panic!("{name} does not parse ({e}): add a mend"),
        }
    }
    assert_eq!(used.len(), MENDS.len(), "unused mends");
}

#[test]
fn a_file_that_does_not_parse_is_refused() {
    let err = format_source("step \"x\" {\n  GET \"https://a.test\n}\n").unwrap_err();
    assert_eq!(err, "syntax error at line 2, column 22");
    assert!(comments("suite").is_err());
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(format_source("").unwrap(), "");
    assert_eq!(format_source(" \n\n\t\n").unwrap(), "");
    assert_eq!(
        format_source("\n\n  # one   \n\n\n\n# two\r\n# three").unwrap(),
        "# one\n\n# two\n# three\n"
    );
}

#[test]
fn one_line_input_gets_the_canonical_layout() {
    // Line breaks are insignificant to the grammar: a spec squeezed onto
    // one line comes back in the canonical layout.
    let canonical = "suite \"s\"\n\nimport \"a.oauthspec\"\nimport \"b.oauthspec\"\n\nvars {\n  a   = \"1\"\n  bcd = env(\"X\", \"y\")\n}\n\nclient c {\n  token_url     \"https://auth.test/token\"\n  client_id     \"id\"\n  client_secret secret(\"s\")\n  param \"aud\"      = \"x\"\n  param \"resource\" = \"y\"\n}\n\nstep \"s\" always {\n  POST \"https://api.test/x\"\n  header \"A\"   = \"1\"\n  header \"Bcd\" = \"2\"\n  query { q = \"1\" }\n  json { \"a\": [1, 2], \"b\": { \"c\": null } }\n  auth c\n  retry 2 backoff 1s\n  expect status == 200\n  expect json \"$.a\" not exists\n  capture x   = json \"$.x\"\n  capture yyy = header \"Y\" secret\n}\n";
    let squeezed = canonical.replace('\n', " ").replace("  ", " ");
    assert_eq!(format_source(&squeezed).unwrap(), canonical);
    check("squeezed", &squeezed);
}

#[test]
fn forms_and_json_fit_in_the_line_width() {
    // A one-entry form on one line while it fits in MAX_WIDTH columns.
    let form = |value_len: usize| {
        let value = "v".repeat(value_len);
        format_source(&format!(
            "step \"s\" {{\n  POST \"https://a.test\"\n  form {{ k = \"{value}\" }}\n}}\n"
        ))
        .unwrap()
    };
    // `  form { k = "" }` is 17 columns.
    let fits = form(MAX_WIDTH - 17);
    assert!(fits.contains(&format!(
        "  form {{ k = \"{}\" }}\n",
        "v".repeat(MAX_WIDTH - 17)
    )));
    let long = form(MAX_WIDTH - 16);
    assert!(long.contains("  form {\n    k = \"v"), "{long}");
    // Two entries: one per line however short.
    let two = format_source("step \"s\" { GET \"https://a.test\" query { a = \"1\" b = \"2\" } }")
        .unwrap();
    assert!(
        two.contains("  query {\n    a = \"1\"\n    b = \"2\"\n  }\n"),
        "{two}"
    );
    // JSON: the same rule, applied again to every nested value.
    let json = |value_len: usize| {
        let value = "v".repeat(value_len);
        format_source(&format!(
            "step \"s\" {{\n  POST \"https://a.test\"\n  json {{ \"k\": [\"{value}\"] }}\n}}\n"
        ))
        .unwrap()
    };
    // `  json { "k": [""] }` is 20 columns.
    assert!(json(MAX_WIDTH - 20).contains("  json { \"k\": [\""));
    let long = json(MAX_WIDTH - 19);
    assert!(long.contains("  json {\n    \"k\": [\"vvv"), "{long}");
    let nested = json(MAX_WIDTH);
    assert!(
        nested.contains("  json {\n    \"k\": [\n      \"vvv"),
        "{nested}"
    );
    check("nested json", &nested);
}

#[test]
fn comments_keep_their_place() {
    let text = "step \"s\" { # opens\n  GET \"https://a.test\"    # aligned by hand\n  expect status == 200 # too close\n\n\n  # own line\n  capture a = json \"$.a\"\n  # after a capture\n}  # closes\n";
    let expected = "step \"s\" {  # opens\n  GET \"https://a.test\"    # aligned by hand\n  expect status == 200  # too close\n\n  # own line\n  capture a = json \"$.a\"\n  # after a capture\n}  # closes\n";
    assert_eq!(check("comments", text), expected);
    // A comment inside a statement ends its line; the statement goes on
    // two spaces deeper.
    let text = "step \"s\" {\n  GET \"https://a.test\"\n  basic_auth \"u\" # the user\n \"p\"\n}\n";
    let expected =
        "step \"s\" {\n  GET \"https://a.test\"\n  basic_auth \"u\"  # the user\n    \"p\"\n}\n";
    assert_eq!(check("inside", text), expected);
}

#[test]
fn unknown_statements_and_items_are_kept_as_written() {
    let text = "stpe  \"x\" {\n GET \"https://a.test\"\n}\nstep \"s\" {\n    GET \"https://a.test\"\n  exepct   status == 200   # typo  \n}\n";
    let expected = "stpe  \"x\" {\n GET \"https://a.test\"\n}\n\nstep \"s\" {\n  GET \"https://a.test\"\n  exepct   status == 200   # typo\n}\n";
    assert_eq!(check("unknown", text), expected);
}
