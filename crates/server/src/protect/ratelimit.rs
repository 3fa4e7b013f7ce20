//! Rate limits per token (default `RATE_LIMIT_PER_MINUTE`, or the token's
//! own limit) and, for failed authentication, per client IP.
//!
//! The algorithm is GCRA (the generic cell rate algorithm, as the governor
//! crate implements it): a key may send `limit` requests at once, then one
//! every `60 s / limit`. Unlike a fixed window it lets no double burst
//! through across a minute boundary, and a refusal knows exactly how long
//! to wait. governor itself keeps its state in process memory; the state
//! here is one number per key, so on PostgreSQL it lives in the database
//! (store/src/protect.rs) and every instance
//! shares it; requests on one key at once share a statement (coalesce.rs).
//! On SQLite (one process) it lives in a bounded in-process map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chittycharge_domain::Timestamp;
use chittycharge_store::{Backend, Store, StoreResult};

use super::coalesce::Coalesced;

const MINUTE_US: i64 = 60_000_000;
/// The in-process map never grows past this many keys.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    /// Requests that could be sent right now.
    pub remaining: u32,
    /// Epoch seconds when the whole burst is available again.
    pub reset_epoch: i64,
    /// Seconds until the next request is allowed (rounded up, at least 1).
    pub retry_after: u64,
}

/// GCRA's two parameters for `limit` requests a minute, in microseconds:
/// the emission interval and the burst tolerance (`limit - 1` intervals).
fn params(limit: u32) -> (i64, i64) {
    // At least one microsecond: a limit past a million a second (config and
    // `token create` refuse one) still never divides by zero.
    let limit = i64::from(limit.max(1));
    let interval = (MINUTE_US / limit).max(1);
    (interval, interval * (limit - 1))
}

/// One GCRA step: from the stored arrival time (if any), whether a request
/// at `now` is allowed and the arrival time to store.
fn step(stored: Option<i64>, now: i64, interval: i64, tolerance: i64) -> (bool, i64) {
    let tat = stored.map_or(now, |t| t.max(now));
    if tat - now <= tolerance {
        (true, tat + interval)
    } else {
        (false, stored.unwrap_or(now))
    }
}

pub enum RateLimiter {
    Shared(Arc<Coalesced>),
    Local(Mutex<HashMap<String, i64>>),
}

impl RateLimiter {
    pub fn for_store(store: Arc<dyn Store>) -> Self {
        match store.backend() {
            Backend::Postgres => RateLimiter::Shared(Coalesced::new(store)),
            Backend::Sqlite => RateLimiter::Local(Mutex::new(HashMap::new())),
        }
    }

    /// Counts one request against `key` and says whether it may proceed.
    pub async fn hit(&self, key: &str, limit: u32, now: Timestamp) -> StoreResult<Verdict> {
        let now_us = now.millis().saturating_mul(1000);
        let (interval, tolerance) = params(limit);
        let (allowed, tat) = match self {
            RateLimiter::Shared(shared) => shared.hit(key, now_us, interval, tolerance).await?,
            RateLimiter::Local(map) => {
                let mut map = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(tat) = map.get_mut(key) {
                    let (allowed, next) = step(Some(*tat), now_us, interval, tolerance);
                    *tat = next;
                    (allowed, next)
                } else {
                    if map.len() >= MAX_KEYS {
                        // A key whose arrival time has passed is as good as absent.
                        map.retain(|_, tat| *tat > now_us);
                    }
                    if map.len() >= MAX_KEYS {
                        // Full of live keys: refuse rather than grow.
                        (false, now_us + tolerance + interval)
                    } else {
                        let (allowed, next) = step(None, now_us, interval, tolerance);
                        map.insert(key.to_string(), next);
                        (allowed, next)
                    }
                }
            }
        };
        Ok(verdict(allowed, tat, now_us, limit, interval, tolerance))
    }
}

fn verdict(allowed: bool, tat: i64, now: i64, limit: u32, interval: i64, tolerance: i64) -> Verdict {
    let ahead = (tat - now).max(0);
    let remaining = if allowed { (tolerance + interval - ahead).max(0) / interval } else { 0 };
    // Refused: the next request fits once `tat - tolerance` has passed.
    let wait_us = if allowed { 0 } else { (tat - tolerance - now).max(0) };
    Verdict {
        allowed,
        limit,
        remaining: u32::try_from(remaining).unwrap_or(0),
        reset_epoch: (tat + 999_999).div_euclid(1_000_000),
        retry_after: u64::try_from((wait_us + 999_999) / 1_000_000).unwrap_or(1).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> RateLimiter {
        RateLimiter::Local(Mutex::new(HashMap::new()))
    }

    #[tokio::test]
    async fn a_burst_of_the_limit_passes_then_one_request_per_interval() {
        let rl = local();
        let t0 = Timestamp::from_millis(1_704_067_200_000);
        for i in 1..=10 {
            let v = rl.hit("tok", 10, t0).await.unwrap();
            assert!(v.allowed);
            assert_eq!(v.remaining, 10 - i);
        }
        let v = rl.hit("tok", 10, t0).await.unwrap();
        assert!(!v.allowed);
        assert_eq!(v.retry_after, 6, "10 a minute: the next one in exactly 6 s");
        assert!(!rl.hit("tok", 10, t0.plus_millis(5_999)).await.unwrap().allowed);
        assert!(rl.hit("tok", 10, t0.plus_millis(6_000)).await.unwrap().allowed, "the wait it named was exact");
        assert!(!rl.hit("tok", 10, t0.plus_millis(6_001)).await.unwrap().allowed);
        assert!(rl.hit("other", 10, t0).await.unwrap().allowed, "keys are independent");
    }

    /// The fixed window's flaw: 10 at 0:59 and 10 more at 1:00.
    #[tokio::test]
    async fn no_double_burst_across_a_minute_boundary() {
        let rl = local();
        let t = Timestamp::from_millis(1_704_067_259_000);
        let mut allowed = 0;
        for ms in [0, 1_000, 2_000] {
            for _ in 0..10 {
                allowed += u32::from(rl.hit("tok", 10, t.plus_millis(ms)).await.unwrap().allowed);
            }
        }
        assert_eq!(allowed, 10, "2 s after a full burst there is no room yet");
        let later = rl.hit("tok", 10, t.plus_millis(60_000)).await.unwrap();
        assert!(later.allowed && later.remaining == 9, "a minute on, the whole burst is back: {later:?}");
    }

    #[test]
    fn refusals_do_not_push_the_wait_further_out() {
        let (i, tol) = params(3);
        let (_, tat) = step(None, 0, i, tol);
        let (_, tat) = step(Some(tat), 0, i, tol);
        let (_, tat) = step(Some(tat), 0, i, tol);
        let (allowed, after) = step(Some(tat), 0, i, tol);
        assert!(!allowed);
        assert_eq!(after, tat, "a refused request changes nothing");
    }
}
