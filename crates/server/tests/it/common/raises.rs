//! Helpers for the tests of growing a booking's hold: a booking authorized
//! with a card that cannot grow, and what the simulator and bookings show.

use serde_json::{json, Value};

use super::{Api, Resp};

pub async fn unionpay_booking(api: &Api, id: &str) -> String {
    super::booking(api, "lake", id).await;
    let r = api
        .post(&format!("/api/bookings/{id}/authorize"), json!({"payment_method": "pm_card_unionpay", "confirm": true}))
        .await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("requires_capture")), "{}", r.text);
    r.body["hold_id"].as_str().unwrap().to_string()
}

pub async fn booking_hold(api: &Api, id: &str) -> Option<String> {
    api.get(&format!("/api/bookings/{id}")).await.body["hold_id"].as_str().map(str::to_string)
}

/// Checks a booking out, retrying while another operation holds its hold.
pub async fn check_out_until_done(api: &Api, booking: &str) {
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

/// Every PaymentIntent the simulator made for `booking`.
pub async fn intents_of(api: &Api, booking: &str) -> Vec<Value> {
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

pub async fn futures_join4(api: &Api, path: &str) -> Vec<Resp> {
    let (a, b, c, d) = tokio::join!(
        api.post(path, json!({"amount": 30_000})),
        api.post(path, json!({"amount": 40_000})),
        api.post(path, json!({"amount": 50_000})),
        api.post(path, json!({"amount": 60_000})),
    );
    vec![a, b, c, d]
}
