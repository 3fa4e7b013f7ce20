//! Building the application: store, processor, clock, tokens and router.
//! `Application::build` binds the listener, so tests can ask for port 0 and
//! read the port back.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use chittycharge_processor::simulated::{EventSink, SimulatedProcessor};
use chittycharge_processor::stripe::retry::RetryPolicy;
use chittycharge_processor::stripe::{StripeProcessor, StripeTimeouts};
use chittycharge_processor::{Clock, Processor, SystemClock, TestClock};
use chittycharge_store::{SqlStore, Store};
use secrecy::ExposeSecret;

use crate::auth::{hash_token, SCOPE_ADMIN};
use crate::config::{Config, ProcessorKind};
use crate::protect::ratelimit::RateLimiter;
use crate::routes;
use crate::state::{AppState, BODY_LIMIT};
use chittycharge_core::sim_backend::StoreSimBackend;
use chittycharge_core::HoldService;

/// The Stripe processor from configuration.
pub fn stripe_processor(config: &Config) -> anyhow::Result<Arc<dyn Processor>> {
    let key = config.stripe_secret_key.clone().context("STRIPE_SECRET_KEY: required for the Stripe processor")?;
    let timeouts = StripeTimeouts {
        connect: Duration::from_millis(config.stripe_timeout_ms.min(10_000)),
        request: Duration::from_millis(config.stripe_timeout_ms),
    };
    let policy = RetryPolicy { max_attempts: config.stripe_max_attempts, ..RetryPolicy::default() };
    Ok(Arc::new(StripeProcessor::new(&config.stripe_api_base, key, timeouts, policy)?))
}

/// Delivers the simulator's events to the pipeline Stripe's webhooks use,
/// asynchronously, as a real delivery would arrive. An event announcing a
/// change that the call making it will settle is dropped at once
/// (core/src/in_flight.rs).
struct SimEvents(Weak<AppState>);

impl EventSink for SimEvents {
    fn emit(&self, event: serde_json::Value) {
        let Some(state) = self.0.upgrade() else { return };
        if state.holds.in_flight.settles(&event) {
            return;
        }
        tokio::spawn(async move {
            if let Err(e) = state.holds.apply_own_event(&event).await {
                tracing::warn!(error = %e, "simulated event was not applied");
            }
        });
    }
}

/// The benchmark's floor: a static JSON answer on a router with no
/// middleware at all, merged in only when `CHITTYCHARGE_BENCH_FLOOR` is set.
fn bench_floor(enabled: bool) -> Router<Arc<AppState>> {
    if !enabled {
        return Router::new();
    }
    Router::new().route("/_bench/floor", axum::routing::get(|| async { axum::Json(serde_json::json!({ "ok": true })) }))
}

pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    pub state: Arc<AppState>,
    /// The install's first API token, when this start created it.
    pub first_token: Option<String>,
}

/// Opens the configured store and runs its migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = SqlStore::connect(&config.database_url)
        .await
        .with_context(|| format!("cannot open the store at {}", config.database_display()))?;
    Ok(Arc::new(store))
}

/// `serve --token-file` could not write its file (a usage error: exit 2).
#[derive(Debug, thiserror::Error)]
#[error("--token-file {path}: {why}")]
pub struct TokenFileError {
    pub path: String,
    pub why: String,
}

/// A new file only its owner can read: O_CREAT|O_EXCL fails on anything
/// already there, a symlink, FIFO or device included.
fn write_token_file(path: &std::path::Path, token: &str) -> Result<(), TokenFileError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(path).and_then(|mut f| {
        writeln!(f, "{token}")?;
        f.sync_all()
    });
    written.map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
            "it exists (remove it, or name a new file); no token was made".to_string()
        } else {
            format!("{e}; no token was made")
        };
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            // Ours, half-written (a full disk): not left behind.
            let _ = std::fs::remove_file(path);
        }
        TokenFileError { path: path.display().to_string(), why }
    })
}

