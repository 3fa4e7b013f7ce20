//! Growing a hold: incremental authorization where the card allows it, and
//! for a booking's hold whose card does not (UnionPay), a re-authorization
//! for the new total that authorizes the new hold before releasing the old.

use crate::common::{
    booking_hold, check_out_until_done, live_holds_of, property, sqlite_db, stripe_env, stripe_server, token,
    unionpay_booking, Emulator, FaultProxy, Server,
};
use serde_json::{json, Value};

#[tokio::test]
async fn a_card_that_cannot_grow_gets_409_outside_a_booking_and_nothing_is_called() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 10_000, "description": "x", "payment_method": "pm_card_unionpay", "confirm": true,
                   "incremental_authorization": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    let r = api.post(&format!("/api/holds/{id}/increment"), json!({"amount": 15_000})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (409, Some("incremental_authorization_unavailable")), "{}", r.text);
    let h = api.get(&format!("/api/holds/{id}")).await.body;
    assert_eq!((h["amount"].as_i64(), h["status"].as_str()), (Some(10_000), Some("requires_capture")));
}

#[tokio::test]
async fn a_bookings_hold_that_cannot_grow_is_replaced_by_a_larger_one_new_before_old() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let old = unionpay_booking(&api, "bk-grow").await;
    let r = api.post(&format!("/api/holds/{old}/increment"), json!({"amount": 40_000})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.body["id"].as_str().unwrap().to_string();
    assert_ne!(new, old, "the answer is the new hold");
    assert_eq!((r.body["amount"].as_i64(), r.body["status"].as_str()), (Some(40_000), Some("requires_capture")));
    assert_eq!(booking_hold(&api, "bk-grow").await.as_deref(), Some(new.as_str()), "the booking follows");
    let was = api.get(&format!("/api/holds/{old}")).await.body;
    assert_eq!((was["status"].as_str(), was["amount_released"].as_i64()), (Some("canceled"), Some(25_000)));
    let events: Value = api.get(&format!("/api/holds/{old}/events")).await.body;
    let link = events["events"].as_array().unwrap().iter().find(|e| e["kind"] == "reauthorized_to").cloned();
    assert_eq!(link.expect("linked")["data"]["other_hold"], new.as_str());
    assert_eq!(live_holds_of(&api.get("/api/holds").await.body, "bk-grow"), vec![new.clone()]);
    // Check-out captures from the new hold.
    let r = api
        .post(
            "/api/bookings/bk-grow/checkout",
            json!({"damages": [{"amount": 30_000, "description": "Broken window"}]}),
        )
        .await;
    assert!(r.status == 200, "{}", r.text);
    assert_eq!(api.get(&format!("/api/holds/{new}")).await.body["amount_captured"], 30_000);
}

