//! Helpers for the tests of the seams around the hold core: tokens from the
//! CLI, properties, bookings and check-ins, and a capture whose answer is lost.

use std::process::Command;

use serde_json::{json, Value};

use super::{Api, Db, BIN};

pub fn cli(db: &Db, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.url())
        .output()
        .expect("run chittycharge")
}

pub fn token(db: &Db, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let out = cli(db, &all);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A property-restricted admin token, as an earlier release's CLI could
/// make (today's refuses to): written straight into the store.
pub async fn restricted_admin(db: &Db, property: &str) -> String {
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

pub async fn property(api: &Api, id: &str, extra: Value) {
    let mut body = json!({"id": id, "name": format!("Property {id}"), "default_hold_amount": 25_000});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = api.post("/api/properties", body).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

pub async fn booking(api: &Api, property: &str, id: &str) -> Value {
    let r = try_booking(api, property, id, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

/// Asks for a booking (a guest checking in Dec 1, out Dec 5) with `extra`
/// fields, and returns the answer whatever it is.
pub async fn try_booking(api: &Api, property: &str, id: &str, extra: Value) -> super::Resp {
    let mut body = json!({"id": id, "property_id": property, "guest_name": "Guest", "guest_email": "guest@example.com",
                          "check_in": "2026-12-01", "check_out": "2026-12-05"});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    api.post("/api/bookings", body).await
}

pub async fn authorize(api: &Api, id: &str) -> (u16, Value) {
    let r = api
        .post(&format!("/api/bookings/{id}/authorize"), json!({"payment_method": "pm_card_visa", "confirm": true}))
        .await;
    (r.status, r.body)
}

pub fn live_holds_of(list: &Value, booking: &str) -> Vec<String> {
    list["holds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["booking_id"] == booking)
        .filter(|h| !["captured", "canceled", "expired", "failed"].contains(&h["status"].as_str().unwrap()))
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// A capture whose answer is lost (the simulator's `pm_card_lostAnswers`).
pub async fn lost_capture(api: &Api) -> (String, String) {
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

/// A property "long" (48-hour claim window, UTC) and booking "stay20" from
/// today (the server's clock) for 20 nights, authorized with `pm_card_visa`.
/// Returns the first hold's id and the instant the booking stops needing a
/// hold (check-out noon plus the claim window), in epoch seconds.
pub async fn twenty_night_stay(server: &super::Server) -> (String, i64) {
    use chittycharge_client::api::{BookingRequest, PropertyRequest};
    let cc = server.rust_client();
    cc.put_property(&PropertyRequest {
        id: "long".into(),
        name: Some("Long Stay".into()),
        claim_window_hours: Some(48),
        time_zone: Some("UTC".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let now = server.client().get("/_sim/clock").await.body["now"].as_str().unwrap().to_string();
    let today = chrono::NaiveDate::parse_from_str(&now[..10], "%Y-%m-%d").unwrap();
    let checkout = today + chrono::Days::new(20);
    cc.create_booking(&BookingRequest {
        id: "stay20".into(),
        property_id: "long".into(),
        guest_name: "Long Guest".into(),
        guest_email: Some("long@example.com".into()),
        check_in: today.to_string(),
        check_out: checkout.to_string(),
        ..Default::default()
    })
    .await
    .unwrap();
    let first = cc.authorize_booking("stay20", Some("pm_card_visa")).await.unwrap();
    assert_eq!(first.status, "requires_capture");
    (first.hold_id, checkout.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp() + 48 * 3_600)
}

/// Moves the clock a day on, past the idempotency key's life, and waits for
/// the janitor to settle `op` by reading the processor.
pub async fn settled_a_day_later(api: &Api, op: &str) {
    api.advance(24 * 3_600).await;
    for _ in 0..100 {
        if api.get(&format!("/api/operations/{op}")).await.body["status"] == "succeeded" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("operation {op} never settled: {}", api.get(&format!("/api/operations/{op}")).await.text);
}
