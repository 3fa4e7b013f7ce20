//! The holds this process wrote last, as the starting point of the next
//! operation on each.
//!
//! An operation reads the hold, checks the transition and takes the lock
//! with a compare-and-set on the version it read (operate.rs). When this
//! process wrote the hold last, the read repeats what it already knows:
//! on PostgreSQL one round trip of each confirm, capture and cancel
//! (bench/results.md, row (b)). Every write of a hold bumps its version
//! (store/src/writes.rs), so the lock's compare-and-set fails on a hint
//! that another instance (or a restore) has overtaken.
//!
//! A hint is taken out when it is used. If the operation is refused on it
//! before any lock was taken (the lock's compare-and-set failed, or the
//! check refused a state that may be old), it runs once more on a fresh
//! read, so a stale hint can delay an answer but never change it. Once a
//! lock is taken the answer stands: a second attempt would be a second
//! processor call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chittycharge_domain::Hold;

use super::{CoreResult, HoldService};
use crate::caller::Caller;

/// Past this many entries the map is emptied; a miss only costs a read.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct HoldHints(Mutex<HashMap<String, Hold>>);

/// One attempt of an operation; it says when it has taken the hold's lock.
#[derive(Default)]
pub(crate) struct Attempt(AtomicBool);

impl Attempt {
    /// Called as soon as `with_lock` has returned the lock: from here on
    /// the attempt's answer stands.
    pub(crate) fn locked(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl HoldHints {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Hold>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `hold` exactly as this process has just stored it.
    pub(crate) fn wrote(&self, hold: &Hold) {
        let mut map = self.map();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(hold.id.clone(), hold.clone());
    }

    fn take(&self, id: &str) -> Option<Hold> {
        self.map().remove(id)
    }

    /// The hint for `id`, left in place: for tests that hold it against
    /// the stored row.
    pub fn peek(&self, id: &str) -> Option<Hold> {
        self.map().get(id).cloned()
    }
}

impl HoldService {
    /// Runs `attempt` on hold `id` as the caller may see it: first on this
    /// process's hint, and on a fresh read if the hint was refused before
    /// any lock (see the module's text).
    pub(crate) async fn on_hold<'a, T, F, Fut>(
        &self,
        id: &str,
        caller: &Caller,
        attempts: &'a [Attempt; 2],
        attempt: F,
    ) -> CoreResult<T>
    where
        F: Fn(Hold, &'a Attempt) -> Fut,
        Fut: Future<Output = CoreResult<T>>,
    {
        if let Some(hint) = self.hints.take(id) {
            if caller.sees_property(hint.property_id.as_deref()) {
                caller.require_read()?;
                let hold = self.refresh_if_lapsed(hint).await?;
                let result = attempt(hold, &attempts[0]).await;
                if result.is_ok() || attempts[0].0.load(Ordering::SeqCst) {
                    return result;
                }
            }
        }
        let hold = self.get(id, caller).await?;
        attempt(hold, &attempts[1]).await
    }
}
