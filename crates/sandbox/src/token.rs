//! `POST /oauth2/token`: the `client_credentials`, `password` and
//! `refresh_token` grants (the user grants' checks are in `authorize.rs`),
//! and the access and ID token (JWT) formats.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client_auth::{authenticate, AuthenticatedClient};
use crate::config::{ClientAuthMethod, GrantType, RegisteredClient};
use crate::conn::ConnHandle;
use crate::faults::{FaultKind, Group};
use crate::keys::random_token;
use crate::oauth_error::{oauth_json, OAuthError};
use crate::params::Params;
use crate::state::AppState;
use crate::store::{now_secs, RefreshRecord, RefreshState};
use crate::tls::ClientCert;

/// Claims of the sandbox's access tokens (RFC 9068 shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub iss: String,
    pub sub: String,
    /// A string for one audience, an array for several.
    pub aud: Value,
    pub client_id: String,
    /// Space-separated granted scopes.
    pub scope: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    /// RFC 9449 §6: `{"jkt": ...}` for a DPoP-bound token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Value>,
    /// RFC 8693 §4.1: who acts for the subject, after an exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Value>,
}

impl AccessClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_whitespace()
    }
}

pub(crate) async fn token_endpoint(
    State(state): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.contains_key("dpop") {
        let restless = state.take_fault(Group::Token, |k| {
            matches!(k, FaultKind::NewDpopNonce).then_some(())
        });
        if restless.is_some() {
            return crate::dpop::restless_nonce();
        }
    }
    let jkt = match crate::dpop::verify(&state, &headers, "POST", &state.token_endpoint(), None) {
        Ok(jkt) => jkt,
        Err(refused) => return crate::dpop::token_refusal(&state, refused),
    };
    match handle(&state, &headers, &body, conn.peer_cert.as_deref(), jkt) {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// What a grant decided; `issue` turns it into tokens.
pub(crate) struct Grant {
    pub sub: String,
    pub scopes: Vec<String>,
    pub aud: Vec<String>,
    /// Refresh token family to continue, for the refresh grant.
    pub family: Option<u64>,
    pub with_refresh: bool,
    /// For an OpenID Connect grant (`openid` scope), an ID token with this
    /// nonce (or none).
    pub id_token_nonce: Option<Option<String>>,
    /// A token exchange's `act` claim (the actor's, if one acts).
    pub exchange: Option<Option<Value>>,
}

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Claims of the sandbox's ID tokens (OpenID Connect Core §2).
#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    peer_cert: Option<&ClientCert>,
    jkt: Option<String>,
) -> Result<Response, OAuthError> {
    let params = Params::parse(headers, body)?;
    let grant_type = params.require("grant_type")?;
    let jwt_bearer = GrantType::parse(grant_type) == Some(GrantType::JwtBearer);
    let client = if jwt_bearer && crate::client_auth::no_credentials(headers, &params) {
        crate::client_auth::assertion_issuer(state, params.require("assertion")?)?
    } else {
        authenticate(state, headers, &params, &state.token_endpoint(), peer_cert)?
    };
    let grant = GrantType::parse(grant_type).ok_or_else(|| {
        OAuthError::unsupported_grant_type(format!("grant_type `{grant_type}` is not supported"))
    })?;
    let config = state
        .client(&client.id)
        .ok_or_else(|| OAuthError::server_error("authenticated client vanished"))?;
    if !config.grants.contains(&grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "client `{}` may not use the {} grant",
            client.id,
            grant.as_str()
        )));
    }
    let requested_aud = requested_audience(&params);
    let grant = match grant {
        GrantType::ClientCredentials => {
            client_credentials(state, &client, config, &params, requested_aud)?
        }
        GrantType::Password => password(state, config, &params, requested_aud)?,
        GrantType::RefreshToken => {
            let public = client.method == ClientAuthMethod::None;
            refresh(
                state,
                config,
                &params,
                requested_aud,
                jkt.as_deref().filter(|_| public),
                public,
            )?
        }
        GrantType::AuthorizationCode => crate::authorize::redeem_code(state, config, &params)?,
        GrantType::DeviceCode => crate::authorize::poll_device(state, config, &params)?,
        GrantType::TokenExchange => token_exchange(state, config, &params, requested_aud)?,
        GrantType::JwtBearer => {
            let assertion = params.require("assertion")?;
            let sub = crate::client_auth::verify_grant_assertion(state, &config.id, assertion)?;
            let allowed = state.effective_scopes(config);
            Grant {
                sub,
                scopes: resolve_scopes(&params, &allowed, &format!("client `{}`", config.id))?,
                aud: requested_aud,
                family: None,
                // RFC 7523 §2.1: a new assertion, not a refresh token.
                with_refresh: false,
                exchange: None,
                id_token_nonce: None,
            }
        }
    };
    // RFC 8705 §3: a token asked for over a client certificate is bound
    // to it.
    let x5t = peer_cert.map(ClientCert::thumbprint);
    issue(state, config, grant, jkt, x5t)
}

