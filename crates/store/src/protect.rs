//! Idempotency records, rate-limit counters, properties and guest history.

use chittycharge_domain::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::sqlstore::SqlStore;
use crate::{CleanReleases, IdemBegin, Property, StoreResult};

fn property_from_row(r: &AnyRow) -> StoreResult<Property> {
    Ok(Property {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        premium: r.try_get::<i64, _>("premium")? != 0,
        currency: r.try_get("currency")?,
        default_hold_amount: r.try_get("default_hold_amount")?,
        claim_window_hours: r.try_get("claim_window_hours")?,
        time_zone: r.try_get("time_zone")?,
        hold_lead_days: r.try_get("hold_lead_days")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

impl SqlStore {
    pub(crate) async fn idem_begin_impl(
        &self,
        scope: &str,
        key: &str,
        fp: &str,
        now: Timestamp,
        lease_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<IdemBegin> {
        for _ in 0..3 {
            let inserted = sqlx::query(
                "INSERT INTO api_idempotency (scope, key, fingerprint, state, created_at) VALUES ($1, $2, $3, 'in_flight', $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(fp)
            .bind(now.millis())
            .execute(self.pool())
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(IdemBegin::Started);
            }
            let Some(row) = sqlx::query("SELECT * FROM api_idempotency WHERE scope = $1 AND key = $2")
                .bind(scope)
                .bind(key)
                .fetch_optional(self.pool())
                .await?
            else {
                continue;
            };
            let created: i64 = row.try_get("created_at")?;
            if created < now.millis() - ttl_ms {
                // Older than the replay window: the key is free again.
                sqlx::query("DELETE FROM api_idempotency WHERE scope = $1 AND key = $2 AND created_at = $3")
                    .bind(scope)
                    .bind(key)
                    .bind(created)
                    .execute(self.pool())
                    .await?;
                continue;
            }
            let fingerprint: String = row.try_get("fingerprint")?;
            if fingerprint != fp {
                return Ok(IdemBegin::Mismatch);
            }
            let state: String = row.try_get("state")?;
            if state == "abandoned" {
                // An answer that was not kept (a 5xx, a transient 409): the
                // same request runs again; the key stays bound to it.
                if self.idem_take_over(scope, key, &state, created, now).await? {
                    return Ok(IdemBegin::Started);
                }
                continue;
            }
            if state == "done" {
                let status: i64 = row.try_get("status")?;
                return Ok(IdemBegin::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    body: row.try_get::<Option<String>, _>("body")?.unwrap_or_default(),
                    content_type: row
                        .try_get::<Option<String>, _>("content_type")?
                        .unwrap_or_else(|| "application/json".into()),
                });
            }
            // The instance that started it died; take the key over.
            if created < now.millis() - lease_ms && self.idem_take_over(scope, key, &state, created, now).await? {
                return Ok(IdemBegin::Started);
            }
            return Ok(IdemBegin::InFlight);
        }
        Ok(IdemBegin::InFlight)
    }

    /// Restarts a key's record as in flight, if it is still as it was read
    /// (`state`, `created`): one of several racing retries wins.
    async fn idem_take_over(
        &self,
        scope: &str,
        key: &str,
        state: &str,
        created: i64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE api_idempotency SET state = 'in_flight', created_at = $1 \
             WHERE scope = $2 AND key = $3 AND created_at = $4 AND state = $5",
        )
        .bind(now.millis())
        .bind(scope)
        .bind(key)
        .bind(created)
        .bind(state)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn idem_finish_impl(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
        ct: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE api_idempotency SET state = 'done', status = $1, body = $2, content_type = $3 WHERE scope = $4 AND key = $5")
            .bind(i64::from(status))
            .bind(body)
            .bind(ct)
            .bind(scope)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Keeps the record, fingerprint and all: another request under the key
    /// is still refused, on any endpoint, after an answer that was not kept.
    pub(crate) async fn idem_abandon_impl(&self, scope: &str, key: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_idempotency SET state = 'abandoned' WHERE scope = $1 AND key = $2 AND state = 'in_flight'",
        )
        .bind(scope)
        .bind(key)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn rate_limit_gcra_impl(
        &self,
        key: &str,
        now_us: i64,
        interval_us: i64,
        tolerance_us: i64,
        cells: u32,
    ) -> StoreResult<(u32, i64)> {
        // GCRA for `cells` requests in one statement, so instances racing
        // on a key serialize on its row. From tat = max(stored, now), the
        // j-th request (from 0) passes while tat + j * interval - now is
        // within the tolerance, so the first k = min(cells, room / interval
        // + 1) pass, room being the tolerance less (tat - now) (none when
        // that is negative), and the stored tat moves on by k intervals.
        // Every SET expression reads the row as it was. CASE stands in for
        // max() and min(), which SQLite and PostgreSQL spell differently.
        const TAT: &str = "(CASE WHEN rate_limit_state.tat_us > $2 THEN rate_limit_state.tat_us ELSE $2 END)";
        let room = format!("($4 - ({TAT} - $2))");
        let k = format!("(CASE WHEN {room} < 0 THEN 0 WHEN {room} / $3 + 1 < $5 THEN {room} / $3 + 1 ELSE $5 END)");
        let k_new = "(CASE WHEN $4 / $3 + 1 < $5 THEN $4 / $3 + 1 ELSE $5 END)";
        let sql = format!(
            "INSERT INTO rate_limit_state (key, tat_us, allowed) VALUES ($1, $2 + {k_new} * $3, {k_new}) \
             ON CONFLICT (key) DO UPDATE SET \
               allowed = {k}, \
               tat_us = CASE WHEN {k} > 0 THEN {TAT} + {k} * $3 ELSE rate_limit_state.tat_us END \
             RETURNING tat_us, allowed"
        );
        // On PostgreSQL, on a connection that does not wait for the WAL
        // flush (sqlstore.rs): a counter lost in a crash costs nothing.
        let pool = self.relaxed.as_ref().unwrap_or(self.pool());
        let row = sqlx::query(&sql)
            .bind(key)
            .bind(now_us)
            .bind(interval_us)
            .bind(tolerance_us)
            .bind(i64::from(cells.max(1)))
            .fetch_one(pool)
            .await?;
        let allowed: i64 = row.try_get("allowed")?;
        Ok((u32::try_from(allowed).unwrap_or(0), row.try_get("tat_us")?))
    }

    pub(crate) async fn purge_expired_impl(&self, rate_before_us: i64, idem_before: Timestamp) -> StoreResult<()> {
        sqlx::query("DELETE FROM rate_limit_state WHERE tat_us < $1").bind(rate_before_us).execute(self.pool()).await?;
        sqlx::query("DELETE FROM api_idempotency WHERE created_at < $1")
            .bind(idem_before.millis())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(crate) async fn purge_history_impl(&self, before: Timestamp) -> StoreResult<u64> {
        // A replayed webhook older than the signature tolerance is refused
        // by its timestamp anyway, so its id need not be kept for ever.
        let webhooks = sqlx::query("DELETE FROM webhook_events WHERE received_at < $1")
            .bind(before.millis())
            .execute(self.pool())
            .await?;
        // Only sent mail: pending and failed messages stay for the operator.
        let sent = sqlx::query("DELETE FROM notifications WHERE status = 'sent' AND sent_at < $1")
            .bind(before.millis())
            .execute(self.pool())
            .await?;
        Ok(webhooks.rows_affected() + sent.rows_affected())
    }

    pub(crate) async fn upsert_property_impl(&self, p: &Property) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO properties (id, name, premium, currency, default_hold_amount, claim_window_hours, time_zone, created_at, updated_at, hold_lead_days) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET name = $2, premium = $3, currency = $4, default_hold_amount = $5, \
             claim_window_hours = $6, time_zone = $7, updated_at = $9, hold_lead_days = $10",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(i64::from(p.premium))
        .bind(&p.currency)
        .bind(p.default_hold_amount)
        .bind(p.claim_window_hours)
        .bind(&p.time_zone)
        .bind(p.created_at.millis())
        .bind(p.updated_at.millis())
        .bind(p.hold_lead_days)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn get_property_impl(&self, id: &str) -> StoreResult<Option<Property>> {
        let row = sqlx::query("SELECT * FROM properties WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(property_from_row).transpose()
    }

    pub(crate) async fn list_properties_impl(&self) -> StoreResult<Vec<Property>> {
        let rows = sqlx::query("SELECT * FROM properties ORDER BY id").fetch_all(self.pool()).await?;
        rows.iter().map(property_from_row).collect()
    }

    pub(crate) async fn count_clean_releases_impl(&self, q: &CleanReleases<'_>) -> StoreResult<i64> {
        // amount_released > 0 only when the processor reported an authorized
        // amount released; the age is the time the hold stood authorized,
        // from its `authorized` event to its release.
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM holds WHERE status = 'canceled' AND amount_captured = 0 \
             AND amount_released >= $1 AND currency = $2 AND property_id = $3 \
             AND canceled_at IS NOT NULL AND EXISTS (SELECT 1 FROM hold_events e WHERE e.hold_id = holds.id \
             AND e.kind = 'authorized' AND holds.canceled_at - e.created_at >= $4) \
             AND ((customer_email IS NOT NULL AND customer_email = $5) OR (tenant_id IS NOT NULL AND tenant_id = $6))",
        )
        .bind(q.min_amount.max(1))
        .bind(q.currency)
        .bind(q.property_id)
        .bind(q.min_age_ms)
        .bind(q.email.map(str::to_ascii_lowercase))
        .bind(q.tenant_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }
}
