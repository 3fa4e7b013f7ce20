//! Operations on an existing hold: confirm, capture, cancel. Each claims the
//! hold with a compare-and-set on its version (so across instances only one
//! operation per hold reaches the processor), records the operation, calls
//! the processor with the operation's idempotency key, and then settles.

use std::future::Future;

use chittycharge_domain::fee::estimate_processing_fee;
use chittycharge_domain::hold::CaptureRefused;
use chittycharge_domain::{Hold, HoldState, HoldStatus, Money, PositiveAmount};
use chittycharge_processor::{IdempotencyKey, ProcessorError};
use chittycharge_store::{NewEvent, OpStatus, Operation};
use serde_json::json;

use super::hints::Attempt;
use super::sync::{fold_intent, EventContext};
use super::{key_for, new_operation, CoreError, CoreResult, HoldService};
use crate::caller::Caller;

#[derive(Debug, Clone, Default)]
pub struct CaptureCommand {
    /// `None` captures everything capturable.
    pub amount: Option<PositiveAmount>,
    pub reason: Option<String>,
    /// Itemized lines or other detail for the event log.
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct CaptureOutcome {
    /// The capture's operation (a damage claim's id derives from it).
    pub operation_id: String,
    pub hold: Hold,
    pub captured: Money,
    pub released: i64,
    pub fee: Money,
}

/// Stripe accepts only these cancellation reasons; anything else an operator
/// writes is kept in our event log instead.
const STRIPE_CANCEL_REASONS: [&str; 4] = ["duplicate", "fraudulent", "requested_by_customer", "abandoned"];

fn not_in(status: HoldStatus, verb: &str) -> CoreError {
    CoreError::InvalidState {
        status: status.as_str().to_string(),
        message: format!("This hold cannot be {verb} because its status is {status}"),
    }
}

/// Where a settle starts from.
pub(super) enum Settle<'a> {
    /// Read the hold.
    Id(&'a str),
    /// The hold as `with_lock` left it.
    Locked(Box<Hold>),
}

impl HoldService {
    /// Claims `hold` for one operation and makes the processor call.
    pub(super) async fn with_lock<F, Fut, T>(
        &self,
        hold: &Hold,
        kind: &str,
        request: serde_json::Value,
        call: F,
    ) -> CoreResult<(Operation, Hold, Result<T, ProcessorError>)>
    where
        F: FnOnce(IdempotencyKey) -> Fut,
        Fut: Future<Output = Result<T, ProcessorError>>,
    {
        if hold.op_lock.is_some() {
            return Err(CoreError::Busy);
        }
        let op = new_operation(kind, Some(&hold.id), request, self.now());
        if !self.store.lock_hold(&hold.id, hold.version, &op).await? {
            return Err(CoreError::Busy);
        }
        // The row as the lock left it, so the settle need not read it back.
        let mut locked = hold.clone();
        locked.version += 1;
        locked.op_lock = Some(op.id.clone());
        locked.updated_at = op.created_at;
        let key = key_for(&op);
        let result = {
            let _calling = self.in_flight.enter(key.as_str());
            self.call_out(call(key)).await
        };
        Ok((op, locked, result))
    }

