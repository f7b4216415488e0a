//! Steps that changed state between a monitor's runs (passing to
//! failing, failing to passing): what a notification is about. Only
//! texts the reports already show, redacted, go into one.

use std::collections::HashMap;

use serde::Serialize;

use crate::results::{Outcome, StepResult};
use crate::run::{Event, Reporter};

/// One step that changed state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub suite: String,
    pub step: String,
    /// `failing` or `passing`: the state it is in now.
    pub state: &'static str,
    /// Where the flow broke, when failing.
    pub class: Option<&'static str>,
    /// The failure, as reports show it.
    pub message: Option<String>,
}

/// A reporter that remembers each step's last state across runs. A step
/// starts as passing: a step failing in the first run is news, one
/// passing is not. Skipped steps say nothing about their state.
#[derive(Default)]
pub struct Transitions {
    failing: HashMap<(String, String), bool>,
    pending: Vec<Transition>,
}

impl Reporter for Transitions {
    fn report(&mut self, event: &Event<'_>) {
        let Event::StepFinished { suite, step } = event else {
            return;
        };
        let failing = match &step.outcome {
            Outcome::Passed => false,
            Outcome::Failed(_) => true,
            Outcome::Skipped(_) => return,
        };
        let key = (suite.to_string(), step.name.clone());
        let was = self.failing.insert(key, failing).unwrap_or(false);
        if was != failing {
            self.pending.push(transition(suite, step));
        }
    }
}

impl Transitions {
    /// Forgets the steps not in `steps` (the specs were re-read).
    pub fn retain(&mut self, steps: &[(String, String)]) {
        self.failing.retain(|key, _| steps.contains(key));
    }

    /// The changes seen since the last call.
    pub fn take(&mut self) -> Vec<Transition> {
        std::mem::take(&mut self.pending)
    }
}

fn transition(suite: &str, step: &StepResult) -> Transition {
    let class = step.class().map(|c| c.as_str());
    Transition {
        suite: suite.to_string(),
        step: step.name.clone(),
        state: if class.is_some() {
            "failing"
        } else {
            "passing"
        },
        class,
        message: step.failure_message(),
    }
}
