//! The store's side of two operator features: the expiry-backlog gauge's
//! count and the shared rate-limit state.

use chittycharge_domain::hold::{Authorization, AwaitingPaymentMethod};
use chittycharge_domain::HoldState;
use chittycharge_store::Store;

use crate::{created_event, hold, stores, T0};

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn holds_past_their_capture_deadline_are_counted_until_they_are_finished() {
    for (name, store) in stores().await {
        let deadline = T0.plus_secs(604_800);
        let mut h = hold("pi_late", T0, "p-1");
        h.state = HoldState::RequiresCapture(
            AwaitingPaymentMethod::default().authorize(Authorization::new(25_000, 25_000, deadline).unwrap()),
        );
        h.expires_at = Some(deadline);
        store.insert_hold(&h, &[created_event(T0)], None).await.unwrap();
        assert_eq!(store.count_holds_past_deadline(T0).await.unwrap(), 0, "{name}");
        assert_eq!(store.count_holds_past_deadline(deadline.plus_secs(1)).await.unwrap(), 1, "{name}");
        let HoldState::RequiresCapture(a) = h.state.clone() else { unreachable!() };
        h.state = HoldState::Expired(a.expire(deadline.plus_secs(2)));
        assert!(store.save_hold(&h, 0, &[], None).await.unwrap(), "{name}");
        assert_eq!(store.count_holds_past_deadline(deadline.plus_secs(3)).await.unwrap(), 0, "{name}");
    }
}

/// GCRA decided in the store: of many requests racing on one key, exactly
/// the burst passes, and the refusals name the same arrival time.
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn racing_rate_limit_hits_let_exactly_the_burst_through() {
    for (name, store) in stores().await {
        let (interval, tolerance) = (6_000_000, 54_000_000); // 10 a minute
        let now = 1_700_000_000_000_000;
        let hits = (0..25).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.rate_limit_gcra("tok_race", now, interval, tolerance, 1).await.unwrap() })
        });
        let mut allowed = 0;
        for h in hits {
            let (ok, tat) = h.await.unwrap();
            if ok == 1 {
                allowed += 1;
            } else {
                assert_eq!(tat, now + 10 * interval, "{name}: a refusal leaves the state as it was");
            }
        }
        assert_eq!(allowed, 10, "{name}");
        let (ok, _) = store.rate_limit_gcra("tok_race", now + interval, interval, tolerance, 1).await.unwrap();
        assert_eq!(ok, 1, "{name}: one interval later there is room for one more");
        store.purge_expired(now + 11 * interval + 1, T0).await.unwrap();
        let (ok, tat) = store.rate_limit_gcra("tok_race", now + interval, interval, tolerance, 1).await.unwrap();
        assert!(ok == 1 && tat == now + 2 * interval, "{name}: purged state starts afresh");
    }
}

/// Several requests decided by one statement pass exactly as many as the
/// same requests one at a time would.
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_batch_of_hits_passes_exactly_what_the_same_hits_one_by_one_would() {
    for (name, store) in stores().await {
        let (interval, tolerance) = (6_000_000, 54_000_000); // 10 a minute
        let now = 1_700_000_000_000_000;
        assert_eq!(store.rate_limit_gcra("batch", now, interval, tolerance, 4).await.unwrap(), (4, now + 4 * interval));
        let (passed, tat) = store.rate_limit_gcra("batch", now, interval, tolerance, 25).await.unwrap();
        assert_eq!((passed, tat), (6, now + 10 * interval), "{name}: the rest of the burst, no more");
        let (passed, same) = store.rate_limit_gcra("batch", now + interval - 1, interval, tolerance, 3).await.unwrap();
        assert_eq!((passed, same), (0, tat), "{name}: none a microsecond early, and the state stays");
        let (passed, tat) = store.rate_limit_gcra("batch", now + 2 * interval, interval, tolerance, 3).await.unwrap();
        assert_eq!((passed, tat), (2, now + 12 * interval), "{name}: two intervals later, two");
        let fresh = store.rate_limit_gcra("fresh", now, interval, tolerance, 11).await.unwrap();
        assert_eq!(fresh, (10, now + 10 * interval), "{name}: a new key passes its burst");
    }
}
