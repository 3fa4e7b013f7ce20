//! The serving process's durability barrier on PostgreSQL (pg_flush.rs):
//! commits stop waiting for the WAL flush, and `sync` is the flush.

use chittycharge_store::Store;
use sqlx::Row;

use crate::{created_event, hold, stores, T0};

/// `pg_current_wal_*_lsn()` as a number of bytes, read on `pool`.
async fn lsn(pool: &sqlx::AnyPool, which: &str) -> i64 {
    let row = sqlx::query(&format!("SELECT (pg_current_wal_{which}_lsn() - '0/0'::pg_lsn)::bigint"))
        .fetch_one(pool)
        .await
        .unwrap();
    row.get(0)
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_write_the_serving_process_acknowledges_is_flushed_by_its_barrier() {
    for (name, store) in stores().await {
        if name != "postgres" {
            continue; // SQLite's barrier has its own tests (durable.rs)
        }
        let opened_before = usize::try_from(store.pool().size()).unwrap();
        store.defer_flushes_to_barriers().await.expect("PostgreSQL accepts the flush statement");
        // Hold two connections more than were open: the new ones no longer
        // wait for the flush at commit; the older ones still do (slower,
        // never less durable).
        let mut conns = Vec::new();
        for _ in 0..opened_before + 2 {
            conns.push(store.pool().acquire().await.unwrap());
        }
        let mut modes = Vec::new();
        for c in &mut conns {
            let row = sqlx::query("SELECT current_setting('synchronous_commit')").fetch_one(&mut **c).await.unwrap();
            modes.push(row.get::<String, _>(0));
        }
        drop(conns);
        assert!(modes.iter().filter(|m| *m == "off").count() >= 2, "{modes:?}");
        assert!(modes.iter().filter(|m| *m == "on").count() <= opened_before, "{modes:?}");

        let flushes = store.pg_flushes();
        store.insert_hold(&hold("pi_barrier", T0, "p"), &[created_event(T0)], None).await.unwrap();
        let written = lsn(store.pool(), "insert").await;
        store.sync().await.unwrap();
        assert!(lsn(store.pool(), "flush").await >= written, "the barrier flushed the WAL past the write");
        assert!(store.pg_flushes() > flushes);
        // A response that shows nothing stored does not wait on the database.
        store.sync_unshown().await.unwrap();
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn every_one_of_many_concurrent_barriers_returns_after_its_write_is_flushed() {
    for (name, store) in stores().await {
        if name != "postgres" {
            continue;
        }
        store.defer_flushes_to_barriers().await.unwrap();
        let before = store.pg_flushes();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.insert_hold(&hold(&format!("pi_g{i}"), T0, "p"), &[created_event(T0)], None).await.unwrap();
                let written = lsn(store.pool(), "insert").await;
                store.sync().await.unwrap();
                lsn(store.pool(), "flush").await >= written
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap(), "a barrier returned before its write was flushed");
        }
        // How many flushes the 32 shared is up to the scheduler; at least one.
        let flushes = store.pg_flushes() - before;
        assert!(flushes >= 1);
        println!("{flushes} flushes for 32 barriers");
    }
}
