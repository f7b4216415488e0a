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

use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use rand::Rng as _;

use super::cache::{self, why_not_reused, CacheEntry, CacheFile, CacheKey, Keyer};
use super::discovery::{self, Metadata};
use crate::client::{AuthMethod, Grant, SigningAlg};
use crate::error::{CacheAction, Error};
use crate::http::{transcript_of, Exchange, Http, TlsKey, TransportError, TransportErrorKind};
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
}

impl ResolvedClient {
    pub(crate) fn grant(&self) -> Grant {
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
    fn of(client: &ResolvedClient, class: FailureClass, message: String) -> TokenError {
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
struct Slot {
    token: Option<Token>,
    /// The newest refresh token: after rotation, the one to use next.
    refresh_token: Option<String>,
    /// The token was read from the cache file and not fetched since.
    from_file: bool,
}

type Shared<T> = Arc<tokio::sync::Mutex<T>>;

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
    http: Arc<Http>,
    redactor: Arc<Redactor>,
    timeout: Duration,
    /// Renew this long before `expires_in` runs out.
    pub skew: Duration,
    /// Hashes the secrets in cache keys.
    keyer: Keyer,
    slots: Mutex<HashMap<CacheKey, Shared<Slot>>>,
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
            metadata: Mutex::default(),
            jwks: Mutex::default(),
            requests: Default::default(),
            cache_file: None,
            cache_error: Mutex::default(),
            stored_keys: Vec::new(),
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
                expires_at: entry
                    .expires_at
                    .map(|s| UNIX_EPOCH + Duration::from_secs(s)),
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
        let endpoint = self.token_endpoint(client, policy.timeout).await?;
        let key = CacheKey::of(client, &endpoint, &self.keyer);
        let slot = self.slot(&key);
        let mut slot = slot.lock().await;
        if let Some(token) = slot.token.as_ref().filter(|t| t.fresh()) {
            let source = if slot.from_file {
                TokenSource::CacheFile
            } else {
                TokenSource::Run
            };
            return Ok((token.clone(), source));
        }
        if self.cache_file.is_some() && !slot.from_file {
            trace.push(why_not_reused(&key, self.stored_keys.iter()));
        }
        let token = self
            .request(client, &endpoint, &mut slot, policy, attempts, trace)
            .await?;
        slot.token = Some(token.clone());
        slot.from_file = false;
        // The token is good whatever happens to the file: a failed write is
        // the run's problem, reported when it ends, not the server's.
        if let Err(e) = self.save(&key, &slot) {
            trace.push(e.to_string());
            self.cache_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e);
        }
        Ok((token, TokenSource::Request))
    }

