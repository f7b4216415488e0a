//! The `oauthspec` command: a thin shell over the library.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use std::time::Duration;

use oauthspec::check::{check_paths, CheckOptions, Project};
use oauthspec::diagnostic::Diagnostic;
use oauthspec::report::console::Console;
use oauthspec::report::tap::TapVersion;
use oauthspec::report::{ReportFiles, ReportPaths};
use oauthspec::run::{Event, Reporter, RunOptions, Runner};
use oauthspec::sandbox::{parse_fault, Fault, Sandbox, SandboxConfig};
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
    /// Run spec files.
    ///
    /// Example: oauthspec run specs/ --junit target/junit.xml
    Run {
        /// Spec files or directories (recursive on *.oauthspec).
        #[arg(default_value = "specs")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run the examples against the built-in sandbox, started in-process.
    ///
    /// Example: oauthspec demo --fault token:status=503
    Demo {
        /// The specs to run (default: the built-in examples, written to
        /// OUT/examples).
        paths: Vec<PathBuf>,
        /// Where the examples and the JUnit and TAP reports go.
        #[arg(long, value_name = "DIR", default_value = "target/oauthspec-demo")]
        out: PathBuf,
        /// Inject a sandbox fault, e.g. token:latency=800ms (repeatable).
        #[arg(long, value_name = "FAULT", value_parser = parse_fault)]
        fault: Vec<Fault>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Rewrite spec files in the canonical layout, comments kept.
    ///
    /// Example: oauthspec fmt --check specs/
    Fmt {
        /// Spec files or directories (recursive on *.oauthspec).
        #[arg(default_value = "specs")]
        paths: Vec<PathBuf>,
        /// Change nothing; list the files that are not formatted and exit 1.
        #[arg(long)]
        check: bool,
    },
    /// Write a starter spec (against the sandbox) and a CI workflow example.
    ///
    /// Example: oauthspec init && oauthspec sandbox & oauthspec run specs/
    Init {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Replace files that exist.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script.
    ///
    /// Example: oauthspec completions bash > /etc/bash_completion.d/oauthspec
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Serve the built-in OAuth 2.0 authorization server and demo API.
    ///
    /// Example: oauthspec sandbox --port 9000 --fault token:status=503,times=2
    Sandbox {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// Clients, users and lifetimes (TOML); see docs/sandbox.md.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Inject a fault, e.g. token:latency=800ms (repeatable).
        #[arg(long, value_name = "FAULT", value_parser = parse_fault)]
        fault: Vec<Fault>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Timeout per request, unless a step sets its own (e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = cli_duration, env = "OAUTHSPEC_TIMEOUT")]
    timeout: Duration,
    /// Spec files run at once (default: 8 × the number of CPUs; specs mostly
    /// wait on the network).
    #[arg(long, short = 'j', env = "OAUTHSPEC_JOBS")]
    jobs: Option<usize>,
    /// Print every request of every step (redacted).
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Keep tokens in FILE across runs (mode 0600): access tokens until
    /// they expire, and the newest refresh token.
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_TOKEN_CACHE")]
    token_cache: Option<PathBuf>,
    /// Renew tokens this long before they expire.
    #[arg(long, default_value = "30s", value_parser = cli_duration)]
    token_skew: Duration,
    /// Keep at most this much of each response body for assertions (e.g.
    /// 10MB, 512KB); the rest is read and dropped.
    #[arg(long, default_value = "10MB", value_parser = parse_size, env = "OAUTHSPEC_MAX_BODY")]
    max_body: usize,
    /// Run only suites whose name, file or a step's name matches this glob
    /// (repeatable; suites run whole, since their steps chain).
    #[arg(long, value_name = "PATTERN", value_parser = parse_glob, env = "OAUTHSPEC_FILTER")]
    filter: Vec<glob::Pattern>,
    /// Start no further suite after a step fails.
    #[arg(long, env = "OAUTHSPEC_FAIL_FAST")]
    fail_fast: bool,
    /// Refuse the whole run when any file lacks an environment variable
    /// (without it, the other files run and the incomplete ones fail as
    /// `config`; the exit code is 2 either way).
    #[arg(long, env = "OAUTHSPEC_STRICT")]
    strict: bool,
    /// Pass when no step is run (no spec files, or the filter matched
    /// none); without it that is a usage error (exit 2).
    #[arg(long, env = "OAUTHSPEC_ALLOW_EMPTY")]
    allow_empty: bool,
    /// Trust the CA certificates in FILE (PEM) besides the system's roots.
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_CACERT")]
    cacert: Option<PathBuf>,
    /// Skip TLS certificate verification (a warning is printed): for test
    /// servers with self-signed certificates only.
    #[arg(long, short = 'k')]
    insecure: bool,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_JUNIT")]
    junit: Option<PathBuf>,
    /// Write a TAP report.
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_TAP")]
    tap: Option<PathBuf>,
    /// TAP version: 14, or 13 for older consumers such as prove.
    #[arg(long, default_value = "14", value_name = "13|14")]
    tap_version: TapVersion,
    /// Write a JSON report (schema oauthspec-report/1).
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_JSON")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report into DIR (index.html).
    #[arg(long, value_name = "DIR", env = "OAUTHSPEC_HTML")]
    html: Option<PathBuf>,
}

/// Durations as everywhere else; a bare number, which `--timeout 30`
/// always meant as seconds, still does.
fn cli_duration(s: &str) -> Result<Duration, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return oauthspec::duration::parse(&format!("{s}s"));
    }
    oauthspec::duration::parse(s)
}

