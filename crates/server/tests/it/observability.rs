//! Metrics, request ids, health, and logs that never carry a secret or a
//! card number.

use crate::common::{sqlite_db, Server, TEST_TOKEN};
use serde_json::json;

#[tokio::test]
async fn logs_are_json_carry_request_ids_and_never_secrets_or_card_numbers() {
    let log = std::env::temp_dir().join(format!("cc-log-{}.jsonl", std::process::id()));
    let server = Server::start_logged(
        sqlite_db(),
        &[
            ("CHITTYCHARGE_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug,hyper=info,h2=info,sqlx=info"),
            ("CHITTYCHARGE_PROCESSOR", "simulated"),
            ("STRIPE_SECRET_KEY", "sk_test_LOGLEAK123"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_LOGLEAK456"),
            ("CHITTY_ID_TOKEN", "chitty_LOGLEAK789"),
            ("CHITTY_ID_URL", "http://127.0.0.1:9"),
            ("CHITTY_ID_TIMEOUT_MS", "100"),
            ("CHITTY_ID_RETRY_SCHEDULE", "1s"),
            ("CHITTYCHARGE_JOBS_INTERVAL_MS", "50"),
            ("SMTP_URL", "smtp://user:SMTPLEAK000@127.0.0.1:9"),
        ],
        &log,
    );
    let api = server.client();
    let anon = server.anon();
    let r = api
        .raw(
            "POST",
            "/api/holds",
            Some(r#"{"amount":5000,"description":"x","customer_email":"guest@example.com"}"#),
            &[("X-Request-Id", "req-test-123")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.headers.get("x-request-id").unwrap(), "req-test-123", "the request id is echoed");
    let generated = api.get("/api/holds").await;
    assert!(generated.headers.get("x-request-id").is_some_and(|v| !v.is_empty()), "a request id is generated");
    let id = r.body["id"].as_str().unwrap();
    let secret = r.body["client_secret"].as_str().unwrap().to_string();
    for card in ["4242424242424242", "4000002500003155"] {
        let pm = anon
            .post("/_sim/payment_methods", json!({"hold_id": id, "client_secret": secret, "card": {"number": card}}))
            .await;
        assert_eq!(pm.status, 200);
        let _ = anon
            .post(
                &format!("/_sim/payment_intents/{id}/confirm"),
                json!({"client_secret": secret, "payment_method": pm.body["id"]}),
            )
            .await;
    }
    assert_eq!(api.with_token("cc_WRONGTOKEN_LEAK").get("/api/holds").await.status, 401);
    let wh = anon.raw("POST", "/webhook", Some("{}"), &[("Stripe-Signature", "t=1,v1=deadbeef")]).await;
    assert_eq!(wh.status, 400);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let health = anon.get("/health").await.body;
    assert_eq!(health["store"]["status"], "ok");
    assert_eq!(health["processor"]["status"], "ok");
    assert_eq!(health["chittyid"]["status"], "down", "ChittyID is reported on its own: {health}");

    let metrics = api.get("/metrics").await.text;
    for m in [
        "chittycharge_http_requests_total",
        "chittycharge_http_request_duration_seconds",
        "chittycharge_holds{state=\"requires_capture\"} 1",
        "chittycharge_processor_calls_total",
        "chittycharge_webhook_events_total",
        "chittycharge_job_runs_total",
        "chittycharge_store_writes_total",
        "chittycharge_store_wal_flushes_total",
        // Aggregatable latencies, HELP text, and the build.
        "chittycharge_http_request_duration_seconds_bucket{",
        "le=\"0.005\"",
        "chittycharge_processor_call_duration_seconds_bucket{",
        "# HELP chittycharge_http_requests_total HTTP requests answered",
        "# HELP chittycharge_holds Holds in the store",
        "chittycharge_build_info{",
    ] {
        assert!(metrics.contains(m), "{m} in /metrics:\n{metrics}");
    }
    assert!(!metrics.contains("quantile="), "histograms, not summaries:\n{metrics}");
    for family in metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap_or("")) {
        assert!(metrics.contains(&format!("# HELP {family} ")), "{family} has HELP text:\n{metrics}");
    }

    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 5, "the service logged something");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(text.contains("req-test-123"), "the request id appears on that request's log lines");
    for leak in [
        TEST_TOKEN,
        "sk_test_LOGLEAK123",
        "whsec_LOGLEAK456",
        "chitty_LOGLEAK789",
        "SMTPLEAK000",
        "4242424242424242",
        "4000002500003155",
        secret.as_str(),
        "cc_WRONGTOKEN_LEAK",
    ] {
        assert!(!text.contains(leak), "'{leak}' reached the logs");
    }
}

#[tokio::test]
async fn rate_limit_rejections_are_counted() {
    let server = Server::start(sqlite_db());
    let db = server.db.clone();
    let out = std::process::Command::new(crate::common::BIN)
        .args(["token", "create", "--scope", "holds:read", "--rate-limit", "1"])
        .env_clear()
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let limited = server.client().with_token(&token);
    limited.get("/api/holds").await;
    assert_eq!(limited.get("/api/holds").await.status, 429);
    let metrics = server.client().get("/metrics").await.text;
    assert!(metrics.contains("chittycharge_rate_limit_rejections_total{kind=\"token\"} 1"), "{metrics}");
}
