//! The simulated processor's public endpoints: what Stripe.js and the bank's
//! 3-D Secure page do in Stripe mode. They exist only with the simulated
//! processor. Card numbers posted here are tokenized at once and never
//! stored or logged; only the resulting `pm_…` id is kept.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::auth::{Caller, SCOPE_WRITE};
use crate::error::ApiError;
use crate::input::{Fields, JsonBody};
use crate::state::AppState;
use crate::views::hold_view;
use chittycharge_core::CoreError;

fn guest() -> Caller {
    Caller {
        token_id: "guest".into(),
        name: "guest".into(),
        scopes: vec![SCOPE_WRITE.into()],
        property_ids: None,
        rate_limit: None,
        source: Some("check-in page".into()),
    }
}

/// Card tokenizations per hold and minute: a guest retrying cards, not a bot.
const PAYMENT_METHODS_PER_MINUTE: u32 = 20;

fn sim(state: &AppState) -> Result<&chittycharge_processor::simulated::SimulatedProcessor, ApiError> {
    state.sim.as_deref().ok_or(ApiError::RouteNotFound)
}

/// The client secret proves the caller is the guest the hold was made for.
async fn check_secret(state: &AppState, id: &str, body: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    let given = Fields(body)
        .string("client_secret", 200)?
        .ok_or_else(|| CoreError::validation("client_secret", "client_secret is required"))?;
    let hold = state.store.get_hold(id).await?.ok_or(ApiError::RouteNotFound)?;
    let expected = hold.client_secret.unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// Tokenizes a test card for the guest of one hold: the page sends the hold's
/// id and client secret (as Stripe.js sends its publishable key), so nobody
/// else can write here, and each hold gets a bounded number of tries.
pub(super) async fn create_payment_method(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let sim = sim(&state)?;
    let body = body.unwrap_or_default();
    let f = Fields(&body);
    let hold_id = f.string("hold_id", 255)?.ok_or_else(|| CoreError::validation("hold_id", "hold_id is required"))?;
    check_secret(&state, &hold_id, &body).await?;
    let now = state.holds.now();
    let v = state.limiter.hit(&format!("sim_pm:{hold_id}"), PAYMENT_METHODS_PER_MINUTE, now).await?;
    if !v.allowed {
        return Err(ApiError::RateLimited {
            limit: PAYMENT_METHODS_PER_MINUTE,
            retry_after: v.retry_after,
            limited: "this hold's test card form".into(),
        });
    }
    let number = match f.object("card")? {
        Some(card) => Fields(card).string("number", 30)?,
        None => f.string("number", 30)?,
    }
    .ok_or_else(|| CoreError::validation("card.number", "card.number is required"))?;
    let pm = sim.create_card_payment_method(&number).await.map_err(|e| CoreError::from_processor(e, None))?;
    Ok(Json(json!({ "id": pm, "object": "payment_method" })))
}

pub(super) async fn confirm_intent(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    sim(&state)?;
    let body = body.unwrap_or_default();
    check_secret(&state, &id, &body).await?;
    let pm = Fields(&body)
        .string("payment_method", 255)?
        .ok_or_else(|| CoreError::validation("payment_method", "payment_method is required"))?;
    let hold = state.holds.confirm(&id, &pm, &guest()).await?;
    Ok(Json(json!({ "id": hold.id, "status": hold.state.status().as_str() })))
}

pub(super) async fn authenticate_intent(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let sim = sim(&state)?;
    let body = body.unwrap_or_default();
    check_secret(&state, &id, &body).await?;
    let success = Fields(&body).boolean("success")?.unwrap_or(true);
    sim.authenticate(&id, success).await.map_err(|e| CoreError::from_processor(e, Some(&id)))?;
    let hold =
        state.holds.sync_from_processor(&id, &chittycharge_core::EventContext::actor("guest (3-D Secure)")).await?;
    Ok(Json(json!({ "id": hold.id, "status": hold.state.status().as_str(), "reason": hold_view(&hold).reason })))
}

/// Stripe's dispute reasons.
const DISPUTE_REASONS: [&str; 14] = [
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
];

/// The guest's bank, in test mode: opens a dispute of the captured charge
/// (`{"reason"}`), or decides it (`{"close": "won" | "lost"}`). Admin only.
pub(super) async fn dispute_intent(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    caller.require_global_admin("Disputing on the simulator")?;
    let sim = sim(&state)?;
    let body = body.unwrap_or_default();
    let f = Fields(&body);
    let reason = f.string("reason", 100)?.unwrap_or_else(|| "general".into());
    if !DISPUTE_REASONS.contains(&reason.as_str()) {
        return Err(
            CoreError::validation("reason", format!("reason must be one of {}", DISPUTE_REASONS.join(", "))).into()
        );
    }
    let close = match f.string("close", 10)?.as_deref() {
        None => None,
        Some("won") => Some(true),
        Some("lost") => Some(false),
        Some(_) => return Err(CoreError::validation("close", "close must be won or lost").into()),
    };
    let pi = sim.dispute(&id, &reason, close).await.map_err(|e| CoreError::from_processor(e, Some(&id)))?;
    let d = pi.dispute.ok_or(ApiError::RouteNotFound)?;
    Ok(Json(json!({ "id": d.id, "payment_intent": id, "status": d.status.as_str(), "reason": d.reason })))
}

fn admin_clock(state: &AppState, caller: &Caller) -> Result<Arc<chittycharge_processor::TestClock>, ApiError> {
    caller.require_global_admin("The test clock")?;
    state.test_clock.clone().ok_or(ApiError::RouteNotFound)
}

pub(super) async fn get_clock(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let clock = admin_clock(&state, &caller)?;
    use chittycharge_processor::Clock;
    Ok(Json(json!({ "now": chittycharge_api::iso_millis(clock.now().millis()), "offset_ms": clock.offset_ms() })))
}

pub(super) async fn advance_clock(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let clock = admin_clock(&state, &caller)?;
    let body = body.unwrap_or_default();
    let secs = Fields(&body)
        .int("advance_secs")?
        .ok_or_else(|| CoreError::validation("advance_secs", "advance_secs is required"))?;
    if !(0..=366 * 86_400).contains(&secs) {
        return Err(CoreError::validation("advance_secs", "advance_secs must be from 0 to one year").into());
    }
    let now = clock.advance_secs(secs);
    Ok(Json(json!({ "now": chittycharge_api::iso_millis(now.millis()), "offset_ms": clock.offset_ms() })))
}

/// What the simulated processor holds for one PaymentIntent (admin only):
/// lets tests check what the "processor" saw, such as how many captures.
pub(super) async fn inspect_intent(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_global_admin("Inspecting the simulator")?;
    let sim = sim(&state)?;
    let pi = chittycharge_processor::Processor::retrieve(sim, &id)
        .await
        .map_err(|e| CoreError::from_processor(e, Some(&id)))?;
    Ok(Json(json!({
        "id": pi.id,
        "status": format!("{:?}", pi.view.status),
        "amount": pi.view.amount,
        "amount_capturable": pi.view.amount_capturable,
        "amount_received": pi.view.amount_received,
        "amount_refunded": pi.view.amount_refunded.unwrap_or(0),
        "dispute": pi.dispute.as_ref().map(|d| json!({
            "id": d.id, "status": d.status.as_str(), "submission_count": d.submission_count, "evidence": d.evidence,
        })),
        "captures": pi.captures,
        "payment_method": pi.payment_method,
        "metadata": pi.metadata,
    })))
}

/// The ids of every simulated PaymentIntent (admin only).
pub(super) async fn list_intents(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.require_global_admin("Inspecting the simulator")?;
    let ids = sim(&state)?.intent_ids().await.map_err(|e| CoreError::from_processor(e, None))?;
    Ok(Json(json!({ "count": ids.len(), "ids": ids })))
}
