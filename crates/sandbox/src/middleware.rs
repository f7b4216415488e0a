//! The per-group layer in front of every endpoint group: counts the request,
//! then applies the response-level faults (`close`, `latency`,
//! `rate_limit`, `status`, `error_200`, `malformed_json`). Faults that
//! change OAuth semantics (`rotate_secret`, `remove_scope`,
//! `expires_in_ms`, `invalid_token`) act inside the handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::conn::ConnHandle;
use crate::faults::{FaultKind, Group};
use crate::oauth_error::set_no_store;
use crate::state::AppState;

/// Largest request body read (token requests are tiny).
const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub(crate) struct GroupState {
    pub app: Arc<AppState>,
    pub group: Group,
}

pub(crate) async fn group_layer(
    State(gs): State<GroupState>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = apply(&gs.app, gs.group, req, next).await;
    if gs.group.is_oauth_endpoint() {
        // Injected answers too: "every token endpoint response".
        set_no_store(resp.headers_mut());
    }
    resp
}

async fn apply(state: &AppState, group: Group, req: Request, next: Next) -> Response {
    let req = match count(state, group, req).await {
        Ok(req) => req,
        Err(resp) => return resp,
    };

    if state
        .take_fault(group, |k| matches!(k, FaultKind::Close).then_some(()))
        .is_some()
    {
        if let Some(ConnectInfo(conn)) = req.extensions().get::<ConnectInfo<ConnHandle>>() {
            conn.kill();
        }
        // Never written: the connection is dead.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }

    // Several latency faults add up; each of them acts.
    let delays = state.take_all_faults(group, |k| match k {
        FaultKind::Latency(d) => Some(*d),
        _ => None,
    });
    let delay: Duration = delays.into_iter().sum();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    if let Some(retry_after) = state.faults.check_rate_limit(group, Instant::now()) {
        state.stats.count_fault();
        return injected_status(StatusCode::TOO_MANY_REQUESTS, Some(retry_after));
    }

    let status = state.take_fault(group, |k| match k {
        FaultKind::Status {
            status,
            retry_after,
        } => Some((*status, *retry_after)),
        _ => None,
    });
    if let Some((status, retry_after)) = status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return injected_status(status, retry_after);
    }

    if state
        .take_fault(group, |k| matches!(k, FaultKind::Error200).then_some(()))
        .is_some()
    {
        return Json(json!({ "error": "access denied" })).into_response();
    }

    let resp = next.run(req).await;

    if state
        .take_fault(group, |k| {
            matches!(k, FaultKind::MalformedJson).then_some(())
        })
        .is_some()
    {
        return truncate_body(resp).await;
    }
    resp
}

/// Counts the request; for the token group also its `grant_type`, which
/// means reading the body and putting it back for the handler.
async fn count(state: &AppState, group: Group, req: Request) -> Result<Request, Response> {
    if group != Group::Token {
        state.stats.count_request(group, None);
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            state.stats.count_request(group, None);
            let body = json!({
                "error": "invalid_request",
                "error_description": "request body too large or unreadable",
            });
            return Err((StatusCode::BAD_REQUEST, Json(body)).into_response());
        }
    };
    let grant_type = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned());
    state.stats.count_request(group, grant_type.as_deref());
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn injected_status(status: StatusCode, retry_after: Option<u64>) -> Response {
    let error = match status.as_u16() {
        429 => "too_many_requests",
        503 => "temporarily_unavailable",
        500..=599 => "server_error",
        _ => "invalid_request",
    };
    let body = json!({
        "error": error,
        "error_description": format!("injected fault: HTTP {}", status.as_u16()),
    });
    let mut resp = (status, Json(body)).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Cuts the body in half: a JSON object missing its end never parses, and
/// a truncated body is what a broken proxy really produces.
async fn truncate_body(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let cut = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(cut))
}
