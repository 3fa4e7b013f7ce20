//! Runs the browser tests (tests/browser, playwright-core driving Debian's
//! Chromium) against the real binary. Screenshots land in
//! target/screenshots.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{sqlite_db, stripe_env, Emulator, Server};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn ready() -> Result<(), String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Err("node is not installed".into());
    }
    if !PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())).exists() {
        return Err("chromium is not installed".into());
    }
    if !repo().join("tests/browser/node_modules/playwright-core").exists() {
        return Err("playwright-core is not installed in tests/browser (run scripts/test.sh)".into());
    }
    Ok(())
}

#[ignore = "needs Chromium and playwright-core: run scripts/test.sh"]
#[test]
fn guest_and_manager_pages_work_in_headless_chromium() {
    if let Err(why) = ready() {
        panic!(
            "this test needs Chromium, node and playwright-core, but {why}. Run scripts/test.sh, which installs them"
        );
    }
    let server = Server::start(sqlite_db());
    let shots = repo().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let out = Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/browser/"])
        .current_dir(repo())
        .env("CC_BASE", &server.base)
        .env("CC_TOKEN", &server.token)
        .env("SCREENSHOT_DIR", &shots)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "browser tests failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let mut expected = vec!["checkin.png", "checkin-3ds.png", "console-holds.png", "console-hold.png"];
    let states = ["pay", "challenge", "authorized", "captured", "released", "expired"];
    let state_shots: Vec<String> =
        states.iter().flat_map(|s| [375, 1280].map(|w| format!("checkin-state-{s}-{w}.png"))).collect();
    expected.extend(state_shots.iter().map(String::as_str));
    expected.extend(["console-total-usd.png", "console-total-jpy.png", "console-total-kwd.png"]);
    for shot in expected {
        assert!(shots.join(shot).exists(), "{shot} was saved");
    }
}

#[ignore = "needs Chromium and playwright-core and the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn the_stripe_mode_check_in_page_authorizes_through_stripe_js_in_headless_chromium() {
    if let Err(why) = ready() {
        panic!(
            "this test needs Chromium, node and playwright-core, but {why}. Run scripts/test.sh, which installs them"
        );
    }
    let emu = Emulator::start();
    let mut env = stripe_env(emu.url());
    env.push(("STRIPE_PUBLISHABLE_KEY", "pk_test_chittycharge".into()));
    env.push(("STRIPE_JS_URL", format!("{}/js.stripe.com/v3/", emu.url())));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with(sqlite_db(), &pairs);
    emu.register_webhook(&server.base).await;
    let shots = repo().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let out = tokio::process::Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/browser/stripe-mode.mjs"])
        .current_dir(repo())
        .env("CC_BASE", &server.base)
        .env("CC_TOKEN", &server.token)
        .env("EMULATOR", emu.url())
        .env("SCREENSHOT_DIR", &shots)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "Stripe-mode browser tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shots.join("stripe-checkin-authorized.png").exists());
}
