//! Form parameters of OAuth endpoint requests
//! (`application/x-www-form-urlencoded`, RFC 6749 §3.2).

use std::collections::HashMap;

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;

use crate::oauth_error::OAuthError;

/// Parameters that may legitimately repeat (RFC 8707 `resource`).
const REPEATABLE: &[&str] = &["resource"];

#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, Vec<String>>,
}

impl Params {
    /// Parses the body; refuses other content types and repeated
    /// parameters ("MUST NOT be included more than once", RFC 6749 §3.2).
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            // An empty body without a content type is just "no parameters";
            // the caller then reports the missing one.
            if !body.is_empty() || !content_type.is_empty() {
                return Err(OAuthError::invalid_request(
                    "the request body must be application/x-www-form-urlencoded",
                ));
            }
        }
        let mut params = Params::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            // "Parameters sent without a value MUST be treated as if they
            // were omitted from the request" (RFC 6749 §3.1).
            if v.is_empty() {
                continue;
            }
            let list = params.values.entry(k.to_string()).or_default();
            if !list.is_empty() && !REPEATABLE.contains(&k.as_ref()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{k}` is included more than once"
                )));
            }
            list.push(v.into_owned());
        }
        Ok(params)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|l| l.first())
            .map(String::as_str)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter `{name}`")))
    }

    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}
