//! A read cache of holds, for a process that is the database's only writer.
//!
//! With the read path's other costs trimmed, the SQLite read itself (read
//! transaction, its locks, row decoding) was the largest part left of a
//! `GET /api/holds/{id}` (bench/results.md). A hold changes only through
//! three store calls — insert, lock, save — so a process that makes every
//! write can keep recently read holds in memory and drop an entry whenever
//! it writes that hold. That is only true when no other process writes the
//! same database, so the cache is switched on by
//! [`crate::SqlStore::become_sole_writer`], which first takes an exclusive
//! lock on the SQLite file (PostgreSQL deployments run several instances
//! and never use it).
//!
//! A read that misses fetches the row and offers it back with the epoch it
//! saw before fetching; every invalidation bumps the epoch, so a row fetched
//! before a concurrent write committed is never stored after that write
//! dropped the entry.

use std::collections::HashMap;
use std::sync::Mutex;

use chittycharge_domain::Hold;

/// Past this many entries the map is emptied; the hot set refills at once.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(crate) struct HoldCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    epoch: u64,
    holds: HashMap<String, Hold>,
}

impl HoldCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached hold, or the epoch to hand back to [`HoldCache::offer`].
    pub(crate) fn get(&self, id: &str) -> Result<Hold, u64> {
        let inner = self.lock();
        inner.holds.get(id).cloned().ok_or(inner.epoch)
    }

    /// Stores a row read from the database, unless a write happened since
    /// `epoch` was handed out.
    pub(crate) fn offer(&self, hold: &Hold, epoch: u64) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        if inner.holds.len() >= MAX_ENTRIES {
            inner.holds.clear();
        }
        inner.holds.insert(hold.id.clone(), hold.clone());
    }

    /// Called after every write of this hold, committed or not.
    pub(crate) fn forget(&self, id: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.holds.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::hold;

    #[test]
    fn a_row_read_before_a_concurrent_write_is_not_cached_after_it() {
        let cache = HoldCache::default();
        let epoch = cache.get("pi_1").unwrap_err();
        // the reader fetched the old row; meanwhile a write commits and forgets
        cache.forget("pi_1");
        cache.offer(&hold("pi_1", "old"), epoch);
        assert!(cache.get("pi_1").is_err(), "the stale row must not be served");
        let epoch = cache.get("pi_1").unwrap_err();
        cache.offer(&hold("pi_1", "new"), epoch);
        assert_eq!(cache.get("pi_1").unwrap().description, "new");
        cache.forget("pi_1");
        assert!(cache.get("pi_1").is_err(), "a write drops the entry");
    }
}
