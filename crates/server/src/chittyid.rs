//! The ChittyID client: `POST {CHITTY_ID_URL}/v1/mint`, bearer
//! `CHITTY_ID_TOKEN` (an outbound credential only; it never authenticates
//! callers of this service). Short timeout, bounded retries; a failure is
//! reported, never waited out, and the hold gets a unique PENDING id that
//! the reconciler re-mints later.
//!
//! Creates mint inline only while ChittyID answers: after a few failures in
//! a row a circuit breaker opens and creates stop waiting on it (each would
//! otherwise spend two attempts and their timeouts). After a pause one
//! request probes again (half-open); a success closes it. The reconciler's
//! mints go through regardless and close it too when ChittyID is back.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

pub use chittycharge_core::ids::{pending_id, MintRequest, PENDING_PREFIX};

pub struct ChittyIdClient {
    http: reqwest::Client,
    url: String,
    token: Option<SecretString>,
    breaker: Breaker,
}

/// Consecutive failures that open the breaker.
const OPEN_AFTER_FAILURES: u32 = 3;
/// How long it stays open before one request probes again.
const OPEN_FOR: Duration = Duration::from_secs(30);

/// Hand-written: a few atomics; the crates that offer breakers bring a
/// runtime or a tower layer around a client we call in one place.
struct Breaker {
    started: Instant,
    failures: AtomicU32,
    /// Milliseconds since `started` until which it is open; 0 when closed.
    open_until_ms: AtomicU64,
    probing: AtomicBool,
}

impl Breaker {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    /// Whether an inline call may go out now.
    fn allow(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::SeqCst);
        if until == 0 {
            return true;
        }
        if self.now_ms() < until {
            return false;
        }
        // Half-open: exactly one probe at a time.
        !self.probing.swap(true, Ordering::SeqCst)
    }
    fn success(&self) {
        self.failures.store(0, Ordering::SeqCst);
        self.open_until_ms.store(0, Ordering::SeqCst);
        self.probing.store(false, Ordering::SeqCst);
    }
    fn failure(&self) {
        let n = self.failures.fetch_add(1, Ordering::SeqCst).saturating_add(1);
        if n >= OPEN_AFTER_FAILURES || self.probing.load(Ordering::SeqCst) {
            let until = self.now_ms().saturating_add(u64::try_from(OPEN_FOR.as_millis()).unwrap_or(u64::MAX)).max(1);
            self.open_until_ms.store(until, Ordering::SeqCst);
            self.probing.store(false, Ordering::SeqCst);
        }
    }
    fn is_open(&self) -> bool {
        self.open_until_ms.load(Ordering::SeqCst) != 0
    }
}

impl ChittyIdClient {
    pub fn new(url: &str, token: Option<SecretString>, timeout_ms: u64) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .connect_timeout(Duration::from_millis(timeout_ms))
            .build()
            .unwrap_or_default();
        Self { http, url: url.trim_end_matches('/').to_string(), token, breaker: Breaker::new() }
    }

    /// Whether the breaker is open (creates are not waiting on ChittyID).
    pub fn breaker_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// A mint on a create's path: skipped at once while the breaker is open,
    /// so an outage never stalls creates; the hold keeps its PENDING id.
    pub async fn mint_inline(&self, req: &MintRequest<'_>) -> Result<String, String> {
        if !self.breaker.allow() {
            metrics::counter!("chittycharge_chittyid_mints_total", "result" => "skipped").increment(1);
            return Err("ChittyID circuit open: minting is left to the reconciler".into());
        }
        self.mint(req).await
    }

    /// Reachability for `/health`: any HTTP answer counts.
    pub async fn probe(&self) -> Result<(), String> {
        self.http.get(format!("{}/health", self.url)).send().await.map(|_| ()).map_err(|e| e.to_string())
    }

    pub fn configured(&self) -> bool {
        self.token.is_some()
    }

    /// Two attempts at most; any failure (timeout, non-2xx, a body without a
    /// `chitty_id`) is an error for the caller to retry later.
    pub async fn mint(&self, req: &MintRequest<'_>) -> Result<String, String> {
        let started = Instant::now();
        let result = self.mint_once(req).await;
        crate::timing::chittyid(started.elapsed());
        let label = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("chittycharge_chittyid_mints_total", "result" => label).increment(1);
        match &result {
            Ok(_) => self.breaker.success(),
            Err(_) => self.breaker.failure(),
        }
        result
    }

    async fn mint_once(&self, req: &MintRequest<'_>) -> Result<String, String> {
        let Some(token) = &self.token else { return Err("CHITTY_ID_TOKEN is not set".into()) };
        let mut metadata = json!({
            "stripe_payment_intent_id": req.payment_intent,
            "amount": req.amount,
            "source": "chittycharge",
        });
        if let Some(p) = req.property_id {
            metadata["property_id"] = json!(p);
        }
        if let Some(t) = req.tenant_id {
            metadata["tenant_id"] = json!(t);
        }
        let body = json!({ "entity_type": "AUTH", "metadata": metadata });
        let mut last = String::new();
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let resp = self
                .http
                .post(format!("{}/v1/mint", self.url))
                .bearer_auth(token.expose_secret())
                .json(&body)
                .send()
                .await;
            match resp {
                Ok(r) if r.status().is_success() => {
                    let v: Value = match r.json().await {
                        Ok(v) => v,
                        Err(e) => {
                            last = format!("malformed mint response: {e}");
                            continue;
                        }
                    };
                    match v.get("chitty_id").and_then(Value::as_str).map(str::trim) {
                        Some(id) if !id.is_empty() && id.len() <= 200 => return Ok(id.to_string()),
                        _ => last = "mint response has no chitty_id".into(),
                    }
                }
                Ok(r) => last = format!("mint answered HTTP {}", r.status()),
                Err(e) => last = format!("mint failed: {e}"),
            }
        }
        Err(last)
    }
}

#[async_trait::async_trait]
impl chittycharge_core::ids::IdMinter for ChittyIdClient {
    fn configured(&self) -> bool {
        ChittyIdClient::configured(self)
    }
    async fn mint_inline(&self, req: &MintRequest<'_>) -> Result<String, String> {
        ChittyIdClient::mint_inline(self, req).await
    }
    async fn mint(&self, req: &MintRequest<'_>) -> Result<String, String> {
        ChittyIdClient::mint(self, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_three_failures_and_lets_one_probe_through_after_the_pause() {
        // A minute old, so "past the pause" below is in the past.
        let b = Breaker { started: Instant::now().checked_sub(Duration::from_secs(60)).unwrap(), ..Breaker::new() };
        for _ in 0..OPEN_AFTER_FAILURES - 1 {
            b.failure();
            assert!(b.allow(), "still closed");
        }
        b.failure();
        assert!(!b.allow(), "open after {OPEN_AFTER_FAILURES} failures");
        // Move past the pause.
        b.open_until_ms.store(1, Ordering::SeqCst);
        assert!(b.allow(), "one probe");
        assert!(!b.allow(), "only one at a time");
        b.failure();
        assert!(!b.allow(), "a failed probe opens it again");
        b.open_until_ms.store(1, Ordering::SeqCst);
        assert!(b.allow());
        b.success();
        assert!(b.allow() && b.allow(), "closed after a success");
        assert!(!b.is_open());
    }
}
