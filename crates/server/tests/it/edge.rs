//! The edge: lockouts that protect instead of harm, headers that keep
//! hostile values inert, small doors closed, unsafe set-ups refused.

use std::process::{Command, Stdio};

use crate::common::{sqlite_db, Server, BIN, TEST_TOKEN};
use serde_json::json;

#[tokio::test]
async fn a_valid_token_is_never_locked_out_by_failures_from_its_address() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE", "5")]);
    let api = server.client();
    let bad = api.with_token("cc_guessing_0000000000000000");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(bad.get("/api/holds").await.status);
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(api.get("/api/holds").await.status, 200, "the good token from the same address still works");
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let limit = [("CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE", "3")];
    // Untrusted peer: X-Forwarded-For is ignored, so rotating it does not
    // escape the limit.
    let server = Server::start_with(sqlite_db(), &limit);
    let anon = server.anon();
    let mut last = 0;
    for i in 0..6 {
        let xff = format!("203.0.113.{i}");
        last = anon
            .raw("GET", "/api/holds", None, &[("ChittyID-Token", &format!("cc_bad_{i}")), ("X-Forwarded-For", &xff)])
            .await
            .status;
    }
    assert_eq!(last, 429, "an untrusted X-Forwarded-For must not split the counter");
    // Behind a trusted proxy each client has its own counter.
    let trusted = Server::start_with(sqlite_db(), &[limit[0], ("CHITTYCHARGE_TRUSTED_PROXIES", "127.0.0.1/32")]);
    let anon = trusted.anon();
    for i in 0..6 {
        let xff = format!("203.0.113.{i}");
        let s = anon
            .raw(
                "GET",
                "/api/holds",
                None,
                &[("ChittyID-Token", &format!("cc{i}_other_guess")), ("X-Forwarded-For", &xff)],
            )
            .await
            .status;
        assert_eq!(s, 401, "client {xff} has its own count");
    }
    // One token prefix guessed from many clients: the answer names the
    // budget that is spent (the prefix's), not the new client's address.
    for i in 0..4 {
        let xff = format!("198.51.100.{i}");
        let r = anon
            .raw("GET", "/api/holds", None, &[("ChittyID-Token", &format!("cc_SAME_{i}")), ("X-Forwarded-For", &xff)])
            .await;
        if i == 3 {
            assert_eq!(r.status, 429);
            let limited = r.body["details"]["limited"].as_str().unwrap();
            assert_eq!(limited, "failed authentications with tokens that start like this one", "{}", r.body);
        }
    }
}

#[tokio::test]
async fn a_token_that_is_not_readable_text_counts_as_a_failed_authentication() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE", "3")]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let mut request = format!("GET /api/holds HTTP/1.1\r\nHost: {addr}\r\nChittyID-Token: cc_").into_bytes();
        request.extend_from_slice(b"\xc3\xa9t\xc3\xa9\r\nConnection: close\r\n\r\n");
        let answer = crate::common::raw_http(&addr, &request);
        statuses.push(answer.split(' ').nth(1).unwrap_or("").to_string());
    }
    assert_eq!(statuses, ["401", "401", "401", "429", "429"], "unreadable tokens spend the address's budget");
    let r = server.client().get("/api/holds").await;
    assert_eq!(r.status, 200, "a valid token from the same address is still let in");
}

#[tokio::test]
async fn responses_carry_nosniff_and_pages_a_strict_content_security_policy() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let r = api.get("/api/holds").await;
    assert_eq!(r.headers.get("x-content-type-options").unwrap(), "nosniff");
    let h = api.post("/api/holds", json!({"amount": 5000, "description": "x"})).await;
    let page = server.anon().get(h.body["checkin_url"].as_str().unwrap().trim_start_matches(&server.base)).await;
    let csp = page.headers.get("content-security-policy").unwrap().to_str().unwrap().to_string();
    for part in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    let console = server.anon().get("/console").await;
    assert!(console.headers.get("content-security-policy").is_some());
}

#[tokio::test]
async fn an_oversized_webhook_answers_in_the_json_envelope() {
    let server = Server::start(sqlite_db());
    let big = "x".repeat(70_000);
    let r = server.anon().raw("POST", "/webhook", Some(&big), &[("Stripe-Signature", "t=1,v1=00")]).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.body["code"], "payload_too_large", "{}", r.text);
}

#[tokio::test]
async fn control_and_bidi_characters_are_refused_in_free_text_naming_the_field() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    for (field, bad) in [
        ("description", "Lamp\u{0000}"),
        ("description", "Unit \u{202E}B4"),
        ("customer_email", "a\u{0007}@x.io"),
        ("customer_email", "\"><script>alert(1)</script>@x.com"),
        ("customer_email", "a@b.c\"onmouseover=\"alert(1)"),
    ] {
        let mut body = json!({"amount": 5000, "description": "ok"});
        body[field] = json!(bad);
        let r = api.post("/api/holds", body).await;
        assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some(field)), "{}", r.text);
    }
    let r =
        api.post("/api/holds", json!({"amount": 5000, "description": "ok", "metadata": {"note": "a\u{2066}b"}})).await;
    assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some("metadata.note")), "{}", r.text);
    let h = api
        .post(
            "/api/holds",
            json!({"amount": 5000, "description": "x", "payment_method": "pm_card_visa", "confirm": true}),
        )
        .await;
    let id = h.body["id"].as_str().unwrap();
    for url in ["https://a.example/\u{202e}x", "https://a.example/\u{0001}", "https://a.example/a b"] {
        let r = api
            .post(
                &format!("/api/holds/{id}/capture"),
                json!({"lines": [{"amount": 100, "description": "x", "evidence_urls": [url]}]}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["details"]["field"].as_str()),
            (400, Some("lines[0].evidence_urls")),
            "{url:?}: {}",
            r.text
        );
    }
    let r = api
        .post(&format!("/api/holds/{id}/capture"), json!({"lines": [{"amount": 100, "description": "Lamp\u{202e}"}]}))
        .await;
    assert_eq!(r.body["details"]["field"], "lines[0].description");
    assert!(r.body["error"].as_str().unwrap().contains("control or bidirectional"), "{}", r.text);
    let ok = api.post("/api/holds", json!({"amount": 5000, "description": "Two lines\nof text"})).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
}

