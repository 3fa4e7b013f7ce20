//! Guest and operator messages. They are written to the durable outbox in
//! the same flow that changes the hold, and a job sends them. Wording
//! follows the seeds: "authorization hold", never "security deposit".

use chittycharge_domain::disclosure::placed_hold_disclosure;
use chittycharge_domain::fee::{estimate_processing_fee, PROCESSING_FEE_NOTE};
use chittycharge_domain::{Hold, HoldState, HoldStatus, Money, Timestamp};
use chittycharge_store::Notification;
use serde_json::Value;

use super::{CoreResult, HoldService};

/// The email bodies, plain text (no escaping: a guest's email client shows
/// them as text), embedded in the binary.
#[expect(
    clippy::expect_used,
    reason = "the templates are compiled in and their variables supplied here; the unit tests render each one"
)]
fn render(name: &str, ctx: minijinja::Value) -> String {
    use std::sync::OnceLock;
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in [
            ("hold_placed.txt", include_str!("emails/hold_placed.txt")),
            ("damage_charged.txt", include_str!("emails/damage_charged.txt")),
            ("hold_released.txt", include_str!("emails/hold_released.txt")),
            ("refund_issued.txt", include_str!("emails/refund_issued.txt")),
        ] {
            // The sources are compiled in; a syntax error is a build bug the
            // unit tests below catch.
            env.add_template(name, source).expect("valid email template");
        }
        env
    });
    // Every variable is supplied by the caller in this file and the
    // templates are fixed, so rendering cannot fail at run time (the tests
    // render each one).
    env.get_template(name).and_then(|t| t.render(ctx)).expect("email template renders")
}

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
    let body = render(
        "hold_placed.txt",
        minijinja::context! { disclosure, description => hold.description, reference => hold.chitty_id },
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
    let mut items: Vec<minijinja::Value> = lines
        .iter()
        .map(|l| {
            let amount = l.get("amount").and_then(Value::as_i64).unwrap_or(0);
            let what = l.get("description").and_then(Value::as_str).unwrap_or("damage");
            minijinja::context! { what, amount => hold.amount.currency().format(amount) }
        })
        .collect();
    if items.is_empty() {
        let what = reason.filter(|r| !r.trim().is_empty()).unwrap_or("costs of your stay");
        items.push(minijinja::context! { what, amount => hold.amount.currency().format(a.captured) });
    }
    let body = render(
        "damage_charged.txt",
        minijinja::context! {
            items,
            total => captured.to_string(),
            released => hold.amount.currency().format(a.released),
            fee => estimate_processing_fee(captured).to_string(),
            fee_note => PROCESSING_FEE_NOTE,
            reference => hold.chitty_id,
        },
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
    let body = render(
        "hold_released.txt",
        minijinja::context! { amount => hold.amount.to_string(), reference => hold.chitty_id },
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

/// The guest's notice of one refund (operation `op_id`), its lines itemized.
pub(crate) fn refunded(
    hold: &Hold,
    op_id: &str,
    amount: i64,
    lines: &[Value],
    reason: Option<&str>,
    to: &str,
    now: Timestamp,
) -> Notification {
    let currency = hold.amount.currency();
    let a = hold.state.amounts();
    let items: Vec<minijinja::Value> = lines
        .iter()
        .map(|l| {
            let what = l.get("description").and_then(Value::as_str).unwrap_or("refund");
            let amount = l.get("amount").and_then(Value::as_i64).unwrap_or(0);
            minijinja::context! { what, amount => currency.format(amount) }
        })
        .collect();
    let body = render(
        "refund_issued.txt",
        minijinja::context! {
            amount => currency.format(amount),
            reason => reason.filter(|r| !r.trim().is_empty()),
            items,
            total_refunded => currency.format(a.refunded),
            captured => currency.format(a.captured),
            reference => hold.chitty_id,
        },
    );
    message(
        "refund_issued",
        &format!("_{op_id}"),
        to,
        format!("Refund of {} to your card", currency.format(amount)),
        body,
        hold,
        now,
    )
}

impl HoldService {
    /// Everything that follows a hold's change of status: guest messages and
    /// the booking's own state. Idempotent, so a webhook and the operation
    /// that caused it may both call it.
    pub(crate) async fn after_hold_change(
        &self,
        before: HoldStatus,
        hold: &Hold,
        timers_written: bool,
    ) -> CoreResult<()> {
        let after = hold.state.status();
        if before == after {
            return Ok(());
        }
        let now = self.now();
        if after == HoldStatus::RequiresCapture {
            self.schedule_hold_timers(hold, timers_written).await?;
        }
        // A re-authorization swap for the same amount is invisible to the
        // guest: no "placed" mail for the new hold, no "released" mail for
        // the old one. A swap for a larger amount (an increment the card
        // could not take in place) is news: the guest hears of the new hold.
        let mut swap = hold.metadata.contains_key("reauthorizes")
            || matches!(&hold.state, HoldState::Canceled(c) if c.replaced_by().is_some());
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
    pub async fn notifications(&self, caller: &crate::caller::Caller, limit: i64) -> CoreResult<Vec<Notification>> {
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

#[cfg(test)]
mod tests {
    use chittycharge_domain::{HoldState, Timestamp};
    use serde_json::json;

    use crate::testing::{authorized, hold, T};

    /// The exact text a guest receives, line for line.
    #[test]
    fn the_damage_email_itemizes_each_line_then_the_total_release_and_fee() {
        let mut h = hold(
            HoldState::Captured(authorized(25_000).captured(7_500, Timestamp::from_millis(T)).unwrap()),
            "usd",
            25_000,
        );
        h.chitty_id = "CHITTY-42".into();
        let lines = [
            json!({"description": "Broken lamp", "amount": 5_000}),
            json!({"description": "Deep clean", "amount": 2_500}),
        ];
        let m = super::charged(&h, &lines, None, "guest@example.com", Timestamp::from_millis(T));
        assert_eq!(m.subject, "Damage charge of $75.00 from your authorization hold");
        let fee = chittycharge_domain::fee::estimate_processing_fee(
            chittycharge_domain::Money::new(7_500, h.amount.currency()).unwrap(),
        );
        assert_eq!(
            m.body,
            format!(
                "Hello,\n\nAfter your stay, $75.00 was charged from your authorization hold for:\n  - Broken lamp: $50.00\n  - Deep clean: $25.00\n\n\
                 Total charged: $75.00\nThe rest of the hold, $175.00, has been released. Banks may take several days to remove a released hold from your statement.\n\n\
                 Estimated processing fee: {fee} ({})\n\nReference: CHITTY-42\n",
                chittycharge_domain::fee::PROCESSING_FEE_NOTE
            )
        );
        // No lines: the capture's reason stands for them, and hostile text stays text.
        let m = super::charged(&h, &[], Some("<script>x</script> & more"), "g@example.com", Timestamp::from_millis(T));
        assert!(m.body.contains("for:\n  - <script>x</script> & more: $75.00\n\nTotal"), "{}", m.body);
    }

    #[test]
    fn the_placed_and_released_emails_name_the_amount_and_reference() {
        let mut h = hold(HoldState::RequiresCapture(authorized(25_000)), "usd", 25_000);
        h.description = "Incidentals".into();
        h.expires_at = Some(Timestamp::from_millis(T + 7 * 86_400_000));
        let placed = super::placed(&h, "g@example.com", Timestamp::from_millis(T));
        assert!(
            placed.body.starts_with("Hello,\n\n") && placed.body.ends_with("reply to your host.\n"),
            "{}",
            placed.body
        );
        assert!(
            placed.body.contains("$250.00")
                && placed.body.contains("What this is for: Incidentals\nReference: CHITTY-1\n"),
            "{}",
            placed.body
        );
        let released = super::released(&h, "g@example.com", Timestamp::from_millis(T));
        assert_eq!(
            released.body,
            "Hello,\n\nThe authorization hold of $250.00 on your card has been released. Nothing was charged.\n\
             Banks may take several days to remove a released hold from your statement.\n\nReference: CHITTY-1\n"
        );
    }
}
