//! One sequence: its state, the shared plumbing of its steps, and the
//! dispatch of each step to the `impl Case` blocks in the `case_*` modules.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::model::reference::{Bs, Hs, Model, LIVE};
use crate::model::steps::{Amount, Idem, Pick, Step};
use crate::model::world::{Reply, Tok, World};
use crate::model::{CLAIM_WINDOW_HOURS, PROPERTY_DEFAULTS, UNLOCK_WITHIN};

pub(crate) struct Case {
    pub(crate) w: Arc<World>,
    pub(crate) n: usize,
    pub(crate) props: [String; 2],
    pub(crate) m: Model,
    pub(crate) keys: usize,
    pub(crate) log: Vec<String>,
}

pub(crate) type Res<T = ()> = Result<T, String>;

pub(crate) fn expect(r: &Reply, status: u16, code: Option<&str>, what: &str) -> Res {
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

pub(crate) fn field(v: &Value, name: &str) -> i64 {
    v[name].as_i64().unwrap_or(i64::MIN)
}

pub(crate) fn same(what: &str, name: &str, got: i64, want: i64) -> Res {
    if got != want {
        return Err(format!("{what}: {name} is {got}, the model expects {want}"));
    }
    Ok(())
}

impl Case {
    pub(crate) fn key(&mut self) -> String {
        self.keys += 1;
        format!("model-{}-{}-{}", self.w.name, self.n, self.keys)
    }

    pub(crate) fn note(&mut self, s: String) {
        self.log.push(format!("    {s}"));
    }

    /// A mutating POST with the admin token. A 409 `operation_in_progress`
    /// is retried (with the same key) for a short while. With `Idem::Replay`
    /// the request is sent again and must be replayed byte for byte; with
    /// `Idem::Mismatch` the key is reused with another body and must be
    /// refused without effect.
    pub(crate) async fn post(&mut self, path: &str, body: Value, idem: Idem) -> Res<Reply> {
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

    pub(crate) async fn post_retrying(&mut self, tok: Tok, path: &str, body: &Value, key: Option<&str>) -> Res<Reply> {
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

    pub(crate) async fn run(&mut self, steps: &[Step]) -> Res {
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

    pub(crate) fn count(&self, what: &str) {
        *self.w.outcomes.lock().expect("outcomes").entry(what.to_string()).or_insert(0) += 1;
    }
}
