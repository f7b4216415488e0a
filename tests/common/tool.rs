//! The one rule for tests that need an outside tool; shared with the
//! sandbox crate's tests (`#[path]`), so there is one copy.

/// Whether a tool a test needs is at hand. Without it the test skips
/// locally, saying how to install it, and fails under CI (`CI` set), where
/// `.ci/run` installs every tool: the one rule for every such test.
pub fn tool_ready(what: &str, available: bool, install: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} needs a tool under CI: {install}");
    }
    // Straight to stderr: the test harness captures `eprintln!`.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "note: skipping {what}: {install}");
    false
}

/// Whether `program arg` runs and exits 0.
pub fn runs(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}
