//! The processing-fee estimate shown after a capture.
//!
//! Stripe's standard card pricing is 2.9% plus a fixed 0.30 of the major
//! unit. The original computed `round(amount * 0.029 + 30)` in floating point;
//! this is the same value in integer arithmetic (half rounds up), with the
//! fixed part scaled to the currency and no fee for a zero capture.

use crate::money::Money;

pub const PROCESSING_FEE_NOTE: &str = "Estimated based on standard rates. Actual fees vary by card type and volume. Check Stripe Dashboard for exact amounts.";

/// Estimated fee in the same currency's minor units.
pub fn estimate_processing_fee(captured: Money) -> Money {
    let amount = captured.minor();
    if amount <= 0 {
        return Money::zero(captured.currency());
    }
    // fixed part: 0.30 major units = 3 * 10^(exp-1) minor units, in thousandths.
    let per_major = captured.currency().minor_per_major();
    let fixed_thousandths = 300 * per_major; // 0.3 * per_major * 1000
    let thousandths = amount.saturating_mul(29).saturating_add(fixed_thousandths);
    let fee = (thousandths + 500) / 1000;
    Money::new(fee, captured.currency()).unwrap_or_else(|_| Money::zero(captured.currency()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn fee_usd(minor: i64) -> i64 {
        estimate_processing_fee(Money::new(minor, Currency::usd()).unwrap()).minor()
    }

    #[test]
    fn fee_matches_the_original_vectors() {
        let vectors = [
            (50, 31),
            (100, 33),
            (1000, 59),
            (1500, 74),
            (1724, 80),
            (5000, 175),
            (7500, 248),
            (10000, 320),
            (12345, 388),
            (25000, 755),
            (250000, 7280),
            (500000, 14530),
            (1000000, 29030),
        ];
        for (amount, fee) in vectors {
            assert_eq!(fee_usd(amount), fee, "fee({amount})");
        }
    }

    #[test]
    fn zero_capture_has_no_fee_unlike_the_original() {
        assert_eq!(fee_usd(0), 0);
    }

    #[test]
    fn zero_decimal_currency_fee_has_no_fractional_fixed_part() {
        let jpy = Currency::parse("jpy").unwrap();
        // 2.9% of 10000 yen = 290, plus 0.3 yen rounds away.
        assert_eq!(estimate_processing_fee(Money::new(10_000, jpy).unwrap()).minor(), 290);
    }
}
