//! Re-authorization: a booking's hold replaced by a new one on the guest's
//! saved card, off-session, the new hold authorized before the old is
//! released. The long-stay job renews with it before a hold lapses, and an
//! increment on a booking's hold whose card cannot grow falls back to it.
//!
//! The whole swap runs under a `reauthorize` operation that locks the old
//! hold, taken before anything is placed: while it holds, a check-out, a
//! capture, a release or another swap of that hold answers `Busy` instead
//! of acting on a hold that is being replaced, so a booking never ends up
//! with two live holds or settled on the wrong one. The operation records
//! the create it depends on, so whoever finishes it (this request or, after
//! a crash or a lost answer, the janitor) finishes the same swap: the
//! booking moves to the new hold and the old one is released, or, when the
//! new hold did not authorize, the new one is released and the old kept.

use chittycharge_domain::booking::BookingState;
use chittycharge_domain::{Booking, Hold, HoldState, HoldStatus};
use chittycharge_store::{NewEvent, OpStatus, Operation};
use serde_json::{json, Value};

use super::operate::Settle;
use super::sync::{fold_intent, EventContext};
use super::{key_for, new_operation, CoreError, CoreResult, CreateHold, HoldService};
use crate::caller::Caller;

/// How a swap came out.
pub(crate) enum Swap {
    /// The booking now holds the new hold; the old one is released.
    Swapped(Box<Hold>),
    /// The new authorization was declined; the old hold is kept.
    Declined { message: String, decline_code: Option<String> },
    /// Another operation holds the old hold right now.
    Busy,
    /// The new hold did not authorize (it was released again).
    NotAuthorized(HoldStatus),
    /// The booking does not hold this hold (any more); nothing was placed.
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

/// A booking's hold that is not (any more) the booking's active hold: it
/// has checked out, settled, or moved to another hold. Not worth a retry.
fn booking_moved_on(b: &Booking) -> CoreError {
    CoreError::InvalidState {
        status: b.state.status().as_str().to_string(),
        message: format!(
            "This hold is not the active hold of booking {} (the booking is {}), so it cannot grow",
            b.id,
            b.state.status().as_str()
        ),
    }
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
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
        if !matches!(&booking.state, BookingState::HoldActive(a) if a.hold_id == old.id) {
            return Ok(Swap::BookingChanged);
        }
        let Some(pm) = booking.saved_payment_method.clone() else { return Ok(Swap::NoSavedCard) };
        if old.op_lock.is_some() {
            return Ok(Swap::Busy);
        }
        let actor = format!("system: {}", plan.actor);
        let op = new_operation(
            "reauthorize",
            Some(&old.id),
            json!({
                "create_operation": plan.operation_id,
                "property_id": booking.property_id,
                "booking_id": booking.id,
                "amount": plan.amount,
                "actor": actor,
            }),
            self.now(),
        );
        if !self.store.lock_hold(&old.id, old.version, &op).await? {
            return Ok(Swap::Busy);
        }
        let system = Caller::system(plan.actor);
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
            operation_id: Some(plan.operation_id.clone()),
            request_key: None,
        };
        match self.create(cmd, &system).await {
            // Placed, or placed by an earlier attempt under the same id (its
            // record says how it ended): finish from the records.
            Ok(_) | Err(CoreError::Busy) | Err(CoreError::Declined { .. }) => {}
            Err(CoreError::OutcomeUnknown { .. }) => {
                // The janitor learns what the create did, then finishes
                // this operation; the old hold stays locked until then.
                self.store
                    .finish_operation(&op.id, OpStatus::Unknown, Some("the new hold's create is unknown"), self.now())
                    .await?;
                return Err(CoreError::OutcomeUnknown { operation_id: op.id, hold_id: Some(old.id.clone()) });
            }
            Err(e) => {
                self.unlock(&old.id, &op, &e.to_string()).await?;
                return Err(e);
            }
        }
        match self.finish_reauthorization(&op).await? {
            Finished::Swapped(new) => Ok(Swap::Swapped(new)),
            Finished::Declined { message, decline_code } => Ok(Swap::Declined { message, decline_code }),
            Finished::NotAuthorized(s) => Ok(Swap::NotAuthorized(s)),
            Finished::BookingChanged => Ok(Swap::BookingChanged),
            Finished::Waiting => {
                Err(CoreError::OutcomeUnknown { operation_id: op.id.clone(), hold_id: Some(old.id.clone()) })
            }
        }
    }

    /// Ends a `reauthorize` operation without touching the old hold.
    async fn unlock(&self, old_id: &str, op: &Operation, why: &str) -> CoreResult<()> {
        match self.settle(Settle::Id(old_id), op, OpStatus::Failed, Some(why), |h| (h, Vec::new())).await {
            Ok(_) | Err(CoreError::Busy) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Finishes a `reauthorize` operation from what the records show: the
    /// booking moved to the new hold and the old one released, or the new
    /// one released and the old one kept. Called by the request that started
    /// it and by the janitor; every step is idempotent.
    pub(crate) async fn finish_reauthorization(&self, op: &Operation) -> CoreResult<Finished> {
        let r = &op.request;
        let (Some(old_id), Some(create_id)) = (op.hold_id.clone(), text(r, "create_operation")) else {
            return Err(CoreError::ProcessorFailure(format!("operation {} has an unreadable request", op.id)));
        };
        let actor = text(r, "actor").unwrap_or_else(|| "system: re-authorization".into());
        let system = Caller::system(actor.trim_start_matches("system: "));
        let create = self.store.get_operation(&create_id).await?;
        let new = match create.as_ref().map(|c| (c.status, c.hold_id.clone())) {
            Some((OpStatus::Succeeded, Some(h))) => self.store.get_hold(&h).await?,
            Some((OpStatus::Pending | OpStatus::Unknown, _)) => return Ok(Finished::Waiting),
            _ => None,
        };
        let Some(new) = new else {
            self.unlock(&old_id, op, "the new hold was not placed").await?;
            return Ok(Finished::NotAuthorized(HoldStatus::Failed));
        };
        let (property, booking_id) =
            (text(r, "property_id").unwrap_or_default(), text(r, "booking_id").unwrap_or_default());
        let booking = self.store.get_booking(&property, &booking_id).await?.ok_or(CoreError::NotFound)?;
        match &booking.state {
            BookingState::HoldActive(a) if a.hold_id == new.id => {}
            BookingState::HoldActive(a) if a.hold_id == old_id => {
                if new.state.status() != HoldStatus::RequiresCapture {
                    let status = new.state.status();
                    // Declined at confirm: the PaymentIntent waits for another card.
                    let declined = match &new.state {
                        HoldState::RequiresPaymentMethod(s) => {
                            Some(s.last_error.clone().unwrap_or_else(|| "card_declined".into()))
                        }
                        _ => None,
                    };
                    self.release_if_live(&new, "abandoned", &system).await;
                    self.unlock(&old_id, op, &format!("the new hold ended {status}")).await?;
                    self.note_failed(&old_id, &actor, declined.as_deref().unwrap_or(status.as_str())).await?;
                    return Ok(match declined {
                        Some(code) => Finished::Declined {
                            message: "The saved card declined the new authorization.".into(),
                            decline_code: Some(code),
                        },
                        None => Finished::NotAuthorized(status),
                    });
                }
                let mut b = booking.clone();
                b.state = BookingState::HoldActive(a.clone().swap_hold(new.id.clone()));
                b.updated_at = self.now();
                if !self.store.save_booking(&b, booking.version).await? {
                    // Only this operation moves the booking while the old
                    // hold is locked; a lost race means a retry will see it.
                    return Err(CoreError::Busy);
                }
                let link = |kind: &str, other: &str| NewEvent {
                    kind: kind.into(),
                    actor: Some(actor.clone()),
                    reason: Some(format!("booking {} moved from {} to {}", booking.id, old_id, new.id)),
                    data: Some(json!({ "other_hold": other, "booking_id": booking.id })),
                    at: self.now(),
                    ..NewEvent::default()
                };
                self.store.append_event(&new.id, &link("reauthorized_from", &old_id)).await?;
                self.store.append_event(&old_id, &link("reauthorized_to", &new.id)).await?;
            }
            // The old hold ended by other means (a webhook from the
            // processor's dashboard): the booking is not ours to move.
            _ => {
                self.release_if_live(&new, "duplicate", &system).await;
                self.unlock(&old_id, op, "the booking no longer holds the old hold").await?;
                return Ok(Finished::BookingChanged);
            }
        }
        // The booking is on the new hold: release the old one, under the
        // operation's own idempotency key.
        let ctx = EventContext::actor(actor.clone());
        let now = self.now();
        match self.call_out(self.processor.cancel(&old_id, None, &key_for(op))).await {
            Ok(intent) => {
                let settled = self
                    .settle(Settle::Id(&old_id), op, OpStatus::Succeeded, None, |h| {
                        let (mut h, events) = fold_intent(h, &intent, now, &ctx);
                        if let HoldState::Canceled(c) = &mut h.state {
                            c.replace_with(&new.id);
                        }
                        (h, events)
                    })
                    .await;
                match settled {
                    Ok(_) | Err(CoreError::Busy) => Ok(Finished::Swapped(Box::new(new))),
                    Err(e) => Err(e),
                }
            }
            Err(e) if e.is_unknown_outcome() => {
                self.store.finish_operation(&op.id, OpStatus::Unknown, Some(&e.to_string()), now).await?;
                Ok(Finished::Waiting)
            }
            Err(e) => {
                // The old hold could not be released (it ended meanwhile):
                // record what the processor says; the booking is on the new.
                let _ = self.settle_failure(&old_id, op, e, &ctx).await;
                Ok(Finished::Swapped(Box::new(new)))
            }
        }
    }

    async fn release_if_live(&self, hold: &Hold, why: &str, system: &Caller) {
        if !hold.state.status().is_terminal() {
            if let Err(e) = self.cancel(&hold.id, Some(why.into()), system).await {
                tracing::warn!(hold.id = %hold.id, error = %e, "a re-authorization's unused hold was not released");
            }
        }
    }

    async fn note_failed(&self, old_id: &str, actor: &str, why: &str) -> CoreResult<()> {
        self.store
            .append_event(
                old_id,
                &NewEvent {
                    kind: "reauthorization_failed".into(),
                    actor: Some(actor.to_string()),
                    reason: Some(why.to_string()),
                    at: self.now(),
                    ..NewEvent::default()
                },
            )
            .await?;
        Ok(())
    }
}

/// Where a `reauthorize` operation got to.
pub(crate) enum Finished {
    Swapped(Box<Hold>),
    Declined {
        message: String,
        decline_code: Option<String>,
    },
    NotAuthorized(HoldStatus),
    BookingChanged,
    /// The new hold's create (or the old hold's release) is still unknown.
    Waiting,
}

impl HoldService {
    /// An increment on a booking's hold whose card cannot grow: a new hold
    /// for `total` on the saved card replaces it (new before old), and the
    /// answer is the new hold. `None` when the hold is not its booking's
    /// active hold or the booking has no saved card, so the caller answers
    /// 409 `incremental_authorization_unavailable`.
    pub(crate) async fn raise_by_reauthorization(
        &self,
        old: &Hold,
        total: i64,
        actor: &str,
    ) -> CoreResult<Option<Hold>> {
        let (Some(property), Some(booking_id)) = (&old.property_id, &old.booking_id) else { return Ok(None) };
        let Some(booking) = self.store.get_booking(property, booking_id).await? else { return Ok(None) };
        if !matches!(&booking.state, BookingState::HoldActive(a) if a.hold_id == old.id) {
            return Err(booking_moved_on(&booking));
        }
        if booking.saved_payment_method.is_none() {
            return Ok(None);
        }
        let plan = SwapPlan {
            amount: total,
            operation_id: super::checkin::raise_op_id(&booking, &old.id, old.version, total),
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
            // Another operation on this hold is under way: retry reads
            // what it did.
            Swap::Busy => Err(CoreError::Busy),
            Swap::BookingChanged => {
                let now = self.store.get_booking(property, booking_id).await?.ok_or(CoreError::NotFound)?;
                Err(booking_moved_on(&now))
            }
            Swap::NoSavedCard => Ok(None),
        }
    }
}
