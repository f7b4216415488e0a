//! The invalid corpus: every `tests/corpus/invalid/NN-name.oauthspec` holds
//! one mistake and says, in its leading comments, which error it must get:
//!
//! ```text
//! # error: unknown client `order`      substring of the first error's message
//! # at: 9:8                            line:col of that error (1-based)
//! # file: support/x.oauthspec          optional: the error is in this file
//!                                      (relative to the case), not the case
//! # shows: did you mean `orders`?      optional, repeatable: substring of the
//!                                      first error as rendered
//! # also: some message @ 4:8           optional, repeatable: another error of
//!                                      the case file, at that place
//! # known-bug: what goes wrong today   optional: the expectation above is the
//!                                      CORRECT one and the code does not meet
//!                                      it yet, so the case must fail; when it
//!                                      starts passing, drop this line
//! ```
//!
//! `support/` holds files that cases import; they are not cases.
//!
//! `cargo test --test integration -- check_corpus:: --nocapture` lists the known bugs with
//! what each case gets today.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use oauthspec_core::check::value::Environment;
use oauthspec_core::check::{check_paths, CheckOptions};
use oauthspec_core::diagnostic::Diagnostic;

const CORPUS: &str = "tests/corpus/invalid";
const MIN_CASES: usize = 45;

#[derive(Debug)]
struct Case {
    path: PathBuf,
    error: String,
    line: usize,
    col: usize,
    /// The file the error is expected in: the case itself unless `# file:`.
    error_file: PathBuf,
    shows: Vec<String>,
    also: Vec<(String, usize, usize)>,
    known_bug: Option<String>,
}

fn case_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .expect("the corpus directory exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "oauthspec"))
        .collect();
    paths.sort();
    paths
}

fn parse_line_col(text: &str) -> Result<(usize, usize), String> {
    let (l, c) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("expected LINE:COL, found {text:?}"))?;
    let l = l
        .trim()
        .parse()
        .map_err(|_| format!("bad line in {text:?}"))?;
    let c = c
        .trim()
        .parse()
        .map_err(|_| format!("bad column in {text:?}"))?;
    Ok((l, c))
}

fn parse_case(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut fields: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let Some((key, value)) = line[1..].split_once(':') else {
            continue;
        };
        fields.entry(key.trim()).or_default().push(value.trim());
    }
    let one = |key: &str| -> Result<&str, String> {
        match fields.get(key).map(Vec::as_slice) {
            Some([v]) => Ok(v),
            Some(_) => Err(format!("`# {key}:` is given more than once")),
            None => Err(format!("the header has no `# {key}:` line")),
        }
    };
    let error = one("error")?.to_string();
    if error.is_empty() {
        return Err("`# error:` is empty".into());
    }
    let (line, col) = parse_line_col(one("at")?)?;
    let dir = path.parent().expect("cases live in a directory");
    let error_file = match fields.get("file") {
        Some(_) => dir.join(one("file")?),
        None => path.to_path_buf(),
    };
    let also = fields
        .get("also")
        .into_iter()
        .flatten()
        .map(|v| {
            let (message, at) = v
                .rsplit_once('@')
                .ok_or_else(|| format!("`# also:` needs `message @ LINE:COL`, found {v:?}"))?;
            let (l, c) = parse_line_col(at)?;
            Ok((message.trim().to_string(), l, c))
        })
        .collect::<Result<_, String>>()?;
    Ok(Case {
        path: path.to_path_buf(),
        error,
        line,
        col,
        error_file,
        shows: fields
            .get("shows")
            .into_iter()
            .flatten()
            .map(|s| s.to_string())
            .collect(),
        also,
        known_bug: fields.get("known-bug").map(|v| v.join(" ")),
    })
}

/// No process environment, a few fixed values: results never depend on
/// the machine.
fn options() -> CheckOptions {
    let mut env = Environment::default();
    env.fixed
        .insert("ORDERS_CLIENT_ID".into(), "orders-client".into());
    env.fixed
        .insert("ORDERS_CLIENT_SECRET".into(), "orders-secret".into());
    CheckOptions {
        env,
        cli_vars: HashMap::new(),
    }
}

fn location(path: &Path, line: usize, col: usize) -> String {
    format!("{}:{line}:{col}", path.display())
}

/// The source line and a caret under `col`, as the renderer draws them.
fn check_snippet(rendered: &str, file: &Path, line: usize, col: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let source_line = text
        .split('\n')
        .nth(line - 1)
        .unwrap_or("")
        .trim_end_matches('\r');
    let pad = line.to_string().len();
    let shown = format!("{line} | {source_line}");
    if !rendered.lines().any(|l| l.trim_end() == shown.trim_end()) {
        return Err(format!("the rendering lacks the source line {shown:?}"));
    }
    let gutter = format!("{:pad$} | ", "");
    let caret_ok = rendered.lines().any(|l| {
        l.strip_prefix(&gutter).is_some_and(|rest| {
            let indent: String = rest.chars().take(col - 1).collect();
            indent.chars().all(|c| c == ' ' || c == '\t')
                && indent.chars().count() == col - 1
                && rest.chars().nth(col - 1) == Some('^')
        })
    });
    if !caret_ok {
        return Err(format!("the rendering has no `^` under column {col}"));
    }
    Ok(())
}

