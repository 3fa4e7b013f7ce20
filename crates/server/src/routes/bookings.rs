//! `/api/bookings…`: bookings, check-in and check-out.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chittycharge_api::iso_millis;
use chittycharge_domain::booking::BookingState;
use chittycharge_domain::Booking;
use chittycharge_store::BookingFilter;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Fields, JsonBody};
use crate::routes::holds::create::valid_email;
use crate::state::AppState;
use crate::views::{checkin_url, disclosure};
use chittycharge_core::bookings::{CheckoutOutcome, DamageLine, NewBooking};
use chittycharge_core::properties::valid_property_id;
use chittycharge_core::CoreError;

pub(super) fn booking_view(b: &Booking) -> Value {
    let (claim_until, checked_out_at, settled_at) = match &b.state {
        BookingState::CheckedOut(c) => {
            (Some(iso_millis(c.claim_until.millis())), Some(iso_millis(c.checked_out_at.millis())), None)
        }
        BookingState::Settled(s) => {
            (None, Some(iso_millis(s.checked_out_at.millis())), Some(iso_millis(s.settled_at.millis())))
        }
        BookingState::Booked(_) | BookingState::HoldPending(_) | BookingState::HoldActive(_) => (None, None, None),
    };
    json!({
        "id": b.id,
        "property_id": b.property_id,
        "tenant_id": b.tenant_id,
        "guest_name": b.guest_name,
        "guest_email": b.guest_email,
        "check_in": b.check_in,
        "check_out": b.check_out,
        "status": b.state.status().as_str(),
        "hold_id": b.state.hold_id(),
        "checked_out_at": checked_out_at,
        "claim_window_ends_at": claim_until,
        "settled_at": settled_at,
        "created_at": iso_millis(b.created_at.millis()),
        "updated_at": iso_millis(b.updated_at.millis()),
    })
}

fn date(f: &Fields<'_>, name: &str) -> Result<chrono::NaiveDate, CoreError> {
    let s =
        f.string(name, 10)?.ok_or_else(|| CoreError::validation(name, format!("{name} is required (YYYY-MM-DD)")))?;
    chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .map_err(|_| CoreError::validation(name, format!("{name} must be a date as YYYY-MM-DD")))
}

fn parse_booking(body: Option<Map<String, Value>>) -> Result<NewBooking, CoreError> {
    let body = body.unwrap_or_default();
    let f = Fields(&body);
    // A misspelled `paymentMethod` would leave the booking without its
    // saved card, and so without its automatic hold.
    f.only(&[
        "id",
        "property_id",
        "tenant_id",
        "guest_name",
        "guest_email",
        "check_in",
        "check_out",
        "payment_method",
    ])?;
    let id = f.id("id")?.ok_or_else(|| CoreError::validation("id", "id (your booking id) is required"))?;
    if !valid_property_id(&id) {
        return Err(CoreError::validation("id", "id must be 1 to 100 letters, digits, '-', '_' or '.'"));
    }
    let guest_email = f.string("guest_email", 254)?.map(|e| e.to_ascii_lowercase());
    if guest_email.as_deref().is_some_and(|e| !valid_email(e)) {
        return Err(CoreError::validation("guest_email", "guest_email is not a valid email address"));
    }
    Ok(NewBooking {
        id,
        property_id: f
            .id("property_id")?
            .ok_or_else(|| CoreError::validation("property_id", "property_id is required"))?,
        tenant_id: f.id("tenant_id")?,
        guest_name: f
            .string("guest_name", 200)?
            .ok_or_else(|| CoreError::validation("guest_name", "guest_name is required"))?,
        guest_email,
        check_in: date(&f, "check_in")?,
        check_out: date(&f, "check_out")?,
        payment_method: f.string("payment_method", 255)?,
    })
}

/// `{"damages": [{"amount", "description", "evidence_urls": [...]}]}`.
pub(super) fn parse_damages(body: &Map<String, Value>) -> Result<Vec<DamageLine>, CoreError> {
    // The seeds' example sent dollars as `damage_amount`; silently ignoring
    // a money field would release the hold instead of charging.
    if body.contains_key("damage_amount") {
        return Err(CoreError::validation(
            "damage_amount",
            "damage_amount is not accepted: send damages: [{\"amount\": <minor units>, \"description\"}]",
        ));
    }
    parse_lines(body, "damages")
}

