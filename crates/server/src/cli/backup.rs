//! `backup` and `restore` for the SQLite store (PostgreSQL's are pg_dump and
//! pg_restore, which the refusal names).
#![expect(clippy::print_stdout, reason = "printing is what the command line is for")]

use std::path::Path;

use chittycharge_store::{BackupError, BackupSummary};

use super::admin::Failure;
use crate::config::Config;

fn failure(e: BackupError) -> anyhow::Error {
    match e {
        BackupError::Refused(m) => Failure::config(m),
        BackupError::Failed(e) => Failure::unreachable(e),
    }
}

fn describe(s: &BackupSummary) -> String {
    format!("{} ({} bytes, schema version {}, {} holds)", s.path.display(), s.bytes, s.schema_version, s.holds)
}

/// `backup PATH`: a consistent copy, safe while the service runs.
pub(super) async fn backup(config: &Config, dest: &Path) -> anyhow::Result<()> {
    eprintln!("store: {}", config.database_display());
    let summary = chittycharge_store::backup_sqlite(&config.database_url, dest).await.map_err(failure)?;
    println!("backed up to {}", describe(&summary));
    Ok(())
}

/// `restore PATH`: only while no server holds the database.
pub(super) async fn restore(config: &Config, src: &Path, force: bool, create: bool) -> anyhow::Result<()> {
    eprintln!("store: {}", config.database_display());
    let summary =
        chittycharge_store::restore_sqlite(&config.database_url, src, force, create).await.map_err(failure)?;
    println!("restored {} from {}", describe(&summary), src.display());
    println!("next: `chittycharge audit` compares every hold with the processor");
    Ok(())
}
