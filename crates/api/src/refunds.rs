//! Refunds of a hold's captured money.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::HoldView;

/// One refund: an operation of kind `refund`, as recorded before the
/// processor call and settled after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    /// The refund's operation id, also its idempotency key at the processor.
    pub id: String,
    pub hold_id: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    /// `pending` while under way, `succeeded`, `failed`, or `unknown` while
    /// the janitor finds out what the processor did.
    pub status: String,
    pub reason: Option<String>,
    /// The itemized lines sent with the refund, if any.
    #[schema(value_type = Option<Vec<Object>>)]
    pub lines: Option<serde_json::Value>,
    pub error: Option<String>,
    /// Who asked for it.
    pub actor: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundList {
    pub hold_id: String,
    pub refunds: Vec<RefundView>,
    /// Whether more items exist than this answer holds.
    #[serde(default)]
    #[schema(required = true)]
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundResponse {
    pub refund: RefundView,
    pub hold: HoldView,
}

/// `POST /api/holds/{id}/refunds`: an empty body refunds everything
/// captured and not yet refunded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
// A misspelled amount must not read as "all of it": the server refuses
// fields a request does not take, and the schema says so.
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Minor units; omit to refund the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, example = 4_000)]
    pub amount: Option<i64>,
    /// Stripe's `duplicate`, `fraudulent` or `requested_by_customer` go to
    /// Stripe too; any other text stays in our records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
    /// What is given back and why; must add up to `amount` when both come.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<crate::DamageLine>,
}
