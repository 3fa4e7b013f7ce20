//! Check-out, damage claims and settling a booking: a check-out claims the
//! booking before it touches the hold (so of two, one acts), damages are
//! captured as one itemized claim, and a booking settles only by the end of
//! the hold it points to.

use chittycharge_domain::booking::{BookingState, HoldActive};
use chittycharge_domain::{Booking, Hold, PositiveAmount};
use chittycharge_store::DamageClaim;
use serde_json::{json, Value};

use super::bookings::{claim_id, claim_total, conflict, CheckoutOutcome, DamageLine};
use super::{CaptureCommand, CoreError, CoreResult, HoldService};
use crate::caller::Caller;

/// The bound for each damage line: what the hold can capture. A hold that
/// is not capturable gets no bound here; the capture answers with its state.
fn capturable(hold: &Hold) -> i64 {
    match &hold.state {
        chittycharge_domain::HoldState::RequiresCapture(a) => a.capturable(),
        _ => i64::MAX,
    }
}

impl HoldService {
    /// Check-out. Damages are captured as one itemized claim; without
    /// damages the hold is released; with `defer` the property's claim
    /// window opens and a job releases the hold when it ends.
    pub async fn checkout(
        &self,
        id: &str,
        property: Option<&str>,
        damages: Vec<DamageLine>,
        defer: bool,
        caller: &Caller,
    ) -> CoreResult<CheckoutOutcome> {
        caller.require_write()?;
        // A re-authorization may move the booking to a new hold while this
        // check-out runs: act on the hold the booking has now.
        // And when another check-out won the booking meanwhile, the answer
        // is the definite one ("already checked out"), not "retry".
        for _ in 0..3 {
            let booking = self.booking(id, property, caller).await?;
            let before = (booking.state.status(), booking.state.hold_id().map(str::to_string));
            match self.checkout_once(booking, damages.clone(), defer, caller).await {
                Err(e @ (CoreError::Busy | CoreError::InvalidState { .. })) => {
                    let now = self.booking(id, property, caller).await?;
                    if (now.state.status(), now.state.hold_id().map(str::to_string)) == before {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
        Err(CoreError::Busy)
    }

    async fn checkout_once(
        &self,
        booking: Booking,
        damages: Vec<DamageLine>,
        defer: bool,
        caller: &Caller,
    ) -> CoreResult<CheckoutOutcome> {
        let active = match booking.state.clone() {
            BookingState::HoldActive(a) => a,
            BookingState::Booked(_) | BookingState::HoldPending(_) => {
                return Err(conflict(
                    booking.state.status().as_str(),
                    "Check-out before check-in: this booking has no authorized hold",
                ))
            }
            BookingState::CheckedOut(_) | BookingState::Settled(_) => {
                return Err(conflict(booking.state.status().as_str(), "This booking has already checked out"))
            }
        };
        if defer {
            if !damages.is_empty() {
                return Err(CoreError::validation(
                    "damages",
                    "file damages with the check-out or later as a claim, not both with defer_release",
                ));
            }
            let property = self.store.get_property(&booking.property_id).await?.ok_or(CoreError::NotFound)?;
            if self.store.get_hold(&active.hold_id).await?.is_some_and(|h| h.op_lock.is_some()) {
                // The hold is being captured, released or replaced: retry.
                return Err(CoreError::Busy);
            }
            let now = self.now();
            let mut b = booking.clone();
            b.state =
                BookingState::CheckedOut(active.check_out(now, now.plus_secs(property.claim_window_hours * 3_600)));
            b.updated_at = now;
            if !self.store.save_booking(&b, booking.version).await? {
                return Err(CoreError::Busy);
            }
            b.version += 1;
            return Ok(CheckoutOutcome::Deferred { booking: b });
        }
        self.settle_booking(booking, active, damages, caller).await
    }

    /// A damage claim inside an open claim window.
    pub async fn file_claim(
        &self,
        id: &str,
        property: Option<&str>,
        damages: Vec<DamageLine>,
        caller: &Caller,
    ) -> CoreResult<CheckoutOutcome> {
        caller.require_write()?;
        let booking = self.booking(id, property, caller).await?;
        let BookingState::CheckedOut(out) = booking.state.clone() else {
            return Err(conflict(booking.state.status().as_str(), "Claims are filed after a deferred check-out"));
        };
        if !out.claim_window_open(self.now()) {
            return Err(conflict("claim_window_closed", "The claim window for this booking has closed"));
        }
        if damages.is_empty() {
            return Err(CoreError::validation("damages", "a claim needs at least one damage line"));
        }
        let total = claim_total(&damages, capturable(&self.get(&out.hold_id, caller).await?))?;
        self.settle_hold(&booking, &out.hold_id, damages, total, caller).await
    }

    async fn settle_booking(
        &self,
        booking: Booking,
        active: HoldActive,
        damages: Vec<DamageLine>,
        caller: &Caller,
    ) -> CoreResult<CheckoutOutcome> {
        let hold_id = active.hold_id.clone();
        let hold = self.get(&hold_id, caller).await?;
        if hold.op_lock.is_some() {
            // A re-authorization (or another operation) holds it: retry.
            return Err(CoreError::Busy);
        }
        let total = claim_total(&damages, capturable(&hold))?;
        // The check-out is claimed on the booking before the hold is touched,
        // so of two check-outs (or a check-out and a deferred one) exactly one
        // acts; the other reads "already checked out".
        let now = self.now();
        let mut claimed = booking.clone();
        claimed.state = BookingState::CheckedOut(active.clone().check_out(now, now.plus_secs(3_600)));
        claimed.updated_at = now;
        if !self.store.save_booking(&claimed, booking.version).await? {
            return Err(CoreError::Busy);
        }
        claimed.version += 1;
        let result = self.settle_hold(&booking, &hold_id, damages, total, caller).await;
        match result {
            Ok(outcome) => Ok(outcome),
            // The janitor settles the hold; the booking follows it.
            Err(e @ CoreError::OutcomeUnknown { .. }) => Err(e),
            Err(e) => {
                // Only when nothing happened to the hold is the booking as it
                // was; a hold that ended keeps the booking checked out, and it
                // settles when the hold's end is recorded.
                let untouched = self
                    .store
                    .get_hold(&hold_id)
                    .await?
                    .is_some_and(|h| h.state.status() == chittycharge_domain::HoldStatus::RequiresCapture);
                if !untouched {
                    return Err(e);
                }
                let mut reopened = claimed.clone();
                reopened.state = BookingState::HoldActive(active);
                reopened.updated_at = self.now();
                if let Err(re) = self.store.save_booking(&reopened, claimed.version).await {
                    tracing::warn!(booking.id = %booking.id, error = %re, "a failed check-out left its booking checked out");
                }
                Err(e)
            }
        }
    }

    /// Captures `total` of damages (or releases the hold when there are
    /// none), then settles the booking.
    async fn settle_hold(
        &self,
        booking: &Booking,
        hold_id: &str,
        damages: Vec<DamageLine>,
        total: i64,
        caller: &Caller,
    ) -> CoreResult<CheckoutOutcome> {
        // No damages (a total of 0) is a release.
        let outcome = if let Ok(amount) = PositiveAmount::new(total) {
            let lines: Vec<Value> = damages.iter().map(DamageLine::to_json).collect();
            // The booking rides along in the capture's operation record, so
            // whoever settles the capture (this request, the janitor, an
            // operator) records the claim and settles the booking.
            let cmd = CaptureCommand {
                amount: Some(amount),
                reason: Some("damages".into()),
                detail: Some(json!({
                    "lines": lines,
                    "booking": { "property_id": booking.property_id, "id": booking.id },
                })),
            };
            let captured = self.capture(hold_id, cmd, caller).await?;
            CheckoutOutcome::Charged { amount: total, claim_id: claim_id(&captured.operation_id), hold: captured.hold }
        } else {
            let hold = self.cancel(hold_id, Some("checked out with no damage".into()), caller).await?;
            CheckoutOutcome::Released { hold }
        };
        self.mark_settled(&booking.property_id, &booking.id, hold_id).await?;
        Ok(outcome)
    }

    /// After a capture succeeded: if it was a booking's damage claim, record
    /// the claim (once: its id is the operation's) and settle the booking.
    pub(crate) async fn finish_claim(&self, op: &chittycharge_store::Operation, hold: &Hold) -> CoreResult<()> {
        let detail = op.request.get("detail").filter(|d| !d.is_null());
        let named = detail
            .and_then(|d| d.get("booking"))
            .and_then(|b| Some((b.get("property_id")?.as_str()?.to_string(), b.get("id")?.as_str()?.to_string())));
        // A booking's hold captured directly (the API or the console) is a
        // damage claim too: every capture of a booking's hold has one.
        let (property_id, booking_id) = match named {
            Some(pb) => pb,
            None => match (&hold.property_id, &hold.booking_id) {
                (Some(p), Some(b)) if self.store.get_booking(p, b).await?.is_some() => (p.clone(), b.clone()),
                _ => return Ok(()),
            },
        };
        let captured = hold.state.amounts().captured;
        let total = op.request.get("amount_to_capture").and_then(Value::as_i64).unwrap_or(captured);
        let lines = match detail.and_then(|d| d.get("lines")).filter(|l| l.as_array().is_some_and(|a| !a.is_empty())) {
            Some(l) => l.clone(),
            None => {
                let what = op.request.get("reason").and_then(Value::as_str).filter(|r| !r.trim().is_empty());
                json!([{ "amount": total, "description": what.unwrap_or("Captured from the hold"), "evidence_urls": [] }])
            }
        };
        let claim = DamageClaim {
            id: claim_id(&op.id),
            property_id: property_id.clone(),
            booking_id: booking_id.clone(),
            hold_id: hold.id.clone(),
            total,
            currency: hold.amount.currency().code().to_string(),
            lines,
            created_by: op.request.get("actor").and_then(Value::as_str).map(str::to_string),
            created_at: self.now(),
        };
        match self.store.insert_claim(&claim).await {
            Ok(()) | Err(chittycharge_store::StoreError::Duplicate(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.mark_settled(&property_id, &booking_id, &hold.id).await
    }

    /// Settles the booking because `hold_id` ended, only if that is still
    /// the booking's hold: a booking that moved to another hold is not done.
    async fn mark_settled(&self, property_id: &str, booking_id: &str, hold_id: &str) -> CoreResult<()> {
        for _ in 0..5 {
            let mut b = self.store.get_booking(property_id, booking_id).await?.ok_or(CoreError::NotFound)?;
            let now = self.now();
            if b.state.hold_id() != Some(hold_id) {
                return Err(conflict(
                    b.state.status().as_str(),
                    "This booking moved to another hold meanwhile; check out again to settle it",
                ));
            }
            b.state = match b.state.clone() {
                BookingState::HoldActive(a) => BookingState::Settled(a.settle(now)),
                BookingState::CheckedOut(c) => BookingState::Settled(c.settle(now)),
                BookingState::Settled(_) => return Ok(()),
                BookingState::Booked(_) | BookingState::HoldPending(_) => {
                    return Err(conflict("booked", "booking has no active hold"))
                }
            };
            b.updated_at = now;
            if self.store.save_booking(&b, b.version).await? {
                return Ok(());
            }
        }
        Err(CoreError::Busy)
    }

    /// Releases holds of deferred check-outs whose claim window has ended.
    pub async fn release_expired_claim_windows(&self) -> CoreResult<usize> {
        let system = Caller::system("claim-window job");
        let mut released = 0;
        for b in self.store.bookings_to_release(self.now(), 100).await? {
            let BookingState::CheckedOut(out) = &b.state else { continue };
            match self.cancel(&out.hold_id, Some("claim window ended with no claim".into()), &system).await {
                Ok(_) | Err(CoreError::InvalidState { .. }) => {
                    self.mark_settled(&b.property_id, &b.id, &out.hold_id).await?;
                    released += 1;
                }
                Err(e) => {
                    tracing::warn!(booking.id = %b.id, error = %e, "could not release a hold after its claim window")
                }
            }
        }
        Ok(released)
    }
}
