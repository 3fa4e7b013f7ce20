//! Check-in: a booking's hold. A booking has at most one live hold. Before
//! any processor call the booking's next hold is claimed by inserting its
//! create operation under an id derived from (booking, hold generation): the
//! operations table's primary key is the compare-and-set, across instances.
//! The same id is the processor idempotency key, so even a retry after a
//! crash cannot place a second hold for the same generation.

use std::collections::BTreeMap;

use chittycharge_domain::booking::{Booked, BookingState, BookingStatus};
use chittycharge_domain::{Booking, Currency, Hold, HoldStatus};
use chittycharge_store::OpStatus;
use sha2::{Digest, Sha256};

use super::bookings::Authorized;
use super::{CoreError, CoreResult, CreateHold, HoldService};
use crate::caller::Caller;

fn conflict(status: &str, message: impl Into<String>) -> CoreError {
    CoreError::InvalidState { status: status.to_string(), message: message.into() }
}

/// A stable, install-unique stem for a booking's operation ids: the creation
/// time keeps two installs (or a deleted and re-made booking) apart on one
/// processor account.
fn booking_stem(b: &Booking) -> String {
    let mut h = Sha256::new();
    for part in [b.property_id.as_bytes(), b.id.as_bytes(), &b.created_at.millis().to_be_bytes()] {
        h.update(part);
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

/// The create operation of the booking's `generation`-th hold.
pub(crate) fn placement_op_id(b: &Booking, generation: i64) -> String {
    format!("op_bk_{}_g{generation}", booking_stem(b))
}

/// Whether a create operation is a booking's placement (not a
/// re-authorization). Read from the front: the stem is hex, and the hold id
/// inside a re-authorization's id may itself contain `_g…`.
pub(crate) fn is_placement_op(op_id: &str) -> bool {
    op_id
        .strip_prefix("op_bk_")
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(_, tail)| tail.strip_prefix('g'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

/// The create operation that re-authorizes `old_hold` for the booking.
pub(crate) fn reauth_op_id(b: &Booking, old_hold: &str) -> String {
    format!("op_bk_{}_r{old_hold}", booking_stem(b))
}

/// The create operation that replaces `old_hold` by a hold of `total`,
/// when the card cannot grow the old one. `version` is the old hold's: the
/// same request sent twice at once shares one id (and places one hold),
/// while a retry after a failed raise (which moved the version) is a new
/// attempt rather than a replay of the old failure.
pub(crate) fn raise_op_id(b: &Booking, old_hold: &str, version: i64, total: i64) -> String {
    format!("op_bk_{}_i{total}v{version}_{old_hold}", booking_stem(b))
}

impl HoldService {
    /// Check-in: places the booking's hold, or returns the one it has.
    pub async fn authorize_booking(
        &self,
        id: &str,
        property: Option<&str>,
        payment_method: Option<String>,
        caller: &Caller,
    ) -> CoreResult<Authorized> {
        caller.require_write()?;
        let booking = self.booking(id, property, caller).await?;
        self.authorize_loaded(booking, payment_method, caller).await
    }

    pub(crate) async fn authorize_loaded(
        &self,
        mut booking: Booking,
        payment_method: Option<String>,
        caller: &Caller,
    ) -> CoreResult<Authorized> {
        // A failed placement burns its generation; step past it and retry.
        for _ in 0..3 {
            if let Some(done) = self.existing_hold(&booking, &payment_method, caller).await? {
                return Ok(done);
            }
            match self.place(&booking, payment_method.clone(), caller).await {
                Err(CoreError::Busy) => {}
                other => return other,
            }
            // Someone else holds this generation's claim.
            let op_id = placement_op_id(&booking, booking.hold_generation);
            let op = self.store.get_operation(&op_id).await?;
            match op.as_ref().map(|o| (o.status, o.hold_id.clone())) {
                Some((OpStatus::Succeeded, Some(hold_id))) => {
                    if let Some(hold) = self.store.get_hold(&hold_id).await? {
                        self.adopt(&hold).await?;
                    }
                }
                Some((OpStatus::Failed, _)) => {
                    let mut next = booking.clone();
                    next.hold_generation += 1;
                    next.updated_at = self.now();
                    self.store.save_booking(&next, booking.version).await?;
                }
                _ => return Err(CoreError::Busy),
            }
            booking = self.store.get_booking(&booking.property_id, &booking.id).await?.ok_or(CoreError::NotFound)?;
        }
        Err(CoreError::Busy)
    }

    /// The booking's live hold (confirmed now if a card came with this
    /// call), an error if it has checked out, or `None` to place one.
    async fn existing_hold(
        &self,
        booking: &Booking,
        payment_method: &Option<String>,
        caller: &Caller,
    ) -> CoreResult<Option<Authorized>> {
        match booking.state.status() {
            BookingStatus::CheckedOut | BookingStatus::Settled => {
                return Err(conflict(booking.state.status().as_str(), "This booking has already checked out"))
            }
            BookingStatus::Booked => return Ok(None),
            BookingStatus::HoldPending | BookingStatus::HoldActive => {}
        }
        let Some(hold_id) = booking.state.hold_id() else { return Ok(None) };
        let hold = self.get(hold_id, caller).await?;
        if hold.state.status() == HoldStatus::RequiresCapture && hold.op_lock.is_some() {
            // Being captured, released or replaced right now: answering with
            // it could hand out a hold that is about to go.
            return Err(CoreError::Busy);
        }
        if hold.state.status().is_terminal() {
            // The booking has not followed its hold yet (it ended elsewhere):
            // let it, then decide on what it says. Never a new hold first.
            self.booking_follows_hold(&hold).await?;
            let b = self.store.get_booking(&booking.property_id, &booking.id).await?.ok_or(CoreError::NotFound)?;
            return match b.state.status() {
                BookingStatus::Booked => Ok(None),
                BookingStatus::CheckedOut | BookingStatus::Settled => {
                    Err(conflict(b.state.status().as_str(), "This booking has already checked out"))
                }
                BookingStatus::HoldPending | BookingStatus::HoldActive => {
                    Err(conflict(b.state.status().as_str(), "This booking's hold changed meanwhile; retry"))
                }
            };
        }
        let hold = match (payment_method, hold.state.status()) {
            (Some(pm), HoldStatus::RequiresPaymentMethod) => match self.confirm(hold_id, pm, caller).await {
                Ok(confirmed) => confirmed,
                // A parallel authorization confirmed it since it was read:
                // answer as a call after that one would, or ask for a retry.
                Err(CoreError::InvalidState { .. }) => {
                    let now = self.get(hold_id, caller).await?;
                    match now.state.status() {
                        HoldStatus::RequiresCapture | HoldStatus::RequiresAction if now.op_lock.is_none() => now,
                        _ => return Err(CoreError::Busy),
                    }
                }
                Err(e) => return Err(e),
            },
            _ => hold,
        };
        let booking = self.store.get_booking(&booking.property_id, &booking.id).await?.ok_or(CoreError::NotFound)?;
        Ok(Some(Authorized { booking, hold }))
    }

    /// Places the booking's next hold under its generation's claim; `Busy`
    /// when another request holds that claim.
    async fn place(
        &self,
        booking: &Booking,
        payment_method: Option<String>,
        caller: &Caller,
    ) -> CoreResult<Authorized> {
        let property = self.store.get_property(&booking.property_id).await?.ok_or(CoreError::NotFound)?;
        let currency =
            Currency::parse(&property.currency).map_err(|e| CoreError::validation("currency", e.to_string()))?;
        if !matches!(booking.state, BookingState::Booked(_)) {
            return Err(CoreError::Busy);
        }
        let operation_id = placement_op_id(booking, booking.hold_generation);
        // Cheap early answer for the common race; the insert below decides.
        if self.store.get_operation(&operation_id).await?.is_some() {
            return Err(CoreError::Busy);
        }
        let mut metadata = BTreeMap::new();
        metadata.insert("check_in_date".to_string(), booking.check_in.clone());
        let customer = self.booking_customer(booking).await?;
        let cmd = CreateHold {
            amount: property.default_hold_amount,
            currency,
            description: format!("Incidentals authorization - {}", property.name),
            customer_email: booking.guest_email.clone(),
            property_id: Some(booking.property_id.clone()),
            tenant_id: booking.tenant_id.clone(),
            booking_id: Some(booking.id.clone()),
            metadata,
            asserted_tier: None,
            payment_method: payment_method.or_else(|| booking.saved_payment_method.clone()),
            customer,
            save_card: true,
            off_session: false,
            incremental: true,
            operation_id: Some(operation_id),
            request_key: None,
        };
        let (hold, declined) = match self.create(cmd, caller).await {
            Ok(c) => (c.hold, None),
            Err(CoreError::Declined { message, decline_code, hold_id: Some(h) }) => {
                let hold = self.store.get_hold(&h).await?.ok_or(CoreError::NotFound)?;
                (hold, Some(CoreError::Declined { message, decline_code, hold_id: Some(h) }))
            }
            Err(e) => return Err(e),
        };
        let booking = self.adopt(&hold).await?.ok_or(CoreError::Busy)?;
        if let Some(d) = declined {
            return Err(d);
        }
        Ok(Authorized { booking, hold })
    }

    /// The processor customer the booking's card is saved to (for off-session
    /// re-authorization of long stays), made once per booking.
    async fn booking_customer(&self, booking: &Booking) -> CoreResult<Option<String>> {
        if let Some(c) = &booking.processor_customer {
            return Ok(Some(c.clone()));
        }
        let key = chittycharge_processor::IdempotencyKey::derived(&format!("customer-{}", booking_stem(booking)));
        let c = self
            .processor
            .create_customer(booking.guest_email.as_deref(), &key)
            .await
            .map_err(|e| CoreError::from_processor(e, None))?;
        for _ in 0..5 {
            let Some(mut b) = self.store.get_booking(&booking.property_id, &booking.id).await? else { break };
            if let Some(existing) = b.processor_customer {
                return Ok(Some(existing));
            }
            b.processor_customer = Some(c.clone());
            if self.store.save_booking(&b, b.version).await? {
                break;
            }
        }
        Ok(Some(c))
    }

    /// Points a booking that has no live hold at `hold`, its placement, and
    /// moves its generation past it. Returns the booking, or `None` when the
    /// hold belongs to no booking. Also used by the janitor when it completes
    /// a placement whose caller never heard back.
    pub(crate) async fn adopt(&self, hold: &Hold) -> CoreResult<Option<Booking>> {
        let (Some(property_id), Some(booking_id)) = (&hold.property_id, &hold.booking_id) else { return Ok(None) };
        for _ in 0..5 {
            let Some(mut b) = self.store.get_booking(property_id, booking_id).await? else { return Ok(None) };
            if b.state.hold_id() == Some(hold.id.as_str()) {
                return Ok(Some(b));
            }
            let free = match &b.state {
                BookingState::Booked(_) => true,
                BookingState::HoldPending(p) => {
                    self.store.get_hold(&p.hold_id).await?.is_none_or(|h| h.state.status().is_terminal())
                }
                _ => false,
            };
            if !free {
                return Err(conflict(b.state.status().as_str(), "This booking already has a live hold"));
            }
            let expected = b.version;
            let pending = Booked.hold_placed(hold.id.clone());
            if hold.state.status() == HoldStatus::RequiresCapture {
                self.remember_checkin_card(&mut b, hold).await;
            }
            b.state = if hold.state.status() == HoldStatus::RequiresCapture {
                BookingState::HoldActive(pending.authorized())
            } else {
                BookingState::HoldPending(pending)
            };
            b.hold_generation += 1;
            b.updated_at = self.now();
            if self.store.save_booking(&b, expected).await? {
                b.version = expected + 1;
                return Ok(Some(b));
            }
        }
        Err(CoreError::Busy)
    }

    /// The card the guest authorized at check-in is the one re-authorizations
    /// use (it was saved for off-session use then), whatever card the booking
    /// was created with.
    async fn remember_checkin_card(&self, b: &mut Booking, hold: &Hold) {
        if let Some(pm) = self.processor.retrieve(&hold.id).await.ok().and_then(|i| i.payment_method) {
            b.saved_payment_method = Some(pm);
        }
    }

    /// Keeps a booking in step with its hold: pending → active when the card
    /// is authorized; pending → booked when the pending hold dies.
    pub(crate) async fn booking_follows_hold(&self, hold: &Hold) -> CoreResult<()> {
        for _ in 0..5 {
            let Some(mut b) = self.store.booking_for_hold(&hold.id).await? else { return Ok(()) };
            let next = match (b.state.clone(), hold.state.status()) {
                (BookingState::HoldPending(p), HoldStatus::RequiresCapture) => {
                    self.remember_checkin_card(&mut b, hold).await;
                    BookingState::HoldActive(p.authorized())
                }
                (BookingState::HoldPending(p), HoldStatus::Canceled | HoldStatus::Expired | HoldStatus::Failed) => {
                    BookingState::Booked(p.hold_lost())
                }
                // The authorized hold ended, by check-out or by a direct
                // capture or release: the booking is done with it.
                (BookingState::HoldActive(a), HoldStatus::Captured | HoldStatus::Canceled) => {
                    BookingState::Settled(a.settle(self.now()))
                }
                (BookingState::HoldActive(a), HoldStatus::Expired | HoldStatus::Failed) => {
                    BookingState::Booked(a.hold_lost())
                }
                (
                    BookingState::CheckedOut(c),
                    HoldStatus::Captured | HoldStatus::Canceled | HoldStatus::Expired | HoldStatus::Failed,
                ) => BookingState::Settled(c.settle(self.now())),
                _ => return Ok(()),
            };
            b.state = next;
            b.updated_at = self.now();
            if self.store.save_booking(&b, b.version).await? {
                return Ok(());
            }
        }
        Err(CoreError::Busy)
    }
}

#[cfg(test)]
mod op_id_tests {
    use super::is_placement_op;

    #[test]
    fn only_placements_read_as_placements_whatever_the_hold_id_contains() {
        assert!(is_placement_op("op_bk_0a1b2c_g0"));
        assert!(is_placement_op("op_bk_0a1b2c_g12"));
        assert!(!is_placement_op("op_bk_0a1b2c_rpi_g7Hx"), "a re-authorization of a hold whose id has _g");
        assert!(!is_placement_op("op_bk_0a1b2c_rpi_g1"));
        assert!(!is_placement_op("op_bk_0a1b2c_i9000v3_pi_g1"));
        assert!(!is_placement_op("op_0a1b2c_g1"));
    }
}
