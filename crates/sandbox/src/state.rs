//! State shared by all handlers of one sandbox instance.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::api::Order;
use crate::config::{ClientAuthMethod, RegisteredClient, SandboxConfig};
use crate::fault_store::FaultStore;
use crate::faults::{FaultKind, Group};
use crate::keys::{ClientKey, SigningKey};
use crate::stats::StatsStore;
use crate::store::TokenStore;

pub(crate) struct AppState {
    pub config: SandboxConfig,
    /// `http://127.0.0.1:PORT`; also the `iss` of every token.
    pub issuer: String,
    pub signing: SigningKey,
    pub client_keys: HashMap<String, ClientKey>,
    pub tokens: TokenStore,
    pub faults: FaultStore,
    pub stats: StatsStore,
    pub orders: Mutex<Vec<Order>>,
    /// Every token and code issued, for leak tests.
    pub issued: Mutex<Vec<String>>,
    /// Logins, codes and device authorizations in progress.
    pub user_flows: crate::authorize::UserFlows,
    /// The nonce DPoP proofs must carry, when `config.dpop_nonce`.
    pub dpop_nonce: String,
    /// The certificate-based client authentication methods the TLS setup
    /// allows (none over plain HTTP).
    pub certificate_auth: Vec<ClientAuthMethod>,
}

impl AppState {
    pub fn new(
        config: SandboxConfig,
        issuer: String,
        signing: SigningKey,
        certificate_auth: Vec<ClientAuthMethod>,
    ) -> Result<Self, String> {
        let mut client_keys = HashMap::new();
        for c in &config.clients {
            if let Some(pem) = &c.public_key_pem {
                let key =
                    ClientKey::from_pem(pem).map_err(|e| format!("client `{}`: {e}", c.id))?;
                client_keys.insert(c.id.clone(), key);
            }
        }
        let faults = FaultStore::default();
        for f in &config.faults {
            faults.add(f.clone());
        }
        Ok(AppState {
            certificate_auth,
            config,
            issuer,
            signing,
            client_keys,
            tokens: TokenStore::default(),
            faults,
            stats: StatsStore::default(),
            orders: Mutex::new(crate::api::demo_orders()),
            issued: Mutex::default(),
            user_flows: Default::default(),
            dpop_nonce: crate::keys::random_token(12),
        })
    }

    pub fn record_issued(&self, token: &str) {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(token.to_string());
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub fn token_endpoint(&self) -> String {
        self.endpoint("/oauth2/token")
    }

    pub fn client(&self, id: &str) -> Option<&RegisteredClient> {
        self.config.client(id)
    }

    /// `FaultStore::take`, counting the fault in the stats when it acts.
    pub fn take_fault<T>(&self, group: Group, pick: impl Fn(&FaultKind) -> Option<T>) -> Option<T> {
        let taken = self.faults.take(group, pick);
        if taken.is_some() {
            self.stats.count_fault();
        }
        taken
    }

    /// `FaultStore::take_all`, counting each fault that acts.
    pub fn take_all_faults<T>(
        &self,
        group: Group,
        pick: impl Fn(&FaultKind) -> Option<T>,
    ) -> Vec<T> {
        let taken = self.faults.take_all(group, pick);
        for _ in &taken {
            self.stats.count_fault();
        }
        taken
    }

    /// The secret the client must present now: a `rotate_secret` fault
    /// replaces the configured one.
    pub fn effective_secret(&self, client: &RegisteredClient) -> Option<String> {
        let rotated = self.take_fault(Group::Token, |k| match k {
            FaultKind::RotateSecret {
                client_id,
                new_secret,
            } if *client_id == client.id => Some(new_secret.clone()),
            _ => None,
        });
        rotated.or_else(|| client.secret.clone())
    }

    /// The scopes the client may get now, less those removed by
    /// `remove_scope` faults.
    pub fn effective_scopes(&self, client: &RegisteredClient) -> Vec<String> {
        let removed = self.take_all_faults(Group::Token, |k| match k {
            FaultKind::RemoveScope { client_id, scope }
                if *client_id == client.id && client.scopes.contains(scope) =>
            {
                Some(scope.clone())
            }
            _ => None,
        });
        client
            .scopes
            .iter()
            .filter(|s| !removed.contains(s))
            .cloned()
            .collect()
    }
}
