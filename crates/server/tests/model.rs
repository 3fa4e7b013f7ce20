//! A stateful, model-based property test of the whole HTTP API.
//!
//! proptest generates sequences of steps (creating, confirming, capturing,
//! cancelling and raising holds; bookings with check-in, check-out and
//! claims; racing and parallel calls; idempotent replays; calls with a
//! read-only token and with another property's token; clients that hang up
//! mid-request; and jobs driven by the test clock). Each step is sent as real
//! HTTP to running `chittycharge` servers, every answer is compared with a
//! small reference model, and after every step the money invariants are
//! checked against the store and the simulated processor:
//!
//! - a hold never captures more than it authorized;
//! - a booking has at most one live hold (re-authorizations aside);
//! - a terminal hold never changes again;
//! - the processor agrees with the store (amount received, status);
//! - no call answers 5xx, no hold stays locked;
//! - a forbidden call changes nothing.
//!
//! SQLite runs one server; PostgreSQL runs two servers on one database and
//! alternates requests between them. Servers start once per store; every
//! sequence uses fresh properties. A shrunk failure is kept in
//! `tests/proptest-regressions/model.txt` and replayed first next time.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{postgres_db, sqlite_db, Db, Server, BIN, TEST_TOKEN};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence, RngAlgorithm, RngSeed, TestCaseError, TestRunner};
use serde_json::{json, Value};

/// Sequences per store.
const CASES: u32 = 16;
/// Steps per sequence (a step whose hold or booking does not exist yet
/// creates one instead).
const MIN_STEPS: usize = 8;
const MAX_STEPS: usize = 32;
/// Shrinking a failure re-runs sequences against the same servers.
const MAX_SHRINK_ITERS: u32 = 200;
const MAX_SHRINK_MS: u32 = 150_000;
/// Where proptest keeps the seeds of shrunk failures (relative to the crate).
const PERSISTENCE: &str = "tests/proptest-regressions/model.txt";
/// How long a hold may stay locked (409 `operation_in_progress`, or
/// `operation_pending`) after the request that locked it is gone.
const UNLOCK_WITHIN: Duration = Duration::from_secs(3);
/// How long the jobs may take to react to a clock move.
const JOBS_WITHIN: Duration = Duration::from_secs(10);
/// Deadlines this close to the server's clock are not predicted.
const CLOCK_MARGIN_MS: i64 = 120_000;
/// The jobs runner's tick in the servers under test.
const JOBS_INTERVAL_MS: &str = "100";

const NEW_GUEST_LIMIT: i64 = 250_000;
const PROPERTY_DEFAULTS: [i64; 2] = [25_000, 40_000];
const CLAIM_WINDOW_HOURS: [i64; 2] = [24, 48];

// ---------------------------------------------------------------------------
// Steps

/// An `Idempotency-Key` on a mutating call: none, the same request twice
/// (the second must be a byte-for-byte replay), or the key reused with
/// another body (409 `idempotency_error`, nothing happens).
#[derive(Debug, Clone, Copy)]
enum Idem {
    None,
    Replay,
    Mismatch,
}

#[derive(Debug, Clone, Copy)]
enum Amount {
    Minimum,
    Small,
    Typical,
    Large,
    AtLimit,
    Zero,
    BelowMinimum,
    OverLimit,
}

impl Amount {
    fn minor(self) -> i64 {
        match self {
            Amount::Minimum => 50,
            Amount::Small => 1_234,
            Amount::Typical => 25_000,
            Amount::Large => 100_000,
            Amount::AtLimit => NEW_GUEST_LIMIT,
            Amount::Zero => 0,
            Amount::BelowMinimum => 49,
            Amount::OverLimit => NEW_GUEST_LIMIT + 1,
        }
    }
}

/// How much a capture takes: everything (empty body), a share in per mille
/// of the capturable amount, or one more than capturable.
#[derive(Debug, Clone, Copy)]
enum Take {
    Full,
    Part(u16),
    Over,
}

#[derive(Debug, Clone, Copy)]
enum Rival {
    Capture(Take),
    Cancel,
}

impl Rival {
    fn take(self) -> Option<Take> {
        match self {
            Rival::Capture(t) => Some(t),
            Rival::Cancel => None,
        }
    }
}

/// The new total of an increment.
#[derive(Debug, Clone, Copy)]
enum Raise {
    Same,
    By(i64),
    PastTierLimit,
}

/// One damage line.
#[derive(Debug, Clone, Copy)]
enum Line {
    Fixed(i64),
    /// Per mille of the hold's amount.
    Share(u16),
    Zero,
    Negative,
    AboveCapturable,
    Max,
}

#[derive(Debug, Clone, Copy)]
enum Who {
    ReadOnly,
    OtherProperty,
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    CreateHold,
    Confirm,
    Capture,
    Cancel,
    Increment,
    CreateBooking,
    Authorize,
    Checkout,
    Claim,
    PutProperty,
}

/// Picks an existing hold or booking: when `fit`, among those in a state
/// the step can act on (if there are any), else among all.
#[derive(Debug, Clone, Copy)]
struct Pick {
    fit: bool,
    at: Index,
}

#[derive(Debug, Clone)]
enum Step {
    CreateHold { second_property: bool, amount: Amount, card: bool, idem: Idem },
    Confirm { hold: Pick, idem: Idem },
    Capture { hold: Pick, take: Take, idem: Idem },
    RacingPair { hold: Pick, first: Take, second: Rival },
    Cancel { hold: Pick, idem: Idem },
    Increment { hold: Pick, raise: Raise, idem: Idem },
    Disconnect { hold: Pick, take: Take, timeout_ms: u64, keyed: bool },
    CreateBooking { second_property: bool, id: u8, stay_days: u8, idem: Idem },
    Authorize { booking: Pick, card: bool, idem: Idem },
    ParallelAuthorize { booking: Pick, calls: usize, card: bool },
    Checkout { booking: Pick, damages: Vec<Line>, defer: bool, idem: Idem },
    Claim { booking: Pick, damages: Vec<Line>, idem: Idem },
    Tick { secs: i64 },
    Forbidden { who: Who, what: Mutation, hold: Pick, booking: Pick },
}

fn idem() -> impl Strategy<Value = Idem> {
    prop_oneof![6 => Just(Idem::None), 3 => Just(Idem::Replay), 1 => Just(Idem::Mismatch)]
}

fn pick() -> impl Strategy<Value = Pick> {
    (prop::bool::weighted(0.8), any::<Index>()).prop_map(|(fit, at)| Pick { fit, at })
}

fn take() -> impl Strategy<Value = Take> {
    prop_oneof![3 => Just(Take::Full), 4 => (1u16..1000).prop_map(Take::Part), 1 => Just(Take::Over)]
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        6 => (1i64..=3_000).prop_map(Line::Fixed),
        4 => (1u16..=1000).prop_map(Line::Share),
        1 => Just(Line::Zero),
        1 => Just(Line::Negative),
        1 => Just(Line::AboveCapturable),
        1 => Just(Line::Max),
    ]
}

fn damages() -> impl Strategy<Value = Vec<Line>> {
    prop::collection::vec(line(), 0..=3)
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        2 => Just(Amount::Minimum),
        3 => Just(Amount::Small),
        4 => Just(Amount::Typical),
        2 => Just(Amount::Large),
        1 => Just(Amount::AtLimit),
        1 => Just(Amount::Zero),
        1 => Just(Amount::BelowMinimum),
        1 => Just(Amount::OverLimit),
    ]
}

fn raise() -> impl Strategy<Value = Raise> {
    prop_oneof![1 => Just(Raise::Same), 4 => (1i64..=60_000).prop_map(Raise::By), 1 => Just(Raise::PastTierLimit)]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::CreateHold),
        Just(Mutation::Confirm),
        Just(Mutation::Capture),
        Just(Mutation::Cancel),
        Just(Mutation::Increment),
        Just(Mutation::CreateBooking),
        Just(Mutation::Authorize),
        Just(Mutation::Checkout),
        Just(Mutation::Claim),
        Just(Mutation::PutProperty),
    ]
}

/// Clock moves; odd sizes so that sums rarely land on a deadline.
fn tick() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(3 * 3_600 + 17 * 60 + 11),
        Just(86_400 + 5 * 3_600 + 13),
        Just(2 * 86_400 + 7 * 3_600 + 29),
        Just(5 * 86_400 + 3 * 3_600 + 31),
        Just(8 * 86_400 + 11 * 3_600 + 7),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (any::<bool>(), amount(), prop::bool::weighted(0.6), idem())
            .prop_map(|(second_property, amount, card, idem)| Step::CreateHold { second_property, amount, card, idem }),
        2 => (pick(), idem()).prop_map(|(hold, idem)| Step::Confirm { hold, idem }),
        3 => (pick(), take(), idem()).prop_map(|(hold, take, idem)| Step::Capture { hold, take, idem }),
        2 => (pick(), take(), prop_oneof![take().prop_map(Rival::Capture), Just(Rival::Cancel)])
            .prop_map(|(hold, first, second)| Step::RacingPair { hold, first, second }),
        2 => (pick(), idem()).prop_map(|(hold, idem)| Step::Cancel { hold, idem }),
        2 => (pick(), raise(), idem()).prop_map(|(hold, raise, idem)| Step::Increment { hold, raise, idem }),
        1 => (pick(), take(), prop_oneof![Just(1u64), Just(2), Just(4), Just(8)], any::<bool>())
            .prop_map(|(hold, take, timeout_ms, keyed)| Step::Disconnect { hold, take, timeout_ms, keyed }),
        3 => (any::<bool>(), 0u8..4, 1u8..=9, idem()).prop_map(|(second_property, id, stay_days, idem)| {
            Step::CreateBooking { second_property, id, stay_days, idem }
        }),
        4 => (pick(), prop::bool::weighted(0.7), idem())
            .prop_map(|(booking, card, idem)| Step::Authorize { booking, card, idem }),
        2 => (pick(), 2usize..=4, any::<bool>())
            .prop_map(|(booking, calls, card)| Step::ParallelAuthorize { booking, calls, card }),
        4 => (pick(), damages(), prop::bool::weighted(0.4), idem())
            .prop_map(|(booking, damages, defer, idem)| Step::Checkout { booking, damages, defer, idem }),
        3 => (pick(), damages(), idem()).prop_map(|(booking, damages, idem)| Step::Claim { booking, damages, idem }),
        3 => tick().prop_map(|secs| Step::Tick { secs }),
        3 => (prop_oneof![Just(Who::ReadOnly), Just(Who::OtherProperty)], mutation(), pick(), pick())
            .prop_map(|(who, what, hold, booking)| Step::Forbidden { who, what, hold, booking }),
    ]
}

