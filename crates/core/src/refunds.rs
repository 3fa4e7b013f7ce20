//! Refunds of captured money: full or partial, several per hold, never
//! more in all than was captured. A refund is a processor operation like a
//! capture: the hold is claimed and the operation recorded before the
//! call, the call carries the operation's idempotency key, an unknown
//! outcome stays locked for the janitor, and the hold's refunded total is
//! what the processor reports (a refund that fails later at the bank comes
//! back through the webhook and lowers it again).

use chittycharge_domain::dispute::DisputeStatus;
use chittycharge_domain::hold::RefundRefused;
use chittycharge_domain::{Hold, HoldState, PositiveAmount};
use chittycharge_store::{OpStatus, Operation};
use serde_json::{json, Value};

use super::operate::Settle;
use super::sync::{fold_intent, EventContext};
use super::{CoreError, CoreResult, HoldService};
use crate::caller::Caller;

/// Stripe's refund reasons; an operator's own words stay in our records.
const STRIPE_REFUND_REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

#[derive(Debug, Clone, Default)]
pub struct RefundCommand {
    /// `None` refunds everything captured and not yet refunded.
    pub amount: Option<PositiveAmount>,
    pub reason: Option<String>,
    /// Itemized lines (what is given back and why), kept with the refund.
    pub lines: Option<Value>,
    /// A one-time key from the form that asked (the console's): a refund
    /// already made with it is answered again instead of made twice.
    pub form_key: Option<String>,
}

#[derive(Debug)]
pub struct RefundOutcome {
    pub operation_id: String,
    /// This refund, in minor units.
    pub amount: i64,
    pub hold: Hold,
}

impl HoldService {
    pub async fn refund(&self, id: &str, cmd: RefundCommand, caller: &Caller) -> CoreResult<RefundOutcome> {
        caller.require_write()?;
        let hold = self.get(id, caller).await?;
        if let Some(key) = cmd.form_key.as_deref() {
            let ops = self.store.operations_for_hold(&hold.id).await?;
            let same: Vec<&Operation> = ops
                .iter()
                .filter(|o| o.kind == "refund" && o.request.get("form_key").and_then(Value::as_str) == Some(key))
                .collect();
            if let Some(done) = same.iter().find(|o| o.status == OpStatus::Succeeded) {
                let amount = done.request.get("amount").and_then(Value::as_i64).unwrap_or(0);
                // The same form sent again (a double click, a reload) gets
                // the first answer; the key with another amount or from
                // another token is not that form, and must not be told its
                // refund happened.
                let same_form = done.request.get("form_token") == Some(&json!(caller.token_id))
                    && done.request.get("requested") == Some(&json!(cmd.amount.map(PositiveAmount::minor)));
                if !same_form {
                    return Err(CoreError::Idempotency {
                        message: format!(
                            "This form was already used to refund {}; reload the page to make another refund",
                            hold.amount.currency().format(amount)
                        ),
                    });
                }
                return Ok(RefundOutcome { operation_id: done.id.clone(), amount, hold });
            }
            if same.iter().any(|o| matches!(o.status, OpStatus::Pending | OpStatus::Unknown)) {
                return Err(CoreError::Busy);
            }
        }
        // A disputed charge's money is the bank's to move now (Stripe
        // refuses with charge_disputed); a lost one is already gone.
        let disputes = self.store.disputes_for_hold(&hold.id).await?;
        if let Some(d) = disputes.iter().find(|d| d.status.is_open() || d.status == DisputeStatus::Lost) {
            return Err(CoreError::InvalidState {
                status: hold.state.status().as_str().to_string(),
                message: format!("This hold's charge is disputed ({}): it cannot be refunded", d.status),
            });
        }
        let (amount, before) = match &hold.state {
            HoldState::Captured(c) => {
                let amount = c.check_refund(cmd.amount).map_err(|e| match e {
                    RefundRefused::ExceedsRefundable { requested, refundable } => {
                        CoreError::ExceedsRefundable { requested, refundable }
                    }
                })?;
                (amount, c.refunded())
            }
            other => {
                return Err(CoreError::InvalidState {
                    status: other.status().as_str().to_string(),
                    message: format!(
                        "This hold cannot be refunded because its status is {}: only captured money can be refunded",
                        other.status()
                    ),
                })
            }
        };
        hold.amount.currency().check_granularity(amount).map_err(|e| CoreError::validation("amount", e.to_string()))?;
        let stripe_reason = cmd.reason.as_deref().filter(|r| STRIPE_REFUND_REASONS.contains(r)).map(str::to_string);
        let request = json!({
            "amount": amount,
            "currency": hold.amount.currency().code(),
            "refunded_before": before,
            "reason": cmd.reason,
            "stripe_reason": stripe_reason,
            "detail": cmd.lines.as_ref().map(|l| json!({ "lines": l })),
            "actor": caller.actor(),
            "form_key": cmd.form_key,
            "form_token": cmd.form_key.as_ref().map(|_| caller.token_id.clone()),
            "requested": cmd.amount.map(PositiveAmount::minor),
        });
        let (op, locked, result) = self
            .with_lock(&hold, "refund", request, |key| async move {
                self.processor.refund(id, amount, stripe_reason.as_deref(), &key).await
            })
            .await?;
        let ctx = EventContext {
            actor: caller.actor(),
            reason: cmd.reason.clone(),
            data: Some(json!({ "operation_id": op.id, "lines": cmd.lines })),
        };
        let intent = match result {
            Ok(intent) => intent,
            Err(e) => return Err(self.settle_failure(id, &op, e, &ctx).await),
        };
        let now = self.now();
        let saved = self
            .settle(Settle::Locked(Box::new(locked)), &op, OpStatus::Succeeded, None, |h| {
                fold_intent(h, &intent, now, &ctx)
            })
            .await?;
        Ok(RefundOutcome { operation_id: op.id.clone(), amount, hold: saved })
    }

    /// The guest's email for a refund that went through, queued by `settle`
    /// whichever path settled it (the request, the janitor, an operator);
    /// its id derives from the operation, so it is queued once.
    pub(crate) async fn refund_settled(&self, op: &Operation, hold: &Hold) {
        let amount = op.request.get("amount").and_then(Value::as_i64).unwrap_or(0);
        let reason = op.request.get("reason").and_then(Value::as_str);
        let lines = op
            .request
            .get("detail")
            .and_then(|d| d.get("lines"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(to) = hold.customer_email.as_deref() {
            let msg = super::notify::refunded(hold, &op.id, amount, &lines, reason, to, self.now());
            if let Err(e) = self.store.enqueue_notification(&msg).await {
                tracing::warn!(hold.id = %hold.id, operation.id = %op.id, error = %e, "refund email not queued");
            }
        }
    }

    /// A hold's refunds, oldest first: every refund operation with its
    /// amount, reason, lines and status (`pending` while under way,
    /// `unknown` while the janitor finds out).
    pub async fn refunds(&self, id: &str, caller: &Caller) -> CoreResult<Vec<Operation>> {
        let hold = self.visible_hold(id, caller).await?;
        let mut ops = self.store.operations_for_hold(&hold.id).await?;
        ops.retain(|o| o.kind == "refund");
        Ok(ops)
    }
}
