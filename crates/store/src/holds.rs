//! Holds, their events, and the simulated processor's objects.

use chittycharge_domain::Hold;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::rows::{event_from_row, hold_from_row, HOLD_COLUMNS};
use crate::sqlstore::SqlStore;
use crate::{HoldEvent, HoldFilter, StoreError, StoreResult};

enum Bind {
    Str(String),
    Int(i64),
}

fn rows_to_holds(rows: &[AnyRow]) -> StoreResult<Vec<Hold>> {
    rows.iter().map(hold_from_row).collect()
}

impl SqlStore {
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
        if let Some(b) = &f.booking_id {
            push(&mut sql, " AND booking_id = {}", Bind::Str(b.clone()));
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
        if let Some(t) = f.created_gte {
            push(&mut sql, " AND created_at >= {}", Bind::Int(t.millis()));
        }
        if let Some(t) = f.created_lt {
            push(&mut sql, " AND created_at < {}", Bind::Int(t.millis()));
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
        rows_to_holds(&rows)
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

    pub(crate) async fn sim_keys_impl(&self, ns: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT key FROM sim_objects WHERE ns = $1 ORDER BY key")
            .bind(ns)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| r.try_get::<String, _>("key").map_err(StoreError::from)).collect()
    }
}
