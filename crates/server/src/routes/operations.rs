//! `GET /api/operations/{id}`: what became of an operation, for a caller
//! that got `503 processor_outcome_unknown` with its id.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chittycharge_api::iso_millis;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Fields, JsonBody};
use crate::state::AppState;
use chittycharge_core::operations::Resolution;
use chittycharge_core::CoreError;
use chittycharge_store::Operation;

pub(super) async fn get_operation(
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
    Ok(Json(operation_view(&op)))
}

pub(super) fn operation_view(op: &Operation) -> Value {
    json!({
        "id": op.id,
        "kind": op.kind,
        "status": op.status.as_str(),
        "hold_id": op.hold_id,
        "error": op.error,
        "attempts": op.attempts,
        "created_at": iso_millis(op.created_at.millis()),
        "updated_at": iso_millis(op.updated_at.millis()),
    })
}

/// `GET /api/operations/stuck`: unsettled operations the janitor gave up on.
pub(super) async fn stuck_operations(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let list = state.holds.stuck_operations(&caller, state.config.janitor_schedule.len()).await?;
    // The oldest STUCK_SHOWN; settling them brings the next ones up.
    let has_more = list.len() >= chittycharge_core::STUCK_SHOWN;
    Ok(Json(json!({ "operations": list.iter().map(operation_view).collect::<Vec<_>>(), "has_more": has_more })))
}

/// `POST /api/operations/{id}/resolve {"action": "reread" | "release"}`.
pub(super) async fn resolve_operation(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = body.unwrap_or_default();
    let action = Fields(&body).string("action", 20)?.unwrap_or_else(|| "reread".into());
    let action: Resolution = action.parse().map_err(|e: String| CoreError::validation("action", e))?;
    let r = state.holds.resolve_operation(&id, action, &caller).await?;
    Ok(Json(json!({
        "operation": operation_view(&r.operation),
        "hold": r.hold.as_ref().map(crate::views::hold_view),
    })))
}

/// `GET /api/jobs`: counts of durable jobs by kind and status.
pub(super) async fn job_counts(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.require_read()?;
    // Counts across every property: not for a token restricted to some.
    if caller.property_ids.is_some() {
        return Err(
            CoreError::Forbidden { message: "Job counts need a token not restricted to properties".into() }.into()
        );
    }
    let counts = state.store.job_counts(state.holds.now()).await?;
    let due: i64 = counts.iter().map(|c| c.due).sum();
    let running: i64 = counts.iter().filter(|c| c.status == "running").map(|c| c.count).sum();
    Ok(Json(json!({
        "due": due,
        "running": running,
        "jobs": counts.iter().map(|c| json!({"kind": c.kind, "status": c.status, "count": c.count, "due": c.due})).collect::<Vec<_>>(),
    })))
}
