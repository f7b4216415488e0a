//! Managed clients: one token cache for the whole run.
//!
//! A token is requested once per [`CacheKey`] (the client, its credentials
//! and every setting that shapes the token) however many specs use it:
//! concurrent first users wait on the slot's lock while one request is in
//! flight.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;

use super::assertion::AssertionSigner;
use super::cache::{self, why_not_reused, CacheEntry, CacheFile, CacheKey, Keyer};
use super::discovery::{self, Metadata};
use super::dpop::DpopKey;
use super::form::{add_assertion, basic, grant_fields, token_form};
use super::login::ResolvedLogin;
use super::response::{oauth_error_code, parse_token_response};
use crate::check::client::{AuthMethod, Dpop, Grant, SigningAlg};
use crate::error::{CacheAction, Error};
use crate::http::{Exchange, Http, TlsKey, TransportError};
use crate::results::{supersede_last, Attempt, AttemptKind, FailureClass};
use crate::retry::RetryPolicy;
use crate::secrets::Redactor;

/// A client block with its values resolved for one spec.
#[derive(Debug, Clone, Default)]
pub struct ResolvedClient {
    pub name: String,
    pub token_url: Option<String>,
    pub discovery: Option<String>,
    pub grant: Option<Grant>,
    pub auth_method: Option<AuthMethod>,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub private_key: Option<String>,
    pub key_id: Option<String>,
    pub alg: Option<SigningAlg>,
    pub scheme: Option<String>,
    pub jwks_uri: Option<String>,
    /// Extra trusted roots (PEM).
    pub ca_cert: Option<String>,
    /// mTLS client certificate and key (PEM).
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub params: Vec<(String, String)>,
    pub authorize_url: Option<String>,
    pub redirect_uri: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    pub acr_values: Option<String>,
    pub device_authorization_url: Option<String>,
    /// How to sign in without a browser.
    pub login: Option<ResolvedLogin>,
    pub dpop: Dpop,
    /// PKCS#8 PEM; none with `dpop`: a key made for the run.
    pub dpop_key: Option<String>,
    /// `grant jwt_bearer`: the assertion's `sub` and `aud`.
    pub subject: Option<String>,
    pub assertion_audience: Option<String>,
    /// `grant token_exchange`.
    pub subject_token: Option<String>,
    pub subject_token_type: Option<String>,
    pub actor_token: Option<String>,
    pub actor_token_type: Option<String>,
    pub requested_token_type: Option<String>,
}

impl ResolvedClient {
    pub fn grant(&self) -> Grant {
        self.grant.unwrap_or(Grant::ClientCredentials)
    }

