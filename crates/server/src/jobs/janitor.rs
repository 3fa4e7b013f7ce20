//! The janitor: finds operations whose outcome is unknown (or whose process
//! died mid-call) and reconciles them on a back-off schedule. Claiming is a
//! compare-and-set on the attempt count, so with several instances each
//! attempt runs once.

use chittycharge_domain::Timestamp;
use chittycharge_store::OpStatus;

use crate::state::AppState;
use chittycharge_core::operations::STALE_PENDING_MS;
use chittycharge_core::CoreResult;

const BATCH: i64 = 100;

pub async fn tick(state: &AppState) -> CoreResult<usize> {
    let now = state.holds.now();
    let schedule = &state.config.janitor_schedule;
    let max_attempts = i64::try_from(schedule.len()).unwrap_or(i64::MAX - 1) + 1;
    let mut abandoned_before = now.plus_millis(-STALE_PENDING_MS);
    if let Some(started) = state.orphans_before {
        abandoned_before = abandoned_before.max(started);
    }
    let due = state.store.due_operations(now, abandoned_before, max_attempts, BATCH).await?;
    let mut settled = 0;
    for op in due {
        let Ok(attempt) = usize::try_from(op.attempts) else { continue };
        let Some(delay) = schedule.get(attempt.min(schedule.len())).or(schedule.last()) else { continue };
        if attempt > schedule.len() {
            // Out of attempts: stays unknown for a person (`chittycharge operations stuck`).
            continue;
        }
        let next = Timestamp::from_millis(
            now.millis().saturating_add(i64::try_from(*delay).unwrap_or(i64::MAX / 2).saturating_mul(1000)),
        );
        if !state.store.claim_operation(&op, next, now).await? {
            continue;
        }
        match state.holds.reconcile_operation(&op).await {
            Ok(OpStatus::Unknown) => {
                state
                    .store
                    .finish_operation(&op.id, OpStatus::Unknown, Some("processor still unreachable"), now)
                    .await?;
                tracing::warn!(operation.id = %op.id, attempt = attempt + 1, "operation still unknown; will retry");
            }
            Ok(status) => {
                settled += 1;
                tracing::info!(operation.id = %op.id, operation.kind = %op.kind, status = status.as_str(), "janitor settled an operation");
            }
            Err(e) => tracing::warn!(operation.id = %op.id, error = %e, "janitor could not settle an operation"),
        }
    }
    Ok(settled)
}
