//! The HTML report: one self-contained page (inline CSS, no external
//! assets, no script but a copy button's `onclick`) with a summary, each suite's steps, a latency bar per
//! step (token and API requests in two colours) and every failure with its
//! source excerpt and response excerpt.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::diagnostic::render_snippet;
use crate::duration::human;
use crate::report::json::rfc3339;
use crate::report::junit::xml_safe;
use crate::results::{AttemptKind, Outcome, RunResult, StepResult, SuiteResult};
use crate::util::files::write_atomic as atomic;

/// Writes the page to `dir/index.html` (creating `dir`), replacing the file
/// atomically.
pub fn write(result: &RunResult, dir: &Path) -> io::Result<()> {
    atomic(&dir.join("index.html"), render(result).as_bytes())
}

/// The page.
pub fn render(result: &RunResult) -> String {
    let c = result.counts();
    let scale = result
        .suites
        .iter()
        .flat_map(|s| &s.steps)
        .map(total_latency)
        .max()
        .unwrap_or_default();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>oauthspec: {} passed, {} failed, {} skipped</title>\n<style>{CSS}</style>\n\
         </head>\n<body>\n",
        c.passed, c.failed, c.skipped
    );
    let _ = write!(
        out,
        "<header>\n<h1>oauthspec report</h1>\n\
         <p class=\"meta\">Started {} · took {} · {} suite{}{}</p>\n\
         <p class=\"summary\"><span class=\"badge passed\">{} passed</span> \
         <span class=\"badge failed\">{} failed</span> \
         <span class=\"badge skipped\">{} skipped</span></p>\n\
         <p class=\"legend\"><span class=\"swatch token\"></span> token request \
         <span class=\"swatch request\"></span> API request \
         <span class=\"muted\">· bars share one scale: the longest is {}</span></p>\n\
         </header>\n<main>\n",
        esc(&rfc3339(result.started)),
        human(result.duration),
        result.suites.len(),
        if result.suites.len() == 1 { "" } else { "s" },
        (result.partition).map_or(String::new(), |share| format!(
            " · {}",
            esc(&share.to_string())
        )),
        c.passed,
        c.failed,
        c.skipped,
        human(scale),
    );
    if let Some(why) = result.interruption() {
        let _ = writeln!(out, "<p class=\"interrupted\">{}</p>", esc(&why));
    }
    for suite in &result.suites {
        render_suite(&mut out, suite, scale);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn render_suite(out: &mut String, suite: &SuiteResult, scale: Duration) {
    let failed = suite
        .steps
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Failed(_)))
        .count();
    let _ = write!(
        out,
        "<section class=\"suite{}\">\n<h2>{} <span class=\"file\">{}</span> \
         <span class=\"muted\">{} step{} · {}{}</span></h2>\n",
        if failed > 0 { " has-failures" } else { "" },
        esc(&suite.name),
        esc(&suite.file.display().to_string()),
        suite.steps.len(),
        if suite.steps.len() == 1 { "" } else { "s" },
        human(suite.duration),
        if failed > 0 {
            format!(" · {failed} failed")
        } else {
            String::new()
        },
    );
    out.push_str(
        "<table>\n<colgroup><col class=\"result\"><col><col class=\"status\">\
         <col class=\"latency\"><col class=\"bar\"></colgroup>\n<thead><tr><th>Result</th><th>Step</th><th>Status</th>\
         <th>Latency</th><th class=\"bar\">Requests</th></tr></thead>\n<tbody>\n",
    );
    for step in &suite.steps {
        render_step(out, step, scale);
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn render_step(out: &mut String, step: &StepResult, scale: Duration) {
    let (class, tag, extra) = match &step.outcome {
        Outcome::Passed => ("passed", "PASS", String::new()),
        Outcome::Failed(c) => (
            "failed",
            "FAIL",
            format!(" <span class=\"class\">{}</span>", c.as_str()),
        ),
        Outcome::Skipped(reason) => (
            "skipped",
            "SKIP",
            format!(" <span class=\"muted\">({})</span>", esc(reason)),
        ),
    };
    let status = step.status().map_or_else(String::new, |s| s.to_string());
    let _ = writeln!(
        out,
        "<tr class=\"step {class}\"><td><span class=\"tag {class}\">{tag}</span></td>\
         <td>{}{extra}</td><td class=\"num\">{status}</td><td class=\"num\">{}</td>\
         <td class=\"bar\">{}</td></tr>",
        esc(&step.name),
        latency_cell(step),
        bar(step, scale),
    );
    let failed = matches!(step.outcome, Outcome::Failed(_));
    if failed || !step.notes.is_empty() || !step.captures.is_empty() {
        let _ = write!(out, "<tr class=\"details\"><td></td><td colspan=\"4\">");
        if failed {
            failure(out, step);
        }
        notes_and_captures(out, step);
        if failed {
            attempts(out, step);
        }
        out.push_str("</td></tr>\n");
    }
}

/// The step's API latency (mean over repeats) and its token time, if any.
fn latency_cell(step: &StepResult) -> String {
    let token: Duration = step
        .attempts
        .iter()
        .filter(|a| a.kind == AttemptKind::Token)
        .map(|a| a.latency)
        .sum();
    let mut cell = step.latency().map_or_else(String::new, human);
    if !token.is_zero() {
        let _ = write!(
            cell,
            "<br><span class=\"muted\">token {}</span>",
            human(token)
        );
    }
    cell
}

/// One segment per HTTP exchange, its length its latency on the run's scale.
fn bar(step: &StepResult, scale: Duration) -> String {
    if step.attempts.is_empty() || scale.is_zero() {
        return String::new();
    }
    let mut out = String::from("<div class=\"track\">");
    for a in &step.attempts {
        let kind = a.kind.as_str();
        let pct = a.latency.as_secs_f64() / scale.as_secs_f64() * 100.0;
        let status = a.outcome();
        let title = format!(
            "{kind}: {} {} → {status} in {}",
            a.method,
            a.url,
            human(a.latency)
        );
        let _ = write!(
            out,
            "<span class=\"seg {kind}{}\" style=\"width:{pct:.2}%\" title=\"{}\"></span>",
            if a.status.is_none() { " broken" } else { "" },
            esc(&title)
        );
    }
    out.push_str("</div>");
    out
}

fn failure(out: &mut String, step: &StepResult) {
    if let Some(error) = &step.error {
        let _ = write!(
            out,
            "<p class=\"error\"><strong>error:</strong> {}</p>\n<pre class=\"source\">{}</pre>\n",
            esc(error),
            esc(&render_snippet(&step.source, step.span, None, false, ""))
        );
    }
    for e in step.failed_expectations() {
        let label = format!("expected {}, got {}", e.expected, e.actual);
        let _ = write!(
            out,
            "<div class=\"expectation\"><p><strong>expect {}</strong></p>\n\
             <dl><dt>expected</dt><dd><code>{}</code></dd>\
             <dt>actual</dt><dd><code>{}</code></dd>\
             <dt>at</dt><dd><code>{}</code></dd></dl>\n<pre class=\"source\">{}</pre></div>\n",
            esc(&e.text),
            esc(&e.expected),
            esc(&e.actual),
            esc(&e.location()),
            esc(&render_snippet(&e.source, e.span, Some(&label), false, ""))
        );
    }
    if step.error.is_none() && step.failed_expectations().next().is_none() {
        if let Some(message) = step.failure_message() {
            let _ = writeln!(out, "<p class=\"error\">{}</p>", esc(&message));
        }
    }
    if let Some(excerpt) = &step.response_excerpt {
        // The node the failed JSONPath looked at is marked.
        let mut body = String::new();
        for (n, line) in excerpt.lines().enumerate() {
            let inside = step
                .response_focus
                .is_some_and(|(start, end)| (start..=end).contains(&n));
            let line = esc(line);
            let _ = if inside {
                writeln!(body, "<mark>{line}</mark>")
            } else {
                writeln!(body, "{line}")
            };
        }
        let _ = write!(
            out,
            "<p class=\"label\">response <button type=\"button\" class=\"copy\" onclick=\"navigator.clipboard.writeText(this.parentNode.nextElementSibling.textContent)\">copy</button></p>\n<pre class=\"response\">{}</pre>\n",
            body.trim_end_matches('\n')
        );
    }
}

fn notes_and_captures(out: &mut String, step: &StepResult) {
    for note in &step.notes {
        let _ = writeln!(
            out,
            "<p class=\"note\"><strong>note:</strong> {}</p>",
            esc(note)
        );
    }
    if !step.captures.is_empty() {
        out.push_str("<p class=\"captures\">captured: ");
        for (i, c) in step.captures.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match &c.value {
                Some(v) => {
                    let _ = write!(
                        out,
                        "<code>{}</code> = <code>{}</code>",
                        esc(&c.name),
                        esc(v)
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        "<code>{}</code> <span class=\"muted\">(secret)</span>",
                        esc(&c.name)
                    );
                }
            }
        }
        out.push_str("</p>\n");
    }
}

