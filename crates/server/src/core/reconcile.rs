//! Settling operations whose processor outcome is unknown, following Kill
//! Bill's rule: a timeout is not a failure. The janitor re-issues the very
//! same call under the same idempotency key. If the first attempt happened,
//! the processor replays its result; if it did not, it happens now, which is
//! what the caller asked for. Either way the hold ends exactly as the
//! processor has it, and no PaymentIntent is left without a hold.

use chittycharge_domain::fee::estimate_processing_fee;
use chittycharge_domain::{HoldState, Money};
use chittycharge_processor::{Intent, ProcessorError};
use chittycharge_store::{OpStatus, Operation};
use serde_json::Value;

use super::create::PendingCreate;
use super::sync::{fold_intent, EventContext};
use super::{key_for, CoreError, CoreResult, HoldService};

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

impl HoldService {
    /// One reconciliation attempt. Returns the operation's status afterwards
    /// (`Unknown` when the processor still gave no definite answer).
    pub async fn reconcile_operation(&self, op: &Operation) -> CoreResult<OpStatus> {
        let key = key_for(op);
        let now = self.now();
        if op.kind == "create" {
            let pending: PendingCreate = serde_json::from_value(op.request.clone()).map_err(|e| {
                CoreError::ProcessorFailure(format!("operation {} has an unreadable request: {e}", op.id))
            })?;
            let intent = match self.processor.create(&pending.request, &key).await {
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
            if self.store.get_hold(&intent.id).await?.is_some() {
                self.store.finish_operation(&op.id, OpStatus::Succeeded, None, now).await?;
            } else {
                let (hold, events) = pending.hold.build(&intent, self.processor.name(), &op.id, now)?;
                self.store.insert_hold(&hold, &events, Some(&op.id)).await?;
                self.follow_up(chittycharge_domain::HoldStatus::RequiresPaymentMethod, &hold).await;
                // A booking's placement whose caller never heard back: the
                // booking points at its hold (if it has none live yet).
                if op.id.starts_with("op_bk_") && !op.id.contains("_r") {
                    if let Err(e) = self.adopt(&hold).await {
                        tracing::warn!(hold.id = %hold.id, error = %e, "completed placement not adopted by its booking");
                    }
                }
                tracing::info!(hold.id = %hold.id, operation.id = %op.id, "janitor completed a create whose outcome was unknown");
            }
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
        let result: Result<Intent, ProcessorError> = match op.kind.as_str() {
            "capture" => {
                self.processor.capture(&hold_id, r.get("amount_to_capture").and_then(Value::as_i64), &key).await
            }
            "cancel" => self.processor.cancel(&hold_id, text(r, "stripe_reason").as_deref(), &key).await,
            "confirm" => self.processor.confirm(&hold_id, &text(r, "payment_method").unwrap_or_default(), &key).await,
            "increment" => {
                self.processor.increment(&hold_id, r.get("new_total").and_then(Value::as_i64).unwrap_or(0), &key).await
            }
            other => Err(ProcessorError::InvalidRequest {
                code: None,
                param: None,
                message: format!("unknown operation kind {other}"),
            }),
        };
        match result {
            Ok(intent) => {
                let cancel_reason = if op.kind == "cancel" { text(r, "reason") } else { None };
                self.settle(&hold_id, op, OpStatus::Succeeded, None, |h| {
                    let currency = h.amount.currency();
                    let (mut h, events) = fold_intent(h, &intent, now, &ctx);
                    if let HoldState::Canceled(c) = &mut h.state {
                        if cancel_reason.is_some() {
                            c.reason = cancel_reason.clone();
                        }
                    }
                    let captured = h.state.amounts().captured;
                    if captured > 0 {
                        h.processing_fee =
                            Money::new(captured, currency).ok().map(|m| estimate_processing_fee(m).minor());
                    }
                    (h, events)
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
