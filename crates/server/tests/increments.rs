//! Growing a hold: incremental authorization where the card allows it, and
//! for a booking's hold whose card does not (UnionPay), a re-authorization
//! for the new total that authorizes the new hold before releasing the old.

mod common;

use common::{
    cli, live_holds_of, property, sqlite_db, stripe_env, token, Api, Emulator, FaultProxy, Server, STRIPE_KEY,
};
use serde_json::{json, Value};

async fn unionpay_booking(api: &Api, id: &str) -> String {
    let r = api
        .post(
            "/api/bookings",
            json!({"id": id, "property_id": "lake", "guest_name": "Guest", "guest_email": "guest@example.com",
                   "check_in": "2026-12-01", "check_out": "2026-12-05"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .post(&format!("/api/bookings/{id}/authorize"), json!({"payment_method": "pm_card_unionpay", "confirm": true}))
        .await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("requires_capture")), "{}", r.text);
    r.body["hold_id"].as_str().unwrap().to_string()
}

async fn booking_hold(api: &Api, id: &str) -> Option<String> {
    api.get(&format!("/api/bookings/{id}")).await.body["hold_id"].as_str().map(str::to_string)
}

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

async fn stripe_server(emu: &Emulator) -> Server {
    let env = stripe_env(emu.url());
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(sqlite_db(), &pairs)
}

async fn emulator_post(emu: &Emulator, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", emu.url()))
        .basic_auth(STRIPE_KEY, Some(""))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn increments_work_only_on_holds_that_asked_for_them_and_the_emulator_refuses_the_others() {
    let Some(emu) = Emulator::start() else { return };
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
        emulator_post(&emu, &format!("/v1/payment_intents/{plain}/increment_authorization"), &[("amount", "15000")])
            .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("incremental_authorization_unavailable")),
        "{body}"
    );
    assert_eq!(emu.intent(&plain).await["amount"], 10_000);
}

#[tokio::test]
async fn through_stripe_a_unionpay_bookings_hold_is_re_authorized_for_the_larger_total() {
    let Some(emu) = Emulator::start() else { return };
    let server = stripe_server(&emu).await;
    emu.register_webhook(&server.base).await;
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let old = unionpay_booking(&api, "bk-up").await;
    // Stripe itself refuses to grow it: the card network does not allow it.
    let (status, body) =
        emulator_post(&emu, &format!("/v1/payment_intents/{old}/increment_authorization"), &[("amount", "40000")])
            .await;
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

/// Checks a booking out, retrying while another operation holds its hold.
async fn check_out_until_done(api: &Api, booking: &str) {
    for _ in 0..50 {
        let r = api.post(&format!("/api/bookings/{booking}/checkout"), json!({})).await;
        match r.status {
            200 => return,
            409 if r.body["code"] == "invalid_state"
                && r.body["error"].as_str().unwrap_or("").contains("already checked out") =>
            {
                return
            }
            409 => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            _ => panic!("check-out of {booking}: {} {}", r.status, r.text),
        }
    }
    panic!("check-out of {booking} never went through");
}

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

/// Every PaymentIntent the simulator made for `booking`.
async fn intents_of(api: &Api, booking: &str) -> Vec<Value> {
    let ids = api.get("/_sim/payment_intents").await.body["ids"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for id in ids {
        let pi = api.get(&format!("/_sim/payment_intents/{}", id.as_str().unwrap_or_default())).await.body;
        if pi["metadata"]["booking_id"] == booking {
            out.push(pi);
        }
    }
    out
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

async fn futures_join4(api: &Api, path: &str) -> Vec<common::Resp> {
    let (a, b, c, d) = tokio::join!(
        api.post(path, json!({"amount": 30_000})),
        api.post(path, json!({"amount": 40_000})),
        api.post(path, json!({"amount": 50_000})),
        api.post(path, json!({"amount": 60_000})),
    );
    vec![a, b, c, d]
}

#[tokio::test]
async fn a_raise_uses_the_card_given_at_check_in_not_the_one_the_booking_was_made_with() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let r = api
        .post(
            "/api/bookings",
            json!({"id": "bk-card", "property_id": "lake", "guest_name": "G", "check_in": "2026-12-01",
                   "check_out": "2026-12-05", "payment_method": "pm_card_chargeDeclined"}),
        )
        .await;
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
    let r = api
        .post(
            "/api/bookings",
            json!({"id": "bk-later", "property_id": "lake", "guest_name": "G", "check_in": "2026-12-01", "check_out": "2026-12-05"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().contains(&hold), "{}", r.text);
    api.post(&format!("/api/holds/{hold}/cancel"), json!({})).await;
    let r = api
        .post(
            "/api/bookings",
            json!({"id": "bk-later", "property_id": "lake", "guest_name": "G", "check_in": "2026-12-01", "check_out": "2026-12-05"}),
        )
        .await;
    assert_eq!(r.status, 201, "once the hold is released: {}", r.text);
}

#[tokio::test]
async fn the_audit_reports_a_settled_booking_whose_hold_is_still_live() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    let hold = unionpay_booking(&api, "bk-audit").await;
    let common::Db::Sqlite(path) = &server.db else { unreachable!() };
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

#[tokio::test]
async fn through_stripe_a_raise_whose_create_answer_is_lost_is_finished_by_the_janitor() {
    let Some(emu) = Emulator::start() else { return };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_check_outs_at_once_exactly_one_acts() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    property(&api, "lake", json!({})).await;
    for i in 0..8 {
        let id = format!("bk-2co-{i}");
        common::booking(&api, "lake", &id).await;
        let (s, a) = common::authorize(&api, &id).await;
        assert_eq!(s, 200, "{a}");
        let path = format!("/api/bookings/{id}/checkout");
        let (now, later) = tokio::join!(api.post(&path, json!({})), api.post(&path, json!({"defer_release": true})));
        let ok = [&now, &later].iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "round {i}: {} {} / {} {}", now.status, now.text, later.status, later.text);
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
    let r = api
        .post(
            "/api/bookings",
            json!({"id": "bk-direct", "property_id": "lake", "guest_name": "G", "guest_email": "g@example.com",
                   "check_in": "2026-12-01", "check_out": "2026-12-05"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (s, a) = common::authorize(&api, "bk-direct").await;
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