fn attempts(out: &mut String, step: &StepResult) {
    if step.attempts.is_empty() {
        return;
    }
    out.push_str("<details><summary>requests</summary>\n<ul class=\"attempts\">\n");
    for a in &step.attempts {
        let kind = a.kind.as_str();
        let status = a.outcome();
        let _ = write!(
            out,
            "<li><span class=\"swatch {kind}\"></span> {kind} <code>{} {}</code> → {} in {}",
            esc(&a.method),
            esc(&a.url),
            esc(&status),
            human(a.latency)
        );
        if let Some(t) = &a.transcript {
            let _ = write!(out, "<pre>{}</pre>", esc(t));
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul></details>\n");
}

fn total_latency(step: &StepResult) -> Duration {
    step.attempts.iter().map(|a| a.latency).sum()
}

/// HTML-escapes text (for element content and quoted attributes alike),
/// with control characters made visible.
fn esc(text: &str) -> String {
    let text = xml_safe(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
:root{--pass:#1a7f37;--fail:#cf222e;--skip:#9a6700;--token:#8250df;--request:#0969da;
--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1f2328;background:#fff}
header{padding:16px 24px;border-bottom:1px solid var(--line);background:var(--bg)}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:0 0 8px}
main{padding:8px 24px 32px}
.meta,.legend{margin:4px 0;color:var(--muted)}
.interrupted{margin:16px 0 0;padding:8px 12px;border:1px solid var(--fail);color:var(--fail);font-weight:600}
.muted{color:var(--muted);font-weight:normal}
.file{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--muted);font-weight:normal}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}
.badge.passed{background:var(--pass)}.badge.failed{background:var(--fail)}.badge.skipped{background:var(--skip)}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px}
.token{background:var(--token)}.request{background:var(--request)}
section.suite{margin-top:20px;border:1px solid var(--line);border-radius:6px;padding:12px 16px}
section.has-failures{border-left:4px solid var(--fail)}
table{border-collapse:collapse;width:100%;table-layout:fixed}
col.result{width:64px}col.status{width:64px}col.latency{width:110px}col.bar{width:32%}
th{text-align:left;font-weight:600;color:var(--muted);border-bottom:1px solid var(--line);padding:4px 8px}
td{padding:4px 8px;vertical-align:top;border-bottom:1px solid #eaeef2}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.tag{font:600 11px ui-monospace,monospace;padding:1px 6px;border-radius:4px;color:#fff}
.tag.passed{background:var(--pass)}.tag.failed{background:var(--fail)}.tag.skipped{background:var(--skip)}
.class{font:12px ui-monospace,monospace;color:var(--fail)}
.track{display:flex;gap:1px;height:12px;margin-top:4px;background:var(--bg);border-radius:2px}
.seg{display:block;min-width:2px;height:100%;border-radius:2px}
.seg.broken{opacity:.45;outline:1px dashed var(--fail)}
tr.details>td{background:#fffdfd;border-bottom:1px solid var(--line)}
tr.details p{margin:4px 0}
td{overflow-wrap:anywhere}
.error{color:var(--fail)}
.label{font-weight:600;margin-top:8px}
pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--bg);border:1px solid var(--line);
border-radius:4px;padding:8px;overflow:auto;white-space:pre;margin:4px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:4px 0}
dt{color:var(--muted)}dd{margin:0}
ul.attempts{margin:4px 0;padding-left:18px;list-style:none}
details summary{cursor:pointer;color:var(--muted)}
pre mark{background:#fff8c5;display:inline-block;min-width:100%}
button.copy{font:inherit;font-size:11px;font-weight:400;padding:0 6px;margin-left:6px;cursor:pointer;
border:1px solid var(--line);border-radius:4px;background:#fff}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>a&b\"c'</script>\u{1b}"),
            "&lt;script&gt;a&amp;b&quot;c&#39;&lt;/script&gt;\\x1b"
        );
    }
}
