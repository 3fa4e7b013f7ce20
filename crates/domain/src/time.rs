//! Instants as integer milliseconds since the Unix epoch.
//!
//! The domain never reads the wall clock itself: callers pass `now`, which is
//! what lets tests (and the simulated processor) drive time explicitly.

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn from_secs(s: i64) -> Self {
        Self(s.saturating_mul(1000))
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub const fn plus_secs(self, s: i64) -> Self {
        Self(self.0.saturating_add(s.saturating_mul(1000)))
    }
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

/// RFC 3339 in UTC with milliseconds (`2026-12-08T06:00:00.000Z`), how
/// instants appear on the wire and in emails; empty when out of range.
pub fn iso_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Days a card-not-present, customer-initiated authorization lives on Stripe.
pub const DEFAULT_HOLD_DAYS: i64 = 7;
pub const SECS_PER_DAY: i64 = 86_400;
