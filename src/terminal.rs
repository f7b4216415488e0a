//! The terminal as a reporter of run events.

use std::io::IsTerminal;
use std::time::Duration;

use oauthspec_core::diagnostic::Diagnostic;
use oauthspec_core::report::console::Console;
use oauthspec_core::run::{Event, Reporter};

/// The console and the progress line, as one reporter: the line pauses
/// while a suite's block is printed.
pub(crate) struct Terminal<'a> {
    console: &'a Console,
    progress: indicatif::ProgressBar,
    failures: usize,
}

impl<'a> Terminal<'a> {
    pub(crate) fn new(console: &'a Console) -> Self {
        Terminal {
            console,
            progress: indicatif::ProgressBar::hidden(),
            failures: 0,
        }
    }
}

impl Reporter for Terminal<'_> {
    fn report(&mut self, event: &Event<'_>) {
        match event {
            Event::RunStarted { suites } => self.progress = progress_bar(*suites),
            // The console prints whole suites, in file order.
            Event::StepFinished { .. } => {}
            Event::SuiteFinished(suite) => {
                self.progress
                    .suspend(|| print!("{}", self.console.suite(suite)));
                self.failures += suite.steps.iter().filter(|s| s.class().is_some()).count();
                self.progress
                    .set_message(format!("{} failed", self.failures));
                self.progress.inc(1);
            }
            Event::RunFinished(result) => {
                self.progress.finish_and_clear();
                print!("{}", self.console.summary(result));
                if let Some(why) = result.interruption() {
                    let warning = Diagnostic::warning(why).render(self.console.color);
                    eprintln!("{warning}");
                }
            }
        }
    }
}

/// A live "specs done / total, failures" line on a terminal, for runs of
/// more than one suite; none when stderr is not a terminal or CI is set.
fn progress_bar(suites: usize) -> indicatif::ProgressBar {
    let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    if !interactive || suites < 2 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(suites as u64);
    let style =
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} specs, {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message("0 failed");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
