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
use chittycharge_store::EventClaim;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::error::ApiError;
use crate::signature::verify;

fn reject(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(ErrorBody { error: message.to_string(), code: code.to_string(), details: None })).into_response()
}

pub async fn stripe_webhook(
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
        tracing::error!("a webhook arrived but STRIPE_WEBHOOK_SECRET is not configured");
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
    match process_event(&state, &event, signed_at).await? {
        Processed::Done | Processed::Duplicate => Ok(Json(json!({ "received": true })).into_response()),
        Processed::Malformed => {
            Ok(reject(StatusCode::BAD_REQUEST, "invalid_json", "Webhook event needs an id and a type"))
        }
        Processed::Replay => {
            Ok(reject(StatusCode::BAD_REQUEST, "webhook_replayed", "This delivery was already received"))
        }
    }
}

pub enum Processed {
    Done,
    Duplicate,
    Replay,
    Malformed,
}

/// Deduplicates and applies one authentic event. Stripe's deliveries (after
/// signature verification) and the simulator's events both come here.
///
/// Applied first, recorded after: applying is idempotent (it re-reads the
/// PaymentIntent and folds its state into the hold, under the hold's
/// version), so a delivery that races another, or that arrives again after a
/// crash between the two steps, is applied again harmlessly. Recording first
/// would lose an event whose claim committed just before a crash. It also
/// makes a typical event one durable write instead of two.
pub async fn process_event(state: &AppState, event: &Value, signed_at: i64) -> Result<Processed, ApiError> {
    let (Some(id), Some(kind)) = (event.get("id").and_then(Value::as_str), event.get("type").and_then(Value::as_str))
    else {
        return Ok(Processed::Malformed);
    };
    match state.store.webhook_event_seen(id, signed_at).await? {
        EventClaim::New => {}
        EventClaim::Duplicate => return Ok(Processed::Duplicate),
        EventClaim::Replay => return Ok(replayed(id)),
    }
    let result = state.holds.ingest_event(event).await?;
    metrics::counter!("chittycharge_webhook_events_total", "type" => kind.to_string(), "result" => result).increment(1);
    match state.store.record_webhook_event(id, kind, signed_at, state.holds.now(), result).await? {
        EventClaim::New => {
            tracing::info!(event.id = %id, event.kind = %kind, result, "processor event processed");
            Ok(Processed::Done)
        }
        // Another delivery of the same event was recorded meanwhile.
        EventClaim::Duplicate => Ok(Processed::Duplicate),
        EventClaim::Replay => Ok(replayed(id)),
    }
}

fn replayed(id: &str) -> Processed {
    tracing::warn!(event.id = %id, "rejected a replayed webhook delivery");
    Processed::Replay
}
