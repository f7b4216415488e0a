//! Running checked specs: steps in order within a spec, specs concurrently.

pub mod events;
mod expect;
pub mod partition;
mod step;

pub use events::{Event, Reporter};

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt as _;

use crate::check::load::Spec;
use crate::check::value::{EvalError, Evaluator, Resolved, Scope};
use crate::check::{CheckOptions, Checked, Project};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::http::{Http, TlsDefaults};
use crate::oauth::TokenManager;
use crate::results::{Outcome, RunResult, Share, StepResult, SuiteResult};
use crate::secrets::Redactor;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub check: CheckOptions,
    /// Per request, unless a step sets `timeout`.
    pub timeout: Duration,
    /// Spec files run at once.
    pub jobs: usize,
    /// Keep redacted request/response transcripts (`-v`).
    pub transcripts: bool,
    /// `--token-cache`: tokens kept across runs.
    pub token_cache: Option<std::path::PathBuf>,
    /// Renew a token this long before it expires.
    pub token_skew: Duration,
    /// Response bodies are kept up to this many bytes for assertions.
    pub max_body: usize,
    /// `--filter`: run only suites whose name, file or a step's name
    /// matches one of these (suites run whole: their steps chain).
    pub filters: Vec<glob::Pattern>,
    /// `--fail-fast`: start no further suite once a step has failed.
    pub fail_fast: bool,
    /// `--cacert`: PEM file of roots trusted besides the system's.
    pub cacert: Option<std::path::PathBuf>,
    /// `--insecure`: accept any server certificate (warned about once).
    pub insecure: bool,
    /// `--allow-empty`: a run with no step to run passes.
    pub allow_empty: bool,
    /// `--strict`: one missing environment variable refuses the whole run.
    pub strict: bool,
    /// `--partition`: run only this share of the spec files (a CI matrix
    /// job's).
    pub partition: Option<partition::Partition>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check: CheckOptions::default(),
            timeout: Duration::from_secs(30),
            // Specs mostly wait on the network: several per core (measured
            // in docs/performance.md: 8 jobs ran the parallel workload in
            // 57% of the time 2 took).
            jobs: 8 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            transcripts: false,
            token_cache: None,
            token_skew: Duration::from_secs(30),
            max_body: crate::http::DEFAULT_MAX_BODY,
            filters: Vec::new(),
            fail_fast: false,
            cacert: None,
            insecure: false,
            allow_empty: false,
            strict: false,
            partition: None,
        }
    }
}

/// Why a run would test nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NothingToRun {
    /// No spec file under the paths given.
    NoFiles,
    /// The filters matched no step.
    NoStepMatched,
    /// The spec files have no steps.
    NoSteps,
}

/// Why [`Runner::client`] found no client.
#[derive(Debug)]
pub enum ClientLookup {
    /// No client of that name; these are the names there are.
    Unknown(Vec<String>),
    /// Its values could not be resolved (a missing variable, say).
    Unresolved(String),
}

/// Shared by every spec of a run: connection pools, tokens, secrets.
pub struct Runner {
    pub http: Arc<Http>,
    pub tokens: Arc<TokenManager>,
    pub redactor: Arc<Redactor>,
    pub options: RunOptions,
}

impl Runner {
    /// Fails when the token cache file is unreadable, or the CA
    /// certificates are unreadable or not PEM.
    pub fn new(options: RunOptions) -> Result<Runner, Error> {
        let unusable = |reason: String| Error::CaCert {
            path: options.cacert.clone().unwrap_or_default(),
            reason,
        };
        let ca_cert = (options.cacert.as_deref())
            .map(crate::util::files::read_input)
            .transpose()
            .map_err(|e| unusable(e.to_string()))?;
        let http = Http::new(options.transcripts, options.max_body)
            .with_tls(TlsDefaults {
                ca_cert,
                insecure: options.insecure,
            })
            .map_err(unusable)?;
        let http = Arc::new(http);
        let redactor = Arc::new(Redactor::new());
        let mut tokens = TokenManager::new(http.clone(), redactor.clone(), options.timeout);
        tokens.skew = options.token_skew;
        if let Some(path) = &options.token_cache {
            tokens = tokens.with_cache_file(path)?;
        }
        Ok(Runner {
            http,
            tokens: Arc::new(tokens),
            redactor,
            options,
        })
    }

