//! pest's errors, reworded: rule names become what a user would write.

use std::sync::Arc;

use pest::error::{ErrorVariant, InputLocation};

use super::parser::Rule;
use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, Span};

pub fn convert(source: &Arc<SourceFile>, err: pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((start, _)) => start,
    };
    let found = found_at(&source.text, pos);
    let span = Span::new(pos, pos + found.len().max(1));
    let expected = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => expected_list(positives),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let found_text = if found.is_empty() {
        "end of file".to_string()
    } else {
        format!("`{found}`")
    };
    let at = Span::new(
        span.start.min(source.text.len()),
        span.end.min(source.text.len()),
    );
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        if positives.contains(&Rule::raw_text) && found.is_empty() {
            let open = source.text[..pos].rfind("\"\"\"").unwrap_or(pos);
            return Diagnostic::error("unterminated string")
                .at(source, Span::new(open, open + 3))
                .label("this multi-line string is never closed")
                .help("close it with `\"\"\"`");
        }
        if positives.contains(&Rule::text) && (found.is_empty() || found == "end of line") {
            let open = opening_quote(&source.text, pos);
            return Diagnostic::error("unterminated string")
                .at(source, Span::new(open, open + 1))
                .label("this string is not closed on its line")
                .help("close it with `\"`, or use \"\"\"...\"\"\" for text over several lines");
        }
    }
    // pest names the next token, often on a later line (the `}` after a
    // bare `expect status`); a statement cut short points at its own end.
    let cut_short = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => !positives.iter().any(|r| could_end(*r)),
        ErrorVariant::CustomError { .. } => false,
    };
    let (at, found_text) = match end_of_previous_line(&source.text, pos) {
        Some(end) if cut_short => {
            let width = source.text[end..].chars().next().map_or(1, char::len_utf8);
            (Span::new(end, end + width), "end of line".to_string())
        }
        _ => (at, found_text),
    };
    let mut diag =
        Diagnostic::error(format!("expected {expected}, found {found_text}")).at(source, at);
    // A label repeats the message; only short ones help the eye.
    if expected.len() <= 40 {
        diag = diag.label(format!("expected {expected}"));
    }
    if let Some(hint) = hint_for(&source.text, at.start, &found) {
        diag = diag.help(hint);
    }
    diag
}

/// Whether a statement or block may end where `rule` was expected: then
/// the next line is where the mistake is, not the end of this one.
fn could_end(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        EOI | close_brace
            | file
            | suite_decl
            | import_decl
            | vars_block
            | client_block
            | step_block
            | unknown_item
            | var_def
            | client_param
            | client_setting
            | request_line
            | header_stmt
            | query_block
            | form_block
            | json_block
            | body_stmt
            | basic_auth_stmt
            | bearer_stmt
            | auth_stmt
            | timeout_opt
            | retry_opt
            | repeat_opt
            | delay_opt
            | follow_opt
            | insecure_opt
            | client_cert_opt
            | client_key_opt
            | ca_cert_opt
            | expect_stmt
            | capture_stmt
            | unknown_stmt
            | pair
            | json_member
            | json_value
            | comma
            | close_bracket
            | close_paren
    )
}

/// Where the last line with something on it before `pos` ends (after any
/// comment is set aside), when that line is not `pos`'s own.
fn end_of_previous_line(text: &str, pos: usize) -> Option<usize> {
    let pos = pos.min(text.len());
    let line_start = text[..pos].rfind('\n').map(|i| i + 1)?;
    if !text[line_start..pos].trim().is_empty() {
        return None;
    }
    let mut end = line_start - 1;
    loop {
        let start = text[..end].rfind('\n').map_or(0, |i| i + 1);
        let code = without_comment(&text[start..end]).trim_end();
        if !code.is_empty() {
            return Some(start + code.len());
        }
        if start == 0 {
            return None;
        }
        end = start - 1;
    }
}

/// A line without its `#` comment (a `#` inside a string is text).
fn without_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The quote that opened the string still open at `pos`: scanning its line,
/// escaped quotes and closed strings are skipped.
fn opening_quote(text: &str, pos: usize) -> usize {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let mut open = None;
    let mut chars = text[line_start..pos].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if open.is_some() => {
                chars.next();
            }
            '"' => {
                open = if open.is_some() {
                    None
                } else {
                    Some(line_start + i)
                }
            }
            _ => {}
        }
    }
    open.unwrap_or(pos)
}

/// The token at `pos`, for "found `x`".
fn found_at(text: &str, pos: usize) -> String {
    let rest = &text[pos.min(text.len())..];
    let Some(first) = rest.chars().next() else {
        return String::new();
    };
    if first.is_alphanumeric() || first == '_' {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    } else if first == '\n' || first == '\r' {
        "end of line".into()
    } else {
        first.to_string()
    }
}

