//! Static validation: everything that can be known before a request is
//! sent. Its parts: project loading (load.rs), value evaluation
//! (value.rs, also used by the runner), client settings (client.rs), and
//! the checks of steps, queries and predicates (steps.rs).

pub mod client;
pub mod load;
mod steps;
pub mod value;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::oauth::dpop::DpopKey;
use crate::source::{SourceFile, Span};
use crate::syntax::ast::*;
use client::ClientConfig;
use load::Spec;
use steps::StepCtx;
use value::{Environment, EvalError, Evaluator, Resolved, Scope};

/// What `check` needs from outside the files.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub env: Environment,
    /// `--var name=value`.
    pub cli_vars: HashMap<String, String>,
}

/// An `env("NAME")` with no default and no value.
#[derive(Debug, Clone)]
pub struct MissingEnv {
    pub name: String,
    pub source: Arc<SourceFile>,
    pub span: Span,
}

impl MissingEnv {
    pub fn diagnostic(&self, severity_error: bool) -> Diagnostic {
        let message = format!(
            "environment variable {} is not set (or is empty)",
            self.name
        );
        let d = if severity_error {
            Diagnostic::error(message)
        } else {
            Diagnostic::warning(message)
        };
        d.at(&self.source, self.span)
            .label("needed here")
            .help(format!(
                "set {} or give a default: env(\"{}\", \"...\")",
                self.name, self.name
            ))
    }
}

/// The result of checking one spec.
#[derive(Debug, Default)]
pub struct Checked {
    pub diagnostics: Vec<Diagnostic>,
    pub missing_env: Vec<MissingEnv>,
    /// Clients by name, validated.
    pub clients: HashMap<String, Arc<ClientConfig>>,
    /// Clients whose blocks have errors: named, so `auth` need not complain.
    pub invalid_clients: HashSet<String>,
    /// Each step's compiled queries, in step order: what `run` executes.
    pub plans: Vec<crate::plan::StepPlan>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks one spec with its imports.
pub fn check_spec(spec: &Spec, options: &CheckOptions) -> Checked {
    let mut checker = Checker {
        options,
        out: Checked::default(),
        // Statically known variable values; None when only the run can know.
        known: HashMap::new(),
        scope: Scope::new(),
        reported_env: HashSet::new(),
        client_sites: HashMap::new(),
        valid_paths: HashSet::new(),
    };
    for (name, value) in &options.cli_vars {
        checker.learn(name.clone(), Some(Resolved::plain(value.clone())));
    }
    for file in spec.files() {
        checker.vars(file);
    }
    for file in spec.files() {
        checker.clients(file);
    }
    for file in spec.files() {
        checker.exchanges(file);
    }
    for file in &spec.imports {
        if let Some(step) = file.steps.first() {
            checker.out.diagnostics.push(
                Diagnostic::warning(format!(
                    "{} has steps; an import shares only `vars` and `client` blocks",
                    file.source.path.display()
                ))
                .at(&file.source, step.name.span)
                .label("not run by importers"),
            );
        }
    }
    checker.steps(&spec.file);
    checker.out.plans = crate::plan::compile(&spec.file);
    checker.out
}

struct Checker<'a> {
    options: &'a CheckOptions,
    out: Checked,
    known: HashMap<String, Option<Resolved>>,
    /// The `Some` entries of `known`, kept beside it so that evaluating a
    /// value does not copy every known variable first.
    scope: Scope,
    reported_env: HashSet<String>,
    /// Where each client name was first defined, valid or not.
    client_sites: HashMap<String, String>,
    valid_paths: HashSet<String>,
}

