//! User tokens: the authorization endpoint (RFC 6749 §4.1) with PKCE
//! (RFC 7636, S256 only) and its login and consent pages, and the device
//! authorization grant (RFC 8628) with its `/device` page. Both end in
//! the token endpoint, through [`redeem_code`] and [`poll_device`].
//!
//! The pages are plain HTML forms with a session cookie and a CSRF token
//! in a hidden input, as real providers' are, so that headless logins are
//! tested against the same shapes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::client_auth::authenticate;
use crate::config::{GrantType, RegisteredClient};
use crate::faults::{FaultKind, Group};
use crate::keys::random_token;
use crate::oauth_error::{oauth_json, OAuthError};
use crate::params::Params;
use crate::state::AppState;
use crate::store::now_secs;
use crate::token::Grant;

/// How long a code, and a login in progress, stay valid (seconds).
const CODE_LIFETIME: u64 = 60;
const LOGIN_LIFETIME: u64 = 600;
/// How long a device's user code stays valid (seconds).
const DEVICE_LIFETIME: u64 = 600;
const SESSION_COOKIE: &str = "sandbox_session";

/// Logins in progress, issued codes and device authorizations.
#[derive(Default)]
pub(crate) struct UserFlows {
    inner: Mutex<Flows>,
}

#[derive(Default)]
struct Flows {
    /// By interaction id (a hidden input of the pages).
    logins: HashMap<String, Login>,
    codes: HashMap<String, Code>,
    /// By device code.
    devices: HashMap<String, Device>,
}

/// What the user is asked to approve, by whom.
#[derive(Clone)]
struct Login {
    client_id: String,
    scopes: Vec<String>,
    session: String,
    csrf: String,
    login_hint: Option<String>,
    /// Set once the password was right.
    user: Option<String>,
    exp: u64,
    for_what: Purpose,
}

#[derive(Clone)]
enum Purpose {
    Code {
        redirect_uri: String,
        state: Option<String>,
        nonce: Option<String>,
        challenge: String,
    },
    Device {
        device_code: String,
    },
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    sub: String,
    scopes: Vec<String>,
    nonce: Option<String>,
    exp: u64,
}

struct Device {
    client_id: String,
    user_code: String,
    scopes: Vec<String>,
    exp: u64,
    interval: u64,
    last_poll: Option<u64>,
    decision: Decision,
}

#[derive(Clone, PartialEq)]
enum Decision {
    Pending,
    Approved(String),
    Denied,
}

impl UserFlows {
    fn lock(&self) -> std::sync::MutexGuard<'_, Flows> {
        let mut flows = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_secs();
        flows.logins.retain(|_, l| l.exp >= now);
        flows.codes.retain(|_, c| c.exp >= now);
        flows.devices.retain(|_, d| d.exp + 60 >= now);
        flows
    }
}

/// Whether `given` is one of the client's redirect URIs: exactly, or for
/// a loopback one with any port (RFC 8252 §7.3).
fn redirect_allowed(client: &RegisteredClient, given: &str) -> bool {
    let Ok(given_url) = url::Url::parse(given) else {
        return false;
    };
    client.redirect_uris.iter().any(|registered| {
        if registered == given {
            return true;
        }
        let Ok(r) = url::Url::parse(registered) else {
            return false;
        };
        let loopback = matches!(r.host_str(), Some("127.0.0.1" | "[::1]"));
        loopback
            && r.scheme() == "http"
            && given_url.scheme() == "http"
            && r.host_str() == given_url.host_str()
            && r.path() == given_url.path()
            && r.query() == given_url.query()
    })
}

