//! Disputes of captured holds.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A dispute as the processor last reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DisputeRecord {
    /// The processor's dispute id.
    pub id: String,
    pub hold_id: String,
    pub property_id: Option<String>,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    /// The bank's reason (`fraudulent`, `product_not_received`, …).
    pub reason: String,
    /// Stripe's status: `warning_needs_response`, `warning_under_review`,
    /// `warning_closed`, `needs_response`, `under_review`, `won`, `lost`.
    pub status: String,
    /// Not decided yet.
    pub open: bool,
    /// Evidence may still be submitted.
    pub needs_response: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub evidence_due_by: Option<String>,
    pub funds_withdrawn: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub submitted_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DisputeList {
    pub disputes: Vec<DisputeRecord>,
    /// Whether more items exist than this answer holds.
    #[serde(default)]
    #[schema(required = true)]
    pub has_more: bool,
}
