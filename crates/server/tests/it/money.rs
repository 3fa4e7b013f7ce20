//! Money at the seams: checked damage totals, tier limits that mean the same
//! value in every currency, and a guest history a caller cannot fake.

use crate::common::{authorize, booking, property, sqlite_db, Server};
use serde_json::json;

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
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("lines")), "{}", r.text);
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
async fn a_body_that_names_an_amount_twice_is_refused_and_captures_nothing() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let hold = api.authorized_hold(10_000).await;
    // Another parser (a proxy, a log) could read the first value; we would
    // have read the last. Neither is taken.
    for body in [
        r#"{"amount_to_capture":100,"amount_to_capture":200}"#,
        r#"{"lines":[{"amount":100,"description":"lamp","amount":9000}]}"#,
    ] {
        let r = api.raw("POST", &format!("/api/holds/{hold}/capture"), Some(body), &[]).await;
        assert_eq!((r.status, r.body["code"].as_str()), (400, Some("invalid_json")), "{body}: {}", r.text);
        assert!(r.text.contains("duplicate key"), "{}", r.text);
    }
    let h = api.get(&format!("/api/holds/{hold}")).await.body;
    assert_eq!((h["status"].as_str(), h["amount_captured"].as_i64()), (Some("requires_capture"), Some(0)));
}

/// A client's NaN, Infinity or unfilled value arrives as `null`. Where
/// leaving a field out means "all of it", `null` must not.
#[tokio::test]
async fn a_null_amount_or_null_lines_never_capture_refund_or_release_everything() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let hold = api.authorized_hold(25_000).await;
    for (body, field) in [
        (json!({"amount_to_capture": null}), "amount_to_capture"),
        (json!({"amount": null}), "amount"),
        (json!({"lines": null}), "lines"),
        (json!({"amount_to_capture": null, "reason": "lamp 20.00"}), "amount_to_capture"),
    ] {
        let r = api.post(&format!("/api/holds/{hold}/capture"), body.clone()).await;
        assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some(field)), "{body}: {}", r.text);
    }
    let h = api.get(&format!("/api/holds/{hold}")).await.body;
    assert_eq!((h["status"].as_str(), h["amount_captured"].as_i64()), (Some("requires_capture"), Some(0)), "{h}");

    let r = api.post(&format!("/api/holds/{hold}/capture"), json!({"amount_to_capture": 10_000})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (body, field) in [(json!({"amount": null}), "amount"), (json!({"lines": null}), "lines")] {
        let r = api.post(&format!("/api/holds/{hold}/refunds"), body.clone()).await;
        assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some(field)), "{body}: {}", r.text);
    }
    assert_eq!(api.get(&format!("/api/holds/{hold}")).await.body["amount_refunded"], 0);

    property(&api, "reef", json!({})).await;
    booking(&api, "reef", "bk-null").await;
    let (s, a) = authorize(&api, "bk-null").await;
    assert_eq!(s, 200, "{a}");
    let r = api.post("/api/bookings/bk-null/checkout", json!({"damages": null})).await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("damages")), "{}", r.text);
    assert_eq!(api.get("/api/bookings/bk-null").await.body["status"], "hold_active");
}

