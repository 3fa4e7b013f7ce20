//! The hot write transactions, written once against [`Exec`] (exec.rs):
//! a hold's insert, lock and save, operation records, events, webhook
//! records, job scheduling and the simulator's objects. Each returns
//! whether its transaction should commit.

use chittycharge_domain::{Hold, Timestamp};

use crate::exec::{q, Composed, Exec, Q};
use crate::rows::{state_columns, HOLD_COLUMNS};
use crate::{Job, NewEvent, OpStatus, Operation, StoreError, StoreResult};

/// How a transaction ends, with its answer.
pub(crate) enum Done<T> {
    Commit(T),
    Rollback(T),
}

const EVENT_COLUMNS: &str = "hold_id, kind, actor, from_status, to_status, amount, reason, data, created_at";

/// Where an insert takes its one row from: its own `VALUES`, or (composed
/// into one statement on PostgreSQL, writes_pg.rs) a `SELECT` from an
/// earlier part, so the row is written only if that part changed a row.
#[derive(Clone, Copy)]
pub(crate) enum Row<'c> {
    Values,
    IfAny(&'c str),
}

fn insert_sql(head: &str, values: &str, row: Row<'_>) -> String {
    match row {
        Row::Values => format!("{head} VALUES ({values})"),
        Row::IfAny(cte) => format!("{head} SELECT {values} FROM {cte}"),
    }
}

pub(crate) fn event_q<'a>(hold_id: &'a str, e: &'a NewEvent, row: Row<'_>) -> Q<'a> {
    // Casts: in a `SELECT` list PostgreSQL cannot take a parameter's type
    // from the column it goes into.
    Q::owned(insert_sql(
        &format!("INSERT INTO hold_events ({EVENT_COLUMNS})"),
        "$1, $2, $3, $4, $5, CAST($6 AS BIGINT), $7, $8, CAST($9 AS BIGINT)",
        row,
    ))
    .bind(hold_id)
    .bind(&e.kind)
    .bind(e.actor.as_deref())
    .bind(e.from_status.as_deref())
    .bind(e.to_status.as_deref())
    .bind(e.amount)
    .bind(e.reason.as_deref())
    .bind(e.data.as_ref().map(|d| d.to_string()))
    .bind(e.at.millis())
}

pub(crate) async fn insert_event(ex: &mut Exec<'_>, hold_id: &str, e: &NewEvent) -> StoreResult<()> {
    ex.run(event_q(hold_id, e, Row::Values)).await?;
    Ok(())
}

pub(crate) fn finish_q(id: &str, status: OpStatus, error: Option<&str>, at: Timestamp) -> Q<'static> {
    Q::owned("UPDATE operations SET status = $1, error = $2, updated_at = $3 WHERE id = $4".to_string())
        .bind(status.as_str())
        .bind(error.map(str::to_string))
        .bind(at.millis())
        .bind(id.to_string())
}

pub(crate) async fn finish_op(
    ex: &mut Exec<'_>,
    id: &str,
    status: OpStatus,
    error: Option<&str>,
    at: Timestamp,
) -> StoreResult<()> {
    ex.run(finish_q(id, status, error, at)).await?;
    Ok(())
}

pub(crate) fn op_insert_q<'a>(op: &'a Operation, hold_id: Option<&'a str>, row: Row<'_>) -> Q<'a> {
    Q::owned(insert_sql(
        "INSERT INTO operations (id, hold_id, kind, status, request, error, attempts, next_attempt_at, created_at, updated_at)",
        "$1, $2, $3, $4, $5, $6, CAST($7 AS BIGINT), CAST($8 AS BIGINT), CAST($9 AS BIGINT), CAST($10 AS BIGINT)",
        row,
    ))
    .bind(&op.id)
    .bind(hold_id)
    .bind(&op.kind)
    .bind(op.status.as_str())
    .bind(op.request.to_string())
    .bind(op.error.as_deref())
    .bind(op.attempts)
    .bind(op.next_attempt_at.map(Timestamp::millis))
    .bind(op.created_at.millis())
    .bind(op.updated_at.millis())
}

