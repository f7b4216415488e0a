//! Queries read a response; predicates judge what they read.

use std::cell::OnceCell;
use std::time::Duration;

use serde_json::Value as Json;

use crate::check::value::Resolved;
use crate::http::Exchange;
use crate::oauth::challenge::{self, Challenge};
use crate::oauth::jwt;
use crate::plan::CompiledPath;
use crate::syntax::ast::{Op, Percentile, Predicate, QueryKind};

/// A response with its body parsed at most once, whatever asks for it.
pub struct ResponseView<'a> {
    pub exchange: &'a Exchange,
    json: OnceCell<Option<Json>>,
    nodes: OnceCell<usize>,
    challenges: OnceCell<Vec<Challenge>>,
}

impl<'a> ResponseView<'a> {
    pub fn new(exchange: &'a Exchange) -> ResponseView<'a> {
        ResponseView {
            exchange,
            json: OnceCell::new(),
            nodes: OnceCell::new(),
            challenges: OnceCell::new(),
        }
    }

    pub fn json(&self) -> Option<&Json> {
        self.json
            .get_or_init(|| serde_json::from_slice(&self.exchange.body).ok())
            .as_ref()
    }

    /// How many values the JSON body holds, counted once.
    pub fn nodes(&self) -> usize {
        fn count(v: &Json) -> usize {
            1 + match v {
                Json::Array(items) => items.iter().map(count).sum(),
                Json::Object(map) => map.values().map(count).sum(),
                _ => 0,
            }
        }
        *self.nodes.get_or_init(|| self.json().map_or(0, count))
    }

    pub fn challenges(&self) -> &[Challenge] {
        self.challenges.get_or_init(|| {
            challenge::parse_challenges(self.exchange.header_values("www-authenticate"))
        })
    }

    pub fn oauth_error(&self) -> Option<(String, Option<String>)> {
        challenge::oauth_error(self.challenges(), self.json())
    }
}

/// What a query read.
#[derive(Debug, Clone, PartialEq)]
pub enum Actual {
    /// Nothing there; the text says what was missing.
    Missing(String),
    Value(Json),
    Duration(Duration),
}

impl Actual {
    /// For messages: JSON for values, `none (...)` when missing.
    pub fn display(&self) -> String {
        match self {
            Actual::Missing(why) => format!("nothing ({why})"),
            Actual::Value(v) => v.to_string(),
            Actual::Duration(d) => format!("{}ms", d.as_millis()),
        }
    }

    /// The text a capture stores.
    pub fn capture_text(&self) -> Option<String> {
        match self {
            Actual::Missing(_) => None,
            Actual::Value(Json::String(s)) => Some(s.clone()),
            Actual::Value(v) => Some(v.to_string()),
            Actual::Duration(d) => Some(d.as_millis().to_string()),
        }
    }
}

/// What a query needs besides the response: its compiled parts (from the
/// plan) and its text argument, resolved once per run of the step.
#[derive(Default, Clone, Copy)]
pub struct QueryInputs<'a> {
    pub path: Option<&'a CompiledPath>,
    pub regex: Option<&'a regex::Regex>,
    /// The resolved text argument: a header name, or a JWT held in a variable.
    pub arg: Option<&'a str>,
}

/// Reads a query from one response.
pub fn read(view: &ResponseView, query: &QueryKind, inputs: &QueryInputs) -> Actual {
    let QueryInputs {
        path: compiled_path,
        regex,
        arg,
    } = *inputs;
    let x = view.exchange;
    match query {
        QueryKind::Status => Actual::Value(Json::from(x.status)),
        QueryKind::Latency(_) => Actual::Duration(x.latency),
        QueryKind::Body => Actual::Value(Json::String(x.body_text())),
        QueryKind::Header(_) => {
            let name = arg.unwrap_or_default();
            let values: Vec<&str> = x.header_values(name).collect();
            if values.is_empty() {
                Actual::Missing(format!("no {name} header"))
            } else {
                Actual::Value(Json::String(values.join(", ")))
            }
        }
        QueryKind::Json(_) => json_path(view, compiled_path),
        QueryKind::Regex(_) => {
            let Some(re) = regex else {
                return Actual::Missing("invalid regex".into());
            };
            let body = x.body_text();
            match re.captures(&body) {
                Some(c) => {
                    let m = c.get(1).or_else(|| c.get(0)).map_or("", |m| m.as_str());
                    Actual::Value(Json::String(m.to_string()))
                }
                None => Actual::Missing("the regex does not match the body".into()),
            }
        }
        QueryKind::OAuthError => match view.oauth_error() {
            Some((e, _)) => Actual::Value(Json::String(e)),
            None => Actual::Missing("no OAuth error".into()),
        },
        QueryKind::OAuthErrorDescription => match view.oauth_error() {
            Some((_, Some(d))) => Actual::Value(Json::String(d)),
            _ => Actual::Missing("no error_description".into()),
        },
        QueryKind::JwtClaim { claim, .. } => {
            let token = match jwt_token(view, compiled_path, arg) {
                Ok(t) => t,
                Err(missing) => return missing,
            };
            match jwt::claims(&token) {
                Ok(claims) => match claims.get(&claim.node) {
                    // `scope` is a set (RFC 8693 §4.2): compared word by word.
                    Some(Json::String(s)) if claim.node == "scope" || claim.node == "scp" => {
                        Actual::Value(Json::Array(
                            s.split_whitespace()
                                .map(|w| Json::String(w.into()))
                                .collect(),
                        ))
                    }
                    Some(v) => Actual::Value(v.clone()),
                    None => Actual::Missing(format!("no {:?} claim", claim.node)),
                },
                Err(e) => Actual::Missing(e),
            }
        }
        QueryKind::JwtSignature { .. } => Actual::Missing("checked separately".into()),
    }
}

