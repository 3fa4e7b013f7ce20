//! The hot write transactions, written once against [`Exec`] (exec.rs):
//! a hold's insert, lock and save, operation records, events, webhook
//! records, job scheduling and the simulator's objects. Each returns
//! whether its transaction should commit.

use chittycharge_domain::{Hold, Timestamp};

use crate::exec::{q, Exec};
use crate::rows::{state_columns, HOLD_COLUMNS};
use crate::{Job, NewEvent, OpStatus, Operation, StoreError, StoreResult};

/// How a transaction ends, with its answer.
pub(crate) enum Done<T> {
    Commit(T),
    Rollback(T),
}

pub(crate) async fn insert_event(ex: &mut Exec<'_>, hold_id: &str, e: &NewEvent) -> StoreResult<()> {
    ex.run(
        q("INSERT INTO hold_events (hold_id, kind, actor, from_status, to_status, amount, reason, data, created_at) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(hold_id)
        .bind(&e.kind)
        .bind(e.actor.as_deref())
        .bind(e.from_status.as_deref())
        .bind(e.to_status.as_deref())
        .bind(e.amount)
        .bind(e.reason.as_deref())
        .bind(e.data.as_ref().map(|d| d.to_string()))
        .bind(e.at.millis()),
    )
    .await?;
    Ok(())
}

pub(crate) async fn finish_op(
    ex: &mut Exec<'_>,
    id: &str,
    status: OpStatus,
    error: Option<&str>,
    at: Timestamp,
) -> StoreResult<()> {
    ex.run(
        q("UPDATE operations SET status = $1, error = $2, updated_at = $3 WHERE id = $4")
            .bind(status.as_str())
            .bind(error)
            .bind(at.millis())
            .bind(id),
    )
    .await?;
    Ok(())
}

async fn insert_op_row(ex: &mut Exec<'_>, op: &Operation, hold_id: Option<&str>) -> StoreResult<()> {
    ex.run(
        q("INSERT INTO operations (id, hold_id, kind, status, request, error, attempts, next_attempt_at, created_at, updated_at) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(&op.id)
        .bind(hold_id)
        .bind(&op.kind)
        .bind(op.status.as_str())
        .bind(op.request.to_string())
        .bind(op.error.as_deref())
        .bind(op.attempts)
        .bind(op.next_attempt_at.map(Timestamp::millis))
        .bind(op.created_at.millis())
        .bind(op.updated_at.millis()),
    )
    .await?;
    Ok(())
}

pub(crate) async fn insert_operation(ex: &mut Exec<'_>, op: &Operation) -> StoreResult<Done<()>> {
    insert_op_row(ex, op, op.hold_id.as_deref()).await?;
    Ok(Done::Commit(()))
}

pub(crate) async fn insert_hold(
    ex: &mut Exec<'_>,
    h: &Hold,
    events: &[NewEvent],
    op_id: Option<&str>,
) -> StoreResult<Done<()>> {
    let s = state_columns(h);
    let metadata = serde_json::to_string(&h.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sql = format!(
        "INSERT INTO holds ({HOLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)"
    );
    ex.run(
        q(&sql)
            .bind(&h.id)
            .bind(&h.chitty_id)
            .bind(&h.processor)
            .bind(h.client_secret.as_deref())
            .bind(s.status)
            .bind(h.amount.minor())
            .bind(s.capturable)
            .bind(s.captured)
            .bind(s.released)
            .bind(h.amount.currency().code())
            .bind(&h.description)
            .bind(h.customer_email.as_deref())
            .bind(h.property_id.as_deref())
            .bind(h.tenant_id.as_deref())
            .bind(h.booking_id.as_deref())
            .bind(h.tier.as_str())
            .bind(&h.tier_reason)
            .bind(h.processing_fee)
            .bind(metadata)
            .bind(s.reason)
            .bind(s.expires_at)
            .bind(s.captured_at)
            .bind(s.canceled_at)
            .bind(h.created_at.millis())
            .bind(h.updated_at.millis())
            .bind(h.created_by.as_deref())
            .bind(h.version)
            .bind(h.op_lock.as_deref())
            .bind(i64::from(h.livemode)),
    )
    .await?;
    for event in events {
        insert_event(ex, &h.id, event).await?;
    }
    if let Some(op) = op_id {
        ex.run(q("UPDATE operations SET hold_id = $1 WHERE id = $2").bind(&h.id).bind(op)).await?;
        finish_op(ex, op, OpStatus::Succeeded, None, h.created_at).await?;
    }
    Ok(Done::Commit(()))
}

pub(crate) async fn lock_hold(
    ex: &mut Exec<'_>,
    hold_id: &str,
    expected_version: i64,
    op: &Operation,
) -> StoreResult<Done<bool>> {
    let n = ex
        .run(
            q("UPDATE holds SET op_lock = $1, version = version + 1, updated_at = $2 \
               WHERE id = $3 AND version = $4 AND op_lock IS NULL")
            .bind(&op.id)
            .bind(op.created_at.millis())
            .bind(hold_id)
            .bind(expected_version),
        )
        .await?;
    if n != 1 {
        return Ok(Done::Rollback(false));
    }
    insert_op_row(ex, op, Some(hold_id)).await?;
    Ok(Done::Commit(true))
}

pub(crate) async fn save_hold(
    ex: &mut Exec<'_>,
    h: &Hold,
    expected_version: i64,
    events: &[NewEvent],
    finish: Option<(&str, OpStatus, Option<&str>)>,
) -> StoreResult<Done<bool>> {
    let s = state_columns(h);
    let metadata = serde_json::to_string(&h.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let n = ex
        .run(
            q("UPDATE holds SET chitty_id = $1, status = $2, amount = $3, amount_capturable = $4, amount_captured = $5, \
               amount_released = $6, processing_fee = $7, metadata = $8, reason = $9, expires_at = $10, captured_at = $11, \
               canceled_at = $12, updated_at = $13, op_lock = $14, booking_id = $15, version = version + 1 \
               WHERE id = $16 AND version = $17")
            .bind(&h.chitty_id)
            .bind(s.status)
            .bind(h.amount.minor())
            .bind(s.capturable)
            .bind(s.captured)
            .bind(s.released)
            .bind(h.processing_fee)
            .bind(metadata)
            .bind(s.reason)
            .bind(s.expires_at)
            .bind(s.captured_at)
            .bind(s.canceled_at)
            .bind(h.updated_at.millis())
            .bind(h.op_lock.as_deref())
            .bind(h.booking_id.as_deref())
            .bind(&h.id)
            .bind(expected_version),
        )
        .await?;
    if n != 1 {
        return Ok(Done::Rollback(false));
    }
    for e in events {
        insert_event(ex, &h.id, e).await?;
    }
    if let Some((op, status, error)) = finish {
        finish_op(ex, op, status, error, h.updated_at).await?;
    }
    Ok(Done::Commit(true))
}

/// True when this call recorded the event (false: it was there already).
pub(crate) async fn record_webhook_event(
    ex: &mut Exec<'_>,
    id: &str,
    kind: &str,
    signed_at: i64,
    now: Timestamp,
    result: &str,
) -> StoreResult<Done<bool>> {
    let n = ex
        .run(
            q("INSERT INTO webhook_events (id, kind, signed_at, received_at, result) VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(kind)
            .bind(signed_at)
            .bind(now.millis())
            .bind(result),
        )
        .await?;
    Ok(Done::Commit(n == 1))
}

pub(crate) async fn schedule_job(ex: &mut Exec<'_>, j: &Job) -> StoreResult<Done<bool>> {
    let n = ex
        .run(
            q("INSERT INTO jobs (id, kind, key, hold_id, booking_id, payload, run_at, status, attempts, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $9) ON CONFLICT DO NOTHING")
            .bind(&j.id)
            .bind(&j.kind)
            .bind(&j.key)
            .bind(j.hold_id.as_deref())
            .bind(j.booking_id.as_deref())
            .bind(j.payload.to_string())
            .bind(j.run_at.millis())
            .bind(j.created_at.millis())
            .bind(j.updated_at.millis()),
        )
        .await?;
    Ok(Done::Commit(n == 1))
}

pub(crate) async fn schedule_jobs(ex: &mut Exec<'_>, jobs: &[Job]) -> StoreResult<Done<()>> {
    for j in jobs {
        schedule_job(ex, j).await?;
    }
    Ok(Done::Commit(()))
}

/// Inserts when `expected` is `None` (false if the key exists), otherwise
/// replaces only at that version.
async fn sim_put_one(ex: &mut Exec<'_>, ns: &str, key: &str, value: &str, expected: Option<i64>) -> StoreResult<bool> {
    let n = match expected {
        None => {
            ex.run(
                q("INSERT INTO sim_objects (ns, key, value, version) VALUES ($1, $2, $3, 1) ON CONFLICT DO NOTHING")
                    .bind(ns)
                    .bind(key)
                    .bind(value),
            )
            .await?
        }
        Some(v) => {
            ex.run(
                q("UPDATE sim_objects SET value = $1, version = version + 1 WHERE ns = $2 AND key = $3 AND version = $4")
                    .bind(value)
                    .bind(ns)
                    .bind(key)
                    .bind(v),
            )
            .await?
        }
    };
    Ok(n == 1)
}

/// All or nothing.
pub(crate) async fn sim_put_all(
    ex: &mut Exec<'_>,
    writes: &[(&str, &str, &str, Option<i64>)],
) -> StoreResult<Done<bool>> {
    for (ns, key, value, expected) in writes {
        if !sim_put_one(ex, ns, key, value, *expected).await? {
            return Ok(Done::Rollback(false));
        }
    }
    Ok(Done::Commit(true))
}
