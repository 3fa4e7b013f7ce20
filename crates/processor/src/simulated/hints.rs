//! The intents this simulator wrote last, as the starting point of its next
//! change to each.
//!
//! A change is a read, the change, and a write that compares the version it
//! read (mod.rs). The write already says whether the intent is still as it
//! was, so when this process wrote the intent last, the read repeats what
//! it knows: on PostgreSQL, one round trip of each confirm and capture
//! (bench/results.md, row (b)). A hint is taken out when it is used, so a
//! change whose write finds another writer's version (another instance, a
//! restore) retries from a fresh read, never from the same stale hint.
//! Reads that answer the outside (`retrieve`) never use hints.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::intent::SimIntent;

/// Past this many entries the map is emptied; a miss only costs a read.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(super) struct Hints(Mutex<HashMap<String, (SimIntent, i64)>>);

impl Hints {
    fn map(&self) -> MutexGuard<'_, HashMap<String, (SimIntent, i64)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn take(&self, id: &str) -> Option<(SimIntent, i64)> {
        self.map().remove(id)
    }

    /// `pi` as stored at `version` by this simulator.
    pub(super) fn put(&self, pi: &SimIntent, version: i64) {
        let mut map = self.map();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(pi.id.clone(), (pi.clone(), version));
    }
}