    /// Writes the outcome of a locked operation and releases the lock.
    /// `update` folds the outcome into the hold: first into the row as the
    /// lock left it (`Settle::Locked`), and if that save finds the row
    /// changed (its version is compared), into a fresh read.
    pub(super) async fn settle<U>(
        &self,
        from: Settle<'_>,
        op: &Operation,
        status: OpStatus,
        error: Option<&str>,
        update: U,
    ) -> CoreResult<Hold>
    where
        U: Fn(Hold) -> (Hold, Vec<NewEvent>),
    {
        let (hold_id, mut known) = match from {
            Settle::Id(id) => (id.to_string(), None),
            Settle::Locked(h) => (h.id.clone(), Some(*h)),
        };
        for _ in 0..5 {
            let current = match known.take() {
                Some(h) => h,
                None => self.store.get_hold(&hold_id).await?.ok_or(CoreError::NotFound)?,
            };
            if current.op_lock.as_deref() != Some(op.id.as_str()) {
                // Someone else (the request, the janitor, an operator)
                // settled this operation first: its outcome stands.
                return Err(CoreError::Busy);
            }
            let version = current.version;
            let before = current.state.status();
            let (mut next, events) = update(current);
            if next.op_lock.as_deref() == Some(op.id.as_str()) {
                next.op_lock = None;
            }
            next.updated_at = self.now();
            let timers = self.timers_on_entry(before, &next);
            if self.store.save_hold_scheduling(&next, version, &events, Some((&op.id, status, error)), &timers).await? {
                next.version = version + 1;
                self.hints.wrote(&next);
                self.follow_up(before, &next, true).await;
                if status == OpStatus::Succeeded && op.kind == "capture" {
                    if let Err(e) = self.finish_claim(op, &next).await {
                        tracing::warn!(hold.id = %next.id, operation.id = %op.id, error = %e, "damage claim not recorded");
                    }
                }
                if status == OpStatus::Succeeded && op.kind == "refund" {
                    self.refund_settled(op, &next).await;
                }
                return Ok(next);
            }
        }
        Err(CoreError::Busy)
    }

    /// The processor refused or failed: record it and release or keep the lock.
    pub(super) async fn settle_failure(
        &self,
        hold_id: &str,
        op: &Operation,
        e: ProcessorError,
        ctx: &EventContext,
    ) -> CoreError {
        if e.is_unknown_outcome() {
            // Keep the lock: nobody may act on this hold until the janitor
            // learns what the processor did.
            let now = self.now();
            if let Err(err) = self.store.finish_operation(&op.id, OpStatus::Unknown, Some(&e.to_string()), now).await {
                return err.into();
            }
            return CoreError::OutcomeUnknown { operation_id: op.id.clone(), hold_id: Some(hold_id.to_string()) };
        }
        let message = e.to_string();
        let refreshed = match &e {
            // Our view may be stale; re-read so the stored state is right.
            ProcessorError::InvalidState { .. } | ProcessorError::Declined { .. } => {
                self.processor.retrieve(hold_id).await.ok()
            }
            // A refused refund: the processor may have refunded more than
            // we know (a Dashboard refund whose webhook never came).
            ProcessorError::InvalidRequest { .. } if op.kind == "refund" => self.processor.retrieve(hold_id).await.ok(),
            _ => None,
        };
        let now = self.now();
        let kind = format!("{}_failed", op.kind);
        let result = self
            .settle(Settle::Id(hold_id), op, OpStatus::Failed, Some(&message), |h| {
                let (h, mut events) = match &refreshed {
                    Some(intent) => fold_intent(h, intent, now, ctx),
                    None => (h, Vec::new()),
                };
                events.insert(
                    0,
                    NewEvent {
                        kind: kind.clone(),
                        actor: Some(ctx.actor.clone()),
                        from_status: Some(h.state.status().as_str().into()),
                        to_status: Some(h.state.status().as_str().into()),
                        reason: Some(message.clone()),
                        at: now,
                        ..NewEvent::default()
                    },
                );
                (h, events)
            })
            .await;
        match result {
            Ok(_) => CoreError::from_processor(e, Some(hold_id)),
            Err(err) => err,
        }
    }

    pub async fn confirm(&self, id: &str, payment_method: &str, caller: &Caller) -> CoreResult<Hold> {
        caller.require_write()?;
        self.on_hold(id, caller, &Default::default(), |hold, at| self.confirm_hold(hold, payment_method, caller, at))
            .await
    }

