//! JSON bodies as people read them: two-space indentation, the text as the
//! server wrote it (key order, number spelling and escapes unchanged), and
//! where a JSONPath's node is, by line.

use std::fmt::Write as _;

/// `text` pretty-printed, and the lines (0-based, inclusive) of the node
/// at `focus`, a normalized path as jsonpath-rust writes them (`$['a'][0]`).
/// `None` when `text` is not one JSON value.
pub fn pretty(text: &str, focus: Option<&str>) -> Option<(String, Option<(usize, usize)>)> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut printer = Printer {
        out: String::with_capacity(text.len() * 2),
        line: 0,
        depth: 0,
        path: vec!["$".to_string()],
        focus,
        found: None,
        start: None,
    };
    printer.value(&mut Tokens::new(text));
    Some((printer.out, printer.found))
}

struct Printer<'a> {
    out: String,
    line: usize,
    depth: usize,
    /// The normalized path of the value being printed, one segment each.
    path: Vec<String>,
    focus: Option<&'a str>,
    found: Option<(usize, usize)>,
    start: Option<usize>,
}

impl Printer<'_> {
    fn newline(&mut self) {
        self.out.push('\n');
        self.line += 1;
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn at_focus(&self) -> bool {
        self.found.is_none()
            && self.focus.is_some_and(|f| {
                f.len() == self.path.iter().map(String::len).sum::<usize>()
                    && f == self.path.concat()
            })
    }

    /// One value; the tokens are known to be valid JSON.
    fn value(&mut self, tokens: &mut Tokens) {
        let here = self.at_focus();
        if here {
            self.start = Some(self.line);
        }
        match tokens.next() {
            Some(open @ ("{" | "[")) => {
                let object = open == "{";
                let close = if object { "}" } else { "]" };
                self.out.push_str(open);
                if tokens.peek() == Some(close) {
                    tokens.next();
                    self.out.push_str(close);
                } else {
                    self.depth += 1;
                    let mut index = 0;
                    loop {
                        self.newline();
                        if object {
                            let key = tokens.next().unwrap_or_default();
                            tokens.next(); // `:`
                            self.out.push_str(key);
                            self.out.push_str(": ");
                            self.path.push(name_segment(key));
                        } else {
                            self.path.push(format!("[{index}]"));
                        }
                        self.value(tokens);
                        self.path.pop();
                        index += 1;
                        if tokens.next() != Some(",") {
                            break;
                        }
                        self.out.push(',');
                    }
                    self.depth -= 1;
                    self.newline();
                    self.out.push_str(close);
                }
            }
            Some(scalar) => self.out.push_str(scalar),
            None => {}
        }
        if here {
            self.found = self.start.map(|start| (start, self.line));
        }
    }
}

/// `['key']` as jsonpath-rust writes a key in a normalized path.
fn name_segment(raw_key: &str) -> String {
    let key: String = serde_json::from_str(raw_key).unwrap_or_default();
    let mut out = String::from("['");
    for c in key.chars() {
        match c {
            '\u{0008}' => out.push_str("\\b"),
            '\u{000C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if c < '\u{0020}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push_str("']");
    out
}

/// The tokens of JSON text: punctuation, strings (quotes kept) and bare
/// scalars, whitespace skipped.
struct Tokens<'a> {
    text: &'a str,
    pos: usize,
    peeked: Option<Option<&'a str>>,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Tokens {
            text,
            pos: 0,
            peeked: None,
        }
    }

    fn peek(&mut self) -> Option<&'a str> {
        if self.peeked.is_none() {
            self.peeked = Some(self.read());
        }
        self.peeked.flatten()
    }

    fn read(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        match *bytes.get(start)? {
            b'{' | b'}' | b'[' | b']' | b':' | b',' => self.pos += 1,
            b'"' => {
                self.pos += 1;
                while self.pos < bytes.len() {
                    match bytes[self.pos] {
                        b'\\' => self.pos += 2,
                        b'"' => {
                            self.pos += 1;
                            break;
                        }
                        _ => self.pos += 1,
                    }
                }
            }
            _ => {
                while self.pos < bytes.len()
                    && !matches!(bytes[self.pos], b'{' | b'}' | b'[' | b']' | b':' | b',')
                    && !bytes[self.pos].is_ascii_whitespace()
                {
                    self.pos += 1;
                }
            }
        }
        self.text.get(start..self.pos.min(bytes.len()))
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self.peeked.take() {
            Some(peeked) => peeked,
            None => self.read(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_and_keeps_the_text_as_written() {
        let (text, _) = pretty(
            r#" {"z":1.50,"a":[1, {"b":"x\"y"}],"e":{},"f":[],"g":null} "#,
            None,
        )
        .unwrap();
        assert_eq!(
            text,
            "{\n  \"z\": 1.50,\n  \"a\": [\n    1,\n    {\n      \"b\": \"x\\\"y\"\n    }\n  ],\n  \"e\": {},\n  \"f\": [],\n  \"g\": null\n}"
        );
        assert_eq!(pretty("7", None).unwrap().0, "7");
        assert!(pretty("{\"a\":", None).is_none());
        assert!(pretty("<html>", None).is_none());
    }

    #[test]
    fn finds_the_lines_of_a_node_by_its_normalized_path() {
        let body = r#"{"items":[{"id":"a"},{"id":"b","it's":{"q":2}}]}"#;
        let (text, lines) = pretty(body, Some("$['items'][1]")).unwrap();
        let lines = lines.unwrap();
        let shown: Vec<&str> = text.lines().collect();
        assert_eq!(shown[lines.0].trim(), "{");
        assert_eq!(shown[lines.1].trim(), "}");
        assert!(shown[lines.0 + 1].contains("\"b\""));
        let (_, lines) = pretty(body, Some("$['items'][1]['it\\'s']['q']")).unwrap();
        let (start, end) = lines.unwrap();
        assert_eq!(start, end);
        // The same paths jsonpath-rust gives for its matches.
        use jsonpath_rust::JsonPath as _;
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let found = value.query_with_path("$..q").unwrap();
        assert_eq!(found[0].clone().path(), "$['items'][1]['it\\'s']['q']");
        assert_eq!(pretty(body, Some("$['nothing']")).unwrap().1, None);
    }
}
