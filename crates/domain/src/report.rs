//! The accountant's figures: one row per hold, totals per property and
//! currency, and plain decimal amounts for spreadsheets. Pure: the server
//! streams pages of holds through [`HoldRow::of`] and [`Totals::add`], so
//! memory stays flat however many holds a month has.
//!
//! Totals are `i128`: a million holds at the largest amount (99,999,999
//! minor units) is 10^14, far inside `i64`, but the sum of a store that
//! someone filled with odd data must not wrap silently either.

use std::collections::BTreeMap;

use crate::fee::estimate_processing_fee;
use crate::money::{Currency, Money};
use crate::record::Hold;

/// One hold's money, in the hold's currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HoldFigures {
    /// What the card held at its largest: captured + released + still capturable.
    pub authorized: i64,
    pub captured: i64,
    /// Given back to the card: a release, or the rest after a partial capture.
    pub released: i64,
    /// Still held and capturable.
    pub outstanding: i64,
    /// Given back to the card after a capture.
    pub refunded: i64,
    /// Under dispute and not won back (set by the caller, from the disputes).
    pub disputed: i64,
    /// The fee estimate for what was captured (0 when nothing was).
    pub estimated_fee: i64,
}

impl HoldFigures {
    pub fn of(hold: &Hold) -> Self {
        let a = hold.state.amounts();
        let currency = hold.amount.currency();
        let estimated_fee = match (a.captured, hold.processing_fee) {
            (0, _) => 0,
            (_, Some(fee)) => fee,
            (captured, None) => {
                Money::new(captured, currency).map(|m| estimate_processing_fee(m).minor()).unwrap_or_default()
            }
        };
        HoldFigures {
            authorized: a.captured.saturating_add(a.released).saturating_add(a.capturable),
            captured: a.captured,
            released: a.released,
            outstanding: a.capturable,
            refunded: a.refunded,
            disputed: 0,
            estimated_fee,
        }
    }
}

/// Sums of [`HoldFigures`] for one property and currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sums {
    pub holds: u64,
    pub authorized: i128,
    pub captured: i128,
    pub released: i128,
    pub outstanding: i128,
    pub refunded: i128,
    pub disputed: i128,
    pub estimated_fee: i128,
}

impl Sums {
    fn add(&mut self, f: &HoldFigures) {
        self.holds = self.holds.saturating_add(1);
        self.authorized += i128::from(f.authorized);
        self.captured += i128::from(f.captured);
        self.released += i128::from(f.released);
        self.outstanding += i128::from(f.outstanding);
        self.refunded += i128::from(f.refunded);
        self.disputed += i128::from(f.disputed);
        self.estimated_fee += i128::from(f.estimated_fee);
    }
}

/// Totals keyed by (property, currency code); holds without a property
/// are under the empty property. Ordered, so reports list them stably.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    by_key: BTreeMap<(String, &'static str), Sums>,
}

impl Totals {
    pub fn add(&mut self, hold: &Hold, figures: &HoldFigures) {
        let key = (hold.property_id.clone().unwrap_or_default(), hold.amount.currency().code());
        self.by_key.entry(key).or_default().add(figures);
    }
    /// (property, currency, sums), by property then currency.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Currency, &Sums)> {
        self.by_key.iter().filter_map(|((p, c), s)| Some((p.as_str(), Currency::parse(c).ok()?, s)))
    }
}

/// `minor` units as a plain decimal in major units, for a spreadsheet:
/// no symbol, no grouping ("1234.50", "2500" for JPY, "-0.05").
pub fn major_units(minor: i128, currency: Currency) -> String {
    let exp = usize::try_from(currency.exponent()).unwrap_or(0);
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs().to_string();
    if exp == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = exp + 1);
    let (whole, frac) = padded.split_at(padded.len() - exp);
    format!("{sign}{whole}.{frac}")
}

/// A cell of free text made safe for a spreadsheet: one starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return would be run as a
/// formula when the CSV is opened (OWASP's CSV injection), so it gets a
/// leading apostrophe, which spreadsheets show as text. A value that
/// already starts with one gets another, so two different values never
/// print the same (`=1` is `'=1`, `'=1` is `''=1`).
pub fn spreadsheet_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_units_follow_each_currencys_exponent() {
        let usd = Currency::usd();
        assert_eq!(major_units(123_450, usd), "1234.50");
        assert_eq!(major_units(5, usd), "0.05");
        assert_eq!(major_units(-5, usd), "-0.05");
        assert_eq!(major_units(0, usd), "0.00");
        assert_eq!(major_units(2_500, Currency::parse("jpy").unwrap()), "2500");
        assert_eq!(major_units(1_500, Currency::parse("kwd").unwrap()), "1.500");
        assert_eq!(major_units(i128::from(i64::MAX) * 3, usd), "276701161105643274.21");
    }

    #[test]
    fn formulas_in_free_text_are_defused_and_plain_text_is_untouched() {
        for hostile in ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"] {
            assert!(spreadsheet_text(hostile).starts_with('\''), "{hostile}");
        }
        assert_eq!(spreadsheet_text("guest@example.com"), "guest@example.com");
        assert_ne!(spreadsheet_text("=1"), spreadsheet_text("'=1"), "two values, two cells");
        assert_eq!(spreadsheet_text("prop-1"), "prop-1");
    }
}
