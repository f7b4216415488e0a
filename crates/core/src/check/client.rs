//! The typed form of a `client NAME { ... }` block, validated.

use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, Span, Spanned};
use crate::syntax::ast::{ClientDef, LoginDef, Template, Value, ValueKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grant {
    ClientCredentials,
    RefreshToken,
    Password,
    /// A user's token, by the authorization code flow with PKCE.
    AuthorizationCode,
    /// A user's token, by the device authorization grant (RFC 8628).
    DeviceCode,
    /// A token for a signed assertion (RFC 7523 §2.1): service accounts.
    JwtBearer,
    /// Another token traded for one (RFC 8693).
    TokenExchange,
}

impl Grant {
    pub const NAMES: &[&str] = &[
        "client_credentials",
        "refresh_token",
        "password",
        "authorization_code",
        "device_code",
        "jwt_bearer",
        "token_exchange",
    ];

    /// The name in a spec (and in the token cache).
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken => "refresh_token",
            Grant::Password => "password",
            Grant::AuthorizationCode => "authorization_code",
            Grant::DeviceCode => "device_code",
            Grant::JwtBearer => "jwt_bearer",
            Grant::TokenExchange => "token_exchange",
        }
    }

    /// The `grant_type` of its token request.
    pub fn grant_type(self) -> &'static str {
        match self {
            Grant::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Grant::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            Grant::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            other => other.as_str(),
        }
    }

    /// A person has to sign in (or approve) for the first token; after it
    /// the refresh token renews.
    pub fn is_user_flow(self) -> bool {
        matches!(self, Grant::AuthorizationCode | Grant::DeviceCode)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// RFC 8705 §2.1: the TLS client certificate, signed by a CA the
    /// server trusts, authenticates; `client_id` goes in the form.
    TlsClientAuth,
    /// RFC 8705 §2.2: likewise with a self-signed certificate the client
    /// registered.
    SelfSignedTlsClientAuth,
    None,
}

impl AuthMethod {
    pub const NAMES: &[&str] = &[
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            AuthMethod::None => "none",
        }
    }
}

/// `dpop`: whether tokens are sender-constrained by DPoP (RFC 9449).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dpop {
    #[default]
    Off,
    /// `dpop true`: every token request and use carries a proof, and the
    /// token must come back bound (`token_type` DPoP).
    Required,
    /// `dpop optional`: proofs are sent; an unbound Bearer token is used
    /// as one.
    Optional,
}

/// Signing algorithms for `private_key_jwt` assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    RS256,
    ES256,
}

impl SigningAlg {
    pub const NAMES: &[&str] = &["RS256", "ES256"];
}

#[derive(Debug, Clone)]
pub enum Endpoint {
    TokenUrl(Value),
    Discovery(Value),
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub name: Spanned<String>,
    pub source: Arc<SourceFile>,
    pub endpoint: Endpoint,
    pub grant: Grant,
    pub auth_method: AuthMethod,
    pub client_id: Option<Value>,
    pub client_secret: Option<Value>,
    pub refresh_token: Option<Value>,
    pub username: Option<Value>,
    pub password: Option<Value>,
    pub scope: Option<Value>,
    pub audience: Option<Value>,
    pub resource: Option<Value>,
    pub private_key: Option<Value>,
    pub key_id: Option<Value>,
    pub alg: SigningAlg,
    pub scheme: Option<Value>,
    pub jwks_uri: Option<Value>,
    /// Extra trusted roots (PEM) for this client's requests.
    pub ca_cert: Option<Value>,
    /// mTLS client certificate (PEM chain) and key: sent to the token
    /// endpoint, and to APIs called with `auth` this client.
    pub client_cert: Option<Value>,
    pub client_key: Option<Value>,
    pub params: Vec<(Template, Value)>,
    /// `grant authorization_code`: where the user signs in (else from
    /// discovery), and where the code comes back to.
    pub authorize_url: Option<Value>,
    pub redirect_uri: Option<Value>,
    /// Extra authorization request parameters (OpenID Connect).
    pub prompt: Option<Value>,
    pub login_hint: Option<Value>,
    pub acr_values: Option<Value>,
    /// `grant device_code`: where the device code is asked for (else from
    /// discovery).
    pub device_authorization_url: Option<Value>,
    /// How to sign in without a browser.
    pub login: Option<LoginDef>,
    pub dpop: Dpop,
    /// The DPoP key (PKCS#8 PEM); none with `dpop`: one made per run.
    pub dpop_key: Option<Value>,
    /// `grant jwt_bearer`: the assertion's `sub` (else the client id) and
    /// `aud` (else the token endpoint).
    pub subject: Option<Value>,
    pub assertion_audience: Option<Value>,
    /// `grant token_exchange` (RFC 8693): what is traded (often another
    /// client's `token(CLIENT)`), who acts, and what is asked for.
    pub subject_token: Option<Value>,
    pub subject_token_type: Option<Value>,
    pub actor_token: Option<Value>,
    pub actor_token_type: Option<Value>,
    pub requested_token_type: Option<Value>,
}

