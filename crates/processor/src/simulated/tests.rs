use std::sync::Arc;

use chittycharge_domain::hold::ProcessorStatus;

use super::*;
use crate::TestClock;

fn sim() -> (SimulatedProcessor, Arc<TestClock>) {
    let clock = Arc::new(TestClock::default());
    (SimulatedProcessor::new(Arc::new(MemoryBackend::default()), clock.clone()), clock)
}

fn req(pm: Option<&str>) -> CreateIntent {
    CreateIntent {
        amount: 25_000,
        currency: "usd".into(),
        description: "Incidentals".into(),
        receipt_email: None,
        metadata: BTreeMap::new(),
        payment_method: pm.map(str::to_string),
        customer: None,
        save_for_off_session: false,
        off_session: false,
        incremental: true,
    }
}

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

#[tokio::test]
async fn pm_card_visa_authorizes_with_a_seven_day_deadline() {
    let (p, clock) = sim();
    let pi = p.create(&req(Some("pm_card_visa")), &key("k1")).await.unwrap();
    assert!(pi.id.starts_with("pi_"));
    assert!(pi.client_secret.as_deref().unwrap().starts_with(&format!("{}_secret_", pi.id)));
    assert_eq!(pi.view.status, ProcessorStatus::RequiresCapture);
    assert_eq!(pi.view.amount_capturable, 25_000);
    let seven_days = clock.now().plus_secs(7 * 86_400).millis();
    let cb = pi.view.capture_before.unwrap().millis();
    assert!((seven_days - cb).abs() < 5_000);
}

#[tokio::test]
async fn same_key_replays_and_other_parameters_conflict() {
    let (p, _) = sim();
    let a = p.create(&req(None), &key("same")).await.unwrap();
    let b = p.create(&req(None), &key("same")).await.unwrap();
    assert_eq!(a.id, b.id);
    let mut other = req(None);
    other.amount = 30_000;
    assert!(matches!(p.create(&other, &key("same")).await, Err(ProcessorError::IdempotencyConflict { .. })));
    assert_eq!(p.intent_ids().await.unwrap().len(), 1);
}

#[tokio::test]
async fn declined_card_leaves_the_intent_waiting_for_another_card() {
    let (p, _) = sim();
    let pi = p.create(&req(None), &key("c")).await.unwrap();
    let err = p.confirm(&pi.id, "pm_card_chargeDeclinedInsufficientFunds", &key("c1")).await.unwrap_err();
    assert!(matches!(err, ProcessorError::Declined { decline_code: Some(ref d), .. } if d == "insufficient_funds"));
    let again = p.confirm(&pi.id, "pm_card_visa", &key("c2")).await.unwrap();
    assert_eq!(again.view.status, ProcessorStatus::RequiresCapture);
}

#[tokio::test]
async fn three_d_secure_requires_action_until_authenticated() {
    let (p, _) = sim();
    let pm = p.create_card_payment_method("4000 0025 0000 3155").await.unwrap();
    let pi = p.create(&req(Some(&pm)), &key("3ds")).await.unwrap();
    assert_eq!(pi.view.status, ProcessorStatus::RequiresAction);
    let done = p.authenticate(&pi.id, true).await.unwrap();
    assert_eq!(done.view.status, ProcessorStatus::RequiresCapture);
}

#[tokio::test]
async fn partial_capture_releases_the_rest_and_a_second_capture_is_refused() {
    let (p, _) = sim();
    let pi = p.create(&req(Some("pm_card_visa")), &key("p")).await.unwrap();
    let cap = p.capture(&pi.id, Some(5_000), &key("p1")).await.unwrap();
    assert_eq!(cap.view.status, ProcessorStatus::Succeeded);
    assert_eq!(cap.view.amount_received, 5_000);
    assert_eq!(cap.view.amount_capturable, 0);
    assert!(matches!(p.capture(&pi.id, None, &key("p2")).await, Err(ProcessorError::InvalidState { .. })));
    // the same key replays the first capture instead of failing
    assert_eq!(p.capture(&pi.id, Some(5_000), &key("p1")).await.unwrap().captures, 1);
}

#[tokio::test]
async fn an_authorization_past_its_deadline_is_canceled_automatically() {
    let (p, clock) = sim();
    let pi = p.create(&req(Some("pm_card_visa")), &key("e")).await.unwrap();
    clock.advance_secs(7 * 86_400 + 1);
    let seen = p.retrieve(&pi.id).await.unwrap();
    assert_eq!(seen.view.status, ProcessorStatus::Canceled);
    assert!(seen.view.canceled_by_expiry);
    assert!(matches!(p.capture(&pi.id, None, &key("e1")).await, Err(ProcessorError::InvalidState { .. })));
}

