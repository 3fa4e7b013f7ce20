//! The holds whose processor call this process is making right now.
//!
//! The simulator in this process announces a change as an event while the
//! call that made it is still running (simulated/mod.rs). Such an event
//! can tell the hold nothing: the hold is locked by that call's operation,
//! so the event's sync would find the lock and stop (sync.rs), and the
//! operation's settle folds the very PaymentIntent the call returned. The
//! sink asks here and drops those events instead of paying for a read of
//! the hold, a read of the intent and the delivery's bookkeeping
//! (bench/results.md, row (b)). If the settle never comes (a crash), the
//! janitor resolves the operation from the processor, as it would have.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chittycharge_processor::events::{intent_id, HANDLED};
use serde_json::Value;

#[derive(Default)]
pub struct InFlight(Mutex<HashMap<String, usize>>);

/// Marks one hold as in a call until dropped (also when the request that
/// made the call is dropped half-way).
pub(crate) struct Calling<'a> {
    set: &'a InFlight,
    id: String,
}

impl InFlight {
    fn map(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn enter(&self, id: &str) -> Calling<'_> {
        *self.map().entry(id.to_string()).or_default() += 1;
        Calling { set: self, id: id.to_string() }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.map().contains_key(id)
    }

    /// True for an event of the simulator in this process that the call
    /// which caused it will settle itself: a change to a hold this process
    /// is calling the processor for. Disputes are not held by a hold's
    /// lock, so their events always go through.
    pub fn settles(&self, event: &Value) -> bool {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        HANDLED.contains(&kind)
            && crate::disputes::dispute_of(event).is_none()
            && intent_id(event).is_some_and(|pi| self.contains(&pi))
    }
}

impl Drop for Calling<'_> {
    fn drop(&mut self) {
        let mut map = self.set.map();
        if let Some(n) = map.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_is_in_flight_until_its_last_call_ends() {
        let set = InFlight::default();
        let first = set.enter("pi_1");
        let second = set.enter("pi_1");
        drop(first);
        assert!(set.contains("pi_1"), "one call still running");
        drop(second);
        assert!(!set.contains("pi_1"));
        assert!(!set.contains("pi_2"));
    }
}
