//! What a hold's transitions refuse.

use super::HoldStatus;
use crate::time::Timestamp;

/// Why the processor's report of a capture cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("amount_to_capture {requested} exceeds the capturable amount {capturable}")]
    ExceedsCapturable { requested: i64, capturable: i64 },
    #[error("amount_to_capture must be a positive number of minor units")]
    NotPositive,
}

/// Why a capture request is refused before any processor call. (A zero or
/// negative amount cannot be asked for: see [`PositiveAmount`](crate::PositiveAmount).)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureRefused {
    #[error("the hold expired at its capture deadline")]
    Expired { capture_before: Timestamp },
    #[error("amount_to_capture {requested} exceeds the capturable amount {capturable}")]
    ExceedsCapturable { requested: i64, capturable: i64 },
}

/// Why a refund request is refused before any processor call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    #[error("a refund of {requested} exceeds what is left to refund, {refundable}")]
    ExceedsRefundable { requested: i64, refundable: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a hold cannot move from {from} to {to}")]
pub struct IllegalTransition {
    pub from: HoldStatus,
    pub to: &'static str,
}
