//! Integration tests of the built-in sandbox: every endpoint, grant, client
//! authentication method, error and fault, driven over real HTTP.

// The one skip-or-fail rule, shared with the main test suite.
#[allow(dead_code)]
#[path = "../../../tests/common/tool.rs"]
mod tool;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use oauthspec_sandbox::{
    parse_fault, ClientAuthMethod, GrantType, RegisteredClient, Sandbox, SandboxConfig, Stats,
};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

async fn start() -> Sandbox {
    start_with(SandboxConfig::default()).await
}

async fn start_with(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config, 0).await.expect("sandbox starts")
}

/// A fresh client per request: no pooled connection can hide a `close`.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// RFC 6749 §5.2 error with the no-store headers.
    fn assert_oauth_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.error(), error, "{self:?}");
        assert!(self.json()["error_description"].is_string(), "{self:?}");
        self.assert_no_store();
    }

    fn assert_no_store(&self) {
        assert_eq!(self.header("cache-control"), Some("no-store"), "{self:?}");
        assert_eq!(self.header("pragma"), Some("no-cache"), "{self:?}");
    }
}

async fn send(req: reqwest::RequestBuilder) -> Resp {
    let r = req.send().await.expect("HTTP response");
    Resp {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        text: r.text().await.unwrap(),
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// POSTs a form to `path`, with `auth` as the Authorization header if any.
async fn post_form(sb: &Sandbox, path: &str, auth: Option<&str>, form: &[(&str, &str)]) -> Resp {
    let mut req = http().post(format!("{}{path}", sb.base_url())).form(form);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    send(req).await
}

async fn token_req(sb: &Sandbox, auth: Option<&str>, form: &[(&str, &str)]) -> Resp {
    post_form(sb, "/oauth2/token", auth, form).await
}

/// A client_credentials token for demo-client (client_secret_basic).
async fn demo_token(sb: &Sandbox) -> String {
    client_token(sb, "demo-client", "demo-secret", &[]).await
}

async fn client_token(sb: &Sandbox, id: &str, secret: &str, extra: &[(&str, &str)]) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let r = token_req(sb, Some(&basic(id, secret)), &form).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["access_token"].as_str().unwrap().to_string()
}

async fn alice_tokens(sb: &Sandbox) -> Value {
    let r = token_req(
        sb,
        Some(&basic("demo-client", "demo-secret")),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

async fn api(sb: &Sandbox, method: Method, path: &str, auth: Option<&str>) -> Resp {
    let mut req = http().request(method, format!("{}{path}", sb.base_url()));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    send(req).await
}

async fn get(sb: &Sandbox, path: &str) -> Resp {
    api(sb, Method::GET, path, None).await
}

async fn bearer_get(sb: &Sandbox, path: &str, token: &str) -> Resp {
    api(sb, Method::GET, path, Some(&format!("Bearer {token}"))).await
}

async fn post_fault(sb: &Sandbox, body: Value) -> Resp {
    let req = http()
        .post(format!("{}/sandbox/faults", sb.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string());
    send(req).await
}

fn add(sb: &Sandbox, spec: &str) {
    sb.add_fault(parse_fault(spec).unwrap());
}

fn client(
    id: &str,
    secret: Option<&str>,
    key: Option<String>,
    methods: &[ClientAuthMethod],
) -> RegisteredClient {
    RegisteredClient {
        id: id.into(),
        secret: secret.map(str::to_string),
        public_key_pem: key,
        self_signed_cert_pem: None,
        grants: vec![GrantType::ClientCredentials],
        scopes: vec!["orders:read".into()],
        auth_methods: methods.to_vec(),
        redirect_uris: Vec::new(),
    }
}

fn config_with(clients: Vec<RegisteredClient>) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.clients.extend(clients);
    c
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Decodes a JWT payload without verifying it.
fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

// ---------------------------------------------------------- discovery, jwks

#[tokio::test]
async fn discovery_documents_describe_the_server() {
    let sb = start().await;
    let base = sb.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = get(&sb, path).await;
        assert_eq!(r.status, 200);
        let m = r.json();
        assert_eq!(m["issuer"], base);
        assert_eq!(m["token_endpoint"], format!("{base}/oauth2/token"));
        assert_eq!(m["jwks_uri"], format!("{base}/oauth2/jwks"));
        assert_eq!(
            m["introspection_endpoint"],
            format!("{base}/oauth2/introspect")
        );
        assert_eq!(m["revocation_endpoint"], format!("{base}/oauth2/revoke"));
        assert_eq!(
            m["grant_types_supported"],
            json!([
                "client_credentials",
                "refresh_token",
                "password",
                "authorization_code",
                "urn:ietf:params:oauth:grant-type:device_code",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        assert_eq!(
            m["authorization_endpoint"],
            format!("{base}/oauth2/authorize")
        );
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            m["authorization_response_iss_parameter_supported"],
            json!(true)
        );
        // Client certificates need TLS: not over plain HTTP.
        assert_eq!(
            m["tls_client_certificate_bound_access_tokens"],
            json!(false)
        );
        assert_eq!(
            m["token_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none"
            ])
        );
        let algs = m["token_endpoint_auth_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        assert!(algs.contains(&json!("RS256")) && algs.contains(&json!("ES256")));
        assert_eq!(
            m["scopes_supported"],
            json!(["orders:admin", "orders:read", "orders:write"])
        );
        assert_eq!(m["response_types_supported"], json!(["code"]));
        assert_eq!(m["subject_types_supported"], json!(["public"]));
        assert_eq!(m["id_token_signing_alg_values_supported"], json!(["RS256"]));
    }
    assert_eq!(sb.stats().discovery, 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn access_tokens_verify_against_the_published_jwks() {
    let sb = start().await;
    let r = get(&sb, "/oauth2/jwks").await;
    assert_eq!(r.status, 200);
    let jwks = r.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["use"], "sig");
    let kid = jwk["kid"].as_str().unwrap();

    let token = demo_token(&sb).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some(kid));

    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&["orders-api"]);
    v.set_issuer(&[sb.base_url()]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "demo-client");
    assert_eq!(claims["client_id"], "demo-client");
    assert_eq!(claims["aud"], "orders-api");
    assert_eq!(claims["scope"], "orders:read");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    assert!(iat.abs_diff(now()) <= 5);
    assert!(claims["jti"].as_str().unwrap().len() >= 16);

    // A token tampered with no longer verifies.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[2] = parts[2].chars().rev().collect();
    assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &key, &v).is_err());
    assert_eq!(sb.stats().jwks, 1);
    sb.shutdown().await;
}

// ----------------------------------------------------------- token endpoint

#[tokio::test]
async fn client_credentials_with_client_secret_basic() {
    let sb = start().await;
    let r = token_req(
        &sb,
        Some(&basic("demo-client", "demo-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.assert_no_store();
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    // No scope requested: all of the client's scopes, and never admin.
    assert_eq!(body["scope"], "orders:read");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client_credentials"
    );
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], sb.base_url());

    let stats = sb.stats();
    assert_eq!(stats.token, 1);
    assert_eq!(stats.grant("client_credentials"), 1);
    assert_eq!(stats.tokens_issued, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn client_credentials_with_client_secret_post_and_scope_subset() {
    let sb = start().await;
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "admin-client"),
            ("client_secret", "admin-secret"),
            ("scope", "orders:write orders:read"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["scope"], "orders:write orders:read");

    // No scope: everything admin-client may have.
    let token = client_token(&sb, "admin-client", "admin-secret", &[]).await;
    assert_eq!(
        jwt_claims(&token)["scope"],
        "orders:read orders:write orders:admin"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    let id = "svc client&co";
    let secret = "p@ss:wo rd+%/é";
    let sb = start_with(config_with(vec![client(
        id,
        Some(secret),
        None,
        &[ClientAuthMethod::ClientSecretBasic],
    )]))
    .await;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let r = token_req(
        &sb,
        Some(&basic(&enc(id), &enc(secret))),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        jwt_claims(r.json()["access_token"].as_str().unwrap())["client_id"],
        id
    );

    // Not encoded: `%/` is not a valid escape, so authentication fails.
    let r = token_req(
        &sb,
        Some(&basic(id, secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    r.assert_oauth_error(401, "invalid_client");
    sb.shutdown().await;
}

#[tokio::test]
async fn invalid_client_errors() {
    let sb = start_with(config_with(vec![client(
        "post-only",
        Some("s"),
        None,
        &[ClientAuthMethod::ClientSecretPost],
    )]))
    .await;
    let cc = [("grant_type", "client_credentials")];

    // Wrong secret over Basic: 401 with a Basic challenge.
    let r = token_req(&sb, Some(&basic("demo-client", "nope")), &cc).await;
    r.assert_oauth_error(401, "invalid_client");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"sandbox\"")
    );

    // Unknown client over Basic.
    let r = token_req(&sb, Some(&basic("ghost", "x")), &cc).await;
    r.assert_oauth_error(401, "invalid_client");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"sandbox\"")
    );

    // Wrong secret in the body: no Basic challenge.
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client"),
            ("client_secret", "nope"),
        ],
    )
    .await;
    r.assert_oauth_error(401, "invalid_client");
    assert_eq!(r.header("www-authenticate"), None);

    // No authentication at all.
    let r = token_req(&sb, None, &cc).await;
    r.assert_oauth_error(401, "invalid_client");

    // A confidential client cannot pretend to be public.
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client"),
        ],
    )
    .await;
    r.assert_oauth_error(401, "invalid_client");

    // A client may only use its configured method.
    let r = token_req(&sb, Some(&basic("post-only", "s")), &cc).await;
    r.assert_oauth_error(401, "invalid_client");
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("client_secret_basic"));
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "post-only"),
            ("client_secret", "s"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");

    // Malformed Basic header.
    let r = token_req(&sb, Some("Basic !!!notbase64"), &cc).await;
    r.assert_oauth_error(401, "invalid_client");
    sb.shutdown().await;
}

