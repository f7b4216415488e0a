//! What a cached token is keyed by, and the `--token-cache` file.
//!
//! A token may only be handed to a client whose settings would have got the
//! same token: the key holds everything that decides whose token it is and
//! what it may do. Secrets enter it as keyed hashes, so a key never shows a
//! client secret or password, and equal secrets in two cache files do not
//! look alike. (The file holds live tokens all the same: it is 0600, and a
//! weak password's hash beside its key could be guessed offline.)

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;

use super::tokens::ResolvedClient;
use crate::check::client::AuthMethod;
use crate::error::{CacheAction, Error};

/// The hashing key of one cache: random per run, or the cache file's own.
#[derive(Clone)]
pub(crate) struct Keyer {
    key: [u8; 32],
}

impl Keyer {
    pub fn random() -> Keyer {
        let mut key = [0; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Keyer { key }
    }

    /// The key a cache file stores, if it is one.
    pub fn from_text(text: &str) -> Option<Keyer> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        Some(Keyer {
            key: bytes.try_into().ok()?,
        })
    }

    pub fn to_text(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.key)
    }

    /// HMAC-SHA256 of `value` under this key, cut to 128 bits.
    fn hash(&self, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length works");
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    }
}

/// Who a token is for, and everything else that shaped it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(crate) struct CacheKey {
    pub endpoint: String,
    pub grant: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Setting name → keyed hash of its value; absent settings are absent.
    pub settings: BTreeMap<String, String>,
}

/// Who a `login` block signs in: its first field whose name says user,
/// login or e-mail, as written (a key names its user in the clear).
fn login_user(client: &ResolvedClient) -> Option<String> {
    let login = client.login.as_ref()?;
    (login.fields.iter())
        .filter(|(_, value)| !login.secrets.contains(value))
        .find(|(name, _)| {
            let name = name.to_ascii_lowercase();
            ["user", "login", "email", "identifier"]
                .iter()
                .any(|w| name.contains(w))
        })
        .map(|(_, value)| value.clone())
}

impl CacheKey {
    pub fn of(client: &ResolvedClient, endpoint: &str, keyer: &Keyer) -> CacheKey {
        let grant = client.grant();
        let auth_method = client.auth_method.unwrap_or(AuthMethod::ClientSecretBasic);
        let mut settings = BTreeMap::new();
        let mut put = |name: String, value: Option<&str>| {
            if let Some(value) = value {
                settings.insert(name, keyer.hash(value));
            }
        };
        put("auth_method".into(), Some(auth_method.as_str()));
        for (name, value) in [
            ("client_secret", &client.client_secret),
            ("private_key", &client.private_key),
            ("client_cert", &client.client_cert),
            ("client_key", &client.client_key),
            ("password", &client.password),
            ("scope", &client.scope),
            ("audience", &client.audience),
            ("resource", &client.resource),
            ("subject", &client.subject),
            ("assertion_audience", &client.assertion_audience),
            ("subject_token", &client.subject_token),
            ("subject_token_type", &client.subject_token_type),
            ("actor_token", &client.actor_token),
            ("actor_token_type", &client.actor_token_type),
            ("requested_token_type", &client.requested_token_type),
        ] {
            put(name.into(), value.as_deref());
        }
        // The refresh token given in the spec starts the chain; the rotated
        // ones that follow it stay in the same slot.
        if grant == crate::check::client::Grant::RefreshToken {
            put("refresh_token".into(), client.refresh_token.as_deref());
        }
        // `dpop true` must never be handed an unbound token `optional` took.
        let dpop = match client.dpop {
            crate::check::client::Dpop::Off => None,
            crate::check::client::Dpop::Required => Some("required"),
            crate::check::client::Dpop::Optional => Some("optional"),
        };
        put("dpop".into(), dpop);
        // A user flow's token is the signed-in user's, with what the
        // authorization request asked for. (Not where the code came back
        // to: `oauthspec login` listens on a port of its own choosing.)
        put("acr_values".into(), client.acr_values.as_deref());
        // Without a `login` block naming the user, the client block and its
        // hint are all that tell two people apart.
        if grant.is_user_flow() && login_user(client).is_none() {
            put("client block".into(), Some(&client.name));
            put("login_hint".into(), client.login_hint.as_deref());
        }
        for (name, value) in client.login.iter().flat_map(|l| &l.fields) {
            put(format!("login {name}"), Some(value));
        }
        // A parameter may be repeated: all its values, in order, count.
        let mut params: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, value) in &client.params {
            params.entry(name).or_default().push(value);
        }
        for (name, values) in params {
            put(format!("param {name}"), Some(&values.join("\0")));
        }
        CacheKey {
            endpoint: endpoint.to_string(),
            grant: grant.as_str().into(),
            client_id: client.client_id.clone(),
            username: (client.username.clone()).or_else(|| login_user(client)),
            settings,
        }
    }

    /// The key of a token bound to the DPoP key with this thumbprint.
    pub fn bind_to(&mut self, jkt: &str, keyer: &Keyer) {
        self.settings.insert("dpop_jkt".into(), keyer.hash(jkt));
    }

    /// The settings that differ from `older`'s, when both are for the
    /// same client (and user) at the same endpoint.
    pub fn changed_since(&self, older: &CacheKey) -> Option<Vec<String>> {
        let same_identity = self.endpoint == older.endpoint
            && self.grant == older.grant
            && self.client_id == older.client_id
            && self.username == older.username;
        if !same_identity {
            return None;
        }
        let names: std::collections::BTreeSet<&String> =
            self.settings.keys().chain(older.settings.keys()).collect();
        Some(
            names
                .into_iter()
                .filter(|n| self.settings.get(*n) != older.settings.get(*n))
                .cloned()
                .collect(),
        )
    }
}