fn parse_glob(s: &str) -> Result<glob::Pattern, String> {
    glob::Pattern::new(s).map_err(|e| format!("{s:?} is not a glob pattern: {e}"))
}

fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 10MB or 512KB"))?;
    let unit = match t[digits.len()..].to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        _ => return Err(format!("{s:?} is not a size like 10MB or 512KB")),
    };
    Ok(n.saturating_mul(unit))
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
            let text = oauthspec::fsutil::read_input(path)
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

/// Whether to colour a stream: `auto` colours a terminal unless `NO_COLOR`
/// is set.
fn use_color(choice: Color, stream: &impl IsTerminal) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && stream.is_terminal()
        }
    }
}

fn main() -> ExitCode {
    command(Cli::parse()).into()
}

/// How a command ends: the one place exit codes are chosen.
enum Exit {
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
    fn interrupted_by(signal: &str) -> Exit {
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

fn command(cli: Cli) -> Exit {
    let color = use_color(cli.color, &std::io::stderr());
    match cli.command {
        Command::Check { paths, vars } => {
            let options = match vars.options() {
                Ok(o) => o,
                Err(e) => return usage_error(&e, color),
            };
            let project = check_paths(&paths, &options);
            let missing = project.missing_env.iter().map(|m| m.diagnostic(false));
            print_diagnostics(project.diagnostics.iter().cloned().chain(missing), color);
            let errors = project.error_count();
            if errors > 0 {
                print_error(oauthspec::diagnostic::refusal(errors), color);
                return Exit::Usage;
            }
            println!(
                "ok: {} file{}, {} steps",
                project.specs.len(),
                if project.specs.len() == 1 { "" } else { "s" },
                project.step_count()
            );
            Exit::Passed
        }
        Command::Run { paths, vars, run } => {
            let check = match vars.options() {
                Ok(o) => o,
                Err(e) => return usage_error(&e, color),
            };
            let console = Console {
                color: use_color(cli.color, &std::io::stdout()),
                verbose: run.verbose,
            };
            run_specs(&paths, run.options(check), &run.reports(), &console, color)
        }
        Command::Demo {
            mut paths,
            out,
            fault: faults,
            run,
        } => {
            if paths.is_empty() {
                let examples = out.join("examples");
                if let Err(e) = oauthspec::examples::write_to(&examples) {
                    eprintln!(
                        "error: cannot write the examples to {}: {e}",
                        examples.display()
                    );
                    return Exit::Internal;
                }
                paths.push(examples);
            }
            let console = Console {
                color: use_color(cli.color, &std::io::stdout()),
                verbose: run.verbose,
            };
            let runtime = match runtime(Threads::AllCores) {
                Ok(r) => r,
                Err(code) => return code,
            };
            runtime.block_on(async {
                let sandbox = match Sandbox::start(SandboxConfig::default(), 0).await {
                    Ok(s) => s,
                    Err(e) => {
                        print_error(format!("cannot start the sandbox: {e}"), color);
                        return Exit::Internal;
                    }
                };
                // Fetched before any fault makes the token endpoint fail.
                let refresh_token = match sandbox.demo_refresh_token().await {
                    Ok(t) => t,
                    Err(e) => {
                        print_error(format!("the sandbox gave no refresh token: {e}"), color);
                        return Exit::Internal;
                    }
                };
                for f in faults {
                    sandbox.add_fault(f);
                }
                let base = sandbox.base_url();
                println!("sandbox listening on {base}\n");
                // The examples read these; the demo points them at its sandbox.
                let mut env = Environment::process();
                for (name, value) in [
                    ("OAUTH_ISSUER", base.as_str()),
                    ("ORDERS_API", base.as_str()),
                    ("ORDERS_CLIENT_ID", "demo-client"),
                    ("ORDERS_CLIENT_SECRET", "demo-secret"),
                    ("ORDERS_REFRESH_TOKEN", refresh_token.as_str()),
                ] {
                    env.fixed.insert(name.into(), value.into());
                }
                let check = CheckOptions {
                    env,
                    cli_vars: HashMap::new(),
                };
                // The demo always leaves reports to look at.
                let mut reports = run.reports();
                reports.junit.get_or_insert_with(|| out.join("junit.xml"));
                reports.tap.get_or_insert_with(|| out.join("report.tap"));
                let code = match prepare_run(&paths, run.options(check), color) {
                    Ok((runner, project)) => {
                        let code = run_project(&runner, &project, &reports, &console, color).await;
                        println!("reports: {}", reports.written().join(", "));
                        code
                    }
                    Err(code) => code,
                };
                sandbox.shutdown().await;
                code
            })
        }
        Command::Fmt { paths, check } => format_files(&paths, check, color),
        Command::Init { dir, force } => {
            match oauthspec::init::write(&dir, force) {
                Ok(written) => {
                    for path in written {
                        println!("wrote {}", path.display());
                    }
                    println!("next: `oauthspec sandbox` in one terminal, `oauthspec run specs/` in another");
                    Exit::Passed
                }
                Err(e) => usage_error(&e, color),
            }
        }
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
            fault: faults,
        } => {
            let config = match &config {
                Some(path) => SandboxConfig::from_toml_file(path),
                None => Ok(SandboxConfig::default()),
            };
            let config = match config {
                Ok(c) => c,
                Err(e) => return usage_error(&e, color),
            };
            let runtime = match runtime(Threads::AllCores) {
                Ok(r) => r,
                Err(code) => return code,
            };
            runtime.block_on(async {
                let sandbox = match Sandbox::start(config, port).await {
                    Ok(s) => s,
                    Err(e) => {
                        print_error(format!("cannot listen on 127.0.0.1:{port}: {e}"), color);
                        return Exit::Internal;
                    }
                };
                for f in faults {
                    sandbox.add_fault(f);
                }
                println!("listening on {}", sandbox.base_url());
                let _ = tokio::signal::ctrl_c().await;
                sandbox.shutdown().await;
                Exit::Passed
            })
        }
    }
}

impl RunArgs {
    fn reports(&self) -> ReportPaths {
        ReportPaths {
            junit: self.junit.clone(),
            tap: self.tap.clone(),
            tap_version: self.tap_version,
            json: self.json.clone(),
            html: self.html.clone(),
        }
    }

