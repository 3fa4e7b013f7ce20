//! Properties: the operator's own ids, with the defaults their holds use.

use chittycharge_domain::{Currency, GuestTier, Money};
use chittycharge_store::Property;

use super::{CoreError, CoreResult, HoldService};
use crate::caller::Caller;

/// A validated property write.
#[derive(Debug, Clone)]
pub struct PropertyInput {
    pub id: String,
    pub name: String,
    pub premium: bool,
    pub currency: Currency,
    pub default_hold_amount: i64,
    pub claim_window_hours: i64,
    pub time_zone: String,
    pub hold_lead_days: i64,
}

pub fn valid_property_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl HoldService {
    pub async fn put_property(&self, input: PropertyInput, caller: &Caller) -> CoreResult<(Property, bool)> {
        caller.require_admin("Managing properties")?;
        caller.require_property(Some(&input.id), "manage properties")?;
        Money::chargeable(input.default_hold_amount, input.currency)
            .map_err(|e| CoreError::validation("default_hold_amount", e.to_string()))?;
        // A check-in's hold is the property's default; a first-time guest's
        // is limited by the tier the property gives them. Above it, every
        // new guest's check-in would fail: say so now, not at the front desk.
        let tier = if input.premium { GuestTier::PremiumProperty } else { GuestTier::NewGuest };
        let limit = tier.limit(input.currency);
        if input.default_hold_amount > limit.minor() {
            return Err(CoreError::validation(
                "default_hold_amount",
                format!(
                    "a new guest's hold at this property is limited to {limit} ({tier}); lower the default or mark \
                     the property premium"
                ),
            ));
        }
        let now = self.now();
        let existing = self.store.get_property(&input.id).await?;
        let p = Property {
            id: input.id,
            name: input.name,
            premium: input.premium,
            currency: input.currency.code().to_string(),
            default_hold_amount: input.default_hold_amount,
            claim_window_hours: input.claim_window_hours,
            time_zone: input.time_zone,
            hold_lead_days: input.hold_lead_days,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
        };
        self.store.upsert_property(&p).await?;
        Ok((p, existing.is_none()))
    }

    /// The property an update would change (`None` for a new one), once
    /// the caller is known to be allowed to write it: asked before the body
    /// is read, so a caller who may not write learns nothing from its
    /// validation.
    pub async fn property_to_write(&self, id: &str, caller: &Caller) -> CoreResult<Option<Property>> {
        caller.require_admin("Managing properties")?;
        caller.require_property(Some(id), "manage properties")?;
        Ok(self.store.get_property(id).await?)
    }

    pub async fn property(&self, id: &str, caller: &Caller) -> CoreResult<Property> {
        caller.require_read()?;
        if !caller.sees_property(Some(id)) {
            return Err(CoreError::NotFound);
        }
        self.store.get_property(id).await?.ok_or(CoreError::NotFound)
    }

    pub async fn properties(&self, caller: &Caller) -> CoreResult<Vec<Property>> {
        caller.require_read()?;
        let all = self.store.list_properties().await?;
        Ok(all.into_iter().filter(|p| caller.sees_property(Some(&p.id))).collect())
    }
}
