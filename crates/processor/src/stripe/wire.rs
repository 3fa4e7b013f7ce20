//! Stripe's JSON, as far as ChittyCharge reads it. These types stay in the
//! adapter; everything leaves it as domain types.

use std::collections::BTreeMap;

use chittycharge_domain::hold::{IntentView, ProcessorStatus};
use chittycharge_domain::Timestamp;
use serde::Deserialize;

use crate::{Intent, ProcessorError};

#[derive(Debug, Deserialize)]
pub struct WireIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_capturable: Option<i64>,
    #[serde(default)]
    pub amount_received: Option<i64>,
    pub currency: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub last_payment_error: Option<WireError>,
    #[serde(default)]
    pub latest_charge: Option<ChargeRef>,
    #[serde(default)]
    pub payment_method: Option<serde_json::Value>,
}

/// `latest_charge` is an id unless expanded.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ChargeRef {
    Id(String),
    Object(Box<WireCharge>),
}

#[derive(Debug, Deserialize)]
pub struct WireCharge {
    #[serde(default)]
    pub payment_method_details: Option<PaymentMethodDetails>,
    #[serde(default)]
    pub amount_refunded: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct PaymentMethodDetails {
    #[serde(default)]
    pub card: Option<CardDetails>,
}

#[derive(Debug, Deserialize)]
pub struct CardDetails {
    #[serde(default)]
    pub capture_before: Option<i64>,
    #[serde(default)]
    pub incremental_authorization: Option<IncrementalAuthorization>,
}

/// `payment_method_details.card.incremental_authorization` of a charge.
#[derive(Debug, Deserialize)]
pub struct IncrementalAuthorization {
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct WireError {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorEnvelope {
    pub error: WireError,
}

#[derive(Debug, Deserialize)]
pub struct WireList {
    pub data: Vec<serde_json::Value>,
    #[serde(default)]
    pub has_more: bool,
}

fn status(s: &str) -> Result<ProcessorStatus, ProcessorError> {
    Ok(match s {
        "requires_payment_method" => ProcessorStatus::RequiresPaymentMethod,
        "requires_confirmation" => ProcessorStatus::RequiresConfirmation,
        "requires_action" => ProcessorStatus::RequiresAction,
        "processing" => ProcessorStatus::Processing,
        "requires_capture" => ProcessorStatus::RequiresCapture,
        "succeeded" => ProcessorStatus::Succeeded,
        "canceled" => ProcessorStatus::Canceled,
        other => {
            return Err(ProcessorError::Unavailable { message: format!("unknown PaymentIntent status '{other}'") })
        }
    })
}

impl WireIntent {
    pub fn into_intent(self) -> Result<Intent, ProcessorError> {
        let st = status(&self.status)?;
        let card = match &self.latest_charge {
            Some(ChargeRef::Object(c)) => c.payment_method_details.as_ref().and_then(|d| d.card.as_ref()),
            _ => None,
        };
        let capture_before = card.and_then(|c| c.capture_before);
        // Only a captured charge's refunds are refunds: an expired
        // authorization reports its whole amount "refunded".
        let amount_refunded = match &self.latest_charge {
            Some(ChargeRef::Object(c)) if st == ProcessorStatus::Succeeded => Some(c.amount_refunded.unwrap_or(0)),
            _ => None,
        };
        let incremental_available = card
            .and_then(|c| c.incremental_authorization.as_ref())
            .and_then(|i| i.status.as_deref())
            .map(|s| s == "available");
        // Older emulators omit these; infer them from the status.
        let capturable =
            self.amount_capturable.unwrap_or(if st == ProcessorStatus::RequiresCapture { self.amount } else { 0 });
        let received = self.amount_received.unwrap_or(if st == ProcessorStatus::Succeeded { self.amount } else { 0 });
        let decline = self.last_payment_error.as_ref().and_then(|e| e.decline_code.clone().or_else(|| e.code.clone()));
        let metadata = self
            .metadata
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, s)
            })
            .collect();
        Ok(Intent {
            id: self.id,
            client_secret: self.client_secret,
            currency: self.currency,
            created: Timestamp::from_secs(self.created),
            view: IntentView {
                status: st,
                amount: self.amount,
                amount_capturable: capturable,
                amount_received: received,
                amount_refunded,
                capture_before: capture_before.map(Timestamp::from_secs),
                // `automatic` in older API versions, `expired` in newer ones.
                canceled_by_expiry: matches!(self.cancellation_reason.as_deref(), Some("automatic" | "expired")),
                last_error: decline.clone(),
            },
            metadata,
            last_decline: decline,
            cancellation_reason: self.cancellation_reason,
            livemode: self.livemode,
            incremental_available,
            dispute: None,
            payment_method: match self.payment_method {
                Some(serde_json::Value::String(s)) => Some(s),
                Some(serde_json::Value::Object(o)) => o.get("id").and_then(|v| v.as_str()).map(str::to_string),
                _ => None,
            },
            captures: u32::from(received > 0),
        })
    }
}

