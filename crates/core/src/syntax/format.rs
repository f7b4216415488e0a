//! `oauthspec fmt`: the canonical layout of a spec, printed from its concrete
//! syntax tree (the pest pairs, comments included), never from the AST,
//! which drops comments.
//!
//! The layout, as in `specs/examples`:
//!
//! - two-space indentation, one statement per line, tokens one space apart
//!   (none inside `( )` and `[ ]`, before `,` and `:`, or in `{}`);
//! - top-level items one blank line apart (consecutive `import`s stay
//!   together); a comment block directly above an item stays attached to it,
//!   and one blank line is kept where the user had blank lines anywhere else
//!   (never right after `{` or before `}`);
//! - `vars` entries `name = value` and client settings `key value`, the
//!   names padded to the longest in their block so that `=` and the values
//!   line up; runs of consecutive `header`, `capture` and client `param`
//!   lines (not broken by a blank line, an own-line comment or another
//!   statement) have their `=` aligned the same way;
//! - `form { }` and `query { }` on one line when they hold at most one entry,
//!   no comment, and fit in [`MAX_WIDTH`] columns; otherwise one entry per
//!   line, `=` aligned;
//! - JSON bodies: an object or array goes on one line (`{ "a": 1 }`,
//!   `[1, 2]`) when it holds no comment and fits in [`MAX_WIDTH`] columns,
//!   otherwise one member per line, two spaces deeper, the rule applied
//!   again to every nested value; trailing commas are dropped;
//! - strings, templates and numbers are written back exactly as written;
//!   triple-quoted strings verbatim, their inner lines included;
//! - a comment on a line of its own stays on a line of its own, at the
//!   indentation of what follows; a trailing comment stays on its line.
//!   If the line holds the same tokens as in the source (only re-spaced),
//!   the comment keeps its column relative to the line's indentation, so
//!   hand-aligned comments stay aligned, as long as that leaves two spaces
//!   after the code; otherwise it goes two spaces after the code. A comment
//!   in the middle of a statement ends its line: the statement goes on, two
//!   spaces deeper, on the next;
//! - unknown statements and items (which the checker reports) are kept as
//!   written; no trailing whitespace outside triple-quoted strings; the file
//!   ends with exactly one newline (an empty file stays empty).
//!
//! Only the whitespace between tokens changes, and newlines only where the
//! grammar ignores them, so the formatted file parses to the same tree.

use std::collections::HashMap;

use pest::iterators::Pair;
use pest::Parser as _;

// The parser's own grammar: the formatter walks the same pairs, comments
// included, that the syntax tree is built from.
use crate::syntax::parser::{Grammar as FmtGrammar, Rule};

/// The width that a one-line `form`/`query` block or JSON value must fit in,
/// indentation included. Statements are never broken to fit.
pub const MAX_WIDTH: usize = 80;

/// The canonical layout of `text`, or a one-line reason when `text` does not
/// parse (the caller shows the real diagnostic from [`crate::syntax::parse`]).
/// Formatting its own output changes nothing.
pub fn format_source(text: &str) -> Result<String, String> {
    let file = parse(text)?;
    let mut printer = Printer::new(text);
    printer.file(file);
    Ok(printer.finish())
}

/// Whether `text` is already in its canonical layout.
pub fn is_formatted(text: &str) -> Result<bool, String> {
    Ok(format_source(text)? == text)
}

/// Every `#` comment of `text` in order, without trailing whitespace (what
/// [`format_source`] must keep). Comments inside unknown statements and
/// items are part of them, not listed.
pub fn comments(text: &str) -> Result<Vec<String>, String> {
    let file = parse(text)?;
    Ok(file
        .into_inner()
        .flatten()
        .filter(|p| p.as_rule() == Rule::COMMENT)
        .map(|p| p.as_str().trim_end().to_string())
        .collect())
}

