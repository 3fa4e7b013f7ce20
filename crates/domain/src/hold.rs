//! The hold state machine.
//!
//! Each state is its own type, and a transition is a method that consumes the
//! state it leaves: only [`Authorized`] has `captured`, and the terminal
//! states ([`Captured`], [`Canceled`], [`Expired`], [`Failed`]) have no
//! transition methods at all. An illegal move such as "capture a canceled
//! hold" therefore cannot be written, not merely rejected at run time.
//!
//! [`HoldState::observe`] folds a processor snapshot into the state through the
//! same methods. It never moves a hold backwards or out of a terminal state,
//! which is what makes out-of-order and duplicate webhooks harmless.

use std::fmt;
use std::str::FromStr;

use crate::money::PositiveAmount;
use crate::time::Timestamp;

/// The persisted status tag of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldStatus {
    RequiresPaymentMethod,
    RequiresAction,
    RequiresCapture,
    Captured,
    Canceled,
    Expired,
    Failed,
}

impl HoldStatus {
    pub const ALL: [HoldStatus; 7] = [
        Self::RequiresPaymentMethod,
        Self::RequiresAction,
        Self::RequiresCapture,
        Self::Captured,
        Self::Canceled,
        Self::Expired,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresAction => "requires_action",
            Self::RequiresCapture => "requires_capture",
            Self::Captured => "captured",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        match self {
            Self::Captured | Self::Canceled | Self::Expired | Self::Failed => true,
            Self::RequiresPaymentMethod | Self::RequiresAction | Self::RequiresCapture => false,
        }
    }
}

impl FromStr for HoldStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| format!("unknown hold status '{s}'"))
    }
}

impl fmt::Display for HoldStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

mod view;
use view::processor_status_name;
pub use view::{IntentView, ProcessorStatus};
mod errors;
pub use errors::{CaptureError, CaptureRefused, IllegalTransition, RefundRefused};

// ---- the states -------------------------------------------------------------

/// Waiting for a card (or for a new card after a decline).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwaitingPaymentMethod {
    pub last_error: Option<String>,
}

/// Waiting for the guest to complete 3-D Secure or another action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingAction;

/// Funds are reserved and may be captured until `capture_before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    authorized: i64,
    capturable: i64,
    capture_before: Timestamp,
}

/// Captured in full or in part; any remainder was released by the processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    authorized: i64,
    captured: i64,
    captured_at: Timestamp,
    /// What the processor reports refunded of `captured`.
    refunded: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canceled {
    released: i64,
    pub reason: Option<String>,
    canceled_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    released: i64,
    expired_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub reason: String,
}

/// An authorization reported by the processor, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    authorized: i64,
    capturable: i64,
    capture_before: Timestamp,
}

impl Authorization {
    /// `capturable` must be positive and no more than `authorized`.
    pub fn new(authorized: i64, capturable: i64, capture_before: Timestamp) -> Option<Self> {
        (capturable > 0 && capturable <= authorized).then_some(Self { authorized, capturable, capture_before })
    }
}

impl AwaitingPaymentMethod {
    pub fn require_action(self) -> AwaitingAction {
        AwaitingAction
    }
    pub fn authorize(self, a: Authorization) -> Authorized {
        a.into()
    }
    pub fn decline(self, error: String) -> AwaitingPaymentMethod {
        AwaitingPaymentMethod { last_error: Some(error) }
    }
    pub fn cancel(self, reason: Option<String>, at: Timestamp) -> Canceled {
        Canceled { released: 0, reason, canceled_at: at }
    }
    pub fn fail(self, reason: String) -> Failed {
        Failed { reason }
    }
}

impl AwaitingAction {
    pub fn authorize(self, a: Authorization) -> Authorized {
        a.into()
    }
    pub fn decline(self, error: String) -> AwaitingPaymentMethod {
        AwaitingPaymentMethod { last_error: Some(error) }
    }
    pub fn cancel(self, reason: Option<String>, at: Timestamp) -> Canceled {
        Canceled { released: 0, reason, canceled_at: at }
    }
    pub fn fail(self, reason: String) -> Failed {
        Failed { reason }
    }
}

impl From<Authorization> for Authorized {
    fn from(a: Authorization) -> Self {
        Authorized { authorized: a.authorized, capturable: a.capturable, capture_before: a.capture_before }
    }
}

impl Authorized {
    pub fn authorized(&self) -> i64 {
        self.authorized
    }
    pub fn capturable(&self) -> i64 {
        self.capturable
    }
    pub fn capture_before(&self) -> Timestamp {
        self.capture_before
    }
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.capture_before
    }

    /// Checks a capture request before the processor is called and returns
    /// the amount to capture (`None` means all that is capturable, which an
    /// authorization keeps positive).
    pub fn check_capture(&self, requested: Option<PositiveAmount>, now: Timestamp) -> Result<i64, CaptureRefused> {
        if self.is_expired(now) {
            return Err(CaptureRefused::Expired { capture_before: self.capture_before });
        }
        let amount = requested.map_or(self.capturable, PositiveAmount::minor);
        if amount > self.capturable {
            return Err(CaptureRefused::ExceedsCapturable { requested: amount, capturable: self.capturable });
        }
        Ok(amount)
    }

    /// The processor captured `amount`. Without multicapture the processor
    /// releases the rest at once, so the hold is finished either way.
    pub fn captured(self, amount: i64, at: Timestamp) -> Result<Captured, CaptureError> {
        if amount <= 0 {
            return Err(CaptureError::NotPositive);
        }
        if amount > self.capturable {
            return Err(CaptureError::ExceedsCapturable { requested: amount, capturable: self.capturable });
        }
        Ok(Captured { authorized: self.authorized, captured: amount, captured_at: at, refunded: 0 })
    }

    /// An incremental authorization or processor refresh changed the amounts.
    pub fn reauthorized(self, a: Authorization) -> Authorized {
        a.into()
    }

    pub fn cancel(self, reason: Option<String>, at: Timestamp) -> Canceled {
        Canceled { released: self.capturable, reason, canceled_at: at }
    }

    pub fn expire(self, at: Timestamp) -> Expired {
        Expired { released: self.capturable, expired_at: at }
    }
}

