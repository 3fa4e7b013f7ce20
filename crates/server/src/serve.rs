//! The accept loop. Written on hyper-util rather than with `axum::serve`,
//! which offers no header-read timeout and no connection cap: a client that
//! opens sockets and never finishes its headers would otherwise hold them
//! (and file descriptors) for ever.
//!
//! - at most `max_connections` connections at once; past that a new
//!   connection is closed at once and counted;
//! - `header_read_timeout`: a request's headers must arrive within it, and a
//!   kept-alive connection that sends no new request within it is closed;
//! - the request body must arrive within `body_timeout` (a layer in app.rs).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_grace: Duration,
}

pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("chittycharge_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = in_flight.clone();
        let router = router.clone();
        let app = tower::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let guard = InFlight::enter(&counter);
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let resp = router.oneshot(req).await;
                drop(guard);
                resp
            }
        });
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        builder.http2().timer(TokioTimer::new()).keep_alive_interval(None);
        let io = TokioIo::new(IdleIo::new(stream, limits.header_read_timeout, in_flight));
        let conn = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(app)).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, client.ip = %peer.ip(), "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(
        grace_ms = u64::try_from(limits.shutdown_grace.as_millis()).unwrap_or(u64::MAX),
        "shutting down: finishing requests in flight"
    );
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown grace period over; closing the remaining connections");
    } else {
        tracing::info!("every request in flight finished");
    }
    Ok(())
}

/// A connection's stream that fails its next read once nothing has moved in
/// either direction for `idle` while no request is in flight: hyper's
/// header-read timeout starts only at a request's first byte, so a socket
/// that never sends one, or a kept-alive one that goes quiet, is closed
/// here. Requests that take long (a slow processor) are never cut: time
/// with a request in flight does not count.
struct IdleIo<T> {
    inner: T,
    idle: Duration,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

impl<T> IdleIo<T> {
    fn new(inner: T, idle: Duration, in_flight: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        Self { inner, idle, sleep: Box::pin(tokio::time::sleep(idle)), in_flight }
    }
    fn touch(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.sleep.as_mut().reset(next);
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for IdleIo<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if self.sleep.as_mut().poll(cx).is_ready() {
                    if self.in_flight.load(std::sync::atomic::Ordering::Acquire) == 0 {
                        return Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "connection idle for too long",
                        )));
                    }
                    self.touch();
                    let _ = self.sleep.as_mut().poll(cx);
                }
                Poll::Pending
            }
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for IdleIo<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts a connection's requests in flight for [`IdleIo`]; the count drops
/// when the response is ready or the request is abandoned.
struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}