    /// Refuses a project with spec errors, or with `strict` missing
    /// environment variables (all of them listed), so nothing is sent.
    /// Without `strict` the files that lack a variable fail as `config`
    /// when run, and the others run.
    pub fn preflight(project: &Project, strict: bool) -> Result<(), Vec<Diagnostic>> {
        let mut problems: Vec<Diagnostic> = project
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        if strict {
            problems.extend(project.missing_env.iter().map(|m| m.diagnostic(true)));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Runs every suite; `on_suite` sees each one as soon as it and all
    /// before it are done, so output order never depends on timing.
    pub async fn run(&self, project: &Project, on_suite: impl Fn(&SuiteResult)) -> RunResult {
        let started = SystemTime::now();
        let clock = Instant::now();
        let done = RefCell::new(Vec::new());
        self.drive(project, &|_, _| {}, &on_suite, &done).await;
        RunResult {
            suites: done.into_inner(),
            started,
            duration: clock.elapsed(),
            interrupted: None,
            partition: self.share(project),
        }
    }

    /// Runs the suites: `on_step` hears of each step as it finishes (suites
    /// interleave), `on_suite` of each suite in file order. Finished suites
    /// go to `done`, which keeps them also when the caller drops this
    /// future (an interruption).
    async fn drive(
        &self,
        project: &Project,
        on_step: &dyn Fn(&str, &StepResult),
        on_suite: &dyn Fn(&SuiteResult),
        done: &RefCell<Vec<SuiteResult>>,
    ) {
        let suites = self.selected(project);
        let mut stream = futures_util::stream::iter(suites)
            .map(|(index, (spec, checked))| self.run_spec(index, spec, checked, on_step))
            .buffered(self.options.jobs.max(1));
        while let Some(suite) = stream.next().await {
            on_suite(&suite);
            let failed = suite.steps.iter().any(|s| s.class().is_some());
            done.borrow_mut().push(suite);
            if failed && self.options.fail_fast {
                // Dropping the stream cancels the suites still running.
                break;
            }
        }
    }

    /// Whether certificate checks are off, for the whole run or a step of
    /// it: the caller should say so before the run starts.
    pub fn verification_off(&self, project: &Project) -> bool {
        self.options.insecure
            || self
                .selected(project)
                .iter()
                .any(|(_, (spec, _))| spec.file.steps.iter().any(|s| s.options.insecure))
    }

    /// Why the run would test nothing, unless `allow_empty`: a CI job
    /// pointed at the wrong path or filter must not pass forever.
    pub fn nothing_to_run(&self, project: &Project) -> Option<NothingToRun> {
        if self.options.allow_empty || !self.selected(project).is_empty() {
            return None;
        }
        // More shards than files: an empty share passes (the caller says so).
        if self.options.partition.is_some() && project.specs.iter().any(|(s, _)| s.is_suite()) {
            return None;
        }
        Some(if project.specs.is_empty() {
            NothingToRun::NoFiles
        } else if !self.options.filters.is_empty() {
            NothingToRun::NoStepMatched
        } else {
            NothingToRun::NoSteps
        })
    }

    /// Runs every suite, telling `reporters` as it goes, until done or
    /// until `stop` yields (the name of a signal, say): then the suites
    /// in flight are cancelled and the result holds those that finished.
    pub async fn execute(
        &self,
        project: &Project,
        reporters: &mut [&mut dyn Reporter],
        stop: impl std::future::Future<Output = String>,
    ) -> RunResult {
        let started = SystemTime::now();
        let clock = Instant::now();
        let suites = self.selected(project).len();
        for r in reporters.iter_mut() {
            r.report(&Event::RunStarted { suites });
        }
        let reporters = RefCell::new(reporters);
        let tell = |event: &Event| {
            for r in reporters.borrow_mut().iter_mut() {
                r.report(event);
            }
        };
        let on_step = |suite: &str, step: &StepResult| tell(&Event::StepFinished { suite, step });
        let on_suite = |suite: &SuiteResult| tell(&Event::SuiteFinished(suite));
        let done = RefCell::new(Vec::new());
        let stopped = {
            let run = self.drive(project, &on_step, &on_suite, &done);
            // Leaving this block drops the run: an interruption cancels
            // the requests in flight.
            tokio::select! {
                () = run => None,
                signal = stop => Some(signal),
            }
        };
        let result = RunResult {
            suites: done.into_inner(),
            started,
            duration: clock.elapsed(),
            interrupted: stopped,
            partition: self.share(project),
        };
        tell(&Event::RunFinished(&result));
        result
    }

    /// The suites this run runs, in order, each with its place among the
    /// suites of the whole run: files with steps, narrowed by `--filter`,
    /// then to the run's partition.
    pub fn selected<'p>(&self, project: &'p Project) -> Vec<(usize, &'p (Spec, Checked))> {
        let chosen = self.chosen(project);
        let Some(share) = self.options.partition else {
            return chosen.into_iter().enumerate().collect();
        };
        let mut order: Vec<(String, usize)> = (chosen.iter().enumerate())
            .map(|(i, (spec, _))| (partition::portable(&spec.file.source.path), i))
            .collect();
        order.sort();
        let mut kept = vec![false; chosen.len()];
        for (position, (path, i)) in order.iter().enumerate() {
            kept[*i] = share.contains(path, position);
        }
        (chosen.into_iter().enumerate().zip(kept))
            .filter_map(|(spec, kept)| kept.then_some(spec))
            .collect()
    }

    /// The suites of the whole run, every partition's: files with steps,
    /// narrowed by `--filter`.
    fn chosen<'p>(&self, project: &'p Project) -> Vec<&'p (Spec, Checked)> {
        let filters = &self.options.filters;
        (project.specs.iter())
            .filter(|(spec, _)| spec.is_suite())
            .filter(|(spec, _)| {
                filters.is_empty()
                    || filters.iter().any(|f| {
                        f.matches(&spec.suite_name())
                            || f.matches_path(&spec.file.source.path)
                            || spec.file.steps.iter().any(|s| f.matches(&s.name.node))
                    })
            })
            .collect()
    }

    /// This run's share of the whole run, when it is a partition.
    pub fn share(&self, project: &Project) -> Option<Share> {
        (self.options.partition).map(|partition| Share {
            partition,
            of_suites: self.chosen(project).len(),
        })
    }

    /// The client block `name` of the project, resolved as a run resolves
    /// it (for `oauthspec login`); the names of all clients when there is
    /// none of that name.
    pub fn client(
        &self,
        project: &Project,
        name: &str,
    ) -> Result<crate::oauth::ResolvedClient, ClientLookup> {
        let Some((spec, checked)) =
            (project.specs.iter()).find(|(_, c)| c.clients.contains_key(name))
        else {
            let mut names: Vec<String> = (project.specs.iter())
                .flat_map(|(_, c)| c.clients.keys().cloned())
                .collect();
            names.sort();
            names.dedup();
            return Err(ClientLookup::Unknown(names));
        };
        let mut ctx = step::SpecRun::new(self, spec, checked);
        ctx.resolve_vars().map_err(ClientLookup::Unresolved)?;
        ctx.resolve_client(&checked.clients[name])
            .map_err(|e| ClientLookup::Unresolved(e.message()))
    }

    async fn run_spec(
        &self,
        index: usize,
        spec: &Spec,
        checked: &Checked,
        on_step: &dyn Fn(&str, &StepResult),
    ) -> SuiteResult {
        let started = SystemTime::now();
        let clock = Instant::now();
        let file = &spec.file;
        if !checked.missing_env.is_empty() {
            let steps = step::not_run(file, &checked.missing_env);
            for s in &steps {
                on_step(&spec.suite_name(), s);
            }
            return SuiteResult {
                index,
                name: spec.suite_name(),
                file: file.source.path.clone(),
                steps,
                started,
                duration: clock.elapsed(),
            };
        }
        let mut ctx = step::SpecRun::new(self, spec, checked);
        let vars_problem = ctx.resolve_vars().err();

        let name = spec.suite_name();
        let mut steps: Vec<StepResult> = Vec::with_capacity(file.steps.len());
        let mut failed: Option<String> = vars_problem;
        for (step, plan) in file.steps.iter().zip(&checked.plans) {
            let result = match failed.as_ref().filter(|_| !step.always) {
                Some(reason) => step::skipped(file, step, reason),
                None => ctx.run_step(step, plan, failed.as_deref()).await,
            };
            if matches!(result.outcome, Outcome::Failed(_)) && failed.is_none() {
                failed = Some(format!("step {:?} failed", step.name.node));
            }
            on_step(&name, &result);
            steps.push(result);
        }
        SuiteResult {
            index,
            name,
            file: file.source.path.clone(),
            steps,
            started,
            duration: clock.elapsed(),
        }
    }
}

/// Resolves the `vars` of a spec and its imports, `--var` winning.
fn resolve_vars(spec: &Spec, options: &CheckOptions, scope: &mut Scope) -> Result<(), EvalError> {
    for (name, value) in &options.cli_vars {
        scope.insert(name.clone(), Resolved::plain(value.clone()));
    }
    for file in spec.files() {
        let base_dir = file.source.path.parent().unwrap_or(Path::new(""));
        for def in &file.vars {
            if options.cli_vars.contains_key(&def.name.node) {
                continue;
            }
            let resolved = Evaluator {
                env: &options.env,
                scope,
                base_dir,
            }
            .value(&def.value)?;
            scope.insert(def.name.node.clone(), resolved);
        }
    }
    Ok(())
}
