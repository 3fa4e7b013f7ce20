//! The use-case layer's errors: what went wrong in terms an operator or an
//! integrator can act on. The server's `error.rs` maps them to HTTP once.

use chittycharge_domain::{GuestTier, Money, Timestamp};
use chittycharge_processor::ProcessorError;
use chittycharge_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("Missing required fields: amount, description")]
    MissingFields { field: &'static str },
    #[error("Amount exceeds limit for {tier} tier")]
    TierExceeded { tier: GuestTier, limit: Money },
    #[error("guest_tier {asserted} is above the tier this guest qualifies for ({derived}: {reason})")]
    TierNotAllowed { asserted: GuestTier, derived: GuestTier, reason: String },
    #[error("Not found")]
    NotFound,
    #[error("{message}")]
    Forbidden { message: String },
    #[error("{message}")]
    InvalidState { status: String, message: String },
    #[error("This hold expired and can no longer be captured")]
    Expired { capture_before: Option<Timestamp> },
    #[error("amount_to_capture {requested} exceeds the capturable amount {capturable}")]
    ExceedsCapturable { requested: i64, capturable: i64 },
    #[error("A refund of {requested} exceeds what is left to refund of this hold's capture, {refundable}")]
    ExceedsRefundable { requested: i64, refundable: i64 },
    #[error("Another operation on this hold is in progress; retry shortly")]
    Busy,
    #[error("This hold's card does not allow incremental authorization; place a new hold for the larger amount")]
    IncrementUnavailable,
    #[error("{message}")]
    Declined { message: String, decline_code: Option<String>, hold_id: Option<String> },
    #[error("The payment processor did not answer; the outcome is being reconciled")]
    OutcomeUnknown { operation_id: String, hold_id: Option<String> },
    #[error("{message}")]
    ProcessorRejected { code: Option<String>, param: Option<String>, message: String },
    #[error("{message}")]
    Idempotency { message: String },
    #[error("payment processor error: {0}")]
    ProcessorFailure(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CoreError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        CoreError::Validation { field: field.to_string(), message: message.into() }
    }

    /// Maps a definite processor refusal; unknown outcomes are handled by the
    /// caller, which owns the operation record.
    pub fn from_processor(e: ProcessorError, hold_id: Option<&str>) -> Self {
        match e {
            ProcessorError::Declined { message, decline_code, intent_id, code } => CoreError::Declined {
                message,
                decline_code: decline_code.or(Some(code)),
                hold_id: intent_id.or(hold_id.map(str::to_string)),
            },
            ProcessorError::NotFound { .. } => CoreError::NotFound,
            ProcessorError::InvalidState { message } => CoreError::InvalidState { status: "processor".into(), message },
            ProcessorError::InvalidRequest { code, param, message } => {
                CoreError::ProcessorRejected { code, param, message }
            }
            ProcessorError::IdempotencyConflict { message } => CoreError::Idempotency { message },
            ProcessorError::Unavailable { message } | ProcessorError::Misconfigured { message } => {
                CoreError::ProcessorFailure(message)
            }
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
