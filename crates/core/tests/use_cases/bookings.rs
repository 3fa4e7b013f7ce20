//! Check-in places one hold per booking; check-out captures the itemized
//! damages or releases the hold.

use chittycharge_core::bookings::{CheckoutOutcome, DamageLine, NewBooking};
use chittycharge_core::properties::PropertyInput;
use chittycharge_core::CoreError;
use chittycharge_domain::HoldStatus;

use std::sync::Arc;

use chittycharge_core::HoldService;

use crate::{admin, create, reader, usd, world, writer, writer_of, CreatesTimeOut, World};

async fn booked(w: &World, id: &str) {
    let property = PropertyInput {
        id: "villa-a".into(),
        name: "Villa A".into(),
        premium: false,
        currency: usd(),
        default_hold_amount: 50_000,
        claim_window_hours: 48,
        time_zone: "America/Chicago".into(),
        hold_lead_days: 2,
    };
    w.svc.put_property(property, &admin()).await.expect("property");
    w.svc.create_booking(stay(w, id), &writer()).await.expect("booking");
}

/// Three nights at villa-a from today.
fn stay(w: &World, id: &str) -> NewBooking {
    let today = chrono::DateTime::from_timestamp_millis(w.svc.now().millis()).expect("now").date_naive();
    NewBooking {
        id: id.into(),
        property_id: "villa-a".into(),
        tenant_id: None,
        guest_name: "Ada Guest".into(),
        guest_email: Some("ada@example.com".into()),
        check_in: today,
        check_out: today + chrono::Days::new(3),
        payment_method: None,
    }
}

fn line(amount: i64, what: &str) -> DamageLine {
    DamageLine { amount, description: what.into(), evidence_urls: vec!["https://example.com/photo.jpg".into()] }
}

#[tokio::test]
async fn check_in_places_one_hold_however_often_it_is_asked() {
    let w = world().await;
    booked(&w, "bk-1").await;
    let pm = Some("pm_card_visa".to_string());
    let first = w.svc.authorize_booking("bk-1", Some("villa-a"), pm.clone(), &writer()).await.expect("authorize");
    assert_eq!(first.hold.state.status(), HoldStatus::RequiresCapture);
    assert_eq!(first.hold.amount.minor(), 50_000, "the property's default hold");
    let who = writer();
    let (a, b) = tokio::join!(
        w.svc.authorize_booking("bk-1", Some("villa-a"), pm.clone(), &who),
        w.svc.authorize_booking("bk-1", Some("villa-a"), pm.clone(), &who),
    );
    for again in [a, b] {
        assert_eq!(again.expect("again").hold.id, first.hold.id, "the same hold, not a second one");
    }
    let holds = w.svc.list(Default::default(), &admin()).await.expect("list");
    assert_eq!(holds.len(), 1);
}

#[tokio::test]
async fn check_in_is_refused_to_a_reader_and_to_another_property() {
    let w = world().await;
    booked(&w, "bk-2").await;
    let pm = Some("pm_card_visa".to_string());
    let r = w.svc.authorize_booking("bk-2", Some("villa-a"), pm.clone(), &reader()).await;
    assert!(matches!(r, Err(CoreError::Forbidden { .. })), "{:?}", r.err());
    let r = w.svc.authorize_booking("bk-2", Some("villa-a"), pm, &writer_of("villa-b")).await;
    assert!(matches!(r, Err(CoreError::NotFound)), "{:?}", r.err());
    assert!(w.svc.list(Default::default(), &admin()).await.expect("list").is_empty(), "no hold placed");
}

#[tokio::test]
async fn check_out_with_damages_captures_their_sum_and_releases_the_rest() {
    let w = world().await;
    booked(&w, "bk-3").await;
    let auth = w.svc.authorize_booking("bk-3", None, Some("pm_card_visa".into()), &writer()).await.expect("in");
    let damages = vec![line(12_000, "Broken lamp"), line(3_050, "Carpet cleaning")];
    let out = w.svc.checkout("bk-3", None, damages, false, &writer()).await.expect("check-out");
    let CheckoutOutcome::Charged { amount, hold, .. } = out else { panic!("expected a charge") };
    assert_eq!(amount, 15_050);
    assert_eq!(hold.id, auth.hold.id);
    let a = hold.state.amounts();
    assert_eq!((a.captured, a.released), (15_050, 34_950));
    // Checking out again does not charge again.
    let again = w.svc.checkout("bk-3", None, vec![line(100, "more")], false, &writer()).await;
    assert!(again.is_err(), "a second check-out must not capture");
    assert_eq!(w.svc.get(&hold.id, &reader()).await.expect("hold").state.amounts().captured, 15_050);
}

