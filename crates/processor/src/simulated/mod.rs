//! The simulated processor: a faithful offline stand-in for Stripe test mode.
//!
//! It implements the PaymentIntent lifecycle for `capture_method=manual`
//! with Stripe's test cards, Stripe's idempotency rules (same key and
//! parameters replay; other parameters conflict), a 7-day `capture_before`,
//! and lazy expiry: an authorization past its deadline is canceled with
//! `cancellation_reason=automatic` the next time anyone looks at it.

mod backend;
pub mod cards;
mod dispute;
mod hints;
mod idempotency;
mod intent;
mod saved;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use rand::distr::Alphanumeric;
use rand::RngExt;

pub use backend::{MemoryBackend, SimBackend, SimWrite};
use cards::{behavior_name, card_number_behavior, luhn_valid, payment_method_behavior, CardBehavior};
use idempotency::{fingerprint, record_json};
use intent::SimIntent;
use saved::{presented, StoredCard};

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
    hints: hints::Hints,
}

fn random_id(prefix: &str) -> String {
    let tail: String = rand::rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    format!("{prefix}{tail}")
}

#[expect(clippy::needless_pass_by_value, reason = "the shape `map_err(unavailable)` needs for String errors")]
fn unavailable(e: String) -> ProcessorError {
    ProcessorError::Unavailable { message: format!("simulator storage: {e}") }
}

impl SimulatedProcessor {
    pub fn new(backend: Arc<dyn SimBackend>, clock: Arc<dyn Clock>) -> Self {
        Self { backend, clock, sink: OnceLock::new(), hints: hints::Hints::default() }
    }

    /// Where events go; set once, after the service that consumes them exists.
    pub fn set_event_sink(&self, sink: Arc<dyn EventSink>) {
        let _ = self.sink.set(sink);
    }

