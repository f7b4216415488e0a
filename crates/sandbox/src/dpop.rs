//! DPoP (RFC 9449) as a resource and authorization server checks it: the
//! proof's signature by the key in its header, `typ`, `htm`, `htu`, `iat`
//! within a minute, `jti` never seen before, `ath` for a token, and the
//! server's nonce when it asks for nonces.

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::state::AppState;
use crate::store::now_secs;

/// How far a proof's `iat` may be from now (seconds).
const IAT_WINDOW: u64 = 60;

/// Why a proof is refused: `use_dpop_nonce` (send again with the nonce)
/// or `invalid_dpop_proof`.
pub(crate) struct Refused {
    pub error: &'static str,
    pub description: String,
}

fn invalid(description: impl Into<String>) -> Refused {
    Refused {
        error: "invalid_dpop_proof",
        description: description.into(),
    }
}

/// The proof a request carries, if any: checked for `method` on `url`
/// (and for `access_token`, when one goes with it). Its key's thumbprint.
pub(crate) fn verify(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> Result<Option<String>, Refused> {
    let mut proofs = headers.get_all("dpop").iter();
    let Some(proof) = proofs.next() else {
        return Ok(None);
    };
    if proofs.next().is_some() {
        return Err(invalid("more than one DPoP header"));
    }
    let proof = proof
        .to_str()
        .map_err(|_| invalid("the DPoP header is not text"))?;
    let header =
        jsonwebtoken::decode_header(proof).map_err(|e| invalid(format!("not a JWT: {e}")))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(invalid("typ must be dpop+jwt"));
    }
    if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
        return Err(invalid("alg must be ES256 or RS256"));
    }
    // RFC 9449 §4.3: the JWK must hold no private key (a typed JWK would
    // drop the members silently, so the raw header is read).
    let raw = (proof.split('.').next())
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .unwrap_or_default();
    let private = ["d", "p", "q", "dp", "dq", "qi", "k"];
    if private.iter().any(|m| raw["jwk"].get(m).is_some()) {
        return Err(invalid("the jwk holds a private key"));
    }
    let jwk = header.jwk.ok_or_else(|| invalid("no jwk in the header"))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(format!("the jwk: {e}")))?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims: Value = jsonwebtoken::decode(proof, &key, &validation)
        .map_err(|e| invalid(format!("the signature: {e}")))?
        .claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("htm") != Some(method) {
        return Err(invalid(format!("htm must be {method}")));
    }
    let mut expected = url::Url::parse(url).map_err(|_| invalid("bad request URL"))?;
    expected.set_query(None);
    if text("htu") != Some(expected.as_str()) {
        return Err(invalid(format!("htu must be {expected}")));
    }
    let now = now_secs();
    let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
    if iat.abs_diff(now) > IAT_WINDOW {
        return Err(invalid("iat is not within a minute of now"));
    }
    if let Some(token) = access_token {
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        if text("ath") != Some(ath.as_str()) {
            return Err(invalid("ath is not the access token's hash"));
        }
    }
    if state.config.dpop_nonce && text("nonce") != Some(state.dpop_nonce.as_str()) {
        return Err(Refused {
            error: "use_dpop_nonce",
            description: "send the proof again with the DPoP-Nonce of this answer".into(),
        });
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid("no jti"))?;
    // Kept beside the client assertions' ids, in a namespace of its own.
    if !state
        .tokens
        .use_assertion("\0dpop", jti, now + 2 * IAT_WINDOW)
    {
        return Err(invalid("jti was seen before (a replayed proof)"));
    }
    Ok(Some(thumbprint(&jwk)?))
}

/// RFC 7638: SHA-256 of the required members, sorted.
fn thumbprint(jwk: &Jwk) -> Result<String, Refused> {
    let full = serde_json::to_value(jwk).map_err(|e| invalid(e.to_string()))?;
    let members: &[&str] = match full.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        _ => return Err(invalid("the jwk is neither EC nor RSA")),
    };
    let required: serde_json::Map<String, Value> = members
        .iter()
        .map(|m| (m.to_string(), full.get(*m).cloned().unwrap_or(Value::Null)))
        .collect();
    let canonical = serde_json::to_string(&required).map_err(|e| invalid(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// A refusal as the token endpoint answers it (RFC 9449 §5.2/§8): 400
/// with the error, and the nonce to use.
pub(crate) fn token_refusal(state: &AppState, refused: Refused) -> axum::response::Response {
    let mut response = crate::oauth_error::oauth_json(
        axum::http::StatusCode::BAD_REQUEST,
        serde_json::json!({"error": refused.error, "error_description": refused.description}),
    );
    add_nonce(state, &mut response);
    response
}

/// The server's current nonce, when it asks for nonces.
pub(crate) fn add_nonce(state: &AppState, response: &mut axum::response::Response) {
    if state.config.dpop_nonce {
        if let Ok(value) = axum::http::HeaderValue::from_str(&state.dpop_nonce) {
            response.headers_mut().insert("dpop-nonce", value);
        }
    }
}

/// `use_dpop_nonce` with a nonce never asked for again (fault
/// `new_dpop_nonce`).
pub(crate) fn restless_nonce() -> axum::response::Response {
    let mut response = crate::oauth_error::oauth_json(
        axum::http::StatusCode::BAD_REQUEST,
        serde_json::json!({"error": "use_dpop_nonce", "error_description": "a new nonce, again"}),
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&crate::keys::random_token(12)) {
        response.headers_mut().insert("dpop-nonce", value);
    }
    response
}
