//! The reference model: what the holds and bookings must be, and what
//! an answer must say.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::model::steps::{Line, Pick, Take};
use crate::model::NEW_GUEST_LIMIT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hs {
    PaymentMethod,
    Action,
    Authorized,
    Captured,
    Canceled,
    Expired,
    Failed,
}

impl Hs {
    pub(crate) fn parse(s: &str) -> Option<Hs> {
        Some(match s {
            "requires_payment_method" => Hs::PaymentMethod,
            "requires_action" => Hs::Action,
            "requires_capture" => Hs::Authorized,
            "captured" => Hs::Captured,
            "canceled" => Hs::Canceled,
            "expired" => Hs::Expired,
            "failed" => Hs::Failed,
            _ => return None,
        })
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            Hs::PaymentMethod => "requires_payment_method",
            Hs::Action => "requires_action",
            Hs::Authorized => "requires_capture",
            Hs::Captured => "captured",
            Hs::Canceled => "canceled",
            Hs::Expired => "expired",
            Hs::Failed => "failed",
        }
    }
    pub(crate) fn terminal(self) -> bool {
        matches!(self, Hs::Captured | Hs::Canceled | Hs::Expired | Hs::Failed)
    }
    /// The simulated processor's status (`Debug` of its enum) for this state.
    pub(crate) fn processor_agrees(self, sim: &str) -> bool {
        match self {
            Hs::PaymentMethod => sim == "RequiresPaymentMethod",
            Hs::Action => sim == "RequiresAction",
            Hs::Authorized => sim == "RequiresCapture",
            Hs::Captured => sim == "Succeeded",
            Hs::Canceled | Hs::Expired => sim == "Canceled",
            Hs::Failed => sim == "Canceled" || sim == "RequiresPaymentMethod",
        }
    }
}

/// The states a hold can still be acted on in.
pub(crate) const LIVE: &[Hs] = &[Hs::PaymentMethod, Hs::Action, Hs::Authorized];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bs {
    Booked,
    Pending,
    Active,
    CheckedOut,
    Settled,
}

