//! Settling operations whose processor outcome is unknown, following Kill
//! Bill's rule: a timeout is not a failure. The janitor re-issues the very
//! same call under the same idempotency key. If the first attempt happened,
//! the processor replays its result; if it did not, it happens now, which is
//! what the caller asked for. Either way the hold ends exactly as the
//! processor has it, and no PaymentIntent is left without a hold.

use chittycharge_domain::fee::estimate_processing_fee;
use chittycharge_domain::hold::ProcessorStatus;
use chittycharge_domain::{Hold, HoldState, Money, Timestamp};
use chittycharge_processor::{Intent, ProcessorError};
use chittycharge_store::{NewEvent, OpStatus, Operation};
use serde_json::Value;

use super::create::{PendingCreate, OPERATION_METADATA_KEY};
use super::operate::Settle;
use super::sync::{fold_intent, EventContext};
use super::{key_for, CoreError, CoreResult, HoldService};

/// Stripe keeps an idempotency key for 24 hours. Past this age an unknown
/// operation is never re-issued; its outcome is read from the processor.
pub(crate) const KEY_REISSUE_LIMIT_MS: i64 = 23 * 3_600_000;

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// Folds what the processor reported for `op` into the hold: its state,
/// the cancel reason our caller gave, the fee of a capture, and `extra`.
fn apply(
    h: Hold,
    intent: &Intent,
    op: &Operation,
    now: Timestamp,
    ctx: &EventContext,
    extra: Option<NewEvent>,
) -> (Hold, Vec<NewEvent>) {
    let currency = h.amount.currency();
    let (mut h, mut events) = fold_intent(h, intent, now, ctx);
    if op.kind == "cancel" {
        if let (HoldState::Canceled(c), Some(reason)) = (&mut h.state, text(&op.request, "reason")) {
            c.reason = Some(reason);
        }
    }
    let captured = h.state.amounts().captured;
    if captured > 0 {
        h.processing_fee = Money::new(captured, currency).ok().map(|m| estimate_processing_fee(m).minor());
    }
    events.extend(extra);
    (h, events)
}

/// Whether the processor's PaymentIntent shows that `op` took effect.
fn took_effect(op: &Operation, intent: &Intent) -> bool {
    let s = intent.view.status;
    match op.kind.as_str() {
        "capture" => s == ProcessorStatus::Succeeded,
        "cancel" => s == ProcessorStatus::Canceled,
        "confirm" => !matches!(s, ProcessorStatus::RequiresPaymentMethod | ProcessorStatus::RequiresConfirmation),
        "increment" => op.request.get("new_total").and_then(Value::as_i64).is_some_and(|t| intent.view.amount >= t),
        "refund" => {
            let n = |k: &str| op.request.get(k).and_then(Value::as_i64).unwrap_or(0);
            intent.view.amount_refunded.is_some_and(|r| r >= n("refunded_before").saturating_add(n("amount")))
        }
        _ => false,
    }
}

impl HoldService {
    /// A swap whose request never finished: finished from the records.
    async fn reconcile_reauthorization(&self, op: &Operation) -> CoreResult<OpStatus> {
        use super::reauth::Finished;
        Ok(match self.finish_reauthorization(op).await {
            Ok(Finished::Swapped(_)) => OpStatus::Succeeded,
            Ok(Finished::Waiting) | Err(CoreError::Busy) => OpStatus::Unknown,
            Ok(Finished::Declined { .. } | Finished::NotAuthorized(_) | Finished::BookingChanged) => OpStatus::Failed,
            Err(e) => return Err(e),
        })
    }

