//! The durable job queue. Claiming uses `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so instances never claim the same job; SQLite serializes
//! writers, so its plain claim is already exclusive.

use chittycharge_domain::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::sqlstore::SqlStore;
use crate::{Backend, Job, JobCount, StoreError, StoreResult};

fn job_from_row(r: &AnyRow) -> StoreResult<Job> {
    let payload: String = r.try_get("payload")?;
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        key: r.try_get("key")?,
        hold_id: r.try_get("hold_id")?,
        booking_id: r.try_get("booking_id")?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        run_at: Timestamp::from_millis(r.try_get("run_at")?),
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

impl SqlStore {
    pub(crate) async fn claim_jobs_impl(&self, now: Timestamp, lease_ms: i64, limit: i64) -> StoreResult<Vec<Job>> {
        let lock = match crate::Store::backend(self) {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $1, updated_at = $2 \
             WHERE id IN (SELECT id FROM jobs WHERE (status = 'queued' AND run_at <= $3) \
                          OR (status = 'running' AND locked_until < $4) ORDER BY run_at LIMIT $5 {lock}) \
             RETURNING *"
        );
        let rows = sqlx::query(&sql)
            .bind(now.millis() + lease_ms)
            .bind(now.millis())
            .bind(now.millis())
            .bind(now.millis())
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    pub(crate) async fn renew_job_lease_impl(&self, id: &str, attempts: i64, until: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE jobs SET locked_until = $1 WHERE id = $2 AND attempts = $3 AND status = 'running'")
            .bind(until.millis())
            .bind(id)
            .bind(attempts)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn finish_job_impl(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (status, run_at) = match retry_at {
            Some(t) => ("queued", Some(t.millis())),
            None => (status, None),
        };
        sqlx::query(
            "UPDATE jobs SET status = $1, last_error = $2, run_at = COALESCE($3, run_at), locked_until = NULL, updated_at = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(error)
        .bind(run_at)
        .bind(now.millis())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn job_counts_impl(&self, now: Timestamp) -> StoreResult<Vec<JobCount>> {
        let rows = sqlx::query(
            "SELECT kind, status, COUNT(*) AS n, SUM(CASE WHEN status = 'queued' AND run_at <= $1 THEN 1 ELSE 0 END) AS due \
             FROM jobs GROUP BY kind, status ORDER BY kind, status",
        )
        .bind(now.millis())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JobCount {
                    kind: r.try_get("kind")?,
                    status: r.try_get("status")?,
                    count: r.try_get("n")?,
                    due: r.try_get::<Option<i64>, _>("due")?.unwrap_or(0),
                })
            })
            .collect()
    }
}
