//! `Idempotency-Key` on our own POSTs, with Stripe's semantics: the first
//! response is stored and replayed for 24 hours with
//! `Idempotent-Replayed: true`; the same key with another request is a 409
//! `idempotency_error`; a key whose first request is still running is a 409
//! and nothing is stored for the second. Records live in the store, so this
//! holds across instances.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use chittycharge_api::ErrorBody;
use chittycharge_store::IdemBegin;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::{ApiError, Replay};
use crate::protect::body::run;
use crate::state::AppState;

const TTL_MS: i64 = 24 * 3_600_000;
/// An in-flight record older than this belongs to a dead process (a live one
/// always finishes its record: requests run detached from their caller).
/// The same age at which the janitor takes over the dead process's operation.
const LEASE_MS: i64 = chittycharge_core::operations::STALE_PENDING_MS;

const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// A keyed create's claim (core/src/keyed.rs): the operation id comes from
/// the caller's token and key alone, so any later request under the key
/// meets the first one's record, and the fingerprint tells a retry of the
/// same request from another one.
#[derive(Debug, Clone)]
pub struct KeyedOperation(pub chittycharge_core::RequestKey);

impl KeyedOperation {
    fn derive(scope: &str, key: &str, fingerprint: &str) -> Self {
        let mut h = Sha256::new();
        for part in ["create", scope, key] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        Self(chittycharge_core::RequestKey {
            operation_id: format!("op_key_{}", &hex::encode(h.finalize())[..32]),
            fingerprint: fingerprint.to_string(),
        })
    }
}

fn conflict(message: &str) -> Response {
    (
        StatusCode::CONFLICT,
        axum::Json(ErrorBody { error: message.into(), code: "idempotency_error".into(), details: None }),
    )
        .into_response()
}

/// Which answers are kept for replay: definite ones (below 500), and what
/// the error mapping marked with [`Replay`].
fn keep(status: StatusCode, replay: Option<Replay>) -> bool {
    match replay {
        Some(Replay::Never) => false,
        Some(Replay::Keep) => true,
        None => status.as_u16() < 500,
    }
}

/// Runs after authentication (from `require_token`, so it is not a layer of
/// its own): requests without a key pass straight through.
/// Feeds `v` to the hash with object keys sorted at every level, whatever
/// order the map type keeps them in.
fn canonical(v: &serde_json::Value, h: &mut Sha256) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            h.update(b"{");
            for k in keys {
                h.update(serde_json::to_string(k).unwrap_or_default().as_bytes());
                h.update(b":");
                canonical(&m[k], h);
                h.update(b",");
            }
            h.update(b"}");
        }
        Value::Array(a) => {
            h.update(b"[");
            for x in a {
                canonical(x, h);
                h.update(b",");
            }
            h.update(b"]");
        }
        other => h.update(other.to_string().as_bytes()),
    }
}

pub async fn idempotency(state: &AppState, req: Request, route: Route) -> Result<Response, ApiError> {
    let key = match req.headers().get("idempotency-key") {
        Some(k) if req.method() == Method::POST => k.to_str().unwrap_or("").trim().to_string(),
        _ => return Ok(run(route, req).await),
    };
    // Boxed: its store calls make a large future, which every request
    // without a key would otherwise carry (and move) too.
    Box::pin(keyed(state, req, route, key)).await
}

async fn keyed(state: &AppState, req: Request, route: Route, key: String) -> Result<Response, ApiError> {
    if key.is_empty() || key.len() > 255 {
        return Err(chittycharge_core::CoreError::validation(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 characters",
        )
        .into());
    }
    let Some(caller) = req.extensions().get::<Caller>().cloned() else { return Ok(run(route, req).await) };
    let (mut parts, body) = req.into_parts();
    let bytes = to_bytes(body, crate::state::body_limit()).await.map_err(|e| crate::protect::body::body_error(&e))?;
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update([0]);
    // The query is part of what the request names (`?property_id=` picks a
    // booking), so the same key with another query is another request.
    h.update(parts.uri.path_and_query().map_or("", |p| p.as_str()).as_bytes());
    h.update([0]);
    // The same JSON written with its keys in another order, or other
    // spacing, is the same request; anything else is compared byte for byte.
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => canonical(&v, &mut h),
        Err(_) => h.update(&bytes),
    }
    let fingerprint = hex::encode(h.finalize());
    let scope = caller.token_id.clone();
    let now = state.holds.now();
    match state.store.idem_begin(&scope, &key, &fingerprint, now, LEASE_MS, TTL_MS).await? {
        IdemBegin::Started => {}
        IdemBegin::Mismatch => {
            return Ok(conflict(
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            ))
        }
        IdemBegin::InFlight => {
            return Ok(conflict("A request with this Idempotency-Key is still in progress; retry later."))
        }
        IdemBegin::Replay { status, body, content_type } => {
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            if let Ok(ct) = HeaderValue::from_str(&content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(resp);
        }
    }
    parts.extensions.insert(KeyedOperation::derive(&scope, &key, &fingerprint));
    let resp = run(route, Request::from_parts(parts, Body::from(bytes))).await;
    let (parts, body) = resp.into_parts();
    let bytes = match to_bytes(body, MAX_RESPONSE).await {
        Ok(b) => b,
        Err(_) => {
            state.store.idem_abandon(&scope, &key).await?;
            return Err(ApiError::Internal("response too large to keep for idempotency".into()));
        }
    };
    if keep(parts.status, parts.extensions.get::<Replay>().copied()) {
        let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
        state.store.idem_finish(&scope, &key, parts.status.as_u16(), &String::from_utf8_lossy(&bytes), ct).await?;
    } else {
        state.store.idem_abandon(&scope, &key).await?;
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}
