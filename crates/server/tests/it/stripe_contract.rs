//! Every request the Stripe client sends, checked against the parameters
//! Stripe defines for that endpoint at the pinned API version. The list is
//! extracted from the `stripe` npm package's types
//! (`tests/stripe-emulator/extract_stripe_params.py`, which names the command
//! that regenerates `stripe-params.json`). A recording proxy between the
//! service and the emulator writes down each request's method, path and
//! parameter names while the service runs its whole repertoire of calls.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{sqlite_db, stripe_env, ChittyIdStandIn, Emulator, FaultProxy, Server};
use serde_json::{json, Value};

fn allowed() -> (String, BTreeMap<String, BTreeSet<String>>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/stripe-emulator/stripe-params.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("stripe-params.json")).unwrap();
    let endpoints = doc["endpoints"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect()))
        .collect();
    (doc["api_version"].as_str().unwrap().to_string(), endpoints)
}

/// `/v1/payment_intents/pi_123/capture` → `/v1/payment_intents/{id}/capture`.
fn template(path: &str) -> String {
    path.split('/')
        .map(|seg| if ["pi_", "cus_", "dp_", "du_"].iter().any(|p| seg.starts_with(p)) { "{id}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// `metadata[booking_id]` → `metadata[*]`: maps take any key.
fn generic(param: &str) -> String {
    match param.split_once('[') {
        Some(("metadata", _)) => "metadata[*]".into(),
        _ => param.to_string(),
    }
}

#[test]
fn the_pinned_api_version_is_the_one_the_parameter_list_was_extracted_for() {
    let (version, _) = allowed();
    let client = include_str!("../../../processor/src/stripe/mod.rs");
    assert!(client.contains(&format!("\"{version}\"")), "the client pins another version than {version}");
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_the_stripe_client_sends_uses_only_parameters_stripe_defines() {
    let emu = Emulator::start();
    let log = std::env::temp_dir().join(format!("cc-stripe-calls-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let proxy = FaultProxy::recording(emu.url(), &log);
    let mint = ChittyIdStandIn::start().await;
    let mut env = stripe_env(proxy.url());
    env.extend([
        ("CHITTY_ID_TOKEN", "chittyid-outbound-secret".to_string()),
        ("CHITTY_ID_URL", mint.url.clone()),
        ("CHITTYCHARGE_JOBS_INTERVAL_MS", "100".to_string()),
    ]);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with(sqlite_db(), &pairs);
    let api = server.client();

    // The client's whole repertoire: create, confirm, capture, a refund, cancel, a
    // booking's customer and saved card, the ChittyID metadata update, the
    // audit's list, and the reads that go with them.
    let r =
        api.post("/api/holds", json!({"amount": 5000, "description": "x", "customer_email": "g@example.com"})).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        api.post(&format!("/api/holds/{id}/confirm"), json!({"payment_method": "pm_card_visa"})).await.status,
        200
    );
    assert_eq!(api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": 1000})).await.status, 200);
    let refund =
        api.post(&format!("/api/holds/{id}/refunds"), json!({"amount": 400, "reason": "requested_by_customer"})).await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    let other = api.authorized_hold(3000).await;
    assert_eq!(api.post(&format!("/api/holds/{other}/cancel"), json!({"reason": "duplicate"})).await.status, 200);
    assert_eq!(api.post("/api/properties", json!({"id": "p1", "name": "One"})).await.status, 201);
    let b = api
        .post("/api/bookings", json!({"id": "bk", "property_id": "p1", "guest_name": "G", "guest_email": "g@example.com", "check_in": "2026-12-01", "check_out": "2026-12-03"}))
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    let a = api.post("/api/bookings/bk/authorize", json!({"payment_method": "pm_card_visa", "confirm": true})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    // The ChittyID job copies minted ids into the PaymentIntents' metadata.
    api.settle_jobs().await;
    let audit = std::process::Command::new(crate::common::BIN)
        .arg("audit")
        .env_clear()
        .env("DATABASE_URL", server.db.url())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(audit.status.success() || !audit.stdout.is_empty(), "{}", String::from_utf8_lossy(&audit.stderr));

    let (_, allowed) = allowed();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut unknown = Vec::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let call: Value = serde_json::from_str(line).unwrap();
        let endpoint = format!("{} {}", call["method"].as_str().unwrap(), template(call["path"].as_str().unwrap()));
        let Some(params) = allowed.get(&endpoint) else {
            unknown.push(format!("{endpoint}: an endpoint the list does not cover"));
            continue;
        };
        seen.insert(endpoint.clone());
        for p in call["params"].as_array().unwrap() {
            let p = generic(p.as_str().unwrap());
            if !params.contains(&p) {
                unknown.push(format!("{endpoint}: `{p}` is not a parameter Stripe defines"));
            }
        }
    }
    unknown.sort();
    unknown.dedup();
    assert!(unknown.is_empty(), "{}", unknown.join("\n"));
    for must in [
        "POST /v1/payment_intents",
        "GET /v1/payment_intents/{id}",
        "POST /v1/payment_intents/{id}",
        "POST /v1/payment_intents/{id}/confirm",
        "POST /v1/payment_intents/{id}/capture",
        "POST /v1/payment_intents/{id}/cancel",
        "POST /v1/customers",
        "GET /v1/payment_intents",
        "POST /v1/refunds",
    ] {
        assert!(seen.contains(must), "{must} was never exercised: {seen:?}");
    }
    println!("stripe contract: {} endpoints checked: {seen:?}", seen.len());
}
