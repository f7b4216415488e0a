//! `check` and `run`: check the specs, then run them on a runtime that
//! suits the run, reporting to the terminal and the report files.

use std::path::PathBuf;

use oauthspec_core::check::{check_each, check_paths, CheckOptions, Project};
use oauthspec_core::diagnostic::Diagnostic;
use oauthspec_core::error::Error;
use oauthspec_core::report::annotations;
use oauthspec_core::report::console::Console;
use oauthspec_core::report::{ReportFiles, ReportPaths};
use oauthspec_core::results::RunResult;
use oauthspec_core::run::{NothingToRun, RunOptions, Runner};

use crate::args::Annotations;
use crate::exit::Exit;
use crate::output::{print_diagnostics, print_error, print_note, usage_error};
use crate::terminal::Terminal;

/// `check`: every file, every problem, nothing sent.
pub(crate) fn check(paths: &[PathBuf], options: &CheckOptions, color: bool) -> Exit {
    let report = check_each(paths, options);
    let missing = report.missing_env.iter().map(|m| m.diagnostic(false));
    print_diagnostics(report.diagnostics.iter().cloned().chain(missing), color);
    let errors = report.error_count();
    if errors > 0 {
        print_error(oauthspec_core::diagnostic::refusal(errors), color);
        return Exit::Usage;
    }
    println!(
        "ok: {} file{}, {} steps",
        report.files,
        if report.files == 1 { "" } else { "s" },
        report.steps
    );
    Exit::Passed
}

/// How many threads a command's async runtime gets.
pub(crate) enum Threads {
    /// Only the calling thread: one suite at a time waits on one request
    /// at a time, and a second thread would only add a hand-off per request.
    One,
    /// The calling thread runs the suites, one worker per other core
    /// drives their connections: with several suites in flight both
    /// halves have work (docs/performance.md has the measurements).
    Concurrent,
    /// A worker per core: the sandbox serves.
    AllCores,
}

pub(crate) fn runtime(threads: Threads) -> Result<tokio::runtime::Runtime, Exit> {
    let cores = oauthspec_core::util::parallel::cores();
    let built = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Threads::Concurrent if cores > 1 => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores - 1)
            .enable_all()
            .build(),
        Threads::Concurrent => return runtime(Threads::One),
        Threads::AllCores => tokio::runtime::Runtime::new(),
    };
    built.map_err(|e| {
        print_error(format!("cannot start the async runtime: {e}"), false);
        Exit::Internal
    })
}

/// Checks, then runs on the runtime that suits the run.
pub(crate) fn run_specs(
    paths: &[PathBuf],
    options: RunOptions,
    reports: &ReportPaths,
    console: &Console,
    annotations: Annotations,
    color: bool,
) -> Exit {
    let (runner, project) = match prepare_run(paths, options, color) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let in_flight = runner.selected(&project).len().min(runner.options.jobs);
    let runtime = match runtime(if in_flight > 1 {
        Threads::Concurrent
    } else {
        Threads::One
    }) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(run_project(
        &runner,
        &project,
        reports,
        console,
        annotations,
        color,
    ))
}

/// Checks the specs and builds the runner; prints why when nothing can run.
pub(crate) fn prepare_run(
    paths: &[PathBuf],
    options: RunOptions,
    color: bool,
) -> Result<(Runner, Project), Exit> {
    let project = check_paths(paths, &options.check);
    let warnings = project.diagnostics.iter().filter(|d| !d.is_error());
    print_diagnostics(warnings.cloned(), color);
    if let Err(problems) = Runner::preflight(&project, options.strict) {
        print_diagnostics(problems.iter().cloned(), color);
        print_error(oauthspec_core::diagnostic::refusal(problems.len()), color);
        return Err(Exit::Usage);
    }
    // Not refused: the files that lack them fail as `config`.
    if !options.strict {
        print_diagnostics(
            project.missing_env.iter().map(|m| m.diagnostic(true)),
            color,
        );
    }
    let runner = Runner::new(options).map_err(|e| usage_error(&e.to_string(), color))?;
    if let Some(empty) = runner.nothing_to_run(&project) {
        let under = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let why = match empty {
            NothingToRun::NoFiles => format!("no spec files found under {under}"),
            NothingToRun::NoStepMatched => {
                let filters: Vec<&str> =
                    runner.options.filters.iter().map(|f| f.as_str()).collect();
                format!(
                    "the filter matched no step (--filter {})",
                    filters.join(", --filter ")
                )
            }
            NothingToRun::NoSteps => format!("the spec files under {under} have no steps"),
        };
        return Err(usage_error(
            &format!("{why}; nothing was run (--allow-empty lets an empty run pass)"),
            color,
        ));
    }
    if let Some(share) = runner.options.partition {
        let suites = project.specs.iter().filter(|(s, _)| s.is_suite()).count();
        let mine = runner.selected(&project).len();
        let none = if mine == 0 {
            ": nothing to run here"
        } else {
            ""
        };
        print_note(&format!(
            "partition {share}: {mine} of {suites} spec files{none}"
        ));
    }
    if runner.verification_off(&project) {
        let warning = Diagnostic::warning(
            "TLS certificate verification is OFF (--insecure or a step's `insecure`): any server can impersonate the one you are testing; never use this against production",
        );
        print_diagnostics(std::iter::once(warning), color);
    }
    oauthspec_core::secrets::redact_panics(runner.redactor.clone());
    Ok((runner, project))
}

/// Runs a checked project: the terminal shows every suite in order as it
/// finishes, the report files are written when it ends, also when it is
/// interrupted.
pub(crate) async fn run_project(
    runner: &Runner,
    project: &Project,
    reports: &ReportPaths,
    console: &Console,
    annotations: Annotations,
    color: bool,
) -> Exit {
    let mut terminal = Terminal::new(console);
    let mut files = ReportFiles {
        paths: reports.clone(),
        errors: Vec::new(),
    };
    let stop = async { interrupt().await.to_string() };
    let result = runner
        .execute(project, &mut [&mut terminal, &mut files], stop)
        .await;
    if annotations == Annotations::Github {
        print!("{}", annotations::github(&result, &github_path));
    }
    // Files the run could not write: its reports, its token cache.
    let unwritten: Vec<Error> = (files.errors.into_iter())
        .chain(runner.tokens.take_cache_error())
        .collect();
    if !unwritten.is_empty() {
        let errors = unwritten.iter().map(|e| Diagnostic::error(e.to_string()));
        print_diagnostics(errors, color);
        return Exit::Internal;
    }
    outcome(&result, color)
}

/// The exit code of a run (also of the merge of its partitions' reports).
pub(crate) fn outcome(result: &RunResult, color: bool) -> Exit {
    match &result.interrupted {
        Some(signal) => Exit::interrupted_by(signal),
        None if result.incomplete() => {
            print_error(
                "some spec files were not run for missing environment variables",
                color,
            );
            Exit::Usage
        }
        None if result.counts().failed > 0 => Exit::Failed,
        None => Exit::Passed,
    }
}

/// A spec's path as GitHub knows it: relative to the checkout
/// (`GITHUB_WORKSPACE`), whatever directory the run started in.
fn github_path(path: &std::path::Path) -> String {
    match std::env::var_os("GITHUB_WORKSPACE") {
        Some(root) => oauthspec_core::run::partition::portable_under(path, root.as_ref()),
        None => oauthspec_core::run::partition::portable(path),
    }
}

/// Waits for Ctrl-C or SIGTERM and names it. The exit code is the one a
/// shell gives a process it ends: 128 + the signal number (see
/// `run_project`).
pub(crate) async fn interrupt() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
