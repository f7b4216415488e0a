//! Client authentication at the token, introspection and revocation
//! endpoints: `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt` (RFC 7523), `tls_client_auth` and
//! `self_signed_tls_client_auth` (RFC 8705) and `none` (public clients).

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde::Deserialize;

use crate::config::{ClientAuthMethod, RegisteredClient};
use crate::keys::ASSERTION_ALGS;
use crate::oauth_error::OAuthError;
use crate::params::Params;
use crate::state::AppState;
use crate::tls::ClientCert;

pub(crate) const JWT_BEARER_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, Clone)]
pub(crate) struct AuthenticatedClient {
    pub id: String,
    pub method: ClientAuthMethod,
}

/// Authenticates the client of an OAuth endpoint request. `endpoint_url`
/// is the URL of the endpoint called, accepted as a client assertion `aud`
/// besides the token endpoint and the issuer.
pub(crate) fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    endpoint_url: &str,
    peer_cert: Option<&ClientCert>,
) -> Result<AuthenticatedClient, OAuthError> {
    let basic = basic_credentials(headers)?;
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let assertion_type = params.get("client_assertion_type");
    let assertion = params.get("client_assertion");

    let used = [
        basic.is_some(),
        body_secret.is_some(),
        assertion_type.is_some() || assertion.is_some(),
    ];
    if used.iter().filter(|u| **u).count() > 1 {
        // RFC 6749 §2.3: "MUST NOT use more than one authentication method".
        return Err(OAuthError::invalid_request(
            "more than one client authentication method used",
        ));
    }

    if let Some((id, secret)) = basic {
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Basic credentials",
            ));
        }
        return check_secret(state, &id, &secret, ClientAuthMethod::ClientSecretBasic);
    }
    if let Some(secret) = body_secret {
        let id = body_id
            .ok_or_else(|| OAuthError::invalid_client("client_secret without client_id", false))?;
        return check_secret(state, id, secret, ClientAuthMethod::ClientSecretPost);
    }
    if assertion_type.is_some() || assertion.is_some() {
        if assertion_type != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_client(
                format!("client_assertion_type must be `{JWT_BEARER_ASSERTION}`"),
                false,
            ));
        }
        let assertion = assertion
            .ok_or_else(|| OAuthError::invalid_request("missing parameter `client_assertion`"))?;
        return check_assertion(state, body_id, assertion, endpoint_url);
    }
    if let Some(id) = body_id {
        let client = known_client(state, id, false)?;
        let public = client.auth_methods.contains(&ClientAuthMethod::None);
        let by_certificate = client.auth_methods.iter().any(|m| {
            matches!(
                m,
                ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth
            )
        });
        if by_certificate && (peer_cert.is_some() || !public) {
            return check_certificate(client, peer_cert);
        }
        if !public {
            return Err(OAuthError::invalid_client(
                format!("client `{id}` is confidential: client authentication required"),
                false,
            ));
        }
        return Ok(AuthenticatedClient {
            id: id.to_string(),
            method: ClientAuthMethod::None,
        });
    }
    Err(OAuthError::invalid_client(
        "client authentication required",
        false,
    ))
}

/// The `Authorization: Basic` credentials, if that scheme is used. Id and
/// secret are form-urlencoded before base64 (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("malformed Basic credentials", true);
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        // Another scheme (e.g. Bearer) is not client authentication here.
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    Ok(Some((id, secret)))
}

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a
/// space, `%XX` escapes).
fn form_decode(s: &str) -> Option<String> {
    let plus_free = s.replace('+', " ");
    percent_decode(&plus_free)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn known_client<'a>(
    state: &'a AppState,
    id: &str,
    basic: bool,
) -> Result<&'a RegisteredClient, OAuthError> {
    state
        .client(id)
        .ok_or_else(|| OAuthError::invalid_client(format!("unknown client `{id}`"), basic))
}

fn check_method(
    client: &RegisteredClient,
    method: ClientAuthMethod,
    basic: bool,
) -> Result<(), OAuthError> {
    if client.auth_methods.contains(&method) {
        return Ok(());
    }
    let allowed: Vec<&str> = client.auth_methods.iter().map(|m| m.as_str()).collect();
    Err(OAuthError::invalid_client(
        format!(
            "client `{}` may not authenticate with {} (allowed: {})",
            client.id,
            method.as_str(),
            allowed.join(", ")
        ),
        basic,
    ))
}

fn check_secret(
    state: &AppState,
    id: &str,
    secret: &str,
    method: ClientAuthMethod,
) -> Result<AuthenticatedClient, OAuthError> {
    let basic = method == ClientAuthMethod::ClientSecretBasic;
    let client = known_client(state, id, basic)?;
    check_method(client, method, basic)?;
    let expected = state.effective_secret(client).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), secret.as_bytes()) {
        return Err(OAuthError::invalid_client(
            format!("invalid client secret for `{id}`"),
            basic,
        ));
    }
    Ok(AuthenticatedClient {
        id: id.to_string(),
        method,
    })
}

