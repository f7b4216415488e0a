//! Users' tokens: the authorization code flow with PKCE (RFC 6749 §4.1,
//! RFC 7636, RFC 9207) and the device authorization grant (RFC 8628).
//! A person signs in once; after that the refresh token renews, as for
//! any managed client. In a run, the sign-in is the `login` block's
//! headless walk through the provider's pages.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use super::form::grant_fields;
use super::login::Walk;
use super::response::oauth_error_code;
use super::tokens::{RequestPolicy, ResolvedClient, Slot, Token, TokenError, TokenManager};
use crate::check::client::Grant;
use crate::http::{Exchange, TlsKey};
use crate::results::{supersede_last, Attempt, FailureClass};

/// `len` random bytes, base64url: states, nonces, PKCE verifiers.
fn random(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a PKCE verifier.
pub(crate) fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An authorization request, and what its answer is checked against.
pub struct Authorization {
    /// Where the person signs in.
    pub url: url::Url,
    pub redirect_uri: url::Url,
    state: String,
    nonce: Option<String>,
    verifier: String,
    /// The issuer an RFC 9207 `iss` must name, and whether it must be there.
    issuer: Option<String>,
    iss_required: bool,
}

impl TokenManager {
    /// A user flow's token: renewed with the refresh token when there is
    /// one, else by signing in.
    pub(super) async fn user_token(
        &self,
        client: &ResolvedClient,
        endpoint: &str,
        slot: &mut Slot,
        policy: &RequestPolicy,
        attempts: &mut Vec<Attempt>,
        trace: &mut Vec<String>,
    ) -> Result<Token, TokenError> {
        if let Some(refresh) = slot.refresh_token.clone() {
            let grant = grant_fields(client, Some(&refresh));
            let x = self
                .exchange(client, endpoint, &grant, policy, attempts)
                .await?;
            if oauth_error_code(&x).as_deref() != Some("invalid_grant") {
                return self
                    .token_from(client, &x, slot, Some(refresh), trace)
                    .map(|(t, _)| t);
            }
            trace.push(format!(
                "client `{}`: the refresh token was refused (invalid_grant); signing in again",
                client.name
            ));
            slot.refresh_token = None;
            supersede_last(attempts);
        }
        let Some(login) = &client.login else {
            let verb = match client.grant() {
                Grant::DeviceCode => "approve its device code",
                _ => "sign in",
            };
            return Err(TokenError::of(
                client,
                FailureClass::Config,
                format!(
                    "a person has to {verb} for its first token: run `oauthspec login {}` once with --token-cache FILE, and run with that file, or add a `login {{ ... }}` block",
                    client.name
                ),
            ));
        };
        match client.grant() {
            Grant::DeviceCode => {
                let device = self.device_authorization(client, policy, attempts).await?;
                let start = device
                    .complete_uri()
                    .map_err(|m| TokenError::of(client, FailureClass::AuthServer, m))?;
                let mut login = login.clone();
                login
                    .fields
                    .push(("user_code".into(), device.user_code.clone()));
                self.walk(client, policy)?
                    .approve_device(start, &login, attempts)
                    .await?;
                // Approved (or refused) by now: the next polls say which.
                let deadline = device.expires_at.min(Instant::now() + HEADLESS_APPROVAL);
                let x = self
                    .poll(client, endpoint, &device, deadline, policy, attempts)
                    .await?;
                self.token_from(client, &x, slot, None, trace)
                    .map(|(t, _)| t)
            }
            _ => {
                let auth = self.authorization(client, policy).await?;
                let back = self
                    .walk(client, policy)?
                    .to_code(auth.url.clone(), &auth.redirect_uri, login, attempts)
                    .await?;
                let code = self.code_from(client, &auth, &back)?;
                self.redeem(
                    client, endpoint, &auth, &code, slot, policy, attempts, trace,
                )
                .await
            }
        }
    }

    /// A pool for the pages of a sign-in: the client's TLS settings, no
    /// redirects followed (each is looked at).
    fn walk<'a>(
        &'a self,
        client: &'a ResolvedClient,
        policy: &RequestPolicy,
    ) -> Result<Walk<'a>, TokenError> {
        let key = TlsKey {
            follow_redirects: false,
            ..client.tls_key()
        };
        // The pool for https (roots, --cacert, insecure), whatever the
        // first page's scheme: a sign-in moves between the two.
        let pool = self
            .http
            .client_for(&key, "https://sign-in.invalid/")
            .map_err(|m| TokenError::of(client, FailureClass::Config, m))?;
        Ok(Walk {
            http: &self.http,
            client: pool,
            redactor: &self.redactor,
            timeout: policy.timeout,
            client_name: &client.name,
        })
    }

    /// The authorization request: PKCE S256 with a fresh verifier, a
    /// state, and a nonce for OpenID Connect.
    pub(super) async fn authorization(
        &self,
        client: &ResolvedClient,
        policy: &RequestPolicy,
    ) -> Result<Authorization, TokenError> {
        let fail = |class, message: String| TokenError::of(client, class, message);
        let metadata =
            match &client.discovery {
                Some(issuer) => Some(self.metadata(issuer, policy.timeout).await.map_err(|m| {
                    fail(FailureClass::AuthServer, format!("discovery failed: {m}"))
                })?),
                None => None,
            };
        let endpoint = (client.authorize_url.clone())
            .or_else(|| {
                metadata
                    .as_ref()
                    .and_then(|m| m.authorization_endpoint.clone())
            })
            .ok_or_else(|| {
                fail(
                    FailureClass::AuthServer,
                    "the provider's metadata has no authorization_endpoint".into(),
                )
            })?;
        let mut url = url::Url::parse(&endpoint).map_err(|e| {
            fail(
                FailureClass::Config,
                format!("authorize_url {endpoint:?}: {e}"),
            )
        })?;
        let redirect = client.redirect_uri.clone().unwrap_or_default();
        let redirect_uri = url::Url::parse(&redirect).map_err(|e| {
            fail(
                FailureClass::Config,
                format!("redirect_uri {redirect:?}: {e}"),
            )
        })?;
        let verifier = random(32);
        self.redactor.add(&verifier);
        let state = random(16);
        let openid =
            (client.scope.as_deref()).is_some_and(|s| s.split_whitespace().any(|s| s == "openid"));
        let nonce = openid.then(|| random(16));
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", &redirect)
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
            for (name, value) in [
                ("scope", &client.scope),
                ("nonce", &nonce),
                ("prompt", &client.prompt),
                ("login_hint", &client.login_hint),
                ("acr_values", &client.acr_values),
            ] {
                if let Some(v) = value {
                    q.append_pair(name, v);
                }
            }
            for (name, value) in &client.params {
                q.append_pair(name, value);
            }
        }
        Ok(Authorization {
            url,
            redirect_uri,
            state,
            nonce,
            verifier,
            issuer: metadata.as_ref().map(|m| m.issuer.clone()),
            iss_required: metadata.is_some_and(|m| m.iss_in_authorization_response),
        })
    }

    /// The code of the authorization response at `back`, once its `state`
    /// and `iss` are checked; or its error, classified.
    pub(super) fn code_from(
        &self,
        client: &ResolvedClient,
        auth: &Authorization,
        back: &url::Url,
    ) -> Result<String, TokenError> {
        let fail = |class, message: String| TokenError::of(client, class, message);
        let param = |name: &str| {
            back.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(code) = param("code") {
            self.redactor.add(&code);
        }
        if param("state").as_deref() != Some(auth.state.as_str()) {
            return Err(fail(
                FailureClass::AuthServer,
                "the authorization response's `state` is not the request's (a forged or mixed-up response)".into(),
            ));
        }
        match (param("iss"), &auth.issuer) {
            (Some(iss), Some(issuer)) if &iss != issuer => {
                return Err(fail(
                    FailureClass::AuthServer,
                    format!("the authorization response comes from issuer {iss:?}, not {issuer:?} (RFC 9207: a mix-up attack?)"),
                ));
            }
            (None, _) if auth.iss_required => {
                return Err(fail(
                    FailureClass::AuthServer,
                    "the provider advertises `iss` in authorization responses, and this one has none (RFC 9207)".into(),
                ));
            }
            _ => {}
        }
        if let Some(error) = param("error") {
            let class = match error.as_str() {
                "access_denied" | "invalid_scope" | "consent_required" => FailureClass::Scope,
                "login_required"
                | "interaction_required"
                | "account_selection_required"
                | "unauthorized_client" => FailureClass::Credentials,
                _ => FailureClass::AuthServer,
            };
            let description = param("error_description")
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Err(fail(
                class,
                format!("the authorization request was refused: {error}{description}"),
            ));
        }
        param("code").ok_or_else(|| {
            fail(
                FailureClass::AuthServer,
                "the authorization response has neither `code` nor `error`".into(),
            )
        })
    }

    /// The code, its verifier and the redirect URI, for tokens. The ID
    /// token's `nonce` must be the request's.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn redeem(
        &self,
        client: &ResolvedClient,
        endpoint: &str,
        auth: &Authorization,
        code: &str,
        slot: &mut Slot,
        policy: &RequestPolicy,
        attempts: &mut Vec<Attempt>,
        trace: &mut Vec<String>,
    ) -> Result<Token, TokenError> {
        let field = |k: &str, v: &str| (k.to_string(), v.to_string());
        let grant = [
            field("grant_type", Grant::AuthorizationCode.grant_type()),
            field("code", code),
            field(
                "redirect_uri",
                client.redirect_uri.as_deref().unwrap_or_default(),
            ),
            field("code_verifier", &auth.verifier),
        ];
        let x = self
            .exchange(client, endpoint, &grant, policy, attempts)
            .await?;
        let (token, parsed) = self
            .token_from(client, &x, slot, None, trace)
            .map_err(|mut e| {
                // A refused code is the flow's problem (PKCE, redirect URI, a
                // spent code), not the user's password.
                if oauth_error_code(&x).as_deref() == Some("invalid_grant") {
                    e.class = FailureClass::AuthServer;
                }
                e
            })?;
        if let (Some(nonce), Some(id_token)) = (&auth.nonce, &parsed.id_token) {
            let matches = nonce_matches(id_token, nonce).map_err(|m| {
                TokenError::of(
                    client,
                    FailureClass::AuthServer,
                    format!("the ID token: {m}"),
                )
            })?;
            if !matches {
                return Err(TokenError::of(
                    client,
                    FailureClass::AuthServer,
                    "the ID token's `nonce` is not the authorization request's (a replayed ID token?)".into(),
                ));
            }
        }
        Ok(token)
    }
}

