//! [`Store`] on sqlx's `Any` driver: one implementation for SQLite and
//! PostgreSQL. Timestamps are integer milliseconds, so the same SQL runs on
//! both without dialect-specific date types.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chittycharge_domain::{Booking, Hold, Timestamp};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use crate::rows::{event_from_row, hold_from_row, operation_from_row, state_columns, token_from_row, HOLD_COLUMNS};
use crate::{
    Backend, BookingFilter, DamageClaim, EventClaim, HoldEvent, HoldFilter, IdemBegin, Job, JobCount, NewEvent,
    Notification, OpStatus, Operation, Property, Store, StoreError, StoreResult, TokenRecord,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

impl SqlStore {
    /// Connects to `sqlite://path` (created if missing) or `postgres://…`
    /// and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            let file = path.split('?').next().unwrap_or(path);
            if file != ":memory:" {
                if let Some(parent) = Path::new(file).parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
                }
            }
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = if path.contains("mode=") {
                format!("sqlite://{path}")
            } else {
                format!("sqlite://{path}{sep}mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::Unavailable("DATABASE_URL must start with sqlite:// or postgres://".into()));
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            // WAL lets readers run beside the single writer; busy_timeout makes
            // writers queue instead of failing; synchronous=FULL makes every
            // acknowledged commit survive power loss.
            Backend::Sqlite => options
                .max_connections(8)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
                            .await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await?,
            Backend::Postgres => options.max_connections(16).connect(&url).await?,
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        Ok(Self { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

fn opt_str(v: &Option<String>) -> Option<&str> {
    v.as_deref()
}

async fn insert_event<'c, E>(exec: E, hold_id: &str, e: &NewEvent) -> StoreResult<()>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let data = e.data.as_ref().map(|d| d.to_string());
    sqlx::query(
        "INSERT INTO hold_events (hold_id, kind, actor, from_status, to_status, amount, reason, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(hold_id)
    .bind(&e.kind)
    .bind(opt_str(&e.actor))
    .bind(opt_str(&e.from_status))
    .bind(opt_str(&e.to_status))
    .bind(e.amount)
    .bind(opt_str(&e.reason))
    .bind(data)
    .bind(e.at.millis())
    .execute(exec)
    .await?;
    Ok(())
}

async fn finish_op<'c, E>(exec: E, id: &str, status: OpStatus, error: Option<&str>, at: Timestamp) -> StoreResult<()>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    sqlx::query("UPDATE operations SET status = $1, error = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(error)
        .bind(at.millis())
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

enum Bind {
    Str(String),
    Int(i64),
}

fn rows_to_holds(rows: Vec<AnyRow>) -> StoreResult<Vec<Hold>> {
    rows.iter().map(hold_from_row).collect()
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_token(&self, t: &TokenRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, scopes, property_ids, rate_limit, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(t.scopes.join(","))
        .bind(t.property_ids.as_ref().map(|p| p.join(",")))
        .bind(t.rate_limit)
        .bind(t.created_at.millis())
        .bind(t.revoked_at.map(Timestamp::millis))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row =
            sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1").bind(hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at, id").fetch_all(&self.pool).await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(at.millis())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn count_tokens(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    async fn get_token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn insert_session(
        &self,
        id_hash: &str,
        token_id: &str,
        csrf: &str,
        now: Timestamp,
        expires: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
            .bind(now.millis())
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO console_sessions (id_hash, token_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id_hash)
            .bind(token_id)
            .bind(csrf)
            .bind(now.millis())
            .bind(expires.millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<(String, String, Timestamp)>> {
        let row = sqlx::query("SELECT token_id, csrf, expires_at FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => {
                Ok(Some((r.try_get("token_id")?, r.try_get("csrf")?, Timestamp::from_millis(r.try_get("expires_at")?))))
            }
            None => Ok(None),
        }
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_operation(&self, op: &Operation) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO operations (id, hold_id, kind, status, request, error, attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&op.id)
        .bind(opt_str(&op.hold_id))
        .bind(&op.kind)
        .bind(op.status.as_str())
        .bind(op.request.to_string())
        .bind(opt_str(&op.error))
        .bind(op.attempts)
        .bind(op.next_attempt_at.map(Timestamp::millis))
        .bind(op.created_at.millis())
        .bind(op.updated_at.millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_operation(
        &self,
        id: &str,
        status: OpStatus,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()> {
        finish_op(&self.pool, id, status, error, at).await
    }

    async fn get_operation(&self, id: &str) -> StoreResult<Option<Operation>> {
        let row = sqlx::query("SELECT * FROM operations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(operation_from_row).transpose()
    }

    async fn due_operations(&self, now: Timestamp, stale_before: Timestamp, limit: i64) -> StoreResult<Vec<Operation>> {
        let rows = sqlx::query(
            "SELECT * FROM operations WHERE (status = 'unknown' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)) \
             OR (status = 'pending' AND updated_at < $2 AND (next_attempt_at IS NULL OR next_attempt_at <= $3)) \
             ORDER BY created_at LIMIT $4",
        )
        .bind(now.millis())
        .bind(stale_before.millis())
        .bind(now.millis())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(operation_from_row).collect()
    }

    async fn claim_operation(&self, op: &Operation, next: Timestamp, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE operations SET attempts = attempts + 1, next_attempt_at = $1, updated_at = $2 \
             WHERE id = $3 AND attempts = $4 AND status IN ('pending', 'unknown')",
        )
        .bind(next.millis())
        .bind(now.millis())
        .bind(&op.id)
        .bind(op.attempts)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn count_operations(&self, status: OpStatus) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM operations WHERE status = $1")
            .bind(status.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    async fn claim_webhook_event(
        &self,
        id: &str,
        kind: &str,
        signed_at: i64,
        now: Timestamp,
    ) -> StoreResult<EventClaim> {
        let r = sqlx::query(
            "INSERT INTO webhook_events (id, kind, signed_at, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(signed_at)
        .bind(now.millis())
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 1 {
            return Ok(EventClaim::New);
        }
        let row =
            sqlx::query("SELECT signed_at FROM webhook_events WHERE id = $1").bind(id).fetch_one(&self.pool).await?;
        let first: i64 = row.try_get("signed_at")?;
        Ok(if first == signed_at { EventClaim::Replay } else { EventClaim::Duplicate })
    }

    async fn finish_webhook_event(&self, id: &str, result: &str) -> StoreResult<()> {
        sqlx::query("UPDATE webhook_events SET result = $1 WHERE id = $2")
            .bind(result)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_hold(&self, h: &Hold, events: &[NewEvent], op_id: Option<&str>) -> StoreResult<()> {
        let s = state_columns(h);
        let metadata = serde_json::to_string(&h.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
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

    async fn get_hold(&self, id: &str) -> StoreResult<Option<Hold>> {
        let row = sqlx::query(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    async fn get_hold_by_chitty_id(&self, chitty_id: &str) -> StoreResult<Option<Hold>> {
        let row = sqlx::query(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE chitty_id = $1"))
            .bind(chitty_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    async fn list_holds(&self, f: &HoldFilter) -> StoreResult<Vec<Hold>> {
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
        let rows = q.fetch_all(&self.pool).await?;
        rows_to_holds(rows)
    }

    async fn lock_hold(&self, hold_id: &str, expected_version: i64, op: &Operation) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
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

    async fn save_hold(
        &self,
        h: &Hold,
        expected_version: i64,
        events: &[NewEvent],
        finish: Option<(&str, OpStatus, Option<&str>)>,
    ) -> StoreResult<bool> {
        let s = state_columns(h);
        let metadata = serde_json::to_string(&h.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
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

    async fn hold_events(&self, hold_id: &str) -> StoreResult<Vec<HoldEvent>> {
        let rows = sqlx::query("SELECT * FROM hold_events WHERE hold_id = $1 ORDER BY id")
            .bind(hold_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn idem_begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        lease_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<IdemBegin> {
        self.idem_begin_impl(scope, key, fingerprint, now, lease_ms, ttl_ms).await
    }
    async fn idem_finish(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
        content_type: &str,
    ) -> StoreResult<()> {
        self.idem_finish_impl(scope, key, status, body, content_type).await
    }
    async fn idem_abandon(&self, scope: &str, key: &str) -> StoreResult<()> {
        self.idem_abandon_impl(scope, key).await
    }
    async fn rate_limit_hit(&self, key: &str, window_start: i64) -> StoreResult<i64> {
        self.rate_limit_hit_impl(key, window_start).await
    }
    async fn purge_expired(&self, rate_before: i64, idem_before: Timestamp) -> StoreResult<()> {
        self.purge_expired_impl(rate_before, idem_before).await
    }
    async fn upsert_property(&self, p: &Property) -> StoreResult<()> {
        self.upsert_property_impl(p).await
    }
    async fn get_property(&self, id: &str) -> StoreResult<Option<Property>> {
        self.get_property_impl(id).await
    }
    async fn list_properties(&self) -> StoreResult<Vec<Property>> {
        self.list_properties_impl().await
    }
    async fn count_clean_releases(&self, email: Option<&str>, tenant_id: Option<&str>) -> StoreResult<i64> {
        self.count_clean_releases_impl(email, tenant_id).await
    }

    async fn insert_booking(&self, b: &Booking) -> StoreResult<()> {
        self.insert_booking_impl(b).await
    }
    async fn get_booking(&self, id: &str) -> StoreResult<Option<Booking>> {
        self.get_booking_impl(id).await
    }
    async fn list_bookings(&self, f: &BookingFilter) -> StoreResult<Vec<Booking>> {
        self.list_bookings_impl(f).await
    }
    async fn save_booking(&self, b: &Booking, expected_version: i64) -> StoreResult<bool> {
        self.save_booking_impl(b, expected_version).await
    }
    async fn booking_for_hold(&self, hold_id: &str) -> StoreResult<Option<Booking>> {
        self.booking_for_hold_impl(hold_id).await
    }
    async fn bookings_to_release(&self, now: Timestamp, limit: i64) -> StoreResult<Vec<Booking>> {
        self.bookings_to_release_impl(now, limit).await
    }
    async fn insert_claim(&self, c: &DamageClaim) -> StoreResult<()> {
        self.insert_claim_impl(c).await
    }
    async fn claims_for_booking(&self, booking_id: &str) -> StoreResult<Vec<DamageClaim>> {
        self.claims_for_booking_impl(booking_id).await
    }
    async fn enqueue_notification(&self, n: &Notification) -> StoreResult<()> {
        self.enqueue_notification_impl(n).await
    }
    async fn due_notifications(&self, now: Timestamp, limit: i64) -> StoreResult<Vec<Notification>> {
        self.due_notifications_impl(now, limit).await
    }
    async fn record_notification_attempt(
        &self,
        n: &Notification,
        status: &str,
        error: Option<&str>,
        next: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.record_notification_attempt_impl(n, status, error, next, now).await
    }
    async fn list_notifications(&self, limit: i64) -> StoreResult<Vec<Notification>> {
        self.list_notifications_impl(limit).await
    }

    async fn schedule_job(&self, job: &Job) -> StoreResult<bool> {
        self.schedule_job_impl(job).await
    }
    async fn claim_jobs(&self, now: Timestamp, lease_ms: i64, limit: i64) -> StoreResult<Vec<Job>> {
        self.claim_jobs_impl(now, lease_ms, limit).await
    }
    async fn finish_job(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.finish_job_impl(id, status, error, retry_at, now).await
    }
    async fn job_counts(&self, now: Timestamp) -> StoreResult<Vec<JobCount>> {
        self.job_counts_impl(now).await
    }
    async fn jobs_for_hold(&self, hold_id: &str) -> StoreResult<Vec<Job>> {
        self.jobs_for_hold_impl(hold_id).await
    }
    async fn holds_with_pending_chitty_ids(&self, limit: i64) -> StoreResult<Vec<String>> {
        self.holds_with_pending_chitty_ids_impl(limit).await
    }

    async fn count_holds_by_status(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM holds GROUP BY status").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>("status")?, r.try_get::<i64, _>("n")?))).collect()
    }

    async fn append_event(&self, hold_id: &str, event: &NewEvent) -> StoreResult<()> {
        insert_event(&self.pool, hold_id, event).await
    }

    async fn sim_get(&self, ns: &str, key: &str) -> StoreResult<Option<(String, i64)>> {
        let row = sqlx::query("SELECT value, version FROM sim_objects WHERE ns = $1 AND key = $2")
            .bind(ns)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("value")?, r.try_get("version")?))),
            None => Ok(None),
        }
    }

    async fn sim_put(&self, ns: &str, key: &str, value: &str, expected: Option<i64>) -> StoreResult<bool> {
        let r = match expected {
            None => {
                sqlx::query(
                    "INSERT INTO sim_objects (ns, key, value, version) VALUES ($1, $2, $3, 1) ON CONFLICT DO NOTHING",
                )
                .bind(ns)
                .bind(key)
                .bind(value)
                .execute(&self.pool)
                .await?
            }
            Some(v) => sqlx::query(
                "UPDATE sim_objects SET value = $1, version = version + 1 WHERE ns = $2 AND key = $3 AND version = $4",
            )
            .bind(value)
            .bind(ns)
            .bind(key)
            .bind(v)
            .execute(&self.pool)
            .await?,
        };
        Ok(r.rows_affected() == 1)
    }

    async fn sim_keys(&self, ns: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT key FROM sim_objects WHERE ns = $1 ORDER BY key")
            .bind(ns)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get::<String, _>("key").map_err(StoreError::from)).collect()
    }
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres),
            other => Err(format!("unknown backend '{other}'")),
        }
    }
}
