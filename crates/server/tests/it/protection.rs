//! Protection at scale: idempotent API, race-free captures, shared rate
//! limits, CORS, server-derived tiers and scopes — with two instances on one
//! PostgreSQL where the guarantee must hold across instances.

use crate::common::{postgres_db, sqlite_db, Api, Server};
use serde_json::json;

/// Two instances on one fresh PostgreSQL database.
fn two_instances() -> (Server, Server) {
    let db = postgres_db();
    let a = Server::start(db.clone());
    let b = Server::start(db);
    (a, b)
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_captures_across_two_instances_capture_once() {
    let (a, b) = two_instances();
    let id = a.client().authorized_hold(25_000).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let api = if i % 2 == 0 { a.client() } else { b.client() };
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": 1000 + i * 10})).await
        }));
    }
    let mut ok = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 => ok.push(r.body["amount_captured"].as_i64().unwrap()),
            409 => conflicts += 1,
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(ok.len(), 1, "exactly one capture succeeds");
    assert_eq!(conflicts, 49);
    let seen = a.client().get(&format!("/_sim/payment_intents/{id}")).await.body;
    assert_eq!(seen["captures"], 1, "the processor saw one capture");
    assert_eq!(seen["amount_received"], ok[0]);
    let hold = b.client().get(&format!("/api/holds/{id}")).await.body;
    assert_eq!(hold["amount_captured"], ok[0]);
    let events = a.client().get(&format!("/api/holds/{id}/events")).await.body;
    let captured = events["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "captured").count();
    assert_eq!(captured, 1);
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_with_one_key_make_one_hold_and_one_intent() {
    let (a, b) = two_instances();
    let body = json!({"amount": 5000, "description": "one key", "payment_method": "pm_card_visa", "confirm": true})
        .to_string();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let api = if i % 2 == 0 { a.client() } else { b.client() };
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            api.raw("POST", "/api/holds", Some(&body), &[("Idempotency-Key", "create-once-1")]).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            201 => {
                ids.insert(r.body["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(r.body["code"], "idempotency_error"),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 names the same hold");
    let list = a.client().get("/api/holds").await.body;
    assert_eq!(list["holds"].as_array().unwrap().len(), 1, "one hold");
    assert_eq!(a.client().get("/_sim/payment_intents").await.body["count"], 1, "one PaymentIntent");
    // A later retry replays the stored answer.
    let again = b.client().raw("POST", "/api/holds", Some(&body), &[("Idempotency-Key", "create-once-1")]).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert!(ids.contains(again.body["id"].as_str().unwrap()));
}

/// Runs `sql` on the server's database from outside it.
fn db_exec(db: &crate::common::Db, sql: &str) {
    let ok = match db {
        crate::common::Db::Sqlite(path) => std::process::Command::new("python3")
            .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"])
            .arg(path)
            .arg(sql)
            .status(),
        crate::common::Db::Postgres(url) => std::process::Command::new("psql").args([url, "-q", "-c", sql]).status(),
    };
    assert!(ok.unwrap().success(), "{sql}");
}

/// The stored answer is what a retry usually gets; this is the retry whose
/// first attempt left none (a 5xx after the hold was placed, a crash, a
/// lease taken over): it must not place a second hold on the card.
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_keyed_create_whose_stored_answer_was_lost_answers_its_retry_with_the_same_hold() {
    for db in crate::common::all_dbs() {
        let name = db.name();
        let server = Server::start(db);
        let api = server.client();
        let body = r#"{"amount":7000,"description":"lost answer","payment_method":"pm_card_visa","confirm":true}"#;
        let first = api.raw("POST", "/api/holds", Some(body), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!(first.status, 201, "{name}: {}", first.text);
        db_exec(&server.db, "DELETE FROM api_idempotency");
        let retry = api.raw("POST", "/api/holds", Some(body), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!(retry.status, 201, "{name}: {}", retry.text);
        assert_eq!(retry.body["id"], first.body["id"], "{name}: the hold the first attempt placed");
        assert_eq!(retry.body["status"], "requires_capture", "{name}");
        assert_eq!(api.get("/_sim/payment_intents").await.body["count"], 1, "{name}: one PaymentIntent");
        // Another token's same key is another request altogether.
        let other = crate::common::token(&server.db, &["--scope", "holds:write"]);
        let r = api.with_token(&other).raw("POST", "/api/holds", Some(body), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        assert_ne!(r.body["id"], first.body["id"], "{name}");
        // Another request under the same key is refused, not placed.
        db_exec(&server.db, "DELETE FROM api_idempotency");
        let changed = body.replace("7000", "7001");
        let r = api.raw("POST", "/api/holds", Some(&changed), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!((r.status, r.body["code"].as_str()), (409, Some("idempotency_error")), "{name}: {}", r.text);
        let with_default = body.replace("\"confirm\"", "\"currency\":\"usd\",\"confirm\"");
        db_exec(&server.db, "DELETE FROM api_idempotency");
        let r = api.raw("POST", "/api/holds?x=1", Some(&with_default), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!(r.status, 409, "{name}: {}", r.text);
        // A record marked failed that names a hold still made that hold.
        db_exec(&server.db, "UPDATE operations SET status = 'failed' WHERE kind = 'create'");
        db_exec(&server.db, "DELETE FROM api_idempotency");
        let r = api.raw("POST", "/api/holds", Some(body), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!((r.status, &r.body["id"]), (201, &first.body["id"]), "{name}: {}", r.text);
        // A keyed create whose outcome is still open is not placed again.
        db_exec(&server.db, "DELETE FROM api_idempotency");
        db_exec(&server.db, "UPDATE operations SET status = 'pending', hold_id = NULL WHERE kind = 'create'");
        let open = api.raw("POST", "/api/holds", Some(body), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!(
            (open.status, open.body["code"].as_str()),
            (409, Some("operation_in_progress")),
            "{name}: {}",
            open.text
        );
        assert_eq!(api.get("/_sim/payment_intents").await.body["count"], 2, "{name}: no third PaymentIntent");
        // After an attempt that failed outright (nothing placed), the key may
        // try again, once, and that attempt's retry finds its hold.
        db_exec(&server.db, "UPDATE operations SET status = 'failed' WHERE kind = 'create'");
        db_exec(&server.db, "DELETE FROM api_idempotency");
        let again = api.raw("POST", "/api/holds", Some(body), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!(again.status, 201, "{name}: {}", again.text);
        assert_ne!(again.body["id"], first.body["id"], "{name}");
        db_exec(&server.db, "DELETE FROM api_idempotency");
        let replay = api.raw("POST", "/api/holds", Some(body), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!((replay.status, &replay.body["id"]), (201, &again.body["id"]), "{name}: {}", replay.text);
        assert_eq!(api.get("/_sim/payment_intents").await.body["count"], 3, "{name}");
        // A key whose answer was not kept (here a transient 409) stays bound
        // to its request on every endpoint: a booking's authorization under
        // it places no hold.
        crate::common::property(&api, "p1", json!({})).await;
        crate::common::booking(&api, "p1", "bk-1").await;
        db_exec(&server.db, "DELETE FROM api_idempotency");
        db_exec(&server.db, "UPDATE operations SET status = 'pending', hold_id = NULL WHERE kind = 'create'");
        let open = api.raw("POST", "/api/holds", Some(body), &[("Idempotency-Key", "lost-1")]).await;
        assert_eq!(open.status, 409, "{name}: {}", open.text);
        let auth = api
            .raw(
                "POST",
                "/api/bookings/bk-1/authorize",
                Some(r#"{"payment_method":"pm_card_visa","confirm":true}"#),
                &[("Idempotency-Key", "lost-1")],
            )
            .await;
        assert_eq!(
            (auth.status, auth.body["code"].as_str()),
            (409, Some("idempotency_error")),
            "{name}: {}",
            auth.text
        );
        assert_eq!(api.get("/_sim/payment_intents").await.body["count"], 3, "{name}: no booking hold under the key");
    }
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_409() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let r1 = api
        .raw("POST", "/api/holds", Some(r#"{"amount":1000,"description":"a"}"#), &[("Idempotency-Key", "k-1")])
        .await;
    assert_eq!(r1.status, 201);
    assert!(r1.headers.get("idempotent-replayed").is_none());
    let r2 = api
        .raw("POST", "/api/holds", Some(r#"{"amount":1000,"description":"a"}"#), &[("Idempotency-Key", "k-1")])
        .await;
    assert_eq!((r2.status, r2.text.as_str()), (201, r1.text.as_str()), "replayed byte for byte");
    // The same JSON with its keys in another order and other spacing is the same request.
    let reordered = api
        .raw(
            "POST",
            "/api/holds",
            Some("{ \"description\": \"a\",\n  \"amount\": 1000 }"),
            &[("Idempotency-Key", "k-1")],
        )
        .await;
    assert_eq!((reordered.status, reordered.text.as_str()), (201, r1.text.as_str()), "{}", reordered.text);
    assert_eq!(reordered.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let r3 = api
        .raw("POST", "/api/holds", Some(r#"{"amount":2000,"description":"a"}"#), &[("Idempotency-Key", "k-1")])
        .await;
    assert_eq!((r3.status, r3.body["code"].as_str()), (409, Some("idempotency_error")));
    assert_eq!(api.get("/api/holds").await.body["holds"].as_array().unwrap().len(), 1);
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn the_rate_limit_holds_across_two_instances() {
    let (a, b) = two_instances();
    let token = crate::common::token(&a.db, &["--name", "limited", "--scope", "holds:read", "--rate-limit", "10"]);
    for i in 0..10 {
        let api = if i % 2 == 0 { a.client() } else { b.client() }.with_token(&token);
        let r = api.get("/api/holds").await;
        assert_eq!(r.status, 200, "request {}", i + 1);
        assert_eq!(r.headers.get("x-ratelimit-limit").unwrap(), "10");
        assert_eq!(r.headers.get("x-ratelimit-remaining").unwrap().to_str().unwrap(), (9 - i).to_string());
        assert!(r.headers.get("x-ratelimit-reset").is_some());
    }
    for server in [&a, &b] {
        let r = server.client().with_token(&token).get("/api/holds").await;
        assert_eq!(r.status, 429, "the 11th request is refused whichever instance serves it");
        let retry: u64 = r.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!(
            (5..=6).contains(&retry),
            "10 a minute: room for the next one 6 s after the burst began, not at the minute's end: {retry}"
        );
        assert!(r.body["error"].as_str().unwrap().starts_with("Rate limit exceeded"));
    }
}

#[tokio::test]
async fn failed_authentication_is_limited_per_client_ip() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE", "5")]);
    let wrong = server.client().with_token("cc_guess");
    for _ in 0..5 {
        assert_eq!(wrong.get("/api/holds").await.status, 401);
    }
    let r = wrong.get("/api/holds").await;
    assert_eq!(r.status, 429, "past the limit the failing caller is refused for the window");
    assert!(r.headers.get("retry-after").is_some());
    let r = server.client().get("/api/holds").await;
    assert_eq!(r.status, 200, "a valid token from the same address is never locked out");
}

#[tokio::test]
async fn cors_allows_exact_origins_and_one_label_wildcards_only() {
    let server = Server::start(sqlite_db());
    let anon = server.anon();
    let preflight = |origin: &'static str| {
        let anon = anon.clone();
        async move {
            anon.raw(
                "OPTIONS",
                "/api/holds",
                None,
                &[
                    ("Origin", origin),
                    ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "idempotency-key,authorization"),
                ],
            )
            .await
        }
    };
    for (origin, allowed) in [
        ("https://chitty.cc", true),
        ("https://app.chitty.cc", true),
        ("https://evilxchitty.cc", false),
        ("https://x.chittyXcc", false),
        ("http://app.chitty.cc", false),
        ("https://app.chitty.cc:8443", false),
        ("https://chitty.cc.evil.com", false),
        ("https://a.b.chitty.cc", false),
        ("null", false),
    ] {
        let r = preflight(origin).await;
        assert_eq!(r.status, 200, "{origin}");
        let acao = r.headers.get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string());
        if allowed {
            assert_eq!(acao.as_deref(), Some(origin));
            let headers = r.headers.get("access-control-allow-headers").unwrap().to_str().unwrap().to_ascii_lowercase();
            for h in ["content-type", "chittyid-token", "authorization", "idempotency-key"] {
                assert!(headers.contains(h), "{h} in {headers}");
            }
        } else {
            assert_eq!(acao, None, "{origin} must get no Access-Control-Allow-Origin");
        }
        let vary = r
            .headers
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(",");
        assert!(vary.contains("origin"), "Vary: Origin for {origin}");
    }
    let get = server.client().raw("GET", "/api/holds", None, &[("Origin", "https://evilxchitty.cc")]).await;
    assert_eq!(get.status, 200);
    assert!(get.headers.get("access-control-allow-origin").is_none());

    // An allowed page can read our refusals too, with the headers it needs.
    let refused = anon.raw("GET", "/api/holds", None, &[("Origin", "https://app.chitty.cc")]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.headers.get("access-control-allow-origin").unwrap(), "https://app.chitty.cc");
    let exposed = refused.headers.get("access-control-expose-headers").unwrap().to_str().unwrap().to_string();
    assert!(exposed.contains("x-ratelimit-remaining") && exposed.contains("retry-after"), "{exposed}");
    assert!(refused.headers.get("x-request-id").is_some() && refused.headers.get("x-content-type-options").is_some());

    // No Origin, no cross-origin request: no CORS headers, but a shared
    // cache is told the answer depends on Origin.
    for r in [anon.get("/api/holds").await, server.client().get("/api/holds").await] {
        assert!(r.headers.get("access-control-allow-origin").is_none());
        let vary: Vec<_> = r.headers.get_all("vary").iter().map(|v| v.to_str().unwrap().to_ascii_lowercase()).collect();
        assert!(vary.iter().any(|v| v.contains("origin")), "Vary: Origin without an Origin header ({})", r.status);
    }
}

#[tokio::test]
async fn tiers_are_derived_by_the_server_and_callers_cannot_raise_them() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    let create = |api: Api, body: serde_json::Value| async move { api.post("/api/holds", body).await };

    let r = create(api.clone(), json!({"amount": 300000, "description": "x", "customer_email": "new@example.com", "metadata": {"guest_tier": "VERIFIED_GUEST"}})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (400, Some("tier_not_allowed")), "{}", r.text);
    assert_eq!(r.body["details"]["derived_tier"], "NEW_GUEST");

    for _ in 0..3 {
        let id = create(api.clone(), json!({"amount": 20000, "description": "stay", "customer_email": "regular@example.com", "property_id": "lakeside", "payment_method": "pm_card_visa", "confirm": true}))
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        api.advance(13 * 3600).await;
        assert_eq!(api.post(&format!("/api/holds/{id}/cancel"), json!({})).await.status, 200);
    }
    // History is per property: elsewhere the same guest is new.
    let r = create(api.clone(), json!({"amount": 500000, "description": "x", "customer_email": "regular@example.com", "property_id": "elsewhere"}))
        .await;
    assert_eq!((r.status, r.body["code"].as_str()), (400, Some("tier_limit_exceeded")), "{}", r.text);
    let r = create(api.clone(), json!({"amount": 500000, "description": "x", "customer_email": "regular@example.com", "property_id": "lakeside"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!((r.body["tier"].as_str(), r.body["tier_limit"].as_i64()), (Some("VERIFIED_GUEST"), Some(500000)));
    assert!(r.body["tier_reason"].as_str().unwrap().contains("3 earlier holds"));
    let lowered = create(api.clone(), json!({"amount": 1000, "description": "x", "customer_email": "regular@example.com", "property_id": "lakeside", "metadata": {"guest_tier": "NEW_GUEST"}})).await;
    assert_eq!((lowered.status, lowered.body["tier"].as_str()), (201, Some("NEW_GUEST")));

    let r = api.post("/api/properties", json!({"id": "penthouse", "name": "Penthouse", "premium": true})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = create(api.clone(), json!({"amount": 1000000, "description": "x", "property_id": "penthouse"})).await;
    assert_eq!((r.status, r.body["tier"].as_str()), (201, Some("PREMIUM_PROPERTY")), "{}", r.text);
    let r = create(api.clone(), json!({"amount": 1000001, "description": "x", "property_id": "penthouse"})).await;
    assert_eq!(r.status, 400);

    let overrider =
        api.with_token(&crate::common::token(&server.db, &["--scope", "holds:write", "--scope", "tiers:override"]));
    let r =
        create(overrider, json!({"amount": 400000, "description": "x", "metadata": {"guest_tier": "VERIFIED_GUEST"}}))
            .await;
    assert_eq!((r.status, r.body["tier"].as_str()), (201, Some("VERIFIED_GUEST")), "{}", r.text);
}

#[tokio::test]
async fn scoped_tokens_see_and_act_only_within_their_scope() {
    let server = Server::start(sqlite_db());
    let admin = server.client();
    let mine = admin.post("/api/holds", json!({"amount": 5000, "description": "x", "property_id": "p1", "payment_method": "pm_card_visa", "confirm": true})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let theirs = admin.post("/api/holds", json!({"amount": 5000, "description": "x", "property_id": "p2", "payment_method": "pm_card_visa", "confirm": true})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p1 = admin.with_token(&crate::common::token(&server.db, &["--scope", "holds:write", "--property", "p1"]));
    assert_eq!(p1.get(&format!("/api/holds/{theirs}")).await.status, 404);
    assert_eq!(p1.post(&format!("/api/holds/{theirs}/capture"), json!({})).await.status, 404);
    assert_eq!(p1.post(&format!("/api/holds/{theirs}/cancel"), json!({})).await.status, 404);
    assert_eq!(p1.get(&format!("/api/holds/{theirs}/events")).await.status, 404);
    assert_eq!(
        p1.post("/api/holds", json!({"amount": 1000, "description": "x", "property_id": "p2"})).await.status,
        403
    );
    assert_eq!(
        p1.post("/api/holds", json!({"amount": 1000, "description": "x"})).await.status,
        403,
        "no property is not p1"
    );
    let listed = p1.get("/api/holds").await.body;
    let ids: Vec<_> =
        listed["holds"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec![mine.clone()]);
    assert_eq!(p1.post(&format!("/api/holds/{mine}/capture"), json!({"amount_to_capture": 100})).await.status, 200);
    assert_eq!(admin.get(&format!("/api/holds/{theirs}")).await.body["status"], "requires_capture", "untouched");

    let reader = admin.with_token(&crate::common::token(&server.db, &["--scope", "holds:read"]));
    assert_eq!(reader.get(&format!("/api/holds/{theirs}")).await.status, 200);
    for (path, body) in [
        ("/api/holds".to_string(), json!({"amount": 1000, "description": "x"})),
        (format!("/api/holds/{theirs}/capture"), json!({})),
        (format!("/api/holds/{theirs}/cancel"), json!({})),
        (format!("/api/holds/{theirs}/increment"), json!({"amount": 6000})),
        (format!("/api/holds/{theirs}/confirm"), json!({"payment_method": "pm_card_visa"})),
        ("/api/properties".to_string(), json!({"id": "p3", "name": "x"})),
    ] {
        assert_eq!(reader.post(&path, body).await.status, 403, "{path}");
    }
}

#[tokio::test]
async fn increment_raises_the_authorized_total_within_the_tier() {
    let server = Server::start(sqlite_db());
    let api = server.client();
    // Without asking for it at creation, a hold cannot grow.
    let plain = api.authorized_hold(10_000).await;
    let r = api.post(&format!("/api/holds/{plain}/increment"), json!({"amount": 15_000})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (409, Some("incremental_authorization_unavailable")), "{}", r.text);
    let r = api
        .post("/api/holds", json!({"amount": 10_000, "description": "x", "payment_method": "pm_card_visa", "confirm": true, "incremental_authorization": true}))
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = api.post(&format!("/api/holds/{id}/increment"), json!({"amount": 15_000})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["amount"].as_i64(), r.body["amount_capturable"].as_i64()), (Some(15_000), Some(15_000)));
    assert_eq!(api.post(&format!("/api/holds/{id}/increment"), json!({"amount": 12_000})).await.status, 400);
    assert_eq!(api.post(&format!("/api/holds/{id}/increment"), json!({"amount": 250_001})).await.status, 400);
    let cap = api.post(&format!("/api/holds/{id}/capture"), json!({})).await;
    assert_eq!(cap.body["amount_captured"], 15_000);
}
