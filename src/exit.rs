//! How a command ends: the one place exit codes are chosen.

use std::process::ExitCode;

pub(crate) enum Exit {
    /// 0: every step passed (or nothing failed).
    Passed,
    /// 1: a step failed (`fmt --check`: a file is not formatted).
    Failed,
    /// 2: a spec or usage error; nothing, or not everything, was run.
    Usage,
    /// 3: oauthspec itself failed, e.g. a report could not be written.
    Internal,
    /// 128 + the signal that stopped the run.
    Interrupted(u8),
}

impl Exit {
    /// What a shell gives a process a signal ends: 128 + its number.
    pub(crate) fn interrupted_by(signal: &str) -> Exit {
        Exit::Interrupted(if signal == "SIGTERM" { 143 } else { 130 })
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(match exit {
            Exit::Passed => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Internal => 3,
            Exit::Interrupted(code) => code,
        })
    }
}
