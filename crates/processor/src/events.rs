//! The processor's event vocabulary: which event types can change a hold,
//! and which PaymentIntent an event is about. Stripe's webhooks and the
//! simulator's events share it.

use serde_json::Value;

/// The event types that can change a hold.
pub const HANDLED: [&str; 16] = [
    "payment_intent.amount_capturable_updated",
    "payment_intent.requires_action",
    "payment_intent.succeeded",
    "payment_intent.canceled",
    "payment_intent.payment_failed",
    "charge.captured",
    "charge.expired",
    "charge.refunded",
    "charge.refund.updated",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
];

/// The PaymentIntent an event is about.
pub fn intent_id(event: &Value) -> Option<String> {
    let object = event.get("data")?.get("object")?;
    let field = match object.get("object").and_then(Value::as_str) {
        Some("charge" | "refund") => object.get("payment_intent"),
        _ => object.get("id"),
    }?;
    match field {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}
