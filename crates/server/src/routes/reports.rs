//! `GET /api/reports/holds` and `GET /api/reports/claims`: a period's holds
//! (one row each, totals per property and currency) or damage-claim lines,
//! as JSON (integer minor units) or CSV (major units, said in the header),
//! by `Accept` or `format=`. The body is streamed a page at a time, so
//! memory stays flat however long the period.
//!
//! The first page is read before the response starts, so a refused token
//! or a broken store is an ordinary error response; a failure after that
//! aborts the body (the client sees a truncated transfer, never a report
//! that silently ends early).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chittycharge_core::reports::{ReportCursor, ReportPeriod};
use chittycharge_core::{Caller, CoreError};
use chittycharge_domain::time::iso_millis;
use chittycharge_domain::Timestamp;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

mod render;
use render::{ClaimRows, HoldRows, Rows};

#[derive(Debug, Deserialize)]
pub(crate) struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    property_id: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Json,
}

fn format(q: &ReportQuery, headers: &HeaderMap) -> Result<Format, ApiError> {
    match q.format.as_deref().filter(|f| !f.is_empty()) {
        Some("csv") => Ok(Format::Csv),
        Some("json") => Ok(Format::Json),
        Some(_) => Err(CoreError::validation("format", "format must be csv or json").into()),
        None => {
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            Ok(if crate::negotiate::prefers(accept, "text/csv") { Format::Csv } else { Format::Json })
        }
    }
}

/// A date (`2026-11-01`, a whole UTC day: `to` includes it) or an RFC 3339
/// instant (`to` excludes it).
fn bound(field: &str, v: Option<&str>, is_end: bool) -> Result<Timestamp, ApiError> {
    let v = v.filter(|s| !s.is_empty()).ok_or_else(|| {
        CoreError::validation(field, format!("{field} is required: a date such as 2026-11-01 or an RFC 3339 instant"))
    })?;
    let millis = if let Ok(day) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let day = if is_end { day.succ_opt() } else { Some(day) };
        day.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp_millis())
    } else {
        // Both ends are "at or after" (`from`) or "before" (`to`) an instant.
        crate::input::rfc3339_millis(v).map(|(_, ceil)| ceil)
    };
    match millis {
        Some(ms) if (0..=253_402_300_799_000).contains(&ms) => Ok(Timestamp::from_millis(ms)),
        _ => Err(CoreError::validation(
            field,
            format!("{field} must be a date such as 2026-11-01 or an RFC 3339 instant such as 2026-11-01T00:00:00Z"),
        )
        .into()),
    }
}

fn period(q: &ReportQuery) -> Result<ReportPeriod, ApiError> {
    let from = bound("from", q.from.as_deref(), false)?;
    let to = bound("to", q.to.as_deref(), true)?;
    let property = q.property_id.clone().filter(|p| !p.is_empty());
    Ok(ReportPeriod::new(from, to, property)?)
}

/// What a report reads page by page; `Rows` renders them.
#[async_trait::async_trait]
trait Source: Send + 'static {
    type Item: Send;
    async fn page(&self, after: ReportCursor) -> Result<Vec<Self::Item>, CoreError>;
    fn cursor(item: &Self::Item) -> (Timestamp, String);
}

struct Holds(Arc<AppState>, ReportPeriod, Caller);
struct Claims(Arc<AppState>, ReportPeriod, Caller);

#[async_trait::async_trait]
impl Source for Holds {
    type Item = (chittycharge_domain::Hold, i64);
    async fn page(&self, after: ReportCursor) -> Result<Vec<Self::Item>, CoreError> {
        let later = after.is_some();
        let items = self.0.holds.report_holds(&self.1, after, &self.2).await?;
        later_page_barrier(&self.0, later).await?;
        Ok(items)
    }
    fn cursor((h, _): &Self::Item) -> (Timestamp, String) {
        (h.created_at, h.id.clone())
    }
}