    /// Drops `rejected` from the cache (a resource answered 401 to it), so
    /// the next [`token`](Self::token) fetches a new one.
    pub async fn invalidate(&self, client: &ResolvedClient, rejected: &Token) {
        let Ok(endpoint) = self.token_endpoint(client, self.timeout).await else {
            return;
        };
        let slot = self.slot(&CacheKey::of(client, &endpoint, &self.keyer));
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

    fn register_secrets(&self, client: &ResolvedClient) {
        for secret in [
            &client.client_secret,
            &client.refresh_token,
            &client.password,
            &client.private_key,
            &client.client_key,
        ]
        .into_iter()
        .flatten()
        {
            self.redactor.add(secret);
        }
        if let Some(secret) = &client.client_secret {
            self.redactor.add_basic(&client.client_id, secret);
        }
    }

    /// Requests a token. For the refresh grant the slot's newest refresh
    /// token goes first; when it is refused with `invalid_grant` and the
    /// spec gives another, that one is tried once.
    async fn request(
        &self,
        client: &ResolvedClient,
        endpoint: &str,
        slot: &mut Slot,
        policy: &RequestPolicy,
        attempts: &mut Vec<Attempt>,
        trace: &mut Vec<String>,
    ) -> Result<Token, TokenError> {
        let fail = |class, message: String| TokenError::of(client, class, message);
        let mut refresh = match client.grant() {
            Grant::RefreshToken => slot
                .refresh_token
                .clone()
                .or_else(|| client.refresh_token.clone()),
            _ => None,
        };
        let exchange = loop {
            let exchange = self
                .exchange(client, endpoint, refresh.as_deref(), policy, attempts)
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
        let parsed = parse_token_response(&exchange).map_err(|(class, m)| fail(class, m))?;
        self.redactor.add(&parsed.access_token);
        if let Some(refresh) = parsed.refresh_token {
            self.redactor.add(&refresh);
            slot.refresh_token = Some(refresh);
        } else if slot.refresh_token.is_none() {
            slot.refresh_token = refresh;
        }
        Ok(Token {
            access_token: parsed.access_token,
            scheme: client.scheme.clone().unwrap_or_else(|| "Bearer".into()),
            expires_at: parsed.expires_in.map(|secs| {
                SystemTime::now() + Duration::from_secs(secs).saturating_sub(self.skew)
            }),
        })
    }

    /// One token request, sent again as `policy` allows; every attempt is
    /// recorded.
    async fn exchange(
        &self,
        client: &ResolvedClient,
        endpoint: &str,
        refresh_token: Option<&str>,
        policy: &RequestPolicy,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Exchange, TokenError> {
        let fail = |class, message: String| TokenError::of(client, class, message);
        let http = self
            .http
            .client_for(&client.tls_key(), endpoint)
            .map_err(|m| fail(FailureClass::Credentials, m))?;
        let mut form: Vec<(String, String)> =
            vec![("grant_type".into(), client.grant().as_str().into())];
        match client.grant() {
            Grant::ClientCredentials => {}
            Grant::RefreshToken => {
                form.push((
                    "refresh_token".into(),
                    refresh_token.unwrap_or_default().into(),
                ));
            }
            Grant::Password => {
                form.push((
                    "username".into(),
                    client.username.clone().unwrap_or_default(),
                ));
                form.push((
                    "password".into(),
                    client.password.clone().unwrap_or_default(),
                ));
            }
        }
        for (name, value) in [
            ("scope", &client.scope),
            ("audience", &client.audience),
            ("resource", &client.resource),
        ] {
            if let Some(v) = value {
                form.push((name.into(), v.clone()));
            }
        }
        form.extend(client.params.iter().cloned());
        let method = client.auth_method.unwrap_or(AuthMethod::ClientSecretBasic);
        let signer = match method {
            AuthMethod::PrivateKeyJwt => {
                Some(AssertionSigner::new(client).map_err(|m| fail(FailureClass::Credentials, m))?)
            }
            _ => None,
        };
        match method {
            AuthMethod::ClientSecretBasic | AuthMethod::PrivateKeyJwt => {}
            AuthMethod::ClientSecretPost => {
                form.push(("client_id".into(), client.client_id.clone()));
                form.push((
                    "client_secret".into(),
                    client.client_secret.clone().unwrap_or_default(),
                ));
            }
            // RFC 8705 §2: the certificate of the TLS connection (set by
            // `tls_key` above) is the credential; the id says whose it is.
            AuthMethod::TlsClientAuth | AuthMethod::None => {
                form.push(("client_id".into(), client.client_id.clone()))
            }
        }
        let first = attempts.len();
        let retryable = match client.grant() {
            Grant::RefreshToken => crate::retry::retryable_unsent,
            _ => crate::retry::retryable,
        };
        let result = policy
            .retry
            .send(retryable, async || {
                if attempts.len() > first {
                    supersede_last(attempts);
                }
                let mut form = form.clone();
                let mut request = http.post(endpoint).header("Accept", "application/json");
                match method {
                    AuthMethod::ClientSecretBasic => {
                        // RFC 6749 §2.3.1: form-encode id and secret before base64.
                        let enc = |s: &str| -> String {
                            url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
                        };
                        let secret = client.client_secret.as_deref().unwrap_or_default();
                        let pair = format!("{}:{}", enc(&client.client_id), enc(secret));
                        let value = format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(pair)
                        );
                        request = request.header("Authorization", value);
                    }
                    AuthMethod::PrivateKeyJwt => {
                        let signer = signer.as_ref().expect("made above for this method");
                        let assertion =
                            signer
                                .sign(&client.client_id, endpoint)
                                .map_err(|message| TransportError {
                                    kind: TransportErrorKind::Other,
                                    message,
                                    latency: Duration::ZERO,
                                    transcript: None,
                                })?;
                        self.redactor.add(&assertion);
                        form.push(("client_id".into(), client.client_id.clone()));
                        form.push((
                            "client_assertion_type".into(),
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                        ));
                        form.push(("client_assertion".into(), assertion));
                    }
                    _ => {}
                }
                let body: String = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&form)
                    .finish();
                request = request
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body);
                self.requests
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let result = self.http.send(request, policy.timeout).await;
                if let Ok(x) = &result {
                    self.redactor.add_fields_of(&x.body);
                }
                attempts.push(Attempt {
                    kind: AttemptKind::Token,
                    method: "POST".into(),
                    url: endpoint.to_string(),
                    status: result.as_ref().ok().map(|x| x.status),
                    latency: match &result {
                        Ok(x) => x.latency,
                        Err(e) => e.latency,
                    },
                    error: result
                        .as_ref()
                        .err()
                        .map(|e| self.redactor.redact(&e.message).into_owned()),
                    transcript: transcript_of(&result)
                        .map(|t| self.redactor.show_lines(t, crate::http::TRANSCRIPT_LINE)),
                    superseded: false,
                });
                result
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

/// The OAuth `error` code of a JSON answer, if it has one.
fn oauth_error_code(x: &Exchange) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(&x.body).ok()?;
    json.get("error")?.as_str().map(str::to_string)
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

/// A token response as RFC 6749 §5.1 defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub scope: Option<Vec<String>>,
}

/// A year: any longer `expires_in` is taken for milliseconds sent as seconds.
const MAX_EXPIRES_IN: u64 = 365 * 24 * 3600;

/// Reads and validates a token endpoint's answer; on failure, the class
/// and a message naming the status, the OAuth error or the bad field.
pub fn parse_token_response(x: &Exchange) -> Result<TokenResponse, (FailureClass, String)> {
    let json: Option<serde_json::Value> = serde_json::from_slice(&x.body).ok();
    if let Some((error, description)) = json.as_ref().and_then(|j| {
        let e = j.get("error")?.as_str()?.to_string();
        Some((
            e,
            j.get("error_description")
                .and_then(|d| d.as_str())
                .map(str::to_string),
        ))
    }) {
        let class = match error.as_str() {
            "invalid_client" | "invalid_grant" | "unauthorized_client" => FailureClass::Credentials,
            "invalid_scope" => FailureClass::Scope,
            _ => FailureClass::AuthServer,
        };
        let description = description.map(|d| format!(" ({d})")).unwrap_or_default();
        return Err((
            class,
            format!("token endpoint answered {} {error}{description}", x.status),
        ));
    }
    if x.status == 429 || x.status >= 500 {
        return Err((
            FailureClass::AuthServer,
            format!("token endpoint answered {}", x.status),
        ));
    }
    if !(200..300).contains(&x.status) {
        return Err((
            FailureClass::AuthServer,
            format!(
                "token endpoint answered {} without an OAuth error",
                x.status
            ),
        ));
    }
    let malformed = |what: String| {
        (
            FailureClass::AuthServer,
            format!("malformed token response: {what}"),
        )
    };
    let Some(serde_json::Value::Object(obj)) = json else {
        return Err(malformed("the body is not a JSON object".into()));
    };
    let access_token = match obj.get("access_token") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(malformed("`access_token` is not a string".into())),
        None => return Err(malformed("no `access_token`".into())),
    };
    let token_type = match obj.get("token_type").and_then(|t| t.as_str()) {
        Some(t) => t.to_string(),
        None => return Err(malformed("no `token_type`".into())),
    };
    let expires_in = match obj.get("expires_in") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => {
            let n = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
                .ok_or_else(|| malformed(format!("`expires_in` is not a number: {v}")))?;
            if n < 0.0 {
                return Err(malformed(format!("`expires_in` is negative: {v}")));
            }
            if n > MAX_EXPIRES_IN as f64 {
                return Err(malformed(format!(
                    "`expires_in` is {v}, more than a year: milliseconds sent as seconds?"
                )));
            }
            Some(n as u64)
        }
    };
    let refresh_token = obj
        .get("refresh_token")
        .and_then(|r| r.as_str())
        .map(str::to_string);
    let scope = obj
        .get("scope")
        .and_then(|s| s.as_str())
        .map(|s| s.split_whitespace().map(str::to_string).collect());
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        refresh_token,
        scope,
    })
}

