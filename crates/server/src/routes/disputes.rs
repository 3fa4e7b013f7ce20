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
use chittycharge_core::{Caller, CoreError};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;
use crate::views::dispute_record;
use crate::web::evidence::evidence_page;

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
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| crate::negotiate::prefers(a, "text/html")),
    };
    let packet = state.holds.evidence_packet(&id, &caller).await?;
    Ok(if html {
        evidence_page(&packet, None)
    } else {
        let mut r = Json(packet).into_response();
        r.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
        r
    })
}

pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<DisputeRecord>, ApiError> {
    let d = state.holds.submit_dispute_evidence(&id, &caller).await?;
    Ok(Json(dispute_record(&d)))
}
