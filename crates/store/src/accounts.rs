//! API tokens, console sessions, operation records and inbound event ids.

use chittycharge_domain::Timestamp;
use sqlx::Row;

use crate::rows::{operation_from_row, token_from_row};
use crate::sqlstore::SqlStore;
use crate::{EventClaim, OpStatus, Operation, StoreResult, TokenRecord};

impl SqlStore {
    pub(crate) async fn insert_token_impl(&self, t: &TokenRecord) -> StoreResult<()> {
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
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn find_token_by_hash_impl(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    pub(crate) async fn list_tokens_impl(&self) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at, id").fetch_all(self.pool()).await?;
        rows.iter().map(token_from_row).collect()
    }

    pub(crate) async fn revoke_token_impl(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(at.millis())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn count_tokens_impl(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens").fetch_one(self.pool()).await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    pub(crate) async fn get_token_impl(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    pub(crate) async fn insert_session_impl(
        &self,
        id_hash: &str,
        token_id: &str,
        csrf: &str,
        now: Timestamp,
        expires: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
            .bind(now.millis())
            .execute(self.pool())
            .await?;
        sqlx::query("INSERT INTO console_sessions (id_hash, token_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id_hash)
            .bind(token_id)
            .bind(csrf)
            .bind(now.millis())
            .bind(expires.millis())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(crate) async fn get_session_impl(&self, id_hash: &str) -> StoreResult<Option<(String, String, Timestamp)>> {
        let row = sqlx::query("SELECT token_id, csrf, expires_at FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => {
                Ok(Some((r.try_get("token_id")?, r.try_get("csrf")?, Timestamp::from_millis(r.try_get("expires_at")?))))
            }
            None => Ok(None),
        }
    }

    pub(crate) async fn delete_session_impl(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1").bind(id_hash).execute(self.pool()).await?;
        Ok(())
    }

    pub(crate) async fn get_operation_impl(&self, id: &str) -> StoreResult<Option<Operation>> {
        let row = sqlx::query("SELECT * FROM operations WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(operation_from_row).transpose()
    }

    pub(crate) async fn operations_for_hold_impl(&self, hold_id: &str) -> StoreResult<Vec<Operation>> {
        let rows = sqlx::query("SELECT * FROM operations WHERE hold_id = $1 ORDER BY created_at, id")
            .bind(hold_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(operation_from_row).collect()
    }

    pub(crate) async fn due_operations_impl(
        &self,
        now: Timestamp,
        stale_before: Timestamp,
        max_attempts: i64,
        limit: i64,
    ) -> StoreResult<Vec<Operation>> {
        let rows = sqlx::query(
            "SELECT * FROM operations WHERE attempts < $1 AND ( \
             (status = 'unknown' AND (next_attempt_at IS NULL OR next_attempt_at <= $2)) \
             OR (status = 'pending' AND updated_at < $3 AND (next_attempt_at IS NULL OR next_attempt_at <= $4))) \
             ORDER BY created_at LIMIT $5",
        )
        .bind(max_attempts)
        .bind(now.millis())
        .bind(stale_before.millis())
        .bind(now.millis())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(operation_from_row).collect()
    }

    pub(crate) async fn stuck_operations_impl(
        &self,
        min_attempts: i64,
        stale_before: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Operation>> {
        let rows = sqlx::query(
            "SELECT * FROM operations WHERE attempts >= $1 AND (status = 'unknown' \
             OR (status = 'pending' AND updated_at < $2)) ORDER BY created_at LIMIT $3",
        )
        .bind(min_attempts)
        .bind(stale_before.millis())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(operation_from_row).collect()
    }

    pub(crate) async fn unsettled_operations_impl(&self, kind: &str) -> StoreResult<Vec<Operation>> {
        // `operations_by_status` finds them: unsettled ones are few.
        let rows = sqlx::query(
            "SELECT * FROM operations WHERE status IN ('pending', 'unknown') AND kind = $1 AND hold_id IS NULL",
        )
        .bind(kind)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(operation_from_row).collect()
    }

    pub(crate) async fn claim_operation_impl(
        &self,
        op: &Operation,
        next: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE operations SET attempts = attempts + 1, next_attempt_at = $1, updated_at = $2 \
             WHERE id = $3 AND attempts = $4 AND status IN ('pending', 'unknown')",
        )
        .bind(next.millis())
        .bind(now.millis())
        .bind(&op.id)
        .bind(op.attempts)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn count_operations_impl(&self, status: OpStatus) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM operations WHERE status = $1")
            .bind(status.as_str())
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    pub(crate) async fn webhook_event_seen_impl(&self, id: &str, signed_at: i64) -> StoreResult<EventClaim> {
        let first = match self.fast().and_then(|f| f.webhook_signed_at(id)) {
            Some(answer) => answer?,
            None => sqlx::query("SELECT signed_at FROM webhook_events WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .map(|row| row.try_get::<i64, _>("signed_at"))
                .transpose()?,
        };
        Ok(match first {
            None => EventClaim::New,
            Some(first) if first == signed_at => EventClaim::Replay,
            Some(_) => EventClaim::Duplicate,
        })
    }
}
