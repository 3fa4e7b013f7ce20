//! Protections around the API: CORS, rate limits and Idempotency-Key.
//! Each is a layer, so handlers stay free of them.

pub mod authn;
pub mod client;
mod coalesce;
pub mod cors;
pub mod idempotency;
pub mod ratelimit;

/// The page policy: scripts, styles, frames and forms only from our own
/// origin, never framed. The check-in page widens it for Stripe.js in Stripe
/// mode (`web::checkin`), and sets its own header, which this keeps.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// `nosniff` on every response, and the page policy on every HTML one: a
/// value that slips into a page can neither load nor run script. Called by
/// `observe::http` on every response (one layer fewer per request).
pub async fn secure(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if resp.status().is_client_error() && plain {
        // A framework rejection (oversized or unreadable body, wrong content
        // type, a query string that does not parse) answers in the same
        // envelope as every other error, with the framework's reason (it
        // names the parameter: "duplicate field `limit`").
        let status = resp.status();
        let reason = axum::body::to_bytes(resp.into_body(), 1024).await.ok();
        let reason = reason.map(|b| String::from_utf8_lossy(&b).trim().to_string()).filter(|r| !r.is_empty());
        resp = envelope_for(status, reason);
    }
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let html = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    if html && !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    }
    resp
}

fn envelope_for(status: axum::http::StatusCode, reason: Option<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (code, message) = match status.as_u16() {
        413 => ("payload_too_large", "Request body is too large"),
        415 => ("unsupported_media_type", "Unsupported Content-Type for this request"),
        405 | 404 => ("not_found", "Not found"),
        422 => ("validation_error", "The request body could not be understood"),
        _ => ("invalid_request", "The request could not be read"),
    };
    let details = reason.filter(|_| status.as_u16() == 400).map(|r| serde_json::json!({ "reason": r }));
    let body = chittycharge_api::ErrorBody { error: message.into(), code: code.into(), details };
    (status, axum::Json(body)).into_response()
}

/// A request body that must be complete by a fixed deadline counted from
/// the end of its headers: a timeout per read would let a client that sends
/// one byte at a time hold the connection for as long as it likes.
struct DeadlineBody {
    inner: axum::body::Body,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if std::future::Future::poll(self.deadline.as_mut(), cx).is_ready() {
            return std::task::Poll::Ready(Some(Err("the request body did not arrive in time".into())));
        }
        std::pin::Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The request's edge, in one layer (each layer is a boxed future and a
/// service clone per request): a request body gets
/// `CHITTYCHARGE_BODY_TIMEOUT_MS` in all, and a mutating request runs in its
/// own task, which the connection only awaits. Hyper drops a handler's
/// future when the client disconnects; an operation stopped between its lock
/// and its settle would leave the hold locked until the janitor, and the
/// Idempotency-Key record in flight. In its own task the operation (and the
/// key's record) always finishes.
pub async fn edge(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::state::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // A request with no body (most GETs) has nothing to time: no timer.
    let req = if http_body::Body::size_hint(req.body()).exact() == Some(0) {
        req
    } else {
        let limit = std::time::Duration::from_millis(state.config.edge.body_timeout_ms);
        let (parts, body) = req.into_parts();
        let body = DeadlineBody { inner: body, deadline: Box::pin(tokio::time::sleep(limit)) };
        axum::extract::Request::from_parts(parts, axum::body::Body::new(body))
    };
    if matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS) {
        return next.run(req).await;
    }
    let span = tracing::Span::current();
    // The request's Server-Timing cell (timing.rs) goes along into the task.
    let task = match crate::timing::current() {
        Some(waits) => tokio::spawn(tracing::Instrument::instrument(crate::timing::scope(waits, next.run(req)), span)),
        None => tokio::spawn(tracing::Instrument::instrument(next.run(req), span)),
    };
    match task.await {
        Ok(resp) => resp,
        Err(e) => crate::error::ApiError::Internal(format!("request task ended: {e}")).into_response(),
    }
}
