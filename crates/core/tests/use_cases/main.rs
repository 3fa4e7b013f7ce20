//! The use cases on their own: a `HoldService` over a SQLite file in a temp
//! directory, the simulated processor and a test clock. No server, no
//! network; each test takes milliseconds.
#![expect(
    clippy::expect_used,
    reason = "test code: a failed expectation is the test failing, helpers are shared across modules, and the tests print what they measured"
)]

mod bookings;
mod holds;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chittycharge_core::automation::Automation;
use chittycharge_core::caller::{Caller, SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE};
use chittycharge_core::ids::NoMinter;
use chittycharge_core::sim_backend::StoreSimBackend;
use chittycharge_core::{CreateHold, HoldHints, HoldService, InFlight};
use chittycharge_domain::{Currency, GuestTier, Hold};
use chittycharge_processor::simulated::{EventSink, SimulatedProcessor};
use chittycharge_processor::{IdempotencyKey, Intent, TestClock};
use chittycharge_store::{SqlStore, Store};

pub struct World {
    pub svc: HoldService,
    pub clock: Arc<TestClock>,
    /// The simulator's events, each with whether the call that caused it
    /// settles it (`InFlight::settles`, asked as it is emitted).
    pub events: Arc<Mutex<Vec<(String, bool)>>>,
    /// The same events whole, to apply by hand.
    pub raw_events: Arc<Mutex<Vec<serde_json::Value>>>,
    /// The simulator itself, for the guest's steps (3-D Secure).
    pub sim: Arc<SimulatedProcessor>,
    _dir: tempfile::TempDir,
}

/// Records what the server's sink would drop and what it would apply.
struct Recorder {
    in_flight: Arc<InFlight>,
    events: Arc<Mutex<Vec<(String, bool)>>>,
    raw: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl EventSink for Recorder {
    fn emit(&self, event: serde_json::Value) {
        let kind = event["type"].as_str().unwrap_or("").to_string();
        let settled = self.in_flight.settles(&event);
        self.events.lock().expect("events").push((kind, settled));
        self.raw.lock().expect("events").push(event);
    }
}

pub async fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/core.db", dir.path().display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.expect("sqlite store"));
    let clock = Arc::new(TestClock::default());
    let processor = Arc::new(SimulatedProcessor::new(Arc::new(StoreSimBackend(store.clone())), clock.clone()));
    let in_flight: Arc<InFlight> = Arc::default();
    let events: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let raw_events: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let recorder = Recorder { in_flight: in_flight.clone(), events: events.clone(), raw: raw_events.clone() };
    processor.set_event_sink(Arc::new(recorder));
    let svc = HoldService {
        store,
        processor: processor.clone(),
        clock: clock.clone(),
        default_currency: usd(),
        chitty: Arc::new(NoMinter),
        automation: Automation::default(),
        in_flight,
        hints: HoldHints::default(),
    };
    World { svc, clock, events, raw_events, sim: processor, _dir: dir }
}

impl World {
    /// Takes `hold`'s lock for an operation `op_id` of `kind`, as a request
    /// in flight elsewhere would hold it.
    pub async fn lock_as(&self, hold: &Hold, op_id: &str, kind: &str) -> chittycharge_store::Operation {
        let now = self.svc.now();
        let op = chittycharge_store::Operation {
            id: op_id.into(),
            hold_id: Some(hold.id.clone()),
            kind: kind.into(),
            status: chittycharge_store::OpStatus::Pending,
            request: serde_json::json!({}),
            error: None,
            attempts: 0,
            next_attempt_at: None,
            created_at: now,
            updated_at: now,
        };
        assert!(self.svc.store.lock_hold(&hold.id, hold.version, &op).await.expect("lock"), "the lock was free");
        op
    }

    /// A second instance on the same database: its own simulator (over the
    /// same intents), its own hints, nothing else in common.
    pub fn other_instance(&self) -> HoldService {
        let backend = Arc::new(StoreSimBackend(self.svc.store.clone()));
        HoldService {
            store: self.svc.store.clone(),
            processor: Arc::new(SimulatedProcessor::new(backend, self.clock.clone())),
            clock: self.clock.clone(),
            default_currency: usd(),
            chitty: Arc::new(NoMinter),
            automation: Automation::default(),
            in_flight: Arc::default(),
            hints: HoldHints::default(),
        }
    }
}

