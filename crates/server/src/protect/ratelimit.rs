//! Fixed-window rate limits: per token (default `RATE_LIMIT_PER_MINUTE`, or
//! the token's own limit) and, for failed authentication, per client IP.
//!
//! On PostgreSQL the counters live in the database so every instance shares
//! them; on SQLite (one process) they live in a bounded in-process map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chittycharge_domain::Timestamp;
use chittycharge_store::{Backend, Store, StoreResult};

const WINDOW_MS: i64 = 60_000;
/// The in-process map never grows past this many keys.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window resets.
    pub reset_epoch: i64,
    /// Seconds until then, at least 1.
    pub retry_after: u64,
}

pub enum RateLimiter {
    Shared(Arc<dyn Store>),
    Local(Mutex<HashMap<String, (i64, i64)>>),
}

impl RateLimiter {
    pub fn for_store(store: Arc<dyn Store>) -> Self {
        match store.backend() {
            Backend::Postgres => RateLimiter::Shared(store),
            Backend::Sqlite => RateLimiter::Local(Mutex::new(HashMap::new())),
        }
    }

    /// Counts one request against `key` and says whether it may proceed.
    pub async fn hit(&self, key: &str, limit: u32, now: Timestamp) -> StoreResult<Verdict> {
        let window = now.millis().div_euclid(WINDOW_MS) * WINDOW_MS;
        let count = match self {
            RateLimiter::Shared(store) => store.rate_limit_hit(key, window).await?,
            RateLimiter::Local(map) => {
                let mut map = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // The common case, a key already counting in this window,
                // without allocating the key again.
                if let Some(entry) = map.get_mut(key).filter(|e| e.0 == window) {
                    entry.1 += 1;
                    return Ok(verdict(entry.1, limit, window, now));
                }
                if map.len() >= MAX_KEYS {
                    map.retain(|_, (w, _)| *w == window);
                }
                if map.len() >= MAX_KEYS && !map.contains_key(key) {
                    // Full of live keys: refuse rather than grow.
                    i64::MAX
                } else {
                    let entry = map.entry(key.to_string()).or_insert((window, 0));
                    if entry.0 != window {
                        *entry = (window, 0);
                    }
                    entry.1 += 1;
                    entry.1
                }
            }
        };
        Ok(verdict(count, limit, window, now))
    }
}

fn verdict(count: i64, limit: u32, window: i64, now: Timestamp) -> Verdict {
    let reset_ms = window + WINDOW_MS;
    let used = u32::try_from(count).unwrap_or(u32::MAX);
    Verdict {
        allowed: used <= limit,
        limit,
        remaining: limit.saturating_sub(used),
        reset_epoch: reset_ms.div_euclid(1000),
        retry_after: u64::try_from((reset_ms - now.millis() + 999) / 1000).unwrap_or(1).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_eleventh_request_in_a_window_is_refused_until_it_resets() {
        let rl = RateLimiter::Local(Mutex::new(HashMap::new()));
        let t0 = Timestamp::from_millis(1_704_067_200_000);
        for i in 1..=10 {
            let v = rl.hit("tok", 10, t0).await.unwrap();
            assert!(v.allowed);
            assert_eq!(v.remaining, 10 - i);
        }
        let v = rl.hit("tok", 10, t0).await.unwrap();
        assert!(!v.allowed);
        assert_eq!(v.retry_after, 60);
        let v = rl.hit("tok", 10, t0.plus_millis(59_000)).await.unwrap();
        assert_eq!((v.allowed, v.retry_after), (false, 1));
        assert!(rl.hit("tok", 10, t0.plus_millis(60_000)).await.unwrap().allowed);
        assert!(rl.hit("other", 10, t0).await.unwrap().allowed, "keys are independent");
    }
}
