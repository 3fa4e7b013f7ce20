//! How a hot write (writes.rs, writes_pg.rs) runs: as a transaction on the
//! SQLite write gate's own connection or in an sqlx transaction, or, when it
//! is one statement on PostgreSQL, with no transaction around it. The
//! macros expand inside `impl Store for SqlStore` (sql.rs).

use crate::writes::Done;
use crate::StoreResult;

/// Runs one hot write (writes.rs) as a transaction: on a SQLite file, on
/// the write gate's own connection (exec.rs, durable.rs); otherwise in an
/// sqlx transaction.
macro_rules! transact {
    ($store:ident, $op:literal, |$ex:ident| $body:expr) => {{
        match &$store.gate {
            Some(gate) => {
                let mut conn = gate.begin().await?;
                let done = {
                    let $ex = &mut $crate::exec::Exec::Lite(&mut conn);
                    $body.await
                };
                gate.end($op, conn, done).await
            }
            None => {
                let mut tx = $store.pool.begin().await?;
                let done = {
                    let $ex = &mut $crate::exec::Exec::Sqlx(&mut tx);
                    $body.await
                };
                match done? {
                    $crate::writes::Done::Commit(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    $crate::writes::Done::Rollback(v) => {
                        tx.rollback().await?;
                        Ok(v)
                    }
                }
            }
        }
    }};
}

/// A hot write that is one statement on PostgreSQL (writes.rs's single
/// statements, or writes_pg.rs's composed ones): run with no transaction
/// around it, one round trip. Elsewhere, `transact!`.
macro_rules! one_statement {
    ($store:ident, $op:literal, |$ex:ident| $pg:expr, else $body:expr) => {{
        if $store.backend == $crate::Backend::Postgres {
            let $ex = &mut $crate::exec::Exec::Auto(&$store.pool);
            $pg.await
        } else {
            transact!($store, $op, |$ex| $body)
        }
    }};
}

/// The value of a write that is a single statement either way.
pub(crate) async fn value<T>(done: impl std::future::Future<Output = StoreResult<Done<T>>>) -> StoreResult<T> {
    match done.await? {
        Done::Commit(v) | Done::Rollback(v) => Ok(v),
    }
}