    async fn confirm_hold(&self, hold: Hold, payment_method: &str, caller: &Caller, at: &Attempt) -> CoreResult<Hold> {
        let id = hold.id.as_str();
        if hold.state.status() != HoldStatus::RequiresPaymentMethod {
            return Err(not_in(hold.state.status(), "confirmed"));
        }
        let pm = payment_method.to_string();
        let (op, locked, result) = self
            .with_lock(
                &hold,
                "confirm",
                json!({ "payment_method": payment_method, "actor": caller.actor() }),
                |key| async move { self.processor.confirm(id, &pm, &key).await },
            )
            .await?;
        at.locked();
        let ctx = EventContext::actor(caller.actor());
        match result {
            Ok(intent) => {
                let now = self.now();
                self.settle(Settle::Locked(Box::new(locked)), &op, OpStatus::Succeeded, None, |h| {
                    fold_intent(h, &intent, now, &ctx)
                })
                .await
            }
            Err(e) => Err(self.settle_failure(id, &op, e, &ctx).await),
        }
    }

    pub async fn capture(&self, id: &str, cmd: CaptureCommand, caller: &Caller) -> CoreResult<CaptureOutcome> {
        caller.require_write()?;
        self.on_hold(id, caller, &Default::default(), |hold, at| self.capture_hold(hold, &cmd, caller, at)).await
    }

    async fn capture_hold(
        &self,
        hold: Hold,
        cmd: &CaptureCommand,
        caller: &Caller,
        at: &Attempt,
    ) -> CoreResult<CaptureOutcome> {
        let id = hold.id.as_str();
        let amount = match &hold.state {
            HoldState::RequiresCapture(a) => a.check_capture(cmd.amount, self.now()).map_err(|e| match e {
                CaptureRefused::Expired { capture_before } => {
                    CoreError::Expired { capture_before: Some(capture_before) }
                }
                CaptureRefused::ExceedsCapturable { requested, capturable } => {
                    CoreError::ExceedsCapturable { requested, capturable }
                }
            })?,
            HoldState::Expired(_) => return Err(CoreError::Expired { capture_before: hold.expires_at }),
            other => return Err(not_in(other.status(), "captured")),
        };
        hold.amount
            .currency()
            .check_granularity(amount)
            .map_err(|e| CoreError::validation("amount_to_capture", e.to_string()))?;
        let (op, locked, result) = self
            .with_lock(&hold, "capture", json!({ "amount_to_capture": amount, "reason": cmd.reason, "detail": cmd.detail, "actor": caller.actor() }), |key| async move {
                self.processor.capture(id, Some(amount), &key).await
            })
            .await?;
        at.locked();
        let ctx = EventContext { actor: caller.actor(), reason: cmd.reason.clone(), data: cmd.detail.clone() };
        let intent = match result {
            Ok(intent) => intent,
            Err(e) => return Err(self.settle_failure(id, &op, e, &ctx).await),
        };
        let now = self.now();
        let currency = hold.amount.currency();
        let saved = self
            .settle(Settle::Locked(Box::new(locked)), &op, OpStatus::Succeeded, None, |h| {
                let (mut h, events) = fold_intent(h, &intent, now, &ctx);
                let captured = h.state.amounts().captured;
                h.processing_fee = Money::new(captured, currency).ok().map(|m| estimate_processing_fee(m).minor());
                (h, events)
            })
            .await?;
        let amounts = saved.state.amounts();
        let captured =
            Money::new(amounts.captured, currency).map_err(|e| CoreError::ProcessorFailure(e.to_string()))?;
        Ok(CaptureOutcome {
            operation_id: op.id.clone(),
            captured,
            released: amounts.released,
            fee: estimate_processing_fee(captured),
            hold: saved,
        })
    }

    pub async fn cancel(&self, id: &str, reason: Option<String>, caller: &Caller) -> CoreResult<Hold> {
        caller.require_write()?;
        self.on_hold(id, caller, &Default::default(), |hold, at| self.cancel_hold(hold, reason.clone(), caller, at))
            .await
    }

