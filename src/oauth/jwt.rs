//! Reading JWT claims, and verifying signatures against an issuer's JWKS.

use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};

/// The claims of a compact JWS, without verifying it.
pub fn claims(token: &str) -> Result<serde_json::Value, String> {
    let mut parts = token.trim().split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT (expected three dot-separated parts)".into());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "the JWT payload is not base64url".to_string())?;
    serde_json::from_slice(&bytes).map_err(|_| "the JWT payload is not JSON".to_string())
}

/// Verifies the signature (RS256, ES256, EdDSA, ...) with the key of the
/// JWKS whose `kid` matches, and checks `exp` and `nbf`.
pub fn verify(token: &str, jwks: &JwkSet) -> Result<(), String> {
    let header = decode_header(token).map_err(|e| format!("unreadable JWT header: {e}"))?;
    let jwk = match &header.kid {
        Some(kid) => jwks
            .find(kid)
            .ok_or_else(|| format!("no key with kid {kid:?} in the issuer's JWKS"))?,
        None if jwks.keys.len() == 1 => &jwks.keys[0],
        None => return Err("the JWT has no kid and the JWKS holds several keys".into()),
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable JWK: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.required_spec_claims.clear();
    decode::<serde_json::Value>(token, &key, &validation)
        .map(|_| ())
        .map_err(|e| format!("signature check failed: {e}"))
}