async fn insert_op_row(ex: &mut Exec<'_>, op: &Operation, hold_id: Option<&str>) -> StoreResult<()> {
    ex.run(op_insert_q(op, hold_id, Row::Values)).await?;
    Ok(())
}

pub(crate) async fn insert_operation(ex: &mut Exec<'_>, op: &Operation) -> StoreResult<Done<()>> {
    insert_op_row(ex, op, op.hold_id.as_deref()).await?;
    Ok(Done::Commit(()))
}

pub(crate) fn hold_insert_q(h: &Hold) -> StoreResult<Q<'_>> {
    let s = state_columns(h);
    let metadata = serde_json::to_string(&h.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sql = format!(
        "INSERT INTO holds ({HOLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)"
    );
    Ok(Q::owned(sql)
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
        .bind(i64::from(h.livemode))
        .bind(s.refunded))
}

/// The operation that created a hold: linked to it and settled.
pub(crate) fn op_created_q<'a>(op: &'a str, h: &'a Hold) -> Q<'a> {
    q("UPDATE operations SET hold_id = $1, status = $2, error = NULL, updated_at = $3 WHERE id = $4")
        .bind(&h.id)
        .bind(OpStatus::Succeeded.as_str())
        .bind(h.created_at.millis())
        .bind(op)
}

pub(crate) async fn insert_hold(
    ex: &mut Exec<'_>,
    h: &Hold,
    events: &[NewEvent],
    op_id: Option<&str>,
    jobs: &[Job],
) -> StoreResult<Done<()>> {
    ex.run(hold_insert_q(h)?).await?;
    for event in events {
        insert_event(ex, &h.id, event).await?;
    }
    if let Some(op) = op_id {
        ex.run(op_created_q(op, h)).await?;
    }
    schedule_jobs(ex, jobs).await?;
    Ok(Done::Commit(()))
}

/// Takes the hold's operation lock at `expected_version`.
pub(crate) fn lock_q<'a>(hold_id: &'a str, expected_version: i64, op: &'a Operation) -> Q<'a> {
    q("UPDATE holds SET op_lock = $1, version = version + 1, updated_at = $2 \
       WHERE id = $3 AND version = $4 AND op_lock IS NULL")
    .bind(&op.id)
    .bind(op.created_at.millis())
    .bind(hold_id)
    .bind(expected_version)
}

pub(crate) async fn lock_hold(
    ex: &mut Exec<'_>,
    hold_id: &str,
    expected_version: i64,
    op: &Operation,
) -> StoreResult<Done<bool>> {
    if ex.run(lock_q(hold_id, expected_version, op)).await? != 1 {
        return Ok(Done::Rollback(false));
    }
    insert_op_row(ex, op, Some(hold_id)).await?;
    Ok(Done::Commit(true))
}

/// Stores the hold's state at `expected_version`.
pub(crate) fn save_q(h: &Hold, expected_version: i64) -> StoreResult<Q<'_>> {
    let s = state_columns(h);
    let metadata = serde_json::to_string(&h.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(q("UPDATE holds SET chitty_id = $1, status = $2, amount = $3, amount_capturable = $4, amount_captured = $5, \
           amount_released = $6, processing_fee = $7, metadata = $8, reason = $9, expires_at = $10, captured_at = $11, \
           canceled_at = $12, updated_at = $13, op_lock = $14, booking_id = $15, amount_refunded = $16, \
           version = version + 1 WHERE id = $17 AND version = $18")
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
    .bind(s.refunded)
    .bind(&h.id)
    .bind(expected_version))
}

