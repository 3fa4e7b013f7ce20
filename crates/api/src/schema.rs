//! Schema-only types: the values some string fields take, for the OpenAPI
//! document's enums. On the wire these fields stay plain strings (so a
//! client built for today's values still reads tomorrow's); the server's
//! tests check that each list equals the domain's own.

use serde::Serialize;
use utoipa::ToSchema;

/// An id the original accepted as a string or a number.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum StringOrNumber {
    String(String),
    Number(i64),
}

/// A hold's `status`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatusName {
    RequiresPaymentMethod,
    RequiresAction,
    RequiresCapture,
    Captured,
    Canceled,
    Expired,
    Failed,
}

/// A hold's guest `tier`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TierName {
    NewGuest,
    VerifiedGuest,
    PremiumProperty,
}

/// A booking's `status`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatusName {
    Booked,
    HoldPending,
    HoldActive,
    CheckedOut,
    Settled,
}

/// A processor operation's `status`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatusName {
    Pending,
    Succeeded,
    Failed,
    Unknown,
}
