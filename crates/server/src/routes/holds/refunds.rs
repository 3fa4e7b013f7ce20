//! `POST /api/holds/{id}/refunds` and `GET /api/holds/{id}/refunds`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chittycharge_api::{RefundList, RefundResponse};
use chittycharge_core::refunds::RefundCommand;
use chittycharge_core::CoreError;
use chittycharge_domain::PositiveAmount;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Fields, JsonBody};
use crate::state::AppState;
use crate::views::{hold_view, refund_view};

/// `{}` refunds everything captured and not yet refunded; `amount` refunds
/// part; `lines` itemize it (and must add up to `amount` when both come).
fn parse_refund(body: Option<serde_json::Map<String, serde_json::Value>>) -> Result<RefundCommand, CoreError> {
    let body = body.unwrap_or_default();
    let f = Fields(&body);
    f.only(&["amount", "reason", "lines"])?;
    f.refuse_null(&["amount", "lines"], "refund in full")?;
    let requested = f.int("amount")?.map(PositiveAmount::new).transpose().map_err(|_| {
        CoreError::validation("amount", "amount must be a positive number of minor units; omit it to refund in full")
    })?;
    let reason = f.string("reason", 500)?;
    let (amount, lines) = super::actions::amount_with_lines(&body, requested, "amount")?;
    Ok(RefundCommand { amount, reason, lines: lines.map(serde_json::Value::Array), form_key: None })
}

pub(crate) async fn refund_hold(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<RefundResponse>), ApiError> {
    let cmd = parse_refund(body)?;
    let outcome = state.holds.refund(&id, cmd, &caller).await?;
    let refunds = state.holds.refunds(&id, &caller).await?;
    let refund = refunds
        .iter()
        .find(|o| o.id == outcome.operation_id)
        .map(refund_view)
        .ok_or_else(|| ApiError::from(CoreError::NotFound))?;
    Ok((StatusCode::CREATED, Json(RefundResponse { refund, hold: hold_view(&outcome.hold) })))
}

pub(crate) async fn list_refunds(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RefundList>, ApiError> {
    let refunds = state.holds.refunds(&id, &caller).await?;
    Ok(Json(RefundList { hold_id: id, refunds: refunds.iter().map(refund_view).collect(), has_more: false }))
}