fn parse(text: &str) -> Result<Pair<'_, Rule>, String> {
    // The printer recurses like the parser: the same limit.
    if crate::syntax::scan::too_deep(text).is_some() {
        return Err(format!(
            "brackets nest deeper than {} levels",
            crate::syntax::scan::MAX_NESTING
        ));
    }
    let mut pairs = FmtGrammar::parse(Rule::file, text).map_err(|e| {
        let (line, col) = match e.line_col {
            pest::error::LineColLocation::Pos(at) => at,
            pest::error::LineColLocation::Span(at, _) => at,
        };
        format!("syntax error at line {line}, column {col}")
    })?;
    Ok(pairs.next().expect("the file rule always yields a pair"))
}

// ------------------------------------------------------------ tree helpers

/// How a token joins its neighbours.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Word,
    OpenParen,
    CloseParen,
    OpenBracket,
    CloseBracket,
    OpenBrace,
    CloseBrace,
    Comma,
    Colon,
}

fn kind(rule: Rule) -> Kind {
    match rule {
        Rule::open_paren => Kind::OpenParen,
        Rule::close_paren => Kind::CloseParen,
        Rule::open_bracket => Kind::OpenBracket,
        Rule::close_bracket => Kind::CloseBracket,
        Rule::open_brace => Kind::OpenBrace,
        Rule::close_brace => Kind::CloseBrace,
        Rule::comma => Kind::Comma,
        Rule::colon => Kind::Colon,
        _ => Kind::Word,
    }
}

fn space_between(prev: Kind, next: Kind) -> bool {
    use Kind::*;
    let tight = matches!(next, CloseParen | CloseBracket | Comma | Colon | OpenParen)
        || matches!(prev, OpenParen | OpenBracket)
        || (prev == OpenBrace && next == CloseBrace);
    !tight
}

/// A pair printed as one token: its text as written.
fn is_leaf(pair: &Pair<Rule>) -> bool {
    matches!(
        pair.as_rule(),
        Rule::string | Rule::template | Rule::unknown_stmt | Rule::unknown_item | Rule::COMMENT
    ) || pair.clone().into_inner().next().is_none()
}

/// The text of a leaf as printed.
fn leaf_text<'i>(pair: &Pair<'i, Rule>) -> &'i str {
    match pair.as_rule() {
        // Atomic up to the end of their line, trailing blanks included.
        Rule::unknown_stmt | Rule::unknown_item => pair.as_str().trim_end(),
        _ => pair.as_str(),
    }
}

/// Where the last token of `pair` ends. A rule that ends with an optional
/// part (`retry 2 backoff 1s`, `capture ... secret`) also holds the
/// comments skipped while trying that part: they come after this.
fn token_end(pair: &Pair<Rule>) -> usize {
    if is_leaf(pair) {
        return pair.as_span().end();
    }
    pair.clone()
        .into_inner()
        .filter(|p| p.as_rule() != Rule::COMMENT)
        .map(|p| token_end(&p))
        .max()
        .unwrap_or(pair.as_span().start())
}

/// The comments at the end of `pair`, after its last token.
fn tail_comments<'i>(pair: &Pair<'i, Rule>) -> Vec<Pair<'i, Rule>> {
    if is_leaf(pair) {
        return Vec::new();
    }
    let end = token_end(pair);
    pair.clone()
        .into_inner()
        .flatten()
        .filter(|p| p.as_rule() == Rule::COMMENT && p.as_span().start() >= end)
        .collect()
}

/// The one-line rendering of `pair`, or `None` if it holds a comment or a
/// line break (a triple-quoted string, an unknown statement's block).
fn compact(pair: &Pair<Rule>) -> Option<String> {
    fn walk(pair: &Pair<Rule>, out: &mut String, last: &mut Option<Kind>) -> Option<()> {
        if pair.as_rule() == Rule::COMMENT {
            return None;
        }
        if is_leaf(pair) {
            let text = leaf_text(pair);
            if text.contains('\n') {
                return None;
            }
            let k = kind(pair.as_rule());
            if last.is_some_and(|l| space_between(l, k)) {
                out.push(' ');
            }
            out.push_str(text);
            *last = Some(k);
            return Some(());
        }
        for child in pair.clone().into_inner() {
            walk(&child, out, last)?;
        }
        Some(())
    }
    let mut out = String::new();
    walk(pair, &mut out, &mut None)?;
    Some(out)
}

