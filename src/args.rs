//! The command line: commands, options and their value parsers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use oauthspec_core::check::value::{parse_dotenv, Environment};
use oauthspec_core::check::CheckOptions;
use oauthspec_core::report::tap::TapVersion;
use oauthspec_core::report::ReportPaths;
use oauthspec_core::run::partition::Partition;
use oauthspec_core::run::RunOptions;
use oauthspec_sandbox::{parse_fault, Fault};

#[derive(Parser)]
#[command(
    name = "oauthspec",
    version,
    about = "Test runner for OAuth 2.0-protected APIs"
)]
pub(crate) struct Cli {
    /// When to colour output.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        env = "OAUTHSPEC_COLOR"
    )]
    pub(crate) color: Color,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        /// Also print each failure as a CI annotation on the line that
        /// failed: github (the default when GITHUB_ACTIONS=true) or none.
        #[arg(long, value_enum, value_name = "KIND", env = "OAUTHSPEC_ANNOTATIONS")]
        annotations: Option<Annotations>,
    },
    /// Merge the JSON reports of a run's partitions into one run's reports.
    ///
    /// Example: oauthspec report merge shards/*.json --junit junit.xml --html report/
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Sign a person in once for a user-token client (authorization code or
    /// device code): its tokens, and the refresh token that later runs
    /// renew with, go to the token cache, never to the terminal.
    ///
    /// Example: oauthspec login alice specs/ --token-cache .oauthspec/tokens.json
    Login {
        /// The client block to sign in for.
        client: String,
        /// Spec files or directories that define it.
        #[arg(default_value = "specs")]
        paths: Vec<PathBuf>,
        /// Keep the tokens in FILE (mode 0600); run with the same file.
        #[arg(long, value_name = "FILE", env = "OAUTHSPEC_TOKEN_CACHE")]
        token_cache: PathBuf,
        /// Open the sign-in page (or the device page) in a browser.
        #[arg(long)]
        open: bool,
        /// How long to wait for the person.
        #[arg(long, default_value = "5m", value_parser = cli_duration)]
        wait: Duration,
        /// Timeout per request.
        #[arg(long, default_value = "30s", value_parser = cli_duration, env = "OAUTHSPEC_TIMEOUT")]
        timeout: Duration,
        /// Trust the CA certificates in FILE (PEM) besides the system's roots.
        #[arg(long, value_name = "FILE", env = "OAUTHSPEC_CACERT")]
        cacert: Option<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Run spec files again and again, serving Prometheus metrics.
    ///
    /// Example: oauthspec monitor specs/ --every 60s --listen 127.0.0.1:9464
    Monitor {
        /// Spec files or directories (recursive on *.oauthspec).
        #[arg(default_value = "specs")]
        paths: Vec<PathBuf>,
        /// Start a run this often; a run never overlaps the one before.
        #[arg(long, default_value = "60s", value_parser = cli_duration, env = "OAUTHSPEC_EVERY")]
        every: Duration,
        /// Serve /metrics, /healthz and the last HTML report here.
        #[arg(
            long,
            value_name = "ADDR",
            default_value = "127.0.0.1:9464",
            env = "OAUTHSPEC_LISTEN"
        )]
        listen: std::net::SocketAddr,
        /// Delay each run by a random part of this, so that many monitors
        /// do not probe in step.
        #[arg(long, default_value = "0s", value_parser = cli_duration, env = "OAUTHSPEC_JITTER")]
        jitter: Duration,
        /// POST a JSON document here when a step starts or stops failing.
        /// (Never shown: webhook URLs hold their secret.)
        #[arg(
            long,
            value_name = "URL",
            env = "OAUTHSPEC_NOTIFY",
            hide_env_values = true
        )]
        notify: Option<String>,
        /// Stop after this many runs (default: until Ctrl-C or SIGTERM).
        #[arg(long, value_name = "N", env = "OAUTHSPEC_ITERATIONS")]
        iterations: Option<u64>,
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

#[derive(Subcommand)]
pub(crate) enum ReportCommand {
    /// Merge the JSON reports of every partition of a run (`run --partition
    /// … --json FILE` in each CI job) into the reports of one run; exits 1
    /// when a step failed, as the run would have.
    ///
    /// Example: oauthspec report merge shards/*.json --junit junit.xml
    Merge {
        /// The JSON report of each partition, every one of them.
        #[arg(required = true, value_name = "SHARD.json")]
        shards: Vec<PathBuf>,
        #[command(flatten)]
        reports: ReportArgs,
    },
}