impl Bs {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Bs::Booked => "booked",
            Bs::Pending => "hold_pending",
            Bs::Active => "hold_active",
            Bs::CheckedOut => "checked_out",
            Bs::Settled => "settled",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct MHold {
    pub(crate) id: String,
    pub(crate) prop: usize,
    pub(crate) booking: Option<usize>,
    pub(crate) status: Hs,
    pub(crate) amount: i64,
    pub(crate) captured: i64,
    pub(crate) released: i64,
    pub(crate) tier_limit: i64,
    pub(crate) capture_before: Option<i64>,
    pub(crate) increments: u32,
    pub(crate) reauthorizes: Option<String>,
}

impl MHold {
    pub(crate) fn capturable(&self) -> i64 {
        if self.status == Hs::Authorized {
            self.amount
        } else {
            0
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct MBooking {
    pub(crate) prop: usize,
    pub(crate) id: String,
    pub(crate) status: Bs,
    pub(crate) hold: Option<usize>,
    pub(crate) claim_until: Option<i64>,
    /// A card authorized one of its holds: the booking keeps it, and its
    /// next hold is placed on it even when check-in sends no card.
    pub(crate) saved_card: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Model {
    pub(crate) holds: Vec<MHold>,
    pub(crate) bookings: Vec<MBooking>,
    /// Terminal states as first seen; they must never change.
    pub(crate) terminal: HashMap<String, Hs>,
    pub(crate) now_ms: i64,
}

impl Model {
    pub(crate) fn hold_index(&self, id: &str) -> Option<usize> {
        self.holds.iter().position(|h| h.id == id)
    }

    pub(crate) fn pick_hold(&self, p: Pick, fits: &[Hs]) -> Option<usize> {
        let fitting: Vec<usize> = (0..self.holds.len()).filter(|&i| fits.contains(&self.holds[i].status)).collect();
        if p.fit && !fitting.is_empty() {
            return Some(fitting[p.at.index(fitting.len())]);
        }
        (!self.holds.is_empty()).then(|| p.at.index(self.holds.len()))
    }

    pub(crate) fn pick_booking(&self, p: Pick, fits: &[Bs]) -> Option<usize> {
        let fitting: Vec<usize> =
            (0..self.bookings.len()).filter(|&i| fits.contains(&self.bookings[i].status)).collect();
        if p.fit && !fitting.is_empty() {
            return Some(fitting[p.at.index(fitting.len())]);
        }
        (!self.bookings.is_empty()).then(|| p.at.index(self.bookings.len()))
    }

    pub(crate) fn set_status(&mut self, i: usize, s: Hs) {
        self.holds[i].status = s;
        if s.terminal() {
            self.terminal.entry(self.holds[i].id.clone()).or_insert(s);
        }
        // The booking follows its hold: a pending one becomes active when the
        // card is authorized and booked again when the hold dies; an active
        // one settles when its hold is captured or released, and is booked
        // again when it lapses; a checked-out one settles when it ends.
        if let Some(b) = self.holds[i].booking {
            let bk = &mut self.bookings[b];
            if s == Hs::Authorized {
                bk.saved_card = true;
            }
            if bk.hold == Some(i) {
                match (bk.status, s) {
                    (Bs::Pending, Hs::Authorized) => bk.status = Bs::Active,
                    (Bs::Pending, Hs::Canceled | Hs::Expired | Hs::Failed) | (Bs::Active, Hs::Expired | Hs::Failed) => {
                        bk.status = Bs::Booked;
                        bk.hold = None;
                    }
                    (Bs::Active, Hs::Captured | Hs::Canceled) => bk.status = Bs::Settled,
                    (Bs::CheckedOut, s) if s.terminal() => bk.status = Bs::Settled,
                    _ => {}
                }
            }
        }
    }

    pub(crate) fn capture(&mut self, i: usize, amount: i64) {
        let h = &mut self.holds[i];
        h.captured = amount;
        h.released = h.amount - amount;
        self.set_status(i, Hs::Captured);
    }

    pub(crate) fn cancel(&mut self, i: usize) {
        let h = &mut self.holds[i];
        h.released = h.capturable();
        self.set_status(i, Hs::Canceled);
    }
}

/// What a capture of `take` on `h` must answer: the captured amount, or the
/// error status and code.
pub(crate) fn predict_capture(h: &MHold, take: Take, now_ms: i64) -> (i64, Result<i64, (u16, &'static str)>) {
    let basis = h.amount;
    let amount = match take {
        Take::Full => basis,
        Take::Part(p) => (basis * i64::from(p) / 1000).max(1),
        Take::Over => basis + 1,
    };
    let outcome = match h.status {
        Hs::Authorized if h.capture_before.is_some_and(|cb| cb <= now_ms) => Err((409, "hold_expired")),
        Hs::Authorized if amount > h.amount => Err((409, "amount_exceeds_capturable")),
        Hs::Authorized => Ok(amount),
        Hs::Expired => Err((409, "hold_expired")),
        _ => Err((409, "invalid_state")),
    };
    (amount, outcome)
}

pub(crate) fn capture_body(take: Take, amount: i64) -> Value {
    match take {
        Take::Full => json!({}),
        Take::Part(_) | Take::Over => json!({ "amount_to_capture": amount }),
    }
}

pub(crate) fn tier_limit(tier: &str) -> i64 {
    match tier {
        "VERIFIED_GUEST" => 500_000,
        "PREMIUM_PROPERTY" => 1_000_000,
        _ => NEW_GUEST_LIMIT,
    }
}

pub(crate) fn line_amount(l: Line, basis: i64) -> i64 {
    match l {
        Line::Fixed(n) => n,
        Line::Share(p) => (basis * i64::from(p) / 1000).max(1),
        Line::Zero => 0,
        Line::Negative => -100,
        Line::AboveCapturable => basis + 1,
        Line::Max => i64::MAX,
    }
}

pub(crate) fn damages_body(amounts: &[i64]) -> Value {
    Value::Array(
        amounts
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"amount": a, "description": format!("damage {i}"), "evidence_urls": [format!("https://evidence.example/{i}.jpg")]}))
            .collect(),
    )
}

pub(crate) fn millis(v: &Value) -> Option<i64> {
    v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).map(|t| t.timestamp_millis())
}
