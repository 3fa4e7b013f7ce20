//! The deployment files (Dockerfile, systemd unit, Prometheus alerts, Grafana
//! dashboard) checked against the binary they deploy: every setting they make
//! is a key the configuration reads and passes `config check`, and every
//! metric they query is one the running service exports. A renamed key or
//! metric fails here instead of in an operator's empty graph.

mod docker;
mod monitoring;
mod promql;
mod systemd;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use crate::common::BIN;
use chittycharge_server::config::{Config, KEYS, SECRET_KEYS};

pub fn repo_file(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A key the service reads: a configuration key, the `_FILE` form of a
/// secret, or the name of the configuration file.
pub fn is_config_key(key: &str) -> bool {
    KEYS.contains(&key)
        || key == "CHITTYCHARGE_CONFIG"
        || key.strip_suffix("_FILE").is_some_and(|k| SECRET_KEYS.contains(&k))
}

/// `chittycharge config check` with exactly `env`: its exit code and output.
pub fn config_check(env: &[(String, String)]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["config", "check"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run config check");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// An outside linter the test script fetches (`CHITTYCHARGE_<NAME>` names
/// it); missing, the test fails saying how to get it.
pub fn linter(name: &str) -> String {
    crate::common::tool(&format!("CHITTYCHARGE_{}", name.to_uppercase()), name)
}

/// Runs `tool args…` from the repository root; panics with its output
/// unless it succeeds.
pub fn run_linter(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{tool} {}:\n{text}", args.join(" "));
    text
}

pub fn default_shutdown_grace_ms() -> u64 {
    Config::from_map(&HashMap::new()).expect("defaults").edge.shutdown_grace_ms
}