/// The scopes asked for, checked against the client's (`openid` is always
/// allowed: the sandbox is an OpenID provider).
fn requested_scopes(client: &RegisteredClient, scope: Option<&str>) -> Result<Vec<String>, String> {
    let Some(scope) = scope else {
        return Ok(client.scopes.clone());
    };
    let mut scopes = Vec::new();
    for s in scope.split_whitespace() {
        if s != "openid" && !client.scopes.iter().any(|c| c == s) {
            return Err(format!(
                "scope `{s}` is not allowed for client `{}`",
                client.id
            ));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    Ok(scopes)
}

/// A page for the person at the browser: an error here is never sent to
/// a redirect URI that was not checked.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{} · oauthspec sandbox</title></head>\n<body>\n<h1>{}</h1>\n{body}\n</body>\n</html>\n",
        esc(title),
        esc(title)
    );
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// `redirect_uri` with the response parameters (and RFC 9207 `iss`).
fn back_to(state: &AppState, redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return page(StatusCode::BAD_REQUEST, "Bad redirect URI", ""),
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        query.append_pair("iss", &state.issuer);
    }
    redirect(url.as_str())
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The login form; `error` for a second try.
fn login_page(interaction: &str, login: &Login, error: Option<&str>) -> Response {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>\n", esc(e))
    });
    let hint = login.login_hint.as_deref().unwrap_or_default();
    let body = format!(
        "<p>to continue to {}</p>\n{error}<form method=\"post\" action=\"/oauth2/login\">\n\
         <input type=\"hidden\" name=\"interaction\" value=\"{}\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
         <label>Username <input name=\"username\" value=\"{}\" autocomplete=\"username\"></label>\n\
         <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\"></label>\n\
         <button type=\"submit\">Sign in</button>\n</form>",
        esc(&login.client_id),
        esc(interaction),
        esc(&login.csrf),
        esc(hint),
    );
    page(StatusCode::OK, "Sign in", &body)
}

fn consent_page(interaction: &str, login: &Login) -> Response {
    let scopes: String = (login.scopes.iter())
        .map(|s| format!("<li>{}</li>", esc(s)))
        .collect();
    let body = format!(
        "<p>{} asks to act for {} with:</p>\n<ul>{scopes}</ul>\n\
         <form method=\"post\" action=\"/oauth2/consent\">\n\
         <input type=\"hidden\" name=\"interaction\" value=\"{}\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\n</form>",
        esc(&login.client_id),
        esc(login.user.as_deref().unwrap_or_default()),
        esc(interaction),
        esc(&login.csrf),
    );
    page(StatusCode::OK, "Authorize access", &body)
}

/// Starts a login: a new session cookie, and the login page.
fn start_login(state: &AppState, flows: &mut Flows, login: Login) -> Response {
    let interaction = random_token(16);
    // A session cookie is a secret too, for the leak tests.
    state.record_issued(&login.session);
    let mut response = login_page(&interaction, &login, None);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
        login.session
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    flows.logins.insert(interaction, login);
    response
}

/// `GET /oauth2/authorize`.
pub(crate) async fn authorize(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let bad = |why: &str| {
        page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            &format!("<p>{}</p>", esc(why)),
        )
    };
    let Some(client) = get("client_id").and_then(|id| state.client(id)) else {
        return bad("unknown client_id");
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return bad("missing redirect_uri");
    };
    if !redirect_allowed(client, redirect_uri) {
        return bad(&format!(
            "redirect_uri {redirect_uri} is not registered for client {}",
            client.id
        ));
    }
    let refuse = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(s) = get("state") {
            params.push(("state", s));
        }
        back_to(&state, redirect_uri, &params)
    };
    if get("response_type") != Some("code") {
        return refuse(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    if !client.grants.contains(&GrantType::AuthorizationCode) {
        return refuse(
            "unauthorized_client",
            "the client may not use the authorization code grant",
        );
    }
    let Some(challenge) = get("code_challenge") else {
        return refuse(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        );
    };
    if get("code_challenge_method") != Some("S256") {
        return refuse(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not allowed)",
        );
    }
    let scopes = match requested_scopes(client, get("scope")) {
        Ok(scopes) => scopes,
        Err(why) => return refuse("invalid_scope", &why),
    };
    let login = Login {
        client_id: client.id.clone(),
        scopes,
        session: random_token(16),
        csrf: random_token(16),
        login_hint: get("login_hint").map(str::to_string),
        user: None,
        exp: now_secs() + LOGIN_LIFETIME,
        for_what: Purpose::Code {
            redirect_uri: redirect_uri.to_string(),
            state: get("state").map(str::to_string),
            nonce: get("nonce").map(str::to_string),
            challenge: challenge.to_string(),
        },
    };
    start_login(&state, &mut state.user_flows.lock(), login)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    interaction: String,
    csrf: String,
    username: Option<String>,
    password: Option<String>,
    decision: Option<String>,
}

