use proptest::prelude::*;

use super::*;
use crate::PositiveAmount;

const T0: Timestamp = Timestamp(1_700_000_000_000);
const WEEK_MS: i64 = 7 * 86_400_000;

fn authorized(amount: i64) -> Authorized {
    AwaitingPaymentMethod::default().authorize(Authorization::new(amount, amount, T0.plus_millis(WEEK_MS)).unwrap())
}

fn view(status: ProcessorStatus, amount: i64, capturable: i64, received: i64) -> IntentView {
    IntentView {
        status,
        amount,
        amount_capturable: capturable,
        amount_received: received,
        amount_refunded: None,
        capture_before: Some(T0.plus_millis(WEEK_MS)),
        canceled_by_expiry: false,
        last_error: None,
    }
}

#[test]
fn partial_capture_releases_the_remainder() {
    let captured = authorized(25_000).captured(5_000, T0).unwrap();
    assert_eq!(captured.captured(), 5_000);
    assert_eq!(captured.released(), 20_000);
    let st = HoldState::Captured(captured);
    assert_eq!(st.amounts(), HoldAmounts { capturable: 0, captured: 5_000, released: 20_000, refunded: 0 });
}

#[test]
fn capture_above_capturable_is_refused() {
    let a = authorized(25_000);
    assert_eq!(
        a.check_capture(Some(PositiveAmount::new(25_001).unwrap()), T0),
        Err(CaptureRefused::ExceedsCapturable { requested: 25_001, capturable: 25_000 })
    );
    assert_eq!(a.check_capture(None, T0), Ok(25_000));
    // Nothing to refuse below 1: such an amount cannot be asked for.
    for bad in [0, -1, i64::MIN] {
        assert_eq!(PositiveAmount::new(bad), Err(crate::MoneyError::NotPositive));
    }
}

#[test]
fn capture_after_capture_before_is_refused_as_expired() {
    let a = authorized(25_000);
    let deadline = a.capture_before();
    assert!(matches!(a.check_capture(None, deadline), Err(CaptureRefused::Expired { .. })));
    assert!(a.check_capture(None, deadline.plus_millis(-1)).is_ok());
}

#[test]
fn stale_requires_capture_webhook_does_not_undo_a_capture() {
    let st = HoldState::Captured(authorized(10_000).captured(10_000, T0).unwrap());
    let stale = view(ProcessorStatus::RequiresCapture, 10_000, 10_000, 0);
    assert!(st.clone().observe(&stale, T0, T0).is_err());
    let same = view(ProcessorStatus::Succeeded, 10_000, 0, 10_000);
    assert_eq!(st.clone().observe(&same, T0, T0), Ok(st));
}

#[test]
fn processor_auto_cancel_of_an_authorized_hold_is_expiry() {
    let mut v = view(ProcessorStatus::Canceled, 10_000, 0, 0);
    v.canceled_by_expiry = true;
    let st = HoldState::RequiresCapture(authorized(10_000)).observe(&v, T0, T0).unwrap();
    assert_eq!(st.status(), HoldStatus::Expired);
    assert_eq!(st.amounts().released, 10_000);
}

#[test]
fn decline_keeps_the_hold_waiting_for_another_card() {
    let mut v = view(ProcessorStatus::RequiresPaymentMethod, 10_000, 0, 0);
    v.last_error = Some("generic_decline".into());
    let st = HoldState::new().observe(&v, T0, T0).unwrap();
    assert_eq!(
        st,
        HoldState::RequiresPaymentMethod(AwaitingPaymentMethod { last_error: Some("generic_decline".into()) })
    );
}

#[test]
fn three_d_secure_then_authorized() {
    let st = HoldState::new().observe(&view(ProcessorStatus::RequiresAction, 10_000, 0, 0), T0, T0).unwrap();
    assert_eq!(st.status(), HoldStatus::RequiresAction);
    let st = st.observe(&view(ProcessorStatus::RequiresCapture, 10_000, 10_000, 0), T0, T0).unwrap();
    assert_eq!(st.status(), HoldStatus::RequiresCapture);
    assert_eq!(st.capture_before(), Some(T0.plus_millis(WEEK_MS)));
}

