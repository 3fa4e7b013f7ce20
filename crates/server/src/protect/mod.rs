//! Protections around the API: CORS, rate limits and Idempotency-Key.
//! Each is a part of the edge (`edge.rs`, one service around every route),
//! so handlers stay free of them.

pub mod authn;
pub(crate) mod body;
pub mod client;
mod coalesce;
pub mod cors;
pub mod edge;
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
/// `observe::around` on every response.
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
        // names the parameter: "duplicate field `limit`"). Boxed: rare, and
        // reading a body makes a future every response would carry.
        resp = Box::pin(async move {
            let status = resp.status();
            let reason = axum::body::to_bytes(resp.into_body(), 1024).await.ok();
            let reason = reason.map(|b| String::from_utf8_lossy(&b).trim().to_string()).filter(|r| !r.is_empty());
            envelope_for(status, reason)
        })
        .await;
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
