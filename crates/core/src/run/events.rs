//! What a run reports as it goes. Reporters (the console, the progress
//! line, the report files, the monitor's metrics) consume the same
//! events in the same order, as cargo-nextest's reporters do.

use crate::results::{RunResult, SuiteResult};

pub enum Event<'a> {
    /// The run is about to start this many suites.
    RunStarted { suites: usize },
    /// A step finished (or was skipped), as it happens: steps of suites
    /// that run at once interleave. For live consumers, such as metrics.
    StepFinished {
        suite: &'a str,
        step: &'a crate::results::StepResult,
    },
    /// A suite finished. Suites arrive in file order, whichever finished
    /// first, so output never depends on timing.
    SuiteFinished(&'a SuiteResult),
    /// The run ended: every suite finished, or it was interrupted
    /// ([`RunResult::interrupted`] says by what) and holds those that did.
    RunFinished(&'a RunResult),
}

pub trait Reporter {
    fn report(&mut self, event: &Event<'_>);
}
