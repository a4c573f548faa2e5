//! Limits that hold against slow, idle and numerous clients (issue 20): one accept loop that
//! gives every connection a header-read deadline (which also closes idle keep-alive
//! connections), caps the connections it serves and keeps some for the internal API and the
//! health and metrics routes, and bodies that must arrive at a minimum rate.
//!
//! A slow client delays only itself: its connection is closed, or its request refused with
//! `408`, while others are served.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use strata_core::api::{ApiError, codes};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceExt};
use tracing::{debug, warn};

use super::HttpError;
use super::settings::HttpConfig;
use super::tls::{ClientCertificate, Tls};
use super::transport::JsonErrorsIo;

/// Routes served even when every ordinary connection is taken: the quorum's internal API, so a
/// flood of clients cannot cut a voter off its peers, and what operators watch the node with.
fn is_reserved(path: &str) -> bool {
    path.starts_with("/internal/") || matches!(path, "/readyz" | "/healthz" | "/metrics")
}

/// Counts the open connections; a connection's [`Open`] gives its place back when dropped.
#[derive(Debug, Default)]
struct Connections {
    open: AtomicUsize,
    closed: Notify,
}

struct Open(Arc<Connections>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_one();
    }
}

fn too_many(max: usize) -> Response {
    let e = ApiError::unavailable(
        codes::OVERLOADED,
        format!("this node is serving its limit of {max} connections; retry shortly"),
        1,
    );
    let mut r = HttpError(e).into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: &HttpConfig,
    tls: Option<Arc<Tls>>,
    shutdown: CancellationToken,
) where
    S: Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let connections = Arc::new(Connections::default());
    let tasks = TaskTracker::new();
    let max = limits.max_connections;
    let total = max + limits.reserved_connections;
    let (rate, grace) = (limits.min_body_rate, limits.body_timeout);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    loop {
        // Beyond every connection it may hold, the node accepts no more until one closes: the
        // kernel's backlog keeps the rest waiting.
        while connections.open.load(Ordering::SeqCst) >= total {
            tokio::select! {
                _ = connections.closed.notified() => {}
                _ = shutdown.cancelled() => break,
            }
        }
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, say: wait for connections to close, not spin.
                warn!(error = %e, "cannot accept a connection");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        connections.open.fetch_add(1, Ordering::SeqCst);
        let open = Open(connections.clone());
        let serve = Serve {
            app: app.clone(),
            counts: connections.clone(),
            max,
            rate,
            grace,
            peer,
            stop: shutdown.clone(),
        };
        let (builder, tls, handshake) = (builder.clone(), tls.clone(), limits.header_timeout);
        tasks.spawn(async move {
            let _open = open;
            let Some(tls) = tls else {
                return serve.connection(&builder, tcp, None).await;
            };
            // The handshake must end within the header deadline, as a request's head must.
            let stream = tokio::select! {
                s = tokio::time::timeout(handshake, tls.acceptor().accept(tcp)) => s,
                _ = serve.stop.cancelled() => return,
            };
            match stream {
                Ok(Ok(stream)) => {
                    let client = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| ClientCertificate::of(c));
                    serve.connection(&builder, stream, client).await;
                }
                Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
}

/// What serving one connection needs.
struct Serve<S> {
    app: S,
    counts: Arc<Connections>,
    max: usize,
    rate: u64,
    grace: Duration,
    peer: std::net::SocketAddr,
    stop: CancellationToken,
}

impl<S> Serve<S>
where
    S: Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    /// Serves requests on `io` until the client leaves or the node stops; `client` is what the
    /// connection's client certificate names.
    async fn connection<I>(
        self,
        builder: &Builder<TokioExecutor>,
        io: I,
        client: Option<ClientCertificate>,
    ) where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            app,
            counts,
            max,
            rate,
            grace,
            peer,
            stop,
        } = self;
        let service = tower::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let app = app.clone();
            let over = counts.open.load(Ordering::SeqCst) > max;
            let client = client.clone();
            async move {
                if over && !is_reserved(req.uri().path()) {
                    return Ok::<_, std::convert::Infallible>(too_many(max));
                }
                let mut req = req.map(|b| Body::new(SlowBody::new(b, rate, grace)));
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                if let Some(c) = client {
                    req.extensions_mut().insert(c);
                }
                app.oneshot(req).await
            }
        });
        let conn = builder
            .serve_connection(
                TokioIo::new(JsonErrorsIo::new(io)),
                TowerToHyperService::new(service),
            )
            .into_owned();
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
        }
        if let Err(e) = conn.await {
            debug!(%peer, error = %e, "connection ended");
        }
    }
}

/// Why a body was cut off: it arrived slower than the node's minimum rate.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body arrived too slowly: {received} bytes in {elapsed_s:.1} s, slower than {rate} bytes/s after the first {grace_s:.0} s"
)]
pub struct TooSlow {
    received: u64,
    elapsed_s: f64,
    rate: u64,
    grace_s: f64,
}

/// A request body that must arrive at `rate` bytes per second once `grace` has passed: by
/// `grace + n / rate` after the request began, `n` bytes must have arrived.
struct SlowBody<B> {
    inner: B,
    started: tokio::time::Instant,
    received: u64,
    rate: u64,
    grace: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<B> SlowBody<B> {
    fn new(inner: B, rate: u64, grace: Duration) -> Self {
        let started = tokio::time::Instant::now();
        Self {
            inner,
            started,
            received: 0,
            rate,
            grace,
            deadline: Box::pin(tokio::time::sleep_until(started + grace)),
        }
    }

    fn due(&self) -> tokio::time::Instant {
        let allowed = Duration::from_secs_f64(self.received as f64 / self.rate.max(1) as f64);
        self.started + self.grace + allowed
    }
}

impl<B> http_body::Body for SlowBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                    let due = self.due();
                    self.deadline.as_mut().reset(due);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(TooSlow {
                    received: self.received,
                    elapsed_s: self.started.elapsed().as_secs_f64(),
                    rate: self.rate,
                    grace_s: self.grace.as_secs_f64(),
                })))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The `408` for a body the node cut off as too slow, if `e` is that.
pub fn too_slow(e: &(dyn std::error::Error + 'static)) -> Option<ApiError> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(slow) = s.downcast_ref::<TooSlow>() {
            return Some(ApiError::new(408, codes::REQUEST_TIMEOUT, slow.to_string()));
        }
        source = s.source();
    }
    None
}