fn sequence() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), MIN_STEPS..=MAX_STEPS)
}

// ---------------------------------------------------------------------------
// The reference model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hs {
    PaymentMethod,
    Action,
    Authorized,
    Captured,
    Canceled,
    Expired,
    Failed,
}

impl Hs {
    fn parse(s: &str) -> Option<Hs> {
        Some(match s {
            "requires_payment_method" => Hs::PaymentMethod,
            "requires_action" => Hs::Action,
            "requires_capture" => Hs::Authorized,
            "captured" => Hs::Captured,
            "canceled" => Hs::Canceled,
            "expired" => Hs::Expired,
            "failed" => Hs::Failed,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Hs::PaymentMethod => "requires_payment_method",
            Hs::Action => "requires_action",
            Hs::Authorized => "requires_capture",
            Hs::Captured => "captured",
            Hs::Canceled => "canceled",
            Hs::Expired => "expired",
            Hs::Failed => "failed",
        }
    }
    fn terminal(self) -> bool {
        matches!(self, Hs::Captured | Hs::Canceled | Hs::Expired | Hs::Failed)
    }
    /// The simulated processor's status (`Debug` of its enum) for this state.
    fn processor_agrees(self, sim: &str) -> bool {
        match self {
            Hs::PaymentMethod => sim == "RequiresPaymentMethod",
            Hs::Action => sim == "RequiresAction",
            Hs::Authorized => sim == "RequiresCapture",
            Hs::Captured => sim == "Succeeded",
            Hs::Canceled | Hs::Expired => sim == "Canceled",
            Hs::Failed => sim == "Canceled" || sim == "RequiresPaymentMethod",
        }
    }
}

/// The states a hold can still be acted on in.
const LIVE: &[Hs] = &[Hs::PaymentMethod, Hs::Action, Hs::Authorized];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bs {
    Booked,
    Pending,
    Active,
    CheckedOut,
    Settled,
}

impl Bs {
    fn name(self) -> &'static str {
        match self {
            Bs::Booked => "booked",
            Bs::Pending => "hold_pending",
            Bs::Active => "hold_active",
            Bs::CheckedOut => "checked_out",
            Bs::Settled => "settled",
        }
    }
}

#[derive(Debug, Clone)]
struct MHold {
    id: String,
    prop: usize,
    booking: Option<usize>,
    status: Hs,
    amount: i64,
    captured: i64,
    released: i64,
    tier_limit: i64,
    capture_before: Option<i64>,
    increments: u32,
    reauthorizes: Option<String>,
}

impl MHold {
    fn capturable(&self) -> i64 {
        if self.status == Hs::Authorized {
            self.amount
        } else {
            0
        }
    }
}

#[derive(Debug, Clone)]
struct MBooking {
    prop: usize,
    id: String,
    status: Bs,
    hold: Option<usize>,
    claim_until: Option<i64>,
    /// A card authorized one of its holds: the booking keeps it, and its
    /// next hold is placed on it even when check-in sends no card.
    saved_card: bool,
}

#[derive(Debug, Default)]
struct Model {
    holds: Vec<MHold>,
    bookings: Vec<MBooking>,
    /// Terminal states as first seen; they must never change.
    terminal: HashMap<String, Hs>,
    now_ms: i64,
}

impl Model {
    fn hold_index(&self, id: &str) -> Option<usize> {
        self.holds.iter().position(|h| h.id == id)
    }

    fn pick_hold(&self, p: Pick, fits: &[Hs]) -> Option<usize> {
        let fitting: Vec<usize> = (0..self.holds.len()).filter(|&i| fits.contains(&self.holds[i].status)).collect();
        if p.fit && !fitting.is_empty() {
            return Some(fitting[p.at.index(fitting.len())]);
        }
        (!self.holds.is_empty()).then(|| p.at.index(self.holds.len()))
    }

    fn pick_booking(&self, p: Pick, fits: &[Bs]) -> Option<usize> {
        let fitting: Vec<usize> =
            (0..self.bookings.len()).filter(|&i| fits.contains(&self.bookings[i].status)).collect();
        if p.fit && !fitting.is_empty() {
            return Some(fitting[p.at.index(fitting.len())]);
        }
        (!self.bookings.is_empty()).then(|| p.at.index(self.bookings.len()))
    }

    fn set_status(&mut self, i: usize, s: Hs) {
        self.holds[i].status = s;
        if s.terminal() {
            self.terminal.entry(self.holds[i].id.clone()).or_insert(s);
        }
        // The booking follows its hold: a pending one becomes active when the
        // card is authorized and booked again when the hold dies; an active
        // one settles when its hold is captured or released, and is booked
        // again when it lapses; a checked-out one settles when it ends.
        if let Some(b) = self.holds[i].booking {
            let bk = &mut self.bookings[b];
            if s == Hs::Authorized {
                bk.saved_card = true;
            }
            if bk.hold == Some(i) {
                match (bk.status, s) {
                    (Bs::Pending, Hs::Authorized) => bk.status = Bs::Active,
                    (Bs::Pending, Hs::Canceled | Hs::Expired | Hs::Failed) | (Bs::Active, Hs::Expired | Hs::Failed) => {
                        bk.status = Bs::Booked;
                        bk.hold = None;
                    }
                    (Bs::Active, Hs::Captured | Hs::Canceled) => bk.status = Bs::Settled,
                    (Bs::CheckedOut, s) if s.terminal() => bk.status = Bs::Settled,
                    _ => {}
                }
            }
        }
    }

    fn capture(&mut self, i: usize, amount: i64) {
        let h = &mut self.holds[i];
        h.captured = amount;
        h.released = h.amount - amount;
        self.set_status(i, Hs::Captured);
    }

    fn cancel(&mut self, i: usize) {
        let h = &mut self.holds[i];
        h.released = h.capturable();
        self.set_status(i, Hs::Canceled);
    }
}

/// What a capture of `take` on `h` must answer: the captured amount, or the
/// error status and code.
fn predict_capture(h: &MHold, take: Take, now_ms: i64) -> (i64, Result<i64, (u16, &'static str)>) {
    let basis = h.amount;
    let amount = match take {
        Take::Full => basis,
        Take::Part(p) => (basis * i64::from(p) / 1000).max(1),
        Take::Over => basis + 1,
    };
    let outcome = match h.status {
        Hs::Authorized if h.capture_before.is_some_and(|cb| cb <= now_ms) => Err((409, "hold_expired")),
        Hs::Authorized if amount > h.amount => Err((409, "amount_exceeds_capturable")),
        Hs::Authorized => Ok(amount),
        Hs::Expired => Err((409, "hold_expired")),
        _ => Err((409, "invalid_state")),
    };
    (amount, outcome)
}

fn capture_body(take: Take, amount: i64) -> Value {
    match take {
        Take::Full => json!({}),
        Take::Part(_) | Take::Over => json!({ "amount_to_capture": amount }),
    }
}

fn tier_limit(tier: &str) -> i64 {
    match tier {
        "VERIFIED_GUEST" => 500_000,
        "PREMIUM_PROPERTY" => 1_000_000,
        _ => NEW_GUEST_LIMIT,
    }
}

fn line_amount(l: Line, basis: i64) -> i64 {
    match l {
        Line::Fixed(n) => n,
        Line::Share(p) => (basis * i64::from(p) / 1000).max(1),
        Line::Zero => 0,
        Line::Negative => -100,
        Line::AboveCapturable => basis + 1,
        Line::Max => i64::MAX,
    }
}

fn damages_body(amounts: &[i64]) -> Value {
    Value::Array(
        amounts
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"amount": a, "description": format!("damage {i}"), "evidence_urls": [format!("https://evidence.example/{i}.jpg")]}))
            .collect(),
    )
}

fn millis(v: &Value) -> Option<i64> {
    v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).map(|t| t.timestamp_millis())
}

// ---------------------------------------------------------------------------
// HTTP

struct Reply {
    status: u16,
    body: Value,
    text: String,
    replayed: bool,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    fn short(&self) -> String {
        let mut t = self.text.clone();
        t.truncate(300);
        format!("{} {t}", self.status)
    }
}

/// The servers of one store and the tokens the steps use.
struct World {
    name: &'static str,
    nodes: Vec<String>,
    http: reqwest::Client,
    admin: String,
    readonly: String,
    foreign: String,
    next: AtomicUsize,
    cases: AtomicUsize,
    steps: AtomicUsize,
    busy_retries: AtomicUsize,
    /// How often each interesting outcome happened (printed at the end).
    outcomes: std::sync::Mutex<BTreeMap<String, usize>>,
}

/// A request: method, path, JSON body, `Idempotency-Key`, and the client
/// to send it with (the shared one unless given).
struct Call<'a> {
    method: &'a str,
    path: &'a str,
    body: Option<&'a Value>,
    key: Option<&'a str>,
    client: Option<&'a reqwest::Client>,
}

#[derive(Clone, Copy)]
enum Tok {
    Admin,
    ReadOnly,
    Foreign,
}

impl World {
    fn token(&self, t: Tok) -> &str {
        match t {
            Tok::Admin => &self.admin,
            Tok::ReadOnly => &self.readonly,
            Tok::Foreign => &self.foreign,
        }
    }

    /// The next server, round-robin.
    fn node(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.nodes.len()
    }

