//! Guest tiers and their hold limits.
//!
//! The original looked tiers up in a JavaScript object, so `"constructor"`
//! resolved to a function and disabled the limit. Here a tier is a closed
//! enum: parsing is the only way in, and an unknown name is an error.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GuestTier {
    NewGuest,
    VerifiedGuest,
    PremiumProperty,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown guest tier '{0}'; expected NEW_GUEST, VERIFIED_GUEST or PREMIUM_PROPERTY")]
pub struct UnknownTier(pub String);

impl GuestTier {
    pub const ALL: [GuestTier; 3] = [Self::NewGuest, Self::VerifiedGuest, Self::PremiumProperty];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewGuest => "NEW_GUEST",
            Self::VerifiedGuest => "VERIFIED_GUEST",
            Self::PremiumProperty => "PREMIUM_PROPERTY",
        }
    }

    /// The limit in US cents, as the original set it.
    fn usd_limit(self) -> i64 {
        match self {
            Self::NewGuest => 250_000,
            Self::VerifiedGuest => 500_000,
            Self::PremiumProperty => 1_000_000,
        }
    }

    /// The largest hold for this tier in `currency`: 250000 / 500000 /
    /// 1000000 USD cents, converted at the currency's fixed rate (money.rs),
    /// so a tier means the same value in every currency.
    pub fn limit(self, currency: Currency) -> Money {
        let minor = currency.from_usd_minor(self.usd_limit());
        Money::new(minor, currency).unwrap_or_else(|_| Money::zero(currency))
    }
}

impl FromStr for GuestTier {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "NEW_GUEST" => Ok(Self::NewGuest),
            "VERIFIED_GUEST" => Ok(Self::VerifiedGuest),
            "PREMIUM_PROPERTY" => Ok(Self::PremiumProperty),
            other => Err(UnknownTier(other.to_string())),
        }
    }
}

impl fmt::Display for GuestTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_limits_match_the_original_in_usd() {
        let usd = Currency::usd();
        assert_eq!(GuestTier::NewGuest.limit(usd).minor(), 250_000);
        assert_eq!(GuestTier::VerifiedGuest.limit(usd).minor(), 500_000);
        assert_eq!(GuestTier::PremiumProperty.limit(usd).minor(), 1_000_000);
    }

    #[test]
    fn tier_limits_mean_the_same_value_in_every_currency() {
        // USD 2,500 at the fixed rates: ¥375,000 and KWD 767.500, not
        // ¥2,500 (USD 17) and KWD 2,500 (USD 8,100).
        assert_eq!(GuestTier::NewGuest.limit(Currency::parse("jpy").unwrap()).minor(), 375_000);
        assert_eq!(GuestTier::NewGuest.limit(Currency::parse("kwd").unwrap()).minor(), 767_500);
        assert_eq!(GuestTier::PremiumProperty.limit(Currency::parse("krw").unwrap()).minor(), 13_800_000);
        for code in Currency::supported_codes() {
            let c = Currency::parse(code).unwrap();
            for t in GuestTier::ALL {
                let l = t.limit(c);
                assert!(l.minor() > c.min_charge() * 100, "{t} in {code} is {l}");
                assert!(Money::chargeable(l.minor(), c).is_ok(), "{t} in {code} must itself be chargeable");
            }
        }
    }

    #[test]
    fn prototype_names_and_unknown_tiers_do_not_parse() {
        for bad in ["constructor", "__proto__", "toString", "hasOwnProperty", "GOLD", "new_guest", ""] {
            assert!(bad.parse::<GuestTier>().is_err(), "{bad} must be rejected");
        }
        assert_eq!("VERIFIED_GUEST".parse::<GuestTier>(), Ok(GuestTier::VerifiedGuest));
    }
}
