//! Fixtures for unit tests here and in the server (feature `testing`).
#![expect(clippy::unwrap_used, reason = "fixtures with constant, valid values")]

use chittycharge_domain::hold::{Authorization, Authorized, AwaitingPaymentMethod};
use chittycharge_domain::{Currency, GuestTier, Hold, HoldState, Money, Timestamp};

/// A fixed "now": December 2026.
pub const T: i64 = 1_796_300_000_000;

pub fn hold(state: HoldState, currency: &str, amount: i64) -> Hold {
    Hold {
        id: "pi_1".into(),
        chitty_id: "CHITTY-1".into(),
        processor: "simulated".into(),
        client_secret: None,
        state,
        amount: Money::new(amount, Currency::parse(currency).unwrap()).unwrap(),
        description: "x".into(),
        customer_email: None,
        property_id: None,
        tenant_id: None,
        booking_id: None,
        tier: GuestTier::NewGuest,
        tier_reason: "default".into(),
        processing_fee: None,
        metadata: Default::default(),
        created_at: Timestamp::from_millis(T),
        updated_at: Timestamp::from_millis(T),
        created_by: None,
        version: 0,
        op_lock: None,
        expires_at: None,
        livemode: false,
    }
}

/// Authorized for the whole `amount`, capturable for 7 days from `T`.
pub fn authorized(amount: i64) -> Authorized {
    let a = Authorization::new(amount, amount, Timestamp::from_millis(T + 7 * 86_400_000)).unwrap();
    AwaitingPaymentMethod::default().authorize(a)
}