/// Maps a definite Stripe error response.
/// Whether an error body is Stripe's `code=rate_limit`.
pub fn is_rate_limit(body: &str) -> bool {
    serde_json::from_str::<ErrorEnvelope>(body).is_ok_and(|e| e.error.code.as_deref() == Some("rate_limit"))
}

pub fn map_error(status: u16, body: &str) -> ProcessorError {
    let err = serde_json::from_str::<ErrorEnvelope>(body).map(|e| e.error).unwrap_or_default();
    let message = err.message.clone().unwrap_or_else(|| format!("Stripe answered HTTP {status}"));
    let intent_id = err.payment_intent.as_ref().and_then(|p| p.get("id")).and_then(|v| v.as_str()).map(str::to_string);
    if status == 402 || err.kind.as_deref() == Some("card_error") {
        return ProcessorError::Declined {
            code: err.code.unwrap_or_else(|| "card_declined".into()),
            decline_code: err.decline_code,
            message,
            intent_id,
        };
    }
    // A 5xx came after Stripe had the request: it may have taken effect,
    // whatever `Stripe-Should-Retry` advised about retrying it.
    if status >= 500 {
        return ProcessorError::Unavailable { message: format!("Stripe answered HTTP {status}: {message}") };
    }
    if err.kind.as_deref() == Some("idempotency_error") {
        return ProcessorError::IdempotencyConflict { message };
    }
    match (status, err.code.as_deref()) {
        (401 | 403, _) => ProcessorError::Misconfigured { message },
        (404, _) | (_, Some("resource_missing")) if err.param.as_deref() != Some("payment_method") => {
            ProcessorError::NotFound { message }
        }
        (_, Some("payment_intent_unexpected_state")) => ProcessorError::InvalidState { message },
        _ => ProcessorError::InvalidRequest { code: err.code, param: err.param, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_rate_limit_answer_is_recognised() {
        assert!(is_rate_limit(
            r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#
        ));
        assert!(!is_rate_limit(r#"{"error":{"type":"invalid_request_error","code":"parameter_missing"}}"#));
    }

    #[test]
    fn server_errors_are_unknown_outcomes_whatever_stripe_advises() {
        let body = r#"{"error":{"type":"api_error","message":"An unknown error occurred"}}"#;
        assert!(map_error(500, body).is_unknown_outcome());
        assert!(map_error(503, "").is_unknown_outcome());
        assert!(!map_error(400, r#"{"error":{"type":"invalid_request_error","message":"bad"}}"#).is_unknown_outcome());
    }

    #[test]
    fn card_errors_map_to_declines_with_their_code() {
        let body = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","payment_intent":{"id":"pi_1"}}}"#;
        assert_eq!(
            map_error(402, body),
            ProcessorError::Declined {
                code: "card_declined".into(),
                decline_code: Some("insufficient_funds".into()),
                message: "Your card has insufficient funds.".into(),
                intent_id: Some("pi_1".into())
            }
        );
    }

    #[test]
    fn stripe_error_codes_map_to_our_classes() {
        assert!(matches!(
            map_error(404, r#"{"error":{"code":"resource_missing","message":"No such payment_intent: 'pi_x'"}}"#),
            ProcessorError::NotFound { .. }
        ));
        assert!(matches!(
            map_error(400, r#"{"error":{"code":"payment_intent_unexpected_state","message":"..."}}"#),
            ProcessorError::InvalidState { .. }
        ));
        assert!(matches!(
            map_error(400, r#"{"error":{"type":"idempotency_error","message":"..."}}"#),
            ProcessorError::IdempotencyConflict { .. }
        ));
        assert!(matches!(
            map_error(401, r#"{"error":{"message":"Invalid API Key"}}"#),
            ProcessorError::Misconfigured { .. }
        ));
        assert!(matches!(
            map_error(400, r#"{"error":{"code":"amount_too_large","param":"amount_to_capture","message":"..."}}"#),
            ProcessorError::InvalidRequest { code: Some(ref c), .. } if c == "amount_too_large"
        ));
        assert!(matches!(map_error(400, "not json"), ProcessorError::InvalidRequest { .. }));
    }

    #[test]
    fn capture_before_is_read_from_the_expanded_latest_charge() {
        let body = r#"{"id":"pi_1","status":"requires_capture","amount":5000,"amount_capturable":5000,"currency":"usd","created":1700000000,
            "latest_charge":{"id":"ch_1","payment_method_details":{"card":{"capture_before":1700604800}}},"metadata":{"chitty_id":"C-1"}}"#;
        let pi: WireIntent = serde_json::from_str(body).unwrap();
        let intent = pi.into_intent().unwrap();
        assert_eq!(intent.view.capture_before, Some(Timestamp::from_secs(1_700_604_800)));
        assert_eq!(intent.metadata.get("chitty_id").map(String::as_str), Some("C-1"));
        let unexpanded: WireIntent = serde_json::from_str(
            r#"{"id":"pi_1","status":"succeeded","amount":5000,"currency":"usd","latest_charge":"ch_1"}"#,
        )
        .unwrap();
        let i = unexpanded.into_intent().unwrap();
        assert_eq!((i.view.capture_before, i.view.amount_received), (None, 5000));
    }

    #[test]
    fn incremental_availability_is_read_from_the_card_details() {
        let with = |status: &str| {
            let body = format!(
                r#"{{"id":"pi_1","status":"requires_capture","amount":5000,"currency":"usd",
                "latest_charge":{{"id":"ch_1","payment_method_details":{{"card":{{"incremental_authorization":{{"status":"{status}"}}}}}}}}}}"#
            );
            serde_json::from_str::<WireIntent>(&body).unwrap().into_intent().unwrap().incremental_available
        };
        assert_eq!(with("available"), Some(true));
        assert_eq!(with("unavailable"), Some(false));
        let bare: WireIntent =
            serde_json::from_str(r#"{"id":"pi_1","status":"requires_capture","amount":5000,"currency":"usd"}"#)
                .unwrap();
        assert_eq!(bare.into_intent().unwrap().incremental_available, None);
    }

    #[test]
    fn a_lapsed_authorization_is_recognised_under_either_cancellation_reason() {
        for reason in ["automatic", "expired"] {
            let body = format!(
                r#"{{"id":"pi_1","status":"canceled","amount":5000,"currency":"usd","cancellation_reason":"{reason}"}}"#
            );
            let pi: WireIntent = serde_json::from_str(&body).unwrap();
            assert!(pi.into_intent().unwrap().view.canceled_by_expiry, "{reason}");
        }
        let pi: WireIntent = serde_json::from_str(
            r#"{"id":"pi_1","status":"canceled","amount":5000,"currency":"usd","cancellation_reason":"requested_by_customer"}"#,
        )
        .unwrap();
        assert!(!pi.into_intent().unwrap().view.canceled_by_expiry);
    }

    #[test]
    fn livemode_is_read_from_the_payment_intent_and_absent_means_test_mode() {
        let live: WireIntent = serde_json::from_str(
            r#"{"id":"pi_1","status":"requires_capture","amount":5000,"currency":"usd","livemode":true}"#,
        )
        .unwrap();
        assert!(live.into_intent().unwrap().livemode);
        let bare: WireIntent =
            serde_json::from_str(r#"{"id":"pi_1","status":"requires_capture","amount":5000,"currency":"usd"}"#)
                .unwrap();
        assert!(!bare.into_intent().unwrap().livemode);
    }
}