    /// One request as sent, whatever comes back.
    async fn raw(&self, node: usize, tok: Tok, c: &Call<'_>) -> Result<Reply, reqwest::Error> {
        let m = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
        let http = c.client.unwrap_or(&self.http);
        let mut req =
            http.request(m, format!("{}{}", self.nodes[node], c.path)).header("ChittyID-Token", self.token(tok));
        if let Some(k) = c.key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = c.body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let replayed = resp.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body, text, replayed })
    }

    /// One request on a given server; transport errors and 5xx are failures.
    async fn send(
        &self,
        node: usize,
        tok: Tok,
        method: &str,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<Reply, String> {
        let r = self
            .raw(node, tok, &Call { method, path, body, key, client: None })
            .await
            .map_err(|e| format!("{method} {path} on node {node}: transport error {e}"))?;
        if r.status >= 500 {
            return Err(format!("{method} {path} on node {node} answered {}: {}", r.status, r.text));
        }
        Ok(r)
    }

    async fn call(&self, tok: Tok, method: &str, path: &str, body: Option<&Value>) -> Result<Reply, String> {
        self.send(self.node(), tok, method, path, body, None).await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let r = self.call(Tok::Admin, "GET", path, None).await?;
        if r.status != 200 {
            return Err(format!("GET {path}: {}", r.short()));
        }
        Ok(r.body)
    }

    /// Moves every server's test clock and waits until no job is due.
    async fn advance(&self, secs: i64) -> Result<(), String> {
        for n in 0..self.nodes.len() {
            let r =
                self.send(n, Tok::Admin, "POST", "/_sim/clock", Some(&json!({ "advance_secs": secs })), None).await?;
            if r.status != 200 {
                return Err(format!("advancing the clock: {}", r.short()));
            }
        }
        let deadline = Instant::now() + JOBS_WITHIN;
        for n in 0..self.nodes.len() {
            let mut idle_twice = 0;
            while idle_twice < 2 {
                let b = self.send(n, Tok::Admin, "GET", "/api/jobs", None, None).await?.body;
                if b["due"] == 0 && b["running"] == 0 {
                    idle_twice += 1;
                } else {
                    idle_twice = 0;
                }
                if Instant::now() > deadline {
                    return Err(format!("jobs never settled on node {n}: {b}"));
                }
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        }
        Ok(())
    }

    /// The servers' clock (they must agree).
    async fn now_ms(&self) -> Result<i64, String> {
        let mut offsets = Vec::new();
        let mut now = 0;
        for n in 0..self.nodes.len() {
            let b = self.send(n, Tok::Admin, "GET", "/_sim/clock", None, None).await?.body;
            offsets.push(b["offset_ms"].as_i64().unwrap_or(-1));
            if n == 0 {
                now = millis(&b["now"]).ok_or_else(|| format!("clock: {b}"))?;
            }
        }
        if offsets.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("the servers' test clocks disagree: offsets {offsets:?}"));
        }
        Ok(now)
    }
}

fn cli_token(db: &Db, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["token", "create"])
        .args(args)
        .env_clear()
        .env("DATABASE_URL", db.url())
        .output()
        .expect("token create");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

// ---------------------------------------------------------------------------
// One sequence

struct Case {
    w: Arc<World>,
    n: usize,
    props: [String; 2],
    m: Model,
    keys: usize,
    log: Vec<String>,
}

type Res<T = ()> = Result<T, String>;

fn expect(r: &Reply, status: u16, code: Option<&str>, what: &str) -> Res {
    if r.status != status || code.is_some_and(|c| r.code() != c) {
        return Err(format!(
            "{what}: the model expects {status}{}, the server answered {}",
            code.map(|c| format!(" {c}")).unwrap_or_default(),
            r.short()
        ));
    }
    Ok(())
}

/// "capture", "authorize", "create hold", … for the outcome counts.
fn route(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let parts: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
    match parts.as_slice() {
        [kind] => format!("create {}", kind.trim_end_matches('s')),
        [_, _, action] => (*action).to_string(),
        _ => path.to_string(),
    }
}

fn field(v: &Value, name: &str) -> i64 {
    v[name].as_i64().unwrap_or(i64::MIN)
}

fn same(what: &str, name: &str, got: i64, want: i64) -> Res {
    if got != want {
        return Err(format!("{what}: {name} is {got}, the model expects {want}"));
    }
    Ok(())
}

impl Case {
    fn key(&mut self) -> String {
        self.keys += 1;
        format!("model-{}-{}-{}", self.w.name, self.n, self.keys)
    }

    fn note(&mut self, s: String) {
        self.log.push(format!("    {s}"));
    }

    /// A mutating POST with the admin token. A 409 `operation_in_progress`
    /// is retried (with the same key) for a short while. With `Idem::Replay`
    /// the request is sent again and must be replayed byte for byte; with
    /// `Idem::Mismatch` the key is reused with another body and must be
    /// refused without effect.
    async fn post(&mut self, path: &str, body: Value, idem: Idem) -> Res<Reply> {
        let key = match idem {
            Idem::None => None,
            Idem::Replay | Idem::Mismatch => Some(self.key()),
        };
        let first = self.post_retrying(Tok::Admin, path, &body, key.as_deref()).await?;
        self.count(&format!("{} {} {}", route(path), first.status, first.code()));
        match (idem, key) {
            (Idem::Replay, Some(k)) => {
                let again = self.w.send(self.w.node(), Tok::Admin, "POST", path, Some(&body), Some(&k)).await?;
                if again.status != first.status || again.text != first.text || !again.replayed {
                    return Err(format!(
                        "POST {path} replayed with Idempotency-Key {k}: first {}, replay {} (Idempotent-Replayed: {})",
                        first.short(),
                        again.short(),
                        again.replayed
                    ));
                }
            }
            (Idem::Mismatch, Some(k)) => {
                let mut other = body.clone();
                other["idempotency_probe"] = json!(k);
                let again = self.w.send(self.w.node(), Tok::Admin, "POST", path, Some(&other), Some(&k)).await?;
                expect(
                    &again,
                    409,
                    Some("idempotency_error"),
                    &format!("POST {path} reusing key {k} with another body"),
                )?;
            }
            _ => {}
        }
        Ok(first)
    }

