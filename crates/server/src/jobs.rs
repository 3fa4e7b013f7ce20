//! Background jobs run beside the HTTP server: the janitor that settles
//! operations whose processor outcome is unknown.

pub mod janitor;
pub mod notifier;
pub mod runner;

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;

/// Runs the job loop and starts it again if it ever panics, so expiry,
/// claim-window releases and the janitor never stop for good. `/readyz`
/// reports a runner that has not ticked for several intervals.
pub async fn supervise(state: Arc<AppState>, shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let run = tokio::spawn(run(state.clone(), shutdown.clone()));
        match run.await {
            Ok(()) => return,
            Err(e) => {
                metrics::counter!("chittycharge_job_runner_restarts_total").increment(1);
                tracing::error!(error = %e, "the job runner stopped unexpectedly; restarting it");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Runs every job on a fixed tick until `shutdown` resolves. Each tick is
/// bounded; work left over waits for the next one.
pub async fn run(state: Arc<AppState>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let interval = Duration::from_millis(state.config.jobs_interval_ms);
    let mailer = notifier::mailer(&state);
    // The retention purge scans whole tables: once an hour is plenty.
    let mut next_purge = state.holds.now();
    loop {
        state.health.runner_ticked();
        // Drain due jobs (bounded), so a burst does not wait a tick per batch.
        for _ in 0..10 {
            match runner::tick(&state).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error.cause = %e, "job runner failed; will retry");
                    break;
                }
            }
        }
        if let Err(e) = state.holds.release_expired_claim_windows().await {
            tracing::warn!(error.cause = %e, "claim-window release failed; will retry");
        }
        if let Some(m) = &mailer {
            if let Err(e) = notifier::tick(&state, m).await {
                tracing::warn!(error.cause = %e, "sending notifications failed; will retry");
            }
        }
        if let Err(e) = janitor::tick(&state).await {
            tracing::warn!(error.cause = %e, "janitor tick failed; will retry");
        }
        let now = state.holds.now();
        if let Err(e) =
            state.store.purge_expired(now.millis().saturating_mul(1000), now.plus_millis(-24 * 3_600_000)).await
        {
            tracing::warn!(error.cause = %e, "purging expired counters failed");
        }
        if now >= next_purge {
            let before = now.plus_secs(-state.config.retention_days * 86_400);
            match state.store.purge_history(before).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "pruned webhook ids and sent notifications past retention"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error.cause = %e, "pruning history failed; will retry"),
            }
            next_purge = now.plus_secs(3_600);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