fn hint_for(text: &str, pos: usize, found: &str) -> Option<String> {
    let before = text[..pos.min(text.len())].trim_end();
    let after_operand = before.ends_with(|c: char| c.is_alphanumeric() || c == '"');
    if found == "=" && after_operand && before.contains("expect") {
        return Some("comparisons are written `==`".into());
    }
    // `expect QUERY` and nothing more: what that query compares with.
    let line = before.rsplit('\n').next().unwrap_or(before).trim_start();
    let mut words = line.split_whitespace();
    if words.next() != Some("expect") {
        return None;
    }
    let hint = match words.next()? {
        "status" => "`status` takes `==`, `!=`, `<`, `<=`, `>` or `>=` and a number, e.g. `expect status == 200`",
        "latency" => "`latency` takes `<`, `<=`, `>` or `>=` and a duration, e.g. `expect latency < 500ms`",
        "no" => return None,
        _ => "e.g. `expect json \"$.id\" == \"ord_1\"`, `expect header \"Location\" exists`, `expect body contains \"ok\"`",
    };
    (!line.contains("==") && !line.contains("exists")).then(|| hint.to_string())
}

fn expected_list(rules: &[Rule]) -> String {
    let mut names: Vec<&str> = Vec::new();
    // A comment may go anywhere; naming it in every error helps nobody.
    for rule in rules
        .iter()
        .filter(|r| !matches!(r, Rule::COMMENT | Rule::WHITESPACE))
    {
        let name = describe(*rule);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    match names.len() {
        0 => "something else".into(),
        1 => names[0].into(),
        n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

fn describe(rule: Rule) -> &'static str {
    use Rule::*;
    match rule {
        EOI => "end of file",
        file | suite_decl | import_decl | vars_block | client_block | step_block
        | unknown_item => "`suite`, `import`, `vars`, `client` or `step`",
        var_def => "a variable definition `name = value`",
        client_param | client_setting | client_login => {
            "a client setting such as `token_url \"...\"`"
        }
        login_consent | kw_consent => "`consent \"BUTTON\"`",
        kw_login => "`login`",
        without_proof => "`without_proof`",
        proof_for | kw_proof_for => "`proof_for URL`",
        thumbprint_call | kw_dpop_thumbprint => "`dpop_thumbprint(CLIENT)`",
        token_call | kw_token => "`token(CLIENT)`",
        always => "`always`",
        request_line | header_stmt | query_block | form_block | json_block | body_stmt
        | basic_auth_stmt | bearer_stmt | auth_stmt | timeout_opt | retry_opt | repeat_opt
        | delay_opt | follow_opt | insecure_opt | client_cert_opt | client_key_opt
        | ca_cert_opt | expect_stmt | capture_stmt | unknown_stmt => {
            "a step statement (a request line, `header`, `expect`, `capture`, ...)"
        }
        method => "an HTTP method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)",
        pair => "`name = value`",
        expect_no | expect_signature | expect_query | query | q_status | q_latency | q_body
        | q_header | q_json | q_regex | q_oauth_error | q_oauth_error_description
        | q_jwt_claim | kw_latency | kw_regex | kw_jwt | kw_no => {
            "a query (`status`, `latency`, `body`, `header`, `json`, `regex`, `oauth_error`, `jwt`, ...)"
        }
        percentile => "a percentile (p50, p90, p95, p99, max)",
        predicate | pred_exists | pred_binary | negation => {
            "a predicate (`==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`, `matches`, `startswith`, `endswith`, `exists`)"
        }
        operator => "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`, `matches`, `startswith`, `endswith`)",
        capture_secret | kw_secret => "`secret`",
        value | env_call | secret_call | file_call | kw_env | kw_file => {
            "a value (a string, number, duration, `env(...)`, `secret(...)` or `file(...)`)"
        }
        symbol => "a word",
        duration => "a duration such as `250ms`, `5s` or `1m`",
        number | json_number => "a number",
        integer => "a whole number",
        boolean => "`true` or `false`",
        string | quoted_string | triple_string => "a string",
        text | raw_text | escape => "the rest of the string",
        template => "a template such as `{{name}}`",
        json_object | json_member | json_array | json_literal => "a JSON value",
        ident => "a name",
        kw_suite => "`suite`",
        kw_import => "`import`",
        kw_vars => "`vars`",
        kw_client => "`client`",
        kw_param => "`param`",
        kw_step => "`step`",
        kw_header => "`header`",
        kw_query => "`query`",
        kw_form => "`form`",
        kw_json => "`json`",
        kw_body => "`body`",
        kw_basic_auth => "`basic_auth`",
        kw_bearer => "`bearer`",
        kw_auth => "`auth`",
        kw_timeout => "`timeout`",
        kw_retry => "`retry`",
        kw_backoff | retry_backoff => "`backoff`",
        until_pass | kw_until => "`until pass`",
        kw_pass => "`pass`",
        kw_max | retry_max => "`max`",
        kw_repeat => "`repeat`",
        kw_delay => "`delay`",
        kw_follow_redirects => "`follow_redirects`",
        kw_client_cert => "`client_cert`",
        kw_client_key => "`client_key`",
        kw_ca_cert => "`ca_cert`",
        kw_expect => "`expect`",
        kw_capture => "`capture`",
        kw_claim => "`claim`",
        kw_signature => "`signature`",
        kw_valid => "`valid`",
        eq => "`=`",
        comma => "`,`",
        colon => "`:`",
        open_brace => "`{`",
        close_brace => "`}`",
        open_paren => "`(`",
        close_paren => "`)`",
        open_bracket => "`[`",
        close_bracket => "`]`",
        WHITESPACE | COMMENT => "whitespace",
        // Silent rules: pest never reports them. Listed, not caught by `_`,
        // so a new rule cannot go undescribed.
        item | client_entry | step_stmt | json_value | ident_start | ident_char | keyword
        | any_quoted | any_braces | text_char => "something else",
    }
}
