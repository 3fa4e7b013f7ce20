//! The hot writes that take several statements, as one PostgreSQL
//! statement each.
//!
//! PostgreSQL runs a statement and its data-modifying `WITH` parts
//! atomically, as one transaction of its own. Composed that way, saving a
//! hold with its events and its operation's result is one round trip where
//! BEGIN, the statements and COMMIT were five or six (bench/results.md).
//! Each part waits for the one it reads (`… SELECT … FROM s`), so a
//! compare-and-set that matches no row writes nothing else, as the
//! transaction in writes.rs rolls back. SQLite has no data-modifying `WITH`,
//! and on a file its statements are calls on this thread anyway (exec.rs),
//! so it keeps writes.rs's transactions. Both compose the same builders.

use chittycharge_domain::Hold;

use crate::exec::{Composed, Exec};
use crate::writes::{
    event_q, finish_q, hold_insert_q, jobs_from_q, lock_q, op_created_q, op_insert_q, save_q, sim_insert_q,
    sim_update_q, Row,
};
use crate::{Job, NewEvent, OpStatus, Operation, StoreError, StoreResult};

pub(crate) async fn insert_hold(
    ex: &mut Exec<'_>,
    h: &Hold,
    events: &[NewEvent],
    op_id: Option<&str>,
    jobs: &[Job],
) -> StoreResult<()> {
    let mut c = Composed::new();
    c.text("WITH h AS (").part(hold_insert_q(h)?).text(" RETURNING id)");
    for (i, e) in events.iter().enumerate() {
        c.text(&format!(", e{i} AS (")).part(event_q(&h.id, e, Row::IfAny("h"))).text(")");
    }
    if !jobs.is_empty() {
        c.text(", j AS (").part(jobs_from_q(jobs, Row::IfAny("h"))).text(")");
    }
    if let Some(op) = op_id {
        c.text(", o AS (").part(op_created_q(op, h)).text(")");
    }
    c.text(" SELECT count(*) FROM h");
    ex.count(c.into_q()).await?;
    Ok(())
}

/// True when the lock was taken (and the operation recorded).
pub(crate) async fn lock_hold(
    ex: &mut Exec<'_>,
    hold_id: &str,
    expected_version: i64,
    op: &Operation,
) -> StoreResult<bool> {
    let mut c = Composed::new();
    c.text("WITH l AS (").part(lock_q(hold_id, expected_version, op)).text(" RETURNING id) ").part(op_insert_q(
        op,
        Some(hold_id),
        Row::IfAny("l"),
    ));
    Ok(ex.run(c.into_q()).await? == 1)
}

/// True when the hold was at `expected_version` (and all was written).
pub(crate) async fn save_hold(
    ex: &mut Exec<'_>,
    h: &Hold,
    expected_version: i64,
    events: &[NewEvent],
    finish: Option<(&str, OpStatus, Option<&str>)>,
    jobs: &[Job],
) -> StoreResult<bool> {
    let mut c = Composed::new();
    c.text("WITH s AS (").part(save_q(h, expected_version)?).text(" RETURNING id)");
    for (i, e) in events.iter().enumerate() {
        c.text(&format!(", e{i} AS (")).part(event_q(&h.id, e, Row::IfAny("s"))).text(")");
    }
    if !jobs.is_empty() {
        c.text(", j AS (").part(jobs_from_q(jobs, Row::IfAny("s"))).text(")");
    }
    if let Some((op, status, error)) = finish {
        c.text(", o AS (").part(finish_q(op, status, error, h.updated_at)).text(" AND EXISTS (SELECT 1 FROM s))");
    }
    c.text(" SELECT count(*) FROM s");
    Ok(ex.count(c.into_q()).await? == 1)
}

/// All or nothing, in one statement when the first write is the only one
/// that may find its row changed (the simulator's shape: the intent, then
/// new idempotency records). Each later part is written only after the one
/// before it, and an existing key there is an error, which undoes the whole
/// statement. `None` for any other shape: the caller uses a transaction.
pub(crate) async fn sim_put_all(
    ex: &mut Exec<'_>,
    writes: &[(&str, &str, &str, Option<i64>)],
) -> StoreResult<Option<bool>> {
    let Some(((ns, key, value, expected), rest)) = writes.split_first() else { return Ok(Some(true)) };
    if rest.iter().any(|w| w.3.is_some()) {
        return Ok(None);
    }
    let first = match expected {
        None => sim_insert_q(ns, key, value, Row::Values),
        Some(v) => sim_update_q(ns, key, value, *v),
    };
    if rest.is_empty() {
        return Ok(Some(ex.run(first).await? == 1));
    }
    let names: Vec<String> = (0..writes.len()).map(|i| format!("w{i}")).collect();
    let mut c = Composed::new();
    c.text("WITH w0 AS (").part(first).text(" RETURNING 1)");
    for (i, (ns, key, value, _)) in rest.iter().enumerate() {
        c.text(&format!(", {} AS (", names[i + 1]))
            .part(sim_insert_q(ns, key, value, Row::IfAny(&names[i])))
            .text(" RETURNING 1)");
    }
    c.text(&format!(" SELECT count(*) FROM {}", names[rest.len()]));
    match ex.count(c.into_q()).await {
        Ok(n) => Ok(Some(n == 1)),
        Err(StoreError::Duplicate(_)) => Ok(Some(false)),
        Err(e) => Err(e),
    }
}
