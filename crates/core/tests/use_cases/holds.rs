//! Capture, cancel, confirm and increment, with the callers who may not.

use chittycharge_core::{CaptureCommand, CoreError};
use chittycharge_domain::{HoldStatus, PositiveAmount};

use crate::{admin, create, reader, world, writer, writer_of};

fn capture(amount: Option<i64>) -> CaptureCommand {
    let amount = amount.map(|a| PositiveAmount::new(a).expect("a positive amount"));
    CaptureCommand { amount, reason: Some("damages".into()), detail: None }
}

#[tokio::test]
async fn a_partial_capture_takes_the_amount_and_releases_the_rest() {
    let w = world().await;
    let hold = w.authorized(10_000).await;
    assert_eq!(hold.state.status(), HoldStatus::RequiresCapture);

    let out = w.svc.capture(&hold.id, capture(Some(2_500)), &writer()).await.expect("capture");
    assert_eq!(out.captured.minor(), 2_500);
    assert_eq!(out.released, 7_500);
    let a = out.hold.state.amounts();
    assert_eq!(
        (out.hold.state.status(), a.captured, a.released, a.capturable),
        (HoldStatus::Captured, 2_500, 7_500, 0)
    );
    // The stored hold says the same, and a second capture is refused.
    let stored = w.svc.get(&hold.id, &reader()).await.expect("read back");
    assert_eq!(stored.state.amounts().captured, 2_500);
    let again = w.svc.capture(&hold.id, capture(Some(1)), &writer()).await;
    assert!(matches!(again, Err(CoreError::InvalidState { .. })), "{again:?}");
}

#[tokio::test]
async fn a_capture_above_the_capturable_amount_is_refused_and_changes_nothing() {
    let w = world().await;
    let hold = w.authorized(5_000).await;
    let over = w.svc.capture(&hold.id, capture(Some(5_001)), &writer()).await;
    assert!(matches!(over, Err(CoreError::ExceedsCapturable { requested: 5_001, capturable: 5_000 })), "{over:?}");
    // Zero and negatives cannot reach the use case: no such amount exists.
    for bad in [0, -1, i64::MIN] {
        assert!(PositiveAmount::new(bad).is_err(), "{bad}");
    }
    let stored = w.svc.get(&hold.id, &reader()).await.expect("read back");
    assert_eq!((stored.state.status(), stored.state.amounts().capturable), (HoldStatus::RequiresCapture, 5_000));
}

#[tokio::test]
async fn two_captures_at_once_charge_the_card_once() {
    let w = world().await;
    let hold = w.authorized(8_000).await;
    let who = writer();
    let (a, b) = tokio::join!(
        w.svc.capture(&hold.id, capture(Some(3_000)), &who),
        w.svc.capture(&hold.id, capture(Some(3_000)), &who),
    );
    let won = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
    assert_eq!(won, 1, "exactly one capture wins: {a:?} / {b:?}", a = a.as_ref().err(), b = b.as_ref().err());
    let stored = w.svc.get(&hold.id, &reader()).await.expect("read back");
    assert_eq!(stored.state.amounts().captured, 3_000);
}

#[tokio::test]
async fn a_cancel_releases_the_hold_and_a_later_capture_is_refused() {
    let w = world().await;
    let hold = w.authorized(4_000).await;
    let canceled = w.svc.cancel(&hold.id, Some("guest left early".into()), &writer()).await.expect("cancel");
    assert_eq!(canceled.state.status(), HoldStatus::Canceled);
    assert_eq!(canceled.state.amounts().released, 4_000);
    let late = w.svc.capture(&hold.id, capture(None), &writer()).await;
    assert!(matches!(late, Err(CoreError::InvalidState { .. })), "{late:?}");
}

