//! Every route in the route table (the OpenAPI document the server builds
//! from it) is walked with no token, a read-only token and a token of
//! another property. A route added without a row here fails the test, and
//! no refused call may change anything.

use std::collections::BTreeMap;

use crate::common::{sqlite_db, Api, Server};
use serde_json::{json, Value};

/// What one kind of caller gets: an exact status, or "any 2xx/3xx".
#[derive(Debug, Clone, Copy)]
enum Want {
    Is(u16),
    Ok,
}

impl Want {
    fn matches(self, status: u16) -> bool {
        match self {
            Want::Is(s) => s == status,
            Want::Ok => (200..400).contains(&status),
        }
    }
}

use Want::{Is, Ok};

/// (method, path template, body, no token, read-only token, other property's token).
type Row = (&'static str, &'static str, Value, Want, Want, Want);

fn table() -> Vec<Row> {
    let none = Is(401);
    vec![
        ("get", "/health", json!(null), Ok, Ok, Ok),
        ("get", "/livez", json!(null), Ok, Ok, Ok),
        ("get", "/readyz", json!(null), Ok, Ok, Ok),
        ("post", "/webhook", json!({}), Is(400), Is(400), Is(400)),
        (
            "post",
            "/api/holds",
            json!({"amount": 1000, "description": "x", "property_id": "p1"}),
            none,
            Is(403),
            Is(403),
        ),
        ("get", "/api/holds", json!(null), none, Ok, Ok),
        ("get", "/api/holds/by-chitty-id/{chitty_id}", json!(null), none, Ok, Is(404)),
        ("get", "/api/holds/{id}", json!(null), none, Ok, Is(404)),
        ("get", "/api/holds/{id}/events", json!(null), none, Ok, Is(404)),
        ("post", "/api/holds/{id}/confirm", json!({"payment_method": "pm_card_visa"}), none, Is(403), Is(404)),
        ("post", "/api/holds/{id}/capture", json!({"amount_to_capture": 100}), none, Is(403), Is(404)),
        ("post", "/api/holds/{id}/cancel", json!({}), none, Is(403), Is(404)),
        ("post", "/api/holds/{id}/release", json!({}), none, Is(403), Is(404)),
        ("post", "/api/holds/{id}/increment", json!({"amount": 6000}), none, Is(403), Is(404)),
        ("post", "/api/holds/{id}/refunds", json!({"amount": 100}), none, Is(403), Is(404)),
        ("get", "/api/holds/{id}/refunds", json!(null), none, Ok, Is(404)),
        ("get", "/api/holds/{id}/dispute", json!(null), none, Ok, Is(404)),
        ("get", "/api/holds/{id}/dispute/evidence", json!(null), none, Ok, Is(404)),
        ("post", "/api/holds/{id}/dispute/submit", json!(null), none, Is(403), Is(404)),
        ("get", "/api/disputes", json!(null), none, Ok, Ok),
        ("get", "/api/operations/stuck", json!(null), none, Is(403), Is(403)),
        ("get", "/api/operations/{id}", json!(null), none, Ok, Is(404)),
        ("post", "/api/operations/{id}/resolve", json!({}), none, Is(403), Is(403)),
        ("get", "/api/jobs", json!(null), none, Ok, Is(403)),
        ("post", "/api/properties", json!({"id": "p1", "name": "Renamed", "premium": true}), none, Is(403), Is(403)),
        // Refused before the body is read: no validation error to learn from.
        ("post", "/api/properties", json!({"id": "zz-new", "time_zone": "Mars/Base"}), none, Is(403), Is(403)),
        ("post", "/api/properties", json!("not an object"), none, Is(403), Is(403)),
        ("get", "/api/properties", json!(null), none, Ok, Ok),
        ("get", "/api/properties/{id}", json!(null), none, Ok, Is(404)),
        (
            "post",
            "/api/bookings",
            json!({"id": "bk-new", "property_id": "p1", "guest_name": "G", "check_in": "2026-12-01", "check_out": "2026-12-02"}),
            none,
            Is(403),
            Is(403),
        ),
        ("get", "/api/bookings", json!(null), none, Ok, Ok),
        ("get", "/api/bookings/{id}", json!(null), none, Ok, Is(404)),
        ("post", "/api/bookings/{id}/authorize", json!({}), none, Is(403), Is(404)),
        ("post", "/api/bookings/{id}/checkout", json!({"defer_release": true}), none, Is(403), Is(404)),
        (
            "post",
            "/api/bookings/{id}/claims",
            json!({"damages": [{"amount": 100, "description": "x"}]}),
            none,
            Is(403),
            Is(404),
        ),
        ("get", "/api/notifications", json!(null), none, Is(403), Is(403)),
        // Readers may read reports; without a period they are 400.
        ("get", "/api/reports/holds", json!(null), none, Is(400), Is(400)),
        ("get", "/api/reports/claims", json!(null), none, Is(400), Is(400)),
        (
            "post",
            "/_sim/payment_methods",
            json!({"hold_id": "{id}", "client_secret": "wrong", "card": {"number": "4242424242424242"}}),
            Is(401),
            Is(401),
            Is(401),
        ),
        (
            "post",
            "/_sim/payment_intents/{id}/confirm",
            json!({"payment_method": "pm_card_visa", "client_secret": "wrong"}),
            Is(401),
            Is(401),
            Is(401),
        ),
        (
            "post",
            "/_sim/payment_intents/{id}/authenticate",
            json!({"success": true, "client_secret": "wrong"}),
            Is(401),
            Is(401),
            Is(401),
        ),
        ("post", "/_sim/payment_intents/{id}/dispute", json!({"reason": "fraudulent"}), none, Is(403), Is(403)),
        ("get", "/_sim/payment_intents", json!(null), none, Is(403), Is(403)),
        ("get", "/_sim/payment_intents/{id}", json!(null), none, Is(403), Is(403)),
        ("get", "/_sim/clock", json!(null), none, Is(403), Is(403)),
        ("post", "/_sim/clock", json!({"advance_secs": 1}), none, Is(403), Is(403)),
        ("get", "/checkin/{id}", json!(null), Is(404), Is(404), Is(404)),
        ("get", "/console", json!(null), Ok, Ok, Ok),
        ("post", "/console/login", json!(null), Is(403), Is(403), Is(403)),
        ("post", "/console/logout", json!(null), Ok, Ok, Ok),
        ("get", "/console/holds", json!(null), Is(303), Is(303), Is(303)),
        ("get", "/console/holds/{id}", json!(null), Is(303), Is(303), Is(303)),
        ("post", "/console/holds/{id}/capture", json!(null), Is(303), Is(303), Is(303)),
        ("post", "/console/holds/{id}/release", json!(null), Is(303), Is(303), Is(303)),
        ("post", "/console/holds/{id}/increment", json!(null), Is(303), Is(303), Is(303)),
        ("post", "/console/holds/{id}/refund", json!(null), Is(303), Is(303), Is(303)),
        ("get", "/console/bookings", json!(null), Is(303), Is(303), Is(303)),
        ("get", "/console/notifications", json!(null), Is(303), Is(303), Is(303)),
        ("get", "/console/reports", json!(null), Is(303), Is(303), Is(303)),
        ("get", "/console/disputes", json!(null), Is(303), Is(303), Is(303)),
        ("get", "/console/holds/{id}/evidence", json!(null), Is(303), Is(303), Is(303)),
        ("get", "/openapi.json", json!(null), Ok, Ok, Ok),
        ("get", "/docs", json!(null), Ok, Ok, Ok),
        ("get", "/metrics", json!(null), none, Is(403), Is(403)),
    ]
}

