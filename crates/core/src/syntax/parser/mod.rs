//! pest pairs → syntax tree.

mod expect;
mod values;

use std::sync::Arc;

use pest::error::InputLocation;
use pest::iterators::Pair;
use pest::Parser as _;
use pest_derive::Parser;

use super::ast::*;
use super::{pest_error, split};
use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, Span, Spanned};
use crate::util::parallel;

#[derive(Parser)]
#[grammar = "../../../grammar/oauthspec.pest"]
pub(crate) struct Grammar;

/// Parses one file. A syntax error stops at the first one (pest cannot
/// recover) and yields no tree; structural errors found while building the
/// tree are all kept, beside a tree that later checks can still use.
///
/// A big file is cut into pieces parsed on every core (see `split`); the
/// result is the same as one pass, which is what any doubt falls back to.
pub fn parse(source: &Arc<SourceFile>) -> (Option<SpecFile>, Vec<Diagnostic>) {
    if let Some(diagnostic) = too_deep(source) {
        return (None, vec![diagnostic]);
    }
    if source.text.len() >= split::MIN_SPLIT_LEN && parallel::cores() > 1 {
        let ranges = split::pieces(&source.text, parallel::cores());
        if ranges.len() > 1 {
            let parts = parallel::map_each(&ranges, |range| parse_range(source, range.clone()));
            if let Some(merged) = merge(parts) {
                return merged;
            }
        }
    }
    parse_range(source, 0..source.text.len())
}

/// Nesting the parser would recurse too deep for, as an error at the
/// bracket that goes too far.
pub fn too_deep(source: &Arc<SourceFile>) -> Option<Diagnostic> {
    let at = super::scan::too_deep(&source.text)?;
    Some(
        Diagnostic::error(format!(
            "brackets nest deeper than {} levels",
            super::scan::MAX_NESTING
        ))
        .at(source, Span::new(at, at + 1))
        .label("too deep")
        .help("a JSON body may nest at most 129 levels inside its step"),
    )
}

/// Parses `range` of the source as a file of its own; spans stay relative
/// to the whole source.
fn parse_range(
    source: &Arc<SourceFile>,
    range: std::ops::Range<usize>,
) -> (Option<SpecFile>, Vec<Diagnostic>) {
    let offset = range.start;
    let mut pairs = match Grammar::parse(Rule::file, &source.text[range]) {
        Ok(pairs) => pairs,
        Err(mut err) => {
            err.location = match err.location {
                InputLocation::Pos(p) => InputLocation::Pos(p + offset),
                InputLocation::Span((a, b)) => InputLocation::Span((a + offset, b + offset)),
            };
            return (None, vec![pest_error::convert(source, err)]);
        }
    };
    let mut builder = Builder {
        source: source.clone(),
        offset,
        diagnostics: Vec::new(),
    };
    let file = builder.file(pairs.next().expect("the file rule always yields a pair"));
    (Some(file), builder.diagnostics)
}

/// The pieces of a file as one tree, or None when only a parse of the
/// whole can say what is wrong: a syntax error, or a `suite` named in two
/// pieces (the builder reports that, and sees both only in one pass).
fn merge(
    parts: Vec<(Option<SpecFile>, Vec<Diagnostic>)>,
) -> Option<(Option<SpecFile>, Vec<Diagnostic>)> {
    let mut parts = parts.into_iter();
    let (first, mut diagnostics) = parts.next()?;
    let mut file = first?;
    for (part, mut more) in parts {
        let part = part?;
        if part.suite.is_some() && file.suite.is_some() {
            return None;
        }
        file.suite = file.suite.or(part.suite);
        file.imports.extend(part.imports);
        file.vars.extend(part.vars);
        file.clients.extend(part.clients);
        file.steps.extend(part.steps);
        diagnostics.append(&mut more);
    }
    Some((Some(file), diagnostics))
}

/// Children of a pair without its punctuation, which exists in the grammar
/// only so errors can name it.
type Children<'i> =
    std::iter::Filter<pest::iterators::Pairs<'i, Rule>, fn(&Pair<'i, Rule>) -> bool>;

trait Parts<'i> {
    fn parts(self) -> Children<'i>;
}

