//! Backing up and restoring a SQLite store while keeping the rule that a
//! database file has one owning process (filelock.rs).
//!
//! A backup is SQLite's `VACUUM INTO`: one read transaction, so it is a
//! consistent snapshot even while the server writes, and it needs no lock.
//! It is written to a fresh temporary file, checked, made readable by its
//! owner only (it holds guests' emails and client secrets), and linked into
//! place, so an existing file (even one that appears meanwhile) is never
//! overwritten. A restore takes the database's lock (so no server can be
//! running or start meanwhile), checks the backup is a database this binary
//! can run, copies it to a fresh temporary file with the old file's owner
//! and mode, removes the old database's log, and renames the copy over the
//! database: a crash half-way leaves the new database, or the old one as of
//! its last checkpoint (complete after a clean stop, which checkpoints), and
//! never the old log replayed into the new file. Files are opened by path with
//! rusqlite, never through a connection URL, so any file name works.
//! PostgreSQL has its own tools (`pg_dump`, `pg_restore`), which
//! docs/OPERATIONS.md gives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::filelock::{lock_database, LockError};
use crate::sqlstore::SqlStore;
use crate::{Backend, StoreError};

/// Why a backup or restore did not happen: refused (the request cannot be
/// done as asked: exit 2) or failed (the files or database: exit 3).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Failed(#[from] StoreError),
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

fn failed(msg: String) -> BackupError {
    BackupError::Failed(StoreError::Unavailable(msg))
}

fn refused(msg: String) -> BackupError {
    BackupError::Refused(msg)
}

/// The SQLite file `url` names; PostgreSQL is refused with the command that
/// does the job there.
fn sqlite_file(url: &str, postgres_hint: &str) -> BackupResult<PathBuf> {
    let (backend, _, file) = SqlStore::resolve(url)?;
    match (backend, file) {
        (Backend::Sqlite, Some(file)) => Ok(file),
        (Backend::Sqlite, None) => Err(refused("an in-memory database has nothing to back up or restore".into())),
        (Backend::Postgres, _) => Err(refused(postgres_hint.into())),
    }
}

/// The files SQLite keeps beside a database, which must never be taken for
/// a backup or replaced by one.
fn companions(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal", ".lock"]
        .iter()
        .map(|s| {
            let mut n = db.as_os_str().to_os_string();
            n.push(s);
            PathBuf::from(n)
        })
        .collect()
}

/// `path` made absolute without following a last symlink, for comparisons.
fn absolute(path: &Path) -> PathBuf {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    path.file_name().map_or(parent.clone(), |n| parent.join(n))
}

/// A new file beside `near`, created exclusively (never an existing file or
/// symlink), named so that leftovers say what they are.
fn fresh_temp(near: &Path, what: &str) -> BackupResult<(PathBuf, std::fs::File)> {
    let dir = near.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = near.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for attempt in 0..100u32 {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(".{base}.{what}-{}-{nanos}-{attempt}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(format!("cannot create a file in {}: {e}", dir.display()))),
        }
    }
    Err(failed(format!("cannot create a temporary file in {}", dir.display())))
}

fn sync_dir(path: &Path) -> BackupResult<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| failed(format!("sync {}: {e}", dir.display())))
}

/// Checks that `path` is a whole ChittyCharge database that this binary's
/// migrations made (same versions, same checksums, all finished) and says
/// what is in it. Anything else is refused, naming what is wrong.
fn inspect(path: &Path) -> BackupResult<BackupSummary> {
    let not =
        |why: String| refused(format!("{} is not a ChittyCharge backup this binary can run: {why}", path.display()));
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| not(e.to_string()))?;
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| not(e.to_string()))?;
    if check != "ok" {
        return Err(not(format!("damaged ({check})")));
    }
    let mut stmt = conn
        .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
        .map_err(|_| not("no migrations table".into()))?;
    let applied: Vec<(i64, bool, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| not(e.to_string()))?;
    let known: Vec<_> = SqlStore::migrator(Backend::Sqlite).iter().collect();
    let newest_known = known.iter().map(|m| m.version).max().unwrap_or(0);
    for (i, (version, success, checksum)) in applied.iter().enumerate() {
        if *version > newest_known {
            return Err(not(format!(
                "its schema is at version {version}, newer than this binary knows ({newest_known})"
            )));
        }
        let Some(m) = known.get(i).filter(|m| m.version == *version) else {
            return Err(not(format!("migration {version} is not one this binary knows in that order")));
        };
        if !success {
            return Err(not(format!("migration {version} was left half-applied")));
        }
        if m.checksum.as_ref() != checksum.as_slice() {
            return Err(not(format!("migration {version} differs from this binary's")));
        }
    }
    let holds: i64 = conn.query_row("SELECT COUNT(*) FROM holds", [], |r| r.get(0)).map_err(|e| not(e.to_string()))?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let schema_version = applied.last().map_or(0, |a| a.0);
    Ok(BackupSummary { path: path.to_path_buf(), bytes, schema_version, holds })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> BackupResult<T> + Send + 'static) -> BackupResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| failed(e.to_string()))?
}