/// What a refused call must not have changed.
async fn snapshot(admin: &Api, hold: &str) -> Value {
    let h = admin.get(&format!("/api/holds/{hold}")).await.body;
    let b = admin.get("/api/bookings/bk-1").await.body;
    let p = admin.get("/api/properties/p1").await.body;
    let holds = admin.get("/api/holds?limit=200").await.body["holds"].as_array().unwrap().len();
    let bookings = admin.get("/api/bookings").await.body["bookings"].as_array().unwrap().len();
    json!({
        "hold": [h["status"], h["amount"], h["amount_captured"], h["version"]],
        "booking": [b["status"], b["hold_id"]],
        "property": [p["name"], p["premium"], p["claim_window_hours"]],
        "counts": [holds, bookings],
    })
}

#[tokio::test]
async fn every_route_refuses_callers_without_the_scope_or_the_property_and_changes_nothing() {
    // Many calls without a token on purpose: the failed-authentication
    // limit is not what this test is about.
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE", "10000")]);
    let admin = server.client();
    let r = admin.post("/api/properties", json!({"id": "p1", "name": "One"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.post("/api/holds", json!({"amount": 5000, "description": "x", "property_id": "p1", "payment_method": "pm_card_visa", "confirm": true})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let hold = r.body["id"].as_str().unwrap().to_string();
    let chitty = r.body["chitty_id"].as_str().unwrap().to_string();
    let r = admin.post("/api/bookings", json!({"id": "bk-1", "property_id": "p1", "guest_name": "G", "check_in": "2026-12-01", "check_out": "2026-12-04"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r =
        admin.post("/api/bookings/bk-1/authorize", json!({"payment_method": "pm_card_visa", "confirm": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let events = admin.get(&format!("/api/holds/{hold}/events")).await.body;
    let op =
        events.to_string().split("\"operation_id\":\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();

    // Redirects are answers here (a page without a session sends the
    // browser to the sign-in page), not something to follow.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap();
    let caller = |token: Option<String>| Api { http: plain.clone(), base: server.base.clone(), token };
    let callers = [
        ("no token", caller(None)),
        ("read-only", caller(Some(crate::common::token(&server.db, &["--scope", "holds:read"])))),
        (
            "other property",
            caller(Some(crate::common::token(&server.db, &["--scope", "holds:write", "--property", "p2"]))),
        ),
    ];

    // The route table as the server publishes it: every operation has a row.
    let doc = admin.get("/openapi.json").await.body;
    let rows: BTreeMap<(String, String), Row> =
        table().into_iter().map(|r| ((r.0.to_string(), r.1.to_string()), r)).collect();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if !rows.contains_key(&(method.clone(), path.clone())) {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "routes without a row in the authority table: {missing:?}");

    let before = snapshot(&admin, &hold).await;
    let mut wrong = Vec::new();
    for (method, template, body, want_none, want_read, want_other) in table() {
        let id = if template.starts_with("/api/bookings/") {
            "bk-1"
        } else if template.starts_with("/api/operations/") {
            &op
        } else if template.starts_with("/api/properties/") {
            "p1"
        } else {
            &hold
        };
        let path = template.replace("{id}", id).replace("{chitty_id}", &chitty);
        let text = (!body.is_null()).then(|| body.to_string().replace("{id}", id));
        for ((who, api), want) in callers.iter().zip([want_none, want_read, want_other]) {
            let r = api.raw(&method.to_uppercase(), &path, text.as_deref(), &[]).await;
            if !want.matches(r.status) {
                wrong.push(format!("{method} {path} as {who}: {} (wanted {want:?}) {}", r.status, r.text));
            }
            if r.status >= 500 {
                wrong.push(format!("{method} {path} as {who}: server error {}", r.text));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(snapshot(&admin, &hold).await, before, "a refused call changed something");
}
