//! Unknown outcomes and shared work: a caller who disconnects, operations
//! whose answer was lost (read from the processor past 23 hours, listed and
//! resolved by an operator), and emails claimed across instances.

use std::process::Command;
use std::time::Duration;

use crate::common::{booking, cli, lost_capture, postgres_db, property, sqlite_db, token, Server, BIN};
use serde_json::{json, Value};

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
            json!({"amount": 5000, "description": "y", "payment_method": "pm_card_lostAnswers", "confirm": true, "incremental_authorization": true}),
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

#[ignore = "needs PostgreSQL and the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_send_each_email_once() {
    let db = postgres_db();
    let smtp = crate::common::Smtp::start();
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
