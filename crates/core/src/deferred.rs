//! News about a hold that arrives while an operation holds its lock.
//!
//! A sync (a processor event, the guest's 3-D Secure step) that finds the
//! hold locked cannot write: the operation in flight owns the row until it
//! settles, and its settle folds only what its own call returned. If the
//! news came from elsewhere (the guest authenticated while an operator's
//! call was running, on this instance or another), the settle does not know
//! it, and before this the news was lost: a hold the processor had
//! authorized stayed `requires_action` and could not be captured. So such
//! a sync leaves a `sync` job for the hold, one per locking operation (its
//! key names both), which syncs the hold from the processor once the lock
//! is gone. The operation's own news (an event naming its idempotency key)
//! needs none: its settle applies it.

use chittycharge_domain::Hold;
use chittycharge_processor::IdempotencyKey;
use chittycharge_store::Job;
use serde_json::json;

use super::automation::JobOutcome;
use super::sync::EventContext;
use super::{CoreError, CoreResult, HoldService};

/// How long a `sync` job waits for a lock before it leaves the hold to the
/// janitor, which resolves every operation still open (a minute of retries
/// a second apart).
const LOCK_WAITS: i64 = 60;

impl HoldService {
    /// Called by a sync that found `hold` locked; `origin` is the
    /// idempotency key of the request the news came from, if known.
    pub(crate) async fn sync_after_lock(&self, hold: &Hold, origin: Option<&str>) {
        let Some(op) = hold.op_lock.as_deref() else { return };
        if origin == Some(IdempotencyKey::derived(op).as_str()) {
            return;
        }
        let job = self.job("sync", format!("sync:{}:{op}", hold.id), Some(&hold.id), None, json!({}), self.now());
        if let Err(e) = self.schedule(job).await {
            tracing::warn!(hold.id = %hold.id, error = %e, "could not schedule the sync of a locked hold");
        }
    }

    pub(crate) async fn job_sync(&self, job: &Job) -> CoreResult<JobOutcome> {
        let Some(hold_id) = &job.hold_id else { return Ok(JobOutcome::Failed("no hold".into())) };
        let Some(hold) = self.store.get_hold(hold_id).await? else {
            return Ok(JobOutcome::Done("no such hold".into()));
        };
        if hold.op_lock.is_some() {
            if job.attempts >= LOCK_WAITS {
                return Ok(JobOutcome::Done("still locked; the janitor resolves the operation".into()));
            }
            return Ok(JobOutcome::RetryAt(self.now().plus_secs(1), "the hold is locked by an operation".into()));
        }
        let ctx = EventContext::actor("system: news that came during an operation");
        let synced = self.sync_if_ours(hold_id, &ctx).await?.ok_or(CoreError::NotFound)?;
        Ok(JobOutcome::Done(format!("synced: {}", synced.state.status())))
    }
}
