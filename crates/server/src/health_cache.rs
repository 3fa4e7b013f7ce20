//! What `/health`, `/livez` and `/readyz` answer from: the last probe's
//! rendered answers and the job runner's heartbeat. Only data here; the
//! probing is in `routes::health`, which fills it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::StatusCode;

/// A probe's result with both answers rendered.
pub(crate) struct Snapshot {
    pub at: Instant,
    pub health: (StatusCode, Bytes),
    pub readyz: (StatusCode, Bytes),
}

/// The last probe's answers and the job runner's heartbeat.
#[derive(Default)]
pub struct HealthState {
    /// Read on every health request; written once per probe.
    pub(crate) cached: std::sync::RwLock<Option<Arc<Snapshot>>>,
    /// Set while a background probe runs: at most one at a time.
    pub(crate) probing: std::sync::atomic::AtomicBool,
    /// Makes the requests that arrive before any result wait for one probe.
    pub(crate) first: tokio::sync::Mutex<()>,
    /// Wall-clock milliseconds of the runner's last tick (0: not yet).
    pub(crate) runner_tick_ms: AtomicI64,
}

pub(crate) fn wall_ms() -> i64 {
    chittycharge_processor::Clock::now(&chittycharge_processor::SystemClock).millis()
}

impl HealthState {
    /// Called by the job runner at every tick.
    pub fn runner_ticked(&self) {
        self.runner_tick_ms.store(wall_ms(), Ordering::Relaxed);
    }
}
