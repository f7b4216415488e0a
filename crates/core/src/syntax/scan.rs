//! A scan of spec text that needs no parse: the bytes outside strings and
//! comments (the grammar's rules for both). Used to cut big files and to
//! refuse nesting deep enough to exhaust the parser's stack.

/// How deep `{`, `[` and `(` may nest in a spec file: 129 levels of JSON
/// body and the step around it. The parser recurses once per level.
pub const MAX_NESTING: usize = 130;

/// The bytes of `text` outside strings and comments, with their offsets. A
/// string shows as its opening quote; a comment not at all (its newline
/// does).
pub(crate) fn code_bytes(bytes: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || loop {
        let at = i;
        let b = *bytes.get(at)?;
        match b {
            b'#' => {
                i = find(bytes, at, b"\n");
                continue;
            }
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                i = find(bytes, at + 3, b"\"\"\"") + 3;
            }
            b'"' => {
                i = at + 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                // An unclosed string ends at its newline (the file will not
                // parse anyway), which is yielded next.
                if bytes.get(i) == Some(&b'"') {
                    i += 1;
                }
            }
            _ => i = at + 1,
        }
        return Some((at, b));
    })
}

/// The offset of the first bracket that opens a level deeper than
/// [`MAX_NESTING`], if any. Counted twice: as the grammar reads statements
/// (comments and triple-quoted strings skipped), and as it reads the
/// braces of an unknown statement (`#` and `"""` plain, `"..."` one line),
/// where a `{` after `x #` still nests.
pub(crate) fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let statements = deepest(code_bytes(bytes));
    let unknown = deepest(quoted_line_bytes(bytes));
    statements.into_iter().chain(unknown).min()
}

/// The bytes outside `"..."` strings closed on their line, as the
/// grammar's `any_quoted` reads them: a quote never closed there is a
/// plain character.
fn quoted_line_bytes(bytes: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let at = i;
        let b = *bytes.get(at)?;
        i = at + 1;
        if b == b'"' {
            let mut end = at + 1;
            while end < bytes.len() && !matches!(bytes[end], b'"' | b'\n') {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            if bytes.get(end) == Some(&b'"') {
                i = end + 1;
            }
        }
        Some((at, b))
    })
}

fn deepest(code: impl Iterator<Item = (usize, u8)>) -> Option<usize> {
    let mut depth = 0usize;
    for (at, b) in code {
        match b {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(at);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The index of the first `needle` at or after `from`, else the end.
pub(crate) fn find(bytes: &[u8], from: usize, needle: &[u8]) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.windows(needle.len()).position(|w| w == needle))
        .map_or(bytes.len(), |p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_and_comments() {
        let ok = format!(
            "step \"s\" {{\n  json {}{}\n}}\n",
            "[".repeat(128),
            "]".repeat(128)
        );
        assert_eq!(too_deep(&ok), None);
        let deep = format!("step \"s\" {{\n  json {}\n}}\n", "{\"a\":".repeat(200));
        // The step's brace is the first level: the 130th JSON object is
        // the 131st.
        let json = deep.find("json ").unwrap() + 5;
        assert_eq!(too_deep(&deep), Some(json + 129 * 5));
        let quoted = format!(
            "step \"s\" {{\n body \"{}\"\n body \"\"\"\n{}\n\"\"\"\n}}",
            "[".repeat(500),
            "{\"a\":1}".repeat(500)
        );
        assert_eq!(too_deep(&quoted), None);
        // Brackets in a comment count too: an unknown statement would not
        // read it as one.
        let comment = format!("step \"s\" {{ # {}\n}}", "{".repeat(500));
        assert!(too_deep(&comment).is_some());
        let calls = format!(
            "vars {{ a = {}\"x\"{} }}",
            "secret(".repeat(300),
            ")".repeat(300)
        );
        assert!(too_deep(&calls).is_some());
        // An unknown statement reads `#` and `"""` as plain characters and
        // nests the braces after them.
        for text in [
            format!("x # {}\n", "{\"}\"".repeat(500)),
            format!("x \"\"\" {}\n", "{".repeat(500)),
        ] {
            assert!(too_deep(&text).is_some(), "{text:.20}");
        }
    }
}