impl<'i> Parts<'i> for Pair<'i, Rule> {
    fn parts(self) -> Children<'i> {
        fn keep(pair: &Pair<'_, Rule>) -> bool {
            !matches!(
                pair.as_rule(),
                Rule::COMMENT
                    | Rule::eq
                    | Rule::comma
                    | Rule::colon
                    | Rule::open_brace
                    | Rule::close_brace
                    | Rule::open_paren
                    | Rule::close_paren
                    | Rule::open_bracket
                    | Rule::close_bracket
            )
        }
        self.into_inner()
            .filter(keep as fn(&Pair<'i, Rule>) -> bool)
    }
}

struct Builder {
    source: Arc<SourceFile>,
    /// Where the parsed text starts in the source (see `parse_range`).
    offset: usize,
    diagnostics: Vec<Diagnostic>,
}

impl Builder {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let span = pair.as_span();
        Span::new(span.start() + self.offset, span.end() + self.offset)
    }

    fn spanned_str(&self, pair: &Pair<Rule>) -> Spanned<String> {
        Spanned::new(pair.as_str().to_string(), self.span(pair))
    }

    fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(message).at(&self.source, span)
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.push(self.diag(span, message));
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn file(&mut self, pair: Pair<Rule>) -> SpecFile {
        let mut file = SpecFile {
            source: self.source.clone(),
            suite: None,
            imports: Vec::new(),
            vars: Vec::new(),
            clients: Vec::new(),
            steps: Vec::new(),
        };
        for item in pair.parts() {
            match item.as_rule() {
                Rule::suite_decl => {
                    let name = self.string(last(item.clone()));
                    if file.suite.is_some() {
                        self.error(self.span(&item), "a file names its suite only once");
                    }
                    file.suite = Some(Spanned::new(self.literal(&name), name.span));
                }
                Rule::import_decl => {
                    let path = self.string(last(item));
                    file.imports
                        .push(Spanned::new(self.literal(&path), path.span));
                }
                Rule::vars_block => {
                    for def in item.parts().filter(|p| p.as_rule() == Rule::var_def) {
                        let mut inner = def.parts();
                        let name = self.spanned_str(&inner.next().expect("var name"));
                        let value = self.value(inner.next().expect("var value"));
                        file.vars.push(VarDef { name, value });
                    }
                }
                Rule::client_block => file.clients.push(self.client(item)),
                Rule::step_block => file.steps.push(self.step(item)),
                Rule::unknown_item => {
                    let word = first_word(item.as_str());
                    let s = Span::new(self.span(&item).start, self.span(&item).start + word.len());
                    self.push(
                        self.diag(s, format!("unknown item `{word}`"))
                            .label("expected `suite`, `import`, `vars`, `client` or `step`")
                            .suggest(word, ["suite", "import", "vars", "client", "step"]),
                    );
                }
                Rule::EOI => {}
                rule => unreachable!("unexpected top-level rule {rule:?}"),
            }
        }
        file
    }

    /// A string used where templates make no sense (suite names, imports).
    fn literal(&mut self, template: &Template) -> String {
        template.as_literal().unwrap_or_else(|| {
            self.error(template.span, "no `{{...}}` templates are allowed here");
            template_text(template)
        })
    }

    fn client(&mut self, pair: Pair<Rule>) -> ClientDef {
        let block_span = self.span(&pair);
        let mut inner = pair.parts();
        inner.next(); // `client`
        let name = self.spanned_str(&inner.next().expect("client name"));
        let mut settings = Vec::new();
        let mut login = Vec::new();
        for entry in inner {
            match entry.as_rule() {
                Rule::client_login => {
                    let mut parts = entry.parts();
                    let span = self.span(&parts.next().expect("login keyword"));
                    let (consent, fields): (Vec<_>, Vec<_>) =
                        parts.partition(|p| p.as_rule() == Rule::login_consent);
                    let consent = consent
                        .into_iter()
                        .next()
                        .map(|c| self.value(c.parts().nth(1).expect("consent value")));
                    login.push(LoginDef {
                        fields: self.pairs(fields.into_iter()),
                        consent,
                        span,
                    });
                }
                Rule::client_param => {
                    let mut parts = entry.parts();
                    let key = self.spanned_str(&parts.next().expect("param keyword"));
                    let param = Some(self.string(parts.next().expect("param name")));
                    let value = self.value(parts.next().expect("param value"));
                    settings.push(ClientSetting { key, param, value });
                }
                Rule::client_setting => {
                    let mut parts = entry.parts();
                    let key = self.spanned_str(&parts.next().expect("setting name"));
                    let value = self.value_or_symbol(parts.next().expect("setting value"));
                    settings.push(ClientSetting {
                        key,
                        param: None,
                        value,
                    });
                }
                rule => unreachable!("unexpected client rule {rule:?}"),
            }
        }
        ClientDef {
            name,
            settings,
            login,
            span: block_span,
        }
    }

    fn step(&mut self, pair: Pair<Rule>) -> Step {
        let step_span = self.span(&pair);
        let mut inner = pair.parts();
        inner.next(); // `step`
        let name_t = self.string(inner.next().expect("step name"));
        let mut step = Step {
            name: Spanned::new(self.literal(&name_t), name_t.span),
            always: false,
            request: None,
            headers: Vec::new(),
            query: Vec::new(),
            body: None,
            auth: None,
            options: StepOptions::default(),
            expects: Vec::new(),
            captures: Vec::new(),
            unknown: Vec::new(),
            span: step_span,
        };
        for stmt in inner {
            let stmt_span = self.span(&stmt);
            let rule = stmt.as_rule();
            let mut parts = stmt.clone().parts();
            match rule {
                Rule::always => step.always = true,
                Rule::request_line => {
                    let method_pair = parts.next().expect("method");
                    let method =
                        Spanned::new(method_of(method_pair.as_str()), self.span(&method_pair));
                    let url = self.value(parts.next().expect("url"));
                    if step.request.is_some() {
                        self.push(
                            self.diag(stmt_span, "a step sends one request")
                                .help("split it into two steps"),
                        );
                    }
                    step.request = Some(Request { method, url });
                }
                Rule::header_stmt => {
                    parts.next();
                    let name = self.string(parts.next().expect("header name"));
                    let value = self.value(parts.next().expect("header value"));
                    step.headers.push(Header { name, value });
                }
                Rule::query_block => {
                    let pairs = self.pairs(parts.skip(1));
                    step.query.extend(pairs);
                }
                Rule::form_block => {
                    let pairs = self.pairs(parts.skip(1));
                    self.set_body(&mut step, Body::Form(pairs), stmt_span);
                }
                Rule::json_block => {
                    let json = self.json(parts.nth(1).expect("json value"));
                    self.set_body(&mut step, Body::Json(json), stmt_span);
                }
                Rule::body_stmt => {
                    let value = self.value(parts.nth(1).expect("body value"));
                    self.set_body(&mut step, Body::Raw(value), stmt_span);
                }
                Rule::basic_auth_stmt => {
                    parts.next();
                    let user = self.value(parts.next().expect("user"));
                    let password = self.value(parts.next().expect("password"));
                    self.set_auth(&mut step, Auth::Basic { user, password }, stmt_span);
                }
                Rule::bearer_stmt => {
                    let token = self.value(parts.nth(1).expect("token"));
                    self.set_auth(&mut step, Auth::Bearer(token), stmt_span);
                }
                Rule::auth_stmt => {
                    let client = self.spanned_str(&parts.nth(1).expect("client name"));
                    step.options.proof = parts.next().map(|p| match p.as_rule() {
                        Rule::proof_for => {
                            let span = self.span(&p);
                            let url = self.value(p.parts().nth(1).expect("proof_for URL"));
                            ProofOption::For { url, span }
                        }
                        _ => ProofOption::Without(self.span(&p)),
                    });
                    self.set_auth(&mut step, Auth::Client(client), stmt_span);
                }
                Rule::timeout_opt => {
                    let d = self.duration(&parts.nth(1).expect("duration"));
                    self.set_once(&mut step.options.timeout, d, stmt_span, "timeout");
                }
                Rule::delay_opt => {
                    let d = self.duration(&parts.nth(1).expect("duration"));
                    self.set_once(&mut step.options.delay, d, stmt_span, "delay");
                }
                Rule::repeat_opt => {
                    let n = self.count(&parts.nth(1).expect("count"), 1);
                    self.set_once(&mut step.options.repeat, n, stmt_span, "repeat");
                }
                Rule::retry_opt => {
                    parts.next();
                    let count = parts.next().expect("count");
                    // Up to its last word: trying the optional parts that
                    // are absent skipped blanks and comments after it.
                    let end = parts
                        .clone()
                        .map(|p| self.span(&p).end)
                        .max()
                        .unwrap_or(self.span(&count).end);
                    let count = self.count(&count, 0).node;
                    let mut retry = Retry {
                        count,
                        until_pass: false,
                        backoff: None,
                        max: None,
                        span: Span::new(stmt_span.start, end),
                    };
                    for part in parts {
                        let rule = part.as_rule();
                        if rule == Rule::until_pass {
                            retry.until_pass = true;
                            continue;
                        }
                        let duration = part.parts().nth(1).map(|d| self.duration(&d).node);
                        match rule {
                            Rule::retry_backoff => retry.backoff = duration,
                            Rule::retry_max => retry.max = duration,
                            _ => {}
                        }
                    }
                    self.set_once(&mut step.options.retry, retry, stmt_span, "retry");
                }
                Rule::follow_opt => {
                    let on = parts.nth(1).is_none_or(|b| b.as_str() == "true");
                    self.set_once(
                        &mut step.options.follow_redirects,
                        on,
                        stmt_span,
                        "follow_redirects",
                    );
                }
                Rule::insecure_opt => {
                    let mut slot = step.options.insecure.then_some(());
                    self.set_once(&mut slot, (), stmt_span, "insecure");
                    step.options.insecure = true;
                }
                Rule::client_cert_opt | Rule::client_key_opt | Rule::ca_cert_opt => {
                    let value = self.value(parts.nth(1).expect("value"));
                    let (slot, name) = match rule {
                        Rule::client_cert_opt => (&mut step.options.client_cert, "client_cert"),
                        Rule::client_key_opt => (&mut step.options.client_key, "client_key"),
                        _ => (&mut step.options.ca_cert, "ca_cert"),
                    };
                    self.set_once(slot, value, stmt_span, name);
                }
                Rule::expect_stmt => {
                    let expect = self.expect(parts.nth(1).expect("expectation"), stmt_span);
                    step.expects.push(expect);
                }
                Rule::capture_stmt => {
                    parts.next();
                    let name = self.spanned_str(&parts.next().expect("capture name"));
                    let query = self.query(parts.next().expect("capture query"));
                    let secret = parts.next();
                    // The span ends at the last token, not at a trailing comment.
                    let end = secret.as_ref().map_or(query.span.end, |s| self.span(s).end);
                    step.captures.push(Capture {
                        name,
                        query,
                        secret: secret.is_some(),
                        span: Span::new(stmt_span.start, end),
                    });
                }
                Rule::unknown_stmt => {
                    let word = first_word(stmt.as_str());
                    let s = Span::new(stmt_span.start, stmt_span.start + word.len());
                    self.push(
                        self.diag(s, format!("unknown statement `{word}`"))
                            .label("not a request, option, expect or capture")
                            .suggest(word, STEP_KEYWORDS.iter().copied()),
                    );
                    step.unknown.push(Spanned::new(word.to_string(), s));
                }
                rule => unreachable!("unexpected step rule {rule:?}"),
            }
        }
        if step.request.is_none() {
            self.push(
                self.diag(
                    step.name.span,
                    format!("step {:?} sends no request", step.name.node),
                )
                .help("add a request line such as `GET \"{{api}}/v1/health\"`"),
            );
        }
        step
    }

    fn set_body(&mut self, step: &mut Step, body: Body, at: Span) {
        if step.body.is_some() {
            self.push(
                self.diag(at, "a step has one body")
                    .help("use one of `form { }`, `json { }` or `body`"),
            );
        }
        step.body = Some(body);
    }

    fn set_auth(&mut self, step: &mut Step, auth: Auth, at: Span) {
        if step.auth.is_some() {
            self.push(
                self.diag(at, "a step authenticates one way")
                    .help("use one of `auth CLIENT`, `bearer` or `basic_auth`"),
            );
        }
        step.auth = Some(auth);
    }

    fn set_once<T>(&mut self, slot: &mut Option<T>, value: T, at: Span, what: &str) {
        if slot.is_some() {
            self.error(at, format!("`{what}` is set twice in this step"));
        }
        *slot = Some(value);
    }

    fn pairs<'a>(
        &mut self,
        entries: impl Iterator<Item = Pair<'a, Rule>>,
    ) -> Vec<super::ast::Pair> {
        entries
            .map(|entry| {
                let mut parts = entry.parts();
                let key = parts.next().expect("pair name");
                let name = match key.as_rule() {
                    Rule::ident => Template {
                        parts: vec![TemplatePart::Text(key.as_str().to_string())],
                        span: self.span(&key),
                    },
                    _ => self.string(key),
                };
                let value = self.value(parts.next().expect("pair value"));
                super::ast::Pair { name, value }
            })
            .collect()
    }
}

