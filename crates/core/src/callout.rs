//! The one way out of the process. Nothing leaves it (a processor call, a
//! ChittyID mint, an email, a response) before the records it depends on
//! are on disk, and [`HoldService::barrier`] is that rule. Every mutating
//! processor call goes through [`HoldService::call_out`]: an operation is
//! claimed (its record written), the barrier passes, the call goes out
//! under the record's idempotency key, and the outcome is settled.

use std::future::Future;

use chittycharge_processor::ProcessorError;

use super::{CoreResult, HoldService};

impl HoldService {
    /// Waits until everything written so far is durable.
    pub async fn barrier(&self) -> CoreResult<()> {
        if self.store.synced() {
            return Ok(());
        }
        Ok(self.store.sync().await?)
    }

    /// Runs `call` (a processor request not yet sent: futures do nothing
    /// until awaited) after the barrier, when the processor is outside this
    /// process. A barrier that fails is an unknown outcome: the record says
    /// the call may have left, and the janitor takes it from there.
    pub(crate) async fn call_out<T, F>(&self, call: F) -> Result<T, ProcessorError>
    where
        F: Future<Output = Result<T, ProcessorError>>,
    {
        if self.processor.outside_process() {
            if let Err(e) = self.store.sync().await {
                return Err(ProcessorError::Unavailable { message: format!("local store: {e}") });
            }
        }
        call.await
    }
}