impl ClientConfig {
    /// Every value the block holds, for variable checks.
    pub fn values(&self) -> Vec<&Value> {
        let endpoint = match &self.endpoint {
            Endpoint::TokenUrl(v) | Endpoint::Discovery(v) => v,
        };
        let optional = [
            &self.client_id,
            &self.client_secret,
            &self.refresh_token,
            &self.username,
            &self.password,
            &self.scope,
            &self.audience,
            &self.resource,
            &self.private_key,
            &self.key_id,
            &self.scheme,
            &self.jwks_uri,
            &self.ca_cert,
            &self.client_cert,
            &self.client_key,
            &self.authorize_url,
            &self.redirect_uri,
            &self.prompt,
            &self.login_hint,
            &self.acr_values,
            &self.device_authorization_url,
            &self.dpop_key,
            &self.subject,
            &self.assertion_audience,
            &self.subject_token,
            &self.subject_token_type,
            &self.actor_token,
            &self.actor_token_type,
            &self.requested_token_type,
        ];
        let login = self
            .login
            .iter()
            .flat_map(|l| (l.fields.iter().map(|p| &p.value)).chain(l.consent.as_ref()));
        std::iter::once(endpoint)
            .chain(optional.into_iter().flatten())
            .chain(self.params.iter().map(|(_, v)| v))
            .chain(login)
            .collect()
    }
}

pub const SETTINGS: &[&str] = &[
    "token_url",
    "discovery",
    "grant",
    "client_id",
    "client_secret",
    "refresh_token",
    "username",
    "password",
    "scope",
    "audience",
    "resource",
    "auth_method",
    "private_key",
    "key_id",
    "alg",
    "scheme",
    "jwks_uri",
    "ca_cert",
    "client_cert",
    "client_key",
    "param",
    "authorize_url",
    "redirect_uri",
    "prompt",
    "login_hint",
    "acr_values",
    "device_authorization_url",
    "dpop",
    "dpop_key",
    "subject",
    "assertion_audience",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
];

/// Settings only the authorization code grant uses.
const AUTHORIZATION_ONLY: &[&str] = &[
    "authorize_url",
    "redirect_uri",
    "prompt",
    "login_hint",
    "acr_values",
];