fn width_of(text: &str) -> usize {
    text.chars().count()
}

/// `text` padded with spaces to `width` characters.
fn pad(text: &str, width: usize) -> String {
    let n = width_of(text);
    let mut out = text.to_string();
    if n < width {
        out.extend(std::iter::repeat_n(' ', width - n));
    }
    out
}

fn newlines(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count()
}

/// The key of an aligned entry: its `index`-th token, comments aside.
fn key_of<'i>(entry: &Pair<'i, Rule>, index: usize) -> Option<Pair<'i, Rule>> {
    entry
        .clone()
        .into_inner()
        .filter(|p| p.as_rule() != Rule::COMMENT)
        .nth(index)
}

/// The width to pad the keys of `entries` to: the longest, or 0 (no
/// padding) if one of them spans lines.
fn key_width<'a, 'i: 'a>(
    entries: impl IntoIterator<Item = &'a Pair<'i, Rule>>,
    index: usize,
) -> usize {
    let mut width = 0;
    for entry in entries {
        if let Some(key) = key_of(entry, index) {
            if key.as_str().contains('\n') {
                return 0;
            }
            width = width.max(width_of(key.as_str()));
        }
    }
    width
}

// ------------------------------------------------------------------ output

/// A comment as it will be printed.
struct Comment {
    text: String,
    /// The column of `#` less the indentation of its source line.
    offset: usize,
    /// The code before it on its source line, blanks removed.
    code: String,
}

struct Line {
    indent: usize,
    /// May hold line breaks, from triple-quoted strings.
    code: String,
    comment: Option<Comment>,
}

enum Out {
    Blank,
    Line(Line),
}

/// One element of a sequence of statements, members or items.
struct Elem<'i> {
    pair: Pair<'i, Rule>,
    /// A comment that shares its line with the token before it.
    trailing: bool,
    /// Where the element's last token ends (its own end for a comment).
    end: usize,
}

struct Printer<'i> {
    src: &'i str,
    out: Vec<Out>,
    /// The line being written.
    cur: Option<Line>,
    last: Kind,
    /// Indentation of a statement's first line.
    indent: usize,
    /// Indentation of its further lines, after a comment broke it.
    cont: usize,
    /// Set when a comment broke the statement being written: where its
    /// next line starts.
    pending: Option<usize>,
    /// Comments from here on belong to the enclosing sequence, which prints
    /// them after the statement being written.
    stop_at: usize,
}

