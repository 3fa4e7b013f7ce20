//! The console after the capture: the report download and disputes (the
//! open ones, and a disputed hold's printable evidence).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::Value;

use super::render;
use super::session::{over_limit, session};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub(super) struct ReportForm {
    kind: Option<String>,
    #[serde(flatten)]
    query: crate::routes::reports::ReportQuery,
}

/// The holds page's "Download CSV": the report, as the API streams it.
pub(super) async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(form): Query<ReportForm>,
) -> Response {
    let Some(s) = session(&state, &headers).await else { return Redirect::to("/console").into_response() };
    if let Some(r) = over_limit(&state, &s).await {
        return r;
    }
    let kind = form.kind.unwrap_or_else(|| "holds".into());
    crate::routes::reports::download(state, s.caller, &kind, form.query).await.into_response()
}

/// Open disputes, the soonest evidence deadline first.
pub(super) async fn disputes(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = session(&state, &headers).await else { return Redirect::to("/console").into_response() };
    if let Some(r) = over_limit(&state, &s).await {
        return r;
    }
    let list = state.holds.open_disputes(&s.caller, 200).await.unwrap_or_default();
    let rows: Vec<Value> = list
        .iter()
        .map(|d| {
            let amount = chittycharge_domain::Currency::parse(&d.currency)
                .map_or_else(|_| d.amount.to_string(), |c| c.format(d.amount));
            let due = d
                .evidence_due_by
                .map(|t| chittycharge_domain::time::iso_millis(t.millis()))
                .unwrap_or_else(|| "–".into());
            serde_json::json!({ "href": format!("/console/holds/{}/evidence", d.hold_id),
                "cells": [due, d.hold_id.clone(), d.status.as_str(), d.reason.clone(), amount] })
        })
        .collect();
    render(
        "table.html",
        context! { console => true, csrf => s.csrf, heading => "Open disputes", columns => ["Evidence due", "Hold", "Status", "Reason", "Amount"], rows => rows },
    )
}

/// The printable evidence packet of a disputed hold.
pub(super) async fn evidence(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(s) = session(&state, &headers).await else { return Redirect::to("/console").into_response() };
    if let Some(r) = over_limit(&state, &s).await {
        return r;
    }
    match state.holds.evidence_packet(&id, &s.caller).await {
        Ok(p) => super::evidence::evidence_page(&p, Some(&s.csrf)),
        Err(_) => ApiError::RouteNotFound.into_response(),
    }
}
