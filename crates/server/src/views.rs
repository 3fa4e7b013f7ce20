//! Domain records to wire types.

use chittycharge_api::{iso_millis, CancelResponse, CaptureResponse, CreateHoldResponse, EventView, HoldView};
use chittycharge_domain::disclosure::hold_disclosure;
use chittycharge_domain::fee::PROCESSING_FEE_NOTE;
use chittycharge_domain::{Hold, Money, Timestamp};
use chittycharge_store::HoldEvent;

use chittycharge_core::{CaptureOutcome, Created};

fn iso(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| iso_millis(t.millis()))
}

/// "Nov 29, 2026" for the guest disclosure.
fn human_date(t: Timestamp) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(t.millis()).map(|d| d.format("%b %-d, %Y").to_string())
}

/// `minor` units in the currency of `like`, formatted ("$50.00", "¥2,500").
pub(crate) fn money(minor: i64, like: Money) -> String {
    like.currency().format(minor)
}

pub(crate) fn disclosure(h: &Hold) -> String {
    hold_disclosure(h.amount, h.expires_at.and_then(human_date).as_deref())
}

/// The guest's check-in page for this hold. The client secret in the link
/// is what lets the guest (and only the guest) confirm the hold.
pub(crate) fn checkin_url(base: &str, h: &Hold) -> String {
    format!("{base}/checkin/{}?cs={}", h.id, h.client_secret.as_deref().unwrap_or(""))
}

pub(crate) fn hold_view(h: &Hold) -> HoldView {
    let a = h.state.amounts();
    HoldView {
        id: h.id.clone(),
        chitty_id: h.chitty_id.clone(),
        status: h.state.status().as_str().to_string(),
        amount: h.amount.minor(),
        amount_capturable: a.capturable,
        amount_received: a.captured,
        currency: h.amount.currency().code().to_string(),
        created_at: iso_millis(h.created_at.millis()),
        amount_captured: a.captured,
        amount_released: a.released,
        amount_refunded: a.refunded,
        dispute: None,
        description: h.description.clone(),
        customer_email: h.customer_email.clone(),
        property_id: h.property_id.clone(),
        tenant_id: h.tenant_id.clone(),
        booking_id: h.booking_id.clone(),
        tier: h.tier.as_str().to_string(),
        metadata: h.metadata.clone(),
        expires_at: live_expiry(h),
        capture_before: iso(h.state.capture_before()),
        captured_at: iso(h.state.captured_at()),
        canceled_at: iso(h.state.canceled_at()),
        reason: h.state.reason().map(str::to_string),
        estimated_processing_fee: h.processing_fee,
        processor: h.processor.clone(),
        livemode: h.livemode,
        operation_pending: h.op_lock.is_some(),
        updated_at: iso_millis(h.updated_at.millis()),
    }
}

/// When the hold ends if nothing is done; a finished hold has no future end.
fn live_expiry(h: &Hold) -> Option<String> {
    if h.state.status().is_terminal() {
        None
    } else {
        iso(h.expires_at)
    }
}

pub(crate) fn create_response(c: &Created, base_url: &str) -> CreateHoldResponse {
    let h = &c.hold;
    CreateHoldResponse {
        id: h.id.clone(),
        chitty_id: h.chitty_id.clone(),
        client_secret: h.client_secret.clone(),
        status: h.state.status().as_str().to_string(),
        amount: h.amount.minor(),
        amount_capturable: h.state.amounts().capturable,
        currency: h.amount.currency().code().to_string(),
        created_at: iso_millis(h.created_at.millis()),
        tier: h.tier.as_str().to_string(),
        tier_limit: c.tier_limit.minor(),
        tier_reason: h.tier_reason.clone(),
        expires_at: live_expiry(h),
        capture_before: iso(h.state.capture_before()),
        disclosure: disclosure(h),
        checkin_url: Some(checkin_url(base_url, h)),
    }
}

