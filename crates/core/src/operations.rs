//! Operations a person must settle: the ones whose outcome stayed unknown
//! through the janitor's whole schedule. `chittycharge operations stuck`
//! lists them; `… resolve ID` re-reads the processor and applies what it
//! finds, or, on the operator's word, also releases the hold.

use chittycharge_domain::HoldStatus;
use chittycharge_store::{NewEvent, OpStatus, Operation};

use super::{CoreError, CoreResult, HoldService};
use crate::caller::Caller;

/// What the operator asks `resolve` to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Read the processor and apply what it shows.
    Reread,
    /// As `Reread`, then release the hold at the processor if it is still open.
    Release,
}

/// A pending operation this old belongs to a process that died mid-call.
pub const STALE_PENDING_MS: i64 = 120_000;

/// How many stuck operations one listing shows.
pub const STUCK_SHOWN: usize = 500;

impl std::str::FromStr for Resolution {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reread" => Ok(Self::Reread),
            "release" => Ok(Self::Release),
            other => Err(format!("unknown action '{other}'; expected reread or release")),
        }
    }
}

pub struct Resolved {
    pub operation: Operation,
    pub hold: Option<chittycharge_domain::Hold>,
}

impl HoldService {
    /// An operation the caller may act on: its hold's property must be the
    /// caller's; one without a hold needs an unrestricted admin.
    async fn admin_operation(&self, id: &str, caller: &Caller) -> CoreResult<Operation> {
        caller.require_admin("Settling operations")?;
        let op = self.store.get_operation(id).await?.ok_or(CoreError::NotFound)?;
        match &op.hold_id {
            Some(h) => {
                self.visible_hold(h, caller).await?;
            }
            None if caller.property_ids.is_some() => return Err(CoreError::NotFound),
            None => {}
        }
        Ok(op)
    }

    /// Unsettled operations with no janitor attempts left, oldest first, at
    /// most [`STUCK_SHOWN`].
    pub async fn stuck_operations(&self, caller: &Caller, schedule_len: usize) -> CoreResult<Vec<Operation>> {
        caller.require_admin("Listing stuck operations")?;
        let min_attempts = i64::try_from(schedule_len).unwrap_or(i64::MAX - 1) + 1;
        let stale = self.now().plus_millis(-STALE_PENDING_MS);
        let mut out = Vec::new();
        for op in self.store.stuck_operations(min_attempts, stale, i64::try_from(STUCK_SHOWN).unwrap_or(500)).await? {
            let visible = match &op.hold_id {
                Some(h) => {
                    self.store.get_hold(h).await?.is_some_and(|h| caller.sees_property(h.property_id.as_deref()))
                }
                None => caller.property_ids.is_none(),
            };
            if visible {
                out.push(op);
            }
        }
        Ok(out)
    }

    pub async fn resolve_operation(&self, id: &str, action: Resolution, caller: &Caller) -> CoreResult<Resolved> {
        let op = self.admin_operation(id, caller).await?;
        if !matches!(op.status, OpStatus::Unknown | OpStatus::Pending) {
            return Err(CoreError::InvalidState {
                status: op.status.as_str().into(),
                message: format!("operation {id} is already settled ({})", op.status.as_str()),
            });
        }
        // One resolution at a time: the same compare-and-set the janitor uses.
        let now = self.now();
        if !self.store.claim_operation(&op, now.plus_secs(300), now).await? {
            return Err(CoreError::Busy);
        }
        let status = self.settle_from_processor(&op, &caller.actor()).await?;
        if status == OpStatus::Unknown {
            return Err(CoreError::OutcomeUnknown { operation_id: op.id.clone(), hold_id: op.hold_id.clone() });
        }
        let settled = self.store.get_operation(id).await?.ok_or(CoreError::NotFound)?;
        let hold_id = settled.hold_id.clone();
        if let Some(h) = &hold_id {
            let ev = NewEvent {
                kind: "operation_resolved".into(),
                actor: Some(caller.actor()),
                reason: Some(format!("{} {} resolved by an operator: {}", op.kind, op.id, settled.status.as_str())),
                data: Some(
                    serde_json::json!({ "operation_id": op.id, "action": format!("{action:?}").to_lowercase() }),
                ),
                at: self.now(),
                ..NewEvent::default()
            };
            self.store.append_event(h, &ev).await?;
        }
        let mut hold = match &hold_id {
            Some(h) => self.store.get_hold(h).await?,
            None => None,
        };
        if action == Resolution::Release {
            if let Some(h) = hold.as_ref().filter(|h| {
                matches!(
                    h.state.status(),
                    HoldStatus::RequiresPaymentMethod | HoldStatus::RequiresAction | HoldStatus::RequiresCapture
                )
            }) {
                let reason = format!("released by an operator resolving {}", op.id);
                hold = Some(self.cancel(&h.id.clone(), Some(reason), caller).await?);
            }
        }
        Ok(Resolved { operation: settled, hold })
    }
}
