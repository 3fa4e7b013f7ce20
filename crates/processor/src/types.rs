//! Processor-neutral request, response and error types.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chittycharge_domain::{hold::IntentView, Timestamp};

/// A PaymentIntent with `capture_method=manual`, as our core needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateIntent {
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub receipt_email: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Confirm server-side at creation with this PaymentMethod.
    pub payment_method: Option<String>,
    /// The processor's customer, needed to reuse a card later.
    #[serde(default)]
    pub customer: Option<String>,
    /// Save the card for merchant-initiated holds (`setup_future_usage=off_session`).
    #[serde(default)]
    pub save_for_off_session: bool,
    /// A merchant-initiated authorization on a saved card.
    #[serde(default)]
    pub off_session: bool,
    /// Ask for incremental authorization (`request_incremental_authorization
    /// = if_available`): a hold that may need to grow.
    #[serde(default)]
    pub incremental: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    pub client_secret: Option<String>,
    pub currency: String,
    pub created: Timestamp,
    pub view: IntentView,
    pub metadata: BTreeMap<String, String>,
    /// Why the last authorization attempt failed, e.g. `generic_decline`.
    pub last_decline: Option<String>,
    pub cancellation_reason: Option<String>,
    /// Stripe's `livemode`: made with a live key. Always false in the simulator.
    pub livemode: bool,
    /// The PaymentMethod used for the last authorization attempt.
    pub payment_method: Option<String>,
    /// Number of captures the processor performed (the simulator counts them;
    /// Stripe reports it through `amount_received`).
    pub captures: u32,
    /// Whether the card's authorization can be incremented: `None` until
    /// the processor says (no authorization yet, or not reported).
    pub incremental_available: Option<bool>,
    /// The charge's dispute, where the processor reports it with the intent
    /// (the simulator does; Stripe's disputes are read on their own).
    pub dispute: Option<crate::DisputeView>,
}

/// Processor failures, classified by what the caller can do about them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProcessorError {
    /// The issuer declined the card; the intent waits for another card.
    #[error("card declined: {message}")]
    Declined { code: String, decline_code: Option<String>, message: String, intent_id: Option<String> },
    #[error("{message}")]
    NotFound { message: String },
    /// `payment_intent_unexpected_state`: the operation is not legal now.
    #[error("{message}")]
    InvalidState { message: String },
    /// The processor rejected a parameter (`amount_too_large`, ...).
    #[error("{message}")]
    InvalidRequest { code: Option<String>, param: Option<String>, message: String },
    /// The idempotency key was reused with other parameters.
    #[error("{message}")]
    IdempotencyConflict { message: String },
    /// Timeout, connection failure, 5xx or 429 after retries: the outcome
    /// of a mutating call is UNKNOWN and must be reconciled, never assumed.
    #[error("processor unavailable: {message}")]
    Unavailable { message: String },
    /// Our own configuration is wrong (bad API key). Operators must act.
    #[error("processor rejected our credentials: {message}")]
    Misconfigured { message: String },
}

impl ProcessorError {
    pub fn is_unknown_outcome(&self) -> bool {
        matches!(self, ProcessorError::Unavailable { .. })
    }
}

/// Idempotency keys derived from our own operation records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Keys are 1..=255 characters, Stripe's limit.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        (!key.is_empty() && key.len() <= 255).then_some(Self(key))
    }
    /// A key derived from one of our own record ids, cut to Stripe's limit.
    pub fn derived(id: &str) -> Self {
        let mut key: String = format!("chittycharge-{id}");
        key.truncate(255);
        Self(key)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[async_trait]
pub trait Processor: Send + Sync {
    /// "simulated" or "stripe".
    fn name(&self) -> &'static str;
    /// Whether a call leaves this process. Before one does, the records it
    /// depends on must be on disk (`HoldService::call_out`). The simulator
    /// writes to our own database, after our records, so it needs no wait.
    fn outside_process(&self) -> bool {
        true
    }
    async fn create(&self, req: &CreateIntent, key: &IdempotencyKey) -> Result<Intent, ProcessorError>;
    async fn confirm(&self, id: &str, payment_method: &str, key: &IdempotencyKey) -> Result<Intent, ProcessorError>;
    async fn retrieve(&self, id: &str) -> Result<Intent, ProcessorError>;
    /// `amount: None` captures everything capturable.
    async fn capture(&self, id: &str, amount: Option<i64>, key: &IdempotencyKey) -> Result<Intent, ProcessorError>;
    async fn cancel(&self, id: &str, reason: Option<&str>, key: &IdempotencyKey) -> Result<Intent, ProcessorError>;
    /// Refunds `amount` of what was captured; `reason` is one of Stripe's
    /// (`duplicate`, `fraudulent`, `requested_by_customer`). Answers the
    /// PaymentIntent as it stands after the refund.
    async fn refund(
        &self,
        id: &str,
        amount: i64,
        reason: Option<&str>,
        key: &IdempotencyKey,
    ) -> Result<Intent, ProcessorError>;
    /// A dispute, as the processor has it now.
    async fn retrieve_dispute(&self, id: &str) -> Result<crate::DisputeView, ProcessorError>;
    /// Submits `evidence` (Stripe's `evidence[…]` text fields) for a
    /// dispute; it is then under review and cannot be submitted again.
    async fn submit_dispute_evidence(
        &self,
        id: &str,
        evidence: &BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> Result<crate::DisputeView, ProcessorError>;
    /// Incremental authorization: `new_total` is the new authorized amount.
    async fn increment(&self, id: &str, new_total: i64, key: &IdempotencyKey) -> Result<Intent, ProcessorError>;
    /// Every PaymentIntent whose metadata `source` is `source` (for the audit).
    async fn list_by_source(&self, source: &str) -> Result<Vec<Intent>, ProcessorError>;
    async fn update_metadata(
        &self,
        id: &str,
        metadata: &BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> Result<Intent, ProcessorError>;
    /// A customer to attach saved cards to.
    async fn create_customer(&self, email: Option<&str>, key: &IdempotencyKey) -> Result<String, ProcessorError>;
    /// Cheap reachability probe for `/health`.
    async fn ping(&self) -> Result<(), ProcessorError>;
}