    fn options(&self, check: CheckOptions) -> RunOptions {
        RunOptions {
            check,
            timeout: self.timeout,
            jobs: self.jobs.unwrap_or(RunOptions::default().jobs),
            transcripts: self.verbose,
            token_cache: self.token_cache.clone(),
            token_skew: self.token_skew,
            max_body: self.max_body,
            filters: self.filter.clone(),
            fail_fast: self.fail_fast,
            cacert: self.cacert.clone(),
            insecure: self.insecure,
            allow_empty: self.allow_empty,
            strict: self.strict,
        }
    }
}

/// How many threads a command's async runtime gets.
enum Threads {
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

fn runtime(threads: Threads) -> Result<tokio::runtime::Runtime, Exit> {
    let cores = oauthspec::parallel::cores();
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
fn run_specs(
    paths: &[PathBuf],
    options: RunOptions,
    reports: &ReportPaths,
    console: &Console,
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
    runtime.block_on(run_project(&runner, &project, reports, console, color))
}

/// Checks the specs and builds the runner; prints why when nothing can run.
fn prepare_run(
    paths: &[PathBuf],
    options: RunOptions,
    color: bool,
) -> Result<(Runner, Project), Exit> {
    let project = check_paths(paths, &options.check);
    let warnings = project.diagnostics.iter().filter(|d| !d.is_error());
    print_diagnostics(warnings.cloned(), color);
    if let Err(problems) = Runner::preflight(&project, options.strict) {
        print_diagnostics(problems.iter().cloned(), color);
        print_error(oauthspec::diagnostic::refusal(problems.len()), color);
        return Err(Exit::Usage);
    }
    // Not refused: the files that lack them fail as `config`.
    if !options.strict {
        print_diagnostics(
            project.missing_env.iter().map(|m| m.diagnostic(true)),
            color,
        );
    }
    let runner = Runner::new(options).map_err(|e| usage_error(&e, color))?;
    if let Some(why) = runner.nothing_to_run(&project, paths) {
        return Err(usage_error(
            &format!("{why}; nothing was run (--allow-empty lets an empty run pass)"),
            color,
        ));
    }
    print_diagnostics(runner.warnings(&project).into_iter(), color);
    oauthspec::secrets::redact_panics(runner.redactor.clone());
    Ok((runner, project))
}

/// Runs a checked project: the terminal shows every suite in order as it
/// finishes, the report files are written when it ends, also when it is
/// interrupted.
async fn run_project(
    runner: &Runner,
    project: &Project,
    reports: &ReportPaths,
    console: &Console,
    color: bool,
) -> Exit {
    let mut terminal = Terminal {
        console,
        progress: indicatif::ProgressBar::hidden(),
        failures: 0,
    };
    let mut files = ReportFiles {
        paths: reports.clone(),
        error: None,
    };
    let stop = async { interrupt().await.to_string() };
    let result = runner
        .execute(project, &mut [&mut terminal, &mut files], stop)
        .await;
    // Files the run could not write: its reports, its token cache.
    let unwritten: Vec<String> = (files.error.into_iter())
        .chain(runner.tokens.cache_error())
        .collect();
    if !unwritten.is_empty() {
        print_diagnostics(unwritten.into_iter().map(Diagnostic::error), color);
        return Exit::Internal;
    }
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

/// The console and the progress line, as one reporter: the line pauses
/// while a suite's block is printed.
struct Terminal<'a> {
    console: &'a Console,
    progress: indicatif::ProgressBar,
    failures: usize,
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
                print!("{}", self.console.summary(result.counts(), result.duration));
                if let Some(why) = result.interruption() {
                    let warning = Diagnostic::warning(why).render(self.console.color);
                    eprintln!("{warning}");
                }
            }
        }
    }
}

