//! Runs due durable jobs. Each run is recorded in the hold's event log, and
//! failures retry with back-off before the job is marked failed.

use chittycharge_store::NewEvent;
use serde_json::json;

use crate::state::AppState;
use chittycharge_core::automation::JobOutcome;
use chittycharge_core::CoreResult;

/// A claimed job whose worker dies is claimable again after this. Each job
/// is claimed on its own, just before it runs, and its lease is renewed
/// while it runs, so a slow processor call never lets a second instance
/// take the same job.
const LEASE_MS: i64 = 120_000;
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
const BACKOFF_SECS: [i64; 5] = [10, 60, 300, 1_800, 7_200];
const PER_TICK: usize = 20;

/// Runs `job` while renewing its lease in the background.
async fn run_leased(state: &AppState, job: &chittycharge_store::Job) -> JobOutcome {
    let run = state.holds.run_job(job);
    tokio::pin!(run);
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.tick().await;
    loop {
        tokio::select! {
            outcome = &mut run => return outcome,
            _ = renew.tick() => {
                let until = state.holds.now().plus_millis(LEASE_MS);
                match state.store.renew_job_lease(&job.id, job.attempts, until).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(job.id = %job.id, "job lease taken over while running"),
                    Err(e) => tracing::warn!(job.id = %job.id, error = %e, "could not renew a job lease"),
                }
            }
        }
    }
}

pub async fn tick(state: &AppState) -> CoreResult<usize> {
    let mut ran = 0;
    while ran < PER_TICK {
        let now = state.holds.now();
        let Some(job) = state.store.claim_jobs(now, LEASE_MS, 1).await?.pop() else { break };
        ran += 1;
        let outcome = run_leased(state, &job).await;
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
