//! Connections: the accept loop, optional TLS, HTTP/1.1 and HTTP/2 on each connection, the
//! timeouts that keep slow or half-open clients from holding a connection, and graceful
//! shutdown (stop accepting, let in-flight requests finish, close idle connections).
//!
//! The protocol is chosen here (TLS: by ALPN; plain: by peeking for the HTTP/2 preface within
//! the header timeout) rather than by hyper-util's detection, which waits for the first bytes
//! without a timeout: a client that connects and sends nothing would hold its socket forever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::config::ServerConfig;

/// What an HTTP/2 connection starts with (prior knowledge, h2c).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The largest request head (request line and headers) hyper buffers on an HTTP/1.1
/// connection; beyond it hyper answers a bare 431 and closes. Above the pipeline's own
/// bounds (`app::MAX_HEADERS_BYTES`), so that heads between the two get ADT's error body.
pub const MAX_HEAD_BYTES: usize = 256 * 1024;

/// HTTP/2 counts a header list as names, values and 32 bytes per field (RFC 7540 §6.5.2);
/// the pipeline's bound plus that overhead for a few hundred fields. h2 answers a bare 431
/// beyond it.
const MAX_H2_HEADER_LIST: u32 = (crate::app::MAX_HEADERS_BYTES + 16 * 1024) as u32;

/// An HTTP/2 peer that stops answering pings is dropped after this long.
const H2_PING: Duration = Duration::from_secs(20);

#[derive(Clone, Copy)]
enum Protocol {
    Http1,
    Http2,
}

pub async fn run(
    listener: TcpListener,
    router: Router,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let tls = config.tls.clone().map(TlsAcceptor::from);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(MAX_HEAD_BYTES)
        .header_read_timeout(config.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_H2_HEADER_LIST)
        .keep_alive_interval(H2_PING)
        .keep_alive_timeout(H2_PING);
    let graceful = GracefulShutdown::new();
    let handshake_timeout = config.header_timeout;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning; the listener stays up.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                None => match sniff(&stream, handshake_timeout).await {
                    Some(protocol) => serve(stream, protocol, &builder, service, watcher).await,
                    None => {
                        tracing::debug!(%peer, "no request before the header timeout");
                        return;
                    }
                },
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let protocol = match stream.get_ref().1.alpn_protocol() {
                                Some(b"h2") => Protocol::Http2,
                                _ => Protocol::Http1,
                            };
                            // hyper's HTTP/2 handshake waits for the client preface without
                            // a timeout (and its HTTP/1 header timeout covers that case).
                            let stream = FirstByteDeadline::new(stream, handshake_timeout);
                            serve(stream, protocol, &builder, service, watcher).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
    Ok(())
}

type Service = TowerToHyperService<Router>;

/// Which protocol a plain connection speaks, from its first bytes; `None` when the client
/// sends nothing (or closes) within `timeout`.
async fn sniff(stream: &TcpStream, timeout: Duration) -> Option<Protocol> {
    let decide = async {
        let mut buf = [0u8; H2_PREFACE.len()];
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            if buf[..n] != H2_PREFACE[..n] {
                return Some(Protocol::Http1);
            }
            if n == H2_PREFACE.len() {
                return Some(Protocol::Http2);
            }
            // A partial preface: peek returns at once while those bytes are unread, so wait
            // a little for the rest instead of spinning.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(timeout, decide).await.ok().flatten()
}

async fn serve<I>(
    io: I,
    protocol: Protocol,
    builder: &auto::Builder<TokioExecutor>,
    service: Service,
    watcher: Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let builder = match protocol {
        Protocol::Http1 => builder.clone().http1_only(),
        Protocol::Http2 => builder.clone().http2_only(),
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    watcher.watch(conn.into_owned()).await
}

/// A stream whose reads fail with `TimedOut` if the first byte does not arrive in time.
struct FirstByteDeadline<S> {
    inner: S,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FirstByteDeadline<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        FirstByteDeadline {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstByteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.deadline = None;
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request before the timeout",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstByteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
