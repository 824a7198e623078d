//! The accept loop of every HTTP server sluice runs (the API's, and `http_server` components'
//! own addresses): optional TLS, bounded waits for slow or idle clients, the peer's address
//! for handlers (`ConnectInfo`), and a graceful stop.
//!
//! Timeouts: a request's headers must arrive within `header_timeout`, counted from when the
//! connection is ready for a request, so the same bound closes idle keep-alive connections
//! (and slowloris ones); a request body may pause at most `body_timeout` between chunks; a TLS
//! handshake must finish within `header_timeout`.

pub mod cors;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tower::ServiceExt;

/// How a server treats its connections.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// TLS, when the server serves HTTPS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Time allowed to receive a request's headers (and to wait idle for the next request).
    pub header_timeout: Duration,
    /// Longest pause while receiving a request body.
    pub body_timeout: Duration,
    /// How long a stop waits for open connections to finish their requests.
    pub drain_timeout: Duration,
}

/// Default of [`ServerOptions::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`ServerOptions::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            tls: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            drain_timeout: Duration::from_secs(1),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting at once (the
/// port is released when this returns) and gives open connections up to
/// `opts.drain_timeout` to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if opts.tls.is_none() {
        // HTTP/2 only over TLS (ALPN), as Go's server does: cleartext HTTP/2 would have no
        // header timeout.
        builder = builder.http1_only();
    }
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(opts.header_timeout))
        .keep_alive_timeout(opts.header_timeout);
    let acceptor = opts.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let body_timeout = opts.body_timeout;
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let mut req = req.map(|b| Body::new(BodyTimeout::new(b, body_timeout)));
            req.extensions_mut().insert(ConnectInfo(remote));
            app.clone().oneshot(req)
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let handshake_timeout = opts.header_timeout;
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            let result = match acceptor {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %remote, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(peer = %remote, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::trace!(peer = %remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Open connections finish their requests within the drain bound; then they are closed
    // (long polls, streams and websockets included).
    let _ = tokio::time::timeout(opts.drain_timeout, graceful.shutdown()).await;
    connections.abort_all();
}

pin_project_lite::pin_project! {
    /// A request body that fails when it makes no progress for `timeout`. The timer is armed
    /// only while the body is waiting for data, so a body that is already there (the common
    /// case) costs no timer at all.
    struct BodyTimeout<B> {
        #[pin]
        body: B,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
        timeout: Duration,
    }
}

impl<B> BodyTimeout<B> {
    fn new(body: B, timeout: Duration) -> BodyTimeout<B> {
        BodyTimeout {
            body,
            sleep: None,
            timeout,
        }
    }
}

/// The body paused for longer than the server's body timeout.
#[derive(Debug, thiserror::Error)]
#[error("request body timed out")]
struct BodyTimedOut;

impl<B> http_body::Body for BodyTimeout<B>
where
    B: http_body::Body,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, axum::BoxError>>> {
        use std::task::Poll;
        let mut this = self.project();
        match this.body.poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep.set(None);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if this.sleep.is_none() {
                    this.sleep.set(Some(tokio::time::sleep(*this.timeout)));
                }
                let expired = this
                    .sleep
                    .as_pin_mut()
                    .is_some_and(|sleep| sleep.poll(cx).is_ready());
                if expired {
                    Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
