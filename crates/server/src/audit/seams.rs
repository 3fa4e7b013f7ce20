//! The audit's checks of the seams around the hold core: bookings and their
//! holds, claims and captures, and locks that outlived the janitor.

use std::collections::HashMap;

use chittycharge_domain::booking::BookingStatus;
use chittycharge_domain::{Hold, HoldStatus};
use chittycharge_store::Store;

/// A booking, as (property, booking id).
type BookingKey = (String, String);
/// A live hold, and the hold it re-authorizes if it is a re-authorization.
type LiveHold = (String, Option<String>);

/// Collects, hold by hold, what the store says about the seams.
#[derive(Default)]
pub(super) struct Seams {
    /// Live holds per (property, booking), with the hold each re-authorizes.
    live_by_booking: HashMap<BookingKey, Vec<LiveHold>>,
    pub discrepancies: Vec<String>,
}

impl Seams {
    /// `lock_limit_ms`: a lock older than the janitor's whole schedule.
    pub(super) async fn check(
        &mut self,
        store: &dyn Store,
        hold: &Hold,
        now_ms: i64,
        lock_limit_ms: i64,
    ) -> anyhow::Result<()> {
        let id = &hold.id;
        let status = hold.state.status();
        let a = hold.state.amounts();
        let authorized = hold.amount.minor();
        match status {
            HoldStatus::Captured if a.captured.checked_add(a.released) != Some(authorized) => {
                self.discrepancies.push(format!(
                    "{id}: captured {} + released {} is not the authorized {authorized}",
                    a.captured, a.released
                ));
            }
            HoldStatus::Canceled | HoldStatus::Expired if a.released > 0 && a.released != authorized => {
                self.discrepancies
                    .push(format!("{id}: released {} of an authorized {authorized} without capture", a.released));
            }
            _ => {}
        }
        if let Some(op_id) = &hold.op_lock {
            if let Some(op) = store.get_operation(op_id).await? {
                if now_ms - op.created_at.millis() > lock_limit_ms {
                    self.discrepancies.push(format!(
                        "{id}: locked by {} operation {op_id} ({}) for longer than the janitor's schedule; \
                         settle it with `chittycharge operations resolve {op_id}`",
                        op.kind,
                        op.status.as_str()
                    ));
                }
            }
        }
        let (Some(property), Some(booking_id)) = (&hold.property_id, &hold.booking_id) else { return Ok(()) };
        if !status.is_terminal() {
            // A re-authorization keeps the old hold live, and locked by its
            // `reauthorize` operation, until the new one is in place; once
            // that operation is over, two live holds are two live holds.
            let mut reauthorizes = None;
            if let Some(old) = hold.metadata.get("reauthorizes") {
                if let Some(o) = store.get_hold(old).await? {
                    let lock = match &o.op_lock {
                        Some(op) => store.get_operation(op).await?,
                        None => None,
                    };
                    if lock.is_some_and(|op| op.kind == "reauthorize") {
                        reauthorizes = Some(old.clone());
                    }
                }
            }
            let in_progress = reauthorizes.is_some();
            let booking = store.get_booking(property, booking_id).await?;
            // One live hold per booking is this service's promise for its
            // own bookings. A `booking_id` no booking here carries is an
            // outside system's reference, which may hold a card more than
            // once; counting those would let any write token fail the audit.
            if booking.is_some() {
                self.live_by_booking
                    .entry((property.clone(), booking_id.clone()))
                    .or_default()
                    .push((id.clone(), reauthorizes));
            }
            let points_here = booking.as_ref().and_then(|b| b.state.hold_id()) == Some(id.as_str());
            if booking.is_some() && !points_here && !in_progress {
                self.discrepancies.push(format!(
                    "{id}: live ({status}) and names booking {booking_id} at {property}, which does not point to it"
                ));
            }
            if let Some(b) = booking.filter(|b| points_here && b.state.status() == BookingStatus::Settled) {
                self.discrepancies
                    .push(format!("{id}: live ({status}) but its booking {} at {property} is settled", b.id));
            }
        }
        // Captures are claims only on this service's own bookings: an outside
        // reference's hold is captured however its system decides.
        if status == HoldStatus::Captured && store.get_booking(property, booking_id).await?.is_some() {
            let claims = store.claims_for_booking(property, booking_id).await?;
            let mut claimed = 0_i64;
            for c in claims.iter().filter(|c| c.hold_id == *id) {
                let lines: Option<i64> = c
                    .lines
                    .as_array()
                    .and_then(|ls| ls.iter().try_fold(0_i64, |acc, l| acc.checked_add(l.get("amount")?.as_i64()?)));
                if lines != Some(c.total) {
                    self.discrepancies
                        .push(format!("{id}: claim {} lines add up to {lines:?}, not its total {}", c.id, c.total));
                }
                claimed = claimed.saturating_add(c.total);
            }
            if claims.iter().all(|c| c.hold_id != *id) {
                self.discrepancies.push(format!(
                    "{id}: captured {} for booking {booking_id} at {property} without a damage claim",
                    a.captured
                ));
            } else if claimed != a.captured {
                self.discrepancies.push(format!("{id}: claims total {claimed} but {} was captured", a.captured));
            }
        }
        Ok(())
    }

    /// Bookings holding a guest's card more than once.
    pub(super) fn finish(mut self) -> Vec<String> {
        let mut many: Vec<(BookingKey, Vec<String>)> = self
            .live_by_booking
            .into_iter()
            .map(|(k, holds)| {
                // A hold being replaced by its re-authorization is not a second hold.
                let replaced: Vec<String> = holds.iter().filter_map(|(_, r)| r.clone()).collect();
                (k, holds.into_iter().map(|(h, _)| h).filter(|h| !replaced.contains(h)).collect::<Vec<_>>())
            })
            .filter(|(_, holds)| holds.len() > 1)
            .collect();
        many.sort();
        for ((property, booking), holds) in many {
            self.discrepancies.push(format!(
                "booking {booking} at {property} has {} live holds: {}",
                holds.len(),
                holds.join(", ")
            ));
        }
        self.discrepancies
    }
}
