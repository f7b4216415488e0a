//! The checks of a step: its request, queries, predicates and captures.

use std::collections::HashMap;
use std::sync::Arc;

use super::Checker;
use crate::check::client::Dpop;
use crate::check::value::Resolved;
use crate::diagnostic::{closest, Diagnostic};
use crate::source::Span;
use crate::syntax::ast::*;

impl Checker<'_> {
    pub(super) fn step(&mut self, ctx: &StepCtx, step: &Step) {
        let file = ctx.file;
        if let Some(request) = &step.request {
            let url = self.eval(file, &request.url, Some(ctx));
            if let Some(url) = url {
                self.check_url(file, &url, request.url.span);
            } else {
                self.check_url_shape(file, &request.url);
            }
        }
        for header in &step.headers {
            self.template(ctx, &header.name);
            self.eval(file, &header.value, Some(ctx));
        }
        for pair in &step.query {
            self.template(ctx, &pair.name);
            self.eval(file, &pair.value, Some(ctx));
        }
        match &step.body {
            Some(Body::Form(pairs)) => {
                for pair in pairs {
                    self.template(ctx, &pair.name);
                    self.eval(file, &pair.value, Some(ctx));
                }
            }
            Some(Body::Json(json)) => self.json(ctx, json),
            Some(Body::Raw(value)) => {
                self.eval(file, value, Some(ctx));
            }
            None => {}
        }
        match &step.auth {
            Some(Auth::Basic { user, password }) => {
                self.eval(file, user, Some(ctx));
                self.eval(file, password, Some(ctx));
            }
            Some(Auth::Bearer(token)) => {
                self.eval(file, token, Some(ctx));
            }
            Some(Auth::Client(name)) => {
                let client = self.out.clients.get(&name.node);
                let no_dpop = client.is_some_and(|c| c.dpop == Dpop::Off);
                let refused = match &step.options.proof {
                    Some(ProofOption::Without(span))
                        if no_dpop && client.is_some_and(|c| c.client_cert.is_none()) =>
                    {
                        Some((
                            *span,
                            "sends no DPoP proof or certificate to leave out",
                            "`without_proof` is for a client with `dpop true` or a `client_cert`",
                        ))
                    }
                    Some(ProofOption::For { url, span }) => {
                        self.eval(file, url, Some(ctx));
                        let written = super::client::literal(url);
                        if let Some(text) = written.filter(|t| url::Url::parse(t).is_err()) {
                            self.error(
                                Diagnostic::error(format!(
                                    "`proof_for` needs an absolute URL, not {text:?}"
                                ))
                                .at(&file.source, url.span)
                                .help("the URL the DPoP proof is made for (its `htu`)"),
                            );
                        }
                        no_dpop.then_some((
                            *span,
                            "sends no DPoP proof to make for another URL",
                            "`proof_for` is for a client with `dpop true` or `dpop optional`",
                        ))
                    }
                    _ => None,
                };
                if let Some((span, what, help)) = refused {
                    self.error(
                        Diagnostic::error(format!("client `{}` {what}", name.node))
                            .at(&file.source, span)
                            .help(help),
                    );
                }
                let known = self.out.clients.contains_key(&name.node)
                    || self.out.invalid_clients.contains(&name.node);
                if !known {
                    let names: Vec<&str> = self.out.clients.keys().map(String::as_str).collect();
                    let mut d = Diagnostic::error(format!("unknown client `{}`", name.node))
                        .at(&file.source, name.span)
                        .label("no client block has this name");
                    d = match closest(&name.node, names.iter().copied()) {
                        Some(best) => d.help(format!("did you mean `{best}`?")),
                        None if names.is_empty() => d.help(
                            "define it with `client NAME { ... }` here or in an imported file",
                        ),
                        None => d.help(format!("known clients: {}", names.join(", "))),
                    };
                    self.error(d);
                }
            }
            None => {}
        }
        let tls = [
            ("ca_cert", &step.options.ca_cert),
            ("client_cert", &step.options.client_cert),
            ("client_key", &step.options.client_key),
        ];
        for (what, value) in tls {
            if let Some(value) = value {
                self.pem(file, what, value, Some(ctx));
            }
        }
        let (cert, key) = (&step.options.client_cert, &step.options.client_key);
        for (have, need, value) in [
            (
                "client_cert",
                "client_key",
                cert.as_ref().filter(|_| key.is_none()),
            ),
            (
                "client_key",
                "client_cert",
                key.as_ref().filter(|_| cert.is_none()),
            ),
        ] {
            if let Some(v) = value {
                self.error(
                    Diagnostic::error(format!("`{have}` without `{need}`"))
                        .at(&file.source, v.span)
                        .help("a TLS client certificate needs both `client_cert` and `client_key`"),
                );
            }
        }
        for expect in &step.expects {
            self.query(file, step, &expect.query);
            self.template_in_query(ctx, &expect.query);
            self.predicate(ctx, &expect.query, &expect.predicate);
        }
        for capture in &step.captures {
            self.template_in_query(ctx, &capture.query);
        }
    }

    fn json(&mut self, ctx: &StepCtx, json: &Json) {
        match json {
            Json::Object(members) => {
                for (key, value) in members {
                    self.template(ctx, key);
                    self.json(ctx, value);
                }
            }
            Json::Array(items) => items.iter().for_each(|item| self.json(ctx, item)),
            Json::Str(t) => self.template(ctx, t),
            Json::Literal(_) => {}
            Json::Raw(name) => self.var_defined(ctx.file, name.node.as_str(), name.span, Some(ctx)),
        }
    }

    fn template_in_query(&mut self, ctx: &StepCtx, query: &Query) {
        match &query.kind {
            QueryKind::Header(t) => self.template(ctx, t),
            QueryKind::JwtClaim { source, .. } | QueryKind::JwtSignature { source } => {
                if let JwtSource::Value(t) = source {
                    self.template(ctx, t)
                }
            }
            _ => {}
        }
    }

    pub(super) fn query(&mut self, file: &Arc<SpecFile>, step: &Step, query: &Query) {
        match &query.kind {
            QueryKind::Json(path) => self.json_path(file, &path.node, path.span),
            QueryKind::Regex(re) => {
                if let Err(e) = regex::Regex::new(&re.node) {
                    self.error(invalid_regex(file, re.span, &e));
                }
            }
            QueryKind::JwtClaim {
                source: JwtSource::BodyPath(source),
                ..
            }
            | QueryKind::JwtSignature {
                source: JwtSource::BodyPath(source),
            } => match source.as_literal() {
                Some(path) => self.json_path(file, &path, source.span),
                None => self.error(
                    Diagnostic::error("no `{{...}}` templates are allowed here")
                        .at(&file.source, source.span)
                        .label("a source starting with `$` is a JSONPath into the body")
                        .help("to read a JWT from a variable, write \"{{name}}\""),
                ),
            },
            QueryKind::Latency(Some(p)) if step.options.repeat.is_none() => {
                self.error(
                    Diagnostic::error(format!(
                        "`latency {}` needs `repeat N` in this step",
                        p.node
                    ))
                    .at(&file.source, p.span)
                    .label("a percentile of one sample says nothing")
                    .help("add `repeat 20` to the step, or use plain `latency`"),
                );
            }
            _ => {}
        }
    }

    fn json_path(&mut self, file: &Arc<SpecFile>, path: &str, span: Span) {
        // The same few paths recur across steps: parse each once.
        if self.valid_paths.contains(path) {
            return;
        }
        match jsonpath_rust::parser::parse_json_path(path) {
            Ok(_) => {
                // The library takes an invalid pattern for "no match".
                for pattern in crate::plan::jsonpath_patterns(path) {
                    if let Err(e) = regex::Regex::new(&pattern) {
                        self.error(
                            Diagnostic::error(format!(
                                "invalid regex in JSONPath {path:?}: {}",
                                e.to_string().lines().last().unwrap_or_default()
                            ))
                            .at(&file.source, span)
                            .label("search() and match() take a regular expression"),
                        );
                        return;
                    }
                }
                self.valid_paths.insert(path.to_string());
            }
            Err(e) => {
                self.error(
                    Diagnostic::error(format!("invalid JSONPath {path:?}"))
                        .at(&file.source, span)
                        .label(jsonpath_problem(&e.to_string()))
                        .help("JSONPath (RFC 9535) starts at `$`, e.g. \"$.orders[0].id\""),
                );
            }
        }
    }

    fn predicate(&mut self, ctx: &StepCtx, query: &Query, predicate: &Predicate) {
        let file = ctx.file;
        let Some(operand) = &predicate.operand else {
            return;
        };
        if let ValueKind::Symbol(word) = &operand.kind {
            if self.known.contains_key(word) {
                self.error(
                    Diagnostic::warning(format!(
                        "`{word}` is compared as the literal word `{word}`"
                    ))
                    .at(&file.source, operand.span)
                    .help(format!(
                        "to compare with the variable, write \"{{{{{word}}}}}\""
                    )),
                );
            }
        }
        let resolved = self.eval(file, operand, Some(ctx));
        let ordering = matches!(predicate.op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
        match &query.kind {
            QueryKind::Status if !matches!(operand.kind, ValueKind::Number(_)) => {
                self.error(
                    Diagnostic::error("`status` compares with a number")
                        .at(&file.source, operand.span)
                        .help("e.g. `expect status == 200`"),
                );
            }
            QueryKind::Latency(_) => {
                if !matches!(operand.kind, ValueKind::Duration(_)) {
                    self.error(
                        Diagnostic::error("`latency` compares with a duration")
                            .at(&file.source, operand.span)
                            .help("write the unit, e.g. `300ms` or `2s`"),
                    );
                } else if !ordering {
                    self.error(
                        Diagnostic::error(format!(
                            "`latency` is compared with <, <=, > or >=, not `{}`",
                            predicate.op.as_str()
                        ))
                        .at(&file.source, predicate.span),
                    );
                }
            }
            _ => {}
        }
        if predicate.op == Op::Matches {
            if let Some(Resolved { text, .. }) = resolved {
                if let Err(e) = regex::Regex::new(&text) {
                    self.error(invalid_regex(file, operand.span, &e));
                }
            }
        }
        if ordering
            && matches!(
                operand.kind,
                ValueKind::Str(_) | ValueKind::Symbol(_) | ValueKind::Bool(_)
            )
        {
            self.error(
                Diagnostic::error(format!(
                    "`{}` compares numbers or durations",
                    predicate.op.as_str()
                ))
                .at(&file.source, operand.span),
            );
        }
    }
}

pub(super) struct StepCtx<'a> {
    pub(super) file: &'a Arc<SpecFile>,
    pub(super) captures_later: &'a HashMap<&'a str, &'a str>,
}

fn invalid_regex(file: &Arc<SpecFile>, span: Span, e: &regex::Error) -> Diagnostic {
    let detail = e.to_string();
    let last = detail
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    Diagnostic::error("invalid regular expression")
        .at(&file.source, span)
        .label(last.trim_start_matches("error: ").to_string())
}

/// jsonpath-rust wraps pest's report; keep the part a user can act on.
fn jsonpath_problem(message: &str) -> String {
    let expected = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .map(str::to_string);
    expected.unwrap_or_else(|| "not valid JSONPath".into())
}
