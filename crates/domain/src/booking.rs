//! The booking state machine: `booked → hold_pending → hold_active →
//! checked_out → settled`. As with holds, each state is a type and a
//! transition consumes the state it leaves, so a check-out before check-in
//! or a second check-out cannot be written.

use std::fmt;
use std::str::FromStr;

use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookingStatus {
    Booked,
    HoldPending,
    HoldActive,
    CheckedOut,
    Settled,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 5] =
        [Self::Booked, Self::HoldPending, Self::HoldActive, Self::CheckedOut, Self::Settled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::HoldPending => "hold_pending",
            Self::HoldActive => "hold_active",
            Self::CheckedOut => "checked_out",
            Self::Settled => "settled",
        }
    }
}

impl FromStr for BookingStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|b| b.as_str() == s).ok_or_else(|| format!("unknown booking status '{s}'"))
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// No hold yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booked;

/// A hold exists and waits for the guest's card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldPending {
    pub hold_id: String,
}

/// The hold is authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldActive {
    pub hold_id: String,
}

/// The guest left; damages may be claimed until `claim_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedOut {
    pub hold_id: String,
    pub checked_out_at: Timestamp,
    pub claim_until: Timestamp,
}

/// Damages charged or the hold released: nothing more to do. Every settled
/// booking has been checked out: at settlement when its active hold ended
/// (check-out with damages or a clean release, or a direct capture or
/// release), or earlier when the check-out deferred the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub hold_id: Option<String>,
    pub checked_out_at: Timestamp,
    pub settled_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingState {
    Booked(Booked),
    HoldPending(HoldPending),
    HoldActive(HoldActive),
    CheckedOut(CheckedOut),
    Settled(Settled),
}

impl Booked {
    pub fn hold_placed(self, hold_id: String) -> HoldPending {
        HoldPending { hold_id }
    }
}

impl HoldPending {
    pub fn authorized(self) -> HoldActive {
        HoldActive { hold_id: self.hold_id }
    }
    /// The pending hold died (expired, canceled): place a new one.
    pub fn hold_lost(self) -> Booked {
        Booked
    }
}

impl HoldActive {
    /// Check-out that settles at once (damages charged or hold released).
    pub fn settle(self, at: Timestamp) -> Settled {
        Settled { hold_id: Some(self.hold_id), checked_out_at: at, settled_at: at }
    }
    /// Check-out that keeps the hold open for claims until `claim_until`.
    pub fn check_out(self, at: Timestamp, claim_until: Timestamp) -> CheckedOut {
        CheckedOut { hold_id: self.hold_id, checked_out_at: at, claim_until }
    }
    /// The authorized hold lapsed or failed: the booking may place a new one.
    pub fn hold_lost(self) -> Booked {
        Booked
    }
    /// A re-authorization swapped the booking onto a new hold.
    pub fn swap_hold(self, new_hold_id: String) -> HoldActive {
        HoldActive { hold_id: new_hold_id }
    }
}

impl CheckedOut {
    pub fn settle(self, at: Timestamp) -> Settled {
        Settled { hold_id: Some(self.hold_id), checked_out_at: self.checked_out_at, settled_at: at }
    }
    pub fn claim_window_open(&self, now: Timestamp) -> bool {
        now < self.claim_until
    }
}

impl BookingState {
    pub fn status(&self) -> BookingStatus {
        match self {
            BookingState::Booked(_) => BookingStatus::Booked,
            BookingState::HoldPending(_) => BookingStatus::HoldPending,
            BookingState::HoldActive(_) => BookingStatus::HoldActive,
            BookingState::CheckedOut(_) => BookingStatus::CheckedOut,
            BookingState::Settled(_) => BookingStatus::Settled,
        }
    }

    pub fn hold_id(&self) -> Option<&str> {
        match self {
            BookingState::Booked(_) => None,
            BookingState::HoldPending(s) => Some(&s.hold_id),
            BookingState::HoldActive(s) => Some(&s.hold_id),
            BookingState::CheckedOut(s) => Some(&s.hold_id),
            BookingState::Settled(s) => s.hold_id.as_deref(),
        }
    }

    /// Rebuilds a state from stored columns.
    pub fn from_parts(
        status: BookingStatus,
        hold_id: Option<String>,
        checked_out_at: Option<Timestamp>,
        claim_until: Option<Timestamp>,
        settled_at: Option<Timestamp>,
    ) -> Self {
        let hold = hold_id.clone().unwrap_or_default();
        match status {
            BookingStatus::Booked => BookingState::Booked(Booked),
            BookingStatus::HoldPending => BookingState::HoldPending(HoldPending { hold_id: hold }),
            BookingStatus::HoldActive => BookingState::HoldActive(HoldActive { hold_id: hold }),
            BookingStatus::CheckedOut => BookingState::CheckedOut(CheckedOut {
                hold_id: hold,
                checked_out_at: checked_out_at.unwrap_or_default(),
                claim_until: claim_until.unwrap_or_default(),
            }),
            // Rows settled before check-out times were kept for settled
            // bookings read their settlement as the check-out.
            BookingStatus::Settled => BookingState::Settled(Settled {
                hold_id,
                checked_out_at: checked_out_at.or(settled_at).unwrap_or_default(),
                settled_at: settled_at.unwrap_or_default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booking_runs_its_course() {
        let t = Timestamp::from_secs(1_700_000_000);
        let pending = Booked.hold_placed("pi_1".into());
        let active = pending.authorized();
        let out = active.check_out(t, t.plus_secs(48 * 3600));
        assert!(out.claim_window_open(t.plus_secs(3600)));
        assert!(!out.claim_window_open(t.plus_secs(48 * 3600)));
        let settled = out.settle(t.plus_secs(49 * 3600));
        assert_eq!(settled.checked_out_at, t, "a deferred release keeps the check-out time");
        assert_eq!(BookingState::Settled(settled).hold_id(), Some("pi_1"));
    }

    #[test]
    fn a_booking_settled_at_check_out_was_checked_out_then() {
        let t = Timestamp::from_secs(1_700_000_000);
        let settled = Booked.hold_placed("pi_1".into()).authorized().settle(t);
        assert_eq!((settled.checked_out_at, settled.settled_at), (t, t));
    }

    #[test]
    fn statuses_round_trip() {
        for s in BookingStatus::ALL {
            assert_eq!(s.as_str().parse::<BookingStatus>(), Ok(s));
        }
    }
}
