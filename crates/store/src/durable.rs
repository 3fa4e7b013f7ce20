//! Group commit for SQLite: one write at a time, one `fsync` for many.
//!
//! With `synchronous=FULL` every SQLite commit waits for its own `fsync` of
//! the write-ahead log, so durable commits per second are capped by the
//! disk's flush latency no matter how many requests are waiting (about
//! 6,000/s on this machine, fewer through sqlx), and a hold flow needs about
//! a dozen of them. PostgreSQL avoids this with group commit: concurrent
//! transactions share one WAL flush. This module does the same for SQLite:
//!
//! 1. Writers queue on one in-process lock ([`WriteGate`]) instead of meeting
//!    in SQLite's busy handler, which sleeps for milliseconds at a time. The
//!    lock owns the connection the hot writes run on (exec.rs, writes.rs).
//! 2. Connections commit with `synchronous=NORMAL`: a commit writes its WAL
//!    frames without flushing them.
//! 3. A flush is an `fdatasync` of the `-wal` file. A flush that *started*
//!    after a commit finished covers that commit, so everyone waiting when a
//!    flush starts is covered by it: one flush acknowledges a whole group.
//!
//! By default a write returns only after such a flush. The serving process
//! uses deferred mode instead: a write returns at commit, and the flush
//! happens at a *barrier* ([`crate::Store::sync`]) that the server passes
//! before anything leaves the process — every HTTP response, every call to
//! Stripe, every email and ChittyID request — so a request's writes share
//! one flush with each other and with concurrent requests. Nothing
//! unflushed is shown to anyone: a response that reveals another request's
//! write comes after its own barrier, which covers everything committed
//! before it. The simulated processor keeps its state in the same WAL, a
//! sequential log, so its writes cannot survive a crash without the
//! operation records committed before them. Either way nothing is
//! acknowledged before its WAL frames are on disk, which is the guarantee
//! `synchronous=FULL` gives.
//!
//! Checkpoints (copying the WAL into the database file; SQLite flushes the
//! WAL first) run every few hundred writes on a blocking thread, with the
//! write lock held, so they can reach the end of the log (see
//! [`WriteGate::checkpoint_if_due`]).

use std::fs::File;
use std::future::Future;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::writes::Done;
use crate::{StoreError, StoreResult};

pub(crate) struct WriteGate {
    /// One writer at a time: SQLite has a single write lock anyway. The
    /// holder also gets the connection the hot writes run on (exec.rs).
    writer: tokio::sync::Mutex<rusqlite::Connection>,
    /// `<database>-wal`.
    wal: PathBuf,
    /// Its own connection for checkpoints, so they run on a blocking thread.
    checkpointer: std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>,
    /// The ticket count at the last checkpoint.
    checkpointed_at: AtomicU64,
    /// Writes whose commit may have begun: counted before COMMIT, because
    /// other connections can see a commit before it returns to us.
    pending: AtomicU64,
    /// Writes whose commit (or rollback) has finished; catches up with
    /// `pending` when the write ends, whatever way it ends ([`Committing`]).
    tickets: AtomicU64,
    /// Woken whenever `tickets` moves.
    advanced: tokio::sync::Notify,
    /// The highest ticket known to be on disk; held while flushing.
    flushed: tokio::sync::Mutex<u64>,
    /// WAL flushes so far (for tests and the benchmark's notes).
    flushes: AtomicU64,
    /// A copy of `flushed` readable without waiting for a flush under way.
    flushed_hint: AtomicU64,
    /// Writes return at commit and callers flush with [`WriteGate::sync`]
    /// before anything leaves the process (see [`crate::SqlStore::defer_flushes_to_barriers`]).
    deferred: std::sync::atomic::AtomicBool,
}

impl WriteGate {
    pub(crate) fn new(database: &std::path::Path) -> StoreResult<Self> {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        let conn = rusqlite::Connection::open(database)?;
        // Writes wait for each other on the gate, not here; the timeout only
        // covers another process (a command-line tool) holding the lock.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Checkpoints run on a blocking thread (`checkpoint_if_due`), not in
        // a COMMIT on an async worker thread.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        // Room for every hot statement (writes.rs), so none is re-prepared.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            checkpointer: std::sync::Arc::new(std::sync::Mutex::new(rusqlite::Connection::open(database)?)),
            checkpointed_at: AtomicU64::new(0),
            writer: tokio::sync::Mutex::new(conn),
            wal: PathBuf::from(wal),
            pending: AtomicU64::new(0),
            tickets: AtomicU64::new(0),
            advanced: tokio::sync::Notify::new(),
            flushed: tokio::sync::Mutex::new(0),
            flushes: AtomicU64::new(0),
            flushed_hint: AtomicU64::new(0),
            deferred: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Runs one write (a whole transaction), then returns only once what it
    /// committed is on disk.
    pub(crate) async fn durable<T>(
        &self,
        op: &'static str,
        write: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let result = {
            let _one_writer = self.writer.lock().await;
            let committing = self.committing();
            let r = write.await;
            drop(committing);
            self.checkpoint_if_due().await;
            r
        };
        self.acknowledge(op, result).await
    }

    /// Counts a write as possibly visible until the guard drops.
    fn committing(&self) -> Committing<'_> {
        self.pending.fetch_add(1, Ordering::SeqCst);
        Committing(self)
    }

