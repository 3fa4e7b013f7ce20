//! The processing-fee estimate shown after a capture.
//!
//! Stripe's standard card pricing is 2.9% plus a fixed 0.30 of the major
//! unit. The original computed `round(amount * 0.029 + 30)` in floating point;
//! this is the same value in integer arithmetic (half rounds up), with no
//! fee for a zero capture, and in other currencies the fixed part is USD
//! 0.30 at the fixed rate the tier limits use (¥45, KWD 0.092), not 0.30 of
//! their major unit.

use crate::money::Money;

pub const PROCESSING_FEE_NOTE: &str = "Estimated based on standard rates. Actual fees vary by card type and volume. Check Stripe Dashboard for exact amounts.";

/// Estimated fee in the same currency's minor units.
pub fn estimate_processing_fee(captured: Money) -> Money {
    let amount = captured.minor();
    if amount <= 0 {
        return Money::zero(captured.currency());
    }
    // In thousandths of a minor unit: 2.9% is 29 per unit.
    let fixed = captured.currency().usd_minor_in_thousandths(30);
    let fee = (i128::from(amount) * 29 + fixed + 500) / 1000;
    i64::try_from(fee)
        .ok()
        .and_then(|f| Money::new(f, captured.currency()).ok())
        .unwrap_or_else(|| Money::zero(captured.currency()))
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
    fn the_fixed_part_is_thirty_us_cents_in_every_currency_not_three_tenths_of_its_unit() {
        let fee = |code: &str, minor: i64| {
            estimate_processing_fee(Money::new(minor, Currency::parse(code).unwrap()).unwrap()).minor()
        };
        // 2.9% of ¥10,000 is 290, plus USD 0.30 = ¥45 (it was 0.3 yen).
        assert_eq!(fee("jpy", 10_000), 335);
        // 290 fils plus USD 0.30 = 92.1 fils (it was 300 fils, about USD 0.98).
        assert_eq!(fee("kwd", 10_000), 382);
        // 290 + €0.27.
        assert_eq!(fee("eur", 10_000), 317);
        assert_eq!(fee("usd", 10_000), 320);
        assert_eq!(fee("krw", 100_000), 2_900 + 414);
    }
}