    /// One reconciliation attempt. Returns the operation's status afterwards
    /// (`Unknown` when the processor still gave no definite answer).
    pub async fn reconcile_operation(&self, op: &Operation) -> CoreResult<OpStatus> {
        if op.kind == "reauthorize" {
            return self.reconcile_reauthorization(op).await;
        }
        if op.kind == crate::booking_ids::BOOKING_CLAIM {
            return self.settle_booking_claim(op).await;
        }
        let key = key_for(op);
        let now = self.now();
        let expired_key = now.millis().saturating_sub(op.created_at.millis()) >= KEY_REISSUE_LIMIT_MS;
        if op.kind == "dispute_submit" {
            return self.reconcile_dispute_submit(op, !expired_key).await;
        }
        if expired_key {
            // Stripe may have forgotten the key: a re-issued create could
            // place a second hold. Look, don't ask again.
            return self.settle_from_processor(op, "janitor").await;
        }
        if op.kind == "create" {
            let pending: PendingCreate = serde_json::from_value(op.request.clone()).map_err(|e| {
                CoreError::ProcessorFailure(format!("operation {} has an unreadable request: {e}", op.id))
            })?;
            let intent = match self.call_out(self.processor.create(&pending.request, &key)).await {
                Ok(intent) => intent,
                Err(ProcessorError::Declined { intent_id: Some(id), .. }) => match self.processor.retrieve(&id).await {
                    Ok(i) => i,
                    Err(e) if e.is_unknown_outcome() => return Ok(OpStatus::Unknown),
                    Err(e) => return Err(CoreError::from_processor(e, Some(&id))),
                },
                Err(e) if e.is_unknown_outcome() => return Ok(OpStatus::Unknown),
                Err(e) => {
                    self.store.finish_operation(&op.id, OpStatus::Failed, Some(&e.to_string()), now).await?;
                    return Ok(OpStatus::Failed);
                }
            };
            self.complete_create(op, &pending, &intent).await?;
            return Ok(OpStatus::Succeeded);
        }

        let Some(hold_id) = op.hold_id.clone() else {
            self.store.finish_operation(&op.id, OpStatus::Failed, Some("operation without a hold"), now).await?;
            return Ok(OpStatus::Failed);
        };
        let r = &op.request;
        let actor = text(r, "actor").unwrap_or_else(|| "janitor".into());
        let ctx = EventContext {
            actor: format!("{actor} (reconciled)"),
            reason: text(r, "reason"),
            data: r.get("detail").cloned().filter(|d| !d.is_null()),
        };
        let result: Result<Intent, ProcessorError> = self
            .call_out(async {
                match op.kind.as_str() {
                    "capture" => {
                        self.processor.capture(&hold_id, r.get("amount_to_capture").and_then(Value::as_i64), &key).await
                    }
                    "cancel" => self.processor.cancel(&hold_id, text(r, "stripe_reason").as_deref(), &key).await,
                    "confirm" => {
                        self.processor.confirm(&hold_id, &text(r, "payment_method").unwrap_or_default(), &key).await
                    }
                    "increment" => {
                        self.processor
                            .increment(&hold_id, r.get("new_total").and_then(Value::as_i64).unwrap_or(0), &key)
                            .await
                    }
                    "refund" => {
                        let amount = r.get("amount").and_then(Value::as_i64).unwrap_or(0);
                        self.processor.refund(&hold_id, amount, text(r, "stripe_reason").as_deref(), &key).await
                    }
                    other => Err(ProcessorError::InvalidRequest {
                        code: None,
                        param: None,
                        message: format!("unknown operation kind {other}"),
                    }),
                }
            })
            .await;
        match result {
            Ok(intent) => {
                self.settle(Settle::Id(&hold_id), op, OpStatus::Succeeded, None, |h| {
                    apply(h, &intent, op, now, &ctx, None)
                })
                .await?;
                Ok(OpStatus::Succeeded)
            }
            Err(e) if e.is_unknown_outcome() => Ok(OpStatus::Unknown),
            Err(e) => {
                let _ = self.settle_failure(&hold_id, op, e, &ctx).await;
                Ok(OpStatus::Failed)
            }
        }
    }
}

