//! The wire contract. Field order follows the original service where it had
//! the field, because some consumers compare bodies textually.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use chittycharge_domain::time::iso_millis;

/// `{"error": …, "code": …, "details": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    /// Stable and machine-readable (`rate_limited`, `invalid_state`, …).
    #[serde(default)]
    #[schema(required = true)]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateHoldRequest {
    /// Minor units of `currency` (cents for usd, yen for jpy); at least the
    /// currency's Stripe minimum (50 for usd), at most the guest tier's limit.
    #[schema(minimum = 1, example = 25_000)]
    pub amount: i64,
    #[schema(min_length = 1, max_length = 1000, example = "Incidentals hold, Lakeview Cabin, Dec 24-28")]
    pub description: String,
    /// ISO 4217, any case; the service's default currency when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z]{3}$", example = "usd")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Email, max_length = 254, example = "guest@example.com")]
    pub customer_email: Option<String>,
    /// A string, or a number (the original accepted both).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::StringOrNumber>)]
    pub property_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::StringOrNumber>)]
    pub tenant_id: Option<String>,
    /// The operator's booking this hold is for (also read from `metadata.booking_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::StringOrNumber>)]
    pub booking_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<BTreeMap<String, serde_json::Value>>,
    /// A PaymentMethod to authorize with now (with `confirm: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255, example = "pm_card_visa")]
    pub payment_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<bool>,
    /// Ask for incremental authorization, for a hold that may need to grow
    /// (`POST …/increment`); booking holds always ask.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_authorization: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateHoldResponse {
    pub id: String,
    pub chitty_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[schema(value_type = crate::schema::HoldStatusName)]
    pub status: String,
    pub amount: i64,
    pub amount_capturable: i64,
    pub currency: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(value_type = crate::schema::TierName)]
    pub tier: String,
    pub tier_limit: i64,
    pub tier_reason: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub capture_before: Option<String>,
    pub disclosure: String,
    /// The guest check-in page, once the service serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HoldView {
    pub id: String,
    pub chitty_id: String,
    #[schema(value_type = crate::schema::HoldStatusName)]
    pub status: String,
    pub amount: i64,
    pub amount_capturable: i64,
    /// Stripe's name for the captured amount, kept for the original's consumers.
    pub amount_received: i64,
    pub currency: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub amount_captured: i64,
    pub amount_released: i64,
    /// Refunded of `amount_captured`.
    #[serde(default)]
    #[schema(required = true)]
    pub amount_refunded: i64,
    pub description: String,
    pub customer_email: Option<String>,
    pub property_id: Option<String>,
    pub tenant_id: Option<String>,
    pub booking_id: Option<String>,
    #[schema(value_type = crate::schema::TierName)]
    pub tier: String,
    pub metadata: BTreeMap<String, String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub capture_before: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub captured_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub canceled_at: Option<String>,
    pub reason: Option<String>,
    pub estimated_processing_fee: Option<i64>,
    pub processor: String,
    /// Placed with a live key (real money), as the processor's PaymentIntent
    /// says; false in test mode and on the simulated processor.
    #[serde(default)]
    #[schema(required = true)]
    pub livemode: bool,
    /// True while a processor call for this hold is unresolved.
    pub operation_pending: bool,
    /// The hold's latest dispute, if its charge is disputed (on
    /// `GET /api/holds/{id}` only; lists leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispute: Option<DisputeRecord>,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HoldList {
    pub holds: Vec<HoldView>,
    pub next_cursor: Option<String>,
    /// Whether another page follows (then `next_cursor` fetches it).
    #[serde(default)]
    #[schema(required = true)]
    pub has_more: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
