//! Runs due durable jobs. Each run is recorded in the hold's event log, and
//! failures retry with back-off before the job is marked failed.

use chittycharge_store::NewEvent;
use serde_json::json;

use crate::app::AppState;
use crate::core::automation::JobOutcome;
use crate::core::CoreResult;

/// A claimed job whose worker dies is claimable again after this.
const LEASE_MS: i64 = 120_000;
const BACKOFF_SECS: [i64; 5] = [10, 60, 300, 1_800, 7_200];

pub async fn tick(state: &AppState) -> CoreResult<usize> {
    let now = state.holds.now();
    let jobs = state.store.claim_jobs(now, LEASE_MS, 20).await?;
    let ran = jobs.len();
    for job in jobs {
        let outcome = state.holds.run_job(&job).await;
        let now = state.holds.now();
        let attempt = usize::try_from(job.attempts).unwrap_or(usize::MAX);
        let (status, message, retry) = match &outcome {
            JobOutcome::Done(m) => ("done", m.clone(), None),
            JobOutcome::RetryAt(t, m) => ("queued", m.clone(), Some(*t)),
            JobOutcome::Failed(m) if attempt < BACKOFF_SECS.len() => {
                ("queued", m.clone(), Some(now.plus_secs(BACKOFF_SECS[attempt.saturating_sub(1)])))
            }
            JobOutcome::Failed(m) => ("failed", m.clone(), None),
        };
        let error = (status != "done").then_some(message.as_str());
        state.store.finish_job(&job.id, status, error, retry, now).await?;
        metrics::counter!("chittycharge_job_runs_total", "kind" => job.kind.clone(), "status" => status).increment(1);
        if let Some(hold_id) = &job.hold_id {
            let ev = NewEvent {
                kind: "job".into(),
                actor: Some("system: job runner".into()),
                reason: Some(format!("{}: {message}", job.kind)),
                data: Some(json!({ "job_id": job.id, "kind": job.kind, "attempt": job.attempts, "status": status })),
                at: now,
                ..NewEvent::default()
            };
            state.store.append_event(hold_id, &ev).await?;
        }
        tracing::info!(job.id = %job.id, job.kind = %job.kind, status, %message, "job ran");
    }
    Ok(ran)
}
