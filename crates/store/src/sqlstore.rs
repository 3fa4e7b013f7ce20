//! [`SqlStore`]: opening the database (SQLite file or PostgreSQL), its
//! migrations, and the modes a serving SQLite process switches on (sole
//! writer with the hold cache, flushes deferred to barriers). The `Store`
//! trait's implementation is in sql.rs.

use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::cache::HoldCache;
use crate::durable::WriteGate;
use crate::fast::FastReads;
use crate::filelock::{DbLock, LockError};
use crate::{Backend, StoreError, StoreResult};

/// What opening a store does about its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply pending migrations (`serve`, `migrate`): the one place a schema
    /// changes. A schema newer than this binary is refused, not touched.
    Apply,
    /// The schema must already be exactly this binary's (other commands),
    /// so a newer binary run beside a running server never migrates it.
    Require,
}

/// Where a database's schema stands against this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The highest migration applied (0 for an empty database).
    pub applied: i64,
    /// The highest migration this binary knows.
    pub known: i64,
    /// Migrations this binary would apply, as (version, description).
    pub pending: Vec<(i64, String)>,
}

pub struct SqlStore {
    pub(crate) pool: AnyPool,
    /// PostgreSQL only: connections whose commits do not wait for the WAL
    /// flush, for state that may be lost in a crash (rate-limit counters).
    pub(crate) relaxed: Option<AnyPool>,
    pub(crate) backend: Backend,
    /// SQLite files only: hold reads without the worker-thread hand-off.
    /// Shared with the blocking threads that read list pages.
    fast: Option<std::sync::Arc<FastReads>>,
    /// SQLite files only: serialized writes and group commit (durable.rs).
    pub(crate) gate: Option<WriteGate>,
    /// The database file, for SQLite files.
    file: Option<std::path::PathBuf>,
    /// Set by [`SqlStore::become_sole_writer`]: the file lock it holds.
    sole_writer: std::sync::OnceLock<DbLock>,
    /// Only while this process is the sole writer (cache.rs).
    cache: std::sync::OnceLock<HoldCache>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    Commit,
    Relaxed,
}

