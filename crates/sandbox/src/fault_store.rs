//! The live set of faults, shared by all requests.
//!
//! Uniform `times` rule: a fault is consumed each time it *acts* on a request
//! (a delay, an injected response, a refused secret, ...), and disappears once
//! it has acted `times` times.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::faults::{Fault, FaultKind, Group};

const RATE_WINDOW: Duration = Duration::from_secs(60);

struct Active {
    id: u64,
    fault: Fault,
    remaining: Option<u32>,
    /// Rate-limit faults only: when the requests let through in the current
    /// sliding minute arrived.
    window: VecDeque<Instant>,
}

/// A fault as listed by `GET /sandbox/faults`.
#[derive(Debug, Clone, Serialize)]
pub struct FaultInfo {
    pub id: u64,
    pub fault: String,
    /// Uses left, `null` for a fault without `times`.
    pub remaining: Option<u32>,
}

#[derive(Default)]
pub(crate) struct FaultStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    faults: Vec<Active>,
}

impl FaultStore {
    pub fn add(&self, fault: Fault) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.faults.push(Active {
            id,
            remaining: fault.times,
            fault,
            window: VecDeque::new(),
        });
        id
    }

    pub fn clear(&self) {
        self.lock().faults.clear();
    }

    pub fn list(&self) -> Vec<FaultInfo> {
        self.lock()
            .faults
            .iter()
            .map(|a| FaultInfo {
                id: a.id,
                fault: a.fault.to_string(),
                remaining: a.remaining,
            })
            .collect()
    }

    /// Finds the first fault of `group` for which `pick` returns a value,
    /// consumes one use of it and returns the value.
    pub fn take<T>(&self, group: Group, pick: impl Fn(&FaultKind) -> Option<T>) -> Option<T> {
        let mut inner = self.lock();
        let idx = inner
            .faults
            .iter()
            .position(|a| a.fault.group == group && pick(&a.fault.kind).is_some())?;
        let value = pick(&inner.faults[idx].fault.kind);
        consume(&mut inner.faults, idx);
        value
    }

    /// Like `take`, but every matching fault of `group` acts once.
    pub fn take_all<T>(&self, group: Group, pick: impl Fn(&FaultKind) -> Option<T>) -> Vec<T> {
        let mut inner = self.lock();
        let mut taken = Vec::new();
        let mut idx = 0;
        while idx < inner.faults.len() {
            let fault = &inner.faults[idx].fault;
            let value = if fault.group == group {
                pick(&fault.kind)
            } else {
                None
            };
            match value {
                Some(v) => {
                    taken.push(v);
                    if !consume(&mut inner.faults, idx) {
                        idx += 1;
                    }
                }
                None => idx += 1,
            }
        }
        taken
    }

    /// Applies the rate-limit faults of `group` to one request. Returns the
    /// `Retry-After` seconds if the request must be refused.
    pub fn check_rate_limit(&self, group: Group, now: Instant) -> Option<u64> {
        let mut inner = self.lock();
        for idx in 0..inner.faults.len() {
            let active = &mut inner.faults[idx];
            let FaultKind::RateLimit { per_minute } = active.fault.kind else {
                continue;
            };
            if active.fault.group != group {
                continue;
            }
            while active
                .window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
            {
                active.window.pop_front();
            }
            if active.window.len() < per_minute as usize {
                active.window.push_back(now);
                continue;
            }
            // Refused: wait until the oldest request leaves the window.
            let oldest = active.window.front().copied().unwrap_or(now);
            let wait = RATE_WINDOW.saturating_sub(now.duration_since(oldest));
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            consume(&mut inner.faults, idx);
            return Some(secs.max(1));
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the list half-updated
        // in a way that matters, so keep serving rather than propagate poison.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Uses up one `times` of fault `idx`; returns whether it was removed.
fn consume(faults: &mut Vec<Active>, idx: usize) -> bool {
    if let Some(n) = faults[idx].remaining.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            faults.remove(idx);
            return true;
        }
    }
    false
}
