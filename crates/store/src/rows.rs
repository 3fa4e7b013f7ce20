//! Conversions between SQL rows and domain records. Rows stay private to
//! this crate; callers only ever see domain types.

use std::collections::BTreeMap;

use chittycharge_domain::hold::StoredState;
use chittycharge_domain::{Currency, GuestTier, Hold, HoldStatus, Money, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{HoldEvent, OpStatus, Operation, StoreError, StoreResult, TokenRecord};

/// One column value, readable from an sqlx row or from a rusqlite row (the
/// hold fast path in `fast.rs`), so both share one mapping to `Hold`.
pub(crate) trait Column: Sized {
    fn from_any(row: &AnyRow, name: &str) -> StoreResult<Self>;
    fn from_lite(row: &rusqlite::Row<'_>, name: &str) -> StoreResult<Self>;
    fn from_lite_at(row: &rusqlite::Row<'_>, index: usize, name: &str) -> StoreResult<Self>;
}

impl<T> Column for T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql,
{
    fn from_any(row: &AnyRow, name: &str) -> StoreResult<Self> {
        Ok(row.try_get(name)?)
    }
    fn from_lite(row: &rusqlite::Row<'_>, name: &str) -> StoreResult<Self> {
        row.get(name).map_err(|e| corrupt(name, e))
    }
    fn from_lite_at(row: &rusqlite::Row<'_>, index: usize, name: &str) -> StoreResult<Self> {
        row.get(index).map_err(|e| corrupt(name, e))
    }
}

pub(crate) trait Columns {
    fn col<T: Column>(&self, name: &str) -> StoreResult<T>;
}

impl Columns for AnyRow {
    fn col<T: Column>(&self, name: &str) -> StoreResult<T> {
        T::from_any(self, name)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn col<T: Column>(&self, name: &str) -> StoreResult<T> {
        T::from_lite(self, name)
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp::from_millis)
}

pub(crate) const HOLD_COLUMNS: &str = "id, chitty_id, processor, client_secret, status, amount, amount_capturable, \
    amount_captured, amount_released, currency, description, customer_email, property_id, tenant_id, booking_id, \
    tier, tier_reason, processing_fee, metadata, reason, expires_at, captured_at, canceled_at, created_at, \
    updated_at, created_by, version, op_lock, livemode, amount_refunded";

pub(crate) fn hold_from_row<R: Columns>(row: &R) -> StoreResult<Hold> {
    let status: String = row.col("status")?;
    let status: HoldStatus = status.parse().map_err(|e| corrupt("status", e))?;
    let currency: String = row.col("currency")?;
    let currency = Currency::parse(&currency).map_err(|e| corrupt("currency", e))?;
    let amount: i64 = row.col("amount")?;
    let amount = Money::new(amount, currency).map_err(|e| corrupt("amount", e))?;
    let tier: String = row.col("tier")?;
    let tier: GuestTier = tier.parse().map_err(|e| corrupt("tier", e))?;
    let metadata: String = row.col("metadata")?;
    let metadata: BTreeMap<String, String> = serde_json::from_str(&metadata).map_err(|e| corrupt("metadata", e))?;
    let reason: Option<String> = row.col("reason")?;
    let expires_at = ts(row.col("expires_at")?);
    let state = StoredState {
        status: Some(status),
        amount: amount.minor(),
        capturable: row.col("amount_capturable")?,
        captured: row.col("amount_captured")?,
        released: row.col("amount_released")?,
        refunded: row.col("amount_refunded")?,
        capture_before: expires_at,
        captured_at: ts(row.col("captured_at")?),
        canceled_at: ts(row.col("canceled_at")?),
        reason: reason.clone(),
        last_error: reason,
    }
    .into_state();
    Ok(Hold {
        id: row.col("id")?,
        chitty_id: row.col("chitty_id")?,
        processor: row.col("processor")?,
        client_secret: row.col("client_secret")?,
        state,
        amount,
        description: row.col("description")?,
        customer_email: row.col("customer_email")?,
        property_id: row.col("property_id")?,
        tenant_id: row.col("tenant_id")?,
        booking_id: row.col("booking_id")?,
        tier,
        tier_reason: row.col("tier_reason")?,
        processing_fee: row.col("processing_fee")?,
        metadata,
        created_at: Timestamp::from_millis(row.col("created_at")?),
        updated_at: Timestamp::from_millis(row.col("updated_at")?),
        created_by: row.col("created_by")?,
        version: row.col("version")?,
        op_lock: row.col("op_lock")?,
        expires_at,
        livemode: row.col::<i64>("livemode")? != 0,
    })
}

/// The column values of a hold that change with its state.
pub(crate) struct StateColumns {
    pub status: &'static str,
    pub capturable: i64,
    pub captured: i64,
    pub released: i64,
    pub refunded: i64,
    pub reason: Option<String>,
    pub expires_at: Option<i64>,
    pub captured_at: Option<i64>,
    pub canceled_at: Option<i64>,
}

pub(crate) fn state_columns(hold: &Hold) -> StateColumns {
    let amounts = hold.state.amounts();
    StateColumns {
        status: hold.state.status().as_str(),
        capturable: amounts.capturable,
        captured: amounts.captured,
        released: amounts.released,
        refunded: amounts.refunded,
        reason: hold.state.reason().map(str::to_string),
        expires_at: hold.state.capture_before().or(hold.expires_at).map(Timestamp::millis),
        captured_at: hold.state.captured_at().map(Timestamp::millis),
        canceled_at: hold.state.canceled_at().map(Timestamp::millis),
    }
}

pub(crate) fn event_from_row(row: &AnyRow) -> StoreResult<HoldEvent> {
    let data: Option<String> = row.try_get("data")?;
    Ok(HoldEvent {
        id: row.try_get("id")?,
        hold_id: row.try_get("hold_id")?,
        kind: row.try_get("kind")?,
        actor: row.try_get("actor")?,
        from_status: row.try_get("from_status")?,
        to_status: row.try_get("to_status")?,
        amount: row.try_get("amount")?,
        reason: row.try_get("reason")?,
        data: data.map(|d| serde_json::from_str(&d)).transpose().map_err(|e| corrupt("event data", e))?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

pub(crate) fn operation_from_row(row: &AnyRow) -> StoreResult<Operation> {
    let status: String = row.try_get("status")?;
    let request: String = row.try_get("request")?;
    Ok(Operation {
        id: row.try_get("id")?,
        hold_id: row.try_get("hold_id")?,
        kind: row.try_get("kind")?,
        status: OpStatus::parse(&status).ok_or_else(|| corrupt("operation status", &status))?,
        request: serde_json::from_str(&request).map_err(|e| corrupt("operation request", e))?,
        error: row.try_get("error")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: ts(row.try_get("next_attempt_at")?),
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
    })
}

pub(crate) fn token_from_row(row: &AnyRow) -> StoreResult<TokenRecord> {
    let scopes: String = row.try_get("scopes")?;
    let props: Option<String> = row.try_get("property_ids")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        token_hash: row.try_get("token_hash")?,
        scopes: scopes.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        property_ids: props.map(|p| p.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()),
        rate_limit: row.try_get("rate_limit")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        revoked_at: ts(row.try_get("revoked_at")?),
    })
}
