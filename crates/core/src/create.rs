//! Placing a hold.

use std::collections::BTreeMap;

use chittycharge_domain::{Currency, GuestTier, Hold, HoldState, HoldStatus, Money, MoneyError, Timestamp};
use chittycharge_processor::{CreateIntent, Intent, ProcessorError};
use chittycharge_store::{NewEvent, OpStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::sync::{fold_intent, EventContext};
use super::{key_for, new_operation, CoreError, CoreResult, HoldService};
use crate::caller::Caller;
use crate::ids::MintRequest;

/// A validated create request.
#[derive(Debug, Clone)]
pub struct CreateHold {
    pub amount: i64,
    pub currency: Currency,
    pub description: String,
    pub customer_email: Option<String>,
    pub property_id: Option<String>,
    pub tenant_id: Option<String>,
    pub booking_id: Option<String>,
    /// Caller metadata, already stringified and within Stripe's limits.
    pub metadata: BTreeMap<String, String>,
    pub asserted_tier: Option<GuestTier>,
    /// Confirm server-side with this PaymentMethod.
    pub payment_method: Option<String>,
    /// The processor customer the card is (or will be) saved to.
    pub customer: Option<String>,
    /// Save the card for later merchant-initiated holds.
    pub save_card: bool,
    /// A merchant-initiated hold on a saved card (re-authorization).
    pub off_session: bool,
    /// Ask the processor for incremental authorization (a hold that may
    /// need to grow: booking holds, and creates that ask for it).
    pub incremental: bool,
    /// The create operation's id when the caller derives it (a booking's
    /// placement): inserting it is the claim, and a second insert of the
    /// same id answers `Busy` before any processor call.
    pub operation_id: Option<String>,
    /// The API caller's `Idempotency-Key`, as the create operation's id: a
    /// retry whose first attempt's answer was lost (a 5xx, a crash, a lease
    /// taken over) finds what that attempt did instead of placing a second
    /// hold on the card (`HoldService::keyed_operation`).
    pub request_key: Option<RequestKey>,
}

/// A keyed create's claim (keyed.rs).
#[derive(Debug, Clone)]
pub struct RequestKey {
    /// Derived from the caller's token and key only, so another request
    /// under the same key meets the first one's record.
    pub operation_id: String,
    /// The request's fingerprint, kept in the record to tell a retry of the
    /// same request from another request under the same key.
    pub fingerprint: String,
}

/// The hold's own facts, recorded with the create operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HoldDraft {
    pub chitty_id: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub customer_email: Option<String>,
    pub property_id: Option<String>,
    pub tenant_id: Option<String>,
    pub booking_id: Option<String>,
    pub tier: GuestTier,
    pub tier_reason: String,
    pub metadata: BTreeMap<String, String>,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingCreate {
    pub request: CreateIntent,
    pub hold: HoldDraft,
    /// A keyed create's request fingerprint (keyed.rs): a retry under the
    /// same key with another request is refused, not placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl HoldDraft {
    /// The hold for a PaymentIntent the processor created, with its first events.
    pub(crate) fn build(
        &self,
        intent: &Intent,
        processor: &str,
        op_id: &str,
        now: Timestamp,
    ) -> CoreResult<(Hold, Vec<NewEvent>)> {
        let currency = Currency::parse(&self.currency).map_err(|e| CoreError::ProcessorFailure(e.to_string()))?;
        let amount = Money::new(self.amount, currency).map_err(|e| CoreError::ProcessorFailure(e.to_string()))?;
        let hold = Hold {
            id: intent.id.clone(),
            chitty_id: self.chitty_id.clone(),
            processor: processor.to_string(),
            client_secret: intent.client_secret.clone(),
            state: HoldState::new(),
            amount,
            description: self.description.clone(),
            customer_email: self.customer_email.clone(),
            property_id: self.property_id.clone(),
            tenant_id: self.tenant_id.clone(),
            booking_id: self.booking_id.clone(),
            tier: self.tier,
            tier_reason: self.tier_reason.clone(),
            processing_fee: None,
            metadata: self.metadata.clone(),
            created_at: now,
            updated_at: now,
            created_by: Some(self.created_by.clone()),
            version: 0,
            op_lock: None,
            expires_at: None,
            livemode: intent.livemode,
        };
        let ctx = EventContext::actor(self.created_by.clone());
        let (hold, later) = fold_intent(hold, intent, now, &ctx);
        let mut events = vec![NewEvent {
            kind: "created".into(),
            actor: Some(self.created_by.clone()),
            to_status: Some("requires_payment_method".into()),
            amount: Some(self.amount),
            data: Some(json!({ "tier": self.tier.as_str(), "operation_id": op_id })),
            at: now,
            ..NewEvent::default()
        }];
        events.extend(later);
        Ok((hold, events))
    }
}

pub struct Created {
    pub hold: Hold,
    pub tier_limit: Money,
}

/// The PaymentIntent metadata key that names the create operation.
pub const OPERATION_METADATA_KEY: &str = "chittycharge_operation";

/// Stripe's metadata limits, checked before any call.
pub(crate) const METADATA_MAX_KEYS: usize = 50;
pub(crate) const METADATA_MAX_KEY_LEN: usize = 40;
pub(crate) const METADATA_MAX_VALUE_LEN: usize = 500;

pub(crate) fn check_metadata(m: &BTreeMap<String, String>) -> CoreResult<()> {
    if m.len() > METADATA_MAX_KEYS {
        return Err(CoreError::validation(
            "metadata",
            format!("metadata may have at most {METADATA_MAX_KEYS} keys (Stripe's limit)"),
        ));
    }
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > METADATA_MAX_KEY_LEN || k.contains('[') || k.contains(']') {
            return Err(CoreError::validation(
                &format!("metadata.{k}"),
                format!("metadata key '{k}' must be 1 to {METADATA_MAX_KEY_LEN} characters without brackets"),
            ));
        }
        if v.chars().count() > METADATA_MAX_VALUE_LEN {
            return Err(CoreError::validation(
                &format!("metadata.{k}"),
                format!("metadata.{k} must be at most {METADATA_MAX_VALUE_LEN} characters"),
            ));
        }
    }
    Ok(())
}

