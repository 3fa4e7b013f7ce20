//! The processor calls this process is making right now, by idempotency key.
//!
//! The simulator in this process announces a change as an event while the
//! call that made it is still running (simulated/mod.rs), and the event
//! names that call's idempotency key, as Stripe's `request.idempotency_key`
//! does. Such an event can tell the hold nothing: the hold is locked by
//! that call's operation, whose settle folds the very PaymentIntent the call
//! returned. The sink asks here and drops those events instead of paying
//! for a read of the hold and the delivery's bookkeeping (bench/results.md,
//! row (b)). Any other event (a guest's own step, another call) goes
//! through; one that finds the hold locked is synced again once the lock is
//! gone (deferred.rs). If the settle never comes (a crash), the janitor
//! resolves the operation from the processor, as it would have.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chittycharge_processor::events::{intent_id, HANDLED};
use serde_json::Value;

#[derive(Default)]
pub struct InFlight(Mutex<HashMap<String, usize>>);

/// Marks one call as running until dropped (also when the request that
/// made it is dropped half-way).
pub(crate) struct Calling<'a> {
    set: &'a InFlight,
    key: String,
}

/// The idempotency key of the request an event reports (Stripe's
/// `request.idempotency_key`), if any.
pub fn request_key(event: &Value) -> Option<&str> {
    event.get("request").and_then(|r| r.get("idempotency_key")).and_then(Value::as_str)
}

impl InFlight {
    fn map(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn enter(&self, key: &str) -> Calling<'_> {
        *self.map().entry(key.to_string()).or_default() += 1;
        Calling { set: self, key: key.to_string() }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map().contains_key(key)
    }

    /// True for an event that a call still running in this process made,
    /// about a hold that call's operation will settle. Disputes are not held
    /// by a hold's lock, so their events always go through.
    pub fn settles(&self, event: &Value) -> bool {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        HANDLED.contains(&kind)
            && crate::disputes::dispute_of(event).is_none()
            && intent_id(event).is_some()
            && request_key(event).is_some_and(|key| self.contains(key))
    }
}

impl Drop for Calling<'_> {
    fn drop(&mut self) {
        let mut map = self.set.map();
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_in_flight_until_it_ends() {
        let set = InFlight::default();
        let first = set.enter("chittycharge-op_1");
        let second = set.enter("chittycharge-op_1");
        drop(first);
        assert!(set.contains("chittycharge-op_1"), "one call still running");
        drop(second);
        assert!(!set.contains("chittycharge-op_1"));
    }

    #[test]
    fn only_an_event_of_a_running_call_is_left_to_it() {
        let set = InFlight::default();
        let _calling = set.enter("chittycharge-op_1");
        let event = |key: Option<&str>| {
            serde_json::json!({
                "type": "payment_intent.amount_capturable_updated",
                "data": { "object": { "id": "pi_1", "object": "payment_intent" } },
                "request": { "idempotency_key": key },
            })
        };
        assert!(set.settles(&event(Some("chittycharge-op_1"))));
        assert!(!set.settles(&event(Some("chittycharge-op_2"))), "another call's");
        assert!(!set.settles(&event(None)), "a guest's own step");
    }
}