/// `audience` (a common extension) and RFC 8707 `resource` values; empty
/// when neither was sent.
fn requested_audience(params: &Params) -> Vec<String> {
    let mut aud: Vec<String> = params
        .get("audience")
        .map(str::to_string)
        .into_iter()
        .collect();
    for r in params.all("resource") {
        if !aud.contains(r) {
            aud.push(r.clone());
        }
    }
    aud
}

/// Checks the requested scopes against `allowed`; no `scope` parameter
/// means all of `allowed`.
fn resolve_scopes(
    params: &Params,
    allowed: &[String],
    owner: &str,
) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = params.get("scope") else {
        return Ok(allowed.to_vec());
    };
    let mut scopes: Vec<String> = Vec::new();
    for s in requested.split_whitespace() {
        if !allowed.iter().any(|a| a == s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{s}` is not allowed for {owner}"
            )));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    Ok(scopes)
}

fn client_credentials(
    state: &AppState,
    client: &AuthenticatedClient,
    config: &RegisteredClient,
    params: &Params,
    aud: Vec<String>,
) -> Result<Grant, OAuthError> {
    // RFC 6749 §4.4: only confidential clients may use this grant.
    if client.method == ClientAuthMethod::None {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use the client_credentials grant",
        ));
    }
    let allowed = state.effective_scopes(config);
    let scopes = resolve_scopes(params, &allowed, &format!("client `{}`", config.id))?;
    Ok(Grant {
        sub: config.id.clone(),
        scopes,
        aud,
        family: None,
        // RFC 6749 §4.4.3: a refresh token SHOULD NOT be included.
        with_refresh: false,
        exchange: None,
        id_token_nonce: None,
    })
}

fn password(
    state: &AppState,
    config: &RegisteredClient,
    params: &Params,
    aud: Vec<String>,
) -> Result<Grant, OAuthError> {
    let username = params.require("username")?;
    let password = params.require("password")?;
    let ok = state
        .config
        .users
        .iter()
        .any(|u| u.username == username && u.password == password);
    if !ok {
        return Err(OAuthError::invalid_grant("invalid username or password"));
    }
    let allowed = state.effective_scopes(config);
    let scopes = resolve_scopes(params, &allowed, &format!("client `{}`", config.id))?;
    Ok(Grant {
        sub: username.to_string(),
        scopes,
        aud,
        family: None,
        with_refresh: config.grants.contains(&GrantType::RefreshToken),
        exchange: None,
        id_token_nonce: None,
    })
}

/// `public`: the client does not authenticate, so a refresh token bound
/// to a DPoP key needs a proof by it (`jkt`, the proof's key, if any).
fn refresh(
    state: &AppState,
    config: &RegisteredClient,
    params: &Params,
    aud: Vec<String>,
    jkt: Option<&str>,
    public: bool,
) -> Result<Grant, OAuthError> {
    let token = params.require("refresh_token")?;
    let now = now_secs();
    // Validate everything before redeeming, so a bad `scope` does not burn
    // the refresh token.
    let record = state
        .tokens
        .check_refresh(token, &config.id, now)
        .map_err(OAuthError::invalid_grant)?;
    if public && record.jkt.is_some() && record.jkt.as_deref() != jkt {
        return Err(OAuthError::invalid_grant(
            "the refresh token is bound to a DPoP key this request does not prove",
        ));
    }
    // A refresh can narrow the original grant, never widen it (RFC 6749
    // §6), and a scope removed from the client since is dropped.
    let scopes = resolve_scopes(params, &record.scopes, "this refresh token")?;
    let mut current = state.effective_scopes(config);
    // `openid` is the provider's, not a client scope (see authorize.rs).
    current.push("openid".into());
    if let Some(gone) = scopes.iter().find(|s| !current.contains(s)) {
        if params.get("scope").is_some() {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{gone}` is no longer allowed for client `{}`",
                config.id
            )));
        }
    }
    let scopes = scopes.into_iter().filter(|s| current.contains(s)).collect();
    // Rotation spends the token; without it (Zoho, Google) it stays valid
    // and the response carries no new one.
    let rotate = state.config.rotate_refresh_tokens;
    let record = if rotate {
        state
            .tokens
            .redeem_refresh(token, &config.id, now)
            .map_err(OAuthError::invalid_grant)?
    } else {
        record
    };
    Ok(Grant {
        sub: record.sub,
        scopes,
        aud: if aud.is_empty() { record.aud } else { aud },
        family: Some(record.family),
        with_refresh: rotate,
        exchange: None,
        id_token_nonce: None,
    })
}

