//! Signed assertions (RFC 7523): client assertions for `private_key_jwt`
//! (§2.2), and the JWT bearer grant's own (§2.1).

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng as _;

use super::tokens::ResolvedClient;
use crate::check::client::SigningAlg;

/// Signs RFC 7523 client assertions for one client: the key is read once,
/// an assertion made per attempt (its `jti` must not repeat).
pub(crate) struct AssertionSigner {
    key: jsonwebtoken::EncodingKey,
    header: jsonwebtoken::Header,
}

impl AssertionSigner {
    pub(crate) fn new(client: &ResolvedClient) -> Result<AssertionSigner, String> {
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let pem = client.private_key.as_deref().unwrap_or_default().as_bytes();
        let (alg, key) = match client.alg.unwrap_or(SigningAlg::RS256) {
            SigningAlg::RS256 => (Algorithm::RS256, EncodingKey::from_rsa_pem(pem)),
            SigningAlg::ES256 => (Algorithm::ES256, EncodingKey::from_ec_pem(pem)),
        };
        let key = key.map_err(|e| format!("`private_key` is not a usable PEM key: {e}"))?;
        let mut header = Header::new(alg);
        header.kid = client.key_id.clone();
        Ok(AssertionSigner { key, header })
    }

    /// A client assertion: iss = sub = client_id, aud = the token endpoint,
    /// a fresh jti, valid for a minute.
    pub(crate) fn sign(&self, client_id: &str, endpoint: &str) -> Result<String, String> {
        self.sign_for(client_id, client_id, endpoint)
    }

    /// An assertion of `iss` about `sub` for `aud`: a fresh jti, valid for
    /// a minute.
    pub(crate) fn sign_for(&self, iss: &str, sub: &str, aud: &str) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let jti: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let claims = serde_json::json!({
            "iss": iss,
            "sub": sub,
            "aud": aud,
            "iat": now,
            "exp": now + 60,
            "jti": jti,
        });
        jsonwebtoken::encode(&self.header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the client assertion: {e}"))
    }
}
