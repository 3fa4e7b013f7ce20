//! Records the store reads and writes besides holds.

use chittycharge_domain::{HoldStatus, Timestamp};

/// Something that happened to a hold, to be appended to its event log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewEvent {
    pub kind: String,
    pub actor: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub amount: Option<i64>,
    pub reason: Option<String>,
    pub data: Option<serde_json::Value>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HoldEvent {
    pub id: i64,
    pub hold_id: String,
    pub kind: String,
    pub actor: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub amount: Option<i64>,
    pub reason: Option<String>,
    pub data: Option<serde_json::Value>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    /// Recorded; the processor call is about to be made or is under way.
    Pending,
    Succeeded,
    /// The processor gave a definite refusal.
    Failed,
    /// The call may or may not have happened; the janitor must find out.
    Unknown,
}

impl OpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpStatus::Pending => "pending",
            OpStatus::Succeeded => "succeeded",
            OpStatus::Failed => "failed",
            OpStatus::Unknown => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [OpStatus::Pending, OpStatus::Succeeded, OpStatus::Failed, OpStatus::Unknown]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A mutating processor call, recorded before it is made. Its `id` is the
/// idempotency key sent to the processor, so a retry is the same request.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub id: String,
    pub hold_id: Option<String>,
    pub kind: String,
    pub status: OpStatus,
    pub request: serde_json::Value,
    pub error: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    pub scopes: Vec<String>,
    /// When set, the token may only act on these properties.
    pub property_ids: Option<Vec<String>>,
    /// Requests per minute; `None` uses the configured default.
    pub rate_limit: Option<i64>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldFilter {
    pub property_id: Option<String>,
    /// Only holds that name this booking id.
    pub booking_id: Option<String>,
    pub tenant_id: Option<String>,
    pub status: Option<HoldStatus>,
    /// Only holds on these properties (a property-restricted token).
    pub property_scope: Option<Vec<String>>,
    /// Keyset cursor: strictly older than this (created_at, id).
    pub before: Option<(Timestamp, String)>,
    /// Oldest first instead of newest first (reports read a period in
    /// order); then `after` is the cursor and `before` is not used.
    pub oldest_first: bool,
    /// Keyset cursor for `oldest_first`: strictly newer than this.
    pub after: Option<(Timestamp, String)>,
    /// Created at or after this instant.
    pub created_gte: Option<Timestamp>,
    /// Created strictly before this instant.
    pub created_lt: Option<Timestamp>,
    pub limit: i64,
}

/// What claiming an inbound event found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClaim {
    /// First delivery: process it.
    New,
    /// Seen before with another signature timestamp: a legitimate redelivery.
    Duplicate,
    /// Seen before with the same signature: the same bytes sent again.
    Replay,
}

/// What starting an idempotent request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemBegin {
    /// First use of the key: run the request, then finish or abandon it.
    Started,
    /// Already answered: replay this response.
    Replay { status: u16, body: String, content_type: String },
    /// The first request with this key is still running.
    InFlight,
    /// The key was used with a different request.
    Mismatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub id: String,
    pub name: String,
    pub premium: bool,
    pub currency: String,
    pub default_hold_amount: i64,
    pub claim_window_hours: i64,
    pub time_zone: String,
    /// Days before check-in that a scheduled hold is placed.
    pub hold_lead_days: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingFilter {
    pub property_id: Option<String>,
    pub tenant_id: Option<String>,
    pub status: Option<String>,
    pub property_scope: Option<Vec<String>>,
    pub limit: i64,
}

/// Damage claims made in a period, oldest first, for the claims report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimFilter {
    pub property_id: Option<String>,
    /// Only claims on these properties (a property-restricted token).
    pub property_scope: Option<Vec<String>>,
    pub created_gte: Option<Timestamp>,
    pub created_lt: Option<Timestamp>,
    /// Keyset cursor: strictly newer than this (created_at, id).
    pub after: Option<(Timestamp, String)>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DamageClaim {
    pub id: String,
    pub property_id: String,
    pub booking_id: String,
    pub hold_id: String,
    pub total: i64,
    pub currency: String,
    pub lines: serde_json::Value,
    pub created_by: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub hold_id: Option<String>,
    pub booking_id: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    /// Unique: scheduling the same key again is a no-op.
    pub key: String,
    pub hold_id: Option<String>,
    pub booking_id: Option<String>,
    pub payload: serde_json::Value,
    pub run_at: Timestamp,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    pub kind: String,
    pub status: String,
    pub count: i64,
    /// Queued jobs already due.
    pub due: i64,
}

/// Which earlier holds count toward a guest's history (see
/// [`crate::Store::count_clean_releases`]).
#[derive(Debug, Clone, Copy)]
pub struct CleanReleases<'a> {
    pub email: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub property_id: &'a str,
    pub currency: &'a str,
    /// Smallest released amount that counts, in the currency's minor units.
    pub min_amount: i64,
    /// Shortest time from placement to release that counts.
    pub min_age_ms: i64,
}
