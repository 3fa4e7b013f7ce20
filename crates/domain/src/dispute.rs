//! A guest's dispute of a captured charge with their bank: Stripe's
//! lifecycle, named as Stripe names it, and what makes one "open" (the
//! operator still has something to do or to wait for).

use std::fmt;
use std::str::FromStr;

use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisputeStatus {
    /// An inquiry (no funds withdrawn yet) awaiting the operator's answer.
    WarningNeedsResponse,
    WarningUnderReview,
    WarningClosed,
    /// Funds withdrawn; evidence is due by `evidence_due_by`.
    NeedsResponse,
    /// Evidence submitted; the bank decides.
    UnderReview,
    Won,
    Lost,
}

const ALL: [DisputeStatus; 7] = [
    DisputeStatus::WarningNeedsResponse,
    DisputeStatus::WarningUnderReview,
    DisputeStatus::WarningClosed,
    DisputeStatus::NeedsResponse,
    DisputeStatus::UnderReview,
    DisputeStatus::Won,
    DisputeStatus::Lost,
];

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::WarningNeedsResponse => "warning_needs_response",
            DisputeStatus::WarningUnderReview => "warning_under_review",
            DisputeStatus::WarningClosed => "warning_closed",
            DisputeStatus::NeedsResponse => "needs_response",
            DisputeStatus::UnderReview => "under_review",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
        }
    }
    /// Not decided yet.
    pub fn is_open(self) -> bool {
        !matches!(self, DisputeStatus::WarningClosed | DisputeStatus::Won | DisputeStatus::Lost)
    }
    /// How far along its life: a report about an earlier stage (a late
    /// or reordered event) never replaces a later one.
    pub fn stage(self) -> u8 {
        match self {
            DisputeStatus::WarningNeedsResponse => 0,
            DisputeStatus::NeedsResponse | DisputeStatus::WarningUnderReview => 1,
            DisputeStatus::UnderReview => 2,
            DisputeStatus::WarningClosed | DisputeStatus::Won | DisputeStatus::Lost => 3,
        }
    }
    /// Evidence may (still) be submitted.
    pub fn needs_response(self) -> bool {
        matches!(self, DisputeStatus::WarningNeedsResponse | DisputeStatus::NeedsResponse)
    }
}

impl fmt::Display for DisputeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DisputeStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.into_iter().find(|d| d.as_str() == s).ok_or_else(|| format!("unknown dispute status '{s}'"))
    }
}

/// A dispute as the processor reports it, tied to our hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    /// The processor's dispute id (`dp_…`, `du_…`).
    pub id: String,
    pub hold_id: String,
    pub property_id: Option<String>,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    /// The bank's reason code (`fraudulent`, `product_not_received`, …).
    pub reason: String,
    pub status: DisputeStatus,
    pub evidence_due_by: Option<Timestamp>,
    /// The disputed funds left the operator's balance.
    pub funds_withdrawn: bool,
    /// When our evidence went to the processor.
    pub submitted_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_and_only_undecided_ones_are_open() {
        for s in ALL {
            assert_eq!(s.as_str().parse::<DisputeStatus>(), Ok(s));
        }
        assert!("charge_refunded".parse::<DisputeStatus>().is_err());
        let open: Vec<_> = ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(
            open,
            [
                DisputeStatus::WarningNeedsResponse,
                DisputeStatus::WarningUnderReview,
                DisputeStatus::NeedsResponse,
                DisputeStatus::UnderReview
            ]
        );
        assert!(DisputeStatus::NeedsResponse.needs_response() && !DisputeStatus::UnderReview.needs_response());
    }
}
