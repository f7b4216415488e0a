//! `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke`
//! (RFC 7009). Both require client authentication like the token endpoint.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::client_auth::authenticate;
use crate::conn::ConnHandle;
use crate::oauth_error::{oauth_json, set_no_store, OAuthError};
use crate::params::Params;
use crate::state::AppState;
use crate::store::now_secs;
use crate::tls::ClientCert;
use crate::token::verify_access_token;

pub(crate) async fn introspect_endpoint(
    State(state): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    introspect(&state, &headers, &body, conn.peer_cert.as_deref())
        .unwrap_or_else(IntoResponse::into_response)
}

fn introspect(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    peer_cert: Option<&ClientCert>,
) -> Result<Response, OAuthError> {
    let params = Params::parse(headers, body)?;
    authenticate(
        state,
        headers,
        &params,
        &state.endpoint("/oauth2/introspect"),
        peer_cert,
    )?;
    let token = params.require("token")?;
    // `token_type_hint` only speeds up a lookup; both kinds are tried.
    Ok(oauth_json(StatusCode::OK, describe(state, token)))
}

/// The RFC 7662 answer for `token`; any authenticated client may ask.
fn describe(state: &AppState, token: &str) -> Value {
    if let Ok(claims) = verify_access_token(state, token, None) {
        if !state.tokens.is_revoked(&claims.jti) {
            // RFC 9449 §6.2 / RFC 8705 §3.2: what a bound token is bound to.
            let token_type = match claims.cnf.as_ref().and_then(|c| c.get("jkt")) {
                Some(_) => "DPoP",
                None => "Bearer",
            };
            return json!({
                "active": true,
                "token_type": token_type,
                "cnf": claims.cnf,
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "aud": claims.aud,
                "iss": claims.iss,
                "exp": claims.exp,
                "iat": claims.iat,
                "jti": claims.jti,
            });
        }
    }
    if let Some(r) = state.tokens.active_refresh(token, now_secs()) {
        let aud = match r.aud.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        return json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": r.scopes.join(" "),
            "client_id": r.client_id,
            "sub": r.sub,
            "aud": aud,
            "iss": state.issuer,
            "exp": r.exp,
            "iat": r.iat,
        });
    }
    json!({ "active": false })
}

pub(crate) async fn revoke_endpoint(
    State(state): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    revoke(&state, &headers, &body, conn.peer_cert.as_deref())
        .unwrap_or_else(IntoResponse::into_response)
}

fn revoke(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    peer_cert: Option<&ClientCert>,
) -> Result<Response, OAuthError> {
    let params = Params::parse(headers, body)?;
    let revoke_url = state.endpoint("/oauth2/revoke");
    let client = authenticate(state, headers, &params, &revoke_url, peer_cert)?;
    let token = params.require("token")?;
    // RFC 7009 §2.1: a client may only revoke its own tokens.
    let not_yours = || OAuthError::unauthorized_client("the token was issued to another client");
    if let Ok(claims) = verify_access_token(state, token, None) {
        if claims.client_id != client.id {
            return Err(not_yours());
        }
        state.tokens.revoke_access(&claims.jti, claims.exp);
    } else if let Some(owner) = state.tokens.refresh_owner(token) {
        if owner != client.id {
            return Err(not_yours());
        }
        state.tokens.revoke_refresh(token);
    }
    // Unknown, expired or already revoked tokens also get 200 (§2.2).
    let mut resp = StatusCode::OK.into_response();
    set_no_store(resp.headers_mut());
    Ok(resp)
}