#[async_trait::async_trait]
impl Source for Claims {
    type Item = chittycharge_store::DamageClaim;
    async fn page(&self, after: ReportCursor) -> Result<Vec<Self::Item>, CoreError> {
        let later = after.is_some();
        let items = self.0.holds.report_claims(&self.1, after, &self.2).await?;
        later_page_barrier(&self.0, later).await?;
        Ok(items)
    }
    fn cursor(c: &Self::Item) -> (Timestamp, String) {
        (c.created_at, c.id.clone())
    }
}

/// The first page is read before the response and leaves after its
/// barrier (`observe::around`); a later page is read while the body streams,
/// so it passes one of its own before it is shown.
async fn later_page_barrier(state: &AppState, later: bool) -> Result<(), CoreError> {
    if later {
        state.holds.barrier().await?;
    }
    Ok(())
}

enum Phase<T> {
    Page(Vec<T>),
    Totals,
    Done,
}

/// Streams `source` through `rows`: the head, each page, then the totals.
async fn stream<S, R>(source: S, mut rows: R, kind: &str, period: &ReportPeriod) -> Result<Response, ApiError>
where
    S: Source,
    R: Rows<S::Item> + Send + 'static,
{
    let first = source.page(None).await?;
    let head = rows.head(period);
    let format = rows.format();
    let init = (source, rows, Phase::Page(first));
    let body = futures_util::stream::unfold(init, |(source, mut rows, phase)| async move {
        match phase {
            Phase::Page(items) if items.is_empty() => {
                let tail = rows.totals();
                Some((Ok::<Bytes, std::io::Error>(tail), (source, rows, Phase::Done)))
            }
            Phase::Page(items) => {
                let chunk = rows.page(&items);
                let next = if i64::try_from(items.len()).unwrap_or(i64::MAX) < chittycharge_core::reports::REPORT_PAGE {
                    Phase::Totals
                } else {
                    match source.page(items.last().map(S::cursor)).await {
                        Ok(more) => Phase::Page(more),
                        Err(e) => {
                            tracing::error!(error = %e, "a report stopped part-way; the transfer is cut short");
                            let err = std::io::Error::other("report aborted");
                            return Some((Err(err), (source, rows, Phase::Done)));
                        }
                    }
                };
                Some((Ok(chunk), (source, rows, next)))
            }
            Phase::Totals => {
                let tail = rows.totals();
                Some((Ok(tail), (source, rows, Phase::Done)))
            }
            Phase::Done => None,
        }
    });
    let body = futures_util::StreamExt::chain(futures_util::stream::once(async move { Ok(head) }), body);
    let mut resp = Body::from_stream(body).into_response();
    let (content_type, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Guests' emails and money: no cache keeps a copy.
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let name = format!(
        "attachment; filename=\"chittycharge-{kind}-{}-{}.{ext}\"",
        &iso_millis(period.from.millis())[..10],
        &iso_millis(period.to.millis())[..10]
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// A report for `caller`: who may read comes before what was asked.
async fn report(
    state: Arc<AppState>,
    caller: Caller,
    kind: &str,
    headers: &HeaderMap,
    q: &ReportQuery,
) -> Result<Response, ApiError> {
    caller.require_read()?;
    let format = format(q, headers)?;
    let period = period(q)?;
    match kind {
        "claims" => stream(Claims(state, period.clone(), caller), ClaimRows::new(format), "claims", &period).await,
        "holds" => stream(Holds(state, period.clone(), caller), HoldRows::new(format), "holds", &period).await,
        _ => Err(CoreError::validation("kind", "kind must be holds or claims").into()),
    }
}

/// The console's download: the same report for a signed-in manager.
pub(crate) async fn download(
    state: Arc<AppState>,
    caller: Caller,
    kind: &str,
    q: ReportQuery,
) -> Result<Response, ApiError> {
    report(state, caller, kind, &HeaderMap::new(), &q).await
}

pub(crate) async fn holds_report(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    report(state, caller, "holds", &headers, &q).await
}

pub(crate) async fn claims_report(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    report(state, caller, "claims", &headers, &q).await
}
