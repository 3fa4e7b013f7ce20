//! Holds, their events, and the simulated processor's objects.

use chittycharge_domain::{Hold, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::rows::{event_from_row, hold_from_row, state_columns, HOLD_COLUMNS};
use crate::sql::{finish_op, insert_event, opt_str, SqlStore};
use crate::{HoldEvent, HoldFilter, NewEvent, OpStatus, Operation, StoreError, StoreResult};

enum Bind {
    Str(String),
    Int(i64),
}

fn rows_to_holds(rows: Vec<AnyRow>) -> StoreResult<Vec<Hold>> {
    rows.iter().map(hold_from_row).collect()
}

impl SqlStore {
    pub(crate) async fn insert_hold_impl(&self, h: &Hold, events: &[NewEvent], op_id: Option<&str>) -> StoreResult<()> {
        let s = state_columns(h);
        let metadata = serde_json::to_string(&h.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(&format!(
            "INSERT INTO holds ({HOLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)"
        ))
        .bind(&h.id)
        .bind(&h.chitty_id)
        .bind(&h.processor)
        .bind(opt_str(&h.client_secret))
        .bind(s.status)
        .bind(h.amount.minor())
        .bind(s.capturable)
        .bind(s.captured)
        .bind(s.released)
        .bind(h.amount.currency().code())
        .bind(&h.description)
        .bind(opt_str(&h.customer_email))
        .bind(opt_str(&h.property_id))
        .bind(opt_str(&h.tenant_id))
        .bind(opt_str(&h.booking_id))
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
        .bind(opt_str(&h.created_by))
        .bind(h.version)
        .bind(opt_str(&h.op_lock))
        .execute(&mut *tx)
        .await?;
        for event in events {
            insert_event(&mut *tx, &h.id, event).await?;
        }
        if let Some(op) = op_id {
            sqlx::query("UPDATE operations SET hold_id = $1 WHERE id = $2")
                .bind(&h.id)
                .bind(op)
                .execute(&mut *tx)
                .await?;
            finish_op(&mut *tx, op, OpStatus::Succeeded, None, h.created_at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn get_hold_impl(&self, id: &str) -> StoreResult<Option<Hold>> {
        let Some(cache) = self.cache() else { return self.read_hold(id).await };
        let epoch = match cache.get(id) {
            Ok(hold) => return Ok(Some(hold)),
            Err(epoch) => epoch,
        };
        let hold = self.read_hold(id).await?;
        if let Some(h) = &hold {
            cache.offer(h, epoch);
        }
        Ok(hold)
    }

    async fn read_hold(&self, id: &str) -> StoreResult<Option<Hold>> {
        if let Some(answer) = self.fast().and_then(|f| f.hold(id)) {
            return answer;
        }
        let row = sqlx::query(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    pub(crate) async fn get_hold_by_chitty_id_impl(&self, chitty_id: &str) -> StoreResult<Option<Hold>> {
        let row = sqlx::query(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE chitty_id = $1"))
            .bind(chitty_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    pub(crate) async fn list_holds_impl(&self, f: &HoldFilter) -> StoreResult<Vec<Hold>> {
        // Built by hand: the `Any` QueryBuilder emits `?` placeholders, which
        // PostgreSQL rejects; `$n` works on both back-ends.
        let mut sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let mut push = |sql: &mut String, fragment: &str, b: Bind| {
            binds.push(b);
            sql.push_str(&fragment.replace("{}", &format!("${}", binds.len())));
        };
        if let Some(p) = &f.property_id {
            push(&mut sql, " AND property_id = {}", Bind::Str(p.clone()));
        }
        if let Some(t) = &f.tenant_id {
            push(&mut sql, " AND tenant_id = {}", Bind::Str(t.clone()));
        }
        if let Some(s) = f.status {
            push(&mut sql, " AND status = {}", Bind::Str(s.as_str().to_string()));
        }
        if let Some(scope) = &f.property_scope {
            sql.push_str(" AND property_id IN (NULL");
            for p in scope {
                push(&mut sql, ", {}", Bind::Str(p.clone()));
            }
            sql.push(')');
        }
        if let Some((at, id)) = &f.before {
            push(&mut sql, " AND (created_at < {}", Bind::Int(at.millis()));
            push(&mut sql, " OR (created_at = {}", Bind::Int(at.millis()));
            push(&mut sql, " AND id < {}))", Bind::Str(id.clone()));
        }
        push(&mut sql, " ORDER BY created_at DESC, id DESC LIMIT {}", Bind::Int(f.limit.clamp(1, 1000)));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = match b {
                Bind::Str(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows_to_holds(rows)
    }

    pub(crate) async fn lock_hold_impl(
        &self,
        hold_id: &str,
        expected_version: i64,
        op: &Operation,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "UPDATE holds SET op_lock = $1, version = version + 1, updated_at = $2 \
             WHERE id = $3 AND version = $4 AND op_lock IS NULL",
        )
        .bind(&op.id)
        .bind(op.created_at.millis())
        .bind(hold_id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO operations (id, hold_id, kind, status, request, error, attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&op.id)
        .bind(hold_id)
        .bind(&op.kind)
        .bind(op.status.as_str())
        .bind(op.request.to_string())
        .bind(opt_str(&op.error))
        .bind(op.attempts)
        .bind(op.next_attempt_at.map(Timestamp::millis))
        .bind(op.created_at.millis())
        .bind(op.updated_at.millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn save_hold_impl(
        &self,
        h: &Hold,
        expected_version: i64,
        events: &[NewEvent],
        finish: Option<(&str, OpStatus, Option<&str>)>,
    ) -> StoreResult<bool> {
        let s = state_columns(h);
        let metadata = serde_json::to_string(&h.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "UPDATE holds SET chitty_id = $1, status = $2, amount = $3, amount_capturable = $4, amount_captured = $5, \
             amount_released = $6, processing_fee = $7, metadata = $8, reason = $9, expires_at = $10, captured_at = $11, \
             canceled_at = $12, updated_at = $13, op_lock = $14, booking_id = $15, version = version + 1 \
             WHERE id = $16 AND version = $17",
        )
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
        .bind(opt_str(&h.op_lock))
        .bind(opt_str(&h.booking_id))
        .bind(&h.id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for e in events {
            insert_event(&mut *tx, &h.id, e).await?;
        }
        if let Some((op, status, error)) = finish {
            finish_op(&mut *tx, op, status, error, h.updated_at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn hold_events_impl(&self, hold_id: &str) -> StoreResult<Vec<HoldEvent>> {
        let rows = sqlx::query("SELECT * FROM hold_events WHERE hold_id = $1 ORDER BY id")
            .bind(hold_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub(crate) async fn sim_get_impl(&self, ns: &str, key: &str) -> StoreResult<Option<(String, i64)>> {
        if let Some(answer) = self.fast().and_then(|f| f.sim_object(ns, key)) {
            return answer;
        }
        let row = sqlx::query("SELECT value, version FROM sim_objects WHERE ns = $1 AND key = $2")
            .bind(ns)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("value")?, r.try_get("version")?))),
            None => Ok(None),
        }
    }

    pub(crate) async fn sim_put_impl(
        &self,
        ns: &str,
        key: &str,
        value: &str,
        expected: Option<i64>,
    ) -> StoreResult<bool> {
        sim_put_on(self.pool(), ns, key, value, expected).await
    }

    pub(crate) async fn sim_put_all_impl(&self, writes: &[(&str, &str, &str, Option<i64>)]) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        for (ns, key, value, expected) in writes {
            if !sim_put_on(&mut *tx, ns, key, value, *expected).await? {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn sim_keys_impl(&self, ns: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT key FROM sim_objects WHERE ns = $1 ORDER BY key")
            .bind(ns)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| r.try_get::<String, _>("key").map_err(StoreError::from)).collect()
    }
}

/// Inserts when `expected` is `None` (false if the key exists), otherwise
/// replaces only at that version.
async fn sim_put_on<'c, E>(exec: E, ns: &str, key: &str, value: &str, expected: Option<i64>) -> StoreResult<bool>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let r =
        match expected {
            None => {
                sqlx::query(
                    "INSERT INTO sim_objects (ns, key, value, version) VALUES ($1, $2, $3, 1) ON CONFLICT DO NOTHING",
                )
                .bind(ns)
                .bind(key)
                .bind(value)
                .execute(exec)
                .await?
            }
            Some(v) => sqlx::query(
                "UPDATE sim_objects SET value = $1, version = version + 1 WHERE ns = $2 AND key = $3 AND version = $4",
            )
            .bind(value)
            .bind(ns)
            .bind(key)
            .bind(v)
            .execute(exec)
            .await?,
        };
    Ok(r.rows_affected() == 1)
}