/// RFC 8705 §2: the certificate of the connection authenticates the
/// client when the client CA signed it with the client id as subject CN
/// (`tls_client_auth`, §2.1.2), or when it is the one registered for the
/// client (`self_signed_tls_client_auth`, §2.2).
fn check_certificate(
    client: &RegisteredClient,
    peer_cert: Option<&ClientCert>,
) -> Result<AuthenticatedClient, OAuthError> {
    let id = &client.id;
    let refuse = |why: String| Err(OAuthError::invalid_client(why, false));
    let Some(cert) = peer_cert else {
        return refuse(format!(
            "client `{id}` authenticates with a TLS client certificate, and none was presented"
        ));
    };
    let allows = |m| client.auth_methods.contains(&m);
    let authenticated = |method| {
        Ok(AuthenticatedClient {
            id: id.clone(),
            method,
        })
    };
    if allows(ClientAuthMethod::SelfSignedTlsClientAuth)
        && client.self_signed_cert_der().as_deref() == Some(cert.der.as_slice())
    {
        return authenticated(ClientAuthMethod::SelfSignedTlsClientAuth);
    }
    if !allows(ClientAuthMethod::TlsClientAuth) {
        return refuse(format!(
            "the TLS client certificate is not the one registered for client `{id}`"
        ));
    }
    if !cert.ca_signed {
        return refuse(format!(
            "the TLS client certificate is not signed by the client CA, as client `{id}`'s tls_client_auth needs"
        ));
    }
    match subject_cn(&cert.der) {
        Some(cn) if cn == *id => authenticated(ClientAuthMethod::TlsClientAuth),
        cn => refuse(format!(
            "the TLS client certificate (subject CN {}) is not client `{id}`'s",
            cn.map_or_else(|| "missing".to_string(), |c| format!("`{c}`"))
        )),
    }
}

/// The subject common name of an X.509 certificate (DER), read with a
/// minimal DER walk: Certificate → TBSCertificate → subject Name.
pub(crate) fn subject_cn(der: &[u8]) -> Option<String> {
    let (_, cert, _) = der_tlv(der)?;
    let (_, tbs, _) = der_tlv(cert)?;
    let mut rest = tbs;
    // [0] version (optional), serial, signature, issuer, validity, subject.
    let (tag, _, after) = der_tlv(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..4 {
        rest = der_tlv(rest)?.2;
    }
    let (_, mut subject, _) = der_tlv(rest)?;
    while !subject.is_empty() {
        let (_, mut set, next) = der_tlv(subject)?;
        subject = next;
        while !set.is_empty() {
            let (_, attribute, next_attr) = der_tlv(set)?;
            set = next_attr;
            let (tag, oid, value) = der_tlv(attribute)?;
            // OID 2.5.4.3 (commonName).
            if tag == 0x06 && oid == [0x55, 0x04, 0x03] {
                let (_, text, _) = der_tlv(value)?;
                return String::from_utf8(text.to_vec()).ok();
            }
        }
    }
    None
}

/// Whether DER has the shape of an X.509 certificate: a SEQUENCE of the
/// to-be-signed SEQUENCE, the signature algorithm and the signature.
pub(crate) fn is_certificate(der: &[u8]) -> bool {
    let shape = || {
        let (0x30, cert, []) = der_tlv(der)? else {
            return None;
        };
        let (0x30, _, rest) = der_tlv(cert)? else {
            return None;
        };
        let (0x30, _, rest) = der_tlv(rest)? else {
            return None;
        };
        let (0x03, _, []) = der_tlv(rest)? else {
            return None;
        };
        Some(())
    };
    shape().is_some()
}

/// One DER element: (tag, contents, the bytes after it).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Compares secrets without an early exit, so timing does not reveal how
/// much of a guess was right (a habit worth keeping even in a sandbox).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<u64>,
    jti: Option<String>,
}

