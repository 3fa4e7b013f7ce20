//! Steps on bookings: create, check-in (authorize, alone or in parallel),
//! check-out and claims.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::model::case::{expect, field, same, Case, Res};
use crate::model::reference::{damages_body, line_amount, millis, tier_limit, Bs, Hs, MBooking, MHold};
use crate::model::steps::{Idem, Line};
use crate::model::world::{Reply, Tok};
use crate::model::{CLAIM_WINDOW_HOURS, CLOCK_MARGIN_MS, PROPERTY_DEFAULTS};

impl Case {
    pub(crate) fn booking_path(&self, b: usize, action: &str) -> String {
        let bk = &self.m.bookings[b];
        format!("/api/bookings/{}{action}?property_id={}", bk.id, self.props[bk.prop])
    }

    pub(crate) async fn create_booking(&mut self, prop: usize, id: u8, stay_days: u8, idem: Idem) -> Res {
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

    pub(crate) async fn authorize(&mut self, b: usize, card: bool, idem: Idem) -> Res {
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
    pub(crate) async fn parallel_authorize(&mut self, b: usize, calls: usize, card: bool) -> Res {
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

    pub(crate) async fn checkout(&mut self, b: usize, lines: &[Line], defer: bool, idem: Idem) -> Res {
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

    pub(crate) async fn claim(&mut self, b: usize, lines: &[Line], idem: Idem) -> Res {
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
}
