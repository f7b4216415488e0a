//! Key material: the sandbox's own RS256 signing key (published as a JWK
//! set) and the clients' registered public keys for `private_key_jwt`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rand::Rng;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde_json::{json, Value};

/// The authorization server's token signing key, generated at start.
pub(crate) struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key. CPU-bound (up to a second or so):
    /// call it from a blocking thread.
    pub fn generate() -> Result<Self, String> {
        let mut rng = rand::rngs::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048)
            .map_err(|e| format!("RSA key generation failed: {e}"))?;
        let der = private
            .to_pkcs1_der()
            .map_err(|e| format!("RSA key encoding failed: {e}"))?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        let kid = format!("sandbox-{:08x}", rng.gen::<u32>());
        let jwk = json!({
            "kty": "RSA",
            "kid": kid,
            "alg": "RS256",
            "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&n),
            "e": URL_SAFE_NO_PAD.encode(&e),
        });
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            jwk,
        })
    }

    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        // RFC 9068 media type for JWT access tokens.
        header.typ = Some("at+jwt".to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| format!("signing failed: {e}"))
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }
}

/// A client's registered public key for `private_key_jwt`.
pub(crate) struct ClientKey {
    pub key: DecodingKey,
    family: KeyFamily,
}

impl ClientKey {
    /// Accepts RSA (PKCS#1 or SPKI), EC (SPKI, P-256/P-384) and Ed25519
    /// (SPKI) public keys in PEM.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        // jsonwebtoken would also load a private key here and then fail every
        // verification; a clear message is kinder.
        if pem.contains("PRIVATE KEY") {
            return Err("public_key_pem contains a private key; register the public key".into());
        }
        let bytes = pem.as_bytes();
        let (key, family) = if let Ok(k) = DecodingKey::from_rsa_pem(bytes) {
            (k, KeyFamily::Rsa)
        } else if let Ok(k) = DecodingKey::from_ec_pem(bytes) {
            (k, KeyFamily::Ec)
        } else if let Ok(k) = DecodingKey::from_ed_pem(bytes) {
            (k, KeyFamily::Ed)
        } else {
            return Err("public_key_pem is not a PEM RSA, EC or Ed25519 public key".into());
        };
        Ok(ClientKey { key, family })
    }

    /// Whether an assertion signed with `alg` can be checked with this key;
    /// also what stops `alg` confusion (e.g. HS256 with the public key).
    pub fn accepts(&self, alg: Algorithm) -> bool {
        family(alg) == Some(self.family)
    }
}

/// The key type an asymmetric algorithm needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyFamily {
    Rsa,
    Ec,
    Ed,
}

fn family(alg: Algorithm) -> Option<KeyFamily> {
    use Algorithm::*;
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Some(KeyFamily::Rsa),
        ES256 | ES384 => Some(KeyFamily::Ec),
        EdDSA => Some(KeyFamily::Ed),
        HS256 | HS384 | HS512 => None,
    }
}

/// Algorithms accepted for client assertions (metadata and verification).
pub(crate) const ASSERTION_ALGS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

/// A random URL-safe string with `bytes` bytes of entropy (token ids,
/// refresh tokens).
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}
