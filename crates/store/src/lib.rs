//! Durable storage behind one intent-named trait, [`Store`].
//!
//! [`SqlStore`] implements it once on sqlx's `Any` driver for SQLite (the
//! embedded default) and PostgreSQL (production). The SQL is the portable
//! subset both understand; where the dialects differ the store branches on
//! [`Backend`]. Every cross-request guarantee (per-hold serialization,
//! idempotency, operation records) lives here, not in process memory, so it
//! holds across instances sharing one PostgreSQL.

mod accounts;
mod backup;
mod cache;
mod disputes;
mod durable;
mod exec;
mod fast;
mod filelock;
mod holds;
#[macro_use]
mod hot;
mod jobs;
mod migrations;
mod protect;
mod rental;
mod rows;
mod sql;
mod sqlstore;
#[cfg(test)]
mod testing;
mod types;
mod writes;
mod writes_pg;

pub use backup::{backup_sqlite, restore_sqlite, BackupError, BackupSummary};
pub use filelock::{lock_database, lock_path, DbLock, LockError};
pub use sqlstore::{Migrations, SchemaStatus, SqlStore};
pub use types::*;

use async_trait::async_trait;
use chittycharge_domain::{Booking, Hold, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("unique constraint violated: {0}")]
    Duplicate(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Duplicate(db.message().to_string());
            }
        }
        StoreError::Unavailable(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;
    /// A round trip to the database, for `/health`.
    async fn ping(&self) -> StoreResult<()>;
    /// A durability barrier: returns once every write acknowledged so far is
    /// on disk. Free on PostgreSQL and wherever writes flush as they commit;
    /// on a SQLite file in deferred mode (durable.rs) it is the flush.
    async fn sync(&self) -> StoreResult<()>;
    /// True when [`Store::sync`] would return at once (nothing acknowledged
    /// since the last flush). Every response passes the barrier; asking
    /// first spares most of them the boxed future of an async trait call.
    /// `false` is always safe: the caller then runs `sync`.
    fn synced(&self) -> bool {
        false
    }
    /// At a clean stop, after the last write: on a SQLite file, everything
    /// into the database file itself (durable.rs). Nothing elsewhere.
    async fn close(&self) -> StoreResult<()>;

    // ---- API tokens
    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()>;
    async fn find_token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>>;
    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    /// Returns false when no active token has that id.
    async fn revoke_token(&self, id: &str, at: Timestamp) -> StoreResult<bool>;
    /// Every token ever made, revoked ones included (a fresh install has none).
    async fn count_tokens(&self) -> StoreResult<i64>;
    async fn get_token(&self, id: &str) -> StoreResult<Option<TokenRecord>>;

    // ---- console sessions: (token id, csrf secret, expiry)
    async fn insert_session(
        &self,
        id_hash: &str,
        token_id: &str,
        csrf: &str,
        now: Timestamp,
        expires: Timestamp,
    ) -> StoreResult<()>;
    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<(String, String, Timestamp)>>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;

    // ---- operations (written before every mutating processor call)
    async fn insert_operation(&self, op: &Operation) -> StoreResult<()>;
    async fn finish_operation(&self, id: &str, status: OpStatus, error: Option<&str>, at: Timestamp)
        -> StoreResult<()>;
    async fn get_operation(&self, id: &str) -> StoreResult<Option<Operation>>;
    /// A hold's operations, oldest first (its refunds are listed from them).
    async fn operations_for_hold(&self, hold_id: &str) -> StoreResult<Vec<Operation>>;
    /// Unknown operations due for another attempt, and pending ones older
    /// than `stale_before` (their process died mid-call).
    /// Only operations with fewer than `max_attempts` attempts: the ones out
    /// of attempts wait for a person ([`Store::stuck_operations`]) and never
    /// crowd out newer ones.
    async fn due_operations(
        &self,
        now: Timestamp,
        stale_before: Timestamp,
        max_attempts: i64,
        limit: i64,
    ) -> StoreResult<Vec<Operation>>;
    /// Unsettled operations that have had at least `min_attempts` attempts.
    async fn stuck_operations(
        &self,
        min_attempts: i64,
        stale_before: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Operation>>;
    /// Claims an operation for one reconciliation attempt (compare-and-set on
    /// `attempts`), scheduling the next one at `next`. False if another
    /// worker claimed it first.
    async fn claim_operation(&self, op: &Operation, next: Timestamp, now: Timestamp) -> StoreResult<bool>;
    async fn count_operations(&self, status: OpStatus) -> StoreResult<i64>;
    /// Operations of `kind` still pending or unknown that have no hold yet:
    /// creates that may still place one.
    async fn unsettled_operations(&self, kind: &str) -> StoreResult<Vec<Operation>>;

    // ---- inbound processor events
    /// Whether a webhook event id was recorded, and if so whether this is
    /// the very same delivery again (same signature time: a replay) or a
    /// redelivery. Reads only.
    async fn webhook_event_seen(&self, id: &str, signed_at: i64) -> StoreResult<EventClaim>;
    /// Records an applied event and its result; `New` if this call recorded
    /// it, otherwise what [`Store::webhook_event_seen`] would say.
    async fn record_webhook_event(
        &self,
        id: &str,
        kind: &str,
        signed_at: i64,
        now: Timestamp,
        result: &str,
    ) -> StoreResult<EventClaim>;

    // ---- holds
    /// Inserts a new hold with its first events and settles the create
    /// operation, atomically.
    async fn insert_hold(&self, hold: &Hold, events: &[NewEvent], op_id: Option<&str>) -> StoreResult<()> {
        self.insert_hold_scheduling(hold, events, op_id, &[]).await
    }
    /// `insert_hold`, and in the same write `jobs` (as `schedule_jobs`
    /// does): a hold created capturable has its expiry timers, and its
    /// ChittyID follow-up, from the moment it exists.
    async fn insert_hold_scheduling(
        &self,
        hold: &Hold,
        events: &[NewEvent],
        op_id: Option<&str>,
        jobs: &[Job],
    ) -> StoreResult<()>;
    async fn get_hold(&self, id: &str) -> StoreResult<Option<Hold>>;
    async fn get_hold_by_chitty_id(&self, chitty_id: &str) -> StoreResult<Option<Hold>>;
    /// Newest first; returns at most `filter.limit` holds.
    async fn list_holds(&self, filter: &HoldFilter) -> StoreResult<Vec<Hold>>;
    /// Claims the hold for `op` if its version is still `expected_version`
    /// and no other operation holds it, and records `op`, atomically.
    /// Returns false when another writer got there first.
    async fn lock_hold(&self, hold_id: &str, expected_version: i64, op: &Operation) -> StoreResult<bool>;
    /// Writes `hold` if its stored version is still `expected_version`,
    /// appends `events`, and settles `finish` (an operation id and outcome).
    async fn save_hold(
        &self,
        hold: &Hold,
        expected_version: i64,
        events: &[NewEvent],
        finish: Option<(&str, OpStatus, Option<&str>)>,
    ) -> StoreResult<bool> {
        self.save_hold_scheduling(hold, expected_version, events, finish, &[]).await
    }
    /// `save_hold`, and in the same write `jobs` (as `schedule_jobs` does)
    /// when the hold is written: a hold that became capturable has its
    /// expiry timers from the moment it is, in one round trip.
    async fn save_hold_scheduling(
        &self,
        hold: &Hold,
        expected_version: i64,
        events: &[NewEvent],
        finish: Option<(&str, OpStatus, Option<&str>)>,
        jobs: &[Job],
    ) -> StoreResult<bool>;
    async fn hold_events(&self, hold_id: &str) -> StoreResult<Vec<HoldEvent>>;
    /// (status, count) for the `holds by state` gauge.
    async fn count_holds_by_status(&self) -> StoreResult<Vec<(String, i64)>>;
    /// Holds still authorized whose `capture_before` passed before `now`:
    /// the expiry backlog a healthy job runner keeps at zero.
    async fn count_holds_past_deadline(&self, now: Timestamp) -> StoreResult<i64>;
    /// Appends an event without touching the hold (job runs, warnings).
    async fn append_event(&self, hold_id: &str, event: &NewEvent) -> StoreResult<()>;

    // ---- our API's Idempotency-Key records
    async fn idem_begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        lease_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<IdemBegin>;
    async fn idem_finish(&self, scope: &str, key: &str, status: u16, body: &str, content_type: &str)
        -> StoreResult<()>;
    /// An answer that is not kept: the same request may run again, and the
    /// key stays bound to it (another request under it is a mismatch).
    async fn idem_abandon(&self, scope: &str, key: &str) -> StoreResult<()>;

    // ---- shared rate-limit state (GCRA)
    /// `cells` requests for `key` at `now_us`, one after the other, under
    /// GCRA with emission interval `interval_us` and burst tolerance
    /// `tolerance_us`, decided and stored in one statement: returns how many
    /// of them (the first ones) are allowed and the key's theoretical
    /// arrival time afterwards (unchanged when none is).
    async fn rate_limit_gcra(
        &self,
        key: &str,
        now_us: i64,
        interval_us: i64,
        tolerance_us: i64,
        cells: u32,
    ) -> StoreResult<(u32, i64)>;
    /// Drops rate-limit state that has run out (`tat_us` before
    /// `rate_before_us`: as good as absent) and expired idempotency records.
    async fn purge_expired(&self, rate_before_us: i64, idem_before: Timestamp) -> StoreResult<()>;
    /// Drops history kept only for a while: webhook event ids received and
    /// notifications sent before `before`. Returns how many rows went.
    async fn purge_history(&self, before: Timestamp) -> StoreResult<u64>;

    // ---- properties and guest history
    async fn upsert_property(&self, p: &Property) -> StoreResult<()>;
    async fn get_property(&self, id: &str) -> StoreResult<Option<Property>>;
    async fn list_properties(&self) -> StoreResult<Vec<Property>>;
    /// Holds of this guest (by email or tenant id) at this property that the
    /// processor authorized and released without capture.
    async fn count_clean_releases(&self, q: &CleanReleases<'_>) -> StoreResult<i64>;

    // ---- bookings, damage claims, notifications
    async fn insert_booking(&self, b: &Booking) -> StoreResult<()>;
    /// Booking ids are the operator's and unique per property.
    async fn get_booking(&self, property_id: &str, id: &str) -> StoreResult<Option<Booking>>;
    /// Bookings with this id at any property (or only at `scope`'s), at most 10.
    async fn find_bookings(&self, id: &str, scope: Option<&[String]>) -> StoreResult<Vec<Booking>>;
    async fn list_bookings(&self, f: &BookingFilter) -> StoreResult<Vec<Booking>>;
    /// Compare-and-set on `version`; false when another writer won.
    async fn save_booking(&self, b: &Booking, expected_version: i64) -> StoreResult<bool>;
    async fn booking_for_hold(&self, hold_id: &str) -> StoreResult<Option<Booking>>;
    /// Checked-out bookings whose claim window has ended.
    async fn bookings_to_release(&self, now: Timestamp, limit: i64) -> StoreResult<Vec<Booking>>;
    async fn insert_claim(&self, c: &DamageClaim) -> StoreResult<()>;
    async fn claims_for_booking(&self, property_id: &str, booking_id: &str) -> StoreResult<Vec<DamageClaim>>;
    /// Claims made in a period, oldest first, a page at a time.
    async fn list_claims(&self, filter: &ClaimFilter) -> StoreResult<Vec<DamageClaim>>;
    async fn enqueue_notification(&self, n: &Notification) -> StoreResult<()>;
    /// The notifications about one hold, oldest first.
    async fn notifications_for_hold(&self, hold_id: &str) -> StoreResult<Vec<Notification>>;

    // ---- disputes
    /// Inserts a dispute (`expected` `None`; false if it exists) or updates
    /// it while its stored status is still `expected` (false if another
    /// writer changed it). A submission time, once set, is kept.
    async fn save_dispute(
        &self,
        d: &chittycharge_domain::dispute::Dispute,
        expected: Option<chittycharge_domain::dispute::DisputeStatus>,
    ) -> StoreResult<bool>;
    async fn get_dispute(&self, id: &str) -> StoreResult<Option<chittycharge_domain::dispute::Dispute>>;
    /// (hold, amount under dispute and not won back) for those of `hold_ids` that have any.
    async fn disputed_amounts(&self, hold_ids: &[String]) -> StoreResult<Vec<(String, i64)>>;
    async fn disputes_for_hold(&self, hold_id: &str) -> StoreResult<Vec<chittycharge_domain::dispute::Dispute>>;
    /// Undecided disputes, soonest evidence deadline first; `scope` limits
    /// them to these properties.
    async fn open_disputes(
        &self,
        scope: Option<&[String]>,
        limit: i64,
    ) -> StoreResult<Vec<chittycharge_domain::dispute::Dispute>>;
    /// Claims due messages for `lease_ms` so that only this worker sends them.
    async fn claim_notifications(&self, now: Timestamp, lease_ms: i64, limit: i64) -> StoreResult<Vec<Notification>>;
    /// Records a send attempt (compare-and-set on `attempts`).
    async fn record_notification_attempt(
        &self,
        n: &Notification,
        status: &str,
        error: Option<&str>,
        next: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn list_notifications(&self, limit: i64) -> StoreResult<Vec<Notification>>;

    // ---- durable jobs
    /// Queues a job unless one with the same key exists; true if queued.
    async fn schedule_job(&self, job: &Job) -> StoreResult<bool>;
    /// Several jobs in one transaction; each is skipped if its key exists.
    async fn schedule_jobs(&self, jobs: &[Job]) -> StoreResult<()>;
    /// Claims up to `limit` due jobs (and ones whose worker died) for `lease_ms`.
    async fn claim_jobs(&self, now: Timestamp, lease_ms: i64, limit: i64) -> StoreResult<Vec<Job>>;
    /// Extends a running job's lease; false when the job is no longer this
    /// worker's (its lease lapsed and another claimed it: `attempts` moved).
    async fn renew_job_lease(&self, id: &str, attempts: i64, until: Timestamp) -> StoreResult<bool>;
    /// `retry_at` puts the job back in the queue for then.
    async fn finish_job(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn job_counts(&self, now: Timestamp) -> StoreResult<Vec<JobCount>>;

    // ---- the simulated processor's objects
    async fn sim_get(&self, ns: &str, key: &str) -> StoreResult<Option<(String, i64)>>;
    async fn sim_put(&self, ns: &str, key: &str, value: &str, expected: Option<i64>) -> StoreResult<bool>;
    /// Several conditional puts (`(ns, key, value, expected)`, each as in
    /// `sim_put`) in one transaction: all or none; false if any condition failed.
    async fn sim_put_all(&self, writes: &[(&str, &str, &str, Option<i64>)]) -> StoreResult<bool>;
    async fn sim_keys(&self, ns: &str) -> StoreResult<Vec<String>>;
}