/// An assertion's claims before its signature is checked.
fn unverified_claims(assertion: &str) -> Option<AssertionClaims> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Verifies a `private_key_jwt` client assertion (RFC 7523 §3).
fn check_assertion(
    state: &AppState,
    body_id: Option<&str>,
    assertion: &str,
    endpoint_url: &str,
) -> Result<AuthenticatedClient, OAuthError> {
    let fail = |msg: String| OAuthError::invalid_client(msg, false);
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| fail("client_assertion is not a well-formed JWT".into()))?;
    // The signature can only be checked once we know whose key to use, so
    // find the client from the unverified claims (or client_id) first.
    let unverified = unverified_claims(assertion)
        .ok_or_else(|| fail("client_assertion is not a well-formed JWT".into()))?;
    let id = body_id
        .or(unverified.sub.as_deref())
        .or(unverified.iss.as_deref())
        .ok_or_else(|| fail("client_assertion has no `sub`".into()))?
        .to_string();
    let client = known_client(state, &id, false)?;
    check_method(client, ClientAuthMethod::PrivateKeyJwt, false)?;
    let key = state
        .client_keys
        .get(&id)
        .ok_or_else(|| fail(format!("client `{id}` has no registered public key")))?;
    if !ASSERTION_ALGS.contains(&header.alg) || !key.accepts(header.alg) {
        return Err(fail(format!(
            "client_assertion alg {:?} does not match the registered key",
            header.alg
        )));
    }

    let token_url = state.token_endpoint();
    let mut validation = Validation::new(header.alg);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_audience(&[token_url.as_str(), state.issuer.as_str(), endpoint_url]);
    validation.set_issuer(&[id.as_str()]);
    validation.sub = Some(id.clone());
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key.key, &validation)
        .map_err(|e| {
            fail(match e.kind() {
                ErrorKind::ExpiredSignature => "client_assertion has expired".to_string(),
                ErrorKind::ImmatureSignature => {
                    "client_assertion is not valid yet (nbf)".to_string()
                }
                ErrorKind::InvalidAudience => {
                    format!("client_assertion aud must be the token endpoint URL {token_url}")
                }
                ErrorKind::InvalidIssuer => {
                    "client_assertion iss must be the client_id".to_string()
                }
                ErrorKind::InvalidSubject => {
                    "client_assertion sub must be the client_id".to_string()
                }
                ErrorKind::MissingRequiredClaim(c) => {
                    format!("client_assertion lacks the `{c}` claim")
                }
                ErrorKind::InvalidSignature => {
                    "client_assertion signature does not verify with the registered key".to_string()
                }
                _ => format!("invalid client_assertion: {e}"),
            })
        })?
        .claims;
    // OpenID Connect Core §9 makes jti required; without it replay could
    // not be detected.
    let jti = claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or_else(|| fail("client_assertion lacks the `jti` claim".into()))?;
    let exp = claims.exp.unwrap_or(0);
    if !state.tokens.use_assertion(&id, &jti, exp) {
        return Err(fail("client_assertion jti was already used".into()));
    }
    Ok(AuthenticatedClient {
        id,
        method: ClientAuthMethod::PrivateKeyJwt,
    })
}

/// Whether a request names no client credentials at all (a JWT bearer
/// grant's assertion is then the only credential, RFC 7523 §3.1).
pub(crate) fn no_credentials(headers: &HeaderMap, params: &Params) -> bool {
    !headers.contains_key(axum::http::header::AUTHORIZATION)
        && ["client_id", "client_secret", "client_assertion"]
            .iter()
            .all(|p| params.get(p).is_none())
}

/// The client a JWT bearer grant's assertion comes from: its `iss`.
pub(crate) fn assertion_issuer(
    state: &AppState,
    assertion: &str,
) -> Result<AuthenticatedClient, OAuthError> {
    let iss = unverified_claims(assertion)
        .and_then(|c| c.iss)
        .ok_or_else(|| OAuthError::invalid_grant("the assertion is not a JWT with an `iss`"))?;
    let client = state.client(&iss).ok_or_else(|| {
        OAuthError::invalid_grant(format!("the assertion's issuer `{iss}` is no client"))
    })?;
    Ok(AuthenticatedClient {
        id: client.id.clone(),
        method: ClientAuthMethod::None,
    })
}

/// Verifies a JWT bearer grant's assertion (RFC 7523 §3): signed with the
/// client's registered key, `iss` the client, `aud` this server, not
/// expired, its `jti` new. Its `sub`, whom the token is for.
pub(crate) fn verify_grant_assertion(
    state: &AppState,
    client_id: &str,
    assertion: &str,
) -> Result<String, OAuthError> {
    let fail = |m: String| OAuthError::invalid_grant(m);
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| fail("the assertion is not a JWT".into()))?;
    let key = state
        .client_keys
        .get(client_id)
        .ok_or_else(|| fail(format!("client `{client_id}` has no registered public key")))?;
    if !ASSERTION_ALGS.contains(&header.alg) || !key.accepts(header.alg) {
        return Err(fail(format!(
            "assertion alg {:?} does not match the registered key",
            header.alg
        )));
    }
    let token_url = state.token_endpoint();
    let mut validation = Validation::new(header.alg);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_audience(&[token_url.as_str(), state.issuer.as_str()]);
    validation.set_issuer(&[client_id]);
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key.key, &validation)
        .map_err(|e| {
            fail(match e.kind() {
                ErrorKind::ExpiredSignature => "the assertion has expired".to_string(),
                ErrorKind::InvalidAudience => format!("the assertion's aud must be {token_url}"),
                ErrorKind::InvalidSignature => {
                    "the assertion's signature does not verify with the registered key".to_string()
                }
                _ => format!("invalid assertion: {e}"),
            })
        })?
        .claims;
    let jti = claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or_else(|| fail("the assertion lacks `jti`".into()))?;
    if !state
        .tokens
        .use_assertion(client_id, &jti, claims.exp.unwrap_or(0))
    {
        return Err(fail("the assertion's jti was already used".into()));
    }
    claims
        .sub
        .ok_or_else(|| fail("the assertion has no `sub`".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_of_basic_credentials() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(form_decode("%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
    }
}