/// A device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_at: Instant,
    interval: Duration,
}

impl DeviceAuthorization {
    /// Where the user code is entered: the complete URI, or the plain one
    /// (the `login` walk then fills in `user_code`).
    fn complete_uri(&self) -> Result<url::Url, String> {
        let uri = self
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&self.verification_uri);
        url::Url::parse(uri).map_err(|e| format!("verification URI {uri:?}: {e}"))
    }
}

/// `oauthspec login`: the same flows for a person, at a browser the
/// command sends back to its loopback listener, or at the device page.
/// The tokens are kept (and written to the cache file) as a run's are.
impl TokenManager {
    fn interactive(timeout: Duration) -> RequestPolicy {
        RequestPolicy {
            timeout,
            retry: crate::retry::RetryPolicy::NONE,
        }
    }

    /// The authorization request to open in a browser.
    pub async fn begin_sign_in(
        &self,
        client: &ResolvedClient,
        timeout: Duration,
    ) -> Result<Authorization, TokenError> {
        self.register_secrets(client);
        self.authorization(client, &Self::interactive(timeout))
            .await
    }

    /// Tokens for the authorization response the browser brought to
    /// `back`; whether a refresh token came with them.
    pub async fn finish_sign_in(
        &self,
        client: &ResolvedClient,
        auth: &Authorization,
        back: &url::Url,
        timeout: Duration,
    ) -> Result<bool, TokenError> {
        let policy = Self::interactive(timeout);
        let code = self.code_from(client, auth, back)?;
        self.kept(client, timeout, async |endpoint, slot, attempts, trace| {
            (self.redeem(
                client, endpoint, auth, &code, slot, &policy, attempts, trace,
            ))
            .await
        })
        .await
    }