#[tokio::test]
async fn check_out_without_damages_releases_the_hold() {
    let w = world().await;
    booked(&w, "bk-4").await;
    w.svc.authorize_booking("bk-4", None, Some("pm_card_visa".into()), &writer()).await.expect("in");
    let out = w.svc.checkout("bk-4", None, Vec::new(), false, &writer()).await.expect("check-out");
    let CheckoutOutcome::Released { hold } = out else { panic!("expected a release") };
    assert_eq!(hold.state.status(), HoldStatus::Canceled);
    assert_eq!(hold.state.amounts().captured, 0);
}

#[tokio::test]
async fn damages_above_the_hold_are_refused_before_anything_is_captured() {
    let w = world().await;
    booked(&w, "bk-5").await;
    let auth = w.svc.authorize_booking("bk-5", None, Some("pm_card_visa".into()), &writer()).await.expect("in");
    let r = w.svc.checkout("bk-5", None, vec![line(40_000, "Sofa"), line(20_000, "TV")], false, &writer()).await;
    assert!(r.is_err(), "damages of 600.00 on a 500.00 hold");
    let stored = w.svc.get(&auth.hold.id, &reader()).await.expect("hold");
    assert_eq!((stored.state.status(), stored.state.amounts().captured), (HoldStatus::RequiresCapture, 0));
    let r = w.svc.checkout("bk-5", None, vec![line(i64::MAX, "a"), line(i64::MAX, "b")], false, &writer()).await;
    assert!(matches!(r, Err(CoreError::Validation { .. })), "an overflowing total: {:?}", r.err());
}

/// A plain create naming the booking id at villa-a.
fn naming(id: &str) -> chittycharge_core::CreateHold {
    let mut cmd = create(5_000, Some("pm_card_visa"));
    cmd.property_id = Some("villa-a".into());
    cmd.booking_id = Some(id.into());
    cmd
}

fn holds_exist(r: &Result<chittycharge_domain::Booking, CoreError>) -> bool {
    matches!(r, Err(CoreError::InvalidState { ref status, .. }) if status == "holds_exist")
}

