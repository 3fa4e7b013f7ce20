//! A stand-in ChittyID service on loopback that answers well, slowly, with
//! 503 or with malformed bodies, and records what it was asked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MintMode {
    Good = 0,
    Slow = 1,
    Unavailable = 2,
    Malformed = 3,
}

#[derive(Default)]
pub struct MintState {
    mode: AtomicU8,
    counter: AtomicU32,
    /// payment intent id -> number of successful mints.
    pub minted: Mutex<HashMap<String, u32>>,
    pub requests: Mutex<Vec<(Option<String>, Value)>>,
}

pub struct ChittyIdStandIn {
    pub url: String,
    pub state: Arc<MintState>,
    task: tokio::task::JoinHandle<()>,
}

async fn mint(State(s): State<Arc<MintState>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    s.requests.lock().unwrap().push((auth, body.clone()));
    match s.mode.load(Ordering::SeqCst) {
        1 => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (StatusCode::OK, Json(json!({"chitty_id": "CHITTY-AUTH-TOO-LATE"}))).into_response()
        }
        2 => (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response(),
        3 => (StatusCode::OK, "{\"chitty\": ").into_response(),
        _ => {
            let n = s.counter.fetch_add(1, Ordering::SeqCst) + 1;
            let pi = body["metadata"]["stripe_payment_intent_id"].as_str().unwrap_or("").to_string();
            *s.minted.lock().unwrap().entry(pi).or_default() += 1;
            (StatusCode::OK, Json(json!({"chitty_id": format!("CHITTY-AUTH-{n:06}-TST")}))).into_response()
        }
    }
}

impl ChittyIdStandIn {
    pub async fn start() -> ChittyIdStandIn {
        let state = Arc::new(MintState::default());
        let app = Router::new().route("/v1/mint", post(mint)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ChittyIdStandIn { url, state, task }
    }

    pub fn set(&self, mode: MintMode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }
}

impl Drop for ChittyIdStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}