    /// Keeps the token `get` gets (with the slot it fills) as a run would;
    /// whether a refresh token came with it.
    async fn kept(
        &self,
        client: &ResolvedClient,
        timeout: Duration,
        get: impl AsyncFnOnce(
            &str,
            &mut Slot,
            &mut Vec<Attempt>,
            &mut Vec<String>,
        ) -> Result<Token, TokenError>,
    ) -> Result<bool, TokenError> {
        let (endpoint, key, slot) = self.slot_of(client, timeout).await?;
        let mut slot = slot.lock().await;
        let (mut attempts, mut trace) = (Vec::new(), Vec::new());
        let token = get(&endpoint, &mut slot, &mut attempts, &mut trace).await?;
        self.keep(client, &key, &mut slot, &token, &mut trace);
        Ok(slot.refresh_token.is_some())
    }

    /// A device code, and the user code a person approves it with.
    pub async fn begin_device(
        &self,
        client: &ResolvedClient,
        timeout: Duration,
    ) -> Result<DeviceAuthorization, TokenError> {
        self.register_secrets(client);
        self.device_authorization(client, &Self::interactive(timeout), &mut Vec::new())
            .await
    }

    /// Tokens, once the device is approved; whether a refresh token came
    /// with them.
    pub async fn finish_device(
        &self,
        client: &ResolvedClient,
        device: &DeviceAuthorization,
        timeout: Duration,
    ) -> Result<bool, TokenError> {
        let policy = Self::interactive(timeout);
        self.kept(client, timeout, async |endpoint, slot, attempts, trace| {
            let x = (self.poll(
                client,
                endpoint,
                device,
                device.expires_at,
                &policy,
                attempts,
            ))
            .await?;
            self.token_from(client, &x, slot, None, trace)
                .map(|(t, _)| t)
        })
        .await
    }
}

