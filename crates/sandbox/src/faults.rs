//! Fault model and the fault grammar shared by the CLI (`--fault`), the
//! TOML config (`faults = [...]`) and `POST /sandbox/faults`.
//!
//! Grammar: `GROUP:KIND[=VALUE][,PARAM=VALUE]...`, e.g.
//! `token:status=503,retry_after=1,times=2`. Only the first `:` separates the
//! group, so values such as `demo-client:orders:read` keep their colons.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Endpoint group a fault applies to. Each group is also a stats counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// `POST /oauth2/token`
    Token,
    /// `POST /oauth2/introspect`
    Introspect,
    /// `POST /oauth2/revoke`
    Revoke,
    /// `/v1/*`, the protected demo API
    Api,
    /// `GET /oauth2/jwks`
    Jwks,
    /// `/.well-known/*`
    Discovery,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Token,
        Group::Introspect,
        Group::Revoke,
        Group::Api,
        Group::Jwks,
        Group::Discovery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Token => "token",
            Group::Introspect => "introspect",
            Group::Revoke => "revoke",
            Group::Api => "api",
            Group::Jwks => "jwks",
            Group::Discovery => "discovery",
        }
    }

    /// Groups whose responses are OAuth endpoint responses (JSON errors per
    /// RFC 6749 §5.2, `Cache-Control: no-store`).
    pub fn is_oauth_endpoint(self) -> bool {
        matches!(self, Group::Token | Group::Introspect | Group::Revoke)
    }
}

impl FromStr for Group {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Group::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown fault group `{s}` (expected one of: {})",
                    Group::ALL.map(Group::as_str).join(", ")
                )
            })
    }
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Delay the response.
    Latency(Duration),
    /// Answer with this status (and optional `Retry-After` seconds) instead
    /// of calling the endpoint.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Allow `per_minute` requests in a sliding minute, answer 429 beyond.
    RateLimit { per_minute: u32 },
    /// `200 OK` with `{"error":"access denied"}` (Zoho's rate-limit answer).
    Error200,
    /// Token responses report `expires_in` in milliseconds.
    ExpiresInMs,
    /// Zoho's older shape: `expires_in` in milliseconds beside
    /// `expires_in_sec` in seconds.
    ExpiresInSec,
    /// The response body is cut in half, so it is not valid JSON.
    MalformedJson,
    /// The connection is closed without any response.
    Close,
    /// The client's secret becomes `new_secret`; the old one is refused.
    RotateSecret {
        client_id: String,
        new_secret: String,
    },
    /// `scope` is no longer granted to the client.
    RemoveScope { client_id: String, scope: String },
    /// The API rejects otherwise valid tokens with `invalid_token`.
    InvalidToken,
    /// A device-code poll is answered `slow_down` (RFC 8628 §3.5).
    SlowDown,
    /// A device-code poll is answered `expired_token`: the user code ran
    /// out before anyone approved it.
    ExpiredToken,
    /// A token asked for with a DPoP proof is issued as an unbound Bearer
    /// token.
    UnboundDpop,
    /// A token request with a DPoP proof is answered `use_dpop_nonce`
    /// with a new nonce, every time (a server that never settles).
    NewDpopNonce,
}

impl FaultKind {
    fn name(&self) -> &'static str {
        match self {
            FaultKind::Latency(_) => "latency",
            FaultKind::Status { .. } => "status",
            FaultKind::RateLimit { .. } => "rate_limit",
            FaultKind::Error200 => "error_200",
            FaultKind::ExpiresInMs => "expires_in_ms",
            FaultKind::ExpiresInSec => "expires_in_sec",
            FaultKind::MalformedJson => "malformed_json",
            FaultKind::Close => "close",
            FaultKind::RotateSecret { .. } => "rotate_secret",
            FaultKind::RemoveScope { .. } => "remove_scope",
            FaultKind::InvalidToken => "invalid_token",
            FaultKind::SlowDown => "slow_down",
            FaultKind::ExpiredToken => "expired_token",
            FaultKind::UnboundDpop => "unbound_dpop",
            FaultKind::NewDpopNonce => "new_dpop_nonce",
        }
    }

    /// Groups in which this kind makes sense; parsing refuses the others so a
    /// typo such as `api:rotate_secret=...` is reported instead of ignored.
    fn allowed_in(&self, group: Group) -> bool {
        match self {
            FaultKind::ExpiresInMs
            | FaultKind::ExpiresInSec
            | FaultKind::RotateSecret { .. }
            | FaultKind::RemoveScope { .. }
            | FaultKind::SlowDown
            | FaultKind::ExpiredToken
            | FaultKind::UnboundDpop => group == Group::Token,
            FaultKind::NewDpopNonce => matches!(group, Group::Token | Group::Api),
            FaultKind::InvalidToken => group == Group::Api,
            _ => true,
        }
    }
}

