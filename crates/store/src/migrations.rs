//! The migrations, embedded in the binary.
//!
//! Written out here rather than with `sqlx::migrate!`: that macro is the
//! only reason to build sqlx's proc-macro crate, which compiles sqlx's
//! PostgreSQL and SQLite drivers (and SQLite's C sources) a second time for
//! the compiler. Each migration is built with `Migration::new`, which
//! computes the same SHA-384 checksum the macro does, so databases migrated
//! by earlier releases validate unchanged. The test below keeps this list
//! equal to the files.

use std::borrow::Cow;
use std::sync::LazyLock;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Backend;

/// One list for both back-ends: every migration exists as a SQLite file and
/// a PostgreSQL file of the same name.
macro_rules! embedded {
    ($($version:literal => $stem:literal),* $(,)?) => {
        fn embedded(backend: Backend) -> Vec<Migration> {
            match backend {
                Backend::Sqlite => vec![$(migration($version, $stem, include_str!(concat!("../migrations/sqlite/", $stem, ".sql")))),*],
                Backend::Postgres => vec![$(migration($version, $stem, include_str!(concat!("../migrations/postgres/", $stem, ".sql")))),*],
            }
        }
    };
}

embedded! {
    1 => "0001_init",
    2 => "0002_webhooks",
    3 => "0003_protection",
    4 => "0004_rental",
    5 => "0005_jobs",
    6 => "0006_console",
    7 => "0007_seams",
    8 => "0008_livemode",
    9 => "0009_gcra",
    10 => "0010_refunds",
    11 => "0011_disputes",
}

/// `0001_init` → version 1, "init": how sqlx names a migration from its file.
fn migration(version: i64, stem: &'static str, sql: &'static str) -> Migration {
    let description = stem.split_once('_').map_or(stem, |(_, d)| d).replace('_', " ");
    Migration::new(version, Cow::Owned(description), MigrationType::Simple, Cow::Borrowed(sql), false)
}

fn migrator(migrations: Vec<Migration>) -> Migrator {
    // The fields `migrate!` itself fills in; sqlx is pinned by Cargo.lock.
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}

pub(crate) static SQLITE: LazyLock<Migrator> = LazyLock::new(|| migrator(embedded(Backend::Sqlite)));

pub(crate) static POSTGRES: LazyLock<Migrator> = LazyLock::new(|| migrator(embedded(Backend::Postgres)));

#[cfg(test)]
mod tests {
    use super::*;

    /// What `sqlx::migrate!` would embed: every `NNNN_name.sql` in the folder.
    fn on_disk(dir: &str) -> Vec<(i64, String, Vec<u8>)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
        let mut out: Vec<_> = std::fs::read_dir(path)
            .expect("migrations folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .map(|p| {
                let stem = p.file_stem().and_then(|s| s.to_str()).expect("utf-8 name").to_string();
                let (version, name) = stem.split_once('_').expect("NNNN_name.sql");
                let sql = std::fs::read_to_string(&p).expect("read");
                let checksum = Migration::new(0, Cow::Borrowed(""), MigrationType::Simple, Cow::Owned(sql), false)
                    .checksum
                    .into_owned();
                (version.parse().expect("numeric version"), name.replace('_', " "), checksum)
            })
            .collect();
        out.sort();
        out
    }

    fn embedded_list(m: &Migrator) -> Vec<(i64, String, Vec<u8>)> {
        m.iter().map(|m| (m.version, m.description.to_string(), m.checksum.to_vec())).collect()
    }

    #[test]
    fn the_embedded_migrations_are_exactly_the_files_with_their_checksums() {
        assert_eq!(embedded_list(&SQLITE), on_disk("sqlite"));
        assert_eq!(embedded_list(&POSTGRES), on_disk("postgres"));
    }
}
