//! ChittyCharge's use cases, with no HTTP in them: holds, bookings,
//! properties, automation, notifications, processor events, reconciliation.
//! Each follows one shape: check the caller, validate, load, check the
//! transition in the domain, write the operation record, call the processor
//! through `call_out` with the record's id as idempotency key, then persist
//! the outcome and its events in one transaction. The server's handlers are
//! thin adapters around these.

mod authz;
pub mod automation;
mod booking_ids;
pub mod bookings;
pub mod caller;
mod callout;
mod checkin;
mod checkout;
mod create;
mod deferred;
pub mod disputes;
mod error;
pub mod events;
pub mod evidence;
mod hints;
pub mod ids;
mod in_flight;
mod keyed;
mod notify;
mod operate;
pub mod operations;
pub mod properties;
mod reauth;
mod reconcile;
pub mod refunds;
pub mod reports;
pub mod sim_backend;
mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::sync::Arc;

use chittycharge_domain::{Currency, Hold, Timestamp};
use chittycharge_processor::{Clock, IdempotencyKey, Processor};
use chittycharge_store::{HoldEvent, HoldFilter, OpStatus, Operation, Store};

pub use create::{CreateHold, Created, RequestKey, OPERATION_METADATA_KEY};
pub use error::{CoreError, CoreResult};
pub use hints::HoldHints;
pub use in_flight::{request_key, InFlight};
pub use operate::{CaptureCommand, CaptureOutcome};
pub use operations::STUCK_SHOWN;
pub use sync::EventContext;

pub use caller::Caller;

pub struct HoldService {
    pub store: Arc<dyn Store>,
    pub processor: Arc<dyn Processor>,
    pub clock: Arc<dyn Clock>,
    pub default_currency: Currency,
    pub chitty: Arc<dyn ids::IdMinter>,
    pub automation: automation::Automation,
    /// Holds this process is calling the processor for (in_flight.rs).
    pub in_flight: Arc<InFlight>,
    /// The holds this process wrote last (hints.rs).
    pub hints: HoldHints,
}

pub(crate) fn new_operation_id() -> String {
    format!("op_{}", uuid::Uuid::new_v4().simple())
}

pub(crate) fn new_operation(
    kind: &str,
    hold_id: Option<&str>,
    request: serde_json::Value,
    now: Timestamp,
) -> Operation {
    Operation {
        id: new_operation_id(),
        hold_id: hold_id.map(str::to_string),
        kind: kind.to_string(),
        status: OpStatus::Pending,
        request,
        error: None,
        attempts: 0,
        next_attempt_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// The operation id doubles as the processor idempotency key, so a retry
/// of the same operation can never become a second charge.
pub(crate) fn key_for(op: &Operation) -> IdempotencyKey {
    IdempotencyKey::derived(&op.id)
}

impl HoldService {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A hold the caller may see, or 404 (also for other properties' holds,
    /// so a restricted token cannot probe for them).
    pub async fn visible_hold(&self, id: &str, caller: &Caller) -> CoreResult<Hold> {
        caller.require_read()?;
        let hold = self.store.get_hold(id).await?.ok_or(CoreError::NotFound)?;
        if !caller.sees_property(hold.property_id.as_deref()) {
            return Err(CoreError::NotFound);
        }
        Ok(hold)
    }

    /// Reads a hold, first settling an authorization that has passed its
    /// deadline so nobody is shown a capturable hold that is not.
    pub async fn get(&self, id: &str, caller: &Caller) -> CoreResult<Hold> {
        let hold = self.visible_hold(id, caller).await?;
        self.refresh_if_lapsed(hold).await
    }

    pub async fn by_chitty_id(&self, chitty_id: &str, caller: &Caller) -> CoreResult<Hold> {
        let hold = self.store.get_hold_by_chitty_id(chitty_id).await?.ok_or(CoreError::NotFound)?;
        self.get(&hold.id, caller).await
    }

    pub async fn list(&self, mut filter: HoldFilter, caller: &Caller) -> CoreResult<Vec<Hold>> {
        caller.require_read()?;
        filter.property_scope = caller.property_ids.clone();
        Ok(self.store.list_holds(&filter).await?)
    }

    pub async fn events(&self, id: &str, caller: &Caller) -> CoreResult<Vec<HoldEvent>> {
        let hold = self.visible_hold(id, caller).await?;
        Ok(self.store.hold_events(&hold.id).await?)
    }
}
