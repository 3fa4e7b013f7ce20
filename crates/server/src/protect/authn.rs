//! Authentication, the innermost part of the edge (`protect::edge`): which
//! paths are public, the token's rate limit, and the budget for failed
//! authentications. Tokens themselves are in `crate::auth`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use chittycharge_domain::Timestamp;

use crate::auth::{authenticate_cached, presented_token_bytes};
use crate::error::ApiError;
use crate::protect::body::run;
use crate::protect::ratelimit::Verdict;
use crate::state::AppState;

/// True for the paths these pages own; they authenticate on their own.
fn is_web_path(path: &str) -> bool {
    path.starts_with("/checkin/")
        || path == "/console"
        || path.starts_with("/console/")
        || path.starts_with("/assets/")
        || path == "/openapi.json"
        || path == "/docs"
}

/// Paths anyone may call: health, Stripe's webhook, and the guest-facing
/// simulator endpoints that stand in for Stripe.js.
pub fn is_public(method: &Method, path: &str) -> bool {
    path == "/health"
        || path == "/livez"
        || path == "/readyz"
        || path == "/webhook"
        || is_web_path(path)
        || (method == Method::POST && (path == "/_sim/payment_methods" || is_guest_step(path)))
}

/// The guest's own steps on the simulator (their hold's secret is the
/// credential); the bank's stand-in (`…/dispute`) is an admin's.
fn is_guest_step(path: &str) -> bool {
    path.strip_prefix("/_sim/payment_intents/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, step)| step == "confirm" || step == "authenticate")
}

fn rate_headers(resp: &mut Response, v: &Verdict) {
    // Names parsed once (inserting by `&str` parses the name every time).
    const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
    const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
    const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
    let h = resp.headers_mut();
    h.insert(LIMIT, HeaderValue::from(v.limit));
    h.insert(REMAINING, HeaderValue::from(v.remaining));
    h.insert(RESET, HeaderValue::from(v.reset_epoch));
}

/// Authenticates, then counts the request against the token's rate limit.
/// A failed authentication is counted per client address and per token
/// prefix; past either budget the answer is 429 instead of 401. A valid
/// token is never refused by those budgets.
pub(crate) async fn require_token(state: &AppState, req: Request, route: Route) -> Response {
    authorize(state, req, route).await.unwrap_or_else(IntoResponse::into_response)
}

async fn authorize(state: &AppState, mut req: Request, route: Route) -> Result<Response, ApiError> {
    if req.method() == Method::OPTIONS {
        // Preflights are answered by the CORS layer; a bare OPTIONS gets an
        // empty 200, as the original did, without authentication.
        return Ok(StatusCode::OK.into_response());
    }
    // No route matched: the fallback's plain 404, with or without a token
    // (the routes are public in /openapi.json anyway).
    if is_public(req.method(), req.uri().path()) || req.extensions().get::<axum::extract::MatchedPath>().is_none() {
        return Ok(run(route, req).await);
    }
    if req.uri().path() == "/metrics" && state.config.edge.metrics_public {
        return Ok(run(route, req).await);
    }
    let caller = match authenticate_cached(state.store.as_ref(), Some(&state.token_cache), req.headers()).await {
        // A valid token is never refused by the failed-authentication limit:
        // nobody can lock an integration out by failing from its address.
        Ok(c) => c,
        // Only a presented token that is wrong counts as a failure: a
        // request with none (a browser's /favicon.ico) guesses nothing.
        Err(ApiError::Unauthorized) if presented_token_bytes(req.headers()).is_some() => {
            // serve.rs puts the peer's address on every request.
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0)
                .ok_or_else(|| ApiError::Internal("the request has no peer address".into()))?;
            let ip = crate::protect::client::client_ip(&state.config.edge.trusted_proxies, peer.ip(), req.headers());
            // Boxed: a rare path, kept out of every request's future.
            return Err(Box::pin(failed_authentication(state, ip, req.headers(), state.holds.now())).await);
        }
        Err(e) => return Err(e),
    };
    let now = state.holds.now();
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
    let mut resp = crate::protect::idempotency::idempotency(state, req, route).await?;
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
    let raw = presented_token_bytes(headers).unwrap_or_default();
    let prefix = String::from_utf8_lossy(&raw[..raw.len().min(8)]).into_owned();
    let mut refused = None;
    // Which budgets are spent, so the answer names them.
    let mut spent = Vec::new();
    for (key, what) in [
        (format!("authfail:ip:{ip}"), "from this address"),
        (format!("authfail:tok:{prefix}"), "with tokens that start like this one"),
    ] {
        match state.limiter.hit(&key, limit, now).await {
            Ok(v) if !v.allowed => {
                refused = Some(refused.map_or(v.retry_after, |r: u64| r.max(v.retry_after)));
                spent.push(what);
            }
            Ok(_) => {}
            Err(e) => return e.into(),
        }
    }
    match refused {
        Some(retry_after) => {
            metrics::counter!("chittycharge_rate_limit_rejections_total", "kind" => "failed_auth").increment(1);
            tracing::warn!(client.ip = %ip, "too many failed authentications");
            let limited = format!("failed authentications {}", spent.join(" and "));
            ApiError::RateLimited { limit, retry_after, limited }
        }
        None => ApiError::Unauthorized,
    }
}
