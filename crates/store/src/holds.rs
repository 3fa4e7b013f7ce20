//! Holds, their events, and the simulated processor's objects.

use chittycharge_domain::Hold;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::rows::{event_from_row, hold_from_row, HOLD_COLUMNS};
use crate::sqlstore::SqlStore;
use crate::{HoldEvent, HoldFilter, StoreError, StoreResult};

enum Bind {
    Str(String),
    Int(i64),
}

/// A SELECT with optional conditions, built by hand: the `Any`
/// QueryBuilder emits `?` placeholders, which PostgreSQL rejects; `$n`
/// works on both back-ends.
pub(crate) struct Filtered {
    sql: String,
    binds: Vec<Bind>,
}

impl Filtered {
    pub(crate) fn new(select: String) -> Self {
        Self { sql: select, binds: Vec::new() }
    }
    fn push(&mut self, fragment: &str, b: Bind) {
        self.binds.push(b);
        self.sql.push_str(&fragment.replace("{}", &format!("${}", self.binds.len())));
    }
    pub(crate) fn text(&mut self, fragment: &str, v: &str) {
        self.push(fragment, Bind::Str(v.to_string()));
    }
    pub(crate) fn int(&mut self, fragment: &str, v: i64) {
        self.push(fragment, Bind::Int(v));
    }
    pub(crate) fn raw(&mut self, fragment: &str) {
        self.sql.push_str(fragment);
    }
    /// `AND column IN (…)`; an empty list matches nothing.
    pub(crate) fn one_of(&mut self, column: &str, values: &[String]) {
        self.raw(&format!(" AND {column} IN (NULL"));
        for v in values {
            self.text(", {}", v);
        }
        self.raw(")");
    }
    /// A keyset cursor on (created_at, id): strictly after it in `cmp`'s
    /// direction (`<` or `>`). The bound on `created_at` alone comes first
    /// so the index seeks to the cursor: with only the OR, a database
    /// scans the index from the period's start for every page, and a long
    /// report's pages cost more and more.
    pub(crate) fn keyset(&mut self, cmp: &str, (at, id): &(chittycharge_domain::Timestamp, String)) {
        self.int(&format!(" AND created_at {cmp}= {{}}"), at.millis());
        self.int(&format!(" AND (created_at {cmp} {{}}"), at.millis());
        self.text(&format!(" OR id {cmp} {{}})"), id);
    }
    /// The holds this SELECT (of [`HOLD_COLUMNS`]) finds: on a SQLite file
    /// read on a blocking thread's own connection (fast.rs), otherwise, or
    /// when that path cannot answer, through the pool.
    pub(crate) async fn fetch_holds(self, store: &SqlStore) -> StoreResult<Vec<Hold>> {
        if let Some(fast) = store.fast().cloned() {
            let (sql, params) = self.for_rusqlite();
            // Held by the blocking task itself: a caller that goes away
            // does not free its place while the read still runs.
            let permit = fast.pages.clone().acquire_owned().await;
            let answer = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                fast.holds(&sql, &params)
            })
            .await;
            if let Ok(Some(holds)) = answer {
                return holds;
            }
        }
        rows_to_holds(&self.fetch_all(store.pool()).await?)
    }

    /// The statement with `?n` placeholders, and its arguments.
    fn for_rusqlite(&self) -> (String, Vec<rusqlite::types::Value>) {
        let params = self
            .binds
            .iter()
            .map(|b| match b {
                Bind::Str(s) => rusqlite::types::Value::Text(s.clone()),
                Bind::Int(i) => rusqlite::types::Value::Integer(*i),
            })
            .collect();
        (crate::exec::numbered(&self.sql), params)
    }

    pub(crate) async fn fetch_all(self, pool: &sqlx::AnyPool) -> StoreResult<Vec<AnyRow>> {
        let mut q = sqlx::query(&self.sql);
        for b in self.binds {
            q = match b {
                Bind::Str(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        Ok(q.fetch_all(pool).await?)
    }
}

/// The SELECT a [`HoldFilter`] names.
fn hold_query(f: &HoldFilter) -> Filtered {
    let mut q = Filtered::new(format!("SELECT {HOLD_COLUMNS} FROM holds WHERE 1 = 1"));
    if let Some(p) = &f.property_id {
        q.text(" AND property_id = {}", p);
    }
    if let Some(t) = &f.tenant_id {
        q.text(" AND tenant_id = {}", t);
    }
    if let Some(b) = &f.booking_id {
        q.text(" AND booking_id = {}", b);
    }
    if let Some(s) = f.status {
        q.text(" AND status = {}", s.as_str());
    }
    if let Some(scope) = &f.property_scope {
        q.one_of("property_id", scope);
    }
    // At most one bound on each side of `created_at`: given two lower (or
    // two upper) bounds, SQLite seeks on the first and scans for the other.
    // A report's period start and its cursor were two lower bounds, so every
    // page scanned from the period's start (a 1,000,000-hold report's last
    // pages took 56 ms each instead of 3 ms). A cursor on the period's side
    // of a bound makes that bound redundant; one beyond it excludes nothing.
    let (mut gte, mut lt) = (f.created_gte, f.created_lt);
    let (cursor, cmp, order) = if f.oldest_first { (&f.after, ">", "ASC") } else { (&f.before, "<", "DESC") };
    let cursor = cursor.as_ref().filter(|(at, _)| {
        let bound = if f.oldest_first { &mut gte } else { &mut lt };
        let inside = match *bound {
            None => true,
            Some(b) if f.oldest_first => *at >= b,
            Some(b) => *at < b,
        };
        if inside {
            *bound = None;
        }
        inside
    });
    if let Some(t) = gte {
        q.int(" AND created_at >= {}", t.millis());
    }
    if let Some(t) = lt {
        q.int(" AND created_at < {}", t.millis());
    }
    if let Some(c) = cursor {
        q.keyset(cmp, c);
    }
    q.int(&format!(" ORDER BY created_at {order}, id {order} LIMIT {{}}"), f.limit.clamp(1, 1000));
    q
}

fn rows_to_holds(rows: &[AnyRow]) -> StoreResult<Vec<Hold>> {
    rows.iter().map(hold_from_row).collect()
}

impl SqlStore {
    pub(crate) async fn get_hold_impl(&self, id: &str) -> StoreResult<Option<Hold>> {
        let Some(cache) = self.cache() else { return self.read_hold(id).await };
        let epoch = match cache.get(id) {
            Ok(hold) => return Ok(Some(hold)),
            Err(epoch) => epoch,
        };
        let hold = self.read_hold(id).await?;
        if let Some(h) = &hold {
            cache.offer(h, epoch);
        }
        Ok(hold)
    }

    async fn read_hold(&self, id: &str) -> StoreResult<Option<Hold>> {
        if let Some(answer) = self.fast().and_then(|f| f.hold(id)) {
            return answer;
        }
        let row = sqlx::query(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    pub(crate) async fn get_hold_by_chitty_id_impl(&self, chitty_id: &str) -> StoreResult<Option<Hold>> {
        let row = sqlx::query(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE chitty_id = $1"))
            .bind(chitty_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    pub(crate) async fn list_holds_impl(&self, f: &HoldFilter) -> StoreResult<Vec<Hold>> {
        hold_query(f).fetch_holds(self).await
    }

    pub(crate) async fn hold_events_impl(&self, hold_id: &str) -> StoreResult<Vec<HoldEvent>> {
        let rows = sqlx::query("SELECT * FROM hold_events WHERE hold_id = $1 ORDER BY id")
            .bind(hold_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub(crate) async fn sim_get_impl(&self, ns: &str, key: &str) -> StoreResult<Option<(String, i64)>> {
        if let Some(answer) = self.fast().and_then(|f| f.sim_object(ns, key)) {
            return answer;
        }
        let row = sqlx::query("SELECT value, version FROM sim_objects WHERE ns = $1 AND key = $2")
            .bind(ns)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("value")?, r.try_get("version")?))),
            None => Ok(None),
        }
    }

    pub(crate) async fn sim_keys_impl(&self, ns: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT key FROM sim_objects WHERE ns = $1 ORDER BY key")
            .bind(ns)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| r.try_get::<String, _>("key").map_err(StoreError::from)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{hold, TempStore};
    use crate::Store;
    use chittycharge_domain::Timestamp;

    /// Both ways to read a page must agree, and on a SQLite file the fast
    /// one must answer rather than quietly hand over to the pool.
    #[tokio::test]
    async fn a_report_page_on_a_sqlite_file_is_read_on_the_fast_path_and_matches_the_pool() {
        let store = TempStore::new().await;
        for i in 0..9_i64 {
            let mut h = hold(&format!("pi_{i}"), "x");
            h.property_id = Some(if i % 3 == 0 { "p-b" } else { "p-a" }.into());
            h.created_at = Timestamp::from_millis(1_000 + i / 2);
            store.insert_hold(&h, &[], None).await.unwrap();
        }
        let f = HoldFilter {
            property_scope: Some(vec!["p-a".into(), "it's".into()]),
            created_gte: Some(Timestamp::from_millis(1_000)),
            created_lt: Some(Timestamp::from_millis(1_004)),
            oldest_first: true,
            after: Some((Timestamp::from_millis(1_000), "pi_1".into())),
            limit: 4,
            ..HoldFilter::default()
        };
        let (sql, params) = hold_query(&f).for_rusqlite();
        let fast = store.fast().unwrap().holds(&sql, &params).expect("the fast path answers").unwrap();
        let pool = rows_to_holds(&hold_query(&f).fetch_all(store.pool()).await.unwrap()).unwrap();
        let ids: Vec<&str> = fast.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["pi_2", "pi_4", "pi_5", "pi_7"]);
        assert_eq!(fast, pool);
        assert_eq!(store.list_holds(&f).await.unwrap(), pool);
    }

    /// A flood of list requests reads at most `PAGE_READERS` pages at
    /// once: with every reader busy, a page waits for one.
    #[tokio::test]
    async fn a_page_read_waits_while_every_page_reader_is_busy() {
        let store = TempStore::new().await;
        store.insert_hold(&hold("pi_1", "x"), &[], None).await.unwrap();
        let f = HoldFilter { limit: 10, ..HoldFilter::default() };
        let busy = store
            .fast()
            .unwrap()
            .pages
            .clone()
            .acquire_many_owned(u32::try_from(crate::fast::PAGE_READERS).unwrap())
            .await
            .unwrap();
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(200), store.list_holds(&f)).await;
        assert!(waiting.is_err(), "a page was read while every reader was busy");
        drop(busy);
        assert_eq!(store.list_holds(&f).await.unwrap().len(), 1);
    }

    /// A cursor and a period bound on the same side are never both sent
    /// (SQLite would seek on one and scan for the other), and whichever is
    /// dropped, the page is the same.
    #[tokio::test]
    async fn a_cursor_inside_or_outside_the_period_pages_through_the_same_holds() {
        let store = TempStore::new().await;
        for i in 0..10_i64 {
            let mut h = hold(&format!("pi_{i}"), "x");
            h.created_at = Timestamp::from_millis(100 + i);
            store.insert_hold(&h, &[], None).await.unwrap();
        }
        let at = |ms: i64, id: &str| Some((Timestamp::from_millis(ms), id.to_string()));
        let period = HoldFilter {
            created_gte: Some(Timestamp::from_millis(102)),
            created_lt: Some(Timestamp::from_millis(107)),
            limit: 10,
            ..HoldFilter::default()
        };
        let ids = |holds: Vec<Hold>| holds.into_iter().map(|h| h.id).collect::<Vec<_>>();
        let cases = [
            // oldest first: a cursor inside the period, then one before it
            (HoldFilter { oldest_first: true, after: at(103, "pi_3"), ..period.clone() }, vec!["pi_4", "pi_5", "pi_6"]),
            (
                HoldFilter { oldest_first: true, after: at(50, "pi_x"), ..period.clone() },
                vec!["pi_2", "pi_3", "pi_4", "pi_5", "pi_6"],
            ),
            // newest first: inside, at the period's end, and beyond it
            (HoldFilter { before: at(105, "pi_5"), ..period.clone() }, vec!["pi_4", "pi_3", "pi_2"]),
            (HoldFilter { before: at(107, "pi_7"), ..period.clone() }, vec!["pi_6", "pi_5", "pi_4", "pi_3", "pi_2"]),
            (HoldFilter { before: at(900, "pi_z"), ..period.clone() }, vec!["pi_6", "pi_5", "pi_4", "pi_3", "pi_2"]),
        ];
        for (f, want) in cases {
            let q = hold_query(&f);
            // The range bounds; the keyset's `(created_at > … OR id > …)` is not one.
            let lower = q.sql.matches("AND created_at >").count();
            let upper = q.sql.matches("AND created_at <").count();
            assert!(lower <= 1 && upper <= 1, "two bounds on one side: {}", q.sql);
            assert_eq!(ids(store.list_holds(&f).await.unwrap()), want, "{}", q.sql);
        }
    }
}