#[tokio::test]
async fn invalid_request_errors() {
    let sb = start().await;
    let auth = basic("demo-client", "demo-secret");

    // Missing grant_type.
    let r = token_req(&sb, Some(&auth), &[("scope", "orders:read")]).await;
    r.assert_oauth_error(400, "invalid_request");
    assert!(r.text.contains("grant_type"));

    // Repeated parameter.
    let r = send(
        http()
            .post(format!("{}/oauth2/token", sb.base_url()))
            .header("authorization", &auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=orders:read&scope=orders:read"),
    )
    .await;
    r.assert_oauth_error(400, "invalid_request");

    // Not a form.
    let r = send(
        http()
            .post(format!("{}/oauth2/token", sb.base_url()))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(r#"{"grant_type":"client_credentials"}"#),
    )
    .await;
    r.assert_oauth_error(400, "invalid_request");

    // Two authentication methods at once.
    let r = token_req(
        &sb,
        Some(&auth),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await;
    r.assert_oauth_error(400, "invalid_request");

    // Password grant without a password.
    let r = token_req(
        &sb,
        Some(&auth),
        &[("grant_type", "password"), ("username", "alice")],
    )
    .await;
    r.assert_oauth_error(400, "invalid_request");

    // Refresh grant without a refresh token.
    let r = token_req(&sb, Some(&auth), &[("grant_type", "refresh_token")]).await;
    r.assert_oauth_error(400, "invalid_request");

    // GET is not a token request.
    let r = api(&sb, Method::GET, "/oauth2/token", None).await;
    assert_eq!(r.status, 405);
    sb.shutdown().await;
}

#[tokio::test]
async fn grant_type_errors() {
    let sb = start_with(config_with(vec![client(
        "cc-only",
        Some("s"),
        None,
        &[ClientAuthMethod::ClientSecretBasic],
    )]))
    .await;
    let r = token_req(
        &sb,
        Some(&basic("demo-client", "demo-secret")),
        &[("grant_type", "jwt-bearer"), ("code", "x")],
    )
    .await;
    r.assert_oauth_error(400, "unsupported_grant_type");

    let r = token_req(
        &sb,
        Some(&basic("cc-only", "s")),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ],
    )
    .await;
    r.assert_oauth_error(400, "unauthorized_client");

    // public-client is not allowed client_credentials.
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "public-client"),
        ],
    )
    .await;
    r.assert_oauth_error(400, "unauthorized_client");

    let stats = sb.stats();
    assert_eq!(stats.token, 3);
    assert_eq!(stats.grant("jwt-bearer"), 1);
    assert_eq!(stats.grant("password"), 1);
    assert_eq!(stats.grant("client_credentials"), 1);
    assert_eq!(stats.tokens_issued, 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn invalid_scope_is_refused() {
    let sb = start().await;
    let r = token_req(
        &sb,
        Some(&basic("demo-client", "demo-secret")),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "orders:read orders:admin"),
        ],
    )
    .await;
    r.assert_oauth_error(400, "invalid_scope");
    assert!(r.text.contains("orders:admin"));
    sb.shutdown().await;
}

