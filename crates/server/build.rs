//! Stamps the binary with the commit it was built from, for
//! `chittycharge_build_info{git_sha}`; "unknown" outside a git checkout.

use std::path::Path;
use std::process::Command;

fn main() {
    let git = Path::new("../../.git");
    let sha = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CHITTYCHARGE_GIT_SHA={sha}");
    // Re-stamp when the checked-out commit changes; without a checkout
    // there is nothing to watch.
    if git.join("HEAD").exists() {
        println!("cargo:rerun-if-changed=../../.git/HEAD");
        if git.join("refs/heads").exists() {
            println!("cargo:rerun-if-changed=../../.git/refs/heads");
        }
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