/// Every word a step statement may start with, for suggestions.
pub const STEP_KEYWORDS: &[&str] = &[
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "HEAD",
    "OPTIONS",
    "header",
    "query",
    "form",
    "json",
    "body",
    "basic_auth",
    "bearer",
    "auth",
    "timeout",
    "retry",
    "repeat",
    "delay",
    "follow_redirects",
    "insecure",
    "client_cert",
    "client_key",
    "ca_cert",
    "expect",
    "capture",
];

fn last(pair: Pair<Rule>) -> Pair<Rule> {
    pair.parts().last().expect("rule has children")
}

fn first_word(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

fn method_of(s: &str) -> Method {
    match s {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        _ => Method::Options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a parse yields, comparable: the tree without its source, and
    /// the rendered diagnostics.
    fn outcome(parsed: (Option<SpecFile>, Vec<Diagnostic>)) -> (String, Vec<String>) {
        let tree = parsed
            .0
            .map(|f| format!("{:?}", (f.suite, f.imports, f.vars, f.clients, f.steps)));
        let diagnostics = parsed.1.iter().map(|d| d.render(false)).collect();
        (tree.unwrap_or_default(), diagnostics)
    }

    /// A file big enough to be cut, with what a cutter could trip on: a
    /// `step` line inside a multi-line string, braces in strings and
    /// comments, and structural errors in several pieces.
    fn big_file(tail: &str) -> String {
        let example = include_str!("../../../../../specs/examples/orders-smoke.oauthspec");
        let first_step = example.find("\nstep ").expect("the example has steps");
        let (header, steps) = example.split_at(first_step + 1);
        let tricky = concat!(
            "step \"tricky\" { # a } in a comment\n",
            "  POST \"http://x/{{id}}\"\n",
            "  body \"\"\"\nstep \"not a step\" {\n  }\n\"\"\"\n",
            "  expect body contains \"}\\\"{\"\n",
            "  GET \"http://x/twice\"\n",
            "}\n",
        );
        let mut text = header.to_string();
        while text.len() < 4 * split::MIN_SPLIT_LEN {
            text.push_str(steps);
            text.push_str(tricky);
        }
        text.push_str(tail);
        text
    }

    fn both_ways(text: &str) -> ((String, Vec<String>), (String, Vec<String>)) {
        let source = SourceFile::new(std::path::Path::new("big.oauthspec"), text.to_string());
        assert!(split::pieces(text, 4).len() > 1, "the file must be cut");
        let whole = outcome(parse_range(&source, 0..text.len()));
        let pieces = outcome(parse(&source));
        (whole, pieces)
    }

    #[test]
    fn a_big_file_parses_in_pieces_as_in_one_pass() {
        let text = big_file("");
        let source = SourceFile::new(std::path::Path::new("big.oauthspec"), text.clone());
        for range in split::pieces(&text, 4) {
            let at = range.start;
            assert!(parse_range(&source, range).0.is_some(), "a bad cut at {at}");
        }
        let (whole, pieces) = both_ways(&text);
        assert!(!whole.0.is_empty());
        // "a step sends one request" once per tricky step.
        assert!(whole.1.len() > 4, "{:?}", whole.1);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn a_syntax_error_late_in_a_big_file_reads_as_in_one_pass() {
        let (whole, pieces) = both_ways(&big_file("step \"bad\" { expect status = 200 }\n"));
        assert!(whole.0.is_empty());
        assert!(whole.1[0].contains("big.oauthspec:"), "{:?}", whole.1);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn a_second_suite_in_a_later_piece_is_still_reported() {
        let (whole, pieces) = both_ways(&big_file("suite \"again\"\n"));
        assert!(whole
            .1
            .iter()
            .any(|d| d.contains("names its suite only once")));
        assert_eq!(whole, pieces);
    }
}
