//! Reading a token endpoint's answer (RFC 6749 §5.1 and §5.2).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::Exchange;
use crate::results::FailureClass;

/// The OAuth `error` code of a JSON answer, if it has one.
pub(crate) fn oauth_error_code(x: &Exchange) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(&x.body).ok()?;
    json.get("error")?.as_str().map(str::to_string)
}

/// A token response as RFC 6749 §5.1 defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    /// The lifetime in seconds the response gives, once read with care:
    /// Zoho's `expires_in_sec` wins over its `expires_in` (milliseconds),
    /// and more than a year is taken for unknown.
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub scope: Option<Vec<String>>,
    /// OpenID Connect: who signed in.
    pub id_token: Option<String>,
    /// RFC 8693: what a token exchange issued.
    pub issued_token_type: Option<String>,
    /// What a user running with `-v` should know about how the lifetime
    /// was read.
    pub notes: Vec<String>,
}

/// A year: any longer `expires_in` is taken for milliseconds sent as
/// seconds, so the lifetime is unknown.
const MAX_EXPIRES_IN: u64 = 365 * 24 * 3600;

/// How long a token is used when nothing says how long it lives (no
/// `expires_in`, or an absurd one, and no JWT `exp`): five minutes, the
/// shortest default of the common servers (Keycloak's), so that a long run
/// or a monitor never holds a dead token for long.
pub const UNKNOWN_LIFETIME: Duration = Duration::from_secs(300);

impl TokenResponse {
    /// How long the access token may be used from `now`: its `expires_in`,
    /// never past a JWT access token's `exp`, else [`UNKNOWN_LIFETIME`].
    /// When it is not simply `expires_in`, a note says why.
    pub fn lifetime(&mut self, now: SystemTime) -> Duration {
        let exp_in = super::jwt::claims(&self.access_token)
            .ok()
            .and_then(|claims| claims.get("exp")?.as_u64())
            .and_then(|exp| UNIX_EPOCH.checked_add(Duration::from_secs(exp)))
            .map(|exp| exp.duration_since(now).unwrap_or_default());
        match (self.expires_in.map(Duration::from_secs), exp_in) {
            (Some(given), Some(exp)) if exp < given => {
                // `exp` is usually `iat + expires_in`, a moment behind: only
                // a real disagreement is worth a note.
                if given - exp > EXP_MARGIN {
                    self.notes.push(format!(
                        "the access token's `exp` ends it in {} s, before `expires_in` {} s: it is renewed by `exp`",
                        exp.as_secs(),
                        given.as_secs()
                    ));
                }
                exp
            }
            (Some(given), _) => given,
            (None, Some(exp)) => exp,
            (None, None) => {
                self.notes.push(format!(
                    "the token's lifetime is unknown (no usable `expires_in`, not a JWT with `exp`): it is renewed after {} s",
                    UNKNOWN_LIFETIME.as_secs()
                ));
                UNKNOWN_LIFETIME
            }
        }
    }
}