/// The JWT a `jwt` query names: from the body by JSONPath, or a variable.
pub fn jwt_token(
    view: &ResponseView,
    compiled_path: Option<&CompiledPath>,
    jwt_source: Option<&str>,
) -> Result<String, Actual> {
    if let Some(token) = jwt_source {
        return Ok(token.to_string());
    }
    match json_path(view, compiled_path) {
        Actual::Value(Json::String(s)) => Ok(s),
        Actual::Value(other) => Err(Actual::Missing(format!("not a JWT string: {other}"))),
        missing => Err(missing),
    }
}

/// The most nodes a JSONPath may be expected to visit. Each `..` visits
/// every node below each match of what precedes it, so `$..a..a..a..a` on
/// a deep document grew to gigabytes.
pub const JSONPATH_BUDGET: f64 = 1e7;

/// The normalized path (`$['a'][0]`) of the first node `path` finds in the
/// body, if it finds one and may be evaluated.
pub fn node_path(view: &ResponseView, path: &CompiledPath) -> Option<String> {
    if !matches!(json_path(view, Some(path)), Actual::Value(_)) {
        return None;
    }
    let found = jsonpath_rust::query::js_path_process(&path.query, view.json()?).ok()?;
    found.into_iter().next().map(|r| r.path)
}

fn json_path(view: &ResponseView, path: Option<&CompiledPath>) -> Actual {
    let Some(json) = view.json() else {
        return Actual::Missing("the body is not JSON".into());
    };
    let Some(path) = path else {
        return Actual::Missing("invalid JSONPath".into());
    };
    let descents = path
        .query
        .segments
        .iter()
        .filter(|s| matches!(s, jsonpath_rust::parser::model::Segment::Descendant(_)))
        .count();
    if descents > 1 {
        let nodes = view.nodes();
        if (nodes as f64).powi(descents as i32) > JSONPATH_BUDGET {
            return Actual::Missing(format!(
                "not evaluated: {descents} recursive descents (`..`) over {nodes} JSON nodes could visit more than {JSONPATH_BUDGET:e} nodes"
            ));
        }
    }
    // Each call compiles its pattern once per value it tests.
    if path.pattern_chars > 0 {
        let nodes = view.nodes();
        if (nodes * path.pattern_chars) as f64 > JSONPATH_BUDGET / 10.0 {
            return Actual::Missing(format!(
                "not evaluated: search()/match() would compile their {}-character pattern for each of {nodes} JSON values; narrow the path before the filter",
                path.pattern_chars
            ));
        }
    }
    match jsonpath_rust::query::js_path_process(&path.query, json) {
        Ok(found) if found.is_empty() => Actual::Missing("the path matches nothing".into()),
        Ok(found) if found.len() == 1 => Actual::Value(found[0].val.clone()),
        Ok(found) => Actual::Value(Json::Array(
            found.into_iter().map(|r| r.val.clone()).collect(),
        )),
        Err(e) => Actual::Missing(e.to_string()),
    }
}

/// The nearest-rank percentile (or min, max, mean) of latency samples.
pub fn percentile(samples: &[Duration], p: Percentile) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    match p {
        Percentile::Min => sorted[0],
        Percentile::Max => sorted[sorted.len() - 1],
        Percentile::Mean => sorted.iter().sum::<Duration>() / sorted.len() as u32,
        Percentile::P(n) => {
            let rank = (f64::from(n) / 100.0 * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        }
    }
}

/// Judges `actual` by the predicate; the operand arrives resolved. Returns
/// whether it holds, and the expectation in words for messages.
/// `matches`: the operand's regex when `check` compiled it.
pub fn judge(
    actual: &Actual,
    predicate: &Predicate,
    operand: Option<&Resolved>,
    operand_kind: OperandKind,
    matches: Option<&regex::Regex>,
) -> (bool, String) {
    let operand_text = operand.map(|o| o.text.as_str()).unwrap_or_default();
    let shown = match (operand, operand_kind) {
        (None, _) => String::new(),
        (Some(o), _) if o.secret => " ***".into(),
        (Some(_), OperandKind::Text) => format!(" {operand_text:?}"),
        (Some(_), _) => format!(" {operand_text}"),
    };
    let not = if predicate.negated { "not " } else { "" };
    let expected = format!("{not}{}{shown}", predicate.op.as_str());
    let holds = match (predicate.op, matches, actual) {
        (Op::Matches, Some(re), Actual::Value(v)) => re.is_match(&text_of(v)),
        _ => holds(actual, predicate.op, operand_text, operand_kind),
    };
    (holds != predicate.negated, expected)
}

