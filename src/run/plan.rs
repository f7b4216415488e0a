//! What a spec needs compiled before its first request: JSONPaths and
//! regexes, once per spec rather than once per request.

use jsonpath_rust::parser::model::JpQuery;

use crate::check::is_json_path;
use crate::syntax::ast::{Query, QueryKind, SpecFile};

/// Compiled parts of one query.
#[derive(Default)]
pub struct CompiledQuery {
    pub path: Option<CompiledPath>,
    pub regex: Option<regex::Regex>,
}

/// A JSONPath, and the length of the patterns its `search()`/`match()`
/// calls compile (the library compiles them once per value they test).
pub struct CompiledPath {
    pub query: JpQuery,
    pub pattern_chars: usize,
}

/// The patterns of a JSONPath's `search(..., 'RE')` and `match(..., 'RE')`
/// calls, read from its text.
pub fn jsonpath_patterns(path: &str) -> Vec<String> {
    static CALL: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(call) = CALL
        .get_or_init(|| {
            regex::Regex::new(
                r#"\b(?:search|match)\s*\([^,]*,\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")"#,
            )
            .ok()
        })
        .as_ref()
    else {
        return Vec::new();
    };
    call.captures_iter(path)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| m.as_str().to_string())
        .collect()
}

/// Per step: its expectations' queries, then its captures' queries.
pub struct StepPlan {
    pub expects: Vec<CompiledQuery>,
    pub captures: Vec<CompiledQuery>,
}

pub fn compile(file: &SpecFile) -> Vec<StepPlan> {
    file.steps
        .iter()
        .map(|step| StepPlan {
            expects: step
                .expects
                .iter()
                .map(|e| compile_query(&e.query))
                .collect(),
            captures: step
                .captures
                .iter()
                .map(|c| compile_query(&c.query))
                .collect(),
        })
        .collect()
}

fn compile_query(query: &Query) -> CompiledQuery {
    let path_text = match &query.kind {
        QueryKind::Json(p) => Some(p.node.clone()),
        QueryKind::JwtClaim { source, .. } | QueryKind::JwtSignature { source }
            if is_json_path(source) =>
        {
            source.as_literal()
        }
        _ => None,
    };
    CompiledQuery {
        path: path_text.and_then(|p| {
            Some(CompiledPath {
                query: jsonpath_rust::parser::parse_json_path(&p).ok()?,
                pattern_chars: jsonpath_patterns(&p).iter().map(String::len).sum(),
            })
        }),
        regex: match &query.kind {
            QueryKind::Regex(re) => regex::Regex::new(&re.node).ok(),
            _ => None,
        },
    }
}
