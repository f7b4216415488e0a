//! Editor highlighting: the TextMate grammar in `editors/` tokenizes every
//! spec of `specs/` and `tests/interop/`, and a fixture holding every
//! keyword, the way VS Code does (npm's vscode-textmate and
//! vscode-oniguruma, driven by `editors/test/tokenize.mjs`), and the scopes
//! are checked. The npm packages come from `npm ci --prefix editors/test`;
//! without them the checks fail under `CI` and are skipped elsewhere.

use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURE: &str = "editors/test/fixture.oauthspec";

/// Scopes expected on words outside strings and comments, wherever they
/// stand (unless the grammar scoped them as a name: a form field `status`).
const WORDS: &[(&[&str], &[&str])] = &[
    (&["suite", "vars", "client", "step"], &["storage.type"]),
    (&["import"], &["keyword.control.import"]),
    (&["always"], &["storage.modifier.always"]),
    (&["expect", "capture"], &["keyword.control"]),
    (
        &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        &["keyword.other.method"],
    ),
    (
        &["header", "body", "json"],
        &["keyword.other.request", "support.function.query"],
    ),
    (
        &["query", "form", "basic_auth", "bearer", "auth"],
        &["keyword.other.request"],
    ),
    (
        &[
            "timeout", "retry", "until", "pass", "backoff", "repeat", "delay",
        ],
        &["keyword.other.option"],
    ),
    (
        &[
            "follow_redirects",
            "insecure",
            "client_cert",
            "client_key",
            "ca_cert",
        ],
        &["keyword.other.option"],
    ),
    (&["param"], &["keyword.other.param"]),
    (
        &["status", "latency", "regex", "oauth_error", "jwt", "claim"],
        &["support.function.query"],
    ),
    (
        &["oauth_error_description", "signature"],
        &["support.function.query"],
    ),
    (
        &["no", "not", "exists", "valid", "contains", "matches"],
        &["keyword.operator.wordlike"],
    ),
    (&["startswith", "endswith"], &["keyword.operator.wordlike"]),
    (
        &["==", "!=", "<=", ">=", "<", ">"],
        &["keyword.operator.comparison"],
    ),
    (&["="], &["keyword.operator.assignment"]),
    (&["env", "file"], &["support.function.builtin"]),
    (
        &["secret"],
        &["support.function.builtin", "storage.modifier.secret"],
    ),
    (&["true", "false"], &["constant.language"]),
];

/// Scopes that mark a word as a name the user chose.
const NAMES: &[&str] = &[
    "variable.other",
    "entity.name",
    "support.type.property-name",
    "constant.other.symbol",
];

#[derive(Deserialize)]
struct Token {
    file: String,
    line: usize,
    text: String,
    scopes: Vec<String>,
}

impl Token {
    /// Whether a scope equals `want` or is nested under it
    /// (`keyword.control` matches `keyword.control.expect.oauthspec`).
    fn has(&self, want: &str) -> bool {
        self.scopes
            .iter()
            .any(|s| s == want || s.strip_prefix(want).is_some_and(|r| r.starts_with('.')))
    }

    fn in_text(&self) -> bool {
        self.has("string") || self.has("comment")
    }

    fn describe(&self) -> String {
        let scopes: Vec<_> = self.scopes[1..]
            .iter()
            .map(|s| s.trim_end_matches(".oauthspec"))
            .collect();
        format!(
            "{}:{}: {:?} [{}]",
            self.file,
            self.line,
            self.text,
            scopes.join(" ")
        )
    }
}

/// One tokenized line: its tokens with their byte offsets.
struct Line<'a> {
    text: String,
    tokens: Vec<(usize, &'a Token)>,
}

