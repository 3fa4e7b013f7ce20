//! The evidence packet for a disputed hold, built from what the service
//! already knows: the booking and its dates with the real check-in and
//! check-out times, the disclosure the guest saw and when they authorized,
//! the itemized damage lines with their evidence links, the emails sent,
//! and the event timeline. The same packet is the JSON the API answers,
//! the printable page, and the text fields sent to the processor.

use std::collections::BTreeMap;

use chittycharge_domain::disclosure::hold_disclosure;
use chittycharge_domain::dispute::Dispute;
use chittycharge_domain::time::iso_millis;
use chittycharge_domain::{Booking, Hold};
use chittycharge_store::{HoldEvent, Notification};
use serde::Serialize;
use serde_json::Value;

use super::{CoreResult, HoldService};
use crate::caller::Caller;

#[derive(Debug, Clone, Serialize)]
pub struct EvidencePacket {
    pub generated_at: String,
    pub hold: PacketHold,
    pub dispute: Option<PacketDispute>,
    pub booking: Option<PacketBooking>,
    pub disclosure: PacketDisclosure,
    pub damage_lines: Vec<PacketLine>,
    pub emails: Vec<PacketEmail>,
    pub timeline: Vec<PacketEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PacketHold {
    pub id: String,
    pub chitty_id: String,
    pub description: String,
    pub currency: String,
    /// Minor units.
    pub authorized: i64,
    pub captured: i64,
    pub refunded: i64,
    pub captured_at: Option<String>,
    pub customer_email: Option<String>,
    pub property_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PacketDispute {
    pub id: String,
    pub status: String,
    pub reason: String,
    pub amount: i64,
    pub evidence_due_by: Option<String>,
    pub submitted_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PacketBooking {
    pub id: String,
    pub property_id: String,
    pub guest_name: String,
    pub guest_email: Option<String>,
    /// The stay's dates at the property.
    pub check_in: String,
    pub check_out: String,
    /// When the guest's card was authorized at check-in.
    pub checked_in_at: Option<String>,
    pub checked_out_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PacketDisclosure {
    pub text: String,
    /// Where the guest read it: `check-in page`, or `none` when the card
    /// was confirmed server-side by the operator's system.
    pub shown_on: &'static str,
    /// When the guest authorized the hold after reading it.
    pub authorized_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PacketLine {
    pub description: String,
    pub amount: i64,
    pub evidence_urls: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PacketEmail {
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub status: String,
    pub created_at: String,
    pub sent_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PacketEvent {
    pub at: String,
    pub kind: String,
    pub actor: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

fn iso(t: Option<chittycharge_domain::Timestamp>) -> Option<String> {
    t.map(|t| iso_millis(t.millis()))
}

/// The damage lines of the hold's capture, as the event log recorded them.
fn lines_of(events: &[HoldEvent]) -> Vec<PacketLine> {
    let capture = events.iter().rev().find(|e| e.kind == "captured");
    let lines = capture.and_then(|e| e.data.as_ref()).and_then(|d| d.get("lines")).and_then(Value::as_array);
    lines
        .into_iter()
        .flatten()
        .map(|l| PacketLine {
            description: l.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
            amount: l.get("amount").and_then(Value::as_i64).unwrap_or(0),
            evidence_urls: l
                .get("evidence_urls")
                .and_then(Value::as_array)
                .map(|u| u.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
        })
        .collect()
}

fn booking_part(b: &Booking, events: &[HoldEvent]) -> PacketBooking {
    use chittycharge_domain::booking::BookingState;
    let checked_out_at = match &b.state {
        BookingState::CheckedOut(c) => Some(c.checked_out_at),
        BookingState::Settled(s) => Some(s.checked_out_at),
        _ => None,
    };
    PacketBooking {
        id: b.id.clone(),
        property_id: b.property_id.clone(),
        guest_name: b.guest_name.clone(),
        guest_email: b.guest_email.clone(),
        check_in: b.check_in.clone(),
        check_out: b.check_out.clone(),
        checked_in_at: events.iter().find(|e| e.kind == "authorized").map(|e| iso_millis(e.created_at.millis())),
        checked_out_at: iso(checked_out_at),
    }
}

fn email(n: &Notification) -> PacketEmail {
    PacketEmail {
        kind: n.kind.clone(),
        to: n.recipient.clone(),
        subject: n.subject.clone(),
        status: n.status.clone(),
        created_at: iso_millis(n.created_at.millis()),
        sent_at: iso(n.sent_at),
    }
}

impl EvidencePacket {
    /// The processor's evidence fields (Stripe's names), within its
    /// 150,000-character limit.
    pub fn processor_fields(&self) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        let email =
            self.hold.customer_email.clone().or_else(|| self.booking.as_ref().and_then(|b| b.guest_email.clone()));
        if let Some(e) = email {
            f.insert("customer_email_address".into(), e);
        }
        if let Some(b) = &self.booking {
            f.insert("customer_name".into(), b.guest_name.clone());
            f.insert("service_date".into(), b.check_in.clone());
            f.insert(
                "product_description".into(),
                format!(
                    "{} (stay at property {} from {} to {}, booking {})",
                    self.hold.description, b.property_id, b.check_in, b.check_out, b.id
                ),
            );
        } else {
            f.insert("product_description".into(), self.hold.description.clone());
        }
        f.insert("refund_policy_disclosure".into(), self.disclosure.text.clone());
        let mut text = self.summary();
        // Stripe takes at most 20,000 characters in one text field.
        text.truncate(floor_char_boundary(&text, 20_000));
        f.insert("uncategorized_text".into(), text);
        f
    }

    /// The packet as plain text, for the processor's free-text field.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let h = &self.hold;
        let _ = writeln!(s, "Authorization hold {} ({}), {}.", h.id, h.chitty_id, h.description);
        if let Some(b) = &self.booking {
            let _ = writeln!(
                s,
                "Booking {} at property {} for {}: stay {} to {}; checked in (card authorized) {}; checked out {}.",
                b.id,
                b.property_id,
                b.guest_name,
                b.check_in,
                b.check_out,
                b.checked_in_at.as_deref().unwrap_or("-"),
                b.checked_out_at.as_deref().unwrap_or("-")
            );
        }
        let at = self.disclosure.authorized_at.as_deref().unwrap_or("-");
        if self.disclosure.shown_on == "none" {
            let _ = writeln!(
                s,
                "The card was confirmed server-side (authorized at {at}); the disclosure this service gives for the hold: \"{}\"",
                self.disclosure.text
            );
        } else {
            let _ = writeln!(
                s,
                "Disclosure shown on the {} before the guest authorized (at {at}): \"{}\"",
                self.disclosure.shown_on, self.disclosure.text
            );
        }
        if !self.damage_lines.is_empty() {
            let _ = writeln!(s, "Damages charged ({} minor units of {}):", h.captured, h.currency);
            for l in &self.damage_lines {
                let _ = writeln!(s, "- {}: {} {}", l.description, l.amount, l.evidence_urls.join(" "));
            }
        }
        // Only what reached the guest counts as sent.
        for e in self.emails.iter().filter(|e| e.status == "sent") {
            let _ = writeln!(
                s,
                "Email {} to {} at {}: {}",
                e.kind,
                e.to,
                e.sent_at.as_deref().unwrap_or(&e.created_at),
                e.subject
            );
        }
        let _ = writeln!(s, "Timeline:");
        for e in &self.timeline {
            let _ =
                writeln!(s, "{} {}{}", e.at, e.kind, e.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default());
        }
        s
    }
}

/// The largest index at most `max` that falls on a character boundary.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    (0..=max.min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0)
}

impl HoldService {
    /// The evidence packet of `hold_id`, for a caller who may read it.
    pub async fn evidence_packet(&self, hold_id: &str, caller: &Caller) -> CoreResult<EvidencePacket> {
        let hold = self.visible_hold(hold_id, caller).await?;
        self.packet_for(&hold).await
    }

    pub(crate) async fn packet_for(&self, hold: &Hold) -> CoreResult<EvidencePacket> {
        let events = self.store.hold_events(&hold.id).await?;
        let booking = self.store.booking_for_hold(&hold.id).await?;
        let emails = self.store.notifications_for_hold(&hold.id).await?;
        let dispute: Option<Dispute> = self.store.disputes_for_hold(&hold.id).await?.pop();
        let a = hold.state.amounts();
        let authorized = events.iter().find(|e| e.kind == "authorized");
        let authorized_at = authorized.map(|e| iso_millis(e.created_at.millis()));
        // The guest's page, or Stripe.js on it (the processor's event), is
        // where the disclosure was read; a token's confirm never showed it.
        let via_page = authorized
            .and_then(|e| e.actor.as_deref())
            .is_some_and(|a| a.contains("check-in page") || a.starts_with("processor event"));
        Ok(EvidencePacket {
            generated_at: iso_millis(self.now().millis()),
            hold: PacketHold {
                id: hold.id.clone(),
                chitty_id: hold.chitty_id.clone(),
                description: hold.description.clone(),
                currency: hold.amount.currency().code().to_string(),
                authorized: a.captured + a.released + a.capturable,
                captured: a.captured,
                refunded: a.refunded,
                captured_at: iso(hold.state.captured_at()),
                customer_email: hold.customer_email.clone(),
                property_id: hold.property_id.clone(),
            },
            dispute: dispute.map(|d| PacketDispute {
                id: d.id,
                status: d.status.as_str().to_string(),
                reason: d.reason,
                amount: d.amount,
                evidence_due_by: iso(d.evidence_due_by),
                submitted_at: iso(d.submitted_at),
            }),
            booking: booking.as_ref().map(|b| booking_part(b, &events)),
            // The check-in page shows it before the card is authorized,
            // when the processor's exact deadline is not known yet.
            disclosure: PacketDisclosure {
                text: hold_disclosure(hold.amount, None),
                shown_on: if via_page { "check-in page" } else { "none" },
                authorized_at,
            },
            damage_lines: lines_of(&events),
            // The guest's messages only: the operator's own (the dispute
            // notice) are not evidence, and not every reader may see them.
            emails: emails
                .iter()
                .filter(|n| Some(&n.recipient) != self.automation.operator_email.as_ref())
                .map(email)
                .collect(),
            timeline: events
                .iter()
                .map(|e| PacketEvent {
                    at: iso_millis(e.created_at.millis()),
                    kind: e.kind.clone(),
                    actor: e.actor.clone(),
                    from_status: e.from_status.clone(),
                    to_status: e.to_status.clone(),
                    amount: e.amount,
                    reason: e.reason.clone(),
                })
                .collect(),
        })
    }
}