    /// The connection pool key for this client's token requests.
    pub fn tls_key(&self) -> TlsKey {
        TlsKey {
            ca_cert: self.ca_cert.clone(),
            identity: self.client_cert.clone().zip(self.client_key.clone()),
            ..TlsKey::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct Token {
    pub access_token: String,
    /// The Authorization scheme: the client's `scheme`, else `Bearer`.
    pub scheme: String,
    /// When to stop using it: `expires_in` less the skew.
    pub expires_at: Option<SystemTime>,
}

impl Token {
    fn fresh(&self) -> bool {
        self.expires_at.is_none_or(|at| SystemTime::now() < at)
    }
}

impl Token {
    pub fn authorization(&self) -> String {
        format!("{} {}", self.scheme, self.access_token)
    }
}

#[derive(Debug, Clone)]
pub struct TokenError {
    pub class: FailureClass,
    pub message: String,
}

impl TokenError {
    /// A failure of `client`'s token request, named after the client.
    pub(super) fn of(client: &ResolvedClient, class: FailureClass, message: String) -> TokenError {
        TokenError {
            class,
            message: format!("client `{}`: {message}", client.name),
        }
    }
}

/// Where a step's token came from, for `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// A token request made for this step.
    Request,
    /// A token an earlier step of this run fetched.
    Run,
    /// `--token-cache`: a token an earlier run fetched.
    CacheFile,
}

impl TokenSource {
    pub fn describe(self) -> &'static str {
        match self {
            TokenSource::Request => "a token request",
            TokenSource::Run => "this run's cache",
            TokenSource::CacheFile => "the token cache file",
        }
    }
}

/// How a step's token requests are sent: its timeout and retry policy.
#[derive(Debug, Clone, Copy)]
pub struct RequestPolicy {
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

#[derive(Default)]
pub(super) struct Slot {
    token: Option<Token>,
    /// The newest refresh token: after rotation, the one to use next.
    pub(super) refresh_token: Option<String>,
    /// The token was read from the cache file and not fetched since.
    from_file: bool,
}

pub(super) type Shared<T> = Arc<tokio::sync::Mutex<T>>;

/// Values fetched once per run by key; the first caller computes, later
/// ones wait for it. A failure is kept only briefly (see `once`).
type OnceMap<T> = Mutex<HashMap<String, Shared<Option<Fetched<T>>>>>;

enum Fetched<T> {
    Value(T),
    Failed(String, std::time::Instant),
}

/// How long a failed fetch answers for itself: callers queued behind it
/// share it, a retry a moment later (a restarting server) fetches again.
const FAILURE_KEPT: Duration = Duration::from_secs(1);

pub struct TokenManager {
    pub(super) http: Arc<Http>,
    pub(super) redactor: Arc<Redactor>,
    timeout: Duration,
    /// Renew this long before `expires_in` runs out.
    pub skew: Duration,
    /// Hashes the secrets in cache keys.
    keyer: Keyer,
    slots: Mutex<HashMap<CacheKey, Shared<Slot>>>,
    /// When each client's newest token is to be renewed, by client name.
    renewals: Mutex<std::collections::BTreeMap<String, SystemTime>>,
    metadata: OnceMap<Metadata>,
    jwks: OnceMap<JwkSet>,
    requests: std::sync::atomic::AtomicUsize,
    /// `--token-cache`: where tokens outlive the run.
    cache_file: Option<PathBuf>,
    /// The first failure to write the cache file.
    cache_error: Mutex<Option<Error>>,
    /// The keys the cache file held when the run started, to say why one
    /// was not reused.
    stored_keys: Vec<CacheKey>,
    /// DPoP keys, by client block and key (one made per run for a client
    /// that names none).
    dpop_keys: Mutex<HashMap<String, Arc<DpopKey>>>,
    /// The newest `DPoP-Nonce` of each server (origin).
    dpop_nonces: Mutex<HashMap<String, String>>,
}

impl TokenManager {
    pub fn new(http: Arc<Http>, redactor: Arc<Redactor>, timeout: Duration) -> TokenManager {
        TokenManager {
            http,
            redactor,
            timeout,
            skew: Duration::from_secs(30),
            keyer: Keyer::random(),
            slots: Mutex::default(),
            renewals: Mutex::default(),
            metadata: Mutex::default(),
            jwks: Mutex::default(),
            requests: Default::default(),
            cache_file: None,
            cache_error: Mutex::default(),
            stored_keys: Vec::new(),
            dpop_keys: Mutex::default(),
            dpop_nonces: Mutex::default(),
        }
    }

