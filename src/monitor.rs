//! `monitor`: the specs run again and again, each run reported to a
//! Prometheus endpoint, to the report files and as one log line. Tokens
//! live across runs: the runner, and so its token cache, is kept.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use oauthspec_core::check::{check_paths, Project};
use oauthspec_core::diagnostic::Diagnostic;
use oauthspec_core::report::console::Console;
use oauthspec_core::report::metrics::{Format, Metrics};
use oauthspec_core::report::transitions::{Transition, Transitions};
use oauthspec_core::report::{html, ReportFiles, ReportPaths};
use oauthspec_core::run::{Event, Reporter, RunOptions, Runner};
use tokio::sync::{mpsc, watch};

use crate::exit::Exit;

/// A line on stdout; a closed stdout (`| head`) must not stop a monitor.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
use crate::output::{print_diagnostics, print_error, usage_error};
use crate::run::{interrupt, prepare_run, runtime, Threads};

/// When runs start.
pub(crate) struct Schedule {
    pub(crate) every: Duration,
    /// Each run starts up to this much later than scheduled.
    pub(crate) jitter: Duration,
    pub(crate) iterations: Option<u64>,
}

impl Schedule {
    /// A random delay of at most `jitter`.
    fn delay(&self) -> Duration {
        self.jitter.mul_f64(rand::random::<f64>())
    }
}

/// What the endpoint serves: the metrics so far and the last run's page.
struct Shared {
    metrics: Mutex<Metrics>,
    page: Mutex<Option<String>>,
}

impl Shared {
    fn metrics(&self) -> std::sync::MutexGuard<'_, Metrics> {
        self.metrics.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The metrics as a reporter of each run's events.
struct Record(Arc<Shared>);

impl Reporter for Record {
    fn report(&mut self, event: &Event<'_>) {
        self.0.metrics().report(event);
        if let Event::RunFinished(result) = event {
            *self.0.page.lock().unwrap_or_else(|e| e.into_inner()) = Some(html::render(result));
        }
    }
}

pub(crate) fn monitor(
    paths: &[PathBuf],
    options: RunOptions,
    reports: &ReportPaths,
    schedule: Schedule,
    listen: SocketAddr,
    notify: Option<String>,
    color: bool,
) -> Exit {
    // Parsed here, not by clap, whose error would print the value (a
    // webhook URL holds its secret).
    let notify = match notify.as_deref().map(url::Url::parse).transpose() {
        Ok(url) => url,
        Err(e) => {
            let message = format!("--notify is not a URL: {e} (the value is not shown)");
            return usage_error(&message, color);
        }
    };
    let (runner, project) = match prepare_run(paths, options, color) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let runtime = match runtime(Threads::AllCores) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let console = Console {
        color: false,
        verbose: false,
    };
    runtime.block_on(async {
        let shared = Arc::new(Shared {
            metrics: Mutex::new(Metrics::new([], [])),
            page: Mutex::default(),
        });
        let mut transitions = Transitions::default();
        track(&shared, &runner, &project, &mut transitions);
        let mut project = project;
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                print_error(format!("cannot listen on {listen}: {e}"), color);
                return Exit::Usage;
            }
        };
        let address = listener.local_addr().unwrap_or(listen);
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/", get(page))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        say!(
            "monitor: metrics on http://{address}/metrics, a run every {}",
            oauthspec_core::duration::spec_text(schedule.every)
        );

