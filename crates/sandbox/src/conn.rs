//! A TCP (or TLS) listener whose connections a handler can kill, for the `close`
//! fault: the client must see the connection drop with no HTTP response at
//! all, which no axum response can express.
//!
//! Each accepted stream shares a flag with a `ConnHandle` that handlers get
//! via `ConnectInfo`. Once the flag is set every read and write on the
//! stream fails, so hyper abandons the connection before writing a byte of
//! the response and drops (closes) the socket.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::tls::{ClientCert, Tls};

/// Plain TCP, or TLS: handshakes run in tasks of their own (a client that
/// stalls mid-handshake holds up nobody) and finished ones queue here.
pub(crate) enum SandboxListener {
    Plain(TcpListener),
    Tls {
        local: SocketAddr,
        ready: mpsc::Receiver<(TlsIo, SocketAddr)>,
        tls: Tls,
    },
}

type TlsIo = tokio_rustls::server::TlsStream<TcpStream>;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl SandboxListener {
    pub fn new(inner: TcpListener) -> Self {
        SandboxListener::Plain(inner)
    }

    /// Accepts in a spawned task that ends when the listener is dropped.
    pub fn tls(inner: TcpListener, tls: Tls) -> io::Result<Self> {
        let local = inner.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tls.acceptor.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = inner.accept() => accepted,
                    // The server stopped: free the port now.
                    _ = tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) if is_connection_error(&e) => continue,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    // A failed handshake (untrusted or missing client
                    // certificate, ...) has been answered with an alert.
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(SandboxListener::Tls { local, ready, tls })
    }
}

/// Per-connection handle, available to handlers as
/// `ConnectInfo<ConnHandle>`.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    #[allow(dead_code)] // kept for debugging output
    pub peer: SocketAddr,
    /// The TLS client certificate, if one was presented.
    pub peer_cert: Option<Arc<ClientCert>>,
    killed: Arc<AtomicBool>,
}

impl ConnHandle {
    /// Makes the connection fail: nothing more is written, the socket is
    /// closed once the current handler returns.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, SandboxListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, SandboxListener>) -> Self {
        stream.remote_addr().clone()
    }
}

impl Listener for SandboxListener {
    type Io = KillableStream;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let listener = match self {
            SandboxListener::Plain(listener) => listener,
            SandboxListener::Tls { ready, tls, .. } => {
                let Some((stream, peer)) = ready.recv().await else {
                    // The accept task is gone (it never ends on its own).
                    return std::future::pending().await;
                };
                let peer_cert = tls.client_cert(stream.get_ref().1).map(Arc::new);
                let killed = Arc::new(AtomicBool::new(false));
                let io = KillableStream {
                    inner: Box::new(stream),
                    killed: killed.clone(),
                };
                return (
                    io,
                    ConnHandle {
                        peer,
                        peer_cert,
                        killed,
                    },
                );
            }
        };
        loop {
            match TcpListener::accept(listener).await {
                Ok((stream, peer)) => {
                    // Small JSON answers: don't let Nagle add 40 ms to each.
                    let _ = stream.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    let io = KillableStream {
                        inner: Box::new(stream),
                        killed: killed.clone(),
                    };
                    return (
                        io,
                        ConnHandle {
                            peer,
                            peer_cert: None,
                            killed,
                        },
                    );
                }
                // Same policy as axum's own TcpListener: per-connection
                // errors are skipped, others (e.g. too many open files)
                // are waited out rather than spun on.
                Err(e) if is_connection_error(&e) => continue,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        let peer = match self {
            SandboxListener::Plain(listener) => listener.local_addr()?,
            SandboxListener::Tls { local, .. } => *local,
        };
        Ok(ConnHandle {
            peer,
            peer_cert: None,
            killed: Arc::new(AtomicBool::new(false)),
        })
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection's byte stream: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

pub(crate) struct KillableStream {
    inner: Box<dyn Io>,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed by the `close` fault",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
