//! OAuth endpoint responses: RFC 6749 §5.2 error bodies and the
//! `Cache-Control: no-store` / `Pragma: no-cache` headers every token,
//! introspection and revocation response carries.

use axum::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// The client tried HTTP Basic: RFC 6749 §5.2 then requires 401 with a
    /// `WWW-Authenticate: Basic` challenge.
    pub basic_challenge: bool,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }

    /// Always 401; with the Basic challenge when Basic auth was attempted.
    pub fn invalid_client(d: impl Into<String>, basic: bool) -> Self {
        OAuthError {
            basic_challenge: basic,
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
        }
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }

    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
    }

    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }

    /// A device-code poll's answer (RFC 8628 §3.5): `authorization_pending`,
    /// `slow_down`, `access_denied` or `expired_token`.
    pub fn device(error: &'static str, d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, d)
    }

    pub fn server_error(d: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", d)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = oauth_json(
            self.status,
            json!({ "error": self.error, "error_description": rfc6749_text(&self.description) }),
        );
        if self.basic_challenge {
            resp.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sandbox\""),
            );
        }
        resp
    }
}

/// A JSON response with the no-store headers.
pub(crate) fn oauth_json(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, Json(body)).into_response();
    set_no_store(resp.headers_mut());
    resp
}

pub(crate) fn set_no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// RFC 6749 §5.2 limits `error_description` to printable ASCII without `"`
/// and `\`; descriptions may quote client input, so replace the rest.
fn rfc6749_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_restricted_to_the_rfc_charset() {
        assert_eq!(rfc6749_text("grant `x\"é\\`"), "grant `x'?'`");
    }
}
