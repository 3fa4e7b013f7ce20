//! `POST /api/holds/{id}/confirm|capture|cancel|release`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chittycharge_api::{CancelResponse, CaptureResponse, HoldView};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Fields, JsonBody};
use crate::state::AppState;
use crate::views::{cancel_response, capture_response, hold_view};
use chittycharge_core::{CaptureCommand, CoreError};
use chittycharge_domain::PositiveAmount;

pub(crate) async fn confirm_hold(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<HoldView>, ApiError> {
    let body = body.unwrap_or_default();
    let pm = Fields(&body)
        .string("payment_method", 255)?
        .ok_or_else(|| CoreError::validation("payment_method", "payment_method is required"))?;
    Ok(Json(hold_view(&state.holds.confirm(&id, &pm, &caller).await?)))
}

/// An empty body or `{}` captures in full; `amount_to_capture` (or its
/// alias `amount`, which chittycommand sends) captures in part.
pub(crate) fn parse_capture(
    body: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<CaptureCommand, CoreError> {
    let body = body.unwrap_or_default();
    let f = Fields(&body);
    f.only(&["amount_to_capture", "amount", "reason", "lines"])?;
    f.refuse_null(&["amount_to_capture", "amount", "lines"], "capture in full")?;
    let primary = f.int("amount_to_capture")?;
    let alias = f.int("amount")?;
    let amount = match (primary, alias) {
        (Some(a), Some(b)) if a != b => {
            return Err(CoreError::validation("amount", "amount and amount_to_capture differ; send one of them"))
        }
        (a, b) => a.or(b),
    };
    // The one positivity check: a capture's amount is a PositiveAmount
    // from here on.
    let requested = amount.map(PositiveAmount::new).transpose().map_err(|_| {
        CoreError::validation(
            "amount_to_capture",
            "amount_to_capture must be a positive number of minor units; omit it to capture in full",
        )
    })?;
    let reason = f.string("reason", 500)?;
    let (amount, lines) = amount_with_lines(&body, requested, "amount_to_capture")?;
    Ok(CaptureCommand { amount, reason, detail: lines.map(|l| serde_json::json!({ "lines": l })) })
}

/// Itemized `lines`, when sent: at least one, each positive, and their
/// total is the amount (`requested`, named `field`, must agree when both
/// come). Without lines the requested amount stands as it is.
pub(crate) fn amount_with_lines(
    body: &serde_json::Map<String, serde_json::Value>,
    requested: Option<PositiveAmount>,
    field: &str,
) -> Result<(Option<PositiveAmount>, Option<Vec<serde_json::Value>>), CoreError> {
    let lines = crate::routes::bookings::parse_lines(body, "lines")?;
    if lines.is_empty() {
        if body.get("lines").is_some_and(|l| !l.is_null()) {
            return Err(CoreError::validation("lines", "lines, when sent, needs at least one line"));
        }
        return Ok((requested, None));
    }
    // At least one line, each positive: the total is too.
    // claim_total names check-out's field; here the lines are `lines`.
    let total = chittycharge_core::bookings::claim_total(&lines, i64::MAX).map_err(|e| match e {
        CoreError::Validation { field, message } => {
            CoreError::Validation { field: field.replacen("damages", "lines", 1), message }
        }
        other => other,
    })?;
    let total = PositiveAmount::new(total)
        .map_err(|_| CoreError::validation("lines", "lines, when sent, needs at least one line"))?;
    let amount = match requested {
        None => total,
        Some(a) if a.minor() == total.minor() => a,
        Some(a) => {
            return Err(CoreError::validation(
                "lines",
                format!("the lines add up to {} but {field} is {}; send amounts that agree", total.minor(), a.minor()),
            ))
        }
    };
    Ok((Some(amount), Some(lines.iter().map(chittycharge_core::bookings::DamageLine::to_json).collect())))
}

pub(crate) async fn capture_hold(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<CaptureResponse>, ApiError> {
    let cmd = parse_capture(body)?;
    let outcome = state.holds.capture(&id, cmd, &caller).await?;
    Ok(Json(capture_response(&outcome)))
}

pub(crate) async fn cancel_hold(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<CancelResponse>, ApiError> {
    let body = body.unwrap_or_default();
    let reason = Fields(&body).string("reason", 500)?;
    let hold = state.holds.cancel(&id, reason, &caller).await?;
    Ok(Json(cancel_response(&hold)))
}

/// `{"amount": <new total>}`: incremental authorization.
pub(crate) async fn increment_hold(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<HoldView>, ApiError> {
    let body = body.unwrap_or_default();
    Fields(&body).only(&["amount"])?;
    let total = Fields(&body)
        .int("amount")?
        .ok_or_else(|| CoreError::validation("amount", "amount (the new total) is required"))?;
    Ok(Json(hold_view(&state.holds.increment(&id, total, &caller).await?)))
}