impl<'a> Line<'a> {
    fn at(&self, byte: usize) -> Option<&'a Token> {
        self.tokens
            .iter()
            .find(|(start, t)| (*start..start + t.text.len()).contains(&byte))
            .map(|(_, t)| *t)
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether node (and, with `modules`, the npm packages) can be used.
fn node_ready(modules: bool) -> bool {
    let dir = root().join("editors/test/node_modules");
    let packages = ["vscode-textmate", "vscode-oniguruma"];
    crate::common::tool_ready(
        "the highlighting checks",
        crate::common::runs("node", "--version")
            && (!modules || packages.iter().all(|p| dir.join(p).is_dir())),
        "install node 20 and run `npm ci --prefix editors/test`",
    )
}

fn node(args: &[&str]) -> String {
    let out = Command::new("node")
        .args(args)
        .current_dir(root())
        .output()
        .expect("run node");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node {args:?} failed:\n{stderr}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn specs() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read spec directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() && !path.ends_with("node_modules") {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "oauthspec") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&root().join("specs"), &mut paths);
    walk(&root().join("tests/interop"), &mut paths);
    paths.sort();
    let paths: Vec<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(paths.len() >= 5, "too few specs found: {paths:?}");
    paths
}

fn tokenize(files: &[String]) -> Vec<Token> {
    let mut args = vec!["editors/test/tokenize.mjs"];
    args.extend(files.iter().map(String::as_str));
    node(&args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a token as JSON"))
        .collect()
}

/// The tokens grouped by file and line.
fn lines(tokens: &[Token]) -> BTreeMap<(&str, usize), Line<'_>> {
    let mut lines = BTreeMap::<_, Line>::new();
    for t in tokens {
        let line = lines.entry((t.file.as_str(), t.line)).or_insert(Line {
            text: String::new(),
            tokens: Vec::new(),
        });
        line.tokens.push((line.text.len(), t));
        line.text.push_str(&t.text);
    }
    lines
}

/// The checks every spec must pass; returns the failures.
fn check_spec_tokens(tokens: &[Token]) -> Vec<String> {
    let ident = Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").unwrap();
    let duration = Regex::new(r"^[0-9]+(\.[0-9]+)?(ms|s|m)$").unwrap();
    let template = Regex::new(r"\{\{ *([A-Za-z_][A-Za-z0-9_]*) *\}\}").unwrap();
    let mut failures = Vec::new();
    let mut fail = |what: &str, t: &Token| failures.push(format!("{what}: {}", t.describe()));

    for t in tokens {
        let word = t.text.trim();
        let scoped = t.scopes[1..].iter().any(|s| !s.starts_with("meta."));
        if word.is_empty() {
            continue;
        }
        // Every token gets a scope, except plain identifiers.
        if !scoped && !word.split_whitespace().all(|w| ident.is_match(w)) {
            fail("no scope", t);
        }
        if t.text.contains('"') && !t.in_text() {
            fail("a quote outside a string", t);
        }
        if t.text.contains('#') && !t.in_text() {
            fail("a `#` outside a comment", t);
        }
        if t.in_text() {
            continue;
        }
        if duration.is_match(word) != t.has("constant.numeric.duration") {
            fail("duration scope mismatch", t);
        }
        if let Some((_, want)) = WORDS.iter().find(|(words, _)| words.contains(&word)) {
            if !want.iter().chain(NAMES).any(|s| t.has(s)) {
                fail(&format!("expected {want:?}"), t);
            }
        }
    }

    for line in lines(tokens).values() {
        // A number is never followed by a word stuck to it (`800` `ms`).
        for pair in line.tokens.windows(2) {
            let (number, next) = (pair[0].1, pair[1].1);
            if number.has("constant.numeric") && next.text.starts_with(char::is_alphabetic) {
                fail("a number split from its unit", number);
            }
        }
        // Every {{name}} in a string (or raw in JSON) is a template.
        for m in template.captures_iter(&line.text) {
            let open = line.at(m.get(0).unwrap().start()).unwrap();
            if open.has("comment") || open.has("constant.character.escape") {
                continue;
            }
            let name = line.at(m.get(1).unwrap().start()).unwrap();
            if !(open.has("punctuation.definition.template-expression.begin")
                && name.text == m[1]
                && name.has("meta.template.expression")
                && name.has("variable.other"))
            {
                fail("not a template", name);
            }
        }
    }
    failures
}

