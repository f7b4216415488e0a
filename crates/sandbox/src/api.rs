//! The protected demo API (`/v1/*`) and its RFC 6750 bearer token checks.

use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::http::{Method, Uri};

use crate::conn::ConnHandle;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::errors::ErrorKind;
use serde::Serialize;
use serde_json::json;

use crate::faults::{FaultKind, Group};
use crate::state::AppState;
use crate::tls::ClientCert;
use crate::token::{verify_access_token, AccessClaims};

pub(crate) const SCOPE_READ: &str = "orders:read";
pub(crate) const SCOPE_WRITE: &str = "orders:write";
pub(crate) const SCOPE_ADMIN: &str = "orders:admin";

/// Authorization schemes accepted for access tokens (compared
/// case-insensitively). Zoho uses its own scheme name for bearer tokens.
const SCHEMES: [&str; 3] = ["bearer", "zoho-oauthtoken", "dpop"];

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Order {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub total_cents: u64,
    pub currency: String,
    pub on_hold: bool,
}

pub(crate) fn demo_orders() -> Vec<Order> {
    let order = |id: &str, customer: &str, status: &str, total_cents, on_hold| Order {
        id: id.into(),
        customer: customer.into(),
        status: status.into(),
        total_cents,
        currency: "EUR".into(),
        on_hold,
    };
    vec![
        order("ord_1001", "alice", "shipped", 12_990, false),
        order("ord_1002", "bob", "processing", 4_500, true),
        order("ord_1003", "alice", "pending", 30_000, true),
    ]
}

/// An RFC 6750 §3 error: the status, a `WWW-Authenticate: Bearer`
/// challenge and a JSON body.
struct BearerError {
    status: StatusCode,
    /// `None`: the request had no credentials; the bare challenge is sent.
    error: Option<&'static str>,
    description: String,
    scope: Option<&'static str>,
    /// A `DPoP` challenge (RFC 9449 §7.1), with the nonce to use if any.
    dpop: Option<Option<String>>,
}

impl BearerError {
    fn missing() -> Self {
        BearerError {
            status: StatusCode::UNAUTHORIZED,
            error: None,
            description: "missing bearer token".into(),
            scope: None,
            dpop: None,
        }
    }

    fn invalid_token(description: impl Into<String>) -> Self {
        BearerError {
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_token"),
            description: description.into(),
            scope: None,
            dpop: None,
        }
    }

    /// A refusal of a DPoP-bound token or its proof.
    fn dpop(state: &AppState, error: &'static str, description: impl Into<String>) -> Self {
        BearerError {
            dpop: Some(state.config.dpop_nonce.then(|| state.dpop_nonce.clone())),
            error: Some(error),
            ..BearerError::invalid_token(description)
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let scheme = if self.dpop.is_some() {
            "DPoP"
        } else {
            "Bearer"
        };
        let mut challenge = format!("{scheme} realm=\"sandbox\"");
        if let Some(error) = self.error {
            challenge.push_str(&format!(", error=\"{error}\""));
            match self.scope {
                Some(scope) => challenge.push_str(&format!(", scope=\"{scope}\"")),
                None => {
                    // A quoted-string may not hold `"` or controls (RFC 6750
                    // §3 restricts error_description to plain ASCII).
                    let safe: String = self
                        .description
                        .chars()
                        .map(|c| {
                            if c == '"' || c == '\\' || !(' '..='~').contains(&c) {
                                '\''
                            } else {
                                c
                            }
                        })
                        .collect();
                    challenge.push_str(&format!(", error_description=\"{safe}\""));
                }
            }
        }
        let body = json!({
            "error": self.error.unwrap_or("unauthorized"),
            "error_description": self.description,
        });
        let mut resp = (self.status, Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        if let Some(Some(nonce)) = &self.dpop {
            if let Ok(v) = HeaderValue::from_str(nonce) {
                resp.headers_mut().insert("dpop-nonce", v);
            }
        }
        resp
    }
}

/// What a request presents besides its token, for a bound token's checks:
/// its method and URI (for a DPoP proof) and its TLS client certificate.
pub(crate) struct Presented {
    method: Method,
    uri: Uri,
    peer_cert: Option<Arc<ClientCert>>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Presented {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let conn = parts.extensions.get::<ConnectInfo<ConnHandle>>();
        Ok(Presented {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            peer_cert: conn.and_then(|c| c.0.peer_cert.clone()),
        })
    }
}

/// Checks the request's access token (with its proof, when bound) and
/// that it grants `scope`.
fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scope: &'static str,
    request: &Presented,
) -> Result<AccessClaims, BearerError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(BearerError::missing());
    };
    let malformed = || BearerError {
        status: StatusCode::BAD_REQUEST,
        error: Some("invalid_request"),
        description: "malformed Authorization header".into(),
        scope: None,
        dpop: None,
    };
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !SCHEMES.iter().any(|s| scheme.eq_ignore_ascii_case(s)) {
        // Other schemes (Basic, ...) carry no bearer token at all.
        return Err(BearerError::missing());
    }
    let token = token.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(malformed());
    }

    let claims = verify_access_token(state, token, Some(&state.config.audience)).map_err(|e| {
        BearerError::invalid_token(match e.kind() {
            ErrorKind::ExpiredSignature => "the access token expired".to_string(),
            ErrorKind::InvalidAudience => {
                format!(
                    "the access token is not for this API (aud must include {})",
                    state.config.audience
                )
            }
            ErrorKind::InvalidIssuer => "the access token was issued by another server".to_string(),
            ErrorKind::InvalidSignature => "the access token signature is invalid".to_string(),
            _ => "the access token is malformed".to_string(),
        })
    })?;
    // RFC 9449 §7: a bound token only with a proof by its key.
    let jkt = (claims.cnf.as_ref())
        .and_then(|c| c.get("jkt"))
        .and_then(|j| j.as_str());
    // RFC 8705 §3: a certificate-bound token only over its certificate.
    let x5t = (claims.cnf.as_ref())
        .and_then(|c| c.get("x5t#S256"))
        .and_then(|t| t.as_str());
    if let Some(x5t) = x5t {
        let presented = request.peer_cert.as_deref().map(ClientCert::thumbprint);
        if presented.as_deref() != Some(x5t) {
            return Err(BearerError::invalid_token(
                "the token is bound to a client certificate this request does not present",
            ));
        }
    }
    let restless = jkt.is_some()
        && (state.take_fault(Group::Api, |k| {
            matches!(k, FaultKind::NewDpopNonce).then_some(())
        }))
        .is_some();
    if restless {
        return Err(BearerError {
            dpop: Some(Some(crate::keys::random_token(12))),
            ..BearerError::dpop(
                state,
                "use_dpop_nonce",
                "send the proof again with this nonce",
            )
        });
    }
    match (jkt, scheme.eq_ignore_ascii_case("dpop")) {
        (Some(jkt), true) => {
            let url = state.endpoint(request.uri.path());
            match crate::dpop::verify(state, headers, request.method.as_str(), &url, Some(token)) {
                Ok(Some(key)) if key == jkt => {}
                Ok(Some(_)) => {
                    return Err(BearerError::dpop(
                        state,
                        "invalid_token",
                        "the proof is not by the token's key",
                    ))
                }
                Ok(None) => {
                    return Err(BearerError::dpop(
                        state,
                        "invalid_dpop_proof",
                        "a DPoP-bound token needs a DPoP proof",
                    ))
                }
                Err(refused) => {
                    return Err(BearerError::dpop(state, refused.error, refused.description))
                }
            }
        }
        (Some(_), false) => {
            return Err(BearerError::dpop(
                state,
                "invalid_token",
                "a DPoP-bound token was sent as a bearer token",
            ))
        }
        (None, true) => return Err(BearerError::invalid_token("the token is not DPoP-bound")),
        (None, false) => {}
    }
    if state.tokens.is_revoked(&claims.jti) {
        return Err(BearerError::invalid_token("the access token was revoked"));
    }
    let injected = state.take_fault(Group::Api, |k| {
        matches!(k, FaultKind::InvalidToken).then_some(())
    });
    if injected.is_some() {
        return Err(BearerError::invalid_token(
            "the access token was revoked (injected fault)",
        ));
    }
    if !claims.scopes().any(|s| s == scope) {
        return Err(BearerError {
            status: StatusCode::FORBIDDEN,
            error: Some("insufficient_scope"),
            description: format!("this request needs the scope {scope}"),
            scope: Some(scope),
            dpop: None,
        });
    }
    Ok(claims)
}