#[tokio::test]
async fn the_simulators_card_form_needs_the_holds_own_secret() {
    let server = Server::start(sqlite_db());
    let anon = server.anon();
    let r = anon.post("/_sim/payment_methods", json!({"card": {"number": "4242424242424242"}})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let h = server.client().post("/api/holds", json!({"amount": 5000, "description": "x"})).await.body;
    let id = h["id"].as_str().unwrap();
    let wrong = anon
        .post(
            "/_sim/payment_methods",
            json!({"hold_id": id, "client_secret": "nope", "card": {"number": "4242424242424242"}}),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let ok = anon
        .post(
            "/_sim/payment_methods",
            json!({"hold_id": id, "client_secret": h["client_secret"], "card": {"number": "4242424242424242"}}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // Bounded per hold.
    let mut last = 0;
    for _ in 0..25 {
        last = anon
            .post(
                "/_sim/payment_methods",
                json!({"hold_id": id, "client_secret": h["client_secret"], "card": {"number": "4242424242424242"}}),
            )
            .await
            .status;
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn metrics_need_an_admin_token_unless_made_public() {
    let server = Server::start(sqlite_db());
    assert_eq!(server.anon().get("/metrics").await.status, 401);
    let out = Command::new(BIN)
        .args(["token", "create", "--scope", "holds:write"])
        .env_clear()
        .env("DATABASE_URL", server.db.url())
        .output()
        .unwrap();
    let writer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(server.client().with_token(&writer).get("/metrics").await.status, 403);
    assert_eq!(server.client().get("/metrics").await.status, 200);
    let public = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_METRICS_PUBLIC", "true")]);
    assert_eq!(public.anon().get("/metrics").await.status, 200);
}

#[test]
fn the_simulated_processor_on_a_public_address_needs_to_be_asked_for() {
    let db = sqlite_db();
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env_clear()
            .env("DATABASE_URL", db.url())
            .env("CHITTYCHARGE_API_TOKEN", TEST_TOKEN)
            .env("CHITTYCHARGE_LISTEN", "0.0.0.0:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    };
    let out = run(&[]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CHITTYCHARGE_PROCESSOR"), "{err}");
    // Asked for explicitly, it starts (and is stopped at once here).
    let mut child = run(&[("CHITTYCHARGE_PROCESSOR", "simulated")]).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("processor: simulated"), "{line}");
}

#[tokio::test]
async fn holds_keep_a_pending_chitty_id_when_no_chittyid_service_is_configured() {
    let server = Server::start(sqlite_db());
    let r = server.client().post("/api/holds", json!({"amount": 5000, "description": "x"})).await;
    let id = r.body["chitty_id"].as_str().unwrap();
    assert!(id.starts_with("CHITTY-AUTH-PENDING-"), "nothing is minted locally: {id}");
    let health = server.anon().get("/health").await.body;
    assert_eq!(health["chittyid"]["status"], "not_configured", "{health}");
}

#[test]
fn the_simulated_processor_behind_a_public_url_needs_to_be_asked_for() {
    let out = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", sqlite_db().url())
        .env("CHITTYCHARGE_LISTEN", "127.0.0.1:0")
        .env("CHITTYCHARGE_PUBLIC_URL", "https://rentals.example.com")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CHITTYCHARGE_PUBLIC_URL"));
}

#[tokio::test]
async fn webhooks_without_a_configured_secret_are_refused_and_logged_once_a_minute_not_per_request() {
    let log = std::env::temp_dir().join(format!("cc-webhook-unconfigured-{}.log", std::process::id()));
    let server = Server::start_logged(sqlite_db(), &[("RUST_LOG", "info")], &log);
    let api = server.client();
    for _ in 0..20 {
        let forged = r#"{"id":"evt_x","type":"payment_intent.canceled","data":{"object":{"id":"pi_x"}}}"#;
        let r = api.raw("POST", "/webhook", Some(forged), &[("stripe-signature", "t=1,v1=deadbeef")]).await;
        // Stripe retries a 503 until the secret is set; the body is the envelope.
        assert_eq!((r.status, r.body["code"].as_str()), (503, Some("webhook_not_configured")), "{}", r.text);
    }
    drop(server);
    let text = std::fs::read_to_string(&log).expect("the service's log");
    let lines = text.lines().filter(|l| l.contains("STRIPE_WEBHOOK_SECRET is not configured")).count();
    assert_eq!(
        lines, 1,
        "the misconfiguration is reported once, not once per request (anyone can send these):\n{text}"
    );
}