pub(crate) fn capture_response(o: &CaptureOutcome) -> CaptureResponse {
    CaptureResponse {
        id: o.hold.id.clone(),
        status: o.hold.state.status().as_str().to_string(),
        amount_captured: o.captured.minor(),
        amount_released: o.released,
        estimated_processing_fee: o.fee.minor(),
        processing_fee_note: PROCESSING_FEE_NOTE.to_string(),
        captured_at: iso(o.hold.state.captured_at()).unwrap_or_default(),
        currency: o.captured.currency().code().to_string(),
    }
}

pub(crate) fn cancel_response(h: &Hold) -> CancelResponse {
    CancelResponse {
        id: h.id.clone(),
        status: h.state.status().as_str().to_string(),
        canceled_at: iso(h.state.canceled_at()).unwrap_or_default(),
        amount_released: h.state.amounts().released,
        reason: h.state.reason().map(str::to_string),
    }
}

pub(crate) fn event_view(e: &HoldEvent) -> EventView {
    EventView {
        id: e.id,
        kind: e.kind.clone(),
        actor: e.actor.clone(),
        from_status: e.from_status.clone(),
        to_status: e.to_status.clone(),
        amount: e.amount,
        reason: e.reason.clone(),
        data: e.data.clone(),
        created_at: iso_millis(e.created_at.millis()),
    }
}

/// A refund, from its operation record.
pub(crate) fn refund_view(op: &chittycharge_store::Operation) -> chittycharge_api::RefundView {
    let r = &op.request;
    chittycharge_api::RefundView {
        id: op.id.clone(),
        hold_id: op.hold_id.clone().unwrap_or_default(),
        amount: r.get("amount").and_then(serde_json::Value::as_i64).unwrap_or(0),
        currency: r.get("currency").and_then(serde_json::Value::as_str).unwrap_or_default().to_string(),
        status: op.status.as_str().to_string(),
        reason: r.get("reason").and_then(serde_json::Value::as_str).map(str::to_string),
        lines: r.get("detail").and_then(|d| d.get("lines")).filter(|l| !l.is_null()).cloned(),
        error: op.error.clone(),
        actor: r.get("actor").and_then(serde_json::Value::as_str).map(str::to_string),
        created_at: iso_millis(op.created_at.millis()),
        updated_at: iso_millis(op.updated_at.millis()),
    }
}

/// A dispute as the API shows it.
pub(crate) fn dispute_record(d: &chittycharge_domain::dispute::Dispute) -> chittycharge_api::DisputeRecord {
    chittycharge_api::DisputeRecord {
        id: d.id.clone(),
        hold_id: d.hold_id.clone(),
        property_id: d.property_id.clone(),
        amount: d.amount,
        currency: d.currency.clone(),
        reason: d.reason.clone(),
        status: d.status.as_str().to_string(),
        open: d.status.is_open(),
        needs_response: d.status.needs_response(),
        evidence_due_by: d.evidence_due_by.map(|t| iso_millis(t.millis())),
        funds_withdrawn: d.funds_withdrawn,
        submitted_at: d.submitted_at.map(|t| iso_millis(t.millis())),
        created_at: iso_millis(d.created_at.millis()),
        updated_at: iso_millis(d.updated_at.millis()),
    }
}

/// JSON written into a buffer the size of a hold's view (about 700 bytes):
/// axum's `Json` starts at 128 bytes and grows (and copies) three times on
/// the read path, which is the service's hottest.
pub(crate) struct SizedJson<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for SizedJson<T> {
    fn into_response(self) -> axum::response::Response {
        let mut buf = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut buf, &self.0) {
            Ok(()) => {
                let json = axum::http::HeaderValue::from_static("application/json");
                ([(axum::http::header::CONTENT_TYPE, json)], buf).into_response()
            }
            Err(e) => crate::error::ApiError::Internal(format!("a response did not serialize: {e}")).into_response(),
        }
    }
}