        // The first Ctrl-C or SIGTERM ends the run in flight and the monitor.
        let (signalled, signal) = watch::channel(None::<&'static str>);
        tokio::spawn(async move {
            let _ = signalled.send(Some(interrupt().await));
        });
        let stopped = || {
            let mut signal = signal.clone();
            async move {
                let name = signal.wait_for(Option::is_some).await.ok().and_then(|s| *s);
                name.unwrap_or("SIGTERM").to_string()
            }
        };

        let mut reload = hangups();
        let mut seen = fingerprint(paths);
        let (notifications, delivery) = match notify {
            Some(url) => {
                let (send, task) = notifier(url, format!("http://{address}/"));
                (Some(send), Some(task))
            }
            None => (None, None),
        };
        let runs = async {
            let mut last_failed = false;
            // When the next run is due; jitter delays a run, not the ones
            // after it.
            let mut due = Instant::now();
            for n in 1.. {
                let now = fingerprint(paths);
                let edited = now != seen;
                if edited || reload.has_changed().unwrap_or(false) {
                    reload.mark_unchanged();
                    seen = now;
                    let why = if edited { " (a file changed)" } else { "" };
                    say!("monitor: re-reading the specs{why}");
                    match reread(paths, &runner) {
                        Ok(fresh) => {
                            track(&shared, &runner, &fresh, &mut transitions);
                            project = fresh;
                            say!("monitor: the specs were re-read; the next run uses them");
                        }
                        Err(problems) => {
                            print_diagnostics(problems.into_iter(), color);
                            shared.metrics().reload_failed();
                            say!("monitor: the specs no longer check; the previous ones keep running");
                        }
                    }
                }
                if let Some(name) = sleep_or_stop(due + schedule.delay(), stopped()).await {
                    say!("monitor: stopped by {name}");
                    return Exit::Passed;
                }
                let mut files = ReportFiles {
                    paths: reports.clone(),
                    errors: Vec::new(),
                };
                let mut record = Record(shared.clone());
                let result = runner
                    .execute(
                        &project,
                        &mut [&mut record, &mut files, &mut transitions],
                        stopped(),
                    )
                    .await;
                if let Some(why) = result.interruption().filter(|_| result.interrupted.is_some()) {
                    say!("monitor: stopped by {why}");
                    return Exit::Passed;
                }
                // A file that cannot be written is logged and counted; the
                // monitor goes on probing. The metrics are complete before
                // the run's line is printed.
                let unwritten: Vec<_> = (files.errors.into_iter())
                    .chain(runner.tokens.take_cache_error())
                    .collect();
                {
                    let mut metrics = shared.metrics();
                    metrics.write_failed(unwritten.len());
                    metrics.renewals(runner.tokens.renewals());
                }
                say!("{}", console.run_line(n, &result).trim_end());
                print_diagnostics(unwritten.iter().map(|e| Diagnostic::error(e.to_string())), color);
                for change in transitions.take() {
                    if let Some(send) = &notifications {
                        let _ = send.send(change);
                    }
                }
                last_failed = result.counts().failed > 0;
                if schedule.iterations.is_some_and(|max| n >= max) {
                    break;
                }
                due += schedule.every;
                if Instant::now() > due {
                    // `--every 0s` asks for runs back to back: no news.
                    if !schedule.every.is_zero() {
                        say!("monitor: run {n} took longer than the interval; the next starts now");
                    }
                    due = Instant::now();
                }
            }
            if last_failed {
                Exit::Failed
            } else {
                Exit::Passed
            }
        };
        let exit = runs.await;
        // Notifications still on their way get up to 10 s to arrive; a
        // Ctrl-C or SIGTERM meanwhile ends the wait, with the code a shell
        // expects (130, 143).
        drop(notifications);
        if let Some(task) = delivery.filter(|t| !t.is_finished()) {
            let waiting = interrupt();
            say!("monitor: waiting up to 10 s for notifications still on their way");
            tokio::select! {
                waited = tokio::time::timeout(Duration::from_secs(10), task) => {
                    if waited.is_err() {
                        say!("monitor: notifications not delivered in 10 s were dropped");
                    }
                }
                name = waiting => {
                    say!("monitor: stopped by {name}; notifications dropped");
                    return Exit::interrupted_by(name);
                }
            }
        }
        exit
    })
}

