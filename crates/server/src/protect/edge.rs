//! The request's way in, as one service around every route: observation
//! (request id, span, metrics, security headers, the durability barrier),
//! CORS, the body deadline, the task a mutating request runs in, and
//! authentication with `Idempotency-Key`.
//!
//! Written as one `tower::Service` rather than a stack of
//! `middleware::from_fn` layers: each such layer costs a boxed future, a
//! `Next` and a clone of the boxed service behind it on every request, and
//! the benchmark's 401 and health rows are almost nothing else. Here a
//! request costs one boxed future and one clone of the route.
//!
//! CORS stays tower-http's: a request that carries an `Origin` header goes
//! through its `Cors` service. One without (a server-to-server call, `curl`,
//! a health probe) is not a cross-origin request, and browsers read CORS
//! headers only on those; it gets `Vary: Origin`, so a shared cache keeps
//! its answer apart from a browser's.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use tower::{Layer, Service};
use tower_http::cors::{Cors, CorsLayer};

use crate::state::AppState;

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Wraps each route (and the fallback) in an [`Edge`].
#[derive(Clone)]
pub struct EdgeLayer {
    state: Arc<AppState>,
    cors: CorsLayer,
}

impl EdgeLayer {
    pub fn new(state: Arc<AppState>, cors: CorsLayer) -> Self {
        Self { state, cors }
    }
}

impl Layer<Route> for EdgeLayer {
    type Service = Edge;
    fn layer(&self, route: Route) -> Edge {
        let guard = Guard { state: self.state.clone(), route: route.clone() };
        Edge(Arc::new(Parts { state: self.state.clone(), route, cors: self.cors.layer(guard) }))
    }
}

/// Behind one `Arc`: the router clones a route's service for every request,
/// and a `Cors` service is a dozen fields.
#[derive(Clone)]
pub struct Edge(Arc<Parts>);

struct Parts {
    state: Arc<AppState>,
    route: Route,
    cors: Cors<Guard>,
}

impl Service<Request> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A route is always ready (axum's `Route` is a boxed handler).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Answer {
        // One count on the shared parts, not one per field: each is an
        // atomic on a line both worker threads write.
        let parts = self.0.clone();
        if req.headers().contains_key(header::ORIGIN) {
            Box::pin(async move {
                let cors = parts.cors.clone();
                let inner = move |r| crate::protect::body::run(cors, r);
                Ok(crate::observe::around(&parts.state, req, inner).await)
            })
        } else {
            Box::pin(async move {
                let inner = |r| async {
                    let mut resp = guard(&parts.state, r, parts.route.clone()).await;
                    resp.headers_mut().append(header::VARY, HeaderValue::from_static("origin"));
                    resp
                };
                Ok(crate::observe::around(&parts.state, req, inner).await)
            })
        }
    }
}

/// What CORS wraps: everything inside observation.
#[derive(Clone)]
pub struct Guard {
    state: Arc<AppState>,
    route: Route,
}

impl Service<Request> for Guard {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Answer {
        let (state, route) = (self.state.clone(), self.route.clone());
        Box::pin(async move { Ok(guard(&state, req, route).await) })
    }
}

/// A request body gets `CHITTYCHARGE_BODY_TIMEOUT_MS` in all, and a
/// mutating request runs in its own task, which the connection only awaits.
/// Hyper drops a handler's future when the client disconnects; an operation
/// stopped between its lock and its settle would leave the hold locked until
/// the janitor, and the Idempotency-Key record in flight. In its own task
/// the operation (and the key's record) always finishes.
async fn guard(state: &Arc<AppState>, req: Request, route: Route) -> Response {
    // A request with no body (most GETs) has nothing to time: no timer.
    let req = if http_body::Body::size_hint(req.body()).exact() == Some(0) {
        req
    } else {
        let limit = std::time::Duration::from_millis(state.config.edge.body_timeout_ms);
        let (parts, body) = req.into_parts();
        let body = DeadlineBody { inner: body, deadline: Box::pin(tokio::time::sleep(limit)) };
        Request::from_parts(parts, axum::body::Body::new(body))
    };
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return crate::protect::authn::require_token(state, req, route).await;
    }
    let span = tracing::Span::current();
    let state = state.clone();
    let work = async move { crate::protect::authn::require_token(&state, req, route).await };
    // The request's Server-Timing cell (timing.rs) goes along into the task.
    let task = match crate::timing::current() {
        Some(waits) => tokio::spawn(tracing::Instrument::instrument(crate::timing::scope(waits, work), span)),
        None => tokio::spawn(tracing::Instrument::instrument(work, span)),
    };
    match task.await {
        Ok(resp) => resp,
        Err(e) => crate::error::ApiError::Internal(format!("request task ended: {e}")).into_response(),
    }
}

/// A request body that must be complete by a fixed deadline counted from
/// the end of its headers: a timeout per read would let a client that sends
/// one byte at a time hold the connection for as long as it likes.
struct DeadlineBody {
    inner: axum::body::Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if Future::poll(self.deadline.as_mut(), cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(crate::protect::body::BodyDeadline))));
        }
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
