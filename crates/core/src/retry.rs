//! When to send a request again: one policy for a step's own requests and
//! the token requests made for it, so `retry` also rides out an
//! authorization server that restarts with the service.

use std::time::{Duration, Instant};

use rand::Rng as _;

use crate::http::{Exchange, TransportError, TransportErrorKind};

/// No single wait is longer than this.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// The first wait.
    pub backoff: Duration,
    /// Wait `backoff` every time (polling) instead of doubling it with
    /// jitter.
    pub constant: bool,
    /// No attempt starts after this.
    pub deadline: Option<Instant>,
}

impl RetryPolicy {
    pub const NONE: RetryPolicy = RetryPolicy {
        retries: 0,
        backoff: Duration::ZERO,
        constant: false,
        deadline: None,
    };

    /// The wait before the attempt after attempt `attempt` (from 0), or
    /// `None` when no further attempt may start. A server's `Retry-After`
    /// wins over the backoff.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.retries {
            return None;
        }
        let wait = retry_after
            .unwrap_or_else(|| {
                if self.constant {
                    self.backoff
                } else {
                    let base = self.backoff.saturating_mul(1 << attempt.min(16));
                    base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
                }
            })
            .min(MAX_WAIT);
        match self.deadline {
            Some(deadline) if Instant::now() + wait >= deadline => None,
            _ => Some(wait),
        }
    }

    /// Sends with `attempt` until an answer is not worth retrying (as
    /// `retryable` judges: [`retryable`] or [`retryable_unsent`]) or the
    /// policy is spent; returns the last result.
    pub async fn send(
        &self,
        retryable: fn(&Result<Exchange, TransportError>) -> bool,
        mut attempt: impl AsyncFnMut() -> Result<Exchange, TransportError>,
    ) -> Result<Exchange, TransportError> {
        let mut n = 0;
        loop {
            let result = attempt().await;
            if !retryable(&result) {
                return result;
            }
            let retry_after = result
                .as_ref()
                .ok()
                .filter(|x| x.status == 429 || x.status == 503)
                .and_then(Exchange::retry_after);
            let Some(wait) = self.wait(n, retry_after) else {
                return result;
            };
            tokio::time::sleep(wait).await;
            n += 1;
        }
    }
}

/// Transport errors, 429 and 5xx: what a restarting or overloaded server
/// answers. Never another 4xx (an `invalid_client` stays refused).
pub fn retryable(result: &Result<Exchange, TransportError>) -> bool {
    match result {
        Ok(x) => x.status == 429 || x.status >= 500,
        Err(_) => true,
    }
}

/// For a request that must not reach the server twice (a refresh token is
/// spent by its first use, and reuse may revoke its whole family): only
/// when the server surely did not act on it — no connection, 429 or 503.
/// A timeout may come after the server rotated the token.
pub fn retryable_unsent(result: &Result<Exchange, TransportError>) -> bool {
    match result {
        Ok(x) => x.status == 429 || x.status == 503,
        Err(e) => e.kind == TransportErrorKind::Connect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_poll_or_stop_at_the_deadline() {
        let policy = RetryPolicy {
            retries: 3,
            backoff: Duration::from_millis(100),
            ..RetryPolicy::NONE
        };
        let third = policy.wait(2, None).unwrap();
        assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
        assert_eq!(policy.wait(3, None), None, "retries spent");
        assert_eq!(
            policy.wait(0, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            policy.wait(0, Some(Duration::from_secs(600))),
            Some(MAX_WAIT)
        );
        let polling = RetryPolicy {
            constant: true,
            ..policy
        };
        assert_eq!(polling.wait(2, None), Some(Duration::from_millis(100)));
        let bounded = RetryPolicy {
            deadline: Some(Instant::now() + Duration::from_millis(150)),
            ..polling
        };
        assert!(bounded.wait(0, None).is_some());
        assert_eq!(bounded.wait(0, Some(Duration::from_secs(1))), None);
    }
}
