//! The Stripe processor over time, against the emulator with its clock moved
//! in step with the service's test clock: an authorization that lapses on
//! Stripe's side (`charge.expired`), and a 20-night stay renewed off-session.

use crate::common::{sqlite_db, stripe_env, Emulator, Server};
use serde_json::json;

fn stripe_clock_server(emu: &Emulator) -> Server {
    let mut env = stripe_env(emu.url());
    env.retain(|(k, _)| *k != "CHITTYCHARGE_TEST_CLOCK");
    env.push(("CHITTYCHARGE_TEST_CLOCK", "1".into()));
    env.push(("CHITTYCHARGE_JOBS_INTERVAL_MS", "40".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(sqlite_db(), &pairs)
}

/// Stripe first, then us: whatever Stripe does at the new time (a lapse,
/// an event) is there when our jobs look.
async fn advance_both(emu: &Emulator, api: &crate::common::Api, secs: i64) {
    emu.advance(secs).await;
    api.advance(secs).await;
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn an_authorization_that_lapses_at_stripe_expires_the_hold_through_charge_expired() {
    let emu = Emulator::start();
    let server = stripe_clock_server(&emu);
    // Only charge.expired is delivered, so it alone must carry the lapse.
    emu.register_webhook_for(&server.base, &["charge.expired"]).await;
    let api = server.client();
    let id = api.authorized_hold(8000).await;
    let hold = api.get(&format!("/api/holds/{id}")).await.body;
    assert!(hold["capture_before"].is_string(), "{hold}");

    // Our clock stops a minute short of the deadline, so our own jobs have
    // not acted; Stripe's passes it and lapses the authorization.
    api.advance(7 * 86_400 - 60).await;
    assert_eq!(api.get(&format!("/api/holds/{id}")).await.body["status"], "requires_capture");
    let lapsed = emu.advance(7 * 86_400).await;
    assert_eq!(lapsed, vec![id.clone()]);
    let intent = emu.intent(&id).await;
    assert_eq!(
        (intent["status"].as_str(), intent["cancellation_reason"].as_str()),
        (Some("canceled"), Some("expired"))
    );

    let mut status = String::new();
    // A deadline in time: tries ran out early on a loaded CI machine.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        status = api.get(&format!("/api/holds/{id}")).await.body["status"].as_str().unwrap_or_default().to_string();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "expired", "a lapse is an expiry, not a release by anyone");
    let events = api.get(&format!("/api/holds/{id}/events")).await.body.to_string();
    // The emulator sends charge.expired and payment_intent.canceled at once;
    // whichever lands first moves the hold, the other finds nothing to do.
    assert!(
        events.contains("processor event charge.expired") || events.contains("processor event payment_intent.canceled"),
        "{events}"
    );
    let r = api.post(&format!("/api/holds/{id}/capture"), json!({})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (409, Some("hold_expired")), "{}", r.text);
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn a_twenty_night_stay_is_renewed_off_session_through_stripe_new_hold_before_old() {
    let emu = Emulator::start();
    let server = stripe_clock_server(&emu);
    emu.register_webhook(&server.base).await;
    let api = server.client();
    let cc = server.rust_client();
    let (first_hold, end) = crate::common::twenty_night_stay(&server).await;
    let first_intent = emu.intent(&first_hold).await;
    assert!(first_intent["customer"].as_str().is_some_and(|c| c.starts_with("cus_")), "{first_intent}");
    let mut holds_seen = vec![first_hold.clone()];
    loop {
        let b = cc.get_booking("stay20").await.unwrap();
        assert_eq!(b.status, "hold_active");
        let current = b.hold_id.unwrap();
        if !holds_seen.contains(&current) {
            holds_seen.push(current.clone());
        }
        // At Stripe too, exactly one authorization of this booking is live.
        let live: Vec<String> = emu
            .all_intents()
            .await
            .into_iter()
            .filter(|pi| pi["status"] == "requires_capture" && pi["metadata"]["booking_id"] == "stay20")
            .map(|pi| pi["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(live, vec![current.clone()], "one live authorization at Stripe, the booking's");
        let clock = api.get("/_sim/clock").await.body["now"].as_str().unwrap().to_string();
        let clock = chrono::DateTime::parse_from_rfc3339(&clock).unwrap().timestamp();
        if clock > end {
            break;
        }
        let h = cc.get_hold(&current).await.unwrap();
        let deadline = chrono::DateTime::parse_from_rfc3339(h.capture_before.as_deref().unwrap()).unwrap().timestamp();
        assert!(deadline > clock, "the active hold is never past its deadline");
        advance_both(&emu, &api, 6 * 3_600).await;
    }
    assert!(holds_seen.len() >= 4, "20 nights + 2 days need several renewals: {holds_seen:?}");
    for pair in holds_seen.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        let renewed = emu.intent(new).await;
        // Off-session, on the guest's saved card and customer, no redirect asked.
        assert_eq!(renewed["customer"], first_intent["customer"], "{renewed}");
        assert_eq!(renewed["payment_method"], first_intent["payment_method"], "{renewed}");
        let released = emu.intent(old).await;
        assert_eq!(released["status"], "canceled", "{released}");
        assert!(
            renewed["created"].as_i64().unwrap() <= released["canceled_at"].as_i64().unwrap(),
            "{new} was authorized before {old} was released"
        );
        let old_events = cc.events(old).await.unwrap().events;
        let linked = old_events.iter().find(|e| e.kind == "reauthorized_to").expect("link to the new hold");
        assert_eq!(linked.data.as_ref().unwrap()["other_hold"], new.as_str());
    }
}
