//! Properties, bookings, check-in and check-out bodies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyRequest {
    pub id: String,
    /// Required for a new property. On an update, every field left out
    /// keeps its current value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub premium: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_hold_amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_window_hours: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Days before check-in that a scheduled hold is placed (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_lead_days: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PropertyView {
    pub id: String,
    pub name: String,
    pub premium: bool,
    pub currency: String,
    pub default_hold_amount: i64,
    pub claim_window_hours: i64,
    pub time_zone: String,
    pub hold_lead_days: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PropertyList {
    pub properties: Vec<PropertyView>,
    /// Whether more items exist than this answer holds.
    #[serde(default)]
    #[schema(required = true)]
    pub has_more: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingRequest {
    pub id: String,
    pub property_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    pub guest_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_email: Option<String>,
    /// `YYYY-MM-DD`, local to the property.
    #[schema(format = Date, example = "2026-12-24")]
    pub check_in: String,
    #[schema(format = Date, example = "2026-12-28")]
    pub check_out: String,
    /// A saved card for off-session holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClaimView {
    pub id: String,
    pub total: i64,
    pub currency: String,
    #[schema(value_type = Vec<Object>)]
    pub lines: serde_json::Value,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BookingView {
    pub id: String,
    pub property_id: String,
    pub tenant_id: Option<String>,
    pub guest_name: String,
    pub guest_email: Option<String>,
    #[schema(format = Date, example = "2026-12-24")]
    pub check_in: String,
    #[schema(format = Date, example = "2026-12-28")]
    pub check_out: String,
    #[schema(value_type = crate::schema::BookingStatusName)]
    pub status: String,
    pub hold_id: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub checked_out_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub claim_window_ends_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub settled_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[serde(default)]
    pub claims: Vec<ClaimView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BookingList {
    pub bookings: Vec<BookingView>,
    /// Whether more items exist than this answer holds.
    #[serde(default)]
    #[schema(required = true)]
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizeResponse {
    pub hold_id: String,
    pub client_secret: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub checkin_url: String,
    pub disclosure: String,
    #[schema(value_type = crate::schema::HoldStatusName)]
    pub status: String,
    #[schema(value_type = crate::schema::BookingStatusName)]
    pub booking_status: String,
    #[schema(value_type = crate::schema::TierName)]
    pub tier: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DamageLine {
    /// Minor units (the seeds' example used dollars; this API never does).
    #[schema(minimum = 1, example = 5_000)]
    pub amount: i64,
    #[schema(min_length = 1, example = "Broken lamp")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence_urls: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
// A misspelled amount must not read as "all of it": the server refuses
// fields a request does not take, and the schema says so.
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damages: Vec<DamageLine>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub defer_release: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckoutResponse {
    pub message: String,
    pub hold_released: bool,
    #[serde(default)]
    pub amount_charged: Option<i64>,
    #[serde(default)]
    pub claim_id: Option<String>,
    #[serde(default)]
    pub amount_released: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub claim_window_ends_at: Option<String>,
}
