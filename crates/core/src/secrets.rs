//! Secrets are known for the whole run and never shown: every output goes
//! through [`Redactor::redact`], which hides each secret in every encoding a
//! request or report may carry it in.

use std::borrow::Cow;
use std::sync::RwLock;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;

/// Shorter values would blank out ordinary text; they are not redacted.
pub const MIN_SECRET_LEN: usize = 4;

pub const MASK: &str = "***";

#[derive(Default)]
pub struct Redactor {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    patterns: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Registers a secret in its raw, URL-encoded (as forms, paths and
    /// queries encode it), JSON-escaped (as any common encoder writes it)
    /// and base64 forms.
    pub fn add(&self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        // Known already (every managed step re-offers its client's secrets):
        // a read lock, no encoding.
        if self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .patterns
            .iter()
            .any(|p| p == secret)
        {
            return;
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut forms = vec![
            secret.to_string(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            percent_encode_path(secret),
            b64.encode(secret),
            b64url.encode(secret),
        ];
        forms.extend(url_forms(secret));
        forms.extend(json_forms(secret));
        self.insert(forms);
    }

    /// Adds patterns as they are, rebuilding the matcher if any is new.
    fn insert(&self, forms: Vec<String>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let before = inner.patterns.len();
        for form in forms {
            if form.len() >= MIN_SECRET_LEN && !inner.patterns.contains(&form) {
                inner.patterns.push(form);
            }
        }
        if inner.patterns.len() != before {
            inner.matcher = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&inner.patterns)
                .ok();
        }
    }

    /// HTTP Basic credentials: the pair is secret as a whole too, in both
    /// the RFC 6749 §2.3.1 (form-encoded first) and the plain encoding.
    pub fn add_basic(&self, user: &str, password: &str) {
        self.add(password);
        let b64 = base64::engine::general_purpose::STANDARD;
        let form =
            |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        self.add(&b64.encode(format!("{user}:{password}")));
        self.add(&b64.encode(format!("{}:{}", form(user), form(password))));
    }

    /// `text` with every secret masked and control characters escaped
    /// (a server's ESC or CR must not drive the terminal): everything
    /// shown goes through here.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let masked = match &inner.matcher {
            Some(m) if m.is_match(text) => {
                Cow::Owned(m.replace_all(text, &vec![MASK; inner.patterns.len()]))
            }
            _ => Cow::Borrowed(text),
        };
        match escape_controls(&masked) {
            Cow::Borrowed(_) => masked,
            Cow::Owned(escaped) => Cow::Owned(escaped),
        }
    }

    /// Redacted, then cut to `max` characters: cutting first could split a
    /// secret and leave part of it unmatched.
    pub fn show(&self, text: &str, max: usize) -> String {
        truncate(&self.redact(text), max)
    }

    /// Redacted, then every line cut to `max` characters (transcripts).
    pub fn show_lines(&self, text: &str, max: usize) -> String {
        let redacted = self.redact(text);
        let mut out = String::with_capacity(redacted.len().min(64 * 1024));
        for line in redacted.lines() {
            out.push_str(&truncate(line, max));
            out.push('\n');
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .patterns
            .is_empty()
    }
}

/// Control characters other than newline and tab, escaped as Rust writes
/// them (`\u{1b}`, `\r`).
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.contains(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if bad(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The first `max` characters of `s`, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

/// From now on a panic prints its message redacted: a bug must not be the
/// way a secret reaches a CI log.
pub fn redact_panics(redactor: std::sync::Arc<Redactor>) {
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("{}", panic_text(&redactor, info));
    }));
}

/// What a panic prints: the message and place, redacted.
pub fn panic_text(redactor: &Redactor, info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    let place = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    format!(
        "internal error (a bug in oauthspec; please report it): {}{place}",
        redactor.redact(&message)
    )
}

/// The forms the URL library writes `s` in, as a path, a path segment and
/// a query: they leave some characters (`!`, `$`, `'`, ...) unencoded.
fn url_forms(s: &str) -> Vec<String> {
    let Ok(mut url) = url::Url::parse("http://h/") else {
        return Vec::new();
    };
    let mut forms = Vec::new();
    url.set_path(s);
    forms.push(url.path().trim_start_matches('/').to_string());
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.clear().push(s);
    }
    forms.push(url.path().trim_start_matches('/').to_string());
    url.set_query(Some(s));
    forms.extend(url.query().map(str::to_string));
    forms
}

