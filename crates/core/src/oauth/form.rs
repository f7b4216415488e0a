//! The form of a token request: the grant's fields, the client's
//! settings and, where they go in the body, its credentials.

use base64::Engine as _;

use super::tokens::ResolvedClient;
use crate::check::client::{AuthMethod, Grant};

/// The fields of a token request by the client's own grant: `grant_type`
/// and what that grant sends. The user flows' first requests are made by
/// their flows (`oauth/user.rs`); renewing, they use `refresh_token`.
pub(crate) fn grant_fields(
    client: &ResolvedClient,
    refresh_token: Option<&str>,
) -> Vec<(String, String)> {
    let field = |name: &str, value: &str| (name.to_string(), value.to_string());
    let refresh = |token: Option<&str>| {
        vec![
            field("grant_type", "refresh_token"),
            field("refresh_token", token.unwrap_or_default()),
        ]
    };
    match client.grant() {
        Grant::ClientCredentials => vec![field("grant_type", "client_credentials")],
        // The assertion is signed per attempt (its jti must not repeat).
        Grant::JwtBearer => vec![field("grant_type", Grant::JwtBearer.grant_type())],
        Grant::TokenExchange => {
            let access_token = "urn:ietf:params:oauth:token-type:access_token";
            let mut form = vec![
                field("grant_type", Grant::TokenExchange.grant_type()),
                field(
                    "subject_token",
                    client.subject_token.as_deref().unwrap_or_default(),
                ),
                field(
                    "subject_token_type",
                    client.subject_token_type.as_deref().unwrap_or(access_token),
                ),
            ];
            if let Some(actor) = &client.actor_token {
                form.push(field("actor_token", actor));
                let kind = client.actor_token_type.as_deref().unwrap_or(access_token);
                form.push(field("actor_token_type", kind));
            }
            if let Some(kind) = &client.requested_token_type {
                form.push(field("requested_token_type", kind));
            }
            form
        }
        Grant::RefreshToken | Grant::AuthorizationCode | Grant::DeviceCode => {
            refresh(refresh_token)
        }
        Grant::Password => vec![
            field("grant_type", "password"),
            field("username", client.username.as_deref().unwrap_or_default()),
            field("password", client.password.as_deref().unwrap_or_default()),
        ],
    }
}

/// The form for `client`, with `grant` (from [`grant_fields`] or a user
/// flow), as `method` authenticates it. A `private_key_jwt` assertion is
/// added per attempt ([`add_assertion`]): its `jti` must not repeat.
pub(crate) fn token_form(
    client: &ResolvedClient,
    grant: &[(String, String)],
    method: AuthMethod,
) -> Vec<(String, String)> {
    let mut form = grant.to_vec();
    // The code flow's `param`s go to the authorization request instead.
    let params = if client.grant() == Grant::AuthorizationCode {
        &[][..]
    } else {
        &client.params[..]
    };
    // A code or a device code carries what was asked for already.
    let redeeming = form.iter().any(|(k, v)| {
        k == "grant_type"
            && (v == Grant::AuthorizationCode.grant_type() || v == Grant::DeviceCode.grant_type())
    });
    for (name, value) in [
        ("scope", &client.scope),
        ("audience", &client.audience),
        ("resource", &client.resource),
    ] {
        if let (Some(v), false) = (value, redeeming) {
            form.push((name.into(), v.clone()));
        }
    }
    form.extend(params.iter().cloned());
    match method {
        AuthMethod::ClientSecretBasic | AuthMethod::PrivateKeyJwt => {}
        AuthMethod::ClientSecretPost => {
            form.push(("client_id".into(), client.client_id.clone()));
            form.push((
                "client_secret".into(),
                client.client_secret.clone().unwrap_or_default(),
            ));
        }
        // RFC 8705 §2: the certificate of the TLS connection (the
        // client's `client_cert`) is the credential; the id says whose it is.
        AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth | AuthMethod::None => {
            form.push(("client_id".into(), client.client_id.clone()))
        }
    }
    form
}

/// `client_secret_basic`: id and secret form-encoded before base64 (RFC
/// 6749 §2.3.1).
pub(crate) fn basic(client: &ResolvedClient) -> String {
    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let secret = client.client_secret.as_deref().unwrap_or_default();
    let pair = format!("{}:{}", enc(&client.client_id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A signed client assertion, as RFC 7523 §2.2 sends it.
pub(crate) fn add_assertion(
    form: &mut Vec<(String, String)>,
    client: &ResolvedClient,
    assertion: String,
) {
    form.push(("client_id".into(), client.client_id.clone()));
    form.push((
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
    ));
    form.push(("client_assertion".into(), assertion));
}