impl Application {
    /// `token_file`: where the install's first token goes, if this start
    /// makes one (`serve --token-file`); written before the token is stored.
    pub async fn build(config: Config, token_file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let _ = BODY_LIMIT.set(config.max_body_bytes);
        // On SQLite this server becomes the file's only writer (waiting a
        // little for a previous server that is still shutting down) before
        // it opens or migrates anything; that also lets the store cache
        // hold reads.
        let lock =
            SqlStore::lock_sqlite(&config.database_url, Duration::from_secs(10)).await.context("DATABASE_URL")?;
        let store = SqlStore::connect(&config.database_url)
            .await
            .with_context(|| format!("cannot open the store at {}", config.database_display()))?;
        store.become_sole_writer(lock);
        // Writes return at commit; every response, processor call, email and
        // ChittyID request passes `Store::sync` first (store/src/durable.rs).
        store.defer_flushes_to_barriers();
        let store: Arc<dyn Store> = Arc::new(store);
        // A database that cannot be written would serve reads and fail every
        // hold: refuse to start on it.
        store.rate_limit_gcra("startup-write-check", 0, 1, 0, 1).await.map_err(|e| {
            anyhow::anyhow!("DATABASE_URL: the store at {} cannot be written: {e}", config.database_display())
        })?;
        let (clock, test_clock): (Arc<dyn Clock>, Option<Arc<TestClock>>) = if config.test_clock {
            let c = Arc::new(TestClock::default());
            (c.clone(), Some(c))
        } else {
            (Arc::new(SystemClock), None)
        };
        let (processor, sim): (Arc<dyn Processor>, Option<Arc<SimulatedProcessor>>) = match config.processor {
            ProcessorKind::Simulated => {
                let sim = Arc::new(SimulatedProcessor::new(Arc::new(StoreSimBackend(store.clone())), clock.clone()));
                (sim.clone(), Some(sim))
            }
            // Stripe is outside this process: what we recorded before a call
            // must be on disk before the call goes out. (The simulator shares
            // our write-ahead log, which orders its writes after ours.)
            ProcessorKind::Stripe => (stripe_processor(&config)?, None),
        };

        let now = clock.now();
        if let Some(token) = &config.api_token {
            let hash = hash_token(token.expose_secret());
            if store.find_token_by_hash(&hash).await?.is_none() {
                let record = chittycharge_store::TokenRecord {
                    id: format!("tok_env_{}", &hash[..12]),
                    name: "CHITTYCHARGE_API_TOKEN".into(),
                    token_hash: hash,
                    scopes: vec![SCOPE_ADMIN.into()],
                    property_ids: None,
                    rate_limit: None,
                    created_at: now,
                    revoked_at: None,
                };
                store.insert_token(&record).await?;
            }
        }
        let first_token = if store.count_tokens().await? == 0 {
            // Its own limit, so the README's examples run back to back; tokens
            // made later keep the per-minute default unless told otherwise.
            let limit = Some(i64::from(config.install_token_rate_limit));
            let token = crate::auth::generate_token();
            // The file first: if it cannot be written, no token exists that
            // nobody has.
            if let Some(path) = token_file {
                write_token_file(path, &token)?;
            }
            crate::auth::store_token(store.as_ref(), &token, "install", vec![SCOPE_ADMIN.into()], None, limit, now)
                .await?;
            Some(token)
        } else {
            None
        };

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("CHITTYCHARGE_LISTEN: cannot listen on {}", config.listen))?;
        let chitty = Arc::new(crate::chittyid::ChittyIdClient::new(
            &config.chitty_id_url,
            config.chitty_id_token.clone(),
            config.chitty_id_timeout_ms,
        ));
        let automation = chittycharge_core::automation::Automation {
            chitty_retry: config.chitty_id_retry.clone(),
            expiry_warning_secs: config.expiry_warning_secs,
            reauth_margin_secs: config.reauth_margin_secs,
            operator_email: config.operator_email.clone(),
        };
        crate::observe::recorder();
        let processor: Arc<dyn Processor> = Arc::new(crate::observe::Metered(processor));
        let holds = HoldService {
            store: store.clone(),
            processor,
            clock,
            default_currency: config.currency,
            chitty: chitty.clone(),
            automation,
            in_flight: Arc::default(),
            hints: chittycharge_core::HoldHints::default(),
        };
        let max_body = config.max_body_bytes;
        let limiter = RateLimiter::for_store(store.clone());
        let cors = crate::protect::cors::layer(&config.allowed_origins);
        let bound = listener.local_addr().context("reading the bound address")?;
        let base_url = config.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
        let orphans_before = (store.backend() == chittycharge_store::Backend::Sqlite).then(|| holds.now());
        let state = Arc::new(AppState {
            config,
            store,
            holds,
            chitty,
            sim,
            test_clock,
            limiter,
            token_cache: crate::auth::TokenCache::default(),
            health: crate::health_cache::HealthState::default(),
            registry: Arc::default(),
            base_url,
            orphans_before,
        });
        if let Some(sim) = &state.sim {
            sim.set_event_sink(Arc::new(SimEvents(Arc::downgrade(&state))));
        }
        // The edge (`protect::edge`) is one service around every route:
        // observation, CORS, the body deadline, the task a mutating request
        // runs in, authentication and `Idempotency-Key`. The body limit is
        // read by the extractors inside it.
        let router = routes::router()
            .layer(DefaultBodyLimit::max(max_body))
            .layer(crate::protect::edge::EdgeLayer::new(state.clone(), cors))
            .merge(bench_floor(state.config.bench_floor))
            .with_state(state.clone());
        Ok(Self { listener, router, state, first_token })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The one line printed on stdout at start-up. It never carries the
    /// install's first token: stdout is often a log stream.
    pub fn banner(&self, token_file: Option<&std::path::Path>) -> String {
        let addr = self.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let token = match (&self.first_token, token_file) {
            (Some(_), Some(path)) => format!("API token: made for this install, written to {}", path.display()),
            (Some(_), None) => "API token: made for this install, printed once on stderr".into(),
            (None, _) if self.state.config.api_token.is_some() => "API token: the one in CHITTYCHARGE_API_TOKEN".into(),
            (None, _) => "API token: issued earlier (make another with `chittycharge token create`)".into(),
        };
        format!(
            "ChittyCharge listening on http://{addr} | processor: {} | store: {} | {token}",
            self.state.config.processor.as_str(),
            self.state.config.database_display()
        )
    }

