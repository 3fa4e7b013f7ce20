//! The Stripe emulator (localstripe behind the project's patch layer) and the
//! fault-injecting proxy, each a child process on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const WEBHOOK_SECRET: &str = "whsec_test_secret";
pub const STRIPE_KEY: &str = "sk_test_chittycharge";

fn tools_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/stripe-emulator"))
}

/// The venv's python, from `CHITTYCHARGE_EMULATOR_PYTHON` (scripts/test.sh
/// makes the venv with localstripe, Stripe's SDK and aiosmtpd).
pub fn python() -> String {
    super::tool("CHITTYCHARGE_EMULATOR_PYTHON", "the Stripe emulator's Python venv (localstripe)")
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub struct Helper {
    pub url: String,
    child: Child,
}

impl Helper {
    fn spawn(python: &str, script: &str, args: &[String]) -> Helper {
        let port = free_port();
        let mut child = Command::new(python)
            .arg(tools_dir().join(script))
            .arg("--port")
            .arg(port.to_string())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read READY");
        assert_eq!(line.trim(), "READY", "{script} did not start");
        Helper { url: format!("http://127.0.0.1:{port}"), child }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Emulator(pub Helper);

impl Emulator {
    pub fn start() -> Emulator {
        let py = python();
        Emulator(Helper::spawn(&py, "localstripe_patched.py", &["--webhook-delay".into(), "0.02".into()]))
    }
    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// Delivers the emulator's signed events to `server`'s `/webhook`.
    pub async fn register_webhook(&self, server_base: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/_config/webhooks/chittycharge", self.url()))
            .form(&[("url", format!("{server_base}/webhook")), ("secret", WEBHOOK_SECRET.to_string())])
            .send()
            .await
            .expect("register webhook");
        assert!(r.status().is_success());
    }

    /// Completes a 3-D Secure challenge the way the guest's bank page would.
    pub async fn authenticate(&self, pi: &str, client_secret: &str, success: bool) {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/payment_intents/{pi}/_authenticate", self.url()))
            .basic_auth(STRIPE_KEY, Some(""))
            .form(&[("client_secret", client_secret.to_string()), ("success", success.to_string())])
            .send()
            .await
            .expect("authenticate");
        assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    }

    pub async fn intent(&self, pi: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/v1/payment_intents/{pi}", self.url()))
            .basic_auth(STRIPE_KEY, Some(""))
            .send()
            .await
            .expect("get intent")
            .json()
            .await
            .expect("intent json")
    }

    /// Moves the emulator's clock; authorizations it carries past their
    /// 7 days lapse. Returns the PaymentIntents that lapsed.
    pub async fn advance(&self, secs: i64) -> Vec<String> {
        let r: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/_config/clock", self.url()))
            .form(&[("advance_secs", secs.to_string())])
            .send()
            .await
            .expect("emulator clock")
            .json()
            .await
            .expect("clock json");
        r["lapsed"].as_array().expect("lapsed").iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
    }

    /// Delivers only `events` to `server_base`'s `/webhook`.
    pub async fn register_webhook_for(&self, server_base: &str, events: &[&str]) {
        let mut form =
            vec![("url".to_string(), format!("{server_base}/webhook")), ("secret".into(), WEBHOOK_SECRET.into())];
        form.extend(events.iter().map(|e| ("events[]".to_string(), e.to_string())));
        let r = reqwest::Client::new()
            .post(format!("{}/_config/webhooks/chittycharge", self.url()))
            .form(&form)
            .send()
            .await
            .expect("register webhook");
        assert!(r.status().is_success());
    }

    /// A form POST straight to the emulator with the secret key, as a
    /// client would send it (with `idempotency_key` when given).
    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new().post(format!("{}{path}", self.url())).basic_auth(STRIPE_KEY, Some(""));
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.form(form).send().await.expect("emulator POST");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// A form POST as the guest's browser sends it: no secret key.
    pub async fn post_public(&self, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new().post(format!("{}{path}", self.url())).form(form).send().await.expect("POST");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// Every PaymentIntent in the emulator.
    pub async fn all_intents(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = vec![("limit".to_string(), "100".to_string())];
            if let Some(a) = &after {
                q.push(("starting_after".into(), a.clone()));
            }
            let page: serde_json::Value = reqwest::Client::new()
                .get(format!("{}/v1/payment_intents", self.url()))
                .basic_auth(STRIPE_KEY, Some(""))
                .query(&q)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("list json");
            let data = page["data"].as_array().cloned().unwrap_or_default();
            after = data.last().and_then(|d| d["id"].as_str()).map(str::to_string);
            out.extend(data);
            if page["has_more"] != true {
                return out;
            }
        }
    }
}

pub struct FaultProxy(pub Helper);

impl FaultProxy {
    pub fn start(upstream: &str, fail_rate: f64, seed: u64) -> FaultProxy {
        Self::spawn(upstream, &["--fail-rate".into(), fail_rate.to_string(), "--seed".into(), seed.to_string()])
    }

    fn spawn(upstream: &str, args: &[String]) -> FaultProxy {
        let py = python();
        let mut all = vec!["--upstream".to_string(), upstream.to_string()];
        all.extend_from_slice(args);
        FaultProxy(Helper::spawn(&py, "fault_proxy.py", &all))
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// A proxy that fails nothing and records every request's method, path
    /// and parameter names in `log`, one JSON object a line.
    pub fn recording(upstream: &str, log: &std::path::Path) -> FaultProxy {
        Self::spawn(upstream, &["--fail-rate".into(), "0".into(), "--log".into(), log.display().to_string()])
    }
}

/// A card-only manual-capture PaymentIntent of $50.00, unconfirmed.
pub const CARD_HOLD_FORM: [(&str, &str); 4] =
    [("amount", "5000"), ("currency", "usd"), ("capture_method", "manual"), ("payment_method_types[]", "card")];

/// The service on SQLite with the Stripe processor against `emu`.
pub async fn stripe_server(emu: &Emulator) -> super::Server {
    let env = stripe_env(emu.url());
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    super::Server::start_with(super::sqlite_db(), &pairs)
}

/// Server settings for the Stripe processor against `base`.
pub fn stripe_env(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CHITTYCHARGE_PROCESSOR", "stripe".into()),
        ("STRIPE_SECRET_KEY", STRIPE_KEY.into()),
        ("STRIPE_API_BASE", base.to_string()),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
        ("CHITTYCHARGE_TEST_CLOCK", "0".into()),
    ]
}

/// Signs `payload` with the official Stripe Python SDK.
pub fn sdk_signature(payload: &str, secret: &str, timestamp: Option<i64>) -> String {
    use std::io::Write;
    let py = python();
    let mut cmd = Command::new(py);
    cmd.arg(tools_dir().join("sign_payload.py")).arg(secret);
    if let Some(t) = timestamp {
        cmd.arg(t.to_string());
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("sign_payload");
    child.stdin.take().expect("stdin").write_all(payload.as_bytes()).expect("write payload");
    let out = child.wait_with_output().expect("signature");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf8")
}
