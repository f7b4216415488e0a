//! GitHub Actions workflow commands: each failed step as an `::error`
//! annotation at the line that failed, which GitHub shows on the pull
//! request's diff. (GitLab reads the same from the JUnit report's `file`
//! and `line`.) The texts are the reports' own, so already redacted.

use std::fmt::Write as _;
use std::path::Path;

use crate::results::RunResult;

/// One `::error file=…,line=…,col=…,title=…::message` line per failed step,
/// and one for an interrupted run. `file` turns a spec's path into the
/// path GitHub knows it by (relative to the repository's root).
pub fn github(result: &RunResult, file: &dyn Fn(&Path) -> String) -> String {
    let mut out = String::new();
    for suite in &result.suites {
        for step in &suite.steps {
            let Some(class) = step.class() else {
                continue;
            };
            // At the expectation that failed, else at the step.
            let (source, span) = match step.failed_expectations().next() {
                Some(e) => (&e.source, e.span),
                None => (&step.source, step.span),
            };
            let (line, col) = source.line_col(span.start);
            let title = format!("{} › {} ({})", suite.name, step.name, class.as_str());
            let message = step
                .failure_message()
                .unwrap_or_else(|| format!("step failed ({})", class.as_str()));
            let _ = writeln!(
                out,
                "::error file={},line={line},col={col},title={}::{}",
                property(&file(source.path())),
                property(&title),
                data(&message)
            );
        }
    }
    if let Some(why) = result.interruption() {
        let _ = writeln!(out, "::error title=oauthspec::{}", data(&why));
    }
    out
}

/// A command's message: `%`, CR and LF escaped, as the runner's
/// `escapeData` does.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A command's property value: also `:` and `,`, which would end it
/// (`escapeProperty`).
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_the_actions_runner_does() {
        assert_eq!(
            data("100% done\r\nnext: a, b"),
            "100%25 done%0D%0Anext: a, b"
        );
        assert_eq!(property("a: b, 50%\nc"), "a%3A b%2C 50%25%0Ac");
    }
}
