//! Protections around the API: CORS, rate limits and Idempotency-Key.
//! Each is a layer, so handlers stay free of them.

pub mod cors;
pub mod idempotency;
pub mod ratelimit;

/// Runs a mutating request in its own task, which the connection only
/// awaits. Hyper drops a handler's future when the client disconnects; an
/// operation stopped between its lock and its settle would leave the hold
/// locked until the janitor, and the Idempotency-Key record in flight. In
/// its own task the operation (and the key's record) always finishes.
pub async fn detach(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS) {
        return next.run(req).await;
    }
    let span = tracing::Span::current();
    match tokio::spawn(tracing::Instrument::instrument(next.run(req), span)).await {
        Ok(resp) => resp,
        Err(e) => crate::error::ApiError::Internal(format!("request task ended: {e}")).into_response(),
    }
}
