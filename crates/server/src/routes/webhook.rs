//! `POST /webhook`: Stripe's events. Verify the raw bytes, deduplicate by
//! event id, apply, acknowledge. A bad signature is a 400 and changes
//! nothing; an unknown event type is acknowledged with a 200.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chittycharge_api::ErrorBody;
use chittycharge_core::events::Processed;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;
use chittycharge_processor::stripe::signature::verify;

fn reject(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(ErrorBody { error: message.to_string(), code: code.to_string(), details: None })).into_response()
}

pub(crate) async fn stripe_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(header) = headers.get("stripe-signature").and_then(|v| v.to_str().ok()) else {
        return Ok(reject(StatusCode::BAD_REQUEST, "webhook_signature_missing", "Missing stripe-signature header"));
    };
    let secrets: Vec<&[u8]> =
        state.config.stripe_webhook_secrets.iter().map(|s| s.expose_secret().as_bytes()).collect();
    if secrets.is_empty() {
        // 503, not 400: a real delivery is retried by Stripe until the
        // secret is set. Reported at most once a minute: anyone can send
        // these, and each is in the access log already.
        static LAST_LOGGED_SECS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);
        let now_secs = state.holds.now().secs();
        let last = LAST_LOGGED_SECS.load(std::sync::atomic::Ordering::Relaxed);
        if now_secs.saturating_sub(last) >= 60 {
            LAST_LOGGED_SECS.store(now_secs, std::sync::atomic::Ordering::Relaxed);
            tracing::error!("a webhook arrived but STRIPE_WEBHOOK_SECRET is not configured (logged once a minute)");
        }
        return Ok(reject(StatusCode::SERVICE_UNAVAILABLE, "webhook_not_configured", "Webhooks are not configured"));
    }
    let now = state.holds.now();
    let signed_at = match verify(&body, header, &secrets, now.secs(), state.config.webhook_tolerance_secs) {
        Ok(t) => t,
        Err(e) => {
            metrics::counter!("chittycharge_webhook_events_total", "type" => "unverified", "result" => "bad_signature")
                .increment(1);
            tracing::warn!(error = %e, "rejected a webhook with a bad signature");
            return Ok(reject(StatusCode::BAD_REQUEST, "webhook_signature_invalid", &e.to_string()));
        }
    };
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return Ok(reject(StatusCode::BAD_REQUEST, "invalid_json", "Webhook body is not a JSON event"));
    };
    match state.holds.process_event(&event, signed_at).await? {
        Processed::Done | Processed::Duplicate => Ok(Json(json!({ "received": true })).into_response()),
        Processed::Malformed => {
            Ok(reject(StatusCode::BAD_REQUEST, "invalid_json", "Webhook event needs an id and a type"))
        }
        Processed::Replay => {
            Ok(reject(StatusCode::BAD_REQUEST, "webhook_replayed", "This delivery was already received"))
        }
    }
}
