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
        let mut map = self.map.lock().map_err(|e| e.to_string())?;
        let k = (ns.to_string(), key.to_string());
        match (map.get(&k), expected) {
            (None, None) => {
                map.insert(k, (value.to_string(), 1));
                Ok(true)
            }
            (Some((_, v)), Some(e)) if *v == e => {
                map.insert(k, (value.to_string(), e + 1));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn keys(&self, ns: &str) -> Result<Vec<String>, String> {
        let map = self.map.lock().map_err(|e| e.to_string())?;
        Ok(map.keys().filter(|(n, _)| n == ns).map(|(_, k)| k.clone()).collect())
    }
}
