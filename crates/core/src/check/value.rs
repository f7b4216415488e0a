//! Turning written values into text: templates, `env(...)`, `secret(...)`,
//! `file(...)`. Shared by `check` (as far as it can know) and `run`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

    /// The value of `name`; an empty value counts as unset, as CI systems
    /// give unset repository variables as "" (GitHub Actions does).
    pub fn get(&self, name: &str) -> Option<String> {
        let set = |v: &String| !v.is_empty();
        if let Some(v) = self.fixed.get(name).filter(|v| set(v)) {
            return Some(v.clone());
        }
        if self.use_process {
            if let Some(v) = std::env::var(name).ok().filter(set) {
                return Some(v);
            }
        }
        self.vars_file.get(name).filter(|v| set(v)).cloned()
    }
}

/// Parses a dotenv file: `NAME=value` lines, `#` comments, optional
/// `export `, values optionally in single or double quotes. As in docker
/// compose and python-dotenv, an unquoted value ends before ` #` (an
/// inline comment); a quoted one keeps its `#`.
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
        let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'');
        let quoted = match quote {
            Some(q) => match value[1..].find(q) {
                Some(end) => Some(&value[1..1 + end]),
                None => return Err(format!("line {}: the value's {q} is not closed", n + 1)),
            },
            None => None,
        };
        let value = match quoted {
            Some(inner) => inner,
            None => value
                .find(" #")
                .or_else(|| value.find("\t#"))
                .map_or(value, |end| value[..end].trim_end()),
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
    /// A template expanded past [`MAX_VALUE_LEN`] (variables that double
    /// each other grow without bound).
    TooLarge {
        span: Span,
    },
}

/// The longest text a template may expand to.
pub const MAX_VALUE_LEN: usize = 1 << 20;

impl EvalError {
    pub fn span(&self) -> Span {
        match self {
            EvalError::MissingEnv { span, .. }
            | EvalError::UndefinedVar { span, .. }
            | EvalError::File { span, .. }
            | EvalError::TooLarge { span } => *span,
        }
    }

    pub fn message(&self) -> String {
        match self {
            EvalError::MissingEnv { name, .. } => {
                format!("environment variable {name} is not set (or is empty) and has no default")
            }
            EvalError::UndefinedVar { name, .. } => format!("variable `{name}` is not defined"),
            EvalError::File { path, error, .. } => {
                format!("cannot read {}: {error}", path.display())
            }
            EvalError::TooLarge { .. } => {
                format!("this value expands to more than {} bytes", MAX_VALUE_LEN)
            }
        }
    }
}

/// Variables in scope, by name.
pub type Scope = HashMap<String, Resolved>;

/// Where a run keeps a client's access token for `token(CLIENT)`.
pub fn client_token_var(client: &str) -> String {
    format!("token({client})")
}

/// Where a run keeps a client's DPoP thumbprint in the scope (a name no
/// variable can have).
pub fn thumbprint_var(client: &str) -> String {
    format!("dpop_thumbprint({client})")
}

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
            ValueKind::Duration(d) => Resolved::plain(crate::duration::spec_text(*d)),
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
            ValueKind::DpopThumbprint(client) => {
                match self.scope.get(&thumbprint_var(&client.node)) {
                    Some(r) => r.clone(),
                    None => {
                        return Err(EvalError::UndefinedVar {
                            name: format!("dpop_thumbprint({})", client.node),
                            span: value.span,
                        })
                    }
                }
            }
            ValueKind::ClientToken(client) => match self.scope.get(&client_token_var(&client.node))
            {
                Some(r) => r.clone(),
                None => {
                    return Err(EvalError::UndefinedVar {
                        name: format!("token({})", client.node),
                        span: value.span,
                    })
                }
            },
            ValueKind::File(path) => {
                let rel = self.template(path)?;
                let full = self.base_dir.join(&rel.text);
                match crate::util::files::read_input(&full) {
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
                        if text.len() + r.text.len() > MAX_VALUE_LEN {
                            return Err(EvalError::TooLarge {
                                span: template.span,
                            });
                        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_values_end_at_an_inline_comment_unless_quoted() {
        let vars = parse_dotenv(
            "A=plain # a comment\nB=\"quoted # kept\" # dropped\nC='single # kept'\nD=no#comment\nexport E=\t x \t#c\nF=\n",
        )
        .unwrap();
        assert_eq!(vars["A"], "plain");
        assert_eq!(vars["B"], "quoted # kept");
        assert_eq!(vars["C"], "single # kept");
        assert_eq!(vars["D"], "no#comment");
        assert_eq!(vars["E"], "x");
        assert_eq!(vars["F"], "");
    }

    #[test]
    fn dotenv_files_as_editors_and_ci_write_them() {
        let vars = parse_dotenv(
            "# a comment\r\n\r\n   # an indented one\r\nA=crlf\r\nexport B = spaced \r\nC=\"x=y\"\r\nD=a=b\nE='\"inner\"'\n",
        )
        .unwrap();
        assert_eq!(vars.len(), 5, "{vars:?}");
        assert_eq!(vars["A"], "crlf", "no carriage return kept");
        assert_eq!(vars["B"], "spaced");
        assert_eq!(vars["C"], "x=y");
        assert_eq!(vars["D"], "a=b");
        assert_eq!(vars["E"], "\"inner\"");
        assert_eq!(
            parse_dotenv("A=1\nnot a pair\n").unwrap_err(),
            "line 2: expected NAME=value"
        );
        assert_eq!(
            parse_dotenv("A=1\r\nB=\"open\r\n").unwrap_err(),
            "line 2: the value's \" is not closed"
        );
    }

    #[test]
    fn an_empty_value_is_unset_and_takes_the_default() {
        let mut env = Environment::default();
        env.fixed.insert("EMPTY".into(), String::new());
        env.vars_file.insert("EMPTY".into(), "from-file".into());
        env.fixed.insert("BLANK".into(), String::new());
        assert_eq!(env.get("EMPTY").as_deref(), Some("from-file"));
        assert_eq!(env.get("BLANK"), None);
        let scope = Scope::new();
        let eval = Evaluator {
            env: &env,
            scope: &scope,
            base_dir: Path::new(""),
        };
        let literal = |text: &str| Template {
            parts: vec![TemplatePart::Text(text.into())],
            span: Span::default(),
        };
        let text = |name: &str, default: Option<&str>| ValueKind::Env {
            name: literal(name),
            default: default.map(|d| {
                Box::new(Value {
                    kind: ValueKind::Str(literal(d)),
                    span: Span::default(),
                })
            }),
        };
        let with_default = Value {
            kind: text("BLANK", Some("fallback")),
            span: Span::default(),
        };
        assert_eq!(eval.value(&with_default).unwrap().text, "fallback");
        let without = Value {
            kind: text("BLANK", None),
            span: Span::default(),
        };
        let error = eval.value(&without).unwrap_err();
        assert!(error.message().contains("BLANK is not set (or is empty)"));
    }
}