    fn emit(&self, before: Option<&SimIntent>, after: &SimIntent, declined: bool, key: Option<&IdempotencyKey>) {
        let Some(sink) = self.sink.get() else { return };
        for kind in intent::events_between(before, after, declined) {
            sink.emit(after.event(kind, self.clock.now(), &random_id("evt_"), key.map(IdempotencyKey::as_str)));
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
        let card = StoredCard::new(&behavior_name(behavior), &digits[digits.len() - 4..]);
        let value = serde_json::to_string(&card).map_err(|e| unavailable(e.to_string()))?;
        self.backend.put(NS_PM, &id, &value, None).await.map_err(unavailable)?;
        Ok(id)
    }

    /// Completes (or fails) the 3-D Secure challenge of an intent in
    /// `requires_action`, like the guest's bank page would.
    pub async fn authenticate(&self, id: &str, success: bool) -> Result<Intent, ProcessorError> {
        let now = self.clock.now();
        self.mutate(id, |pi| pi.authenticate(success, now)).await
    }

    /// The guest's bank disputes the captured charge of `intent_id`
    /// (`reason` as Stripe's, e.g. `fraudulent`), or, with `close`, decides
    /// the dispute (`true`: won). Test mode's stand-in for the bank.
    pub async fn dispute(&self, intent_id: &str, reason: &str, close: Option<bool>) -> Result<Intent, ProcessorError> {
        let now = self.clock.now();
        let reason = reason.to_string();
        self.mutate(intent_id, move |pi| match close {
            Some(won) => pi.close_dispute(won),
            None => pi.open_dispute(&reason, now),
        })
        .await
    }

    /// All intent ids; used by the audit to find intents without a hold.
    pub async fn intent_ids(&self) -> Result<Vec<String>, ProcessorError> {
        self.backend.keys(NS_INTENT).await.map_err(unavailable)
    }

    /// The behavior `pm` chose, and for a tokenized card its stored record
    /// and version (saved.rs); Stripe's test cards have none.
    async fn card(&self, pm: &str) -> Result<(CardBehavior, Option<(StoredCard, i64)>), ProcessorError> {
        if let Some(b) = payment_method_behavior(pm) {
            return Ok((b, None));
        }
        let stored = self.backend.get(NS_PM, pm).await.map_err(unavailable)?;
        let card = stored.and_then(|(v, version)| Some((serde_json::from_str::<StoredCard>(&v).ok()?, version)));
        match card.as_ref().and_then(|(c, _)| c.behavior()) {
            Some(b) => Ok((b, card)),
            None => Err(ProcessorError::InvalidRequest {
                code: Some("resource_missing".into()),
                param: Some("payment_method".into()),
                message: format!("No such PaymentMethod: '{pm}'"),
            }),
        }
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

    /// Loads an intent and applies `f` to it, without storing anything.
    /// It starts from the version this simulator last wrote, if it has one
    /// (hints.rs): the commit compares that version, and a retry reads.
    async fn step<F>(&self, id: &str, f: &F) -> Result<Step, ProcessorError>
    where
        F: Fn(&mut SimIntent) -> Result<(), ProcessorError> + Send + Sync,
    {
        let (mut pi, version) = match self.hints.take(id) {
            Some(hint) => hint,
            None => self.load(id).await?,
        };
        let before = pi.clone();
        pi.expire_if_due(self.clock.now());
        let outcome = f(&mut pi);
        Ok(Step { pi, expected: Some(version), before: Some(before), outcome, card: None })
    }

    /// Stores a step's intent (compare-and-set) and, for an idempotent
    /// request, the record of its answer, in one atomic write. False when
    /// another writer got to the intent or the key first.
    async fn commit(&self, step: &Step, idem: Option<(&IdempotencyKey, &str)>) -> Result<bool, ProcessorError> {
        let intent_json = serde_json::to_string(&step.pi).map_err(|e| unavailable(e.to_string()))?;
        let record = match idem {
            Some((_, fingerprint)) => Some(record_json(fingerprint, step.outcome.clone().map(|()| step.pi.clone()))?),
            None => None,
        };
        let mut writes =
            vec![SimWrite { ns: NS_INTENT, key: &step.pi.id, value: &intent_json, expected: step.expected }];
        let card = match &step.card {
            Some((pm, card, version)) => {
                Some((pm, serde_json::to_string(card).map_err(|e| unavailable(e.to_string()))?, *version))
            }
            None => None,
        };
        if let Some((pm, card, version)) = &card {
            writes.push(SimWrite { ns: NS_PM, key: pm, value: card, expected: Some(*version) });
        }
        if let (Some((key, _)), Some(record)) = (idem, &record) {
            writes.push(SimWrite { ns: NS_IDEM, key: key.as_str(), value: record, expected: None });
        }
        if !self.backend.put_all(&writes).await.map_err(unavailable)? {
            return Ok(false);
        }
        self.hints.put(&step.pi, step.expected.map_or(1, |v| v + 1));
        if let Some(before) = &step.before {
            let declined = matches!(step.outcome, Err(ProcessorError::Declined { .. }));
            self.emit(Some(before), &step.pi, declined, idem.map(|(key, _)| key));
        }
        Ok(true)
    }

    /// Load, apply `f`, save with compare-and-set; retried on a lost race so
    /// concurrent callers serialize exactly as they would at Stripe.
    async fn mutate<F>(&self, id: &str, f: F) -> Result<Intent, ProcessorError>
    where
        F: Fn(&mut SimIntent) -> Result<(), ProcessorError> + Send + Sync,
    {
        for _ in 0..50 {
            let step = self.step(id, &f).await?;
            if self.commit(&step, None).await? {
                return step.result();
            }
        }
        Err(contention())
    }

    /// The step of confirming `id` with `pm`.
    async fn confirm_step(&self, id: &str, pm: &str) -> Result<Step, ProcessorError> {
        let (behavior, card) = self.card(pm).await?;
        let now = self.clock.now();
        let mut step = self.step(id, &|pi: &mut SimIntent| pi.confirm(pm, behavior, now)).await?;
        step.card = presented(pm, card, &step.pi, &step.outcome)?;
        Ok(step)
    }
}

/// One change to one intent, worked out but not yet stored.
struct Step {
    pi: SimIntent,
    /// The stored version it replaces; `None` for a new intent.
    expected: Option<i64>,
    /// The intent before, for the events; `None` announces nothing.
    before: Option<SimIntent>,
    outcome: Result<(), ProcessorError>,
    /// The tokenized card it used, stored with it: (id, record, version).
    card: Option<(String, StoredCard, i64)>,
}

impl Step {
    fn result(&self) -> Result<Intent, ProcessorError> {
        self.outcome.clone().map(|()| self.pi.to_intent())
    }
}

fn contention() -> ProcessorError {
    ProcessorError::Unavailable { message: "simulator: too much contention on one intent".into() }
}

#[async_trait]
impl Processor for SimulatedProcessor {
    fn name(&self) -> &'static str {
        "simulated"
    }
    fn outside_process(&self) -> bool {
        false
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
        let now = self.clock.now();
        self.idempotent(key, fp, || async {
            let id = random_id("pi_");
            let mut pi = SimIntent::new(&id, random_id(&format!("{id}_secret_")), req, now);
            let Some(pm) = &req.payment_method else {
                return Ok(Step { pi, expected: None, before: None, outcome: Ok(()), card: None });
            };
            // Created and confirmed in one step, so one write stores both.
            let (behavior, card) = self.card(pm).await?;
            let before = pi.clone();
            let outcome = pi.confirm(pm, behavior, now);
            let card = presented(pm, card, &pi, &outcome)?;
            Ok(Step { pi, expected: None, before: Some(before), outcome, card })
        })
        .await
    }

    async fn confirm(&self, id: &str, payment_method: &str, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let fp = fingerprint(&["confirm", id, payment_method]);
        self.idempotent(key, fp, || self.confirm_step(id, payment_method)).await
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
        let f = move |pi: &mut SimIntent| pi.capture(amount, now);
        lose_answer(self.idempotent(key, fp, || self.step(id, &f)).await)
    }

    async fn cancel(&self, id: &str, reason: Option<&str>, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let fp = fingerprint(&["cancel", id, reason.unwrap_or("")]);
        let now = self.clock.now();
        let reason = reason.map(str::to_string);
        let f = move |pi: &mut SimIntent| pi.cancel(reason.clone(), now);
        self.idempotent(key, fp, || self.step(id, &f)).await
    }

    async fn refund(
        &self,
        id: &str,
        amount: i64,
        reason: Option<&str>,
        key: &IdempotencyKey,
    ) -> Result<Intent, ProcessorError> {
        let fp = fingerprint(&["refund", id, &amount.to_string(), reason.unwrap_or("")]);
        let f = move |pi: &mut SimIntent| pi.refund(amount);
        lose_answer(self.idempotent(key, fp, || self.step(id, &f)).await)
    }

    async fn retrieve_dispute(&self, id: &str) -> Result<crate::DisputeView, ProcessorError> {
        let pi = dispute::intent_of(id)?;
        self.retrieve(&pi).await?.dispute.ok_or_else(|| dispute::no_dispute(&pi))
    }

    async fn submit_dispute_evidence(
        &self,
        id: &str,
        evidence: &BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> Result<crate::DisputeView, ProcessorError> {
        let pi = dispute::intent_of(id)?;
        let fp = fingerprint(&["dispute", id, &serde_json::to_string(evidence).unwrap_or_default()]);
        let ev = evidence.clone();
        let f = move |intent: &mut SimIntent| intent.submit_evidence(&ev);
        let intent = lose_answer(self.idempotent(key, fp, || self.step(&pi, &f)).await)?;
        intent.dispute.ok_or_else(|| dispute::no_dispute(&pi))
    }

    async fn increment(&self, id: &str, new_total: i64, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let fp = fingerprint(&["increment", id, &new_total.to_string()]);
        let f = move |pi: &mut SimIntent| pi.increment(new_total);
        lose_answer(self.idempotent(key, fp, || self.step(id, &f)).await)
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
        let f = move |pi: &mut SimIntent| {
            pi.metadata.extend(m.clone());
            Ok(())
        };
        self.idempotent(key, fp, || self.step(id, &f)).await
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

/// What a call on a hold confirmed with [`cards::LOST_ANSWERS`] answers: the
/// change happened (and is replayed under the same key), the answer did not
/// arrive.
fn lose_answer(result: Result<Intent, ProcessorError>) -> Result<Intent, ProcessorError> {
    match result {
        Ok(intent) if intent.payment_method.as_deref() == Some(cards::LOST_ANSWERS) => {
            Err(ProcessorError::Unavailable { message: "simulated: the processor's answer was lost".into() })
        }
        other => other,
    }
}