    /// Serves HTTP and runs the background jobs until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
        if let (Some(registry), Some(token)) = (&self.state.config.registry, &self.state.config.chitty_id_token) {
            // Beside the server, never before it: start-up does not wait
            // for the registry.
            let state = self.state.clone();
            let ready = move || {
                let state = state.clone();
                async move { crate::routes::health::ready(&state).await }
            };
            tokio::spawn(crate::registry::run(
                registry.clone(),
                token.clone(),
                self.state.registry.clone(),
                ready,
                jobs_stopped.clone(),
            ));
        }
        tokio::spawn(crate::observe::upkeep(jobs_stopped.clone(), crate::observe::UPKEEP_EVERY));
        let jobs = tokio::spawn(crate::jobs::supervise(self.state.clone(), jobs_stopped));
        if let Some(addr) = self.state.config.edge.metrics_listen {
            // Metrics on their own address, for a scraper inside the network.
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let router = Router::new()
                .route("/metrics", axum::routing::get(crate::observe::metrics_endpoint))
                .with_state(self.state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let limits = crate::serve::Limits {
            header_read_timeout: Duration::from_millis(self.state.config.edge.header_read_timeout_ms),
            max_connections: self.state.config.edge.max_connections,
            shutdown_grace: Duration::from_millis(self.state.config.edge.shutdown_grace_ms),
        };
        let served = crate::serve::serve(self.listener, self.router, limits, shutdown).await;
        let _ = stop_jobs.send(true);
        let _ = jobs.await;
        if let Err(e) = self.state.store.close().await {
            tracing::warn!(error = %e, "the store could not be closed cleanly; the next start recovers its log");
        }
        tracing::info!("stopped");
        served
    }
}
