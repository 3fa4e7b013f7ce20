//! Disputes on the simulated processor. A charge has at most one dispute,
//! so it lives inside its PaymentIntent (and is stored, compared and
//! replayed with it); its id names the intent, `dp_<intent>`.

use std::collections::BTreeMap;

use chittycharge_domain::dispute::DisputeStatus;
use chittycharge_domain::Timestamp;
use serde::{Deserialize, Serialize};

use crate::dispute::{DisputeView, EVIDENCE_FIELDS, EVIDENCE_TEXT_LIMIT};
use crate::ProcessorError;

/// Stripe gives the merchant about a week to answer a dispute.
const RESPONSE_WINDOW_MS: i64 = 7 * 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SimDispute {
    pub reason: String,
    pub status: String,
    pub due_by: i64,
    pub funds_withdrawn: bool,
    pub submissions: u32,
    pub evidence: BTreeMap<String, String>,
}

pub(crate) fn dispute_id(intent_id: &str) -> String {
    format!("dp_{}", intent_id.trim_start_matches("pi_"))
}

/// The intent a simulated dispute id names.
pub(crate) fn intent_of(dispute_id: &str) -> Result<String, ProcessorError> {
    dispute_id
        .strip_prefix("dp_")
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|t| format!("pi_{t}"))
        .ok_or_else(|| ProcessorError::NotFound { message: format!("No such dispute: '{dispute_id}'") })
}

/// No dispute on the intent `id`.
pub(crate) fn no_dispute(id: &str) -> ProcessorError {
    ProcessorError::NotFound { message: format!("No such dispute: '{}'", dispute_id(id)) }
}

/// The guest's bank opens a dispute of a captured charge (`captured`:
/// the charge's intent succeeded) in `slot`.
pub(crate) fn open(
    slot: &mut Option<SimDispute>,
    captured: bool,
    reason: &str,
    now: Timestamp,
) -> Result<(), ProcessorError> {
    if !captured {
        return Err(ProcessorError::InvalidState { message: "Only a captured charge can be disputed.".into() });
    }
    if slot.is_some() {
        return Err(ProcessorError::InvalidState { message: "This charge is already disputed.".into() });
    }
    *slot = Some(SimDispute {
        reason: reason.to_string(),
        status: DisputeStatus::NeedsResponse.as_str().into(),
        due_by: now.millis().saturating_add(RESPONSE_WINDOW_MS),
        funds_withdrawn: true,
        submissions: 0,
        evidence: BTreeMap::new(),
    });
    Ok(())
}

/// Whether a dispute keeps the charge from being refunded: while it is
/// undecided, and once lost (the money went back through the bank).
pub(crate) fn blocks_refunds(slot: Option<&SimDispute>) -> bool {
    slot.is_some_and(|d| d.status.parse::<DisputeStatus>().is_ok_and(|s| s.is_open() || s == DisputeStatus::Lost))
}

/// The bank decides, once: won gives the funds back.
pub(crate) fn close(slot: &mut Option<SimDispute>, intent_id: &str, won: bool) -> Result<(), ProcessorError> {
    let d = slot.as_mut().ok_or_else(|| no_dispute(intent_id))?;
    if !d.status.parse::<DisputeStatus>().is_ok_and(DisputeStatus::is_open) {
        return Err(ProcessorError::InvalidState { message: format!("This dispute is already {}.", d.status) });
    }
    d.status = if won { DisputeStatus::Won } else { DisputeStatus::Lost }.as_str().into();
    d.funds_withdrawn = !won;
    Ok(())
}

/// The operator's evidence, submitted: Stripe's checks, then under review.
pub(crate) fn submit(
    slot: &mut Option<SimDispute>,
    intent_id: &str,
    evidence: &BTreeMap<String, String>,
) -> Result<(), ProcessorError> {
    let d = slot.as_mut().ok_or_else(|| no_dispute(intent_id))?;
    let status: DisputeStatus = d.status.parse().map_err(|e: String| ProcessorError::Unavailable { message: e })?;
    if !status.needs_response() {
        return Err(ProcessorError::InvalidRequest {
            code: Some("dispute_already_submitted".into()),
            param: None,
            message: format!("This dispute is {status}: evidence can no longer be submitted."),
        });
    }
    if let Some(k) = evidence.keys().find(|k| !EVIDENCE_FIELDS.contains(&k.as_str())) {
        return Err(ProcessorError::InvalidRequest {
            code: Some("parameter_unknown".into()),
            param: Some(format!("evidence[{k}]")),
            message: format!("Received unknown parameter: evidence[{k}]"),
        });
    }
    if evidence.values().map(String::len).sum::<usize>() > EVIDENCE_TEXT_LIMIT {
        return Err(ProcessorError::InvalidRequest {
            code: Some("parameter_invalid_string".into()),
            param: Some("evidence".into()),
            message: "The evidence text fields exceed 150,000 characters in all.".into(),
        });
    }
    d.evidence.clone_from(evidence);
    d.submissions = d.submissions.saturating_add(1);
    d.status = if status == DisputeStatus::WarningNeedsResponse {
        DisputeStatus::WarningUnderReview
    } else {
        DisputeStatus::UnderReview
    }
    .as_str()
    .into();
    Ok(())
}

/// The dispute in `slot` as the processor reports it.
pub(crate) fn view(slot: Option<&SimDispute>, intent_id: &str, amount: i64, currency: &str) -> Option<DisputeView> {
    let d = slot?;
    Some(DisputeView {
        id: dispute_id(intent_id),
        payment_intent: Some(intent_id.to_string()),
        amount,
        currency: currency.to_string(),
        reason: d.reason.clone(),
        status: d.status.parse().ok()?,
        evidence_due_by: Some(Timestamp::from_millis(d.due_by)),
        funds_withdrawn: d.funds_withdrawn,
        submission_count: d.submissions,
        evidence: d.evidence.clone(),
    })
}

/// The events a change of `before`'s dispute to `after`'s sends.
pub(crate) fn dispute_events(before: Option<&SimDispute>, after: Option<&SimDispute>) -> Vec<&'static str> {
    match (before, after) {
        (None, Some(_)) => vec!["charge.dispute.created", "charge.dispute.funds_withdrawn"],
        (Some(b), Some(a)) if b.status != a.status => {
            let closed = matches!(a.status.as_str(), "won" | "lost" | "warning_closed");
            let mut out = vec![if closed { "charge.dispute.closed" } else { "charge.dispute.updated" }];
            if b.funds_withdrawn && !a.funds_withdrawn {
                out.push("charge.dispute.funds_reinstated");
            }
            out
        }
        (Some(b), Some(a)) if b != a => vec!["charge.dispute.updated"],
        _ => Vec::new(),
    }
}
