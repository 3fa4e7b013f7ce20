//! Stripe's test cards and test PaymentMethods, and what each one does.

/// What confirming with a PaymentMethod does in the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBehavior {
    Authorize,
    Decline { decline_code: &'static str, message: &'static str },
    RequireAction,
}

const GENERIC: CardBehavior =
    CardBehavior::Decline { decline_code: "generic_decline", message: "Your card was declined." };
const FUNDS: CardBehavior =
    CardBehavior::Decline { decline_code: "insufficient_funds", message: "Your card has insufficient funds." };
const EXPIRED: CardBehavior = CardBehavior::Decline { decline_code: "expired_card", message: "Your card has expired." };
const CVC: CardBehavior =
    CardBehavior::Decline { decline_code: "incorrect_cvc", message: "Your card's security code is incorrect." };

/// The simulator's own test PaymentMethod (not Stripe's): it authorizes, and
/// afterwards every capture or increment of its hold takes effect but its
/// answer is lost, as on a network that fails after forwarding (a release
/// answers normally, so an operator can still let the hold go). It exercises
/// reconciliation of unknown outcomes offline.
pub const LOST_ANSWERS: &str = "pm_card_lostAnswers";

/// Stripe's named test PaymentMethods.
pub fn payment_method_behavior(pm: &str) -> Option<CardBehavior> {
    Some(match pm {
        "pm_card_visa" | "pm_card_mastercard" | "pm_card_amex" | "pm_card_visa_debit" | UNIONPAY => {
            CardBehavior::Authorize
        }
        "pm_card_chargeDeclined" | "pm_card_visa_chargeDeclined" => GENERIC,
        "pm_card_chargeDeclinedInsufficientFunds" => FUNDS,
        "pm_card_chargeDeclinedExpiredCard" => EXPIRED,
        "pm_card_chargeDeclinedIncorrectCvc" => CVC,
        "pm_card_threeDSecure2Required" | "pm_card_authenticationRequired" => CardBehavior::RequireAction,
        LOST_ANSWERS => CardBehavior::Authorize,
        _ => return None,
    })
}

/// Stripe's UnionPay test card: it authorizes, but UnionPay is not among
/// the networks that allow incremental authorization, so its holds cannot
/// grow even when asked.
pub const UNIONPAY: &str = "pm_card_unionpay";

/// Whether the card behind `pm` lets an authorization grow.
pub fn allows_incremental(pm: Option<&str>) -> bool {
    pm != Some(UNIONPAY)
}

/// Stripe's test card numbers (digits only).
pub fn card_number_behavior(digits: &str) -> Option<CardBehavior> {
    Some(match digits {
        "4242424242424242" | "5555555555554444" | "378282246310005" | "4000056655665556" => CardBehavior::Authorize,
        "4000000000000002" => GENERIC,
        "4000000000009995" => FUNDS,
        "4000000000000069" => EXPIRED,
        "4000000000000127" => CVC,
        "4000002500003155" | "4000002760003184" | "4000000000003220" => CardBehavior::RequireAction,
        _ => return None,
    })
}

/// Luhn check, so typos in a card number get "incorrect_number" as at Stripe.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.len() < 12 || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// How a tokenized card's behaviour is stored with its `pm_…` id.
pub(crate) fn behavior_name(b: CardBehavior) -> String {
    match b {
        CardBehavior::Authorize => "authorize".into(),
        CardBehavior::RequireAction => "require_action".into(),
        CardBehavior::Decline { decline_code, .. } => format!("decline:{decline_code}"),
    }
}

pub(crate) fn behavior_from_name(name: &str) -> Option<CardBehavior> {
    match name {
        "authorize" => Some(CardBehavior::Authorize),
        "require_action" => Some(CardBehavior::RequireAction),
        other => {
            let code = other.strip_prefix("decline:")?;
            ["4000000000000002", "4000000000009995", "4000000000000069", "4000000000000127"]
                .into_iter()
                .filter_map(card_number_behavior)
                .find(|b| matches!(b, CardBehavior::Decline { decline_code, .. } if *decline_code == code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_test_cards_behave_as_documented() {
        assert_eq!(card_number_behavior("4242424242424242"), Some(CardBehavior::Authorize));
        assert!(matches!(
            card_number_behavior("4000000000000002"),
            Some(CardBehavior::Decline { decline_code: "generic_decline", .. })
        ));
        assert!(matches!(
            card_number_behavior("4000000000009995"),
            Some(CardBehavior::Decline { decline_code: "insufficient_funds", .. })
        ));
        assert_eq!(card_number_behavior("4000002500003155"), Some(CardBehavior::RequireAction));
        assert_eq!(payment_method_behavior("pm_card_threeDSecure2Required"), Some(CardBehavior::RequireAction));
    }

    #[test]
    fn luhn_rejects_typos() {
        assert!(luhn_valid("4242424242424242"));
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("42"));
    }
}