fn assert_none(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} highlighting problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_spec_is_highlighted() {
    if !node_ready(true) {
        return;
    }
    let mut files = specs();
    files.push(FIXTURE.to_string());
    let tokens = tokenize(&files);
    for file in &files {
        assert!(
            tokens.iter().any(|t| &t.file == file),
            "no tokens for {file}"
        );
    }
    assert_none(check_spec_tokens(&tokens));
}

/// The fixture's `# ^^^ scope -absent` and `# <- scope` assertions, as in
/// Sublime Text's syntax tests, hold for the nearest line above that is not
/// an assertion.
#[test]
fn fixture_assertions_hold() {
    if !node_ready(true) {
        return;
    }
    let tokens = tokenize(&[FIXTURE.to_string()]);
    let lines = lines(&tokens);
    let source = std::fs::read_to_string(root().join(FIXTURE)).unwrap();
    let assertion = Regex::new(r"^(\s*#\s*)(\^+|<-)\s+(\S.*)$").unwrap();
    let (mut target, mut checked, mut failures) = (0, 0, Vec::new());
    for (i, text) in source.lines().enumerate() {
        let Some(a) = assertion.captures(text) else {
            target = i + 1;
            continue;
        };
        let columns = match &a[2] {
            "<-" => {
                let col = a[1].find('#').unwrap();
                col..col + 1
            }
            carets => a[1].len()..a[1].len() + carets.len(),
        };
        let line = &lines[&(FIXTURE, target)];
        for col in columns {
            let token = line.at(col).expect("a token under the assertion");
            for want in a[3].split_whitespace() {
                let ok = match want.strip_prefix('-') {
                    Some(absent) => !token.has(absent),
                    None => token.has(want),
                };
                if !ok {
                    failures.push(format!("line {}: {want}: {}", i + 1, token.describe()));
                }
            }
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} assertions found");
    assert_none(failures);
}

/// Every keyword of the pest grammar appears in the fixture with a scope, so
/// a keyword added to the language cannot be forgotten here.
#[test]
fn fixture_covers_every_keyword() {
    if !node_ready(true) {
        return;
    }
    let pest = std::fs::read_to_string(root().join("grammar/oauthspec.pest")).unwrap();
    // The bodies of the keyword, method, operator and boolean rules.
    let rule = Regex::new(r"(?ms)^(kw_\w+|method|operator|boolean)\s*=.*?\}$").unwrap();
    let word = Regex::new(r#""([A-Za-z_]\w*)""#).unwrap();
    let keywords: Vec<&str> = rule
        .find_iter(&pest)
        .flat_map(|line| word.captures_iter(line.as_str()))
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert!(keywords.len() > 40, "too few keywords read: {keywords:?}");
    let tokens = tokenize(&[FIXTURE.to_string()]);
    let missing: Vec<_> = keywords
        .iter()
        .filter(|&&k| {
            !tokens.iter().any(|t| {
                t.text == k && !t.in_text() && t.scopes[1..].iter().any(|s| !s.starts_with("meta."))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keywords not highlighted in {FIXTURE}: {missing:?}"
    );
}

/// The fixture is a valid spec: `oauthspec check` accepts it.
#[test]
fn fixture_is_valid_oauthspec() {
    let out = Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .arg("check")
        .arg(root().join(FIXTURE))
        .output()
        .expect("run oauthspec check");
    assert!(
        out.status.success(),
        "{FIXTURE} does not check:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The VS Code and Sublime copies of the grammar match the JSON grammar.
#[test]
fn editor_copies_are_up_to_date() {
    if node_ready(false) {
        node(&["editors/test/build.mjs", "--check"]);
    }
}
