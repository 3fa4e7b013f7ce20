//! `GET /health`: probes the store and the processor for real. 503 with
//! `"status":"degraded"` when the store is down, since then nothing works.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chittycharge_api::{ComponentHealth, Health};

use crate::app::AppState;
use crate::config::ProcessorKind;

fn component(ok: bool, kind: &str, detail: Option<String>) -> ComponentHealth {
    ComponentHealth { status: if ok { "ok" } else { "down" }.into(), kind: kind.into(), detail }
}

pub async fn health(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    let store = state.store.ping().await;
    let processor = state.holds.processor.ping().await;
    let store_ok = store.is_ok();
    let status = if store_ok && processor.is_ok() { "healthy" } else { "degraded" };
    let chitty = match &state.config.chitty_id_token {
        Some(_) => match state.holds.chitty.probe().await {
            Ok(()) => component(true, "chittyid", Some(state.config.chitty_id_url.clone())),
            Err(_) => component(
                false,
                "chittyid",
                Some(format!("{} unreachable; new holds get PENDING ids", state.config.chitty_id_url)),
            ),
        },
        None => ComponentHealth {
            status: "local".into(),
            kind: "chittyid".into(),
            detail: Some("CHITTY_ID_TOKEN not set; ids are minted locally".into()),
        },
    };
    let body = Health {
        status: status.into(),
        service: "chittycharge".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        store: component(store_ok, state.store.backend().as_str(), store.err().map(|_| "unreachable".to_string())),
        processor: component(
            processor.is_ok(),
            state.holds.processor.name(),
            processor.err().map(|_| "unreachable".to_string()),
        ),
        chittyid: chitty,
        stripe_connected: state.config.processor == ProcessorKind::Stripe && state.config.stripe_secret_key.is_some(),
        chittyid_connected: state.config.chitty_id_token.is_some(),
    };
    let code = if store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}
