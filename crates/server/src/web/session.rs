//! Console sessions. Signing in exchanges an API token for a server-side
//! session behind an HttpOnly, SameSite=Strict cookie (Secure when the public
//! URL is https). The sign-in form itself is protected against cross-site
//! posting by a pre-session token (a cookie and a form field that must
//! match) and an Origin / Sec-Fetch-Site check; failed sign-ins count
//! toward the same lockout as failed API authentications; and every console
//! page counts against the signed-in token's rate limit.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use minijinja::context;
use subtle::ConstantTimeEq;

use super::render;
use crate::auth::{hash_token, Caller};
use crate::error::ApiError;
use crate::state::AppState;

const COOKIE: &str = "cc_session";
const LOGIN_COOKIE: &str = "cc_login";
const SESSION_SECS: i64 = 12 * 3_600;

fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(resp: &mut Response, state: &AppState, name: &str, value: &str, max_age: i64) {
    let secure = if state.base_url.starts_with("https://") { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(super) struct Session {
    pub caller: Caller,
    pub csrf: String,
}

pub(super) async fn session(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let id = cookie(headers, COOKIE)?;
    let (token_id, csrf, expires) = state.store.get_session(&hash_token(&id)).await.ok()??;
    if expires < state.holds.now() {
        return None;
    }
    let t = state.store.get_token(&token_id).await.ok()??;
    if t.revoked_at.is_some() {
        return None;
    }
    let caller = Caller {
        token_id: t.id,
        name: t.name,
        scopes: t.scopes,
        property_ids: t.property_ids,
        rate_limit: t.rate_limit,
        source: Some("console".into()),
    };
    Some(Session { caller, csrf })
}

/// Counts a console page or action against the token's rate limit, as the
/// same token's API calls are; `Some(429 page)` when over it.
pub(super) async fn over_limit(state: &AppState, s: &Session) -> Option<Response> {
    let limit = s.caller.rate_limit.and_then(|l| u32::try_from(l).ok()).unwrap_or(state.config.rate_limit_per_minute);
    let v = state.limiter.hit(&format!("token:{}", s.caller.token_id), limit, state.holds.now()).await.ok()?;
    if v.allowed {
        return None;
    }
    metrics::counter!("chittycharge_rate_limit_rejections_total", "kind" => "token").increment(1);
    let msg = format!("Too many requests for this token (limit {limit} a minute); wait {} s.", v.retry_after);
    let mut r = render(
        "table.html",
        context! { console => false, heading => "Too many requests", columns => Vec::<String>::new(), rows => Vec::<serde_json::Value>::new(), error => msg },
    );
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(h) = HeaderValue::from_str(&v.retry_after.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, h);
    }
    Some(r)
}

pub(super) fn form_pairs(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

pub(super) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(super) fn csrf_ok(s: &Session, pairs: &[(String, String)]) -> bool {
    field(pairs, "csrf").is_some_and(|c| bool::from(c.as_bytes().ct_eq(s.csrf.as_bytes())))
}

/// The sign-in page, with a fresh pre-session token in a cookie and a field.
fn login_page(state: &AppState, error: Option<&str>, status: StatusCode) -> Response {
    let login = random_secret();
    let mut r = render("login.html", context! { console => false, login_csrf => login, error => error });
    *r.status_mut() = status;
    set_cookie(&mut r, state, LOGIN_COOKIE, &login, 600);
    r
}

pub(super) async fn home(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if session(&state, &headers).await.is_some() {
        return Redirect::to("/console/holds").into_response();
    }
    login_page(&state, None, StatusCode::OK)
}

/// A browser's own form post: not from another site.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // Our pages' referrer policy (`same-origin`) lets the browser send
        // the real origin, so `null` (a sandboxed or opaque page) is refused.
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            origin == state.base_url.trim_end_matches('/')
                || origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
        }
    }
}

pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    let pre = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let given = field(&pairs, "login_csrf").unwrap_or("");
    let pre_ok = !pre.is_empty() && bool::from(pre.as_bytes().ct_eq(given.as_bytes()));
    if !pre_ok || !same_origin(&state, &headers) {
        return login_page(&state, Some("The sign-in form expired; please sign in again."), StatusCode::FORBIDDEN);
    }
    let now = state.holds.now();
    let presented = field(&pairs, "token").unwrap_or("").trim().to_string();
    let record = state
        .store
        .find_token_by_hash(&hash_token(&presented))
        .await
        .ok()
        .flatten()
        .filter(|t| t.revoked_at.is_none() && !presented.is_empty());
    let Some(t) = record else {
        let ip = crate::protect::client::client_ip(&state.config.edge.trusted_proxies, peer.ip(), &headers);
        let mut as_header = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&presented) {
            as_header.insert("chittyid-token", v);
        }
        let (msg, status) = match crate::protect::authn::failed_authentication(&state, ip, &as_header, now).await {
            ApiError::RateLimited { .. } => {
                ("Too many failed sign-ins; wait a minute and try again.", StatusCode::TOO_MANY_REQUESTS)
            }
            _ => ("That token is not valid.", StatusCode::UNAUTHORIZED),
        };
        return login_page(&state, Some(msg), status);
    };
    let id = random_secret();
    let csrf = random_secret();
    if let Err(e) = state.store.insert_session(&hash_token(&id), &t.id, &csrf, now, now.plus_secs(SESSION_SECS)).await {
        return ApiError::from(e).into_response();
    }
    let mut r = Redirect::to("/console/holds").into_response();
    set_cookie(&mut r, &state, COOKIE, &id, SESSION_SECS);
    set_cookie(&mut r, &state, LOGIN_COOKIE, "", 0);
    r
}

/// Signing out always ends the server session: a stolen cookie is worthless
/// afterwards, whatever the form carried.
pub(super) async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        let _ = state.store.delete_session(&hash_token(&id)).await;
    }
    let mut r = Redirect::to("/console").into_response();
    set_cookie(&mut r, &state, COOKIE, "", 0);
    r
}
