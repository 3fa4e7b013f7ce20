//! Folding a processor snapshot into a hold's state.

use super::{
    processor_status_name, Authorization, Authorized, HoldState, HoldStatus, IllegalTransition, IntentView,
    ProcessorStatus,
};
use crate::time::Timestamp;

impl HoldState {
    /// Folds a processor snapshot into the state. Moves forward through the
    /// typed transitions, keeps the state when nothing changed, and refuses
    /// to go backwards or to leave a terminal state.
    pub fn observe(
        self,
        v: &IntentView,
        at: Timestamp,
        default_capture_before: Timestamp,
    ) -> Result<HoldState, IllegalTransition> {
        use ProcessorStatus as P;
        let from = self.status();
        let illegal = |to: &'static str| IllegalTransition { from, to };
        let auth = || {
            Authorization::new(v.amount, v.amount_capturable, v.capture_before.unwrap_or(default_capture_before))
                .ok_or(illegal("requires_capture (nothing capturable)"))
        };
        match self {
            HoldState::RequiresPaymentMethod(s) => match v.status {
                P::RequiresPaymentMethod | P::RequiresConfirmation | P::Processing => Ok(match &v.last_error {
                    Some(e) => HoldState::RequiresPaymentMethod(s.decline(e.clone())),
                    None => HoldState::RequiresPaymentMethod(s),
                }),
                P::RequiresAction => Ok(HoldState::RequiresAction(s.require_action())),
                P::RequiresCapture => Ok(HoldState::RequiresCapture(s.authorize(auth()?))),
                P::Succeeded => captured_from(s.authorize(auth_for_succeeded(v, default_capture_before)), v, at),
                P::Canceled => Ok(HoldState::Canceled(s.cancel(None, at))),
            },
            HoldState::RequiresAction(s) => match v.status {
                P::RequiresAction | P::RequiresConfirmation | P::Processing => Ok(HoldState::RequiresAction(s)),
                P::RequiresPaymentMethod => Ok(HoldState::RequiresPaymentMethod(
                    s.decline(v.last_error.clone().unwrap_or_else(|| "authentication_failed".into())),
                )),
                P::RequiresCapture => Ok(HoldState::RequiresCapture(s.authorize(auth()?))),
                P::Succeeded => captured_from(s.authorize(auth_for_succeeded(v, default_capture_before)), v, at),
                P::Canceled => Ok(HoldState::Canceled(s.cancel(None, at))),
            },
            HoldState::RequiresCapture(a) => match v.status {
                P::RequiresCapture => match Authorization::new(
                    v.amount,
                    v.amount_capturable,
                    v.capture_before.unwrap_or(a.capture_before),
                ) {
                    Some(new) => Ok(HoldState::RequiresCapture(a.reauthorized(new))),
                    None => Ok(HoldState::RequiresCapture(a)),
                },
                P::Succeeded => captured_from(a, v, at),
                P::Canceled if v.canceled_by_expiry => Ok(HoldState::Expired(a.expire(at))),
                P::Canceled => Ok(HoldState::Canceled(a.cancel(None, at))),
                P::RequiresPaymentMethod | P::RequiresConfirmation | P::RequiresAction | P::Processing => {
                    Err(illegal("an earlier pre-authorization state"))
                }
            },
            HoldState::Captured(c) => match v.status {
                P::Succeeded => Ok(HoldState::Captured(c.with_refunded(v.amount_refunded))),
                other => Err(illegal(processor_status_name(other))),
            },
            HoldState::Canceled(c) => match v.status {
                P::Canceled => Ok(HoldState::Canceled(c)),
                other => Err(illegal(processor_status_name(other))),
            },
            HoldState::Expired(e) => match v.status {
                P::Canceled => Ok(HoldState::Expired(e)),
                other => Err(illegal(processor_status_name(other))),
            },
            HoldState::Failed(f) => match v.status {
                P::Canceled | P::RequiresPaymentMethod => Ok(HoldState::Failed(f)),
                other => Err(illegal(processor_status_name(other))),
            },
        }
    }
}

/// A PaymentIntent seen only after capture: the authorization was at least
/// what was received.
fn auth_for_succeeded(v: &IntentView, default_capture_before: Timestamp) -> Authorization {
    let authorized = v.amount.max(v.amount_received).max(1);
    Authorization {
        authorized,
        capturable: authorized,
        capture_before: v.capture_before.unwrap_or(default_capture_before),
    }
}

fn captured_from(a: Authorized, v: &IntentView, at: Timestamp) -> Result<HoldState, IllegalTransition> {
    let from = HoldStatus::RequiresCapture;
    a.captured(v.amount_received, at)
        .map(|c| HoldState::Captured(c.with_refunded(v.amount_refunded)))
        .map_err(|_| IllegalTransition { from, to: "captured (amount outside the authorization)" })
}