impl<'i> Printer<'i> {
    fn new(src: &'i str) -> Printer<'i> {
        Printer {
            src,
            out: Vec::new(),
            cur: None,
            last: Kind::Word,
            indent: 0,
            cont: 2,
            pending: None,
            stop_at: usize::MAX,
        }
    }

    fn finish(mut self) -> String {
        self.end_line();
        let mut text = String::new();
        for out in &self.out {
            match out {
                Out::Blank => {}
                Out::Line(line) => render(line, &mut text),
            }
            text.push('\n');
        }
        text
    }

    fn tok(&mut self, text: &str, kind: Kind) {
        match &mut self.cur {
            Some(line) => {
                if space_between(self.last, kind) {
                    line.code.push(' ');
                }
                line.code.push_str(text);
            }
            None => {
                let indent = self.pending.take().unwrap_or(self.indent);
                self.cur = Some(Line {
                    indent,
                    code: text.to_string(),
                    comment: None,
                });
            }
        }
        self.last = kind;
    }

    fn end_line(&mut self) {
        if let Some(line) = self.cur.take() {
            self.out.push(Out::Line(line));
        }
        self.pending = None;
    }

    fn blank(&mut self) {
        self.end_line();
        if matches!(self.out.last(), Some(Out::Line(_))) {
            self.out.push(Out::Blank);
        }
    }

    /// The column the next token would start at, less the space before it.
    fn width(&self) -> usize {
        match &self.cur {
            Some(line) => line_width(line.indent, &line.code),
            None => self.pending.unwrap_or(self.indent),
        }
    }

    fn is_trailing(&self, comment: &Pair<Rule>) -> bool {
        let start = comment.as_span().start();
        let line_start = self.src[..start].rfind('\n').map_or(0, |i| i + 1);
        !self.src[line_start..start].trim().is_empty()
    }

    fn comment(&mut self, pair: Pair<'i, Rule>) {
        let start = pair.as_span().start();
        if start >= self.stop_at {
            return;
        }
        let line_start = self.src[..start].rfind('\n').map_or(0, |i| i + 1);
        let before = &self.src[line_start..start];
        let comment = Comment {
            text: pair.as_str().trim_end().to_string(),
            offset: width_of(before) - leading_blanks(before),
            code: squash(before),
        };
        if !before.trim().is_empty() {
            // Trailing: on the line of the token before it.
            if let Some(mut line) = self.cur.take() {
                line.comment = Some(comment);
                self.out.push(Out::Line(line));
                self.pending = Some(self.cont);
                return;
            }
            if let Some(Out::Line(line)) = self.out.last_mut() {
                if line.comment.is_none() && !line.code.is_empty() {
                    line.comment = Some(comment);
                    return;
                }
            }
        }
        let indent = match self.cur.take() {
            Some(line) => {
                self.out.push(Out::Line(line));
                self.pending = Some(self.cont);
                self.cont
            }
            None => self.pending.unwrap_or(self.indent),
        };
        self.out.push(Out::Line(Line {
            indent,
            code: String::new(),
            comment: Some(comment),
        }));
    }

    /// The elements of a sequence, with the comments that pest left at the
    /// end of a statement moved after it.
    fn elements(&self, pairs: impl Iterator<Item = Pair<'i, Rule>>) -> Vec<Elem<'i>> {
        let mut elems = Vec::new();
        for pair in pairs {
            if pair.as_rule() == Rule::COMMENT {
                elems.push(Elem {
                    trailing: self.is_trailing(&pair),
                    end: pair.as_span().end(),
                    pair,
                });
                continue;
            }
            let tail = tail_comments(&pair);
            elems.push(Elem {
                end: token_end(&pair),
                trailing: false,
                pair,
            });
            for c in tail {
                elems.push(Elem {
                    trailing: self.is_trailing(&c),
                    end: c.as_span().end(),
                    pair: c,
                });
            }
        }
        elems
    }

    /// Prints one statement (item, entry, member) of a sequence, the
    /// comments at its end left to the sequence.
    fn statement(&mut self, elem: &Elem<'i>, print: impl FnOnce(&mut Self, Pair<'i, Rule>)) {
        let saved = self.stop_at;
        self.stop_at = self.stop_at.min(elem.end);
        print(self, elem.pair.clone());
        self.stop_at = saved;
    }

    /// Whether the user left a blank line between the end of `prev` and
    /// `next`.
    fn blank_between(&self, prev_end: usize, next: &Pair<Rule>) -> bool {
        newlines(&self.src[prev_end..next.as_span().start()]) >= 2
    }

    // ------------------------------------------------------------- generic

    /// Tokens one space apart, comments where they are.
    fn flat(&mut self, pair: Pair<'i, Rule>) {
        match pair.as_rule() {
            Rule::COMMENT => self.comment(pair),
            Rule::json_object | Rule::json_array => self.json_value(pair, 0),
            _ if is_leaf(&pair) => self.tok(leaf_text(&pair), kind(pair.as_rule())),
            _ => {
                for child in pair.into_inner() {
                    self.flat(child);
                }
            }
        }
    }

    /// A `{ ... }` block: what comes before `{` on its line, one entry per
    /// line two spaces deeper, `}` under the line that opened it.
    fn block(&mut self, pair: Pair<'i, Rule>, mut entry: impl FnMut(&mut Self, Pair<'i, Rule>)) {
        let mut children = pair.into_inner();
        for child in children.by_ref() {
            if child.as_rule() == Rule::open_brace {
                break;
            }
            self.flat(child);
        }
        let body: Vec<Pair<'i, Rule>> = children
            .filter(|p| p.as_rule() != Rule::close_brace)
            .collect();
        self.body(
            "{",
            "}",
            Kind::OpenBrace,
            Kind::CloseBrace,
            body,
            |p, pair, _| entry(p, pair),
        );
    }

