//! The first hour of a new user (issue 15): the first-start token runs the
//! README's examples back to back, a 429 says whose limit and when it
//! resets, records never contradict themselves, unknown paths are 404, and
//! the CLI never silently opens a new, empty database.

use crate::common::{cli, property, sqlite_db, token, Server};
use serde_json::json;

#[tokio::test]
async fn the_first_start_token_has_room_for_the_readme_while_new_tokens_keep_the_default() {
    let server = Server::first_start(sqlite_db(), &[]);
    let api = server.client();
    for i in 0..60 {
        let r = api.get("/api/holds").await;
        assert_eq!(r.status, 200, "request {i} of the install's token: {}", r.text);
    }
    let made = api.with_token(&token(&server.db, &["--name", "partner-app", "--scope", "holds:read"]));
    for _ in 0..10 {
        assert_eq!(made.get("/api/holds").await.status, 200);
    }
    let r = made.get("/api/holds").await;
    assert_eq!((r.status, r.body["code"].as_str()), (429, Some("rate_limited")), "{}", r.text);
    let error = r.body["error"].as_str().unwrap();
    assert!(error.contains("token 'partner-app' (tok_"), "{error}");
    assert!(error.contains("Maximum 10 requests per minute"), "{error}");
    let wait = r.body["details"]["retry_after_secs"].as_u64().unwrap();
    assert!((1..=60).contains(&wait), "{}", r.text);
    assert!(error.contains(&format!("try again in {wait} s")), "{error}");
    assert_eq!(r.body["details"]["limit_per_minute"], 10);
}

#[tokio::test]
async fn settled_bookings_say_when_they_checked_out_and_finished_holds_have_no_future_end() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_JOBS_INTERVAL_MS", "50")]);
    let api = server.client();
    property(&api, "lake", json!({"claim_window_hours": 1})).await;
    for (id, body) in [
        ("bk-now", json!({"damages": [{"amount": 5000, "description": "Broken lamp"}]})),
        ("bk-clean", json!({})),
        ("bk-later", json!({"defer_release": true})),
    ] {
        crate::common::booking(&api, "lake", id).await;
        let (s, a) = crate::common::authorize(&api, id).await;
        assert_eq!(s, 200, "{a}");
        let r = api.post(&format!("/api/bookings/{id}/checkout"), body).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    api.advance(2 * 3_600).await;
    // The claim window's sweep releases the deferred one on its next round.
    for _ in 0..100 {
        if api.get("/api/bookings/bk-later").await.body["status"] == "settled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    for id in ["bk-now", "bk-clean", "bk-later"] {
        let b = api.get(&format!("/api/bookings/{id}")).await.body;
        assert_eq!(b["status"], "settled", "{id}: {b}");
        assert!(b["checked_out_at"].is_string(), "{id}: a settled booking was checked out: {b}");
        assert!(b["checked_out_at"].as_str() <= b["settled_at"].as_str(), "{id}: {b}");
        let hold = api.get(&format!("/api/holds/{}", b["hold_id"].as_str().unwrap())).await.body;
        assert!(["captured", "canceled"].contains(&hold["status"].as_str().unwrap()), "{hold}");
        assert!(hold["expires_at"].is_null(), "{id}: a finished hold has no future end: {hold}");
        assert!(hold["capture_before"].is_null(), "{hold}");
    }
    let live = api.authorized_hold(5000).await;
    assert!(
        api.get(&format!("/api/holds/{live}")).await.body["expires_at"].is_string(),
        "a live hold says when it ends"
    );
}

#[tokio::test]
async fn unknown_paths_are_404_with_or_without_a_token() {
    let server = Server::start(sqlite_db());
    for path in ["/nope", "/api/nope", "/favicon.ico", "/api/holds/x/y/z"] {
        assert_eq!(server.anon().get(path).await.status, 404, "{path}");
        assert_eq!(server.client().get(path).await.status, 404, "{path}");
    }
    let r = server.anon().get("/api/holds").await;
    assert_eq!((r.status, r.body["code"].as_str()), (401, Some("unauthorized")));
}

