//! The commands that start the built-in sandbox: `demo` runs specs
//! against it in-process, `sandbox` serves it until Ctrl-C.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oauthspec_core::check::value::Environment;
use oauthspec_core::check::CheckOptions;
use oauthspec_core::report::console::Console;
use oauthspec_sandbox::{Fault, Sandbox, SandboxConfig};

use crate::args::Annotations;
use crate::args::RunArgs;
use crate::exit::Exit;
use crate::output::{print_error, usage_error};
use crate::run::{prepare_run, run_project, runtime, Threads};

/// `demo`: the examples (or `paths`) against a fresh sandbox, with
/// reports left in `out`.
pub(crate) fn demo(
    mut paths: Vec<PathBuf>,
    out: &Path,
    faults: Vec<Fault>,
    run: &RunArgs,
    console: &Console,
    color: bool,
) -> Exit {
    if paths.is_empty() {
        let examples = out.join("examples");
        if let Err(e) = crate::examples::write_to(&examples) {
            print_error(
                format!("cannot write the examples to {}: {e}", examples.display()),
                color,
            );
            return Exit::Internal;
        }
        paths.push(examples);
    }
    let runtime = match runtime(Threads::AllCores) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        // The device flow's example need not wait the default 5 s a poll.
        let config = SandboxConfig {
            device_interval: 1,
            ..SandboxConfig::default()
        };
        let sandbox = match Sandbox::start(config, 0).await {
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
                let code = run_project(
                    &runner,
                    &project,
                    &reports,
                    console,
                    Annotations::None,
                    color,
                )
                .await;
                println!("reports: {}", reports.written().join(", "));
                code
            }
            Err(code) => code,
        };
        sandbox.shutdown().await;
        code
    })
}

/// `sandbox`: serves on 127.0.0.1:`port` until Ctrl-C.
pub(crate) fn serve(port: u16, config: Option<&Path>, faults: Vec<Fault>, color: bool) -> Exit {
    let config = match config {
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
