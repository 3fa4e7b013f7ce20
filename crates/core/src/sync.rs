//! Folding what the processor says into our hold. Used after every API
//! operation, by webhooks, by the janitor and when a lapsed hold is read:
//! one path, so all of them move a hold through the same state machine.

use chittycharge_domain::time::{DEFAULT_HOLD_DAYS, SECS_PER_DAY};
use chittycharge_domain::{Hold, HoldState, HoldStatus, Timestamp};
use chittycharge_processor::{Intent, ProcessorError};
use chittycharge_store::NewEvent;

use super::{CoreError, CoreResult, HoldService};

/// Who caused a change, and why, for the event log.
#[derive(Debug, Clone, Default)]
pub struct EventContext {
    pub actor: String,
    pub reason: Option<String>,
    pub data: Option<serde_json::Value>,
}

impl EventContext {
    pub fn actor(actor: impl Into<String>) -> Self {
        Self { actor: actor.into(), ..Self::default() }
    }
}

fn event_kind(state: &HoldState) -> &'static str {
    match state {
        HoldState::RequiresPaymentMethod(s) if s.last_error.is_some() => "declined",
        HoldState::RequiresPaymentMethod(_) => "awaiting_payment_method",
        HoldState::RequiresAction(_) => "action_required",
        HoldState::RequiresCapture(_) => "authorized",
        HoldState::Captured(_) => "captured",
        HoldState::Canceled(_) => "canceled",
        HoldState::Expired(_) => "expired",
        HoldState::Failed(_) => "failed",
    }
}

fn event_amount(state: &HoldState) -> Option<i64> {
    let a = state.amounts();
    match state.status() {
        HoldStatus::RequiresCapture => Some(a.capturable),
        HoldStatus::Captured => Some(a.captured),
        HoldStatus::Canceled | HoldStatus::Expired => Some(a.released),
        HoldStatus::RequiresPaymentMethod | HoldStatus::RequiresAction | HoldStatus::Failed => None,
    }
}

/// Applies a processor snapshot to `hold`. Returns the updated hold and the
/// events describing the change (none when nothing changed). A snapshot
/// that would move the hold backwards is ignored, not applied.
pub(crate) fn fold_intent(
    mut hold: Hold,
    intent: &Intent,
    now: Timestamp,
    ctx: &EventContext,
) -> (Hold, Vec<NewEvent>) {
    let before = hold.state.clone();
    let default_deadline = now.plus_secs(DEFAULT_HOLD_DAYS * SECS_PER_DAY);
    let after = match before.clone().observe(&intent.view, now, default_deadline) {
        Ok(s) => s,
        Err(illegal) => {
            tracing::info!(hold.id = %hold.id, %illegal, "ignored a processor snapshot that would move the hold backwards");
            return (hold, Vec::new());
        }
    };
    let mut events = Vec::new();
    if after != before {
        let changed_status = after.status() != before.status();
        let new_decline = after.reason() != before.reason() && after.status() == HoldStatus::RequiresPaymentMethod;
        if changed_status || new_decline || after.amounts() != before.amounts() {
            // A captured hold's only change is its refunded total: up is a
            // refund, down a refund the bank sent back (not `refund_failed`,
            // which is a refund the processor refused).
            let refunded = after.amounts().refunded - before.amounts().refunded;
            let (kind, amount) = match (changed_status || new_decline, refunded) {
                (true, _) => (event_kind(&after), event_amount(&after)),
                (false, r) if r > 0 => ("refunded", Some(r)),
                (false, r) if r < 0 => ("refund_returned", Some(-r)),
                (false, _) => ("amount_updated", event_amount(&after)),
            };
            events.push(NewEvent {
                kind: kind.to_string(),
                actor: Some(ctx.actor.clone()),
                from_status: Some(before.status().as_str().to_string()),
                to_status: Some(after.status().as_str().to_string()),
                amount,
                reason: ctx.reason.clone().or_else(|| after.reason().map(str::to_string)),
                data: ctx.data.clone(),
                at: now,
            });
        }
    }
    hold.expires_at = after.capture_before().or(hold.expires_at).or(intent.view.capture_before);
    // An increment the processor applied (whoever learned of it: the caller,
    // the janitor, a webhook) raises the authorized total here too.
    if after.status() == HoldStatus::RequiresCapture && intent.view.amount > hold.amount.minor() {
        if let Ok(m) = chittycharge_domain::Money::new(intent.view.amount, hold.amount.currency()) {
            hold.amount = m;
        }
    }
    hold.state = after;
    if hold.client_secret.is_none() {
        hold.client_secret = intent.client_secret.clone();
    }
    if !events.is_empty() {
        hold.updated_at = now;
    }
    (hold, events)
}

