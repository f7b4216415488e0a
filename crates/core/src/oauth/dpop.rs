//! DPoP (RFC 9449): a client's proof-of-possession key, and the proof JWT
//! it signs for every request its sender-constrained token goes with. The
//! key is the spec's `dpop_key` (a PKCS#8 P-256 or RSA private key) or one
//! generated once per run; proofs are signed with the JOSE crate the JWT
//! assertions use.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use sha2::{Digest as _, Sha256};

/// A client's DPoP key: what signs its proofs, and the public JWK they
/// carry.
pub struct DpopKey {
    encoding: EncodingKey,
    alg: Algorithm,
    /// The public key as a JWK, members in RFC 7638 order.
    jwk: serde_json::Value,
    /// RFC 7638 thumbprint of the public key: a bound token's `cnf.jkt`.
    pub thumbprint: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DpopKey({})", self.thumbprint)
    }
}

impl DpopKey {
    /// A fresh P-256 key, for a client that names none.
    pub fn generate() -> Result<DpopKey, String> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "cannot generate a P-256 key".to_string())?;
        DpopKey::from_pkcs8(pkcs8.as_ref())
    }

    /// A key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`), P-256 or RSA.
    pub fn from_pem(pem: &str) -> Result<DpopKey, String> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .take_while(|l| !l.starts_with("-----END"))
            .collect::<Vec<_>>()
            .join("");
        let label = pem
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("-----BEGIN"));
        match label {
            Some("-----BEGIN PRIVATE KEY-----") => {}
            Some(other) => {
                let label = other.trim_matches('-').trim();
                return Err(format!(
                    "the DPoP key is a {} ({label}), not a PKCS#8 private key (BEGIN PRIVATE KEY): convert it with `openssl pkcs8 -topk8 -nocrypt`",
                    label.trim_start_matches("BEGIN ").to_lowercase()
                ));
            }
            None => return Err("the DPoP key is not PEM".into()),
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim_start_matches("-----BEGIN PRIVATE KEY-----"))
            .map_err(|_| "the DPoP key's PEM is not base64".to_string())?;
        DpopKey::from_pkcs8(&der)
    }

    fn from_pkcs8(der: &[u8]) -> Result<DpopKey, String> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let rng = SystemRandom::new();
        if let Ok(ec) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng) {
            // An uncompressed point: 0x04, then x and y.
            let point = ec.public_key().as_ref();
            let jwk = serde_json::json!({
                "crv": "P-256",
                "kty": "EC",
                "x": b64(&point[1..33]),
                "y": b64(&point[33..65]),
            });
            return DpopKey::new(EncodingKey::from_ec_der(der), Algorithm::ES256, jwk);
        }
        if let Ok(rsa) = RsaKeyPair::from_pkcs8(der) {
            let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public());
            let jwk = serde_json::json!({ "e": b64(&public.e), "kty": "RSA", "n": b64(&public.n) });
            return DpopKey::new(EncodingKey::from_rsa_der(der), Algorithm::RS256, jwk);
        }
        Err("the DPoP key is neither a P-256 (ES256) nor an RSA (RS256) private key".into())
    }

    fn new(
        encoding: EncodingKey,
        alg: Algorithm,
        jwk: serde_json::Value,
    ) -> Result<DpopKey, String> {
        // RFC 7638: the required members, sorted, no whitespace (the json!
        // map is sorted already).
        let canonical = serde_json::to_string(&jwk).map_err(|e| e.to_string())?;
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(DpopKey {
            encoding,
            alg,
            jwk,
            thumbprint,
        })
    }

    /// A proof for one request: `htm` and `htu` (without query and
    /// fragment), a fresh `jti`, `iat`, the server's `nonce` if it asked
    /// for one, and `ath` (the access token's SHA-256) when a token goes
    /// with it.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<String, String> {
        let mut htu = url::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
        htu.set_query(None);
        htu.set_fragment(None);
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut jti);
        let iat = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = serde_json::json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": htu.as_str(),
            "iat": iat,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        if let Some(token) = access_token {
            claims["ath"] = URL_SAFE_NO_PAD
                .encode(Sha256::digest(token.as_bytes()))
                .into();
        }
        let mut header = Header::new(self.alg);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).map_err(|e| e.to_string())?);
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| e.to_string())
    }
}

/// A proof as `-v` shows it: header and claims, the signature left out.
pub fn shown(proof: &str) -> String {
    let part = |i: usize| -> String {
        (proof.split('.').nth(i))
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    format!(
        "DPoP proof: header {} claims {} signature ***",
        part(0),
        part(1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_carry_the_public_key_and_what_they_prove() {
        let key = DpopKey::generate().unwrap();
        let proof = key
            .proof(
                "GET",
                "https://api.example/orders?page=2#x",
                Some("n-1"),
                Some("tok"),
            )
            .unwrap();
        // What the leak tests look for: `{"typ":"dpop+jwt",` first.
        assert!(proof.starts_with("eyJ0eXAiOiJkcG9wK2p3dCIs"), "{proof}");
        let header = jsonwebtoken::decode_header(&proof).unwrap();
        assert_eq!(header.typ.as_deref(), Some("dpop+jwt"));
        assert_eq!(header.alg, Algorithm::ES256);
        let claims = super::super::jwt::claims(&proof).unwrap();
        assert_eq!(claims["htu"], "https://api.example/orders");
        assert_eq!(
            (claims["htm"].as_str(), claims["nonce"].as_str()),
            (Some("GET"), Some("n-1"))
        );
        let decoded = shown(&proof);
        assert!(
            decoded.starts_with("DPoP proof: header {\"typ\":\"dpop+jwt\""),
            "{decoded}"
        );
        assert!(decoded.contains("\"htm\":\"GET\"") && decoded.ends_with("signature ***"));
        // RFC 9449 §4.2: ath is base64url(SHA-256(token)).
        assert_eq!(
            claims["ath"],
            URL_SAFE_NO_PAD.encode(Sha256::digest(b"tok"))
        );
        assert_ne!(
            claims["jti"],
            super::super::jwt::claims(&key.proof("GET", "https://a/", None, None).unwrap())
                .unwrap()["jti"]
        );
    }

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 7638 §3.1's example key.
        let jwk = serde_json::json!({
            "e": "AQAB",
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        });
        let key = DpopKey::new(EncodingKey::from_secret(b"unused"), Algorithm::RS256, jwk).unwrap();
        assert_eq!(
            key.thumbprint,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn only_pkcs8_p256_and_rsa_keys_are_keys() {
        assert!(DpopKey::from_pem("not a key")
            .unwrap_err()
            .contains("not PEM"));
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(DpopKey::from_pem(sec1)
            .unwrap_err()
            .contains("openssl pkcs8 -topk8"));
        let junk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(DpopKey::from_pem(junk).unwrap_err().contains("neither"));
    }
}