    /// Takes the write lock and opens a transaction on its connection, for
    /// a hot write (exec.rs). `BEGIN IMMEDIATE` takes SQLite's write lock at
    /// once, so nothing inside can fail for want of it.
    pub(crate) async fn begin(&self) -> StoreResult<tokio::sync::MutexGuard<'_, rusqlite::Connection>> {
        let conn = self.writer.lock().await;
        if !conn.is_autocommit() {
            // Left open by a write that panicked: it never committed.
            conn.execute_batch("ROLLBACK")?;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(conn)
    }

    /// Ends what [`WriteGate::begin`] started as the write asked, releases
    /// the lock, and returns once the commit is on disk.
    pub(crate) async fn end<T>(
        &self,
        op: &'static str,
        conn: tokio::sync::MutexGuard<'_, rusqlite::Connection>,
        done: StoreResult<Done<T>>,
    ) -> StoreResult<T> {
        let committing = self.committing();
        let ended = match done {
            Ok(Done::Commit(v)) => conn.execute_batch("COMMIT").map(|()| v).map_err(StoreError::from),
            Ok(Done::Rollback(v)) => conn.execute_batch("ROLLBACK").map(|()| v).map_err(StoreError::from),
            Err(e) => Err(e),
        };
        if !conn.is_autocommit() {
            // A failed statement or COMMIT: leave no transaction open.
            let _ = conn.execute_batch("ROLLBACK");
        }
        drop(committing);
        self.checkpoint_if_due().await;
        drop(conn);
        self.acknowledge(op, ended).await
    }

    async fn acknowledge<T>(&self, op: &'static str, result: StoreResult<T>) -> StoreResult<T> {
        metrics::counter!("chittycharge_store_writes_total", "op" => op).increment(1);
        if !self.deferred.load(Ordering::Relaxed) {
            // Read after this write's ticket was taken: at least that far.
            self.flush_through(self.tickets.load(Ordering::SeqCst)).await?;
        }
        result
    }

    /// Every `CHECKPOINT_EVERY` writes, while the caller holds the write
    /// lock, copies the WAL into the database on a blocking thread. Holding
    /// the lock matters: with writes appending all the time a checkpoint
    /// never catches up with the end of the log, SQLite can never start the
    /// log over, and the WAL grows without bound (measured: 1.5 GB in 5 s).
    /// This is what `wal_autocheckpoint` does, minus blocking an async
    /// worker thread.
    ///
    /// Every 2,000 writes, not more often: each checkpoint stops every
    /// writer for its two `fsync`s (about 8 ms here, however little it
    /// copies), and at every 500 writes those stops took about 15% of the
    /// hold flows' time; at 2,000, flows/s rose by 5–10% (bench/findings.md).
    /// The log then grows to about 50 MB before it starts over, and
    /// `journal_size_limit` trims the file back to 64 MB when it does.
    async fn checkpoint_if_due(&self) {
        const CHECKPOINT_EVERY: u64 = 2_000;
        let now = self.tickets.load(Ordering::Relaxed);
        if now.saturating_sub(self.checkpointed_at.load(Ordering::Relaxed)) < CHECKPOINT_EVERY {
            return;
        }
        self.checkpointed_at.store(now, Ordering::Relaxed);
        let conn = self.checkpointer.clone();
        let done = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        })
        .await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::warn!("SQLite checkpoint failed; the next one will retry");
        }
    }

    /// At a clean stop: flush, then move the whole log into the database
    /// file and empty it, so the `.db` file alone holds everything (a copy
    /// of it is then complete, and the next start replays nothing).
    pub(crate) async fn checkpoint_all(&self) -> StoreResult<()> {
        self.sync().await?;
        let conn = self.checkpointer.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
        .map_err(|e| StoreError::Unavailable(format!("checkpoint: {e}")))
    }

    pub(crate) fn defer(&self) {
        self.deferred.store(true, Ordering::Relaxed);
    }

    /// Returns once every write that anyone could have seen so far is on
    /// disk: a commit in progress is waited for, then flushed. Free when
    /// nothing was written since the last flush.
    /// What [`Self::sync`]'s first check decides, without the await.
    pub(crate) fn synced(&self) -> bool {
        let target = self.pending.load(Ordering::SeqCst);
        self.flushed_hint.load(Ordering::SeqCst) >= target
    }

    pub(crate) async fn sync(&self) -> StoreResult<()> {
        let target = self.pending.load(Ordering::SeqCst);
        // Every request passes here, most of them having written nothing:
        // answer those without registering with `advanced` (its lock).
        if self.flushed_hint.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            advanced.as_mut().enable();
            if self.tickets.load(Ordering::SeqCst) >= target {
                break;
            }
            advanced.await;
        }
        if self.flushed_hint.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        self.flush_through(target).await
    }

    async fn flush_through(&self, ticket: u64) -> StoreResult<()> {
        let mut flushed = self.flushed.lock().await;
        if *flushed >= ticket {
            return Ok(()); // a flush that began after our commit already finished
        }
        let target = self.tickets.load(Ordering::SeqCst);
        let wal = self.wal.clone();
        tokio::task::spawn_blocking(move || flush(&wal))
            .await
            .map_err(|e| StoreError::Unavailable(format!("WAL flush task failed: {e}")))?
            .map_err(|e| StoreError::Unavailable(format!("cannot flush the SQLite WAL: {e}")))?;
        *flushed = target;
        self.flushed_hint.store(target, Ordering::SeqCst);
        self.flushes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("chittycharge_store_wal_flushes_total").increment(1);
        Ok(())
    }
}

