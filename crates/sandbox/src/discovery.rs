//! Authorization server metadata (RFC 8414 / OpenID Connect Discovery)
//! and the JWK set.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::config::{ClientAuthMethod, GrantType};
use crate::keys::{alg_name, ASSERTION_ALGS};
use crate::state::AppState;

/// Served at both `/.well-known/openid-configuration` and
/// `/.well-known/oauth-authorization-server`.
pub(crate) async fn metadata(State(state): State<Arc<AppState>>) -> Response {
    // Certificate methods as far as the TLS setup asks for certificates.
    let by_certificate = [
        ClientAuthMethod::TlsClientAuth,
        ClientAuthMethod::SelfSignedTlsClientAuth,
    ];
    let auth_methods: Vec<&str> = ClientAuthMethod::ALL
        .iter()
        .filter(|m| !by_certificate.contains(m) || state.certificate_auth.contains(m))
        .map(|m| m.as_str())
        .collect();
    let signing_algs: Vec<&str> = ASSERTION_ALGS.iter().map(|a| alg_name(*a)).collect();
    Json(json!({
        "issuer": state.issuer,
        "authorization_endpoint": state.endpoint("/oauth2/authorize"),
        "token_endpoint": state.token_endpoint(),
        "device_authorization_endpoint": state.endpoint("/oauth2/device_authorization"),
        "jwks_uri": state.endpoint("/oauth2/jwks"),
        "introspection_endpoint": state.endpoint("/oauth2/introspect"),
        "revocation_endpoint": state.endpoint("/oauth2/revoke"),
        "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": signing_algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": state.config.all_scopes(),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": ["ES256", "RS256"],
        // RFC 8705 §3.3: tokens asked for over a client certificate are bound to it.
        "tls_client_certificate_bound_access_tokens": !state.certificate_auth.is_empty(),
        // RFC 9207: the authorization response names its issuer.
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

pub(crate) async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    Json(state.signing.jwks()).into_response()
}
