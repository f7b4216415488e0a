//! Sandbox configuration: the default demo setup and the TOML format.
//!
//! TOML entries are merged into the defaults: a client or user whose id is a
//! default one overrides only the fields it names; other entries are added.
//! `include_defaults = false` starts from no clients and no users instead.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::faults::{parse_fault, Fault};
use crate::keys::ClientKey;

/// Token lifetime when the config does not say (seconds).
pub const DEFAULT_TOKEN_LIFETIME: u64 = 3600;
/// Refresh token lifetime when the config does not say (seconds).
pub const DEFAULT_REFRESH_TOKEN_LIFETIME: u64 = 86_400;
/// `aud` of access tokens when the request names none; the demo API only
/// accepts tokens for this audience.
pub const DEFAULT_AUDIENCE: &str = "orders-api";
/// The public half of specs/examples/service-account-key.pem.
const SERVICE_ACCOUNT_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzQgDh8dc/qKulVQOyRC8VMSRhV+W\nYrvAiJcBjv/rkn6xgxkx/OB7YM5Qpq4dD0Pf9dOsU6XKj3Eub3hRb8xDoQ==\n-----END PUBLIC KEY-----\n";

/// The redirect URI of the demo clients: loopback, so any port matches.
pub const DEMO_REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// Longest accepted token lifetime (ten years, seconds).
const MAX_LIFETIME: u64 = 10 * 365 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
    RefreshToken,
    Password,
    AuthorizationCode,
    /// RFC 8628; `device_code` in the TOML config.
    DeviceCode,
    /// RFC 7523 §2.1; `jwt_bearer` in the TOML config.
    JwtBearer,
    /// RFC 8693; `token_exchange` in the TOML config.
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 7] = [
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
        GrantType::Password,
        GrantType::AuthorizationCode,
        GrantType::DeviceCode,
        GrantType::JwtBearer,
        GrantType::TokenExchange,
    ];

    /// The `grant_type` value of the token request.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
            GrantType::Password => "password",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// Token endpoint client authentication methods (RFC 8414 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// RFC 8705 §2.1: the TLS client certificate, whose subject CN must be
    /// the client id, authenticates (served over TLS only).
    TlsClientAuth,
    /// RFC 8705 §2.2: the TLS client certificate, self-signed, must be
    /// the one registered for the client (`self_signed_cert_pem`).
    SelfSignedTlsClientAuth,
    None,
}

