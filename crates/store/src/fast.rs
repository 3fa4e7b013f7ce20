//! Point reads by primary key on SQLite (holds, simulator objects, webhook
//! event ids), answered on the calling thread.
//!
//! sqlx runs every SQLite statement on a per-connection worker thread and
//! sends the rows back over a channel. For a primary-key read that costs two
//! thread wake-ups, and `perf` put about 45% of the read path's samples in
//! the kernel's context-switch code while SQLite itself was under 1%
//! (bench/results.md). A read by primary key on a WAL database takes a few
//! microseconds and never waits for the writer, so it is cheaper to run it
//! right here on a connection owned by this thread than to hand it off.
//!
//! Each thread keeps its own read connection per store (rusqlite
//! connections are not `Sync`). Anything unexpected — the database busy in
//! recovery, a connection that will not open — returns `None`, and the
//! caller reads through the pool as before, so this path can only be
//! faster, never less correct: it reads committed data like any other
//! connection.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use chittycharge_domain::Hold;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::rows::{hold_from_row, Column, Columns, HOLD_COLUMNS};
use crate::StoreResult;

/// Per-thread connections are few: one per open store.
const MAX_PER_THREAD: usize = 8;

/// A row whose column order is known, so a column is found by comparing
/// Rust strings instead of asking SQLite for each column's name (`strlen`
/// and `sqlite3_column_name` for every lookup showed up in the profile).
struct Positional<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    names: &'static [&'static str],
}

impl Columns for Positional<'_, '_> {
    fn col<T: Column>(&self, name: &str) -> StoreResult<T> {
        match self.names.iter().position(|n| *n == name) {
            Some(i) => T::from_lite_at(self.row, i, name),
            None => self.row.col(name),
        }
    }
}

fn hold_column_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| HOLD_COLUMNS.split(',').map(str::trim).collect())
}

thread_local! {
    static READERS: RefCell<Vec<(u64, Connection)>> = const { RefCell::new(Vec::new()) };
}

pub(crate) struct FastReads {
    path: PathBuf,
    /// Tells this store's connections from another store's on the same thread.
    id: u64,
    hold_sql: String,
    /// Pages read at once ([`FastReads::holds`]). Each runs on a blocking
    /// thread with a connection of its own (a page cache, three files), and
    /// the blocking pool grows to hundreds of threads: unbounded, a flood of
    /// list requests would open that many. The pool's own bound is 8.
    pub(crate) pages: std::sync::Arc<tokio::sync::Semaphore>,
}

/// How many pages of holds are read at once.
pub(crate) const PAGE_READERS: usize = 8;

impl FastReads {
    pub(crate) fn new(path: PathBuf) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            path,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            hold_sql: format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = ?1"),
            pages: std::sync::Arc::new(tokio::sync::Semaphore::new(PAGE_READERS)),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Read-write flags without CREATE: a read-only open of a WAL database
        // needs its -shm file to exist already; `query_only` keeps it a reader.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // Short: a reader only waits during WAL recovery, and then the pool
        // (which may wait longer, off this thread) answers instead.
        conn.busy_timeout(Duration::from_millis(20))?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    /// Runs `sql` with `params` on this thread's connection and maps the
    /// first row; `None` when this path cannot answer (the caller then uses
    /// the pool).
    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&rusqlite::Row<'_>) -> StoreResult<T>,
    ) -> Option<StoreResult<Option<T>>> {
        self.with_statement(sql, |stmt| match stmt.query_row(params, |row| Ok(map(row))).optional() {
            Ok(Some(mapped)) => Some(mapped.map(Some)),
            Ok(None) => Some(Ok(None)),
            Err(_) => None,
        })
    }

    /// Runs `f` with `sql` prepared on this thread's connection; `None` when
    /// this path cannot answer.
    fn with_statement<T>(
        &self,
        sql: &str,
        f: impl FnOnce(&mut rusqlite::CachedStatement<'_>) -> Option<T>,
    ) -> Option<T> {
        READERS.with(|readers| {
            let mut readers = readers.try_borrow_mut().ok()?;
            let idx = match readers.iter().position(|(owner, _)| *owner == self.id) {
                Some(i) => i,
                None => {
                    let conn = self.open().ok()?;
                    if readers.len() >= MAX_PER_THREAD {
                        readers.remove(0);
                    }
                    readers.push((self.id, conn));
                    readers.len() - 1
                }
            };
            let mut stmt = readers[idx].1.prepare_cached(sql).ok()?;
            f(&mut stmt)
        })
    }

    /// Every hold `sql` selects (its columns are [`HOLD_COLUMNS`], its
    /// placeholders `?1`, `?2`, …: `exec::numbered`). For pages of a list or a report: read here, a row
    /// costs a few microseconds, where sqlx's `Any` rows cost several times
    /// that (bench/findings.md). Blocking: call it off the async workers.
    pub(crate) fn holds(&self, sql: &str, params: &[rusqlite::types::Value]) -> Option<StoreResult<Vec<Hold>>> {
        self.with_statement(sql, |stmt| {
            let mut rows = stmt.query(rusqlite::params_from_iter(params)).ok()?;
            let mut out = Vec::new();
            loop {
                match rows.next() {
                    Ok(Some(row)) => match hold_from_row(&Positional { row, names: hold_column_names() }) {
                        Ok(h) => out.push(h),
                        Err(e) => return Some(Err(e)),
                    },
                    Ok(None) => return Some(Ok(out)),
                    Err(_) => return None,
                }
            }
        })
    }

    /// The hold with this id.
    pub(crate) fn hold(&self, id: &str) -> Option<StoreResult<Option<Hold>>> {
        self.one(&self.hold_sql, [id], |row| hold_from_row(&Positional { row, names: hold_column_names() }))
    }

    /// A simulator object and its version.
    pub(crate) fn sim_object(&self, ns: &str, key: &str) -> Option<StoreResult<Option<(String, i64)>>> {
        self.one("SELECT value, version FROM sim_objects WHERE ns = ?1 AND key = ?2", [ns, key], |row| {
            Ok((row.col("value")?, row.col("version")?))
        })
    }

    /// When a webhook event with this id was signed, if it was recorded.
    pub(crate) fn webhook_signed_at(&self, id: &str) -> Option<StoreResult<Option<i64>>> {
        self.one("SELECT signed_at FROM webhook_events WHERE id = ?1", [id], |row| row.col("signed_at"))
    }
}
