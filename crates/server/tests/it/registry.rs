//! Registration in ChittyRegistry against a stand-in registry that records
//! what it receives: the seed's payload with the ChittyID token as the
//! credential, heartbeats on the interval, retries while the registry is
//! down, and never a wait for it at start-up or in a request.

use serde_json::json;

use crate::common::{sqlite_db, Server};
use crate::common::{RegistryMode, RegistryStandIn};

const CHITTY_TOKEN: &str = "mcp_auth_registry_test_token";

fn start(registry: &RegistryStandIn) -> Server {
    Server::start_with(
        sqlite_db(),
        &[
            ("CHITTY_REGISTRY_URL", registry.url.as_str()),
            ("CHITTY_REGISTRY_HEARTBEAT", "1s"),
            ("CHITTY_ID_TOKEN", CHITTY_TOKEN),
            // Nothing listens there: minting is not what this tests.
            ("CHITTY_ID_URL", "http://127.0.0.1:9"),
            ("CHITTYCHARGE_PUBLIC_URL", "https://charge.example.test"),
            ("CHITTYCHARGE_PROCESSOR", "simulated"),
        ],
    )
}

/// `/health`'s `registry` part once it says `status` (it is refreshed
/// about every second).
async fn registry_health(server: &Server, status: &str) -> serde_json::Value {
    let mut last = json!(null);
    for _ in 0..300 {
        last = server.anon().get("/health").await.body;
        if last["registry"]["status"] == status {
            return last["registry"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("/health never showed the registry {status}: {last}");
}

#[tokio::test]
async fn the_registry_receives_the_seeds_payload_then_heartbeats_and_health_shows_it() {
    let registry = RegistryStandIn::start(RegistryMode::Up).await;
    let server = start(&registry);
    let registered = registry.wait_for("register", 1).await;
    assert_eq!(
        registered[0].body,
        json!({
            "name": "chittycharge",
            "version": env!("CARGO_PKG_VERSION"),
            "domain": "charge.example.test",
            "health_endpoint": "https://charge.example.test/health",
            "capabilities": ["authorization_holds", "stripe_payments"],
            "tier": "test",
        })
    );
    let beats = registry.wait_for("heartbeat", 2).await;
    for call in registered.iter().chain(&beats) {
        assert_eq!(call.token.as_deref(), Some(CHITTY_TOKEN), "the ChittyID token is the credential");
    }
    assert_eq!(beats[0].body["name"], "chittycharge");
    assert_eq!(beats[1].body["status"], "healthy", "{:?}", beats[1].body);
    assert_eq!(registry.received("register").len(), 1, "registered once, then only heartbeats");

    let health = registry_health(&server, "registered").await;
    assert_eq!(health["url"], registry.url.as_str());
    assert!(health["registered_at"].is_string() && health["last_heartbeat_at"].is_string(), "{health}");
    // The token is a credential: /health never shows it.
    let text = server.anon().get("/health").await.text;
    assert!(!text.contains(CHITTY_TOKEN));
}

#[tokio::test]
async fn a_registry_that_is_down_is_retried_without_holding_up_requests_and_registered_when_back() {
    let registry = RegistryStandIn::start(RegistryMode::Down).await;
    let server = start(&registry);
    // The service answers while it cannot register.
    let hold = server.client().post("/api/holds", json!({"amount": 5000, "description": "x"})).await;
    assert_eq!(hold.status, 201, "{}", hold.text);
    let health = registry_health(&server, "retrying").await;
    assert!(health["consecutive_failures"].as_u64().unwrap() >= 1, "{health}");
    assert_eq!(health["last_error"], "the registry answered HTTP 503");
    assert!(registry.received("register").is_empty());

    registry.set(RegistryMode::Up);
    registry.wait_for("register", 1).await;
    registry.wait_for("heartbeat", 1).await;
    let health = registry_health(&server, "registered").await;
    assert_eq!(health["consecutive_failures"], 0);
    assert!(health.get("last_error").is_none(), "{health}");

    // Down again after registering: heartbeats fail, the service stays up,
    // and /health says the registry is unreachable.
    registry.set(RegistryMode::Down);
    registry_health(&server, "unreachable").await;
    assert_eq!(server.client().get(&format!("/api/holds/{}", hold.body["id"].as_str().unwrap())).await.status, 200);
}

#[tokio::test]
async fn a_registry_that_never_answers_delays_neither_start_up_nor_requests() {
    let registry = RegistryStandIn::start(RegistryMode::Hang).await;
    // start() returns once the server answers; registration is still waiting.
    let server = start(&registry);
    let r = server.client().post("/api/holds", json!({"amount": 5000, "description": "x"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let health = server.anon().get("/health").await.body;
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["registry"]["status"], "registering", "{health}");
}

#[tokio::test]
async fn a_registry_that_forgot_the_service_gets_it_registered_again() {
    let registry = RegistryStandIn::start(RegistryMode::Up).await;
    let _server = start(&registry);
    registry.wait_for("heartbeat", 1).await;
    registry.forget_everything();
    let again = registry.wait_for("register", 2).await;
    assert_eq!(again[0].body, again[1].body);
    let beats = registry.received("heartbeat").len();
    registry.wait_for("heartbeat", beats + 1).await;
}

#[test]
fn a_registry_without_its_credential_or_a_public_address_stops_start_up_naming_the_key() {
    use std::process::Command;
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = Command::new(crate::common::server_bin());
        cmd.arg("config").arg("check").env_clear().env("CHITTY_REGISTRY_URL", "https://registry.example.test");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let no_token =
        run(&[("CHITTYCHARGE_PUBLIC_URL", "https://c.example.test"), ("CHITTYCHARGE_PROCESSOR", "simulated")]);
    assert!(no_token.contains("configuration: CHITTY_ID_TOKEN:"), "{no_token}");
    let no_address = run(&[("CHITTY_ID_TOKEN", "t")]);
    assert!(no_address.contains("configuration: CHITTYCHARGE_PUBLIC_URL:"), "{no_address}");
    let no_url = run(&[("CHITTY_REGISTRY_URL", ""), ("CHITTY_REGISTRY_TIER", "production")]);
    assert!(no_url.contains("CHITTY_REGISTRY"), "{no_url}");
}

#[tokio::test]
async fn a_registry_that_redirects_elsewhere_never_gets_the_credential_carried_there() {
    let registry = RegistryStandIn::start(RegistryMode::Up).await;
    let elsewhere = RegistryStandIn::start(RegistryMode::Up).await;
    registry.redirect_to(&elsewhere.url);
    let server = start(&registry);
    let health = registry_health(&server, "retrying").await;
    assert_eq!(health["last_error"], "the registry answered HTTP 307", "{health}");
    assert!(elsewhere.received("register").is_empty(), "the token went to another host");
}
