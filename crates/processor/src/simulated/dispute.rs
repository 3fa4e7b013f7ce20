//! Disputes on the simulated processor. A charge has at most one dispute,
//! so it lives inside its PaymentIntent (and is stored, compared and
//! replayed with it); its id names the intent, `dp_<intent>`.

use std::collections::BTreeMap;

use chittycharge_domain::dispute::DisputeStatus;
use chittycharge_domain::Timestamp;
use serde::{Deserialize, Serialize};

use super::intent::{SimIntent, SimStatus};
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

fn no_dispute(id: &str) -> ProcessorError {
    ProcessorError::NotFound { message: format!("No such dispute: '{}'", dispute_id(id)) }
}

impl SimIntent {
    /// The guest's bank opens a dispute of the captured charge.
    pub(super) fn open_dispute(&mut self, reason: &str, now: Timestamp) -> Result<(), ProcessorError> {
        if self.status != SimStatus::Succeeded {
            return Err(ProcessorError::InvalidState { message: "Only a captured charge can be disputed.".into() });
        }
        if self.dispute.is_some() {
            return Err(ProcessorError::InvalidState { message: "This charge is already disputed.".into() });
        }
        self.dispute = Some(SimDispute {
            reason: reason.to_string(),
            status: DisputeStatus::NeedsResponse.as_str().into(),
            due_by: now.millis().saturating_add(RESPONSE_WINDOW_MS),
            funds_withdrawn: true,
            submissions: 0,
            evidence: BTreeMap::new(),
        });
        Ok(())
    }

    /// The bank decides: won gives the funds back.
    pub(super) fn close_dispute(&mut self, won: bool) -> Result<(), ProcessorError> {
        let id = self.id.clone();
        let d = self.dispute.as_mut().ok_or_else(|| no_dispute(&id))?;
        d.status = if won { DisputeStatus::Won } else { DisputeStatus::Lost }.as_str().into();
        d.funds_withdrawn = !won;
        Ok(())
    }

    /// The operator's evidence, submitted: Stripe's checks, then under review.
    pub(super) fn submit_evidence(&mut self, evidence: &BTreeMap<String, String>) -> Result<(), ProcessorError> {
        let id = self.id.clone();
        let d = self.dispute.as_mut().ok_or_else(|| no_dispute(&id))?;
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

    pub(super) fn dispute_view(&self) -> Option<DisputeView> {
        let d = self.dispute.as_ref()?;
        Some(DisputeView {
            id: dispute_id(&self.id),
            payment_intent: Some(self.id.clone()),
            amount: self.amount_received,
            currency: self.currency.clone(),
            reason: d.reason.clone(),
            status: d.status.parse().ok()?,
            evidence_due_by: Some(Timestamp::from_millis(d.due_by)),
            funds_withdrawn: d.funds_withdrawn,
            submission_count: d.submissions,
            evidence: d.evidence.clone(),
        })
    }
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
