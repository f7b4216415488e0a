//! `oauthspec init`: a starter spec and a CI workflow to begin from.

use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::output::usage_error;

const STARTER: &str = r#"# A first spec: it runs against the built-in sandbox as it is
# (`oauthspec sandbox` in another terminal, then `oauthspec run specs/`).
# Point OAUTH_ISSUER, API_URL and the client variables at your own servers.
suite "starter"

vars {
  issuer = env("OAUTH_ISSUER", "http://127.0.0.1:9000")
  api    = env("API_URL", "{{issuer}}")
}

client app {
  token_url     "{{issuer}}/oauth2/token"      # or: discovery "{{issuer}}"
  client_id     env("CLIENT_ID", "demo-client")
  client_secret secret(env("CLIENT_SECRET", "demo-secret"))
  scope         "orders:read"
}

# Waits for a service that is still starting (after a deploy, or the
# sandbox started in the background): tried every second for up to a minute.
step "the API is up" {
  GET "{{api}}/v1/health"
  retry 60 until pass backoff 1s max 1m
  expect status == 200
}

step "a token opens the API" {
  GET "{{api}}/v1/orders"
  auth app
  expect status == 200
  expect json "$.orders" exists
}

step "no token, no entry" {
  GET "{{api}}/v1/orders"
  expect status == 401
  expect header "WWW-Authenticate" startswith "Bearer"
}
"#;

const WORKFLOW: &str = r#"# Runs the specs after every push and deploy; JUnit results show in the
# pull request through a JUnit reporter action of your choice.
name: oauthspec
on:
  push:
  workflow_dispatch:
jobs:
  smoke:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      # Or download a release's static binary instead of building it.
      - run: cargo install --locked oauthspec
      # The starter spec's target until OAUTH_ISSUER and API_URL name your
      # services: drop this step then. The spec's first step waits for it.
      - run: nohup oauthspec sandbox --port 9000 > sandbox.log 2>&1 &
      - run: oauthspec run specs/ --junit target/oauthspec/junit.xml --token-cache target/oauthspec/tokens.json
        env:
          # Unset repository variables arrive as "", which counts as unset:
          # env("NAME", "default") then takes its default.
          OAUTH_ISSUER: ${{ vars.OAUTH_ISSUER }}
          API_URL: ${{ vars.API_URL }}
          CLIENT_ID: ${{ vars.CLIENT_ID }}
          CLIENT_SECRET: ${{ secrets.CLIENT_SECRET }}
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: oauthspec-junit
          path: target/oauthspec/junit.xml
"#;

/// The files `init` writes, relative to the project directory.
pub(crate) fn files() -> [(&'static str, &'static str); 2] {
    [
        ("specs/starter.oauthspec", STARTER),
        (".github/workflows/oauthspec.yml", WORKFLOW),
    ]
}

/// Writes the starter files under `dir`. Existing files are kept unless
/// `force`; all are checked before any is written.
pub(crate) fn write(dir: &Path, force: bool) -> Result<Vec<PathBuf>, String> {
    let targets: Vec<(PathBuf, &str)> = files()
        .into_iter()
        .map(|(rel, text)| (dir.join(rel), text))
        .collect();
    if !force {
        let existing: Vec<String> = targets
            .iter()
            .filter(|(p, _)| p.exists())
            .map(|(p, _)| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            let verb = if existing.len() == 1 {
                "exists"
            } else {
                "exist"
            };
            return Err(format!(
                "{} already {verb}; nothing written (use --force to replace)",
                existing.join(", ")
            ));
        }
    }
    for (path, text) in &targets {
        oauthspec_core::util::files::write_atomic(path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(targets.into_iter().map(|(p, _)| p).collect())
}

/// `init`: writes the starter files and says what to do next.
pub(crate) fn command(dir: &Path, force: bool, color: bool) -> Exit {
    match write(dir, force) {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
            println!(
                "next: `oauthspec sandbox` in one terminal, `oauthspec run specs/` in another"
            );
            Exit::Passed
        }
        Err(e) => usage_error(&e, color),
    }
}