impl Checker<'_> {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.out.diagnostics.push(diagnostic);
    }

    fn learn(&mut self, name: String, value: Option<Resolved>) {
        match &value {
            Some(v) => self.scope.insert(name.clone(), v.clone()),
            None => self.scope.remove(&name),
        };
        self.known.insert(name, value);
    }

    fn vars(&mut self, file: &Arc<SpecFile>) {
        let mut local: HashMap<&str, Span> = HashMap::new();
        for def in &file.vars {
            if let Some(first) = local.insert(&def.name.node, def.name.span) {
                self.error(
                    Diagnostic::error(format!("variable `{}` is defined twice", def.name.node))
                        .at(&file.source, def.name.span)
                        .note(format!(
                            "first defined at {}",
                            file.source.location(first.start)
                        )),
                );
            }
            let resolved = self.eval(file, &def.value, None);
            // `--var` wins over `vars`.
            if !self.options.cli_vars.contains_key(&def.name.node) {
                self.learn(def.name.node.clone(), resolved);
            }
        }
    }

    /// A token exchange trades another client's token: one that is there,
    /// and not its own.
    fn exchanges(&mut self, file: &Arc<SpecFile>) {
        for def in &file.clients {
            let Some(config) = self.out.clients.get(&def.name.node).cloned() else {
                continue;
            };
            for value in [&config.subject_token, &config.actor_token]
                .into_iter()
                .flatten()
            {
                let ValueKind::ClientToken(other) = &value.kind else {
                    continue;
                };
                let known = self.out.clients.contains_key(&other.node)
                    || self.out.invalid_clients.contains(&other.node);
                let problem = if other.node == def.name.node {
                    "is the exchanging client itself"
                } else if !known {
                    "is not a client of this spec"
                } else if self.trades(&other.node, &def.name.node) {
                    "trades this client's token in turn: the exchanges go round"
                } else {
                    continue;
                };
                self.error(
                    Diagnostic::error(format!("`{}` {problem}", other.node))
                        .at(&file.source, other.span),
                );
            }
        }
    }

    /// Whether `client` trades `target`'s token, through any chain of
    /// token exchanges (each client looked at once).
    fn trades(&self, client: &str, target: &str) -> bool {
        let mut seen = std::collections::HashSet::new();
        let mut todo = vec![client.to_string()];
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(config) = self.out.clients.get(&name) else {
                continue;
            };
            for value in [&config.subject_token, &config.actor_token]
                .into_iter()
                .flatten()
            {
                if let ValueKind::ClientToken(other) = &value.kind {
                    if other.node == target {
                        return true;
                    }
                    todo.push(other.node.clone());
                }
            }
        }
        false
    }

    fn clients(&mut self, file: &Arc<SpecFile>) {
        for def in &file.clients {
            if let Some(first) = self.client_sites.get(&def.name.node) {
                let first = first.clone();
                self.error(
                    Diagnostic::error(format!("client `{}` is defined twice", def.name.node))
                        .at(&file.source, def.name.span)
                        .note(format!("first defined at {first}")),
                );
                continue;
            }
            self.client_sites.insert(
                def.name.node.clone(),
                file.source.location(def.name.span.start),
            );
            match client::from_def(def, &file.source) {
                Ok(config) => {
                    for value in config.values() {
                        self.eval(file, value, None);
                    }
                    for (what, value) in [
                        ("ca_cert", &config.ca_cert),
                        ("client_cert", &config.client_cert),
                        ("client_key", &config.client_key),
                    ] {
                        if let Some(value) = value {
                            self.pem(file, what, value, None);
                        }
                    }
                    // A DPoP key that cannot sign is found before anything
                    // is sent.
                    if let Some(value) = &config.dpop_key {
                        let key = self.eval(file, value, None);
                        if let Some(Err(why)) = key.map(|k| DpopKey::from_pem(&k.text)) {
                            self.error(Diagnostic::error(why).at(&file.source, value.span));
                        }
                    }
                    self.out
                        .clients
                        .insert(def.name.node.clone(), Arc::new(config));
                }
                Err(diags) => {
                    self.out.diagnostics.extend(diags);
                    self.out.invalid_clients.insert(def.name.node.clone());
                }
            }
        }
    }

    fn steps(&mut self, file: &Arc<SpecFile>) {
        let mut names: HashMap<&str, Span> = HashMap::new();
        // Captures in step order: name → the step that captures it.
        let mut captures_later: HashMap<&str, &str> = HashMap::new();
        for step in &file.steps {
            for c in &step.captures {
                // The first step that captures a name is the one to name.
                captures_later
                    .entry(c.name.node.as_str())
                    .or_insert(step.name.node.as_str());
            }
        }
        for step in &file.steps {
            if let Some(first) = names.insert(&step.name.node, step.name.span) {
                self.error(
                    Diagnostic::error(format!("duplicate step name {:?}", step.name.node))
                        .at(&file.source, step.name.span)
                        .note(format!(
                            "first used at {}",
                            file.source.location(first.start)
                        ))
                        .help("step names identify test cases in reports; make them unique"),
                );
            }
            let ctx = StepCtx {
                file,
                captures_later: &captures_later,
            };
            self.step(&ctx, step);
            for capture in &step.captures {
                self.query(file, step, &capture.query);
                self.learn(capture.name.node.clone(), None);
            }
        }
    }

    fn template(&mut self, ctx: &StepCtx, template: &Template) {
        for var in template.vars() {
            self.var_defined(ctx.file, &var.node, var.span, Some(ctx));
        }
    }

    fn var_defined(&mut self, file: &Arc<SpecFile>, name: &str, span: Span, ctx: Option<&StepCtx>) {
        if self.known.contains_key(name) {
            return;
        }
        let captured_in = ctx.and_then(|c| c.captures_later.get(name));
        let d = match captured_in {
            Some(step) => {
                Diagnostic::error(format!("variable `{name}` is used before it is captured"))
                    .at(&file.source, span)
                    .note(format!("it is captured later, in step {step:?}"))
            }
            None => {
                let names: Vec<&str> = self.known.keys().map(String::as_str).collect();
                Diagnostic::error(format!("variable `{name}` is not defined"))
                    .at(&file.source, span)
                    .label("not in `vars`, `--var` or an earlier capture")
                    .suggest(name, names)
            }
        };
        self.error(d);
    }

    /// Evaluates a value as far as can be known now, reporting undefined
    /// variables, unreadable files and missing environment variables.
    /// A TLS setting must be PEM text (when it can be known before the
    /// run); a path where `file("...")` was meant is the usual slip.
    fn pem(&mut self, file: &Arc<SpecFile>, what: &str, value: &Value, ctx: Option<&StepCtx>) {
        let Some(resolved) = self.eval(file, value, ctx) else {
            return;
        };
        let marker = if what == "client_key" {
            "PRIVATE KEY-----"
        } else {
            "-----BEGIN CERTIFICATE-----"
        };
        if !resolved.text.contains(marker) {
            let mut d = Diagnostic::error(format!("`{what}` is not PEM"))
                .at(&file.source, value.span)
                .label(format!("expected text containing `{marker}`"));
            if let ValueKind::Str(t) = &value.kind {
                if let Some(literal) = t.as_literal() {
                    d = d.help(format!("to read a file, write `{what} file({literal:?})`"));
                }
            }
            self.error(d);
        }
    }

    fn eval(
        &mut self,
        file: &Arc<SpecFile>,
        value: &Value,
        ctx: Option<&StepCtx>,
    ) -> Option<Resolved> {
        let mut complete = true;
        self.walk_value(file, value, ctx, &mut complete);
        if !complete {
            return None;
        }
        let evaluator = Evaluator {
            env: &self.options.env,
            scope: &self.scope,
            base_dir: file.source.path.parent().unwrap_or(Path::new("")),
        };
        match evaluator.value(value) {
            Ok(r) => Some(r),
            Err(EvalError::MissingEnv { name, span }) => {
                if self.reported_env.insert(name.clone()) {
                    self.out.missing_env.push(MissingEnv {
                        name,
                        source: file.source.clone(),
                        span,
                    });
                }
                None
            }
            Err(e @ (EvalError::File { .. } | EvalError::TooLarge { .. })) => {
                self.error(Diagnostic::error(e.message()).at(&file.source, e.span()));
                None
            }
            // Reported by walk_value already.
            Err(EvalError::UndefinedVar { .. }) => None,
        }
    }

    /// Reports undefined variables in a value; clears `complete` when some
    /// part is only known at run time (a capture).
    fn walk_value(
        &mut self,
        file: &Arc<SpecFile>,
        value: &Value,
        ctx: Option<&StepCtx>,
        complete: &mut bool,
    ) {
        match &value.kind {
            ValueKind::Str(t) | ValueKind::File(t) => self.walk_template(file, t, ctx, complete),
            ValueKind::Env { name, default } => {
                self.walk_template(file, name, ctx, complete);
                if let Some(d) = default {
                    self.walk_value(file, d, ctx, complete);
                }
            }
            ValueKind::Secret(inner) => self.walk_value(file, inner, ctx, complete),
            // Fetched when the exchanging client needs it.
            // (Which clients it may name is checked once all are known.)
            ValueKind::ClientToken(client) => {
                *complete = false;
                if ctx.is_some() {
                    self.error(
                        Diagnostic::error(
                            "`token(CLIENT)` is for a token_exchange client's `subject_token` or `actor_token`",
                        )
                        .at(&file.source, client.span),
                    );
                }
            }
            // Known when the spec runs: the key is made then.
            ValueKind::DpopThumbprint(client) => {
                *complete = false;
                let dpop = self.out.clients.get(&client.node).map(|c| c.dpop);
                let problem = match dpop {
                    Some(client::Dpop::Off) => Some("has no `dpop`, so no DPoP key"),
                    None if !self.out.invalid_clients.contains(&client.node) => {
                        Some("is not a client of this spec")
                    }
                    _ => None,
                };
                if let Some(problem) = problem {
                    self.error(
                        Diagnostic::error(format!("`{}` {problem}", client.node))
                            .at(&file.source, client.span),
                    );
                }
            }
            _ => {}
        }
    }

    fn walk_template(
        &mut self,
        file: &Arc<SpecFile>,
        t: &Template,
        ctx: Option<&StepCtx>,
        complete: &mut bool,
    ) {
        for var in t.vars() {
            match self.known.get(&var.node) {
                Some(Some(_)) => {}
                Some(None) => *complete = false,
                None => {
                    *complete = false;
                    self.var_defined(file, &var.node, var.span, ctx);
                }
            }
        }
    }

    /// A URL that holds a secret is not shown: the caret points at it.
    fn check_url(&mut self, file: &Arc<SpecFile>, url: &Resolved, span: Span) {
        match url::Url::parse(&url.text) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            Ok(u) => self.error(
                Diagnostic::error(format!("unsupported URL scheme `{}`", u.scheme()))
                    .at(&file.source, span)
                    .help("use http:// or https://"),
            ),
            Err(e) => self.error(
                Diagnostic::error(if url.secret {
                    format!("invalid URL (it holds a secret, not shown): {e}")
                } else {
                    format!("invalid URL {:?}: {e}", url.text)
                })
                .at(&file.source, span)
                .help("URLs are absolute, e.g. \"{{api}}/v1/orders\" with api = \"https://...\""),
            ),
        }
    }

    /// A URL that holds captures: checked when its start is known text.
    fn check_url_shape(&mut self, file: &Arc<SpecFile>, value: &Value) {
        let ValueKind::Str(t) = &value.kind else {
            return;
        };
        let mut url = Resolved::plain("");
        for part in &t.parts {
            match part {
                TemplatePart::Text(s) => url.text.push_str(s),
                TemplatePart::Var(v) => match self.known.get(&v.node) {
                    Some(Some(r)) => {
                        url.text.push_str(&r.text);
                        url.secret |= r.secret;
                    }
                    _ if url.text.is_empty() => return,
                    _ => url.text.push('x'),
                },
            }
        }
        self.check_url(file, &url, value.span);
    }
}