/// One injected fault. `times = Some(n)`: the fault disappears after it has
/// acted on `n` requests; `None`: it stays until cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub group: Group,
    pub kind: FaultKind,
    pub times: Option<u32>,
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_fault(s)
    }
}

impl fmt::Display for Fault {
    /// The canonical grammar form; `parse_fault(f.to_string()) == f`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.group.as_str(), self.kind.name())?;
        match &self.kind {
            FaultKind::Latency(d) => write!(f, "={}ms", d.as_millis())?,
            FaultKind::Status {
                status,
                retry_after,
            } => {
                write!(f, "={status}")?;
                if let Some(r) = retry_after {
                    write!(f, ",retry_after={r}")?;
                }
            }
            FaultKind::RateLimit { per_minute } => write!(f, "={per_minute}")?,
            FaultKind::RotateSecret {
                client_id,
                new_secret,
            } => write!(f, "={client_id}:{new_secret}")?,
            FaultKind::RemoveScope { client_id, scope } => write!(f, "={client_id}:{scope}")?,
            FaultKind::Error200
            | FaultKind::ExpiresInMs
            | FaultKind::ExpiresInSec
            | FaultKind::MalformedJson
            | FaultKind::Close
            | FaultKind::InvalidToken
            | FaultKind::SlowDown
            | FaultKind::ExpiredToken
            | FaultKind::UnboundDpop
            | FaultKind::NewDpopNonce => {}
        }
        if let Some(n) = self.times {
            write!(f, ",times={n}")?;
        }
        Ok(())
    }
}

const KINDS: &str = "latency=DURATION, status=CODE, rate_limit=N, error_200, expires_in_ms, \
                     expires_in_sec, malformed_json, close, rotate_secret=CLIENT:SECRET, remove_scope=CLIENT:SCOPE, \
                     invalid_token, slow_down, expired_token, unbound_dpop, new_dpop_nonce";

/// Parses `GROUP:KIND[=VALUE][,PARAM=VALUE]...` (see the module docs).
pub fn parse_fault(spec: &str) -> Result<Fault, String> {
    let err = |msg: String| format!("invalid fault `{spec}`: {msg}");
    let spec_trimmed = spec.trim();
    let (group, rest) = spec_trimmed
        .split_once(':')
        .ok_or_else(|| err("expected GROUP:KIND, e.g. `token:status=503`".into()))?;
    let group: Group = group.trim().parse().map_err(err)?;

    let mut parts = rest.split(',').map(str::trim);
    let head = parts.next().unwrap_or_default();
    let (name, value) = match head.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (head, None),
    };

    let mut retry_after = None;
    let mut times = None;
    for param in parts {
        let (key, val) = param
            .split_once('=')
            .ok_or_else(|| err(format!("expected PARAM=VALUE, got `{param}`")))?;
        let (key, val) = (key.trim(), val.trim());
        match key {
            "times" => {
                if times.is_some() {
                    return Err(err("`times` given twice".into()));
                }
                let n = parse_u64(val, "times").map_err(err)?;
                if n == 0 || n > u64::from(u32::MAX) {
                    return Err(err("`times` must be a positive integer".into()));
                }
                times = Some(n as u32);
            }
            "retry_after" => {
                if retry_after.is_some() {
                    return Err(err("`retry_after` given twice".into()));
                }
                retry_after = Some(parse_u64(val, "retry_after").map_err(err)?);
            }
            other => {
                return Err(err(format!(
                    "unknown parameter `{other}` (expected `times` or `retry_after`)"
                )))
            }
        }
    }

    let need = |what: &str| -> Result<&str, String> {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| err(format!("`{name}` needs a value: `{name}={what}`")))
    };
    let no_value = || -> Result<(), String> {
        match value {
            None => Ok(()),
            Some(_) => Err(err(format!("`{name}` takes no value"))),
        }
    };

    let kind = match name {
        "latency" => {
            FaultKind::Latency(oauthspec_core::duration::parse(need("800ms")?).map_err(err)?)
        }
        "status" => {
            let code = parse_u64(need("503")?, "status").map_err(err)?;
            if !(200..=599).contains(&code) {
                return Err(err("status must be between 200 and 599".into()));
            }
            FaultKind::Status {
                status: code as u16,
                retry_after: retry_after.take(),
            }
        }
        "rate_limit" => {
            let n = parse_u64(need("5")?, "rate_limit").map_err(err)?;
            if n == 0 || n > u64::from(u32::MAX) {
                return Err(err("rate_limit must be a positive integer".into()));
            }
            FaultKind::RateLimit {
                per_minute: n as u32,
            }
        }
        "error_200" => no_value().map(|_| FaultKind::Error200)?,
        "expires_in_ms" => no_value().map(|_| FaultKind::ExpiresInMs)?,
        "expires_in_sec" => no_value().map(|_| FaultKind::ExpiresInSec)?,
        "malformed_json" => no_value().map(|_| FaultKind::MalformedJson)?,
        "close" => no_value().map(|_| FaultKind::Close)?,
        "invalid_token" => no_value().map(|_| FaultKind::InvalidToken)?,
        "slow_down" => no_value().map(|_| FaultKind::SlowDown)?,
        "expired_token" => no_value().map(|_| FaultKind::ExpiredToken)?,
        "unbound_dpop" => no_value().map(|_| FaultKind::UnboundDpop)?,
        "new_dpop_nonce" => no_value().map(|_| FaultKind::NewDpopNonce)?,
        "rotate_secret" => {
            let (client_id, new_secret) = split_client(need("CLIENT:NEW_SECRET")?).map_err(err)?;
            FaultKind::RotateSecret {
                client_id,
                new_secret,
            }
        }
        "remove_scope" => {
            let (client_id, scope) = split_client(need("CLIENT:SCOPE")?).map_err(err)?;
            FaultKind::RemoveScope { client_id, scope }
        }
        "" => return Err(err(format!("missing fault kind (one of: {KINDS})"))),
        other => {
            return Err(err(format!(
                "unknown fault kind `{other}` (one of: {KINDS})"
            )))
        }
    };

    if retry_after.is_some() {
        return Err(err("`retry_after` only applies to `status`".into()));
    }
    if !kind.allowed_in(group) {
        return Err(err(format!(
            "`{}` is not available in group `{}`",
            kind.name(),
            group.as_str()
        )));
    }
    Ok(Fault { group, kind, times })
}

