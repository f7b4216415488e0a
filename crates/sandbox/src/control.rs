//! `/sandbox/*`: run-time fault control and stats. These endpoints are
//! never faulted and never counted.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::faults::parse_fault;
use crate::state::AppState;

/// `{"fault": "token:status=503,times=2"}` or `{"faults": [..]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddFaults {
    fault: Option<String>,
    #[serde(default)]
    faults: Vec<String>,
}

fn bad_request(msg: String) -> Response {
    let body = json!({ "error": "invalid_fault", "error_description": msg });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

pub(crate) async fn list_faults(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({ "faults": state.faults.list() })).into_response()
}

/// Adds all faults or, if any is invalid, none.
pub(crate) async fn add_faults(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let req: AddFaults = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(format!(
                "expected {{\"fault\": \"GROUP:KIND...\"}} or {{\"faults\": [...]}}: {e}"
            ))
        }
    };
    let specs: Vec<String> = req.fault.into_iter().chain(req.faults).collect();
    if specs.is_empty() {
        return bad_request("no fault given".into());
    }
    let parsed: Result<Vec<_>, String> = specs.iter().map(|s| parse_fault(s)).collect();
    let faults = match parsed {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let added: Vec<u64> = faults.into_iter().map(|f| state.faults.add(f)).collect();
    let body = json!({ "added": added, "faults": state.faults.list() });
    (StatusCode::CREATED, Json(body)).into_response()
}

pub(crate) async fn clear_faults(State(state): State<Arc<AppState>>) -> Response {
    state.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn stats(State(state): State<Arc<AppState>>) -> Response {
    Json(state.stats.snapshot()).into_response()
}

pub(crate) async fn reset_stats(State(state): State<Arc<AppState>>) -> Response {
    state.stats.reset();
    StatusCode::NO_CONTENT.into_response()
}
