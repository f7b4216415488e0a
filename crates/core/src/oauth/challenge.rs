//! `WWW-Authenticate` challenges (RFC 7235 §4.1, RFC 6750 §3) and the OAuth
//! error they or a JSON body carry.

/// One challenge: a scheme and its parameters (names lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge in the given header values. Lenient: what cannot
/// be read is skipped, never an error.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        let mut p = Cursor {
            s: value.as_bytes(),
            i: 0,
        };
        loop {
            p.skip(b" \t,");
            let Some(scheme) = p.token() else { break };
            let mut challenge = Challenge {
                scheme,
                params: Vec::new(),
            };
            loop {
                p.skip(b" \t");
                let mark = p.i;
                let Some(name) = p.token() else {
                    // token68 (e.g. `Basic abc==`) or junk: skip to the next comma.
                    p.until(b',');
                    p.skip(b" \t,");
                    break;
                };
                p.skip(b" \t");
                if p.peek() != Some(b'=') {
                    // A new challenge starts here.
                    p.i = mark;
                    break;
                }
                p.i += 1;
                p.skip(b" \t");
                let value = if p.peek() == Some(b'"') {
                    p.quoted()
                } else {
                    p.token().unwrap_or_default()
                };
                challenge.params.push((name.to_ascii_lowercase(), value));
                p.skip(b" \t");
                if p.peek() == Some(b',') {
                    p.i += 1;
                } else {
                    break;
                }
            }
            out.push(challenge);
        }
    }
    out
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, set: &[u8]) {
        while self.peek().is_some_and(|c| set.contains(&c)) {
            self.i += 1;
        }
    }

    fn until(&mut self, stop: u8) {
        while self.peek().is_some_and(|c| c != stop) {
            self.i += 1;
        }
    }

    /// An RFC 7230 token.
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&c))
        {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// An OAuth error and its description, from the first challenge that has
/// an `error` parameter (a Bearer one preferred), else from a top-level
/// `error` string in a JSON body (RFC 6749 §5.2).
pub fn oauth_error(
    challenges: &[Challenge],
    json_body: Option<&serde_json::Value>,
) -> Option<(String, Option<String>)> {
    let from_challenge = challenges
        .iter()
        .filter(|c| c.param("error").is_some())
        .min_by_key(|c| !c.scheme.eq_ignore_ascii_case("bearer"));
    if let Some(c) = from_challenge {
        return Some((
            c.param("error").unwrap_or_default().to_string(),
            c.param("error_description").map(str::to_string),
        ));
    }
    let body = json_body?;
    let error = body.get("error")?.as_str()?;
    let description = body
        .get("error_description")
        .and_then(|d| d.as_str())
        .map(str::to_string);
    Some((error.to_string(), description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_challenges_quoted_and_unquoted() {
        let cs = parse_challenges([
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
            r#"bearer  realm = "x" ,error=insufficient_scope,  scope="a b""#,
        ]);
        assert_eq!(cs.len(), 3);
        assert_eq!(cs[0].scheme, "Newauth");
        assert_eq!(cs[0].param("title"), Some(r#"Login to "apps""#));
        assert_eq!(cs[1].scheme, "Basic");
        assert_eq!(cs[2].param("error"), Some("insufficient_scope"));
        assert_eq!(cs[2].param("scope"), Some("a b"));
        let (e, _) = oauth_error(&cs, None).unwrap();
        assert_eq!(e, "insufficient_scope");
    }

    #[test]
    fn bearer_challenge_wins_over_body() {
        let cs = parse_challenges([r#"Bearer error="invalid_token", error_description="expired""#]);
        let body = serde_json::json!({"error": "other"});
        assert_eq!(
            oauth_error(&cs, Some(&body)),
            Some(("invalid_token".into(), Some("expired".into())))
        );
    }

    #[test]
    fn body_error_when_no_challenge() {
        let body = serde_json::json!({"error": "access denied"});
        assert_eq!(oauth_error(&[], Some(&body)).unwrap().0, "access denied");
        assert_eq!(
            oauth_error(&[], Some(&serde_json::json!({"error": 5}))),
            None
        );
    }

    #[test]
    fn token68_and_junk_do_not_panic() {
        for s in [
            "Basic abc==",
            "=,=,",
            "\"",
            "Bearer error=\"unterminated",
            "",
        ] {
            let _ = parse_challenges([s]);
        }
    }
}
