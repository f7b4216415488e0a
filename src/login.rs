//! `login`: a person signs in once for a user-token client, at a browser
//! that comes back to a loopback listener (RFC 8252) or at the device
//! page; the tokens go to the token cache, for runs to renew from.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse};
use oauthspec_core::check::check_paths;
use oauthspec_core::check::client::Grant;
use oauthspec_core::oauth::ResolvedClient;
use oauthspec_core::run::{ClientLookup, RunOptions, Runner};

use crate::exit::Exit;
use crate::output::{print_diagnostics, print_error, usage_error};
use crate::run::{runtime, Threads};

/// How the person is reached.
pub(crate) struct Person {
    /// Open the page in a browser.
    pub open: bool,
    /// How long to wait for them.
    pub wait: Duration,
}

pub(crate) fn login(
    name: &str,
    paths: &[PathBuf],
    options: RunOptions,
    person: Person,
    color: bool,
) -> Exit {
    let project = check_paths(paths, &options.check);
    if let Err(problems) = Runner::preflight(&project, true) {
        print_diagnostics(problems.iter().cloned(), color);
        print_error(oauthspec_core::diagnostic::refusal(problems.len()), color);
        return Exit::Usage;
    }
    let cache = options.token_cache.clone().unwrap_or_default();
    let runner = match Runner::new(options) {
        Ok(runner) => runner,
        Err(e) => return usage_error(&e.to_string(), color),
    };
    let client = match runner.client(&project, name) {
        Ok(client) => client,
        Err(ClientLookup::Unknown(names)) => {
            let known = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            return usage_error(
                &format!("no client `{name}` in the specs (clients: {known})"),
                color,
            );
        }
        Err(ClientLookup::Unresolved(why)) => {
            return usage_error(&format!("client `{name}`: {why}"), color)
        }
    };
    let runtime = match runtime(Threads::One) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let redactor = runner.redactor.clone();
    let signed_in = runtime.block_on(async {
        match client.grant() {
            Grant::AuthorizationCode => browser(&runner, client, &person).await,
            Grant::DeviceCode => device(&runner, &client, &person).await,
            other => Err(Refusal::Usage(format!(
                "client `{name}` uses `grant {}`: `login` signs a person in for `grant authorization_code` or `grant device_code`",
                other.as_str()
            ))),
        }
    });
    // A provider's text may echo a secret, or carry terminal escapes.
    let shown = |why: &str| printable(&redactor.redact(why));
    let renewable = match signed_in {
        Ok(renewable) => renewable,
        Err(Refusal::Usage(why)) => return usage_error(&shown(&why), color),
        Err(Refusal::Failed(why)) => {
            print_error(shown(&why), color);
            return Exit::Failed;
        }
    };
    if let Some(e) = runner.tokens.take_cache_error() {
        print_error(e.to_string(), color);
        return Exit::Internal;
    }
    println!(
        "signed in: client `{name}`'s tokens are kept in {}; run with --token-cache {} to use and renew them",
        cache.display(),
        cache.display()
    );
    if !renewable {
        crate::output::print_note(
            "no refresh token came back (does the client need the offline_access scope?): runs can use the access token until it expires, then a person has to sign in again",
        );
    }
    Exit::Passed
}

enum Refusal {
    /// The command cannot do it (exit 2).
    Usage(String),
    /// The flow failed (exit 1).
    Failed(String),
}

fn failed(e: oauthspec_core::oauth::TokenError) -> Refusal {
    Refusal::Failed(format!("{} [{}]", e.message, e.class.as_str()))
}

/// Text from a server, fit for a terminal: control characters escaped.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '\n' => vec![c],
            c if c.is_control() => c.escape_default().collect(),
            c => vec![c],
        })
        .collect()
}

/// Shows a URL a server gave (an http(s) one only), and opens it when
/// asked.
fn show(url: &str, person: &Person) -> Result<(), Refusal> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            Refusal::Failed(format!(
                "the provider gave {:?}, not an http(s) URL",
                printable(url)
            ))
        })?;
    println!("  {parsed}\n");
    if person.open {
        if let Err(e) = open::that_detached(parsed.as_str()) {
            println!("(cannot open a browser: {e}; open the URL yourself)");
        }
    }
    Ok(())
}