#[tokio::test]
async fn over_capture_is_amount_too_large() {
    let (p, _) = sim();
    let pi = p.create(&req(Some("pm_card_visa")), &key("o")).await.unwrap();
    let err = p.capture(&pi.id, Some(25_001), &key("o1")).await.unwrap_err();
    assert!(matches!(err, ProcessorError::InvalidRequest { code: Some(ref c), .. } if c == "amount_too_large"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_requests_with_one_key_take_effect_once_and_answer_alike() {
    let (p, _) = sim();
    let p = Arc::new(p);
    let pi = p.create(&req(Some("pm_card_visa")), &key("auth")).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (p, id) = (p.clone(), pi.id.clone());
            tokio::spawn(async move { p.capture(&id, Some(5_000), &key("one-capture")).await })
        })
        .collect();
    for t in tasks {
        let got = t.await.unwrap().expect("every racer gets the one answer");
        assert_eq!((got.view.status, got.view.amount_received), (ProcessorStatus::Succeeded, 5_000));
    }
    let creates: Vec<_> = (0..16)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.create(&req(None), &key("one-create")).await.unwrap().id })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for t in creates {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "one PaymentIntent for one key: {ids:?}");
    assert_eq!(p.intent_ids().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_refusal_before_any_change_is_replayed_for_its_key() {
    let (p, _) = sim();
    let err = p.confirm("pi_missing", "pm_card_visa", &key("k-missing")).await.unwrap_err();
    assert!(matches!(err, ProcessorError::NotFound { .. }));
    let again = p.confirm("pi_missing", "pm_card_visa", &key("k-missing")).await.unwrap_err();
    assert!(matches!(again, ProcessorError::NotFound { .. }));
    assert!(matches!(
        p.confirm("pi_other", "pm_card_visa", &key("k-missing")).await,
        Err(ProcessorError::IdempotencyConflict { .. })
    ));
}

/// Two instances on one database: the first wrote the intent last and
/// keeps a hint of it, then the second captured it. The first's next change
/// must see the capture, not act on what it remembers.
#[tokio::test]
async fn a_change_after_another_instance_wrote_the_intent_starts_from_the_stored_intent() {
    let backend: Arc<MemoryBackend> = Arc::default();
    let clock = Arc::new(TestClock::default());
    let a = SimulatedProcessor::new(backend.clone(), clock.clone());
    let b = SimulatedProcessor::new(backend, clock);
    let pi = a.create(&req(Some("pm_card_visa")), &key("create")).await.unwrap();
    b.capture(&pi.id, Some(5_000), &key("capture")).await.unwrap();

    let cancel = a.cancel(&pi.id, None, &key("cancel")).await;
    assert!(
        matches!(cancel, Err(ProcessorError::InvalidState { .. })),
        "a captured intent cannot be canceled: {cancel:?}"
    );
    let twice = a.capture(&pi.id, Some(1_000), &key("capture again")).await;
    assert!(twice.is_err(), "nor captured twice: {twice:?}");
    let stored = b.retrieve(&pi.id).await.unwrap();
    assert_eq!(stored.view.status, ProcessorStatus::Succeeded);
    assert_eq!(stored.view.amount_received, 5_000);
}

#[tokio::test]
async fn a_tokenized_card_serves_one_intent_unless_saved_to_a_customer() {
    let (p, _) = sim();
    let refused = |r: Result<Intent, ProcessorError>| matches!(r, Err(ProcessorError::InvalidRequest { ref param, .. }) if param.as_deref() == Some("payment_method"));
    // Used once, by the intent it was tokenized for; another intent may not.
    let card = p.create_card_payment_method("4242 4242 4242 4242").await.unwrap();
    let first = p.create(&req(None), &key("a")).await.unwrap();
    p.confirm(&first.id, &card, &key("a1")).await.unwrap();
    let second = p.create(&req(None), &key("b")).await.unwrap();
    assert!(refused(p.confirm(&second.id, &card, &key("b1")).await));
    assert!(refused(p.create(&req(Some(&card)), &key("c")).await));
    let second = p.retrieve(&second.id).await.unwrap();
    assert_eq!(second.view.status, ProcessorStatus::RequiresPaymentMethod, "the refusal changed nothing");

    // Saved for off-session use: that customer's, and only that customer's.
    let saved = p.create_card_payment_method("4242 4242 4242 4242").await.unwrap();
    let with = |customer: &str, save: bool| {
        let mut r = req(Some(&saved));
        r.customer = Some(customer.into());
        r.save_for_off_session = save;
        r
    };
    p.create(&with("cus_guest", true), &key("d")).await.unwrap();
    let again = p.create(&with("cus_guest", false), &key("e")).await.unwrap();
    assert_eq!(again.view.status, ProcessorStatus::RequiresCapture);
    assert!(refused(p.create(&with("cus_other", false), &key("f")).await));
    assert!(refused(p.create(&req(Some(&saved)), &key("g")).await));

    // Stripe's test cards stay reusable, as in test mode.
    for k in ["h", "i"] {
        assert_eq!(
            p.create(&req(Some("pm_card_visa")), &key(k)).await.unwrap().view.status,
            ProcessorStatus::RequiresCapture
        );
    }
}