    /// `open`, the elements of `body` one per line, `close`. `entry` gets
    /// each non-comment element and whether it is the last one.
    fn body(
        &mut self,
        open: &str,
        close: &str,
        open_kind: Kind,
        close_kind: Kind,
        body: Vec<Pair<'i, Rule>>,
        mut entry: impl FnMut(&mut Self, Pair<'i, Rule>, bool),
    ) {
        self.tok(open, open_kind);
        if body.is_empty() {
            self.tok(close, close_kind);
            return;
        }
        let base = self.cur.as_ref().map_or(self.indent, |l| l.indent);
        self.end_line();
        let saved = (self.indent, self.cont);
        self.indent = base + 2;
        self.cont = base + 4;
        let elems = self.elements(body.into_iter());
        let entries = elems
            .iter()
            .filter(|e| e.pair.as_rule() != Rule::COMMENT)
            .count();
        let mut seen = 0;
        let mut prev_end = None;
        for elem in &elems {
            if elem.pair.as_rule() == Rule::COMMENT {
                if !elem.trailing {
                    if prev_end.is_some_and(|end| self.blank_between(end, &elem.pair)) {
                        self.blank();
                    }
                    prev_end = Some(elem.end);
                }
                self.comment(elem.pair.clone());
                continue;
            }
            if prev_end.is_some_and(|end| self.blank_between(end, &elem.pair)) {
                self.blank();
            }
            seen += 1;
            let last = seen == entries;
            self.statement(elem, |p, pair| entry(p, pair, last));
            self.end_line();
            prev_end = Some(elem.end);
        }
        (self.indent, self.cont) = saved;
        self.end_line();
        self.pending = Some(base);
        self.tok(close, close_kind);
    }

    /// An entry whose `index`-th token is padded to `width`.
    fn padded(&mut self, entry: Pair<'i, Rule>, index: usize, width: usize) {
        let mut n = 0;
        for child in entry.into_inner() {
            if child.as_rule() == Rule::COMMENT {
                self.comment(child);
                continue;
            }
            if n == index && !child.as_str().contains('\n') {
                self.tok(&pad(child.as_str(), width), kind(child.as_rule()));
            } else {
                self.flat(child);
            }
            n += 1;
        }
    }

    /// Key widths for runs of consecutive `rule` entries among `body`: a
    /// blank line, an own-line comment or another entry ends a run. Keyed
    /// by the entry's start.
    fn runs(&self, body: &[Pair<'i, Rule>], rule: Rule, index: usize) -> HashMap<usize, usize> {
        let mut widths = HashMap::new();
        let mut run: Vec<Pair<'i, Rule>> = Vec::new();
        let mut flush = |run: &mut Vec<Pair<'i, Rule>>| {
            let width = key_width(run.iter(), index);
            for entry in run.drain(..) {
                widths.insert(entry.as_span().start(), width);
            }
        };
        let mut prev_end = None;
        for elem in self.elements(body.iter().cloned()) {
            if elem.pair.as_rule() == Rule::COMMENT && elem.trailing {
                continue;
            }
            let blank = prev_end.is_some_and(|end| self.blank_between(end, &elem.pair));
            if elem.pair.as_rule() != rule || blank {
                flush(&mut run);
            }
            if elem.pair.as_rule() == rule {
                run.push(elem.pair.clone());
            }
            prev_end = Some(elem.end);
        }
        flush(&mut run);
        widths
    }

    // --------------------------------------------------------------- items

    fn file(&mut self, file: Pair<'i, Rule>) {
        let elems = self.elements(file.into_inner().filter(|p| p.as_rule() != Rule::EOI));
        let is_import = |p: &Pair<Rule>| p.as_rule() == Rule::import_decl;
        // (end, is_comment, is_import) of the previous element.
        let mut prev: Option<(usize, bool, bool)> = None;
        for (i, elem) in elems.iter().enumerate() {
            let is_comment = elem.pair.as_rule() == Rule::COMMENT;
            if is_comment && elem.trailing {
                self.comment(elem.pair.clone());
                continue;
            }
            if let Some((end, prev_comment, prev_import)) = prev {
                let blank = if prev_comment {
                    self.blank_between(end, &elem.pair)
                } else {
                    // Before an item, or a comment block attached to one.
                    let next = if is_comment {
                        self.attached_item(&elems[i..])
                    } else {
                        Some(&elem.pair)
                    };
                    !(prev_import && next.is_some_and(is_import))
                };
                if blank {
                    self.blank();
                }
            }
            self.indent = 0;
            self.cont = 2;
            if is_comment {
                self.comment(elem.pair.clone());
            } else {
                self.statement(elem, Self::item);
                self.end_line();
            }
            prev = Some((elem.end, is_comment, is_import(&elem.pair)));
        }
    }

    /// The item that the comment block starting `elems` sits directly above.
    fn attached_item<'a>(&self, elems: &'a [Elem<'i>]) -> Option<&'a Pair<'i, Rule>> {
        let mut prev_end = None;
        for elem in elems {
            if elem.trailing {
                continue;
            }
            if prev_end.is_some_and(|end| self.blank_between(end, &elem.pair)) {
                return None;
            }
            if elem.pair.as_rule() != Rule::COMMENT {
                return Some(&elem.pair);
            }
            prev_end = Some(elem.end);
        }
        None
    }

    fn item(&mut self, pair: Pair<'i, Rule>) {
        match pair.as_rule() {
            Rule::vars_block => {
                let defs: Vec<_> = pair
                    .clone()
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::var_def)
                    .collect();
                let width = key_width(&defs, 0);
                self.block(pair, |p, def| p.padded(def, 0, width));
            }
            Rule::client_block => {
                let entries: Vec<_> = pair.clone().into_inner().collect();
                let settings: Vec<_> = entries
                    .iter()
                    .filter(|p| p.as_rule() == Rule::client_setting)
                    .cloned()
                    .collect();
                let width = key_width(&settings, 0);
                let params = self.runs(&entries, Rule::client_param, 1);
                self.block(pair, |p, entry| match entry.as_rule() {
                    Rule::client_setting => p.padded(entry, 0, width),
                    Rule::client_param => {
                        let w = params.get(&entry.as_span().start()).copied();
                        p.padded(entry, 1, w.unwrap_or(0))
                    }
                    Rule::client_login => p.pairs_block(entry),
                    _ => p.flat(entry),
                });
            }
            Rule::step_block => {
                let stmts: Vec<_> = pair.clone().into_inner().collect();
                let mut widths = self.runs(&stmts, Rule::header_stmt, 1);
                widths.extend(self.runs(&stmts, Rule::capture_stmt, 1));
                self.block(pair, |p, stmt| p.step_stmt(stmt, &widths));
            }
            _ => self.flat(pair),
        }
    }