impl HoldService {
    /// Re-reads the PaymentIntent and folds it into the stored hold. Holds
    /// with an operation in flight are left to that operation, which folds
    /// the processor's answer itself.
    pub async fn sync_from_processor(&self, hold_id: &str, ctx: &EventContext) -> CoreResult<Hold> {
        self.sync_if_ours(hold_id, ctx).await?.ok_or(CoreError::NotFound)
    }

    /// As [`Self::sync_from_processor`], but `None` (and no processor call)
    /// when the store has no such hold.
    pub(crate) async fn sync_if_ours(&self, hold_id: &str, ctx: &EventContext) -> CoreResult<Option<Hold>> {
        self.sync_from(hold_id, ctx, None).await
    }

    /// The sync, for news that came from the request with idempotency key
    /// `origin` (an event's `request.idempotency_key`), if known. A hold
    /// locked by an operation cannot take the news now; unless it is that
    /// operation's own, it is synced again once the lock is gone
    /// (deferred.rs).
    pub(crate) async fn sync_from(
        &self,
        hold_id: &str,
        ctx: &EventContext,
        origin: Option<&str>,
    ) -> CoreResult<Option<Hold>> {
        for _ in 0..5 {
            let Some(hold) = self.store.get_hold(hold_id).await? else { return Ok(None) };
            if hold.op_lock.is_some() {
                self.sync_after_lock(&hold, origin).await;
                return Ok(Some(hold));
            }
            let intent = match self.processor.retrieve(hold_id).await {
                Ok(i) => i,
                Err(ProcessorError::Unavailable { message }) => {
                    tracing::warn!(hold.id = %hold_id, error.cause = %message, "processor unavailable during sync");
                    return Ok(Some(hold));
                }
                Err(e) => return Err(CoreError::from_processor(e, Some(hold_id))),
            };
            let version = hold.version;
            let before = hold.state.status();
            let (updated, events) = fold_intent(hold, &intent, self.now(), ctx);
            if events.is_empty() {
                return Ok(Some(updated));
            }
            let timers = self.timers_on_entry(before, &updated);
            if self.store.save_hold_scheduling(&updated, version, &events, None, &timers).await? {
                let mut saved = updated;
                saved.version = version + 1;
                self.hints.wrote(&saved);
                self.follow_up(before, &saved, true).await;
                return Ok(Some(saved));
            }
        }
        Err(CoreError::Busy)
    }

    /// Runs `after_hold_change`; its failures are logged, never returned,
    /// because the hold's own change is already committed. `timers_written`
    /// when the save wrote the hold's `hold_timers` with it.
    pub(crate) async fn follow_up(&self, before: HoldStatus, hold: &Hold, timers_written: bool) {
        if let Err(e) = self.after_hold_change(before, hold, timers_written).await {
            tracing::warn!(hold.id = %hold.id, error = %e, "follow-up of a hold change failed");
        }
    }

    /// The timers to write with a save that moves a hold from `before` to
    /// `next`: `hold_timers` when it becomes capturable, else none.
    pub(crate) fn timers_on_entry(&self, before: HoldStatus, next: &Hold) -> Vec<chittycharge_store::Job> {
        if before == HoldStatus::RequiresCapture {
            return Vec::new();
        }
        self.hold_timers(next)
    }

    pub async fn refresh_if_lapsed(&self, hold: Hold) -> CoreResult<Hold> {
        let lapsed = matches!(&hold.state, HoldState::RequiresCapture(a) if a.is_expired(self.now()));
        if lapsed && hold.op_lock.is_none() {
            return self.sync_from_processor(&hold.id, &EventContext::actor("system: expiry check")).await;
        }
        Ok(hold)
    }
}
