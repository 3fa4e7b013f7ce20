//! The seams around the hold core: bookings, tokens, jobs and unknown
//! outcomes keep the core's promises. Each test is one finding of the
//! adversarial review (issue 12) that broke the service before.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{postgres_db, sqlite_db, Api, Db, Server, BIN};
use serde_json::{json, Value};

fn cli(db: &Db, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.url())
        .output()
        .expect("run chittycharge")
}

fn token(db: &Db, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let out = cli(db, &all);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A property-restricted admin token, as an earlier release's CLI could
/// make (today's refuses to): written straight into the store.
async fn restricted_admin(db: &Db, property: &str) -> String {
    let store = chittycharge_store::SqlStore::connect(&db.url()).await.expect("open store");
    let now = chittycharge_processor::Clock::now(&chittycharge_processor::SystemClock);
    let (_, t) = chittycharge_server::auth::create_token(
        &store,
        "legacy-restricted-admin",
        vec!["admin".into()],
        Some(vec![property.into()]),
        None,
        now,
    )
    .await
    .expect("token");
    t
}

async fn property(api: &Api, id: &str, extra: Value) {
    let mut body = json!({"id": id, "name": format!("Property {id}"), "default_hold_amount": 25_000});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = api.post("/api/properties", body).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

async fn booking(api: &Api, property: &str, id: &str) -> Value {
    let r = api
        .post(
            "/api/bookings",
            json!({"id": id, "property_id": property, "guest_name": "Guest", "guest_email": "guest@example.com",
                   "check_in": "2026-12-01", "check_out": "2026-12-05"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn authorize(api: &Api, id: &str) -> (u16, Value) {
    let r = api
        .post(&format!("/api/bookings/{id}/authorize"), json!({"payment_method": "pm_card_visa", "confirm": true}))
        .await;
    (r.status, r.body)
}

fn live_holds_of(list: &Value, booking: &str) -> Vec<String> {
    list["holds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["booking_id"] == booking)
        .filter(|h| !["captured", "canceled", "expired", "failed"].contains(&h["status"].as_str().unwrap()))
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_read_only_token_cannot_check_out_authorize_or_claim() {
    let server = Server::start(sqlite_db());
    let admin = server.client();
    property(&admin, "lake", json!({})).await;
    booking(&admin, "lake", "bk-ro").await;
    booking(&admin, "lake", "bk-ro-2").await;
    let (s, a) = authorize(&admin, "bk-ro").await;
    assert_eq!(s, 200, "{a}");
    let reader = admin.with_token(&token(&server.db, &["--scope", "holds:read"]));

    let r = reader.post("/api/bookings/bk-ro/checkout", json!({"defer_release": true})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (403, Some("forbidden")), "{}", r.text);
    let r = reader.post("/api/bookings/bk-ro/authorize", json!({})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.body.get("client_secret").is_none(), "no client secret leaks to a reader");
    let r = reader.post("/api/bookings/bk-ro-2/authorize", json!({})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = reader.post("/api/bookings/bk-ro/claims", json!({"damages": [{"amount": 100, "description": "x"}]})).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Nothing moved: the manager's real check-out with damages still works.
    assert_eq!(admin.get("/api/bookings/bk-ro").await.body["status"], "hold_active");
    assert_eq!(admin.get("/api/bookings/bk-ro-2").await.body["status"], "booked");
    let r = admin
        .post("/api/bookings/bk-ro/checkout", json!({"damages": [{"amount": 5_000, "description": "Lamp"}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["amount_charged"], 5_000);
}

async fn parallel_authorizations_hold_the_card_once(a: Api, b: Api) {
    property(&a, "dunes", json!({})).await;
    booking(&a, "dunes", "bk-par").await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let api = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { authorize(&api, "bk-par").await }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => {
                ids.insert(body["hold_id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(body["code"], "operation_in_progress", "{body}"),
            other => panic!("authorize answered {other}: {body}"),
        }
    }
    assert!(ids.len() <= 1, "parallel authorizations returned different holds: {ids:?}");
    let list = a.get("/api/holds?limit=200").await.body;
    let live = live_holds_of(&list, "bk-par");
    assert_eq!(live.len(), 1, "exactly one live hold for the booking: {live:?}");
    let b_view = a.get("/api/bookings/bk-par").await.body;
    assert_eq!(b_view["hold_id"].as_str(), Some(live[0].as_str()));
    let placed: Vec<Value> = a.get("/api/notifications").await.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["booking_id"] == "bk-par" && n["kind"] == "hold_placed")
        .cloned()
        .collect();
    assert!(placed.len() <= 1, "one 'hold placed' email at most: {placed:?}");
    // Check-out settles the one hold; nothing stays authorized.
    let r = a.post("/api/bookings/bk-par/checkout", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = a.get("/api/holds?limit=200").await.body;
    assert!(live_holds_of(&list, "bk-par").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_booking_authorizations_place_one_hold_on_sqlite() {
    let server = Server::start(sqlite_db());
    parallel_authorizations_hold_the_card_once(server.client(), server.client()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_booking_authorizations_place_one_hold_across_two_instances() {
    let Some(db) = postgres_db() else { return };
    let a = Server::start(db.clone());
    let b = Server::start(db);
    parallel_authorizations_hold_the_card_once(a.client(), b.client()).await;
}

#[tokio::test]
async fn an_environment_switch_cannot_make_one_propertys_token_capture_anothers_hold() {
    // The removed HACK_CACHE switch made every hold lookup return the first
    // hold read. With it set, lookups must still be by id.
    let server = Server::start_with(sqlite_db(), &[("HACK_CACHE", "1")]);
    let admin = server.client();
    let theirs = admin
        .post("/api/holds", json!({"amount": 5000, "description": "x", "property_id": "p2", "payment_method": "pm_card_visa", "confirm": true}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = admin
        .post("/api/holds", json!({"amount": 5000, "description": "x", "property_id": "p1", "payment_method": "pm_card_visa", "confirm": true}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(admin.get(&format!("/api/holds/{theirs}")).await.body["property_id"], "p2");
    let p1 = admin.with_token(&token(&server.db, &["--scope", "holds:write", "--property", "p1"]));
    let r = p1.post(&format!("/api/holds/{mine}/capture"), json!({"amount_to_capture": 100})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(admin.get(&format!("/api/holds/{theirs}")).await.body["status"], "requires_capture");
    assert_eq!(admin.get(&format!("/api/holds/{mine}")).await.body["amount_captured"], 100);
}

#[test]
fn no_source_file_reads_the_environment_outside_the_typed_config() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut offenders = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // Tests read the harness's own variables; the bench is a separate tool.
                if !["tests", "target", "bench"].contains(&path.file_name().unwrap().to_str().unwrap()) {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("server/src/config.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("env::var") || text.contains("var_os(") {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(offenders.is_empty(), "environment read outside config.rs: {offenders:?}");
}

#[tokio::test]
async fn a_property_token_from_the_cli_is_read_only_and_never_an_admin() {
    let server = Server::start(sqlite_db());
    let admin = server.client();
    let t = admin.with_token(&token(&server.db, &["--property", "p1"]));
    let r = t.post("/api/holds", json!({"amount": 1000, "description": "x", "property_id": "p1"})).await;
    assert_eq!(r.status, 403, "a token made without --scope is read-only: {}", r.text);
    let out = cli(&server.db, &["token", "create", "--scope", "admin", "--property", "p1"]);
    assert!(!out.status.success(), "admin with --property must be refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--property"));
}

#[tokio::test]
async fn a_property_restricted_admin_stays_inside_its_properties() {
    let server = Server::start(sqlite_db());
    let admin = server.client();
    property(&admin, "p1", json!({})).await;
    property(&admin, "p2", json!({"claim_window_hours": 48})).await;
    admin
        .post("/api/holds", json!({"amount": 5000, "description": "x", "property_id": "p2", "customer_email": "other@example.com", "payment_method": "pm_card_visa", "confirm": true}))
        .await;
    let p1_admin = admin.with_token(&restricted_admin(&server.db, "p1").await);
    let r = p1_admin
        .post("/api/properties", json!({"id": "p2", "name": "Renamed", "premium": true, "claim_window_hours": 0}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let p2 = admin.get("/api/properties/p2").await.body;
    assert_eq!(
        (p2["name"].as_str(), p2["premium"].as_bool(), p2["claim_window_hours"].as_i64()),
        (Some("Property p2"), Some(false), Some(48))
    );
    let outbox = p1_admin.get("/api/notifications").await;
    assert_eq!(outbox.status, 200);
    let texts = outbox.text;
    assert!(!texts.contains("other@example.com"), "another property's guests stay hidden");
    assert_eq!(p1_admin.get("/_sim/payment_intents").await.status, 403);
    assert_eq!(p1_admin.post("/_sim/clock", json!({"advance_secs": 1})).await.status, 403);
    assert_eq!(p1_admin.post("/api/properties", json!({"id": "p1", "name": "Mine"})).await.status, 200);
}

#[tokio::test]
async fn damage_totals_that_overflow_or_exceed_the_hold_are_refused() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "reef", json!({})).await;
    booking(&api, "reef", "bk-ovf").await;
    let (s, a) = authorize(&api, "bk-ovf").await;
    assert_eq!(s, 200, "{a}");
    let hold = a["hold_id"].as_str().unwrap().to_string();
    let max = i64::MAX;
    for damages in [
        json!([{"amount": max, "description": "a"}, {"amount": max, "description": "b"}, {"amount": 52, "description": "c"}]),
        json!([{"amount": 25_001, "description": "more than the hold"}]),
    ] {
        let r = api.post("/api/bookings/bk-ovf/checkout", json!({ "damages": damages })).await;
        assert_eq!((r.status, r.body["code"].as_str()), (400, Some("validation_error")), "{}", r.text);
    }
    let r = api
        .post(
            &format!("/api/holds/{hold}/capture"),
            json!({"lines": [{"amount": max, "description": "a"}, {"amount": max, "description": "b"}]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let h = api.get(&format!("/api/holds/{hold}")).await.body;
    assert_eq!((h["status"].as_str(), h["amount_captured"].as_i64()), (Some("requires_capture"), Some(0)));
    assert_eq!(api.get("/api/bookings/bk-ovf").await.body["status"], "hold_active");
}

#[tokio::test]
async fn tier_limits_mean_the_same_money_in_every_currency() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let kwd = api.post("/api/holds", json!({"amount": 2_500_000, "currency": "kwd", "description": "x"})).await;
    assert_eq!((kwd.status, kwd.body["code"].as_str()), (400, Some("tier_limit_exceeded")), "{}", kwd.text);
    let jpy = api.post("/api/holds", json!({"amount": 2_501, "currency": "jpy", "description": "x"})).await;
    assert_eq!(jpy.status, 201, "¥2,501 is about USD 17: {}", jpy.text);
    assert_eq!(jpy.body["tier_limit"], 375_000);
}

#[tokio::test]
async fn small_holds_placed_and_released_by_the_caller_do_not_raise_a_guests_tier() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    for _ in 0..3 {
        let r = api.post("/api/holds", json!({"amount": 50, "description": "x", "customer_email": "chosen@example.com", "property_id": "p1", "payment_method": "pm_card_visa", "confirm": true})).await;
        let id = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(api.post(&format!("/api/holds/{id}/cancel"), json!({})).await.status, 200);
    }
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 1000, "description": "x", "customer_email": "chosen@example.com", "property_id": "p1"}),
        )
        .await;
    assert_eq!(r.body["tier"], "NEW_GUEST", "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_who_disconnects_mid_capture_leaves_no_hold_locked() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(api.authorized_hold(5_000).await);
    }
    let impatient = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let req = impatient
            .post(format!("{}/api/holds/{id}/capture", server.base))
            .header("ChittyID-Token", &server.token)
            .header("Idempotency-Key", format!("disc-{id}"))
            .json(&json!({"amount_to_capture": 1_000}))
            .timeout(Duration::from_millis(1 + (i as u64 % 5)));
        tasks.push(tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()).ok() }));
    }
    for t in tasks {
        let _ = t.await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for id in &ids {
        let h = api.get(&format!("/api/holds/{id}")).await.body;
        let status = h["status"].as_str().unwrap().to_string();
        assert!(status == "captured" || status == "requires_capture", "{id}: {h}");
        // The same key again: the finished answer, never "still in progress".
        let r = api
            .raw(
                "POST",
                &format!("/api/holds/{id}/capture"),
                Some(r#"{"amount_to_capture":1000}"#),
                &[("Idempotency-Key", &format!("disc-{id}"))],
            )
            .await;
        assert_ne!(r.body["code"], "operation_in_progress", "{id}: {}", r.text);
        assert_ne!(r.body["code"], "idempotency_error", "{id}: the key's record must not stay in flight: {}", r.text);
        assert_eq!(api.get(&format!("/api/holds/{id}")).await.body["status"], "captured", "{id}");
    }
}

/// A capture whose answer is lost (the simulator's `pm_card_lostAnswers`).
async fn lost_capture(api: &Api) -> (String, String) {
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 5000, "description": "x", "payment_method": "pm_card_lostAnswers", "confirm": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = api
        .raw(
            "POST",
            &format!("/api/holds/{id}/capture"),
            Some(r#"{"amount_to_capture":2000}"#),
            &[("Idempotency-Key", "lost-1")],
        )
        .await;
    assert_eq!((r.status, r.body["code"].as_str()), (503, Some("processor_outcome_unknown")), "{}", r.text);
    (id, r.body["details"]["operation_id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn an_operation_older_than_a_day_is_read_from_the_processor_not_reissued() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_JOBS_INTERVAL_MS", "100")]);
    let api = server.client();
    let (id, op) = lost_capture(&api).await;
    // Re-issuing under the same key would be lost again; only reading the
    // PaymentIntent settles it.
    api.advance(24 * 3_600).await;
    for _ in 0..100 {
        if api.get(&format!("/api/operations/{op}")).await.body["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.get(&format!("/api/operations/{op}")).await.body["status"], "succeeded");
    let h = api.get(&format!("/api/holds/{id}")).await.body;
    assert_eq!((h["status"].as_str(), h["amount_captured"].as_i64()), (Some("captured"), Some(2_000)), "{h}");
    let events = api.get(&format!("/api/holds/{id}/events")).await.text;
    assert!(events.contains("operation_settled"), "{events}");
}

#[tokio::test]
async fn stuck_operations_are_listed_and_resolved_by_an_operator() {
    let server = Server::start_with(
        sqlite_db(),
        &[("CHITTYCHARGE_JOBS_INTERVAL_MS", "100"), ("CHITTYCHARGE_JANITOR_SCHEDULE", "1s")],
    );
    let api = server.client();
    let (id, op) = lost_capture(&api).await;

    // While the hold is locked, a capture under a new key gets 409, which
    // that key must not keep: after the resolution it runs again.
    let busy =
        api.raw("POST", &format!("/api/holds/{id}/capture"), Some("{}"), &[("Idempotency-Key", "after-lock")]).await;
    assert_eq!(busy.body["code"], "operation_in_progress", "{}", busy.text);

    // Out of attempts after the one-step schedule (the test clock moves it).
    let mut listed = false;
    for _ in 0..60 {
        api.advance(2).await;
        let out = Command::new(BIN)
            .args(["operations", "stuck", "--json", "--url", &server.base, "--token", &server.token])
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        if String::from_utf8_lossy(&out.stdout).contains(&op) {
            listed = true;
            break;
        }
    }
    assert!(listed, "operation {op} never listed as stuck");
    let reader = api.with_token(&token(&server.db, &["--scope", "holds:read"]));
    assert_eq!(reader.post(&format!("/api/operations/{op}/resolve"), json!({})).await.status, 403);

    let out = Command::new(BIN)
        .args(["operations", "resolve", &op, "--json", "--url", &server.base, "--token", &server.token])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resolved: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resolved["operation"]["status"], "succeeded", "{resolved}");
    let h = api.get(&format!("/api/holds/{id}")).await.body;
    assert_eq!((h["status"].as_str(), h["amount_captured"].as_i64()), (Some("captured"), Some(2_000)));
    let events = api.get(&format!("/api/holds/{id}/events")).await.text;
    assert!(events.contains("operation_resolved"), "{events}");

    let again =
        api.raw("POST", &format!("/api/holds/{id}/capture"), Some("{}"), &[("Idempotency-Key", "after-lock")]).await;
    assert_eq!(again.body["code"], "invalid_state", "the 409 in progress was not kept: {}", again.text);
    assert!(again.headers.get("idempotent-replayed").is_none());

    // `--release`: an increment lost the same way; the operator releases the hold.
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 5000, "description": "y", "payment_method": "pm_card_lostAnswers", "confirm": true}),
        )
        .await;
    let other = r.body["id"].as_str().unwrap().to_string();
    let inc = api.post(&format!("/api/holds/{other}/increment"), json!({"amount": 6000})).await;
    assert_eq!(inc.status, 503, "{}", inc.text);
    let inc_op = inc.body["details"]["operation_id"].as_str().unwrap().to_string();
    let r = api.post(&format!("/api/operations/{inc_op}/resolve"), json!({"action": "release"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["hold"]["status"], "canceled", "{}", r.text);
    let r = api.post(&format!("/api/operations/{inc_op}/resolve"), json!({})).await;
    assert_eq!(r.status, 409, "already settled: {}", r.text);
}

#[tokio::test]
async fn booking_ids_are_unique_per_property_and_another_propertys_id_looks_free() {
    let server = Server::start(sqlite_db());
    let admin = server.client();
    property(&admin, "pa", json!({})).await;
    property(&admin, "pb", json!({})).await;
    let a = admin.with_token(&token(&server.db, &["--scope", "holds:write", "--property", "pa"]));
    let b = admin.with_token(&token(&server.db, &["--scope", "holds:write", "--property", "pb"]));
    booking(&a, "pa", "bk-same").await;
    assert_eq!(b.get("/api/bookings/bk-same").await.status, 404);
    assert_eq!(b.get("/api/bookings/bk-free").await.status, 404);
    let r = b
        .post("/api/bookings", json!({"id": "bk-same", "property_id": "pb", "guest_name": "Other", "check_in": "2026-12-01", "check_out": "2026-12-03"}))
        .await;
    assert_eq!(r.status, 201, "exactly like a free id: {}", r.text);
    assert_eq!(b.get("/api/bookings/bk-same").await.body["guest_name"], "Other");
    assert_eq!(a.get("/api/bookings/bk-same").await.body["guest_name"], "Guest");
    // An unrestricted token names the property when the id is shared.
    let r = admin.get("/api/bookings/bk-same").await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("property_id")), "{}", r.text);
    assert_eq!(admin.get("/api/bookings/bk-same?property_id=pb").await.body["guest_name"], "Other");
    let again = a
        .post("/api/bookings", json!({"id": "bk-same", "property_id": "pa", "guest_name": "Dup", "check_in": "2026-12-01", "check_out": "2026-12-03"}))
        .await;
    assert_eq!(again.status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_send_each_email_once() {
    let Some(db) = postgres_db() else { return };
    let Some(smtp) = common::Smtp::start() else { return };
    let url = smtp.url();
    let env = [("SMTP_URL", url.as_str()), ("CHITTYCHARGE_JOBS_INTERVAL_MS", "50")];
    let a = Server::start_with(db.clone(), &env);
    let b = Server::start_with(db, &env);
    let api = a.client();
    for i in 0..10 {
        let r = api
            .post("/api/holds", json!({"amount": 5000, "description": format!("mail {i}"), "customer_email": format!("g{i}@example.com"), "payment_method": "pm_card_visa", "confirm": true}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mut sent = 0;
    for _ in 0..100 {
        let list = b.client().get("/api/notifications").await.body;
        let all = list["notifications"].as_array().unwrap().clone();
        sent = all.iter().filter(|n| n["status"] == "sent").count();
        if sent == all.len() && sent >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.messages();
    assert_eq!(received.len(), sent, "each message once: {} received for {sent} sent", received.len());
}

#[tokio::test]
async fn the_audit_finds_a_booking_holding_a_card_twice() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "isle", json!({})).await;
    // A hold naming a booking id before the booking existed here (from an
    // outside system), then the booking's own check-in hold.
    let r = api.post("/api/holds", json!({"amount": 5000, "description": "x", "property_id": "isle", "booking_id": "bk-two", "payment_method": "pm_card_visa", "confirm": true})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    booking(&api, "isle", "bk-two").await;
    let (s, _) = authorize(&api, "bk-two").await;
    assert_eq!(s, 200);
    // Once the booking exists, a hold can no longer be placed around it.
    let r = api
        .post("/api/holds", json!({"amount": 5000, "description": "x", "property_id": "isle", "booking_id": "bk-two"}))
        .await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("booking_id")), "{}", r.text);
    let out = cli(&server.db, &["audit"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("bk-two at isle has 2 live holds"), "{text}");
    assert!(text.contains("which does not point to it"), "{text}");
}

#[tokio::test]
async fn a_booking_follows_a_hold_ended_outside_check_out_and_never_places_a_second() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "cove", json!({})).await;
    for (id, action) in [("bk-cancel", "cancel"), ("bk-capture", "capture")] {
        booking(&api, "cove", id).await;
        let (s, a) = authorize(&api, id).await;
        assert_eq!(s, 200, "{a}");
        let hold = a["hold_id"].as_str().unwrap().to_string();
        let body = if action == "capture" { json!({"amount_to_capture": 100}) } else { json!({}) };
        assert_eq!(api.post(&format!("/api/holds/{hold}/{action}"), body).await.status, 200);
        assert_eq!(api.get(&format!("/api/bookings/{id}")).await.body["status"], "settled", "{id}");
        let (s, again) = authorize(&api, id).await;
        assert_eq!((s, again["code"].as_str()), (409, Some("invalid_state")), "{again}");
        let list = api.get("/api/holds?limit=200").await.body;
        assert!(live_holds_of(&list, id).is_empty(), "{id}: no second hold was placed");
    }
}

#[tokio::test]
async fn a_check_out_whose_capture_answer_was_lost_records_its_claim_when_resolved() {
    let server = Server::start_with(
        sqlite_db(),
        &[("CHITTYCHARGE_JOBS_INTERVAL_MS", "100"), ("CHITTYCHARGE_JANITOR_SCHEDULE", "1s")],
    );
    let api = server.client();
    property(&api, "bay", json!({})).await;
    booking(&api, "bay", "bk-lost").await;
    let r = api
        .post("/api/bookings/bk-lost/authorize", json!({"payment_method": "pm_card_lostAnswers", "confirm": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r =
        api.post("/api/bookings/bk-lost/checkout", json!({"damages": [{"amount": 5000, "description": "Lamp"}]})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (503, Some("processor_outcome_unknown")), "{}", r.text);
    let op = r.body["details"]["operation_id"].as_str().unwrap().to_string();
    let mut resolved = None;
    for _ in 0..60 {
        api.advance(2).await;
        let r = api.post(&format!("/api/operations/{op}/resolve"), json!({})).await;
        if r.status == 200 {
            resolved = Some(r.body);
            break;
        }
    }
    let resolved = resolved.expect("resolved");
    assert_eq!(resolved["hold"]["amount_captured"], 5000, "{resolved}");
    let b = api.get("/api/bookings/bk-lost").await.body;
    assert_eq!(b["status"], "settled", "{b}");
    let claims = b["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 1, "{b}");
    assert_eq!(
        (claims[0]["total"].as_i64(), claims[0]["lines"][0]["description"].as_str()),
        (Some(5000), Some("Lamp"))
    );
    let out = cli(&server.db, &["audit"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("without a damage claim"), "{text}");
}

#[tokio::test]
async fn holds_authorized_only_a_moment_do_not_count_toward_a_guests_history() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = api
            .post(
                "/api/holds",
                json!({"amount": 10_000, "description": "t", "property_id": "pA", "customer_email": "a@x.com"}),
            )
            .await;
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    api.advance(13 * 3_600).await;
    for id in &ids {
        assert_eq!(
            api.post(&format!("/api/holds/{id}/confirm"), json!({"payment_method": "pm_card_visa"})).await.status,
            200
        );
        assert_eq!(api.post(&format!("/api/holds/{id}/cancel"), json!({})).await.status, 200);
    }
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 1000, "description": "t", "property_id": "pA", "customer_email": "a@x.com"}),
        )
        .await;
    assert_eq!(r.body["tier"], "NEW_GUEST", "{}", r.text);
}

#[tokio::test]
async fn an_idempotency_key_names_the_query_too() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "pa", json!({})).await;
    property(&api, "pb", json!({})).await;
    booking(&api, "pa", "bk-shared").await;
    booking(&api, "pb", "bk-shared").await;
    let body = r#"{"payment_method":"pm_card_visa","confirm":true}"#;
    let first = api
        .raw("POST", "/api/bookings/bk-shared/authorize?property_id=pa", Some(body), &[("Idempotency-Key", "k1")])
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let other = api
        .raw("POST", "/api/bookings/bk-shared/authorize?property_id=pb", Some(body), &[("Idempotency-Key", "k1")])
        .await;
    assert_eq!((other.status, other.body["code"].as_str()), (409, Some("idempotency_error")), "{}", other.text);
    assert_eq!(api.get("/api/bookings/bk-shared?property_id=pb").await.body["status"], "booked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_resolutions_of_one_operation_settle_it_once() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_JANITOR_SCHEDULE", "1h")]);
    let api = server.client();
    let (id, op) = lost_capture(&api).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let api = api.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(
            async move { api.post(&format!("/api/operations/{op}/resolve"), json!({})).await.status },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        let s = t.await.unwrap();
        assert!(s == 200 || s == 409, "{s}");
        ok += usize::from(s == 200);
    }
    assert_eq!(ok, 1);
    let events = api.get(&format!("/api/holds/{id}/events")).await.text;
    assert_eq!(events.matches("operation_resolved").count(), 1, "{events}");
}