/// The login in progress a form belongs to, if its session cookie and
/// CSRF token are that login's.
fn checked_login(flows: &Flows, headers: &HeaderMap, form: &LoginForm) -> Option<Login> {
    let login = flows.logins.get(&form.interaction)?;
    let ours = session_cookie(headers).as_deref() == Some(login.session.as_str())
        && form.csrf == login.csrf;
    ours.then(|| login.clone())
}

fn session_expired() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Session expired",
        "<p>This sign-in is unknown or expired, or its cookie is missing. Start again from the application.</p>",
    )
}

/// `POST /oauth2/login`: the password, then the consent page.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let mut flows = state.user_flows.lock();
    let Some(mut login) = checked_login(&flows, &headers, &form) else {
        return session_expired();
    };
    let (username, password) = (
        form.username.unwrap_or_default(),
        form.password.unwrap_or_default(),
    );
    let Some(user) =
        (state.config.users.iter()).find(|u| u.username == username && u.password == password)
    else {
        return login_page(
            &form.interaction,
            &login,
            Some("Invalid username or password."),
        );
    };
    if let Some(allowed) = &user.scopes {
        if let Some(scope) = login.scopes.iter().find(|s| !allowed.contains(s)) {
            let why = format!("user `{}` may not grant scope `{scope}`", user.username);
            flows.logins.remove(&form.interaction);
            return match &login.for_what {
                Purpose::Code {
                    redirect_uri,
                    state: st,
                    ..
                } => {
                    let mut params = vec![
                        ("error", "invalid_scope"),
                        ("error_description", why.as_str()),
                    ];
                    if let Some(s) = st {
                        params.push(("state", s));
                    }
                    back_to(&state, redirect_uri, &params)
                }
                Purpose::Device { device_code } => {
                    if let Some(d) = flows.devices.get_mut(device_code) {
                        d.decision = Decision::Denied;
                    }
                    page(
                        StatusCode::FORBIDDEN,
                        "Access refused",
                        &format!("<p>{}</p>", esc(&why)),
                    )
                }
            };
        }
    }
    login.user = Some(user.username.clone());
    let response = consent_page(&form.interaction, &login);
    flows.logins.insert(form.interaction, login);
    response
}

/// `POST /oauth2/consent`: allowed, a code for the client (or the device
/// approved); denied, `access_denied`.
pub(crate) async fn consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let mut flows = state.user_flows.lock();
    let Some(login) = checked_login(&flows, &headers, &form) else {
        return session_expired();
    };
    let Some(user) = login.user.clone() else {
        return page(StatusCode::BAD_REQUEST, "Sign in first", "");
    };
    flows.logins.remove(&form.interaction);
    let approved = form.decision.as_deref() == Some("approve");
    match login.for_what {
        Purpose::Code {
            redirect_uri,
            state: st,
            nonce,
            challenge,
        } => {
            let mut params = Vec::new();
            let code = random_token(24);
            if approved {
                flows.codes.insert(
                    code.clone(),
                    Code {
                        client_id: login.client_id,
                        redirect_uri: redirect_uri.clone(),
                        challenge,
                        sub: user,
                        scopes: login.scopes,
                        nonce,
                        exp: now_secs() + CODE_LIFETIME,
                    },
                );
                state.record_issued(&code);
                params.push(("code", code.as_str()));
            } else {
                params.push(("error", "access_denied"));
                params.push(("error_description", "the user denied the request"));
            }
            if let Some(s) = &st {
                params.push(("state", s));
            }
            back_to(&state, &redirect_uri, &params)
        }
        Purpose::Device { device_code } => {
            if let Some(device) = flows.devices.get_mut(&device_code) {
                device.decision = if approved {
                    Decision::Approved(user)
                } else {
                    Decision::Denied
                };
            }
            let (title, text) = if approved {
                (
                    "Device approved",
                    "You may close this window and return to your device.",
                )
            } else {
                ("Device denied", "The device was not given access.")
            };
            page(StatusCode::OK, title, &format!("<p>{text}</p>"))
        }
    }
}

