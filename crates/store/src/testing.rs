//! Builders shared by the crate's unit tests.

use chittycharge_domain::{Currency, GuestTier, Hold, HoldState, Money, Timestamp};

use crate::SqlStore;

/// A store on a fresh SQLite file (so the fast read path is on), removed
/// with its directory when dropped, even when the test fails.
pub(crate) struct TempStore {
    store: SqlStore,
    dir: std::path::PathBuf,
}

impl TempStore {
    pub(crate) async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("cc-store-unit-{}", uuid::Uuid::new_v4()));
        let store = SqlStore::connect(&format!("sqlite://{}/t.db", dir.display())).await.unwrap();
        Self { store, dir }
    }
}

impl std::ops::Deref for TempStore {
    type Target = SqlStore;
    fn deref(&self) -> &SqlStore {
        &self.store
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