pub fn usd() -> Currency {
    Currency::parse("usd").expect("usd")
}

fn caller(name: &str, scopes: &[&str], properties: Option<&[&str]>) -> Caller {
    Caller {
        token_id: format!("tok_{name}"),
        name: name.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        property_ids: properties.map(|p| p.iter().map(|s| s.to_string()).collect()),
        rate_limit: None,
        source: None,
    }
}

pub fn admin() -> Caller {
    caller("admin", &[SCOPE_ADMIN], None)
}
pub fn writer() -> Caller {
    caller("writer", &[SCOPE_WRITE], None)
}
pub fn reader() -> Caller {
    caller("reader", &[SCOPE_READ], None)
}
/// A writer restricted to one property.
pub fn writer_of(property: &str) -> Caller {
    caller(&format!("writer-{property}"), &[SCOPE_WRITE], Some(&[property]))
}

pub fn create(amount: i64, payment_method: Option<&str>) -> CreateHold {
    CreateHold {
        amount,
        currency: usd(),
        description: "Security deposit".into(),
        customer_email: Some("guest@example.com".into()),
        property_id: None,
        tenant_id: None,
        booking_id: None,
        metadata: BTreeMap::new(),
        asserted_tier: Some(GuestTier::NewGuest),
        payment_method: payment_method.map(str::to_string),
        customer: None,
        save_card: false,
        off_session: false,
        incremental: false,
        operation_id: None,
        request_key: None,
    }
}

impl World {
    /// A hold authorized on the simulator's Visa test card.
    pub async fn authorized(&self, amount: i64) -> Hold {
        self.svc.create(create(amount, Some("pm_card_visa")), &writer()).await.expect("create").hold
    }
}

/// The simulator, except that creates answer as a timeout would, before
/// reaching it: an outcome to reconcile, with nothing placed.
pub struct CreatesTimeOut(pub Arc<SimulatedProcessor>);

type PResult<T> = Result<T, chittycharge_processor::ProcessorError>;

#[async_trait::async_trait]
impl chittycharge_processor::Processor for CreatesTimeOut {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn outside_process(&self) -> bool {
        self.0.outside_process()
    }
    async fn create(&self, _: &chittycharge_processor::CreateIntent, _: &IdempotencyKey) -> PResult<Intent> {
        Err(chittycharge_processor::ProcessorError::Unavailable { message: "timed out".into() })
    }
    async fn confirm(&self, id: &str, payment_method: &str, key: &IdempotencyKey) -> PResult<Intent> {
        self.0.confirm(id, payment_method, key).await
    }
    async fn retrieve(&self, id: &str) -> PResult<Intent> {
        self.0.retrieve(id).await
    }
    async fn capture(&self, id: &str, amount: Option<i64>, key: &IdempotencyKey) -> PResult<Intent> {
        self.0.capture(id, amount, key).await
    }
    async fn cancel(&self, id: &str, reason: Option<&str>, key: &IdempotencyKey) -> PResult<Intent> {
        self.0.cancel(id, reason, key).await
    }
    async fn increment(&self, id: &str, new_total: i64, key: &IdempotencyKey) -> PResult<Intent> {
        self.0.increment(id, new_total, key).await
    }
    async fn refund(&self, id: &str, amount: i64, reason: Option<&str>, key: &IdempotencyKey) -> PResult<Intent> {
        self.0.refund(id, amount, reason, key).await
    }
    async fn retrieve_dispute(&self, id: &str) -> PResult<chittycharge_processor::DisputeView> {
        self.0.retrieve_dispute(id).await
    }
    async fn submit_dispute_evidence(
        &self,
        id: &str,
        evidence: &BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> PResult<chittycharge_processor::DisputeView> {
        self.0.submit_dispute_evidence(id, evidence, key).await
    }
    async fn list_by_source(&self, source: &str) -> PResult<Vec<Intent>> {
        self.0.list_by_source(source).await
    }
    async fn update_metadata(
        &self,
        id: &str,
        metadata: &BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> PResult<Intent> {
        self.0.update_metadata(id, metadata, key).await
    }
    async fn create_customer(&self, email: Option<&str>, key: &IdempotencyKey) -> PResult<String> {
        self.0.create_customer(email, key).await
    }
    async fn ping(&self) -> PResult<()> {
        self.0.ping().await
    }
}
