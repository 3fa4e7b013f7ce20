//! Who may use a tokenized card, as at Stripe: a PaymentMethod that is not
//! attached to a customer is used once, by one PaymentIntent; one attached
//! (by an intent with `setup_future_usage` for a customer) is that
//! customer's, for any of its intents. Stripe's test cards (`pm_card_visa`)
//! are not stored and stay reusable, as they are in test mode.

use serde::{Deserialize, Serialize};

use super::cards::{behavior_from_name, CardBehavior};
use super::intent::SimIntent;
use crate::ProcessorError;

/// A tokenized card as stored under `pm`.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredCard {
    pub(super) behavior: String,
    pub(super) last4: String,
    /// The intent that used it while it was attached to no customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) used_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) customer: Option<String>,
}

impl StoredCard {
    pub(super) fn new(behavior: &str, last4: &str) -> Self {
        Self { behavior: behavior.into(), last4: last4.into(), used_by: None, customer: None }
    }

    pub(super) fn behavior(&self) -> Option<CardBehavior> {
        behavior_from_name(&self.behavior)
    }

    /// The card after `pi` presented it, or Stripe's refusal when `pi` may
    /// not use it.
    pub(super) fn used_by(mut self, pi: &SimIntent) -> Result<Self, ProcessorError> {
        let allowed = match &self.customer {
            Some(c) => pi.customer.as_ref() == Some(c),
            None => self.used_by.as_ref().is_none_or(|u| *u == pi.id),
        };
        if !allowed {
            return Err(ProcessorError::InvalidRequest {
                code: None,
                param: Some("payment_method".into()),
                message: "The provided PaymentMethod was previously used with a PaymentIntent without Customer \
                          attachment, shared with a connected account without Customer attachment, or was detached \
                          from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must \
                          attach it to a Customer first."
                    .into(),
            });
        }
        if self.customer.is_none() {
            if pi.save_card && pi.customer.is_some() {
                self.customer.clone_from(&pi.customer);
            } else {
                self.used_by = Some(pi.id.clone());
            }
        }
        Ok(self)
    }
}

/// The tokenized card's new record once `pi`'s confirm reached it (an
/// authorization, a 3-D Secure step or a decline), or Stripe's refusal
/// when `pi` may not use it (saved.rs). Nothing for a test card, or for a
/// confirm the intent's state refused before any card was charged.
pub(super) fn presented(
    pm: &str,
    card: Option<(StoredCard, i64)>,
    pi: &SimIntent,
    outcome: &Result<(), ProcessorError>,
) -> Result<Option<(String, StoredCard, i64)>, ProcessorError> {
    let reached = matches!(outcome, Ok(()) | Err(ProcessorError::Declined { .. }));
    match card {
        Some((card, version)) if reached => Ok(Some((pm.to_string(), card.used_by(pi)?, version))),
        _ => Ok(None),
    }
}