pub(crate) async fn save_hold(
    ex: &mut Exec<'_>,
    h: &Hold,
    expected_version: i64,
    events: &[NewEvent],
    finish: Option<(&str, OpStatus, Option<&str>)>,
    jobs: &[Job],
) -> StoreResult<Done<bool>> {
    if ex.run(save_q(h, expected_version)?).await? != 1 {
        return Ok(Done::Rollback(false));
    }
    for e in events {
        insert_event(ex, &h.id, e).await?;
    }
    if let Some((op, status, error)) = finish {
        finish_op(ex, op, status, error, h.updated_at).await?;
    }
    schedule_jobs(ex, jobs).await?;
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

const JOB_INSERT: &str = "INSERT INTO jobs (id, kind, key, hold_id, booking_id, payload, run_at, status, attempts, \
     created_at, updated_at) VALUES ";
// Casts: composed after a save (writes_pg.rs) the rows come from a
// `SELECT`, where PostgreSQL cannot take a parameter's type from its column.
const JOB_ROW: &str =
    "($1, $2, $3, $4, $5, $6, CAST($7 AS BIGINT), 'queued', 0, CAST($8 AS BIGINT), CAST($9 AS BIGINT))";

pub(crate) fn job_row_q(j: &Job) -> Q<'_> {
    q(JOB_ROW)
        .bind(&j.id)
        .bind(&j.kind)
        .bind(&j.key)
        .bind(j.hold_id.as_deref())
        .bind(j.booking_id.as_deref())
        .bind(j.payload.to_string())
        .bind(j.run_at.millis())
        .bind(j.created_at.millis())
        .bind(j.updated_at.millis())
}

/// The jobs in one statement: each row is skipped if its key is taken.
pub(crate) fn jobs_q(jobs: &[Job]) -> Q<'_> {
    jobs_from_q(jobs, Row::Values)
}

/// `jobs_q`, or (`Row::IfAny`) the same rows written only if that part of
/// the statement changed a row.
pub(crate) fn jobs_from_q<'a>(jobs: &'a [Job], row: Row<'_>) -> Q<'a> {
    let mut c = Composed::new();
    match row {
        Row::Values => c.text(JOB_INSERT),
        Row::IfAny(_) => c.text(&format!("{} SELECT * FROM (VALUES ", JOB_INSERT.trim_end_matches(" VALUES "))),
    };
    for (i, j) in jobs.iter().enumerate() {
        if i > 0 {
            c.text(", ");
        }
        c.part(job_row_q(j));
    }
    if let Row::IfAny(cte) = row {
        c.text(&format!(") AS v WHERE EXISTS (SELECT 1 FROM {cte})"));
    }
    c.text(" ON CONFLICT DO NOTHING");
    c.into_q()
}

pub(crate) async fn schedule_job(ex: &mut Exec<'_>, j: &Job) -> StoreResult<Done<bool>> {
    let n = ex.run(jobs_q(std::slice::from_ref(j))).await?;
    Ok(Done::Commit(n == 1))
}

pub(crate) async fn schedule_jobs(ex: &mut Exec<'_>, jobs: &[Job]) -> StoreResult<Done<()>> {
    if !jobs.is_empty() {
        ex.run(jobs_q(jobs)).await?;
    }
    Ok(Done::Commit(()))
}

/// A new simulator object at version 1. `Row::Values` skips an existing
/// key (the write reports no row); composed after another part it is
/// written only if that part changed a row, and an existing key is an error.
pub(crate) fn sim_insert_q<'a>(ns: &'a str, key: &'a str, value: &'a str, row: Row<'_>) -> Q<'a> {
    let head = "INSERT INTO sim_objects (ns, key, value, version)";
    let sql = match row {
        Row::Values => format!("{} ON CONFLICT DO NOTHING", insert_sql(head, "$1, $2, $3, 1", row)),
        Row::IfAny(_) => insert_sql(head, "$1, $2, $3, 1", row),
    };
    Q::owned(sql).bind(ns).bind(key).bind(value)
}

/// Replaces a simulator object only at version `v`.
pub(crate) fn sim_update_q<'a>(ns: &'a str, key: &'a str, value: &'a str, v: i64) -> Q<'a> {
    q("UPDATE sim_objects SET value = $1, version = version + 1 WHERE ns = $2 AND key = $3 AND version = $4")
        .bind(value)
        .bind(ns)
        .bind(key)
        .bind(v)
}

/// Inserts when `expected` is `None` (false if the key exists), otherwise
/// replaces only at that version.
async fn sim_put_one(ex: &mut Exec<'_>, ns: &str, key: &str, value: &str, expected: Option<i64>) -> StoreResult<bool> {
    let n = match expected {
        None => ex.run(sim_insert_q(ns, key, value, Row::Values)).await?,
        Some(v) => ex.run(sim_update_q(ns, key, value, v)).await?,
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
