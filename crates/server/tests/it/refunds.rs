//! Refunds of captured money on every processor: in part and then the
//! rest, never more than was captured, by the holders of the right token
//! only, once however many ask at once, and settled by the janitor when
//! the processor's answer is lost.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{lost_capture, setups, sqlite_db, token, Proc, Server};

/// A 250.00 hold with 100.00 captured and the guest's email.
async fn captured_hold(server: &Server) -> String {
    let api = server.client();
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 25_000, "description": "Incidentals", "customer_email": "guest@example.com",
                   "property_id": "p1", "payment_method": "pm_card_visa", "confirm": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": 10_000})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

#[ignore = "needs PostgreSQL and the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn a_partial_capture_is_refunded_in_part_then_the_rest_and_a_further_refund_is_409_on_every_processor() {
    for setup in setups() {
        let name = setup.name();
        let server = setup.start().await;
        let api = server.client();
        let id = captured_hold(&server).await;

        let too_much = api.post(&format!("/api/holds/{id}/refunds"), json!({"amount": 10_001})).await;
        assert_eq!(
            (too_much.status, too_much.body["code"].as_str()),
            (409, Some("amount_exceeds_refundable")),
            "{name}: {}",
            too_much.text
        );
        assert_eq!(too_much.body["details"]["refundable"], 10_000, "{name}");

        let first = api
            .post(
                &format!("/api/holds/{id}/refunds"),
                json!({"reason": "requested_by_customer", "lines": [{"amount": 4_000, "description": "Lamp was already broken"}]}),
            )
            .await;
        assert_eq!(first.status, 201, "{name}: {}", first.text);
        assert_eq!(
            (first.body["refund"]["amount"].as_i64(), first.body["refund"]["status"].as_str()),
            (Some(4_000), Some("succeeded")),
            "{name}"
        );
        assert_eq!(first.body["refund"]["lines"][0]["description"], "Lamp was already broken", "{name}");
        assert_eq!(
            (first.body["hold"]["amount_refunded"].as_i64(), first.body["hold"]["status"].as_str()),
            (Some(4_000), Some("captured")),
            "{name}"
        );

        let rest = api.post(&format!("/api/holds/{id}/refunds"), json!({})).await;
        assert_eq!((rest.status, rest.body["refund"]["amount"].as_i64()), (201, Some(6_000)), "{name}: {}", rest.text);
        assert_eq!(rest.body["hold"]["amount_refunded"], 10_000, "{name}");

        let further = api.post(&format!("/api/holds/{id}/refunds"), json!({"amount": 1})).await;
        assert_eq!(
            (further.status, further.body["code"].as_str()),
            (409, Some("amount_exceeds_refundable")),
            "{name}: {}",
            further.text
        );
        assert_eq!(further.body["details"]["refundable"], 0, "{name}");

        let list = api.get(&format!("/api/holds/{id}/refunds")).await.body;
        let amounts: Vec<i64> =
            list["refunds"].as_array().unwrap().iter().map(|r| r["amount"].as_i64().unwrap()).collect();
        assert_eq!(amounts, [4_000, 6_000], "{name}: {list}");
        let hold = api.get(&format!("/api/holds/{id}")).await.body;
        assert_eq!(
            (hold["amount_captured"].as_i64(), hold["amount_refunded"].as_i64()),
            (Some(10_000), Some(10_000)),
            "{name}"
        );
        let events = api.get(&format!("/api/holds/{id}/events")).await.text;
        assert_eq!(events.matches("\"kind\":\"refunded\"").count(), 2, "{name}: {events}");
        let outbox = api.get("/api/notifications").await.text;
        assert_eq!(outbox.matches("\"kind\":\"refund_issued\"").count(), 2, "{name}: one email per refund: {outbox}");

        if let Proc::Stripe(emu) = &setup.proc {
            let pi = emu.intent(&id).await;
            let charge = pi["latest_charge"].as_str().unwrap().to_string();
            let refunds: Value = reqwest::Client::new()
                .get(format!("{}/v1/refunds?charge={charge}", emu.url()))
                .basic_auth("sk_test_chittycharge", Some(""))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let mut at_stripe: Vec<i64> =
                refunds["data"].as_array().unwrap().iter().map(|r| r["amount"].as_i64().unwrap()).collect();
            at_stripe.sort_unstable();
            assert_eq!(at_stripe, [4_000, 6_000], "{name}: each refund reached Stripe once: {refunds}");
        }

        // Only captured money: an authorized hold is not refundable.
        let held = api.authorized_hold(5_000).await;
        let r = api.post(&format!("/api/holds/{held}/refunds"), json!({})).await;
        assert_eq!((r.status, r.body["code"].as_str()), (409, Some("invalid_state")), "{name}: {}", r.text);
    }
}

