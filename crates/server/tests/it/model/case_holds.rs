//! Steps on holds: create, confirm, capture, cancel, increment, racing
//! pairs and clients that hang up.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::model::case::{expect, field, same, Case, Res};
use crate::model::reference::{capture_body, millis, predict_capture, Hs, MHold};
use crate::model::steps::{Amount, Idem, Raise, Rival, Take};
use crate::model::world::{Call, Reply, Tok};
use crate::model::{NEW_GUEST_LIMIT, UNLOCK_WITHIN};

impl Case {
    pub(crate) async fn create_hold(&mut self, prop: usize, amount: Amount, card: bool, idem: Idem) -> Res {
        let a = amount.minor();
        let mut body = json!({"amount": a, "description": "model hold", "property_id": self.props[prop], "incremental_authorization": true});
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

    pub(crate) async fn confirm(&mut self, h: usize, idem: Idem) -> Res {
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

    pub(crate) async fn capture(&mut self, h: usize, take: Take, idem: Idem) -> Res {
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

    pub(crate) async fn cancel(&mut self, h: usize, idem: Idem) -> Res {
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

    pub(crate) async fn increment(&mut self, h: usize, raise: Raise, idem: Idem) -> Res {
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
    pub(crate) async fn race(&mut self, h: usize, first: Take, second: Rival) -> Res {
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
    pub(crate) async fn disconnect(&mut self, h: usize, take: Take, timeout_ms: u64, keyed: bool) -> Res {
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
}