/// Sleeps until `until`, unless `stop` comes first: then its name.
async fn sleep_or_stop(
    until: Instant,
    stop: impl std::future::Future<Output = String>,
) -> Option<String> {
    tokio::select! {
        _ = tokio::time::sleep_until(until.into()) => None,
        name = stop => Some(name),
    }
}

/// The specs read and checked again: refused when they do not check or
/// hold nothing to run (an emptied directory, a file caught mid-write).
fn reread(paths: &[PathBuf], runner: &Runner) -> Result<Project, Vec<Diagnostic>> {
    let fresh = check_paths(paths, &runner.options.check);
    Runner::preflight(&fresh, runner.options.strict)?;
    if runner.nothing_to_run(&fresh).is_some() {
        return Err(vec![Diagnostic::error("the specs hold no step to run")]);
    }
    Ok(fresh)
}

/// Every series the project's steps and clients can have, from 0; the
/// series (and remembered states) of steps and clients it no longer has
/// are dropped.
fn track(shared: &Shared, runner: &Runner, project: &Project, transitions: &mut Transitions) {
    let mut steps = Vec::new();
    let mut clients = Vec::new();
    for (_, (spec, _)) in runner.selected(project) {
        let suite = spec.suite_name();
        let names = spec
            .file
            .steps
            .iter()
            .map(|s| (suite.clone(), s.name.node.clone()));
        steps.extend(names);
        let files = spec.files();
        clients.extend(files.flat_map(|f| f.clients.iter().map(|c| c.name.node.clone())));
    }
    transitions.retain(&steps);
    let steps = steps
        .iter()
        .map(|(suite, step)| (suite.as_str(), step.as_str()));
    shared
        .metrics()
        .track(steps, clients.iter().map(String::as_str));
}

/// The spec files under `paths` with their sizes and times: when it
/// changes, a file was added, removed or edited. (Imports from outside
/// `paths` are not watched: SIGHUP re-reads them.)
fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let files = oauthspec_core::check::load::discover(paths).unwrap_or_default();
    (files.into_iter())
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (f, size, modified)
        })
        .collect()
}

/// Changes each time the process gets SIGHUP: the specs are to be read
/// again before the next run.
fn hangups() -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0);
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            tx.send_modify(|n| *n += 1);
        }
    });
    #[cfg(not(unix))]
    drop(tx);
    rx
}

/// Delivers notifications in the background, in order, each retried
/// with backoff (1 s, doubling, 5 tries), so a slow or failing receiver
/// never holds up a run. The URL is never printed: webhook URLs hold
/// their secret.
fn notifier(
    url: url::Url,
    report: String,
) -> (
    mpsc::UnboundedSender<Transition>,
    tokio::task::JoinHandle<()>,
) {
    let (send, mut receive) = mpsc::unbounded_channel::<Transition>();
    let task = tokio::spawn(async move {
        let client = reqwest::Client::new();
        while let Some(change) = receive.recv().await {
            let mut body = serde_json::to_value(&change).unwrap_or_default();
            body["report"] = report.clone().into();
            let mut wait = Duration::from_secs(1);
            for attempt in 1..=5 {
                let sent = client
                    .post(url.clone())
                    .timeout(Duration::from_secs(10))
                    .json(&body)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status());
                match sent {
                    Ok(_) => break,
                    Err(e) => {
                        let e = e.without_url();
                        say!("monitor: notification about {} › {} not delivered (try {attempt} of 5): {e}", change.suite, change.step);
                    }
                }
                if attempt < 5 {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    });
    (send, task)
}

/// `GET /metrics`, in the format the scraper asks for.
async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = Format::from_accept(accept);
    let text = (shared.metrics.lock().unwrap_or_else(|e| e.into_inner())).render(format);
    ([(header::CONTENT_TYPE, format.content_type())], text)
}

/// `GET /`: the last run's HTML report.
async fn page(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    match shared
        .page
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
    {
        Some(page) => Html(page).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no run has finished yet\n").into_response(),
    }
}