    fn step_stmt(&mut self, stmt: Pair<'i, Rule>, widths: &HashMap<usize, usize>) {
        match stmt.as_rule() {
            Rule::form_block | Rule::query_block => self.pairs_block(stmt),
            Rule::header_stmt | Rule::capture_stmt => {
                let width = widths.get(&stmt.as_span().start()).copied();
                self.padded(stmt, 1, width.unwrap_or(0));
            }
            _ => self.flat(stmt),
        }
    }

    /// `form { }`, `query { }` and a client's `login { }`.
    fn pairs_block(&mut self, pair: Pair<'i, Rule>) {
        let entries: Vec<_> = pair
            .clone()
            .into_inner()
            .filter(|p| p.as_rule() == Rule::pair)
            .collect();
        if entries.len() <= 1 {
            if let Some(line) = compact(&pair) {
                if self.width() + width_of(&line) <= MAX_WIDTH {
                    self.flat(pair);
                    return;
                }
            }
        }
        let width = key_width(&entries, 0);
        self.block(pair, |p, entry| p.padded(entry, 0, width));
    }

    // ---------------------------------------------------------------- JSON

    /// An object or array: on one line if it fits with `extra` columns
    /// after it, else one member per line.
    fn json_value(&mut self, pair: Pair<'i, Rule>, extra: usize) {
        if let Some(line) = compact(&pair) {
            let space = usize::from(self.cur.is_some() && space_between(self.last, Kind::Word));
            if self.width() + space + width_of(&line) + extra <= MAX_WIDTH {
                self.tok(&line, Kind::Word);
                return;
            }
        }
        let object = pair.as_rule() == Rule::json_object;
        let (open, close, open_kind, close_kind) = if object {
            ("{", "}", Kind::OpenBrace, Kind::CloseBrace)
        } else {
            ("[", "]", Kind::OpenBracket, Kind::CloseBracket)
        };
        let body: Vec<_> = pair
            .into_inner()
            .filter(|p| {
                !matches!(
                    p.as_rule(),
                    Rule::open_brace
                        | Rule::close_brace
                        | Rule::open_bracket
                        | Rule::close_bracket
                        | Rule::comma
                )
            })
            .collect();
        self.body(
            open,
            close,
            open_kind,
            close_kind,
            body,
            |p, value, last| {
                let extra = usize::from(!last);
                if value.as_rule() == Rule::json_member {
                    for child in value.into_inner() {
                        match child.as_rule() {
                            Rule::json_object | Rule::json_array => p.json_value(child, extra),
                            _ => p.flat(child),
                        }
                    }
                } else {
                    match value.as_rule() {
                        Rule::json_object | Rule::json_array => p.json_value(value, extra),
                        _ => p.flat(value),
                    }
                }
                if !last {
                    p.tok(",", Kind::Comma);
                }
            },
        );
    }
}