/// `--annotations`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Annotations {
    Github,
    None,
}

impl Annotations {
    /// The choice made, or GitHub's when running in GitHub Actions.
    pub(crate) fn resolve(choice: Option<Annotations>) -> Annotations {
        choice.unwrap_or(match std::env::var("GITHUB_ACTIONS").as_deref() {
            Ok("true") => Annotations::Github,
            _ => Annotations::None,
        })
    }
}

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Timeout per request, unless a step sets its own (e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = cli_duration, env = "OAUTHSPEC_TIMEOUT")]
    pub(crate) timeout: Duration,
    /// Spec files run at once (default: 8 × the number of CPUs; specs mostly
    /// wait on the network).
    #[arg(long, short = 'j', env = "OAUTHSPEC_JOBS")]
    pub(crate) jobs: Option<usize>,
    /// Print every request of every step (redacted).
    #[arg(long, short = 'v')]
    pub(crate) verbose: bool,
    /// Keep tokens in FILE across runs (mode 0600): access tokens until
    /// they expire, and the newest refresh token.
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_TOKEN_CACHE")]
    pub(crate) token_cache: Option<PathBuf>,
    /// Renew tokens this long before they expire.
    #[arg(long, default_value = "30s", value_parser = cli_duration)]
    pub(crate) token_skew: Duration,
    /// Keep at most this much of each response body for assertions (e.g.
    /// 10MB, 512KB); the rest is read and dropped.
    #[arg(long, default_value = "10MB", value_parser = parse_size, env = "OAUTHSPEC_MAX_BODY")]
    pub(crate) max_body: usize,
    /// Run only suites whose name, file or a step's name matches this glob
    /// (repeatable; suites run whole, since their steps chain).
    #[arg(long, value_name = "PATTERN", value_parser = parse_glob, env = "OAUTHSPEC_FILTER")]
    pub(crate) filter: Vec<glob::Pattern>,
    /// Start no further suite after a step fails.
    #[arg(long, env = "OAUTHSPEC_FAIL_FAST")]
    pub(crate) fail_fast: bool,
    /// Refuse the whole run when any file lacks an environment variable
    /// (without it, the other files run and the incomplete ones fail as
    /// `config`; the exit code is 2 either way).
    #[arg(long, env = "OAUTHSPEC_STRICT")]
    pub(crate) strict: bool,
    /// Run only a share of the spec files, for a CI matrix job:
    /// count:K/N (round-robin by path), hash:K/N (by a hash of the path),
    /// or auto (GitLab's CI_NODE_INDEX/CI_NODE_TOTAL, Buildkite's
    /// BUILDKITE_PARALLEL_JOB/_COUNT).
    #[arg(long, value_name = "KIND:K/N", value_parser = parse_partition, env = "OAUTHSPEC_PARTITION")]
    partition: Option<PartitionArg>,
    /// Pass when no step is run (no spec files, or the filter matched
    /// none); without it that is a usage error (exit 2).
    #[arg(long, env = "OAUTHSPEC_ALLOW_EMPTY")]
    pub(crate) allow_empty: bool,
    /// Trust the CA certificates in FILE (PEM) besides the system's roots.
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_CACERT")]
    pub(crate) cacert: Option<PathBuf>,
    /// Skip TLS certificate verification (a warning is printed): for test
    /// servers with self-signed certificates only.
    #[arg(long, short = 'k')]
    pub(crate) insecure: bool,
    #[command(flatten)]
    pub(crate) reports: ReportArgs,
}

/// The report files to write.
#[derive(clap::Args)]
pub(crate) struct ReportArgs {
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_JUNIT")]
    pub(crate) junit: Option<PathBuf>,
    /// Write a TAP report.
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_TAP")]
    pub(crate) tap: Option<PathBuf>,
    /// TAP version: 14, or 13 for older consumers such as prove.
    #[arg(long, default_value = "14", value_name = "13|14")]
    pub(crate) tap_version: TapVersion,
    /// Write a JSON report (schema oauthspec-report/1).
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_JSON")]
    pub(crate) json: Option<PathBuf>,
    /// Write a self-contained HTML report into DIR (index.html).
    #[arg(long, value_name = "DIR", env = "OAUTHSPEC_HTML")]
    pub(crate) html: Option<PathBuf>,
}

impl ReportArgs {
    pub(crate) fn paths(&self) -> ReportPaths {
        ReportPaths {
            junit: self.junit.clone(),
            tap: self.tap.clone(),
            tap_version: self.tap_version,
            json: self.json.clone(),
            html: self.html.clone(),
        }
    }
}

