//! Request counters, so tests can prove how many requests a run made.
//!
//! Every request reaching an endpoint group is counted before faults act,
//! so a request answered by an injected 503 or dropped by `close` counts
//! too. `/sandbox/*` requests are never counted.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::faults::Group;

/// Snapshot of the counters, as served by `GET /sandbox/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests to `POST /oauth2/token`.
    pub token: u64,
    /// Requests to `POST /oauth2/introspect`.
    pub introspect: u64,
    /// Requests to `POST /oauth2/revoke`.
    pub revoke: u64,
    /// Requests to the demo API (`/v1/*`).
    pub api: u64,
    /// Requests to `GET /oauth2/jwks`.
    pub jwks: u64,
    /// Requests to `/.well-known/*`.
    pub discovery: u64,
    /// Token requests per `grant_type` value as sent (`"(missing)"` when
    /// absent), including refused ones.
    pub grants: BTreeMap<String, u64>,
    /// Access tokens actually issued (successful token responses).
    pub tokens_issued: u64,
    /// Access tokens issued per client and subject: `client_id` for a
    /// client's own token, `client_id/username` for a user's.
    pub issued_to: BTreeMap<String, u64>,
    /// Times an injected fault acted on a request.
    pub faults_triggered: u64,
}

impl Stats {
    pub fn group(&self, group: Group) -> u64 {
        match group {
            Group::Token => self.token,
            Group::Introspect => self.introspect,
            Group::Revoke => self.revoke,
            Group::Api => self.api,
            Group::Jwks => self.jwks,
            Group::Discovery => self.discovery,
        }
    }

    /// Access tokens issued to `to` (`client_id` or `client_id/username`).
    pub fn issued_to(&self, to: &str) -> u64 {
        self.issued_to.get(to).copied().unwrap_or(0)
    }

    /// Token requests made with `grant_type` (0 if none).
    pub fn grant(&self, grant_type: &str) -> u64 {
        self.grants.get(grant_type).copied().unwrap_or(0)
    }
}

#[derive(Default)]
pub(crate) struct StatsStore {
    inner: Mutex<Stats>,
}

impl StatsStore {
    pub fn snapshot(&self) -> Stats {
        self.lock().clone()
    }

    pub fn reset(&self) {
        *self.lock() = Stats::default();
    }

    pub fn count_request(&self, group: Group, grant_type: Option<&str>) {
        let mut s = self.lock();
        let counter = match group {
            Group::Token => &mut s.token,
            Group::Introspect => &mut s.introspect,
            Group::Revoke => &mut s.revoke,
            Group::Api => &mut s.api,
            Group::Jwks => &mut s.jwks,
            Group::Discovery => &mut s.discovery,
        };
        *counter += 1;
        if group == Group::Token {
            // Client-supplied: bound the key so junk cannot grow the map much.
            let key: String = grant_type.unwrap_or("(missing)").chars().take(64).collect();
            *s.grants.entry(key).or_insert(0) += 1;
        }
    }

    pub fn count_token_issued(&self, client_id: &str, sub: &str) {
        let mut s = self.lock();
        s.tokens_issued += 1;
        let to = if client_id == sub {
            client_id.to_string()
        } else {
            format!("{client_id}/{sub}")
        };
        *s.issued_to.entry(to).or_insert(0) += 1;
    }

    pub fn count_fault(&self) {
        self.lock().faults_triggered += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
