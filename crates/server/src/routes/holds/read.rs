//! `GET /api/holds`, `GET /api/holds/{id}`, `…/events`, `…/by-chitty-id/{id}`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use base64::Engine;
use chittycharge_api::{EventList, HoldList, HoldView};
use chittycharge_domain::{HoldStatus, Timestamp};
use chittycharge_store::HoldFilter;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{event_view, hold_view};
use chittycharge_core::CoreError;

fn require_read(caller: &Caller) -> Result<(), ApiError> {
    if caller.can_read() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("This token may not read holds".into()))
    }
}

pub(crate) async fn get_hold(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<crate::views::SizedJson<HoldView>, ApiError> {
    require_read(&caller)?;
    let hold = state.holds.get(&id, &caller).await?;
    let mut view = hold_view(&hold);
    // Only a captured charge can be disputed: the read path of every other
    // hold stays one cached read. (One indexed read, on this view only.)
    if hold.state.status() == chittycharge_domain::HoldStatus::Captured {
        view.dispute = state.store.disputes_for_hold(&hold.id).await?.last().map(crate::views::dispute_record);
    }
    Ok(crate::views::SizedJson(view))
}

pub(crate) async fn get_hold_by_chitty_id(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(chitty_id): Path<String>,
) -> Result<Json<HoldView>, ApiError> {
    require_read(&caller)?;
    Ok(Json(hold_view(&state.holds.by_chitty_id(&chitty_id, &caller).await?)))
}

pub(crate) async fn list_events(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<EventList>, ApiError> {
    require_read(&caller)?;
    let events = state.holds.events(&id, &caller).await?;
    // A hold's whole log: there is never another page.
    Ok(Json(EventList { hold_id: id, events: events.iter().map(event_view).collect(), has_more: false }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    property_id: Option<String>,
    tenant_id: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    #[serde(rename = "created[gte]")]
    created_gte: Option<String>,
    #[serde(rename = "created[lt]")]
    created_lt: Option<String>,
    #[serde(rename = "created[gt]")]
    created_gt: Option<String>,
    #[serde(rename = "created[lte]")]
    created_lte: Option<String>,
}

fn latest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    a.into_iter().chain(b).max()
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    a.into_iter().chain(b).min()
}

/// Stripe's form, Unix seconds, or an RFC 3339 date-time: where "at or
/// after" and "before" it start, and where "after" and "at or before" it
/// end (they differ when the value names a whole second, or falls between
/// two milliseconds).
struct Bound {
    at: Timestamp,
    after: Timestamp,
}

fn instant(field: &str, v: Option<&str>) -> Result<Option<Bound>, ApiError> {
    let Some(v) = v.filter(|s| !s.is_empty()) else { return Ok(None) };
    // (the first millisecond at or after it, the first one after it)
    let millis = match v.parse::<i64>() {
        Ok(secs) => secs.checked_mul(1000).and_then(|ms| Some((ms, ms.checked_add(1000)?))),
        Err(_) => crate::input::rfc3339_millis(v).and_then(|(floor, ceil)| Some((ceil, floor.checked_add(1)?))),
    };
    match millis {
        Some((at, after)) if (0..=253_402_300_799_000).contains(&at) => {
            Ok(Some(Bound { at: Timestamp::from_millis(at), after: Timestamp::from_millis(after) }))
        }
        _ => Err(CoreError::validation(
            field,
            format!("{field} must be Unix seconds or an RFC 3339 date-time such as 2026-11-01T00:00:00Z"),
        )
        .into()),
    }
}

fn encode_cursor(at: Timestamp, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{id}", at.millis()))
}

fn decode_cursor(c: &str) -> Option<(Timestamp, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (ms, id) = text.split_once(':')?;
    Some((Timestamp::from_millis(ms.parse().ok()?), id.to_string()))
}

pub(crate) async fn list_holds(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<HoldList>, ApiError> {
    require_read(&caller)?;
    let limit = match q.limit.as_deref().filter(|l| !l.is_empty()) {
        None => 50,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return Err(CoreError::validation("limit", "limit must be a whole number from 1 to 200").into()),
        },
    };
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<HoldStatus>().map_err(|e| CoreError::validation("status", e))?),
    };
    let before = match q.cursor.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(c) => Some(
            decode_cursor(c).ok_or_else(|| CoreError::validation("cursor", "cursor is not one this service issued"))?,
        ),
    };
    // Stripe's four bounds, kept as "at or after" and "before" (the store's
    // resolution is a millisecond).
    // (A bound in Unix seconds covers its whole second, as Stripe's do.)
    let created_gte = latest(
        instant("created[gte]", q.created_gte.as_deref())?.map(|b| b.at),
        instant("created[gt]", q.created_gt.as_deref())?.map(|b| b.after),
    );
    let created_lt = earliest(
        instant("created[lt]", q.created_lt.as_deref())?.map(|b| b.at),
        instant("created[lte]", q.created_lte.as_deref())?.map(|b| b.after),
    );
    let filter = HoldFilter {
        created_gte,
        created_lt,
        property_id: q.property_id.filter(|s| !s.is_empty()),
        tenant_id: q.tenant_id.filter(|s| !s.is_empty()),
        status,
        property_scope: None,
        before,
        limit: limit + 1,
        ..HoldFilter::default()
    };
    let mut holds = state.holds.list(filter, &caller).await?;
    let limit = usize::try_from(limit).unwrap_or(50);
    let next_cursor = if holds.len() > limit {
        holds.truncate(limit);
        holds.last().map(|h| encode_cursor(h.created_at, &h.id))
    } else {
        None
    };
    let has_more = next_cursor.is_some();
    Ok(Json(HoldList { holds: holds.iter().map(hold_view).collect(), next_cursor, has_more }))
}