/// Whether an ID token's `nonce` is `nonce`.
fn nonce_matches(id_token: &str, nonce: &str) -> Result<bool, String> {
    let claims = super::jwt::claims(id_token)?;
    Ok(claims.get("nonce").and_then(|n| n.as_str()) == Some(nonce))
}

/// How long a run polls after its headless sign-in approved the device.
const HEADLESS_APPROVAL: Duration = Duration::from_secs(120);

/// RFC 8628 §3.2: 5 seconds when the server names no interval.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

impl TokenManager {
    /// Asks for a device code and the user code to approve it with.
    pub(super) async fn device_authorization(
        &self,
        client: &ResolvedClient,
        policy: &RequestPolicy,
        attempts: &mut Vec<Attempt>,
    ) -> Result<DeviceAuthorization, TokenError> {
        let fail = |class, message: String| TokenError::of(client, class, message);
        let endpoint = match (&client.device_authorization_url, &client.discovery) {
            (Some(url), _) => url.clone(),
            (None, Some(issuer)) => self
                .metadata(issuer, policy.timeout)
                .await
                .map_err(|m| fail(FailureClass::AuthServer, format!("discovery failed: {m}")))?
                .device_authorization_endpoint
                .ok_or_else(|| {
                    fail(
                        FailureClass::AuthServer,
                        "the provider's metadata has no device_authorization_endpoint".into(),
                    )
                })?,
            (None, None) => {
                return Err(fail(
                    FailureClass::Config,
                    "no device_authorization_url".into(),
                ))
            }
        };
        let x = self
            .exchange(client, &endpoint, &[], policy, attempts)
            .await?;
        parse_device(&x)
            .map_err(|(class, m)| fail(class, m))
            .inspect(|d| {
                self.redactor.add(&d.device_code);
                self.redactor.add(&d.user_code);
            })
    }

    /// Polls the token endpoint at the server's interval (5 s more after
    /// each `slow_down`, never faster) until the device is approved,
    /// denied or expired.
    pub(super) async fn poll(
        &self,
        client: &ResolvedClient,
        endpoint: &str,
        device: &DeviceAuthorization,
        deadline: Instant,
        policy: &RequestPolicy,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Exchange, TokenError> {
        let grant = [
            (
                "grant_type".to_string(),
                Grant::DeviceCode.grant_type().to_string(),
            ),
            ("device_code".to_string(), device.device_code.clone()),
        ];
        let mut interval = device.interval;
        loop {
            if Instant::now() + interval > deadline {
                let why = if deadline < device.expires_at {
                    "the device was not approved within 2 minutes of the sign-in"
                } else {
                    "the user code expired before the device was approved"
                };
                return Err(TokenError::of(
                    client,
                    FailureClass::Credentials,
                    why.into(),
                ));
            }
            tokio::time::sleep(interval).await;
            let x = self
                .exchange(client, endpoint, &grant, policy, attempts)
                .await?;
            match oauth_error_code(&x).as_deref() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += Duration::from_secs(5),
                Some("expired_token") => {
                    return Err(TokenError::of(
                        client,
                        FailureClass::Credentials,
                        "the user code expired before the device was approved (expired_token)"
                            .into(),
                    ))
                }
                Some("access_denied") => {
                    return Err(TokenError::of(
                        client,
                        FailureClass::Scope,
                        "the user denied the device (access_denied)".into(),
                    ))
                }
                _ => return Ok(x),
            }
            supersede_last(attempts);
        }
    }
}