/// Itemized lines, under `name` (check-out `damages`, capture `lines`): typed,
/// bounded, with only http(s) evidence links, so whatever a page later shows
/// of them is plain data.
pub(super) fn parse_lines(body: &Map<String, Value>, name: &str) -> Result<Vec<DamageLine>, CoreError> {
    let Some(raw) = body.get(name).filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let Some(items) = raw.as_array() else {
        return Err(CoreError::validation(name, format!("{name} must be an array")));
    };
    if items.len() > 100 {
        return Err(CoreError::validation(name, "at most 100 lines"));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = |n: &str| format!("{name}[{i}].{n}");
        let Some(obj) = item.as_object() else {
            return Err(CoreError::validation(&format!("{name}[{i}]"), "each line is an object"));
        };
        // A misspelled `evidence_url` would drop the evidence unnoticed.
        if let Some(k) = obj.keys().find(|k| !["amount", "description", "evidence_urls"].contains(&k.as_str())) {
            let shown: String = k.chars().take(64).collect();
            return Err(CoreError::validation(
                &field(&shown),
                format!("'{shown}' is not a field of a line, which takes amount, description, evidence_urls"),
            ));
        }
        let f = Fields(obj);
        let amount = f
            .int("amount")
            .map_err(|_| CoreError::validation(&field("amount"), "amount must be an integer number of minor units"))?;
        let amount = amount.filter(|a| *a > 0).ok_or_else(|| {
            CoreError::validation(&field("amount"), "amount must be a positive number of minor units")
        })?;
        let description = f
            .string("description", 500)
            .map_err(|e| match e {
                CoreError::Validation { message, .. } => CoreError::validation(&field("description"), message),
                other => other,
            })?
            .ok_or_else(|| CoreError::validation(&field("description"), "description is required"))?;
        let mut evidence_urls = Vec::new();
        if let Some(urls) = obj.get("evidence_urls").filter(|v| !v.is_null()) {
            let list = urls.as_array().ok_or_else(|| {
                CoreError::validation(&field("evidence_urls"), "evidence_urls must be an array of URLs")
            })?;
            if list.len() > 20 {
                return Err(CoreError::validation(&field("evidence_urls"), "at most 20 evidence URLs per line"));
            }
            for u in list {
                let s = u.as_str().filter(|s| chittycharge_core::bookings::is_http_url(s));
                evidence_urls.push(
                    s.ok_or_else(|| {
                        CoreError::validation(&field("evidence_urls"), "evidence URLs must be http(s) URLs")
                    })?
                    .to_string(),
                );
            }
        }
        out.push(DamageLine { amount, description, evidence_urls });
    }
    Ok(out)
}

pub(super) async fn create_booking(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let nb = parse_booking(body)?;
    let b = state.holds.create_booking(nb, &caller).await?;
    Ok((StatusCode::CREATED, Json(booking_view(&b))))
}

/// `?property_id=`: which property's booking, when several of the caller's
/// properties use the same booking id.
#[derive(Debug, Deserialize)]
pub(super) struct AtProperty {
    property_id: Option<String>,
}

impl AtProperty {
    fn get(&self) -> Option<&str> {
        self.property_id.as_deref().filter(|p| !p.is_empty())
    }
}

pub(super) async fn get_booking(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(at): Query<AtProperty>,
) -> Result<Json<Value>, ApiError> {
    let b = state.holds.booking(&id, at.get(), &caller).await?;
    let claims = state.holds.booking_claims(&b).await?;
    let mut v = booking_view(&b);
    v["claims"] = Value::Array(
        claims
            .iter()
            .map(|c| json!({"id": c.id, "total": c.total, "currency": c.currency, "lines": c.lines, "created_at": iso_millis(c.created_at.millis())}))
            .collect(),
    );
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
pub(super) struct BookingQuery {
    property_id: Option<String>,
    tenant_id: Option<String>,
    status: Option<String>,
    limit: Option<String>,
}

pub(super) async fn list_bookings(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<BookingQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        s.parse::<chittycharge_domain::booking::BookingStatus>().map_err(|e| CoreError::validation("status", e))?;
    }
    let limit = match q.limit.as_deref().filter(|s| !s.is_empty()) {
        None => 100,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => return Err(CoreError::validation("limit", "limit must be a whole number from 1 to 500").into()),
        },
    };
    let f = BookingFilter {
        property_id: q.property_id.filter(|s| !s.is_empty()),
        tenant_id: q.tenant_id.filter(|s| !s.is_empty()),
        status: q.status.filter(|s| !s.is_empty()),
        property_scope: None,
        limit: limit + 1,
    };
    let mut list = state.holds.bookings(f, &caller).await?;
    let has_more = list.len() > usize::try_from(limit).unwrap_or(100);
    list.truncate(usize::try_from(limit).unwrap_or(100));
    Ok(Json(json!({ "bookings": list.iter().map(booking_view).collect::<Vec<_>>(), "has_more": has_more })))
}

