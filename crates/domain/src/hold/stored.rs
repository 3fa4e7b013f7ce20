//! Rebuilding a hold's state from its stored columns.

use super::{
    Authorized, AwaitingAction, AwaitingPaymentMethod, Canceled, Captured, Expired, Failed, HoldState, HoldStatus,
};
use crate::time::Timestamp;

/// Rebuilds a state from stored columns. Storage is the only caller; it
/// keeps the amounts that the typed constructors would otherwise guard.
#[derive(Debug, Clone, Default)]
pub struct StoredState {
    pub status: Option<HoldStatus>,
    pub amount: i64,
    pub capturable: i64,
    pub captured: i64,
    pub released: i64,
    pub refunded: i64,
    pub capture_before: Option<Timestamp>,
    pub captured_at: Option<Timestamp>,
    pub canceled_at: Option<Timestamp>,
    pub reason: Option<String>,
    pub last_error: Option<String>,
}

impl StoredState {
    pub fn into_state(self) -> HoldState {
        let at = self.canceled_at.or(self.captured_at).unwrap_or(Timestamp(0));
        match self.status.unwrap_or(HoldStatus::RequiresPaymentMethod) {
            HoldStatus::RequiresPaymentMethod => {
                HoldState::RequiresPaymentMethod(AwaitingPaymentMethod { last_error: self.last_error })
            }
            HoldStatus::RequiresAction => HoldState::RequiresAction(AwaitingAction),
            HoldStatus::RequiresCapture => HoldState::RequiresCapture(Authorized {
                authorized: self.amount,
                capturable: self.capturable.min(self.amount),
                capture_before: self.capture_before.unwrap_or(Timestamp(0)),
            }),
            HoldStatus::Captured => HoldState::Captured(Captured {
                authorized: self.amount,
                captured: self.captured.min(self.amount),
                captured_at: self.captured_at.unwrap_or(at),
                refunded: self.refunded.clamp(0, self.captured.min(self.amount)),
            }),
            HoldStatus::Canceled => {
                HoldState::Canceled(Canceled { released: self.released, reason: self.reason, canceled_at: at })
            }
            HoldStatus::Expired => HoldState::Expired(Expired { released: self.released, expired_at: at }),
            HoldStatus::Failed => HoldState::Failed(Failed { reason: self.reason.unwrap_or_default() }),
        }
    }
}