/// How far `exp` may come before `expires_in` without a note.
const EXP_MARGIN: Duration = Duration::from_secs(60);

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
    let seconds = |field: &str| -> Result<Option<u64>, (FailureClass, String)> {
        let Some(v) = obj.get(field).filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let n = v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
            .ok_or_else(|| malformed(format!("`{field}` is not a number: {v}")))?;
        if !n.is_finite() {
            return Err(malformed(format!("`{field}` is not a number: {v}")));
        }
        if n < 0.0 {
            return Err(malformed(format!("`{field}` is negative: {v}")));
        }
        Ok(Some(n as u64))
    };
    let mut notes = Vec::new();
    // Zoho's older accounts server sends both: `expires_in` in
    // milliseconds, `expires_in_sec` in seconds.
    let expires_in = match (seconds("expires_in")?, seconds("expires_in_sec")?) {
        (_, Some(n)) | (Some(n), None) if n > MAX_EXPIRES_IN => {
            notes.push(format!(
                "a lifetime of {n} s is more than a year (milliseconds sent as seconds?): it is taken as unknown"
            ));
            None
        }
        (given, Some(secs)) => {
            if given.is_some_and(|g| g != secs) {
                notes.push(format!(
                    "`expires_in` {} disagrees with `expires_in_sec` {secs}: the token lives {secs} s",
                    given.unwrap_or_default()
                ));
            }
            Some(secs)
        }
        (given, None) => given,
    };
    let refresh_token = obj
        .get("refresh_token")
        .and_then(|r| r.as_str())
        .map(str::to_string);
    let scope = obj
        .get("scope")
        .and_then(|s| s.as_str())
        .map(|s| s.split_whitespace().map(str::to_string).collect());
    let id_token = obj
        .get("id_token")
        .and_then(|r| r.as_str())
        .map(str::to_string);
    let issued_token_type = obj
        .get("issued_token_type")
        .and_then(|r| r.as_str())
        .map(str::to_string);
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        refresh_token,
        scope,
        id_token,
        issued_token_type,
        notes,
    })
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

    fn jwt_with_exp(exp: u64) -> String {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.sig",
            b64(r#"{"alg":"none"}"#),
            b64(&format!(r#"{{"exp":{exp}}}"#))
        )
    }

    #[test]
    fn an_exp_a_moment_before_expires_in_is_no_news() {
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let mut usual = TokenResponse {
            access_token: jwt_with_exp(secs + 3600),
            token_type: "Bearer".into(),
            expires_in: Some(3600),
            refresh_token: None,
            scope: None,
            id_token: None,
            issued_token_type: None,
            notes: Vec::new(),
        };
        assert!(usual.lifetime(now) <= Duration::from_secs(3600));
        assert!(usual.notes.is_empty(), "{:?}", usual.notes);
        let mut short = TokenResponse {
            access_token: jwt_with_exp(secs + 60),
            ..usual.clone()
        };
        assert!(short.lifetime(now) <= Duration::from_secs(60));
        assert_eq!(short.notes.len(), 1);
    }

    #[test]
    fn lifetimes_are_read_with_care() {
        let read = |body: &str| parse_token_response(&answer(200, body)).unwrap();
        // Zoho's older shape: milliseconds beside seconds.
        let zoho = read(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":3600000,"expires_in_sec":3600}"#,
        );
        assert_eq!(zoho.expires_in, Some(3600));
        assert_eq!(
            zoho.notes,
            ["`expires_in` 3600000 disagrees with `expires_in_sec` 3600: the token lives 3600 s"]
        );
        let agreeing = read(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":60,"expires_in_sec":"60"}"#,
        );
        assert_eq!((agreeing.expires_in, agreeing.notes.len()), (Some(60), 0));
        // A 12-hour token in milliseconds: unknown, with a note.
        let absurd = read(r#"{"access_token":"a","token_type":"Bearer","expires_in":43200000}"#);
        assert_eq!(absurd.expires_in, None);
        assert!(
            absurd.notes[0].contains("more than a year"),
            "{:?}",
            absurd.notes
        );
        // Nothing a server sends makes a lifetime that overflows a clock.
        let huge = read(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":1,"expires_in_sec":1e300}"#,
        );
        assert_eq!(huge.expires_in, None);
        assert!(refused(
            200,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"NaN"}"#
        )
        .1
        .contains("not a number"));
        let mut far = read(&format!(
            r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
            jwt_with_exp(u64::MAX)
        ));
        assert_eq!(far.lifetime(SystemTime::now()), UNKNOWN_LIFETIME);
        let none = read(r#"{"access_token":"a","token_type":"Bearer"}"#);
        assert_eq!((none.expires_in, none.notes.len()), (None, 0));
        assert!(refused(
            200,
            r#"{"access_token":"a","token_type":"Bearer","expires_in_sec":"soon"}"#
        )
        .1
        .contains("`expires_in_sec` is not a number"));
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
