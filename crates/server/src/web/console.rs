//! The manager console at `/console`: sign in with an API token, then list
//! holds, read a hold's timeline, capture itemized damages, release, refund and
//! increase holds. A server-side session is kept behind an HttpOnly,
//! SameSite=Strict cookie, and every action carries a CSRF token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chittycharge_domain::{Hold, HoldStatus, PositiveAmount};
use chittycharge_store::{BookingFilter, HoldFilter};
use minijinja::context;
use serde::Deserialize;
use serde_json::Value;

use super::render;
use super::session::{csrf_ok, field, form_pairs, over_limit, session, Session};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::money;
use chittycharge_core::bookings::DamageLine;
use chittycharge_core::{CaptureCommand, CoreError};

fn describe(e: &CoreError) -> String {
    match e {
        CoreError::ProcessorFailure(_) => "Payment processor error".into(),
        CoreError::Store(_) => "Service temporarily unavailable; try again".into(),
        other => other.to_string(),
    }
}

/// "50", "50.5" or "50.50" in major units to minor units, in integers only.
pub(super) fn parse_major(s: &str, exponent: u32) -> Option<i64> {
    let s = s.trim().trim_start_matches('$');
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let exp = usize::try_from(exponent).ok()?;
    if frac.len() > exp {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = if exp == 0 { 0 } else { format!("{frac:0<exp$}").parse().ok()? };
    whole.checked_mul(10_i64.pow(exponent))?.checked_add(frac)
}

fn iso(t: Option<chittycharge_domain::Timestamp>) -> Option<String> {
    t.map(|t| chittycharge_api::iso_millis(t.millis()))
}

#[derive(Deserialize, Default)]
pub(super) struct HoldsQuery {
    property_id: Option<String>,
    status: Option<String>,
    expiring: Option<String>,
}

pub(super) async fn holds(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<HoldsQuery>,
) -> Response {
    let Some(s) = session(&state, &headers).await else { return Redirect::to("/console").into_response() };
    if let Some(r) = over_limit(&state, &s).await {
        return r;
    }
    let status = q.status.as_deref().filter(|v| !v.is_empty()).and_then(|v| v.parse::<HoldStatus>().ok());
    let expiring = q.expiring.is_some();
    let filter = HoldFilter {
        property_id: q.property_id.clone().filter(|p| !p.is_empty()),
        status,
        limit: 200,
        ..HoldFilter::default()
    };
    let (list, error) = match state.holds.list(filter, &s.caller).await {
        Ok(l) => (l, None),
        Err(e) => (Vec::new(), Some(describe(&e))),
    };
    let horizon = state.holds.now().plus_secs(86_400);
    let rows: Vec<Value> = list
        .iter()
        .filter(|h| !expiring || (h.state.status() == HoldStatus::RequiresCapture && h.expires_at.is_some_and(|t| t <= horizon)))
        .map(|h| {
            let a = h.state.amounts();
            serde_json::json!({
                "id": h.id, "description": h.description, "property_id": h.property_id, "status": h.state.status().as_str(),
                "amount": h.amount.to_string(), "captured": money(a.captured, h.amount),
                "expires_at": if h.state.status() == HoldStatus::RequiresCapture { iso(h.expires_at) } else { None },
            })
        })
        .collect();
    let statuses: Vec<&str> = HoldStatus::ALL.iter().map(|s| s.as_str()).collect();
    render(
        "holds.html",
        context! { console => true, csrf => s.csrf, holds => rows, statuses => statuses, status => q.status.unwrap_or_default(),
        property_id => q.property_id.unwrap_or_default(), expiring => expiring, error => error },
    )
}

async fn hold_page(state: &AppState, s: &Session, id: &str, error: Option<String>, notice: Option<String>) -> Response {
    let hold = match state.holds.get(id, &s.caller).await {
        Ok(h) => h,
        Err(CoreError::NotFound) => return ApiError::RouteNotFound.into_response(),
        Err(e) => {
            return render(
                "holds.html",
                context! { console => true, csrf => s.csrf.clone(), holds => Vec::<Value>::new(), error => describe(&e) },
            )
        }
    };
    let dispute =
        state.store.disputes_for_hold(&hold.id).await.unwrap_or_default().last().map(crate::views::dispute_record);
    let events = state.holds.events(id, &s.caller).await.unwrap_or_default();
    let timeline: Vec<Value> = events
        .iter()
        .map(|e| {
            let lines: Vec<Value> = e
                .data
                .as_ref()
                .and_then(|d| d.get("lines"))
                .and_then(Value::as_array)
                .map(|ls| {
                    ls.iter()
                        .map(|l| serde_json::json!({
                            "description": l.get("description").and_then(Value::as_str).unwrap_or(""),
                            "amount": money(l.get("amount").and_then(Value::as_i64).unwrap_or(0), hold.amount),
                            "evidence_urls": l.get("evidence_urls").cloned().unwrap_or(Value::Array(vec![])),
                        }))
                        .collect()
                })
                .unwrap_or_default();
            serde_json::json!({
                "at": chittycharge_api::iso_millis(e.created_at.millis()), "kind": e.kind, "actor": e.actor, "reason": e.reason,
                "amount": e.amount.map(|a| money(a, hold.amount)), "lines": lines,
            })
        })
        .collect();
    let a = hold.state.amounts();
    let view = serde_json::json!({
        "id": hold.id, "status": hold.state.status().as_str(), "amount": hold.amount.to_string(),
        "capturable": money(a.capturable, hold.amount), "captured": money(a.captured, hold.amount), "released": money(a.released, hold.amount),
        "refunded": money(a.refunded, hold.amount), "form_key": uuid::Uuid::new_v4().simple().to_string(), "refundable": (a.captured > a.refunded).then(|| money(a.captured - a.refunded, hold.amount)),
        "expires_at": if hold.state.status() == HoldStatus::RequiresCapture { iso(hold.expires_at) } else { None },
        "customer_email": hold.customer_email, "property_id": hold.property_id, "booking_id": hold.booking_id,
        "chitty_id": hold.chitty_id, "currency": hold.amount.currency().code().to_uppercase(),
        "exponent": hold.amount.currency().exponent(), "symbol": hold.amount.currency().symbol(),
        "placeholder": money(50 * hold.amount.currency().minor_per_major(), hold.amount).trim_start_matches(hold.amount.currency().symbol()),
        "zero": money(0, hold.amount),
    });
    render(
        "hold.html",
        context! { console => true, csrf => s.csrf.clone(), hold => view, dispute => dispute, events => timeline, error => error, notice => notice },
    )
}

pub(super) async fn hold(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(s) = session(&state, &headers).await else { return Redirect::to("/console").into_response() };
    if let Some(r) = over_limit(&state, &s).await {
        return r;
    }
    hold_page(&state, &s, &id, None, None).await
}

async fn action<F, Fut>(state: Arc<AppState>, headers: HeaderMap, id: String, body: Bytes, act: F) -> Response
where
    F: FnOnce(Arc<AppState>, Caller, Hold, Vec<(String, String)>) -> Fut,
    Fut: std::future::Future<Output = Result<String, CoreError>>,
{
    let Some(s) = session(&state, &headers).await else { return Redirect::to("/console").into_response() };
    if let Some(r) = over_limit(&state, &s).await {
        return r;
    }
    let pairs = form_pairs(&body);
    if !csrf_ok(&s, &pairs) {
        let mut r =
            hold_page(&state, &s, &id, Some("This form has expired; reload the page and try again.".into()), None)
                .await;
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    let hold = match state.holds.get(&id, &s.caller).await {
        Ok(h) => h,
        Err(_) => return ApiError::RouteNotFound.into_response(),
    };
    match act(state.clone(), s.caller.clone(), hold, pairs).await {
        Ok(notice) => hold_page(&state, &s, &id, None, Some(notice)).await,
        Err(e) => {
            let mut r = hold_page(&state, &s, &id, Some(describe(&e)), None).await;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            r
        }
    }
}

pub(super) async fn capture(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    action(state, headers, id, body, |state, caller, hold, pairs| async move {
        let exp = hold.amount.currency().exponent();
        let descs: Vec<&str> = pairs.iter().filter(|(k, _)| k == "description").map(|(_, v)| v.as_str()).collect();
        let amounts: Vec<&str> = pairs.iter().filter(|(k, _)| k == "amount").map(|(_, v)| v.as_str()).collect();
        let evidence: Vec<&str> = pairs.iter().filter(|(k, _)| k == "evidence").map(|(_, v)| v.as_str()).collect();
        let mut lines = Vec::new();
        for (i, d) in descs.iter().enumerate() {
            let raw = amounts.get(i).copied().unwrap_or("");
            let amount = parse_major(raw, exp)
                .filter(|a| *a > 0)
                .ok_or_else(|| CoreError::validation("amount", format!("Line {}: '{raw}' is not an amount such as 50.00", i + 1)))?;
            if d.trim().is_empty() {
                return Err(CoreError::validation("description", format!("Line {}: describe the damage", i + 1)));
            }
            crate::input::check_text("description", d)?;
            let urls: Vec<String> = evidence.get(i).filter(|u| !u.trim().is_empty()).map(|u| vec![u.trim().to_string()]).unwrap_or_default();
            if urls.iter().any(|u| !chittycharge_core::bookings::is_http_url(u)) {
                return Err(CoreError::validation("evidence", format!("Line {}: evidence must be an http(s) link", i + 1)));
            }
            lines.push(DamageLine { amount, description: d.trim().to_string(), evidence_urls: urls });
        }
        if lines.is_empty() {
            return Err(CoreError::validation("amount", "Add at least one damage line"));
        }
        let capturable = hold.state.amounts().capturable;
        let total = chittycharge_core::bookings::claim_total(&lines, if capturable > 0 { capturable } else { i64::MAX })?;
        let json_lines: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::json!({"amount": l.amount, "description": l.description, "evidence_urls": l.evidence_urls}))
            .collect();
        let total = PositiveAmount::new(total).map_err(|_| CoreError::validation("amount", "Add at least one damage line"))?;
        let cmd = CaptureCommand { amount: Some(total), reason: Some("damages".into()), detail: Some(serde_json::json!({ "lines": json_lines })) };
        let out = state.holds.capture(&hold.id, cmd, &caller).await?;
        Ok(format!("Captured {}; {} released.", out.captured, money(out.released, out.captured)))
    })
    .await
}

/// The form's required `reason`, trimmed and checked like the API's free text.
fn reason_field(pairs: &[(String, String)], what: &str) -> Result<String, CoreError> {
    let reason = field(pairs, "reason").map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    let reason = reason.ok_or_else(|| CoreError::validation("reason", format!("Give a reason for the {what}")))?;
    crate::input::check_text("reason", &reason)?;
    Ok(reason)
}

pub(super) async fn release(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    action(state, headers, id, body, |state, caller, hold, pairs| async move {
        let reason = reason_field(&pairs, "release")?;
        let h = state.holds.cancel(&hold.id, Some(reason), &caller).await?;
        Ok(format!("Released {}.", money(h.state.amounts().released, h.amount)))
    })
    .await
}

pub(super) async fn refund(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    action(state, headers, id, body, |state, caller, hold, pairs| async move {
        let reason = reason_field(&pairs, "refund")?;
        if reason.chars().count() > 500 {
            return Err(CoreError::validation("reason", "The reason is longer than 500 characters"));
        }
        // The form's one-time key: a double click or a reload of the answer
        // sends the same key again, and the refund happens once. Every page
        // carries one, so a post without it is not from a page: refused,
        // rather than refunding again on every post.
        let form_key =
            field(&pairs, "form_key").map(str::trim).filter(|k| !k.is_empty() && k.len() <= 64).map(str::to_string);
        let form_key = form_key.ok_or_else(|| {
            CoreError::validation("form_key", "This form is out of date: reload the page and refund from there")
        })?;
        // Blank refunds all that is left.
        let raw = field(&pairs, "amount").map(str::trim).unwrap_or("");
        let amount = match raw {
            "" => None,
            raw => Some(
                parse_major(raw, hold.amount.currency().exponent())
                    .and_then(|a| PositiveAmount::new(a).ok())
                    .ok_or_else(|| {
                        CoreError::validation("amount", format!("'{raw}' is not an amount such as 25.00"))
                    })?,
            ),
        };
        let cmd = chittycharge_core::refunds::RefundCommand {
            amount,
            reason: Some(reason),
            lines: None,
            form_key: Some(form_key),
        };
        let out = state.holds.refund(&hold.id, cmd, &caller).await?;
        Ok(format!("Refunded {}.", money(out.amount, hold.amount)))
    })
    .await
}

pub(super) async fn increment(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    action(state, headers, id, body, |state, caller, hold, pairs| async move {
        let raw = field(&pairs, "amount").unwrap_or("");
        let total = parse_major(raw, hold.amount.currency().exponent())
            .ok_or_else(|| CoreError::validation("amount", format!("'{raw}' is not an amount such as 300.00")))?;
        let h = state.holds.increment(&hold.id, total, &caller).await?;
        Ok(format!("The hold is now {}.", h.amount))
    })
    .await
}

pub(super) async fn bookings(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = session(&state, &headers).await else { return Redirect::to("/console").into_response() };
    if let Some(r) = over_limit(&state, &s).await {
        return r;
    }
    let list = state
        .holds
        .bookings(BookingFilter { limit: 200, ..BookingFilter::default() }, &s.caller)
        .await
        .unwrap_or_default();
    let rows: Vec<Value> = list
        .iter()
        .map(|b| {
            let href = b.state.hold_id().map(|h| format!("/console/holds/{h}"));
            serde_json::json!({ "href": href, "cells": [b.state.hold_id().unwrap_or("–"), b.id.clone(), b.property_id.clone(), b.guest_name.clone(),
                format!("{} → {}", b.check_in, b.check_out), b.state.status().as_str()] })
        })
        .collect();
    render(
        "table.html",
        context! { console => true, csrf => s.csrf, heading => "Bookings", columns => ["Hold", "Booking", "Property", "Guest", "Stay", "Status"], rows => rows },
    )
}

pub(super) async fn notifications(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = session(&state, &headers).await else { return Redirect::to("/console").into_response() };
    if let Some(r) = over_limit(&state, &s).await {
        return r;
    }
    let list = match state.holds.notifications(&s.caller, 200).await {
        Ok(list) => list,
        Err(e) => {
            return render(
                "table.html",
                context! { console => true, csrf => s.csrf, heading => "Outbox", columns => Vec::<String>::new(), rows => Vec::<Value>::new(), error => e.to_string() },
            )
        }
    };
    let rows: Vec<Value> = list
        .iter()
        .map(|n| serde_json::json!({ "href": n.hold_id.as_ref().map(|h| format!("/console/holds/{h}")), "cells": [n.hold_id.clone().unwrap_or_default(), n.kind.clone(), n.recipient.clone(), n.subject.clone(), n.status.clone(), chittycharge_api::iso_millis(n.created_at.millis())] }))
        .collect();
    render(
        "table.html",
        context! { console => true, csrf => s.csrf, heading => "Outbox", columns => ["Hold", "Kind", "To", "Subject", "Status", "Created"], rows => rows },
    )
}

#[cfg(test)]
mod tests {
    use super::parse_major;

    #[test]
    fn major_amounts_parse_to_minor_units_without_floats() {
        assert_eq!(parse_major("50", 2), Some(5000));
        assert_eq!(parse_major("50.5", 2), Some(5050));
        assert_eq!(parse_major("$1,000", 2), None);
        assert_eq!(parse_major("0.05", 2), Some(5));
        assert_eq!(parse_major("2500", 0), Some(2500));
        assert_eq!(parse_major("1.5", 0), None);
        assert_eq!(parse_major("1.250", 3), Some(1250));
        assert_eq!(parse_major("-3", 2), None);
        assert_eq!(parse_major("1.234", 2), None);
    }
}