/// `s` inside a JSON string, as the common encoders escape it: plainly
/// (serde), with `\/` (PHP), with non-ASCII as `\uXXXX` in either case
/// (Python, Java), and with `<`, `>`, `&` as `\u003c`... (Go).
fn json_forms(s: &str) -> Vec<String> {
    let plain = serde_json::to_string(s).unwrap_or_default();
    let plain = plain[1..plain.len().saturating_sub(1).max(1)].to_string();
    let mut forms = vec![plain.clone()];
    if !s.contains(['/', '<', '>', '&']) && s.is_ascii() {
        return forms;
    }
    for slash in [false, true] {
        for html in [false, true] {
            for ascii in [None, Some(false), Some(true)] {
                let mut out = String::with_capacity(plain.len() * 2);
                for c in plain.chars() {
                    match c {
                        '/' if slash => out.push_str("\\/"),
                        '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c if !c.is_ascii() => match ascii {
                            None => out.push(c),
                            Some(upper) => {
                                let mut units = [0u16; 2];
                                for unit in c.encode_utf16(&mut units) {
                                    if upper {
                                        out.push_str(&format!("\\u{unit:04X}"));
                                    } else {
                                        out.push_str(&format!("\\u{unit:04x}"));
                                    }
                                }
                            }
                        },
                        c => out.push(c),
                    }
                }
                if !forms.contains(&out) {
                    forms.push(out);
                }
            }
        }
    }
    forms
}

/// Percent-encoding as in a URL query or path (space as %20).
fn percent_encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Field names whose values are credentials wherever they appear: in a
/// response body, a form, or a JSON document.
pub fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with("token")
        || matches!(
            name.as_str(),
            "client_secret"
                | "password"
                | "client_assertion"
                | "assertion"
                | "code_verifier"
                // RFC 8628: a device code is as good as the token it buys.
                | "device_code"
                | "user_code"
        )
}