#[tokio::test]
async fn a_reader_or_another_property_cannot_raise_a_bookings_hold() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    property(&api, "hill", json!({})).await;
    let old = unionpay_booking(&api, "bk-auth").await;
    let reader = api.with_token(&token(&server.db, &["--scope", "holds:read"]));
    let r = reader.post(&format!("/api/holds/{old}/increment"), json!({"amount": 40_000})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (403, Some("forbidden")), "{}", r.text);
    let other = api.with_token(&token(&server.db, &["--scope", "holds:write", "--property", "hill"]));
    let r = other.post(&format!("/api/holds/{old}/increment"), json!({"amount": 40_000})).await;
    assert_eq!(r.status, 404, "another property's hold does not exist for it: {}", r.text);
    // Above the tier's limit: refused before anything is placed.
    let r = api.post(&format!("/api/holds/{old}/increment"), json!({"amount": 250_001})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (400, Some("tier_limit_exceeded")), "{}", r.text);
    assert_eq!(booking_hold(&api, "bk-auth").await.as_deref(), Some(old.as_str()));
    assert_eq!(live_holds_of(&api.get("/api/holds").await.body, "bk-auth"), vec![old]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_raises_at_once_leave_one_live_hold_on_the_card() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let old = unionpay_booking(&api, "bk-race").await;
    let path = format!("/api/holds/{old}/increment");
    let (a, b) = tokio::join!(api.post(&path, json!({"amount": 40_000})), api.post(&path, json!({"amount": 45_000})));
    let ok: Vec<_> = [&a, &b].into_iter().filter(|r| r.status == 200).collect();
    assert!(!ok.is_empty() && ok.len() <= 2, "{} {} / {} {}", a.status, a.text, b.status, b.text);
    for r in [&a, &b] {
        assert!(r.status == 200 || r.status == 409, "{} {}", r.status, r.text);
    }
    let live = live_holds_of(&api.get("/api/holds").await.body, "bk-race");
    assert_eq!(live.len(), 1, "one live hold for the booking: {live:?}");
    assert_eq!(booking_hold(&api, "bk-race").await, Some(live[0].clone()));
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn increments_work_only_on_holds_that_asked_for_them_and_the_emulator_refuses_the_others() {
    let emu = Emulator::start();
    let server = stripe_server(&emu).await;
    let api = server.client();
    let r = api
        .post("/api/holds", json!({"amount": 10_000, "description": "x", "payment_method": "pm_card_visa", "confirm": true, "incremental_authorization": true}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = api.post(&format!("/api/holds/{id}/increment"), json!({"amount": 15_000})).await;
    assert_eq!((r.status, r.body["amount"].as_i64()), (200, Some(15_000)), "{}", r.text);
    assert_eq!(emu.intent(&id).await["amount"], 15_000);
    let cap = api.post(&format!("/api/holds/{id}/capture"), json!({})).await;
    assert_eq!(cap.body["amount_captured"], 15_000, "{}", cap.text);

    // A hold that did not ask: refused before any call, and by the emulator itself.
    let plain = api.authorized_hold(10_000).await;
    let r = api.post(&format!("/api/holds/{plain}/increment"), json!({"amount": 15_000})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (409, Some("incremental_authorization_unavailable")), "{}", r.text);
    let (status, body) =
        emu.post(&format!("/v1/payment_intents/{plain}/increment_authorization"), &[("amount", "15000")], None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("incremental_authorization_unavailable")),
        "{body}"
    );
    assert_eq!(emu.intent(&plain).await["amount"], 10_000);
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn through_stripe_a_unionpay_bookings_hold_is_re_authorized_for_the_larger_total() {
    let emu = Emulator::start();
    let server = stripe_server(&emu).await;
    emu.register_webhook(&server.base).await;
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let old = unionpay_booking(&api, "bk-up").await;
    // Stripe itself refuses to grow it: the card network does not allow it.
    let (status, body) =
        emu.post(&format!("/v1/payment_intents/{old}/increment_authorization"), &[("amount", "40000")], None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("incremental_authorization_unavailable")),
        "{body}"
    );
    let r = api.post(&format!("/api/holds/{old}/increment"), json!({"amount": 40_000})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.body["id"].as_str().unwrap().to_string();
    let (was, now) = (emu.intent(&old).await, emu.intent(&new).await);
    assert_eq!((was["status"].as_str(), now["status"].as_str()), (Some("canceled"), Some("requires_capture")));
    assert_eq!(now["amount"], 40_000);
    assert_eq!(now["customer"], was["customer"], "the guest's saved card, off-session");
    assert!(now["created"].as_i64().unwrap() <= was["canceled_at"].as_i64().unwrap(), "new before old");
    assert_eq!(booking_hold(&api, "bk-up").await.as_deref(), Some(new.as_str()));
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn through_stripe_a_raise_whose_create_answer_is_lost_is_finished_by_the_janitor() {
    let emu = Emulator::start();
    let proxy = FaultProxy::start(emu.url(), 0.0, 1);
    let mut env = stripe_env(proxy.url());
    env.push(("CHITTYCHARGE_JANITOR_SCHEDULE", "1s,1s,1s,1s,1s".into()));
    env.push(("CHITTYCHARGE_JOBS_INTERVAL_MS", "50".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with(sqlite_db(), &pairs);
    emu.register_webhook(&server.base).await;
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let old = unionpay_booking(&api, "bk-lost").await;
    let script = reqwest::Client::new()
        .post(format!("{}/_fault/script", proxy.url()))
        .json(&json!({"path_contains": "/v1/payment_intents", "body_contains": "reauthorizes", "mode": "error_after_no_retry", "count": 1}))
        .send()
        .await
        .unwrap();
    assert!(script.status().is_success());
    let r = api.post(&format!("/api/holds/{old}/increment"), json!({"amount": 40_000})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (503, Some("processor_outcome_unknown")), "{}", r.text);
    // Meanwhile the old hold is held by the unfinished swap: no check-out on it.
    let co = api.post("/api/bookings/bk-lost/checkout", json!({})).await;
    assert_eq!((co.status, co.body["code"].as_str()), (409, Some("operation_in_progress")), "{}", co.text);
    let mut moved = None;
    for _ in 0..200 {
        let b = api.get("/api/bookings/bk-lost").await.body;
        if b["hold_id"].as_str() != Some(old.as_str()) {
            moved = b["hold_id"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let new = moved.expect("the janitor finished the swap");
    // The booking moves first, then the old hold is released.
    for _ in 0..200 {
        if api.get(&format!("/api/holds/{old}")).await.body["status"] == "canceled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(api.get(&format!("/api/holds/{old}")).await.body["status"], "canceled");
    let live: Vec<String> = emu
        .all_intents()
        .await
        .into_iter()
        .filter(|pi| pi["status"] == "requires_capture" && pi["metadata"]["booking_id"] == "bk-lost")
        .map(|pi| pi["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(live, vec![new.clone()], "one live authorization, the booking's");
    assert_eq!(emu.intent(&new).await["amount"], 40_000);
    check_out_until_done(&api, "bk-lost").await;
    assert_eq!(api.get(&format!("/api/holds/{new}")).await.body["status"], "canceled");
}
