//! One simulated PaymentIntent and Stripe's rules for it.

use std::collections::BTreeMap;

use chittycharge_domain::hold::{IntentView, ProcessorStatus};
use chittycharge_domain::time::{DEFAULT_HOLD_DAYS, SECS_PER_DAY};
use chittycharge_domain::Timestamp;
use serde::{Deserialize, Serialize};

use super::cards::{allows_incremental, CardBehavior};
use super::dispute;
use crate::{CreateIntent, Intent, ProcessorError};

/// 4 days 18 hours.
pub(super) const MIT_HOLD_SECS: i64 = 4 * SECS_PER_DAY + 18 * 3_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SimStatus {
    RequiresPaymentMethod,
    RequiresAction,
    RequiresCapture,
    Succeeded,
    Canceled,
}

impl SimStatus {
    fn wire(self) -> &'static str {
        match self {
            SimStatus::RequiresPaymentMethod => "requires_payment_method",
            SimStatus::RequiresAction => "requires_action",
            SimStatus::RequiresCapture => "requires_capture",
            SimStatus::Succeeded => "succeeded",
            SimStatus::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SimIntent {
    pub id: String,
    pub client_secret: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub receipt_email: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub status: SimStatus,
    pub amount_capturable: i64,
    pub amount_received: i64,
    pub capture_before: Option<i64>,
    pub created: i64,
    pub payment_method: Option<String>,
    pub last_decline: Option<String>,
    pub cancellation_reason: Option<String>,
    pub captures: u32,
    #[serde(default)]
    pub increments: u32,
    /// Refunded of `amount_received`.
    #[serde(default)]
    pub amount_refunded: i64,
    /// The charge's dispute, once the guest's bank opens one.
    #[serde(default)]
    pub dispute: Option<dispute::SimDispute>,
    #[serde(default)]
    pub off_session: bool,
    /// Incremental authorization was requested (every simulated card but
    /// `pm_card_unionpay` supports it when asked).
    #[serde(default)]
    pub incremental: bool,
    /// The processor's customer the intent is for.
    #[serde(default)]
    pub customer: Option<String>,
    /// `setup_future_usage=off_session`: the card it is confirmed with is
    /// attached to `customer`, for later off-session holds.
    #[serde(default)]
    pub save_card: bool,
}

fn unexpected_state(verb: &str, status: SimStatus) -> ProcessorError {
    ProcessorError::InvalidState {
        message: format!("This PaymentIntent could not be {verb} because it has a status of {}.", status.wire()),
    }
}

impl SimIntent {
    pub(super) fn new(id: &str, client_secret: String, req: &CreateIntent, now: Timestamp) -> Self {
        SimIntent {
            id: id.to_string(),
            client_secret,
            amount: req.amount,
            currency: req.currency.clone(),
            description: req.description.clone(),
            receipt_email: req.receipt_email.clone(),
            metadata: req.metadata.clone(),
            status: SimStatus::RequiresPaymentMethod,
            amount_capturable: 0,
            amount_received: 0,
            capture_before: None,
            created: now.secs(),
            payment_method: None,
            last_decline: None,
            cancellation_reason: None,
            captures: 0,
            increments: 0,
            amount_refunded: 0,
            dispute: None,
            off_session: req.off_session,
            incremental: req.incremental,
            customer: req.customer.clone(),
            save_card: req.save_for_off_session,
        }
    }

    fn authorize(&mut self, now: Timestamp) {
        self.status = SimStatus::RequiresCapture;
        self.amount_capturable = self.amount;
        // A merchant-initiated (off-session) Visa authorization lives 4 d 18 h
        // on Stripe; a customer-initiated one 7 days.
        let life = if self.off_session { MIT_HOLD_SECS } else { DEFAULT_HOLD_DAYS * SECS_PER_DAY };
        self.capture_before = Some(now.plus_secs(life).millis());
        self.last_decline = None;
    }

    pub(super) fn confirm(&mut self, pm: &str, behavior: CardBehavior, now: Timestamp) -> Result<(), ProcessorError> {
        if self.status != SimStatus::RequiresPaymentMethod {
            return Err(unexpected_state("confirmed", self.status));
        }
        self.payment_method = Some(pm.to_string());
        match behavior {
            CardBehavior::Authorize => {
                self.authorize(now);
                Ok(())
            }
            CardBehavior::RequireAction => {
                self.status = SimStatus::RequiresAction;
                Ok(())
            }
            CardBehavior::Decline { decline_code, message } => {
                self.last_decline = Some(decline_code.to_string());
                Err(ProcessorError::Declined {
                    code: "card_declined".into(),
                    decline_code: Some(decline_code.into()),
                    message: message.into(),
                    intent_id: Some(self.id.clone()),
                })
            }
        }
    }

    pub(super) fn authenticate(&mut self, success: bool, now: Timestamp) -> Result<(), ProcessorError> {
        if self.status != SimStatus::RequiresAction {
            return Err(unexpected_state("authenticated", self.status));
        }
        if success {
            self.authorize(now);
        } else {
            self.status = SimStatus::RequiresPaymentMethod;
            self.last_decline = Some("payment_intent_authentication_failure".into());
        }
        Ok(())
    }

    pub(super) fn capture(&mut self, amount: Option<i64>, now: Timestamp) -> Result<(), ProcessorError> {
        if self.status != SimStatus::RequiresCapture {
            return Err(unexpected_state("captured", self.status));
        }
        let amount = amount.unwrap_or(self.amount_capturable);
        if amount > self.amount_capturable {
            return Err(ProcessorError::InvalidRequest {
                code: Some("amount_too_large".into()),
                param: Some("amount_to_capture".into()),
                message: format!(
                    "The amount to capture ({amount}) is greater than the amount capturable ({}).",
                    self.amount_capturable
                ),
            });
        }
        if amount <= 0 {
            return Err(ProcessorError::InvalidRequest {
                code: Some("parameter_invalid_integer".into()),
                param: Some("amount_to_capture".into()),
                message: "amount_to_capture must be a positive integer.".into(),
            });
        }
        let _ = now;
        self.status = SimStatus::Succeeded;
        self.amount_received = amount;
        self.amount_capturable = 0;
        self.captures += 1;
        Ok(())
    }

    /// Stripe's incremental authorization: a new, larger total, only while
    /// capturable, at most ten attempts.
    pub(super) fn increment(&mut self, new_total: i64) -> Result<(), ProcessorError> {
        if self.status != SimStatus::RequiresCapture {
            return Err(unexpected_state("incremented", self.status));
        }
        if !self.incremental || !allows_incremental(self.payment_method.as_deref()) {
            return Err(ProcessorError::InvalidRequest {
                code: Some("incremental_authorization_unavailable".into()),
                param: None,
                message: "Incremental authorization was not requested for this PaymentIntent.".into(),
            });
        }
        if self.increments >= 10 {
            return Err(ProcessorError::InvalidRequest {
                code: Some("incremental_authorization_limit".into()),
                param: None,
                message: "This PaymentIntent has reached the limit of 10 incremental authorizations.".into(),
            });
        }
        if new_total <= self.amount {
            return Err(ProcessorError::InvalidRequest {
                code: Some("parameter_invalid_integer".into()),
                param: Some("amount".into()),
                message: "The new amount must be greater than the current amount.".into(),
            });
        }
        self.increments += 1;
        self.amount = new_total;
        self.amount_capturable = new_total;
        Ok(())
    }

    pub(super) fn cancel(&mut self, reason: Option<String>, _now: Timestamp) -> Result<(), ProcessorError> {
        match self.status {
            SimStatus::RequiresPaymentMethod | SimStatus::RequiresAction | SimStatus::RequiresCapture => {
                self.status = SimStatus::Canceled;
                self.amount_capturable = 0;
                self.cancellation_reason = reason;
                Ok(())
            }
            SimStatus::Succeeded | SimStatus::Canceled => Err(ProcessorError::InvalidState {
                message: format!(
                    "You cannot cancel this PaymentIntent because it has a status of {}.",
                    self.status.wire()
                ),
            }),
        }
    }

    /// A refund of captured money, checked as Stripe checks it.
    pub(super) fn refund(&mut self, amount: i64) -> Result<(), ProcessorError> {
        if dispute::blocks_refunds(self.dispute.as_ref()) {
            return Err(ProcessorError::InvalidRequest {
                code: Some("charge_disputed".into()),
                param: None,
                message: format!("Charge for {} has been disputed; it cannot be refunded.", self.id),
            });
        }
        if self.status != SimStatus::Succeeded {
            return Err(ProcessorError::InvalidRequest {
                code: Some("charge_not_refundable".into()),
                param: None,
                message: "This charge has not been captured: cancel the PaymentIntent to release it.".into(),
            });
        }
        let left = self.amount_received - self.amount_refunded;
        if left <= 0 {
            return Err(ProcessorError::InvalidRequest {
                code: Some("charge_already_refunded".into()),
                param: None,
                message: format!("Charge for {} has already been refunded.", self.id),
            });
        }
        if amount <= 0 || amount > left {
            return Err(ProcessorError::InvalidRequest {
                code: Some("amount_too_large".into()),
                param: Some("amount".into()),
                message: format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"),
            });
        }
        self.amount_refunded += amount;
        Ok(())
    }

    /// The guest's bank disputes the captured charge.
    pub(super) fn open_dispute(&mut self, reason: &str, now: Timestamp) -> Result<(), ProcessorError> {
        dispute::open(&mut self.dispute, self.status == SimStatus::Succeeded, reason, now)
    }
    pub(super) fn close_dispute(&mut self, won: bool) -> Result<(), ProcessorError> {
        dispute::close(&mut self.dispute, &self.id, won)
    }
    pub(super) fn submit_evidence(&mut self, evidence: &BTreeMap<String, String>) -> Result<(), ProcessorError> {
        dispute::submit(&mut self.dispute, &self.id, evidence)
    }
    pub(super) fn dispute_view(&self) -> Option<crate::DisputeView> {
        dispute::view(self.dispute.as_ref(), &self.id, self.amount_received, &self.currency)
    }

    /// Stripe cancels an uncaptured authorization when it lapses.
    pub(super) fn expire_if_due(&mut self, now: Timestamp) {
        if self.status == SimStatus::RequiresCapture && self.capture_before.is_some_and(|cb| now.millis() >= cb) {
            self.status = SimStatus::Canceled;
            self.amount_capturable = 0;
            self.cancellation_reason = Some("automatic".into());
        }
    }

    /// A Stripe-shaped event about this intent (or its charge).
    /// The event announcing `kind`, made by the request with `key` if it
    /// had one (Stripe's `request.idempotency_key`).
    pub(super) fn event(&self, kind: &str, now: Timestamp, event_id: &str, key: Option<&str>) -> serde_json::Value {
        let object = if kind.starts_with("charge.dispute.") {
            let d = self.dispute_view();
            serde_json::json!({
                "id": dispute::dispute_id(&self.id),
                "object": "dispute",
                "payment_intent": self.id,
                "charge": format!("ch_{}", self.id.trim_start_matches("pi_")),
                "amount": self.amount_received,
                "currency": self.currency,
                "status": d.as_ref().map(|d| d.status.as_str()),
                "reason": d.as_ref().map(|d| d.reason.clone()),
            })
        } else if kind.starts_with("charge.") {
            serde_json::json!({
                "id": format!("ch_{}", self.id.trim_start_matches("pi_")),
                "object": "charge",
                "payment_intent": self.id,
                "amount": self.amount,
                "amount_captured": self.amount_received,
                "amount_refunded": self.amount_refunded,
            })
        } else {
            serde_json::json!({
                "id": self.id,
                "object": "payment_intent",
                "status": self.status.wire(),
                "amount": self.amount,
                "amount_capturable": self.amount_capturable,
                "amount_received": self.amount_received,
                "metadata": self.metadata,
            })
        };
        serde_json::json!({
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": now.secs(),
            "livemode": false,
            "data": { "object": object },
            "request": { "id": serde_json::Value::Null, "idempotency_key": key },
        })
    }

    pub(super) fn to_intent(&self) -> Intent {
        let status = match self.status {
            SimStatus::RequiresPaymentMethod => ProcessorStatus::RequiresPaymentMethod,
            SimStatus::RequiresAction => ProcessorStatus::RequiresAction,
            SimStatus::RequiresCapture => ProcessorStatus::RequiresCapture,
            SimStatus::Succeeded => ProcessorStatus::Succeeded,
            SimStatus::Canceled => ProcessorStatus::Canceled,
        };
        Intent {
            id: self.id.clone(),
            client_secret: Some(self.client_secret.clone()),
            currency: self.currency.clone(),
            created: Timestamp::from_secs(self.created),
            view: IntentView {
                status,
                amount: self.amount,
                amount_capturable: self.amount_capturable,
                amount_received: self.amount_received,
                amount_refunded: (self.status == SimStatus::Succeeded).then_some(self.amount_refunded),
                capture_before: self.capture_before.map(Timestamp::from_millis),
                canceled_by_expiry: self.cancellation_reason.as_deref() == Some("automatic"),
                last_error: self.last_decline.clone(),
            },
            metadata: self.metadata.clone(),
            last_decline: self.last_decline.clone(),
            cancellation_reason: self.cancellation_reason.clone(),
            livemode: false,
            incremental_available: matches!(self.status, SimStatus::RequiresCapture | SimStatus::Succeeded)
                .then_some(self.incremental && allows_incremental(self.payment_method.as_deref())),
            payment_method: self.payment_method.clone(),
            captures: self.captures,
            dispute: self.dispute_view(),
        }
    }
}

/// The events Stripe sends for a change from `before` to `after`.
pub(crate) fn events_between(before: Option<&SimIntent>, after: &SimIntent, declined: bool) -> Vec<&'static str> {
    let prev = before.map(|b| b.status);
    let mut out = dispute::dispute_events(before.and_then(|b| b.dispute.as_ref()), after.dispute.as_ref());
    if declined {
        out.push("payment_intent.payment_failed");
    }
    if prev == Some(after.status) {
        if before.is_some_and(|b| b.amount != after.amount) {
            out.push("payment_intent.amount_capturable_updated");
        }
        if before.is_some_and(|b| b.amount_refunded != after.amount_refunded) {
            out.push("charge.refunded");
        }
        return out;
    }
    match after.status {
        SimStatus::RequiresCapture => out.push("payment_intent.amount_capturable_updated"),
        SimStatus::RequiresAction => out.push("payment_intent.requires_action"),
        SimStatus::RequiresPaymentMethod if prev == Some(SimStatus::RequiresAction) => {
            out.push("payment_intent.payment_failed")
        }
        SimStatus::RequiresPaymentMethod => {}
        SimStatus::Succeeded => {
            out.push("payment_intent.succeeded");
            out.push("charge.captured");
        }
        SimStatus::Canceled => {
            if after.cancellation_reason.as_deref() == Some("automatic") {
                out.push("charge.expired");
            }
            out.push("payment_intent.canceled");
        }
    }
    out
}