/// Why the cache file's token for this client was not used, for `-v`:
/// the nearest stored entry for the same client names what changed.
pub(crate) fn why_not_reused<'a>(
    key: &CacheKey,
    stored: impl Iterator<Item = &'a CacheKey>,
) -> String {
    let nearest = stored
        .filter_map(|old| key.changed_since(old))
        .filter(|changed| !changed.is_empty())
        .min_by_key(Vec::len);
    match nearest {
        Some(changed) => format!(
            "the cached token was not used: {} changed since it was issued",
            changed
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "the token cache file holds no token for these settings".into(),
    }
}

/// The `--token-cache` file.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct CacheFile {
    pub version: u32,
    /// The [`Keyer`]'s key for this file's entries.
    pub key: String,
    pub entries: Vec<CacheEntry>,
}

impl CacheFile {
    pub fn new(keyer: &Keyer) -> CacheFile {
        CacheFile {
            version: CACHE_VERSION,
            key: keyer.to_text(),
            entries: Vec::new(),
        }
    }
}

/// Reads the cache file: `None` when there is none, or it is of an older
/// format; an error when it cannot be read.
pub(crate) fn read(path: &Path) -> Result<Option<CacheFile>, Error> {
    let unreadable = |e: serde_json::Error| Error::cache(path, CacheAction::Read, e);
    let bytes = match crate::util::files::read_input(path) {
        Ok(text) => text.into_bytes(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::cache(path, CacheAction::Read, e)),
    };
    #[derive(serde::Deserialize)]
    struct Version {
        version: u32,
    }
    let version: Version = serde_json::from_slice(&bytes).map_err(unreadable)?;
    if version.version != CACHE_VERSION {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(unreadable)
}

/// Replaces the cache file atomically, readable by its owner only.
pub(crate) fn write(path: &Path, file: &CacheFile) -> Result<(), Error> {
    let json =
        serde_json::to_vec_pretty(file).map_err(|e| Error::cache(path, CacheAction::Write, e))?;
    crate::util::files::write_private(path, &json)
        .map_err(|e| Error::cache(path, CacheAction::Write, e))
}

/// The cache file's lock, held while it is read and rewritten.
pub(crate) fn lock(path: &Path) -> Result<std::fs::File, Error> {
    crate::util::files::lock_beside(path).map_err(|e| Error::cache(path, CacheAction::Lock, e))
}

/// The file format; an older one is read as an empty cache (its keys lack
/// the settings that make reuse safe).
pub(crate) const CACHE_VERSION: u32 = 2;

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct CacheEntry {
    #[serde(flatten)]
    pub key: CacheKey,
    pub access_token: Option<String>,
    pub scheme: String,
    /// Unix seconds.
    pub expires_at: Option<u64>,
    pub refresh_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ResolvedClient {
        ResolvedClient {
            name: "c".into(),
            client_id: "id".into(),
            client_secret: Some("first-client-secret-9f8e7d".into()),
            scope: Some("a b".into()),
            ..ResolvedClient::default()
        }
    }

    #[test]
    fn every_setting_that_shapes_a_token_changes_the_key() {
        let keyer = Keyer::random();
        let base = CacheKey::of(&client(), "https://as/token", &keyer);
        assert_eq!(base, CacheKey::of(&client(), "https://as/token", &keyer));
        type Change = Box<dyn Fn(&mut ResolvedClient)>;
        let variants: Vec<(&str, Change)> = vec![
            (
                "client_secret",
                Box::new(|c| c.client_secret = Some("s2".into())),
            ),
            ("scope", Box::new(|c| c.scope = None)),
            ("audience", Box::new(|c| c.audience = Some("x".into()))),
            ("resource", Box::new(|c| c.resource = Some("x".into()))),
            (
                "private_key",
                Box::new(|c| c.private_key = Some("k".into())),
            ),
            (
                "client_cert",
                Box::new(|c| c.client_cert = Some("c".into())),
            ),
            ("password", Box::new(|c| c.password = Some("p".into()))),
            (
                "auth_method",
                Box::new(|c| c.auth_method = Some(AuthMethod::ClientSecretPost)),
            ),
            (
                "param tenant",
                Box::new(|c| c.params.push(("tenant".into(), "t".into()))),
            ),
        ];
        for (name, change) in variants {
            let mut other = client();
            change(&mut other);
            let key = CacheKey::of(&other, "https://as/token", &keyer);
            assert_ne!(key, base, "{name}");
            assert_eq!(key.changed_since(&base), Some(vec![name.to_string()]));
        }
        let mut user = client();
        user.username = Some("bob".into());
        let key = CacheKey::of(&user, "https://as/token", &keyer);
        assert_ne!(key, base);
        assert_eq!(key.changed_since(&base), None, "another user, not a change");
    }

    #[test]
    fn the_key_never_holds_a_secret_and_depends_on_the_keyer() {
        let a = CacheKey::of(&client(), "u", &Keyer::random());
        let b = CacheKey::of(&client(), "u", &Keyer::random());
        assert_ne!(a, b);
        let text = serde_json::to_string(&a).unwrap();
        assert!(!text.contains("first-client-secret"), "{text}");
        let keyer = Keyer::random();
        let again = Keyer::from_text(&keyer.to_text()).unwrap();
        assert_eq!(
            CacheKey::of(&client(), "u", &keyer),
            CacheKey::of(&client(), "u", &again)
        );
    }

    #[test]
    fn the_refresh_token_counts_only_for_the_refresh_grant() {
        let keyer = Keyer::random();
        let mut c = client();
        c.refresh_token = Some("r1".into());
        let without = CacheKey::of(&c, "u", &keyer);
        assert!(!without.settings.contains_key("refresh_token"));
        c.grant = Some(crate::check::client::Grant::RefreshToken);
        let one = CacheKey::of(&c, "u", &keyer);
        c.refresh_token = Some("r2".into());
        let two = CacheKey::of(&c, "u", &keyer);
        assert_eq!(two.changed_since(&one), Some(vec!["refresh_token".into()]));
        assert_eq!(
            why_not_reused(&two, [&without, &one].into_iter()),
            "the cached token was not used: `refresh_token` changed since it was issued"
        );
    }
}
