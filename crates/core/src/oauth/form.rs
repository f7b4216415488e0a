//! The form of a token request: the grant's fields, the client's
//! settings and, where they go in the body, its credentials.

use base64::Engine as _;

use super::tokens::ResolvedClient;
use crate::check::client::{AuthMethod, Grant};

/// The form for `client` as `method` authenticates it. A
/// `private_key_jwt` assertion is added per attempt ([`add_assertion`]):
/// its `jti` must not repeat.
pub(crate) fn token_form(
    client: &ResolvedClient,
    refresh_token: Option<&str>,
    method: AuthMethod,
) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> =
        vec![("grant_type".into(), client.grant().as_str().into())];
    match client.grant() {
        Grant::ClientCredentials => {}
        Grant::RefreshToken => {
            form.push((
                "refresh_token".into(),
                refresh_token.unwrap_or_default().into(),
            ));
        }
        Grant::Password => {
            form.push((
                "username".into(),
                client.username.clone().unwrap_or_default(),
            ));
            form.push((
                "password".into(),
                client.password.clone().unwrap_or_default(),
            ));
        }
    }
    for (name, value) in [
        ("scope", &client.scope),
        ("audience", &client.audience),
        ("resource", &client.resource),
    ] {
        if let Some(v) = value {
            form.push((name.into(), v.clone()));
        }
    }
    form.extend(client.params.iter().cloned());
    match method {
        AuthMethod::ClientSecretBasic | AuthMethod::PrivateKeyJwt => {}
        AuthMethod::ClientSecretPost => {
            form.push(("client_id".into(), client.client_id.clone()));
            form.push((
                "client_secret".into(),
                client.client_secret.clone().unwrap_or_default(),
            ));
        }
        // RFC 8705 §2: the certificate of the TLS connection (set by
        // the client's `tls_key`) is the credential; the id says whose it is.
        AuthMethod::TlsClientAuth | AuthMethod::None => {
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
