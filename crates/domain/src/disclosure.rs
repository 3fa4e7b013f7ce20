//! The guest-facing disclosure text from the seeds. It says "authorization
//! hold" and never "security deposit", which has different legal meaning.

use crate::money::Money;

/// The disclosure for a hold of `amount`. `expires` is a human date such as
/// "Nov 29, 2026" once the processor has reported the real deadline.
pub fn hold_disclosure(amount: Money, expires: Option<&str>) -> String {
    disclosure(amount, expires, "will be placed")
}

/// The same disclosure once the card is authorized: the hold "has been
/// placed" (the guest's email after authorization).
pub fn placed_hold_disclosure(amount: Money, expires: Option<&str>) -> String {
    disclosure(amount, expires, "has been placed")
}

fn disclosure(amount: Money, expires: Option<&str>, placed: &str) -> String {
    let expiry = match expires {
        Some(date) => {
            format!("The hold will automatically expire by {date} (5-7 days, varies by card network) if not captured.")
        }
        None => "The hold will automatically expire in 5-7 days (varies by card network) if not captured.".to_string(),
    };
    format!(
        "A temporary authorization hold of {amount} {placed} on your card. This is not a charge. {expiry} You will only be charged for actual costs incurred."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn disclosure_uses_the_seed_wording() {
        let text = hold_disclosure(Money::new(25_000, Currency::usd()).unwrap(), None);
        assert_eq!(
            text,
            "A temporary authorization hold of $250.00 will be placed on your card. This is not a charge. The hold will automatically expire in 5-7 days (varies by card network) if not captured. You will only be charged for actual costs incurred."
        );
        assert!(!text.to_lowercase().contains("deposit"));
        let placed = placed_hold_disclosure(Money::new(25_000, Currency::usd()).unwrap(), Some("Dec 4, 2026"));
        assert!(
            placed.starts_with("A temporary authorization hold of $250.00 has been placed on your card."),
            "{placed}"
        );
    }
}
