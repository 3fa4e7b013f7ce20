//! API tokens: generated once, shown once, stored only as a SHA-256 hash.
//! A request presents its token as `ChittyID-Token: <token>` (the original's
//! header) or `Authorization: Bearer <token>` (what chittyrental sends).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use chittycharge_domain::Timestamp;
use chittycharge_store::{Store, StoreResult, TokenRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::error::ApiError;

pub const SCOPE_READ: &str = "holds:read";
pub const SCOPE_WRITE: &str = "holds:write";
pub const SCOPE_ADMIN: &str = "admin";
pub const ALL_SCOPES: [&str; 3] = [SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN];

/// Who is calling, resolved from a valid token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub property_ids: Option<Vec<String>>,
    pub rate_limit: Option<i64>,
    /// `X-Source-Service`, recorded as the actor in the event log.
    pub source: Option<String>,
}

impl Caller {
    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == SCOPE_ADMIN)
    }
    pub fn can_read(&self) -> bool {
        self.has(SCOPE_READ) || self.has(SCOPE_WRITE)
    }
    pub fn can_write(&self) -> bool {
        self.has(SCOPE_WRITE)
    }
    pub fn is_admin(&self) -> bool {
        self.scopes.iter().any(|s| s == SCOPE_ADMIN)
    }
    /// A property-restricted token sees only its own properties' holds.
    pub fn sees_property(&self, property: Option<&str>) -> bool {
        match &self.property_ids {
            None => true,
            Some(allowed) => property.is_some_and(|p| allowed.iter().any(|a| a == p)),
        }
    }
    /// The name written to the event log.
    pub fn actor(&self) -> String {
        match &self.source {
            Some(src) => format!("{src} (token {})", self.name),
            None => format!("token {}", self.name),
        }
    }
}

/// `cc_` plus 32 random bytes, URL-safe base64.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("cc_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates and stores a token; returns the plaintext, which is never stored.
pub async fn create_token(
    store: &dyn Store,
    name: &str,
    scopes: Vec<String>,
    property_ids: Option<Vec<String>>,
    rate_limit: Option<i64>,
    now: Timestamp,
) -> StoreResult<(TokenRecord, String)> {
    let token = generate_token();
    let record = TokenRecord {
        id: format!("tok_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
        name: name.to_string(),
        token_hash: hash_token(&token),
        scopes,
        property_ids,
        rate_limit,
        created_at: now,
        revoked_at: None,
    };
    store.insert_token(&record).await?;
    Ok((record, token))
}

fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("chittyid-token").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

pub async fn authenticate(store: &dyn Store, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = presented_token(headers).filter(|t| !t.is_empty() && t.len() <= 512).ok_or(ApiError::Unauthorized)?;
    let hash = hash_token(token);
    let record = store.find_token_by_hash(&hash).await?.ok_or(ApiError::Unauthorized)?;
    // The lookup matched on the hash already; compare again in constant time
    // so no branch depends on how much of a guessed value was right.
    if !bool::from(record.token_hash.as_bytes().ct_eq(hash.as_bytes())) || record.revoked_at.is_some() {
        return Err(ApiError::Unauthorized);
    }
    let source = headers
        .get("x-source-service")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().filter(|c| c.is_ascii_graphic()).take(64).collect::<String>())
        .filter(|s| !s.is_empty());
    Ok(Caller {
        token_id: record.id,
        name: record.name,
        scopes: record.scopes,
        property_ids: record.property_ids,
        rate_limit: record.rate_limit,
        source,
    })
}

/// Paths anyone may call: health, Stripe's webhook, and the guest-facing
/// simulator endpoints that stand in for Stripe.js.
pub fn is_public(path: &str) -> bool {
    path == "/health"
        || path == "/webhook"
        || path == "/_sim/payment_methods"
        || path.starts_with("/_sim/payment_intents/")
}

pub async fn require_token(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if is_public(req.uri().path()) {
        return Ok(next.run(req).await);
    }
    let caller = authenticate(state.store.as_ref(), req.headers()).await?;
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}