/// The `authorization_code` grant: the code, once, for the client and
/// redirect URI it was issued to, with the PKCE verifier of its challenge.
pub(crate) fn redeem_code(
    state: &AppState,
    client: &RegisteredClient,
    params: &Params,
) -> Result<Grant, OAuthError> {
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.require("code_verifier").map_err(|_| {
        OAuthError::invalid_request("missing parameter `code_verifier`: PKCE is required")
    })?;
    // Spent whatever happens next (RFC 6749 §4.1.2: used at most once).
    let record =
        state.user_flows.lock().codes.remove(code).ok_or_else(|| {
            OAuthError::invalid_grant("the code is unknown, expired or already used")
        })?;
    if record.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if record.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the one of the authorization request",
        ));
    }
    let valid_verifier = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !valid_verifier || computed != record.challenge {
        return Err(OAuthError::invalid_grant(
            "PKCE verification failed: code_verifier does not match code_challenge",
        ));
    }
    Ok(Grant {
        exchange: None,
        id_token_nonce: record
            .scopes
            .iter()
            .any(|s| s == "openid")
            .then_some(record.nonce),
        sub: record.sub,
        scopes: record.scopes,
        aud: Vec::new(),
        family: None,
        with_refresh: client.grants.contains(&GrantType::RefreshToken),
    })
}

/// `POST /oauth2/device_authorization` (RFC 8628 §3.1).
pub(crate) async fn device_authorization(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = (|| {
        let params = Params::parse(&headers, &body)?;
        let endpoint = state.endpoint("/oauth2/device_authorization");
        let client = authenticate(&state, &headers, &params, &endpoint, None)?;
        let config = state
            .client(&client.id)
            .ok_or_else(|| OAuthError::server_error("authenticated client vanished"))?;
        if !config.grants.contains(&GrantType::DeviceCode) {
            return Err(OAuthError::unauthorized_client(
                "the client may not use the device grant",
            ));
        }
        let scopes =
            requested_scopes(config, params.get("scope")).map_err(OAuthError::invalid_scope)?;
        let device_code = random_token(24);
        let user_code = user_code();
        let interval = state.config.device_interval;
        state.record_issued(&device_code);
        state.record_issued(&user_code);
        state.user_flows.lock().devices.insert(
            device_code.clone(),
            Device {
                client_id: config.id.clone(),
                user_code: user_code.clone(),
                scopes,
                exp: now_secs() + DEVICE_LIFETIME,
                interval,
                last_poll: None,
                decision: Decision::Pending,
            },
        );
        let verification_uri = state.endpoint("/device");
        Ok(oauth_json(
            StatusCode::OK,
            json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification_uri,
                "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
                "expires_in": DEVICE_LIFETIME,
                "interval": interval,
            }),
        ))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `XXXX-XXXX` from letters that cannot be misread (RFC 8628 §6.1).
fn user_code() -> String {
    use rand::Rng as _;
    const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut rng = rand::rngs::OsRng;
    let mut code = String::new();
    for i in 0..8 {
        if i == 4 {
            code.push('-');
        }
        code.push(LETTERS[rng.gen_range(0..LETTERS.len())] as char);
    }
    code
}

/// The device code of a user code, as typed (case and dash optional).
fn device_of(flows: &Flows, typed: &str) -> Option<String> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    let typed = norm(typed);
    (flows.devices.iter())
        .find(|(_, d)| {
            norm(&d.user_code) == typed && d.exp >= now_secs() && d.decision == Decision::Pending
        })
        .map(|(code, _)| code.clone())
}

fn user_code_page(prefill: &str, error: Option<&str>) -> Response {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>\n", esc(e))
    });
    let body = format!(
        "{error}<form method=\"post\" action=\"/device\">\n\
         <label>Code shown on your device <input name=\"user_code\" value=\"{}\"></label>\n\
         <button type=\"submit\">Continue</button>\n</form>",
        esc(prefill)
    );
    page(StatusCode::OK, "Connect a device", &body)
}

/// `GET /device`: where the user types the code.
pub(crate) async fn device_page(Query(q): Query<HashMap<String, String>>) -> Response {
    user_code_page(q.get("user_code").map_or("", String::as_str), None)
}

#[derive(Deserialize)]
pub(crate) struct UserCodeForm {
    user_code: String,
}