/// Every spec under `paths`, loaded and checked.
pub struct Project {
    pub specs: Vec<(crate::check::load::Spec, Checked)>,
    /// Load and syntax errors, then each spec's diagnostics.
    pub diagnostics: Vec<Diagnostic>,
    pub missing_env: Vec<MissingEnv>,
}

/// How many of `diagnostics` are errors.
fn errors(diagnostics: &[Diagnostic]) -> usize {
    diagnostics.iter().filter(|d| d.is_error()).count()
}

impl Project {
    pub fn error_count(&self) -> usize {
        errors(&self.diagnostics)
    }

    pub fn step_count(&self) -> usize {
        self.specs.iter().map(|(s, _)| s.file.steps.len()).sum()
    }
}

/// Loads and checks every spec under `paths`, keeping them to run.
pub fn check_paths(paths: &[std::path::PathBuf], options: &CheckOptions) -> Project {
    let mut specs = Vec::new();
    let (diagnostics, missing_env) = check_batches(paths, options, usize::MAX, |spec, checked| {
        specs.push((spec, checked))
    });
    Project {
        specs,
        diagnostics,
        missing_env,
    }
}

/// What `check` found, without the specs.
#[derive(Debug, Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    pub missing_env: Vec<MissingEnv>,
    pub files: usize,
    pub steps: usize,
}

