//! The rental workflow end to end over HTTP with the Rust client: check-in
//! holds, check-out with itemized damage claims, deferred release, and the
//! guest emails received by a real SMTP server.

use crate::common::{setups, sqlite_db, Server, Smtp};
use chittycharge_client::api::{BookingRequest, CheckoutRequest, DamageLine, PropertyRequest};
use chittycharge_client::Client;

async fn property(cc: &Client, id: &str, claim_hours: i64) {
    cc.put_property(&PropertyRequest {
        id: id.into(),
        name: Some(format!("Unit {id}")),
        default_hold_amount: Some(25_000),
        claim_window_hours: Some(claim_hours),
        time_zone: Some("America/Chicago".into()),
        ..Default::default()
    })
    .await
    .expect("property");
}

async fn booking(cc: &Client, id: &str, prop: &str, email: &str) {
    cc.create_booking(&BookingRequest {
        id: id.into(),
        property_id: prop.into(),
        tenant_id: Some(format!("tenant-{id}")),
        guest_name: "Pat Guest".into(),
        guest_email: Some(email.into()),
        check_in: "2026-12-01".into(),
        check_out: "2026-12-05".into(),
        payment_method: None,
    })
    .await
    .expect("booking");
}

fn line(amount: i64, what: &str) -> DamageLine {
    DamageLine {
        amount,
        description: what.into(),
        evidence_urls: vec![format!("https://evidence.example/{amount}.jpg")],
    }
}

#[ignore = "needs PostgreSQL and the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn check_in_check_out_with_damages_and_a_clean_release_emails_the_guests() {
    let smtp = Smtp::start();
    for setup in setups() {
        let name = setup.name();
        println!("rental flow on {name}");
        let baseline = smtp.messages().len();
        let url = smtp.url();
        let first = format!("first-{name}@example.com");
        let second = format!("second-{name}@example.com");
        let server = setup.start_with(&[("SMTP_URL", url.as_str()), ("CHITTYCHARGE_JOBS_INTERVAL_MS", "100")]).await;
        let cc = server.rust_client().with_source("chittyrental");
        property(&cc, "4b", 48).await;
        booking(&cc, "bk-1", "4b", &first).await;
        booking(&cc, "bk-2", "4b", &second).await;

        let auth = cc.authorize_booking("bk-1", None).await.expect("authorize");
        assert_eq!(
            (auth.amount, auth.currency.as_str(), auth.status.as_str()),
            (25_000, "usd", "requires_payment_method")
        );
        assert!(auth.checkin_url.contains(&format!("/checkin/{}", auth.hold_id)));
        assert!(auth.disclosure.contains("authorization hold of $250.00"));
        let again = cc.authorize_booking("bk-1", None).await.expect("authorize again");
        assert_eq!(again.hold_id, auth.hold_id, "{name}: idempotent per booking");
        let hold = cc.get_hold(&auth.hold_id).await.unwrap();
        assert_eq!(hold.description, "Incidentals authorization - Unit 4b");
        assert_eq!(hold.metadata.get("check_in_date").map(String::as_str), Some("2026-12-01"));
        assert_eq!(hold.booking_id.as_deref(), Some("bk-1"));
        cc.confirm(&auth.hold_id, "pm_card_visa").await.expect("confirm");
        assert_eq!(cc.get_booking("bk-1").await.unwrap().status, "hold_active");

        let out = cc
            .checkout(
                "bk-1",
                &CheckoutRequest {
                    damages: vec![line(5_000, "Broken lamp"), line(2_500, "Carpet cleaning")],
                    defer_release: false,
                },
            )
            .await
            .expect("checkout");
        assert_eq!(out.message, "Damage charge processed");
        assert_eq!((out.amount_charged, out.hold_released), (Some(7_500), true));
        let claim_id = out.claim_id.expect("claim id");
        let b1 = cc.get_booking("bk-1").await.unwrap();
        assert_eq!(b1.status, "settled");
        assert_eq!(b1.claims.len(), 1);
        assert_eq!(b1.claims[0].id, claim_id);
        assert_eq!(b1.claims[0].total, 7_500);
        assert_eq!(b1.claims[0].lines.as_array().unwrap().len(), 2);
        let held = cc.get_hold(&auth.hold_id).await.unwrap();
        assert_eq!((held.amount_captured, held.amount_released), (7_500, 17_500));
        let events = cc.events(&auth.hold_id).await.unwrap();
        assert!(
            events
                .events
                .iter()
                .any(|e| e.kind == "captured" && e.actor.as_deref().unwrap_or("").starts_with("chittyrental")),
            "{name}: X-Source-Service is the actor"
        );

        let a2 = cc.authorize_booking("bk-2", Some("pm_card_visa")).await.expect("authorize 2");
        assert_eq!((a2.status.as_str(), a2.booking_status.as_str()), ("requires_capture", "hold_active"));
        let out = cc.checkout("bk-2", &CheckoutRequest::default()).await.expect("checkout 2");
        assert_eq!((out.message.as_str(), out.hold_released), ("No charges. Hold released.", true));
        assert_eq!(cc.get_hold(&a2.hold_id).await.unwrap().status, "canceled");

        let all = smtp.wait_for(baseline + 4).await;
        let mail: Vec<String> = all.into_iter().filter(|m| m.contains(&first) || m.contains(&second)).collect();
        assert_eq!(mail.len(), 4, "{name}: four guest emails: {mail:#?}");
        let to = |addr: &str, subject: &str| {
            mail.iter().find(|m| m.contains(&format!("To: {addr}")) && m.contains(subject)).cloned()
        };
        let placed = to(&first, "Authorization hold of $250.00 placed").expect("hold placed email");
        assert!(placed.contains("This is not a charge"));
        let charged = to(&first, "Damage charge of $75.00").expect("damage email");
        for s in [
            "Broken lamp: $50.00",
            "Carpet cleaning: $25.00",
            "Total charged: $75.00",
            "$175.00",
            "Estimated processing fee",
        ] {
            assert!(charged.contains(s), "{name}: '{s}' in\n{charged}");
        }
        to(&second, "Authorization hold of $250.00 placed").expect("second placed email");
        let released = to(&second, "has been released").expect("released email");
        assert!(released.contains("several days"));
        for m in &mail {
            assert!(!m.to_lowercase().contains("security deposit"), "never 'security deposit'");
        }
    }
}