/// Signs RFC 7523 client assertions for one client: the key is read once,
/// an assertion made per attempt (its `jti` must not repeat).
struct AssertionSigner {
    key: jsonwebtoken::EncodingKey,
    header: jsonwebtoken::Header,
}

impl AssertionSigner {
    fn new(client: &ResolvedClient) -> Result<AssertionSigner, String> {
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

    /// iss = sub = client_id, aud = the token endpoint, a fresh jti, valid
    /// for a minute.
    fn sign(&self, client_id: &str, endpoint: &str) -> Result<String, String> {
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
            "iss": client_id,
            "sub": client_id,
            "aud": endpoint,
            "iat": now,
            "exp": now + 60,
            "jti": jti,
        });
        jsonwebtoken::encode(&self.header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the client assertion: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Exchange {
        Exchange {
            status,
            headers: Default::default(),
            body: bytes::Bytes::from(body.to_string()),
            size: body.len() as u64,
            latency: Duration::ZERO,
            transcript: None,
        }
    }

    fn refused(status: u16, body: &str) -> (FailureClass, String) {
        parse_token_response(&answer(status, body)).unwrap_err()
    }

    #[test]
    fn a_token_response_is_read_as_rfc_6749_says() {
        let r = parse_token_response(&answer(
            200,
            r#"{"access_token":"a","token_type":"bEaReR","expires_in":"60","scope":"b a","extra":1}"#,
        ))
        .unwrap();
        assert_eq!(r.expires_in, Some(60));
        assert_eq!(r.scope, Some(vec!["b".to_string(), "a".to_string()]));
    }

    #[test]
    fn malformed_token_responses_name_the_field() {
        let malformed = |body: &str| refused(200, body);
        assert!(malformed(r#"{"token_type":"Bearer"}"#)
            .1
            .contains("no `access_token`"));
        assert!(malformed(r#"{"access_token":5,"token_type":"Bearer"}"#)
            .1
            .contains("`access_token`"));
        assert!(malformed(r#"{"access_token":"a"}"#)
            .1
            .contains("no `token_type`"));
        let ms = malformed(r#"{"access_token":"a","token_type":"Bearer","expires_in":43200000}"#);
        assert_eq!(ms.0, FailureClass::AuthServer);
        assert!(ms.1.contains("more than a year"), "{}", ms.1);
        assert!(
            malformed(r#"{"access_token":"a","token_type":"Bearer","expires_in":-1}"#)
                .1
                .contains("negative")
        );
        assert!(
            malformed(r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#)
                .1
                .contains("not a number")
        );
        assert!(malformed("<html>").1.contains("not a JSON object"));
    }

    #[test]
    fn errors_are_classified_whatever_the_status() {
        assert_eq!(
            refused(401, r#"{"error":"invalid_client"}"#).0,
            FailureClass::Credentials
        );
        assert_eq!(
            refused(400, r#"{"error":"invalid_grant"}"#).0,
            FailureClass::Credentials
        );
        assert_eq!(
            refused(400, r#"{"error":"invalid_scope"}"#).0,
            FailureClass::Scope
        );
        let hidden = refused(200, r#"{"error":"access denied"}"#);
        assert_eq!(hidden.0, FailureClass::AuthServer);
        assert!(hidden.1.contains("200 access denied"), "{}", hidden.1);
        assert_eq!(refused(503, "").0, FailureClass::AuthServer);
        assert_eq!(refused(429, "").0, FailureClass::AuthServer);
    }
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
