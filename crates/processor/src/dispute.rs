//! Disputes as the processor reports them, and the evidence fields Stripe
//! accepts (`evidence[…]` on `POST /v1/disputes/{id}`).

use std::collections::BTreeMap;

use chittycharge_domain::dispute::DisputeStatus;
use chittycharge_domain::Timestamp;
use serde::Deserialize;

use crate::ProcessorError;

/// A dispute, processor-neutral.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DisputeView {
    pub id: String,
    /// The disputed charge's PaymentIntent (our hold id).
    pub payment_intent: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    #[serde(with = "status_name")]
    pub status: DisputeStatus,
    pub evidence_due_by: Option<Timestamp>,
    pub funds_withdrawn: bool,
    /// How many times evidence was submitted.
    pub submission_count: u32,
    /// The evidence fields as the processor holds them.
    pub evidence: BTreeMap<String, String>,
}

mod status_name {
    use chittycharge_domain::dispute::DisputeStatus;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(s: &DisputeStatus, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.as_str())
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<DisputeStatus, D::Error> {
        let s = String::deserialize(de)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Stripe's text evidence fields this service fills (the file fields,
/// such as `receipt`, need uploads it does not make).
pub const EVIDENCE_FIELDS: [&str; 8] = [
    "access_activity_log",
    "billing_address",
    "customer_email_address",
    "customer_name",
    "product_description",
    "refund_policy_disclosure",
    "service_date",
    "uncategorized_text",
];

/// Stripe's limit on the evidence text fields, summed (150,000 characters).
pub const EVIDENCE_TEXT_LIMIT: usize = 150_000;

#[derive(Debug, Deserialize)]
struct WireDispute {
    id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    reason: String,
    status: String,
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    evidence_details: Option<WireEvidenceDetails>,
    #[serde(default)]
    balance_transactions: Vec<serde_json::Value>,
    #[serde(default)]
    evidence: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct WireEvidenceDetails {
    due_by: Option<i64>,
    #[serde(default)]
    submission_count: u32,
}

/// A Stripe dispute object.
pub fn parse_stripe_dispute(text: &str) -> Result<DisputeView, ProcessorError> {
    let w: WireDispute = serde_json::from_str(text)
        .map_err(|e| ProcessorError::Unavailable { message: format!("unreadable dispute from Stripe: {e}") })?;
    let status = w
        .status
        .parse()
        .map_err(|e: String| ProcessorError::Unavailable { message: format!("dispute {}: {e}", w.id) })?;
    let details = w.evidence_details;
    Ok(DisputeView {
        id: w.id,
        payment_intent: w.payment_intent,
        amount: w.amount,
        currency: w.currency,
        reason: w.reason,
        status,
        evidence_due_by: details.as_ref().and_then(|d| d.due_by).map(Timestamp::from_secs),
        // A balance transaction is the money leaving (and a second one, it
        // coming back): withdrawn while their count is odd.
        funds_withdrawn: w.balance_transactions.len() % 2 == 1,
        submission_count: details.map_or(0, |d| d.submission_count),
        evidence: w.evidence.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string()))).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stripe_dispute_is_read_with_its_due_date_and_withdrawn_funds() {
        let d = parse_stripe_dispute(
            r#"{"id":"dp_1","object":"dispute","amount":5000,"currency":"usd","reason":"fraudulent","status":"needs_response",
                "payment_intent":"pi_1","charge":"ch_1","evidence_details":{"due_by":1767225600,"submission_count":0,"has_evidence":false},
                "balance_transactions":[{"id":"txn_1"}],"evidence":{"uncategorized_text":null,"service_date":"2026-12-01"}}"#,
        )
        .unwrap();
        assert_eq!(
            (d.status, d.amount, d.payment_intent.as_deref()),
            (DisputeStatus::NeedsResponse, 5000, Some("pi_1"))
        );
        assert_eq!(d.evidence_due_by, Some(Timestamp::from_secs(1_767_225_600)));
        assert!(d.funds_withdrawn);
        assert_eq!(d.evidence.get("service_date").map(String::as_str), Some("2026-12-01"));
        assert!(!d.evidence.contains_key("uncategorized_text"));
        assert!(
            parse_stripe_dispute(r#"{"id":"dp_2","amount":1,"currency":"usd","status":"charge_refunded"}"#).is_err()
        );
    }
}