/// Stripe moves KWD and BHD only in multiples of ten fils. Create already
/// refused 2005 fils; a capture, a refund or a new total must too, or the
/// call would fail at Stripe with the hold half-way.
#[tokio::test]
async fn three_decimal_currencies_capture_refund_and_increment_only_in_tens_of_minor_units() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let new_hold = || {
        api.post(
            "/api/holds",
            json!({"amount": 2_000, "currency": "kwd", "description": "x", "payment_method": "pm_card_visa",
                   "confirm": true, "incremental_authorization": true}),
        )
    };
    let hold = new_hold().await.body["id"].as_str().unwrap().to_string();
    let r = api.post(&format!("/api/holds/{hold}/increment"), json!({"amount": 2_005})).await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("amount")), "{}", r.text);
    let r = api.post(&format!("/api/holds/{hold}/capture"), json!({"amount_to_capture": 1_235})).await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("amount_to_capture")), "{}", r.text);
    let r = api
        .post(&format!("/api/holds/{hold}/capture"), json!({"lines": [{"amount": 1_235, "description": "lamp"}]}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let h = api.get(&format!("/api/holds/{hold}")).await.body;
    assert_eq!((h["status"].as_str(), h["amount"].as_i64()), (Some("requires_capture"), Some(2_000)), "{h}");

    let r = api.post(&format!("/api/holds/{hold}/capture"), json!({"amount_to_capture": 1_230})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.post(&format!("/api/holds/{hold}/refunds"), json!({"amount": 7})).await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("amount")), "{}", r.text);
    assert_eq!(api.get(&format!("/api/holds/{hold}")).await.body["amount_refunded"], 0);
    let r = api.post(&format!("/api/holds/{hold}/refunds"), json!({"amount": 10})).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// A misspelled field reads as absent, and an absent amount means "all of
/// it": `amountToCapture` (the seeds' client spells it so) would capture
/// the whole hold. Fields a money request does not take are refused.
#[tokio::test]
async fn a_misspelled_field_never_captures_refunds_or_releases_everything() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let hold = api.authorized_hold(25_000).await;
    for (body, field) in [
        (json!({"amountToCapture": 7_500, "reason": "Broken lamp"}), "amountToCapture"),
        (json!({"capture_amount": 5_000}), "capture_amount"),
        (json!({"damages": [{"amount": 5_000, "description": "lamp"}]}), "damages"),
    ] {
        let r = api.post(&format!("/api/holds/{hold}/capture"), body.clone()).await;
        assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some(field)), "{body}: {}", r.text);
    }
    assert_eq!(api.get(&format!("/api/holds/{hold}")).await.body["amount_captured"], 0);
    let r =
        api.post(&format!("/api/holds/{hold}/capture"), json!({"amount_to_capture": 10_000, "reason": "lamp"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for body in [json!({"amout": 1_000}), json!({"refund_amount": 5_000})] {
        let r = api.post(&format!("/api/holds/{hold}/refunds"), body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    assert_eq!(api.get(&format!("/api/holds/{hold}")).await.body["amount_refunded"], 0);

    property(&api, "reef", json!({})).await;
    booking(&api, "reef", "bk-typo").await;
    let (s, a) = authorize(&api, "bk-typo").await;
    assert_eq!(s, 200, "{a}");
    for (body, field) in [
        (json!({"lines": [{"amount": 5_000, "description": "lamp"}]}), "lines"),
        (json!({"deferRelease": true}), "deferRelease"),
        (json!({"defer_release": null}), "defer_release"),
    ] {
        let r = api.post("/api/bookings/bk-typo/checkout", body.clone()).await;
        assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some(field)), "{body}: {}", r.text);
    }
    assert_eq!(api.get("/api/bookings/bk-typo").await.body["status"], "hold_active");
    // What was always accepted still is.
    let r = api.post("/api/bookings/bk-typo/checkout", json!({"damages": [], "defer_release": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_misspelled_field_of_a_line_an_increment_or_a_property_is_refused_not_ignored() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let id = api.authorized_hold(10_000).await;
    let line =
        json!({"lines": [{"amount": 1_000, "description": "Lamp", "evidence_url": "https://example.com/lamp.jpg"}]});
    let r = api.post(&format!("/api/holds/{id}/capture"), line).await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("lines[0].evidence_url")), "{}", r.text);
    let r = api.post(&format!("/api/holds/{id}/increment"), json!({"amount": 20_000, "amout": 1})).await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("amout")), "{}", r.text);
    let hold = api.get(&format!("/api/holds/{id}")).await.body;
    assert_eq!((hold["amount"].as_i64(), hold["amount_captured"].as_i64()), (Some(10_000), Some(0)), "{hold}");

    assert_eq!(
        api.post("/api/properties", json!({"id": "dune", "name": "Dune", "default_hold_amount": 40_000})).await.status,
        201
    );
    let r = api.post("/api/properties", json!({"id": "dune", "defualt_hold_amount": 10_000})).await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("defualt_hold_amount")), "{}", r.text);
    assert_eq!(api.get("/api/properties/dune").await.body["default_hold_amount"], 40_000);
}
