//! Disputes: the processor's dispute events put the hold in a visible
//! dispute state (reason, amount, evidence due date), the operator is
//! emailed, and the operator answers with the evidence packet, which is
//! submitted like every processor call: recorded first, under the
//! operation's idempotency key, settled by the janitor when the answer is
//! lost, and never twice (a dispute under review refuses more evidence
//! before any call).

use std::collections::BTreeMap;

use chittycharge_domain::dispute::Dispute;
use chittycharge_domain::Hold;
use chittycharge_processor::{DisputeView, ProcessorError};
use chittycharge_store::{NewEvent, OpStatus, Operation};
use serde_json::{json, Value};

use super::operate::Settle;
use super::{key_for, CoreError, CoreResult, HoldService};
use crate::caller::Caller;

fn record(view: &DisputeView, hold: &Hold, before: Option<&Dispute>, now: chittycharge_domain::Timestamp) -> Dispute {
    Dispute {
        id: view.id.clone(),
        hold_id: hold.id.clone(),
        property_id: hold.property_id.clone(),
        amount: view.amount,
        currency: view.currency.to_lowercase(),
        reason: view.reason.clone(),
        status: view.status,
        evidence_due_by: view.evidence_due_by,
        funds_withdrawn: view.funds_withdrawn,
        submitted_at: before.and_then(|b| b.submitted_at),
        created_at: before.map_or(now, |b| b.created_at),
        updated_at: now,
    }
}

