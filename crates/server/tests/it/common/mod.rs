//! Starts the real `chittycharge` binary on a random loopback port and talks
//! HTTP to it. Each server gets its own SQLite file or its own PostgreSQL
//! database (from `CHITTYCHARGE_TEST_PG_URL`), and is killed on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

mod chittyid;
mod emulator;
mod raises;
mod registry;
mod seams;
mod smtp;
pub use chittyid::{ChittyIdStandIn, MintMode};
pub use emulator::*;
pub use raises::*;
pub use registry::{RegistryMode, RegistryStandIn};
pub use seams::*;
pub use smtp::Smtp;

pub const BIN: &str = env!("CARGO_BIN_EXE_chittycharge");

/// `chittycharge serve` on `db` with only `env` (and PATH) set, on a free
/// loopback port, the banner on a pipe and stderr where the caller says.
fn serve_command(db: &Db, env: &[(String, String)], stderr: Stdio) -> Command {
    let mut cmd = Command::new(server_bin());
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.url())
        .env("CHITTYCHARGE_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(stderr);
    cmd
}

/// The binary servers are started from: this build's, or the one
/// `CHITTYCHARGE_TEST_BIN` names (scripts/test.sh points it at the release
/// binary built as the Dockerfile builds it, for the README's run).
pub fn server_bin() -> String {
    std::env::var("CHITTYCHARGE_TEST_BIN").unwrap_or_else(|_| BIN.to_string())
}

#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    pub fn url(&self) -> String {
        match self {
            Db::Sqlite(p) => format!("sqlite://{}", p.display()),
            Db::Postgres(u) => u.clone(),
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique() -> String {
    format!("{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), rand_suffix())
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos() as u64).unwrap_or(0)
}

pub fn sqlite_db() -> Db {
    let dir = std::env::temp_dir().join(format!("cc-it-{}", unique()));
    Db::Sqlite(dir.join("chittycharge.db"))
}

/// An outside tool a test needs, named by the environment variable that
/// scripts/test.sh sets after installing it. Missing, the test fails and
/// says how to get it: it never passes without running. Tests that need a
/// tool are `#[ignore]`d with the tool's name, so a bare `cargo test` runs
/// the others, and scripts/test.sh runs them all with `--include-ignored`.
pub fn tool(var: &str, what: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "this test needs {what}, but {var} is not set. Run scripts/test.sh, which installs it and \
             runs every test; or install it yourself, set {var}, and run `cargo test -- --include-ignored`"
        )
    })
}

