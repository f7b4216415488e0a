//! The `oauthspec` command: a thin shell over the library.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use oauthspec::check::{check_paths, CheckOptions};
use oauthspec::value::{parse_dotenv, Environment};

#[derive(Parser)]
#[command(
    name = "oauthspec",
    version,
    about = "Test runner for OAuth 2.0-protected APIs"
)]
struct Cli {
    /// When to colour output.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        env = "OAUTHSPEC_COLOR"
    )]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Check spec files without sending a request.
    ///
    /// Example: oauthspec check specs/
    Check {
        /// Spec files or directories (recursive on *.oauthspec).
        #[arg(default_value = "specs")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
    },
}

#[derive(clap::Args)]
struct VarArgs {
    /// Set a variable: --var name=value (overrides `vars`).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Read env(...) values from a dotenv file (the environment wins).
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_VARS_FILE")]
    vars_file: Option<PathBuf>,
}

impl VarArgs {
    fn options(&self) -> Result<CheckOptions, String> {
        let mut env = Environment::process();
        if let Some(path) = &self.vars_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            env.vars_file = parse_dotenv(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let mut cli_vars = HashMap::new();
        for var in &self.vars {
            let (name, value) = var
                .split_once('=')
                .ok_or_else(|| format!("--var {var:?}: expected NAME=VALUE"))?;
            cli_vars.insert(name.to_string(), value.to_string());
        }
        Ok(CheckOptions { env, cli_vars })
    }
}

fn use_color(choice: Color) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = use_color(cli.color);
    match cli.command {
        Command::Check { paths, vars } => {
            let options = match vars.options() {
                Ok(o) => o,
                Err(e) => return usage_error(&e, color),
            };
            let project = check_paths(&paths, &options);
            for d in &project.diagnostics {
                eprintln!("{}", d.render(color));
            }
            for m in &project.missing_env {
                eprintln!("{}", m.diagnostic(false).render(color));
            }
            let errors = project.error_count();
            if errors > 0 {
                eprintln!(
                    "error: {errors} error{} in spec files; nothing was run",
                    if errors == 1 { "" } else { "s" }
                );
                return ExitCode::from(2);
            }
            println!(
                "ok: {} file{}, {} steps",
                project.specs.len(),
                if project.specs.len() == 1 { "" } else { "s" },
                project.step_count()
            );
            ExitCode::SUCCESS
        }
    }
}

fn usage_error(message: &str, color: bool) -> ExitCode {
    eprintln!(
        "{}",
        oauthspec::diagnostic::Diagnostic::error(message).render(color)
    );
    ExitCode::from(2)
}
