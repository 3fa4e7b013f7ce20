//! The one place errors become HTTP responses: `{"error", "code", "details"}`
//! with a stable machine `code`. 5xx bodies are opaque; their cause is logged
//! once, here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chittycharge_api::{iso_millis, ErrorBody};
use chittycharge_store::StoreError;
use serde_json::json;

use chittycharge_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("Not found")]
    RouteNotFound,
    #[error("Request body too large")]
    PayloadTooLarge { limit: usize },
    #[error("The request body did not arrive in time")]
    BodyTimeout,
    #[error("{message}")]
    BadJson { message: String },
    #[error("Rate limit exceeded")]
    /// `limited` names what was counted: a token (`token 'install'
    /// (tok_…)`), failed authentications from an address, a hold's card form.
    RateLimited { limit: u32, retry_after: u64, limited: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Core(CoreError::Store(e))
    }
}

fn body(status: StatusCode, code: &str, error: String, details: Option<serde_json::Value>) -> Response {
    let mut resp = (status, axum::Json(ErrorBody { error, code: code.to_string(), details })).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The 401 answer is the same for every request, and requests without a
/// token are the cheapest an attacker can send: its body is rendered once,
/// from the same `ErrorBody` as every other error, and shared.
fn unauthorized() -> Response {
    // Kept for the process (46 bytes, once) so each answer borrows it: a
    // shared buffer's clone is an atomic count both worker threads write.
    static BODY: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();
    let bytes = BODY.get_or_init(|| {
        let json = ErrorBody { error: ApiError::Unauthorized.to_string(), code: "unauthorized".into(), details: None };
        Box::leak(serde_json::to_vec(&json).unwrap_or_default().into_boxed_slice())
    });
    let mut resp = Response::new(axum::body::Body::from(axum::body::Bytes::from_static(bytes)));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Unauthorized) {
            return unauthorized();
        }
        let msg = self.to_string();
        match self {
            ApiError::Unauthorized => unauthorized(),
            ApiError::Forbidden(_) => body(StatusCode::FORBIDDEN, "forbidden", msg, None),
            ApiError::RouteNotFound => body(StatusCode::NOT_FOUND, "not_found", msg, None),
            ApiError::PayloadTooLarge { limit } => {
                body(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", msg, Some(json!({ "limit_bytes": limit })))
            }
            ApiError::BadJson { .. } => body(StatusCode::BAD_REQUEST, "invalid_json", msg, None),
            ApiError::BodyTimeout => body(StatusCode::REQUEST_TIMEOUT, "request_timeout", msg, None),
            ApiError::RateLimited { limit, retry_after, limited } => {
                let mut r = body(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "Rate limit exceeded for {limited}. Maximum {limit} requests per minute; \
                         try again in {retry_after} s."
                    ),
                    Some(json!({ "limited": limited, "limit_per_minute": limit, "retry_after_secs": retry_after })),
                );
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            ApiError::Internal(cause) => {
                tracing::error!(error.cause = %cause, "internal error");
                body(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Internal server error".into(), None)
            }
            ApiError::Core(core) => core_response(core),
        }
    }
}

fn core_response(e: CoreError) -> Response {
    let msg = e.to_string();
    match e {
        CoreError::Validation { field, .. } => {
            body(StatusCode::BAD_REQUEST, "validation_error", msg, Some(json!({ "field": field })))
        }
        CoreError::MissingFields { field } => {
            body(StatusCode::BAD_REQUEST, "missing_fields", msg, Some(json!({ "field": field })))
        }
        // The nested `details.details` is the original's shape; kept for parity.
        CoreError::TierExceeded { tier, limit } => body(
            StatusCode::BAD_REQUEST,
            "tier_limit_exceeded",
            msg,
            Some(json!({
                "details": format!("Maximum hold: {}. Contact support to upgrade tier.", limit.display_compact()),
                "current_tier": tier.as_str(),
                "max_amount": limit.minor(),
            })),
        ),
        CoreError::TierNotAllowed { asserted, derived, reason } => body(
            StatusCode::BAD_REQUEST,
            "tier_not_allowed",
            msg,
            Some(
                json!({ "field": "metadata.guest_tier", "asserted_tier": asserted.as_str(), "derived_tier": derived.as_str(), "reason": reason }),
            ),
        ),
        CoreError::NotFound => body(StatusCode::NOT_FOUND, "not_found", msg, None),
        CoreError::Forbidden { .. } => body(StatusCode::FORBIDDEN, "forbidden", msg, None),
        CoreError::InvalidState { status, .. } => {
            body(StatusCode::CONFLICT, "invalid_state", msg, Some(json!({ "status": status })))
        }
        CoreError::Expired { capture_before } => body(
            StatusCode::CONFLICT,
            "hold_expired",
            msg,
            Some(json!({ "capture_before": capture_before.map(|t| iso_millis(t.millis())) })),
        ),
        CoreError::ExceedsCapturable { requested, capturable } => body(
            StatusCode::CONFLICT,
            "amount_exceeds_capturable",
            msg,
            Some(json!({ "requested": requested, "amount_capturable": capturable })),
        ),
        CoreError::ExceedsRefundable { requested, refundable } => body(
            StatusCode::CONFLICT,
            "amount_exceeds_refundable",
            msg,
            Some(json!({ "requested": requested, "refundable": refundable })),
        ),
        CoreError::IncrementUnavailable => {
            body(StatusCode::CONFLICT, "incremental_authorization_unavailable", msg, None)
        }
        CoreError::Busy => {
            let mut r = body(StatusCode::CONFLICT, "operation_in_progress", msg, None);
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r.extensions_mut().insert(Replay::Never);
            r
        }
        CoreError::Declined { decline_code, hold_id, .. } => body(
            StatusCode::PAYMENT_REQUIRED,
            "card_declined",
            msg,
            Some(json!({ "decline_code": decline_code, "hold_id": hold_id })),
        ),
        CoreError::OutcomeUnknown { operation_id, hold_id } => {
            tracing::warn!(operation.id = %operation_id, "processor outcome unknown; left for reconciliation");
            let mut r = body(
                StatusCode::SERVICE_UNAVAILABLE,
                "processor_outcome_unknown",
                msg,
                Some(json!({ "operation_id": operation_id, "hold_id": hold_id, "retryable": true })),
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r.extensions_mut().insert(Replay::Keep);
            r
        }
        CoreError::ProcessorRejected { code, param, .. } => body(
            StatusCode::BAD_REQUEST,
            "processor_invalid_request",
            msg,
            Some(json!({ "processor_code": code, "field": param })),
        ),
        CoreError::Idempotency { .. } => body(StatusCode::CONFLICT, "idempotency_error", msg, None),
        CoreError::ProcessorFailure(cause) => {
            tracing::error!(error.cause = %cause, "payment processor failure");
            body(StatusCode::BAD_GATEWAY, "processor_error", "Payment processor error".into(), None)
        }
        CoreError::Store(cause) => {
            tracing::error!(error.cause = %cause, "store failure");
            let mut r = body(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "Service temporarily unavailable".into(),
                None,
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// Set on a response by the error mapping to say whether its key may replay
/// it, where the status alone does not tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// A transient refusal (another operation holds the hold): a retry with
    /// the same key must run again, not get this answer back.
    Never,
    /// An unknown processor outcome: the retry learns the operation id
    /// instead of starting a second operation.
    Keep,
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parts(resp: Response) -> (StatusCode, Vec<(String, String)>, axum::body::Bytes) {
        let (parts, body) = resp.into_parts();
        let mut headers: Vec<_> =
            parts.headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
        headers.sort();
        (parts.status, headers, axum::body::to_bytes(body, 4096).await.unwrap_or_default())
    }

    #[tokio::test]
    async fn the_shared_401_is_exactly_what_the_envelope_renders_for_it() {
        let generic = body(StatusCode::UNAUTHORIZED, "unauthorized", ApiError::Unauthorized.to_string(), None);
        let want = parts(generic).await;
        for _ in 0..2 {
            assert_eq!(parts(ApiError::Unauthorized.into_response()).await, want);
        }
        assert_eq!(&want.2[..], br#"{"error":"Unauthorized","code":"unauthorized"}"#);
    }
}
