//! `POST /api/holds`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chittycharge_api::CreateHoldResponse;
use chittycharge_domain::{Currency, GuestTier};
use serde_json::Value;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Fields, JsonBody};
use crate::state::AppState;
use crate::views::create_response;
use chittycharge_core::{CoreError, CreateHold};

/// Stripe's limit on `description`.
const MAX_DESCRIPTION: usize = 1000;

/// A plain structural check: one `@`, a dotted domain, no spaces. Delivery
/// is the real test; this only stops obvious garbage before Stripe sees it.
pub(crate) fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '"' | '\'' | '(' | ')' | ',' | ';' | ':' | '\\' | '[' | ']')
        })
}

/// The original's metadata normalisation: strings kept, numbers and booleans
/// stringified, objects and arrays as JSON, nulls dropped.
fn stringify_metadata(m: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    m.iter()
        .filter_map(|(k, v)| {
            let s = match v {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Array(_) | Value::Object(_) => v.to_string(),
            };
            Some((k.clone(), s))
        })
        .collect()
}

pub(crate) fn parse_create(
    body: Option<serde_json::Map<String, Value>>,
    default_currency: Currency,
) -> Result<CreateHold, CoreError> {
    let body = body.unwrap_or_default();
    let f = Fields(&body);
    let amount = match f.int("amount")? {
        None | Some(0) => return Err(CoreError::MissingFields { field: "amount" }),
        Some(a) if a < 0 => {
            return Err(CoreError::validation("amount", "amount must be a positive number of minor units"))
        }
        Some(a) => a,
    };
    let description =
        f.string("description", MAX_DESCRIPTION)?.ok_or(CoreError::MissingFields { field: "description" })?;
    let currency = match f.string("currency", 10)? {
        None => default_currency,
        Some(c) => Currency::parse(&c).map_err(|_| {
            let supported: Vec<_> = Currency::supported_codes().collect();
            CoreError::validation(
                "currency",
                format!("unsupported currency '{c}'; supported: {}", supported.join(", ")),
            )
        })?,
    };
    // Stored lower-case so a guest's history is found whatever the casing.
    let customer_email = f.string("customer_email", 254)?.map(|e| e.to_ascii_lowercase());
    if let Some(e) = &customer_email {
        if !valid_email(e) {
            return Err(CoreError::validation("customer_email", "customer_email is not a valid email address"));
        }
    }
    let meta_obj = f.object("metadata")?;
    let mut asserted_tier = None;
    let mut booking_id = f.id("booking_id")?;
    let mut property_id = f.id("property_id")?;
    let mut tenant_id = f.id("tenant_id")?;
    let mut metadata = BTreeMap::new();
    if let Some(m) = meta_obj {
        let mf = Fields(m);
        if let Some(t) = mf.raw("guest_tier") {
            let name = t
                .as_str()
                .ok_or_else(|| CoreError::validation("metadata.guest_tier", "guest_tier must be a string"))?;
            asserted_tier = Some(
                name.parse::<GuestTier>().map_err(|e| CoreError::validation("metadata.guest_tier", e.to_string()))?,
            );
        }
        // The original's clients sent these in metadata: taken from there
        // when the body leaves them out, never dropped (a property left in
        // metadata would make a hold of no property).
        for (top, key) in
            [(&mut booking_id, "booking_id"), (&mut property_id, "property_id"), (&mut tenant_id, "tenant_id")]
        {
            let inner = mf.id(key).map_err(|e| match e {
                CoreError::Validation { message, .. } => CoreError::validation(&format!("metadata.{key}"), message),
                other => other,
            })?;
            match (top.as_ref(), inner) {
                (None, inner) => *top = inner,
                // Two answers to one question: refused, not one dropped.
                (Some(t), Some(i)) if *t != i => {
                    return Err(CoreError::validation(
                        &format!("metadata.{key}"),
                        format!("metadata.{key} '{i}' differs from {key} '{t}'; send one"),
                    ))
                }
                _ => {}
            }
        }
        metadata = stringify_metadata(m);
        // Our own keys are set from the top-level fields, not by the caller.
        for k in ["guest_tier", "chitty_id", "source", "service", "property_id", "tenant_id", "booking_id"] {
            metadata.remove(k);
        }
        metadata.remove(chittycharge_core::OPERATION_METADATA_KEY);
        for (k, v) in &metadata {
            crate::input::check_text(&format!("metadata.{k}"), k)?;
            crate::input::check_text(&format!("metadata.{k}"), v)?;
        }
    }
    let payment_method = f.string("payment_method", 255)?;
    let confirm = f.boolean("confirm")?.unwrap_or(false);
    if confirm && payment_method.is_none() {
        return Err(CoreError::validation("payment_method", "confirm: true needs a payment_method"));
    }
    if payment_method.is_some() && !confirm {
        return Err(CoreError::validation("confirm", "set confirm: true to authorize with payment_method now"));
    }
    Ok(CreateHold {
        amount,
        currency,
        description,
        customer_email,
        property_id,
        tenant_id,
        booking_id,
        metadata,
        asserted_tier,
        payment_method,
        customer: None,
        save_card: false,
        off_session: false,
        incremental: f.boolean("incremental_authorization")?.unwrap_or(false),
        operation_id: None,
        request_key: None,
    })
}

pub(crate) async fn create_hold(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    keyed: Option<Extension<crate::protect::idempotency::KeyedOperation>>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<CreateHoldResponse>), ApiError> {
    let mut cmd = parse_create(body, state.config.currency)?;
    cmd.request_key = keyed.map(|Extension(k)| k.0);
    let created = state.holds.create(cmd, &caller).await?;
    Ok((StatusCode::CREATED, Json(create_response(&created, &state.base_url))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_stringified_like_the_original() {
        let m = serde_json::json!({"s":"x","n":1,"b":true,"o":{"a":1},"u":null});
        let got = stringify_metadata(m.as_object().unwrap());
        let want: BTreeMap<String, String> = [("s", "x"), ("n", "1"), ("b", "true"), ("o", "{\"a\":1}")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn emails_are_checked_structurally() {
        assert!(valid_email("g@example.com"));
        for bad in ["", "g", "g@", "@x.com", "g@x", "g h@x.com", "g@x.com.", "a@b@c.com"] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
