//! Shared by the integration tests: a sandbox, spec files in a temporary
//! directory, and runs through the library API.

use std::path::{Path, PathBuf};

use oauthspec_core::check::value::Environment;
use oauthspec_core::check::{check_paths, CheckOptions};
use oauthspec_core::results::{Outcome, RunResult, StepResult};
use oauthspec_core::run::{RunOptions, Runner};
use oauthspec_sandbox::{Sandbox, SandboxConfig};

mod tool;
pub use tool::{runs, tool_ready};

pub async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default(), 0)
        .await
        .expect("the sandbox starts")
}

/// The environment the examples read, pointed at `base`.
pub fn env_for(base: &str) -> Environment {
    let mut env = Environment::default();
    for (k, v) in [
        ("OAUTH_ISSUER", base),
        ("ORDERS_CLIENT_ID", "demo-client"),
        ("ORDERS_CLIENT_SECRET", "demo-secret"),
    ] {
        env.fixed.insert(k.into(), v.into());
    }
    env
}

pub struct Specs {
    pub dir: tempfile::TempDir,
}

impl Specs {
    pub fn new() -> Specs {
        Specs {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write spec");
        path
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

pub fn options(base: &str) -> RunOptions {
    RunOptions {
        check: CheckOptions {
            env: env_for(base),
            ..CheckOptions::default()
        },
        transcripts: true,
        ..RunOptions::default()
    }
}

/// Checks and runs; panics on spec errors (a test's spec must be valid).
pub async fn run_with(paths: &[PathBuf], options: RunOptions) -> (RunResult, Runner) {
    let project = check_paths(paths, &options.check);
    if let Err(problems) = Runner::preflight(&project, true) {
        let text: Vec<String> = problems.iter().map(|d| d.render(false)).collect();
        panic!("spec errors:\n{}", text.join("\n"));
    }
    let runner = Runner::new(options).expect("the runner starts");
    let result = runner.run(&project, |_| {}).await;
    (result, runner)
}

/// Runs one spec text against the sandbox at `base`.
pub async fn run_text(base: &str, text: &str) -> RunResult {
    let specs = Specs::new();
    let path = specs.write("t.oauthspec", text);
    run_with(&[path], options(base)).await.0
}

pub fn step<'a>(result: &'a RunResult, name: &str) -> &'a StepResult {
    result
        .suites
        .iter()
        .flat_map(|s| &s.steps)
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name:?}"))
}

pub fn passed(step: &StepResult) -> bool {
    matches!(step.outcome, Outcome::Passed)
}

/// Every failed expectation of a step, as "text | expected | actual | line:col".
pub fn failures(step: &StepResult) -> Vec<String> {
    step.failed_expectations()
        .map(|e| {
            let (line, col) = e.source.line_col(e.span.start);
            format!("{} | {} | {} | {line}:{col}", e.text, e.expected, e.actual)
        })
        .collect()
}

/// `oauthspec init DIR`: the starter project, as a user gets it.
pub fn init_project(dir: &Path) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_oauthspec"))
        .arg("init")
        .arg(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

/// The spec files of specs/examples (the directory also holds the demo's
/// key).
pub fn example_specs() -> usize {
    (std::fs::read_dir("specs/examples").expect("the examples"))
        .filter(|e| {
            let path = e.as_ref().expect("an entry").path();
            path.extension().is_some_and(|x| x == "oauthspec")
        })
        .count()
}

/// A file only its owner may read (mode 0600): a token cache.
pub fn assert_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    #[cfg(not(unix))]
    let _ = path;
}
