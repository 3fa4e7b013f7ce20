//! The simulated processor: a faithful offline stand-in for Stripe test mode.
//!
//! It implements the PaymentIntent lifecycle for `capture_method=manual`
//! with Stripe's test cards, Stripe's idempotency rules (same key and
//! parameters replay; other parameters conflict), a 7-day `capture_before`,
//! and lazy expiry: an authorization past its deadline is canceled with
//! `cancellation_reason=automatic` the next time anyone looks at it.

mod backend;
pub mod cards;
mod intent;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

pub use backend::{MemoryBackend, SimBackend};
use cards::{card_number_behavior, luhn_valid, payment_method_behavior, CardBehavior};
use intent::SimIntent;

use crate::{Clock, CreateIntent, IdempotencyKey, Intent, Processor, ProcessorError};

const NS_INTENT: &str = "pi";
const NS_IDEM: &str = "idem";
const NS_PM: &str = "pm";

/// Receives the events the simulator emits, as Stripe would deliver them.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: serde_json::Value);
}

pub struct SimulatedProcessor {
    backend: Arc<dyn SimBackend>,
    clock: Arc<dyn Clock>,
    sink: OnceLock<Arc<dyn EventSink>>,
}

fn random_id(prefix: &str) -> String {
    let tail: String = rand::thread_rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    format!("{prefix}{tail}")
}

fn unavailable(e: String) -> ProcessorError {
    ProcessorError::Unavailable { message: format!("simulator storage: {e}") }
}

/// What an idempotent request stored: its parameter fingerprint and result.
#[derive(serde::Serialize, serde::Deserialize)]
struct IdemRecord {
    fingerprint: String,
    result: Option<Result<SimIntent, ProcessorError>>,
}

impl SimulatedProcessor {
    pub fn new(backend: Arc<dyn SimBackend>, clock: Arc<dyn Clock>) -> Self {
        Self { backend, clock, sink: OnceLock::new() }
    }

    /// Where events go; set once, after the service that consumes them exists.
    pub fn set_event_sink(&self, sink: Arc<dyn EventSink>) {
        let _ = self.sink.set(sink);
    }

    fn emit(&self, before: Option<&SimIntent>, after: &SimIntent, declined: bool) {
        let Some(sink) = self.sink.get() else { return };
        for kind in intent::events_between(before, after, declined) {
            sink.emit(after.event(kind, self.clock.now(), &random_id("evt_")));
        }
    }

    /// Tokenizes a test card number, as Stripe.js would, into a `pm_…` id.
    pub async fn create_card_payment_method(&self, number: &str) -> Result<String, ProcessorError> {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        if !luhn_valid(&digits) {
            return Err(ProcessorError::Declined {
                code: "incorrect_number".into(),
                decline_code: None,
                message: "Your card number is incorrect.".into(),
                intent_id: None,
            });
        }
        let behavior = card_number_behavior(&digits).unwrap_or(CardBehavior::Authorize);
        let id = random_id("pm_");
        let value = serde_json::json!({ "behavior": behavior_name(behavior), "last4": &digits[digits.len() - 4..] });
        self.backend.put(NS_PM, &id, &value.to_string(), None).await.map_err(unavailable)?;
        Ok(id)
    }

    /// Completes (or fails) the 3-D Secure challenge of an intent in
    /// `requires_action`, like the guest's bank page would.
    pub async fn authenticate(&self, id: &str, success: bool) -> Result<Intent, ProcessorError> {
        let now = self.clock.now();
        self.mutate(id, |pi| pi.authenticate(success, now)).await
    }

    /// All intent ids; used by the audit to find intents without a hold.
    pub async fn intent_ids(&self) -> Result<Vec<String>, ProcessorError> {
        self.backend.keys(NS_INTENT).await.map_err(unavailable)
    }

    async fn behavior(&self, pm: &str) -> Result<CardBehavior, ProcessorError> {
        if let Some(b) = payment_method_behavior(pm) {
            return Ok(b);
        }
        let stored = self.backend.get(NS_PM, pm).await.map_err(unavailable)?;
        let name = stored
            .and_then(|(v, _)| serde_json::from_str::<serde_json::Value>(&v).ok())
            .and_then(|v| v.get("behavior").and_then(|b| b.as_str()).map(str::to_string));
        name.and_then(|n| behavior_from_name(&n)).ok_or_else(|| ProcessorError::InvalidRequest {
            code: Some("resource_missing".into()),
            param: Some("payment_method".into()),
            message: format!("No such PaymentMethod: '{pm}'"),
        })
    }

