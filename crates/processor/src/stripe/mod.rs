//! The Stripe processor: a thin, hand-written client for the seven
//! PaymentIntent endpoints a hold service needs, on reqwest with rustls.
//!
//! Why not async-stripe: it adds about 70 s to every cold build on a
//! 2-core machine for endpoints we use a handful of (see
//! docs/ARCHITECTURE.md). This client pins `Stripe-Version`, sends
//! form-encoded bodies with bracketed `metadata[...]`, sets timeouts, sends
//! the caller's idempotency key on every POST, and retries transient
//! failures under that same key (see [`retry`]).

pub mod retry;
pub mod signature;
pub mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use self::retry::{Attempt, Decision, RetryPolicy};
use self::wire::{map_error, WireIntent, WireList};
use crate::{CreateIntent, IdempotencyKey, Intent, Processor, ProcessorError};

/// The API version this client was written against.
pub const STRIPE_VERSION: &str = "2025-02-24.acacia";

pub struct StripeProcessor {
    http: reqwest::Client,
    base: String,
    key: SecretString,
    policy: RetryPolicy,
}

impl std::fmt::Debug for StripeProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeProcessor").field("base", &self.base).field("key", &"[redacted]").finish()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct StripeTimeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for StripeTimeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(5), request: Duration::from_secs(30) }
    }
}

type Form = Vec<(String, String)>;

fn push(form: &mut Form, k: &str, v: impl Into<String>) {
    form.push((k.to_string(), v.into()));
}

impl StripeProcessor {
    pub fn new(
        base: &str,
        key: SecretString,
        timeouts: StripeTimeouts,
        policy: RetryPolicy,
    ) -> Result<Self, ProcessorError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .user_agent(concat!("chittycharge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProcessorError::Misconfigured { message: format!("HTTP client: {e}") })?;
        Ok(Self { http, base: base.trim_end_matches('/').to_string(), key, policy })
    }

    /// One logical call, retried under the same idempotency key.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &Form,
        key: Option<&IdempotencyKey>,
    ) -> Result<String, ProcessorError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.key.expose_secret())
                .header("Stripe-Version", STRIPE_VERSION);
            if let Some(k) = key {
                req = req.header("Idempotency-Key", k.as_str());
            }
            req = if method == reqwest::Method::GET { req.query(form) } else { req.form(form) };
            let (outcome, body) = match req.send().await {
                Ok(resp) => {
                    let mut code = resp.status().as_u16();
                    let should_retry =
                        resp.headers().get("stripe-should-retry").and_then(|v| v.to_str().ok()).map(|v| v == "true");
                    match resp.text().await {
                        Ok(text) => {
                            // Stripe's older rate-limit answer: a 400 with
                            // `code=rate_limit`, to be retried like a 429.
                            if code == 400 && wire::is_rate_limit(&text) {
                                code = 429;
                            }
                            (Attempt::Status { code, should_retry }, Some((code, text)))
                        }
                        Err(_) => (Attempt::NoResponse, None),
                    }
                }
                Err(e) => {
                    tracing::debug!(error.cause = %e, "stripe request failed without a response");
                    (Attempt::NoResponse, None)
                }
            };
            match self.policy.decide(outcome, attempt) {
                Decision::RetryAfter(d) => {
                    tracing::info!(stripe.path = %path, attempt, "retrying Stripe call under the same idempotency key");
                    tokio::time::sleep(d).await;
                }
                Decision::GiveUp => {
                    return Err(ProcessorError::Unavailable {
                        message: format!("Stripe {path}: no definite answer after {attempt} attempts"),
                    })
                }
                Decision::Done => {
                    let (code, text) = body.unwrap_or((0, String::new()));
                    return if (200..300).contains(&code) { Ok(text) } else { Err(map_error(code, &text)) };
                }
            }
        }
    }

    async fn intent_call(
        &self,
        method: reqwest::Method,
        path: &str,
        mut form: Form,
        key: Option<&IdempotencyKey>,
    ) -> Result<Intent, ProcessorError> {
        // Always expand the charge: it carries `capture_before`.
        push(&mut form, "expand[]", "latest_charge");
        let text = self.call(method, path, &form, key).await?;
        let wire: WireIntent = serde_json::from_str(&text).map_err(|e| ProcessorError::Unavailable {
            message: format!("unreadable PaymentIntent from Stripe: {e}"),
        })?;
        wire.into_intent()
    }
}

