//! Server-side token state: refresh tokens (opaque), revoked access token
//! ids and seen client-assertion ids. Access tokens themselves are
//! self-contained JWTs and are not stored.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshState {
    Active,
    /// Exchanged once already (rotation): presenting it again is refused.
    Used,
    Revoked,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub client_id: String,
    pub sub: String,
    pub scopes: Vec<String>,
    pub aud: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    /// The grant this token belongs to: all refresh and access tokens that
    /// descend from one password grant share it, so revoking the refresh
    /// token can revoke them all (RFC 7009 §2.1).
    pub family: u64,
    pub state: RefreshState,
    /// A public client's refresh token is bound to the DPoP key it was
    /// issued with (RFC 9449 §5): that key's thumbprint.
    pub jkt: Option<String>,
}

fn usable(record: &RefreshRecord, client_id: &str, now: u64) -> Result<(), &'static str> {
    if record.client_id != client_id {
        return Err("refresh token was issued to another client");
    }
    match record.state {
        RefreshState::Used => {
            Err("refresh token already used (refresh tokens rotate on every use)")
        }
        RefreshState::Revoked => Err("refresh token revoked"),
        RefreshState::Active if record.exp < now => Err("refresh token expired"),
        RefreshState::Active => Ok(()),
    }
}

#[derive(Default)]
pub(crate) struct TokenStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    refresh: HashMap<String, RefreshRecord>,
    /// family → access token ids (and their expiry) issued in it.
    family_access: HashMap<u64, Vec<(String, u64)>>,
    /// Revoked access token `jti` → its `exp` (kept until then).
    revoked: HashMap<String, u64>,
    /// (client_id, jti) of accepted client assertions → their `exp`.
    assertions: HashMap<(String, String), u64>,
    next_family: u64,
}

impl Inner {
    fn prune(&mut self, now: u64) {
        self.revoked.retain(|_, exp| *exp >= now);
        self.assertions.retain(|_, exp| *exp >= now);
        self.refresh.retain(|_, r| r.exp >= now);
        for list in self.family_access.values_mut() {
            list.retain(|(_, exp)| *exp >= now);
        }
        self.family_access.retain(|_, list| !list.is_empty());
    }
}

impl TokenStore {
    pub fn new_family(&self) -> u64 {
        let mut inner = self.lock();
        inner.next_family += 1;
        inner.next_family
    }

    pub fn record_access(&self, family: u64, jti: &str, exp: u64) {
        self.lock()
            .family_access
            .entry(family)
            .or_default()
            .push((jti.to_string(), exp));
    }

    pub fn insert_refresh(&self, token: String, record: RefreshRecord) {
        let mut inner = self.lock();
        inner.prune(now_secs());
        inner.refresh.insert(token, record);
    }

    /// Checks that `client_id` may exchange the refresh token now.
    pub fn check_refresh(
        &self,
        token: &str,
        client_id: &str,
        now: u64,
    ) -> Result<RefreshRecord, &'static str> {
        let inner = self.lock();
        let record = inner.refresh.get(token).ok_or("unknown refresh token")?;
        usable(record, client_id, now)?;
        Ok(record.clone())
    }

    /// Exchanges a refresh token: checks it and marks it used, atomically,
    /// so two concurrent refreshes cannot both succeed.
    pub fn redeem_refresh(
        &self,
        token: &str,
        client_id: &str,
        now: u64,
    ) -> Result<RefreshRecord, &'static str> {
        let mut inner = self.lock();
        let record = inner
            .refresh
            .get_mut(token)
            .ok_or("unknown refresh token")?;
        usable(record, client_id, now)?;
        record.state = RefreshState::Used;
        Ok(record.clone())
    }

    /// The record of an active (unused, unrevoked, unexpired) refresh token.
    pub fn active_refresh(&self, token: &str, now: u64) -> Option<RefreshRecord> {
        let inner = self.lock();
        inner
            .refresh
            .get(token)
            .filter(|r| r.state == RefreshState::Active && r.exp >= now)
            .cloned()
    }

    pub fn refresh_owner(&self, token: &str) -> Option<String> {
        self.lock().refresh.get(token).map(|r| r.client_id.clone())
    }

    /// Revokes a refresh token and everything issued in its grant.
    pub fn revoke_refresh(&self, token: &str) {
        let mut inner = self.lock();
        let Some(family) = inner.refresh.get(token).map(|r| r.family) else {
            return;
        };
        for r in inner.refresh.values_mut().filter(|r| r.family == family) {
            r.state = RefreshState::Revoked;
        }
        let access = inner.family_access.remove(&family).unwrap_or_default();
        inner.revoked.extend(access);
    }

    pub fn revoke_access(&self, jti: &str, exp: u64) {
        let mut inner = self.lock();
        inner.prune(now_secs());
        inner.revoked.insert(jti.to_string(), exp);
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        self.lock().revoked.contains_key(jti)
    }

    /// Records a client assertion id; false if it was seen before (replay).
    pub fn use_assertion(&self, client_id: &str, jti: &str, exp: u64) -> bool {
        let mut inner = self.lock();
        inner.prune(now_secs());
        let key = (client_id.to_string(), jti.to_string());
        if inner.assertions.contains_key(&key) {
            return false;
        }
        inner.assertions.insert(key, exp);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