    async fn cancel_hold(&self, hold: Hold, reason: Option<String>, caller: &Caller, at: &Attempt) -> CoreResult<Hold> {
        let id = hold.id.as_str();
        match hold.state.status() {
            HoldStatus::RequiresPaymentMethod | HoldStatus::RequiresAction | HoldStatus::RequiresCapture => {}
            other => return Err(not_in(other, "canceled")),
        }
        let stripe_reason = reason.as_deref().filter(|r| STRIPE_CANCEL_REASONS.contains(r)).map(str::to_string);
        let (op, locked, result) = self
            .with_lock(
                &hold,
                "cancel",
                json!({ "reason": reason, "stripe_reason": stripe_reason, "actor": caller.actor() }),
                |key| async move { self.processor.cancel(id, stripe_reason.as_deref(), &key).await },
            )
            .await?;
        at.locked();
        let ctx = EventContext { actor: caller.actor(), reason: reason.clone(), data: None };
        match result {
            Ok(intent) => {
                let now = self.now();
                self.settle(Settle::Locked(Box::new(locked)), &op, OpStatus::Succeeded, None, |h| {
                    let (mut h, events) = fold_intent(h, &intent, now, &ctx);
                    if let HoldState::Canceled(c) = &mut h.state {
                        c.reason = reason.clone();
                    }
                    (h, events)
                })
                .await
            }
            Err(e) => Err(self.settle_failure(id, &op, e, &ctx).await),
        }
    }
}

impl HoldService {
    /// Raises an authorized hold to `new_total` (Stripe's incremental
    /// authorization), within the hold's tier limit. A booking's hold whose
    /// card cannot grow is replaced by a new hold instead, which is returned.
    pub async fn increment(&self, id: &str, new_total: i64, caller: &Caller) -> CoreResult<Hold> {
        caller.require_write()?;
        let hold = self.get(id, caller).await?;
        let current = match &hold.state {
            HoldState::RequiresCapture(a) => a.authorized(),
            other => return Err(not_in(other.status(), "incremented")),
        };
        if new_total <= current {
            return Err(CoreError::validation("amount", format!("amount is the new total and must exceed {current}")));
        }
        let currency = hold.amount.currency();
        currency.check_granularity(new_total).map_err(|e| CoreError::validation("amount", e.to_string()))?;
        let limit = hold.tier.limit(currency);
        if new_total > limit.minor() {
            return Err(CoreError::TierExceeded { tier: hold.tier, limit });
        }
        let total = Money::new(new_total, currency).map_err(|e| CoreError::validation("amount", e.to_string()))?;
        // Only an authorization the card allows to grow can be incremented;
        // the processor says so once it has authorized.
        let intent = self.processor.retrieve(id).await.map_err(|e| CoreError::from_processor(e, Some(id)))?;
        if intent.incremental_available != Some(true) {
            // A booking's hold is re-authorized for the new total instead.
            return match self.raise_by_reauthorization(&hold, new_total, &caller.actor()).await? {
                Some(new) => Ok(new),
                None => Err(CoreError::IncrementUnavailable),
            };
        }
        let (op, locked, result) = self
            .with_lock(
                &hold,
                "increment",
                json!({ "new_total": new_total, "actor": caller.actor() }),
                |key| async move { self.processor.increment(id, new_total, &key).await },
            )
            .await?;
        let ctx = EventContext::actor(caller.actor());
        match result {
            Ok(intent) => {
                let now = self.now();
                self.settle(Settle::Locked(Box::new(locked)), &op, OpStatus::Succeeded, None, |h| {
                    let (mut h, events) = fold_intent(h, &intent, now, &ctx);
                    if h.state.status() == HoldStatus::RequiresCapture {
                        h.amount = total;
                    }
                    (h, events)
                })
                .await
            }
            Err(e) => Err(self.settle_failure(id, &op, e, &ctx).await),
        }
    }
}
