//! The README's curl walk-through, run verbatim against the real binary on
//! each store, so the documentation cannot drift from the service.

mod common;

use std::process::Command;

use common::setups;

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README.md");
    let start = readme.find("<!-- walkthrough:start -->").expect("start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("end marker");
    let block = &readme[start..end];
    let body = block.split("```sh").nth(1).expect("sh block");
    body.split("```").next().expect("closing fence").to_string()
}

#[tokio::test]
async fn readme_walkthrough_runs_verbatim_on_every_store() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is required for the README walk-through test");
    }
    let script = walkthrough();
    for setup in setups() {
        let name = setup.name();
        let server = setup.start().await;
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("CC", &server.base)
            .env("TOKEN", &server.token)
            .output()
            .expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: walk-through failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for expected in [
            "\"status\":\"requires_capture\"",
            "\"status\":\"captured\",\"amount_captured\":5000,\"amount_released\":20000,\"estimated_processing_fee\":175",
            "\"status\":\"canceled\"",
            "\"amount_released\":10000,\"reason\":\"checked out clean\"",
            "\"kind\":\"captured\"",
            "\"reason\":\"broken lamp\"",
        ] {
            assert!(stdout.contains(expected), "{name}: missing {expected} in\n{stdout}");
        }
        let api = server.client();
        assert_eq!(api.get("/api/holds").await.body["holds"].as_array().unwrap().len(), 2, "{name}");
    }
}
