//! Registration in ChittyRegistry, as the deployment seed describes it:
//! `POST {CHITTY_REGISTRY_URL}/api/services` with the service's name,
//! version, domain, health endpoint, capabilities and tier, the ChittyID
//! service token in the `ChittyID-Token` header. Then a heartbeat,
//! `POST {url}/api/services/chittycharge/heartbeat`, every interval.
//!
//! It runs beside the server as its own task: start-up never waits for
//! the registry and no request ever does. While the registry is down the
//! task retries with doubling, jittered back-off capped at the heartbeat
//! interval; a heartbeat answered 404 (the registry forgot us) registers
//! again. `/health` shows where it stands.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chittycharge_api::RegistryHealth;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::config::Registry;

/// The seed's service name and capabilities.
pub const SERVICE_NAME: &str = "chittycharge";
pub const CAPABILITIES: [&str; 2] = ["authorization_holds", "stripe_payments"];
/// A registry call is off every request path, so it may wait longer than a
/// mint does.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Where registration stands, for `/health`.
#[derive(Debug, Default)]
pub struct RegistryState {
    inner: RwLock<Option<RegistryHealth>>,
}

impl RegistryState {
    pub fn get(&self) -> RegistryHealth {
        let guard = self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.clone().unwrap_or_else(RegistryHealth::not_configured)
    }
    fn update(&self, f: impl FnOnce(&mut RegistryHealth)) {
        let mut guard = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = guard
            .get_or_insert_with(|| RegistryHealth { status: "registering".into(), ..RegistryHealth::not_configured() });
        f(h);
    }
}

#[derive(Debug)]
enum CallError {
    /// The registry answered with this non-2xx status.
    Status(u16),
    /// No answer: refused, timed out, reset.
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Status(code) => write!(f, "the registry answered HTTP {code}"),
            CallError::Transport(why) => f.write_str(why),
        }
    }
}

struct Client {
    http: reqwest::Client,
    config: Registry,
    token: SecretString,
}

impl Client {
    async fn post(&self, path: &str, body: serde_json::Value) -> Result<(), CallError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.config.url))
            .header("ChittyID-Token", self.token.expose_secret())
            .json(&body)
            .send()
            .await
            // Without the URL: it is in the configuration, and reqwest's
            // message would repeat it in every log line.
            .map_err(|e| CallError::Transport(e.without_url().to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(CallError::Status(resp.status().as_u16()))
        }
    }

    /// The seed's payload. A 409 means an earlier start registered us:
    /// that is registered too.
    async fn register(&self) -> Result<(), CallError> {
        let body = json!({
            "name": SERVICE_NAME,
            "version": env!("CARGO_PKG_VERSION"),
            "domain": self.config.domain,
            "health_endpoint": self.config.health_endpoint,
            "capabilities": CAPABILITIES,
            "tier": self.config.tier,
        });
        match self.post("/api/services", body).await {
            Err(CallError::Status(409)) => Ok(()),
            other => other,
        }
    }

    async fn heartbeat(&self, ready: bool) -> Result<(), CallError> {
        let status = if ready { "healthy" } else { "degraded" };
        let body = json!({
            "name": SERVICE_NAME,
            "version": env!("CARGO_PKG_VERSION"),
            "status": status,
            "timestamp": now_iso(),
        });
        self.post(&format!("/api/services/{SERVICE_NAME}/heartbeat"), body).await
    }
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The wait after `failures` failures in a row: 1 s, 2 s, 4 s … up to the
/// heartbeat interval, each ±20% so a fleet restarted together does not
/// knock in step.
fn backoff(failures: u32, interval: Duration) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)));
    doubled.min(interval).mul_f64(rand::random_range(0.8..1.2))
}

/// Registers, then beats, until `stop` turns true. `ready` says whether
/// the service is ready (its cached readiness), for the heartbeat.
pub async fn run<F, R>(
    config: Registry,
    token: SecretString,
    state: Arc<RegistryState>,
    ready: F,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    F: Fn() -> R + Send,
    R: std::future::Future<Output = bool> + Send,
{
    let http = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .connect_timeout(CALL_TIMEOUT)
        // The credential is a header of our own, which reqwest would carry
        // to whatever host a redirect names: a redirect is a failure instead.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let interval = Duration::from_secs(config.heartbeat_secs);
    state.update(|h| h.url = Some(config.url.clone()));
    let client = Client { http, config, token };
    let mut registered = false;
    let mut failures: u32 = 0;
    loop {
        let (kind, result) = if registered {
            ("heartbeat", client.heartbeat(ready().await).await)
        } else {
            ("register", client.register().await)
        };
        let label = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("chittycharge_registry_calls_total", "call" => kind, "result" => label).increment(1);
        let wait = match result {
            Ok(()) => {
                failures = 0;
                let at = now_iso();
                state.update(|h| {
                    h.status = "registered".into();
                    h.consecutive_failures = 0;
                    h.last_error = None;
                    if registered {
                        h.last_heartbeat_at = Some(at);
                    } else {
                        h.registered_at = Some(at);
                    }
                });
                if !registered {
                    tracing::info!(registry = %client.config.url, "registered in ChittyRegistry");
                }
                registered = true;
                interval
            }
            Err(CallError::Status(404)) if registered => {
                tracing::warn!("ChittyRegistry no longer knows this service; registering again");
                registered = false;
                state.update(|h| h.status = "registering".into());
                Duration::ZERO
            }
            Err(why) => {
                failures = failures.saturating_add(1);
                // The first failure and every tenth after it, not each one.
                if failures == 1 || failures.is_multiple_of(10) {
                    tracing::warn!(call = kind, failures, error = %why, "ChittyRegistry unreachable; retrying");
                }
                state.update(|h| {
                    h.status = if registered { "unreachable" } else { "retrying" }.into();
                    h.consecutive_failures = failures;
                    h.last_error = Some(why.to_string());
                });
                backoff(failures, interval)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_a_second_and_never_passes_the_heartbeat_interval() {
        let minute = Duration::from_secs(60);
        let first = backoff(1, minute);
        assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200), "{first:?}");
        let third = backoff(3, minute);
        assert!(third >= Duration::from_millis(3200) && third <= Duration::from_millis(4800), "{third:?}");
        for n in [7, 30, u32::MAX] {
            assert!(backoff(n, minute) <= Duration::from_secs(72), "{n}");
        }
    }
}