impl HoldService {
    /// A `charge.dispute.*` event: the dispute is re-read from the
    /// processor (the event is only a hint) and stored against its hold.
    pub(crate) async fn ingest_dispute(&self, dispute_id: &str) -> CoreResult<&'static str> {
        let view = match self.processor.retrieve_dispute(dispute_id).await {
            Ok(v) => v,
            Err(ProcessorError::NotFound { .. }) => return Ok("unknown_dispute"),
            Err(e) => return Err(CoreError::from_processor(e, None)),
        };
        let Some(pi) = view.payment_intent.as_deref() else { return Ok("no_payment_intent") };
        let Some(hold) = self.store.get_hold(pi).await? else { return Ok("unknown_hold") };
        let now = self.now();
        let Some((before, d)) = self.store_dispute(&view, &hold, None).await? else { return Ok("stale") };
        if before.as_ref().map(|b| b.status) != Some(d.status) {
            let event = NewEvent {
                kind: format!("dispute_{}", d.status.as_str()),
                actor: Some("processor".into()),
                amount: Some(d.amount),
                reason: Some(d.reason.clone()),
                data: Some(json!({ "dispute_id": d.id, "evidence_due_by": d.evidence_due_by.map(|t| t.millis()) })),
                at: now,
                ..NewEvent::default()
            };
            self.store.append_event(&hold.id, &event).await?;
        }
        if before.is_none() {
            self.tell_operator_of(&d, &hold).await?;
        }
        Ok("applied")
    }

    /// Stores the processor's view of a dispute, compare-and-set on its
    /// status, and never back to an earlier stage (events arrive out of
    /// order). `None` when the stored dispute is already further along.
    /// Returns the dispute as it was and as stored.
    async fn store_dispute(
        &self,
        view: &DisputeView,
        hold: &Hold,
        submitted_at: Option<chittycharge_domain::Timestamp>,
    ) -> CoreResult<Option<(Option<Dispute>, Dispute)>> {
        for _ in 0..5 {
            let before = self.store.get_dispute(&view.id).await?;
            if before.as_ref().is_some_and(|b| b.status.stage() > view.status.stage()) {
                return Ok(None);
            }
            let mut d = record(view, hold, before.as_ref(), self.now());
            d.submitted_at = d.submitted_at.or(submitted_at);
            if self.store.save_dispute(&d, before.as_ref().map(|b| b.status)).await? {
                return Ok(Some((before, d)));
            }
        }
        Err(CoreError::Busy)
    }

    async fn tell_operator_of(&self, d: &Dispute, hold: &Hold) -> CoreResult<()> {
        let Some(to) = self.automation.operator_email.as_deref() else { return Ok(()) };
        let currency = hold.amount.currency();
        let due = d
            .evidence_due_by
            .map_or_else(|| "no date given".into(), |t| chittycharge_domain::time::iso_millis(t.millis()));
        let body = format!(
            "The guest's bank disputes {} charged on hold {} ({}), reason: {}.\n\
             Evidence is due by {due}. The evidence packet: GET /api/holds/{}/dispute/evidence; \
             submit it with POST /api/holds/{}/dispute/submit.\n",
            currency.format(d.amount),
            hold.id,
            hold.description,
            d.reason,
            hold.id,
            hold.id
        );
        let mut n = super::notify::message(
            "dispute_opened",
            &format!("_{}", d.id),
            to,
            format!("Dispute of {} on hold {}: evidence due {due}", currency.format(d.amount), hold.id),
            body,
            hold,
            self.now(),
        );
        n.booking_id.clone_from(&hold.booking_id);
        Ok(self.store.enqueue_notification(&n).await?)
    }

    /// A hold's disputes, oldest first.
    pub async fn disputes(&self, hold_id: &str, caller: &Caller) -> CoreResult<Vec<Dispute>> {
        let hold = self.visible_hold(hold_id, caller).await?;
        Ok(self.store.disputes_for_hold(&hold.id).await?)
    }

    /// Undecided disputes the caller may see, the soonest deadline first.
    pub async fn open_disputes(&self, caller: &Caller, limit: i64) -> CoreResult<Vec<Dispute>> {
        caller.require_read()?;
        Ok(self.store.open_disputes(caller.property_ids.as_deref(), limit).await?)
    }

    /// Sends the evidence packet to the processor for the hold's dispute
    /// that awaits a response.
    pub async fn submit_dispute_evidence(&self, hold_id: &str, caller: &Caller) -> CoreResult<Dispute> {
        caller.require_write()?;
        let hold = self.get(hold_id, caller).await?;
        let dispute = self.store.disputes_for_hold(&hold.id).await?.into_iter().rev().find(|d| d.status.is_open());
        let Some(dispute) = dispute.filter(|d| d.status.needs_response()) else {
            return Err(CoreError::InvalidState {
                status: hold.state.status().as_str().to_string(),
                message: "This hold has no dispute awaiting evidence (none, already submitted, or decided)".into(),
            });
        };
        let fields = self.packet_for(&hold).await?.processor_fields();
        let request = json!({ "dispute_id": dispute.id, "evidence": fields, "actor": caller.actor() });
        let dispute_id = dispute.id.clone();
        let (op, locked, result) = self
            .with_lock(&hold, "dispute_submit", request, |key| async move {
                self.processor.submit_dispute_evidence(&dispute_id, &fields, &key).await
            })
            .await?;
        match result {
            Ok(view) => self.dispute_submitted(Settle::Locked(Box::new(locked)), &op, &view, &hold).await,
            Err(e) if e.is_unknown_outcome() => {
                let now = self.now();
                self.store.finish_operation(&op.id, OpStatus::Unknown, Some(&e.to_string()), now).await?;
                Err(CoreError::OutcomeUnknown { operation_id: op.id.clone(), hold_id: Some(hold.id.clone()) })
            }
            Err(e) => {
                let message = e.to_string();
                self.settle(Settle::Locked(Box::new(locked)), &op, OpStatus::Failed, Some(&message), |h| {
                    (h, Vec::new())
                })
                .await?;
                Err(match e {
                    // The bank decided, or another submission won, meanwhile.
                    ProcessorError::InvalidRequest { code: Some(c), .. } if c == "dispute_already_submitted" => {
                        CoreError::InvalidState { status: hold.state.status().as_str().to_string(), message }
                    }
                    other => CoreError::from_processor(other, Some(&hold.id)),
                })
            }
        }
    }

    /// Records a submission the processor accepted and releases the hold.
    async fn dispute_submitted(
        &self,
        from: Settle<'_>,
        op: &Operation,
        view: &DisputeView,
        hold: &Hold,
    ) -> CoreResult<Dispute> {
        let now = self.now();
        let d = match self.store_dispute(view, hold, Some(now)).await? {
            Some((_, d)) => d,
            // Already further along (decided meanwhile): as stored.
            None => self.store.get_dispute(&view.id).await?.ok_or(CoreError::NotFound)?,
        };
        let actor = op.request.get("actor").and_then(Value::as_str).unwrap_or("janitor").to_string();
        let event = NewEvent {
            kind: "dispute_evidence_submitted".into(),
            actor: Some(actor),
            amount: Some(d.amount),
            data: Some(json!({ "dispute_id": d.id, "operation_id": op.id, "status": d.status.as_str() })),
            at: now,
            ..NewEvent::default()
        };
        self.settle(from, op, OpStatus::Succeeded, None, |h| (h, vec![event.clone()])).await?;
        Ok(d)
    }

    /// The janitor's turn on a submission whose answer was lost: the same
    /// call under the same key (the processor replays it), or past the
    /// key's life a read of the dispute.
    pub(crate) async fn reconcile_dispute_submit(&self, op: &Operation, reissue: bool) -> CoreResult<OpStatus> {
        let (Some(hold_id), Some(dispute_id)) =
            (op.hold_id.clone(), op.request.get("dispute_id").and_then(Value::as_str).map(str::to_string))
        else {
            self.store.finish_operation(&op.id, OpStatus::Failed, Some("unreadable operation"), self.now()).await?;
            return Ok(OpStatus::Failed);
        };
        let hold = self.store.get_hold(&hold_id).await?.ok_or(CoreError::NotFound)?;
        let result = if reissue {
            let fields: BTreeMap<String, String> =
                serde_json::from_value(op.request.get("evidence").cloned().unwrap_or_default()).unwrap_or_default();
            self.call_out(self.processor.submit_dispute_evidence(&dispute_id, &fields, &key_for(op))).await
        } else {
            self.processor.retrieve_dispute(&dispute_id).await.and_then(|v| {
                if v.submission_count > 0 || !v.status.needs_response() {
                    Ok(v)
                } else {
                    Err(ProcessorError::InvalidState { message: "the processor shows no submission".into() })
                }
            })
        };
        match result {
            Ok(view) => {
                self.dispute_submitted(Settle::Id(&hold_id), op, &view, &hold).await?;
                Ok(OpStatus::Succeeded)
            }
            Err(e) if e.is_unknown_outcome() => Ok(OpStatus::Unknown),
            Err(e) => {
                let message = e.to_string();
                self.settle(Settle::Id(&hold_id), op, OpStatus::Failed, Some(&message), |h| (h, Vec::new())).await?;
                Ok(OpStatus::Failed)
            }
        }
    }
}

/// Whether a processor event is about a dispute, and which.
pub(crate) fn dispute_of(event: &Value) -> Option<&str> {
    let object = event.get("data")?.get("object")?;
    (object.get("object").and_then(Value::as_str) == Some("dispute")).then(|| object.get("id")?.as_str())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use chittycharge_domain::dispute::DisputeStatus;

    #[test]
    fn only_dispute_objects_are_disputes() {
        let e = json!({"type": "charge.dispute.created", "data": {"object": {"object": "dispute", "id": "dp_1"}}});
        assert_eq!(dispute_of(&e), Some("dp_1"));
        let charge = json!({"type": "charge.refunded", "data": {"object": {"object": "charge", "id": "ch_1"}}});
        assert_eq!(dispute_of(&charge), None);
        assert!(!DisputeStatus::UnderReview.needs_response());
    }
}