// A misspelled amount must not read as "all of it": the server refuses
// fields a request does not take, and the schema says so.
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// Minor units; omitted, everything capturable (or the lines' total).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, example = 7_500)]
    pub amount_to_capture: Option<i64>,
    /// Written to the hold's event log.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500, example = "Broken lamp")]
    pub reason: Option<String>,
    /// Itemized damages; their total must equal `amount_to_capture` when both are sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<DamageLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaptureResponse {
    pub id: String,
    #[schema(value_type = crate::schema::HoldStatusName)]
    pub status: String,
    pub amount_captured: i64,
    /// What the processor released when it captured less than authorized.
    pub amount_released: i64,
    pub estimated_processing_fee: i64,
    pub processing_fee_note: String,
    #[schema(format = DateTime)]
    pub captured_at: String,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CancelResponse {
    pub id: String,
    #[schema(value_type = crate::schema::HoldStatusName)]
    pub status: String,
    #[schema(format = DateTime)]
    pub canceled_at: String,
    pub amount_released: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub kind: String,
    pub actor: Option<String>,
    #[schema(value_type = Option<crate::schema::HoldStatusName>)]
    pub from_status: Option<String>,
    #[schema(value_type = Option<crate::schema::HoldStatusName>)]
    pub to_status: Option<String>,
    pub amount: Option<i64>,
    pub reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    pub hold_id: String,
    pub events: Vec<EventView>,
    /// Whether more items exist than this answer holds.
    #[serde(default)]
    #[schema(required = true)]
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub service: String,
    pub version: String,
    pub store: ComponentHealth,
    pub processor: ComponentHealth,
    pub chittyid: ComponentHealth,
    /// The original's flags, kept for its monitors.
    pub stripe_connected: bool,
    pub chittyid_connected: bool,
    /// Registration in ChittyRegistry (`CHITTY_REGISTRY_URL`).
    pub registry: RegistryHealth,
}

/// Where registration in ChittyRegistry stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistryHealth {
    /// `not_configured`, `registering`, `retrying` (not registered yet, the
    /// registry unreachable), `registered`, or `unreachable` (registered,
    /// heartbeats failing).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_at: Option<String>,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl RegistryHealth {
    pub fn not_configured() -> Self {
        Self {
            status: "not_configured".into(),
            url: None,
            registered_at: None,
            last_heartbeat_at: None,
            consecutive_failures: 0,
            last_error: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComponentHealth {
    pub status: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_with_milliseconds() {
        assert_eq!(iso_millis(1_760_745_600_000), "2025-10-18T00:00:00.000Z");
    }
}

// ---- smaller request and response bodies --------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    pub payment_method: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CancelRequest {
    /// Stripe's own reasons are passed on; other text stays in the event log.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncrementRequest {
    /// The new total, in minor units.
    #[schema(minimum = 1, example = 30_000)]
    pub amount: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizeRequest {
    pub payment_method: Option<String>,
    pub confirm: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClaimRequest {
    pub damages: Vec<DamageLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationView {
    pub id: String,
    pub kind: String,
    /// pending, succeeded, failed or unknown.
    #[schema(value_type = crate::schema::OperationStatusName)]
    pub status: String,
    pub hold_id: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Unsettled operations the janitor has no attempts left for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationList {
    pub operations: Vec<OperationView>,
    /// Whether more items exist than this answer holds.
    #[serde(default)]
    #[schema(required = true)]
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResolveRequest {
    /// `reread` (default): apply what the processor shows; `release`: also
    /// release the hold at the processor if it is still open.
    pub action: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResolveResponse {
    pub operation: OperationView,
    pub hold: Option<HoldView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobCount {
    pub kind: String,
    pub status: String,
    pub count: i64,
    pub due: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobCounts {
    pub due: i64,
    pub running: i64,
    pub jobs: Vec<JobCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub hold_id: Option<String>,
    pub booking_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationView>,
    /// Whether more items exist than this answer holds.
    #[serde(default)]
    #[schema(required = true)]
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
}

mod disputes;
mod pages_and_simulator;
mod refunds;
mod rental;
pub use disputes::*;
pub use pages_and_simulator::*;
pub use refunds::*;
pub use rental::*;
pub mod schema;