    /// Keeps access tokens (until they expire) and the newest refresh
    /// tokens in `path` across runs, so re-runs stay under token rate
    /// limits and a rotated refresh token is never lost. A missing file,
    /// or one of an older format, is an empty cache; an unreadable one is
    /// an error.
    pub fn with_cache_file(mut self, path: &Path) -> Result<TokenManager, Error> {
        // Before the lock file is made beside it: `/dev/zero` is no cache.
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(Error::cache(path, CacheAction::Read, "not a regular file"));
        }
        // Under the lock, so that runs starting together share one key.
        let _lock = cache::lock(path)?;
        let file = match cache::read(path)? {
            Some(file) => file,
            None => {
                let file = CacheFile::new(&self.keyer);
                cache::write(path, &file)?;
                file
            }
        };
        self.keyer = Keyer::from_text(&file.key)
            .ok_or_else(|| Error::cache(path, CacheAction::Read, "a bad `key`"))?;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        for entry in file.entries {
            for secret in [&entry.access_token, &entry.refresh_token]
                .into_iter()
                .flatten()
            {
                self.redactor.add(secret);
            }
            let token = entry.access_token.map(|access_token| Token {
                access_token,
                scheme: entry.scheme.clone(),
                expires_at: (entry.expires_at)
                    .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s))),
            });
            let slot = Slot {
                token: token.filter(Token::fresh),
                refresh_token: entry.refresh_token,
                from_file: true,
            };
            self.stored_keys.push(entry.key.clone());
            slots.insert(entry.key, Arc::new(tokio::sync::Mutex::new(slot)));
        }
        drop(slots);
        self.cache_file = Some(path.to_path_buf());
        Ok(self)
    }

    /// Saves one slot's token and refresh token to the cache file (mode
    /// 0600, atomically), when there is one. Runs may share the file: under
    /// its lock it is read again and only this entry is replaced, so no run
    /// loses another's rotated refresh token.
    fn save(&self, key: &CacheKey, slot: &Slot) -> Result<(), Error> {
        let Some(path) = &self.cache_file else {
            return Ok(());
        };
        let token = slot.token.as_ref().filter(|t| t.fresh());
        let entry = CacheEntry {
            key: key.clone(),
            access_token: token.map(|t| t.access_token.clone()),
            scheme: token.map_or_else(|| "Bearer".into(), |t| t.scheme.clone()),
            expires_at: token
                .and_then(|t| t.expires_at)
                .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            refresh_token: slot.refresh_token.clone(),
        };
        let _lock = cache::lock(path)?;
        let mut file = match cache::read(path)? {
            Some(file) if file.key == self.keyer.to_text() => file,
            // Another run remade it: its entries are keyed otherwise, and
            // replacing them would lose that run's refresh tokens.
            Some(_) => {
                return Err(Error::cache(
                    path,
                    CacheAction::Write,
                    "it was replaced during the run; this run's tokens were not saved",
                ))
            }
            None => CacheFile::new(&self.keyer),
        };
        match file.entries.iter().position(|e| e.key == entry.key) {
            Some(i) => file.entries[i] = entry,
            None => file.entries.push(entry),
        }
        cache::write(path, &file)
    }

    /// Why the cache file could not be written, if it could not: tokens
    /// (and rotated refresh tokens) this run got may be lost. Taken, so a
    /// caller that runs again (a monitor) hears of each failure once.
    pub fn take_cache_error(&self) -> Option<Error> {
        self.cache_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Notes when `client`'s token, just handed out, is to be renewed.
    fn renewal(&self, client: &ResolvedClient, token: &Token) {
        if let Some(at) = token.expires_at {
            let mut renewals = self.renewals.lock().unwrap_or_else(|e| e.into_inner());
            renewals.insert(client.name.clone(), at);
        }
    }

    /// When each client's newest token is to be renewed (its expiry less
    /// the skew), by client name: for a monitor's expiry gauge.
    pub fn renewals(&self) -> Vec<(String, SystemTime)> {
        let renewals = self.renewals.lock().unwrap_or_else(|e| e.into_inner());
        renewals.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// How many token requests this run has sent.
    pub fn requests_sent(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A valid token for `client`, from the cache or the token endpoint,
    /// and where it came from. Token requests made for it are appended to
    /// `attempts`; cache decisions worth a line in `-v` to `trace`.
    pub async fn token(
        &self,
        client: &ResolvedClient,
        policy: &RequestPolicy,
        attempts: &mut Vec<Attempt>,
        trace: &mut Vec<String>,
    ) -> Result<(Token, TokenSource), TokenError> {
        self.register_secrets(client);
        let (endpoint, key, slot) = self.slot_of(client, policy.timeout).await?;
        let mut slot = slot.lock().await;
        if let Some(token) = slot.token.as_ref().filter(|t| t.fresh()) {
            let source = if slot.from_file {
                TokenSource::CacheFile
            } else {
                TokenSource::Run
            };
            self.renewal(client, token);
            return Ok((token.clone(), source));
        }
        if self.cache_file.is_some() && !slot.from_file {
            trace.push(why_not_reused(&key, self.stored_keys.iter()));
        }
        let token = self
            .request(client, &endpoint, &mut slot, policy, attempts, trace)
            .await?;
        self.keep(client, &key, &mut slot, &token, trace);
        Ok((token, TokenSource::Request))
    }

    /// Keeps a new token in its slot and in the cache file.
    pub(super) fn keep(
        &self,
        client: &ResolvedClient,
        key: &CacheKey,
        slot: &mut Slot,
        token: &Token,
        trace: &mut Vec<String>,
    ) {
        slot.token = Some(token.clone());
        slot.from_file = false;
        self.renewal(client, token);
        // A token bound to a key made for this run is of no use to the
        // next: it is not written, so the file does not grow each run.
        if client.dpop != Dpop::Off && client.dpop_key.is_none() {
            return;
        }
        // The token is good whatever happens to the file: a failed write is
        // the run's problem, reported when it ends, not the server's.
        if let Err(e) = self.save(key, slot) {
            trace.push(e.to_string());
            self.cache_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e);
        }
    }

    /// The slot of `client`'s tokens, and its key.
    pub(super) async fn slot_of(
        &self,
        client: &ResolvedClient,
        timeout: Duration,
    ) -> Result<(String, CacheKey, Shared<Slot>), TokenError> {
        let endpoint = self.token_endpoint(client, timeout).await?;
        let mut key = CacheKey::of(client, &endpoint, &self.keyer);
        // A bound token is only good with its key.
        if let Some(dpop) = self.dpop_key(client)? {
            key.bind_to(&dpop.thumbprint, &self.keyer);
        }
        let slot = self.slot(&key);
        Ok((endpoint, key, slot))
    }

    /// Drops `rejected` from the cache (a resource answered 401 to it), so
    /// the next [`token`](Self::token) fetches a new one.
    pub async fn invalidate(&self, client: &ResolvedClient, rejected: &Token) {
        let Ok((_, _, slot)) = self.slot_of(client, self.timeout).await else {
            return;
        };
        let mut slot = slot.lock().await;
        if slot
            .token
            .as_ref()
            .is_some_and(|t| t.access_token == rejected.access_token)
        {
            slot.token = None;
        }
    }

    /// The issuer's metadata, fetched once per run (within the timeout of
    /// the step that needs it first).
    pub async fn metadata(&self, issuer: &str, timeout: Duration) -> Result<Metadata, String> {
        once(&self.metadata, issuer, || {
            discovery::fetch(&self.http, issuer, timeout)
        })
        .await
    }

    /// A key set, fetched once per run (within the timeout of the step
    /// that needs it first).
    pub async fn jwks(&self, uri: &str, timeout: Duration) -> Result<JwkSet, String> {
        once(&self.jwks, uri, || async {
            let x = self
                .http
                .send(self.http.client(uri).get(uri), timeout)
                .await
                .map_err(|e| e.message)?;
            if x.status != 200 {
                return Err(format!("{uri} answered {}", x.status));
            }
            serde_json::from_slice(&x.body).map_err(|e| format!("{uri} is not a JWK set: {e}"))
        })
        .await
    }

    async fn token_endpoint(
        &self,
        client: &ResolvedClient,
        timeout: Duration,
    ) -> Result<String, TokenError> {
        if let Some(url) = &client.token_url {
            return Ok(url.clone());
        }
        let issuer = client.discovery.as_deref().unwrap_or_default();
        let metadata = self
            .metadata(issuer, timeout)
            .await
            .map_err(|message| TokenError {
                class: FailureClass::AuthServer,
                message: format!("client `{}`: discovery failed: {message}", client.name),
            })?;
        metadata.token_endpoint.ok_or_else(|| TokenError {
            class: FailureClass::AuthServer,
            message: format!(
                "client `{}`: the metadata of {issuer} has no token_endpoint",
                client.name
            ),
        })
    }

    fn slot(&self, key: &CacheKey) -> Shared<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        slots.entry(key.clone()).or_default().clone()
    }

    pub(super) fn register_secrets(&self, client: &ResolvedClient) {
        for secret in [
            &client.client_secret,
            &client.refresh_token,
            &client.password,
            &client.private_key,
            &client.client_key,
            &client.subject_token,
            &client.actor_token,
        ]
        .into_iter()
        .flatten()
        {
            self.redactor.add(secret);
        }
        if let Some(secret) = &client.client_secret {
            self.redactor.add_basic(&client.client_id, secret);
        }
        for secret in client.login.iter().flat_map(|l| &l.secrets) {
            self.redactor.add(secret);
        }
    }

    /// Requests a token. For the refresh grant the slot's newest refresh
    /// token goes first; when it is refused with `invalid_grant` and the
    /// spec gives another, that one is tried once. A user flow renews with
    /// its refresh token, and signs in again when it is refused.
    async fn request(
        &self,
        client: &ResolvedClient,
        endpoint: &str,
        slot: &mut Slot,
        policy: &RequestPolicy,
        attempts: &mut Vec<Attempt>,
        trace: &mut Vec<String>,
    ) -> Result<Token, TokenError> {
        if client.grant().is_user_flow() {
            return self
                .user_token(client, endpoint, slot, policy, attempts, trace)
                .await;
        }
        let mut refresh = match client.grant() {
            Grant::RefreshToken => slot
                .refresh_token
                .clone()
                .or_else(|| client.refresh_token.clone()),
            _ => None,
        };
        let exchange = loop {
            let grant = grant_fields(client, refresh.as_deref());
            let exchange = self
                .exchange(client, endpoint, &grant, policy, attempts)
                .await?;
            let given = client.refresh_token.as_ref();
            if client.grant() == Grant::RefreshToken
                && oauth_error_code(&exchange).as_deref() == Some("invalid_grant")
                && given.is_some()
                && refresh.as_ref() != given
            {
                trace.push(format!(
                    "client `{}`: the cached refresh token was refused (invalid_grant); trying the one the spec gives",
                    client.name
                ));
                slot.refresh_token = None;
                refresh = given.cloned();
                supersede_last(attempts);
                continue;
            }
            break exchange;
        };
        self.token_from(client, &exchange, slot, refresh, trace)
            .map(|(token, _)| token)
    }

    /// The token an answer of the token endpoint holds; the refresh token
    /// it brings (or else `refresh`, the one used) is kept in the slot.
    pub(super) fn token_from(
        &self,
        client: &ResolvedClient,
        exchange: &Exchange,
        slot: &mut Slot,
        refresh: Option<String>,
        trace: &mut Vec<String>,
    ) -> Result<(Token, super::response::TokenResponse), TokenError> {
        let fail = |class, message: String| TokenError::of(client, class, message);
        let mut parsed = parse_token_response(exchange).map_err(|(class, m)| fail(class, m))?;
        let now = SystemTime::now();
        let lifetime = parsed.lifetime(now);
        for note in &parsed.notes {
            trace.push(format!("client `{}`: {note}", client.name));
        }
        self.redactor.add(&parsed.access_token);
        for token in [&parsed.refresh_token, &parsed.id_token]
            .into_iter()
            .flatten()
        {
            self.redactor.add(token);
        }
        if let Some(refresh) = &parsed.refresh_token {
            slot.refresh_token = Some(refresh.clone());
        } else if slot.refresh_token.is_none() {
            slot.refresh_token = refresh;
        }
        // RFC 8693 §2.2.1: an exchange says what it issued.
        if client.grant() == Grant::TokenExchange {
            match (&parsed.issued_token_type, &client.requested_token_type) {
                (None, _) => {
                    return Err(fail(
                        FailureClass::AuthServer,
                        "the token exchange answered without issued_token_type (RFC 8693 §2.2.1)"
                            .into(),
                    ))
                }
                (Some(issued), Some(asked)) if issued != asked => {
                    return Err(fail(
                        FailureClass::AuthServer,
                        format!("the token exchange issued {issued}, not the {asked} asked for"),
                    ))
                }
                _ => {}
            }
        }
        let bound = parsed.token_type.eq_ignore_ascii_case("DPoP");
        match client.dpop {
            Dpop::Required if !bound => {
                return Err(fail(
                    FailureClass::AuthServer,
                    format!(
                        "a DPoP proof was sent and the token came back as token_type {}: it is not bound to the key (`dpop optional` accepts that)",
                        parsed.token_type
                    ),
                ))
            }
            Dpop::Optional if !bound => trace.push(format!(
                "client `{}`: the token is not DPoP-bound (token_type {}); it is used as it is",
                client.name, parsed.token_type
            )),
            _ => {}
        }
        let scheme = if bound && client.dpop != Dpop::Off {
            "DPoP".to_string()
        } else {
            client.scheme.clone().unwrap_or_else(|| "Bearer".into())
        };
        let token = Token {
            access_token: parsed.access_token.clone(),
            scheme,
            expires_at: now.checked_add(lifetime.saturating_sub(self.skew)),
        };
        Ok((token, parsed))
    }

    /// The client's DPoP key, made or read once per run; none without
    /// `dpop`.
    pub(crate) fn dpop_key(
        &self,
        client: &ResolvedClient,
    ) -> Result<Option<Arc<DpopKey>>, TokenError> {
        if client.dpop == Dpop::Off {
            return Ok(None);
        }
        let id = format!(
            "{}\0{}",
            client.name,
            client.dpop_key.as_deref().unwrap_or_default()
        );
        let mut keys = self.dpop_keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = keys.get(&id) {
            return Ok(Some(key.clone()));
        }
        let key = match &client.dpop_key {
            Some(pem) => {
                self.redactor.add(pem);
                DpopKey::from_pem(pem)
            }
            None => DpopKey::generate(),
        }
        .map_err(|m| TokenError::of(client, FailureClass::Config, m))?;
        let key = Arc::new(key);
        keys.insert(id, key.clone());
        Ok(Some(key))
    }

    /// A DPoP proof of `token` for one request to `url` (for `htu`
    /// instead, if given), with the server's newest nonce; registered as a
    /// secret. None unless the token is bound.
    pub(crate) fn resource_proof(
        &self,
        client: &ResolvedClient,
        method: &str,
        url: &str,
        htu: Option<&str>,
        token: &Token,
    ) -> Result<Option<String>, String> {
        if token.scheme != "DPoP" {
            return Ok(None);
        }
        let Some(key) = self.dpop_key(client).map_err(|e| e.message)? else {
            return Ok(None);
        };
        // The nonce is the server's the request goes to, whatever `htu` says.
        let proof = key.proof(
            method,
            htu.unwrap_or(url),
            self.dpop_nonce(url).as_deref(),
            Some(&token.access_token),
        )?;
        self.redactor.add(&proof);
        Ok(Some(proof))
    }

    /// The newest `DPoP-Nonce` the server at `url` gave.
    fn dpop_nonce(&self, url: &str) -> Option<String> {
        let origin = url::Url::parse(url).ok()?.origin().ascii_serialization();
        let nonces = self.dpop_nonces.lock().unwrap_or_else(|e| e.into_inner());
        nonces.get(&origin).cloned()
    }

    /// Keeps a server's new `DPoP-Nonce`; whether the answer asks to be
    /// sent again with it (`use_dpop_nonce`, RFC 9449 §8 and §9).
    pub(crate) fn take_dpop_nonce(&self, url: &str, x: &Exchange) -> bool {
        let Some(nonce) = x.header_values("dpop-nonce").next() else {
            return false;
        };
        if let Some(origin) = url::Url::parse(url)
            .ok()
            .map(|u| u.origin().ascii_serialization())
        {
            let mut nonces = self.dpop_nonces.lock().unwrap_or_else(|e| e.into_inner());
            nonces.insert(origin, nonce.to_string());
        }
        let challenged =
            (x.header_values("www-authenticate")).any(|c| c.contains("use_dpop_nonce"));
        challenged || oauth_error_code(x).as_deref() == Some("use_dpop_nonce")
    }

    /// One request to the token endpoint (or another that authenticates
    /// clients alike, such as the device authorization endpoint) with
    /// `grant`'s fields, sent again as `policy` allows; every attempt is
    /// recorded.
    pub(super) async fn exchange(
        &self,
        client: &ResolvedClient,
        endpoint: &str,
        grant: &[(String, String)],
        policy: &RequestPolicy,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Exchange, TokenError> {
        let fail = |class, message: String| TokenError::of(client, class, message);
        let http = self
            .http
            .client_for(&client.tls_key(), endpoint)
            .map_err(|m| fail(FailureClass::Credentials, m))?;
        let method = client.auth_method.unwrap_or(AuthMethod::ClientSecretBasic);
        let jwt_bearer = client.grant() == Grant::JwtBearer;
        let signer = match (method, jwt_bearer) {
            (AuthMethod::PrivateKeyJwt, _) | (_, true) => {
                Some(AssertionSigner::new(client).map_err(|m| fail(FailureClass::Credentials, m))?)
            }
            _ => None,
        };
        let form = token_form(client, grant, method);
        let first = attempts.len();
        // A refresh token, code or device code may be spent by a request
        // whose answer was lost: only a request never sent is sent again.
        let spends = |(k, v): &(String, String)| {
            k == "grant_type" && v != Grant::ClientCredentials.grant_type() && v != "password"
        };
        let retryable = if grant.iter().any(spends) {
            crate::retry::retryable_unsent
        } else {
            crate::retry::retryable
        };
        let dpop = self.dpop_key(client)?;
        let result = policy
            .retry
            .send(retryable, async || {
                if attempts.len() > first {
                    supersede_last(attempts);
                }
                // A server that wants a nonce says so once; a second ask is
                // its answer (RFC 9449 §8).
                let mut nonce_asked = false;
                loop {
                    let mut form = form.clone();
                    let mut request = http.post(endpoint).header("Accept", "application/json");
                    match method {
                        AuthMethod::ClientSecretBasic => {
                            request = request.header("Authorization", basic(client));
                        }
                        AuthMethod::PrivateKeyJwt => {
                            let signer = signer.as_ref().expect("made above for this method");
                            let assertion = signer
                                .sign(&client.client_id, endpoint)
                                .map_err(TransportError::unsent)?;
                            self.redactor.add(&assertion);
                            add_assertion(&mut form, client, assertion);
                        }
                        _ => {}
                    }
                    // RFC 7523 §2.1: the grant's own assertion, fresh per
                    // attempt.
                    if jwt_bearer {
                        let signer = signer.as_ref().expect("made above for this grant");
                        let sub = client.subject.as_deref().unwrap_or(&client.client_id);
                        let aud = client.assertion_audience.as_deref().unwrap_or(endpoint);
                        let assertion = signer
                            .sign_for(&client.client_id, sub, aud)
                            .map_err(TransportError::unsent)?;
                        self.redactor.add(&assertion);
                        form.push(("assertion".into(), assertion));
                    }
                    let body: String = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&form)
                        .finish();
                    request = request
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(body);
                    let mut proof_sent = None;
                    if let Some(key) = &dpop {
                        let nonce = self.dpop_nonce(endpoint);
                        let proof = key
                            .proof("POST", endpoint, nonce.as_deref(), None)
                            .map_err(TransportError::unsent)?;
                        self.redactor.add(&proof);
                        request = request.header("DPoP", &proof);
                        proof_sent = Some(proof);
                    }
                    self.requests
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let result = self.http.send(request, policy.timeout).await;
                    attempts.push(Attempt::record(
                        AttemptKind::Token,
                        "POST".into(),
                        endpoint.to_string(),
                        &result,
                        &self.redactor,
                        Some(&client.name),
                    ));
                    show_proof(attempts, proof_sent.as_deref(), &self.redactor);
                    if let (Ok(x), Some(_)) = (&result, &dpop) {
                        if self.take_dpop_nonce(endpoint, x) && !nonce_asked && x.status == 400 {
                            nonce_asked = true;
                            supersede_last(attempts);
                            continue;
                        }
                    }
                    break result;
                }
            })
            .await;
        result.map_err(|e| {
            fail(
                FailureClass::AuthServer,
                format!("token endpoint unreachable: {}", e.message),
            )
        })
    }
}

