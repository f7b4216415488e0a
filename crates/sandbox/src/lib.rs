//! The built-in sandbox: an OAuth 2.0 authorization server plus a protected
//! demo API, with fault injection, for trying and testing specs locally.
//! See `docs/sandbox.md` for the endpoints, defaults and fault grammar.

mod api;
mod authorize;
mod client_auth;
mod config;
mod conn;
mod control;
mod discovery;
mod dpop;
mod fault_store;
mod faults;
mod introspect;
mod keys;
mod middleware;
mod oauth_error;
mod params;
mod state;
mod stats;
mod store;
mod tls;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    ClientAuthMethod, GrantType, RegisteredClient, SandboxConfig, UserConfig, DEFAULT_AUDIENCE,
    DEFAULT_REFRESH_TOKEN_LIFETIME, DEFAULT_TOKEN_LIFETIME,
};
pub use fault_store::FaultInfo;
pub use faults::{parse_fault, Fault, FaultKind, Group};
pub use stats::Stats;
pub use tls::TlsSettings;

use conn::{ConnHandle, SandboxListener};
use keys::SigningKey;
use middleware::{group_layer, GroupState};
use state::AppState;
use tls::Tls;

/// How long `shutdown` waits for in-flight requests (e.g. one held by a
/// long latency fault) before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running sandbox. Dropping it stops the server too, without waiting.
pub struct Sandbox {
    base_url: String,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds 127.0.0.1:port (0 = ephemeral) and serves in a spawned tokio task.
    pub async fn start(config: SandboxConfig, port: u16) -> std::io::Result<Sandbox> {
        Sandbox::serve(config, port, None).await
    }

    /// Like [`start`](Self::start), over TLS: `https://localhost:PORT`
    /// (the certificate must name `localhost`). With `client_ca_pem` the
    /// server asks for a client certificate signed by that CA, for
    /// `tls_client_auth`; with `self_signed_client_certs` for any
    /// certificate, for `self_signed_tls_client_auth`; with
    /// `require_client_cert` it refuses the handshake without one.
    pub async fn start_tls(
        config: SandboxConfig,
        port: u16,
        tls: TlsSettings,
    ) -> std::io::Result<Sandbox> {
        Sandbox::serve(config, port, Some(tls)).await
    }

    async fn serve(
        config: SandboxConfig,
        port: u16,
        tls: Option<TlsSettings>,
    ) -> std::io::Result<Sandbox> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        config.validate().map_err(invalid)?;
        let certificate_auth = (tls.as_ref())
            .map(TlsSettings::certificate_auth)
            .unwrap_or_default();
        let tls = tls.as_ref().map(Tls::new).transpose().map_err(invalid)?;
        // Bind first so a busy port is reported before the key is made.
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let (base_url, listener) = match tls {
            Some(tls) => (
                format!("https://localhost:{port}"),
                SandboxListener::tls(listener, tls)?,
            ),
            None => (
                format!("http://127.0.0.1:{port}"),
                SandboxListener::new(listener),
            ),
        };
        let signing = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
        let state = AppState::new(config, base_url.clone(), signing, certificate_auth);
        let state = Arc::new(state.map_err(invalid)?);

        let app = router(state.clone()).into_make_service_with_connect_info::<ConnHandle>();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            // Serving only ends with an I/O error on the listener itself;
            // there is nobody to report it to but the next request's failure.
            let _ = server.await;
        });
        Ok(Sandbox {
            base_url,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` (`https://localhost:PORT` over TLS), also
    /// the issuer.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Same data as `GET /sandbox/stats`.
    pub fn stats(&self) -> Stats {
        self.state.stats.snapshot()
    }

    /// A refresh token for the default user (`alice` through
    /// `public-client`), obtained by the password grant: what the demo hands
    /// the refresh-token example.
    pub async fn demo_refresh_token(&self) -> Result<String, String> {
        let response = reqwest::Client::new()
            .post(format!("{}/oauth2/token", self.base_url))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "public-client"),
                ("username", "alice"),
                ("password", "alice-password"),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        body["refresh_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no refresh token in {body}"))
    }

    /// Every access and refresh token issued so far, so tests can prove
    /// none of them appears in any output.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state
            .issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn reset_stats(&self) {
        self.state.stats.reset();
    }

    pub fn add_fault(&self, fault: Fault) {
        self.state.faults.add(fault);
    }

    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Active faults with their remaining uses.
    pub fn faults(&self) -> Vec<FaultInfo> {
        self.state.faults.list()
    }

    /// Graceful stop: no new connections, in-flight requests get
    /// `SHUTDOWN_GRACE` to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    let grouped = |group: Group, routes: Router<Arc<AppState>>| {
        routes.route_layer(from_fn_with_state(
            GroupState {
                app: state.clone(),
                group,
            },
            group_layer,
        ))
    };

    let discovery = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        );
    let jwks = Router::new().route("/oauth2/jwks", get(discovery::jwks));
    let token = Router::new().route("/oauth2/token", post(token::token_endpoint));
    let introspect =
        Router::new().route("/oauth2/introspect", post(introspect::introspect_endpoint));
    let revoke = Router::new().route("/oauth2/revoke", post(introspect::revoke_endpoint));
    let api = Router::new()
        .route("/v1/health", get(api::health))
        .route("/v1/orders", get(api::list_orders))
        .route("/v1/whoami", get(api::whoami))
        .route("/v1/orders/{id}", get(api::get_order))
        .route("/v1/orders/{id}/hold", delete(api::release_hold))
        .route("/v1/admin/stats", get(api::admin_stats));
    // The pages a person (or a headless login) goes through.
    let user = Router::new()
        .route("/oauth2/authorize", get(authorize::authorize))
        .route("/oauth2/login", post(authorize::login))
        .route("/oauth2/consent", post(authorize::consent))
        .route(
            "/oauth2/device_authorization",
            post(authorize::device_authorization),
        )
        .route(
            "/device",
            get(authorize::device_page).post(authorize::device_code_entered),
        );
    let control = Router::new()
        .route(
            "/sandbox/faults",
            get(control::list_faults)
                .post(control::add_faults)
                .delete(control::clear_faults),
        )
        .route("/sandbox/stats", get(control::stats))
        .route("/sandbox/stats/reset", post(control::reset_stats))
        .route("/sandbox/device/approve", post(authorize::approve_device));

    Router::new()
        .merge(grouped(Group::Discovery, discovery))
        .merge(grouped(Group::Jwks, jwks))
        .merge(grouped(Group::Token, token))
        .merge(grouped(Group::Introspect, introspect))
        .merge(grouped(Group::Revoke, revoke))
        .merge(grouped(Group::Api, api))
        .merge(user)
        .merge(control)
        .fallback(|| async {
            let body = json!({ "error": "not_found", "error_description": "no such endpoint" });
            (StatusCode::NOT_FOUND, Json(body))
        })
        .with_state(state)
}
