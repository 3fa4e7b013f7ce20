//! Money as integer minor units of an ISO-4217 currency.
//!
//! Floats never touch an amount: every value is an `i64` count of the
//! currency's minor unit (cents for USD, yen for JPY, fils for KWD).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the service knows about one supported currency.
#[derive(Debug, PartialEq, Eq)]
struct CurrencyInfo {
    code: &'static str,
    /// Digits after the decimal point (ISO-4217 minor-unit exponent).
    exponent: u32,
    /// Stripe's minimum charge amount, in minor units.
    min_charge: i64,
    symbol: &'static str,
    /// Units of this currency per US dollar, times 1,000: a fixed rate,
    /// reviewed by hand, used only to scale the USD tier limits (holds are
    /// never converted). Figures of late 2026, rounded.
    usd_rate_milli: i64,
}

/// The currencies a hold may be placed in. Amount minimums follow Stripe's
/// published per-currency minimum charge table; currencies Stripe does not
/// list (KWD, BHD) use the equivalent of roughly USD 0.50.
static CURRENCIES: &[CurrencyInfo] = &[
    CurrencyInfo { code: "usd", exponent: 2, min_charge: 50, symbol: "$", usd_rate_milli: 1_000 },
    CurrencyInfo { code: "eur", exponent: 2, min_charge: 50, symbol: "€", usd_rate_milli: 900 },
    CurrencyInfo { code: "gbp", exponent: 2, min_charge: 30, symbol: "£", usd_rate_milli: 780 },
    CurrencyInfo { code: "cad", exponent: 2, min_charge: 50, symbol: "CA$", usd_rate_milli: 1_370 },
    CurrencyInfo { code: "aud", exponent: 2, min_charge: 50, symbol: "A$", usd_rate_milli: 1_520 },
    CurrencyInfo { code: "nzd", exponent: 2, min_charge: 50, symbol: "NZ$", usd_rate_milli: 1_680 },
    CurrencyInfo { code: "chf", exponent: 2, min_charge: 50, symbol: "CHF ", usd_rate_milli: 880 },
    CurrencyInfo { code: "sek", exponent: 2, min_charge: 300, symbol: "SEK ", usd_rate_milli: 10_500 },
    CurrencyInfo { code: "nok", exponent: 2, min_charge: 300, symbol: "NOK ", usd_rate_milli: 10_700 },
    CurrencyInfo { code: "dkk", exponent: 2, min_charge: 250, symbol: "DKK ", usd_rate_milli: 6_800 },
    CurrencyInfo { code: "mxn", exponent: 2, min_charge: 1000, symbol: "MX$", usd_rate_milli: 18_500 },
    CurrencyInfo { code: "sgd", exponent: 2, min_charge: 50, symbol: "S$", usd_rate_milli: 1_330 },
    CurrencyInfo { code: "hkd", exponent: 2, min_charge: 400, symbol: "HK$", usd_rate_milli: 7_800 },
    CurrencyInfo { code: "jpy", exponent: 0, min_charge: 50, symbol: "¥", usd_rate_milli: 150_000 },
    CurrencyInfo { code: "krw", exponent: 0, min_charge: 700, symbol: "₩", usd_rate_milli: 1_380_000 },
    CurrencyInfo { code: "kwd", exponent: 3, min_charge: 200, symbol: "KWD ", usd_rate_milli: 307 },
    CurrencyInfo { code: "bhd", exponent: 3, min_charge: 200, symbol: "BHD ", usd_rate_milli: 376 },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unsupported currency '{0}'")]
    UnknownCurrency(String),
    #[error("amount must be at least {min} ({min_minor} minor units)")]
    BelowMinimum { min: String, min_minor: i64 },
    #[error("amount must be a positive number of minor units")]
    NotPositive,
    #[error("amount {amount} exceeds the largest supported amount {max}")]
    TooLarge { amount: i64, max: i64 },
    #[error("amounts in {currency} must be a multiple of 10 minor units")]
    NotMultipleOfTen { currency: &'static str },
}

/// A supported ISO-4217 currency (lower-case code, as Stripe uses).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(&'static CurrencyInfo);

impl std::hash::Hash for CurrencyInfo {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.code.hash(state);
    }
}

impl Currency {
    /// `minor` units of this currency as people read them ("$50.00",
    /// "¥2,500"); the bare number when it is out of range.
    pub fn format(self, minor: i64) -> String {
        Money::new(minor, self).map(|m| m.to_string()).unwrap_or_else(|_| minor.to_string())
    }

    /// Parses a currency code case-insensitively; only listed currencies are accepted.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let lower = code.trim().to_ascii_lowercase();
        CURRENCIES
            .iter()
            .find(|c| c.code == lower)
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }
    pub fn usd() -> Self {
        Currency(&CURRENCIES[0])
    }
    pub fn code(self) -> &'static str {
        self.0.code
    }
    /// What amounts are written with: "$", "¥", "KWD ".
    pub fn symbol(self) -> &'static str {
        self.0.symbol
    }
    pub fn exponent(self) -> u32 {
        self.0.exponent
    }
    /// Stripe's minimum charge amount in this currency's minor units.
    pub fn min_charge(self) -> i64 {
        self.0.min_charge
    }
    /// Minor units in one major unit (100 for USD, 1 for JPY, 1000 for KWD).
    pub fn minor_per_major(self) -> i64 {
        10_i64.pow(self.0.exponent)
    }
    /// `usd_minor` US cents in this currency's minor units at the fixed rate,
    /// rounded down to what the currency can charge (a multiple of ten for
    /// three-decimal currencies). Integer arithmetic, saturating.
    pub fn from_usd_minor(self, usd_minor: i64) -> i64 {
        let scaled = i128::from(usd_minor) * i128::from(self.0.usd_rate_milli) * i128::from(self.minor_per_major())
            / (1_000 * 100);
        let minor = i64::try_from(scaled).unwrap_or(i64::MAX);
        if self.0.exponent == 3 {
            minor - minor % 10
        } else {
            minor
        }
    }
    /// `usd_minor` US cents in this currency's minor units at the fixed
    /// rate, in thousandths of a minor unit (exact for every listed rate).
    pub fn usd_minor_in_thousandths(self, usd_minor: i64) -> i128 {
        i128::from(usd_minor) * i128::from(self.0.usd_rate_milli) * i128::from(self.minor_per_major()) / 100
    }
    /// Stripe moves three-decimal currencies (KWD, BHD) only in multiples
    /// of ten minor units: a hold, and every capture, refund and new total
    /// of it.
    pub fn check_granularity(self, minor: i64) -> Result<(), MoneyError> {
        if self.0.exponent == 3 && minor % 10 != 0 {
            return Err(MoneyError::NotMultipleOfTen { currency: self.0.code });
        }
        Ok(())
    }
    pub fn supported_codes() -> impl Iterator<Item = &'static str> {
        CURRENCIES.iter().map(|c| c.code)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.0.code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Stripe's largest amount for a single charge is 99,999,999 minor units