/// A fresh PostgreSQL database on the server `CHITTYCHARGE_TEST_PG_URL`
/// names (scripts/test.sh starts a throw-away cluster).
pub fn postgres_db() -> Db {
    let admin = tool("CHITTYCHARGE_TEST_PG_URL", "a PostgreSQL server");
    let name = format!("cc_it_{}", unique());
    let status = Command::new("psql")
        .args([&admin, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .stdout(Stdio::null())
        .status()
        .expect("psql must be installed to create test databases");
    assert!(status.success(), "CREATE DATABASE {name} failed");
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    Db::Postgres(format!("{base}/{name}"))
}

/// Which processor a test server uses.
pub enum Proc {
    Simulated,
    Stripe(Emulator),
}

/// A store and a processor to run the same test against.
pub struct Setup {
    pub db: Db,
    pub proc: Proc,
}

impl Setup {
    pub fn name(&self) -> String {
        let p = match self.proc {
            Proc::Simulated => "simulated",
            Proc::Stripe(_) => "stripe-emulator",
        };
        format!("{}+{p}", self.db.name())
    }

    pub async fn start(&self) -> Server {
        self.start_with(&[]).await
    }

    /// Starts the server with `extra` settings besides the processor's.
    pub async fn start_with(&self, extra: &[(&str, &str)]) -> Server {
        match &self.proc {
            Proc::Simulated => Server::start_with(self.db.clone(), extra),
            Proc::Stripe(emu) => {
                let env = stripe_env(emu.url());
                let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
                pairs.extend_from_slice(extra);
                let server = Server::start_with(self.db.clone(), &pairs);
                emu.register_webhook(&server.base).await;
                server
            }
        }
    }
}

/// The simulated processor on every store, and the Stripe processor against
/// the emulator (on SQLite).
pub fn setups() -> Vec<Setup> {
    let mut v: Vec<Setup> = all_dbs().into_iter().map(|db| Setup { db, proc: Proc::Simulated }).collect();
    v.push(Setup { db: sqlite_db(), proc: Proc::Stripe(Emulator::start()) });
    v
}

/// SQLite and PostgreSQL.
pub fn all_dbs() -> Vec<Db> {
    vec![sqlite_db(), postgres_db()]
}

pub struct Server {
    pub base: String,
    pub token: String,
    pub db: Db,
    pub banner: String,
    child: Child,
    env: Vec<(String, String)>,
}

pub const TEST_TOKEN: &str = "cc_test_token_for_integration_tests_0001";

impl Server {
    pub fn start(db: Db) -> Server {
        Self::start_with(db, &[])
    }

    /// Starts with a known admin token, the test clock, and `extra` env.
    pub fn start_with(db: Db, extra: &[(&str, &str)]) -> Server {
        let mut env: Vec<(String, String)> = vec![
            ("CHITTYCHARGE_API_TOKEN".into(), TEST_TOKEN.into()),
            ("CHITTYCHARGE_TEST_CLOCK".into(), "1".into()),
            ("RATE_LIMIT_PER_MINUTE".into(), "100000".into()),
        ];
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push(((*k).to_string(), (*v).to_string()));
        }
        Self::spawn(db, env, TEST_TOKEN.to_string())
    }

    pub fn spawn(db: Db, env: Vec<(String, String)>, token: String) -> Server {
        Self::spawn_inner(db, env, token, None)
    }

    /// Like `spawn`, with the first lines of stderr up to the first-start
    /// token line returned (the rest is passed through to the test's stderr).
    fn spawn_reading_stderr(db: Db, env: Vec<(String, String)>) -> (Server, Vec<String>) {
        let mut child = serve_command(&db, &env, Stdio::piped()).spawn().expect("spawn chittycharge");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut lines = Vec::new();
        let mut line = String::new();
        while err.read_line(&mut line).unwrap_or(0) > 0 {
            lines.push(std::mem::take(&mut line));
            if lines.last().is_some_and(|l| l.contains("API token")) {
                break;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::stderr()));
        let server = Self::finish_spawn(db, env, String::new(), child);
        (server, lines)
    }

    /// Like `start_with`, with the server's stderr (its logs) sent to `log`.
    pub fn start_logged(db: Db, extra: &[(&str, &str)], log: &std::path::Path) -> Server {
        let mut env: Vec<(String, String)> = vec![
            ("CHITTYCHARGE_API_TOKEN".into(), TEST_TOKEN.into()),
            ("RATE_LIMIT_PER_MINUTE".into(), "100000".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())));
        Self::spawn_inner(db, env, TEST_TOKEN.into(), Some(log))
    }

    fn spawn_inner(db: Db, env: Vec<(String, String)>, token: String, log: Option<&std::path::Path>) -> Server {
        let stderr = match log {
            Some(p) => Stdio::from(std::fs::File::create(p).expect("log file")),
            None => Stdio::inherit(),
        };
        let child = serve_command(&db, &env, stderr).spawn().expect("spawn chittycharge");
        Self::finish_spawn(db, env, token, child)
    }

    /// Reads the banner (the first line on stdout) for the address.
    fn finish_spawn(db: Db, env: Vec<(String, String)>, token: String, mut child: Child) -> Server {
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read banner");
        Self::attach(db, line, child).with(env, token)
    }

    fn with(mut self, env: Vec<(String, String)>, token: String) -> Server {
        self.env = env;
        self.token = token;
        self
    }

    /// A server the test spawned itself (with its own arguments), from the
    /// banner it printed on stdout.
    pub fn attach(db: Db, line: String, child: Child) -> Server {
        assert!(line.contains("listening on http://"), "unexpected banner: {line:?}");
        let addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .expect("address")
            .to_string();
        Server { base: format!("http://{addr}"), token: String::new(), db, banner: line, child, env: Vec::new() }
    }

    /// Starts as a new user would: no token given, the default rate limit,
    /// and the token printed at first start (from the banner) as `token`.
    /// The token is read from stderr, where the first start prints it.
    pub fn first_start(db: Db, extra: &[(&str, &str)]) -> Server {
        let env = extra.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        let (mut server, stderr) = Self::spawn_reading_stderr(db, env);
        let line = stderr.last().cloned().unwrap_or_default();
        let token = line.rsplit("stored): ").next().unwrap_or_default().trim().to_string();
        assert!(token.starts_with("cc_"), "no first-start token on stderr: {stderr:?}");
        assert!(!server.banner.contains(&token), "the token never goes to stdout: {}", server.banner);
        server.token = token;
        server
    }

    /// Stops this process and starts a new one on the same database.
    pub fn restart(mut self) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let env = std::mem::take(&mut self.env);
        Self::spawn(self.db.clone(), env, self.token.clone())
    }

    /// Kills the server and returns what it wrote on stderr (which the
    /// test must have piped).
    pub fn stop_reading_stderr(&mut self) -> String {
        let _ = self.child.kill();
        let mut out = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut out);
        }
        let _ = self.child.wait();
        out
    }

    /// SIGTERM, as a service manager stops it; waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait")
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The typed Rust client a rental app would use.
    pub fn rust_client(&self) -> chittycharge_client::Client {
        chittycharge_client::Client::new(&self.base, &self.token)
    }

    pub fn client(&self) -> Api {
        Api { http: http(), base: self.base.clone(), token: Some(self.token.clone()) }
    }
    pub fn anon(&self) -> Api {
        Api { http: http(), base: self.base.clone(), token: None }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().expect("client")
}

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Api {
    pub fn with_token(&self, token: &str) -> Api {
        Api { token: Some(token.to_string()), ..self.clone() }
    }

    pub async fn raw(&self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("ChittyID-Token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, headers, text }
    }

    /// A POST that reports a dropped connection as `None` instead of panicking.
    pub async fn try_post(&self, path: &str, body: Value) -> Option<(u16, Value)> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = &self.token {
            req = req.header("ChittyID-Token", t);
        }
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let body = resp.json().await.ok()?;
        Some((status, body))
    }

    /// Waits until the server has no due jobs (after moving the test clock).
    pub async fn settle_jobs(&self) {
        for _ in 0..300 {
            let idle = |b: &Value| b["due"] == 0 && b["running"] == 0;
            if idle(&self.get("/api/jobs").await.body) {
                // One more tick for work the finished jobs triggered.
                tokio::time::sleep(std::time::Duration::from_millis(60)).await;
                if idle(&self.get("/api/jobs").await.body) {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("jobs never settled");
    }

    pub async fn advance(&self, secs: i64) {
        let r = self.post("/_sim/clock", serde_json::json!({ "advance_secs": secs })).await;
        assert_eq!(r.status, 200, "{}", r.text);
        self.settle_jobs().await;
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.raw("GET", path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.raw("POST", path, Some(&body.to_string()), &[]).await
    }

    /// Creates a hold and confirms it with `pm_card_visa`; returns its id.
    pub async fn authorized_hold(&self, amount: i64) -> String {
        let r = self.post("/api/holds", serde_json::json!({"amount": amount, "description": "Incidentals", "payment_method": "pm_card_visa", "confirm": true})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["status"], "requires_capture");
        r.body["id"].as_str().expect("id").to_string()
    }
}

/// Sends `request` as is on a new connection and returns everything the
/// server answers until it closes (for requests a client library refuses to
/// send: bytes that are not text in a header, a body that stops half-way).
pub fn raw_http(addr: &str, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).expect("timeout");
    s.write_all(request).expect("send");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}
