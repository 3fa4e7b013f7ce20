//! The emulator is as strict as Stripe where the service depends on it. Each
//! rule here shows the emulator refusing (or forgetting) what Stripe would,
//! so that it cannot silently become lenient again.

use crate::common::{Emulator, CARD_HOLD_FORM};

async fn create_with_key(emu: &Emulator, key: &str) -> (u16, String) {
    let (status, body) = emu.post("/v1/payment_intents", &CARD_HOLD_FORM, Some(key)).await;
    (status, body["id"].as_str().unwrap_or_default().to_string())
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn the_emulator_replays_an_idempotency_key_for_a_day_then_forgets_it_as_stripe_does() {
    let emu = Emulator::start();
    let (s1, first) = create_with_key(&emu, "op_same").await;
    let (s2, again) = create_with_key(&emu, "op_same").await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first, again, "within 24 hours the key replays the first answer");
    emu.advance(24 * 3_600 - 60).await;
    assert_eq!(create_with_key(&emu, "op_same").await.1, first, "still within the day");
    emu.advance(120).await;
    let (s3, later) = create_with_key(&emu, "op_same").await;
    assert_eq!(s3, 200);
    assert_ne!(later, first, "after 24 hours Stripe has pruned the key: a retry this late makes a second object");
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn a_browser_confirmation_needs_the_publishable_key_and_the_intents_own_client_secret() {
    let emu = Emulator::start();
    let (_, created) = emu.post("/v1/payment_intents", &CARD_HOLD_FORM, None).await;
    let pi = created["id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let card = [
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", "4242424242424242"),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", "2034"),
        ("payment_method_data[card][cvc]", "123"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut f: Vec<(&str, &str)> = card.to_vec();
        f.extend_from_slice(extra);
        f
    };
    let (s, _) = emu.post_public(&format!("/v1/payment_intents/{pi}/confirm"), &with(&[("client_secret", "")])).await;
    assert_eq!(s, 401, "no publishable key");
    let wrong = format!("{secret}x");
    let mut f = with(&[("key", "pk_test_x")]);
    f.push(("client_secret", &wrong));
    let (s, body) = emu.post_public(&format!("/v1/payment_intents/{pi}/confirm"), &f).await;
    assert_eq!((s, body["error"]["param"].as_str()), (400, Some("client_secret")), "{body}");
    assert_eq!(emu.intent(pi).await["status"], "requires_payment_method", "nothing was confirmed");
    let mut f = with(&[("key", "pk_test_x")]);
    f.push(("client_secret", secret));
    let (s, body) = emu.post_public(&format!("/v1/payment_intents/{pi}/confirm"), &f).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("requires_capture")), "{body}");
}
