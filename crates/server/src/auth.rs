//! API tokens: generated once, shown once, stored only as a SHA-256 hash.
//! A request presents its token as `ChittyID-Token: <token>` (the original's
//! header) or `Authorization: Bearer <token>` (what chittyrental sends).

use axum::http::HeaderMap;
use base64::Engine;
use chittycharge_domain::Timestamp;
use chittycharge_store::{Store, StoreResult, TokenRecord};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

pub use chittycharge_core::caller::{Caller, ALL_SCOPES, SCOPE_ADMIN, SCOPE_READ, SCOPE_TIER_OVERRIDE, SCOPE_WRITE};

/// `cc_` plus 32 random bytes, URL-safe base64.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
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
    let record = store_token(store, &token, name, scopes, property_ids, rate_limit, now).await?;
    Ok((record, token))
}

/// Stores the hash of a token made by [`generate_token`].
pub async fn store_token(
    store: &dyn Store,
    token: &str,
    name: &str,
    scopes: Vec<String>,
    property_ids: Option<Vec<String>>,
    rate_limit: Option<i64>,
    now: Timestamp,
) -> StoreResult<TokenRecord> {
    let record = TokenRecord {
        id: format!("tok_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
        name: name.to_string(),
        token_hash: hash_token(token),
        scopes,
        property_ids,
        rate_limit,
        created_at: now,
        revoked_at: None,
    };
    store.insert_token(&record).await?;
    Ok(record)
}

/// Parsed once: a lookup by `&str` parses the name on every call, which
/// showed up in the 401 path's profile.
const CHITTYID_TOKEN: axum::http::HeaderName = axum::http::HeaderName::from_static("chittyid-token");

/// The raw bytes of the token a request presents, readable or not. A value
/// that is not visible ASCII can never be a token, but sending one is still
/// an attempt that failed, and counts as one.
pub(crate) fn presented_token_bytes(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get(CHITTYID_TOKEN) {
        return Some(v.as_bytes().trim_ascii()).filter(|b| !b.is_empty());
    }
    let auth = headers.get(axum::http::header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = auth.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token.trim_ascii()).filter(|b| !b.is_empty())
}

pub(crate) fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(CHITTYID_TOKEN).and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Token records by hash for a few seconds, so the hot read path does not
/// query the store for the token on every request. A revocation takes
/// effect within `TOKEN_CACHE_MS` on every instance. Bounded in size.
/// Keyed by the raw digest: only stored tokens are ever put in, and their
/// digests are uniformly random, so a fast non-keyed hash is safe here.
#[derive(Default)]
pub struct TokenCache(std::sync::Mutex<rustc_hash::FxHashMap<[u8; 32], (i64, TokenRecord)>>);

const TOKEN_CACHE_MS: i64 = 2_000;
const TOKEN_CACHE_MAX: usize = 10_000;

impl TokenCache {
    fn get(&self, digest: &[u8; 32], now: i64) -> Option<TokenRecord> {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(digest).filter(|(at, _)| now - at < TOKEN_CACHE_MS).map(|(_, r)| r.clone())
    }
    fn put(&self, digest: [u8; 32], record: TokenRecord, now: i64) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= TOKEN_CACHE_MAX {
            map.retain(|_, (at, _)| now - *at < TOKEN_CACHE_MS);
            if map.len() >= TOKEN_CACHE_MAX {
                map.clear();
            }
        }
        map.insert(digest, (now, record));
    }
}

pub async fn authenticate(store: &dyn Store, headers: &HeaderMap) -> Result<Caller, ApiError> {
    authenticate_cached(store, None, headers).await
}

pub async fn authenticate_cached(
    store: &dyn Store,
    cache: Option<&TokenCache>,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let token = presented_token(headers).filter(|t| !t.is_empty() && t.len() <= 512).ok_or(ApiError::Unauthorized)?;
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    // The stored form ([`hash_token`]), on the stack.
    let mut hex = [0u8; 64];
    hex::encode_to_slice(digest, &mut hex).map_err(|e| ApiError::Internal(format!("token hash: {e}")))?;
    let hash = std::str::from_utf8(&hex).map_err(|e| ApiError::Internal(format!("token hash: {e}")))?;
    let now = chittycharge_processor::Clock::now(&chittycharge_processor::SystemClock).millis();
    let cached = cache.and_then(|c| c.get(&digest, now));
    let record = match cached {
        Some(r) => r,
        None => {
            let r = store.find_token_by_hash(hash).await?.ok_or(ApiError::Unauthorized)?;
            if let Some(c) = cache {
                c.put(digest, r.clone(), now);
            }
            r
        }
    };
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