fn money_error(e: MoneyError) -> CoreError {
    match e {
        MoneyError::BelowMinimum { min, min_minor } => {
            CoreError::validation("amount", format!("Amount must be at least {min} ({min_minor} minor units)"))
        }
        MoneyError::NotPositive => CoreError::MissingFields { field: "amount" },
        other => CoreError::validation("amount", other.to_string()),
    }
}

/// Clean releases that make a guest VERIFIED_GUEST.
pub(crate) const VERIFIED_AFTER_CLEAN_RELEASES: i64 = 3;
/// A release counts only if the hold was at least this much (USD 100 at
/// the currency's fixed rate) ...
pub(crate) const CLEAN_RELEASE_MIN_USD_MINOR: i64 = 10_000;
/// ... and stood authorized for at least this long: a stay, not a test.
pub(crate) const CLEAN_RELEASE_MIN_AGE_SECS: i64 = 12 * 3_600;

impl HoldService {
    /// The tier the server derives from its own records, and why.
    /// History counts only holds the processor authorized and released at
    /// the same property, in the same currency, of a real size and age, so a
    /// caller cannot raise a guest's tier with a few small holds of its own.
    pub async fn derive_tier(
        &self,
        property_id: Option<&str>,
        email: Option<&str>,
        tenant_id: Option<&str>,
        currency: Currency,
    ) -> CoreResult<(GuestTier, String)> {
        if let Some(p) = property_id {
            if self.store.get_property(p).await?.is_some_and(|p| p.premium) {
                return Ok((GuestTier::PremiumProperty, format!("property {p} is marked premium")));
            }
        }
        if let (Some(property_id), true) = (property_id, email.is_some() || tenant_id.is_some()) {
            let q = chittycharge_store::CleanReleases {
                email,
                tenant_id,
                property_id,
                currency: currency.code(),
                min_amount: currency.from_usd_minor(CLEAN_RELEASE_MIN_USD_MINOR),
                min_age_ms: CLEAN_RELEASE_MIN_AGE_SECS * 1_000,
            };
            let clean = self.store.count_clean_releases(&q).await?;
            if clean >= VERIFIED_AFTER_CLEAN_RELEASES {
                return Ok((
                    GuestTier::VerifiedGuest,
                    format!(
                        "guest has {clean} earlier holds at property {property_id} released with no damage capture"
                    ),
                ));
            }
        }
        Ok((GuestTier::NewGuest, "no premium property and fewer than 3 clean releases at this property".into()))
    }