/// Validates a client block; all problems are returned at once.
pub fn from_def(
    def: &ClientDef,
    source: &Arc<SourceFile>,
) -> Result<ClientConfig, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut seen: Vec<(&str, Span)> = Vec::new();
    let get = |key: &str| -> Option<Value> {
        def.settings
            .iter()
            .find(|s| s.key.node == key)
            .map(|s| s.value.clone())
    };
    for setting in &def.settings {
        let key = setting.key.node.as_str();
        if !SETTINGS.contains(&key) {
            errors.push(
                Diagnostic::error(format!("unknown client setting `{key}`"))
                    .at(source, setting.key.span)
                    .suggest(key, SETTINGS.iter().copied()),
            );
            continue;
        }
        if key != "param" {
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                errors.push(
                    Diagnostic::error(format!(
                        "`{key}` is set twice in client `{}`",
                        def.name.node
                    ))
                    .at(source, setting.key.span)
                    .note(format!("first set at {}", source.location(first.start))),
                );
            }
            seen.push((key, setting.key.span));
        }
    }
    let mut choice = |key: &str, names: &[&str], default: usize| -> usize {
        let Some(value) = get(key) else {
            return default;
        };
        let word = match &value.kind {
            ValueKind::Symbol(s) => Some(s.clone()),
            ValueKind::Str(t) => t.as_literal(),
            _ => None,
        };
        match word
            .as_deref()
            .and_then(|w| names.iter().position(|n| *n == w))
        {
            Some(i) => i,
            None => {
                let shown = word.clone().unwrap_or_else(|| "this value".into());
                let mut d = Diagnostic::error(format!("`{shown}` is not a valid `{key}`"))
                    .at(source, value.span)
                    .label(format!("expected one of: {}", names.join(", ")));
                if let Some(w) = &word {
                    d = d.suggest(w, names.iter().copied());
                }
                errors.push(d);
                default
            }
        }
    };
    let grant = [
        Grant::ClientCredentials,
        Grant::RefreshToken,
        Grant::Password,
        Grant::AuthorizationCode,
        Grant::DeviceCode,
        Grant::JwtBearer,
        Grant::TokenExchange,
    ][choice("grant", Grant::NAMES, 0)];
    // The assertion is the credential of a JWT bearer grant: by default
    // the client does not authenticate besides (Google's service accounts).
    let default_method = if grant == Grant::JwtBearer { 3 } else { 0 };
    let auth_method = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
        AuthMethod::TlsClientAuth,
        AuthMethod::SelfSignedTlsClientAuth,
    ][choice("auth_method", AuthMethod::NAMES, default_method)];
    let alg = [SigningAlg::RS256, SigningAlg::ES256][choice("alg", SigningAlg::NAMES, 0)];

    let endpoint = match (get("token_url"), get("discovery")) {
        (Some(url), None) => Some(Endpoint::TokenUrl(url)),
        (None, Some(issuer)) => Some(Endpoint::Discovery(issuer)),
        (Some(_), Some(d)) => {
            errors.push(
                Diagnostic::error("a client has `token_url` or `discovery`, not both")
                    .at(source, d.span),
            );
            None
        }
        (None, None) => {
            errors.push(
                Diagnostic::error(format!("client `{}` has no token endpoint", def.name.node))
                    .at(source, def.name.span)
                    .help("add `token_url \"...\"` or `discovery \"ISSUER\"`"),
            );
            None
        }
    };
    let mut require = |key: &str, why: &str| {
        if get(key).is_none() {
            errors.push(
                Diagnostic::error(format!("client `{}` needs `{key}` {why}", def.name.node))
                    .at(source, def.name.span),
            );
        }
    };
    require("client_id", "to identify itself");
    match auth_method {
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => require(
            "client_secret",
            &format!("for `auth_method {}`", auth_method.as_str()),
        ),
        AuthMethod::PrivateKeyJwt => require("private_key", "for `auth_method private_key_jwt`"),
        AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth => {
            let why = format!("for `auth_method {}`", auth_method.as_str());
            require("client_cert", &why);
            require("client_key", &why);
        }
        AuthMethod::None => {}
    }
    match grant {
        Grant::RefreshToken => require("refresh_token", "for `grant refresh_token`"),
        Grant::Password => {
            require("username", "for `grant password`");
            require("password", "for `grant password`");
        }
        Grant::AuthorizationCode => {
            require("redirect_uri", "for `grant authorization_code`");
            if get("authorize_url").is_none() && get("discovery").is_none() {
                errors.push(
                    Diagnostic::error(format!(
                        "client `{}` needs `authorize_url` (or `discovery`) for `grant authorization_code`",
                        def.name.node
                    ))
                    .at(source, def.name.span),
                );
            }
        }
        Grant::DeviceCode => {
            if get("device_authorization_url").is_none() && get("discovery").is_none() {
                errors.push(
                    Diagnostic::error(format!(
                        "client `{}` needs `device_authorization_url` (or `discovery`) for `grant device_code`",
                        def.name.node
                    ))
                    .at(source, def.name.span),
                );
            }
        }
        Grant::JwtBearer => require("private_key", "to sign the assertion of `grant jwt_bearer`"),
        Grant::TokenExchange => require("subject_token", "to trade, for `grant token_exchange`"),
        Grant::ClientCredentials => {}
    }
    // Settings of another grant would be silently ignored.
    let only_for = |key: &str| match key {
        k if AUTHORIZATION_ONLY.contains(&k) => Some(Grant::AuthorizationCode),
        "device_authorization_url" => Some(Grant::DeviceCode),
        "subject" | "assertion_audience" => Some(Grant::JwtBearer),
        "subject_token"
        | "subject_token_type"
        | "actor_token"
        | "actor_token_type"
        | "requested_token_type" => Some(Grant::TokenExchange),
        _ => None,
    };
    for setting in &def.settings {
        if let Some(needed) = only_for(&setting.key.node).filter(|g| *g != grant) {
            errors.push(
                Diagnostic::error(format!(
                    "`{}` is for `grant {}`, and client `{}` uses `grant {}`",
                    setting.key.node,
                    needed.as_str(),
                    def.name.node,
                    grant.as_str()
                ))
                .at(source, setting.key.span),
            );
        }
    }
    if let Some(uri) = get("redirect_uri") {
        if let Some(text) = literal(&uri) {
            match url::Url::parse(&text) {
                Ok(url) if url.fragment().is_none() => {}
                _ => errors.push(
                    Diagnostic::error(format!(
                        "`redirect_uri` must be an absolute URL without a fragment, not {text:?}"
                    ))
                    .at(source, uri.span)
                    .help("e.g. \"http://127.0.0.1/callback\" (the provider must know it)"),
                ),
            }
        }
    }
    errors.extend(check_login(def, grant, source));
    for setting in &def.settings {
        let traded = matches!(setting.key.node.as_str(), "subject_token" | "actor_token");
        match (&setting.value.kind, traded) {
            (ValueKind::ClientToken(other), false) => errors.push(
                Diagnostic::error("`token(CLIENT)` is for `subject_token` or `actor_token`")
                    .at(source, other.span),
            ),
            (ValueKind::Secret(inner), _) if matches!(inner.kind, ValueKind::ClientToken(_)) => {
                errors.push(
                    Diagnostic::error("`token(CLIENT)` is a secret already")
                        .at(source, setting.value.span)
                        .help("write `token(CLIENT)` without `secret(...)`"),
                )
            }
            _ => {}
        }
    }
    let dpop = match get("dpop").map(|v| (v.kind.clone(), v.span)) {
        None | Some((ValueKind::Bool(false), _)) => Dpop::Off,
        Some((ValueKind::Bool(true), _)) => Dpop::Required,
        Some((ValueKind::Symbol(word), _)) if word == "optional" => Dpop::Optional,
        Some((_, span)) => {
            errors.push(
                Diagnostic::error("`dpop` is `true`, `false` or `optional`")
                    .at(source, span)
                    .help("`dpop true` binds every token to a key made for the run; add `dpop_key secret(file(\"dpop.pem\"))` for your own"),
            );
            Dpop::Off
        }
    };
    if let (Some(key), Dpop::Off) = (get("dpop_key"), dpop) {
        errors.push(
            Diagnostic::error("`dpop_key` without `dpop true` (or `dpop optional`)")
                .at(source, key.span),
        );
    }
    for (have, need) in [("client_cert", "client_key"), ("client_key", "client_cert")] {
        if let (Some(v), None) = (get(have), get(need)) {
            errors.push(
                Diagnostic::error(format!("`{have}` without `{need}`"))
                    .at(source, v.span)
                    .help("a TLS client certificate needs both `client_cert` and `client_key`"),
            );
        }
    }
    let params = def
        .settings
        .iter()
        .filter_map(|s| Some((s.param.clone()?, s.value.clone())))
        .collect();
    let (Some(endpoint), true) = (endpoint, errors.is_empty()) else {
        return Err(errors);
    };
    Ok(ClientConfig {
        name: def.name.clone(),
        source: source.clone(),
        endpoint,
        grant,
        auth_method,
        client_id: get("client_id"),
        client_secret: get("client_secret"),
        refresh_token: get("refresh_token"),
        username: get("username"),
        password: get("password"),
        scope: get("scope"),
        audience: get("audience"),
        resource: get("resource"),
        private_key: get("private_key"),
        key_id: get("key_id"),
        alg,
        scheme: get("scheme"),
        jwks_uri: get("jwks_uri"),
        ca_cert: get("ca_cert"),
        client_cert: get("client_cert"),
        client_key: get("client_key"),
        params,
        authorize_url: get("authorize_url"),
        redirect_uri: get("redirect_uri"),
        prompt: get("prompt"),
        login_hint: get("login_hint"),
        acr_values: get("acr_values"),
        device_authorization_url: get("device_authorization_url"),
        login: def.login.first().cloned(),
        dpop,
        dpop_key: get("dpop_key"),
        subject: get("subject"),
        assertion_audience: get("assertion_audience"),
        subject_token: get("subject_token"),
        subject_token_type: get("subject_token_type"),
        actor_token: get("actor_token"),
        actor_token_type: get("actor_token_type"),
        requested_token_type: get("requested_token_type"),
    })
}

