//! A stand-in ChittyRegistry on loopback: it records every registration
//! and heartbeat with the credential it came with, and can be down (503),
//! hang without answering, or forget the services registered in it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryMode {
    Up = 0,
    Down = 1,
    Hang = 2,
}

#[derive(Debug, Clone)]
pub struct Received {
    /// `register` or `heartbeat`.
    pub kind: &'static str,
    pub token: Option<String>,
    pub body: Value,
}

#[derive(Default)]
pub struct RegistryState {
    mode: AtomicU8,
    /// Answer every call with a redirect here.
    redirect_to: Mutex<Option<String>>,
    known: Mutex<HashSet<String>>,
    pub received: Mutex<Vec<Received>>,
}

pub struct RegistryStandIn {
    pub url: String,
    pub state: Arc<RegistryState>,
    task: tokio::task::JoinHandle<()>,
}

fn token(headers: &HeaderMap) -> Option<String> {
    headers.get("chittyid-token").and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn gate(s: &RegistryState) -> Option<Response> {
    if let Some(to) = s.redirect_to.lock().unwrap().clone() {
        return Some((StatusCode::TEMPORARY_REDIRECT, [("location", format!("{to}/api/services"))]).into_response());
    }
    match s.mode.load(Ordering::SeqCst) {
        1 => Some((StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response()),
        2 => {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            None
        }
        _ => None,
    }
}

async fn register(State(s): State<Arc<RegistryState>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = gate(&s).await {
        return r;
    }
    s.received.lock().unwrap().push(Received { kind: "register", token: token(&headers), body: body.clone() });
    let name = body["name"].as_str().unwrap_or_default().to_string();
    s.known.lock().unwrap().insert(name);
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn heartbeat(
    State(s): State<Arc<RegistryState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&s).await {
        return r;
    }
    s.received.lock().unwrap().push(Received { kind: "heartbeat", token: token(&headers), body });
    if s.known.lock().unwrap().contains(&name) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such service").into_response()
    }
}

impl RegistryStandIn {
    pub async fn start(mode: RegistryMode) -> RegistryStandIn {
        let state = Arc::new(RegistryState::default());
        state.mode.store(mode as u8, Ordering::SeqCst);
        let app = Router::new()
            .route("/api/services", post(register))
            .route("/api/services/{name}/heartbeat", post(heartbeat))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RegistryStandIn { url, state, task }
    }

    pub fn set(&self, mode: RegistryMode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Answers every call with a redirect to `to`.
    pub fn redirect_to(&self, to: &str) {
        *self.state.redirect_to.lock().unwrap() = Some(to.to_string());
    }

    /// Drops every registration, as a registry restarted empty would.
    pub fn forget_everything(&self) {
        self.state.known.lock().unwrap().clear();
    }

    pub fn received(&self, kind: &str) -> Vec<Received> {
        self.state.received.lock().unwrap().iter().filter(|r| r.kind == kind).cloned().collect()
    }

    /// Waits (up to 30 s) until `count` calls of `kind` have arrived.
    pub async fn wait_for(&self, kind: &str, count: usize) -> Vec<Received> {
        for _ in 0..600 {
            let got = self.received(kind);
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the registry never received {count} {kind} call(s); it has {:?}", self.state.received.lock().unwrap());
    }
}

impl Drop for RegistryStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}
