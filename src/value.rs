//! Turning written values into text: templates, `env(...)`, `secret(...)`,
//! `file(...)`. Shared by `check` (as far as it can know) and `run`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::source::Span;
use crate::syntax::ast::{Template, TemplatePart, Value, ValueKind};

/// Where `env("NAME")` looks, highest first: values fixed by the caller
/// (the demo points the examples at its sandbox this way), the process
/// environment, then `--vars-file`.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub fixed: HashMap<String, String>,
    pub use_process: bool,
    pub vars_file: HashMap<String, String>,
}

impl Environment {
    /// The process environment, as a normal run sees it.
    pub fn process() -> Environment {
        Environment {
            use_process: true,
            ..Environment::default()
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.fixed.get(name) {
            return Some(v.clone());
        }
        if self.use_process {
            if let Ok(v) = std::env::var(name) {
                return Some(v);
            }
        }
        self.vars_file.get(name).cloned()
    }
}

/// Parses a dotenv file: `NAME=value` lines, `#` comments, optional
/// `export `, values optionally in single or double quotes.
pub fn parse_dotenv(text: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected NAME=value", n + 1));
        };
        let value = value.trim();
        let value = if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\'')))
        {
            &value[1..value.len() - 1]
        } else {
            value
        };
        out.insert(name.trim().to_string(), value.to_string());
    }
    Ok(out)
}

/// A value's text, and whether it must be kept out of every output.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub text: String,
    pub secret: bool,
}

impl Resolved {
    pub fn plain(text: impl Into<String>) -> Resolved {
        Resolved {
            text: text.into(),
            secret: false,
        }
    }
}

/// Why a value could not be resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalError {
    MissingEnv {
        name: String,
        span: Span,
    },
    UndefinedVar {
        name: String,
        span: Span,
    },
    File {
        path: PathBuf,
        error: String,
        span: Span,
    },
}

impl EvalError {
    pub fn span(&self) -> Span {
        match self {
            EvalError::MissingEnv { span, .. }
            | EvalError::UndefinedVar { span, .. }
            | EvalError::File { span, .. } => *span,
        }
    }

    pub fn message(&self) -> String {
        match self {
            EvalError::MissingEnv { name, .. } => {
                format!("environment variable {name} is not set and has no default")
            }
            EvalError::UndefinedVar { name, .. } => format!("variable `{name}` is not defined"),
            EvalError::File { path, error, .. } => {
                format!("cannot read {}: {error}", path.display())
            }
        }
    }
}

/// Variables in scope, by name.
pub type Scope = HashMap<String, Resolved>;

/// Evaluates values against a scope and an environment.
pub struct Evaluator<'a> {
    pub env: &'a Environment,
    pub scope: &'a Scope,
    /// The directory `file(...)` paths are relative to.
    pub base_dir: &'a Path,
}

impl Evaluator<'_> {
    pub fn value(&self, value: &Value) -> Result<Resolved, EvalError> {
        Ok(match &value.kind {
            ValueKind::Str(t) => self.template(t)?,
            ValueKind::Number(n) => Resolved::plain(format_number(*n)),
            ValueKind::Bool(b) => Resolved::plain(b.to_string()),
            ValueKind::Duration(d) => Resolved::plain(format_duration(*d)),
            ValueKind::Symbol(s) => Resolved::plain(s.clone()),
            ValueKind::Env { name, default } => {
                let name_r = self.template(name)?;
                match self.env.get(&name_r.text) {
                    Some(text) => Resolved {
                        text,
                        secret: name_r.secret,
                    },
                    None => match default {
                        Some(d) => self.value(d)?,
                        None => {
                            return Err(EvalError::MissingEnv {
                                name: name_r.text,
                                span: value.span,
                            })
                        }
                    },
                }
            }
            ValueKind::Secret(inner) => Resolved {
                text: self.value(inner)?.text,
                secret: true,
            },
            ValueKind::File(path) => {
                let rel = self.template(path)?;
                let full = self.base_dir.join(&rel.text);
                match std::fs::read_to_string(&full) {
                    Ok(text) => Resolved {
                        text,
                        secret: rel.secret,
                    },
                    Err(e) => {
                        return Err(EvalError::File {
                            path: full,
                            error: e.to_string(),
                            span: value.span,
                        })
                    }
                }
            }
        })
    }

    pub fn template(&self, template: &Template) -> Result<Resolved, EvalError> {
        let mut text = String::new();
        let mut secret = false;
        for part in &template.parts {
            match part {
                TemplatePart::Text(t) => text.push_str(t),
                TemplatePart::Var(var) => match self.scope.get(&var.node) {
                    Some(r) => {
                        text.push_str(&r.text);
                        secret |= r.secret;
                    }
                    None => {
                        return Err(EvalError::UndefinedVar {
                            name: var.node.clone(),
                            span: var.span,
                        })
                    }
                },
            }
        }
        Ok(Resolved { text, secret })
    }
}

pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 && ms > 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