/// The text of a value with no templates or functions in it.
pub(super) fn literal(value: &Value) -> Option<String> {
    match &value.kind {
        ValueKind::Str(t) => t.as_literal(),
        _ => None,
    }
}

/// A `login` block belongs to a user flow, once, with each field once.
fn check_login(def: &ClientDef, grant: Grant, source: &Arc<SourceFile>) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for (i, login) in def.login.iter().enumerate() {
        if i > 0 {
            errors.push(
                Diagnostic::error(format!("client `{}` has two `login` blocks", def.name.node))
                    .at(source, login.span),
            );
        }
        if !grant.is_user_flow() {
            errors.push(
                Diagnostic::error(format!(
                    "a `login` block signs a person in, for `grant authorization_code` or `grant device_code`; client `{}` uses `grant {}`",
                    def.name.node,
                    grant.as_str()
                ))
                .at(source, login.span),
            );
        }
        let mut seen: Vec<&Template> = Vec::new();
        for field in &login.fields {
            // Templated names are known at run time only.
            let name = field.name.as_literal();
            if let Some(first) = (seen.iter()).find(|t| name.is_some() && t.as_literal() == name) {
                errors.push(
                    Diagnostic::error("this login field is set twice")
                        .at(source, field.name.span)
                        .note(format!(
                            "first set at {}",
                            source.location(first.span.start)
                        )),
                );
            }
            seen.push(&field.name);
        }
        if login.fields.is_empty() && login.consent.is_none() {
            errors.push(
                Diagnostic::error("an empty `login` block")
                    .at(source, login.span)
                    .help("name the form fields to fill in: `login { username = \"alice\" password = secret(env(\"ALICE_PASSWORD\")) }`"),
            );
        }
    }
    errors
}