/// Durations as everywhere else; a bare number, which `--timeout 30`
/// always meant as seconds, still does.
pub(crate) fn cli_duration(s: &str) -> Result<Duration, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return oauthspec_core::duration::parse(&format!("{s}s"));
    }
    oauthspec_core::duration::parse(s)
}

pub(crate) fn parse_glob(s: &str) -> Result<glob::Pattern, String> {
    glob::Pattern::new(s).map_err(|e| format!("{s:?} is not a glob pattern: {e}"))
}

pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
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
pub(crate) struct VarArgs {
    /// Set a variable: --var name=value (overrides `vars`).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub(crate) vars: Vec<String>,
    /// Read env(...) values from a dotenv file (the environment wins).
    #[arg(long, value_name = "FILE", env = "OAUTHSPEC_VARS_FILE")]
    pub(crate) vars_file: Option<PathBuf>,
}

impl VarArgs {
    pub(crate) fn options(&self) -> Result<CheckOptions, String> {
        let mut env = Environment::process();
        if let Some(path) = &self.vars_file {
            let text = oauthspec_core::util::files::read_input(path)
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

impl RunArgs {
    pub(crate) fn reports(&self) -> ReportPaths {
        self.reports.paths()
    }

    pub(crate) fn options(&self, check: CheckOptions) -> RunOptions {
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
            partition: match self.partition {
                Some(PartitionArg::Fixed(p)) => Some(p),
                Some(PartitionArg::Auto) => {
                    let found = ci_partition(|name| std::env::var(name).ok());
                    if found.is_none() {
                        // Printed here, where `auto` is known. (This file
                        // uses no other module: the tests of docs/ci.md
                        // parse its command lines with it.)
                        use std::io::Write as _;
                        let _ = writeln!(
                            std::io::stderr(),
                            "note: --partition auto: no CI partition variables are set (CI_NODE_INDEX and CI_NODE_TOTAL, or BUILDKITE_PARALLEL_JOB and BUILDKITE_PARALLEL_JOB_COUNT); every spec file runs"
                        );
                    }
                    found
                }
                None => None,
            },
        }
    }
}

/// `--partition`: a share of the files, or `auto` for the CI's own.
#[derive(Clone, Copy)]
pub(crate) enum PartitionArg {
    Auto,
    Fixed(Partition),
}

fn parse_partition(s: &str) -> Result<PartitionArg, String> {
    match s {
        "auto" => Ok(PartitionArg::Auto),
        _ => Partition::parse(s).map(PartitionArg::Fixed),
    }
}

/// The job's share from the CI's own variables: GitLab's `parallel:`
/// (`CI_NODE_INDEX` from 1, `CI_NODE_TOTAL`) or Buildkite's parallelism
/// (`BUILDKITE_PARALLEL_JOB` from 0, `BUILDKITE_PARALLEL_JOB_COUNT`),
/// dealt by count. None when neither is set: every file runs.
pub(crate) fn ci_partition(var: impl Fn(&str) -> Option<String>) -> Option<Partition> {
    let number = |name: &str| var(name)?.trim().parse::<usize>().ok();
    let (index, total) = match (number("CI_NODE_INDEX"), number("CI_NODE_TOTAL")) {
        (Some(index), Some(total)) => (index, total),
        _ => (
            number("BUILDKITE_PARALLEL_JOB")? + 1,
            number("BUILDKITE_PARALLEL_JOB_COUNT")?,
        ),
    };
    Partition::parse(&format!("count:{index}/{total}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_come_from_the_ci_when_asked() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                (pairs.iter())
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let gitlab = ci_partition(env(&[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "4")]));
        assert_eq!(gitlab.map(|p| p.to_string()).as_deref(), Some("count:2/4"));
        let buildkite = ci_partition(env(&[
            ("BUILDKITE_PARALLEL_JOB", "0"),
            ("BUILDKITE_PARALLEL_JOB_COUNT", "3"),
        ]));
        assert_eq!(
            buildkite.map(|p| p.to_string()).as_deref(),
            Some("count:1/3")
        );
        assert!(ci_partition(env(&[])).is_none());
        assert!(ci_partition(env(&[("CI_NODE_INDEX", "5"), ("CI_NODE_TOTAL", "4")])).is_none());
        assert!(parse_partition("hash:1/2").is_ok() && parse_partition("auto").is_ok());
        assert!(parse_partition("1/2").is_err());
    }

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