fn squash(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

fn leading_blanks(text: &str) -> usize {
    text.chars().take_while(|c| *c == ' ' || *c == '\t').count()
}

/// The column after `code` written at `indent` (after its last line break
/// if it has one).
fn line_width(indent: usize, code: &str) -> usize {
    match code.rfind('\n') {
        Some(i) => width_of(&code[i + 1..]),
        None => indent + width_of(code),
    }
}

fn render(line: &Line, out: &mut String) {
    let code = line.code.trim_end();
    if code.is_empty() {
        if let Some(comment) = &line.comment {
            out.extend(std::iter::repeat_n(' ', line.indent));
            out.push_str(&comment.text);
        }
        return;
    }
    out.extend(std::iter::repeat_n(' ', line.indent));
    out.push_str(code);
    if let Some(comment) = &line.comment {
        let width = line_width(line.indent, code);
        let (indent, last) = match code.rfind('\n') {
            Some(i) => (leading_blanks(&code[i + 1..]), &code[i + 1..]),
            None => (line.indent, code),
        };
        // The user's column, if the line holds the same code as before.
        let column = if squash(last) == comment.code {
            (indent + comment.offset).max(width + 2)
        } else {
            width + 2
        };
        out.extend(std::iter::repeat_n(' ', column - width));
        out.push_str(&comment.text);
    }
}
