//! [`Store`] on sqlx's `Any` driver: one implementation for SQLite and
//! PostgreSQL. Timestamps are integer milliseconds, so the same SQL runs on
//! both without dialect-specific date types.

use async_trait::async_trait;
use chittycharge_domain::{Booking, Hold, Timestamp};
use sqlx::Row;

use crate::exec::Exec;
use crate::hot::value;
use crate::sqlstore::SqlStore;
use crate::writes::{self, Done};
use crate::writes_pg;
use crate::{
    Backend, BookingFilter, ClaimFilter, CleanReleases, DamageClaim, EventClaim, HoldEvent, HoldFilter, IdemBegin, Job,
    JobCount, NewEvent, Notification, OpStatus, Operation, Property, Store, StoreResult, TokenRecord,
};

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn close(&self) -> StoreResult<()> {
        match &self.gate {
            Some(gate) => gate.checkpoint_all().await,
            None => Ok(()),
        }
    }

    fn synced(&self) -> bool {
        self.gate.as_ref().is_none_or(|gate| gate.synced())
    }

    async fn sync(&self) -> StoreResult<()> {
        match &self.gate {
            Some(gate) => gate.sync().await,
            None => Ok(()),
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_token(&self, t: &TokenRecord) -> StoreResult<()> {
        self.write("insert_token", self.insert_token_impl(t)).await
    }

    async fn find_token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        self.find_token_by_hash_impl(hash).await
    }

    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.list_tokens_impl().await
    }

    async fn revoke_token(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
        self.write("revoke_token", self.revoke_token_impl(id, at)).await
    }

    async fn count_tokens(&self) -> StoreResult<i64> {
        self.count_tokens_impl().await
    }

    async fn get_token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        self.get_token_impl(id).await
    }

    async fn insert_session(
        &self,
        id_hash: &str,
        token_id: &str,
        csrf: &str,
        now: Timestamp,
        expires: Timestamp,
    ) -> StoreResult<()> {
        self.write("insert_session", self.insert_session_impl(id_hash, token_id, csrf, now, expires)).await
    }

    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<(String, String, Timestamp)>> {
        self.get_session_impl(id_hash).await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        self.write("delete_session", self.delete_session_impl(id_hash)).await
    }

    async fn insert_operation(&self, op: &Operation) -> StoreResult<()> {
        one_statement!(self, "insert_operation", |ex| value(writes::insert_operation(ex, op)), else writes::insert_operation(ex, op))
    }

    async fn finish_operation(
        &self,
        id: &str,
        status: OpStatus,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()> {
        one_statement!(self, "finish_operation", |ex| writes::finish_op(ex, id, status, error, at), else async {
            writes::finish_op(ex, id, status, error, at).await.map(Done::Commit)
        })
    }

    async fn get_operation(&self, id: &str) -> StoreResult<Option<Operation>> {
        self.get_operation_impl(id).await
    }
    async fn operations_for_hold(&self, hold_id: &str) -> StoreResult<Vec<Operation>> {
        self.operations_for_hold_impl(hold_id).await
    }

    async fn due_operations(
        &self,
        now: Timestamp,
        stale_before: Timestamp,
        max_attempts: i64,
        limit: i64,
    ) -> StoreResult<Vec<Operation>> {
        self.due_operations_impl(now, stale_before, max_attempts, limit).await
    }
    async fn stuck_operations(
        &self,
        min_attempts: i64,
        stale_before: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Operation>> {
        self.stuck_operations_impl(min_attempts, stale_before, limit).await
    }

    async fn claim_operation(&self, op: &Operation, next: Timestamp, now: Timestamp) -> StoreResult<bool> {
        self.write("claim_operation", self.claim_operation_impl(op, next, now)).await
    }

    async fn count_operations(&self, status: OpStatus) -> StoreResult<i64> {
        self.count_operations_impl(status).await
    }
    async fn unsettled_operations(&self, kind: &str) -> StoreResult<Vec<Operation>> {
        self.unsettled_operations_impl(kind).await
    }

    async fn webhook_event_seen(&self, id: &str, signed_at: i64) -> StoreResult<EventClaim> {
        self.webhook_event_seen_impl(id, signed_at).await
    }

    async fn record_webhook_event(
        &self,
        id: &str,
        kind: &str,
        signed_at: i64,
        now: Timestamp,
        result: &str,
    ) -> StoreResult<EventClaim> {
        let recorded = one_statement!(
            self,
            "record_webhook_event",
            |ex| value(writes::record_webhook_event(ex, id, kind, signed_at, now, result)),
            else writes::record_webhook_event(ex, id, kind, signed_at, now, result)
        )?;
        if recorded {
            Ok(EventClaim::New)
        } else {
            self.webhook_event_seen_impl(id, signed_at).await
        }
    }

    async fn insert_hold_scheduling(
        &self,
        h: &Hold,
        events: &[NewEvent],
        op_id: Option<&str>,
        jobs: &[Job],
    ) -> StoreResult<()> {
        let r = one_statement!(
            self,
            "insert_hold",
            |ex| writes_pg::insert_hold(ex, h, events, op_id, jobs),
            else writes::insert_hold(ex, h, events, op_id, jobs)
        );
        self.forget(&h.id);
        r
    }

    async fn get_hold(&self, id: &str) -> StoreResult<Option<Hold>> {
        self.get_hold_impl(id).await
    }

    async fn get_hold_by_chitty_id(&self, chitty_id: &str) -> StoreResult<Option<Hold>> {
        self.get_hold_by_chitty_id_impl(chitty_id).await
    }

    async fn list_holds(&self, f: &HoldFilter) -> StoreResult<Vec<Hold>> {
        self.list_holds_impl(f).await
    }

    async fn lock_hold(&self, hold_id: &str, expected_version: i64, op: &Operation) -> StoreResult<bool> {
        let r = one_statement!(
            self,
            "lock_hold",
            |ex| writes_pg::lock_hold(ex, hold_id, expected_version, op),
            else writes::lock_hold(ex, hold_id, expected_version, op)
        );
        self.forget(hold_id);
        r
    }

    async fn save_hold_scheduling(
        &self,
        h: &Hold,
        expected_version: i64,
        events: &[NewEvent],
        finish: Option<(&str, OpStatus, Option<&str>)>,
        jobs: &[Job],
    ) -> StoreResult<bool> {
        let r = one_statement!(
            self,
            "save_hold",
            |ex| writes_pg::save_hold(ex, h, expected_version, events, finish, jobs),
            else writes::save_hold(ex, h, expected_version, events, finish, jobs)
        );
        self.forget(&h.id);
        r
    }

    async fn hold_events(&self, hold_id: &str) -> StoreResult<Vec<HoldEvent>> {
        self.hold_events_impl(hold_id).await
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
        self.write("idem_begin", self.idem_begin_impl(scope, key, fingerprint, now, lease_ms, ttl_ms)).await
    }
    async fn idem_finish(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
        content_type: &str,
    ) -> StoreResult<()> {
        self.write("idem_finish", self.idem_finish_impl(scope, key, status, body, content_type)).await
    }
    async fn idem_abandon(&self, scope: &str, key: &str) -> StoreResult<()> {
        self.write("idem_abandon", self.idem_abandon_impl(scope, key)).await
    }
    async fn rate_limit_gcra(
        &self,
        key: &str,
        now_us: i64,
        interval_us: i64,
        tolerance_us: i64,
        cells: u32,
    ) -> StoreResult<(u32, i64)> {
        self.write("rate_limit_gcra", self.rate_limit_gcra_impl(key, now_us, interval_us, tolerance_us, cells)).await
    }
    async fn purge_expired(&self, rate_before_us: i64, idem_before: Timestamp) -> StoreResult<()> {
        self.write("purge_expired", self.purge_expired_impl(rate_before_us, idem_before)).await
    }
    async fn purge_history(&self, before: Timestamp) -> StoreResult<u64> {
        self.write("purge_history", self.purge_history_impl(before)).await
    }
    async fn upsert_property(&self, p: &Property) -> StoreResult<()> {
        self.write("upsert_property", self.upsert_property_impl(p)).await
    }
    async fn get_property(&self, id: &str) -> StoreResult<Option<Property>> {
        self.get_property_impl(id).await
    }
    async fn list_properties(&self) -> StoreResult<Vec<Property>> {
        self.list_properties_impl().await
    }
    async fn count_clean_releases(&self, q: &CleanReleases<'_>) -> StoreResult<i64> {
        self.count_clean_releases_impl(q).await
    }

    async fn insert_booking(&self, b: &Booking) -> StoreResult<()> {
        self.write("insert_booking", self.insert_booking_impl(b)).await
    }
    async fn get_booking(&self, property_id: &str, id: &str) -> StoreResult<Option<Booking>> {
        self.get_booking_impl(property_id, id).await
    }
    async fn find_bookings(&self, id: &str, scope: Option<&[String]>) -> StoreResult<Vec<Booking>> {
        self.find_bookings_impl(id, scope).await
    }
    async fn list_bookings(&self, f: &BookingFilter) -> StoreResult<Vec<Booking>> {
        self.list_bookings_impl(f).await
    }
    async fn save_booking(&self, b: &Booking, expected_version: i64) -> StoreResult<bool> {
        self.write("save_booking", self.save_booking_impl(b, expected_version)).await
    }
    async fn booking_for_hold(&self, hold_id: &str) -> StoreResult<Option<Booking>> {
        self.booking_for_hold_impl(hold_id).await
    }
    async fn bookings_to_release(&self, now: Timestamp, limit: i64) -> StoreResult<Vec<Booking>> {
        self.bookings_to_release_impl(now, limit).await
    }
    async fn insert_claim(&self, c: &DamageClaim) -> StoreResult<()> {
        self.write("insert_claim", self.insert_claim_impl(c)).await
    }
    async fn claims_for_booking(&self, property_id: &str, booking_id: &str) -> StoreResult<Vec<DamageClaim>> {
        self.claims_for_booking_impl(property_id, booking_id).await
    }
    async fn list_claims(&self, filter: &ClaimFilter) -> StoreResult<Vec<DamageClaim>> {
        self.list_claims_impl(filter).await
    }
    async fn notifications_for_hold(&self, hold_id: &str) -> StoreResult<Vec<Notification>> {
        self.notifications_for_hold_impl(hold_id).await
    }
    async fn save_dispute(
        &self,
        d: &chittycharge_domain::dispute::Dispute,
        expected: Option<chittycharge_domain::dispute::DisputeStatus>,
    ) -> StoreResult<bool> {
        self.save_dispute_impl(d, expected).await
    }
    async fn get_dispute(&self, id: &str) -> StoreResult<Option<chittycharge_domain::dispute::Dispute>> {
        self.get_dispute_impl(id).await
    }
    async fn disputed_amounts(&self, hold_ids: &[String]) -> StoreResult<Vec<(String, i64)>> {
        self.disputed_amounts_impl(hold_ids).await
    }
    async fn disputes_for_hold(&self, hold_id: &str) -> StoreResult<Vec<chittycharge_domain::dispute::Dispute>> {
        self.disputes_for_hold_impl(hold_id).await
    }
    async fn open_disputes(
        &self,
        scope: Option<&[String]>,
        limit: i64,
    ) -> StoreResult<Vec<chittycharge_domain::dispute::Dispute>> {
        self.open_disputes_impl(scope, limit).await
    }
    async fn enqueue_notification(&self, n: &Notification) -> StoreResult<()> {
        self.write("enqueue_notification", self.enqueue_notification_impl(n)).await
    }
    async fn claim_notifications(&self, now: Timestamp, lease_ms: i64, limit: i64) -> StoreResult<Vec<Notification>> {
        self.write("claim_notifications", self.claim_notifications_impl(now, lease_ms, limit)).await
    }
    async fn record_notification_attempt(
        &self,
        n: &Notification,
        status: &str,
        error: Option<&str>,
        next: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.write("record_notification_attempt", self.record_notification_attempt_impl(n, status, error, next, now))
            .await
    }
    async fn list_notifications(&self, limit: i64) -> StoreResult<Vec<Notification>> {
        self.list_notifications_impl(limit).await
    }

    async fn schedule_job(&self, job: &Job) -> StoreResult<bool> {
        one_statement!(self, "schedule_job", |ex| value(writes::schedule_job(ex, job)), else writes::schedule_job(ex, job))
    }
    async fn schedule_jobs(&self, jobs: &[Job]) -> StoreResult<()> {
        one_statement!(self, "schedule_jobs", |ex| value(writes::schedule_jobs(ex, jobs)), else writes::schedule_jobs(ex, jobs))
    }
    async fn claim_jobs(&self, now: Timestamp, lease_ms: i64, limit: i64) -> StoreResult<Vec<Job>> {
        self.write("claim_jobs", self.claim_jobs_impl(now, lease_ms, limit)).await
    }
    async fn renew_job_lease(&self, id: &str, attempts: i64, until: Timestamp) -> StoreResult<bool> {
        self.write("renew_job_lease", self.renew_job_lease_impl(id, attempts, until)).await
    }
    async fn finish_job(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.write("finish_job", self.finish_job_impl(id, status, error, retry_at, now)).await
    }
    async fn job_counts(&self, now: Timestamp) -> StoreResult<Vec<JobCount>> {
        self.job_counts_impl(now).await
    }

    async fn count_holds_by_status(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM holds GROUP BY status").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>("status")?, r.try_get::<i64, _>("n")?))).collect()
    }

    async fn count_holds_past_deadline(&self, now: Timestamp) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM holds WHERE status = 'requires_capture' AND expires_at IS NOT NULL AND expires_at < $1",
        )
        .bind(now.millis())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn append_event(&self, hold_id: &str, event: &NewEvent) -> StoreResult<()> {
        one_statement!(self, "append_event", |ex| writes::insert_event(ex, hold_id, event), else async {
            writes::insert_event(ex, hold_id, event).await.map(Done::Commit)
        })
    }

    async fn sim_get(&self, ns: &str, key: &str) -> StoreResult<Option<(String, i64)>> {
        self.sim_get_impl(ns, key).await
    }

    async fn sim_put(&self, ns: &str, key: &str, value: &str, expected: Option<i64>) -> StoreResult<bool> {
        self.sim_put_all(&[(ns, key, value, expected)]).await
    }

    async fn sim_put_all(&self, writes: &[(&str, &str, &str, Option<i64>)]) -> StoreResult<bool> {
        if self.backend == Backend::Postgres {
            if let Some(done) = writes_pg::sim_put_all(&mut Exec::Auto(&self.pool), writes).await? {
                return Ok(done);
            }
        }
        transact!(self, "sim_put_all", |ex| writes::sim_put_all(ex, writes))
    }

    async fn sim_keys(&self, ns: &str) -> StoreResult<Vec<String>> {
        self.sim_keys_impl(ns).await
    }
}