impl Report {
    pub fn error_count(&self) -> usize {
        errors(&self.diagnostics)
    }
}

/// Checks every spec under `paths` and keeps only what it found: files are
/// parsed, checked and dropped a batch at a time, so memory grows with the
/// largest batch of files, not with the whole suite (`oauthspec check`).
pub fn check_each(paths: &[std::path::PathBuf], options: &CheckOptions) -> Report {
    check_in_batches(paths, options, 8 * crate::util::parallel::cores())
}

/// [`check_each`], `batch` files at a time.
pub fn check_in_batches(
    paths: &[std::path::PathBuf],
    options: &CheckOptions,
    batch: usize,
) -> Report {
    let (mut files, mut steps) = (0, 0);
    let (diagnostics, missing_env) = check_batches(paths, options, batch, |spec, _| {
        files += 1;
        steps += spec.file.steps.len();
    });
    Report {
        diagnostics,
        missing_env,
        files,
        steps,
    }
}

/// Discovers the files under `paths`, then, `batch` files at a time,
/// parses them on every core, loads and checks their specs and hands each
/// to `keep`. Diagnostics come per batch: load and syntax errors, then
/// each spec's.
fn check_batches(
    paths: &[std::path::PathBuf],
    options: &CheckOptions,
    batch: usize,
    mut keep: impl FnMut(Spec, Checked),
) -> (Vec<Diagnostic>, Vec<MissingEnv>) {
    let files = match load::discover(paths) {
        Ok(files) => files,
        Err(d) => return (vec![d], Vec::new()),
    };
    let mut loader = load::Loader::default();
    if batch < files.len() {
        loader.name(&files);
    }
    let mut diagnostics = Vec::new();
    let mut missing_env: Vec<MissingEnv> = Vec::new();
    for chunk in files.chunks(batch.max(1)) {
        loader.parse_ahead(chunk);
        let specs: Vec<Spec> = chunk.iter().filter_map(|f| loader.load(f)).collect();
        diagnostics.append(&mut loader.diagnostics);
        let checked = crate::util::parallel::map(&specs, |spec| check_spec(spec, options));
        for (spec, mut checked) in specs.into_iter().zip(checked) {
            diagnostics.append(&mut checked.diagnostics);
            for m in &checked.missing_env {
                if !missing_env.iter().any(|e| e.name == m.name) {
                    missing_env.push(m.clone());
                }
            }
            keep(spec, checked);
        }
        if batch < files.len() {
            for f in chunk {
                loader.release(f);
            }
        }
    }
    (diagnostics, missing_env)
}