/// Ends a write's [`WriteGate::committing`] span: its ticket is taken even
/// if the write failed, panicked or was cancelled, so a barrier waiting for
/// it is never left waiting.
struct Committing<'a>(&'a WriteGate);

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        // Taken after the commit finished: any flush that reads the ticket
        // counter from now on started after this commit.
        self.0.tickets.fetch_add(1, Ordering::SeqCst);
        self.0.advanced.notify_waiters();
    }
}

/// Opened afresh each time: SQLite deletes and recreates the WAL file when
/// the last connection closes, and an old descriptor would flush a file
/// that is no longer the log.
fn flush(wal: &std::path::Path) -> std::io::Result<()> {
    match File::open(wal) {
        Ok(f) => f.sync_data(),
        // No WAL file: the last connection checkpointed it into the database
        // and SQLite flushed the database file while doing so.
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_error_is_returned_after_the_flush() {
        let dir = std::env::temp_dir().join(format!("cc-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gate = WriteGate::new(&dir.join("x.db")).unwrap();
        let r: StoreResult<()> = gate.durable("test", async { Err(StoreError::Duplicate("k".into())) }).await;
        assert!(matches!(r, Err(StoreError::Duplicate(_))));
        assert_eq!(*gate.flushed.lock().await, 1, "even a failed write is flushed past");
    }

    #[tokio::test]
    async fn concurrent_writes_are_all_covered_by_far_fewer_flushes() {
        let dir = std::env::temp_dir().join(format!("cc-gate2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gate = std::sync::Arc::new(WriteGate::new(&dir.join("x.db")).unwrap());
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let g = gate.clone();
                tokio::spawn(async move { g.durable("test", async move { Ok(i) }).await })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), i);
        }
        assert_eq!(*gate.flushed.lock().await, 64, "every write is covered by a flush");
        let flushes = gate.flushes.load(Ordering::Relaxed);
        assert!(flushes < 8, "64 waiting writes shared {flushes} flushes");
    }

    #[tokio::test]
    async fn deferred_writes_return_at_commit_and_one_barrier_flushes_them_all() {
        let dir = std::env::temp_dir().join(format!("cc-gate3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gate = WriteGate::new(&dir.join("x.db")).unwrap();
        gate.defer();
        for i in 0..10 {
            assert_eq!(gate.durable("test", async move { Ok(i) }).await.unwrap(), i);
        }
        assert_eq!(gate.flushes.load(Ordering::Relaxed), 0, "nothing flushed before a barrier");
        gate.sync().await.unwrap();
        assert_eq!(gate.flushes.load(Ordering::Relaxed), 1);
        assert_eq!(*gate.flushed.lock().await, 10, "the barrier covers every write before it");
        gate.sync().await.unwrap();
        assert_eq!(gate.flushes.load(Ordering::Relaxed), 1, "a barrier with nothing new is free");
    }

    #[tokio::test]
    async fn a_barrier_waits_for_a_commit_in_progress_and_then_covers_it() {
        let dir = std::env::temp_dir().join(format!("cc-gate4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gate = std::sync::Arc::new(WriteGate::new(&dir.join("x.db")).unwrap());
        gate.defer();
        let (commit, committed) = tokio::sync::oneshot::channel::<()>();
        let writer = {
            let g = gate.clone();
            tokio::spawn(async move {
                g.durable("test", async move { committed.await.map_err(|e| StoreError::Unavailable(e.to_string())) })
                    .await
            })
        };
        tokio::task::yield_now().await; // the write is now "committing"
        let barrier = {
            let g = gate.clone();
            tokio::spawn(async move { g.sync().await })
        };
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!barrier.is_finished(), "a reader may already see the commit, so the barrier must wait for it");
        commit.send(()).unwrap();
        writer.await.unwrap().unwrap();
        barrier.await.unwrap().unwrap();
        assert!(*gate.flushed.lock().await >= 1, "and then flush it");
    }
}