#[tokio::test]
async fn a_deferred_check_out_is_released_by_the_job_after_the_claim_window() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_JOBS_INTERVAL_MS", "100")]);
    let cc = server.rust_client();
    property(&cc, "7", 24).await;
    booking(&cc, "late", "7", "late@example.com").await;
    booking(&cc, "claimed", "7", "claimed@example.com").await;
    let a = cc.authorize_booking("late", Some("pm_card_visa")).await.unwrap();
    let out = cc.checkout("late", &CheckoutRequest { damages: vec![], defer_release: true }).await.unwrap();
    assert!(!out.hold_released);
    assert!(out.claim_window_ends_at.is_some());
    assert_eq!(cc.get_booking("late").await.unwrap().status, "checked_out");

    let c = cc.authorize_booking("claimed", Some("pm_card_visa")).await.unwrap();
    cc.checkout("claimed", &CheckoutRequest { damages: vec![], defer_release: true }).await.unwrap();
    let claim = cc.file_claim("claimed", &[line(4_000, "Stained sofa")]).await.unwrap();
    assert_eq!(claim.amount_charged, Some(4_000));
    assert_eq!(cc.get_hold(&c.hold_id).await.unwrap().amount_captured, 4_000);

    // Still inside the window: nothing is released yet.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(cc.get_hold(&a.hold_id).await.unwrap().status, "requires_capture");
    server.client().post("/_sim/clock", serde_json::json!({"advance_secs": 25 * 3600})).await;
    for _ in 0..100 {
        if cc.get_booking("late").await.unwrap().status == "settled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(cc.get_booking("late").await.unwrap().status, "settled");
    let hold = cc.get_hold(&a.hold_id).await.unwrap();
    assert_eq!((hold.status.as_str(), hold.amount_released), ("canceled", 25_000));
    let late_claim = cc.file_claim("late", &[line(100, "too late")]).await.unwrap_err();
    assert_eq!(late_claim.status(), Some(409));
}

#[tokio::test]
async fn impossible_check_outs_are_409_and_change_nothing() {
    let server = Server::start(sqlite_db());
    let cc = server.rust_client();
    property(&cc, "9", 48).await;
    booking(&cc, "early", "9", "e@example.com").await;
    let early = cc.checkout("early", &CheckoutRequest::default()).await.unwrap_err();
    assert_eq!(early.status(), Some(409), "check-out before check-in");

    let a = cc.authorize_booking("early", Some("pm_card_visa")).await.unwrap();
    let too_much = cc
        .checkout(
            "early",
            &CheckoutRequest { damages: vec![line(20_000, "a"), line(6_000, "b")], defer_release: false },
        )
        .await
        .unwrap_err();
    assert_eq!((too_much.status(), too_much.code()), (Some(409), Some("amount_exceeds_capturable")));
    if let chittycharge_client::ClientError::Api { body, .. } = &too_much {
        assert_eq!(body.details.as_ref().unwrap()["amount_capturable"], 25_000);
    }
    assert_eq!(cc.get_booking("early").await.unwrap().status, "hold_active");
    assert_eq!(cc.get_hold(&a.hold_id).await.unwrap().status, "requires_capture");
    assert!(cc.get_booking("early").await.unwrap().claims.is_empty());

    cc.checkout("early", &CheckoutRequest::default()).await.unwrap();
    let twice = cc.checkout("early", &CheckoutRequest::default()).await.unwrap_err();
    assert_eq!(twice.status(), Some(409), "check-out twice");

    let bad = cc
        .create_booking(&BookingRequest {
            id: "x".into(),
            property_id: "nope".into(),
            guest_name: "n".into(),
            check_in: "2026-12-01".into(),
            check_out: "2026-12-02".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.status(), Some(400));
    let dates = cc
        .create_booking(&BookingRequest {
            id: "y".into(),
            property_id: "9".into(),
            guest_name: "n".into(),
            check_in: "2026-12-05".into(),
            check_out: "2026-12-01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(dates.status(), Some(400));
}