fn parse_u64(s: &str, what: &str) -> Result<u64, String> {
    s.parse()
        .map_err(|_| format!("`{what}` must be a non-negative integer, got `{s}`"))
}

/// Splits `CLIENT:REST` at the first colon: client ids cannot contain `:`,
/// but scopes (`orders:read`) and secrets can.
fn split_client(v: &str) -> Result<(String, String), String> {
    match v.split_once(':') {
        Some((c, rest)) if !c.is_empty() && !rest.is_empty() => {
            Ok((c.to_string(), rest.to_string()))
        }
        _ => Err(format!("expected CLIENT:VALUE, got `{v}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for s in [
            "token:latency=800ms",
            "token:status=503",
            "token:status=429,retry_after=2",
            "token:status=503,retry_after=1,times=2",
            "token:rate_limit=5",
            "token:error_200",
            "token:expires_in_ms",
            "token:expires_in_sec,times=1",
            "jwks:malformed_json",
            "token:close,times=1",
            "token:rotate_secret=demo-client:new-secret",
            "token:remove_scope=demo-client:orders:read",
            "api:invalid_token,times=1",
            "discovery:latency=1500ms",
        ] {
            let f = parse_fault(s).unwrap();
            assert_eq!(f.to_string(), s);
            assert_eq!(parse_fault(&f.to_string()).unwrap(), f);
        }
    }

    #[test]
    fn reads_values() {
        let f = parse_fault("token:status=429,retry_after=2,times=3").unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Status {
                status: 429,
                retry_after: Some(2)
            }
        );
        assert_eq!(f.times, Some(3));
        let f = parse_fault("api:latency=1.5s").unwrap();
        assert_eq!(f.kind, FaultKind::Latency(Duration::from_millis(1500)));
        let f = parse_fault("token:remove_scope=demo-client:orders:read").unwrap();
        assert_eq!(
            f.kind,
            FaultKind::RemoveScope {
                client_id: "demo-client".into(),
                scope: "orders:read".into()
            }
        );
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        for (s, needle) in [
            ("", "expected GROUP:KIND"),
            ("tokn:close", "unknown fault group `tokn`"),
            ("token:explode", "unknown fault kind `explode`"),
            ("token:latency=800", "has no unit"),
            ("token:latency", "needs a value"),
            ("token:status=abc", "must be a non-negative integer"),
            ("token:status=99", "between 200 and 599"),
            ("token:close=1", "takes no value"),
            ("token:close,times=0", "positive integer"),
            ("token:close,times", "expected PARAM=VALUE"),
            ("token:close,foo=1", "unknown parameter `foo`"),
            ("token:close,retry_after=1", "only applies to `status`"),
            ("api:rotate_secret=a:b", "not available in group `api`"),
            ("token:invalid_token", "not available in group `token`"),
            ("token:rotate_secret=demo-client", "expected CLIENT:VALUE"),
            ("token:rate_limit=0", "positive integer"),
        ] {
            let e = parse_fault(s).unwrap_err();
            assert!(e.contains(needle), "{s}: {e}");
        }
    }
}