fn encode_id(id: &str) -> Result<&str, ProcessorError> {
    // Ids go into the URL path; refuse anything that is not a plain id.
    if !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(id)
    } else {
        Err(ProcessorError::NotFound { message: format!("No such payment_intent: '{id}'") })
    }
}

#[async_trait]
impl Processor for StripeProcessor {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn create(&self, req: &CreateIntent, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let mut form = Form::new();
        push(&mut form, "amount", req.amount.to_string());
        push(&mut form, "currency", req.currency.clone());
        push(&mut form, "capture_method", "manual");
        // Holds are card authorizations: naming the type is how a server-side
        // confirmation tells Stripe no redirect-based method is in play
        // (required since API version 2023-08-16), and the guest's page
        // completes 3-D Secure with Stripe.js.
        push(&mut form, "payment_method_types[]", "card");
        if req.incremental {
            // Only where the card network allows it; the charge then reports
            // whether this authorization can grow.
            push(&mut form, "payment_method_options[card][request_incremental_authorization]", "if_available");
        }
        push(&mut form, "description", req.description.clone());
        if let Some(e) = &req.receipt_email {
            push(&mut form, "receipt_email", e.clone());
        }
        for (k, v) in &req.metadata {
            push(&mut form, &format!("metadata[{k}]"), v.clone());
        }
        if let Some(c) = &req.customer {
            push(&mut form, "customer", c.clone());
        }
        if req.save_for_off_session {
            push(&mut form, "setup_future_usage", "off_session");
        }
        if let Some(pm) = &req.payment_method {
            push(&mut form, "payment_method", pm.clone());
            push(&mut form, "confirm", "true");
            if req.off_session {
                push(&mut form, "off_session", "true");
            }
        }
        self.intent_call(reqwest::Method::POST, "/v1/payment_intents", form, Some(key)).await
    }

    async fn confirm(&self, id: &str, payment_method: &str, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let id = encode_id(id)?;
        let form = vec![("payment_method".to_string(), payment_method.to_string())];
        self.intent_call(reqwest::Method::POST, &format!("/v1/payment_intents/{id}/confirm"), form, Some(key)).await
    }

    async fn retrieve(&self, id: &str) -> Result<Intent, ProcessorError> {
        let id = encode_id(id)?;
        self.intent_call(reqwest::Method::GET, &format!("/v1/payment_intents/{id}"), Form::new(), None).await
    }

    async fn capture(&self, id: &str, amount: Option<i64>, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let id = encode_id(id)?;
        let mut form = Form::new();
        if let Some(a) = amount {
            push(&mut form, "amount_to_capture", a.to_string());
        }
        push(&mut form, "final_capture", "true");
        self.intent_call(reqwest::Method::POST, &format!("/v1/payment_intents/{id}/capture"), form, Some(key)).await
    }

    async fn cancel(&self, id: &str, reason: Option<&str>, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let id = encode_id(id)?;
        let mut form = Form::new();
        if let Some(r) = reason {
            push(&mut form, "cancellation_reason", r);
        }
        self.intent_call(reqwest::Method::POST, &format!("/v1/payment_intents/{id}/cancel"), form, Some(key)).await
    }

    async fn refund(
        &self,
        id: &str,
        amount: i64,
        reason: Option<&str>,
        key: &IdempotencyKey,
    ) -> Result<Intent, ProcessorError> {
        let id = encode_id(id)?;
        let mut form = Form::new();
        push(&mut form, "payment_intent", id);
        push(&mut form, "amount", amount.to_string());
        if let Some(r) = reason {
            push(&mut form, "reason", r);
        }
        self.call(reqwest::Method::POST, "/v1/refunds", &form, Some(key)).await?;
        // The refund is made. Its PaymentIntent, a read that may be
        // repeated freely, carries the charge's refunded total; if the read
        // fails the operation is unknown and the janitor re-issues the
        // refund under the same key, which Stripe answers with this refund.
        self.retrieve(id).await
    }

