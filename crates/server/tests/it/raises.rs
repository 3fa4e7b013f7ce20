//! The seams of growing a booking's hold, found by red-teaming the built
//! binary: races between raises, check-outs and direct captures, the card a
//! raise uses, what the guest is told, and what the audit reports.

use crate::common::{
    booking_hold, check_out_until_done, cli, futures_join4, intents_of, live_holds_of, property, sqlite_db,
    try_booking, unionpay_booking, Server,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_increment_racing_check_out_never_leaves_a_live_hold_on_a_settled_booking() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    for i in 0..12 {
        let id = format!("bk-co-{i}");
        let old = unionpay_booking(&api, &id).await;
        let inc = format!("/api/holds/{old}/increment");
        let co = format!("/api/bookings/{id}/checkout");
        let body =
            if i % 2 == 0 { json!({}) } else { json!({"damages": [{"amount": 5000, "description": "Broken lamp"}]}) };
        let (a, b) = tokio::join!(api.post(&inc, json!({"amount": 40_000})), api.post(&co, body));
        for r in [&a, &b] {
            assert!(r.status < 500, "{} {}", r.status, r.text);
        }
        if b.status != 200 {
            check_out_until_done(&api, &id).await;
        }
        let booking = api.get(&format!("/api/bookings/{id}")).await.body;
        assert_eq!(booking["status"], "settled", "{booking}");
        let live = live_holds_of(&api.get("/api/holds?limit=200").await.body, &id);
        assert!(
            live.is_empty(),
            "round {i}: a settled booking with live holds {live:?}; increment {} {}",
            a.status,
            a.text
        );
        let hold = api.get(&format!("/api/holds/{}", booking["hold_id"].as_str().unwrap())).await.body;
        assert!(["captured", "canceled"].contains(&hold["status"].as_str().unwrap()), "round {i}: {hold}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_raises_place_one_new_authorization_and_the_losers_place_none() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let old = unionpay_booking(&api, "bk-many").await;
    let path = format!("/api/holds/{old}/increment");
    let rs = futures_join4(&api, &path).await;
    let won: Vec<_> = rs.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "{:?}", rs.iter().map(|r| (r.status, r.text.clone())).collect::<Vec<_>>());
    // A loser either met the swap under way, or came after it, when the hold
    // it named was no longer the booking's.
    for r in rs.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 409, "{}", r.text);
        assert!(
            ["operation_in_progress", "invalid_state"].contains(&r.body["code"].as_str().unwrap_or("")),
            "{}",
            r.text
        );
    }
    let intents = intents_of(&api, "bk-many").await;
    assert_eq!(intents.len(), 2, "the check-in hold and one re-authorization, nothing for the losers: {intents:#?}");
}

