//! Re-authorization: a booking's hold replaced by a new one on the guest's
//! saved card, off-session, the new hold authorized before the old is
//! released. The long-stay job renews with it before a hold lapses, and an
//! increment on a booking's hold whose card cannot grow falls back to it.

use chittycharge_domain::booking::BookingState;
use chittycharge_domain::{Booking, Hold, HoldStatus};
use chittycharge_store::NewEvent;
use serde_json::json;

use super::automation::system_caller;
use super::{CoreError, CoreResult, CreateHold, HoldService};

/// How a swap came out.
pub(crate) enum Swap {
    /// The booking now holds the new hold; the old one is released.
    Swapped(Box<Hold>),
    /// The new authorization was declined; the old hold is kept.
    Declined { message: String, decline_code: Option<String> },
    /// Another worker is re-authorizing this hold right now.
    Busy,
    /// The new hold did not authorize (it was released again).
    NotAuthorized(HoldStatus),
    /// The booking moved on meanwhile; the new hold was released.
    BookingChanged,
    /// The booking has no saved card to authorize off-session.
    NoSavedCard,
}

/// What the swap is for: the job's renewal, or a larger amount.
pub(crate) struct SwapPlan<'a> {
    pub amount: i64,
    pub operation_id: String,
    pub actor: &'a str,
}

impl HoldService {
    /// Replaces `old`, the active hold of `booking`, by a new hold of
    /// `plan.amount`. The operation id makes it happen once, whoever retries.
    pub(crate) async fn swap_booking_hold(
        &self,
        booking: &Booking,
        old: &Hold,
        plan: SwapPlan<'_>,
    ) -> CoreResult<Swap> {
        let BookingState::HoldActive(active) = booking.state.clone() else {
            return Ok(Swap::BookingChanged);
        };
        if active.hold_id != old.id {
            return Ok(Swap::BookingChanged);
        }
        let Some(pm) = booking.saved_payment_method.clone() else { return Ok(Swap::NoSavedCard) };
        let system = system_caller(plan.actor);
        let mut metadata = old.metadata.clone();
        metadata.insert("reauthorizes".into(), old.id.clone());
        metadata.insert("check_in_date".into(), booking.check_in.clone());
        let cmd = CreateHold {
            amount: plan.amount,
            currency: old.amount.currency(),
            description: old.description.clone(),
            customer_email: old.customer_email.clone(),
            property_id: old.property_id.clone(),
            tenant_id: old.tenant_id.clone(),
            booking_id: Some(booking.id.clone()),
            metadata,
            asserted_tier: Some(old.tier),
            payment_method: Some(pm),
            customer: booking.processor_customer.clone(),
            save_card: false,
            off_session: true,
            incremental: true,
            operation_id: Some(plan.operation_id),
        };
        let new = match self.create(cmd, &system).await {
            Ok(c) => c.hold,
            Err(CoreError::Busy) => return Ok(Swap::Busy),
            Err(CoreError::Declined { message, decline_code, hold_id }) => {
                if let Some(h) = hold_id {
                    let _ = self.cancel(&h, Some("abandoned".into()), &system).await;
                }
                let why = format!("{message} ({})", decline_code.clone().unwrap_or_default());
                self.store
                    .append_event(
                        &old.id,
                        &NewEvent {
                            kind: "reauthorization_failed".into(),
                            actor: Some(format!("system: {}", plan.actor)),
                            reason: Some(why.clone()),
                            at: self.now(),
                            ..NewEvent::default()
                        },
                    )
                    .await?;
                return Ok(Swap::Declined { message, decline_code });
            }
            Err(e) => return Err(e),
        };
        if new.state.status() != HoldStatus::RequiresCapture {
            let _ = self.cancel(&new.id, Some("abandoned".into()), &system).await;
            return Ok(Swap::NotAuthorized(new.state.status()));
        }
        // Swap only now that the new hold is authorized, then release the old.
        let mut b = booking.clone();
        b.state = BookingState::HoldActive(active.swap_hold(new.id.clone()));
        b.updated_at = self.now();
        if !self.store.save_booking(&b, booking.version).await? {
            let _ = self.cancel(&new.id, Some("duplicate".into()), &system).await;
            return Ok(Swap::BookingChanged);
        }
        let link = |kind: &str, other: &str| NewEvent {
            kind: kind.into(),
            actor: Some(format!("system: {}", plan.actor)),
            reason: Some(format!("booking {} moved from {} to {}", booking.id, old.id, new.id)),
            data: Some(json!({ "other_hold": other, "booking_id": booking.id })),
            at: self.now(),
            ..NewEvent::default()
        };
        self.store.append_event(&new.id, &link("reauthorized_from", &old.id)).await?;
        self.store.append_event(&old.id, &link("reauthorized_to", &new.id)).await?;
        self.cancel(&old.id, Some(format!("re-authorized as {}", new.id)), &system).await?;
        Ok(Swap::Swapped(Box::new(new)))
    }
}

impl HoldService {
    /// An increment on a booking's hold whose card cannot grow: a new hold
    /// for `total` on the saved card replaces it (new before old), and the
    /// answer is the new hold. `None` when the hold is not a booking's active
    /// hold or the booking has no saved card, so the caller answers 409.
    pub(crate) async fn raise_by_reauthorization(
        &self,
        old: &Hold,
        total: i64,
        actor: &str,
    ) -> CoreResult<Option<Hold>> {
        let (Some(property), Some(booking_id)) = (&old.property_id, &old.booking_id) else { return Ok(None) };
        let Some(booking) = self.store.get_booking(property, booking_id).await? else { return Ok(None) };
        if booking.saved_payment_method.is_none() {
            return Ok(None);
        }
        let plan = SwapPlan {
            amount: total,
            operation_id: super::checkin::raise_op_id(&booking, &old.id, total),
            actor: &format!("increment by {actor}"),
        };
        match self.swap_booking_hold(&booking, old, plan).await? {
            Swap::Swapped(new) => Ok(Some(*new)),
            Swap::Declined { message, decline_code } => Err(CoreError::Declined {
                message: format!("{message} The current hold is kept."),
                decline_code,
                hold_id: Some(old.id.clone()),
            }),
            Swap::NotAuthorized(status) => Err(CoreError::Declined {
                message: format!(
                    "The larger hold could not be authorized without the guest ({status}). The current hold is kept."
                ),
                decline_code: None,
                hold_id: Some(old.id.clone()),
            }),
            // Re-read and retry: another change to this booking is under way.
            Swap::Busy | Swap::BookingChanged => Err(CoreError::Busy),
            Swap::NoSavedCard => Ok(None),
        }
    }
}
