//! The lock that makes one process the owner of a SQLite database file:
//! `serve` holds it for its life, `migrate` and `restore` while they work.
//!
//! It is taken on a sibling file, `<database>.lock`, never on the database
//! itself: `restore` replaces the database file with a rename, and a lock on
//! the old file would say nothing about the new one (a server starting
//! meanwhile could lock the old, deleted file and serve it). The lock file
//! is never replaced, so whoever holds it owns whatever is at the path.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::StoreError;

/// Held for as long as the value lives (the OS drops it with the process).
#[derive(Debug)]
pub struct DbLock {
    _file: std::fs::File,
}

pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// Why the lock could not be had.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it (a server, a migration, a restore).
    Busy(PathBuf),
    Io(StoreError),
}

/// Takes the lock on `database`, waiting up to `wait` for a holder that is
/// still exiting (a server being restarted).
pub async fn lock_database(database: &Path, wait: Duration) -> Result<DbLock, LockError> {
    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| LockError::Io(StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))))?;
    }
    let path = lock_path(database);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LockError::Io(StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(DbLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => return Err(LockError::Busy(database.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(LockError::Io(StoreError::Unavailable(format!("cannot lock {}: {e}", path.display()))))
            }
        }
    }
}

impl LockError {
    /// The serving process's wording.
    pub fn into_store_error(self) -> StoreError {
        match self {
            LockError::Busy(db) => StoreError::Unavailable(format!(
                "{} is in use by another ChittyCharge server (or a migration or restore); a SQLite \
                 database serves one instance (use PostgreSQL to run several)",
                db.display()
            )),
            LockError::Io(e) => e,
        }
    }
}