#[test]
fn cli_store_commands_name_their_database_and_never_create_one_by_accident() {
    let db = sqlite_db();
    let crate::common::Db::Sqlite(path) = &db else { unreachable!() };
    assert!(!path.exists());
    let out = cli(&db, &["token", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("no database at {}", path.display())) && err.contains("--create"), "{err}");
    assert!(!path.exists(), "nothing was created");
    // An empty file is no database either.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"").unwrap();
    let out = cli(&db, &["token", "create", "--name", "zz"]);
    assert!(!out.status.success(), "an empty file is not a database: {}", String::from_utf8_lossy(&out.stdout));
    let out = cli(&db, &["token", "--create", "create", "--name", "first"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("store: sqlite://{}", path.display())));
    let out = cli(&db, &["token", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("first"));
}

/// Stripe's list conventions: `created[gte]`/`created[lt]` in Unix seconds
/// or RFC 3339, `has_more`, and `livemode` on every hold.
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn holds_can_be_listed_by_creation_time_and_say_whether_they_are_live() {
    for db in crate::common::all_dbs() {
        let server = Server::start(db.clone());
        let api = server.client();
        let early = api.authorized_hold(1_000).await;
        api.advance(3_600).await;
        let late = api.authorized_hold(2_000).await;
        let late_view = api.get(&format!("/api/holds/{late}")).await.body;
        assert_eq!(late_view["livemode"], false, "the simulator is never live: {late_view}");
        let at = late_view["created_at"].as_str().unwrap().to_string();
        let secs = chrono::DateTime::parse_from_rfc3339(&at).unwrap().timestamp();
        let ids = |r: &crate::common::Resp| -> Vec<String> {
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["holds"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_string()).collect()
        };
        let since = api.get(&format!("/api/holds?created%5Bgte%5D={}", at.replace('+', "%2B"))).await;
        assert_eq!(ids(&since), [late], "{}", db.name());
        let before = api.get(&format!("/api/holds?created[lt]={secs}")).await;
        assert_eq!(ids(&before), [early], "{}", db.name());
        let window =
            api.get(&format!("/api/holds?created[gte]={}&created[lt]={}&limit=1", secs - 7_200, secs + 60)).await;
        assert_eq!(ids(&window).len(), 1);
        assert_eq!(window.body["has_more"], true, "{}", window.text);
        for bad in ["yesterday", "1e9", "99999999999999999"] {
            let r = api.get(&format!("/api/holds?created[gte]={bad}")).await;
            assert_eq!(r.status, 400, "{bad}: {}", r.text);
            assert!(r.text.contains("created[gte]"), "the field is named: {}", r.text);
        }
    }
}

#[tokio::test]
async fn stripes_other_two_creation_bounds_and_an_empty_limit_work_too() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let early = api.authorized_hold(1_000).await;
    api.advance(10).await;
    let late = api.authorized_hold(2_000).await;
    let at = |id: &str| {
        let id = id.to_string();
        let api = server.client();
        async move {
            let v = api.get(&format!("/api/holds/{id}")).await.body;
            chrono::DateTime::parse_from_rfc3339(v["created_at"].as_str().unwrap()).unwrap().timestamp()
        }
    };
    let (t_early, t_late) = (at(&early).await, at(&late).await);
    let ids = |r: crate::common::Resp| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["holds"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(api.get(&format!("/api/holds?created[gt]={t_early}&limit=")).await), [late]);
    assert_eq!(ids(api.get(&format!("/api/holds?created[lte]={t_early}")).await), [early]);
    assert_eq!(ids(api.get(&format!("/api/holds?created[lte]={t_late}&created[gt]={}", t_early - 1)).await).len(), 2);
    // A parameter given twice: a 400 in the envelope that names it.
    let twice = api.get("/api/holds?limit=1&limit=2").await;
    assert_eq!((twice.status, twice.body["code"].as_str()), (400, Some("invalid_request")), "{}", twice.text);
    assert!(twice.body["details"]["reason"].as_str().unwrap_or("").contains("limit"), "{}", twice.text);
}

/// Holds are timed to the millisecond; a bound with a finer fraction lies
/// between two of them and must fall on the right side of each hold: a
/// hold at .133 is before .1331, and after .1329.
#[tokio::test]
async fn a_bound_finer_than_a_millisecond_falls_on_the_right_side_of_each_hold() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let id = api.authorized_hold(1_000).await;
    let created = api.get(&format!("/api/holds/{id}")).await.body["created_at"].as_str().unwrap().to_string();
    let t = chrono::DateTime::parse_from_rfc3339(&created).unwrap().with_timezone(&chrono::Utc);
    let fine = |micros: i64| (t + chrono::Duration::microseconds(micros)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let (just_after, just_before) = (fine(100), fine(-100));
    let found = |query: String| {
        let api = server.client();
        async move {
            let r = api.get(&format!("/api/holds?{query}")).await;
            assert_eq!(r.status, 200, "{query}: {}", r.text);
            r.body["holds"].as_array().unwrap().len()
        }
    };
    assert_eq!(found(format!("created[gte]={just_after}")).await, 0, "the hold is before {just_after}");
    assert_eq!(found(format!("created[gt]={just_after}")).await, 0);
    assert_eq!(found(format!("created[lt]={just_after}")).await, 1, "the hold is before {just_after}");
    assert_eq!(found(format!("created[lte]={just_after}")).await, 1);
    assert_eq!(found(format!("created[gte]={just_before}")).await, 1, "the hold is after {just_before}");
    assert_eq!(found(format!("created[gt]={just_before}")).await, 1);
    assert_eq!(found(format!("created[lt]={just_before}")).await, 0);
    assert_eq!(found(format!("created[lte]={just_before}")).await, 0);
    // A report from the hold's own millisecond to a tenth of one later is a
    // period of one millisecond, and the hold is in it.
    let r = api.get(&format!("/api/reports/holds?from={created}&to={just_after}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rows"].as_array().unwrap().len(), 1, "{}", r.text);
}