#[tokio::test]
async fn a_raise_uses_the_card_given_at_check_in_not_the_one_the_booking_was_made_with() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let r = try_booking(&api, "lake", "bk-card", json!({"payment_method": "pm_card_chargeDeclined"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .post("/api/bookings/bk-card/authorize", json!({"payment_method": "pm_card_unionpay", "confirm": true}))
        .await;
    let old = r.body["hold_id"].as_str().unwrap().to_string();
    let r = api.post(&format!("/api/holds/{old}/increment"), json!({"amount": 30_000})).await;
    assert_eq!(r.status, 200, "the card used at check-in authorizes: {}", r.text);
    let new = r.body["id"].as_str().unwrap();
    let pi = api.get(&format!("/_sim/payment_intents/{new}")).await.body;
    assert_eq!(pi["payment_method"], "pm_card_unionpay", "{pi}");
}

#[tokio::test]
async fn permanent_refusals_are_not_told_to_retry() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let old = unionpay_booking(&api, "bk-out").await;
    let r = api.post("/api/bookings/bk-out/checkout", json!({"defer_release": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.post(&format!("/api/holds/{old}/increment"), json!({"amount": 40_000})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (409, Some("invalid_state")), "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().contains("checked_out"), "{}", r.text);
}

#[tokio::test]
async fn a_plain_hold_naming_a_future_booking_id_stops_that_booking_from_being_made() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 5000, "description": "x", "property_id": "lake", "booking_id": "bk-later",
                   "payment_method": "pm_card_visa", "confirm": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let hold = r.body["id"].as_str().unwrap().to_string();
    let r = try_booking(&api, "lake", "bk-later", json!({})).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().contains(&hold), "{}", r.text);
    api.post(&format!("/api/holds/{hold}/cancel"), json!({})).await;
    let r = try_booking(&api, "lake", "bk-later", json!({})).await;
    assert_eq!(r.status, 201, "once the hold is released: {}", r.text);
}

#[tokio::test]
async fn the_audit_reports_a_settled_booking_whose_hold_is_still_live() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let hold = unionpay_booking(&api, "bk-audit").await;
    let crate::common::Db::Sqlite(path) = &server.db else { unreachable!() };
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE bookings SET status='settled', settled_at=1 WHERE id=?\", (sys.argv[2],)); c.commit()",
            &path.display().to_string(),
            "bk-audit",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let out = cli(&server.db, &["audit"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("{hold}: live (requires_capture) but its booking bk-audit at lake is settled")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_check_outs_at_once_exactly_one_acts() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    for i in 0..8 {
        let id = format!("bk-2co-{i}");
        crate::common::booking(&api, "lake", &id).await;
        let (s, a) = crate::common::authorize(&api, &id).await;
        assert_eq!(s, 200, "{a}");
        let path = format!("/api/bookings/{id}/checkout");
        let (now, later) = tokio::join!(api.post(&path, json!({})), api.post(&path, json!({"defer_release": true})));
        let ok = [&now, &later].iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "round {i}: {} {} / {} {}", now.status, now.text, later.status, later.text);
        let lost = if now.status == 200 { &later } else { &now };
        assert_eq!(
            (lost.status, lost.body["code"].as_str()),
            (409, Some("invalid_state")),
            "round {i}: the loser is told the booking has checked out: {}",
            lost.text
        );
        let b = api.get(&format!("/api/bookings/{id}")).await.body;
        let hold = api.get(&format!("/api/holds/{}", b["hold_id"].as_str().unwrap())).await.body;
        if later.status == 200 {
            assert_eq!(
                (b["status"].as_str(), hold["status"].as_str()),
                (Some("checked_out"), Some("requires_capture")),
                "{b}"
            );
            assert!(b["claim_window_ends_at"].is_string(), "{b}");
        } else {
            assert_eq!((b["status"].as_str(), hold["status"].as_str()), (Some("settled"), Some("canceled")), "{b}");
        }
    }
}

#[tokio::test]
async fn a_bookings_hold_captured_directly_gets_its_claim_and_the_audit_stays_clean() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    crate::common::booking(&api, "lake", "bk-direct").await;
    let (s, a) = crate::common::authorize(&api, "bk-direct").await;
    assert_eq!(s, 200, "{a}");
    let hold = a["hold_id"].as_str().unwrap();
    let r = api.post(&format!("/api/holds/{hold}/capture"), json!({"amount_to_capture": 700, "reason": "towel"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = api.get("/api/bookings/bk-direct").await.body;
    assert_eq!(b["status"], "settled", "{b}");
    let claims = b["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 1, "{b}");
    assert_eq!(
        (claims[0]["total"].as_i64(), claims[0]["lines"][0]["description"].as_str()),
        (Some(700), Some("towel"))
    );
    let out = cli(&server.db, &["audit"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    api.settle_jobs().await;
    let outbox = api.get("/api/notifications").await.body.to_string();
    assert!(outbox.contains("towel: $7.00"), "the email names what was charged: {outbox}");
}

#[tokio::test]
async fn after_a_raise_the_guest_hears_of_the_larger_hold_and_the_old_page_says_it_was_replaced() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let old = unionpay_booking(&api, "bk-news").await;
    // Authorize again: the booking's hold, with its check-in link.
    let again = api.post("/api/bookings/bk-news/authorize", json!({})).await.body;
    assert_eq!(again["hold_id"], old.as_str());
    let old_link = again["checkin_url"].as_str().expect("checkin_url").to_string();
    let r = api.post(&format!("/api/holds/{old}/increment"), json!({"amount": 40_000})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.body["id"].as_str().unwrap().to_string();
    let outbox = api.get("/api/notifications").await.body;
    let subjects: Vec<&str> =
        outbox["notifications"].as_array().unwrap().iter().filter_map(|n| n["subject"].as_str()).collect();
    assert!(subjects.contains(&"Authorization hold of $400.00 placed on your card"), "{subjects:?}");
    assert!(!subjects.iter().any(|s| s.contains("released")), "no release mail for a swap: {subjects:?}");
    // The old check-in link tells the truth, without internal ids.
    let page = reqwest::get(&old_link).await.unwrap().text().await.unwrap();
    assert!(page.contains("This hold was replaced by a new one"), "{page}");
    assert!(!page.contains(&new), "no internal ids on the guest's page");
}

/// Points a booking's saved card elsewhere, through the database the test owns.
fn set_saved_card(server: &Server, booking: &str, pm: &str) {
    let crate::common::Db::Sqlite(path) = &server.db else { unreachable!() };
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE bookings SET saved_payment_method=? WHERE id=?', (sys.argv[2], sys.argv[3])); c.commit()",
        ])
        .arg(path)
        .args([pm, booking])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_raise_retried_after_a_decline_is_a_new_attempt_not_a_replay_of_the_decline() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let old = unionpay_booking(&api, "bk-again").await;
    set_saved_card(&server, "bk-again", "pm_card_chargeDeclinedInsufficientFunds");
    let r = api.post(&format!("/api/holds/{old}/increment"), json!({"amount": 40_000})).await;
    assert_eq!(r.status, 402, "{}", r.text);
    assert_eq!(booking_hold(&api, "bk-again").await.as_deref(), Some(old.as_str()), "the old hold is kept");
    // The guest sorted the card out; the same raise again goes through.
    set_saved_card(&server, "bk-again", "pm_card_unionpay");
    let r = api.post(&format!("/api/holds/{old}/increment"), json!({"amount": 40_000})).await;
    assert_eq!((r.status, r.body["amount"].as_i64()), (200, Some(40_000)), "{}", r.text);
    assert_eq!(live_holds_of(&api.get("/api/holds?limit=200").await.body, "bk-again").len(), 1);
}
