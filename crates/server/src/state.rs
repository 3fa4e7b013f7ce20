//! What every request handler, middleware and job shares.

use std::sync::{Arc, OnceLock};

use chittycharge_core::HoldService;
use chittycharge_processor::simulated::SimulatedProcessor;
use chittycharge_processor::TestClock;
use chittycharge_store::Store;

use crate::config::Config;
use crate::protect::ratelimit::RateLimiter;

pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub holds: HoldService,
    /// The same client the use cases mint through, for `/health`'s probe.
    pub chitty: Arc<crate::chittyid::ChittyIdClient>,
    /// The simulator's own endpoints need the concrete type.
    pub sim: Option<Arc<SimulatedProcessor>>,
    pub test_clock: Option<Arc<TestClock>>,
    pub limiter: RateLimiter,
    pub token_cache: crate::auth::TokenCache,
    /// Cached readiness and the job runner's heartbeat.
    pub health: crate::health_cache::HealthState,
    /// Where registration in ChittyRegistry stands, for `/health`.
    pub registry: Arc<crate::registry::RegistryState>,
    /// Base of links handed to guests: `CHITTYCHARGE_PUBLIC_URL`, or the
    /// address actually bound (so port 0 becomes the real port).
    pub base_url: String,
    /// On SQLite this process is the file's only writer, so an operation
    /// still pending from before it started (a crash, a restored backup)
    /// has no request left to finish it: the janitor need not wait.
    pub orphans_before: Option<chittycharge_domain::Timestamp>,
}

pub(crate) static BODY_LIMIT: OnceLock<usize> = OnceLock::new();

/// The configured request-body limit, for the 413 message.
pub fn body_limit() -> usize {
    BODY_LIMIT.get().copied().unwrap_or(65_536)
}