#[tokio::test]
async fn password_grant_and_refresh_rotation() {
    let sb = start().await;
    let auth = basic("demo-client", "demo-secret");
    let first = alice_tokens(&sb).await;
    assert_eq!(first["scope"], "orders:read");
    assert_eq!(
        jwt_claims(first["access_token"].as_str().unwrap())["sub"],
        "alice"
    );
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();

    // Wrong password.
    let r = token_req(
        &sb,
        Some(&auth),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "x"),
        ],
    )
    .await;
    r.assert_oauth_error(400, "invalid_grant");

    // Refresh: new access token, new refresh token, same subject.
    let r = token_req(
        &sb,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.assert_no_store();
    let second = r.json();
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_ne!(first["access_token"], second["access_token"]);
    assert_eq!(
        jwt_claims(second["access_token"].as_str().unwrap())["sub"],
        "alice"
    );

    // The used refresh token is dead.
    let r = token_req(
        &sb,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    r.assert_oauth_error(400, "invalid_grant");

    // Widening the scope on refresh is refused, and does not burn the token.
    let r = token_req(
        &sb,
        Some(&basic("demo-client", "demo-secret")),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("scope", "orders:write"),
        ],
    )
    .await;
    r.assert_oauth_error(400, "invalid_scope");

    // Another client cannot use it.
    let r = token_req(
        &sb,
        Some(&basic("admin-client", "admin-secret")),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    )
    .await;
    r.assert_oauth_error(400, "invalid_grant");

    // Unknown refresh token.
    let r = token_req(
        &sb,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
    )
    .await;
    r.assert_oauth_error(400, "invalid_grant");

    // Still valid after the refused attempts.
    let r = token_req(
        &sb,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");

    let stats = sb.stats();
    assert_eq!(stats.grant("password"), 2);
    assert_eq!(stats.grant("refresh_token"), 6);
    assert_eq!(stats.tokens_issued, 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn public_client_uses_auth_method_none() {
    let sb = start().await;
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "password"),
            ("client_id", "public-client"),
            ("username", "alice"),
            ("password", "alice-password"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["client_id"],
        "public-client"
    );
    let rt = body["refresh_token"].as_str().unwrap();
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "public-client"),
            ("refresh_token", rt),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn audience_and_resource_set_the_token_audience() {
    let sb = start().await;
    let t = client_token(
        &sb,
        "demo-client",
        "demo-secret",
        &[("audience", "billing-api")],
    )
    .await;
    assert_eq!(jwt_claims(&t)["aud"], "billing-api");
    // The orders API refuses a token for another audience.
    let r = bearer_get(&sb, "/v1/orders", &t).await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    assert!(r.text.contains("aud"));

    let t = client_token(
        &sb,
        "demo-client",
        "demo-secret",
        &[
            ("resource", "orders-api"),
            ("resource", "https://other.example"),
        ],
    )
    .await;
    assert_eq!(
        jwt_claims(&t)["aud"],
        json!(["orders-api", "https://other.example"])
    );
    assert_eq!(bearer_get(&sb, "/v1/orders", &t).await.status, 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn without_rotation_a_refresh_token_stays_valid_and_none_is_issued() {
    let sb = start_with(SandboxConfig {
        rotate_refresh_tokens: false,
        ..SandboxConfig::default()
    })
    .await;
    let rt = sb.demo_refresh_token().await.unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", "public-client"),
        ("refresh_token", rt.as_str()),
    ];
    let refresh = || token_req(&sb, None, &form);
    for _ in 0..2 {
        let r = refresh().await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json()["access_token"].is_string());
        assert!(r.json().get("refresh_token").is_none(), "{}", r.text);
    }
    // Revoking it still revokes it.
    let revoked = http()
        .post(format!("{}/oauth2/revoke", sb.base_url()))
        .form(&[("token", rt.as_str()), ("client_id", "public-client")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(refresh().await.json()["error"], "invalid_grant");
    sb.shutdown().await;
}

#[tokio::test]
async fn refresh_keeps_the_audience_of_the_grant() {
    let sb = start().await;
    let auth = basic("demo-client", "demo-secret");
    let r = token_req(
        &sb,
        Some(&auth),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
            ("audience", "billing-api"),
        ],
    )
    .await;
    let rt = r.json()["refresh_token"].as_str().unwrap().to_string();
    let r = token_req(
        &sb,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(
        jwt_claims(r.json()["access_token"].as_str().unwrap())["aud"],
        "billing-api"
    );
    sb.shutdown().await;
}

// ---------------------------------------------------------- private_key_jwt

fn rsa_keypair() -> (EncodingKey, String) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem = private.to_pkcs1_pem(LineEnding::LF).unwrap();
    let public = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(), public)
}

fn ec_keypair() -> (EncodingKey, String) {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(), public)
}

fn assertion(key: &EncodingKey, alg: Algorithm, claims: Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap()
}

fn assertion_claims(sb: &Sandbox, client_id: &str) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": format!("{}/oauth2/token", sb.base_url()),
        "exp": now() + 60,
        "iat": now(),
        "jti": format!("jti-{}", rand::random::<u64>()),
    })
}

/// A JWT bearer grant (RFC 7523 §2.1) with no client authentication.
async fn jwt_bearer_req(sb: &Sandbox, assertion: &str) -> Resp {
    token_req(
        sb,
        None,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ],
    )
    .await
}

