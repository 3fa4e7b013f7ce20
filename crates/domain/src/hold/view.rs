//! What a processor reports about a PaymentIntent, in domain terms.

use crate::time::Timestamp;

/// A PaymentIntent status in domain terms; adapters map wire strings to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Succeeded,
    Canceled,
}

/// What the processor reports about a PaymentIntent at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentView {
    pub status: ProcessorStatus,
    pub amount: i64,
    pub amount_capturable: i64,
    pub amount_received: i64,
    /// Refunded of what was received; `None` when the processor's answer
    /// did not say (then the stored total stands).
    pub amount_refunded: Option<i64>,
    pub capture_before: Option<Timestamp>,
    /// The processor canceled it because the authorization lapsed.
    pub canceled_by_expiry: bool,
    pub last_error: Option<String>,
}

pub(super) fn processor_status_name(s: ProcessorStatus) -> &'static str {
    match s {
        ProcessorStatus::RequiresPaymentMethod => "requires_payment_method",
        ProcessorStatus::RequiresConfirmation => "requires_confirmation",
        ProcessorStatus::RequiresAction => "requires_action",
        ProcessorStatus::Processing => "processing",
        ProcessorStatus::RequiresCapture => "requires_capture",
        ProcessorStatus::Succeeded => "succeeded",
        ProcessorStatus::Canceled => "canceled",
    }
}
