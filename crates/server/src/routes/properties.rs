//! `/api/properties`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chittycharge_api::iso_millis;
use chittycharge_domain::Currency;
use chittycharge_store::Property;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Fields, JsonBody};
use crate::state::AppState;
use chittycharge_core::properties::{valid_property_id, PropertyInput};
use chittycharge_core::CoreError;

pub(super) fn property_view(p: &Property) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "premium": p.premium,
        "currency": p.currency,
        "default_hold_amount": p.default_hold_amount,
        "claim_window_hours": p.claim_window_hours,
        "time_zone": p.time_zone,
        "hold_lead_days": p.hold_lead_days,
        "created_at": iso_millis(p.created_at.millis()),
        "updated_at": iso_millis(p.updated_at.millis()),
    })
}

/// A property from a POST. On an update every field left out keeps its
/// current value (reposting only `name` must not reset the hold amount);
/// a new property takes the defaults.
fn parse(
    f: &Fields<'_>,
    id: String,
    state: &AppState,
    existing: Option<&Property>,
) -> Result<PropertyInput, CoreError> {
    let name = match (f.string("name", 200)?, existing) {
        (Some(n), _) => n,
        (None, Some(e)) => e.name.clone(),
        (None, None) => return Err(CoreError::validation("name", "name is required")),
    };
    let currency = match (f.string("currency", 10)?, existing) {
        (Some(c), _) => Currency::parse(&c).map_err(|e| CoreError::validation("currency", e.to_string()))?,
        (None, Some(e)) => {
            Currency::parse(&e.currency).map_err(|e| CoreError::validation("currency", e.to_string()))?
        }
        (None, None) => state.config.currency,
    };
    let claim_window_hours = f.int("claim_window_hours")?.or(existing.map(|e| e.claim_window_hours)).unwrap_or(48);
    if !(0..=720).contains(&claim_window_hours) {
        return Err(CoreError::validation("claim_window_hours", "claim_window_hours must be from 0 to 720"));
    }
    let time_zone =
        f.string("time_zone", 64)?.or_else(|| existing.map(|e| e.time_zone.clone())).unwrap_or_else(|| "UTC".into());
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(CoreError::validation(
            "time_zone",
            format!("'{time_zone}' is not an IANA time zone such as America/Chicago"),
        ));
    }
    let hold_lead_days = f.int("hold_lead_days")?.or(existing.map(|e| e.hold_lead_days)).unwrap_or(2);
    if !(0..=365).contains(&hold_lead_days) {
        return Err(CoreError::validation("hold_lead_days", "hold_lead_days must be from 0 to 365"));
    }
    Ok(PropertyInput {
        hold_lead_days,
        id,
        name,
        premium: f.boolean("premium")?.or(existing.map(|e| e.premium)).unwrap_or(false),
        currency,
        default_hold_amount: f
            .int("default_hold_amount")?
            .or(existing.map(|e| e.default_hold_amount))
            .unwrap_or(state.config.default_hold_amount),
        claim_window_hours,
        time_zone,
    })
}

fn property_id(f: &Fields<'_>) -> Result<String, CoreError> {
    let id = f.id("id")?.ok_or_else(|| CoreError::validation("id", "id is required"))?;
    if !valid_property_id(&id) {
        return Err(CoreError::validation("id", "id must be 1 to 100 letters, digits, '-', '_' or '.'"));
    }
    Ok(id)
}

pub(super) async fn put_property(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<JsonBody, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Who may write comes before what was sent, even whether it is JSON: a
    // caller who may not write learns nothing from the body's validation.
    caller.require_admin("Managing properties")?;
    let JsonBody(body) = body?;
    let body = body.unwrap_or_default();
    let f = Fields(&body);
    let id = property_id(&f)?;
    let existing = state.holds.property_to_write(&id, &caller).await?;
    // A misspelled field would otherwise keep its old value unnoticed.
    f.only(&[
        "id",
        "name",
        "premium",
        "currency",
        "default_hold_amount",
        "claim_window_hours",
        "time_zone",
        "hold_lead_days",
    ])?;
    let input = parse(&f, id, &state, existing.as_ref())?;
    let (p, created) = state.holds.put_property(input, &caller).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(property_view(&p))))
}

pub(super) async fn get_property(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(property_view(&state.holds.property(&id, &caller).await?)))
}

pub(super) async fn list_properties(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let list = state.holds.properties(&caller).await?;
    // Every property the caller may see: there is never another page.
    Ok(Json(json!({ "properties": list.iter().map(property_view).collect::<Vec<_>>(), "has_more": false })))
}