/// Reads a device authorization response; on failure, the class and why.
fn parse_device(x: &Exchange) -> Result<DeviceAuthorization, (FailureClass, String)> {
    // Its errors are the token endpoint's (RFC 8628 §3.2).
    if x.status != 200 || oauth_error_code(x).is_some() {
        let (class, message) = super::response::parse_token_response(x).err().unwrap_or((
            FailureClass::AuthServer,
            format!("token endpoint answered {}", x.status),
        ));
        return Err((
            class,
            message.replace("token endpoint", "device authorization endpoint"),
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&x.body).map_err(|_| {
        (
            FailureClass::AuthServer,
            "the device authorization response is not JSON".to_string(),
        )
    })?;
    let text = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let need = |name: &str| {
        text(name).ok_or_else(|| {
            (
                FailureClass::AuthServer,
                format!("the device authorization response has no `{name}`"),
            )
        })
    };
    let seconds = |name: &str| json.get(name).and_then(|v| v.as_u64());
    Ok(DeviceAuthorization {
        device_code: need("device_code")?,
        user_code: need("user_code")?,
        verification_uri: text("verification_uri")
            .or_else(|| text("verification_url"))
            .ok_or_else(|| {
                (
                    FailureClass::AuthServer,
                    "the device authorization response has no `verification_uri`".to_string(),
                )
            })?,
        verification_uri_complete: text("verification_uri_complete"),
        expires_at: Instant::now()
            + Duration::from_secs(seconds("expires_in").unwrap_or(600).min(86_400)),
        interval: seconds("interval").map_or(DEFAULT_INTERVAL, |s| Duration::from_secs(s.max(1))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn manager() -> TokenManager {
        let http = Arc::new(crate::http::Http::new(false, 1 << 20));
        TokenManager::new(
            http,
            Arc::new(crate::secrets::Redactor::new()),
            Duration::from_secs(5),
        )
    }

    fn auth(iss_required: bool) -> Authorization {
        Authorization {
            url: url::Url::parse("https://as.example/authorize").unwrap(),
            redirect_uri: url::Url::parse("http://127.0.0.1/cb").unwrap(),
            state: "the-state".into(),
            nonce: Some("the-nonce".into()),
            verifier: "v".repeat(43),
            issuer: Some("https://as.example".into()),
            iss_required,
        }
    }

    #[test]
    fn an_authorization_response_is_checked_before_its_code_is_used() {
        let tokens = manager();
        let client = ResolvedClient {
            name: "alice".into(),
            ..ResolvedClient::default()
        };
        let back = |query: &str| url::Url::parse(&format!("http://127.0.0.1/cb?{query}")).unwrap();
        let outcome = |query: &str, required: bool| match tokens.code_from(
            &client,
            &auth(required),
            &back(query),
        ) {
            Ok(code) => Ok(code),
            Err(e) => Err((e.class, e.message)),
        };
        let iss = "iss=https%3A%2F%2Fas.example";
        assert_eq!(
            outcome(&format!("code=c0de-1234&state=the-state&{iss}"), true),
            Ok("c0de-1234".into())
        );
        assert_eq!(
            outcome("code=c0de-1234&state=the-state", false),
            Ok("c0de-1234".into())
        );
        let refused = |query: &str, required: bool, class: FailureClass, says: &str| {
            let (got, message) = outcome(query, required).unwrap_err();
            assert_eq!(got, class, "{query}: {message}");
            assert!(message.contains(says), "{query}: {message}");
        };
        refused(
            &format!("code=x&state=forged&{iss}"),
            true,
            FailureClass::AuthServer,
            "`state` is not the request's",
        );
        refused(
            "code=x&state=the-state&iss=https%3A%2F%2Fevil.example",
            true,
            FailureClass::AuthServer,
            "a mix-up attack?",
        );
        refused(
            "code=x&state=the-state",
            true,
            FailureClass::AuthServer,
            "this one has none (RFC 9207)",
        );
        for (error, class) in [
            ("access_denied", FailureClass::Scope),
            ("invalid_scope", FailureClass::Scope),
            ("login_required", FailureClass::Credentials),
            ("invalid_request", FailureClass::AuthServer),
        ] {
            let query = format!("error={error}&error_description=why+not&state=the-state&{iss}");
            refused(&query, true, class, &format!("refused: {error} (why not)"));
        }
        // The code is a secret from the moment it is seen.
        assert_eq!(tokens.redactor.redact("c0de-1234"), "***");
    }

    #[test]
    fn an_id_token_must_carry_the_requests_nonce() {
        let token = |claims: &str| {
            let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
            format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(claims))
        };
        assert!(nonce_matches(&token(r#"{"nonce":"the-nonce"}"#), "the-nonce").unwrap());
        assert!(!nonce_matches(&token(r#"{"nonce":"replayed"}"#), "the-nonce").unwrap());
        assert!(!nonce_matches(&token(r#"{}"#), "the-nonce").unwrap());
        assert!(nonce_matches("not-a-jwt", "the-nonce").is_err());
    }

    #[test]
    fn pkce_s256_is_rfc_7636s() {
        // RFC 7636 Appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let verifier = random(32);
        assert_eq!(verifier.len(), 43);
        assert_ne!(verifier, random(32));
    }
}
