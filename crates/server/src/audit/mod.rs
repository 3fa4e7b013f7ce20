//! `chittycharge audit`: compares every stored hold with the processor's
//! PaymentIntent, and finds PaymentIntents of ours that have no hold.

use std::collections::HashSet;

use chittycharge_domain::hold::ProcessorStatus;
use chittycharge_domain::{Hold, HoldStatus};
use chittycharge_processor::{Intent, Processor};
use chittycharge_store::{HoldFilter, OpStatus, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// One more hold compared with its PaymentIntent.
    Hold,
    /// Every hold done; now listing the processor's PaymentIntents for orphans.
    ListingIntents,
}

pub struct AuditReport {
    pub holds_checked: usize,
    pub intents_seen: usize,
    pub discrepancies: Vec<String>,
}

fn expected_processor_status(status: HoldStatus) -> &'static [ProcessorStatus] {
    match status {
        HoldStatus::RequiresPaymentMethod => {
            &[ProcessorStatus::RequiresPaymentMethod, ProcessorStatus::RequiresConfirmation]
        }
        HoldStatus::RequiresAction => &[ProcessorStatus::RequiresAction],
        HoldStatus::RequiresCapture => &[ProcessorStatus::RequiresCapture],
        HoldStatus::Captured => &[ProcessorStatus::Succeeded],
        HoldStatus::Canceled | HoldStatus::Expired | HoldStatus::Failed => &[ProcessorStatus::Canceled],
    }
}

fn compare(hold: &Hold, pi: &Intent, out: &mut Vec<String>) {
    let id = &hold.id;
    let status = hold.state.status();
    if !expected_processor_status(status).contains(&pi.view.status) {
        out.push(format!("{id}: status {status} here, {:?} at the processor", pi.view.status));
    }
    if hold.amount.minor() != pi.view.amount {
        out.push(format!("{id}: amount {} here, {} at the processor", hold.amount.minor(), pi.view.amount));
    }
    let a = hold.state.amounts();
    if a.capturable != pi.view.amount_capturable {
        out.push(format!(
            "{id}: amount_capturable {} here, {} at the processor",
            a.capturable, pi.view.amount_capturable
        ));
    }
    if a.captured != pi.view.amount_received {
        out.push(format!("{id}: amount_received {} here, {} at the processor", a.captured, pi.view.amount_received));
    }
    // A refund made in the processor's Dashboard whose webhook never came.
    if let Some(refunded) = pi.view.amount_refunded.filter(|r| *r != a.refunded) {
        out.push(format!("{id}: amount_refunded {} here, {refunded} at the processor", a.refunded));
    }
    if pi.metadata.get("chitty_id") != Some(&hold.chitty_id) {
        out.push(format!(
            "{id}: chitty_id {} here, {:?} in the processor's metadata",
            hold.chitty_id,
            pi.metadata.get("chitty_id")
        ));
    }
}

mod seams;

/// `lock_limit_ms`: how long the janitor's whole schedule takes; a hold locked
/// longer than that is stuck.
/// `progress` hears each phase and each hold checked (the CLI draws a
/// progress line on a terminal).
pub async fn audit(
    store: &dyn Store,
    processor: &dyn Processor,
    lock_limit_ms: i64,
    progress: &(dyn Fn(Progress) + Sync),
) -> anyhow::Result<AuditReport> {
    let mut discrepancies = Vec::new();
    let mut seams = seams::Seams::default();
    let now_ms = chittycharge_processor::Clock::now(&chittycharge_processor::SystemClock).millis();
    let mut ours = HashSet::new();
    let mut before = None;
    loop {
        let page =
            store.list_holds(&HoldFilter { limit: 500, before: before.clone(), ..HoldFilter::default() }).await?;
        for hold in &page {
            ours.insert(hold.id.clone());
            progress(Progress::Hold);
            seams.check(store, hold, now_ms, lock_limit_ms).await?;
            match processor.retrieve(&hold.id).await {
                Ok(pi) => compare(hold, &pi, &mut discrepancies),
                Err(e) => discrepancies.push(format!("{}: cannot read the PaymentIntent: {e}", hold.id)),
            }
        }
        match page.last() {
            Some(last) if page.len() == 500 => before = Some((last.created_at, last.id.clone())),
            _ => break,
        }
    }
    progress(Progress::ListingIntents);
    let intents = processor.list_by_source("chittycharge").await?;
    for pi in &intents {
        if !ours.contains(&pi.id) {
            discrepancies.push(format!("{}: PaymentIntent with source=chittycharge has no hold (orphan)", pi.id));
        }
    }
    discrepancies.extend(seams.finish());
    for status in [OpStatus::Unknown, OpStatus::Pending] {
        let n = store.count_operations(status).await?;
        if n > 0 {
            discrepancies.push(format!("{n} operation(s) still {}", status.as_str()));
        }
    }
    Ok(AuditReport { holds_checked: ours.len(), intents_seen: intents.len(), discrepancies })
}