/// (eight digits); we refuse anything larger before calling out.
pub const MAX_AMOUNT: i64 = 99_999_999;

/// A positive number of minor units: what a caller asks to capture. Zero
/// and negatives cannot be built, so what takes one never checks again.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PositiveAmount(i64);

impl PositiveAmount {
    pub fn new(minor: i64) -> Result<Self, MoneyError> {
        if minor > 0 {
            Ok(Self(minor))
        } else {
            Err(MoneyError::NotPositive)
        }
    }
    pub const fn minor(self) -> i64 {
        self.0
    }
}

/// An amount of money: minor units plus currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// Any non-negative amount in range; used for captured and released sums.
    pub fn new(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::NotPositive);
        }
        if minor > MAX_AMOUNT {
            return Err(MoneyError::TooLarge { amount: minor, max: MAX_AMOUNT });
        }
        Ok(Self { minor, currency })
    }

    /// An amount that may be authorized or charged: at least Stripe's
    /// per-currency minimum, at most [`MAX_AMOUNT`], and for three-decimal
    /// currencies a multiple of ten (Stripe's rule for KWD, BHD, ...).
    pub fn chargeable(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor <= 0 {
            return Err(MoneyError::NotPositive);
        }
        let m = Self::new(minor, currency)?;
        if minor < currency.min_charge() {
            return Err(MoneyError::BelowMinimum {
                min: Money { minor: currency.min_charge(), currency }.to_string(),
                min_minor: currency.min_charge(),
            });
        }
        currency.check_granularity(minor)?;
        Ok(m)
    }

    pub fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }
    pub fn minor(self) -> i64 {
        self.minor
    }
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// Formats without decimals when the amount is whole ("$2,500"), as the
    /// original's tier messages do.
    pub fn display_compact(self) -> String {
        let per = self.currency.minor_per_major();
        if self.minor % per == 0 {
            format!("{}{}", self.currency.0.symbol, group_thousands(self.minor / per))
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for Money {
    /// "$3,000.00", "¥2,500", "KWD 1.500".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = self.currency.minor_per_major();
        let major = group_thousands(self.minor / per);
        let exp = self.currency.exponent();
        if exp == 0 {
            write!(f, "{}{}", self.currency.0.symbol, major)
        } else {
            let frac = self.minor % per;
            write!(f, "{}{}.{:0width$}", self.currency.0.symbol, major, frac, width = usize::try_from(exp).unwrap_or(0))
        }
    }
}

fn group_thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(c: &str) -> Currency {
        Currency::parse(c).unwrap()
    }

    #[test]
    fn currencies_carry_iso_exponents() {
        assert_eq!(cur("JPY").exponent(), 0);
        assert_eq!(cur("usd").exponent(), 2);
        assert_eq!(cur("KWD").exponent(), 3);
    }

    #[test]
    fn unknown_currency_is_rejected() {
        assert!(matches!(Currency::parse("xxx"), Err(MoneyError::UnknownCurrency(_))));
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn amounts_format_with_the_currency_exponent() {
        assert_eq!(Money::new(300_000, cur("usd")).unwrap().to_string(), "$3,000.00");
        assert_eq!(Money::new(2500, cur("jpy")).unwrap().to_string(), "¥2,500");
        assert_eq!(Money::new(1500, cur("kwd")).unwrap().to_string(), "KWD 1.500");
        assert_eq!(Money::new(5, cur("usd")).unwrap().to_string(), "$0.05");
        assert_eq!(Money::new(250_000, cur("usd")).unwrap().display_compact(), "$2,500");
        assert_eq!(Money::new(1_000_000, cur("usd")).unwrap().display_compact(), "$10,000");
    }

    #[test]
    fn chargeable_amount_respects_stripe_minimums() {
        assert!(Money::chargeable(50, cur("usd")).is_ok());
        let err = Money::chargeable(49, cur("usd")).unwrap_err();
        assert_eq!(err.to_string(), "amount must be at least $0.50 (50 minor units)");
        assert!(Money::chargeable(29, cur("gbp")).is_err());
        assert!(Money::chargeable(0, cur("usd")).is_err());
        assert!(Money::chargeable(-5, cur("usd")).is_err());
        assert!(Money::chargeable(MAX_AMOUNT + 1, cur("usd")).is_err());
    }

    #[test]
    fn three_decimal_currencies_need_multiples_of_ten() {
        assert!(Money::chargeable(1505, cur("kwd")).is_err());
        assert!(Money::chargeable(1510, cur("kwd")).is_ok());
    }
}
