//! Processor events, from Stripe's webhook or the simulator, both through
//! [`HoldService::ingest_event`]. Events are hints: the hold is re-read from
//! the processor and folded through the state machine, so a duplicate, late
//! or out-of-order event can never move a hold backwards.

use serde_json::Value;

use super::sync::EventContext;
use super::{CoreResult, HoldService};

/// The event types that can change a hold.
pub const HANDLED: [&str; 7] = [
    "payment_intent.amount_capturable_updated",
    "payment_intent.requires_action",
    "payment_intent.succeeded",
    "payment_intent.canceled",
    "payment_intent.payment_failed",
    "charge.captured",
    "charge.expired",
];

/// The PaymentIntent an event is about.
pub fn intent_id(event: &Value) -> Option<String> {
    let object = event.get("data")?.get("object")?;
    let field = match object.get("object").and_then(Value::as_str) {
        Some("charge") => object.get("payment_intent"),
        _ => object.get("id"),
    }?;
    match field {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

impl HoldService {
    /// Applies one verified, first-seen event. Returns what happened, for
    /// the event record and metrics.
    pub async fn ingest_event(&self, event: &Value) -> CoreResult<&'static str> {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        if !HANDLED.contains(&kind) {
            return Ok("ignored_type");
        }
        let Some(pi) = intent_id(event) else { return Ok("no_payment_intent") };
        // Only holds in our own store; other PaymentIntents on the account
        // are none of our business.
        if self.store.get_hold(&pi).await?.is_none() {
            return Ok("unknown_hold");
        }
        let id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let ctx = EventContext::actor(format!("processor event {kind} ({id})"));
        self.sync_from_processor(&pi, &ctx).await?;
        Ok("applied")
    }
}