#[tokio::test]
async fn refunds_need_a_writing_token_of_the_holds_property_and_bad_amounts_are_400() {
    let server = Server::start(sqlite_db());
    let id = captured_hold(&server).await;
    let path = format!("/api/holds/{id}/refunds");
    let reader = token(&server.db, &["--scope", "holds:read"]);
    let other = token(&server.db, &["--scope", "holds:write", "--property", "p2"]);
    assert_eq!(server.client().with_token(&reader).post(&path, json!({"amount": 100})).await.status, 403);
    assert_eq!(server.client().with_token(&other).post(&path, json!({"amount": 100})).await.status, 404);
    assert_eq!(server.client().with_token(&other).get(&path).await.status, 404);
    assert_eq!(server.anon().post(&path, json!({"amount": 100})).await.status, 401);
    // A reader may list them.
    assert_eq!(server.client().with_token(&reader).get(&path).await.status, 200);
    for (body, field) in [
        (json!({"amount": 0}), "amount"),
        (json!({"amount": -5}), "amount"),
        (json!({"amount": "12"}), "amount"),
        (json!({"amount": 100, "lines": [{"amount": 50, "description": "x"}]}), "lines"),
        (json!({"reason": "\u{202e}evil"}), "reason"),
    ] {
        let r = server.client().post(&path, body.clone()).await;
        assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some(field)), "{body}: {}", r.text);
    }
    let h = server.client().get(&format!("/api/holds/{id}")).await.body;
    assert_eq!(h["amount_refunded"], 0, "nothing refused was refunded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_refunds_at_once_never_refund_more_than_was_captured() {
    let server = Server::start(sqlite_db());
    let id = captured_hold(&server).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let api = server.client();
        let path = format!("/api/holds/{id}/refunds");
        tasks.push(tokio::spawn(async move { api.post(&path, json!({"amount": 3_000})).await.status }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            201 => created += 1,
            409 => {}
            other => panic!("a racing refund answered {other}"),
        }
    }
    assert!((1..=3).contains(&created), "{created} refunds of 30.00 from 100.00 captured");
    let h = server.client().get(&format!("/api/holds/{id}")).await.body;
    assert_eq!(h["amount_refunded"].as_i64(), Some(3_000 * created), "{h}");
    let listed = server.client().get(&format!("/api/holds/{id}/refunds")).await.body;
    let succeeded = listed["refunds"].as_array().unwrap().iter().filter(|r| r["status"] == "succeeded").count();
    assert_eq!(i64::try_from(succeeded).unwrap(), created, "{listed}");
}

