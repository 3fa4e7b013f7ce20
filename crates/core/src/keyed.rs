//! Creates keyed by the API caller's `Idempotency-Key`. The server derives
//! the create operation's id from the key and the caller's token, and the
//! record keeps the request's fingerprint, so the operation record, written
//! before the processor call, is also the claim on the key. The server's stored
//! response covers the usual retry; this covers the retry whose first
//! attempt left no stored response (a 5xx after the hold was placed, a
//! crash, a lease taken over after two minutes), which would otherwise
//! place a second hold on the guest's card.

use chittycharge_store::OpStatus;

use crate::caller::Caller;
use crate::create::{Created, RequestKey};
use crate::{CoreError, CoreResult, HoldService};

/// Attempts one key may make after earlier ones failed outright.
const MAX_ATTEMPTS: u32 = 10;

impl HoldService {
    /// The operation id a keyed create takes, or what an earlier attempt
    /// with the same key placed. Ids are the key's, then `…_1`, `…_2`, …
    /// for attempts after ones that failed outright (nothing placed: the
    /// retry a caller makes after a 503); the first unused one is this
    /// attempt's, and inserting it is the claim (a racing insert answers
    /// `Busy`). An attempt that placed a hold answers with it; one whose
    /// outcome is still open answers `Busy` until the janitor settles it;
    /// another request under the same key is refused.
    pub(crate) async fn keyed_operation(
        &self,
        key: &RequestKey,
        caller: &Caller,
    ) -> CoreResult<Result<String, Created>> {
        for n in 0..MAX_ATTEMPTS {
            let id = if n == 0 { key.operation_id.clone() } else { format!("{}_{n}", key.operation_id) };
            let Some(op) = self.store.get_operation(&id).await? else { return Ok(Ok(id)) };
            let fingerprint = op.request.get("fingerprint").and_then(|f| f.as_str());
            if fingerprint != Some(key.fingerprint.as_str()) {
                return Err(CoreError::Idempotency {
                    message: "Keys for idempotent requests can only be used with the same parameters they were \
                              first used with."
                        .into(),
                });
            }
            match (op.status, op.hold_id) {
                // Whatever its status says, an attempt that made a hold made it.
                (_, Some(hold_id)) => {
                    let hold = self.visible_hold(&hold_id, caller).await?;
                    let tier_limit = hold.tier.limit(hold.amount.currency());
                    return Ok(Err(Created { hold, tier_limit }));
                }
                (OpStatus::Failed, None) => continue,
                _ => return Err(CoreError::Busy),
            }
        }
        Err(CoreError::Idempotency {
            message: format!("{MAX_ATTEMPTS} requests with this Idempotency-Key failed; send it with a new key."),
        })
    }
}
