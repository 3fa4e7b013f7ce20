//! Group commit for PostgreSQL at the durability barrier, as durable.rs does
//! for SQLite.
//!
//! PostgreSQL already shares one WAL flush among the transactions that
//! commit together, but every commit still waits for a flush: a hold flow's
//! ten statements are ten waits, each a sleep and a wake-up of a backend on
//! two busy cores. In the serving process (and only there) connections
//! commit with `synchronous_commit = off`, so a statement returns once its
//! commit record is in the WAL buffers, and the *barrier* the server passes
//! before anything leaves the process (every response that shows stored
//! state, every call to Stripe, every email and ChittyID request) makes
//! the WAL durable: one flush for everything committed before it, by this
//! instance or any other.
//!
//! Why that keeps the guarantee: the WAL is one sequential log, so a flush
//! that starts after a commit was visible covers that commit, and a commit
//! that is lost in a crash takes every later record with it. What another
//! instance has committed and this one has read is in the WAL before this
//! instance's flush begins, so a response (or a Stripe call) that depends
//! on it comes after it is durable. A server that crashes loses nothing it
//! committed: the WAL buffers are PostgreSQL's, not the server's.
//!
//! The flush is one statement: when the WAL's insert position is ahead of
//! its flushed position it writes a transactional logical-decoding message
//! (any role may; it needs no `wal_level = logical`) and commits with
//! `synchronous_commit = on` for that transaction alone, which flushes the
//! WAL up to that commit. When nothing is waiting it writes nothing and
//! costs one round trip. Callers that arrive while a flush is under way wait
//! for it to finish and share the next one: one flush acknowledges a group.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::AnyPool;

use crate::StoreResult;

/// `$1`: the commit level the database would otherwise use.
const FLUSH: &str = "SELECT set_config('synchronous_commit', $1, true), \
     CASE WHEN pg_current_wal_insert_lsn() > pg_current_wal_flush_lsn() \
     THEN pg_logical_emit_message(true, 'chittycharge', 'barrier')::text END";

pub(crate) struct PgFlush {
    /// The database's own `synchronous_commit` (`on`, or a stronger
    /// `remote_write`/`remote_apply` that also waits for a synchronous
    /// standby), which the flush's commit uses: the barrier promises what
    /// every commit promised before. A weaker default is taken as `on`.
    level: String,
    /// Barrier calls so far; a call's number is taken when it arrives, after
    /// everything it must cover was committed or read.
    calls: AtomicU64,
    /// The highest call number a finished flush covers; held while flushing.
    covered: tokio::sync::Mutex<u64>,
    /// Flush statements sent (for tests and the benchmark's notes).
    flushes: AtomicU64,
}

impl PgFlush {
    /// Reads the database's commit level and tries the flush statement
    /// once: a database that refuses it (a managed service might refuse the
    /// function) keeps every commit synchronous.
    pub(crate) async fn open(pool: &AnyPool) -> StoreResult<Self> {
        let level: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')").fetch_one(pool).await?;
        let level = match level.as_str() {
            "remote_write" | "remote_apply" => level,
            _ => "on".to_string(),
        };
        sqlx::query(FLUSH).bind(&level).execute(pool).await?;
        Ok(Self { level, calls: AtomicU64::new(0), covered: tokio::sync::Mutex::new(0), flushes: AtomicU64::new(0) })
    }

    /// Returns once every commit visible before the call is flushed.
    pub(crate) async fn sync(&self, pool: &AnyPool) -> StoreResult<()> {
        let me = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut covered = self.covered.lock().await;
        if *covered >= me {
            return Ok(()); // a flush that began after this call arrived has finished
        }
        // Every call numbered up to here arrived before the statement is sent.
        let upto = self.calls.load(Ordering::SeqCst);
        sqlx::query(FLUSH).bind(&self.level).execute(pool).await?;
        *covered = upto;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("chittycharge_store_wal_flushes_total").increment(1);
        Ok(())
    }

    pub(crate) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}
