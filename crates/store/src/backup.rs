//! Backing up and restoring a SQLite store while keeping the rule that a
//! database file has one serving process.
//!
//! A backup is SQLite's `VACUUM INTO`: one read transaction, so it is a
//! consistent snapshot even while the server writes, and it needs no lock
//! the server holds. A restore replaces the file only when no server holds
//! it (the lock `SqlStore::become_sole_writer` takes), through a temporary
//! file and a rename, so a crash half-way leaves either the old database or
//! the new one, never a mix. PostgreSQL has its own tools (`pg_dump`,
//! `pg_restore`), which docs/OPERATIONS.md gives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use crate::sqlstore::SqlStore;
use crate::{Backend, StoreError};

/// Why a backup or restore did not happen: refused (the operator's request
/// cannot be done as asked) or failed (the files or database).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Failed(#[from] StoreError),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        BackupError::Failed(e.into())
    }
}

type BackupResult<T> = Result<T, BackupError>;

/// What a backup or restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub bytes: u64,
    /// The schema version the copy is at.
    pub schema_version: i64,
    pub holds: i64,
}

fn unavailable(msg: String) -> BackupError {
    BackupError::Failed(StoreError::Unavailable(msg))
}

/// The SQLite file `url` names; PostgreSQL is refused with the command that
/// does the job there.
fn sqlite_file(url: &str, postgres_hint: &str) -> BackupResult<PathBuf> {
    let (backend, _, file) = SqlStore::resolve(url)?;
    match (backend, file) {
        (Backend::Sqlite, Some(file)) => Ok(file),
        (Backend::Sqlite, None) => {
            Err(BackupError::Refused("an in-memory database has nothing to back up or restore".into()))
        }
        (Backend::Postgres, _) => Err(BackupError::Refused(postgres_hint.into())),
    }
}

async fn connect(path: &Path, mode: &str) -> BackupResult<AnyPool> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode={mode}", path.display());
    Ok(AnyPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(10)).connect(&url).await?)
}

/// Checks that `path` is a whole ChittyCharge database this binary can run
/// on, and says what is in it.
async fn inspect(path: &Path) -> BackupResult<BackupSummary> {
    let pool = connect(path, "ro").await?;
    let result = async {
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&pool).await?;
        if check != "ok" {
            return Err(unavailable(format!("{} is damaged: {check}", path.display())));
        }
        let version: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await
            .map_err(|_| unavailable(format!("{} is not a ChittyCharge database (no migrations table)", path.display())))?;
        let known = SqlStore::migrator(Backend::Sqlite).iter().map(|m| m.version).max().unwrap_or(0);
        if version > known {
            return Err(unavailable(format!(
                "{} is at schema version {version}, newer than this binary knows ({known}): use the release that made it",
                path.display()
            )));
        }
        let holds: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM holds").fetch_one(&pool).await?;
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(BackupSummary { path: path.to_path_buf(), bytes, schema_version: version, holds })
    }
    .await;
    pool.close().await;
    result
}

/// A sibling of `path` for the copy in progress; removed on every failure.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

fn sync_dir(path: &Path) -> BackupResult<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| unavailable(format!("sync {}: {e}", dir.display())))
}

/// Writes a consistent copy of the SQLite database `url` names to `dest`,
/// which must not exist yet. Safe while the service runs.
pub async fn backup_sqlite(url: &str, dest: &Path) -> BackupResult<BackupSummary> {
    let source = sqlite_file(
        url,
        "PostgreSQL is backed up with pg_dump: pg_dump --format=custom --file=chittycharge.dump \"$DATABASE_URL\" \
         (docs/OPERATIONS.md)",
    )?;
    if std::fs::metadata(&source).map(|m| m.len() == 0).unwrap_or(true) {
        return Err(BackupError::Refused(format!("no database at {} (DATABASE_URL)", source.display())));
    }
    if dest.exists() {
        return Err(BackupError::Refused(format!("{} exists; a backup never overwrites a file", dest.display())));
    }
    let tmp = partial(dest);
    let _ = std::fs::remove_file(&tmp);
    let result = async {
        let pool = connect(&source, "ro").await?;
        // Bound, not spliced into the SQL: a path may hold quotes.
        let vacuum = sqlx::query("VACUUM INTO ?").bind(tmp.to_string_lossy().into_owned()).execute(&pool).await;
        pool.close().await;
        vacuum?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| unavailable(format!("sync: {e}")))?;
        let summary = inspect(&tmp).await?;
        std::fs::rename(&tmp, dest).map_err(|e| unavailable(format!("cannot move the backup into place: {e}")))?;
        sync_dir(dest)?;
        Ok(BackupSummary { path: dest.to_path_buf(), ..summary })
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Replaces the SQLite database `url` names with the backup at `src`.
/// Refuses while a server holds the database, and refuses to replace an
/// existing database unless `replace`.
pub async fn restore_sqlite(url: &str, src: &Path, replace: bool) -> BackupResult<BackupSummary> {
    let target = sqlite_file(
        url,
        "PostgreSQL is restored with pg_restore into an empty database: pg_restore --no-owner \
         --dbname=\"$DATABASE_URL\" chittycharge.dump (docs/OPERATIONS.md)",
    )?;
    if !src.is_file() {
        return Err(BackupError::Refused(format!("no backup file at {}", src.display())));
    }
    let summary = inspect(src).await?;
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| unavailable(format!("cannot create {}: {e}", parent.display())))?;
    }
    // Held until the new file is in place: a server starting meanwhile waits
    // or refuses, as beside a running one.
    let _lock = match std::fs::File::open(&target) {
        Ok(file) => {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(BackupError::Refused(format!(
                        "{} is in use by a running ChittyCharge server: stop it before restoring",
                        target.display()
                    )))
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(unavailable(format!("cannot lock {}: {e}", target.display())))
                }
            }
            if !replace && file.metadata().map(|m| m.len() > 0).unwrap_or(false) {
                return Err(BackupError::Refused(format!(
                    "{} holds a database; pass --force to replace it with the backup",
                    target.display()
                )));
            }
            Some(file)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(unavailable(format!("cannot open {}: {e}", target.display()))),
    };
    let tmp = partial(&target);
    let copied = std::fs::copy(src, &tmp)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .map_err(|e| unavailable(format!("cannot copy {}: {e}", src.display())));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The old database's log belongs to the old file: left beside the new
    // one, SQLite would replay it into the restored database.
    for suffix in ["-wal", "-shm"] {
        let mut name = target.as_os_str().to_os_string();
        name.push(suffix);
        match std::fs::remove_file(PathBuf::from(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unavailable(format!("cannot remove the old database's {suffix} file: {e}"))),
        }
    }
    std::fs::rename(&tmp, &target).map_err(|e| unavailable(format!("cannot move the restore into place: {e}")))?;
    sync_dir(&target)?;
    Ok(BackupSummary { path: target, ..summary })
}