/// RFC 8693: an access token of this sandbox traded for another, for the
/// same subject (and `act`, when an actor token says who acts), within
/// the subject token's and the client's scopes.
fn token_exchange(
    state: &AppState,
    config: &RegisteredClient,
    params: &Params,
    aud: Vec<String>,
) -> Result<Grant, OAuthError> {
    let token_of = |token: &str, kind: Option<&str>, what: &str| {
        if kind != Some(ACCESS_TOKEN_TYPE) {
            return Err(OAuthError::invalid_request(format!(
                "{what}_token_type must be {ACCESS_TOKEN_TYPE}"
            )));
        }
        let claims = verify_access_token(state, token, None).map_err(|_| {
            OAuthError::invalid_grant(format!(
                "the {what}_token is not a valid token of this server"
            ))
        })?;
        if state.tokens.is_revoked(&claims.jti) {
            return Err(OAuthError::invalid_grant(format!(
                "the {what}_token was revoked"
            )));
        }
        // Its proof would be owed to the token's holder, not to us.
        if claims.cnf.is_some() {
            return Err(OAuthError::invalid_grant(format!(
                "the {what}_token is DPoP-bound: a bound token is not traded here"
            )));
        }
        Ok(claims)
    };
    let subject = token_of(
        params.require("subject_token")?,
        params.get("subject_token_type"),
        "subject",
    )?;
    let actor = match params.get("actor_token") {
        Some(token) => Some(token_of(token, params.get("actor_token_type"), "actor")?),
        None => None,
    };
    if let Some(kind) = params
        .get("requested_token_type")
        .filter(|k| *k != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type {kind} cannot be issued here (only {ACCESS_TOKEN_TYPE})"
        )));
    }
    // No more than the subject's token could do, nor the client may get.
    let allowed = state.effective_scopes(config);
    let within: Vec<String> = (subject.scope.split_whitespace())
        .filter(|s| allowed.iter().any(|a| a == s))
        .map(str::to_string)
        .collect();
    let scopes = resolve_scopes(params, &within, "the subject token and this client")?;
    Ok(Grant {
        sub: subject.sub,
        scopes,
        aud,
        family: None,
        with_refresh: false,
        exchange: Some(actor.map(|a| json!({ "sub": a.sub }))),
        id_token_nonce: None,
    })
}

