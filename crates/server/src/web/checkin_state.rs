//! What the guest's page says about a hold, in every state: the present
//! truth in words and figures, never the promise made before authorization
//! once something else has happened.

use chittycharge_domain::{Hold, HoldState, Timestamp};

use crate::views::money;

/// The page's stage and its sentences.
pub(super) struct CheckinState {
    /// `pay`, `challenge`, `authorized`, `captured`, `released`,
    /// `replaced`, `expired` or `failed`; the template and script switch on it.
    pub stage: &'static str,
    pub headline: String,
    pub facts: Vec<String>,
}

/// "Dec 3, 2026 14:05 UTC".
pub(super) fn when(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.millis())
        .map(|d| d.format("%b %-d, %Y %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Stripe's cancellation codes in words; anything else as the host wrote it.
fn plain_reason(r: &str) -> &str {
    match r {
        "requested_by_customer" => "requested by the guest",
        "duplicate" => "it duplicated another hold",
        "abandoned" => "the hold was not completed",
        "fraudulent" => "the payment was flagged by the host",
        other => other,
    }
}

pub(super) fn checkin_state(hold: &Hold) -> CheckinState {
    let amount = hold.amount.to_string();
    let a = hold.state.amounts();
    let m = |minor: i64| money(minor, hold.amount);
    match &hold.state {
        HoldState::RequiresPaymentMethod(_) => CheckinState {
            stage: "pay",
            headline: format!("Authorize a hold of {amount}"),
            facts: vec![
                "Once authorized, the hold ends automatically within 5-7 days unless it is used for costs of your stay."
                    .into(),
            ],
        },
        HoldState::RequiresAction(_) => CheckinState {
            stage: "challenge",
            headline: format!("Confirm the hold of {amount} with your bank"),
            facts: vec!["Your bank asks you to confirm that you are authorizing this hold.".into()],
        },
        HoldState::RequiresCapture(auth) => CheckinState {
            stage: "authorized",
            headline: format!("Your card is authorized for {}", m(a.capturable)),
            facts: vec![
                format!(
                    "A hold of {} is reserved on your card. This is not a charge: it will be released, or partly \
                     charged for costs of your stay, after your stay.",
                    m(a.capturable)
                ),
                format!("This hold ends by {} unless it is used for costs of your stay.", when(auth.capture_before())),
            ],
        },
        HoldState::Captured(c) => {
            let mut facts = vec![format!(
                "{} was charged to your card on {} for costs of your stay.",
                m(a.captured),
                when(c.captured_at())
            )];
            if a.released > 0 {
                facts.push(format!(
                    "The rest of the hold, {}, was released on {}. Your bank may take a few days to show it.",
                    m(a.released),
                    when(c.captured_at())
                ));
            }
            CheckinState { stage: "captured", headline: format!("{} charged, {} released", m(a.captured), m(a.released)), facts }
        }
        // Replaced by a re-authorization (a longer stay, or a larger amount
        // the card could not take in place): the guest's new hold is on the
        // same card; this one was let go. No internal ids on the page.
        HoldState::Canceled(c) if c.replaced_by().is_some() => {
            CheckinState {
                stage: "replaced",
                headline: "This hold was replaced by a new one".into(),
                facts: vec![
                    format!(
                        "A new authorization hold on the same card replaced this hold of {} on {}. This one was \
                         released and nothing was charged from it.",
                        m(a.released),
                        when(c.canceled_at())
                    ),
                    "Your host has the new hold's details, and you were emailed if its amount is larger.".into(),
                ],
            }
        }
        HoldState::Canceled(c) => {
            let mut facts = vec![format!(
                "The hold of {} was released on {}. Nothing was charged. Your bank may take a few days to show it.",
                m(a.released),
                when(c.canceled_at())
            )];
            if let Some(r) = c.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                facts.push(format!("Reason given: {}", plain_reason(r)));
            }
            CheckinState { stage: "released", headline: format!("Hold released: {}", m(a.released)), facts }
        }
        HoldState::Expired(e) => CheckinState {
            stage: "expired",
            headline: "This hold has ended".into(),
            facts: vec![format!(
                "The hold of {} ended on {} without any charge. Your bank may take a few days to show it.",
                m(a.released),
                when(e.expired_at())
            )],
        },
        HoldState::Failed(_) => CheckinState {
            stage: "failed",
            headline: "This hold could not be authorized".into(),
            facts: vec![format!(
                "Your card was not authorized for the hold of {amount}. Nothing was charged. Ask your host for a new link."
            )],
        },
    }
}

#[cfg(test)]
mod tests {
    use chittycharge_domain::hold::AwaitingPaymentMethod;
    use chittycharge_domain::{Hold, HoldState, Timestamp};

    use super::checkin_state;
    use chittycharge_core::testing::{authorized, hold, T};

    fn text(h: &Hold) -> String {
        let s = checkin_state(h);
        format!("{} | {} | {}", s.stage, s.headline, s.facts.join(" "))
    }

    #[test]
    fn each_state_tells_its_own_truth_in_figures() {
        let pay = text(&hold(HoldState::new(), "usd", 25_000));
        assert!(pay.starts_with("pay | Authorize a hold of $250.00"), "{pay}");

        let auth = text(&hold(HoldState::RequiresCapture(authorized(25_000)), "usd", 25_000));
        assert!(auth.contains("authorized | Your card is authorized for $250.00"), "{auth}");
        assert!(auth.contains("This hold ends by Dec"), "{auth}");

        let at = Timestamp::from_millis(T + 86_400_000);
        let captured = authorized(25_000).captured(7_500, at).unwrap();
        let cap = text(&hold(HoldState::Captured(captured), "usd", 25_000));
        assert!(cap.contains("captured | $75.00 charged, $175.00 released"), "{cap}");
        assert!(cap.contains("$75.00 was charged to your card on"), "{cap}");
        assert!(cap.contains("The rest of the hold, $175.00, was released"), "{cap}");
        assert!(!cap.contains("will be placed") && !cap.contains("ends by"), "no promise after the fact: {cap}");

        let released = authorized(25_000).cancel(Some("Guest left the unit spotless".into()), at);
        let rel = text(&hold(HoldState::Canceled(released), "usd", 25_000));
        assert!(rel.contains("released | Hold released: $250.00"), "{rel}");
        assert!(
            rel.contains("Nothing was charged") && rel.contains("Reason given: Guest left the unit spotless"),
            "{rel}"
        );

        let gone = authorized(25_000).cancel(Some("re-authorized as pi_2".into()), at);
        let rep = text(&hold(HoldState::Canceled(gone), "usd", 25_000));
        assert!(rep.starts_with("replaced | This hold was replaced by a new one"), "{rep}");
        assert!(!rep.contains("pi_2"), "no internal ids on the guest's page: {rep}");
        let asked = authorized(25_000).cancel(Some("requested_by_customer".into()), at);
        let asked = text(&hold(HoldState::Canceled(asked), "usd", 25_000));
        assert!(asked.contains("Reason given: requested by the guest"), "{asked}");

        let exp = text(&hold(HoldState::Expired(authorized(25_000).expire(at)), "usd", 25_000));
        assert!(exp.contains("expired | This hold has ended") && exp.contains("$250.00 ended on"), "{exp}");

        let failed = AwaitingPaymentMethod::default().fail("card_declined".into());
        let fail = text(&hold(HoldState::Failed(failed), "usd", 25_000));
        assert!(fail.contains("failed |") && fail.contains("Nothing was charged"), "{fail}");
    }

    #[test]
    fn yen_and_dinar_amounts_follow_their_exponents() {
        let at = Timestamp::from_millis(T + 86_400_000);
        let jpy = text(&hold(HoldState::Captured(authorized(30_000).captured(2_500, at).unwrap()), "jpy", 30_000));
        assert!(jpy.contains("¥2,500 charged, ¥27,500 released"), "{jpy}");
        let kwd = text(&hold(HoldState::Captured(authorized(80_000).captured(12_345, at).unwrap()), "kwd", 80_000));
        assert!(kwd.contains("12.345 charged") && kwd.contains("67.655 released"), "{kwd}");
    }
}
