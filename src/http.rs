//! One HTTP layer for steps and token requests: shared connection pools,
//! latency measured to the last byte, transport errors described plainly.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;

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

/// Connection pools, one per (follow redirects, accept invalid certs) pair,
/// built on first use and shared by every spec in the run.
pub struct Http {
    clients: [OnceLock<reqwest::Client>; 4],
    /// Keep request/response text for `-v`.
    pub transcripts: bool,
    /// Bodies are kept up to this many bytes (`--max-body`).
    pub max_body: usize,
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
            clients: Default::default(),
            transcripts,
            max_body,
        }
    }

    pub fn is_truncated(&self, x: &Exchange) -> bool {
        x.size > x.body.len() as u64
    }

    pub fn client(&self, follow_redirects: bool, insecure: bool) -> &reqwest::Client {
        let index = usize::from(follow_redirects) * 2 + usize::from(insecure);
        self.clients[index].get_or_init(|| {
            let redirects = if follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            };
            reqwest::Client::builder()
                .redirect(redirects)
                .danger_accept_invalid_certs(insecure)
                .user_agent(concat!("oauthspec/", env!("CARGO_PKG_VERSION")))
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default()
        })
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
                message: format!("timed out after {}", crate::value::format_duration(timeout)),
                latency,
                transcript,
            }),
        }
    }
}

/// The transcript of an exchange or a failed one.
pub fn transcript_of(result: &Result<Exchange, TransportError>) -> Option<&str> {
    match result {
        Ok(x) => x.transcript.as_deref(),
        Err(e) => e.transcript.as_deref(),
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
    TransportError {
        kind,
        message: format!("{what}{url}: {detail}"),
        latency,
        transcript: None,
    }
}