async fn jwt_token_req(sb: &Sandbox, assertion: &str) -> Resp {
    token_req(
        sb,
        None,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
    .await
}

/// RFC 7523 §2.1 without client authentication (Google's service
/// accounts): no client_id, no credentials, the assertion alone; its `iss`
/// names the client whose registered key must have signed it.
#[tokio::test]
async fn a_jwt_bearer_grant_needs_no_client_authentication() {
    let (key, public) = ec_keypair();
    let (other_key, _) = ec_keypair();
    let mut robot = client("robot", None, Some(public), &[ClientAuthMethod::None]);
    robot.grants = vec![GrantType::JwtBearer];
    let sb = start_with(config_with(vec![robot])).await;
    let mut claims = assertion_claims(&sb, "robot");
    claims["sub"] = json!("alice");
    let r = jwt_bearer_req(&sb, &assertion(&key, Algorithm::ES256, claims.clone())).await;
    assert_eq!(r.status, 200, "{r:?}");
    let issued = jwt_claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(issued["client_id"], "robot");
    assert_eq!(issued["sub"], "alice");
    assert!(r.json().get("refresh_token").is_none(), "{r:?}");

    // Signed by another key, or from no client: refused.
    claims["jti"] = json!("another");
    let r = jwt_bearer_req(
        &sb,
        &assertion(&other_key, Algorithm::ES256, claims.clone()),
    )
    .await;
    r.assert_oauth_error(400, "invalid_grant");
    claims["iss"] = json!("nobody");
    let r = jwt_bearer_req(&sb, &assertion(&key, Algorithm::ES256, claims)).await;
    r.assert_oauth_error(400, "invalid_grant");
    assert!(r.text.contains("`nobody` is no client"), "{r:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn private_key_jwt_with_rs256_and_es256() {
    let (rsa_key, rsa_pub) = rsa_keypair();
    let (ec_key, ec_pub) = ec_keypair();
    let sb = start_with(config_with(vec![
        client(
            "rsa-client",
            None,
            Some(rsa_pub),
            &[ClientAuthMethod::PrivateKeyJwt],
        ),
        client(
            "ec-client",
            None,
            Some(ec_pub),
            &[ClientAuthMethod::PrivateKeyJwt],
        ),
    ]))
    .await;

    for (id, key, alg) in [
        ("rsa-client", &rsa_key, Algorithm::RS256),
        ("rsa-client", &rsa_key, Algorithm::PS256),
        ("ec-client", &ec_key, Algorithm::ES256),
    ] {
        let a = assertion(key, alg, assertion_claims(&sb, id));
        let r = jwt_token_req(&sb, &a).await;
        assert_eq!(r.status, 200, "{alg:?}: {r:?}");
        assert_eq!(
            jwt_claims(r.json()["access_token"].as_str().unwrap())["sub"],
            id
        );

        // The same assertion again: replayed jti.
        let r = jwt_token_req(&sb, &a).await;
        r.assert_oauth_error(401, "invalid_client");
        assert!(r.text.contains("jti"), "{r:?}");
    }

    // The issuer is accepted as audience too, and client_id may be sent.
    let mut c = assertion_claims(&sb, "ec-client");
    c["aud"] = json!(sb.base_url());
    let a = assertion(&ec_key, Algorithm::ES256, c);
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "ec-client"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn private_key_jwt_rejections() {
    let (rsa_key, rsa_pub) = rsa_keypair();
    let (ec_key, _) = ec_keypair();
    let (other_rsa, _) = rsa_keypair();
    let sb = start_with(config_with(vec![client(
        "rsa-client",
        None,
        Some(rsa_pub),
        &[ClientAuthMethod::PrivateKeyJwt],
    )]))
    .await;
    let base = assertion_claims(&sb, "rsa-client");
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c["jti"] = json!(format!("jti-{}", rand::random::<u64>()));
        c
    };
    let without = |k: &str| {
        let mut c = with("jti", json!(format!("jti-{}", rand::random::<u64>())));
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong aud",
            assertion(
                &rsa_key,
                Algorithm::RS256,
                with("aud", json!("https://elsewhere/token")),
            ),
        ),
        (
            "expired",
            assertion(&rsa_key, Algorithm::RS256, with("exp", json!(now() - 10))),
        ),
        (
            "no exp",
            assertion(&rsa_key, Algorithm::RS256, without("exp")),
        ),
        (
            "no jti",
            assertion(&rsa_key, Algorithm::RS256, without("jti")),
        ),
        (
            "iss != sub",
            assertion(
                &rsa_key,
                Algorithm::RS256,
                with("iss", json!("someone-else")),
            ),
        ),
        (
            "other key",
            assertion(&other_rsa, Algorithm::RS256, with("exp", json!(now() + 60))),
        ),
        (
            "EC key for RSA client",
            assertion(&ec_key, Algorithm::ES256, with("exp", json!(now() + 60))),
        ),
        ("not a JWT", "not.a.jwt".to_string()),
    ];
    for (what, a) in cases {
        let r = jwt_token_req(&sb, &a).await;
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert_eq!(r.error(), "invalid_client", "{what}: {r:?}");
    }

    // Unknown client in sub.
    let a = assertion(&rsa_key, Algorithm::RS256, {
        let mut c = with("sub", json!("ghost"));
        c["iss"] = json!("ghost");
        c
    });
    jwt_token_req(&sb, &a)
        .await
        .assert_oauth_error(401, "invalid_client");

    // A secret client may not use private_key_jwt, and vice versa.
    let a = assertion(&rsa_key, Algorithm::RS256, {
        let mut c = with("sub", json!("demo-client"));
        c["iss"] = json!("demo-client");
        c
    });
    jwt_token_req(&sb, &a)
        .await
        .assert_oauth_error(401, "invalid_client");
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "rsa-client"),
            ("client_secret", "guess"),
        ],
    )
    .await;
    r.assert_oauth_error(401, "invalid_client");

    // Wrong assertion type.
    let a = assertion(&rsa_key, Algorithm::RS256, with("exp", json!(now() + 60)));
    let r = token_req(
        &sb,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:saml"),
            ("client_assertion", &a),
        ],
    )
    .await;
    r.assert_oauth_error(401, "invalid_client");
    // ... and that valid assertion still works afterwards.
    jwt_token_req(&sb, &a).await;
    assert_eq!(sb.stats().tokens_issued, 1);
    sb.shutdown().await;
}

// ------------------------------------------------------ introspect, revoke

#[tokio::test]
async fn introspection_of_access_and_refresh_tokens() {
    let sb = start().await;
    let auth = basic("admin-client", "admin-secret");
    let tokens = alice_tokens(&sb).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let r = post_form(&sb, "/oauth2/introspect", Some(&auth), &[("token", access)]).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.assert_no_store();
    let i = r.json();
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "Bearer");
    assert_eq!(i["scope"], "orders:read");
    assert_eq!(i["client_id"], "demo-client");
    assert_eq!(i["sub"], "alice");
    assert_eq!(i["aud"], "orders-api");
    assert_eq!(i["iss"], sb.base_url());
    assert_eq!(
        i["exp"].as_u64().unwrap() - i["iat"].as_u64().unwrap(),
        3600
    );

    let r = post_form(
        &sb,
        "/oauth2/introspect",
        None,
        &[
            ("token", refresh),
            ("token_type_hint", "refresh_token"),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await;
    let i = r.json();
    assert_eq!(i["active"], true, "{r:?}");
    assert_eq!(i["token_type"], "refresh_token");
    assert_eq!(i["sub"], "alice");
    assert_eq!(i["client_id"], "demo-client");

    for junk in ["garbage", "a.b.c"] {
        let r = post_form(&sb, "/oauth2/introspect", Some(&auth), &[("token", junk)]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"active": false}));
    }

    // Client authentication is required; `token` too.
    let r = post_form(&sb, "/oauth2/introspect", None, &[("token", access)]).await;
    r.assert_oauth_error(401, "invalid_client");
    let r = post_form(&sb, "/oauth2/introspect", Some(&auth), &[]).await;
    r.assert_oauth_error(400, "invalid_request");
    assert_eq!(sb.stats().introspect, 6);
    sb.shutdown().await;
}

