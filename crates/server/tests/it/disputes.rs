//! Disputes: the bank's dispute of a captured booking hold reaches the
//! hold (simulator and Stripe emulator), the operator is told, the evidence
//! packet carries the stay, the disclosure, the claim's lines with their
//! evidence links, the emails and the timeline, and the submission reaches
//! the processor once however often it is asked for.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{authorize, booking, lost_capture, property, sqlite_db, token, Api, Emulator, Proc, Server, Setup};

const LAMP: &str = "Broken <b>lamp</b>";

/// A booking's hold, checked out with two damage lines, then disputed.
async fn disputed_booking_hold(server: &Server) -> String {
    let api = server.client();
    property(&api, "4b", json!({})).await;
    booking(&api, "4b", "bk-1").await;
    let (status, auth) = authorize(&api, "bk-1").await;
    assert_eq!(status, 200, "{auth}");
    let hold = auth["hold_id"].as_str().unwrap().to_string();
    let damages = json!({"damages": [
        {"amount": 5_000, "description": LAMP, "evidence_urls": ["https://photos.example/lamp.jpg"]},
        {"amount": 2_500, "description": "Carpet cleaning"},
    ]});
    let r = api.post("/api/bookings/bk-1/checkout", damages).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.post(&format!("/_sim/payment_intents/{hold}/dispute"), json!({"reason": "fraudulent"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    wait_for_status(&api, &hold, "needs_response").await;
    hold
}

async fn wait_for_status(api: &Api, hold: &str, status: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = api.get(&format!("/api/holds/{hold}/dispute")).await.body;
        if last["disputes"].as_array().and_then(|d| d.last()).is_some_and(|d| d["status"] == status) {
            return last["disputes"].as_array().unwrap().last().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hold's dispute never became {status}: {last}");
}

#[tokio::test]
async fn a_disputed_booking_hold_gets_a_packet_with_the_claim_and_one_submission_however_often_asked() {
    let server = Server::start_with(sqlite_db(), &[("OPERATOR_EMAIL", "ops@example.com")]);
    let api = server.client();
    let hold = disputed_booking_hold(&server).await;

    let d = wait_for_status(&api, &hold, "needs_response").await;
    assert_eq!(
        (d["reason"].as_str(), d["amount"].as_i64(), d["funds_withdrawn"].as_bool()),
        (Some("fraudulent"), Some(7_500), Some(true)),
        "{d}"
    );
    assert!(d["evidence_due_by"].is_string(), "{d}");
    let held = api.get(&format!("/api/holds/{hold}")).await.body;
    assert_eq!(
        (held["dispute"]["status"].as_str(), held["dispute"]["reason"].as_str()),
        (Some("needs_response"), Some("fraudulent")),
        "{held}"
    );
    let open = api.get("/api/disputes").await.body;
    assert_eq!(open["disputes"][0]["hold_id"], hold.as_str(), "{open}");
    let outbox = api.get("/api/notifications").await.text;
    assert!(
        outbox.contains("\"kind\":\"dispute_opened\"") && outbox.contains("ops@example.com"),
        "the operator is told: {outbox}"
    );

    let p = api.get(&format!("/api/holds/{hold}/dispute/evidence")).await.body;
    assert_eq!(
        (p["booking"]["id"].as_str(), p["booking"]["check_in"].as_str()),
        (Some("bk-1"), Some("2026-12-01")),
        "{p}"
    );
    assert!(p["booking"]["checked_in_at"].is_string() && p["booking"]["checked_out_at"].is_string(), "{p}");
    assert!(p["disclosure"]["text"].as_str().unwrap().contains("authorization hold of $250.00"), "{p}");
    assert!(p["disclosure"]["authorized_at"].is_string(), "{p}");
    assert_eq!(
        p["damage_lines"],
        json!([
            {"description": LAMP, "amount": 5_000, "evidence_urls": ["https://photos.example/lamp.jpg"]},
            {"description": "Carpet cleaning", "amount": 2_500, "evidence_urls": []},
        ])
    );
    let kinds: Vec<&str> = p["emails"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"hold_placed") && kinds.contains(&"damage_charged"), "{kinds:?}");
    assert!(!kinds.contains(&"dispute_opened"), "the operator's own notice is not evidence: {kinds:?}");
    // The booking's card was confirmed by the operator's system, not on the
    // guest's page: the packet does not claim the guest read the disclosure.
    assert_eq!(p["disclosure"]["shown_on"], "none", "{p}");
    // created and funds_withdrawn arrive together: one change, one entry.
    assert_eq!(p["timeline"].to_string().matches("dispute_needs_response").count(), 1, "{}", p["timeline"]);
    let timeline = p["timeline"].to_string();
    assert!(
        timeline.contains("\"authorized\"")
            && timeline.contains("\"captured\"")
            && timeline.contains("dispute_needs_response"),
        "{timeline}"
    );

    let page = api.raw("GET", &format!("/api/holds/{hold}/dispute/evidence"), None, &[("Accept", "text/html")]).await;
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text.contains("Broken &lt;b&gt;lamp&lt;") && !page.text.contains("<b>lamp"), "escaped: {}", page.text);
    // minijinja escapes "/" too; a browser reads the entity back.
    assert!(page.text.contains("<a href=\"https:&#x2f;&#x2f;photos.example&#x2f;lamp.jpg\""), "{}", page.text);

    let first =
        api.raw("POST", &format!("/api/holds/{hold}/dispute/submit"), None, &[("Idempotency-Key", "ev-1")]).await;
    assert_eq!((first.status, first.body["status"].as_str()), (200, Some("under_review")), "{}", first.text);
    assert!(first.body["submitted_at"].is_string());
    let replay =
        api.raw("POST", &format!("/api/holds/{hold}/dispute/submit"), None, &[("Idempotency-Key", "ev-1")]).await;
    assert_eq!((replay.status, replay.body["status"].as_str()), (200, Some("under_review")), "{}", replay.text);
    let again = api.post(&format!("/api/holds/{hold}/dispute/submit"), json!({})).await;
    assert_eq!((again.status, again.body["code"].as_str()), (409, Some("invalid_state")), "{}", again.text);
    let at_processor = api.get(&format!("/_sim/payment_intents/{hold}")).await.body;
    assert_eq!(at_processor["dispute"]["submission_count"], 1, "reached the processor once: {at_processor}");
    assert!(at_processor["dispute"]["evidence"]["uncategorized_text"]
        .as_str()
        .unwrap()
        .contains("photos.example/lamp.jpg"));
    assert_eq!(at_processor["dispute"]["evidence"]["service_date"], "2026-12-01");

    let r = api.post(&format!("/_sim/payment_intents/{hold}/dispute"), json!({"close": "won"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let won = wait_for_status(&api, &hold, "won").await;
    assert_eq!(won["funds_withdrawn"], false, "{won}");
    assert_eq!(api.get("/api/disputes").await.body["disputes"], json!([]), "a decided dispute is not open");
}

#[tokio::test]
async fn dispute_evidence_is_read_with_the_read_scope_and_sent_only_with_the_write_scope_of_the_property() {
    let server = Server::start(sqlite_db());
    let hold = disputed_booking_hold(&server).await;
    let reader = server.client().with_token(&token(&server.db, &["--scope", "holds:read"]));
    let other = server.client().with_token(&token(&server.db, &["--scope", "holds:write", "--property", "p2"]));
    assert_eq!(reader.get(&format!("/api/holds/{hold}/dispute/evidence")).await.status, 200);
    assert_eq!(reader.post(&format!("/api/holds/{hold}/dispute/submit"), json!({})).await.status, 403);
    assert_eq!(other.get(&format!("/api/holds/{hold}/dispute/evidence")).await.status, 404);
    assert_eq!(other.post(&format!("/api/holds/{hold}/dispute/submit"), json!({})).await.status, 404);
    assert_eq!(
        other.get("/api/disputes").await.body["disputes"],
        json!([]),
        "another property's disputes are not listed"
    );
    let bad =
        server.client().post(&format!("/_sim/payment_intents/{hold}/dispute"), json!({"reason": "<script>"})).await;
    assert_eq!((bad.status, bad.body["details"]["field"].as_str()), (400, Some("reason")));
    let twice =
        server.client().post(&format!("/_sim/payment_intents/{hold}/dispute"), json!({"reason": "general"})).await;
    assert_eq!(twice.status, 409, "one dispute per charge: {}", twice.text);
    // While the bank holds the money, and after it took it, nothing is refunded.
    let refund = server.client().post(&format!("/api/holds/{hold}/refunds"), json!({"amount": 100})).await;
    assert_eq!((refund.status, refund.body["code"].as_str()), (409, Some("invalid_state")), "{}", refund.text);
    let lost = server.client().post(&format!("/_sim/payment_intents/{hold}/dispute"), json!({"close": "lost"})).await;
    assert_eq!(lost.status, 200, "{}", lost.text);
    wait_for_status(&server.client(), &hold, "lost").await;
    let after = server.client().post(&format!("/api/holds/{hold}/refunds"), json!({})).await;
    assert_eq!(after.status, 409, "a lost dispute's money is gone: {}", after.text);
    let again = server.client().post(&format!("/_sim/payment_intents/{hold}/dispute"), json!({"close": "won"})).await;
    assert_eq!(again.status, 409, "decided once: {}", again.text);
    assert_eq!(server.client().get(&format!("/api/holds/{hold}")).await.body["amount_refunded"], 0);
    let fmt = server.client().get(&format!("/api/holds/{hold}/dispute/evidence?format=pdf")).await;
    assert_eq!((fmt.status, fmt.body["details"]["field"].as_str()), (400, Some("format")));
    // Nothing was sent by the refused calls.
    let d = server.client().get(&format!("/_sim/payment_intents/{hold}")).await.body;
    assert_eq!(d["dispute"]["submission_count"], 0, "{d}");
}

#[tokio::test]
async fn a_submission_whose_answer_is_lost_is_settled_by_the_janitor_from_the_processor() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_JOBS_INTERVAL_MS", "100")]);
    let api = server.client();
    let (hold, capture) = lost_capture(&api).await;
    crate::common::settled_a_day_later(&api, &capture).await;
    let r = api.post(&format!("/_sim/payment_intents/{hold}/dispute"), json!({"reason": "product_unacceptable"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    wait_for_status(&api, &hold, "needs_response").await;
    let lost = api.post(&format!("/api/holds/{hold}/dispute/submit"), json!({})).await;
    assert_eq!((lost.status, lost.body["code"].as_str()), (503, Some("processor_outcome_unknown")), "{}", lost.text);
    let op = lost.body["details"]["operation_id"].as_str().unwrap().to_string();
    crate::common::settled_a_day_later(&api, &op).await;
    let d = wait_for_status(&api, &hold, "under_review").await;
    assert!(d["submitted_at"].is_string(), "{d}");
    assert_eq!(api.get(&format!("/_sim/payment_intents/{hold}")).await.body["dispute"]["submission_count"], 1);
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn through_stripe_a_dispute_arrives_by_webhook_and_the_evidence_reaches_stripe_once() {
    let setup = Setup { db: sqlite_db(), proc: Proc::Stripe(Emulator::start()) };
    let server = setup.start().await;
    let Proc::Stripe(emu) = &setup.proc else { unreachable!() };
    let api = server.client();
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 25_000, "description": "Incidentals", "customer_email": "guest@example.com",
                   "payment_method": "pm_card_visa", "confirm": true}),
        )
        .await;
    let hold = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(api.post(&format!("/api/holds/{hold}/capture"), json!({"amount_to_capture": 6_000})).await.status, 200);
    let http = reqwest::Client::new();
    let opened: Value = http
        .post(format!("{}/_config/disputes", emu.url()))
        .form(&[("payment_intent", hold.as_str()), ("reason", "fraudulent")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dispute = opened["id"].as_str().unwrap().to_string();
    let d = wait_for_status(&api, &hold, "needs_response").await;
    assert_eq!((d["id"].as_str(), d["amount"].as_i64()), (Some(dispute.as_str()), Some(6_000)), "{d}");

    let first = api.post(&format!("/api/holds/{hold}/dispute/submit"), json!({})).await;
    assert_eq!((first.status, first.body["status"].as_str()), (200, Some("under_review")), "{}", first.text);
    let again = api.post(&format!("/api/holds/{hold}/dispute/submit"), json!({})).await;
    assert_eq!(again.status, 409, "{}", again.text);
    let at_stripe: Value = http
        .get(format!("{}/v1/disputes/{dispute}", emu.url()))
        .basic_auth("sk_test_chittycharge", Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(at_stripe["evidence_details"]["submission_count"], 1, "{at_stripe}");
    assert_eq!(at_stripe["evidence"]["customer_email_address"], "guest@example.com");
    assert!(at_stripe["evidence"]["uncategorized_text"].as_str().unwrap().contains(&hold), "{at_stripe}");

    let closed = http
        .post(format!("{}/_config/disputes/{dispute}/close", emu.url()))
        .form(&[("won", "false")])
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success());
    let lost = wait_for_status(&api, &hold, "lost").await;
    assert_eq!(lost["open"], false, "{lost}");
}
