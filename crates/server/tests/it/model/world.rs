//! HTTP: the servers of one store and the calls the steps make.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::model::reference::millis;
use crate::model::JOBS_WITHIN;

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) text: String,
    pub(crate) replayed: bool,
}

impl Reply {
    pub(crate) fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    pub(crate) fn short(&self) -> String {
        let mut t = self.text.clone();
        t.truncate(300);
        format!("{} {t}", self.status)
    }
}

/// The servers of one store and the tokens the steps use.
pub(crate) struct World {
    pub(crate) name: &'static str,
    pub(crate) nodes: Vec<String>,
    pub(crate) http: reqwest::Client,
    pub(crate) admin: String,
    pub(crate) readonly: String,
    pub(crate) foreign: String,
    pub(crate) next: AtomicUsize,
    pub(crate) cases: AtomicUsize,
    pub(crate) steps: AtomicUsize,
    pub(crate) busy_retries: AtomicUsize,
    /// How often each interesting outcome happened (printed at the end).
    pub(crate) outcomes: std::sync::Mutex<BTreeMap<String, usize>>,
}

/// A request: method, path, JSON body, `Idempotency-Key`, and the client
/// to send it with (the shared one unless given).
pub(crate) struct Call<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) body: Option<&'a Value>,
    pub(crate) key: Option<&'a str>,
    pub(crate) client: Option<&'a reqwest::Client>,
}

#[derive(Clone, Copy)]
pub(crate) enum Tok {
    Admin,
    ReadOnly,
    Foreign,
}

impl World {
    fn token(&self, t: Tok) -> &str {
        match t {
            Tok::Admin => &self.admin,
            Tok::ReadOnly => &self.readonly,
            Tok::Foreign => &self.foreign,
        }
    }

    /// The next server, round-robin.
    pub(crate) fn node(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.nodes.len()
    }

    /// One request as sent, whatever comes back.
    pub(crate) async fn raw(&self, node: usize, tok: Tok, c: &Call<'_>) -> Result<Reply, reqwest::Error> {
        let m = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
        let http = c.client.unwrap_or(&self.http);
        let mut req =
            http.request(m, format!("{}{}", self.nodes[node], c.path)).header("ChittyID-Token", self.token(tok));
        if let Some(k) = c.key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = c.body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let replayed = resp.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body, text, replayed })
    }

    /// One request on a given server; transport errors and 5xx are failures.
    pub(crate) async fn send(
        &self,
        node: usize,
        tok: Tok,
        method: &str,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<Reply, String> {
        let r = self
            .raw(node, tok, &Call { method, path, body, key, client: None })
            .await
            .map_err(|e| format!("{method} {path} on node {node}: transport error {e}"))?;
        if r.status >= 500 {
            return Err(format!("{method} {path} on node {node} answered {}: {}", r.status, r.text));
        }
        Ok(r)
    }

    pub(crate) async fn call(&self, tok: Tok, method: &str, path: &str, body: Option<&Value>) -> Result<Reply, String> {
        self.send(self.node(), tok, method, path, body, None).await
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value, String> {
        let r = self.call(Tok::Admin, "GET", path, None).await?;
        if r.status != 200 {
            return Err(format!("GET {path}: {}", r.short()));
        }
        Ok(r.body)
    }

    /// Moves every server's test clock and waits until no job is due.
    pub(crate) async fn advance(&self, secs: i64) -> Result<(), String> {
        for n in 0..self.nodes.len() {
            let r =
                self.send(n, Tok::Admin, "POST", "/_sim/clock", Some(&json!({ "advance_secs": secs })), None).await?;
            if r.status != 200 {
                return Err(format!("advancing the clock: {}", r.short()));
            }
        }
        let deadline = Instant::now() + JOBS_WITHIN;
        for n in 0..self.nodes.len() {
            let mut idle_twice = 0;
            while idle_twice < 2 {
                let b = self.send(n, Tok::Admin, "GET", "/api/jobs", None, None).await?.body;
                if b["due"] == 0 && b["running"] == 0 {
                    idle_twice += 1;
                } else {
                    idle_twice = 0;
                }
                if Instant::now() > deadline {
                    return Err(format!("jobs never settled on node {n}: {b}"));
                }
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        }
        Ok(())
    }

    /// The servers' clock (they must agree).
    pub(crate) async fn now_ms(&self) -> Result<i64, String> {
        let mut offsets = Vec::new();
        let mut now = 0;
        for n in 0..self.nodes.len() {
            let b = self.send(n, Tok::Admin, "GET", "/_sim/clock", None, None).await?.body;
            offsets.push(b["offset_ms"].as_i64().unwrap_or(-1));
            if n == 0 {
                now = millis(&b["now"]).ok_or_else(|| format!("clock: {b}"))?;
            }
        }
        if offsets.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("the servers' test clocks disagree: offsets {offsets:?}"));
        }
        Ok(now)
    }
}
