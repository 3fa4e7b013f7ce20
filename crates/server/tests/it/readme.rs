//! The README, run: its curl walk-through verbatim on each store and
//! processor, and every shell block from top to bottom on one fresh
//! instance as a newcomer would, so the documentation cannot drift from the
//! service.

use std::process::Command;

use crate::common::{setups, sqlite_db, Server};

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README.md");
    let start = readme.find("<!-- walkthrough:start -->").expect("start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("end marker");
    let block = &readme[start..end];
    let body = block.split("```sh").nth(1).expect("sh block");
    body.split("```").next().expect("closing fence").to_string()
}

#[ignore = "needs PostgreSQL and the Stripe emulator (localstripe): run scripts/test.sh"]
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

/// Every ```sh block of the README in order, with the reason given for the
/// ones the test cannot run as written (`<!-- readme-test: skip (why) -->`
/// on the line before).
fn shell_blocks(readme: &str) -> Vec<(usize, Option<String>, String)> {
    let mut out = Vec::new();
    let mut lines = readme.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((n, line)) = lines.next() {
        if line.trim() == "```sh" {
            let skip = previous
                .trim()
                .strip_prefix("<!-- readme-test: skip (")
                .and_then(|r| r.strip_suffix(") -->"))
                .map(str::to_string);
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push((n + 1, skip, body));
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    out
}

/// `curl` as the README's blocks call it, recording each answer's status.
fn curl_recorder(dir: &std::path::Path) -> std::path::PathBuf {
    let real = Command::new("bash").args(["-c", "command -v curl"]).output().expect("which curl");
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    assert!(!real.is_empty(), "curl is required for the README test");
    let shim = dir.join("curl");
    std::fs::write(
        &shim,
        format!(
            "#!/usr/bin/env bash\nhdr=$(mktemp)\n{real} -D \"$hdr\" \"$@\"; rc=$?\n\
             code=$(awk 'toupper($1) ~ /^HTTP/ {{c=$2}} END {{print c}}' \"$hdr\")\n\
             echo \"$code $*\" >> \"$CURL_LOG\"\nrm -f \"$hdr\"\nexit $rc\n"
        ),
    )
    .expect("write shim");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir.to_path_buf()
}

#[tokio::test]
async fn every_shell_block_of_the_readme_runs_in_order_on_a_fresh_instance_without_an_error() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README");
    let blocks = shell_blocks(&readme);
    assert!(blocks.len() >= 6, "the README's shell blocks: {}", blocks.len());
    // As a newcomer: no token given, default limits, the first-start token.
    let server = Server::first_start(sqlite_db(), &[]);
    let tools = std::env::temp_dir().join(format!("cc-readme-{}", std::process::id()));
    std::fs::create_dir_all(&tools).expect("tools dir");
    let shim_dir = curl_recorder(&tools);
    let log = tools.join("curl.log");
    let bin = crate::common::server_bin();
    let bin_dir = std::path::Path::new(&bin).parent().expect("bin dir").to_path_buf();
    let path = format!("{}:{}:{}", shim_dir.display(), bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut ran = 0;
    for (line, skip, body) in &blocks {
        if let Some(why) = skip {
            assert!(!why.trim().is_empty(), "README line {line}: a skipped block says why");
            continue;
        }
        // A fresh shell for each block, with what a reader has exported.
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", body])
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &tools)
            .env("CC", &server.base)
            .env("TOKEN", &server.token)
            .env("DATABASE_URL", server.db.url())
            .env("CURL_LOG", &log)
            .output()
            .expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "README block at line {line} failed:\n{body}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        ran += 1;
    }
    assert!(ran >= 4, "{ran} blocks ran");
    let calls = std::fs::read_to_string(&log).expect("curl calls were made");
    let bad: Vec<&str> = calls.lines().filter(|l| !l.starts_with('2')).collect();
    assert!(bad.is_empty(), "answers that were not 2xx: {bad:#?}");
    assert!(calls.lines().count() >= 12, "{calls}");
    println!("README: {ran} blocks ran with {bin}, {} HTTP requests by curl, all 2xx", calls.lines().count());
}
