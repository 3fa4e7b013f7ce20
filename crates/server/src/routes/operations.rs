//! `GET /api/operations/{id}`: what became of an operation, for a caller
//! that got `503 processor_outcome_unknown` with its id.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chittycharge_api::iso_millis;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::Caller;
use crate::core::CoreError;
use crate::error::ApiError;

pub async fn get_operation(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_read()?;
    let op = state.store.get_operation(&id).await?.ok_or(CoreError::NotFound)?;
    if let Some(hold_id) = &op.hold_id {
        state.holds.visible_hold(hold_id, &caller).await?;
    } else if caller.property_ids.is_some() {
        return Err(CoreError::NotFound.into());
    }
    Ok(Json(json!({
        "id": op.id,
        "kind": op.kind,
        "status": op.status.as_str(),
        "hold_id": op.hold_id,
        "error": op.error,
        "attempts": op.attempts,
        "created_at": iso_millis(op.created_at.millis()),
        "updated_at": iso_millis(op.updated_at.millis()),
    })))
}

/// `GET /api/jobs`: counts of durable jobs by kind and status.
pub async fn job_counts(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.require_read()?;
    let counts = state.store.job_counts(state.holds.now()).await?;
    let due: i64 = counts.iter().map(|c| c.due).sum();
    let running: i64 = counts.iter().filter(|c| c.status == "running").map(|c| c.count).sum();
    Ok(Json(json!({
        "due": due,
        "running": running,
        "jobs": counts.iter().map(|c| json!({"kind": c.kind, "status": c.status, "count": c.count, "due": c.due})).collect::<Vec<_>>(),
    })))
}