#[tokio::test]
async fn a_booking_is_refused_while_a_create_naming_it_may_still_place_a_hold() {
    let w = world().await;
    booked(&w, "bk-0").await;
    let timing_out = HoldService { processor: Arc::new(CreatesTimeOut(w.sim.clone())), ..w.other_instance() };
    let lost = timing_out.create(naming("bk-race"), &writer()).await;
    assert!(matches!(lost, Err(CoreError::OutcomeUnknown { .. })), "the answer was lost");
    // The create's outcome is open: the janitor completes it with the same
    // idempotency key, so it may yet become a live hold on this booking.
    assert!(holds_exist(&w.svc.create_booking(stay(&w, "bk-race"), &writer()).await));
    assert!(w.svc.store.get_booking("villa-a", "bk-race").await.expect("read").is_none(), "nothing left behind");
    let open = w.svc.store.unsettled_operations("create").await.expect("ops");
    assert_eq!(open.len(), 1);
    w.svc.reconcile_operation(&open[0]).await.expect("janitor");
    let hold = w.svc.list(Default::default(), &admin()).await.expect("list");
    let hold = hold.iter().find(|h| h.booking_id.as_deref() == Some("bk-race")).expect("the janitor placed it");
    assert_eq!(hold.state.status(), HoldStatus::RequiresCapture);
    assert!(holds_exist(&w.svc.create_booking(stay(&w, "bk-race"), &writer()).await));
    w.svc.cancel(&hold.id, None, &writer()).await.expect("release");
    w.svc.create_booking(stay(&w, "bk-race"), &writer()).await.expect("free once the hold is released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_and_a_plain_hold_racing_for_one_id_never_both_go_through() {
    let w = world().await;
    booked(&w, "bk-0").await;
    let other = Arc::new(w.other_instance());
    let svc = Arc::new(w.other_instance());
    let mut races = Vec::new();
    for i in 0..40 {
        let id = format!("bk-{i}-race");
        let (a, b, w_stay) = (svc.clone(), other.clone(), stay(&w, &id));
        races.push(tokio::spawn(async move {
            let who = writer();
            // Half of the plain creates name no property: refused once the
            // booking exists, so they must not slip past it either.
            let mut cmd = naming(&id);
            if i % 2 == 1 {
                cmd.property_id = None;
            }
            let (booking, hold) = tokio::join!(a.create_booking(w_stay, &who), b.create(cmd, &who));
            (id, booking.is_ok(), hold.is_ok())
        }));
    }
    for race in races {
        let (id, booking, hold) = race.await.expect("task");
        assert!(!(booking && hold), "{id}: a booking and a plain live hold naming it");
        let f = chittycharge_store::HoldFilter { booking_id: Some(id.clone()), limit: 100, ..Default::default() };
        let named = w.svc.list(f, &admin()).await.expect("list").len();
        assert_eq!(named, usize::from(hold), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_booking_never_exists_for_a_check_in_to_act_on() {
    let w = world().await;
    booked(&w, "bk-0").await;
    let svc = Arc::new(w.other_instance());
    let checkins = Arc::new(w.other_instance());
    for i in 0..20 {
        let id = format!("bk-{i}-refused");
        w.svc.create(naming(&id), &writer()).await.expect("the plain hold");
        let (a, b, booking) = (svc.clone(), checkins.clone(), stay(&w, &id));
        let who = writer();
        let pm = Some("pm_card_visa".to_string());
        let done = std::sync::atomic::AtomicBool::new(false);
        let (refused, ()) = tokio::join!(
            async {
                let r = a.create_booking(booking, &who).await;
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                r
            },
            async {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = b.authorize_booking(&id, Some("villa-a"), pm.clone(), &who).await;
                    tokio::task::yield_now().await;
                }
            }
        );
        assert!(holds_exist(&refused), "{id}");
        assert!(w.svc.store.get_booking("villa-a", &id).await.expect("read").is_none(), "{id}: no booking");
        let holds = w.svc.list(Default::default(), &admin()).await.expect("list");
        let named: Vec<_> = holds.iter().filter(|h| h.booking_id.as_deref() == Some(id.as_str())).collect();
        assert_eq!(named.len(), 1, "{id}: only the plain hold, no check-in hold: {named:?}");
    }
}

#[tokio::test]
async fn a_plain_create_waits_out_a_booking_being_created_and_the_janitor_settles_a_claim_left_behind() {
    let w = world().await;
    booked(&w, "bk-0").await;
    // A booking create in flight elsewhere, or one whose process died after
    // its claim: the claim is all there is yet.
    let now = w.svc.now();
    let claim = chittycharge_store::Operation {
        id: "op_claim_1".into(),
        hold_id: None,
        kind: "booking".into(),
        status: chittycharge_store::OpStatus::Pending,
        request: serde_json::json!({"property_id": "villa-a", "booking_id": "bk-coming"}),
        error: None,
        attempts: 0,
        next_attempt_at: None,
        created_at: now,
        updated_at: now,
    };
    w.svc.store.insert_operation(&claim).await.expect("claim");
    for property in [Some("villa-a"), None] {
        let mut cmd = naming("bk-coming");
        cmd.property_id = property.map(str::to_string);
        let r = w.svc.create(cmd, &writer()).await;
        assert!(
            matches!(&r, Err(CoreError::Validation { field, .. }) if field == "booking_id"),
            "{property:?}: refused while the booking is being created"
        );
    }
    assert!(w.svc.list(Default::default(), &admin()).await.expect("list").is_empty(), "nothing was placed");
    // The janitor finds no booking behind the claim: it failed.
    let status = w.svc.reconcile_operation(&claim).await.expect("janitor");
    assert_eq!(status, chittycharge_store::OpStatus::Failed);
    w.svc.create(naming("bk-coming"), &writer()).await.expect("a plain hold once no booking is coming");
}
