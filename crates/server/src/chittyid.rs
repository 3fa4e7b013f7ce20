//! The ChittyID client: `POST {CHITTY_ID_URL}/v1/mint`, bearer
//! `CHITTY_ID_TOKEN` (an outbound credential only; it never authenticates
//! callers of this service). Short timeout, bounded retries; a failure is
//! reported, never waited out, and the hold gets a unique PENDING id that
//! the reconciler re-mints later.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

pub const PENDING_PREFIX: &str = "CHITTY-AUTH-PENDING-";

pub struct MintRequest<'a> {
    pub payment_intent: &'a str,
    pub amount: i64,
    pub property_id: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
}

pub struct ChittyIdClient {
    http: reqwest::Client,
    url: String,
    token: Option<SecretString>,
}

/// A unique placeholder until the real id is minted.
pub fn pending_id() -> String {
    format!("{PENDING_PREFIX}{}", uuid::Uuid::new_v4().simple().to_string().to_uppercase())
}

impl ChittyIdClient {
    pub fn new(url: &str, token: Option<SecretString>, timeout_ms: u64) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .connect_timeout(Duration::from_millis(timeout_ms))
            .build()
            .unwrap_or_default();
        Self { http, url: url.trim_end_matches('/').to_string(), token }
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
