//! Who may name a booking id. A booking managed here gets its holds only
//! through its own check-in, which keeps it to one live hold, so a plain
//! `POST /api/holds` naming it is refused, and a booking is refused while
//! plain holds (live, or still being placed) name its id.
//!
//! Each side writes before it checks, so of two racing requests at least one
//! sees the other, on any number of instances: a plain create its operation
//! record, a new booking a claim (an operation of kind [`BOOKING_CLAIM`]).
//! The booking row itself is written only once its check has passed: a
//! refused booking never exists, even for a moment, for a check-in to act on.

use chittycharge_domain::Booking;
use chittycharge_store::{OpStatus, Operation, StoreError};
use serde_json::json;

use crate::bookings::conflict;
use crate::caller::Caller;
use crate::create::{CreateHold, PendingCreate};
use crate::{CoreError, CoreResult, HoldService};

/// The operation kind of a booking being created.
pub(crate) const BOOKING_CLAIM: &str = "booking";

fn text<'a>(op: &'a Operation, key: &str) -> Option<&'a str> {
    op.request.get(key).and_then(|v| v.as_str())
}

impl HoldService {
    /// Writes `b` unless plain holds name its id: a claim first, then the
    /// check, then the booking, then the claim's outcome.
    pub(crate) async fn claim_booking_id(&self, b: &Booking, now: chittycharge_domain::Timestamp) -> CoreResult<()> {
        let claim =
            crate::new_operation(BOOKING_CLAIM, None, json!({ "property_id": b.property_id, "booking_id": b.id }), now);
        self.store.insert_operation(&claim).await?;
        let outcome = self.insert_unless_named(b).await;
        let (status, error) = match &outcome {
            Ok(()) => (OpStatus::Succeeded, None),
            Err(e) => (OpStatus::Failed, Some(e.to_string())),
        };
        // A claim left pending (a crash here) is settled by the janitor.
        self.store.finish_operation(&claim.id, status, error.as_deref(), now).await?;
        outcome
    }

    async fn insert_unless_named(&self, b: &Booking) -> CoreResult<()> {
        let named = self.holds_naming(&b.property_id, &b.id).await?;
        if !named.is_empty() {
            return Err(conflict(
                "holds_exist",
                format!(
                    "live holds already name booking '{}' at this property ({}): capture or release them first, \
                     or use another booking id",
                    b.id,
                    named.join(", ")
                ),
            ));
        }
        match self.store.insert_booking(b).await {
            Ok(()) => Ok(()),
            Err(StoreError::Duplicate(_)) => Err(conflict("exists", format!("booking '{}' already exists", b.id))),
            Err(e) => Err(e.into()),
        }
    }

    /// Live plain holds that name booking `id` at `property` or at no
    /// property, and creates that may still place one (by their operation
    /// ids): the holds a plain create naming the booking would be refused
    /// for once it exists. Creates are read first: one that settles between
    /// the two reads has inserted its hold by then.
    async fn holds_naming(&self, property: &str, id: &str) -> CoreResult<Vec<String>> {
        let here = |p: Option<&str>| p.is_none_or(|p| p == property);
        let mut named: Vec<String> = self
            .store
            .unsettled_operations("create")
            .await?
            .into_iter()
            .filter(|op| {
                serde_json::from_value::<PendingCreate>(op.request.clone())
                    .is_ok_and(|p| p.hold.booking_id.as_deref() == Some(id) && here(p.hold.property_id.as_deref()))
            })
            .map(|op| op.id)
            .collect();
        // Any property's, filtered here: the filter has no "no property".
        // A page of 200 holds naming one booking id is far past any real use.
        let holds = self
            .store
            .list_holds(&chittycharge_store::HoldFilter {
                booking_id: Some(id.to_string()),
                limit: 200,
                ..Default::default()
            })
            .await?;
        named.extend(
            holds
                .into_iter()
                .filter(|h| here(h.property_id.as_deref()) && !h.state.status().is_terminal())
                .map(|h| h.id),
        );
        Ok(named)
    }

    /// A plain create naming a booking managed here (or one being created)
    /// is refused. Asked before and again after the create's operation
    /// record is written.
    pub(crate) async fn refuse_managed_booking(&self, cmd: &CreateHold, caller: &Caller) -> CoreResult<()> {
        let (Some(booking_id), None) = (&cmd.booking_id, &cmd.operation_id) else { return Ok(()) };
        let at = |p: Option<&str>| match &cmd.property_id {
            Some(mine) => p == Some(mine.as_str()),
            None => caller.sees_property(p),
        };
        // Claims first, then bookings: a booking is written while its claim
        // is open and the claim is settled after, so a claim settled before
        // the second read left a booking that read sees. In the other order
        // the booking read can come just before the insert and the claim
        // read just after the settle, and both miss it (red-team round 4).
        let being_created = self
            .store
            .unsettled_operations(BOOKING_CLAIM)
            .await?
            .iter()
            .any(|op| text(op, "booking_id") == Some(booking_id.as_str()) && at(text(op, "property_id")));
        let managed = being_created
            || match &cmd.property_id {
                Some(p) => self.store.get_booking(p, booking_id).await?.is_some(),
                None => !self.store.find_bookings(booking_id, caller.property_ids.as_deref()).await?.is_empty(),
            };
        if managed {
            return Err(CoreError::validation(
                "booking_id",
                format!("booking '{booking_id}' is managed here: place its hold with POST /api/bookings/{booking_id}/authorize"),
            ));
        }
        Ok(())
    }

    /// The janitor's answer for a claim its request left pending: it
    /// succeeded if the booking was written.
    pub(crate) async fn settle_booking_claim(&self, op: &Operation) -> CoreResult<OpStatus> {
        let (Some(p), Some(id)) = (text(op, "property_id"), text(op, "booking_id")) else {
            self.store.finish_operation(&op.id, OpStatus::Failed, Some("unreadable claim"), self.now()).await?;
            return Ok(OpStatus::Failed);
        };
        let status =
            if self.store.get_booking(p, id).await?.is_some() { OpStatus::Succeeded } else { OpStatus::Failed };
        self.store.finish_operation(&op.id, status, None, self.now()).await?;
        Ok(status)
    }
}
