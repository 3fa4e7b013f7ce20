//! The rental workflow: bookings, check-in holds, check-out with itemized
//! damage claims, and the release of deferred check-outs.

use chittycharge_domain::booking::{Booked, BookingState};
use chittycharge_domain::{Booking, Hold};
use chittycharge_store::{BookingFilter, DamageClaim};
use serde_json::{json, Value};

use super::{CoreError, CoreResult, HoldService};
use crate::caller::Caller;

#[derive(Debug, Clone)]
pub struct NewBooking {
    pub id: String,
    pub property_id: String,
    pub tenant_id: Option<String>,
    pub guest_name: String,
    pub guest_email: Option<String>,
    pub check_in: chrono::NaiveDate,
    pub check_out: chrono::NaiveDate,
    pub payment_method: Option<String>,
}

/// One line of a damage claim, validated.
#[derive(Debug, Clone)]
pub struct DamageLine {
    pub amount: i64,
    pub description: String,
    pub evidence_urls: Vec<String>,
}

impl DamageLine {
    pub fn to_json(&self) -> Value {
        json!({ "amount": self.amount, "description": self.description, "evidence_urls": self.evidence_urls })
    }
}

/// An evidence link we will render: http(s) with a host, nothing else.
pub fn is_http_url(s: &str) -> bool {
    s.len() <= 2000
        && !s.chars().any(|c| c.is_whitespace() || chittycharge_domain::text::is_forbidden_char(c))
        && url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        && (s.starts_with("https://") || s.starts_with("http://"))
}

/// The total of itemized lines, checked: no line above what the hold can
/// capture, and no sum that overflows (400 instead of a wrapped amount).
pub fn claim_total(lines: &[DamageLine], capturable: i64) -> CoreResult<i64> {
    let mut total: i64 = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.amount <= 0 {
            return Err(CoreError::validation(&format!("damages[{i}].amount"), "amount must be positive"));
        }
        if l.amount > capturable {
            return Err(CoreError::validation(
                &format!("damages[{i}].amount"),
                format!("damage line {} ({}) exceeds the capturable amount {capturable}", i + 1, l.amount),
            ));
        }
        total = total.checked_add(l.amount).ok_or_else(|| {
            CoreError::validation("damages", "the damage lines add up to more than any hold can capture")
        })?;
    }
    Ok(total)
}

#[derive(Debug)]
pub enum CheckoutOutcome {
    Charged { amount: i64, claim_id: String, hold: Hold },
    Released { hold: Hold },
    Deferred { booking: Booking },
}

#[derive(Debug)]
pub struct Authorized {
    pub booking: Booking,
    pub hold: Hold,
}

/// A damage claim's id: its capture operation's.
pub(super) fn claim_id(op_id: &str) -> String {
    format!("clm_{}", op_id.trim_start_matches("op_"))
}

pub(super) fn conflict(status: &str, message: impl Into<String>) -> CoreError {
    CoreError::InvalidState { status: status.to_string(), message: message.into() }
}

impl HoldService {
    pub async fn create_booking(&self, nb: NewBooking, caller: &Caller) -> CoreResult<Booking> {
        caller.require_write()?;
        caller.require_property(Some(&nb.property_id), "book")?;
        if self.store.get_property(&nb.property_id).await?.is_none() {
            return Err(CoreError::validation(
                "property_id",
                format!("unknown property '{}'; create it first", nb.property_id),
            ));
        }
        if nb.check_out <= nb.check_in {
            return Err(CoreError::validation("check_out", "check_out must be after check_in"));
        }
        if self.store.get_booking(&nb.property_id, &nb.id).await?.is_some() {
            return Err(conflict("exists", format!("booking '{}' already exists", nb.id)));
        }
        let now = self.now();
        let b = Booking {
            id: nb.id,
            property_id: nb.property_id,
            tenant_id: nb.tenant_id,
            guest_name: nb.guest_name,
            guest_email: nb.guest_email,
            check_in: nb.check_in.to_string(),
            check_out: nb.check_out.to_string(),
            state: BookingState::Booked(Booked),
            saved_payment_method: nb.payment_method,
            processor_customer: None,
            hold_generation: 0,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        self.claim_booking_id(&b, now).await?;
        self.schedule_placement(&b).await?;
        Ok(b)
    }

    /// A booking the caller may see, by the operator's id. Ids are unique
    /// per property: `property` picks one when the caller's properties share
    /// an id, and another property's booking answers exactly like a free id.
    pub async fn booking(&self, id: &str, property: Option<&str>, caller: &Caller) -> CoreResult<Booking> {
        caller.require_read()?;
        if let Some(p) = property {
            if !caller.sees_property(Some(p)) {
                return Err(CoreError::NotFound);
            }
            return self.store.get_booking(p, id).await?.ok_or(CoreError::NotFound);
        }
        let mut found = self.store.find_bookings(id, caller.property_ids.as_deref()).await?;
        match found.len() {
            0 => Err(CoreError::NotFound),
            1 => found.pop().ok_or(CoreError::NotFound),
            _ => Err(CoreError::validation(
                "property_id",
                format!("booking '{id}' exists at several of your properties; pass ?property_id= to choose one"),
            )),
        }
    }

    pub async fn bookings(&self, mut f: BookingFilter, caller: &Caller) -> CoreResult<Vec<Booking>> {
        caller.require_read()?;
        f.property_scope = caller.property_ids.clone();
        Ok(self.store.list_bookings(&f).await?)
    }

    pub async fn booking_claims(&self, b: &Booking) -> CoreResult<Vec<DamageClaim>> {
        Ok(self.store.claims_for_booking(&b.property_id, &b.id).await?)
    }
}