/// The tokens of a grant; with a verified DPoP proof's `jkt`, bound to
/// its key (`token_type` DPoP), unless a fault says otherwise.
fn issue(
    state: &AppState,
    config: &RegisteredClient,
    grant: Grant,
    jkt: Option<String>,
    x5t: Option<String>,
) -> Result<Response, OAuthError> {
    let unbound = jkt.is_some()
        && (state.take_fault(Group::Token, |k| {
            matches!(k, FaultKind::UnboundDpop).then_some(())
        }))
        .is_some();
    let jkt = jkt.filter(|_| !unbound);
    let now = now_secs();
    let lifetime = state.config.token_lifetime;
    let aud = if grant.aud.is_empty() {
        vec![state.config.audience.clone()]
    } else {
        grant.aud
    };
    let claims = AccessClaims {
        iss: state.issuer.clone(),
        sub: grant.sub.clone(),
        aud: match aud.as_slice() {
            [one] => Value::String(one.clone()),
            many => json!(many),
        },
        client_id: config.id.clone(),
        scope: grant.scopes.join(" "),
        iat: now,
        exp: now + lifetime,
        jti: random_token(16),
        cnf: confirmation(jkt.as_deref(), x5t.as_deref()),
        act: grant.exchange.clone().flatten(),
    };
    let access_token = state
        .signing
        .sign(&claims)
        .map_err(OAuthError::server_error)?;
    state.stats.count_token_issued(&config.id, &claims.sub);

    let shape = state.take_fault(Group::Token, |k| {
        matches!(k, FaultKind::ExpiresInMs | FaultKind::ExpiresInSec).then(|| k.clone())
    });
    let mut body = json!({
        "access_token": access_token,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": if shape.is_some() { lifetime * 1000 } else { lifetime },
        "scope": claims.scope,
    });
    if shape == Some(FaultKind::ExpiresInSec) {
        body["expires_in_sec"] = json!(lifetime);
    }
    let family = (grant.family).or_else(|| grant.with_refresh.then(|| state.tokens.new_family()));
    if let Some(family) = family {
        state.tokens.record_access(family, &claims.jti, claims.exp);
    }
    if grant.exchange.is_some() {
        body["issued_token_type"] = json!(ACCESS_TOKEN_TYPE);
    }
    if let Some(nonce) = &grant.id_token_nonce {
        let id_token = state
            .signing
            .sign(&IdClaims {
                iss: &state.issuer,
                sub: &grant.sub,
                aud: &config.id,
                iat: now,
                exp: now + lifetime,
                auth_time: now,
                nonce: nonce.as_deref(),
            })
            .map_err(OAuthError::server_error)?;
        state.record_issued(&id_token);
        body["id_token"] = Value::String(id_token);
    }
    if let (true, Some(family)) = (grant.with_refresh, family) {
        let refresh_token = random_token(32);
        state.tokens.insert_refresh(
            refresh_token.clone(),
            RefreshRecord {
                client_id: config.id.clone(),
                sub: grant.sub,
                scopes: grant.scopes,
                aud,
                iat: now,
                exp: now + state.config.refresh_token_lifetime,
                family,
                state: RefreshState::Active,
                jkt: jkt.clone(),
            },
        );
        state.record_issued(&refresh_token);
        body["refresh_token"] = Value::String(refresh_token);
    }
    state.record_issued(&access_token);
    Ok(oauth_json(StatusCode::OK, body))
}

/// RFC 7800 `cnf`: the DPoP key's and the client certificate's
/// thumbprints the token is bound to, if any.
fn confirmation(jkt: Option<&str>, x5t: Option<&str>) -> Option<Value> {
    let mut cnf = serde_json::Map::new();
    if let Some(jkt) = jkt {
        cnf.insert("jkt".into(), json!(jkt));
    }
    if let Some(x5t) = x5t {
        cnf.insert("x5t#S256".into(), json!(x5t));
    }
    (!cnf.is_empty()).then_some(Value::Object(cnf))
}

/// Verifies an access token issued by this sandbox: RS256 signature with
/// our key, `iss`, and `exp` (no leeway, so short lifetimes test exactly).
/// `audience`: the `aud` it must contain, or `None` to accept any.
/// Revocation is the caller's business.
pub(crate) fn verify_access_token(
    state: &AppState,
    token: &str,
    audience: Option<&str>,
) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.leeway = 0;
    validation.set_issuer(&[state.issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    match audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    jsonwebtoken::decode::<AccessClaims>(token, state.signing.decoding_key(), &validation)
        .map(|d| d.claims)
}
