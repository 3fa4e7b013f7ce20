//! A hold's operation lock and its compare-and-set saves: one winner, and
//! a lost race writes nothing (checked on both back-ends).

use chittycharge_store::{OpStatus, Store};

use crate::{created_event, hold, job, op, stores, T0};

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn only_one_of_many_concurrent_lockers_wins_a_hold() {
    for (name, store) in stores().await {
        store.insert_hold(&hold("pi_race", T0, "p-1"), &[created_event(T0)], None).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.lock_hold("pi_race", 0, &op(&format!("op_{i}"), "capture")).await.unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            if t.await.unwrap() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1, "{name}");
        let locked = store.get_hold("pi_race").await.unwrap().unwrap();
        assert!(locked.op_lock.is_some(), "{name}");
        // a locked hold cannot be claimed again even at its new version
        assert!(!store.lock_hold("pi_race", locked.version, &op("op_late", "cancel")).await.unwrap(), "{name}");
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_stale_write_is_refused_and_changes_nothing() {
    for (name, store) in stores().await {
        let mut h = hold("pi_stale", T0, "p-1");
        store.insert_hold(&h, &[created_event(T0)], None).await.unwrap();
        h.description = "changed".into();
        h.processing_fee = Some(1);
        assert!(!store.save_hold(&h, 7, &[created_event(T0)], None).await.unwrap(), "{name}");
        let got = store.get_hold("pi_stale").await.unwrap().unwrap();
        assert_eq!(got.processing_fee, None, "{name}");
        assert_eq!(store.hold_events("pi_stale").await.unwrap().len(), 1, "{name}");
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_lost_lock_records_no_operation_and_a_stale_settle_finishes_nothing() {
    for (name, store) in stores().await {
        let h = hold("pi_settle", T0, "p-1");
        store.insert_hold(&h, &[created_event(T0)], None).await.unwrap();
        // A lock at the wrong version: no operation is recorded for it.
        assert!(!store.lock_hold("pi_settle", 5, &op("op_lost", "capture")).await.unwrap(), "{name}");
        assert!(store.get_operation("op_lost").await.unwrap().is_none(), "{name}");
        // The lock that wins records its operation, pending.
        assert!(store.lock_hold("pi_settle", 0, &op("op_won", "capture")).await.unwrap(), "{name}");
        let locked = store.get_hold("pi_settle").await.unwrap().unwrap();
        assert_eq!(store.get_operation("op_won").await.unwrap().unwrap().status, OpStatus::Pending, "{name}");
        // A settle at a stale version neither finishes it nor adds events.
        let finish = Some(("op_won", OpStatus::Succeeded, None));
        assert!(!store.save_hold(&locked, 0, &[created_event(T0)], finish).await.unwrap(), "{name}");
        assert_eq!(store.get_operation("op_won").await.unwrap().unwrap().status, OpStatus::Pending, "{name}");
        assert_eq!(store.hold_events("pi_settle").await.unwrap().len(), 1, "{name}");
        // At the right version all three are written, in one go.
        let two = [created_event(T0), created_event(T0)];
        assert!(store.save_hold(&locked, locked.version, &two, finish).await.unwrap(), "{name}");
        assert_eq!(store.get_operation("op_won").await.unwrap().unwrap().status, OpStatus::Succeeded, "{name}");
        assert_eq!(store.hold_events("pi_settle").await.unwrap().len(), 3, "{name}");
    }
}

/// A save that brings timers writes them only if the hold itself is
/// written: a lost race leaves no timer behind.
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn timers_saved_with_a_hold_exist_only_if_the_hold_was_written() {
    for (name, store) in stores().await {
        let h = hold("pi_timers", T0, "p-1");
        store.insert_hold(&h, &[created_event(T0)], None).await.unwrap();
        let stale = [job("job_stale", "expire:stale", T0)];
        assert!(!store.save_hold_scheduling(&h, 7, &[], None, &stale).await.unwrap(), "{name}: wrong version");
        assert!(store.claim_jobs(T0.plus_secs(5), 60_000, 10).await.unwrap().is_empty(), "{name}: no timer");

        let timers = [job("job_warn", "warn:pi_timers", T0), job("job_expire", "expire:pi_timers", T0)];
        assert!(store.save_hold_scheduling(&h, 0, &[created_event(T0)], None, &timers).await.unwrap(), "{name}");
        let mut claimed: Vec<_> = store.claim_jobs(T0.plus_secs(5), 60_000, 10).await.unwrap();
        claimed.sort_by(|a, b| a.id.cmp(&b.id));
        let got: Vec<_> = claimed.iter().map(|j| (j.id.as_str(), j.key.as_str(), j.run_at)).collect();
        assert_eq!(got, [("job_expire", "expire:pi_timers", T0), ("job_warn", "warn:pi_timers", T0)], "{name}");
        assert_eq!(claimed[0].payload, serde_json::json!({ "capture_before": 1 }), "{name}: the payload as written");
        assert_eq!(store.hold_events("pi_timers").await.unwrap().len(), 2, "{name}: the event with them");
    }
}

/// A hold created with its timers (a create that confirmed at once) has
/// them from the moment it exists, and a create that fails writes none.
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn timers_inserted_with_a_new_hold_exist_only_if_the_hold_was_inserted() {
    for (name, store) in stores().await {
        let h = hold("pi_born", T0, "p-1");
        let timers = [job("job_born_warn", "warn:pi_born", T0), job("job_born_expire", "expire:pi_born", T0)];
        store.insert_hold_scheduling(&h, &[created_event(T0)], None, &timers).await.unwrap();
        let mut claimed: Vec<_> = store.claim_jobs(T0.plus_secs(5), 60_000, 10).await.unwrap();
        claimed.sort_by(|a, b| a.id.cmp(&b.id));
        let got: Vec<_> = claimed.iter().map(|j| (j.id.as_str(), j.key.as_str())).collect();
        assert_eq!(got, [("job_born_expire", "expire:pi_born"), ("job_born_warn", "warn:pi_born")], "{name}");
        assert_eq!(store.hold_events("pi_born").await.unwrap().len(), 1, "{name}");

        // The same id again is refused whole: no second set of timers.
        let again = [job("job_again", "expire:again", T0)];
        assert!(store.insert_hold_scheduling(&h, &[], None, &again).await.is_err(), "{name}: a duplicate hold");
        assert!(
            store.claim_jobs(T0.plus_secs(5), 60_000, 10).await.unwrap().is_empty(),
            "{name}: no timer left behind"
        );
    }
}