impl HoldService {
    /// The hold for a PaymentIntent a create operation made, stored once, and
    /// adopted by its booking when it was a booking's placement whose caller
    /// never heard back.
    async fn complete_create(&self, op: &Operation, pending: &PendingCreate, intent: &Intent) -> CoreResult<()> {
        let now = self.now();
        if self.store.get_hold(&intent.id).await?.is_some() {
            self.store.finish_operation(&op.id, OpStatus::Succeeded, None, now).await?;
            return Ok(());
        }
        let (hold, events) = pending.hold.build(intent, self.processor.name(), &op.id, now)?;
        self.store.insert_hold(&hold, &events, Some(&op.id)).await?;
        self.follow_up(chittycharge_domain::HoldStatus::RequiresPaymentMethod, &hold, false).await;
        if super::checkin::is_placement_op(&op.id) {
            if let Err(e) = self.adopt(&hold).await {
                tracing::warn!(hold.id = %hold.id, error = %e, "completed placement not adopted by its booking");
            }
        }
        tracing::info!(hold.id = %hold.id, operation.id = %op.id, "completed a create whose outcome was unknown");
        Ok(())
    }

    /// Settles `op` from what the processor shows, without re-issuing it:
    /// a create by finding its PaymentIntent (our operation id is in its
    /// metadata), any other operation by reading the hold's PaymentIntent and
    /// checking whether the change happened. `Unknown` while the processor
    /// cannot be read.
    pub(crate) async fn settle_from_processor(&self, op: &Operation, actor: &str) -> CoreResult<OpStatus> {
        if op.kind == "reauthorize" {
            // Reads only records and releases the old hold once the booking
            // is on the new one: the same whatever the key's age.
            return self.reconcile_reauthorization(op).await;
        }
        if op.kind == "dispute_submit" {
            return self.reconcile_dispute_submit(op, false).await;
        }
        if op.kind == crate::booking_ids::BOOKING_CLAIM {
            return self.settle_booking_claim(op).await;
        }
        let now = self.now();
        if op.kind == "create" {
            let pending: PendingCreate = serde_json::from_value(op.request.clone()).map_err(|e| {
                CoreError::ProcessorFailure(format!("operation {} has an unreadable request: {e}", op.id))
            })?;
            let intents = match self.processor.list_by_source("chittycharge").await {
                Ok(list) => list,
                Err(e) if e.is_unknown_outcome() => return Ok(OpStatus::Unknown),
                Err(e) => return Err(CoreError::from_processor(e, None)),
            };
            let found = intents.iter().find(|i| i.metadata.get(OPERATION_METADATA_KEY) == Some(&op.id));
            return match found {
                Some(intent) => {
                    self.complete_create(op, &pending, intent).await?;
                    Ok(OpStatus::Succeeded)
                }
                None => {
                    let why = "the processor has no PaymentIntent for this operation";
                    self.store.finish_operation(&op.id, OpStatus::Failed, Some(why), now).await?;
                    Ok(OpStatus::Failed)
                }
            };
        }
        let Some(hold_id) = op.hold_id.clone() else {
            self.store.finish_operation(&op.id, OpStatus::Failed, Some("operation without a hold"), now).await?;
            return Ok(OpStatus::Failed);
        };
        let intent = match self.processor.retrieve(&hold_id).await {
            Ok(i) => i,
            Err(e) if e.is_unknown_outcome() => return Ok(OpStatus::Unknown),
            Err(e) => return Err(CoreError::from_processor(e, Some(&hold_id))),
        };
        let happened = took_effect(op, &intent);
        let (status, error) = if happened {
            (OpStatus::Succeeded, None)
        } else {
            (OpStatus::Failed, Some(format!("the processor shows this {} did not happen", op.kind)))
        };
        let ctx = EventContext {
            actor: format!("{actor} (read from the processor)"),
            reason: text(&op.request, "reason"),
            data: op.request.get("detail").cloned().filter(|d| !d.is_null()),
        };
        let note = NewEvent {
            kind: "operation_settled".into(),
            actor: Some(ctx.actor.clone()),
            reason: Some(format!("{} {}: {}", op.kind, op.id, if happened { "took effect" } else { "did not happen" })),
            data: Some(serde_json::json!({ "operation_id": op.id, "kind": op.kind, "took_effect": happened })),
            at: now,
            ..NewEvent::default()
        };
        self.settle(Settle::Id(&hold_id), op, status, error.as_deref(), |h| {
            apply(h, &intent, op, now, &ctx, Some(note.clone()))
        })
        .await?;
        Ok(status)
    }
}