#[tokio::test]
async fn revocation_of_access_and_refresh_tokens() {
    let sb = start().await;
    let auth = basic("demo-client", "demo-secret");
    let access = demo_token(&sb).await;
    assert_eq!(bearer_get(&sb, "/v1/orders", &access).await.status, 200);

    // Someone else's token: refused, and still valid.
    let r = post_form(
        &sb,
        "/oauth2/revoke",
        Some(&basic("admin-client", "admin-secret")),
        &[("token", &access)],
    )
    .await;
    r.assert_oauth_error(400, "unauthorized_client");
    assert_eq!(bearer_get(&sb, "/v1/orders", &access).await.status, 200);

    let r = post_form(&sb, "/oauth2/revoke", Some(&auth), &[("token", &access)]).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.assert_no_store();
    let r = bearer_get(&sb, "/v1/orders", &access).await;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate").unwrap().contains("revoked"),
        "{r:?}"
    );
    let r = post_form(
        &sb,
        "/oauth2/introspect",
        Some(&auth),
        &[("token", &access)],
    )
    .await;
    assert_eq!(r.json()["active"], false);

    // Revoking a refresh token kills it and the access tokens of its grant.
    let tokens = alice_tokens(&sb).await;
    let (at, rt) = (
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
    );
    let r = post_form(
        &sb,
        "/oauth2/revoke",
        Some(&auth),
        &[("token", rt), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = token_req(
        &sb,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    r.assert_oauth_error(400, "invalid_grant");
    assert_eq!(bearer_get(&sb, "/v1/orders", at).await.status, 401);

    // Unknown tokens: still 200. Missing token: invalid_request.
    let r = post_form(
        &sb,
        "/oauth2/revoke",
        Some(&auth),
        &[("token", "never-issued")],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = post_form(&sb, "/oauth2/revoke", Some(&auth), &[]).await;
    r.assert_oauth_error(400, "invalid_request");
    let r = post_form(&sb, "/oauth2/revoke", None, &[("token", "x")]).await;
    r.assert_oauth_error(401, "invalid_client");
    assert_eq!(sb.stats().revoke, 6);
    sb.shutdown().await;
}

// ------------------------------------------------------------------ the API

#[tokio::test]
async fn api_endpoints_with_scopes() {
    let sb = start().await;
    let r = get(&sb, "/v1/health").await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));

    let demo = demo_token(&sb).await;
    let r = bearer_get(&sb, "/v1/orders", &demo).await;
    assert_eq!(r.status, 200);
    let orders = r.json()["orders"].as_array().unwrap().clone();
    assert!(orders.len() >= 3);
    assert_eq!(orders[0]["id"], "ord_1001");
    assert!(orders
        .iter()
        .all(|o| o["id"].as_str().unwrap().starts_with("ord_")));

    let r = bearer_get(&sb, "/v1/orders/ord_1002", &demo).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], "ord_1002");
    assert_eq!(r.json()["on_hold"], true);

    let r = bearer_get(&sb, "/v1/orders/ord_9999", &demo).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "not_found");

    // demo-client lacks orders:write and orders:admin.
    let bearer = format!("Bearer {demo}");
    let r = api(
        &sb,
        Method::DELETE,
        "/v1/orders/ord_1002/hold",
        Some(&bearer),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"sandbox\", error=\"insufficient_scope\", scope=\"orders:write\"")
    );
    assert_eq!(r.error(), "insufficient_scope");
    let r = bearer_get(&sb, "/v1/admin/stats", &demo).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"sandbox\", error=\"insufficient_scope\", scope=\"orders:admin\"")
    );

    let admin = client_token(&sb, "admin-client", "admin-secret", &[]).await;
    let bearer = format!("Bearer {admin}");
    let r = api(
        &sb,
        Method::DELETE,
        "/v1/orders/ord_1002/hold",
        Some(&bearer),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["on_hold"], false);
    assert_eq!(
        bearer_get(&sb, "/v1/orders/ord_1002", &admin).await.json()["on_hold"],
        false
    );
    let r = api(&sb, Method::DELETE, "/v1/orders/ord_0/hold", Some(&bearer)).await;
    assert_eq!(r.status, 404);
    let r = bearer_get(&sb, "/v1/admin/stats", &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["orders"], 3);
    assert_eq!(r.json()["on_hold"], 1);

    assert_eq!(sb.stats().api, 10);
    sb.shutdown().await;
}

#[tokio::test]
async fn api_bearer_errors_follow_rfc_6750() {
    let sb = start().await;
    let token = demo_token(&sb).await;

    let r = api(&sb, Method::GET, "/v1/orders", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"sandbox\"")
    );

    // Another scheme carries no bearer token.
    let r = api(
        &sb,
        Method::GET,
        "/v1/orders",
        Some(&basic("demo-client", "demo-secret")),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"sandbox\"")
    );

    let r = bearer_get(&sb, "/v1/orders", "not-a-jwt").await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge
            .starts_with("Bearer realm=\"sandbox\", error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    assert_eq!(r.error(), "invalid_token");

    // Forged signature.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_sig = STANDARD
        .encode("x".repeat(256))
        .replace(['+', '/', '='], "A");
    parts[2] = &forged_sig;
    let r = bearer_get(&sb, "/v1/orders", &parts.join(".")).await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));

    // A token from another sandbox (other key, other issuer).
    let other = start().await;
    let foreign = demo_token(&other).await;
    assert_eq!(bearer_get(&sb, "/v1/orders", &foreign).await.status, 401);
    other.shutdown().await;

    // Scheme names are case-insensitive; Zoho's scheme works too.
    for scheme in ["bearer", "BEARER", "Zoho-oauthtoken", "zoho-OAuthToken"] {
        let r = api(
            &sb,
            Method::GET,
            "/v1/orders",
            Some(&format!("{scheme} {token}")),
        )
        .await;
        assert_eq!(r.status, 200, "{scheme}");
    }

    // `Bearer` with no token is malformed.
    let r = api(&sb, Method::GET, "/v1/orders", Some("Bearer")).await;
    assert_eq!(r.status, 400);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_request"));
    sb.shutdown().await;
}

