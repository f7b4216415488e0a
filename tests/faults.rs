//! The fault matrix: what servers do wrong, end to end through `run`. Each
//! fault ends as a classified failure within its timeout, and the other
//! specs of the run go on.

use std::time::{Duration, Instant};

use crate::common::*;
use oauthspec_core::results::FailureClass;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Promises 100 bytes, sends 3, hangs up.
    CutOff,
    /// Says nothing for a long time.
    SlowHeaders,
    /// Sends the headers, then a byte every 200 ms.
    TrickleBody,
    /// 50 MB of body.
    HugeBody,
    /// Bytes that are not UTF-8.
    NotUtf8,
    /// JSON labelled text/plain.
    WrongContentType,
    /// Redirects to itself forever.
    RedirectLoop,
    /// Duplicate headers and a header value that is not UTF-8.
    OddHeaders,
    /// A chunked, gzip-compressed JSON body.
    ChunkedGzip,
}

/// A one-behaviour HTTP/1.1 server on loopback; returns its base URL.
async fn raw_server(how: Misbehaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(answer(socket, how));
        }
    });
    base
}

async fn answer(mut socket: TcpStream, how: Misbehaviour) {
    let mut buf = vec![0u8; 8192];
    let _ = socket.read(&mut buf).await;
    let head = |extra: &str, len: usize| {
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n{extra}\r\n")
    };
    match how {
        Misbehaviour::CutOff => {
            let _ = socket
                .write_all(format!("{}abc", head("", 100)).as_bytes())
                .await;
        }
        Misbehaviour::SlowHeaders => tokio::time::sleep(Duration::from_secs(30)).await,
        Misbehaviour::TrickleBody => {
            let _ = socket.write_all(head("", 100).as_bytes()).await;
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if socket.write_all(b"a").await.is_err() {
                    return;
                }
            }
        }
        Misbehaviour::HugeBody => {
            let size = 50 * 1024 * 1024;
            let _ = socket.write_all(head("", size).as_bytes()).await;
            let chunk = vec![b'a'; 64 * 1024];
            for _ in 0..size / chunk.len() {
                if socket.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
        Misbehaviour::NotUtf8 => {
            let body = b"\xff\xfe{\"a\":1}";
            let _ = socket.write_all(head("", body.len()).as_bytes()).await;
            let _ = socket.write_all(body).await;
        }
        Misbehaviour::WrongContentType => {
            let body = br#"{"status":"ok"}"#;
            let text = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(text.as_bytes()).await;
            let _ = socket.write_all(body).await;
        }
        Misbehaviour::RedirectLoop => {
            let _ = socket
                .write_all(b"HTTP/1.1 302 Found\r\nlocation: /again\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
        Misbehaviour::ChunkedGzip => {
            use std::io::Write as _;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(br#"{"status":"ok","items":[1,2,3]}"#).unwrap();
            let body = gz.finish().unwrap();
            let mut text = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            for chunk in body.chunks(7) {
                text.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                text.extend_from_slice(chunk);
                text.extend_from_slice(b"\r\n");
            }
            text.extend_from_slice(b"0\r\n\r\n");
            let _ = socket.write_all(&text).await;
        }
        Misbehaviour::OddHeaders => {
            let body = b"{}";
            let mut text =
                b"HTTP/1.1 401 Unauthorized\r\nx-dup: one\r\nx-dup: two\r\nx-bytes: \xe9t\xe9\r\n"
                    .to_vec();
            text.extend_from_slice(b"www-authenticate: Basic realm=\"a\"\r\n");
            text.extend_from_slice(b"WWW-Authenticate:   bearer   error = invalid_token ,error_description=\"gone\"\r\n");
            text.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
            text.extend_from_slice(body);
            let _ = socket.write_all(&text).await;
        }
    }
}

/// Runs one step against `base` with a short timeout, next to a healthy
/// spec against the sandbox, and returns the faulty step's result.
async fn run_against(base: &str, step_body: &str) -> oauthspec_core::results::StepResult {
    let sandbox = sandbox().await;
    let specs = Specs::new();
    let faulty = specs.write(
        "a-faulty.oauthspec",
        &format!("step \"faulty\" {{\n  GET \"{base}/x\"\n{step_body}}}\n"),
    );
    let healthy = specs.write(
        "b-healthy.oauthspec",
        &format!(
            "step \"healthy\" {{\n  GET \"{}/v1/health\"\n  expect status == 200\n}}\n",
            sandbox.base_url()
        ),
    );
    let mut options = options(base);
    options.timeout = Duration::from_millis(800);
    let (result, _) = run_with(&[faulty, healthy], options).await;
    assert!(passed(step(&result, "healthy")), "other specs go on");
    step(&result, "faulty").clone()
}

#[tokio::test]
async fn a_response_cut_off_mid_body() {
    let base = raw_server(Misbehaviour::CutOff).await;
    let s = run_against(&base, "  expect status == 200\n").await;
    assert_eq!(s.class(), Some(FailureClass::Network));
    assert!(
        s.error.as_deref().unwrap().contains("cut off"),
        "{:?}",
        s.error
    );
}

#[tokio::test]
async fn headers_slower_than_the_timeout() {
    let base = raw_server(Misbehaviour::SlowHeaders).await;
    let start = Instant::now();
    let s = run_against(&base, "  expect status == 200\n").await;
    assert_eq!(s.class(), Some(FailureClass::Network));
    assert!(
        s.error
            .as_deref()
            .unwrap()
            .contains("timed out after 800ms"),
        "{:?}",
        s.error
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_body_trickling_slower_than_the_timeout() {
    let base = raw_server(Misbehaviour::TrickleBody).await;
    let start = Instant::now();
    let s = run_against(&base, "  expect status == 200\n").await;
    assert_eq!(s.class(), Some(FailureClass::Network));
    assert!(
        s.error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        s.error
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_huge_body_is_cut_for_assertions_with_a_note() {
    let base = raw_server(Misbehaviour::HugeBody).await;
    let s = run_against(
        &base,
        "  timeout 20s\n  expect status == 200\n  expect body startswith \"aaaa\"\n",
    )
    .await;
    assert!(passed(&s), "{:?} {:?}", s.error, failures(&s));
    assert_eq!(
        s.notes,
        ["the body is 52428800 bytes; assertions saw the first 10485760 (--max-body)"]
    );
}

#[tokio::test]
async fn a_body_that_is_not_utf8() {
    let base = raw_server(Misbehaviour::NotUtf8).await;
    let s = run_against(
        &base,
        "  expect body contains \"a\"\n  expect json \"$.a\" == 1\n",
    )
    .await;
    let f = failures(&s);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("the body is not JSON"), "{f:?}");
}

#[tokio::test]
async fn json_under_a_wrong_content_type_is_still_read() {
    let base = raw_server(Misbehaviour::WrongContentType).await;
    let s = run_against(&base, "  expect json \"$.status\" == \"ok\"\n  expect header \"content-type\" == \"text/plain\"\n").await;
    assert!(passed(&s), "{:?}", failures(&s));
}

#[tokio::test]
async fn a_redirect_loop() {
    let base = raw_server(Misbehaviour::RedirectLoop).await;
    let s = run_against(&base, "  follow_redirects\n  expect status == 200\n").await;
    assert_eq!(s.class(), Some(FailureClass::Network));
    assert!(
        s.error.as_deref().unwrap().contains("too many redirects"),
        "{:?}",
        s.error
    );
    // Without follow_redirects the 302 is the answer.
    let s = run_against(
        &base,
        "  expect status == 302\n  expect header \"location\" == \"/again\"\n",
    )
    .await;
    assert!(passed(&s), "{:?}", failures(&s));
}

#[tokio::test]
async fn duplicate_and_non_utf8_headers_and_odd_challenges() {
    let base = raw_server(Misbehaviour::OddHeaders).await;
    let s = run_against(
        &base,
        "  expect header \"x-dup\" == \"one, two\"\n  expect header \"x-bytes\" exists\n  expect oauth_error == invalid_token\n  expect oauth_error_description == \"gone\"\n",
    )
    .await;
    assert!(passed(&s), "{:?}", failures(&s));
}

#[tokio::test]
async fn chunked_and_compressed_bodies_are_read_whole() {
    let base = raw_server(Misbehaviour::ChunkedGzip).await;
    let s = run_against(
        &base,
        "  expect json \"$.status\" == \"ok\"\n  expect json \"$.items\" contains 3\n  expect body contains \"items\"\n",
    )
    .await;
    assert!(passed(&s), "{:?} {:?}", s.error, failures(&s));
}
