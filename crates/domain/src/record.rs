//! The stored hold: its state plus the facts the operator recorded.

use std::collections::BTreeMap;

use crate::hold::HoldState;
use crate::money::Money;
use crate::tier::GuestTier;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The processor's PaymentIntent id (`pi_…`), which is also our hold id,
    /// so the original's consumers keep working with the ids they stored.
    pub id: String,
    pub chitty_id: String,
    pub processor: String,
    pub client_secret: Option<String>,
    pub state: HoldState,
    pub amount: Money,
    pub description: String,
    pub customer_email: Option<String>,
    pub property_id: Option<String>,
    pub tenant_id: Option<String>,
    pub booking_id: Option<String>,
    pub tier: GuestTier,
    pub tier_reason: String,
    pub processing_fee: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by: Option<String>,
    /// Bumped on every write; writers compare-and-set on it.
    pub version: i64,
    /// The operation currently talking to the processor about this hold.
    pub op_lock: Option<String>,
    /// When the authorization lapses (`capture_before`), once known.
    pub expires_at: Option<Timestamp>,
    /// Whether the processor placed it with a live key (real money), as
    /// its PaymentIntent says; false for test mode and the simulator.
    pub livemode: bool,
}

/// A stay at a property, as the operator books it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// The operator's own booking id.
    pub id: String,
    pub property_id: String,
    pub tenant_id: Option<String>,
    pub guest_name: String,
    pub guest_email: Option<String>,
    /// Local dates at the property, `YYYY-MM-DD`.
    pub check_in: String,
    pub check_out: String,
    pub state: crate::booking::BookingState,
    /// A card saved for off-session holds (re-authorization, scheduled placement).
    pub saved_payment_method: Option<String>,
    /// The processor's customer that the saved card belongs to.
    pub processor_customer: Option<String>,
    /// How many holds this booking has placed; the next hold's processor
    /// idempotency key is derived from it, so parallel check-ins place one.
    pub hold_generation: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}