    async fn load(&self, id: &str) -> Result<(SimIntent, i64), ProcessorError> {
        let (json, version) = self
            .backend
            .get(NS_INTENT, id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ProcessorError::NotFound { message: format!("No such payment_intent: '{id}'") })?;
        let pi = serde_json::from_str(&json).map_err(|e| unavailable(e.to_string()))?;
        Ok((pi, version))
    }

    /// Load, apply `f`, save with compare-and-set; retried on a lost race so
    /// concurrent callers serialize exactly as they would at Stripe.
    async fn mutate<F>(&self, id: &str, f: F) -> Result<Intent, ProcessorError>
    where
        F: Fn(&mut SimIntent) -> Result<(), ProcessorError> + Send + Sync,
    {
        for _ in 0..50 {
            let (mut pi, version) = self.load(id).await?;
            let before = pi.clone();
            pi.expire_if_due(self.clock.now());
            let outcome = f(&mut pi);
            let json = serde_json::to_string(&pi).map_err(|e| unavailable(e.to_string()))?;
            if self.backend.put(NS_INTENT, id, &json, Some(version)).await.map_err(unavailable)? {
                self.emit(Some(&before), &pi, matches!(outcome, Err(ProcessorError::Declined { .. })));
                return outcome.map(|()| pi.to_intent());
            }
        }
        Err(ProcessorError::Unavailable { message: "simulator: too much contention on one intent".into() })
    }

    /// Runs `op` at most once per idempotency key, replaying its first
    /// result (success or error) for the same parameters.
    async fn idempotent<Fut>(
        &self,
        key: &IdempotencyKey,
        fingerprint: String,
        op: Fut,
    ) -> Result<Intent, ProcessorError>
    where
        Fut: std::future::Future<Output = Result<Intent, ProcessorError>> + Send,
    {
        let claim = IdemRecord { fingerprint: fingerprint.clone(), result: None };
        let claim_json = serde_json::to_string(&claim).map_err(|e| unavailable(e.to_string()))?;
        if !self.backend.put(NS_IDEM, key.as_str(), &claim_json, None).await.map_err(unavailable)? {
            let (json, _) = self.backend.get(NS_IDEM, key.as_str()).await.map_err(unavailable)?.unwrap_or_default();
            let rec: IdemRecord = serde_json::from_str(&json).map_err(|e| unavailable(e.to_string()))?;
            if rec.fingerprint != fingerprint {
                return Err(ProcessorError::IdempotencyConflict {
                    message: "Keys for idempotent requests can only be used with the same parameters they were first used with.".into(),
                });
            }
            return match rec.result {
                Some(Ok(pi)) => Ok(pi.to_intent()),
                Some(Err(e)) => Err(e),
                None => Err(ProcessorError::IdempotencyConflict {
                    message: "There is currently another in-progress request using this Idempotent Key.".into(),
                }),
            };
        }
        let result = op.await;
        // An unknown outcome is not stored, so a retry under the same key runs again.
        if matches!(result, Err(ProcessorError::Unavailable { .. })) {
            return result;
        }
        let stored = match &result {
            Ok(intent) => Ok(self.load(&intent.id).await?.0),
            Err(e) => Err(e.clone()),
        };
        let rec = IdemRecord { fingerprint, result: Some(stored) };
        let json = serde_json::to_string(&rec).map_err(|e| unavailable(e.to_string()))?;
        let (_, version) = self.backend.get(NS_IDEM, key.as_str()).await.map_err(unavailable)?.unwrap_or_default();
        self.backend.put(NS_IDEM, key.as_str(), &json, Some(version)).await.map_err(unavailable)?;
        result
    }

    async fn confirm_inner(&self, id: &str, pm: &str) -> Result<Intent, ProcessorError> {
        let behavior = self.behavior(pm).await?;
        let now = self.clock.now();
        let pm = pm.to_string();
        self.mutate(id, move |pi| pi.confirm(&pm, behavior, now)).await
    }
}

fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn behavior_name(b: CardBehavior) -> String {
    match b {
        CardBehavior::Authorize => "authorize".into(),
        CardBehavior::RequireAction => "require_action".into(),
        CardBehavior::Decline { decline_code, .. } => format!("decline:{decline_code}"),
    }
}