pub(super) async fn authorize_booking(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(at): Query<AtProperty>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = body.unwrap_or_default();
    let f = Fields(&body);
    let pm = f.string("payment_method", 255)?;
    let confirm = f.boolean("confirm")?.unwrap_or(false);
    if confirm != pm.is_some() {
        return Err(CoreError::validation("confirm", "send payment_method together with confirm: true").into());
    }
    let a = state.holds.authorize_booking(&id, at.get(), pm, &caller).await?;
    let h = &a.hold;
    Ok(Json(json!({
        "hold_id": h.id,
        "client_secret": h.client_secret,
        "amount": h.amount.minor(),
        "currency": h.amount.currency().code(),
        "checkin_url": checkin_url(&state.base_url, h),
        "disclosure": disclosure(h),
        "status": h.state.status().as_str(),
        "booking_status": a.booking.state.status().as_str(),
        "tier": h.tier.as_str(),
    })))
}

fn outcome_view(o: CheckoutOutcome) -> Value {
    match o {
        CheckoutOutcome::Charged { amount, claim_id, hold } => json!({
            "message": "Damage charge processed",
            "amount_charged": amount,
            "hold_released": true,
            "claim_id": claim_id,
            "amount_released": hold.state.amounts().released,
            "currency": hold.amount.currency().code(),
        }),
        CheckoutOutcome::Released { hold } => json!({
            "message": "No charges. Hold released.",
            "hold_released": true,
            "amount_released": hold.state.amounts().released,
        }),
        CheckoutOutcome::Deferred { booking } => {
            let v = booking_view(&booking);
            json!({
                "message": "Check-out recorded. Damages can be claimed until the claim window ends; then the hold is released.",
                "hold_released": false,
                "claim_window_ends_at": v["claim_window_ends_at"],
            })
        }
    }
}

pub(super) async fn checkout_booking(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(at): Query<AtProperty>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = body.unwrap_or_default();
    let damages = parse_damages(&body)?;
    let f = Fields(&body);
    f.only(&["damages", "defer_release"])?;
    // `null` is neither "no damages" nor "release now".
    f.refuse_null(&["damages"], "check out without damages (or send [])")?;
    f.refuse_null(&["defer_release"], "release the hold now")?;
    let defer = f.boolean("defer_release")?.unwrap_or(false);
    Ok(Json(outcome_view(state.holds.checkout(&id, at.get(), damages, defer, &caller).await?)))
}

pub(super) async fn claim_booking(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(at): Query<AtProperty>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = body.unwrap_or_default();
    let damages = parse_damages(&body)?;
    Fields(&body).only(&["damages"])?;
    Ok(Json(outcome_view(state.holds.file_claim(&id, at.get(), damages, &caller).await?)))
}

pub(super) async fn list_notifications(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    const SHOWN: usize = 200;
    let mut list = state.holds.notifications(&caller, 201).await?;
    let has_more = list.len() > SHOWN;
    list.truncate(SHOWN);
    Ok(Json(json!({ "has_more": has_more, "notifications": list.iter().map(|n| json!({
        "id": n.id, "kind": n.kind, "recipient": n.recipient, "subject": n.subject, "body": n.body,
        "status": n.status, "attempts": n.attempts, "last_error": n.last_error, "hold_id": n.hold_id,
        "booking_id": n.booking_id, "created_at": iso_millis(n.created_at.millis()),
        "sent_at": n.sent_at.map(|t| iso_millis(t.millis())),
    })).collect::<Vec<_>>() })))
}
