//! What `check` compiles and `run` executes: each step's JSONPaths and
//! regexes, compiled once per spec rather than once per request. A spec
//! with errors never runs, so a part that does not compile here was
//! reported by `check` already.

use std::collections::HashMap;
use std::sync::Arc;

use jsonpath_rust::parser::model::JpQuery;

use crate::syntax::ast::{JwtSource, Op, Predicate, Query, QueryKind, SpecFile, ValueKind};

/// Compiled parts of one query, and of its `matches` operand when the
/// operand is known before the run.
#[derive(Debug, Default)]
pub struct CompiledQuery {
    pub path: Option<Arc<CompiledPath>>,
    pub regex: Option<regex::Regex>,
    pub matches: Option<regex::Regex>,
}

/// A JSONPath, and the length of the patterns its `search()`/`match()`
/// calls compile (the library compiles them once per value they test).
#[derive(Debug)]
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

/// Per step, the compiled parts of its expectations and captures. Most
/// queries (`status`, `body`, `latency`) compile to nothing, and only the
/// others are stored: a plan for 100,000 steps stays small.
#[derive(Debug, Default)]
pub struct StepPlan {
    compiled: Vec<(Part, CompiledQuery)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Expect(usize),
    Capture(usize),
}

static NOTHING: CompiledQuery = CompiledQuery {
    path: None,
    regex: None,
    matches: None,
};

impl StepPlan {
    /// The step's `index`-th expectation, compiled.
    pub fn expect(&self, index: usize) -> &CompiledQuery {
        self.get(Part::Expect(index))
    }

    /// The step's `index`-th capture, compiled.
    pub fn capture(&self, index: usize) -> &CompiledQuery {
        self.get(Part::Capture(index))
    }

    fn get(&self, part: Part) -> &CompiledQuery {
        self.compiled
            .iter()
            .find(|(p, _)| *p == part)
            .map_or(&NOTHING, |(_, c)| c)
    }
}

impl CompiledQuery {
    fn is_empty(&self) -> bool {
        self.path.is_none() && self.regex.is_none() && self.matches.is_none()
    }
}

/// Compiles every step of `file`. A path or pattern that recurs across
/// steps (most do) is compiled once and shared.
pub fn compile(file: &SpecFile) -> Vec<StepPlan> {
    let mut compiler = Compiler::default();
    file.steps
        .iter()
        .map(|step| {
            let mut compiled = Vec::new();
            for (i, e) in step.expects.iter().enumerate() {
                let query = CompiledQuery {
                    matches: compiler.literal_matches(&e.predicate),
                    ..compiler.query(&e.query)
                };
                if !query.is_empty() {
                    compiled.push((Part::Expect(i), query));
                }
            }
            for (i, c) in step.captures.iter().enumerate() {
                let query = compiler.query(&c.query);
                if !query.is_empty() {
                    compiled.push((Part::Capture(i), query));
                }
            }
            compiled.shrink_to_fit();
            StepPlan { compiled }
        })
        .collect()
}

#[derive(Default)]
struct Compiler {
    paths: HashMap<String, Option<Arc<CompiledPath>>>,
    regexes: HashMap<String, Option<regex::Regex>>,
}

impl Compiler {
    fn query(&mut self, query: &Query) -> CompiledQuery {
        let path = match &query.kind {
            QueryKind::Json(p) => Some(p.node.clone()),
            QueryKind::JwtClaim {
                source: JwtSource::BodyPath(source),
                ..
            }
            | QueryKind::JwtSignature {
                source: JwtSource::BodyPath(source),
            } => source.as_literal(),
            _ => None,
        };
        CompiledQuery {
            path: path.and_then(|p| self.path(p)),
            regex: match &query.kind {
                QueryKind::Regex(re) => self.regex(&re.node),
                _ => None,
            },
            matches: None,
        }
    }

    /// The regex of `matches "LITERAL"`; a templated one is compiled when
    /// run.
    fn literal_matches(&mut self, predicate: &Predicate) -> Option<regex::Regex> {
        if predicate.op != Op::Matches {
            return None;
        }
        match &predicate.operand.as_ref()?.kind {
            ValueKind::Str(t) => self.regex(&t.as_literal()?),
            _ => None,
        }
    }

    fn path(&mut self, text: String) -> Option<Arc<CompiledPath>> {
        self.paths
            .entry(text)
            .or_insert_with_key(|text| {
                Some(Arc::new(CompiledPath {
                    query: jsonpath_rust::parser::parse_json_path(text).ok()?,
                    pattern_chars: jsonpath_patterns(text).iter().map(String::len).sum(),
                }))
            })
            .clone()
    }

    fn regex(&mut self, pattern: &str) -> Option<regex::Regex> {
        if let Some(compiled) = self.regexes.get(pattern) {
            return compiled.clone();
        }
        let compiled = regex::Regex::new(pattern).ok();
        self.regexes.insert(pattern.to_string(), compiled.clone());
        compiled
    }
}

#[cfg(test)]
mod tests {
    use crate::check::{check_spec, CheckOptions};

    #[test]
    fn check_compiles_what_run_executes() {
        let text = r#"vars { id = "ord_1" }
step "s" {
  GET "http://127.0.0.1:1/"
  expect body matches "ord_[0-9]+"
  expect body matches "{{id}}"
  expect json "$[?search(@.id, 'ord')]" exists
  capture x = regex "id=([a-z]+)"
}
"#;
        let (spec, diagnostics) = crate::check::load::load_str("t.oauthspec".as_ref(), text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let checked = check_spec(&spec.unwrap(), &CheckOptions::default());
        let plan = &checked.plans[0];
        assert!(plan.expect(0).matches.is_some(), "a literal pattern");
        assert!(plan.expect(1).matches.is_none(), "a templated one");
        let path = plan.expect(2).path.as_ref().unwrap();
        assert_eq!(path.pattern_chars, 3);
        assert!(plan.capture(0).regex.is_some());
        assert!(plan.expect(3).path.is_none(), "past the last: nothing");
    }
}