fn not_found(id: &str) -> Response {
    let body = json!({ "error": "not_found", "error_description": format!("no order {id}") });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn lock_orders(state: &AppState) -> std::sync::MutexGuard<'_, Vec<Order>> {
    state.orders.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) async fn health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

pub(crate) async fn list_orders(
    State(state): State<Arc<AppState>>,
    presented: Presented,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = authorize(&state, &headers, SCOPE_READ, &presented) {
        return e.into_response();
    }
    let orders = lock_orders(&state).clone();
    Json(json!({ "orders": orders })).into_response()
}

pub(crate) async fn get_order(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    presented: Presented,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = authorize(&state, &headers, SCOPE_READ, &presented) {
        return e.into_response();
    }
    let order = lock_orders(&state).iter().find(|o| o.id == id).cloned();
    match order {
        Some(o) => Json(o).into_response(),
        None => not_found(&id),
    }
}

/// Releases an order's hold; idempotent, answers the updated order.
pub(crate) async fn release_hold(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    presented: Presented,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = authorize(&state, &headers, SCOPE_WRITE, &presented) {
        return e.into_response();
    }
    let mut orders = lock_orders(&state);
    match orders.iter_mut().find(|o| o.id == id) {
        Some(o) => {
            o.on_hold = false;
            Json(o.clone()).into_response()
        }
        None => not_found(&id),
    }
}

/// `GET /v1/whoami`: the verified token's subject, client, scope and
/// `cnf` (what a bound token is bound to), as APIs' `/me` answer.
pub(crate) async fn whoami(
    State(state): State<Arc<AppState>>,
    presented: Presented,
    headers: HeaderMap,
) -> Response {
    match authorize(&state, &headers, SCOPE_READ, &presented) {
        Ok(claims) => Json(json!({
            "sub": claims.sub,
            "client_id": claims.client_id,
            "scope": claims.scope,
            "cnf": claims.cnf,
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn admin_stats(
    State(state): State<Arc<AppState>>,
    presented: Presented,
    headers: HeaderMap,
) -> Response {
    let claims = match authorize(&state, &headers, SCOPE_ADMIN, &presented) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let (total, on_hold) = {
        let orders = lock_orders(&state);
        (orders.len(), orders.iter().filter(|o| o.on_hold).count())
    };
    Json(json!({
        "orders": total,
        "on_hold": on_hold,
        "api_requests": state.stats.snapshot().api,
        "requested_by": claims.client_id,
    }))
    .into_response()
}