impl ClientAuthMethod {
    pub const ALL: [ClientAuthMethod; 6] = [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::PrivateKeyJwt,
        ClientAuthMethod::TlsClientAuth,
        ClientAuthMethod::SelfSignedTlsClientAuth,
        ClientAuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
            ClientAuthMethod::TlsClientAuth => "tls_client_auth",
            ClientAuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            ClientAuthMethod::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredClient {
    pub id: String,
    /// For `client_secret_basic` / `client_secret_post`.
    pub secret: Option<String>,
    /// PEM public key (RSA, EC P-256/P-384 or Ed25519) for `private_key_jwt`.
    pub public_key_pem: Option<String>,
    /// PEM certificate for `self_signed_tls_client_auth` (RFC 8705 §2.2).
    pub self_signed_cert_pem: Option<String>,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub auth_methods: Vec<ClientAuthMethod>,
    /// Where the authorization endpoint may send the code: compared
    /// exactly, except that a loopback one (`http://127.0.0.1/...`)
    /// matches any port (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
}

impl RegisteredClient {
    /// The DER of the certificate registered for
    /// `self_signed_tls_client_auth`, if it is one.
    pub(crate) fn self_signed_cert_der(&self) -> Option<Vec<u8>> {
        use rustls::pki_types::pem::PemObject as _;
        let pem = self.self_signed_cert_pem.as_deref()?;
        let cert = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
        crate::client_auth::is_certificate(&cert).then(|| cert.to_vec())
    }

    /// A new client with the defaults used for TOML entries: auth methods
    /// follow the credentials given, public clients get the user grants.
    fn new(raw: &RawClient) -> Self {
        let mut auth_methods = Vec::new();
        let (secret, public_key_pem) = (raw.secret.clone(), raw.public_key_pem.clone());
        if secret.is_some() {
            auth_methods.extend([
                ClientAuthMethod::ClientSecretBasic,
                ClientAuthMethod::ClientSecretPost,
            ]);
        }
        if public_key_pem.is_some() {
            auth_methods.push(ClientAuthMethod::PrivateKeyJwt);
        }
        if raw.self_signed_cert_pem.is_some() {
            auth_methods.push(ClientAuthMethod::SelfSignedTlsClientAuth);
        }
        let grants = if auth_methods.is_empty() {
            auth_methods.push(ClientAuthMethod::None);
            vec![GrantType::Password, GrantType::RefreshToken]
        } else {
            vec![GrantType::ClientCredentials, GrantType::RefreshToken]
        };
        RegisteredClient {
            id: raw.id.clone(),
            secret,
            public_key_pem,
            self_signed_cert_pem: raw.self_signed_cert_pem.clone(),
            grants,
            scopes: vec!["orders:read".to_string()],
            auth_methods,
            redirect_uris: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub username: String,
    pub password: String,
    /// The scopes the user may grant a client; none given: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    pub clients: Vec<RegisteredClient>,
    pub users: Vec<UserConfig>,
    /// Access token lifetime, seconds.
    pub token_lifetime: u64,
    /// Refresh token lifetime, seconds.
    pub refresh_token_lifetime: u64,
    /// Whether a refresh token is spent when used and a new one issued
    /// (default); without rotation it stays valid, as Zoho's and Google's do.
    pub rotate_refresh_tokens: bool,
    /// Default `aud` of access tokens, and the audience the demo API accepts.
    pub audience: String,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
    /// The device flow's polling interval, seconds (RFC 8628 `interval`).
    pub device_interval: u64,
    /// DPoP proofs must carry the server's nonce (RFC 9449 §8, §9).
    pub dpop_nonce: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let s = |v: &str| v.to_string();
        SandboxConfig {
            clients: vec![
                RegisteredClient {
                    id: s("demo-client"),
                    secret: Some(s("demo-secret")),
                    public_key_pem: None,
                    self_signed_cert_pem: None,
                    grants: GrantType::ALL.to_vec(),
                    scopes: vec![s("orders:read")],
                    auth_methods: vec![
                        ClientAuthMethod::ClientSecretBasic,
                        ClientAuthMethod::ClientSecretPost,
                    ],
                    redirect_uris: vec![s(DEMO_REDIRECT_URI)],
                },
                RegisteredClient {
                    id: s("admin-client"),
                    secret: Some(s("admin-secret")),
                    public_key_pem: None,
                    self_signed_cert_pem: None,
                    grants: GrantType::ALL.to_vec(),
                    scopes: vec![s("orders:read"), s("orders:write"), s("orders:admin")],
                    auth_methods: vec![
                        ClientAuthMethod::ClientSecretBasic,
                        ClientAuthMethod::ClientSecretPost,
                    ],
                    redirect_uris: Vec::new(),
                },
                RegisteredClient {
                    id: s("public-client"),
                    secret: None,
                    public_key_pem: None,
                    self_signed_cert_pem: None,
                    grants: vec![
                        GrantType::Password,
                        GrantType::RefreshToken,
                        GrantType::AuthorizationCode,
                        GrantType::DeviceCode,
                    ],
                    scopes: vec![s("orders:read")],
                    auth_methods: vec![ClientAuthMethod::None],
                    redirect_uris: vec![s(DEMO_REDIRECT_URI)],
                },
                // A service account for the JWT bearer grant: its private
                // key is specs/examples/service-account-key.pem, a demo
                // key of this sandbox and nothing else.
                RegisteredClient {
                    id: s("service-account"),
                    secret: None,
                    public_key_pem: Some(s(SERVICE_ACCOUNT_KEY)),
                    self_signed_cert_pem: None,
                    grants: vec![GrantType::JwtBearer],
                    scopes: vec![s("orders:read")],
                    auth_methods: vec![ClientAuthMethod::None],
                    redirect_uris: Vec::new(),
                },
            ],
            users: vec![UserConfig {
                username: s("alice"),
                password: s("alice-password"),
                scopes: Some(vec![s("openid"), s("orders:read")]),
            }],
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            refresh_token_lifetime: DEFAULT_REFRESH_TOKEN_LIFETIME,
            rotate_refresh_tokens: true,
            audience: s(DEFAULT_AUDIENCE),
            faults: Vec::new(),
            device_interval: 5,
            dpop_nonce: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    include_defaults: Option<bool>,
    token_lifetime: Option<u64>,
    refresh_token_lifetime: Option<u64>,
    rotate_refresh_tokens: Option<bool>,
    audience: Option<String>,
    device_interval: Option<u64>,
    dpop_nonce: Option<bool>,
    #[serde(default)]
    faults: Vec<String>,
    #[serde(default)]
    clients: Vec<RawClient>,
    #[serde(default)]
    users: Vec<UserConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    id: String,
    secret: Option<String>,
    public_key_pem: Option<String>,
    self_signed_cert_pem: Option<String>,
    grants: Option<Vec<GrantType>>,
    scopes: Option<Vec<String>>,
    auth_methods: Option<Vec<ClientAuthMethod>>,
    redirect_uris: Option<Vec<String>>,
}

impl SandboxConfig {
    pub fn from_toml_str(s: &str) -> Result<Self, String> {
        let raw: RawConfig =
            toml::from_str(s).map_err(|e| format!("invalid sandbox config: {e}"))?;
        let mut config = if raw.include_defaults.unwrap_or(true) {
            SandboxConfig::default()
        } else {
            SandboxConfig {
                clients: Vec::new(),
                users: Vec::new(),
                ..SandboxConfig::default()
            }
        };
        if let Some(v) = raw.token_lifetime {
            config.token_lifetime = v;
        }
        if let Some(v) = raw.refresh_token_lifetime {
            config.refresh_token_lifetime = v;
        }
        if let Some(v) = raw.rotate_refresh_tokens {
            config.rotate_refresh_tokens = v;
        }
        if let Some(v) = raw.audience {
            config.audience = v;
        }
        if let Some(v) = raw.device_interval {
            config.device_interval = v;
        }
        if let Some(v) = raw.dpop_nonce {
            config.dpop_nonce = v;
        }
        for spec in &raw.faults {
            config.faults.push(parse_fault(spec)?);
        }
        for rc in raw.clients {
            config.merge_client(rc);
        }
        for user in raw.users {
            match config
                .users
                .iter_mut()
                .find(|u| u.username == user.username)
            {
                Some(existing) => *existing = user,
                None => config.users.push(user),
            }
        }
        config.validate()?;
        Ok(config)
    }

    pub fn from_toml_file(path: &Path) -> Result<Self, String> {
        let text = oauthspec_core::util::files::read_input(path)
            .map_err(|e| format!("cannot read sandbox config {}: {e}", path.display()))?;
        Self::from_toml_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn merge_client(&mut self, rc: RawClient) {
        let idx = match self.clients.iter().position(|c| c.id == rc.id) {
            Some(idx) => idx,
            None => {
                self.clients.push(RegisteredClient::new(&rc));
                self.clients.len() - 1
            }
        };
        let client = &mut self.clients[idx];
        if rc.secret.is_some() {
            client.secret = rc.secret;
        }
        if rc.public_key_pem.is_some() {
            client.public_key_pem = rc.public_key_pem;
        }
        if rc.self_signed_cert_pem.is_some() {
            client.self_signed_cert_pem = rc.self_signed_cert_pem;
        }
        if let Some(v) = rc.grants {
            client.grants = v;
        }
        if let Some(v) = rc.scopes {
            client.scopes = v;
        }
        if let Some(v) = rc.auth_methods {
            client.auth_methods = v;
        }
        if let Some(v) = rc.redirect_uris {
            client.redirect_uris = v;
        }
    }

    /// Checks the config is usable; `Sandbox::start` calls it too, for
    /// configs built in code.
    pub fn validate(&self) -> Result<(), String> {
        // The upper bound keeps `now + lifetime` (and `expires_in_ms`)
        // far from overflow.
        for (name, v) in [
            ("token_lifetime", self.token_lifetime),
            ("refresh_token_lifetime", self.refresh_token_lifetime),
        ] {
            if !(1..=MAX_LIFETIME).contains(&v) {
                return Err(format!(
                    "{name} must be between 1 and {MAX_LIFETIME} seconds"
                ));
            }
        }
        if !(1..=60).contains(&self.device_interval) {
            return Err("device_interval must be between 1 and 60 seconds".into());
        }
        if self.audience.trim().is_empty() {
            return Err("audience must not be empty".into());
        }
        for (i, c) in self.clients.iter().enumerate() {
            let ctx = |msg: &str| format!("client `{}`: {msg}", c.id);
            if c.id.is_empty() || c.id.contains(':') {
                return Err(ctx("client id must be non-empty and contain no `:`"));
            }
            if self.clients[..i].iter().any(|o| o.id == c.id) {
                return Err(ctx("defined twice"));
            }
            if c.auth_methods.is_empty() {
                return Err(ctx("auth_methods must not be empty"));
            }
            let uses_secret = c.auth_methods.iter().any(|m| {
                matches!(
                    m,
                    ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
                )
            });
            if uses_secret && c.secret.as_deref().is_none_or(str::is_empty) {
                return Err(ctx("client_secret_* auth needs a non-empty `secret`"));
            }
            if c.auth_methods.contains(&ClientAuthMethod::PrivateKeyJwt) {
                let pem = c
                    .public_key_pem
                    .as_deref()
                    .ok_or_else(|| ctx("private_key_jwt needs `public_key_pem`"))?;
                ClientKey::from_pem(pem).map_err(|e| ctx(&e))?;
            }
            if c.auth_methods
                .contains(&ClientAuthMethod::SelfSignedTlsClientAuth)
                && c.self_signed_cert_der().is_none()
            {
                return Err(ctx(
                    "self_signed_tls_client_auth needs `self_signed_cert_pem`, a PEM certificate",
                ));
            }
            if c.grants.is_empty() {
                return Err(ctx("grants must not be empty"));
            }
            if let Some(bad) = (c.redirect_uris.iter())
                .find(|u| url::Url::parse(u).map_or(true, |u| u.fragment().is_some()))
            {
                return Err(ctx(&format!(
                    "redirect URI `{bad}` is not an absolute URL without a fragment"
                )));
            }
            if let Some(bad) = c
                .scopes
                .iter()
                .find(|s| s.is_empty() || s.chars().any(|ch| ch.is_whitespace() || ch == '"'))
            {
                return Err(ctx(&format!("invalid scope `{bad}`")));
            }
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.username.is_empty() {
                return Err("user with an empty username".into());
            }
            if self.users[..i].iter().any(|o| o.username == u.username) {
                return Err(format!("user `{}` defined twice", u.username));
            }
        }
        Ok(())
    }

    pub fn client(&self, id: &str) -> Option<&RegisteredClient> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// All scopes any client may get, sorted (for `scopes_supported`).
    pub fn all_scopes(&self) -> Vec<String> {
        let mut all: Vec<String> = self.clients.iter().flat_map(|c| c.scopes.clone()).collect();
        all.sort();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_is_the_default() {
        assert_eq!(
            SandboxConfig::from_toml_str("").unwrap(),
            SandboxConfig::default()
        );
    }

    #[test]
    fn merges_clients_and_users() {
        let c = SandboxConfig::from_toml_str(
            r#"
            token_lifetime = 60
            faults = ["token:latency=10ms"]
            [[clients]]
            id = "demo-client"
            scopes = ["orders:read", "orders:write"]
            [[clients]]
            id = "svc"
            secret = "s3"
            [[users]]
            username = "bob"
            password = "pw"
            "#,
        )
        .unwrap();
        assert_eq!(c.token_lifetime, 60);
        assert_eq!(c.faults.len(), 1);
        let demo = c.client("demo-client").unwrap();
        assert_eq!(demo.secret.as_deref(), Some("demo-secret"));
        assert_eq!(demo.scopes, ["orders:read", "orders:write"]);
        let svc = c.client("svc").unwrap();
        assert_eq!(
            svc.auth_methods,
            [
                ClientAuthMethod::ClientSecretBasic,
                ClientAuthMethod::ClientSecretPost
            ]
        );
        assert_eq!(
            svc.grants,
            [GrantType::ClientCredentials, GrantType::RefreshToken]
        );
        assert_eq!(c.users.len(), 2);
    }

    /// A client given a certificate authenticates with it (RFC 8705 §2.2).
    #[test]
    fn a_registered_certificate_means_self_signed_tls_client_auth() {
        // The shape of a certificate is enough: only its bytes are compared.
        let pem = "-----BEGIN CERTIFICATE-----\nMAcwADAAAwEA\n-----END CERTIFICATE-----\n";
        let c = SandboxConfig::from_toml_str(&format!(
            "[[clients]]\nid = \"robot\"\nself_signed_cert_pem = \"\"\"\n{pem}\"\"\"\n"
        ))
        .unwrap();
        let robot = c.client("robot").unwrap();
        assert_eq!(
            robot.auth_methods,
            [ClientAuthMethod::SelfSignedTlsClientAuth]
        );
        assert_eq!(robot.grants[0], GrantType::ClientCredentials);
        assert_eq!(
            robot.self_signed_cert_der().unwrap(),
            [0x30, 0x07, 0x30, 0x00, 0x30, 0x00, 0x03, 0x01, 0x00]
        );
    }

    #[test]
    fn include_defaults_false_starts_empty() {
        let c = SandboxConfig::from_toml_str("include_defaults = false\n[[clients]]\nid = \"p\"\n")
            .unwrap();
        assert_eq!(c.clients.len(), 1);
        assert_eq!(c.clients[0].auth_methods, [ClientAuthMethod::None]);
        assert!(c.users.is_empty());
    }

    #[test]
    fn reports_errors() {
        for (toml, needle) in [
            ("colour = 1", "unknown field `colour`"),
            ("token_lifetime = 0", "token_lifetime"),
            (
                "refresh_token_lifetime = 400000000",
                "refresh_token_lifetime",
            ),
            ("faults = [\"token:boom\"]", "unknown fault kind"),
            (
                "[[clients]]\nid = \"x\"\ngrants = [\"implicit\"]",
                "unknown variant `implicit`",
            ),
            (
                "[[clients]]\nid = \"x\"\nauth_methods = [\"private_key_jwt\"]",
                "needs `public_key_pem`",
            ),
            (
                "[[clients]]\nid = \"x\"\npublic_key_pem = \"nope\"",
                "client `x`",
            ),
            (
                "[[clients]]\nid = \"x\"\nauth_methods = [\"self_signed_tls_client_auth\"]",
                "needs `self_signed_cert_pem`",
            ),
            (
                "[[clients]]\nid = \"x\"\nself_signed_cert_pem = \"not a certificate\"",
                "needs `self_signed_cert_pem`, a PEM certificate",
            ),
            (
                // PEM armour around an INTEGER, not a certificate.
                "[[clients]]\nid = \"x\"\nself_signed_cert_pem = \"-----BEGIN CERTIFICATE-----\\nMAMCAQA=\\n-----END CERTIFICATE-----\\n\"",
                "needs `self_signed_cert_pem`, a PEM certificate",
            ),
        ] {
            let e = SandboxConfig::from_toml_str(toml).unwrap_err();
            assert!(e.contains(needle), "{toml}: {e}");
        }
    }
}