/// Checks one case; `Err` says how the result differs from the header.
fn evaluate(case: &Case) -> Result<(), String> {
    let project = check_paths(std::slice::from_ref(&case.path), &options());
    let errors: Vec<&Diagnostic> = project
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    let Some(first) = errors.first() else {
        return Err("no error was reported".into());
    };
    let want_at = location(&case.error_file, case.line, case.col);
    let got_at = first
        .location_string()
        .unwrap_or_else(|| "(nowhere)".into());
    let mut problems = Vec::new();
    if !first.message.contains(&case.error) {
        problems.push(format!("message does not contain {:?}", case.error));
    }
    if got_at != want_at {
        problems.push(format!("location is {got_at}, expected {want_at}"));
    }
    let rendered = first.render(false);
    if !rendered.contains(&format!("--> {got_at}")) {
        problems.push(format!("the rendering lacks `--> {got_at}`"));
    }
    if let Some((file, span)) = &first.location {
        let (l, c) = file.line_col(span.start);
        if let Err(e) = check_snippet(&rendered, &file.path, l, c) {
            problems.push(e);
        }
    }
    for s in &case.shows {
        if !rendered.contains(s.as_str()) {
            problems.push(format!("the rendering does not show {s:?}"));
        }
    }
    for (message, l, c) in &case.also {
        let at = location(&case.path, *l, *c);
        let found = errors.iter().any(|d| {
            d.message.contains(message.as_str()) && d.location_string() == Some(at.clone())
        });
        if !found {
            problems.push(format!("no error {message:?} at {at}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let mut out = problems.join("; ");
        let _ = writeln!(out, "\n      first error as rendered:");
        for l in rendered.lines() {
            let _ = writeln!(out, "        {l}");
        }
        Err(out)
    }
}

#[test]
fn every_invalid_case_reports_its_error() {
    let mut passed = 0;
    let mut known = Vec::new();
    let mut failures = Vec::new();
    for path in case_paths() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let case = match parse_case(&path) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: bad header: {e}"));
                continue;
            }
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| evaluate(&case)));
        match (outcome, &case.known_bug) {
            (Err(_), _) => failures.push(format!("{name}: PANICKED while checking")),
            (Ok(Ok(())), None) => passed += 1,
            (Ok(Err(e)), None) => failures.push(format!("{name}: {e}")),
            (Ok(Ok(())), Some(_)) => failures.push(format!(
                "{name}: marked `# known-bug:` but now passes; remove the marker"
            )),
            (Ok(Err(e)), Some(bug)) => known.push(format!("{name}: {bug}\n      today: {e}")),
        }
    }
    println!("{passed} cases pass, {} known bugs:", known.len());
    for k in &known {
        println!("  KNOWN BUG {k}");
    }
    assert!(
        failures.is_empty(),
        "{} corpus case(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn corpus_is_large_numbered_and_well_formed() {
    let paths = case_paths();
    assert!(
        paths.len() >= MIN_CASES,
        "only {} cases, want at least {MIN_CASES}",
        paths.len()
    );
    let mut numbers = BTreeSet::new();
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy();
        let (num, rest) = name
            .split_once('-')
            .unwrap_or_else(|| panic!("{name}: not named NN-short-name"));
        let n: usize = num
            .parse()
            .unwrap_or_else(|_| panic!("{name}: does not start with a number"));
        assert!(!rest.is_empty(), "{name}: no short name");
        assert!(numbers.insert(n), "{name}: number {n} is used twice");
        parse_case(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn support_files_are_imported_not_cases() {
    let support = Path::new(CORPUS).join("support");
    let mut imports = String::new();
    for path in case_paths() {
        imports.push_str(&std::fs::read_to_string(&path).unwrap());
    }
    for entry in std::fs::read_dir(&support).expect("support/ exists") {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !text.lines().any(|l| l.starts_with("# error:")),
            "{name}: support files carry no expectations"
        );
        assert!(
            imports.contains(&format!("import \"support/{name}\"")),
            "{name}: no case imports it"
        );
    }
}

/// The errors pasted into the language reference are what the checker
/// prints today.
#[test]
fn the_reference_shows_real_errors() {
    let doc = std::fs::read_to_string("docs/language.md").expect("the language reference");
    for case in ["38-unknown-client", "63-used-before-capture"] {
        let path = Path::new(CORPUS).join(format!("{case}.oauthspec"));
        let project = check_paths(&[path], &options());
        let first = project
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .expect("an error");
        let rendered = first.render(false);
        assert!(
            doc.contains(rendered.trim_end()),
            "docs/language.md should show, as printed today:\n{rendered}"
        );
    }
}

/// `oauthspec check` checks a batch of files at a time and drops them; it
/// must report exactly what checking everything at once reports, also
/// when a file was dropped before a later one imports it.
#[test]
fn checking_in_batches_reports_what_checking_at_once_does() {
    let options = CheckOptions {
        env: Environment::default(),
        cli_vars: Default::default(),
    };
    let paths = [PathBuf::from(CORPUS)];
    let at_once = check_paths(&paths, &options);
    let rendered = |ds: &[Diagnostic]| {
        let mut all: Vec<String> = ds.iter().map(|d| d.render(false)).collect();
        all.sort();
        all
    };
    for batch in [1, 5, 1000] {
        let batched = oauthspec_core::check::check_in_batches(&paths, &options, batch);
        let (got, want) = (
            rendered(&batched.diagnostics),
            rendered(&at_once.diagnostics),
        );
        let extra: Vec<_> = got.iter().filter(|d| !want.contains(d)).collect();
        let missing: Vec<_> = want.iter().filter(|d| !got.contains(d)).collect();
        assert!(
            got == want,
            "batch {batch}: extra {extra:#?}, missing {missing:#?}, {} vs {}",
            got.len(),
            want.len()
        );
        assert_eq!(batched.files, at_once.specs.len());
        assert_eq!(batched.steps, at_once.step_count());
        assert!(batched.error_count() > 80);
    }
}
