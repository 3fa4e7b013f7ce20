//! Builders shared by the crate's unit tests.

use chittycharge_domain::{Currency, GuestTier, Hold, HoldState, Money, Timestamp};

pub(crate) fn hold(id: &str, description: &str) -> Hold {
    Hold {
        id: id.into(),
        chitty_id: format!("CHITTY-{id}"),
        processor: "simulated".into(),
        client_secret: None,
        state: HoldState::new(),
        amount: Money::new(100, Currency::usd()).unwrap(),
        description: description.into(),
        customer_email: None,
        property_id: None,
        tenant_id: None,
        booking_id: None,
        tier: GuestTier::NewGuest,
        tier_reason: "default".into(),
        processing_fee: None,
        metadata: Default::default(),
        created_at: Timestamp::from_millis(0),
        updated_at: Timestamp::from_millis(0),
        created_by: None,
        version: 0,
        op_lock: None,
        expires_at: None,
        livemode: false,
    }
}