impl Redactor {
    /// Registers every credential a body carries: the values of token- and
    /// secret-named fields of a JSON or form-encoded body. Called on each
    /// response before anything shows it, so a token is hidden from its
    /// first appearance, captured or not.
    pub fn add_fields_of(&self, body: &[u8]) {
        // Most bodies name no credential: one case-insensitive scan, no copy.
        static WORDS: std::sync::OnceLock<Option<AhoCorasick>> = std::sync::OnceLock::new();
        let words = WORDS.get_or_init(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build([
                    "token",
                    "secret",
                    "password",
                    "assertion",
                    "device_code",
                    "user_code",
                ])
                .ok()
        });
        if words.as_ref().is_some_and(|w| !w.is_match(body)) {
            return;
        }
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if matches!(first, Some(b'{' | b'[')) {
            self.add_quoted_fields(body);
            // A valid document is also walked: a credential nested in an
            // array or under an escaped name is found either way.
            if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
                self.add_json_fields(&json);
            }
        } else {
            for (name, value) in url::form_urlencoded::parse(body) {
                if is_secret_field(&name) {
                    self.add(&value);
                }
            }
        }
    }

    fn add_json_fields(&self, json: &serde_json::Value) {
        match json {
            serde_json::Value::Object(map) => {
                for (name, value) in map {
                    match value {
                        serde_json::Value::String(s) if is_secret_field(name) => self.add(s),
                        other => self.add_json_fields(other),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| self.add_json_fields(i)),
            _ => {}
        }
    }

    /// Every `"name": "value"` pair with a credential's name, read without
    /// parsing the document: a token in a body that is not valid JSON
    /// (trailing bytes, `1e400`, a key given twice, a body cut off inside
    /// the value) is hidden too. The value is hidden as it is written
    /// there, whatever its escapes, and decoded.
    fn add_quoted_fields(&self, body: &[u8]) {
        static PAIR: std::sync::OnceLock<Option<regex::bytes::Regex>> = std::sync::OnceLock::new();
        let Some(pair) = PAIR
            .get_or_init(|| {
                regex::bytes::Regex::new(
                    r#""((?:[^"\\]|\\.){1,128})"\s*:\s*"((?:[^"\\]|\\.)*)(?:"|$)"#,
                )
                .ok()
            })
            .as_ref()
        else {
            return;
        };
        let decode = |written: &str| serde_json::from_str::<String>(&format!("\"{written}\"")).ok();
        for found in pair.captures_iter(body) {
            let name = String::from_utf8_lossy(&found[1]);
            if !is_secret_field(&decode(&name).unwrap_or_else(|| name.to_string())) {
                continue;
            }
            let written = String::from_utf8_lossy(&found[2]).into_owned();
            if let Some(decoded) = decode(&written) {
                self.add(&decoded);
            }
            if written.len() >= MIN_SECRET_LEN {
                self.insert(vec![written]);
            }
        }
    }
}

/// Whether a captured value should be secret without being marked so:
/// token-shaped names and values.
pub fn looks_secret(name: &str, path: Option<&str>, value: &str) -> bool {
    let last_segment = path.map(|p| {
        p.rsplit(['.', '[', '\'', '"'])
            .find(|s| !s.is_empty() && *s != "]")
            .unwrap_or(p)
            .trim_end_matches([']', '\'', '"'])
    });
    is_secret_field(name) || last_segment.is_some_and(is_secret_field) || looks_like_jwt(value)
}

fn looks_like_jwt(value: &str) -> bool {
    let parts: Vec<&str> = value.split('.').collect();
    parts.len() == 3
        && value.starts_with("eyJ")
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_is_hidden() {
        let r = Redactor::new();
        r.add("s3cr3t/+&=\"x");
        let raw = "s3cr3t/+&=\"x";
        let form: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
        let json = serde_json::to_string(raw).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        for text in [raw.to_string(), form, json, b64] {
            let out = r.redact(&text);
            assert!(
                !out.contains(&text.trim_matches('"').to_string()),
                "{text} → {out}"
            );
            assert!(out.contains(MASK));
        }
    }

    #[test]
    fn basic_credentials_are_hidden() {
        let r = Redactor::new();
        r.add_basic("demo client", "pa:ss word");
        let b64 = base64::engine::general_purpose::STANDARD;
        let header = format!("Basic {}", b64.encode("demo+client:pa%3Ass+word"));
        assert_eq!(r.redact(&header), "Basic ***");
    }

    #[test]
    fn cutting_happens_after_redaction() {
        let r = Redactor::new();
        r.add("abcdefghij");
        // Cut first, "xxabcdefg…" would show most of the secret.
        assert_eq!(r.show("xxabcdefghijyy", 9), "xx***yy");
        assert_eq!(r.show_lines("abcdefghij\nsecond line", 4), "***\nseco…\n");
    }

    #[test]
    fn panic_messages_are_redacted() {
        let r = std::sync::Arc::new(Redactor::new());
        r.add("hunter2-secret");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (hook_r, hook_seen) = (r.clone(), seen.clone());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            *hook_seen.lock().unwrap() = panic_text(&hook_r, info);
        }));
        let secret = String::from("hunter2-secret");
        let _ = std::panic::catch_unwind(|| panic!("token was {secret}"));
        std::panic::set_hook(previous);
        let text = seen.lock().unwrap().clone();
        assert!(text.contains("token was ***"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn short_values_are_left_alone() {
        let r = Redactor::new();
        r.add("ab");
        assert!(r.is_empty());
        assert_eq!(r.redact("abc"), "abc");
    }

    #[test]
    fn credentials_in_bodies_are_registered() {
        let r = Redactor::new();
        r.add_fields_of(
            br#"{"access_token":"tok-123","nested":{"refresh_token":"ref-456"},"scope":"a b"}"#,
        );
        r.add_fields_of(b"access_token=gho_abcdef&token_type=bearer");
        assert_eq!(
            r.redact("tok-123 ref-456 gho_abcdef scope"),
            "*** *** *** scope"
        );
        let quiet = Redactor::new();
        quiet.add_fields_of(br#"{"orders":[{"id":"ord_1001"}]}"#);
        assert!(quiet.is_empty());
    }

    #[test]
    fn token_shaped_captures_are_secret() {
        assert!(looks_secret("token", None, "x"));
        assert!(looks_secret("x", Some("$.access_token"), "x"));
        assert!(looks_secret(
            "x",
            None,
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
        ));
        assert!(!looks_secret(
            "first_order",
            Some("$.orders[0].id"),
            "ord_1001"
        ));
    }
}