    async fn retrieve_dispute(&self, id: &str) -> Result<crate::DisputeView, ProcessorError> {
        let id = encode_id(id)?;
        let text = self.call(reqwest::Method::GET, &format!("/v1/disputes/{id}"), &Form::new(), None).await?;
        crate::dispute::parse_stripe_dispute(&text)
    }

    async fn submit_dispute_evidence(
        &self,
        id: &str,
        evidence: &BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> Result<crate::DisputeView, ProcessorError> {
        let id = encode_id(id)?;
        let mut form = Form::new();
        for (k, v) in evidence {
            push(&mut form, &format!("evidence[{k}]"), v.clone());
        }
        push(&mut form, "submit", "true");
        let text = self.call(reqwest::Method::POST, &format!("/v1/disputes/{id}"), &form, Some(key)).await?;
        crate::dispute::parse_stripe_dispute(&text)
    }

    async fn increment(&self, id: &str, new_total: i64, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        let id = encode_id(id)?;
        let form = vec![("amount".to_string(), new_total.to_string())];
        self.intent_call(
            reqwest::Method::POST,
            &format!("/v1/payment_intents/{id}/increment_authorization"),
            form,
            Some(key),
        )
        .await
    }

    async fn update_metadata(
        &self,
        id: &str,
        metadata: &BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> Result<Intent, ProcessorError> {
        let id = encode_id(id)?;
        let form = metadata.iter().map(|(k, v)| (format!("metadata[{k}]"), v.clone())).collect();
        self.intent_call(reqwest::Method::POST, &format!("/v1/payment_intents/{id}"), form, Some(key)).await
    }

    async fn list_by_source(&self, source: &str) -> Result<Vec<Intent>, ProcessorError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        // Every page, however many: a silent cap would let an audit pass on a
        // partial list. A page that does not move the cursor ends the walk
        // with an error rather than looping.
        loop {
            let mut form: Form = vec![("limit".into(), "100".into())];
            if let Some(a) = &after {
                form.push(("starting_after".into(), a.clone()));
            }
            let text = self.call(reqwest::Method::GET, "/v1/payment_intents", &form, None).await?;
            let list: WireList = serde_json::from_str(&text)
                .map_err(|e| ProcessorError::Unavailable { message: format!("unreadable list: {e}") })?;
            let mut last = None;
            for item in list.data {
                let wire: WireIntent = serde_json::from_value(item)
                    .map_err(|e| ProcessorError::Unavailable { message: format!("unreadable PaymentIntent: {e}") })?;
                last = Some(wire.id.clone());
                let intent = wire.into_intent()?;
                if intent.metadata.get("source").map(String::as_str) == Some(source) {
                    out.push(intent);
                }
            }
            match (list.has_more, last) {
                (true, Some(l)) if after.as_deref() != Some(l.as_str()) => after = Some(l),
                (true, _) => {
                    return Err(ProcessorError::Unavailable {
                        message: "the PaymentIntent list did not advance; stopped instead of reading it again".into(),
                    })
                }
                (false, _) => return Ok(out),
            }
        }
    }

    async fn create_customer(&self, email: Option<&str>, key: &IdempotencyKey) -> Result<String, ProcessorError> {
        let mut form = Form::new();
        if let Some(e) = email {
            push(&mut form, "email", e);
        }
        let text = self.call(reqwest::Method::POST, "/v1/customers", &form, Some(key)).await?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ProcessorError::Unavailable { message: format!("unreadable customer: {e}") })?;
        v.get("id")
            .and_then(|i| i.as_str())
            .map(str::to_string)
            .ok_or_else(|| ProcessorError::Unavailable { message: "customer without an id".into() })
    }

    async fn ping(&self) -> Result<(), ProcessorError> {
        let form: Form = vec![("limit".into(), "1".into())];
        self.call(reqwest::Method::GET, "/v1/payment_intents", &form, None).await.map(|_| ())
    }
}
