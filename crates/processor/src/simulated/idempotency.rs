//! Stripe's idempotency rules in the simulator: the same key with the same
//! parameters replays the first answer; other parameters conflict.

use sha2::{Digest, Sha256};

use super::intent::SimIntent;
use super::{contention, unavailable, SimWrite, SimulatedProcessor, Step, NS_IDEM};
use crate::{IdempotencyKey, Intent, ProcessorError};

/// What an idempotent request stored: its parameter fingerprint and result.
#[derive(serde::Serialize, serde::Deserialize)]
struct IdemRecord {
    fingerprint: String,
    result: Option<Result<SimIntent, ProcessorError>>,
}

impl SimulatedProcessor {
    /// The answer stored for `key`, if there is one.
    pub(super) async fn replay(
        &self,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<Option<Result<Intent, ProcessorError>>, ProcessorError> {
        let Some((json, _)) = self.backend.get(NS_IDEM, key.as_str()).await.map_err(unavailable)? else {
            return Ok(None);
        };
        let rec: IdemRecord = serde_json::from_str(&json).map_err(|e| unavailable(e.to_string()))?;
        if rec.fingerprint != fingerprint {
            return Ok(Some(Err(ProcessorError::IdempotencyConflict {
                message:
                    "Keys for idempotent requests can only be used with the same parameters they were first used with."
                        .into(),
            })));
        }
        Ok(Some(match rec.result {
            Some(Ok(pi)) => Ok(pi.to_intent()),
            Some(Err(e)) => Err(e),
            // A claim without an answer, as earlier versions wrote them.
            None => Err(ProcessorError::IdempotencyConflict {
                message: "There is currently another in-progress request using this Idempotent Key.".into(),
            }),
        }))
    }

    /// Runs the request `plan` describes at most once per idempotency key,
    /// replaying its first answer (success or error) for the same
    /// parameters. The change and the key's record are stored in one atomic
    /// write, so a request either happened with its record or not at all:
    /// two racing requests with one key cannot both take effect, and the
    /// loser replays the winner's answer.
    pub(super) async fn idempotent<P, Fut>(
        &self,
        key: &IdempotencyKey,
        fingerprint: String,
        plan: P,
    ) -> Result<Intent, ProcessorError>
    where
        P: Fn() -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Result<Step, ProcessorError>> + Send,
    {
        for attempt in 0..50 {
            // Optimistic: most keys are new, and a key already used makes
            // the commit below fail as a whole (its record is inserted with
            // the change), so the stored answer is looked up only then.
            if attempt > 0 {
                if let Some(earlier) = self.replay(key, &fingerprint).await? {
                    return earlier;
                }
            }
            match plan().await {
                Ok(step) => {
                    if self.commit(&step, Some((key, &fingerprint))).await? {
                        return step.result();
                    }
                }
                // An unknown outcome is not stored, so a retry under the same key runs again.
                Err(e @ ProcessorError::Unavailable { .. }) => {
                    if attempt == 0 {
                        if let Some(earlier) = self.replay(key, &fingerprint).await? {
                            return earlier;
                        }
                    }
                    return Err(e);
                }
                // Refused before touching an intent: the refusal is the answer.
                Err(e) => {
                    let record = record_json(&fingerprint, Err(e.clone()))?;
                    let write = SimWrite { ns: NS_IDEM, key: key.as_str(), value: &record, expected: None };
                    if self.backend.put_all(&[write]).await.map_err(unavailable)? {
                        return Err(e);
                    }
                }
            }
            // Lost a race on the intent or on the key: look again.
        }
        Err(contention())
    }
}

pub(super) fn record_json(
    fingerprint: &str,
    result: Result<SimIntent, ProcessorError>,
) -> Result<String, ProcessorError> {
    serde_json::to_string(&IdemRecord { fingerprint: fingerprint.to_string(), result: Some(result) })
        .map_err(|e| unavailable(e.to_string()))
}

pub(super) fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}