/// The authorization code flow: the browser comes back to a listener on
/// the redirect URI's loopback address.
async fn browser(
    runner: &Runner,
    mut client: ResolvedClient,
    person: &Person,
) -> Result<bool, Refusal> {
    let redirect = client.redirect_uri.clone().unwrap_or_default();
    let mut uri = url::Url::parse(&redirect)
        .map_err(|e| Refusal::Usage(format!("redirect_uri {redirect:?}: {e}")))?;
    let loopback = uri.scheme() == "http"
        && matches!(uri.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    if !loopback {
        return Err(Refusal::Usage(format!(
            "client `{}`'s redirect_uri is {redirect}: `login` receives the code on a loopback one such as http://127.0.0.1/callback (RFC 8252)",
            client.name
        )));
    }
    // A loopback redirect URI without a port takes any (RFC 8252 §7.3).
    let address: std::net::IpAddr = match uri.host_str() {
        Some("[::1]") => std::net::Ipv6Addr::LOCALHOST.into(),
        _ => std::net::Ipv4Addr::LOCALHOST.into(),
    };
    let listener = tokio::net::TcpListener::bind((address, uri.port().unwrap_or(0)))
        .await
        .map_err(|e| Refusal::Usage(format!("cannot listen on {redirect}: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Refusal::Usage(e.to_string()))?
        .port();
    let _ = uri.set_port(Some(port));
    client.redirect_uri = Some(uri.to_string());

    let tokens = &runner.tokens;
    let timeout = runner.options.timeout;
    let auth = tokens
        .begin_sign_in(&client, timeout)
        .await
        .map_err(failed)?;
    println!("Sign in for client `{}` at:\n", client.name);
    show(auth.url.as_str(), person)?;
    println!(
        "Waiting up to {} for the browser to come back to {uri} ...",
        human(person.wait)
    );
    let back = redirected(listener, uri.path().to_string(), person.wait)
        .await
        .ok_or_else(|| {
            Refusal::Failed(format!("nobody signed in within {}", human(person.wait)))
        })?;
    let back = uri
        .join(&back)
        .map_err(|e| Refusal::Failed(e.to_string()))?;
    tokens
        .finish_sign_in(&client, &auth, &back, timeout)
        .await
        .map_err(failed)
}

/// The first request to `path` the listener gets, as `/path?query`.
async fn redirected(
    listener: tokio::net::TcpListener,
    path: String,
    wait: Duration,
) -> Option<String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let (tx, path) = (tx.clone(), path.clone());
        async move {
            if uri.path() != path {
                return StatusCode::NOT_FOUND.into_response();
            }
            let _ = tx.try_send(uri.to_string());
            Html("<!DOCTYPE html><title>oauthspec</title><h1>Back in oauthspec</h1><p>You may close this window and return to the terminal.</p>")
                .into_response()
        }
    });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let got = tokio::time::timeout(wait, rx.recv()).await.ok().flatten();
    // Let the page reach the browser before the listener goes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.abort();
    got
}

/// The device flow: the person approves the user code on another device.
async fn device(
    runner: &Runner,
    client: &ResolvedClient,
    person: &Person,
) -> Result<bool, Refusal> {
    let tokens = &runner.tokens;
    let timeout = runner.options.timeout;
    let device = tokens.begin_device(client, timeout).await.map_err(failed)?;
    println!("To approve client `{}`, open\n", client.name);
    let opened = Person {
        open: person.open && device.verification_uri_complete.is_none(),
        wait: person.wait,
    };
    show(&device.verification_uri, &opened)?;
    println!("and enter the code  {}\n", printable(&device.user_code));
    if let Some(complete) = &device.verification_uri_complete {
        println!("(or open this page, which has the code in it:)\n");
        show(complete, person)?;
    }
    println!("Waiting up to {} for the approval ...", human(person.wait));
    match tokio::time::timeout(person.wait, tokens.finish_device(client, &device, timeout)).await {
        Ok(done) => done.map_err(failed),
        Err(_) => Err(Refusal::Failed(format!(
            "nobody approved the device within {}",
            human(person.wait)
        ))),
    }
}

fn human(d: Duration) -> String {
    oauthspec_core::duration::human(d)
}
