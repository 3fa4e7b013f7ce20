//! The hold lifecycle over HTTP against the real binary, on every store.

use crate::common::{setups, Server};
use serde_json::json;

#[ignore = "needs PostgreSQL and the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn walkthrough_create_confirm_partial_capture_cancel_and_list() {
    for setup in setups() {
        let name = setup.name();
        let server = setup.start().await;
        let api = server.client();

        let created = api
            .post("/api/holds", json!({"amount": 25000, "description": "Incidentals", "customer_email": "g@example.com", "property_id": "123"}))
            .await;
        assert_eq!(created.status, 201, "{name}: {}", created.text);
        let id = created.body["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("pi_"));
        assert_eq!(created.body["status"], "requires_payment_method");
        assert!(created.body["client_secret"].as_str().unwrap().starts_with(&format!("{id}_secret_")));
        assert_eq!(created.body["tier"], "NEW_GUEST");
        assert_eq!(created.body["tier_limit"], 250000);
        assert!(created.body["disclosure"].as_str().unwrap().contains("authorization hold of $250.00"));
        assert!(created.body["created_at"].as_str().unwrap().ends_with('Z'));

        let confirmed = api.post(&format!("/api/holds/{id}/confirm"), json!({"payment_method": "pm_card_visa"})).await;
        assert_eq!(confirmed.status, 200, "{name}: {}", confirmed.text);
        assert_eq!(confirmed.body["status"], "requires_capture");
        assert_eq!(confirmed.body["amount_capturable"], 25000);
        assert!(confirmed.body["capture_before"].is_string());

        let captured = api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": 5000})).await;
        assert_eq!(captured.status, 200, "{name}: {}", captured.text);
        assert_eq!(captured.body["status"], "captured");
        assert_eq!(captured.body["amount_captured"], 5000);
        assert_eq!(captured.body["amount_released"], 20000);
        assert_eq!(captured.body["estimated_processing_fee"], 175);

        let got = api.get(&format!("/api/holds/{id}")).await;
        assert_eq!(got.body["chitty_id"], created.body["chitty_id"], "{name}: GET returns the stored chitty_id");
        assert_eq!(got.body["amount_received"], 5000);
        assert_eq!(got.body["amount_capturable"], 0);

        let other = api.authorized_hold(10000).await;
        let canceled =
            api.post(&format!("/api/holds/{other}/cancel"), json!({"reason": "guest checked out clean"})).await;
        assert_eq!(canceled.status, 200, "{name}: {}", canceled.text);
        assert_eq!(canceled.body["status"], "canceled");
        assert_eq!(canceled.body["amount_released"], 10000);

        let list = api.get("/api/holds?limit=10").await;
        assert_eq!(list.status, 200);
        let ids: Vec<_> =
            list.body["holds"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids, vec![other.clone(), id.clone()], "{name}: newest first");
        let by_prop = api.get("/api/holds?property_id=123").await;
        assert_eq!(by_prop.body["holds"].as_array().unwrap().len(), 1);
        let by_status = api.get("/api/holds?status=canceled").await;
        assert_eq!(by_status.body["holds"][0]["id"], other.as_str());

        let events = api.get(&format!("/api/holds/{id}/events")).await;
        let kinds: Vec<_> =
            events.body["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
        assert_eq!(kinds, ["created", "authorized", "captured"], "{name}");
        let by_chitty =
            api.get(&format!("/api/holds/by-chitty-id/{}", created.body["chitty_id"].as_str().unwrap())).await;
        assert_eq!(by_chitty.body["id"], id.as_str());
    }
}

#[ignore = "needs PostgreSQL and the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn every_hold_and_event_survives_a_restart() {
    for setup in setups() {
        let name = setup.name();
        let server = setup.start().await;
        let api = server.client();
        let a = api.authorized_hold(20000).await;
        api.post(&format!("/api/holds/{a}/capture"), json!({})).await;
        let b = api.authorized_hold(30000).await;
        let before_a = api.get(&format!("/api/holds/{a}/events")).await.body;

        let server = server.restart();
        let api = server.client();
        let got_a = api.get(&format!("/api/holds/{a}")).await;
        assert_eq!(got_a.body["status"], "captured", "{name}");
        assert_eq!(got_a.body["amount_captured"], 20000);
        assert_eq!(api.get(&format!("/api/holds/{a}/events")).await.body, before_a, "{name}");
        // the simulated processor's state survived too, so b is still capturable
        let cap = api.post(&format!("/api/holds/{b}/capture"), json!({"amount_to_capture": 100})).await;
        assert_eq!(cap.status, 200, "{name}: {}", cap.text);
    }
}