#[tokio::test]
async fn a_read_only_caller_can_neither_capture_nor_release() {
    let w = world().await;
    let hold = w.authorized(4_000).await;
    let cap = w.svc.capture(&hold.id, capture(None), &reader()).await;
    assert!(matches!(cap, Err(CoreError::Forbidden { .. })), "{cap:?}");
    let can = w.svc.cancel(&hold.id, None, &reader()).await;
    assert!(matches!(can, Err(CoreError::Forbidden { .. })), "{can:?}");
    let stored = w.svc.get(&hold.id, &admin()).await.expect("read back");
    assert_eq!(stored.state.status(), HoldStatus::RequiresCapture);
}

#[tokio::test]
async fn another_propertys_writer_sees_no_such_hold() {
    let w = world().await;
    let mut cmd = create(4_000, Some("pm_card_visa"));
    cmd.property_id = Some("villa-a".into());
    let hold = w.svc.create(cmd, &writer()).await.expect("create").hold;
    let other = writer_of("villa-b");
    assert!(matches!(w.svc.get(&hold.id, &other).await, Err(CoreError::NotFound)));
    assert!(matches!(w.svc.capture(&hold.id, capture(None), &other).await, Err(CoreError::NotFound)));
    assert!(matches!(w.svc.cancel(&hold.id, None, &other).await, Err(CoreError::NotFound)));
    // Its own property's writer may.
    let own = w.svc.capture(&hold.id, capture(Some(100)), &writer_of("villa-a")).await.expect("own property");
    assert_eq!(own.captured.minor(), 100);
}

#[tokio::test]
async fn confirming_with_a_card_authorizes_and_a_declined_card_does_not() {
    let w = world().await;
    let hold = w.svc.create(create(6_000, None), &writer()).await.expect("create").hold;
    assert_eq!(hold.state.status(), HoldStatus::RequiresPaymentMethod);
    let confirmed = w.svc.confirm(&hold.id, "pm_card_visa", &writer()).await.expect("confirm");
    assert_eq!(confirmed.state.status(), HoldStatus::RequiresCapture);
    assert_eq!(confirmed.state.amounts().capturable, 6_000);

    let other = w.svc.create(create(6_000, None), &writer()).await.expect("create").hold;
    let declined = w.svc.confirm(&other.id, "pm_card_chargeDeclinedInsufficientFunds", &writer()).await;
    assert!(matches!(&declined, Err(CoreError::Declined { decline_code: Some(c), .. }) if c == "insufficient_funds"));
    let stored = w.svc.get(&other.id, &reader()).await.expect("read back");
    assert_eq!(stored.state.amounts().capturable, 0, "a declined card holds nothing");
}

#[tokio::test]
async fn an_increment_raises_the_hold_and_a_smaller_total_is_refused() {
    let w = world().await;
    let mut cmd = create(5_000, Some("pm_card_visa"));
    cmd.incremental = true;
    let hold = w.svc.create(cmd, &writer()).await.expect("create").hold;
    let raised = w.svc.increment(&hold.id, 7_500, &writer()).await.expect("increment");
    assert_eq!((raised.amount.minor(), raised.state.amounts().capturable), (7_500, 7_500));
    let lower = w.svc.increment(&hold.id, 7_000, &writer()).await;
    assert!(matches!(lower, Err(CoreError::Validation { .. })), "{lower:?}");
    let by_reader = w.svc.increment(&hold.id, 9_000, &reader()).await;
    assert!(matches!(by_reader, Err(CoreError::Forbidden { .. })), "{by_reader:?}");
    // The larger amount is what can be captured now.
    let out = w.svc.capture(&hold.id, capture(None), &writer()).await.expect("capture");
    assert_eq!(out.captured.minor(), 7_500);
}

