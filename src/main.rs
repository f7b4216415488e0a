//! The `oauthspec` command: parses the arguments and dispatches to a
//! command; the work is done by the library (`oauthspec-core`) and the
//! sandbox crate.

mod args;
mod examples;
mod exit;
mod format;
mod init;
mod login;
mod monitor;
mod output;
mod report;
mod run;
mod sandbox;
mod terminal;

use std::process::ExitCode;

use clap::Parser;
use oauthspec_core::report::console::Console;

use crate::args::{Annotations, Cli, Command, ReportCommand};
use crate::exit::Exit;
use crate::output::{usage_error, use_color};

fn main() -> ExitCode {
    command(Cli::parse()).into()
}

fn command(cli: Cli) -> Exit {
    let color = use_color(cli.color, &std::io::stderr());
    let console = |verbose| Console {
        color: use_color(cli.color, &std::io::stdout()),
        verbose,
    };
    match cli.command {
        Command::Check { paths, vars } => match vars.options() {
            Ok(options) => run::check(&paths, &options, color),
            Err(e) => usage_error(&e, color),
        },
        Command::Run {
            paths,
            vars,
            run,
            annotations,
        } => match vars.options() {
            Ok(check) => run::run_specs(
                &paths,
                run.options(check),
                &run.reports(),
                &console(run.verbose),
                Annotations::resolve(annotations),
                color,
            ),
            Err(e) => usage_error(&e, color),
        },
        Command::Login {
            client,
            paths,
            token_cache,
            open,
            wait,
            timeout,
            cacert,
            vars,
        } => match vars.options() {
            Ok(check) => login::login(
                &client,
                &paths,
                oauthspec_core::run::RunOptions {
                    check,
                    timeout,
                    token_cache: Some(token_cache),
                    cacert,
                    ..Default::default()
                },
                login::Person { open, wait },
                color,
            ),
            Err(e) => usage_error(&e, color),
        },
        Command::Report {
            command: ReportCommand::Merge { shards, reports },
        } => report::merge(&shards, &reports.paths(), &console(false), color),
        Command::Monitor {
            paths,
            every,
            jitter,
            listen,
            notify,
            iterations,
            vars,
            run,
        } => match vars.options() {
            Ok(check) => monitor::monitor(
                &paths,
                run.options(check),
                &run.reports(),
                monitor::Schedule {
                    every,
                    jitter,
                    iterations,
                },
                listen,
                notify,
                color,
            ),
            Err(e) => usage_error(&e, color),
        },
        Command::Demo {
            paths,
            out,
            fault,
            run,
        } => sandbox::demo(paths, &out, fault, &run, &console(run.verbose), color),
        Command::Fmt { paths, check } => format::files(&paths, check, color),
        Command::Init { dir, force } => init::command(&dir, force, color),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "oauthspec",
                &mut std::io::stdout(),
            );
            Exit::Passed
        }
        Command::Sandbox {
            port,
            config,
            fault,
        } => sandbox::serve(port, config.as_deref(), fault, color),
    }
}