#[tokio::test]
async fn expired_tokens_are_rejected() {
    let config = SandboxConfig {
        token_lifetime: 1,
        ..SandboxConfig::default()
    };
    let sb = start_with(config).await;
    let token = demo_token(&sb).await;
    assert_eq!(bearer_get(&sb, "/v1/orders", &token).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = bearer_get(&sb, "/v1/orders", &token).await;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate").unwrap().contains("expired"),
        "{r:?}"
    );
    let r = post_form(
        &sb,
        "/oauth2/introspect",
        Some(&basic("demo-client", "demo-secret")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(r.json()["active"], false);
    sb.shutdown().await;
}

// ------------------------------------------------------------------- faults

#[tokio::test]
async fn fault_latency() {
    let sb = start().await;
    add(&sb, "token:latency=400ms,times=1");
    let t = Instant::now();
    demo_token(&sb).await;
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    demo_token(&sb).await;
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    // Other groups are not affected.
    add(&sb, "api:latency=300ms");
    let t = Instant::now();
    demo_token(&sb).await;
    assert!(t.elapsed() < Duration::from_millis(300));
    let t = Instant::now();
    get(&sb, "/v1/health").await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(sb.stats().faults_triggered, 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_status_twice_then_success() {
    let sb = start().await;
    add(&sb, "token:status=503,retry_after=1,times=2");
    let auth = basic("demo-client", "demo-secret");
    for _ in 0..2 {
        let r = token_req(&sb, Some(&auth), &[("grant_type", "client_credentials")]).await;
        r.assert_oauth_error(503, "temporarily_unavailable");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    demo_token(&sb).await;
    let stats = sb.stats();
    assert_eq!(stats.token, 3);
    assert_eq!(stats.grant("client_credentials"), 3);
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.faults_triggered, 2);
    assert!(sb.faults().is_empty());

    add(&sb, "token:status=429,retry_after=2");
    let r = token_req(&sb, Some(&auth), &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    // Without times the fault stays.
    assert_eq!(
        token_req(&sb, Some(&auth), &[("grant_type", "client_credentials")])
            .await
            .status,
        429
    );
    sb.clear_faults();
    demo_token(&sb).await;
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_rate_limit() {
    let sb = start().await;
    add(&sb, "token:rate_limit=2");
    demo_token(&sb).await;
    demo_token(&sb).await;
    let r = token_req(
        &sb,
        Some(&basic("demo-client", "demo-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    r.assert_oauth_error(429, "too_many_requests");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The API group has its own budget.
    assert_eq!(get(&sb, "/v1/health").await.status, 200);
    assert_eq!(sb.stats().token, 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_error_200_like_zoho() {
    let sb = start().await;
    add(&sb, "token:error_200,times=1");
    let r = token_req(
        &sb,
        Some(&basic("demo-client", "demo-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"error": "access denied"}));
    r.assert_no_store();
    demo_token(&sb).await;
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_expires_in_ms() {
    let sb = start().await;
    add(&sb, "token:expires_in_ms,times=1");
    let auth = basic("demo-client", "demo-secret");
    let r = token_req(&sb, Some(&auth), &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.json()["expires_in"], 3_600_000);
    // The token itself still lives an hour.
    let c = jwt_claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        3600
    );
    let r = token_req(&sb, Some(&auth), &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.json()["expires_in"], 3600);
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_expires_in_sec() {
    let sb = start().await;
    add(&sb, "token:expires_in_sec,times=1");
    let auth = basic("demo-client", "demo-secret");
    let r = token_req(&sb, Some(&auth), &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.json()["expires_in"], 3_600_000);
    assert_eq!(r.json()["expires_in_sec"], 3600);
    let r = token_req(&sb, Some(&auth), &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.json()["expires_in"], 3600);
    assert!(r.json().get("expires_in_sec").is_none());
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_malformed_json() {
    let sb = start().await;
    add(&sb, "token:malformed_json,times=1");
    add(&sb, "jwks:malformed_json,times=1");
    let r = token_req(
        &sb,
        Some(&basic("demo-client", "demo-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(!r.text.is_empty());
    assert!(
        serde_json::from_str::<Value>(&r.text).is_err(),
        "{}",
        r.text
    );
    assert!(r.text.starts_with("{\"access_token\""), "{}", r.text);
    let r = get(&sb, "/oauth2/jwks").await;
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
    assert_eq!(
        get(&sb, "/oauth2/jwks").await.json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_close_drops_the_connection() {
    let sb = start().await;
    add(&sb, "token:close,times=1");
    let res = http()
        .post(format!("{}/oauth2/token", sb.base_url()))
        .header("authorization", basic("demo-client", "demo-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    let err = res.expect_err("no HTTP response expected");
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    assert_eq!(sb.stats().token, 1);
    assert_eq!(sb.stats().tokens_issued, 0);
    // Only once.
    demo_token(&sb).await;

    add(&sb, "discovery:close");
    assert!(http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            sb.base_url()
        ))
        .send()
        .await
        .is_err());
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_rotate_secret() {
    let sb = start().await;
    add(&sb, "token:rotate_secret=demo-client:new-secret");
    let cc = [("grant_type", "client_credentials")];
    let r = token_req(&sb, Some(&basic("demo-client", "demo-secret")), &cc).await;
    r.assert_oauth_error(401, "invalid_client");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"sandbox\"")
    );
    client_token(&sb, "demo-client", "new-secret", &[]).await;
    // Other clients are unaffected; introspection sees the new secret too.
    client_token(&sb, "admin-client", "admin-secret", &[]).await;
    let r = post_form(
        &sb,
        "/oauth2/introspect",
        Some(&basic("demo-client", "demo-secret")),
        &[("token", "x")],
    )
    .await;
    r.assert_oauth_error(401, "invalid_client");
    sb.clear_faults();
    demo_token(&sb).await;
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_remove_scope() {
    let sb = start().await;
    add(&sb, "token:remove_scope=admin-client:orders:admin");
    let auth = basic("admin-client", "admin-secret");
    let r = token_req(
        &sb,
        Some(&auth),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "orders:admin"),
        ],
    )
    .await;
    r.assert_oauth_error(400, "invalid_scope");
    let t = client_token(&sb, "admin-client", "admin-secret", &[]).await;
    assert_eq!(jwt_claims(&t)["scope"], "orders:read orders:write");
    assert_eq!(bearer_get(&sb, "/v1/admin/stats", &t).await.status, 403);

    // Refresh drops the removed scope, or refuses it when asked for.
    let r = token_req(
        &sb,
        Some(&auth),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ],
    )
    .await;
    assert_eq!(r.json()["scope"], "orders:read orders:write");
    sb.clear_faults();
    let r = token_req(
        &sb,
        Some(&auth),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ],
    )
    .await;
    assert_eq!(r.json()["scope"], "orders:read orders:write orders:admin");
    let rt = r.json()["refresh_token"].as_str().unwrap().to_string();
    add(&sb, "token:remove_scope=admin-client:orders:admin,times=1");
    let r = token_req(
        &sb,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(r.json()["scope"], "orders:read orders:write", "{r:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn fault_api_invalid_token_once() {
    let sb = start().await;
    let token = demo_token(&sb).await;
    add(&sb, "api:invalid_token,times=1");
    let r = bearer_get(&sb, "/v1/orders", &token).await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"sandbox\", error=\"invalid_token\""),
        "{challenge}"
    );
    assert_eq!(bearer_get(&sb, "/v1/orders", &token).await.status, 200);
    // Requests without a token do not use it up.
    add(&sb, "api:invalid_token,times=1");
    assert_eq!(get(&sb, "/v1/health").await.status, 200);
    assert_eq!(sb.faults().len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn faults_over_http_and_sandbox_endpoints_are_exempt() {
    let sb = start().await;
    let r = post_fault(&sb, json!({"fault": "token:status=503,times=2"})).await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = post_fault(
        &sb,
        json!({"faults": ["api:status=500", "jwks:latency=10ms"]}),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["faults"].as_array().unwrap().len(), 3);

    let r = get(&sb, "/sandbox/faults").await;
    let list = r.json()["faults"].as_array().unwrap().clone();
    assert_eq!(list[0]["fault"], "token:status=503,times=2");
    assert_eq!(list[0]["remaining"], 2);
    assert_eq!(list[1]["remaining"], Value::Null);

    // Invalid specs are refused with the parser's message; nothing added.
    let r = post_fault(&sb, json!({"faults": ["api:close", "token:explode"]})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "invalid_fault");
    assert!(r.text.contains("unknown fault kind `explode`"));
    assert_eq!(post_fault(&sb, json!({"nope": 1})).await.status, 400);
    assert_eq!(
        get(&sb, "/sandbox/faults").await.json()["faults"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    assert_eq!(get(&sb, "/v1/health").await.status, 500);
    // The control endpoints are neither faulted nor counted.
    let r = get(&sb, "/sandbox/stats").await;
    assert_eq!(r.status, 200);
    let stats: Stats = serde_json::from_str(&r.text).unwrap();
    assert_eq!(stats.api, 1);
    assert_eq!(stats.token + stats.jwks + stats.discovery, 0);
    assert_eq!(stats, sb.stats());

    let r = api(&sb, Method::DELETE, "/sandbox/faults", None).await;
    assert_eq!(r.status, 204);
    assert_eq!(get(&sb, "/v1/health").await.status, 200);
    demo_token(&sb).await;

    let r = api(&sb, Method::POST, "/sandbox/stats/reset", None).await;
    assert_eq!(r.status, 204);
    assert_eq!(sb.stats(), Stats::default());
    sb.shutdown().await;
}

#[tokio::test]
async fn faults_from_the_config_apply_from_the_start() {
    let config = SandboxConfig::from_toml_str(
        r#"
        faults = ["token:status=503,times=1", "discovery:status=500"]
        "#,
    )
    .unwrap();
    let sb = start_with(config).await;
    assert_eq!(sb.faults().len(), 2);
    let r = token_req(
        &sb,
        Some(&basic("demo-client", "demo-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status, 503);
    demo_token(&sb).await;
    assert_eq!(
        get(&sb, "/.well-known/openid-configuration").await.status,
        500
    );
    sb.shutdown().await;
}

// ------------------------------------------------------ config, lifecycle

#[tokio::test]
async fn toml_config_file_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.toml");
    std::fs::write(
        &path,
        r#"
        token_lifetime = 120
        audience = "shop-api"

        [[clients]]
        id = "ci-bot"
        secret = "ci-secret"
        scopes = ["orders:read", "orders:write"]

        [[users]]
        username = "bob"
        password = "bob-password"
        "#,
    )
    .unwrap();
    let config = SandboxConfig::from_toml_file(&path).unwrap();
    let sb = start_with(config).await;
    let r = token_req(
        &sb,
        Some(&basic("ci-bot", "ci-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["scope"], "orders:read orders:write");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(token)["aud"], "shop-api");
    assert_eq!(bearer_get(&sb, "/v1/orders", token).await.status, 200);
    // The defaults are still there.
    let r = token_req(
        &sb,
        Some(&basic("demo-client", "demo-secret")),
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "bob-password"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    sb.shutdown().await;

    let err = SandboxConfig::from_toml_file(&dir.path().join("missing.toml")).unwrap_err();
    assert!(err.contains("missing.toml"), "{err}");
}

#[tokio::test]
async fn invalid_config_is_refused_at_start() {
    let mut config = SandboxConfig::default();
    config.clients.push(client(
        "k",
        None,
        Some("not a key".into()),
        &[ClientAuthMethod::PrivateKeyJwt],
    ));
    let err = Sandbox::start(config, 0).await.err().expect("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("client `k`"), "{err}");
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sb = start().await;
    let url = format!("{}/v1/health", sb.base_url());
    assert_eq!(http().get(&url).send().await.unwrap().status(), 200);
    sb.shutdown().await;
    let err = http().get(&url).send().await.expect_err("server is gone");
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn unknown_paths_get_json_404() {
    let sb = start().await;
    let r = get(&sb, "/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "not_found");
    sb.shutdown().await;
}

// ------------------------------------------------------------------ interop

/// Runs tests/interop/authlib_client.py (Python authlib) against the
/// sandbox. Skipped when authlib is missing, unless CI is set.
#[tokio::test]
async fn authlib_interop() {
    // The sandbox serves on this runtime: run Python on a blocking thread.
    let have_authlib = tokio::task::spawn_blocking(|| {
        std::process::Command::new("python3")
            .args(["-c", "import authlib, requests"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
    .await
    .unwrap();
    if !tool::tool_ready(
        "authlib_interop",
        have_authlib,
        "pip install -r tests/interop/requirements.txt",
    ) {
        return;
    }
    let sb = start().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/interop/authlib_client.py"
    );
    let url = sb.base_url();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(url)
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "authlib interop failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("authlib interop OK"), "{stdout}");
    let stats = sb.stats();
    assert!(stats.grant("client_credentials") >= 1);
    assert!(stats.grant("password") >= 1);
    assert!(stats.grant("refresh_token") >= 2);
    assert!(stats.introspect >= 1);
    sb.shutdown().await;
}

// ------------------------------------------------------ user token flows

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
fn s256(verifier: &str) -> String {
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

const VERIFIER: &str = "a-verifier-of-forty-three-characters-or-more-0123";
const REDIRECT: &str = "http://127.0.0.1:4242/callback";

/// Walks the login and consent pages by hand; the redirect's query.
async fn authorize(
    sb: &Sandbox,
    query: &[(&str, &str)],
    decision: &str,
) -> Result<Vec<(String, String)>, Resp> {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url =
        reqwest::Url::parse_with_params(&format!("{}/oauth2/authorize", sb.base_url()), query)
            .unwrap();
    let page = send(no_redirects.get(url)).await;
    if page.status != 200 {
        return Err(page);
    }
    let cookie = page
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let hidden = |text: &str, name: &str| {
        let at = text.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
        text[at..at + text[at..].find('"').unwrap()].to_string()
    };
    let (interaction, csrf) = (
        hidden(&page.text, "interaction"),
        hidden(&page.text, "csrf"),
    );
    let post = |path: &str, form: Vec<(&str, &str)>| {
        no_redirects
            .post(format!("{}{path}", sb.base_url()))
            .header("Cookie", &cookie)
            .form(&form)
    };
    let consent = send(post(
        "/oauth2/login",
        vec![
            ("interaction", &interaction),
            ("csrf", &csrf),
            ("username", "alice"),
            ("password", "alice-password"),
        ],
    ))
    .await;
    if !consent.text.contains("Authorize access") {
        return Err(consent);
    }
    let back = send(post(
        "/oauth2/consent",
        vec![
            ("interaction", &interaction),
            ("csrf", &csrf),
            ("decision", decision),
        ],
    ))
    .await;
    let location = back.header("location").map(str::to_string).ok_or(back)?;
    Ok(reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect())
}

fn param(query: &[(String, String)], name: &str) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn authorization_code_with_pkce_s256_only() {
    let sb = start().await;
    let challenge: &'static str = Box::leak(s256(VERIFIER).into_boxed_str());
    let query = [
        ("response_type", "code"),
        ("client_id", "public-client"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid orders:read"),
        ("state", "st"),
        ("nonce", "n0nce"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let back = authorize(&sb, &query, "approve").await.unwrap();
    assert_eq!(param(&back, "state").as_deref(), Some("st"));
    assert_eq!(param(&back, "iss"), Some(sb.base_url()), "RFC 9207");
    let code = param(&back, "code").unwrap();
    let redeem = |verifier: &'static str, redirect: &'static str, code: String| {
        let sb = &sb;
        async move {
            token_req(
                sb,
                None,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", "public-client"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    // A wrong verifier spends the code.
    let wrong = redeem(
        "another-verifier-of-forty-three-characters-000",
        REDIRECT,
        code.clone(),
    )
    .await;
    assert_eq!((wrong.status, wrong.error()), (400, "invalid_grant".into()));
    assert!(
        wrong.text.contains("PKCE verification failed"),
        "{}",
        wrong.text
    );
    assert_eq!(
        redeem(VERIFIER, REDIRECT, code).await.error(),
        "invalid_grant"
    );

    let back = authorize(&sb, &query, "approve").await.unwrap();
    let code = param(&back, "code").unwrap();
    let other = redeem(VERIFIER, "http://127.0.0.1:4242/other", code.clone()).await;
    assert!(
        other.text.contains("redirect_uri differs"),
        "{}",
        other.text
    );
    let back = authorize(&sb, &query, "approve").await.unwrap();
    let tokens = redeem(VERIFIER, REDIRECT, param(&back, "code").unwrap())
        .await
        .json();
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["sub"],
        "alice"
    );
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(
        (id["aud"].as_str(), id["nonce"].as_str()),
        (Some("public-client"), Some("n0nce"))
    );
    assert!(tokens["refresh_token"].is_string());

    // plain, no PKCE, another redirect URI, a denial.
    let with = |name: &'static str, value: &'static str| {
        let mut q = query.to_vec();
        q.retain(|(k, _)| *k != name);
        if !value.is_empty() {
            q.push((name, value));
        }
        q
    };
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let refused = |q: Vec<(&'static str, &'static str)>| {
        let url =
            reqwest::Url::parse_with_params(&format!("{}/oauth2/authorize", sb.base_url()), &q)
                .unwrap();
        send(no_redirects.get(url))
    };
    let plain = refused(with("code_challenge_method", "plain")).await;
    assert_eq!(plain.status, 302);
    assert!(
        plain
            .header("location")
            .unwrap()
            .contains("error=invalid_request"),
        "{plain:?}"
    );
    assert!(refused(with("code_challenge", ""))
        .await
        .header("location")
        .unwrap()
        .contains("PKCE+is+required"));
    let elsewhere = refused(with("redirect_uri", "http://127.0.0.1:4242/elsewhere")).await;
    assert_eq!(
        elsewhere.status, 400,
        "an unregistered redirect URI gets a page, never a redirect"
    );
    let denied = authorize(&sb, &query, "deny").await.unwrap();
    assert_eq!(param(&denied, "error").as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn device_authorization_grant_polls_until_approved() {
    let config = SandboxConfig {
        // Whole seconds apart: two polls at once are always too soon.
        device_interval: 3,
        ..SandboxConfig::default()
    };
    let sb = start_with(config).await;
    let started = post_form(
        &sb,
        "/oauth2/device_authorization",
        None,
        &[("client_id", "public-client"), ("scope", "orders:read")],
    )
    .await;
    let device = started.json();
    let (device_code, user_code) = (
        device["device_code"].as_str().unwrap(),
        device["user_code"].as_str().unwrap(),
    );
    assert_eq!(device["interval"], 3);
    assert!(device["verification_uri_complete"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/device?user_code={user_code}")));
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", "public-client"),
        ("device_code", device_code),
    ];
    let poll = || token_req(&sb, None, &form);
    assert_eq!(poll().await.error(), "authorization_pending");
    // Polled again at once: too fast.
    assert_eq!(poll().await.error(), "slow_down");
    let approve = http()
        .post(format!("{}/sandbox/device/approve", sb.base_url()))
        .header("Content-Type", "application/json")
        .body(
            json!({"user_code": user_code.to_lowercase().replace('-', ""), "username": "alice"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), 204);
    // 3 s, and 5 more after the slow_down.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let tokens = poll().await.json();
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["sub"],
        "alice"
    );
    // Once: the device code is spent.
    assert_eq!(poll().await.error(), "invalid_grant");
}

/// A DPoP proof for a token request, by `key`.
fn dpop_proof(sb: &Sandbox, key: &p256::SecretKey) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    use p256::pkcs8::EncodePrivateKey as _;
    let point = key.public_key().to_encoded_point(false);
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())});
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(serde_json::from_value(jwk).unwrap());
    let jti = b64(&rand::random::<[u8; 16]>());
    let claims = json!({
        "jti": jti,
        "htm": "POST",
        "htu": format!("{}/oauth2/token", sb.base_url()),
        "iat": now(),
    });
    let der = key.to_pkcs8_der().unwrap();
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(der.as_bytes())).unwrap()
}

/// RFC 9449 §5: a public client's refresh token is bound to the DPoP key
/// it came with; a refresh by another key, or with no proof, is refused.
#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_dpop_key() {
    let sb = start().await;
    let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let request = |proof: Option<String>, form: Vec<(&'static str, String)>| {
        let mut req = http()
            .post(format!("{}/oauth2/token", sb.base_url()))
            .form(&form);
        if let Some(proof) = proof {
            req = req.header("DPoP", proof);
        }
        send(req)
    };
    let password = vec![
        ("grant_type", "password".to_string()),
        ("client_id", "public-client".to_string()),
        ("username", "alice".to_string()),
        ("password", "alice-password".to_string()),
    ];
    let tokens = request(Some(dpop_proof(&sb, &key)), password).await.json();
    assert_eq!(tokens["token_type"], "DPoP");
    let refresh = |token: String| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", "public-client".to_string()),
            ("refresh_token", token),
        ]
    };
    let token = tokens["refresh_token"].as_str().unwrap().to_string();
    let other = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let refused = request(Some(dpop_proof(&sb, &other)), refresh(token.clone())).await;
    assert_eq!(refused.error(), "invalid_grant", "{}", refused.text);
    assert!(
        refused.text.contains("bound to a DPoP key"),
        "{}",
        refused.text
    );
    assert_eq!(
        request(None, refresh(token.clone())).await.error(),
        "invalid_grant"
    );
    let renewed = request(Some(dpop_proof(&sb, &key)), refresh(token))
        .await
        .json();
    assert_eq!(renewed["token_type"], "DPoP", "{renewed}");
}