/// The server drops the simulator's events that the call making them
/// settles (core/src/in_flight.rs); only those may be dropped.
#[tokio::test]
async fn only_the_events_of_a_call_still_running_are_left_to_that_call() {
    let w = world().await;
    let hold = w.svc.create(create(10_000, None), &writer()).await.expect("create").hold;
    let confirmed = w.svc.confirm(&hold.id, "pm_card_visa", &writer()).await.expect("confirm");
    assert_eq!(confirmed.state.status(), HoldStatus::RequiresCapture, "the confirm's settle moved the hold");
    let out = w.svc.capture(&hold.id, capture(Some(2_500)), &writer()).await.expect("capture");
    assert_eq!(out.hold.state.status(), HoldStatus::Captured);
    let ours = std::mem::take(&mut *w.events.lock().expect("events"));
    assert_eq!(
        ours,
        [
            ("payment_intent.amount_capturable_updated".to_string(), true),
            ("payment_intent.succeeded".to_string(), true),
            ("charge.captured".to_string(), true),
        ]
    );
    assert!(!w.svc.in_flight.contains(&hold.id), "nothing stays in flight after the calls");

    // The guest confirms on the simulator itself (the check-in page's
    // path): only the event can move our hold, so it must go through.
    let guest = w.svc.create(create(10_000, None), &writer()).await.expect("create").hold;
    let key = chittycharge_processor::IdempotencyKey::new("guest-confirm").expect("key");
    w.svc.processor.confirm(&guest.id, "pm_card_visa", &key).await.expect("guest confirm");
    let theirs = std::mem::take(&mut *w.events.lock().expect("events"));
    assert_eq!(theirs, [("payment_intent.amount_capturable_updated".to_string(), false)]);
}

/// What an instance remembers of a hold it wrote is the stored row itself.
#[tokio::test]
async fn the_hold_an_instance_remembers_is_the_stored_hold() {
    let w = world().await;
    let hold = w.svc.create(create(10_000, None), &writer()).await.expect("create").hold;
    let stored = || async { w.svc.store.get_hold(&hold.id).await.expect("read").expect("stored") };
    assert_eq!(w.svc.hints.peek(&hold.id), Some(stored().await), "after the create");
    w.svc.confirm(&hold.id, "pm_card_visa", &writer()).await.expect("confirm");
    assert_eq!(w.svc.hints.peek(&hold.id), Some(stored().await), "after the confirm");
    w.svc.capture(&hold.id, capture(Some(2_500)), &writer()).await.expect("capture");
    assert_eq!(w.svc.hints.peek(&hold.id), Some(stored().await), "after the capture");
}

/// Another instance moved the hold on since this one wrote it: this one's
/// answers are the ones a fresh read gives, whichever way the old state
/// would have pointed.
#[tokio::test]
async fn an_instance_whose_memory_of_a_hold_is_old_answers_as_if_it_had_read_it() {
    let w = world().await;
    let other = w.other_instance();

    // Remembered as waiting for a card; the other instance confirmed it.
    let hold = w.svc.create(create(10_000, None), &writer()).await.expect("create").hold;
    other.confirm(&hold.id, "pm_card_visa", &writer()).await.expect("confirm elsewhere");
    let out = w.svc.capture(&hold.id, capture(Some(2_500)), &writer()).await.expect("captured, not refused");
    assert_eq!((out.hold.state.status(), out.captured.minor()), (HoldStatus::Captured, 2_500));

    // Remembered as capturable; the other instance released it.
    let hold = w.authorized(10_000).await;
    other.cancel(&hold.id, None, &writer()).await.expect("released elsewhere");
    let again = w.svc.capture(&hold.id, capture(Some(1_000)), &writer()).await;
    assert!(matches!(again, Err(CoreError::InvalidState { .. })), "refused for its state, not a 409 busy: {again:?}");
    let cancel = w.svc.cancel(&hold.id, None, &writer()).await;
    assert!(matches!(cancel, Err(CoreError::InvalidState { .. })), "{cancel:?}");
    let stored = w.svc.store.get_hold(&hold.id).await.expect("read").expect("stored");
    assert_eq!((stored.state.status(), stored.state.amounts().captured), (HoldStatus::Canceled, 0));
}

