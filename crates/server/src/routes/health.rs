//! Health. `/livez` says the process answers (no I/O). `/readyz` says it can
//! do its work: the store takes a write, the processor and ChittyID answer,
//! and the job runner ticks. Probes run concurrently, each within a short
//! budget and without retries, and their result is cached for a few seconds
//! (one probe at a time, whoever asks), so health checks cost almost nothing
//! and cannot be used to hammer Stripe. `/health` keeps the original's shape
//! on top of the cached readiness.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chittycharge_api::{ComponentHealth, Health};
use serde_json::{json, Value};

use crate::app::AppState;
use crate::config::ProcessorKind;

/// Each probe's budget; a dependency slower than this counts as down.
const PROBE_BUDGET: Duration = Duration::from_millis(1_000);
/// How long a readiness result is reused.
const CACHE_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Readiness {
    pub store: Result<(), String>,
    pub processor: Result<(), String>,
    /// `None` when no ChittyID service is configured.
    pub chittyid: Option<Result<(), String>>,
    /// Milliseconds since the job runner last ticked, when it is late.
    pub runner_late_ms: Option<i64>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.store.is_ok() && self.processor.is_ok() && self.runner_late_ms.is_none()
    }
}

/// The last readiness result and the job runner's heartbeat.
#[derive(Default)]
pub struct HealthState {
    cached: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
    /// Wall-clock milliseconds of the runner's last tick (0: not yet).
    runner_tick_ms: AtomicI64,
}

fn wall_ms() -> i64 {
    chittycharge_processor::Clock::now(&chittycharge_processor::SystemClock).millis()
}

impl HealthState {
    /// Called by the job runner at every tick.
    pub fn runner_ticked(&self) {
        self.runner_tick_ms.store(wall_ms(), Ordering::Relaxed);
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
    let store = within(async { state.store.rate_limit_gcra("readyz", now_us, 1, i64::MAX / 4).await.map(|_| ()) });
    let processor = within(state.holds.processor.ping());
    let chitty = async {
        match state.config.chitty_id_token {
            Some(_) => Some(within(state.holds.chitty.probe()).await),
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

/// The cached readiness, probing again once it is older than a few seconds.
pub async fn readiness(state: &AppState) -> Readiness {
    let mut cached = state.health.cached.lock().await;
    if let Some((at, r)) = cached.as_ref() {
        if at.elapsed() < CACHE_FOR {
            return r.clone();
        }
    }
    let r = probe(state).await;
    *cached = Some((Instant::now(), r.clone()));
    r
}

pub async fn livez() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

fn part(r: &Result<(), String>) -> Value {
    match r {
        Ok(()) => json!({ "status": "ok" }),
        Err(_) => json!({ "status": "down" }),
    }
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let r = readiness(&state).await;
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
    (if r.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

fn component(ok: bool, kind: &str, detail: Option<String>) -> ComponentHealth {
    ComponentHealth { status: if ok { "ok" } else { "down" }.into(), kind: kind.into(), detail }
}

pub async fn health(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    let r = readiness(&state).await;
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
        store: component(store_ok, state.store.backend().as_str(), r.store.err().map(|_| "unavailable".to_string())),
        processor: component(
            r.processor.is_ok(),
            state.holds.processor.name(),
            r.processor.err().map(|_| "unreachable".to_string()),
        ),
        chittyid: chitty,
        stripe_connected: state.config.processor == ProcessorKind::Stripe && state.config.stripe_secret_key.is_some(),
        chittyid_connected: state.config.chitty_id_token.is_some(),
    };
    let code = if store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}