impl Captured {
    pub fn authorized(&self) -> i64 {
        self.authorized
    }
    pub fn captured(&self) -> i64 {
        self.captured
    }
    /// The part of the authorization the processor let go of.
    pub fn released(&self) -> i64 {
        self.authorized - self.captured
    }
    pub fn captured_at(&self) -> Timestamp {
        self.captured_at
    }
}

/// How a release by re-authorization is recorded: the reason text, which
/// the event log and the API show, with the new hold's id.
const REPLACED_BY: &str = "re-authorized as ";

impl Canceled {
    /// Records that `new_hold` replaced this one (a re-authorization).
    pub fn replace_with(&mut self, new_hold: &str) {
        self.reason = Some(format!("{REPLACED_BY}{new_hold}"));
    }
    /// The hold that replaced this one, when a re-authorization released it.
    pub fn replaced_by(&self) -> Option<&str> {
        self.reason.as_deref()?.strip_prefix(REPLACED_BY)
    }
    pub fn released(&self) -> i64 {
        self.released
    }
    pub fn canceled_at(&self) -> Timestamp {
        self.canceled_at
    }
}

impl Expired {
    pub fn released(&self) -> i64 {
        self.released
    }
    pub fn expired_at(&self) -> Timestamp {
        self.expired_at
    }
}

// ---- the sum type -----------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldState {
    RequiresPaymentMethod(AwaitingPaymentMethod),
    RequiresAction(AwaitingAction),
    RequiresCapture(Authorized),
    Captured(Captured),
    Canceled(Canceled),
    Expired(Expired),
    Failed(Failed),
}

/// Amounts derived from a state, for display and storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HoldAmounts {
    pub capturable: i64,
    pub captured: i64,
    pub released: i64,
    /// Refunded of `captured`.
    pub refunded: i64,
}

impl HoldState {
    pub fn new() -> Self {
        HoldState::RequiresPaymentMethod(AwaitingPaymentMethod::default())
    }

    pub fn status(&self) -> HoldStatus {
        match self {
            HoldState::RequiresPaymentMethod(_) => HoldStatus::RequiresPaymentMethod,
            HoldState::RequiresAction(_) => HoldStatus::RequiresAction,
            HoldState::RequiresCapture(_) => HoldStatus::RequiresCapture,
            HoldState::Captured(_) => HoldStatus::Captured,
            HoldState::Canceled(_) => HoldStatus::Canceled,
            HoldState::Expired(_) => HoldStatus::Expired,
            HoldState::Failed(_) => HoldStatus::Failed,
        }
    }

    pub fn amounts(&self) -> HoldAmounts {
        match self {
            HoldState::RequiresPaymentMethod(_) | HoldState::RequiresAction(_) | HoldState::Failed(_) => {
                HoldAmounts::default()
            }
            HoldState::RequiresCapture(a) => HoldAmounts { capturable: a.capturable, ..HoldAmounts::default() },
            HoldState::Captured(c) => {
                HoldAmounts { capturable: 0, captured: c.captured, released: c.released(), refunded: c.refunded }
            }
            HoldState::Canceled(c) => HoldAmounts { released: c.released, ..HoldAmounts::default() },
            HoldState::Expired(e) => HoldAmounts { released: e.released, ..HoldAmounts::default() },
        }
    }

    pub fn capture_before(&self) -> Option<Timestamp> {
        match self {
            HoldState::RequiresCapture(a) => Some(a.capture_before),
            HoldState::RequiresPaymentMethod(_)
            | HoldState::RequiresAction(_)
            | HoldState::Captured(_)
            | HoldState::Canceled(_)
            | HoldState::Expired(_)
            | HoldState::Failed(_) => None,
        }
    }

    /// When the hold was captured, if it was.
    pub fn captured_at(&self) -> Option<Timestamp> {
        match self {
            HoldState::Captured(c) => Some(c.captured_at),
            HoldState::RequiresPaymentMethod(_)
            | HoldState::RequiresAction(_)
            | HoldState::RequiresCapture(_)
            | HoldState::Canceled(_)
            | HoldState::Expired(_)
            | HoldState::Failed(_) => None,
        }
    }

    /// When the hold was released without capture (canceled or expired).
    pub fn canceled_at(&self) -> Option<Timestamp> {
        match self {
            HoldState::Canceled(c) => Some(c.canceled_at),
            HoldState::Expired(e) => Some(e.expired_at),
            HoldState::RequiresPaymentMethod(_)
            | HoldState::RequiresAction(_)
            | HoldState::RequiresCapture(_)
            | HoldState::Captured(_)
            | HoldState::Failed(_) => None,
        }
    }

    /// The reason recorded with a cancel or failure, or the last decline.
    pub fn reason(&self) -> Option<&str> {
        match self {
            HoldState::RequiresPaymentMethod(s) => s.last_error.as_deref(),
            HoldState::Canceled(c) => c.reason.as_deref(),
            HoldState::Failed(f) => Some(&f.reason),
            HoldState::RequiresAction(_)
            | HoldState::RequiresCapture(_)
            | HoldState::Captured(_)
            | HoldState::Expired(_) => None,
        }
    }
}

impl Default for HoldState {
    fn default() -> Self {
        Self::new()
    }
}

mod observe;
mod refund;
mod stored;
pub use stored::StoredState;

#[cfg(test)]
mod tests;