#[test]
fn status_strings_round_trip() {
    for s in HoldStatus::ALL {
        assert_eq!(s.as_str().parse::<HoldStatus>(), Ok(s));
    }
    assert!("succeeded".parse::<HoldStatus>().is_err());
}

// ---- properties --------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    Observe(IntentView),
    Capture(i64),
    Cancel,
    Expire,
}

fn any_processor_status() -> impl Strategy<Value = ProcessorStatus> {
    prop_oneof![
        Just(ProcessorStatus::RequiresPaymentMethod),
        Just(ProcessorStatus::RequiresConfirmation),
        Just(ProcessorStatus::RequiresAction),
        Just(ProcessorStatus::Processing),
        Just(ProcessorStatus::RequiresCapture),
        Just(ProcessorStatus::Succeeded),
        Just(ProcessorStatus::Canceled),
    ]
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any_processor_status(), 0i64..200_000, 0i64..200_000, 0i64..200_000, any::<bool>()).prop_map(
            |(status, amount, capturable, received, expiry)| Step::Observe(IntentView {
                status,
                amount,
                amount_capturable: capturable,
                amount_received: received,
                amount_refunded: None,
                capture_before: Some(T0.plus_millis(WEEK_MS)),
                canceled_by_expiry: expiry,
                last_error: None,
            })
        ),
        (-10i64..200_000).prop_map(Step::Capture),
        Just(Step::Cancel),
        Just(Step::Expire),
    ]
}

/// Applies a step the way the service does: only through typed transitions.
fn apply(st: HoldState, step: &Step) -> HoldState {
    match step {
        Step::Observe(v) => st.clone().observe(v, T0, T0.plus_millis(WEEK_MS)).unwrap_or(st),
        Step::Capture(amount) => match st {
            HoldState::RequiresCapture(a) => {
                match PositiveAmount::new(*amount).ok().map(|p| a.check_capture(Some(p), T0)) {
                    Some(Ok(ok)) => HoldState::Captured(a.captured(ok, T0).unwrap()),
                    _ => HoldState::RequiresCapture(a),
                }
            }
            other => other,
        },
        Step::Cancel => match st {
            HoldState::RequiresPaymentMethod(s) => HoldState::Canceled(s.cancel(None, T0)),
            HoldState::RequiresAction(s) => HoldState::Canceled(s.cancel(None, T0)),
            HoldState::RequiresCapture(a) => HoldState::Canceled(a.cancel(None, T0)),
            other => other,
        },
        Step::Expire => match st {
            HoldState::RequiresCapture(a) => HoldState::Expired(a.expire(T0)),
            other => other,
        },
    }
}

proptest! {
    #[test]
    fn captured_never_exceeds_authorized(steps in proptest::collection::vec(any_step(), 0..30)) {
        let mut st = HoldState::new();
        for step in &steps {
            st = apply(st, step);
            if let HoldState::Captured(c) = &st {
                prop_assert!(c.captured() <= c.authorized());
                prop_assert!(c.captured() > 0);
                prop_assert_eq!(c.captured() + c.released(), c.authorized());
            }
            if let HoldState::RequiresCapture(a) = &st {
                prop_assert!(a.capturable() <= a.authorized());
            }
        }
    }

    #[test]
    fn no_exit_from_a_terminal_state(steps in proptest::collection::vec(any_step(), 1..30)) {
        let mut st = HoldState::new();
        let mut terminal: Option<HoldState> = None;
        for step in &steps {
            st = apply(st, step);
            match &terminal {
                Some(t) => prop_assert_eq!(&st, t),
                None if st.status().is_terminal() => terminal = Some(st.clone()),
                None => {}
            }
        }
    }
}

#[test]
fn a_release_by_re_authorization_names_the_new_hold_and_no_other_reason_does() {
    let mut replaced = AwaitingPaymentMethod::default().cancel(None, T0);
    replaced.replace_with("pi_new");
    assert_eq!(replaced.replaced_by(), Some("pi_new"));
    assert_eq!(replaced.reason.as_deref(), Some("re-authorized as pi_new"), "the event log's wording is kept");
    for other in ["requested_by_customer", "guest re-authorized as a joke", "re-authorized"] {
        let c = AwaitingPaymentMethod::default().cancel(Some(other.into()), T0);
        assert_eq!(c.replaced_by(), None, "{other}");
    }
}
