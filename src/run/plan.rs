//! What a spec needs compiled before its first request: JSONPaths and
//! regexes, once per spec rather than once per request.

use jsonpath_rust::parser::model::JpQuery;

use crate::check::is_json_path;
use crate::syntax::ast::{Query, QueryKind, SpecFile};

/// Compiled parts of one query.
#[derive(Default)]
pub struct CompiledQuery {
    pub path: Option<JpQuery>,
    pub regex: Option<regex::Regex>,
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
        path: path_text.and_then(|p| jsonpath_rust::parser::parse_json_path(&p).ok()),
        regex: match &query.kind {
            QueryKind::Regex(re) => regex::Regex::new(&re.node).ok(),
            _ => None,
        },
    }
}
