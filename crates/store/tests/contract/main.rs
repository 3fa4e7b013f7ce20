//! One store contract suite, run against both back-ends: SQLite, and the
//! PostgreSQL server `CHITTYCHARGE_TEST_PG_URL` names (the test script
//! starts one). Each test gets a fresh database.
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing, helpers are shared across modules, and the tests print what they measured"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chittycharge_domain::hold::{Authorization, AwaitingPaymentMethod};
use chittycharge_domain::{Currency, GuestTier, Hold, HoldState, HoldStatus, Money, Timestamp};
use chittycharge_store::{HoldFilter, Job, NewEvent, OpStatus, Operation, SqlStore, Store, TokenRecord};
use sqlx::Executor;

const T0: Timestamp = Timestamp(1_700_000_000_000);

/// SQLite and PostgreSQL: every contract test runs on both.
async fn stores() -> Vec<(&'static str, Arc<SqlStore>)> {
    let mut out = Vec::new();
    let dir = std::env::temp_dir().join(format!("cc-store-{}", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}/test.db", dir.display());
    out.push(("sqlite", Arc::new(SqlStore::connect(&url).await.expect("sqlite store"))));
    match std::env::var("CHITTYCHARGE_TEST_PG_URL") {
        Ok(admin) => {
            let name = format!("cc_{}", uuid::Uuid::new_v4().simple());
            let admin_store = SqlStore::connect(&admin).await.expect("postgres admin connection");
            admin_store.pool().execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            out.push((
                "postgres",
                Arc::new(SqlStore::connect(&format!("{base}/{name}")).await.expect("postgres store")),
            ));
        }
        // Never a silent pass on SQLite alone: these tests are `#[ignore]`d
        // by name and scripts/test.sh runs them with a PostgreSQL server.
        Err(_) => panic!(
            "this test needs a PostgreSQL server, but CHITTYCHARGE_TEST_PG_URL is not set. Run scripts/test.sh, \
             which starts one and runs every test; or set it to an admin URL and run `cargo test -- --include-ignored`"
        ),
    }
    out
}

fn hold(id: &str, created: Timestamp, property: &str) -> Hold {
    let mut metadata = BTreeMap::new();
    metadata.insert("booking_id".to_string(), "42".to_string());
    Hold {
        id: id.to_string(),
        chitty_id: format!("CHITTY-AUTH-{id}"),
        processor: "simulated".into(),
        client_secret: Some(format!("{id}_secret_x")),
        state: HoldState::new(),
        amount: Money::new(25_000, Currency::usd()).unwrap(),
        description: "Incidentals".into(),
        customer_email: Some("g@example.com".into()),
        property_id: Some(property.to_string()),
        tenant_id: Some("t-1".into()),
        booking_id: None,
        tier: GuestTier::NewGuest,
        tier_reason: "default".into(),
        processing_fee: None,
        metadata,
        created_at: created,
        updated_at: created,
        created_by: Some("tok_1".into()),
        version: 0,
        op_lock: None,
        expires_at: None,
        livemode: false,
    }
}

fn created_event(at: Timestamp) -> NewEvent {
    NewEvent {
        kind: "created".into(),
        to_status: Some("requires_payment_method".into()),
        amount: Some(25_000),
        at,
        ..NewEvent::default()
    }
}

fn op(id: &str, kind: &str) -> Operation {
    Operation {
        id: id.to_string(),
        hold_id: None,
        kind: kind.to_string(),
        status: OpStatus::Pending,
        request: serde_json::json!({"amount": 25000}),
        error: None,
        attempts: 0,
        next_attempt_at: None,
        created_at: T0,
        updated_at: T0,
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_hold_round_trips_with_every_field() {
    for (name, store) in stores().await {
        let mut h = hold("pi_round", T0, "p-1");
        h.livemode = true;
        store.insert_operation(&op("op_create", "create")).await.unwrap();
        store.insert_hold(&h, &[created_event(T0)], Some("op_create")).await.unwrap();
        let got = store.get_hold("pi_round").await.unwrap().expect(name);
        assert_eq!(got, h, "{name}");
        assert_eq!(store.get_operation("op_create").await.unwrap().unwrap().status, OpStatus::Succeeded, "{name}");

        // authorized, then captured in part: amounts survive the round trip
        let AwaitingPaymentMethod { .. } = AwaitingPaymentMethod::default();
        let auth = Authorization::new(25_000, 25_000, T0.plus_secs(604_800)).unwrap();
        let authorized = AwaitingPaymentMethod::default().authorize(auth);
        h.state = HoldState::Captured(authorized.captured(5_000, T0.plus_secs(60)).unwrap());
        h.processing_fee = Some(175);
        assert!(store.save_hold(&h, 0, &[], None).await.unwrap(), "{name}");
        let got = store.get_hold("pi_round").await.unwrap().unwrap();
        assert_eq!(got.state.status(), HoldStatus::Captured, "{name}");
        let amounts = got.state.amounts();
        assert_eq!((amounts.captured, amounts.released), (5_000, 20_000), "{name}");
        assert_eq!(got.state.captured_at(), Some(T0.plus_secs(60)), "{name}");
        assert_eq!(got.version, 1, "{name}");
        assert_eq!(store.get_hold_by_chitty_id("CHITTY-AUTH-pi_round").await.unwrap().unwrap().id, "pi_round");
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn events_are_appended_in_order_with_their_details() {
    for (name, store) in stores().await {
        let h = hold("pi_ev", T0, "p-1");
        store.insert_hold(&h, &[created_event(T0)], None).await.unwrap();
        let ev = NewEvent {
            kind: "captured".into(),
            actor: Some("chittyrental".into()),
            from_status: Some("requires_capture".into()),
            to_status: Some("captured".into()),
            amount: Some(5_000),
            reason: Some("broken lamp".into()),
            data: Some(serde_json::json!({"lines": [{"amount": 5000}]})),
            at: T0.plus_secs(5),
        };
        assert!(store.save_hold(&h, 0, std::slice::from_ref(&ev), None).await.unwrap());
        let events = store.hold_events("pi_ev").await.unwrap();
        assert_eq!(events.len(), 2, "{name}");
        assert_eq!(events[0].kind, "created");
        assert_eq!(events[1].actor.as_deref(), Some("chittyrental"));
        assert_eq!(events[1].reason.as_deref(), Some("broken lamp"));
        assert_eq!(events[1].data, ev.data);
        assert_eq!(events[1].created_at, T0.plus_secs(5));
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn listing_is_newest_first_filtered_and_paginated() {
    for (name, store) in stores().await {
        for i in 0..5 {
            let prop = if i % 2 == 0 { "p-even" } else { "p-odd" };
            store
                .insert_hold(&hold(&format!("pi_l{i}"), T0.plus_secs(i), prop), &[created_event(T0)], None)
                .await
                .unwrap();
        }
        let all = store.list_holds(&HoldFilter { limit: 10, ..HoldFilter::default() }).await.unwrap();
        let ids: Vec<_> = all.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["pi_l4", "pi_l3", "pi_l2", "pi_l1", "pi_l0"], "{name}");

        let page1 = store.list_holds(&HoldFilter { limit: 2, ..HoldFilter::default() }).await.unwrap();
        let last = page1.last().unwrap();
        let page2 = store
            .list_holds(&HoldFilter {
                limit: 2,
                before: Some((last.created_at, last.id.clone())),
                ..HoldFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(page2.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["pi_l2", "pi_l1"], "{name}");

        let even = store
            .list_holds(&HoldFilter { property_id: Some("p-even".into()), limit: 10, ..HoldFilter::default() })
            .await
            .unwrap();
        assert_eq!(even.len(), 3, "{name}");
        let scoped = store
            .list_holds(&HoldFilter { property_scope: Some(vec!["p-odd".into()]), limit: 10, ..HoldFilter::default() })
            .await
            .unwrap();
        assert_eq!(scoped.len(), 2, "{name}");
        let none = store
            .list_holds(&HoldFilter { status: Some(HoldStatus::Captured), limit: 10, ..HoldFilter::default() })
            .await
            .unwrap();
        assert!(none.is_empty(), "{name}");
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn tokens_are_found_by_hash_and_revoked_once() {
    for (name, store) in stores().await {
        let t = TokenRecord {
            id: "tok_a".into(),
            name: "install".into(),
            token_hash: "ab".repeat(32),
            scopes: vec!["admin".into()],
            property_ids: Some(vec!["p-1".into(), "p-2".into()]),
            rate_limit: Some(100),
            created_at: T0,
            revoked_at: None,
        };
        store.insert_token(&t).await.unwrap();
        assert_eq!(store.find_token_by_hash(&"ab".repeat(32)).await.unwrap(), Some(t.clone()), "{name}");
        assert_eq!(store.count_tokens().await.unwrap(), 1);
        assert!(store.revoke_token("tok_a", T0).await.unwrap());
        assert!(!store.revoke_token("tok_a", T0).await.unwrap(), "{name}: second revoke is a no-op");
        assert_eq!(store.find_token_by_hash(&"ab".repeat(32)).await.unwrap().unwrap().revoked_at, Some(T0));
        assert_eq!(store.count_tokens().await.unwrap(), 1, "{name}: a revoked token still counts");
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn simulator_objects_compare_and_set() {
    for (name, store) in stores().await {
        assert!(store.sim_put("pi", "k", "v1", None).await.unwrap());
        assert!(!store.sim_put("pi", "k", "dup", None).await.unwrap(), "{name}: insert of an existing key");
        assert!(store.sim_put("pi", "k", "v2", Some(1)).await.unwrap());
        assert!(!store.sim_put("pi", "k", "v3", Some(1)).await.unwrap(), "{name}: stale version");
        assert_eq!(store.sim_get("pi", "k").await.unwrap(), Some(("v2".to_string(), 2)));
        assert_eq!(store.sim_keys("pi").await.unwrap(), vec!["k".to_string()]);
    }
}

#[tokio::test]
async fn data_survives_reopening_the_sqlite_file() {
    let dir = std::env::temp_dir().join(format!("cc-reopen-{}", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}/nested/dir/cc.db", dir.display());
    {
        let store = SqlStore::connect(&url).await.unwrap();
        store.insert_hold(&hold("pi_keep", T0, "p"), &[created_event(T0)], None).await.unwrap();
        store.pool().close().await;
    }
    let store = SqlStore::connect(&url).await.unwrap();
    assert!(store.get_hold("pi_keep").await.unwrap().is_some());
    assert_eq!(store.hold_events("pi_keep").await.unwrap().len(), 1);
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_webhook_event_is_recorded_once_and_redeliveries_are_told_from_replays() {
    use chittycharge_store::EventClaim;
    for (name, store) in stores().await {
        assert_eq!(store.webhook_event_seen("evt_1", 100).await.unwrap(), EventClaim::New, "{name}");
        assert_eq!(
            store.record_webhook_event("evt_1", "charge.captured", 100, T0, "applied").await.unwrap(),
            EventClaim::New
        );
        assert_eq!(store.webhook_event_seen("evt_1", 160).await.unwrap(), EventClaim::Duplicate, "{name}: redelivery");
        assert_eq!(store.webhook_event_seen("evt_1", 100).await.unwrap(), EventClaim::Replay, "{name}: same bytes");
        assert_eq!(
            store.record_webhook_event("evt_1", "charge.captured", 160, T0, "applied").await.unwrap(),
            EventClaim::Duplicate,
            "{name}: a racing redelivery is not recorded twice"
        );
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn many_concurrent_writes_all_return_and_are_all_readable() {
    for (name, store) in stores().await {
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .insert_hold(&hold(&format!("pi_many_{i}"), T0.plus_secs(i), "p-9"), &[created_event(T0)], None)
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        for i in 0..40 {
            assert!(store.get_hold(&format!("pi_many_{i}")).await.unwrap().is_some(), "{name}: pi_many_{i}");
        }
        let page = store
            .list_holds(&HoldFilter { property_id: Some("p-9".into()), limit: 100, ..HoldFilter::default() })
            .await
            .unwrap();
        assert_eq!(page.len(), 40, "{name}");
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn simulator_puts_in_one_call_are_all_or_nothing() {
    for (name, store) in stores().await {
        assert!(store.sim_put_all(&[("pi", "a", "a1", None), ("idem", "k", "r1", None)]).await.unwrap(), "{name}");
        // the second write's condition fails, so the first must not happen either
        assert!(!store.sim_put_all(&[("pi", "a", "a2", Some(1)), ("idem", "k", "r2", None)]).await.unwrap(), "{name}");
        // nor when the first write's condition fails: nothing after it happens
        assert!(!store.sim_put_all(&[("pi", "a", "a3", Some(9)), ("idem", "k2", "r3", None)]).await.unwrap(), "{name}");
        assert_eq!(store.sim_get("idem", "k2").await.unwrap(), None, "{name}");
        assert_eq!(store.sim_get("pi", "a").await.unwrap(), Some(("a1".to_string(), 1)), "{name}");
        assert_eq!(store.sim_get("idem", "k").await.unwrap(), Some(("r1".to_string(), 1)), "{name}");
    }
}

pub fn job(id: &str, key: &str, run_at: Timestamp) -> Job {
    Job {
        id: id.into(),
        kind: "expire".into(),
        key: key.into(),
        hold_id: Some("pi_timers".into()),
        booking_id: None,
        payload: serde_json::json!({ "capture_before": 1 }),
        run_at,
        status: "queued".into(),
        attempts: 0,
        last_error: None,
        created_at: T0,
        updated_at: T0,
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn jobs_scheduled_together_are_claimed_once_each_and_a_repeated_key_is_skipped() {
    for (name, store) in stores().await {
        store.schedule_jobs(&[job("job_a", "warn:1", T0), job("job_b", "expire:1", T0.plus_secs(1))]).await.unwrap();
        // the same keys again (a retried authorization) add nothing
        store.schedule_jobs(&[job("job_c", "warn:1", T0), job("job_d", "expire:1", T0)]).await.unwrap();
        let claimed = store.claim_jobs(T0.plus_secs(5), 60_000, 10).await.unwrap();
        let mut ids: Vec<_> = claimed.iter().map(|j| j.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["job_a", "job_b"], "{name}");
        assert!(store.claim_jobs(T0.plus_secs(5), 60_000, 10).await.unwrap().is_empty(), "{name}: leased");
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_running_jobs_lease_is_renewed_by_its_worker_and_not_by_a_late_one() {
    for (name, store) in stores().await {
        store.schedule_jobs(&[job("job_l", "lease:1", T0)]).await.unwrap();
        let first = store.claim_jobs(T0, 60_000, 1).await.unwrap().pop().expect("claimed");
        // Renewed while it runs: still leased well past the first lease.
        assert!(store.renew_job_lease(&first.id, first.attempts, T0.plus_secs(600)).await.unwrap(), "{name}");
        assert!(
            store.claim_jobs(T0.plus_secs(120), 60_000, 1).await.unwrap().is_empty(),
            "{name}: renewed lease holds"
        );
        // Once it lapses another worker takes it, and the first can no longer renew.
        let second = store.claim_jobs(T0.plus_secs(601), 60_000, 1).await.unwrap().pop().expect("re-claimed");
        assert_eq!(second.attempts, first.attempts + 1, "{name}");
        assert!(!store.renew_job_lease(&first.id, first.attempts, T0.plus_secs(700)).await.unwrap(), "{name}");
    }
}

/// A guest email waiting in the outbox since T0.
fn pending_mail(id: &str) -> chittycharge_store::Notification {
    chittycharge_store::Notification {
        id: id.into(),
        kind: "hold_placed".into(),
        recipient: "g@example.com".into(),
        subject: "s".into(),
        body: "b".into(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: T0,
        last_error: None,
        hold_id: None,
        booking_id: None,
        created_at: T0,
        sent_at: None,
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_due_email_is_claimed_by_one_worker_only() {
    for (name, store) in stores().await {
        let n = pending_mail("ntf_1");
        store.enqueue_notification(&n).await.unwrap();
        let (a, b) = tokio::join!(store.claim_notifications(T0, 60_000, 10), store.claim_notifications(T0, 60_000, 10));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len() + b.len(), 1, "{name}: one worker gets it");
        // After the claim lapses (the worker died) it is due again.
        assert_eq!(store.claim_notifications(T0.plus_secs(61), 60_000, 10).await.unwrap().len(), 1, "{name}");
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn history_past_retention_is_pruned_and_nothing_else() {
    for (name, store) in stores().await {
        for id in ["ntf_old_sent", "ntf_old_pending", "ntf_new_sent"] {
            store.enqueue_notification(&pending_mail(id)).await.unwrap();
        }
        let claimed = store.claim_notifications(T0, 60_000, 10).await.unwrap();
        for n in claimed.iter().filter(|n| n.id != "ntf_old_pending") {
            let at = if n.id == "ntf_old_sent" { T0 } else { T0.plus_secs(100 * 86_400) };
            assert!(store.record_notification_attempt(n, "sent", None, at, at).await.unwrap(), "{name}");
        }
        store.record_webhook_event("evt_old", "charge.captured", 1, T0, "applied").await.unwrap();
        store
            .record_webhook_event("evt_new", "charge.captured", 2, T0.plus_secs(100 * 86_400), "applied")
            .await
            .unwrap();

        let pruned = store.purge_history(T0.plus_secs(90 * 86_400)).await.unwrap();
        assert_eq!(pruned, 2, "{name}: the old webhook id and the old sent mail");
        let left: Vec<String> = store.list_notifications(10).await.unwrap().into_iter().map(|n| n.id).collect();
        assert!(left.contains(&"ntf_old_pending".to_string()), "{name}: unsent mail stays: {left:?}");
        assert!(
            left.contains(&"ntf_new_sent".to_string()) && !left.contains(&"ntf_old_sent".to_string()),
            "{name}: {left:?}"
        );
        assert_eq!(
            store.webhook_event_seen("evt_old", 1).await.unwrap(),
            chittycharge_store::EventClaim::New,
            "{name}"
        );
        assert_ne!(
            store.webhook_event_seen("evt_new", 2).await.unwrap(),
            chittycharge_store::EventClaim::New,
            "{name}"
        );
    }
}

mod gauges_and_limits;
mod idempotency;
mod locks;