#[tokio::test]
async fn pagination_walks_every_hold_exactly_once() {
    let server = Server::start(crate::common::sqlite_db());
    let api = server.client();
    let mut made = Vec::new();
    for _ in 0..7 {
        let r = api.post("/api/holds", json!({"amount": 1000, "description": "x"})).await;
        made.push(r.body["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/holds?limit=3&cursor={c}"),
            None => "/api/holds?limit=3".into(),
        };
        let page = api.get(&path).await;
        for h in page.body["holds"].as_array().unwrap() {
            seen.push(h["id"].as_str().unwrap().to_string());
        }
        assert_eq!(page.body["has_more"], page.body["next_cursor"].is_string(), "{}", page.text);
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    made.reverse();
    assert_eq!(seen, made);
}

#[ignore = "needs PostgreSQL and the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn declined_card_gets_402_and_the_guest_can_retry_with_another() {
    for setup in setups() {
        let name = setup.name();
        let server = setup.start().await;
        let api = server.client();
        let r = api
        .post(
            "/api/holds",
            json!({"amount": 5000, "description": "x", "payment_method": "pm_card_chargeDeclined", "confirm": true}),
        )
        .await;
        assert_eq!(r.status, 402, "{}", r.text);
        assert_eq!(r.body["code"], "card_declined");
        assert_eq!(r.body["details"]["decline_code"], "generic_decline");
        let id = r.body["details"]["hold_id"].as_str().unwrap().to_string();
        let r = api
            .post(
                &format!("/api/holds/{id}/confirm"),
                json!({"payment_method": "pm_card_chargeDeclinedInsufficientFunds"}),
            )
            .await;
        assert_eq!(r.status, 402);
        assert_eq!(r.body["details"]["decline_code"], "insufficient_funds");
        let r = api.post(&format!("/api/holds/{id}/confirm"), json!({"payment_method": "pm_card_visa"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["status"], "requires_capture");
        let kinds: Vec<String> = api.get(&format!("/api/holds/{id}/events")).await.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect();
        assert!(kinds.contains(&"declined".to_string()), "{kinds:?}");
        assert_eq!(kinds.last().unwrap(), "authorized");
        let _ = name;
    }
}

#[tokio::test]
async fn three_d_secure_hold_waits_for_the_challenge_then_authorizes() {
    let server = Server::start(crate::common::sqlite_db());
    let api = server.client();
    let r = api.post("/api/holds", json!({"amount": 5000, "description": "x", "payment_method": "pm_card_threeDSecure2Required", "confirm": true})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "requires_action");
    let id = r.body["id"].as_str().unwrap();
    let secret = r.body["client_secret"].as_str().unwrap();
    let capture = api.post(&format!("/api/holds/{id}/capture"), json!({})).await;
    assert_eq!(capture.status, 409, "not capturable before the challenge");
    let wrong = server
        .anon()
        .post(&format!("/_sim/payment_intents/{id}/authenticate"), json!({"client_secret": "nope", "success": true}))
        .await;
    assert_eq!(wrong.status, 401);
    let ok = server
        .anon()
        .post(&format!("/_sim/payment_intents/{id}/authenticate"), json!({"client_secret": secret, "success": true}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(api.get(&format!("/api/holds/{id}")).await.body["status"], "requires_capture");
}

#[tokio::test]
async fn capture_after_expiry_returns_409_hold_expired() {
    let server = Server::start(crate::common::sqlite_db());
    let api = server.client();
    let id = api.authorized_hold(5000).await;
    let r = api.post("/_sim/clock", json!({"advance_secs": 7 * 86400 + 60})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.post(&format!("/api/holds/{id}/capture"), json!({})).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["code"], "hold_expired");
    let got = api.get(&format!("/api/holds/{id}")).await;
    assert_eq!(got.body["status"], "expired");
    assert_eq!(got.body["amount_released"], 5000);
}

#[ignore = "needs PostgreSQL and the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn a_second_capture_is_a_409_and_changes_nothing() {
    for setup in setups() {
        let name = setup.name();
        let server = setup.start().await;
        let api = server.client();
        let id = api.authorized_hold(25000).await;
        assert_eq!(api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": 5000})).await.status, 200);
        let again = api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": 5000})).await;
        assert_eq!(again.status, 409);
        assert_eq!(again.body["code"], "invalid_state");
        let cancel = api.post(&format!("/api/holds/{id}/cancel"), json!({})).await;
        assert_eq!(cancel.status, 409);
        let got = api.get(&format!("/api/holds/{id}")).await;
        assert_eq!(got.body["amount_captured"], 5000);
        let _ = name;
    }
}

#[ignore = "needs PostgreSQL and the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn capture_above_capturable_is_a_409_stating_the_capturable_amount() {
    for setup in setups() {
        let name = setup.name();
        let server = setup.start().await;
        let api = server.client();
        let id = api.authorized_hold(25000).await;
        let r = api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": 25001})).await;
        assert_eq!(r.status, 409);
        assert_eq!(r.body["code"], "amount_exceeds_capturable");
        assert_eq!(r.body["details"]["amount_capturable"], 25000);
        assert_eq!(api.get(&format!("/api/holds/{id}")).await.body["status"], "requires_capture");
        let _ = name;
    }
}
