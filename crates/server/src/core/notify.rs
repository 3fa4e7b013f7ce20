//! Guest and operator messages. They are written to the durable outbox in
//! the same flow that changes the hold, and a job sends them. Wording
//! follows the seeds: "authorization hold", never "security deposit".

use chittycharge_domain::disclosure::placed_hold_disclosure;
use chittycharge_domain::fee::{estimate_processing_fee, PROCESSING_FEE_NOTE};
use chittycharge_domain::{Hold, HoldStatus, Money, Timestamp};
use chittycharge_store::Notification;
use serde_json::Value;

use super::{CoreResult, HoldService};
use crate::views::money;

pub(crate) fn message(
    kind: &str,
    id_suffix: &str,
    to: &str,
    subject: String,
    body: String,
    hold: &Hold,
    now: Timestamp,
) -> Notification {
    Notification {
        id: format!("ntf_{}_{kind}{id_suffix}", hold.id),
        kind: kind.to_string(),
        recipient: to.to_string(),
        subject,
        body,
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        hold_id: Some(hold.id.clone()),
        booking_id: hold.booking_id.clone(),
        created_at: now,
        sent_at: None,
    }
}

fn placed(hold: &Hold, to: &str, now: Timestamp) -> Notification {
    let expires = hold
        .expires_at
        .and_then(|t| chrono::DateTime::from_timestamp_millis(t.millis()))
        .map(|d| d.format("%b %-d, %Y").to_string());
    // Written once the card is authorized: the hold is on the card now.
    let disclosure = placed_hold_disclosure(hold.amount, expires.as_deref());
    let body = format!(
        "Hello,\n\n{disclosure}\n\nWhat this is for: {}\nReference: {}\n\nIf you have questions, reply to your host.\n",
        hold.description, hold.chitty_id
    );
    message(
        "hold_placed",
        "",
        to,
        format!("Authorization hold of {} placed on your card", hold.amount),
        body,
        hold,
        now,
    )
}

fn charged(hold: &Hold, lines: &[Value], reason: Option<&str>, to: &str, now: Timestamp) -> Notification {
    let a = hold.state.amounts();
    let captured = Money::new(a.captured, hold.amount.currency()).unwrap_or(hold.amount);
    let mut items = String::new();
    for l in lines {
        let amount = l.get("amount").and_then(Value::as_i64).unwrap_or(0);
        let what = l.get("description").and_then(Value::as_str).unwrap_or("damage");
        items.push_str(&format!("  - {what}: {}\n", money(amount, hold.amount)));
    }
    if items.is_empty() {
        let what = reason.filter(|r| !r.trim().is_empty()).unwrap_or("costs of your stay");
        items.push_str(&format!("  - {what}: {}\n", money(a.captured, hold.amount)));
    }
    let fee = estimate_processing_fee(captured);
    let body = format!(
        "Hello,\n\nAfter your stay, {total} was charged from your authorization hold for:\n{items}\nTotal charged: {total}\n\
         The rest of the hold, {released}, has been released. Banks may take several days to remove a released hold from your statement.\n\n\
         Estimated processing fee: {fee} ({PROCESSING_FEE_NOTE})\n\nReference: {reference}\n",
        total = captured,
        released = money(a.released, hold.amount),
        fee = fee,
        reference = hold.chitty_id,
    );
    message(
        "damage_charged",
        "",
        to,
        format!("Damage charge of {captured} from your authorization hold"),
        body,
        hold,
        now,
    )
}

fn released(hold: &Hold, to: &str, now: Timestamp) -> Notification {
    let body = format!(
        "Hello,\n\nThe authorization hold of {} on your card has been released. Nothing was charged.\n\
         Banks may take several days to remove a released hold from your statement.\n\nReference: {}\n",
        hold.amount, hold.chitty_id
    );
    message(
        "hold_released",
        "",
        to,
        format!("Your authorization hold of {} has been released", hold.amount),
        body,
        hold,
        now,
    )
}

impl HoldService {
    /// Everything that follows a hold's change of status: guest messages and
    /// the booking's own state. Idempotent, so a webhook and the operation
    /// that caused it may both call it.
    pub(crate) async fn after_hold_change(&self, before: HoldStatus, hold: &Hold) -> CoreResult<()> {
        let after = hold.state.status();
        if before == after {
            return Ok(());
        }
        let now = self.now();
        if after == HoldStatus::RequiresCapture {
            self.schedule_hold_timers(hold).await?;
        }
        // A re-authorization swap for the same amount is invisible to the
        // guest: no "placed" mail for the new hold, no "released" mail for
        // the old one. A swap for a larger amount (an increment the card
        // could not take in place) is news: the guest hears of the new hold.
        let mut swap = hold.metadata.contains_key("reauthorizes")
            || hold.state.reason().is_some_and(|r| r.starts_with("re-authorized as"));
        if let (Some(old), HoldStatus::RequiresCapture) = (hold.metadata.get("reauthorizes"), after) {
            if self.store.get_hold(old).await?.is_some_and(|o| hold.amount.minor() > o.amount.minor()) {
                swap = false;
            }
        }
        if let Some(to) = hold.customer_email.as_deref().filter(|_| !swap) {
            let msg = match after {
                HoldStatus::RequiresCapture => Some(placed(hold, to, now)),
                HoldStatus::Captured => {
                    let events = self.store.hold_events(&hold.id).await?;
                    let capture = events.iter().rev().find(|e| e.kind == "captured");
                    let lines = capture
                        .and_then(|e| e.data.as_ref())
                        .and_then(|d| d.get("lines"))
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    Some(charged(hold, &lines, capture.and_then(|e| e.reason.as_deref()), to, now))
                }
                HoldStatus::Canceled | HoldStatus::Expired => Some(released(hold, to, now)),
                HoldStatus::RequiresPaymentMethod | HoldStatus::RequiresAction | HoldStatus::Failed => None,
            };
            if let Some(m) = msg {
                self.store.enqueue_notification(&m).await?;
            }
        }
        if hold.booking_id.is_some() {
            self.booking_follows_hold(hold).await?;
        }
        Ok(())
    }
}

impl HoldService {
    /// The outbox, newest first, for admins. A property-restricted admin sees
    /// only the messages of its own properties' holds and bookings.
    pub async fn notifications(&self, caller: &crate::auth::Caller, limit: i64) -> CoreResult<Vec<Notification>> {
        caller.require_admin("The notification outbox")?;
        let all = self.store.list_notifications(limit).await?;
        if caller.property_ids.is_none() {
            return Ok(all);
        }
        let mut out = Vec::new();
        for n in all {
            let property = match (&n.hold_id, &n.booking_id) {
                (Some(h), _) => self.store.get_hold(h).await?.and_then(|h| h.property_id),
                (None, Some(b)) => {
                    let found = self.store.find_bookings(b, caller.property_ids.as_deref()).await?;
                    found.first().filter(|_| found.len() == 1).map(|b| b.property_id.clone())
                }
                (None, None) => None,
            };
            if caller.sees_property(property.as_deref()) {
                out.push(n);
            }
        }
        Ok(out)
    }
}
