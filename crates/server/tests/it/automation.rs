//! The hold's whole life, automated and driven by the test clock: ChittyID
//! minting and reconciliation, expiry, re-authorization of long stays,
//! scheduled placement, and jobs that run once with two instances.

use std::collections::HashMap;

use crate::common::{postgres_db, sqlite_db, ChittyIdStandIn, MintMode, Server};
use chittycharge_client::api::{BookingRequest, PropertyRequest};
use serde_json::json;

const JOBS_FAST: (&str, &str) = ("CHITTYCHARGE_JOBS_INTERVAL_MS", "40");

fn chitty_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CHITTY_ID_TOKEN", "chittyid-outbound-secret".into()),
        ("CHITTY_ID_URL", url.to_string()),
        ("CHITTY_ID_TIMEOUT_MS", "300".into()),
        ("CHITTY_ID_RETRY_SCHEDULE", "1s,1s,2s".into()),
        ("CHITTYCHARGE_JOBS_INTERVAL_MS", "50".into()),
    ]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chittyid_outage_leaves_unique_pending_ids_that_are_all_reconciled() {
    let mint = ChittyIdStandIn::start().await;
    let env = chitty_env(&mint.url);
    let server = Server::start_with(sqlite_db(), &pairs(&env));
    let api = server.client();

    let good = api
        .post("/api/holds", json!({"amount": 1000, "description": "x", "property_id": "p1", "tenant_id": "t1"}))
        .await;
    assert_eq!(good.status, 201);
    assert_eq!(good.body["chitty_id"], "CHITTY-AUTH-000001-TST");
    let (auth, body) = mint.state.requests.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer chittyid-outbound-secret"));
    assert_eq!(body["entity_type"], "AUTH");
    assert_eq!(body["metadata"]["stripe_payment_intent_id"], good.body["id"]);
    assert_eq!(body["metadata"]["amount"], 1000);
    assert_eq!(body["metadata"]["property_id"], "p1");
    assert_eq!(body["metadata"]["tenant_id"], "t1");
    assert_eq!(body["metadata"]["source"], "chittycharge");
    // The outbound ChittyID token is not an API credential here.
    assert_eq!(api.with_token("chittyid-outbound-secret").get("/api/holds").await.status, 401);

    let mut pending = Vec::new();
    for mode in [MintMode::Unavailable, MintMode::Malformed, MintMode::Slow, MintMode::Unavailable] {
        mint.set(mode);
        let r = api.post("/api/holds", json!({"amount": 1000, "description": "x"})).await;
        assert_eq!(r.status, 201, "creation never waits on ChittyID: {}", r.text);
        let id = r.body["chitty_id"].as_str().unwrap().to_string();
        assert!(id.starts_with("CHITTY-AUTH-PENDING-"), "{id}");
        pending.push((r.body["id"].as_str().unwrap().to_string(), id));
    }
    let unique: std::collections::HashSet<_> = pending.iter().map(|(_, c)| c.clone()).collect();
    assert_eq!(unique.len(), pending.len(), "PENDING ids are unique");

    mint.set(MintMode::Good);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for (hold, old) in &pending {
        loop {
            let h = api.get(&format!("/api/holds/{hold}")).await.body;
            let now = h["chitty_id"].as_str().unwrap().to_string();
            let meta = api.get(&format!("/_sim/payment_intents/{hold}")).await.body["metadata"]["chitty_id"].clone();
            if !now.starts_with("CHITTY-AUTH-PENDING-") && meta == now.as_str() {
                assert_eq!(api.get(&format!("/api/holds/by-chitty-id/{now}")).await.body["id"], hold.as_str());
                assert_eq!(api.get(&format!("/api/holds/by-chitty-id/{old}")).await.status, 404);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "hold {hold} was not reconciled (chitty_id {now}, metadata {meta})"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let events = api.get(&format!("/api/holds/{}/events", pending[0].0)).await.body;
    assert!(events.to_string().contains("chitty_id_minted"));
}

#[tokio::test]
async fn an_expiring_hold_warns_the_operator_then_expires_and_refuses_capture() {
    let server = Server::start_with(
        sqlite_db(),
        &[JOBS_FAST, ("OPERATOR_EMAIL", "ops@example.com"), ("CHITTYCHARGE_EXPIRY_WARNING", "1d")],
    );
    let api = server.client();
    let id = api.authorized_hold(5000).await;
    api.advance(6 * 86_400 + 3_600).await;
    let events = api.get(&format!("/api/holds/{id}/events")).await.body;
    assert!(events.to_string().contains("expiry_warning"), "{events}");
    let outbox = api.get("/api/notifications").await.body;
    assert!(outbox["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["kind"] == "expiry_warning" && n["recipient"] == "ops@example.com"));
    api.advance(86_400).await;
    // The job expired it; listing (which does not refresh) shows it.
    let listed = api.get("/api/holds?status=expired").await.body;
    assert_eq!(listed["holds"][0]["id"], id.as_str(), "{listed}");
    let r = api.post(&format!("/api/holds/{id}/capture"), json!({})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (409, Some("hold_expired")));
}

#[tokio::test]
async fn a_twenty_night_booking_keeps_one_active_hold_through_check_out_and_claim_window() {
    let server = Server::start_with(sqlite_db(), &[JOBS_FAST]);
    let api = server.client();
    let cc = server.rust_client();
    let (first_hold, end) = crate::common::twenty_night_stay(&server).await;
    let mut holds_seen = vec![first_hold.clone()];
    loop {
        let b = cc.get_booking("stay20").await.unwrap();
        assert_eq!(b.status, "hold_active");
        let current = b.hold_id.unwrap();
        if !holds_seen.contains(&current) {
            holds_seen.push(current.clone());
        }
        let active: Vec<_> = api.get("/api/holds?status=requires_capture").await.body["holds"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["booking_id"] == "stay20")
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(active, vec![current.clone()], "exactly one active hold, the booking's");
        let h = cc.get_hold(&current).await.unwrap();
        let clock = api.get("/_sim/clock").await.body["now"].as_str().unwrap().to_string();
        let clock = chrono::DateTime::parse_from_rfc3339(&clock).unwrap().timestamp();
        if clock > end {
            break;
        }
        let deadline = chrono::DateTime::parse_from_rfc3339(h.capture_before.as_deref().unwrap()).unwrap().timestamp();
        assert!(deadline > clock, "the active hold is never past its deadline");
        api.advance(6 * 3_600).await;
    }
    assert!(holds_seen.len() >= 4, "20 nights + 2 days need several renewals: {holds_seen:?}");
    // Every swap made the new hold before releasing the old one, and the logs link them.
    for pair in holds_seen.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        let old_events = cc.events(old).await.unwrap().events;
        let linked = old_events.iter().find(|e| e.kind == "reauthorized_to").expect("link to the new hold");
        assert_eq!(linked.data.as_ref().unwrap()["other_hold"], new.as_str());
        let canceled = old_events.iter().find(|e| e.kind == "canceled").expect("old hold released");
        let new_hold = cc.get_hold(new).await.unwrap();
        assert!(new_hold.created_at <= canceled.created_at, "new hold {new} created before {old} was released");
        assert_eq!(cc.get_hold(old).await.unwrap().status, "canceled");
    }
}

#[tokio::test]
async fn a_declined_reauthorization_keeps_the_old_hold_and_tells_the_operator() {
    let server = Server::start_with(sqlite_db(), &[JOBS_FAST, ("OPERATOR_EMAIL", "ops@example.com")]);
    let api = server.client();
    let cc = server.rust_client();
    cc.put_property(&PropertyRequest { id: "p".into(), name: Some("P".into()), ..Default::default() }).await.unwrap();
    let now = api.get("/_sim/clock").await.body["now"].as_str().unwrap().to_string();
    let today = chrono::NaiveDate::parse_from_str(&now[..10], "%Y-%m-%d").unwrap();
    cc.create_booking(&BookingRequest {
        id: "bk".into(),
        property_id: "p".into(),
        guest_name: "G".into(),
        check_in: today.to_string(),
        check_out: (today + chrono::Days::new(14)).to_string(),
        ..Default::default()
    })
    .await
    .unwrap();
    let a = cc.authorize_booking("bk", Some("pm_card_visa")).await.unwrap();
    // The saved card starts declining (as a card cancelled mid-stay would).
    let declining = "pm_card_chargeDeclined".to_string();
    server_set_saved_card(&server, "bk", &declining).await;
    api.advance(7 * 86_400 - 11 * 3_600).await;
    let events = cc.events(&a.hold_id).await.unwrap().events;
    assert!(events.iter().any(|e| e.kind == "reauthorization_failed"), "{events:?}");
    assert_eq!(cc.get_booking("bk").await.unwrap().hold_id.as_deref(), Some(a.hold_id.as_str()), "old hold kept");
    assert_eq!(cc.get_hold(&a.hold_id).await.unwrap().status, "requires_capture");
    let outbox = api.get("/api/notifications").await.body;
    assert!(outbox["notifications"].as_array().unwrap().iter().any(|n| n["subject"] == "Re-authorization declined"));
}

/// Points a booking's saved card elsewhere, through the database the test owns.
async fn server_set_saved_card(server: &Server, booking: &str, pm: &str) {
    let crate::common::Db::Sqlite(path) = &server.db else { panic!("sqlite only") };
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE bookings SET saved_payment_method=? WHERE id=?', (sys.argv[2], sys.argv[3])); c.commit()",
            &path.display().to_string(),
            pm,
            booking,
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_scheduled_hold_is_placed_at_local_midnight_before_check_in() {
    let server = Server::start_with(sqlite_db(), &[JOBS_FAST]);
    let api = server.client();
    let cc = server.rust_client();
    cc.put_property(&PropertyRequest {
        id: "chi".into(),
        name: Some("Chicago Loft".into()),
        time_zone: Some("America/Chicago".into()),
        hold_lead_days: Some(2),
        ..Default::default()
    })
    .await
    .unwrap();
    let now = api.get("/_sim/clock").await.body["now"].as_str().unwrap().to_string();
    let now_ts = chrono::DateTime::parse_from_rfc3339(&now).unwrap().timestamp();
    let today = chrono::NaiveDate::parse_from_str(&now[..10], "%Y-%m-%d").unwrap();
    let check_in = today + chrono::Days::new(6);
    cc.create_booking(&BookingRequest {
        id: "sched".into(),
        property_id: "chi".into(),
        guest_name: "Sam".into(),
        guest_email: Some("sam@example.com".into()),
        check_in: check_in.to_string(),
        check_out: (check_in + chrono::Days::new(3)).to_string(),
        payment_method: Some("pm_card_visa".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    use chrono::TimeZone;
    let local_midnight = chrono_tz::America::Chicago
        .from_local_datetime(&(check_in - chrono::Days::new(2)).and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .timestamp();
    api.advance(local_midnight - now_ts - 120).await;
    assert_eq!(cc.get_booking("sched").await.unwrap().status, "booked", "not yet");
    api.advance(240).await;
    let b = cc.get_booking("sched").await.unwrap();
    assert_eq!(b.status, "hold_active", "placed at local midnight two days before check-in");
    let hold = cc.get_hold(b.hold_id.as_deref().unwrap()).await.unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(&hold.created_at).unwrap().timestamp();
    assert!(
        created >= local_midnight && created <= local_midnight + 240,
        "created {created}, midnight {local_midnight}"
    );
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_instances_on_one_postgres_each_job_runs_once() {
    let db = postgres_db();
    let mint = ChittyIdStandIn::start().await;
    let env = chitty_env(&mint.url);
    let a = Server::start_with(db.clone(), &pairs(&env));
    let b = Server::start_with(db, &pairs(&env));
    let mut ids = Vec::new();
    for i in 0..30 {
        let api = if i % 2 == 0 { a.client() } else { b.client() };
        let r = api.post("/api/holds", json!({"amount": 1000 + i, "description": "x"})).await;
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    a.client().settle_jobs().await;
    b.client().settle_jobs().await;
    let mut runs: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        let events = a.client().get(&format!("/api/holds/{id}/events")).await.body;
        let n = events["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "job").count();
        runs.insert(id.clone(), n);
    }
    assert!(runs.values().all(|n| *n == 1), "each hold's job ran exactly once: {runs:?}");
    assert!(mint.state.minted.lock().unwrap().values().all(|n| *n == 1), "each hold minted once");
    let jobs = a.client().get("/api/jobs").await.body;
    let done: i64 = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["status"] == "done")
        .map(|j| j["count"].as_i64().unwrap())
        .sum();
    assert_eq!(done, 30, "{jobs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_chittyid_outage_creates_stop_calling_it_and_the_reconciler_catches_up() {
    let mint = ChittyIdStandIn::start().await;
    mint.set(MintMode::Unavailable);
    let mut env = chitty_env(&mint.url);
    // The reconciler waits 30 s of the test clock, so every call ChittyID
    // sees below comes from a create.
    env.retain(|(k, _)| *k != "CHITTY_ID_RETRY_SCHEDULE");
    env.push(("CHITTY_ID_RETRY_SCHEDULE", "30s,1h".into()));
    let server = Server::start_with(sqlite_db(), &pairs(&env));
    let api = server.client();
    let create = || api.post("/api/holds", json!({"amount": 1000, "description": "x"}));
    let mut holds = Vec::new();
    for _ in 0..3 {
        let r = create().await;
        assert_eq!(r.status, 201, "{}", r.text);
        holds.push(r.body["id"].as_str().unwrap().to_string());
    }
    let asked = mint.state.requests.lock().unwrap().len();
    assert!(asked >= 3, "the first creates tried ChittyID: {asked}");
    // The breaker is open: creates no longer wait on ChittyID at all.
    for _ in 0..5 {
        let r = create().await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.body["chitty_id"].as_str().unwrap().starts_with("CHITTY-AUTH-PENDING-"));
        holds.push(r.body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        mint.state.requests.lock().unwrap().len(),
        asked,
        "no create called ChittyID while the breaker was open"
    );
    let metrics = api.get("/metrics").await.text;
    assert!(metrics.contains("chittycharge_chittyid_mints_total{result=\"skipped\"} 5"), "{metrics}");

    // ChittyID is back: the reconciler mints every PENDING id, and that
    // success closes the breaker for creates too.
    mint.set(MintMode::Good);
    api.advance(2 * 3_600).await;
    for hold in &holds {
        let mut id = String::new();
        for _ in 0..100 {
            id = api.get(&format!("/api/holds/{hold}")).await.body["chitty_id"].as_str().unwrap().to_string();
            if !id.starts_with("CHITTY-AUTH-PENDING-") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(!id.starts_with("CHITTY-AUTH-PENDING-"), "{hold} reconciled: {id}");
    }
    let r = create().await;
    assert!(
        !r.body["chitty_id"].as_str().unwrap().starts_with("CHITTY-AUTH-PENDING-"),
        "minted inline again: {}",
        r.text
    );
}
