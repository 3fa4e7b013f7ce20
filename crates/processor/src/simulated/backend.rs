//! Where the simulator keeps its PaymentIntents.
//!
//! The service backs it with its own database, so simulated holds survive a
//! restart and several instances on one PostgreSQL see the same intents, as
//! they would see the same Stripe account. Unit tests use [`MemoryBackend`].

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

/// A versioned key-value store, partitioned by namespace.
#[async_trait]
pub trait SimBackend: Send + Sync {
    /// The value and its version.
    async fn get(&self, ns: &str, key: &str) -> Result<Option<(String, i64)>, String>;
    /// With `expected: None`, inserts and returns false if the key exists;
    /// otherwise replaces only when the stored version equals `expected`.
    async fn put(&self, ns: &str, key: &str, value: &str, expected: Option<i64>) -> Result<bool, String>;
    async fn keys(&self, ns: &str) -> Result<Vec<String>, String>;
    /// Several `put`s as one atomic write: all happen, or (when any one's
    /// condition fails) none, and the answer is false.
    async fn put_all(&self, writes: &[SimWrite<'_>]) -> Result<bool, String>;
}

/// One conditional write for [`SimBackend::put_all`], with `put`'s rules.
#[derive(Debug, Clone, Copy)]
pub struct SimWrite<'a> {
    pub ns: &'a str,
    pub key: &'a str,
    pub value: &'a str,
    pub expected: Option<i64>,
}

#[derive(Default)]
pub struct MemoryBackend {
    map: Mutex<HashMap<(String, String), (String, i64)>>,
}

#[async_trait]
impl SimBackend for MemoryBackend {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<(String, i64)>, String> {
        let map = self.map.lock().map_err(|e| e.to_string())?;
        Ok(map.get(&(ns.to_string(), key.to_string())).cloned())
    }

    async fn put(&self, ns: &str, key: &str, value: &str, expected: Option<i64>) -> Result<bool, String> {
        self.put_all(&[SimWrite { ns, key, value, expected }]).await
    }

    async fn put_all(&self, writes: &[SimWrite<'_>]) -> Result<bool, String> {
        let mut map = self.map.lock().map_err(|e| e.to_string())?;
        let applies = |w: &SimWrite<'_>| match (map.get(&(w.ns.to_string(), w.key.to_string())), w.expected) {
            (None, None) => true,
            (Some((_, v)), Some(e)) => *v == e,
            _ => false,
        };
        if !writes.iter().all(applies) {
            return Ok(false);
        }
        for w in writes {
            map.insert((w.ns.to_string(), w.key.to_string()), (w.value.to_string(), w.expected.map_or(1, |e| e + 1)));
        }
        Ok(true)
    }

    async fn keys(&self, ns: &str) -> Result<Vec<String>, String> {
        let map = self.map.lock().map_err(|e| e.to_string())?;
        Ok(map.keys().filter(|(n, _)| n == ns).map(|(_, k)| k.clone()).collect())
    }
}