/// With `-v`, the proof a request carried, decoded (its signature left out)
/// at the end of the exchange's transcript.
pub(crate) fn show_proof(attempts: &mut [Attempt], proof: Option<&str>, redactor: &Redactor) {
    let (Some(proof), Some(last)) = (proof, attempts.last_mut()) else {
        return;
    };
    if let Some(transcript) = &mut last.transcript {
        let shown = super::dpop::shown(proof);
        transcript.push_str(&format!("= {}\n", redactor.redact(&shown)));
    }
}

/// The value for `key`, computed by the first caller while later ones wait.
async fn once<T: Clone, F: std::future::Future<Output = Result<T, String>>>(
    cells: &OnceMap<T>,
    key: &str,
    compute: impl FnOnce() -> F,
) -> Result<T, String> {
    let cell = cells
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_string())
        .or_default()
        .clone();
    let mut cell = cell.lock().await;
    match &*cell {
        Some(Fetched::Value(v)) => return Ok(v.clone()),
        Some(Fetched::Failed(e, at)) if at.elapsed() < FAILURE_KEPT => return Err(e.clone()),
        _ => {}
    }
    let result = compute().await;
    *cell = Some(match &result {
        Ok(v) => Fetched::Value(v.clone()),
        Err(e) => Fetched::Failed(e.clone(), std::time::Instant::now()),
    });
    result
}

#[cfg(test)]
mod cache_file_tests {
    use super::*;

    fn manager() -> TokenManager {
        let http = Arc::new(Http::new(false, 1 << 20));
        TokenManager::new(http, Arc::new(Redactor::new()), Duration::from_secs(5))
    }

    #[test]
    fn a_cache_file_of_the_old_format_is_an_empty_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        std::fs::write(
            &path,
            r#"{"version":1,"entries":[{"endpoint":"u","client_id":"c","grant":"client_credentials","access_token":"old","scheme":"Bearer","expires_at":null,"refresh_token":null}]}"#,
        )
        .unwrap();
        let tokens = manager().with_cache_file(&path).unwrap();
        assert!(tokens.stored_keys.is_empty());
        std::fs::write(&path, "{").unwrap();
        assert!(manager().with_cache_file(&path).is_err());
    }
}
