//! Health. `/livez` says the process answers (no I/O). `/readyz` says it can
//! do its work: the store takes a write, the processor and ChittyID answer,
//! and the job runner ticks. Probes run concurrently, each within a short
//! budget and without retries. `/health` keeps the original's shape on top
//! of the same readiness.
//!
//! Both answer from the last probe's result, rendered once: a request never
//! waits for a probe (except the very first) and takes no lock. When the
//! result is older than a second, the request that notices starts one probe
//! in the background and still answers from the old result, so an answer is
//! at most about two seconds old, health checks cost almost nothing, and
//! they cannot be used to hammer Stripe.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chittycharge_api::{ComponentHealth, Health};
use serde_json::{json, Value};

use crate::config::ProcessorKind;
use crate::health_cache::{wall_ms, Snapshot};
use crate::state::AppState;

/// Each probe's budget; a dependency slower than this counts as down.
const PROBE_BUDGET: Duration = Duration::from_millis(1_000);
/// How long a readiness result is reused.
const CACHE_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub(crate) struct Readiness {
    pub store: Result<(), String>,
    pub processor: Result<(), String>,
    /// `None` when no ChittyID service is configured.
    pub chittyid: Option<Result<(), String>>,
    /// Milliseconds since the job runner last ticked, when it is late.
    pub runner_late_ms: Option<i64>,
}

impl Readiness {
    pub(crate) fn ready(&self) -> bool {
        self.store.is_ok() && self.processor.is_ok() && self.runner_late_ms.is_none()
    }
}

async fn within<F, E>(f: F) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(PROBE_BUDGET, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", PROBE_BUDGET.as_millis())),
    }
}

async fn probe(state: &AppState) -> Readiness {
    // A write, not a ping: a read-only database is not ready.
    // (One rate-limit row, allowed every time: a 1 µs interval at now.)
    let now_us = wall_ms().saturating_mul(1000);
    let store = within(async { state.store.rate_limit_gcra("readyz", now_us, 1, i64::MAX / 4, 1).await.map(|_| ()) });
    let processor = within(state.holds.processor.ping());
    let chitty = async {
        match state.config.chitty_id_token {
            Some(_) => Some(within(state.chitty.probe()).await),
            None => None,
        }
    };
    let (store, processor, chittyid) = tokio::join!(store, processor, chitty);
    let interval = i64::try_from(state.config.jobs_interval_ms).unwrap_or(i64::MAX / 8);
    let last = state.health.runner_tick_ms.load(Ordering::Relaxed);
    let since = wall_ms() - last;
    let late = last > 0 && since > (interval.saturating_mul(5)).max(30_000);
    Readiness { store, processor, chittyid, runner_late_ms: late.then_some(since) }
}

/// Whether the service is ready, as `/readyz` would answer now (from the
/// cache, like it), for the registry's heartbeat.
pub(crate) async fn ready(state: &Arc<AppState>) -> bool {
    snapshot(state).await.readyz.0 == StatusCode::OK
}

fn current(state: &AppState) -> Option<Arc<Snapshot>> {
    state.health.cached.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

async fn refresh(state: &AppState) -> Arc<Snapshot> {
    let r = probe(state).await;
    let snap = Arc::new(Snapshot { at: Instant::now(), health: render_health(state, &r), readyz: render_readyz(&r) });
    *state.health.cached.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(snap.clone());
    snap
}

/// The last result; a stale one starts a background probe and is still
/// answered. Only before the first result does a request wait.
async fn snapshot(state: &Arc<AppState>) -> Arc<Snapshot> {
    if let Some(snap) = current(state) {
        if snap.at.elapsed() >= CACHE_FOR && !state.health.probing.swap(true, Ordering::AcqRel) {
            let state = state.clone();
            tokio::spawn(async move {
                refresh(&state).await;
                state.health.probing.store(false, Ordering::Release);
            });
        }
        return snap;
    }
    let _first = state.health.first.lock().await;
    match current(state) {
        Some(snap) => snap,
        None => refresh(state).await,
    }
}

fn json_response((status, body): &(StatusCode, Bytes)) -> Response {
    let mut r = (*status, body.clone()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) async fn livez() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

fn part(r: &Result<(), String>) -> Value {
    match r {
        Ok(()) => json!({ "status": "ok" }),
        Err(_) => json!({ "status": "down" }),
    }
}

fn render_readyz(r: &Readiness) -> (StatusCode, Bytes) {
    let body = json!({
        "status": if r.ready() { "ready" } else { "not_ready" },
        "store": part(&r.store),
        "processor": part(&r.processor),
        "chittyid": r.chittyid.as_ref().map_or(json!({ "status": "not_configured" }), part),
        "job_runner": match r.runner_late_ms {
            None => json!({ "status": "ok" }),
            Some(ms) => json!({ "status": "late", "last_tick_ms_ago": ms }),
        },
    });
    (if r.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Bytes::from(body.to_string()))
}

pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    json_response(&snapshot(&state).await.readyz)
}

pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Response {
    json_response(&snapshot(&state).await.health)
}

fn component(ok: bool, kind: &str, detail: Option<String>) -> ComponentHealth {
    ComponentHealth { status: if ok { "ok" } else { "down" }.into(), kind: kind.into(), detail }
}

fn render_health(state: &AppState, r: &Readiness) -> (StatusCode, Bytes) {
    let store_ok = r.store.is_ok();
    let status = if r.ready() { "healthy" } else { "degraded" };
    let chitty = match &r.chittyid {
        Some(Ok(())) => component(true, "chittyid", Some(state.config.chitty_id_url.clone())),
        Some(Err(_)) => component(
            false,
            "chittyid",
            Some(format!("{} unreachable; new holds get PENDING ids", state.config.chitty_id_url)),
        ),
        None => ComponentHealth {
            status: "not_configured".into(),
            kind: "chittyid".into(),
            detail: Some("CHITTY_ID_TOKEN not set; holds keep PENDING ids".into()),
        },
    };
    let body = Health {
        status: status.into(),
        service: "chittycharge".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        store: component(store_ok, state.store.backend().as_str(), r.store.is_err().then(|| "unavailable".to_string())),
        processor: component(
            r.processor.is_ok(),
            state.holds.processor.name(),
            r.processor.is_err().then(|| "unreachable".to_string()),
        ),
        chittyid: chitty,
        stripe_connected: state.config.processor == ProcessorKind::Stripe && state.config.stripe_secret_key.is_some(),
        chittyid_connected: state.config.chitty_id_token.is_some(),
        registry: state.registry.get(),
    };
    let code = if store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Bytes::from(serde_json::to_vec(&body).unwrap_or_default()))
}
