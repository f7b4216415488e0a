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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn sign(alg: Algorithm, key: &EncodingKey, kid: &str, claims: serde_json::Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        encode(&header, &claims, key).unwrap()
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn es256() -> (EncodingKey, serde_json::Value) {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        use p256::pkcs8::EncodePrivateKey as _;
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": "ec1", "alg": "ES256",
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
        });
        let der = secret.to_pkcs8_der().unwrap();
        (EncodingKey::from_ec_der(der.as_bytes()), jwk)
    }

    fn eddsa() -> (EncodingKey, serde_json::Value) {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let jwk = serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "ed1", "alg": "EdDSA",
            "x": b64(key.verifying_key().as_bytes()),
        });
        let der = key.to_pkcs8_der().unwrap();
        (EncodingKey::from_ed_der(der.as_bytes()), jwk)
    }

    #[test]
    fn es256_and_eddsa_verify_against_their_jwks() {
        let (ec_key, ec_jwk) = es256();
        let (ed_key, ed_jwk) = eddsa();
        let jwks: JwkSet =
            serde_json::from_value(serde_json::json!({ "keys": [ec_jwk, ed_jwk] })).unwrap();
        let claims = serde_json::json!({ "iss": "x", "exp": now() + 60 });
        let ec = sign(Algorithm::ES256, &ec_key, "ec1", claims.clone());
        let ed = sign(Algorithm::EdDSA, &ed_key, "ed1", claims.clone());
        assert_eq!(verify(&ec, &jwks), Ok(()));
        assert_eq!(verify(&ed, &jwks), Ok(()));
        // The right algorithm under the wrong kid fails; so does tampering.
        let wrong_kid = sign(Algorithm::ES256, &ec_key, "ed1", claims.clone());
        assert!(verify(&wrong_kid, &jwks).is_err());
        let mut parts: Vec<String> = ec.split('.').map(str::to_string).collect();
        parts[1] = b64(br#"{"iss":"y","exp":9999999999}"#);
        assert!(verify(&parts.join("."), &jwks).is_err());
        let unknown = sign(Algorithm::ES256, &ec_key, "nope", claims);
        assert_eq!(
            verify(&unknown, &jwks),
            Err("no key with kid \"nope\" in the issuer's JWKS".into())
        );
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_fail() {
        let (key, jwk) = es256();
        let jwks: JwkSet = serde_json::from_value(serde_json::json!({ "keys": [jwk] })).unwrap();
        let expired = sign(
            Algorithm::ES256,
            &key,
            "ec1",
            serde_json::json!({ "exp": now() - 3600 }),
        );
        assert!(
            verify(&expired, &jwks).unwrap_err().contains("Expired"),
            "{:?}",
            verify(&expired, &jwks)
        );
        let early = sign(
            Algorithm::ES256,
            &key,
            "ec1",
            serde_json::json!({ "exp": now() + 7200, "nbf": now() + 3600 }),
        );
        assert!(verify(&early, &jwks).is_err());
    }

    #[test]
    fn claims_read_without_verifying() {
        let token = format!("{}.{}.sig", b64(b"{}"), b64(br#"{"scope":"a b"}"#));
        assert_eq!(claims(&token).unwrap()["scope"], "a b");
        assert!(claims("not-a-jwt").is_err());
        assert!(claims("a.!!!.c").is_err());
    }
}