    async fn post_retrying(&mut self, tok: Tok, path: &str, body: &Value, key: Option<&str>) -> Res<Reply> {
        let start = Instant::now();
        loop {
            let r = self.w.send(self.w.node(), tok, "POST", path, Some(body), key).await?;
            let busy = r.status == 409 && r.code() == "operation_in_progress";
            // A key whose request is still in flight (only after a disconnect).
            let in_flight = r.status == 409 && r.code() == "idempotency_error" && r.text.contains("still in progress");
            if !(busy || in_flight) {
                return Ok(r);
            }
            if start.elapsed() > UNLOCK_WITHIN {
                return Err(format!("POST {path} kept answering {} for {UNLOCK_WITHIN:?}", r.short()));
            }
            self.w.busy_retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn setup(&mut self) -> Res {
        for (i, p) in self.props.clone().iter().enumerate() {
            let r = self
                .w
                .call(
                    Tok::Admin,
                    "POST",
                    "/api/properties",
                    Some(
                        &json!({"id": p, "name": format!("Model unit {p}"), "default_hold_amount": PROPERTY_DEFAULTS[i],
                        "claim_window_hours": CLAIM_WINDOW_HOURS[i], "time_zone": "UTC"}),
                    ),
                )
                .await?;
            expect(&r, 201, None, "creating a property")?;
        }
        self.m.now_ms = self.w.now_ms().await?;
        Ok(())
    }

    async fn run(&mut self, steps: &[Step]) -> Res {
        self.setup().await?;
        for (i, s) in steps.iter().enumerate() {
            self.log.push(format!("#{i} {s:?}"));
            self.step(s).await.map_err(|e| format!("step #{i}: {e}"))?;
            self.w.steps.fetch_add(1, Ordering::Relaxed);
            self.check().await.map_err(|e| format!("after step #{i}: {e}"))?;
        }
        Ok(())
    }

    async fn step(&mut self, s: &Step) -> Res {
        match s.clone() {
            Step::CreateHold { second_property, amount, card, idem } => {
                self.create_hold(usize::from(second_property), amount, card, idem).await?
            }
            Step::Confirm { hold, idem } => {
                let h = self.hold_or_new(hold, &[Hs::PaymentMethod]).await?;
                self.confirm(h, idem).await?
            }
            Step::Capture { hold, take, idem } => {
                let h = self.hold_or_new(hold, &[Hs::Authorized]).await?;
                self.capture(h, take, idem).await?
            }
            Step::RacingPair { hold, first, second } => {
                let h = self.hold_or_new(hold, &[Hs::Authorized]).await?;
                self.race(h, first, second).await?
            }
            Step::Cancel { hold, idem } => {
                let h = self.hold_or_new(hold, LIVE).await?;
                self.cancel(h, idem).await?
            }
            Step::Increment { hold, raise, idem } => {
                let h = self.hold_or_new(hold, &[Hs::Authorized]).await?;
                self.increment(h, raise, idem).await?
            }
            Step::Disconnect { hold, take, timeout_ms, keyed } => {
                let h = self.hold_or_new(hold, &[Hs::Authorized]).await?;
                self.disconnect(h, take, timeout_ms, keyed).await?
            }
            Step::CreateBooking { second_property, id, stay_days, idem } => {
                self.create_booking(usize::from(second_property), id, stay_days, idem).await?
            }
            Step::Authorize { booking, card, idem } => {
                let b = self.booking_or_new(booking, &[Bs::Booked, Bs::Pending]).await?;
                self.authorize(b, card, idem).await?
            }
            Step::ParallelAuthorize { booking, calls, card } => {
                let b = self.booking_or_new(booking, &[Bs::Booked, Bs::Pending]).await?;
                self.parallel_authorize(b, calls, card).await?
            }
            Step::Checkout { booking, damages, defer, idem } => {
                let b = self.booking_or_new(booking, &[Bs::Active]).await?;
                self.checkout(b, &damages, defer, idem).await?
            }
            Step::Claim { booking, damages, idem } => {
                let b = self.booking_or_new(booking, &[Bs::CheckedOut]).await?;
                self.claim(b, &damages, idem).await?
            }
            Step::Tick { secs } => self.tick(secs).await?,
            Step::Forbidden { who, what, hold, booking } => self.forbidden(who, what, hold, booking).await?,
        }
        Ok(())
    }

    // -- holds ---------------------------------------------------------------
    /// The picked hold. When the pick asks for one the step can act on
    /// and there is none (or no hold at all), the step first creates one.
    async fn hold_or_new(&mut self, p: Pick, fits: &[Hs]) -> Res<usize> {
        if let Some(h) = self.m.pick_hold(p, fits) {
            if !p.fit || fits.contains(&self.m.holds[h].status) {
                return Ok(h);
            }
        }
        let card = fits.contains(&Hs::Authorized);
        self.count(&format!("prepared: a hold {}", if card { "authorized" } else { "awaiting a card" }));
        self.note("no fitting hold: creating one first".into());
        self.create_hold(0, Amount::Typical, card, Idem::None).await?;
        Ok(self.m.holds.len() - 1)
    }

    /// The picked booking. When the pick asks for one the step can act on
    /// and there is none, the step first brings one there: a new booking,
    /// checked in with a card (for a check-out), checked out with the
    /// release deferred (for a claim).
    async fn booking_or_new(&mut self, p: Pick, fits: &[Bs]) -> Res<usize> {
        if let Some(b) = self.m.pick_booking(p, fits) {
            if !p.fit || fits.contains(&self.m.bookings[b].status) {
                return Ok(b);
            }
        }
        self.note("no fitting booking: preparing one first".into());
        let b = match (0..self.m.bookings.len()).find(|&b| self.m.bookings[b].status == Bs::Booked) {
            Some(b) => b,
            None => {
                let id = u8::try_from(10 + self.m.bookings.len()).unwrap_or(u8::MAX);
                self.create_booking(0, id, 3, Idem::None).await?;
                self.m.bookings.len() - 1
            }
        };
        if fits.contains(&Bs::Active) || fits.contains(&Bs::CheckedOut) {
            self.authorize(b, true, Idem::None).await?;
        }
        if fits.contains(&Bs::CheckedOut) && self.m.bookings[b].status == Bs::Active {
            self.checkout(b, &[], true, Idem::None).await?;
        }
        self.count(&format!("prepared: a booking {}", self.m.bookings[b].status.name()));
        Ok(b)
    }

    fn count(&self, what: &str) {
        *self.w.outcomes.lock().expect("outcomes").entry(what.to_string()).or_insert(0) += 1;
    }

    async fn create_hold(&mut self, prop: usize, amount: Amount, card: bool, idem: Idem) -> Res {
        let a = amount.minor();
        let mut body = json!({"amount": a, "description": "model hold", "property_id": self.props[prop]});
        if card {
            body["payment_method"] = json!("pm_card_visa");
            body["confirm"] = json!(true);
        }
        let r = self.post("/api/holds", body, idem).await?;
        let what = format!("create hold of {a}{}", if card { " with a card" } else { "" });
        self.note(format!("create hold {a} card={card} -> {}", r.short()));
        match amount {
            Amount::Zero => return expect(&r, 400, Some("missing_fields"), &what),
            Amount::BelowMinimum => return expect(&r, 400, Some("validation_error"), &what),
            Amount::OverLimit => return expect(&r, 400, Some("tier_limit_exceeded"), &what),
            _ => expect(&r, 201, None, &what)?,
        }
        let id = r.body["id"].as_str().ok_or_else(|| format!("{what}: no id in {}", r.text))?.to_string();
        if self.m.hold_index(&id).is_some() {
            return Err(format!("{what}: a second 201 for the existing hold {id}"));
        }
        let status = if card { Hs::Authorized } else { Hs::PaymentMethod };
        if r.body["status"] != status.name() {
            return Err(format!("{what}: status {} instead of {}", r.body["status"], status.name()));
        }
        same(&what, "amount", field(&r.body, "amount"), a)?;
        same(&what, "amount_capturable", field(&r.body, "amount_capturable"), if card { a } else { 0 })?;
        self.m.holds.push(MHold {
            id,
            prop,
            booking: None,
            status,
            amount: a,
            captured: 0,
            released: 0,
            tier_limit: r.body["tier_limit"].as_i64().unwrap_or(NEW_GUEST_LIMIT),
            capture_before: millis(&r.body["capture_before"]),
            increments: 0,
            reauthorizes: None,
        });
        Ok(())
    }

    async fn confirm(&mut self, h: usize, idem: Idem) -> Res {
        let id = self.m.holds[h].id.clone();
        let r = self.post(&format!("/api/holds/{id}/confirm"), json!({"payment_method": "pm_card_visa"}), idem).await?;
        self.note(format!("confirm {id} ({}) -> {}", self.m.holds[h].status.name(), r.short()));
        let what = format!("confirm {id} in {}", self.m.holds[h].status.name());
        if self.m.holds[h].status != Hs::PaymentMethod {
            return expect(&r, 409, Some("invalid_state"), &what);
        }
        expect(&r, 200, None, &what)?;
        if r.body["status"] != "requires_capture" {
            return Err(format!("{what}: status {}", r.body["status"]));
        }
        same(&what, "amount_capturable", field(&r.body, "amount_capturable"), self.m.holds[h].amount)?;
        self.m.holds[h].capture_before = millis(&r.body["capture_before"]);
        self.m.set_status(h, Hs::Authorized);
        Ok(())
    }

    fn check_capture_reply(&self, r: &Reply, h: usize, amount: i64, what: &str) -> Res {
        if r.body["status"] != "captured" {
            return Err(format!("{what}: status {}", r.body["status"]));
        }
        same(what, "amount_captured", field(&r.body, "amount_captured"), amount)?;
        same(what, "amount_released", field(&r.body, "amount_released"), self.m.holds[h].amount - amount)
    }

    async fn capture(&mut self, h: usize, take: Take, idem: Idem) -> Res {
        let id = self.m.holds[h].id.clone();
        let (amount, want) = predict_capture(&self.m.holds[h], take, self.m.now_ms);
        let r = self.post(&format!("/api/holds/{id}/capture"), capture_body(take, amount), idem).await?;
        let what = format!("capture {take:?} ({amount}) of {id} in {}", self.m.holds[h].status.name());
        self.note(format!("{what} -> {}", r.short()));
        match want {
            Err((status, code)) => expect(&r, status, Some(code), &what),
            Ok(amount) => {
                expect(&r, 200, None, &what)?;
                self.check_capture_reply(&r, h, amount, &what)?;
                self.m.capture(h, amount);
                Ok(())
            }
        }
    }

    fn cancel_allowed(&self, h: usize) -> bool {
        matches!(self.m.holds[h].status, Hs::PaymentMethod | Hs::Action | Hs::Authorized)
    }

    async fn cancel(&mut self, h: usize, idem: Idem) -> Res {
        let id = self.m.holds[h].id.clone();
        let r = self.post(&format!("/api/holds/{id}/cancel"), json!({"reason": "requested_by_customer"}), idem).await?;
        let what = format!("cancel {id} in {}", self.m.holds[h].status.name());
        self.note(format!("{what} -> {}", r.short()));
        if !self.cancel_allowed(h) {
            return expect(&r, 409, Some("invalid_state"), &what);
        }
        expect(&r, 200, None, &what)?;
        if r.body["status"] != "canceled" {
            return Err(format!("{what}: status {}", r.body["status"]));
        }
        same(&what, "amount_released", field(&r.body, "amount_released"), self.m.holds[h].capturable())?;
        self.m.cancel(h);
        Ok(())
    }

    async fn increment(&mut self, h: usize, raise: Raise, idem: Idem) -> Res {
        let hold = self.m.holds[h].clone();
        let total = match raise {
            Raise::Same => hold.amount,
            Raise::By(d) => hold.amount + d,
            Raise::PastTierLimit => hold.tier_limit + 1,
        };
        let r = self.post(&format!("/api/holds/{}/increment", hold.id), json!({ "amount": total }), idem).await?;
        let what = format!("increment {} from {} to {total} in {}", hold.id, hold.amount, hold.status.name());
        self.note(format!("{what} -> {}", r.short()));
        if hold.status != Hs::Authorized {
            return expect(&r, 409, Some("invalid_state"), &what);
        }
        if total <= hold.amount {
            return expect(&r, 400, Some("validation_error"), &what);
        }
        if total > hold.tier_limit {
            return expect(&r, 400, Some("tier_limit_exceeded"), &what);
        }
        if hold.increments >= 10 {
            return expect(&r, 400, Some("processor_invalid_request"), &what);
        }
        expect(&r, 200, None, &what)?;
        same(&what, "amount", field(&r.body, "amount"), total)?;
        same(&what, "amount_capturable", field(&r.body, "amount_capturable"), total)?;
        self.m.holds[h].amount = total;
        self.m.holds[h].increments += 1;
        Ok(())
    }

    /// Two operations on one hold at once, on different servers when there
    /// are two: at most one of those that could succeed alone does.
    async fn race(&mut self, h: usize, first: Take, second: Rival) -> Res {
        let hold = self.m.holds[h].clone();
        let id = hold.id.clone();
        let (a1, p1) = predict_capture(&hold, first, self.m.now_ms);
        let b1 = capture_body(first, a1);
        let (path2, body2, p2, a2) = match second {
            Rival::Capture(t) => {
                let (a, p) = predict_capture(&hold, t, self.m.now_ms);
                (format!("/api/holds/{id}/capture"), capture_body(t, a), p.map(|_| ()), a)
            }
            Rival::Cancel => {
                let p = if self.cancel_allowed(h) { Ok(()) } else { Err((409, "invalid_state")) };
                (format!("/api/holds/{id}/cancel"), json!({}), p, 0)
            }
        };
        let path1 = format!("/api/holds/{id}/capture");
        let (n1, n2) = (self.w.node(), self.w.node());
        let (k1, k2) = (self.key(), self.key());
        let (r1, r2) = tokio::join!(
            self.w.send(n1, Tok::Admin, "POST", &path1, Some(&b1), Some(&k1)),
            self.w.send(n2, Tok::Admin, "POST", &path2, Some(&body2), Some(&k2))
        );
        let (r1, r2) = (r1?, r2?);
        let what = format!("racing capture {first:?} ({a1}) and {second:?} on {id} in {}", hold.status.name());
        self.note(format!("{what} -> [{}] [{}]", r1.short(), r2.short()));
        let could = [p1.is_ok(), p2.is_ok()];
        let won = [r1.status == 200, r2.status == 200];
        for (i, r) in [&r1, &r2].into_iter().enumerate() {
            let solo = if i == 0 { p1.map(|_| ()) } else { p2 };
            if r.status == 200 {
                if !could[i] {
                    return Err(format!("{what}: request {} succeeded, the model expects {solo:?}", i + 1));
                }
                continue;
            }
            let ok = match solo {
                Err((status, code)) => r.status == status && (r.code() == code || r.code() == "invalid_state"),
                Ok(()) => r.status == 409 && matches!(r.code(), "operation_in_progress" | "invalid_state"),
            };
            if !ok {
                return Err(format!("{what}: request {} answered {}, alone it would get {solo:?}", i + 1, r.short()));
            }
        }
        if won[0] && won[1] {
            return Err(format!("{what}: both succeeded: [{}] [{}]", r1.short(), r2.short()));
        }
        if (could[0] || could[1]) && !(won[0] || won[1]) {
            return Err(format!("{what}: neither succeeded: [{}] [{}]", r1.short(), r2.short()));
        }
        self.count(&format!(
            "racing pair: {}",
            match (won, second) {
                ([true, _], _) => "first capture won",
                ([_, true], Rival::Cancel) => "cancel won",
                ([_, true], Rival::Capture(_)) => "second capture won",
                _ => "neither could",
            }
        ));
        if won[0] {
            self.check_capture_reply(&r1, h, a1, &what)?;
            self.m.capture(h, a1);
        } else if won[1] {
            match second {
                Rival::Capture(_) => {
                    self.check_capture_reply(&r2, h, a2, &what)?;
                    self.m.capture(h, a2);
                }
                Rival::Cancel => self.m.cancel(h),
            }
        }
        // A loser told to retry was not stored under its key: the retry
        // runs again (no replay) and gets the answer of the state now.
        let retries = [(&r1, &path1, &b1, &k1, Some(first)), (&r2, &path2, &body2, &k2, second.take())];
        for (r, path, body, key, take) in retries {
            if !(r.status == 409 && r.code() == "operation_in_progress") {
                continue;
            }
            let again = self.post_retrying(Tok::Admin, path, body, Some(key)).await?;
            let what = format!("{what}: the loser retried with its key {key}");
            self.note(format!("retry {key} -> {}", again.short()));
            if again.replayed {
                return Err(format!("{what}: the 409 operation_in_progress was replayed: {}", again.short()));
            }
            self.count("racing pair: loser retried with its key");
            match take {
                Some(t) => match predict_capture(&self.m.holds[h], t, self.m.now_ms).1 {
                    Err((status, code)) => expect(&again, status, Some(code), &what)?,
                    Ok(a) => {
                        expect(&again, 200, None, &what)?;
                        self.check_capture_reply(&again, h, a, &what)?;
                        self.m.capture(h, a);
                    }
                },
                None => {
                    if self.cancel_allowed(h) {
                        expect(&again, 200, None, &what)?;
                        self.m.cancel(h);
                    } else {
                        expect(&again, 409, Some("invalid_state"), &what)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A capture whose client hangs up after a few milliseconds. Either it
    /// happened or it did not, and the hold is unlocked again soon; with a
    /// key, retrying it gives the answer it would have had.
    async fn disconnect(&mut self, h: usize, take: Take, timeout_ms: u64, keyed: bool) -> Res {
        let hold = self.m.holds[h].clone();
        let (amount, want) = predict_capture(&hold, take, self.m.now_ms);
        let path = format!("/api/holds/{}/capture", hold.id);
        let body = capture_body(take, amount);
        let key = keyed.then(|| self.key());
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let call =
            Call { method: "POST", path: &path, body: Some(&body), key: key.as_deref(), client: Some(&impatient) };
        let early = self.w.raw(self.w.node(), Tok::Admin, &call).await;
        let what = format!("capture {take:?} ({amount}) of {} with a {timeout_ms} ms client", hold.id);
        let early_text = match &early {
            Ok(r) => {
                if r.status >= 500 {
                    return Err(format!("{what}: answered {}", r.short()));
                }
                r.short()
            }
            Err(_) => "client gave up".to_string(),
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The hold must not stay locked by a request nobody waits for.
        let start = Instant::now();
        let view = loop {
            let v = self.w.get(&format!("/api/holds/{}", hold.id)).await?;
            if v["operation_pending"] != true {
                break v;
            }
            if start.elapsed() > UNLOCK_WITHIN {
                return Err(format!("{what}: the hold is still locked (operation_pending) {UNLOCK_WITHIN:?} later"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let happened = view["status"] == "captured" && hold.status != Hs::Captured;
        if let Ok(r) = &early {
            if (r.status == 200) != happened {
                return Err(format!("{what}: answered {} but afterwards the hold is {view}", r.short()));
            }
        }
        self.count(&format!(
            "disconnect ({}): {}",
            if early.is_ok() { "answered" } else { "client gave up" },
            if happened { "captured" } else { "not captured" }
        ));
        self.note(format!(
            "{what} -> {early_text}; afterwards {} (captured {})",
            view["status"], view["amount_captured"]
        ));
        match (&want, happened) {
            (Ok(a), true) => {
                same(&what, "amount_captured", field(&view, "amount_captured"), *a)?;
                self.m.capture(h, *a);
            }
            (Err(_), true) => return Err(format!("{what}: captured although the model refuses it: {view}")),
            (_, false) => {
                if view["status"] != hold.status.name() {
                    return Err(format!("{what}: the hold went to {} instead", view["status"]));
                }
            }
        }
        if let Some(k) = key {
            // The retry with the same key: a replay or the capture itself.
            let r = self.post_retrying(Tok::Admin, &path, &body, Some(&k)).await?;
            let what = format!("{what}, retried with its key");
            self.note(format!("retry -> {}", r.short()));
            match want {
                Err((status, code)) => expect(&r, status, Some(code), &what)?,
                Ok(a) => {
                    if happened {
                        expect(&r, 200, None, &what)?;
                        same(&what, "amount_captured", field(&r.body, "amount_captured"), a)?;
                    } else {
                        expect(&r, 200, None, &what)?;
                        self.check_capture_reply(&r, h, a, &what)?;
                        self.m.capture(h, a);
                    }
                }
            }
        }
        Ok(())
    }

    // -- bookings ------------------------------------------------------------

    fn booking_path(&self, b: usize, action: &str) -> String {
        let bk = &self.m.bookings[b];
        format!("/api/bookings/{}{action}?property_id={}", bk.id, self.props[bk.prop])
    }

    async fn create_booking(&mut self, prop: usize, id: u8, stay_days: u8, idem: Idem) -> Res {
        let bid = format!("bk{id}");
        let day = chrono::DateTime::from_timestamp_millis(self.m.now_ms).ok_or("clock")?.date_naive();
        let out = day + chrono::Days::new(u64::from(stay_days));
        let body = json!({"id": bid, "property_id": self.props[prop], "tenant_id": format!("t-{}-{prop}-{id}", self.n),
            "guest_name": "Model Guest", "guest_email": format!("g{}p{prop}b{id}@example.com", self.n),
            "check_in": day.to_string(), "check_out": out.to_string()});
        let r = self.post("/api/bookings", body, idem).await?;
        let what = format!("create booking {bid} at {}", self.props[prop]);
        self.note(format!("{what} ({stay_days} nights) -> {}", r.short()));
        if self.m.bookings.iter().any(|b| b.prop == prop && b.id == bid) {
            return expect(&r, 409, None, &format!("{what} again"));
        }
        expect(&r, 201, None, &what)?;
        if r.body["status"] != "booked" {
            return Err(format!("{what}: status {}", r.body["status"]));
        }
        self.m.bookings.push(MBooking {
            prop,
            id: bid.clone(),
            status: Bs::Booked,
            hold: None,
            claim_until: None,
            saved_card: false,
        });
        // Booking ids are unique per property: the same id at the other one
        // is another booking, and naming it without a property is ambiguous.
        if self.m.bookings.iter().any(|b| b.prop != prop && b.id == bid) {
            let r = self.w.call(Tok::Admin, "GET", &format!("/api/bookings/{bid}"), None).await?;
            self.count("booking id at both properties: ambiguous without property_id");
            expect(&r, 400, Some("validation_error"), &format!("GET /api/bookings/{bid} (at both properties)"))?;
        }
        Ok(())
    }

    /// What an authorize of booking `b` must do, before it runs:
    /// `Ok(None)` places a new hold, `Ok(Some(h))` answers with hold `h`
    /// (confirming it when a card comes and it waits for one).
    fn predict_authorize(&self, b: usize) -> Result<Option<usize>, (u16, &'static str)> {
        let bk = &self.m.bookings[b];
        match bk.status {
            Bs::Booked => Ok(None),
            Bs::Pending | Bs::Active => match bk.hold {
                Some(h) if !self.m.holds[h].status.terminal() => Ok(Some(h)),
                _ => Err((409, "invalid_state")),
            },
            Bs::CheckedOut | Bs::Settled => Err((409, "invalid_state")),
        }
    }

    /// Applies a successful authorize answer to the model.
    fn authorized(&mut self, b: usize, r: &Reply, card: bool, what: &str) -> Res {
        let hold_id = r.body["hold_id"].as_str().ok_or_else(|| format!("{what}: no hold_id: {}", r.text))?.to_string();
        let prop = self.m.bookings[b].prop;
        let want = if card || self.m.bookings[b].saved_card { Hs::Authorized } else { Hs::PaymentMethod };
        let h = match self.predict_authorize(b) {
            Ok(None) => {
                if self.m.hold_index(&hold_id).is_some() {
                    return Err(format!("{what}: a booked booking answered with the existing hold {hold_id}"));
                }
                same(what, "amount", field(&r.body, "amount"), PROPERTY_DEFAULTS[prop])?;
                self.m.holds.push(MHold {
                    id: hold_id.clone(),
                    prop,
                    booking: Some(b),
                    status: Hs::PaymentMethod,
                    amount: PROPERTY_DEFAULTS[prop],
                    captured: 0,
                    released: 0,
                    tier_limit: tier_limit(r.body["tier"].as_str().unwrap_or("")),
                    capture_before: None,
                    increments: 0,
                    reauthorizes: None,
                });
                let h = self.m.holds.len() - 1;
                self.m.bookings[b].hold = Some(h);
                self.m.bookings[b].status = Bs::Pending;
                if want == Hs::Authorized {
                    self.m.set_status(h, Hs::Authorized);
                }
                h
            }
            Ok(Some(h)) => {
                if self.m.holds[h].id != hold_id {
                    return Err(format!(
                        "{what}: answered hold {hold_id}, the booking's hold is {}",
                        self.m.holds[h].id
                    ));
                }
                if card && self.m.holds[h].status == Hs::PaymentMethod {
                    self.m.set_status(h, Hs::Authorized);
                }
                h
            }
            Err(e) => return Err(format!("{what}: succeeded, the model expects {e:?}")),
        };
        let hs = self.m.holds[h].status;
        if r.body["status"] != hs.name() || r.body["booking_status"] != self.m.bookings[b].status.name() {
            return Err(format!(
                "{what}: status {} / booking_status {}, the model expects {} / {}",
                r.body["status"],
                r.body["booking_status"],
                hs.name(),
                self.m.bookings[b].status.name()
            ));
        }
        Ok(())
    }

    fn authorize_body(card: bool) -> Value {
        if card {
            json!({"payment_method": "pm_card_visa", "confirm": true})
        } else {
            json!({})
        }
    }

    async fn authorize(&mut self, b: usize, card: bool, idem: Idem) -> Res {
        let path = self.booking_path(b, "/authorize");
        let r = self.post(&path, Self::authorize_body(card), idem).await?;
        let what = format!("authorize {} ({}) card={card}", self.m.bookings[b].id, self.m.bookings[b].status.name());
        self.note(format!("{what} -> {}", r.short()));
        match self.predict_authorize(b) {
            Err((status, code)) => expect(&r, status, Some(code), &what),
            Ok(_) => {
                expect(&r, 200, None, &what)?;
                self.authorized(b, &r, card, &what)
            }
        }
    }

    /// Several check-ins of one booking at once: one hold, every success
    /// names it, the others are told to retry.
    async fn parallel_authorize(&mut self, b: usize, calls: usize, card: bool) -> Res {
        let path = self.booking_path(b, "/authorize");
        let body = Self::authorize_body(card);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..calls {
            let w = self.w.clone();
            let (path, body, key) = (path.clone(), body.clone(), self.key());
            let node = w.node();
            set.spawn(async move {
                let r = w.send(node, Tok::Admin, "POST", &path, Some(&body), Some(&key)).await;
                r.map(|r| (r, key))
            });
        }
        let mut replies = Vec::new();
        let mut keys = Vec::new();
        while let Some(r) = set.join_next().await {
            let (r, k) = r.map_err(|e| e.to_string())??;
            replies.push(r);
            keys.push(k);
        }
        let what = format!(
            "{calls} parallel authorizations of {} ({}) card={card}",
            self.m.bookings[b].id,
            self.m.bookings[b].status.name()
        );
        let summary: Vec<String> = replies.iter().map(Reply::short).collect();
        self.note(format!("{what} -> {summary:?}"));
        let busy = replies.iter().filter(|r| r.status == 409 && r.code() == "operation_in_progress").count();
        self.count(&format!(
            "parallel authorize: {} ok, {busy} operation_in_progress",
            replies.iter().filter(|r| r.status == 200).count()
        ));
        let prediction = self.predict_authorize(b);
        if let Err((status, code)) = prediction {
            for r in &replies {
                expect(r, status, Some(code), &what)?;
            }
            return Ok(());
        }
        let ok: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
        for r in &replies {
            if r.status != 200 && !(r.status == 409 && r.code() == "operation_in_progress") {
                return Err(format!("{what}: answered {} (only 200 or 409 operation_in_progress)", r.short()));
            }
        }
        let ids: HashSet<&str> = ok.iter().filter_map(|r| r.body["hold_id"].as_str()).collect();
        if ok.is_empty() || ids.len() != 1 {
            return Err(format!("{what}: {} successes naming holds {ids:?}", ok.len()));
        }
        // With a card, a success may have seen the hold before or after the
        // card was confirmed; the model follows the last word.
        // Every success reports the hold in one state. The booking's status
        // in an answer may lag behind its hold by a moment (a call that
        // found the hold just confirmed by another, before the booking
        // followed it); the model takes the most advanced one, and the check
        // after the step compares the stored booking.
        let mut best = ok[0];
        for r in &ok {
            if r.body["status"] != ok[0].body["status"] {
                return Err(format!("{what}: the successes disagree on the hold's status: {summary:?}"));
            }
            if r.body["booking_status"] == "hold_active" {
                best = r;
            }
        }
        if ok.iter().any(|r| r.body["booking_status"] != best.body["booking_status"]) {
            self.count("parallel authorize: a success reported the booking's previous status");
        }
        self.authorized(b, best, card, &what)?;
        // The losers' keys stored nothing: retried, they run again and
        // answer with the booking's one hold.
        let hold_id = ok[0].body["hold_id"].clone();
        for (r, key) in replies.iter().zip(&keys) {
            if r.status != 409 {
                continue;
            }
            let again = self.post_retrying(Tok::Admin, &path, &body, Some(key)).await?;
            self.note(format!("retry {key} -> {}", again.short()));
            self.count("parallel authorize: loser retried with its key");
            if again.replayed || again.status != 200 || again.body["hold_id"] != hold_id {
                return Err(format!(
                    "{what}: a loser retried with its key {key} got {} (replayed: {}), not the hold {hold_id}",
                    again.short(),
                    again.replayed
                ));
            }
        }
        Ok(())
    }

    /// Resolves damage lines against the booking's hold: the line amounts,
    /// and the answer the model expects (`Ok` = settled by this call).
    fn predict_settle(&self, h: usize, lines: &[Line]) -> (Vec<i64>, Result<i64, (u16, &'static str)>) {
        let hold = &self.m.holds[h];
        let amounts: Vec<i64> = lines.iter().map(|l| line_amount(*l, hold.amount)).collect();
        let capturable = if hold.status == Hs::Authorized { hold.amount } else { i64::MAX };
        if amounts.iter().any(|a| *a > capturable) {
            return (amounts, Err((400, "validation_error")));
        }
        let Some(total) = amounts.iter().try_fold(0i64, |t, a| t.checked_add(*a)) else {
            return (amounts, Err((400, "validation_error")));
        };
        let outcome = match hold.status {
            Hs::Authorized if total > hold.amount => Err((409, "amount_exceeds_capturable")),
            Hs::Authorized => Ok(total),
            Hs::Expired if total > 0 => Err((409, "hold_expired")),
            _ => Err((409, "invalid_state")),
        };
        (amounts, outcome)
    }

    /// Applies a settled check-out or claim: the hold captured `total`, or
    /// released when it is zero; the booking settled.
    fn settled(&mut self, b: usize, h: usize, total: i64, r: &Reply, what: &str) -> Res {
        if total > 0 {
            if r.body["message"] != "Damage charge processed" || r.body["hold_released"] != true {
                return Err(format!("{what}: {}", r.text));
            }
            same(what, "amount_charged", field(&r.body, "amount_charged"), total)?;
            same(what, "amount_released", field(&r.body, "amount_released"), self.m.holds[h].amount - total)?;
            self.m.capture(h, total);
        } else {
            if r.body["message"] != "No charges. Hold released." || r.body["hold_released"] != true {
                return Err(format!("{what}: {}", r.text));
            }
            same(what, "amount_released", field(&r.body, "amount_released"), self.m.holds[h].capturable())?;
            self.m.cancel(h);
        }
        self.m.bookings[b].status = Bs::Settled;
        Ok(())
    }

    async fn checkout(&mut self, b: usize, lines: &[Line], defer: bool, idem: Idem) -> Res {
        let bk = self.m.bookings[b].clone();
        let basis = bk.hold.map(|h| self.m.holds[h].amount).unwrap_or(PROPERTY_DEFAULTS[bk.prop]);
        let (amounts, settle) = match bk.hold {
            Some(h) => self.predict_settle(h, lines),
            None => (lines.iter().map(|l| line_amount(*l, basis)).collect(), Err((409, "invalid_state"))),
        };
        let mut body = json!({ "damages": damages_body(&amounts) });
        if defer {
            body["defer_release"] = json!(true);
        }
        let r = self.post(&self.booking_path(b, "/checkout"), body, idem).await?;
        let what = format!("checkout {} ({}) damages {amounts:?} defer={defer}", bk.id, bk.status.name());
        self.note(format!("{what} -> {}", r.short()));
        if amounts.iter().any(|a| *a <= 0) {
            return expect(&r, 400, Some("validation_error"), &what);
        }
        if bk.status != Bs::Active {
            return expect(&r, 409, Some("invalid_state"), &what);
        }
        let h = bk.hold.ok_or_else(|| format!("{what}: the model has an active booking without a hold"))?;
        if defer {
            if !amounts.is_empty() {
                return expect(&r, 400, Some("validation_error"), &what);
            }
            expect(&r, 200, None, &what)?;
            if r.body["hold_released"] != false {
                return Err(format!("{what}: {}", r.text));
            }
            let until = millis(&r.body["claim_window_ends_at"]).ok_or_else(|| format!("{what}: {}", r.text))?;
            let want = self.m.now_ms + CLAIM_WINDOW_HOURS[bk.prop] * 3_600_000;
            if (until - want).abs() > CLOCK_MARGIN_MS {
                return Err(format!("{what}: the claim window ends at {until}, the model expects about {want}"));
            }
            self.m.bookings[b].status = Bs::CheckedOut;
            self.m.bookings[b].claim_until = Some(until);
            return Ok(());
        }
        match settle {
            Err((status, code)) => expect(&r, status, Some(code), &what),
            Ok(total) => {
                expect(&r, 200, None, &what)?;
                self.settled(b, h, total, &r, &what)
            }
        }
    }

    async fn claim(&mut self, b: usize, lines: &[Line], idem: Idem) -> Res {
        let bk = self.m.bookings[b].clone();
        let basis = bk.hold.map(|h| self.m.holds[h].amount).unwrap_or(PROPERTY_DEFAULTS[bk.prop]);
        let (amounts, settle) = match bk.hold {
            Some(h) => self.predict_settle(h, lines),
            None => (lines.iter().map(|l| line_amount(*l, basis)).collect(), Err((409, "invalid_state"))),
        };
        let r = self.post(&self.booking_path(b, "/claims"), json!({ "damages": damages_body(&amounts) }), idem).await?;
        let what = format!("claim on {} ({}) damages {amounts:?}", bk.id, bk.status.name());
        self.note(format!("{what} -> {}", r.short()));
        if amounts.iter().any(|a| *a <= 0) {
            return expect(&r, 400, Some("validation_error"), &what);
        }
        if bk.status != Bs::CheckedOut {
            return expect(&r, 409, Some("invalid_state"), &what);
        }
        if bk.claim_until.is_some_and(|t| t <= self.m.now_ms) {
            return expect(&r, 409, None, &what);
        }
        if amounts.is_empty() {
            return expect(&r, 400, Some("validation_error"), &what);
        }
        let h = bk.hold.ok_or_else(|| format!("{what}: the model has a checked-out booking without a hold"))?;
        match settle {
            Err((status, code)) => expect(&r, status, Some(code), &what),
            Ok(total) => {
                expect(&r, 200, None, &what)?;
                self.settled(b, h, total, &r, &what)
            }
        }
    }

    // -- time ----------------------------------------------------------------

    /// Moves the clock; lapsed holds expire, closed claim windows release,
    /// long stays are re-authorized. The model accepts exactly those changes.
    async fn tick(&mut self, secs: i64) -> Res {
        let before = self.m.now_ms;
        self.w.advance(secs).await?;
        let mut now = self.w.now_ms().await?;
        // Deadlines too close to the clock are not predicted: step past them.
        for _ in 0..3 {
            let near = |t: i64| (t - now).abs() < CLOCK_MARGIN_MS;
            let close = self.m.holds.iter().any(|h| h.status == Hs::Authorized && h.capture_before.is_some_and(near))
                || self.m.bookings.iter().any(|b| b.status == Bs::CheckedOut && b.claim_until.is_some_and(near));
            if !close {
                break;
            }
            self.w.advance(2 * CLOCK_MARGIN_MS / 1000).await?;
            now = self.w.now_ms().await?;
        }
        self.m.now_ms = now;
        self.note(format!("tick {secs} s: clock {before} -> {now}"));
        // Wait for what must happen: lapsed holds leave requires_capture,
        // bookings whose claim window closed settle.
        let start = Instant::now();
        let (views, bookings) = loop {
            let views = self.list_holds().await?;
            let bookings = self.list_bookings().await?;
            let lapsed = self.m.holds.iter().any(|h| {
                h.status == Hs::Authorized
                    && h.capture_before.is_some_and(|cb| cb <= now)
                    && views.get(&h.id).is_some_and(|v| v["status"] == "requires_capture")
            });
            let unsettled = self.m.bookings.iter().any(|b| {
                b.status == Bs::CheckedOut
                    && b.claim_until.is_some_and(|t| t <= now)
                    && bookings.get(&(b.prop, b.id.clone())).is_some_and(|v| v["status"] != "settled")
            });
            if !(lapsed || unsettled) {
                break (views, bookings);
            }
            if start.elapsed() > JOBS_WITHIN {
                return Err(format!(
                    "{JOBS_WITHIN:?} after the clock moved: lapsed hold still requires_capture: {lapsed}, \
                     closed claim window not settled: {unsettled}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Re-authorizations: new holds marked `reauthorizes` a known hold.
        let mut learned = true;
        while learned {
            learned = false;
            for (id, v) in &views {
                if self.m.hold_index(id).is_some() {
                    continue;
                }
                let Some(old) = v["metadata"]["reauthorizes"].as_str().and_then(|o| self.m.hold_index(o)) else {
                    continue;
                };
                let status = Hs::parse(v["status"].as_str().unwrap_or("")).ok_or_else(|| format!("hold {id}: {v}"))?;
                let prev = self.m.holds[old].clone();
                if field(v, "amount") != prev.amount {
                    return Err(format!("re-authorization {id} of {} is for {v}, not {}", prev.id, prev.amount));
                }
                self.m.holds.push(MHold {
                    id: id.clone(),
                    prop: prev.prop,
                    booking: prev.booking,
                    status,
                    amount: prev.amount,
                    captured: field(v, "amount_captured"),
                    released: field(v, "amount_released"),
                    tier_limit: tier_limit(v["tier"].as_str().unwrap_or("")),
                    capture_before: millis(&v["capture_before"]),
                    increments: 0,
                    reauthorizes: Some(prev.id.clone()),
                });
                if status.terminal() {
                    self.m.terminal.insert(id.clone(), status);
                }
                self.note(format!("learned re-authorization {id} of {} ({})", prev.id, status.name()));
                self.count("tick: re-authorization");
                learned = true;
            }
        }
        let replaced: HashSet<String> = self.m.holds.iter().filter_map(|h| h.reauthorizes.clone()).collect();
        // An active booking may have moved to its re-authorization.
        for b in 0..self.m.bookings.len() {
            let bk = self.m.bookings[b].clone();
            let v = bookings.get(&(bk.prop, bk.id.clone())).ok_or_else(|| format!("booking {} is gone", bk.id))?;
            let server_hold = v["hold_id"].as_str().map(str::to_string);
            let model_hold = bk.hold.map(|h| self.m.holds[h].id.clone());
            let Some(new) = server_hold.as_deref().and_then(|s| self.m.hold_index(s)) else { continue };
            if server_hold == model_hold || self.m.holds[new].reauthorizes.is_none() {
                continue;
            }
            // The new hold must descend from the old one.
            let mut cur = Some(new);
            let mut ok = false;
            while let Some(c) = cur {
                if Some(&self.m.holds[c].id) == model_hold.as_ref() {
                    ok = true;
                    break;
                }
                cur = self.m.holds[c].reauthorizes.as_deref().and_then(|o| self.m.hold_index(o));
            }
            if !ok || bk.status != Bs::Active {
                return Err(format!(
                    "after a {secs} s tick, booking {} ({}) moved from {model_hold:?} to {server_hold:?}, not a re-authorization",
                    bk.id,
                    bk.status.name()
                ));
            }
            self.m.bookings[b].hold = Some(new);
        }
        // Holds: only authorized ones change, and only for those reasons.
        for i in 0..self.m.holds.len() {
            let h = self.m.holds[i].clone();
            let v = views.get(&h.id).ok_or_else(|| format!("hold {} is gone", h.id))?;
            let status = Hs::parse(v["status"].as_str().unwrap_or("")).ok_or_else(|| format!("hold {}: {v}", h.id))?;
            if status == h.status {
                if h.status == Hs::Authorized {
                    self.m.holds[i].capture_before = millis(&v["capture_before"]);
                }
                continue;
            }
            let what = format!("after a {secs} s tick, hold {} ({})", h.id, h.status.name());
            let lapsed = h.capture_before.is_some_and(|cb| cb <= now);
            let window_closed = h.booking.is_some_and(|b| {
                let bk = &self.m.bookings[b];
                bk.status == Bs::CheckedOut && bk.claim_until.is_some_and(|t| t <= now) && bk.hold == Some(i)
            });
            let allowed = h.status == Hs::Authorized
                && match status {
                    Hs::Expired => lapsed,
                    Hs::Canceled => replaced.contains(&h.id) || window_closed,
                    _ => false,
                };
            if !allowed {
                return Err(format!(
                    "{what}: became {} (lapsed {lapsed}, re-authorized {}, claim window closed {window_closed})",
                    status.name(),
                    replaced.contains(&h.id)
                ));
            }
            let released = field(v, "amount_released");
            same(&what, "amount_released", released, h.amount)?;
            self.count(&format!("tick: hold {}", status.name()));
            self.m.holds[i].released = released;
            self.m.set_status(i, status);
        }
        // Bookings: the model has followed their holds; a checked-out one
        // whose claim window closed is settled whatever became of its hold.
        for b in 0..self.m.bookings.len() {
            let bk = &self.m.bookings[b];
            let v = &bookings[&(bk.prop, bk.id.clone())];
            if bk.status == Bs::CheckedOut && bk.claim_until.is_some_and(|t| t <= now) {
                if v["status"] != "settled" {
                    return Err(format!(
                        "after a {secs} s tick, booking {}: claim window closed but the booking is {}",
                        bk.id, v["status"]
                    ));
                }
                self.m.bookings[b].status = Bs::Settled;
                self.count("tick: claim window closed");
            }
        }
        Ok(())
    }

    // -- tokens that may not --------------------------------------------------

    /// A mutating call with a read-only token (403) or another property's
    /// token (404 for existing records, 403 to create): nothing changes.
    async fn forbidden(&mut self, who: Who, what: Mutation, hold: Pick, booking: Pick) -> Res {
        let tok = match who {
            Who::ReadOnly => Tok::ReadOnly,
            Who::OtherProperty => Tok::Foreign,
        };
        let h = self.m.pick_hold(hold, LIVE);
        let b = self.m.pick_booking(booking, &[Bs::Booked, Bs::Pending, Bs::Active, Bs::CheckedOut]);
        // Without a target yet, try to create one instead.
        let what = match what {
            Mutation::Confirm | Mutation::Capture | Mutation::Cancel | Mutation::Increment if h.is_none() => {
                Mutation::CreateHold
            }
            Mutation::Authorize | Mutation::Checkout | Mutation::Claim if b.is_none() => Mutation::CreateBooking,
            w => w,
        };
        let hold_path = |s: &Self, action: &str| h.map(|h| format!("/api/holds/{}{action}", s.m.holds[h].id));
        let (path, body, snapshot) = match what {
            Mutation::CreateHold => (
                Some("/api/holds".to_string()),
                json!({"amount": 1000, "description": "not allowed", "property_id": self.props[0], "payment_method": "pm_card_visa", "confirm": true}),
                None,
            ),
            Mutation::Confirm => {
                (hold_path(self, "/confirm"), json!({"payment_method": "pm_card_visa"}), hold_path(self, ""))
            }
            Mutation::Capture => (hold_path(self, "/capture"), json!({}), hold_path(self, "")),
            Mutation::Cancel => (hold_path(self, "/cancel"), json!({}), hold_path(self, "")),
            Mutation::Increment => (
                hold_path(self, "/increment"),
                json!({"amount": h.map(|h| self.m.holds[h].amount + 100).unwrap_or(0)}),
                hold_path(self, ""),
            ),
            Mutation::CreateBooking => (
                Some("/api/bookings".to_string()),
                json!({"id": "bk-forbidden", "property_id": self.props[0], "guest_name": "Nobody",
                    "check_in": "2030-01-01", "check_out": "2030-01-03"}),
                None,
            ),
            Mutation::Authorize => (
                b.map(|b| self.booking_path(b, "/authorize")),
                json!({"payment_method": "pm_card_visa", "confirm": true}),
                b.map(|b| self.booking_path(b, "")),
            ),
            Mutation::Checkout => (
                b.map(|b| self.booking_path(b, "/checkout")),
                json!({"damages": [{"amount": 100, "description": "not allowed"}]}),
                b.map(|b| self.booking_path(b, "")),
            ),
            Mutation::Claim => (
                b.map(|b| self.booking_path(b, "/claims")),
                json!({"damages": [{"amount": 100, "description": "not allowed"}]}),
                b.map(|b| self.booking_path(b, "")),
            ),
            Mutation::PutProperty => (
                Some("/api/properties".to_string()),
                json!({"id": self.props[0], "name": "taken over", "default_hold_amount": 50, "claim_window_hours": 1}),
                Some(format!("/api/properties/{}", self.props[0])),
            ),
        };
        let path = path.ok_or("forbidden step without a target")?;
        let before = match &snapshot {
            Some(p) => Some(self.w.get(p).await?),
            None => None,
        };
        let r = self.w.call(tok, "POST", &path, Some(&body)).await?;
        let creates = matches!(what, Mutation::CreateHold | Mutation::CreateBooking | Mutation::PutProperty);
        let want = match (who, creates) {
            (Who::ReadOnly, _) | (Who::OtherProperty, true) => 403,
            (Who::OtherProperty, false) => 404,
        };
        let label = format!("{who:?} token: {what:?} POST {path}");
        self.note(format!("{label} -> {}", r.short()));
        self.count(&format!("{who:?} token {what:?}: {}", r.status));
        expect(&r, want, None, &label)?;
        if let (Some(p), Some(before)) = (&snapshot, before) {
            let after = self.w.get(p).await?;
            if after != before {
                return Err(format!("{label} answered {} but changed {p}:\nbefore {before}\nafter  {after}", r.status));
            }
            // What the token may read: its own scope, never another property.
            if p.starts_with("/api/") && !p.starts_with("/api/properties") {
                let read = self.w.call(tok, "GET", p, None).await?;
                let want = match who {
                    Who::ReadOnly => 200,
                    Who::OtherProperty => 404,
                };
                expect(&read, want, None, &format!("{who:?} token: GET {p}"))?;
            }
        }
        Ok(())
    }

    // -- invariants ------------------------------------------------------------

    async fn list_holds(&self) -> Res<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        for p in &self.props {
            let v = self.w.get(&format!("/api/holds?limit=200&property_id={p}")).await?;
            if !v["next_cursor"].is_null() {
                return Err(format!("more than 200 holds at {p}"));
            }
            for h in v["holds"].as_array().ok_or_else(|| format!("list: {v}"))? {
                out.insert(h["id"].as_str().unwrap_or("").to_string(), h.clone());
            }
        }
        Ok(out)
    }

    async fn list_bookings(&self) -> Res<BTreeMap<(usize, String), Value>> {
        let mut out = BTreeMap::new();
        for (i, p) in self.props.iter().enumerate() {
            let v = self.w.get(&format!("/api/bookings?limit=500&property_id={p}")).await?;
            for b in v["bookings"].as_array().ok_or_else(|| format!("bookings: {v}"))? {
                out.insert((i, b["id"].as_str().unwrap_or("").to_string()), b.clone());
            }
        }
        Ok(out)
    }

    /// After every step: the store, the processor and the model agree, and
    /// the money invariants hold.
    async fn check(&mut self) -> Res {
        let views = self.list_holds().await?;
        let mut live: HashMap<(String, String), Vec<String>> = HashMap::new();
        for (id, v) in &views {
            let captured = field(v, "amount_captured");
            let amount = field(v, "amount");
            if captured > amount {
                return Err(format!("hold {id} captured {captured} of {amount}: {v}"));
            }
            if v["operation_pending"] == true {
                return Err(format!("hold {id} is still locked after the step: {v}"));
            }
            let Some(i) = self.m.hold_index(id) else {
                return Err(format!("hold {id} exists but no answer created it: {v}"));
            };
            let status = Hs::parse(v["status"].as_str().unwrap_or("")).ok_or_else(|| format!("hold {id}: {v}"))?;
            if let Some(t) = self.m.terminal.get(id) {
                if *t != status {
                    return Err(format!("hold {id} left the terminal state {} for {}", t.name(), status.name()));
                }
            }
            let m = &self.m.holds[i];
            let what = format!("hold {id}");
            if status != m.status {
                return Err(format!("{what} is {}, the model expects {}", status.name(), m.status.name()));
            }
            same(&what, "amount", amount, m.amount)?;
            same(&what, "amount_capturable", field(v, "amount_capturable"), m.capturable())?;
            same(&what, "amount_captured", captured, m.captured)?;
            same(&what, "amount_released", field(v, "amount_released"), m.released)?;
            if status == Hs::Authorized {
                // Not every answer carries the deadline; the list does.
                self.m.holds[i].capture_before = millis(&v["capture_before"]);
            }
            if status.terminal() {
                self.m.terminal.entry(id.clone()).or_insert(status);
            } else if v["metadata"]["reauthorizes"].is_null() {
                if let (Some(p), Some(b)) = (v["property_id"].as_str(), v["booking_id"].as_str()) {
                    live.entry((p.to_string(), b.to_string())).or_default().push(id.clone());
                }
            }
            // The processor agrees.
            let pi = self.w.get(&format!("/_sim/payment_intents/{id}")).await?;
            let sim_status = pi["status"].as_str().unwrap_or("");
            if !status.processor_agrees(sim_status) || field(&pi, "amount_received") != captured {
                return Err(format!(
                    "hold {id} is {} with {captured} captured, the processor has {sim_status} with {} received",
                    status.name(),
                    pi["amount_received"]
                ));
            }
            if status == Hs::Authorized && (field(&pi, "amount") != amount || field(&pi, "amount_capturable") != amount)
            {
                return Err(format!("hold {id} authorizes {amount}, the processor {pi}"));
            }
            if field(&pi, "captures") > 1 {
                return Err(format!("hold {id} was captured {} times by the processor", pi["captures"]));
            }
        }
        for m in &self.m.holds {
            if !views.contains_key(&m.id) {
                return Err(format!("hold {} is missing from the list", m.id));
            }
        }
        for ((p, b), ids) in &live {
            if ids.len() > 1 {
                return Err(format!("booking {b} at {p} has {} live holds: {ids:?}", ids.len()));
            }
        }
        let bookings = self.list_bookings().await?;
        for ((p, id), v) in &bookings {
            let Some(m) = self.m.bookings.iter().find(|b| b.prop == *p && b.id == *id) else {
                return Err(format!("booking {id} at {} exists but no answer created it: {v}", self.props[*p]));
            };
            let hold = m.hold.map(|h| self.m.holds[h].id.as_str());
            if v["status"] != m.status.name() || v["hold_id"].as_str() != hold {
                return Err(format!(
                    "booking {id} at {} is {} with hold {}, the model expects {} with {hold:?}",
                    self.props[*p],
                    v["status"],
                    v["hold_id"],
                    m.status.name()
                ));
            }
        }
        if bookings.len() != self.m.bookings.len() {
            return Err(format!("{} bookings listed, the model has {}", bookings.len(), self.m.bookings.len()));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Running a store

fn run_store(name: &'static str, db: Db, servers: &[Server]) {
    let readonly = cli_token(&db, &["--name", "model-read-only", "--scope", "holds:read", "--rate-limit", "100000"]);
    let foreign = cli_token(
        &db,
        &[
            "--name",
            "model-other-property",
            "--scope",
            "holds:write",
            "--property",
            "model-other",
            "--rate-limit",
            "100000",
        ],
    );
    let world = Arc::new(World {
        name,
        nodes: servers.iter().map(|s| s.base.clone()).collect(),
        http: reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().expect("client"),
        admin: TEST_TOKEN.to_string(),
        readonly,
        foreign,
        next: AtomicUsize::new(0),
        cases: AtomicUsize::new(0),
        steps: AtomicUsize::new(0),
        busy_retries: AtomicUsize::new(0),
        outcomes: std::sync::Mutex::new(BTreeMap::new()),
    });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let config = Config {
        cases: CASES,
        max_shrink_iters: MAX_SHRINK_ITERS,
        max_shrink_time: MAX_SHRINK_MS,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(PERSISTENCE))),
        source_file: Some(file!()),
        test_name: Some(name),
        fork: false,
        timeout: 0,
        verbose: 0,
        max_local_rejects: 0,
        max_global_rejects: 0,
        rng_seed: RngSeed::Random,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = Instant::now();
    let result = runner.run(&sequence(), |steps| {
        let n = world.cases.fetch_add(1, Ordering::Relaxed);
        let mut case = Case {
            w: world.clone(),
            n,
            props: [format!("m{n}a"), format!("m{n}b")],
            m: Model::default(),
            keys: 0,
            log: Vec::new(),
        };
        rt.block_on(case.run(&steps)).map_err(|e| {
            let mut trace = String::new();
            for l in &case.log {
                let _ = writeln!(trace, "    {l}");
            }
            TestCaseError::fail(format!("{name}: {e}\n  what happened:\n{trace}"))
        })
    });
    println!(
        "model: {name}: {} sequences, {} steps ({} operation_in_progress retries) in {:.1} s",
        world.cases.load(Ordering::Relaxed),
        world.steps.load(Ordering::Relaxed),
        world.busy_retries.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    for (what, n) in world.outcomes.lock().expect("outcomes").iter() {
        println!("model: {name}:   {n:>4} {what}");
    }
    if let Err(e) = result {
        panic!("model: {name}: {e}");
    }
}

fn env() -> [(&'static str, &'static str); 1] {
    [("CHITTYCHARGE_JOBS_INTERVAL_MS", JOBS_INTERVAL_MS)]
}

#[test]
fn random_api_sequences_keep_the_money_invariants_on_sqlite() {
    let db = sqlite_db();
    let server = Server::start_with(db.clone(), &env());
    run_store("sqlite", db, std::slice::from_ref(&server));
}

#[test]
fn random_api_sequences_keep_the_money_invariants_on_two_postgres_instances() {
    let Some(db) = postgres_db() else { return };
    let a = Server::start_with(db.clone(), &env());
    let b = Server::start_with(db.clone(), &env());
    run_store("postgres", db, &[a, b]);
}