/// The guest authenticates (3-D Secure) while an operation holds the
/// hold's lock: the news cannot be written then, and must not be lost. A
/// red-team run found such holds stuck in `requires_action` while the
/// processor had them authorized.
#[tokio::test]
async fn a_guest_step_during_an_operation_reaches_the_hold_when_the_lock_is_gone() {
    use chittycharge_store::OpStatus;
    let w = world().await;
    let hold = w.svc.create(create(10_000, None), &writer()).await.expect("create").hold;
    let hold = w.svc.confirm(&hold.id, "pm_card_threeDSecure2Required", &writer()).await.expect("confirm");
    assert_eq!(hold.state.status(), HoldStatus::RequiresAction);

    // Another operation holds the lock (as a request in flight would).
    let now = w.svc.now();
    let op = w.lock_as(&hold, "op_elsewhere", "cancel").await;
    w.raw_events.lock().expect("events").clear();
    w.sim.authenticate(&hold.id, true).await.expect("the guest authenticates");
    let events = std::mem::take(&mut *w.raw_events.lock().expect("events"));
    assert_eq!(events.len(), 1, "{events:?}");
    w.svc.apply_own_event(&events[0]).await.expect("applied");
    let stored = w.svc.store.get_hold(&hold.id).await.expect("read").expect("stored");
    assert_eq!(stored.state.status(), HoldStatus::RequiresAction, "locked: nothing written yet");

    let due = w.svc.store.claim_jobs(now.plus_secs(1), 60_000, 10).await.expect("jobs");
    let sync: Vec<_> = due.into_iter().filter(|j| j.kind == "sync").collect();
    assert_eq!(sync.len(), 1, "one sync waits for the lock");
    let waiting = w.svc.run_job(&sync[0]).await;
    assert!(matches!(waiting, chittycharge_core::automation::JobOutcome::RetryAt(..)), "{waiting:?}");

    // The other operation ends (it changed nothing); the sync goes through.
    let mut released = stored.clone();
    released.op_lock = None;
    assert!(w
        .svc
        .store
        .save_hold(&released, stored.version, &[], Some((&op.id, OpStatus::Failed, None)))
        .await
        .expect("settle"));
    let done = w.svc.run_job(&sync[0]).await;
    assert!(matches!(done, chittycharge_core::automation::JobOutcome::Done(_)), "{done:?}");
    let synced = w.svc.store.get_hold(&hold.id).await.expect("read").expect("stored");
    assert_eq!(synced.state.status(), HoldStatus::RequiresCapture, "the authorization reached the hold");
    let out = w.svc.capture(&hold.id, capture(Some(2_500)), &writer()).await.expect("and it can be captured");
    assert_eq!(out.captured.minor(), 2_500);
}

/// An event that names the idempotency key of the operation holding the
/// lock is that operation's own news: its settle applies it, and no sync
/// is left behind.
#[tokio::test]
async fn the_locking_operations_own_event_leaves_no_sync_behind() {
    let w = world().await;
    let hold = w.authorized(10_000).await;
    let now = w.svc.now();
    w.lock_as(&hold, "op_mine", "capture").await;
    let event = |key: &str| {
        serde_json::json!({
            "id": format!("evt_{key}"),
            "type": "payment_intent.succeeded",
            "data": { "object": { "id": hold.id, "object": "payment_intent" } },
            "request": { "idempotency_key": key },
        })
    };
    w.svc.apply_own_event(&event("chittycharge-op_mine")).await.expect("applied");
    let jobs = w.svc.store.claim_jobs(now.plus_secs(1), 60_000, 10).await.expect("jobs");
    assert!(jobs.iter().all(|j| j.kind != "sync"), "its own news: {jobs:?}");
    w.svc.apply_own_event(&event("chittycharge-op_other")).await.expect("applied");
    let jobs = w.svc.store.claim_jobs(now.plus_secs(1), 60_000, 10).await.expect("jobs");
    assert_eq!(jobs.iter().filter(|j| j.kind == "sync").count(), 1, "another request's news: {jobs:?}");
}