/// `POST /device`: a known code leads to the login page.
pub(crate) async fn device_code_entered(
    State(state): State<Arc<AppState>>,
    Form(form): Form<UserCodeForm>,
) -> Response {
    let mut flows = state.user_flows.lock();
    let Some(device_code) = device_of(&flows, &form.user_code) else {
        return user_code_page(&form.user_code, Some("That code is unknown or expired."));
    };
    let device = &flows.devices[&device_code];
    let login = Login {
        client_id: device.client_id.clone(),
        scopes: device.scopes.clone(),
        session: random_token(16),
        csrf: random_token(16),
        login_hint: None,
        user: None,
        exp: now_secs() + LOGIN_LIFETIME,
        for_what: Purpose::Device { device_code },
    };
    start_login(&state, &mut flows, login)
}

#[derive(Deserialize)]
pub(crate) struct Approval {
    user_code: String,
    username: String,
    #[serde(default = "yes")]
    approve: bool,
}

fn yes() -> bool {
    true
}

/// `POST /sandbox/device/approve` `{"user_code", "username", "approve"}`:
/// what the person at the device page would do, for tests.
pub(crate) async fn approve_device(
    State(state): State<Arc<AppState>>,
    axum::Json(approval): axum::Json<Approval>,
) -> Response {
    let mut flows = state.user_flows.lock();
    let Some(code) = device_of(&flows, &approval.user_code) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "unknown or expired user code"})),
        )
            .into_response();
    };
    if !state
        .config
        .users
        .iter()
        .any(|u| u.username == approval.username)
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unknown user"})),
        )
            .into_response();
    }
    if let Some(device) = flows.devices.get_mut(&code) {
        device.decision = if approval.approve {
            Decision::Approved(approval.username)
        } else {
            Decision::Denied
        };
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The device code grant: `authorization_pending` until the user decides,
/// `slow_down` to a client polling faster than `interval` (which grows by
/// 5 s), `access_denied`, `expired_token`, or the tokens, once.
pub(crate) fn poll_device(
    state: &AppState,
    client: &RegisteredClient,
    params: &Params,
) -> Result<Grant, OAuthError> {
    let code = params.require("device_code")?;
    let fault = state.take_fault(Group::Token, |k| {
        matches!(k, FaultKind::SlowDown | FaultKind::ExpiredToken).then(|| k.clone())
    });
    let mut flows = state.user_flows.lock();
    let now = now_secs();
    let device = flows
        .devices
        .get_mut(code)
        .filter(|d| d.client_id == client.id)
        .ok_or_else(|| {
            OAuthError::invalid_grant("the device code is unknown or was issued to another client")
        })?;
    if fault == Some(FaultKind::ExpiredToken) || device.exp < now {
        return Err(OAuthError::device(
            "expired_token",
            "the device code expired before it was approved",
        ));
    }
    let too_soon = device
        .last_poll
        .is_some_and(|last| now < last + device.interval);
    device.last_poll = Some(now);
    if fault == Some(FaultKind::SlowDown) || too_soon {
        device.interval += 5;
        return Err(OAuthError::device(
            "slow_down",
            "polling too fast: wait 5 more seconds between requests",
        ));
    }
    match device.decision.clone() {
        Decision::Pending => Err(OAuthError::device(
            "authorization_pending",
            "the user has not approved the device yet",
        )),
        Decision::Denied => {
            flows.devices.remove(code);
            Err(OAuthError::device(
                "access_denied",
                "the user denied the device",
            ))
        }
        Decision::Approved(sub) => {
            let device = flows.devices.remove(code).expect("found above");
            Ok(Grant {
                exchange: None,
                id_token_nonce: device.scopes.iter().any(|s| s == "openid").then_some(None),
                sub,
                scopes: device.scopes,
                aud: Vec::new(),
                family: None,
                with_refresh: client.grants.contains(&GrantType::RefreshToken),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str]) -> RegisteredClient {
        RegisteredClient {
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            ..crate::config::SandboxConfig::default().clients[0].clone()
        }
    }

    #[test]
    fn redirect_uris_match_exactly_or_on_any_loopback_port() {
        let c = client(&["http://127.0.0.1/callback", "https://app.example/cb"]);
        assert!(redirect_allowed(&c, "http://127.0.0.1:53117/callback"));
        assert!(redirect_allowed(&c, "https://app.example/cb"));
        for bad in [
            "http://127.0.0.1:53117/other",
            "https://app.example/cb/",
            "https://app.example:8443/cb",
            "http://localhost:53117/callback",
            "https://127.0.0.1:53117/callback",
            "not a url",
        ] {
            assert!(!redirect_allowed(&c, bad), "{bad}");
        }
    }
}
