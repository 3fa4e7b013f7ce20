//! Lets the simulated processor keep its PaymentIntents in our own database,
//! so they survive restarts and are shared by instances on one PostgreSQL.

use std::sync::Arc;

use async_trait::async_trait;
use chittycharge_processor::simulated::{SimBackend, SimWrite};
use chittycharge_store::Store;

pub struct StoreSimBackend(pub Arc<dyn Store>);

#[async_trait]
impl SimBackend for StoreSimBackend {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<(String, i64)>, String> {
        self.0.sim_get(ns, key).await.map_err(|e| e.to_string())
    }
    async fn put(&self, ns: &str, key: &str, value: &str, expected: Option<i64>) -> Result<bool, String> {
        self.0.sim_put(ns, key, value, expected).await.map_err(|e| e.to_string())
    }
    async fn put_all(&self, writes: &[SimWrite<'_>]) -> Result<bool, String> {
        let writes: Vec<_> = writes.iter().map(|w| (w.ns, w.key, w.value, w.expected)).collect();
        self.0.sim_put_all(&writes).await.map_err(|e| e.to_string())
    }
    async fn keys(&self, ns: &str) -> Result<Vec<String>, String> {
        self.0.sim_keys(ns).await.map_err(|e| e.to_string())
    }
}
