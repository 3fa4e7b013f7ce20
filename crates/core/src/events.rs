//! Processor events, from Stripe's webhook or the simulator, both through
//! [`HoldService::ingest_event`]. Events are hints: the hold is re-read from
//! the processor and folded through the state machine, so a duplicate, late
//! or out-of-order event can never move a hold backwards.

use chittycharge_processor::events::{intent_id, HANDLED};
use chittycharge_store::EventClaim;
use serde_json::Value;

use super::sync::EventContext;
use super::{CoreResult, HoldService};

impl HoldService {
    /// Applies one verified, first-seen event. Returns what happened, for
    /// the event record and metrics.
    pub async fn ingest_event(&self, event: &Value) -> CoreResult<&'static str> {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        if !HANDLED.contains(&kind) {
            return Ok("ignored_type");
        }
        if let Some(dispute) = super::disputes::dispute_of(event) {
            return self.ingest_dispute(dispute).await;
        }
        let Some(pi) = intent_id(event) else { return Ok("no_payment_intent") };
        let id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let ctx = EventContext::actor(format!("processor event {kind} ({id})"));
        // Only holds in our own store (the sync reads the hold before it
        // asks the processor); other PaymentIntents on the account are none
        // of our business.
        Ok(match self.sync_from(&pi, &ctx, crate::in_flight::request_key(event)).await? {
            Some(_) => "applied",
            None => "unknown_hold",
        })
    }
}

impl HoldService {
    /// Applies an event of the simulator in this process. It is applied
    /// exactly as a Stripe delivery is (`ingest_event`), without the
    /// delivery's deduplication: an in-process event is handed over once,
    /// under a fresh id, and nobody can replay it.
    pub async fn apply_own_event(&self, event: &Value) -> CoreResult<&'static str> {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        let result = self.ingest_event(event).await?;
        metrics::counter!("chittycharge_webhook_events_total", "type" => kind, "result" => result).increment(1);
        Ok(result)
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    Done,
    Duplicate,
    Replay,
    Malformed,
}

impl HoldService {
    /// Deduplicates and applies one authentic event. Stripe's deliveries
    /// (after signature verification) and the simulator's events both come
    /// here.
    ///
    /// Applied first, recorded after: applying is idempotent (it re-reads the
    /// PaymentIntent and folds its state into the hold, under the hold's
    /// version), so a delivery that races another, or that arrives again
    /// after a crash between the two steps, is applied again harmlessly.
    /// Recording first would lose an event whose claim committed just before
    /// a crash. It also makes a typical event one durable write instead of
    /// two.
    pub async fn process_event(&self, event: &Value, signed_at: i64) -> CoreResult<Processed> {
        let (Some(id), Some(kind)) =
            (event.get("id").and_then(Value::as_str), event.get("type").and_then(Value::as_str))
        else {
            return Ok(Processed::Malformed);
        };
        match self.store.webhook_event_seen(id, signed_at).await? {
            EventClaim::New => {}
            EventClaim::Duplicate => return Ok(Processed::Duplicate),
            EventClaim::Replay => return Ok(replayed(id)),
        }
        let result = self.ingest_event(event).await?;
        metrics::counter!("chittycharge_webhook_events_total", "type" => kind.to_string(), "result" => result)
            .increment(1);
        match self.store.record_webhook_event(id, kind, signed_at, self.now(), result).await? {
            EventClaim::New => {
                tracing::info!(event.id = %id, event.kind = %kind, result, "processor event processed");
                Ok(Processed::Done)
            }
            // Another delivery of the same event was recorded meanwhile.
            EventClaim::Duplicate => Ok(Processed::Duplicate),
            EventClaim::Replay => Ok(replayed(id)),
        }
    }
}

fn replayed(id: &str) -> Processed {
    tracing::warn!(event.id = %id, "rejected a replayed webhook delivery");
    Processed::Replay
}