    /// A caller may lower the derived tier but never raise it, unless its
    /// token carries `tiers:override`.
    async fn resolve_tier(&self, cmd: &CreateHold, caller: &Caller) -> CoreResult<(GuestTier, String)> {
        let (derived, reason) = self
            .derive_tier(
                cmd.property_id.as_deref(),
                cmd.customer_email.as_deref(),
                cmd.tenant_id.as_deref(),
                cmd.currency,
            )
            .await?;
        Ok(match cmd.asserted_tier {
            None => (derived, reason),
            Some(t) if t == derived => (t, reason),
            Some(t) if t < derived => (t, format!("lowered by the caller from {derived}")),
            Some(t) if caller.can_override_tier() => {
                (t, format!("asserted by a token with tiers:override (derived {derived})"))
            }
            Some(t) => return Err(CoreError::TierNotAllowed { asserted: t, derived, reason }),
        })
    }

    pub async fn create(&self, cmd: CreateHold, caller: &Caller) -> CoreResult<Created> {
        caller.require_write()?;
        caller.require_property(cmd.property_id.as_deref(), "create holds")?;
        let amount = Money::chargeable(cmd.amount, cmd.currency).map_err(money_error)?;
        // A retry of a keyed create answers with what its first attempt did
        // before anything else is decided again (keyed.rs).
        let keyed_id = match (&cmd.operation_id, &cmd.request_key) {
            (None, Some(key)) => match self.keyed_operation(key, caller).await? {
                Ok(id) => Some(id),
                Err(placed) => return Ok(placed),
            },
            _ => None,
        };
        self.refuse_managed_booking(&cmd, caller).await?;
        let (tier, tier_reason) = self.resolve_tier(&cmd, caller).await?;
        let limit = tier.limit(cmd.currency);
        if amount.minor() > limit.minor() {
            return Err(CoreError::TierExceeded { tier, limit });
        }

        let now = self.now();
        // The hold starts with a unique PENDING id (the mint needs the
        // PaymentIntent's id). ChittyOS ids are only ever minted by the
        // ChittyID service: without one configured the id stays PENDING and
        // says so. Never shared between holds, as the original's
        // CHITTY-AUTH-FALLBACK was.
        let chitty_id = crate::ids::pending_id();
        let mut metadata = cmd.metadata.clone();
        for (k, v) in
            [("property_id", &cmd.property_id), ("tenant_id", &cmd.tenant_id), ("booking_id", &cmd.booking_id)]
        {
            if let Some(v) = v {
                metadata.insert(k.to_string(), v.clone());
            }
        }
        metadata.insert("guest_tier".into(), tier.as_str().into());
        metadata.insert("chitty_id".into(), chitty_id.clone());
        metadata.insert("source".into(), "chittycharge".into());
        // Lets the janitor find this PaymentIntent by our operation id once
        // the idempotency key is too old to re-issue the create.
        let op_id = cmd.operation_id.clone().or(keyed_id).unwrap_or_else(super::new_operation_id);
        metadata.insert(OPERATION_METADATA_KEY.into(), op_id.clone());
        metadata.insert("service".into(), "chittypay".into());
        check_metadata(&metadata)?;

        let request = CreateIntent {
            amount: amount.minor(),
            currency: cmd.currency.code().to_string(),
            description: cmd.description.clone(),
            receipt_email: cmd.customer_email.clone(),
            metadata: metadata.clone(),
            payment_method: cmd.payment_method.clone(),
            customer: cmd.customer.clone(),
            save_for_off_session: cmd.save_card,
            off_session: cmd.off_session,
            incremental: cmd.incremental,
        };
        let draft = HoldDraft {
            chitty_id: chitty_id.clone(),
            amount: amount.minor(),
            currency: cmd.currency.code().to_string(),
            description: cmd.description.clone(),
            customer_email: cmd.customer_email.clone(),
            property_id: cmd.property_id.clone(),
            tenant_id: cmd.tenant_id.clone(),
            booking_id: cmd.booking_id.clone(),
            tier,
            tier_reason: tier_reason.to_string(),
            metadata: cmd.metadata.clone(),
            created_by: caller.actor(),
        };
        // Everything needed to finish this create later is in the record,
        // so the janitor can complete it if the processor's answer is lost.
        let fingerprint = cmd.request_key.as_ref().map(|k| k.fingerprint.clone());
        let pending = PendingCreate { request: request.clone(), hold: draft, fingerprint };
        let mut op = new_operation("create", None, serde_json::to_value(&pending).unwrap_or_default(), now);
        op.id = op_id;
        match self.store.insert_operation(&op).await {
            Ok(()) => {}
            Err(chittycharge_store::StoreError::Duplicate(_))
                if cmd.operation_id.is_some() || cmd.request_key.is_some() =>
            {
                return Err(CoreError::Busy)
            }
            Err(e) => return Err(e.into()),
        }
        // Again now that the record is written: a booking created meanwhile
        // either sees this record (bookings.rs) or is seen here.
        if let Err(e) = self.refuse_managed_booking(&cmd, caller).await {
            self.store.finish_operation(&op.id, OpStatus::Failed, Some(&e.to_string()), now).await?;
            return Err(e);
        }

        let (intent, decline) = match self.call_out(self.processor.create(&pending.request, &key_for(&op))).await {
            Ok(intent) => (intent, None),
            // A decline at confirm still created the PaymentIntent: keep the
            // hold so the guest can retry with another card.
            Err(ProcessorError::Declined { intent_id: Some(id), message, decline_code, code }) => {
                let intent = self.processor.retrieve(&id).await.map_err(|e| CoreError::from_processor(e, Some(&id)))?;
                (
                    intent,
                    Some(CoreError::Declined { message, decline_code: decline_code.or(Some(code)), hold_id: Some(id) }),
                )
            }
            Err(e) if e.is_unknown_outcome() => {
                self.store.finish_operation(&op.id, OpStatus::Unknown, Some(&e.to_string()), now).await?;
                return Err(CoreError::OutcomeUnknown { operation_id: op.id, hold_id: None });
            }
            Err(e) => {
                self.store.finish_operation(&op.id, OpStatus::Failed, Some(&e.to_string()), now).await?;
                return Err(CoreError::from_processor(e, None));
            }
        };

        let mut draft = pending.hold.clone();
        let mut minted = false;
        if self.chitty.configured() {
            let req = MintRequest {
                payment_intent: &intent.id,
                amount: amount.minor(),
                property_id: draft.property_id.as_deref(),
                tenant_id: draft.tenant_id.as_deref(),
            };
            // The hold's records must be on disk before its id leaves.
            self.barrier().await?;
            match self.chitty.mint_inline(&req).await {
                Ok(id) => {
                    draft.chitty_id = id;
                    minted = true;
                }
                Err(e) => {
                    tracing::warn!(hold.id = %intent.id, error = %e, "ChittyID mint failed; the hold keeps a PENDING id for the reconciler")
                }
            }
        }
        let (hold, events) = draft.build(&intent, self.processor.name(), &op.id, now)?;
        // Written with the hold, not after it: one write instead of three,
        // and no crash can leave a capturable hold without its expiry
        // timers or a PENDING id without its re-mint.
        let mut jobs = self.hold_timers(&hold);
        if self.chitty.configured() {
            // Puts the minted id into the processor's metadata, or keeps
            // re-minting a PENDING one, in the background.
            jobs.push(self.chitty_id_job(&hold, minted, 0));
        }
        self.store.insert_hold_scheduling(&hold, &events, Some(&op.id), &jobs).await?;
        self.hints.wrote(&hold);
        self.follow_up(HoldStatus::RequiresPaymentMethod, &hold, true).await;
        if let Some(decline) = decline {
            return Err(decline);
        }
        Ok(Created { hold, tier_limit: limit })
    }
}