fn behavior_from_name(name: &str) -> Option<CardBehavior> {
    match name {
        "authorize" => Some(CardBehavior::Authorize),
        "require_action" => Some(CardBehavior::RequireAction),
        other => {
            let code = other.strip_prefix("decline:")?;
            ["4000000000000002", "4000000000009995", "4000000000000069", "4000000000000127"]
                .into_iter()
                .filter_map(card_number_behavior)
                .find(|b| matches!(b, CardBehavior::Decline { decline_code, .. } if *decline_code == code))
        }
    }
}

#[async_trait]
impl Processor for SimulatedProcessor {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn create(&self, req: &CreateIntent, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let meta = serde_json::to_string(&req.metadata).unwrap_or_default();
        let amount = req.amount.to_string();
        let fp = fingerprint(&[
            "create",
            &amount,
            &req.currency,
            &req.description,
            req.receipt_email.as_deref().unwrap_or(""),
            &meta,
            req.payment_method.as_deref().unwrap_or(""),
            if req.off_session { "off_session" } else { "" },
        ]);
        self.idempotent(key, fp, async {
            let id = random_id("pi_");
            let pi = SimIntent::new(&id, random_id(&format!("{id}_secret_")), req, self.clock.now());
            let json = serde_json::to_string(&pi).map_err(|e| unavailable(e.to_string()))?;
            self.backend.put(NS_INTENT, &id, &json, None).await.map_err(unavailable)?;
            match &req.payment_method {
                Some(pm) => self.confirm_inner(&id, pm).await,
                None => Ok(pi.to_intent()),
            }
        })
        .await
    }

    async fn confirm(&self, id: &str, payment_method: &str, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let fp = fingerprint(&["confirm", id, payment_method]);
        self.idempotent(key, fp, self.confirm_inner(id, payment_method)).await
    }

    async fn retrieve(&self, id: &str) -> Result<Intent, ProcessorError> {
        // A read writes only when the authorization has lapsed meanwhile.
        let (mut pi, _) = self.load(id).await?;
        let before = pi.status;
        pi.expire_if_due(self.clock.now());
        if pi.status == before {
            return Ok(pi.to_intent());
        }
        self.mutate(id, |_| Ok(())).await
    }

    async fn capture(&self, id: &str, amount: Option<i64>, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let amt = amount.map(|a| a.to_string()).unwrap_or_default();
        let fp = fingerprint(&["capture", id, &amt]);
        let now = self.clock.now();
        self.idempotent(key, fp, self.mutate(id, move |pi| pi.capture(amount, now))).await
    }

    async fn cancel(&self, id: &str, reason: Option<&str>, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let fp = fingerprint(&["cancel", id, reason.unwrap_or("")]);
        let now = self.clock.now();
        let reason = reason.map(str::to_string);
        self.idempotent(key, fp, self.mutate(id, move |pi| pi.cancel(reason.clone(), now))).await
    }

    async fn increment(&self, id: &str, new_total: i64, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let fp = fingerprint(&["increment", id, &new_total.to_string()]);
        self.idempotent(key, fp, self.mutate(id, move |pi| pi.increment(new_total))).await
    }

    async fn list_by_source(&self, source: &str) -> Result<Vec<Intent>, ProcessorError> {
        let mut out = Vec::new();
        for id in self.intent_ids().await? {
            let intent = self.retrieve(&id).await?;
            if intent.metadata.get("source").map(String::as_str) == Some(source) {
                out.push(intent);
            }
        }
        Ok(out)
    }

    async fn update_metadata(
        &self,
        id: &str,
        metadata: &BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> Result<Intent, ProcessorError> {
        let meta = serde_json::to_string(metadata).unwrap_or_default();
        let fp = fingerprint(&["update", id, &meta]);
        let m = metadata.clone();
        self.idempotent(
            key,
            fp,
            self.mutate(id, move |pi| {
                pi.metadata.extend(m.clone());
                Ok(())
            }),
        )
        .await
    }

    async fn create_customer(&self, _email: Option<&str>, _key: &IdempotencyKey) -> Result<String, ProcessorError> {
        Ok(random_id("cus_"))
    }

    async fn ping(&self) -> Result<(), ProcessorError> {
        self.backend.get(NS_INTENT, "pi_health_probe").await.map(|_| ()).map_err(unavailable)
    }
}

#[cfg(test)]
mod tests;
