//! Disputes: `GET /api/disputes` (open ones, the soonest deadline first),
//! `GET /api/holds/{id}/dispute`, the evidence packet at
//! `GET /api/holds/{id}/dispute/evidence` (JSON, or a printable page with
//! `Accept: text/html` or `format=html`), and
//! `POST /api/holds/{id}/dispute/submit`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chittycharge_api::{DisputeList, DisputeRecord};
use chittycharge_core::evidence::EvidencePacket;
use chittycharge_core::{Caller, CoreError};
use chittycharge_domain::dispute::Dispute;
use chittycharge_domain::time::iso_millis;
use chittycharge_domain::Currency;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

pub(crate) fn dispute_record(d: &Dispute) -> DisputeRecord {
    DisputeRecord {
        id: d.id.clone(),
        hold_id: d.hold_id.clone(),
        property_id: d.property_id.clone(),
        amount: d.amount,
        currency: d.currency.clone(),
        reason: d.reason.clone(),
        status: d.status.as_str().to_string(),
        open: d.status.is_open(),
        needs_response: d.status.needs_response(),
        evidence_due_by: d.evidence_due_by.map(|t| iso_millis(t.millis())),
        funds_withdrawn: d.funds_withdrawn,
        submitted_at: d.submitted_at.map(|t| iso_millis(t.millis())),
        created_at: iso_millis(d.created_at.millis()),
        updated_at: iso_millis(d.updated_at.millis()),
    }
}

pub(crate) async fn open_disputes(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<DisputeList>, ApiError> {
    let list = state.holds.open_disputes(&caller, 500).await?;
    Ok(Json(DisputeList { disputes: list.iter().map(dispute_record).collect(), has_more: list.len() >= 500 }))
}

pub(crate) async fn hold_disputes(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<DisputeList>, ApiError> {
    let list = state.holds.disputes(&id, &caller).await?;
    Ok(Json(DisputeList { disputes: list.iter().map(dispute_record).collect(), has_more: false }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct EvidenceQuery {
    format: Option<String>,
}

/// The packet with its amounts written as money, for the printable page.
pub(crate) fn printable(p: &EvidencePacket) -> Value {
    let currency = Currency::parse(&p.hold.currency).unwrap_or_else(|_| Currency::usd());
    let mut v = serde_json::to_value(p).unwrap_or_default();
    let fmt = |x: &mut Value| {
        if let Some(n) = x.as_i64() {
            *x = Value::String(currency.format(n));
        }
    };
    for k in ["authorized", "captured", "refunded"] {
        if let Some(x) = v.pointer_mut(&format!("/hold/{k}")) {
            fmt(x);
        }
    }
    if let Some(x) = v.pointer_mut("/dispute/amount") {
        fmt(x);
    }
    for list in ["damage_lines", "timeline"] {
        if let Some(items) = v.get_mut(list).and_then(Value::as_array_mut) {
            for item in items {
                if let Some(x) = item.get_mut("amount") {
                    fmt(x);
                }
            }
        }
    }
    v
}

pub(crate) fn evidence_page(p: &EvidencePacket, console: Option<&str>) -> Response {
    crate::web::render(
        "evidence.html",
        minijinja::context! { p => printable(p), console => console.is_some(), csrf => console.unwrap_or_default() },
    )
}

pub(crate) async fn evidence(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<EvidenceQuery>,
) -> Result<Response, ApiError> {
    let html = match q.format.as_deref().filter(|f| !f.is_empty()) {
        Some("html") => true,
        Some("json") => false,
        Some(_) => return Err(CoreError::validation("format", "format must be json or html").into()),
        None => headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html")),
    };
    let packet = state.holds.evidence_packet(&id, &caller).await?;
    Ok(if html { evidence_page(&packet, None) } else { Json(packet).into_response() })
}

pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<DisputeRecord>, ApiError> {
    let d = state.holds.submit_dispute_evidence(&id, &caller).await?;
    Ok(Json(dispute_record(&d)))
}
