//! Authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0).

use std::time::Duration;

use crate::http::Http;

#[derive(Debug, Clone)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    /// RFC 9207: authorization responses carry `iss`, which must be checked.
    pub iss_in_authorization_response: bool,
}

/// The metadata URLs for an issuer, in the order they are tried: RFC 8414
/// inserts its well-known path between host and path; OpenID appends its own.
pub fn metadata_urls(issuer: &str) -> Result<Vec<String>, String> {
    let url =
        url::Url::parse(issuer).map_err(|e| format!("issuer {issuer:?} is not a URL: {e}"))?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    Ok(vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ])
}

/// Fetches and validates the metadata: its `issuer` must be the one asked for.
pub async fn fetch(http: &Http, issuer: &str, timeout: Duration) -> Result<Metadata, String> {
    let mut problems = Vec::new();
    for url in metadata_urls(issuer)? {
        let exchange = match http.send(http.client(&url).get(&url), timeout).await {
            Ok(x) => x,
            Err(e) => {
                problems.push(e.message);
                continue;
            }
        };
        if exchange.status != 200 {
            problems.push(format!("{url} answered {}", exchange.status));
            continue;
        }
        let doc: serde_json::Value = serde_json::from_slice(&exchange.body)
            .map_err(|e| format!("{url} is not JSON metadata: {e}"))?;
        let found = doc
            .get("issuer")
            .and_then(|i| i.as_str())
            .unwrap_or_default();
        if found != issuer {
            return Err(format!(
                "{url} names issuer {found:?}, not {issuer:?}; metadata refused (RFC 8414 §3.3)"
            ));
        }
        let field = |name: &str| doc.get(name).and_then(|v| v.as_str()).map(str::to_string);
        return Ok(Metadata {
            issuer: found.to_string(),
            token_endpoint: field("token_endpoint"),
            jwks_uri: field("jwks_uri"),
            authorization_endpoint: field("authorization_endpoint"),
            device_authorization_endpoint: field("device_authorization_endpoint"),
            iss_in_authorization_response: doc
                .get("authorization_response_iss_parameter_supported")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        });
    }
    Err(format!(
        "no metadata for issuer {issuer}: {}",
        problems.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_paths_follow_both_standards() {
        assert_eq!(
            metadata_urls("https://as.example/tenant1").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_urls("http://127.0.0.1:9000").unwrap(),
            [
                "http://127.0.0.1:9000/.well-known/oauth-authorization-server",
                "http://127.0.0.1:9000/.well-known/openid-configuration"
            ]
        );
    }
}
