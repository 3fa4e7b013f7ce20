//! API tokens: generated once, shown once, stored only as a SHA-256 hash.
//! A request presents its token as `ChittyID-Token: <token>` (the original's
//! header) or `Authorization: Bearer <token>` (what chittyrental sends).

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use base64::Engine;
use chittycharge_domain::Timestamp;
use chittycharge_store::{Store, StoreResult, TokenRecord};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::error::ApiError;
use crate::protect::ratelimit::Verdict;

pub const SCOPE_READ: &str = "holds:read";
pub const SCOPE_WRITE: &str = "holds:write";
pub const SCOPE_ADMIN: &str = "admin";
/// Lets a caller assert a guest tier above the one the server derives.
pub const SCOPE_TIER_OVERRIDE: &str = "tiers:override";
pub const ALL_SCOPES: [&str; 4] = [SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN, SCOPE_TIER_OVERRIDE];

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
    pub fn can_override_tier(&self) -> bool {
        self.scopes.iter().any(|s| s == SCOPE_TIER_OVERRIDE)
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

fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("chittyid-token").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Token records by hash for a few seconds, so the hot read path does not
/// query the store for the token on every request. A revocation takes
/// effect within `TOKEN_CACHE_MS` on every instance. Bounded in size.
#[derive(Default)]
pub struct TokenCache(std::sync::Mutex<std::collections::HashMap<String, (i64, TokenRecord)>>);

const TOKEN_CACHE_MS: i64 = 2_000;
const TOKEN_CACHE_MAX: usize = 10_000;

impl TokenCache {
    fn get(&self, hash: &str, now: i64) -> Option<TokenRecord> {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(hash).filter(|(at, _)| now - at < TOKEN_CACHE_MS).map(|(_, r)| r.clone())
    }
    fn put(&self, hash: String, record: TokenRecord, now: i64) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= TOKEN_CACHE_MAX {
            map.retain(|_, (at, _)| now - *at < TOKEN_CACHE_MS);
            if map.len() >= TOKEN_CACHE_MAX {
                map.clear();
            }
        }
        map.insert(hash, (now, record));
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
    let hash = hash_token(token);
    let now = chittycharge_processor::Clock::now(&chittycharge_processor::SystemClock).millis();
    let cached = cache.and_then(|c| c.get(&hash, now));
    let record = match cached {
        Some(r) => r,
        None => {
            let r = store.find_token_by_hash(&hash).await?.ok_or(ApiError::Unauthorized)?;
            if let Some(c) = cache {
                c.put(hash.clone(), r.clone(), now);
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

/// Paths anyone may call: health, Stripe's webhook, and the guest-facing
/// simulator endpoints that stand in for Stripe.js.
pub fn is_public(method: &Method, path: &str) -> bool {
    path == "/health"
        || path == "/livez"
        || path == "/readyz"
        || path == "/webhook"
        || crate::web::is_web_path(path)
        || (method == Method::POST && (path == "/_sim/payment_methods" || path.starts_with("/_sim/payment_intents/")))
}

fn rate_headers(resp: &mut Response, v: &Verdict) {
    let h = resp.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", v.limit.to_string()),
        ("x-ratelimit-remaining", v.remaining.to_string()),
        ("x-ratelimit-reset", v.reset_epoch.to_string()),
    ] {
        if let Ok(val) = HeaderValue::from_str(&value) {
            h.insert(name, val);
        }
    }
}

/// Authenticates, then counts the request against the token's rate limit.
/// Failed authentication is counted per client IP; an IP over its limit is
/// refused before its token is even looked at.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if req.method() == Method::OPTIONS {
        // Preflights are answered by the CORS layer; a bare OPTIONS gets an
        // empty 200, as the original did, without authentication.
        return Ok(StatusCode::OK.into_response());
    }
    // No route matched: the fallback's plain 404, with or without a token
    // (the routes are public in /openapi.json anyway).
    if is_public(req.method(), req.uri().path()) || req.extensions().get::<axum::extract::MatchedPath>().is_none() {
        return Ok(next.run(req).await);
    }
    if req.uri().path() == "/metrics" && state.config.edge.metrics_public {
        return Ok(next.run(req).await);
    }
    let now = state.holds.now();
    let ip = crate::protect::client::client_ip(&state.config.edge.trusted_proxies, peer.ip(), req.headers());
    let caller = match authenticate_cached(state.store.as_ref(), Some(&state.token_cache), req.headers()).await {
        // A valid token is never refused by the failed-authentication limit:
        // nobody can lock an integration out by failing from its address.
        Ok(c) => c,
        // Only a presented token that is wrong counts as a failure: a
        // request with none (a browser's /favicon.ico) guesses nothing.
        Err(ApiError::Unauthorized) if presented_token(req.headers()).is_some_and(|t| !t.is_empty()) => {
            return Err(failed_authentication(&state, ip, req.headers(), now).await)
        }
        Err(e) => return Err(e),
    };
    let limit = caller.rate_limit.and_then(|l| u32::try_from(l).ok()).unwrap_or(state.config.rate_limit_per_minute);
    let verdict = state.limiter.hit(&format!("token:{}", caller.token_id), limit, now).await?;
    if !verdict.allowed {
        metrics::counter!("chittycharge_rate_limit_rejections_total", "kind" => "token").increment(1);
        let limited = format!("token '{}' ({})", caller.name, caller.token_id);
        let mut resp = ApiError::RateLimited { limit, retry_after: verdict.retry_after, limited }.into_response();
        rate_headers(&mut resp, &verdict);
        return Ok(resp);
    }
    req.extensions_mut().insert(caller);
    let mut resp = crate::protect::idempotency::idempotency(&state, req, next).await?;
    rate_headers(&mut resp, &verdict);
    Ok(resp)
}

/// Counts a failed authentication per client address and per presented
/// token prefix (shared through the store across instances on PostgreSQL).
/// Past the limit the failing caller gets 429 instead of 401 until its
/// budget allows another attempt; callers with a valid token are never
/// affected.
pub async fn failed_authentication(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    now: Timestamp,
) -> ApiError {
    let limit = state.config.auth_failures_per_minute;
    // A prefix, not the token: enough to slow guessing at one token, and no
    // secret is kept (tokens are long random strings).
    let prefix: String = presented_token(headers).unwrap_or("").chars().take(8).collect();
    let mut refused = None;
    for key in [format!("authfail:ip:{ip}"), format!("authfail:tok:{prefix}")] {
        match state.limiter.hit(&key, limit, now).await {
            Ok(v) if !v.allowed => refused = Some(refused.map_or(v.retry_after, |r: u64| r.max(v.retry_after))),
            Ok(_) => {}
            Err(e) => return e.into(),
        }
    }
    match refused {
        Some(retry_after) => {
            metrics::counter!("chittycharge_rate_limit_rejections_total", "kind" => "failed_auth").increment(1);
            tracing::warn!(client.ip = %ip, "too many failed authentications");
            ApiError::RateLimited { limit, retry_after, limited: "failed authentications from this address".into() }
        }
        None => ApiError::Unauthorized,
    }
}
