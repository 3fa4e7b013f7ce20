//! The Stripe processor against the emulator: webhooks that drive state,
//! signature checks with the official SDK's signatures, ownership, metadata,
//! and the audit.

use std::time::Duration;

use crate::common::{
    sdk_signature, sqlite_db, stripe_env, stripe_server, Emulator, Server, STRIPE_KEY, WEBHOOK_SECRET,
};
use serde_json::json;

async fn wait_for_status(api: &crate::common::Api, id: &str, status: &str) -> serde_json::Value {
    for _ in 0..100 {
        let h = api.get(&format!("/api/holds/{id}")).await.body;
        if h["status"] == status {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hold {id} never reached {status}");
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn emulator_webhooks_drive_hold_state() {
    let emu = Emulator::start();
    let server = stripe_server(&emu).await;
    emu.register_webhook(&server.base).await;
    let api = server.client();

    // 3-D Secure completed at the "bank": only the webhook tells us.
    let r = api.post("/api/holds", json!({"amount": 7000, "description": "x", "payment_method": "pm_card_threeDSecure2Required", "confirm": true})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "requires_action");
    let id = r.body["id"].as_str().unwrap().to_string();
    emu.authenticate(&id, r.body["client_secret"].as_str().unwrap(), true).await;
    let hold = wait_for_status(&api, &id, "requires_capture").await;
    assert_eq!(hold["amount_capturable"], 7000);
    let events = api.get(&format!("/api/holds/{id}/events")).await.body;
    // Whichever event arrives first, the hold is re-read, so order does not matter.
    assert!(events.to_string().contains("processor event payment_intent."), "{events}");

    // Released out of band (Stripe dashboard): the webhook cancels our hold.
    let other = api.authorized_hold(3000).await;
    let r = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents/{other}/cancel", emu.url()))
        .basic_auth(STRIPE_KEY, Some(""))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let hold = wait_for_status(&api, &other, "canceled").await;
    assert_eq!(hold["amount_released"], 3000);
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn tampered_stale_and_replayed_webhooks_get_400_and_change_nothing() {
    let emu = Emulator::start();
    let server = stripe_server(&emu).await;
    let api = server.client();
    let anon = server.anon();
    let id = api.authorized_hold(5000).await;
    // Cancel at the processor without telling us (no webhook is registered).
    reqwest::Client::new()
        .post(format!("{}/v1/payment_intents/{id}/cancel", emu.url()))
        .basic_auth(STRIPE_KEY, Some(""))
        .send()
        .await
        .unwrap();
    let payload = json!({"id": "evt_cancel_1", "object": "event", "type": "payment_intent.canceled",
                         "created": 1, "data": {"object": {"id": id, "object": "payment_intent", "status": "canceled"}}})
    .to_string();
    let now = chrono_now();
    let post = |body: String, sig: Option<String>| {
        let anon = anon.clone();
        async move {
            let headers: Vec<(&str, &str)> = Vec::new();
            let mut req = anon.http.post(format!("{}/webhook", anon.base)).body(body);
            if let Some(s) = &sig {
                req = req.header("Stripe-Signature", s);
            }
            let _ = headers;
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let unchanged = |label: &'static str| {
        let api = api.clone();
        let id = id.clone();
        async move {
            assert_eq!(
                api.get(&format!("/api/holds/{id}")).await.body["status"],
                "requires_capture",
                "{label} changed the hold"
            );
        }
    };

    let (s, body) = post(payload.clone(), None).await;
    assert_eq!(s, 400);
    assert!(body.contains("Missing stripe-signature header"));

    let tampered = payload.replace("payment_intent.canceled", "payment_intent.succeeded");
    let (s, _) = post(tampered, Some(sdk_signature(&payload, WEBHOOK_SECRET, None))).await;
    assert_eq!(s, 400, "tampered body");
    unchanged("tampered").await;

    let (s, _) = post(payload.clone(), Some(sdk_signature(&payload, "whsec_wrong", None))).await;
    assert_eq!(s, 400, "wrong secret");
    let (s, _) = post(payload.clone(), Some(sdk_signature(&payload, WEBHOOK_SECRET, Some(now - 400)))).await;
    assert_eq!(s, 400, "stale timestamp");
    let (s, _) = post(payload.clone(), Some(sdk_signature(&payload, WEBHOOK_SECRET, Some(now + 400)))).await;
    assert_eq!(s, 400, "future timestamp");
    let (s, _) = post(payload.clone(), Some("t=abc,v1=zz".into())).await;
    assert_eq!(s, 400, "malformed header");
    unchanged("rejected deliveries").await;

    // The authentic delivery, signed by the official SDK, is applied.
    let good = sdk_signature(&payload, WEBHOOK_SECRET, Some(now));
    let (s, body) = post(payload.clone(), Some(good.clone())).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(api.get(&format!("/api/holds/{id}")).await.body["status"], "canceled");
    let events_after = api.get(&format!("/api/holds/{id}/events")).await.body["events"].as_array().unwrap().len();

    // The same bytes again are a replay; a fresh redelivery is a no-op.
    let (s, _) = post(payload.clone(), Some(good)).await;
    assert_eq!(s, 400, "replayed delivery");
    let (s, _) = post(payload.clone(), Some(sdk_signature(&payload, WEBHOOK_SECRET, Some(now + 1)))).await;
    assert_eq!(s, 200, "redelivery");
    assert_eq!(
        api.get(&format!("/api/holds/{id}/events")).await.body["events"].as_array().unwrap().len(),
        events_after
    );

    // Unknown event types are acknowledged.
    let other = json!({"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}).to_string();
    let (s, _) = post(other.clone(), Some(sdk_signature(&other, WEBHOOK_SECRET, None))).await;
    assert_eq!(s, 200);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn metadata_reaches_stripe_and_foreign_intents_are_404() {
    let emu = Emulator::start();
    let server = stripe_server(&emu).await;
    let api = server.client();
    let r = api
        .post("/api/holds", json!({"amount": 5000, "description": "x", "property_id": "p-9", "tenant_id": "t-9", "booking_id": "b-9", "customer_email": "g@example.com"}))
        .await;
    let id = r.body["id"].as_str().unwrap();
    let pi = emu.intent(id).await;
    assert_eq!(pi["capture_method"], "manual");
    assert_eq!(pi["receipt_email"], "g@example.com");
    for (k, v) in [("property_id", "p-9"), ("tenant_id", "t-9"), ("booking_id", "b-9"), ("source", "chittycharge")] {
        assert_eq!(pi["metadata"][k], v, "{k}");
    }
    assert_eq!(pi["metadata"]["chitty_id"], r.body["chitty_id"]);

    // A PaymentIntent made elsewhere on the same account is not ours.
    let foreign: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents", emu.url()))
        .basic_auth(STRIPE_KEY, Some(""))
        .form(&[
            ("amount", "5000"),
            ("currency", "usd"),
            ("capture_method", "manual"),
            ("payment_method", "pm_card_visa"),
            ("payment_method_types[]", "card"),
            ("confirm", "true"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fid = foreign["id"].as_str().unwrap();
    assert_eq!(api.get(&format!("/api/holds/{fid}")).await.status, 404);
    assert_eq!(api.post(&format!("/api/holds/{fid}/capture"), json!({})).await.status, 404);
    assert_eq!(api.post(&format!("/api/holds/{fid}/cancel"), json!({})).await.status, 404);
    assert_eq!(emu.intent(fid).await["status"], "requires_capture", "never touched");
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn audit_is_clean_after_normal_use_and_reports_an_orphan() {
    let emu = Emulator::start();
    let server = stripe_server(&emu).await;
    let api = server.client();
    let a = api.authorized_hold(4000).await;
    api.post(&format!("/api/holds/{a}/capture"), json!({"amount_to_capture": 1000})).await;
    api.authorized_hold(2000).await;
    let audit = |db: crate::common::Db| {
        let mut cmd = std::process::Command::new(crate::common::BIN);
        cmd.arg("audit").env_clear().env("DATABASE_URL", db.url());
        for (k, v) in stripe_env(emu.url()) {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = audit(server.db.clone());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("2 holds checked"), "{stdout}");

    reqwest::Client::new()
        .post(format!("{}/v1/payment_intents", emu.url()))
        .basic_auth(STRIPE_KEY, Some(""))
        .form(&[
            ("amount", "5000"),
            ("currency", "usd"),
            ("capture_method", "manual"),
            ("metadata[source]", "chittycharge"),
        ])
        .send()
        .await
        .unwrap();
    let out = audit(server.db.clone());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("has no hold (orphan)"), "{stdout}");
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn the_check_in_page_uses_stripe_js_and_never_takes_a_card_number_in_stripe_mode() {
    let emu = Emulator::start();
    let mut env = stripe_env(emu.url());
    env.push(("STRIPE_PUBLISHABLE_KEY", "pk_test_chittycharge".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with(sqlite_db(), &pairs);
    let r = server.client().post("/api/holds", json!({"amount": 5000, "description": "x"})).await;
    let url = r.body["checkin_url"].as_str().unwrap().to_string();
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    // The attribute is HTML-escaped (`/` as `&#x2f;`), which the browser decodes.
    assert!(page.replace("&#x2f;", "/").contains(r#"<script src="https://js.stripe.com/v3/"></script>"#), "{page}");
    assert!(page.contains("pk_test_chittycharge"));
    assert!(page.contains("id=\"card-element\""));
    assert!(!page.contains("id=\"number\""), "no card-number field of ours in Stripe mode");
    assert!(!page.contains("/_sim/"), "no simulator endpoints in Stripe mode");
    let wrong = reqwest::get(url.replace("cs=", "cs=x")).await.unwrap();
    assert_eq!(wrong.status(), 404, "the client secret is required");
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn a_stripe_500_after_the_capture_took_effect_is_an_unknown_outcome_the_janitor_settles() {
    let emu = Emulator::start();
    let proxy = crate::common::FaultProxy::start(emu.url(), 0.0, 1);
    let mut env = stripe_env(proxy.url());
    env.extend([
        ("CHITTYCHARGE_JANITOR_SCHEDULE", "1s".to_string()),
        ("CHITTYCHARGE_JOBS_INTERVAL_MS", "100".to_string()),
    ]);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // No webhooks: only the janitor can learn what happened.
    let server = Server::start_with(sqlite_db(), &pairs);
    let api = server.client();
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 9000, "description": "x", "payment_method": "pm_card_visa", "confirm": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    // Stripe applies the capture, then answers 500 and advises not to retry.
    let script = reqwest::Client::new()
        .post(format!("{}/_fault/script", proxy.url()))
        .json(&json!({"path_contains": "/capture", "mode": "error_after_no_retry", "count": 1}))
        .send()
        .await
        .unwrap();
    assert!(script.status().is_success());
    let r = api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": 4000})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (503, Some("processor_outcome_unknown")), "{}", r.text);
    let h = wait_for_status(&api, &id, "captured").await;
    assert_eq!((h["amount_captured"].as_i64(), h["amount_released"].as_i64()), (Some(4000), Some(5000)), "{h}");
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn the_emulator_refuses_a_server_side_confirmation_that_ignores_redirects() {
    let emu = Emulator::start();
    let base =
        [("amount", "5000"), ("currency", "usd"), ("capture_method", "manual"), ("payment_method", "pm_card_visa")];
    // As live Stripe since 2023-08-16: no payment method type, no return_url, not off-session.
    let mut bare = base.to_vec();
    bare.push(("confirm", "true"));
    let (status, body) = emu.post("/v1/payment_intents", &bare, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "return_url", "{body}");
    // Created unconfirmed the same way, a later /confirm is refused too.
    let (status, pi) = emu.post("/v1/payment_intents", &base, None).await;
    assert_eq!(status, 200, "{pi}");
    let id = pi["id"].as_str().unwrap();
    let (status, body) = emu.post(&format!("/v1/payment_intents/{id}/confirm"), &[], None).await;
    assert_eq!(status, 400, "{body}");
    // Each way of handling redirects is accepted.
    for extra in [
        vec![("payment_method_types[]", "card")],
        vec![("return_url", "https://rentals.example/checkin")],
        vec![("automatic_payment_methods[enabled]", "true"), ("automatic_payment_methods[allow_redirects]", "never")],
    ] {
        let mut form = bare.clone();
        form.extend(extra.iter().copied());
        let (status, body) = emu.post("/v1/payment_intents", &form, None).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("requires_capture")), "{extra:?}: {body}");
    }
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn stripes_rate_limit_answers_429_and_legacy_400_are_retried_under_the_same_key() {
    let emu = Emulator::start();
    let server = stripe_server(&emu).await;
    let api = server.client();
    for (status, path) in [("400", "/api/holds"), ("429", "capture")] {
        let r = reqwest::Client::new()
            .post(format!("{}/_config/rate_limit", emu.url()))
            .form(&[("count", "2"), ("status", status)])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let r = if path == "/api/holds" {
            api.post(
                path,
                json!({"amount": 5000, "description": "x", "payment_method": "pm_card_visa", "confirm": true}),
            )
            .await
        } else {
            let id = api.get("/api/holds").await.body["holds"][0]["id"].as_str().unwrap().to_string();
            api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": 2000})).await
        };
        assert!(r.status == 201 || r.status == 200, "rate limit {status}: {}", r.text);
        let left: serde_json::Value =
            reqwest::get(format!("{}/_config/rate_limit", emu.url())).await.unwrap().json().await.unwrap();
        assert_eq!(left["count"], 0, "both rate-limited answers were met and retried");
    }
    let intents = emu.all_intents().await;
    assert_eq!(intents.len(), 1, "retries made nothing twice");
    assert_eq!(intents[0]["amount_received"], 2000);
}