/// `fmt`: rewrites files in place (atomically), or with `check` only
/// names them. Files that do not parse are reported and left alone.
fn format_files(paths: &[PathBuf], check: bool, color: bool) -> Exit {
    let files = match oauthspec::load::discover(paths) {
        Ok(f) => f,
        Err(d) => {
            eprintln!("{}", d.render(color));
            return Exit::Usage;
        }
    };
    let (mut unformatted, mut broken) = (0, 0);
    for path in &files {
        let text = match oauthspec::fsutil::read_input(path) {
            Ok(t) => t,
            Err(e) => return usage_error(&format!("cannot read {}: {e}", path.display()), color),
        };
        let formatted = match oauthspec::syntax::format::format_source(&text) {
            Ok(f) => f,
            Err(reason) => {
                broken += 1;
                let source = oauthspec::source::SourceFile::new(path, text);
                let (_, diagnostics) = oauthspec::syntax::parse(&source);
                match diagnostics.first() {
                    Some(d) => eprintln!("{}", d.render(color)),
                    None => print_error(format!("{}: {reason}", path.display()), color),
                }
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        unformatted += 1;
        if check {
            println!("would reformat {}", path.display());
        } else if let Err(e) = oauthspec::fsutil::write_atomic(path, formatted.as_bytes()) {
            print_error(format!("cannot write {}: {e}", path.display()), color);
            return Exit::Internal;
        } else {
            println!("formatted {}", path.display());
        }
    }
    if broken > 0 {
        let (files, verb) = if broken == 1 {
            ("file", "does")
        } else {
            ("files", "do")
        };
        print_error(
            format!("{broken} {files} {verb} not parse; they were left alone"),
            color,
        );
        Exit::Usage
    } else if check && unformatted > 0 {
        Exit::Failed
    } else {
        Exit::Passed
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

/// Waits for Ctrl-C or SIGTERM and names it. The exit code is the one a
/// shell gives a process it ends: 128 + the signal number (see
/// `run_project`).
async fn interrupt() -> &'static str {
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

/// Prints diagnostics, the first [`MAX_SHOWN`] of them: a file of 40,000
/// mistakes needs the first few, and a count.
fn print_diagnostics(diagnostics: impl Iterator<Item = Diagnostic>, color: bool) {
    const MAX_SHOWN: usize = 50;
    let mut more = 0;
    for (i, d) in diagnostics.enumerate() {
        if i < MAX_SHOWN {
            eprintln!("{}", d.render(color));
        } else {
            more += 1;
        }
    }
    if more > 0 {
        eprintln!("… and {more} more\n");
    }
}

/// Every error the command prints itself, rendered like the others.
fn print_error(message: impl Into<String>, color: bool) {
    eprintln!("{}", Diagnostic::error(message).render(color));
}

fn usage_error(message: &str, color: bool) -> Exit {
    eprintln!("{}", Diagnostic::error(message).render(color));
    Exit::Usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_as_the_flags_take_them() {
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert_eq!(parse_size("7"), Ok(7));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        for bad in ["", "MB", "10TB", "-1MB", "1.5MB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(cli_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(cli_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(cli_duration("30h").is_err());
    }
}