#[tokio::test]
async fn a_refund_whose_answer_is_lost_is_settled_by_the_janitor_once() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_JOBS_INTERVAL_MS", "100")]);
    let api = server.client();
    // The simulator's lost-answers card loses every answer, a re-issue's
    // too: the janitor settles each operation by reading the processor once
    // a day has passed. The capture's first.
    let (id, capture_op) = lost_capture(&api).await;
    crate::common::settled_a_day_later(&api, &capture_op).await;
    let r = api.post(&format!("/api/holds/{id}/refunds"), json!({"amount": 500, "reason": "goodwill"})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (503, Some("processor_outcome_unknown")), "{}", r.text);
    let op = r.body["details"]["operation_id"].as_str().unwrap().to_string();
    let listed = api.get(&format!("/api/holds/{id}/refunds")).await.body;
    assert_eq!(listed["refunds"][0]["status"], "unknown", "{listed}");
    // While it is unknown nobody else may act on the hold.
    let busy = api.post(&format!("/api/holds/{id}/refunds"), json!({"amount": 500})).await;
    assert_eq!(busy.body["code"], "operation_in_progress", "{}", busy.text);

    crate::common::settled_a_day_later(&api, &op).await;
    let h = api.get(&format!("/api/holds/{id}")).await.body;
    assert_eq!((h["amount_captured"].as_i64(), h["amount_refunded"].as_i64()), (Some(2_000), Some(500)), "{h}");
    let intent = api.get(&format!("/_sim/payment_intents/{id}")).await.body;
    assert_eq!(intent["amount_refunded"], 500, "refunded once at the processor: {intent}");
    let listed = api.get(&format!("/api/holds/{id}/refunds")).await.body;
    assert_eq!(listed["refunds"][0]["status"], "succeeded", "{listed}");
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn a_refund_made_at_stripe_reaches_the_hold_through_the_webhook() {
    let setup = crate::common::Setup { db: sqlite_db(), proc: Proc::Stripe(crate::common::Emulator::start()) };
    let server = setup.start().await;
    let Proc::Stripe(emu) = &setup.proc else { unreachable!() };
    let id = captured_hold(&server).await;
    // Someone refunds in Stripe's Dashboard, not through us.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/refunds", emu.url()))
        .basic_auth("sk_test_chittycharge", Some(""))
        .form(&[("payment_intent", id.as_str()), ("amount", "2500")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    // The list reads the store without asking Stripe: a change there came
    // from the webhook.
    let api = server.client();
    let mut seen = Value::Null;
    for _ in 0..300 {
        let list = api.get("/api/holds?status=captured").await.body;
        seen = list["holds"].as_array().unwrap().iter().find(|h| h["id"] == id.as_str()).cloned().unwrap_or_default();
        if seen["amount_refunded"] == 2_500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen["amount_refunded"], 2_500, "{seen}");
    let events = api.get(&format!("/api/holds/{id}/events")).await.text;
    assert!(events.contains("\"kind\":\"refunded\""), "{events}");
    // And our own refunds count what Stripe refunded: 75.00 is left.
    let r = api.post(&format!("/api/holds/{id}/refunds"), json!({"amount": 7_501})).await;
    assert_eq!(r.body["details"]["refundable"], 7_500, "{}", r.text);
}

/// A console session for `token` and the CSRF field of `hold`'s page.
async fn console(server: &Server, token: &str, hold: &str) -> (reqwest::Client, String, String, String) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = crate::console::sign_in(&http, &server.base, token).await;
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = http
        .get(format!("{}/console/holds/{hold}", server.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    (http, session, csrf, page)
}

#[tokio::test]
async fn the_console_refunds_with_a_reason_and_refuses_forged_or_unauthorized_forms() {
    let server = Server::start(sqlite_db());
    let id = captured_hold(&server).await;
    let url = format!("{}/console/holds/{id}/refund", server.base);
    let (http, session, csrf, page) = console(&server, crate::common::TEST_TOKEN, &id).await;
    assert!(page.contains(&format!("action=\"/console/holds/{id}/refund\"")), "a captured hold offers a refund");
    let post = |fields: Vec<(&'static str, String)>| http.post(&url).header("cookie", &session).form(&fields).send();

    let forged =
        post(vec![("csrf", "forged".into()), ("amount", "10.00".into()), ("reason", "goodwill".into())]).await.unwrap();
    assert_eq!(forged.status(), 403);
    let no_reason =
        post(vec![("csrf", csrf.clone()), ("amount", "10.00".into()), ("reason", " ".into())]).await.unwrap();
    assert_eq!(no_reason.status(), 422);
    let hostile =
        post(vec![("csrf", csrf.clone()), ("amount", "10.00".into()), ("reason", "ok\u{202e}".into())]).await.unwrap();
    assert_eq!(hostile.status(), 422);
    let long =
        post(vec![("csrf", csrf.clone()), ("amount", "10.00".into()), ("reason", "x".repeat(501))]).await.unwrap();
    assert_eq!(long.status(), 422, "the API's 500-character limit");
    let too_much =
        post(vec![("csrf", csrf.clone()), ("amount", "100.01".into()), ("reason", "goodwill".into())]).await.unwrap();
    assert_eq!(too_much.status(), 422);
    assert_eq!(
        server.client().get(&format!("/api/holds/{id}")).await.body["amount_refunded"],
        0,
        "nothing refused was refunded"
    );

    // Every page carries a one-time key: a post without one is not from a
    // page, and would refund again on every post.
    let keyless =
        post(vec![("csrf", csrf.clone()), ("amount", "10.00".into()), ("reason", "goodwill".into())]).await.unwrap();
    assert_eq!(keyless.status(), 422);
    assert!(keyless.text().await.unwrap().contains("reload the page"));
    assert_eq!(server.client().get(&format!("/api/holds/{id}")).await.body["amount_refunded"], 0);

    let key_of =
        |page: &str| page.split("name=\"form_key\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let ok = post(vec![
        ("csrf", csrf.clone()),
        ("form_key", key_of(&page)),
        ("amount", "10.00".into()),
        ("reason", "<script>alert(1)</script>".into()),
    ])
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    let text = ok.text().await.unwrap();
    assert!(text.contains("Refunded $10.00."), "{text}");
    assert!(!text.contains("<script>alert(1)"), "the reason is shown escaped");
    assert_eq!(server.client().get(&format!("/api/holds/{id}")).await.body["amount_refunded"], 1_000);
    // A double click or a reload sends the form's one-time key again: once.
    let (_, _, _, page) = console(&server, crate::common::TEST_TOKEN, &id).await;
    let key = key_of(&page);
    for _ in 0..2 {
        let r = post(vec![
            ("csrf", csrf.clone()),
            ("form_key", key.clone()),
            ("amount", "5.00".into()),
            ("reason", "goodwill".into()),
        ])
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(server.client().get(&format!("/api/holds/{id}")).await.body["amount_refunded"], 1_500, "refunded once");
    // The same key with another amount, or blank, is not that form: it is
    // neither refunded nor told "Refunded $5.00."
    for amount in ["50.00", ""] {
        let r = post(vec![
            ("csrf", csrf.clone()),
            ("form_key", key.clone()),
            ("amount", amount.into()),
            ("reason", "goodwill".into()),
        ])
        .await
        .unwrap();
        let text = r.text().await.unwrap();
        assert!(!text.contains("Refunded $"), "{amount:?}: {text}");
        assert!(text.contains("already used to refund $5.00"), "{amount:?}: {text}");
    }
    // Nor is it another admin's form.
    let admin2 = token(&server.db, &["--scope", "admin"]);
    let (http2, session2, csrf2, _) = console(&server, &admin2, &id).await;
    let r = http2
        .post(&url)
        .header("cookie", &session2)
        .form(&[("csrf", csrf2.as_str()), ("form_key", key.as_str()), ("amount", "5.00"), ("reason", "goodwill")])
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(!text.contains("Refunded $"), "{text}");
    assert_eq!(server.client().get(&format!("/api/holds/{id}")).await.body["amount_refunded"], 1_500);
    // Blank: the rest.
    let (_, _, _, page) = console(&server, crate::common::TEST_TOKEN, &id).await;
    let rest = post(vec![
        ("csrf", csrf),
        ("form_key", key_of(&page)),
        ("amount", String::new()),
        ("reason", "goodwill".into()),
    ])
    .await
    .unwrap();
    assert_eq!(rest.status(), 200);
    assert_eq!(server.client().get(&format!("/api/holds/{id}")).await.body["amount_refunded"], 10_000);

    // A reader's session sees the hold and may not refund it.
    let other = captured_hold(&server).await;
    let reader = token(&server.db, &["--scope", "holds:read"]);
    let (http, session, csrf, _) = console(&server, &reader, &other).await;
    let r = http
        .post(format!("{}/console/holds/{other}/refund", server.base))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str()), ("form_key", "k-reader"), ("amount", "1.00"), ("reason", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(server.client().get(&format!("/api/holds/{other}")).await.body["amount_refunded"], 0);
}
