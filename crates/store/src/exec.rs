//! One write transaction, run on either driver: sqlx for PostgreSQL, or,
//! for a SQLite file, rusqlite on the calling thread under the write gate.
//!
//! The hot writes (a hold's insert, lock and save, operation records, the
//! simulator's objects, webhook records, job scheduling) are written once,
//! against [`Exec`]. On SQLite, sqlx sends every statement (and BEGIN and
//! COMMIT) to a per-connection worker thread and waits for the answer; with
//! writes serialized by the gate those round trips were most of a write's
//! time (bench/results.md). The gate already owns the right to write, so
//! it also owns a rusqlite connection and the statements run right here.

use rusqlite::types::{ToSql, ToSqlOutput};

use crate::{StoreError, StoreResult};

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Owned(String),
    OptOwned(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::OptText(v)
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Owned(v)
    }
}
impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::OptOwned(v)
    }
}
impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Arg::Text(s) => s.to_sql(),
            Arg::OptText(s) => s.to_sql(),
            Arg::Owned(s) => s.to_sql(),
            Arg::OptOwned(s) => s.to_sql(),
            Arg::Int(i) => i.to_sql(),
            Arg::OptInt(i) => i.to_sql(),
        }
    }
}

/// A statement and its arguments, in `$n` placeholder form.
pub(crate) struct Q<'a> {
    sql: std::borrow::Cow<'a, str>,
    args: Vec<Arg<'a>>,
}

pub(crate) fn q(sql: &str) -> Q<'_> {
    Q { sql: std::borrow::Cow::Borrowed(sql), args: Vec::with_capacity(16) }
}

impl<'a> Q<'a> {
    pub(crate) fn owned(sql: String) -> Self {
        Q { sql: std::borrow::Cow::Owned(sql), args: Vec::with_capacity(16) }
    }

    pub(crate) fn bind(mut self, a: impl Into<Arg<'a>>) -> Self {
        self.args.push(a.into());
        self
    }
}

/// One statement built from several (writes_pg.rs): each part is written
/// with its own `$1…` placeholders and they are renumbered as it is added,
/// so a part's text and binding order are the same as when it runs alone.
pub(crate) struct Composed<'a> {
    sql: String,
    args: Vec<Arg<'a>>,
}

impl<'a> Composed<'a> {
    pub(crate) fn new() -> Self {
        Composed { sql: String::with_capacity(1024), args: Vec::with_capacity(64) }
    }

    /// Appends `text` (no placeholders of its own).
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Appends a part, moving its placeholders past the ones already here.
    pub(crate) fn part(&mut self, q: Q<'a>) -> &mut Self {
        shift_into(&mut self.sql, &q.sql, self.args.len());
        self.args.extend(q.args);
        self
    }

    pub(crate) fn into_q(self) -> Q<'a> {
        Q { sql: std::borrow::Cow::Owned(self.sql), args: self.args }
    }
}

/// Appends `sql` to `out` with every `$n` placeholder raised by `by`.
fn shift_into(out: &mut String, sql: &str, by: usize) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits > 0 {
            let n: usize = rest[..digits].parse().unwrap_or(0);
            out.push_str(&(n + by).to_string());
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
}

/// Where a transaction's statements go.
pub(crate) enum Exec<'t> {
    Sqlx(&'t mut sqlx::AnyConnection),
    /// PostgreSQL with no transaction around: a statement commits on its
    /// own, so a write that is one statement (writes_pg.rs) costs one round
    /// trip instead of BEGIN, the statement and COMMIT.
    Auto(&'t sqlx::AnyPool),
    Lite(&'t mut rusqlite::Connection),
}

fn sqlx_query<'q>(sql: &'q str, args: Vec<Arg<'q>>) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql);
    for a in args {
        query = match a {
            Arg::Text(s) => query.bind(s),
            Arg::OptText(s) => query.bind(s),
            Arg::Owned(s) => query.bind(s),
            Arg::OptOwned(s) => query.bind(s),
            Arg::Int(i) => query.bind(i),
            Arg::OptInt(i) => query.bind(i),
        };
    }
    query
}

impl Exec<'_> {
    /// Runs one statement that ends in `SELECT count(*) …`: that count.
    pub(crate) async fn count(&mut self, q: Q<'_>) -> StoreResult<i64> {
        use sqlx::Row;
        let row = match self {
            Exec::Sqlx(conn) => sqlx_query(&q.sql, q.args).fetch_one(&mut **conn).await?,
            Exec::Auto(pool) => sqlx_query(&q.sql, q.args).fetch_one(*pool).await?,
            Exec::Lite(conn) => {
                let mut stmt = conn.prepare_cached(&numbered(&q.sql))?;
                return Ok(stmt.query_row(rusqlite::params_from_iter(q.args.iter()), |r| r.get(0))?);
            }
        };
        Ok(row.try_get(0)?)
    }

    /// Runs one statement; the number of rows it changed.
    pub(crate) async fn run(&mut self, q: Q<'_>) -> StoreResult<u64> {
        match self {
            Exec::Sqlx(conn) => Ok(sqlx_query(&q.sql, q.args).execute(&mut **conn).await?.rows_affected()),
            Exec::Auto(pool) => Ok(sqlx_query(&q.sql, q.args).execute(*pool).await?.rows_affected()),
            Exec::Lite(conn) => {
                let mut stmt = conn.prepare_cached(&numbered(&q.sql))?;
                let n = stmt.execute(rusqlite::params_from_iter(q.args.iter()))?;
                Ok(u64::try_from(n).unwrap_or(u64::MAX))
            }
        }
    }
}

/// `$n` (PostgreSQL's form, which sqlx also takes for SQLite) to `?n`:
/// SQLite reads `$1` as a *named* parameter numbered by first appearance,
/// whereas `?1` is always the first argument.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, msg) = &e {
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            {
                return StoreError::Duplicate(msg.clone().unwrap_or_else(|| e.to_string()));
            }
        }
        StoreError::Unavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::{numbered, q, Composed};

    #[test]
    fn composed_statements_renumber_each_part_after_the_ones_before() {
        let mut c = Composed::new();
        c.text("WITH u AS (")
            .part(q("UPDATE t SET a = $1 WHERE id = $2 RETURNING id").bind(1_i64).bind("x"))
            .text(") ")
            .part(q("INSERT INTO e (a, b) SELECT $1, $2 FROM u").bind(2_i64).bind(3_i64));
        let q = c.into_q();
        assert_eq!(
            q.sql,
            "WITH u AS (UPDATE t SET a = $1 WHERE id = $2 RETURNING id) INSERT INTO e (a, b) SELECT $3, $4 FROM u"
        );
        assert_eq!(q.args.len(), 4);
    }

    #[test]
    fn dollar_placeholders_become_numbered_ones_and_nothing_else_changes() {
        assert_eq!(
            numbered("UPDATE t SET a = $2, b = '$x' WHERE id = $1 AND v = $10"),
            "UPDATE t SET a = ?2, b = '$x' WHERE id = ?1 AND v = ?10"
        );
    }
}
