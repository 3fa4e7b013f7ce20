//! Our API's Idempotency-Key records: a key stays bound to its first
//! request even when that request's answer was not kept.

use chittycharge_store::{IdemBegin, Store};

use crate::{stores, T0};

const LEASE: i64 = 120_000;
const TTL: i64 = 86_400_000;

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn an_abandoned_key_runs_its_own_request_again_and_refuses_any_other() {
    for (name, store) in stores().await {
        assert_eq!(store.idem_begin("tok", "k", "fp-a", T0, LEASE, TTL).await.unwrap(), IdemBegin::Started, "{name}");
        // A 5xx or a transient 409: not kept.
        store.idem_abandon("tok", "k").await.unwrap();
        assert_eq!(
            store.idem_begin("tok", "k", "fp-b", T0, LEASE, TTL).await.unwrap(),
            IdemBegin::Mismatch,
            "{name}: another request (another endpoint, another body) under the key"
        );
        assert_eq!(store.idem_begin("tok", "k", "fp-a", T0, LEASE, TTL).await.unwrap(), IdemBegin::Started, "{name}");
        assert_eq!(
            store.idem_begin("tok", "k", "fp-a", T0, LEASE, TTL).await.unwrap(),
            IdemBegin::InFlight,
            "{name}: the retry now runs, once"
        );
        store.idem_finish("tok", "k", 201, "{}", "application/json").await.unwrap();
        assert!(matches!(
            store.idem_begin("tok", "k", "fp-a", T0, LEASE, TTL).await.unwrap(),
            IdemBegin::Replay { status: 201, .. }
        ));
        // Another token's key of the same name is its own.
        assert_eq!(store.idem_begin("tok2", "k", "fp-b", T0, LEASE, TTL).await.unwrap(), IdemBegin::Started, "{name}");
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test]
async fn a_key_left_in_flight_past_its_lease_is_taken_over_once() {
    for (name, store) in stores().await {
        assert_eq!(store.idem_begin("tok", "k", "fp-a", T0, LEASE, TTL).await.unwrap(), IdemBegin::Started, "{name}");
        assert_eq!(store.idem_begin("tok", "k", "fp-a", T0, LEASE, TTL).await.unwrap(), IdemBegin::InFlight, "{name}");
        let later = chittycharge_domain::Timestamp(T0.0 + LEASE + 1);
        assert_eq!(
            store.idem_begin("tok", "k", "fp-b", later, LEASE, TTL).await.unwrap(),
            IdemBegin::Mismatch,
            "{name}: another request never takes the key over"
        );
        assert_eq!(
            store.idem_begin("tok", "k", "fp-a", later, LEASE, TTL).await.unwrap(),
            IdemBegin::Started,
            "{name}"
        );
        assert_eq!(
            store.idem_begin("tok", "k", "fp-a", later, LEASE, TTL).await.unwrap(),
            IdemBegin::InFlight,
            "{name}"
        );
    }
}