/// Writes a consistent copy of the SQLite database `url` names to `dest`,
/// which must not exist. Safe while the service runs.
pub async fn backup_sqlite(url: &str, dest: &Path) -> BackupResult<BackupSummary> {
    let source = sqlite_file(
        url,
        "PostgreSQL is backed up with pg_dump: pg_dump --format=custom --file=chittycharge.dump \"$DATABASE_URL\" \
         (docs/OPERATIONS.md)",
    )?;
    if std::fs::metadata(&source).map(|m| m.len() == 0).unwrap_or(true) {
        return Err(refused(format!("no database at {} (DATABASE_URL)", source.display())));
    }
    if companions(&absolute(&source)).contains(&absolute(dest)) {
        return Err(refused(format!("{} is the database's own file; write the backup somewhere else", dest.display())));
    }
    if dest.symlink_metadata().is_ok() {
        return Err(refused(format!("{} exists; a backup never overwrites a file", dest.display())));
    }
    if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty() && !p.is_dir()) {
        return Err(refused(format!("no directory {} for the backup", dir.display())));
    }
    let dest = dest.to_path_buf();
    blocking(move || {
        // VACUUM INTO wants a path that does not exist (or an empty file):
        // reserve a fresh name, then let SQLite write it.
        let (tmp, file) = fresh_temp(&dest, "backup")?;
        drop(file);
        let result = (|| {
            let conn = Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| failed(format!("cannot open {}: {e}", source.display())))?;
            conn.busy_timeout(Duration::from_secs(10)).map_err(|e| failed(e.to_string()))?;
            conn.execute("VACUUM INTO ?1", [tmp.to_string_lossy().as_ref()])
                .map_err(|e| failed(format!("backup failed: {e}")))?;
            drop(conn);
            #[cfg(unix)]
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(|e| failed(format!("chmod: {e}")))?;
            std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| failed(format!("sync: {e}")))?;
            let summary = inspect(&tmp)?;
            // A link, not a rename: it fails if `dest` appeared meanwhile.
            std::fs::hard_link(&tmp, &dest).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    refused(format!("{} exists; a backup never overwrites a file", dest.display()))
                }
                _ => failed(format!("cannot move the backup into place: {e}")),
            })?;
            sync_dir(&dest)?;
            Ok(BackupSummary { path: dest.clone(), ..summary })
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    })
    .await
}

/// Replaces the SQLite database `url` names with the backup at `src`.
/// Refuses while another process holds the database; refuses to replace an
/// existing database unless `replace`, and to create a missing one unless
/// `create` (a command run from the wrong directory must not quietly make a
/// database no server uses).
pub async fn restore_sqlite(url: &str, src: &Path, replace: bool, create: bool) -> BackupResult<BackupSummary> {
    let target = sqlite_file(
        url,
        "PostgreSQL is restored with pg_restore into an empty database: pg_restore --no-owner \
         --dbname=\"$DATABASE_URL\" chittycharge.dump (docs/OPERATIONS.md)",
    )?;
    if !src.is_file() {
        return Err(refused(format!("no backup file at {}", src.display())));
    }
    if companions(&absolute(&target))[1..].contains(&absolute(src)) {
        return Err(refused(format!("{} is one of the database's own files, not a backup", src.display())));
    }
    let existing = std::fs::metadata(&target).ok().filter(|m| m.len() > 0);
    match (&existing, replace, create) {
        (Some(_), false, _) => {
            return Err(refused(format!(
                "{} holds a database; pass --force to replace it with the backup",
                target.display()
            )))
        }
        (None, _, false) => {
            return Err(refused(format!(
                "no database at {} (DATABASE_URL); pass --create to restore into a new one there",
                target.display()
            )))
        }
        _ => {}
    }
    let lock = lock_database(&target, Duration::ZERO).await.map_err(|e| match e {
        LockError::Busy(db) => refused(format!(
            "{} is in use by a running ChittyCharge server (or a migration or another restore): stop it first",
            db.display()
        )),
        LockError::Io(e) => BackupError::Failed(e),
    })?;
    let src = src.to_path_buf();
    blocking(move || {
        let summary = inspect(&src)?;
        let (tmp, file) = fresh_temp(&target, "restore")?;
        drop(file);
        let result = (|| {
            // Through SQLite, not a file copy: a backup's pages may still
            // sit in its own -wal.
            let conn = Connection::open_with_flags(&src, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| failed(format!("cannot read {}: {e}", src.display())))?;
            conn.execute("VACUUM INTO ?1", [tmp.to_string_lossy().as_ref()])
                .map_err(|e| failed(format!("cannot copy {}: {e}", src.display())))?;
            drop(conn);
            // The service's own user must still own and read its database.
            #[cfg(unix)]
            if let Some(old) = &existing {
                use std::os::unix::fs::MetadataExt;
                std::os::unix::fs::chown(&tmp, Some(old.uid()), Some(old.gid()))
                    .map_err(|e| failed(format!("cannot give the restored file its owner: {e}")))?;
                std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(old.mode() & 0o777))
                    .map_err(|e| failed(format!("chmod: {e}")))?;
            }
            std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| failed(format!("sync: {e}")))?;
            // The old database's log belongs to the old file: left beside
            // the new one, SQLite would replay it into the restored database.
            for companion in &companions(&target)[1..4] {
                match std::fs::remove_file(companion) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(failed(format!("cannot remove {}: {e}", companion.display()))),
                }
            }
            std::fs::rename(&tmp, &target).map_err(|e| failed(format!("cannot move the restore into place: {e}")))?;
            sync_dir(&target)?;
            Ok(BackupSummary { path: target.clone(), ..summary })
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        drop(lock);
        result
    })
    .await
}