/// How the operand was written, which decides how it compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperandKind {
    Number,
    Bool,
    Duration(Duration),
    Text,
}

fn holds(actual: &Actual, op: Op, operand: &str, kind: OperandKind) -> bool {
    let value = match actual {
        Actual::Missing(_) => return false,
        Actual::Duration(d) => {
            let OperandKind::Duration(limit) = kind else {
                return false;
            };
            return match op {
                Op::Lt => *d < limit,
                Op::Le => *d <= limit,
                Op::Gt => *d > limit,
                Op::Ge => *d >= limit,
                Op::Eq => *d == limit,
                Op::Ne => *d != limit,
                Op::Exists => true,
                _ => false,
            };
        }
        Actual::Value(v) => v,
    };
    match op {
        Op::Exists => true,
        Op::Valid => value == &Json::Bool(true),
        Op::Eq => equals(value, operand, kind),
        Op::Ne => !equals(value, operand, kind),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let (Some(a), Ok(b)) = (as_number(value), operand.parse::<f64>()) else {
                return false;
            };
            match op {
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Gt => a > b,
                _ => a >= b,
            }
        }
        Op::Contains => match value {
            Json::Array(items) => items.iter().any(|i| equals(i, operand, kind)),
            Json::Object(map) => map.contains_key(operand),
            other => text_of(other).contains(operand),
        },
        Op::StartsWith => text_of(value).starts_with(operand),
        Op::EndsWith => text_of(value).ends_with(operand),
        // A templated pattern, known only now (a literal one is compiled
        // by `check`).
        Op::Matches => regex::Regex::new(operand).is_ok_and(|re| re.is_match(&text_of(value))),
    }
}

fn equals(value: &Json, operand: &str, kind: OperandKind) -> bool {
    match kind {
        OperandKind::Number => match (as_number(value), operand.parse::<f64>()) {
            (Some(a), Ok(b)) => a == b,
            _ => false,
        },
        OperandKind::Bool => value.as_bool().map(|b| b.to_string()) == Some(operand.to_string()),
        _ => match value {
            Json::String(s) => s == operand,
            // A set read from a space-separated claim (`scope`): the same
            // words in any order.
            Json::Array(items) if !operand.trim_start().starts_with('[') => {
                let mut have: Vec<&str> = items.iter().filter_map(Json::as_str).collect();
                let mut want: Vec<&str> = operand.split_whitespace().collect();
                have.sort_unstable();
                want.sort_unstable();
                have.len() == items.len() && have == want
            }
            // A written string may hold JSON (e.g. "[1,2]" or a captured
            // object); else compare the text forms.
            other => serde_json::from_str::<Json>(operand)
                .map_or_else(|_| text_of(other) == operand, |o| &o == other),
        },
    }
}

fn as_number(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text_of(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=20).map(Duration::from_millis).collect();
        assert_eq!(
            percentile(&samples, Percentile::P(95)),
            Duration::from_millis(19)
        );
        assert_eq!(
            percentile(&samples, Percentile::P(50)),
            Duration::from_millis(10)
        );
        assert_eq!(
            percentile(&samples, Percentile::Max),
            Duration::from_millis(20)
        );
        assert_eq!(
            percentile(&samples, Percentile::Min),
            Duration::from_millis(1)
        );
        assert_eq!(percentile(&[], Percentile::P(99)), Duration::ZERO);
    }

    #[test]
    fn comparisons() {
        let scope = Actual::Value(serde_json::json!(["orders:read", "orders:write"]));
        assert!(holds(
            &scope,
            Op::Eq,
            "orders:write orders:read",
            OperandKind::Text
        ));
        assert!(!holds(&scope, Op::Eq, "orders:read", OperandKind::Text));
        let v = |j: Json| Actual::Value(j);
        assert!(holds(
            &v(Json::from(200)),
            Op::Eq,
            "200",
            OperandKind::Number
        ));
        assert!(holds(&v(Json::from("7")), Op::Gt, "5", OperandKind::Number));
        assert!(holds(
            &v(serde_json::json!(["a", "b"])),
            Op::Contains,
            "b",
            OperandKind::Text
        ));
        assert!(!holds(
            &v(serde_json::json!(["orders:readonly"])),
            Op::Contains,
            "orders:read",
            OperandKind::Text
        ));
        assert!(holds(
            &v(Json::from("Bearer")),
            Op::Eq,
            "Bearer",
            OperandKind::Text
        ));
        assert!(holds(
            &v(serde_json::json!({"a": 1})),
            Op::Eq,
            "{\"a\":1}",
            OperandKind::Text
        ));
        assert!(!holds(
            &Actual::Missing("x".into()),
            Op::Eq,
            "x",
            OperandKind::Text
        ));
        assert!(holds(
            &Actual::Duration(Duration::from_millis(5)),
            Op::Lt,
            "",
            OperandKind::Duration(Duration::from_millis(6))
        ));
    }
}
