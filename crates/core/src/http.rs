//! One HTTP layer for steps and token requests: shared connection pools,
//! latency measured to the last byte, transport errors described plainly.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;

use crate::results::{Attempt, AttemptKind};
use crate::secrets::Redactor;

/// A complete response.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body, or its first `--max-body` bytes.
    pub body: Bytes,
    /// The body's full size in bytes.
    pub size: u64,
    /// From sending the request to the last byte of the body.
    pub latency: Duration,
    /// Request and response as text, when transcripts are on (`-v`).
    /// Not redacted and not cut: see [`crate::secrets::Redactor::show_lines`].
    pub transcript: Option<String>,
}

impl Exchange {
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_string();
        self.headers
            .get_all(name.as_str())
            .iter()
            .map(|v| v.to_str().unwrap_or("<not UTF-8>"))
            .collect::<Vec<_>>()
            .into_iter()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Retry-After` in seconds (an HTTP date is read as a delay from now).
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get("retry-after")?.to_str().ok()?.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        let at = httpdate::parse_http_date(value).ok()?;
        Some(
            at.duration_since(std::time::SystemTime::now())
                .unwrap_or_default(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    Connect,
    Timeout,
    Tls,
    Redirect,
    Body,
    Other,
}

#[derive(Debug, Clone)]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
    pub latency: Duration,
    pub transcript: Option<String>,
}

impl TransportError {
    /// A request that could not be made (a proof or assertion that could
    /// not be signed): nothing was sent.
    pub fn unsent(message: String) -> TransportError {
        TransportError {
            kind: TransportErrorKind::Other,
            message,
            latency: Duration::ZERO,
            transcript: None,
        }
    }
}

/// What a connection pool is keyed by: redirects and TLS settings. PEM
/// texts are kept whole, so two specs naming the same files share a pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsKey {
    pub follow_redirects: bool,
    /// Accept any server certificate (`insecure`).
    pub insecure: bool,
    /// Extra trusted roots (PEM, one or more certificates), besides the
    /// system's and `--cacert`.
    pub ca_cert: Option<String>,
    /// The client certificate chain and its private key (PEM), for mTLS.
    pub identity: Option<(String, String)>,
}

/// Run-wide TLS settings: `--cacert` and `--insecure`.
#[derive(Debug, Clone, Default)]
pub struct TlsDefaults {
    /// PEM roots added to the system's.
    pub ca_cert: Option<String>,
    pub insecure: bool,
}

/// Connection pools, one per [`TlsKey`], built on first use and shared by
/// every spec in the run.
pub struct Http {
    clients: Mutex<HashMap<TlsKey, reqwest::Client>>,
    /// The pool for plain HTTP without redirects (see `client_for`).
    plain: OnceLock<reqwest::Client>,
    tls: TlsDefaults,
    /// Keep request/response text for `-v`.
    pub transcripts: bool,
    /// Bodies are kept up to this many bytes (`--max-body`).
    pub max_body: usize,
}

/// `http://...`, in any letter case.
fn is_plain_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

/// What every pool shares.
fn base_builder(redirects: reqwest::redirect::Policy) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(redirects)
        .user_agent(concat!("oauthspec/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30))
}

/// `--max-body`'s default: 10 MiB.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;

impl Default for Http {
    fn default() -> Self {
        Http::new(false, DEFAULT_MAX_BODY)
    }
}

impl Http {
    pub fn new(transcripts: bool, max_body: usize) -> Http {
        Http {
            clients: Mutex::default(),
            plain: OnceLock::new(),
            tls: TlsDefaults::default(),
            transcripts,
            max_body,
        }
    }

    /// With run-wide TLS settings; fails, saying why, if their CA
    /// certificates are not usable.
    pub fn with_tls(mut self, tls: TlsDefaults) -> Result<Http, String> {
        if let Some(pem) = &tls.ca_cert {
            roots(pem)?;
        }
        self.tls = tls;
        Ok(self)
    }

    pub fn is_truncated(&self, x: &Exchange) -> bool {
        x.size > x.body.len() as u64
    }

    /// A pool for a GET of `url` with the run's TLS defaults only.
    pub fn client(&self, url: &str) -> reqwest::Client {
        // Without per-request PEM nothing can fail to parse: the run's CA
        // certificates were checked in `with_tls`.
        self.client_for(&TlsKey::default(), url).unwrap_or_default()
    }

    /// The pool for a request to `url` with `key`'s settings, built on
    /// first use. Fails when a certificate or key is not usable PEM.
    ///
    /// A plain `http://` request that follows no redirects never meets
    /// TLS: it shares one pool built without the system's root
    /// certificates, whose loading would cost milliseconds per run.
    pub fn client_for(&self, key: &TlsKey, url: &str) -> Result<reqwest::Client, String> {
        let insecure = key.insecure || self.tls.insecure;
        if !key.follow_redirects && is_plain_http(url) {
            let plain = self.plain.get_or_init(|| {
                base_builder(reqwest::redirect::Policy::none())
                    .tls_built_in_root_certs(false)
                    .build()
                    // No TLS settings, so nothing is left to fail.
                    .unwrap_or_default()
            });
            return Ok(plain.clone());
        }
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(key) {
            return Ok(c.clone());
        }
        let redirects = if key.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = base_builder(redirects).danger_accept_invalid_certs(insecure);
        for (what, pem) in [
            ("the run's CA", &self.tls.ca_cert),
            ("ca_cert", &key.ca_cert),
        ] {
            if let Some(pem) = pem {
                for cert in roots(pem).map_err(|e| format!("{what}: {e}"))? {
                    builder = builder.add_root_certificate(cert);
                }
            }
        }
        if let Some((cert, private_key)) = &key.identity {
            builder = builder.identity(identity(cert, private_key)?);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot set up TLS: {}", innermost(&e)))?;
        clients.insert(key.clone(), client.clone());
        Ok(client)
    }

    /// Sends a request and reads the whole body, within `timeout` overall.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<Exchange, TransportError> {
        let (client, request) = request.build_split();
        let request = match request {
            Ok(r) => r,
            Err(e) => return Err(describe(&e, Duration::ZERO)),
        };
        let mut transcript = self.transcripts.then(|| request_text(&request));
        let start = Instant::now();
        let result = tokio::time::timeout(timeout, async {
            let mut response = client.execute(request).await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            // Past the limit the body is drained, not kept: latency still
            // runs to the last byte, and memory stays bounded.
            let mut body = bytes::BytesMut::new();
            let mut size = 0u64;
            while let Some(chunk) = response.chunk().await? {
                size += chunk.len() as u64;
                let room = self.max_body.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok::<_, reqwest::Error>((status, headers, body.freeze(), size))
        })
        .await;
        let latency = start.elapsed();
        match result {
            Ok(Ok((status, headers, body, size))) => {
                if let Some(t) = &mut transcript {
                    t.push_str(&response_text(status, &headers, &body));
                }
                Ok(Exchange {
                    status,
                    headers,
                    body,
                    size,
                    latency,
                    transcript,
                })
            }
            Ok(Err(e)) => Err(TransportError {
                transcript,
                ..describe(&e, latency)
            }),
            Err(_) => Err(TransportError {
                kind: TransportErrorKind::Timeout,
                message: format!("timed out after {}", crate::duration::spec_text(timeout)),
                latency,
                transcript,
            }),
        }
    }
}

/// The transcript of an exchange or a failed one.
fn transcript_of(result: &Result<Exchange, TransportError>) -> Option<&str> {
    match result {
        Ok(x) => x.transcript.as_deref(),
        Err(e) => e.transcript.as_deref(),
    }
}

impl Attempt {
    /// The record of one exchange, for steps and token requests alike:
    /// the response's secret-looking fields are registered with
    /// `redactor` first, then every text is redacted. `url` is as shown.
    pub(crate) fn record(
        kind: AttemptKind,
        method: String,
        url: String,
        result: &Result<Exchange, TransportError>,
        redactor: &Redactor,
        client: Option<&str>,
    ) -> Attempt {
        if let Ok(x) = result {
            redactor.add_fields_of(&x.body);
        }
        Attempt {
            kind,
            method,
            url,
            status: result.as_ref().ok().map(|x| x.status),
            latency: match result {
                Ok(x) => x.latency,
                Err(e) => e.latency,
            },
            error: (result.as_ref().err()).map(|e| redactor.redact(&e.message).into_owned()),
            transcript: transcript_of(result).map(|t| redactor.show_lines(t, TRANSCRIPT_LINE)),
            superseded: false,
            client: client.map(str::to_string),
        }
    }
}

fn request_text(r: &reqwest::Request) -> String {
    let mut out = format!("> {} {}\n", r.method(), r.url());
    for (name, value) in r.headers() {
        out.push_str(&format!(
            "> {name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    if let Some(body) = r.body().and_then(|b| b.as_bytes()) {
        out.push_str(">\n");
        for line in body_excerpt(body).lines() {
            out.push_str(&format!("> {line}\n"));
        }
    }
    out
}

fn response_text(status: u16, headers: &HeaderMap, body: &[u8]) -> String {
    let mut out = format!("< HTTP {status}\n");
    for (name, value) in headers {
        out.push_str(&format!(
            "< {name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    if !body.is_empty() {
        out.push_str("<\n");
        for line in body_excerpt(body).lines() {
            out.push_str(&format!("< {line}\n"));
        }
    }
    out
}

/// How much of each transcript line (a body is usually one) is shown.
pub const TRANSCRIPT_LINE: usize = 2000;

/// Whole bodies: a transcript is cut only after it is redacted, so that no
/// cut can split a secret and leave half of it to be shown.
fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn describe(e: &reqwest::Error, latency: Duration) -> TransportError {
    // The innermost cause names the real problem (refused, reset, ...).
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let detail = cause.to_string();
    let lower = detail.to_ascii_lowercase();
    let kind = if e.is_timeout() {
        TransportErrorKind::Timeout
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        TransportErrorKind::Tls
    } else if e.is_connect() {
        TransportErrorKind::Connect
    } else if e.is_redirect() {
        TransportErrorKind::Redirect
    } else if e.is_body() || e.is_decode() {
        TransportErrorKind::Body
    } else {
        TransportErrorKind::Other
    };
    let what = match kind {
        TransportErrorKind::Connect => "could not connect",
        TransportErrorKind::Timeout => "timed out",
        TransportErrorKind::Tls => "TLS failed",
        TransportErrorKind::Redirect => "too many redirects",
        TransportErrorKind::Body => "the response was cut off",
        TransportErrorKind::Other => "the request failed",
    };
    let url = e.url().map(|u| format!(" to {u}")).unwrap_or_default();
    let detail = match tls_hint(&lower).filter(|_| kind == TransportErrorKind::Tls) {
        Some(hint) => format!("{hint} ({detail})"),
        None => detail,
    };
    TransportError {
        kind,
        message: format!("{what}{url}: {detail}"),
        latency,
        transcript: None,
    }
}

fn innermost(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

const NOT_PEM: &str = "is not PEM (expected `-----BEGIN ...`; read a file with file(\"...\"))";

/// Every certificate of a PEM bundle.
fn roots(pem: &str) -> Result<Vec<reqwest::Certificate>, String> {
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!("the CA certificate {NOT_PEM}"));
    }
    reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|e| format!("the CA certificate is not valid PEM: {}", innermost(&e)))
}

/// A client certificate (chain) and its private key, as one identity.
fn identity(cert: &str, key: &str) -> Result<reqwest::Identity, String> {
    if !cert.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!("client_cert {NOT_PEM}"));
    }
    if !key.contains("PRIVATE KEY-----") {
        return Err(format!("client_key {NOT_PEM}"));
    }
    let both = format!("{}\n{}\n", cert.trim_end(), key.trim_end());
    reqwest::Identity::from_pem(both.as_bytes()).map_err(|e| {
        format!(
            "client_cert/client_key are not a usable certificate and key: {}",
            innermost(&e)
        )
    })
}

/// Plain words for the TLS failures people meet (rustls's own are terse).
fn tls_hint(lower: &str) -> Option<&'static str> {
    let hints: &[(&[&str], &str)] = &[
        // `openssl req -x509` makes CA:TRUE certificates by default; curl
        // (OpenSSL) serves with them, rustls will not.
        (
            &["causedasendentity", "ca used as end entity"],
            "the server's certificate is a CA certificate (basicConstraints CA:TRUE), which rustls refuses as a server's own even when trusted; make one for the server with `openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 365 -subj /CN=localhost -addext basicConstraints=critical,CA:FALSE -addext subjectAltName=DNS:localhost` (docs/cookbook.md)",
        ),
        (
            &["unknownissuer", "unknown issuer"],
            "the server's certificate is not trusted (unknown issuer): add its CA with --cacert or `ca_cert`",
        ),
        (
            &["notvalidforname", "not valid for name"],
            "the server's certificate is not valid for this host name",
        ),
        (&["expired"], "the server's certificate has expired"),
        (
            &["certificaterequired", "certificate required"],
            "the server requires a TLS client certificate: set `client_cert` and `client_key`",
        ),
        (
            &["unknownca", "badcertificate", "bad certificate", "unknown ca"],
            "the server rejected the TLS client certificate",
        ),
        (
            &["invalid peer certificate"],
            "the server's certificate is not trusted",
        ),
    ];
    hints
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| lower.contains(n)))
        .map(|(_, hint)| *hint)
}
