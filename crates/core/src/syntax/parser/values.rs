//! Building values: strings and templates, JSON bodies, durations, counts.

use std::time::Duration;

use pest::iterators::Pair;

use super::{Builder, Parts as _, Rule};
use crate::source::Spanned;
use crate::syntax::ast::*;

impl Builder {
    pub(super) fn value_or_symbol(&mut self, pair: Pair<Rule>) -> Value {
        match pair.as_rule() {
            Rule::symbol => Value {
                kind: ValueKind::Symbol(pair.as_str().to_string()),
                span: self.span(&pair),
            },
            _ => self.value(pair),
        }
    }

    pub(super) fn value(&mut self, pair: Pair<Rule>) -> Value {
        let value_span = self.span(&pair);
        let inner = pair.parts().next().expect("value kind");
        let kind = match inner.as_rule() {
            Rule::string => ValueKind::Str(self.string(inner)),
            Rule::number => ValueKind::Number(inner.as_str().parse().unwrap_or(0.0)),
            Rule::boolean => ValueKind::Bool(inner.as_str() == "true"),
            Rule::duration => ValueKind::Duration(self.duration(&inner).node),
            Rule::env_call => {
                let mut parts = inner.parts();
                parts.next();
                let name = self.string(parts.next().expect("env name"));
                let default = parts.next().map(|d| Box::new(self.value(d)));
                ValueKind::Env { name, default }
            }
            Rule::secret_call => {
                let v = self.value(inner.parts().nth(1).expect("secret value"));
                ValueKind::Secret(Box::new(v))
            }
            Rule::file_call => {
                ValueKind::File(self.string(inner.parts().nth(1).expect("file path")))
            }
            Rule::thumbprint_call => {
                let client = inner.parts().nth(1).expect("client name");
                ValueKind::DpopThumbprint(self.spanned_str(&client))
            }
            Rule::token_call => {
                let client = inner.parts().nth(1).expect("client name");
                ValueKind::ClientToken(self.spanned_str(&client))
            }
            rule => unreachable!("unexpected value rule {rule:?}"),
        };
        Value {
            kind,
            span: value_span,
        }
    }

    pub(super) fn duration(&mut self, pair: &Pair<Rule>) -> Spanned<Duration> {
        let d = crate::duration::parse(pair.as_str()).unwrap_or_else(|e| {
            self.error(self.span(pair), e);
            Duration::ZERO
        });
        Spanned::new(d, self.span(pair))
    }

    pub(super) fn count(&mut self, pair: &Pair<Rule>, min: u32) -> Spanned<u32> {
        let n = match pair.as_str().parse::<u32>() {
            Ok(n) if n >= min && n <= 1_000_000 => n,
            _ => {
                self.error(
                    self.span(pair),
                    format!("expected a count from {min} to 1000000"),
                );
                min
            }
        };
        Spanned::new(n, self.span(pair))
    }

    pub(super) fn string(&mut self, pair: Pair<Rule>) -> Template {
        let string_span = self.span(&pair);
        let inner = pair.parts().next().expect("string kind");
        let triple = inner.as_rule() == Rule::triple_string;
        let mut parts: Vec<TemplatePart> = Vec::new();
        let push_text = |parts: &mut Vec<TemplatePart>, s: &str| match parts.last_mut() {
            Some(TemplatePart::Text(t)) => t.push_str(s),
            _ => parts.push(TemplatePart::Text(s.to_string())),
        };
        for part in inner.parts() {
            match part.as_rule() {
                Rule::text | Rule::raw_text => push_text(&mut parts, part.as_str()),
                Rule::escape => match unescape(part.as_str()) {
                    Ok(c) => push_text(&mut parts, c.encode_utf8(&mut [0; 4])),
                    Err(message) => {
                        let mut d = self.diag(self.span(&part), message);
                        if !part.as_str().starts_with("\\u{") {
                            let help = format!(
                                "for a backslash write `\\\\`, e.g. \"\\{}\" in a regex",
                                part.as_str()
                            );
                            d = d.help(help);
                        }
                        self.push(d);
                        // Kept as written so later checks do not cascade.
                        push_text(&mut parts, part.as_str());
                    }
                },
                Rule::template => {
                    let name = part.parts().next().expect("template name");
                    parts.push(TemplatePart::Var(self.spanned_str(&name)));
                }
                rule => unreachable!("unexpected string rule {rule:?}"),
            }
        }
        if triple {
            dedent(&mut parts);
        }
        Template {
            parts,
            span: string_span,
        }
    }

    pub(super) fn json(&mut self, pair: Pair<Rule>) -> Json {
        match pair.as_rule() {
            Rule::json_object => Json::Object(
                pair.parts()
                    .map(|member| {
                        let mut parts = member.parts();
                        let key = self.string(parts.next().expect("json key"));
                        let value = self.json(parts.next().expect("json value"));
                        (key, value)
                    })
                    .collect(),
            ),
            Rule::json_array => Json::Array(pair.parts().map(|v| self.json(v)).collect()),
            Rule::string => Json::Str(self.string(pair)),
            Rule::template => {
                Json::Raw(self.spanned_str(&pair.parts().next().expect("template name")))
            }
            _ => Json::Literal(pair.as_str().to_string()),
        }
    }
}

fn unescape(escape: &str) -> Result<char, String> {
    Ok(match &escape[1..] {
        "n" => '\n',
        "t" => '\t',
        "r" => '\r',
        "\"" => '"',
        "\\" => '\\',
        "{" => '{',
        hex if hex.starts_with("u{") && hex.len() > 3 => {
            u32::from_str_radix(&hex[2..hex.len() - 1], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("`{escape}` is not a unicode scalar value"))?
        }
        _ => {
            return Err(format!(
                "unknown escape `{escape}`: strings know \\\" \\\\ \\n \\t \\r \\{{ and \\u{{...}}"
            ))
        }
    })
}

/// Triple-quoted strings: drop the newline after the opening quotes, the
/// indentation common to all non-blank lines, and a last line that holds
/// only the closing quotes' indentation.
fn dedent(parts: &mut [TemplatePart]) {
    let mut flat = String::new();
    for part in parts.iter() {
        match part {
            TemplatePart::Text(t) => flat.push_str(t),
            // Stands in for a hole: not whitespace, one character wide.
            TemplatePart::Var(_) => flat.push('x'),
        }
    }
    let body = flat.strip_prefix('\n').unwrap_or(&flat);
    let indent = body
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut at_line_start = true;
    let mut first = true;
    let count = parts.len();
    for (i, part) in parts.iter_mut().enumerate() {
        let TemplatePart::Text(text) = part else {
            at_line_start = false;
            first = false;
            continue;
        };
        let mut src: &str = text;
        if first {
            src = src.strip_prefix('\n').unwrap_or(src);
        }
        first = false;
        let mut out = String::with_capacity(src.len());
        for (n, line) in src.split('\n').enumerate() {
            if n > 0 {
                out.push('\n');
                at_line_start = true;
            }
            if at_line_start {
                let strip = line
                    .char_indices()
                    .take_while(|(j, c)| *j < indent && (*c == ' ' || *c == '\t'))
                    .count();
                out.push_str(&line[strip..]);
            } else {
                out.push_str(line);
            }
            at_line_start = false;
        }
        if i == count - 1 {
            if let Some(nl) = out.rfind('\n') {
                if out[nl + 1..].trim().is_empty() {
                    out.truncate(nl);
                }
            }
        }
        *text = out;
    }
}