async fn pg_pool(options: AnyPoolOptions, url: &str, durability: Durability) -> StoreResult<AnyPool> {
    Ok(options
        // sqlx pings a connection before every acquire by default: one more
        // round trip per statement. Only a connection idle for a while is
        // checked (as HikariCP does), the one a server restart or a
        // firewall's idle timeout may have cut; a busy one just ran a query.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > Duration::from_secs(1) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if durability == Durability::Relaxed {
                    conn.execute("SET synchronous_commit TO OFF").await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

impl SqlStore {
    /// Connects to `sqlite://path` (created if missing) or `postgres://…`
    /// and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::open(url, Migrations::Apply).await
    }

    /// Every migration this binary knows for the back-end `url` names.
    pub fn known_migrations(url: &str) -> StoreResult<Vec<(i64, String)>> {
        let (backend, _, _) = Self::resolve(url)?;
        Ok(Self::migrator(backend).iter().map(|m| (m.version, m.description.to_string())).collect())
    }

    /// Where the database at `url` stands, without changing it.
    pub async fn schema_status(url: &str) -> StoreResult<SchemaStatus> {
        sqlx::any::install_default_drivers();
        let (backend, url, _) = Self::resolve(url)?;
        let pool =
            AnyPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(10)).connect(&url).await?;
        let status = Self::status_of(&pool, backend).await;
        pool.close().await;
        status
    }

    async fn status_of(pool: &AnyPool, backend: Backend) -> StoreResult<SchemaStatus> {
        let migrator = Self::migrator(backend);
        // No table yet: nothing applied.
        let applied: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .unwrap_or(0);
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        let pending =
            migrator.iter().filter(|m| m.version > applied).map(|m| (m.version, m.description.to_string())).collect();
        Ok(SchemaStatus { applied, known, pending })
    }

    pub(crate) fn migrator(backend: Backend) -> &'static Migrator {
        match backend {
            Backend::Sqlite => &crate::migrations::SQLITE,
            Backend::Postgres => &crate::migrations::POSTGRES,
        }
    }

    /// The back-end, the URL to connect with, and the SQLite file.
    pub(crate) fn resolve(url: &str) -> StoreResult<(Backend, String, Option<std::path::PathBuf>)> {
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            let file = path.split('?').next().unwrap_or(path);
            let fast_path = (file != ":memory:").then(|| Path::new(file).to_path_buf());
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = if path.contains("mode=") {
                format!("sqlite://{path}")
            } else {
                format!("sqlite://{path}{sep}mode=rwc")
            };
            Ok((Backend::Sqlite, url, fast_path))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok((Backend::Postgres, url.to_string(), None))
        } else {
            Err(StoreError::Unavailable("DATABASE_URL must start with sqlite:// or postgres://".into()))
        }
    }

    /// Opens the store, doing `migrations` about its schema.
    pub async fn open(url: &str, migrations: Migrations) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url, fast_path) = Self::resolve(url)?;
        if let Some(parent) = fast_path.as_deref().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
        }
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            // WAL lets readers run beside the single writer; busy_timeout makes
            // writers queue instead of failing. A file database commits with
            // synchronous=NORMAL and every write is flushed before it returns
            // (group commit, durable.rs); an in-memory one has nothing to flush.
            Backend::Sqlite => {
                let sync = if fast_path.is_some() { "NORMAL" } else { "FULL" };
                // A file database checkpoints beside the writes (durable.rs).
                let autockpt = if fast_path.is_some() { 0 } else { 1000 };
                options
                    .max_connections(8)
                    // A local file cannot drop the connection; the default ping before
                    // every acquire is one more worker-thread round trip per query.
                    .test_before_acquire(false)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                format!("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint={autockpt};")
                                    .as_str(),
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => pg_pool(options.max_connections(16), &url, Durability::Commit).await?,
        };
        // Rate-limit counters: a counter lost in a crash costs nothing, and
        // not waiting for the WAL flush keeps a hot key's row lock short.
        let relaxed = match backend {
            Backend::Postgres => {
                let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10)).max_connections(4);
                Some(pg_pool(options, &url, Durability::Relaxed).await?)
            }
            Backend::Sqlite => None,
        };
        let status = Self::status_of(&pool, backend).await?;
        if status.applied > status.known {
            return Err(StoreError::Unavailable(format!(
                "the database's schema is at version {}, newer than this binary knows ({}): run the newer release, \
                 or restore the backup made before the upgrade",
                status.applied, status.known
            )));
        }
        match migrations {
            Migrations::Apply => Self::migrator(backend)
                .run(&pool)
                .await
                .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?,
            Migrations::Require if !status.pending.is_empty() => {
                return Err(StoreError::Unavailable(format!(
                    "the database's schema is at version {}, and this binary needs {}: run `chittycharge migrate` \
                     (it applies {} migration(s))",
                    status.applied,
                    status.known,
                    status.pending.len()
                )));
            }
            Migrations::Require => {}
        }
        let fast_path = fast_path.filter(|_| backend == Backend::Sqlite);
        let gate = fast_path.as_deref().map(WriteGate::new).transpose()?;
        let fast = fast_path.clone().map(|p| std::sync::Arc::new(FastReads::new(p)));
        Ok(Self {
            pool,
            relaxed,
            backend,
            fast,
            gate,
            file: fast_path,
            sole_writer: std::sync::OnceLock::new(),
            cache: std::sync::OnceLock::new(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// For the serving process on a SQLite file: takes the file's lock
    /// (filelock.rs), waiting up to `wait` for a previous server that is
    /// still shutting down, before anything opens the database. `None` on
    /// PostgreSQL and in-memory databases, which need none.
    pub async fn lock_sqlite(url: &str, wait: std::time::Duration) -> StoreResult<Option<DbLock>> {
        let (backend, _, file) = Self::resolve(url)?;
        match (backend, file) {
            (Backend::Sqlite, Some(path)) => {
                crate::filelock::lock_database(&path, wait).await.map(Some).map_err(LockError::into_store_error)
            }
            _ => Ok(None),
        }
    }

    /// For the serving process, holding `lock` from [`SqlStore::lock_sqlite`]:
    /// turns on the hold read cache, which is only right while no other
    /// process writes. Command-line tools that open the same file do not
    /// call this. A no-op on PostgreSQL.
    pub fn become_sole_writer(&self, lock: Option<DbLock>) {
        if self.file.is_none() {
            return;
        }
        if let Some(lock) = lock {
            let _ = self.sole_writer.set(lock);
            let _ = self.cache.set(HoldCache::default());
        }
    }

    /// For the serving process: writes return at commit and are flushed by
    /// [`Store::sync`], which the caller must pass before anything leaves
    /// the process (durable.rs). No effect on PostgreSQL.
    pub fn defer_flushes_to_barriers(&self) {
        if let Some(gate) = &self.gate {
            gate.defer();
        }
    }

    pub(crate) fn cache(&self) -> Option<&HoldCache> {
        self.cache.get()
    }

    /// After any write of a hold, committed or not.
    pub(crate) fn forget(&self, id: &str) {
        if let Some(c) = self.cache() {
            c.forget(id);
        }
    }

    pub(crate) fn fast(&self) -> Option<&std::sync::Arc<FastReads>> {
        self.fast.as_ref()
    }

    /// Runs one write transaction; on a SQLite file, serialized with the
    /// other writes and acknowledged only once flushed (durable.rs).
    pub(crate) async fn write<T>(
        &self,
        op: &'static str,
        f: impl std::future::Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        match &self.gate {
            Some(gate) => gate.durable(op, f).await,
            None => f.await,
        }
    }
}
