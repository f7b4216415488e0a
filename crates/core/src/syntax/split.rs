//! Cutting a big file into pieces that parse on their own, so one file of
//! thousands of steps parses on every core.
//!
//! The cuts are found by a scan, not a parse: before a `step` that starts
//! a line outside braces, strings and comments. Only a syntactically valid
//! file is ever cut where the scan says; if any piece fails to parse, the
//! caller parses the whole file instead, so errors read exactly as ever.

use std::ops::Range;

use super::scan::code_bytes;

/// Below this size a file parses faster than threads start.
pub const MIN_SPLIT_LEN: usize = 32 * 1024;

/// Up to `pieces` contiguous ranges covering `text`, cut before top-level
/// `step` items near equal sizes; one range when no cut is possible.
pub fn pieces(text: &str, pieces: usize) -> Vec<Range<usize>> {
    let starts = step_starts(text);
    let mut cuts = vec![0];
    for k in 1..pieces {
        let target = text.len() * k / pieces;
        // The first step start at or after the target: cuts stay in order.
        let at = starts.partition_point(|&s| s < target);
        if let Some(&cut) = starts.get(at) {
            if cut > *cuts.last().unwrap_or(&0) {
                cuts.push(cut);
            }
        }
    }
    cuts.push(text.len());
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

/// Byte offsets of `step` keywords that begin a line at brace depth 0,
/// outside strings and comments.
fn step_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let (mut depth, mut line_start) = (0usize, true);
    for (i, b) in code_bytes(bytes) {
        if line_start && depth == 0 && is_step_keyword(&bytes[i..]) {
            starts.push(i);
        }
        line_start = b == b'\n' || (line_start && (b == b' ' || b == b'\t' || b == b'\r'));
        match b {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    starts
}

fn is_step_keyword(rest: &[u8]) -> bool {
    rest.starts_with(b"step")
        && rest
            .get(4)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_steps_only() {
        let text = "suite \"s\"\nstep \"a\" {\n  GET \"x\"\n}\n  step \"b\" { GET \"y\" }\n";
        assert_eq!(step_starts(text), [10, 35]);
    }

    #[test]
    fn skips_strings_comments_and_blocks() {
        let text = concat!(
            "# step \"no\" {\n",
            "vars {\n step = \"1\"\n}\n",
            "step \"a\" {\n body \"\"\"\nstep \"no\" {\n\"\"\"\n}\n",
            // An escaped quote does not end the string, so its `{` opens nothing.
            "suite \"q \\\" {\"\n",
            "steps \"no\"\n",
            "step \"b\" {}\n",
        );
        let found: Vec<&str> = step_starts(text).iter().map(|&i| &text[i..i + 8]).collect();
        assert_eq!(found, ["step \"a\"", "step \"b\""]);
    }

    #[test]
    fn pieces_cover_the_text_in_order() {
        let text: String = (0..100)
            .map(|i| format!("step \"{i}\" {{ GET \"x\" }}\n"))
            .collect();
        for n in 1..6 {
            let ranges = pieces(&text, n);
            assert!(ranges.len() <= n);
            assert_eq!(ranges.first().unwrap().start, 0);
            assert_eq!(ranges.last().unwrap().end, text.len());
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            assert!(ranges[1..]
                .iter()
                .all(|r| text[r.clone()].starts_with("step")));
        }
        assert_eq!(pieces("suite \"x\"\n", 4), vec![0..10]);
    }
}
