//! The systemd unit: `serve` under hardening, a stop timeout longer than the
//! shutdown grace, and secrets as credentials read through `*_FILE` keys.

use chittycharge_server::config::SECRET_KEYS;

use crate::deploy::{config_check, default_shutdown_grace_ms, is_config_key, repo_file};

/// The unit's `Key=value` lines; with `commented`, also the `#Key=value` ones.
fn unit_directives(commented: bool) -> Vec<(String, String)> {
    repo_file("deploy/chittycharge.service")
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = if commented { l.strip_prefix('#').unwrap_or(l).trim() } else { l };
            let (k, v) = l.split_once('=')?;
            let directive =
                k.starts_with(|c: char| c.is_ascii_uppercase()) && k.chars().all(|c| c.is_ascii_alphanumeric());
            directive.then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// `Environment=KEY=value` lines, one assignment each.
fn unit_env(commented: bool) -> Vec<(String, String)> {
    unit_directives(commented)
        .into_iter()
        .filter(|(k, _)| k == "Environment")
        .map(|(_, v)| {
            assert!(!v.contains([' ', '"']), "Environment={v}: one unquoted assignment a line is read here");
            let (k, v) = v.split_once('=').expect("KEY=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn systemd_secs(s: &str) -> u64 {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().unwrap_or_else(|_| panic!("duration {s}"));
    match &s[split..] {
        "" | "s" => n,
        "min" | "m" => n * 60,
        "h" => n * 3_600,
        other => panic!("duration unit {other} in {s}"),
    }
}

#[test]
fn the_systemd_unit_runs_serve_hardened_and_waits_longer_than_the_shutdown_grace() {
    let directives = unit_directives(false);
    let get = |key: &str| directives.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let start: Vec<&str> = get("ExecStart").expect("ExecStart").split_whitespace().collect();
    assert!(
        matches!(start.as_slice(), [bin, "serve", "--token-file", file] if bin.ends_with("/chittycharge") && file.starts_with("%S/chittycharge/")),
        "ExecStart {start:?}: the first token goes to a file in the state directory, not the journal"
    );
    let pre = get("ExecStartPre").expect("ExecStartPre");
    assert!(pre.ends_with("/chittycharge config check"), "ExecStartPre={pre}");
    assert!(!directives.iter().any(|(_, v)| v.contains(" migrate")), "serve migrates by itself");

    for (key, want) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "chittycharge"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
        ("CapabilityBoundingSet", ""),
        ("UMask", "0077"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(get(key), Some(want), "{key}");
    }

    let env = unit_env(false);
    let grace = env
        .iter()
        .find(|(k, _)| k == "CHITTYCHARGE_SHUTDOWN_GRACE_MS")
        .map_or(default_shutdown_grace_ms(), |(_, v)| v.parse().expect("ms"));
    let stop_ms = systemd_secs(get("TimeoutStopSec").expect("TimeoutStopSec")) * 1_000;
    assert!(stop_ms > grace, "TimeoutStopSec ({stop_ms} ms) must outlast the shutdown grace ({grace} ms)");
    let store = env.iter().find(|(k, _)| k == "DATABASE_URL").map(|(_, v)| v.as_str());
    assert!(store.is_some_and(|s| s.starts_with("sqlite:///var/lib/chittycharge/")), "{store:?}");
}

fn sample_secret(key: &str) -> &'static str {
    match key {
        "STRIPE_SECRET_KEY" => "sk_test_deploy_unit_0001",
        "STRIPE_WEBHOOK_SECRET" => "whsec_deploy_unit_0001",
        "CHITTY_ID_TOKEN" => "chitty_deploy_unit_0001",
        "CHITTYCHARGE_API_TOKEN" => "cc_deploy_unit_token_000000001",
        "SMTP_URL" => "smtp://127.0.0.1:2525",
        other => panic!("no sample value for {other}"),
    }
}

#[test]
fn the_systemd_unit_passes_secrets_as_credentials_the_service_reads_from_files() {
    // The commented-out pairs are instructions too: they must work as written.
    let all = unit_directives(true);
    for (key, value) in unit_env(true) {
        assert!(is_config_key(&key), "Environment={key} is not a key the service reads");
        if !key.ends_with("_FILE") {
            continue;
        }
        let name = value.strip_prefix("%d/").unwrap_or_else(|| panic!("{key}={value}: not a credential"));
        assert!(
            all.iter().any(|(k, v)| k == "LoadCredential" && v.starts_with(&format!("{name}:"))),
            "{key} names credential {name}, which no LoadCredential= loads"
        );
    }

    let env = unit_env(false);
    for (key, _) in &env {
        assert!(key == "DATABASE_URL" || !SECRET_KEYS.contains(&key.as_str()), "{key}: secrets go in as credentials");
    }
    let dir = std::env::temp_dir().join(format!("cc-deploy-credentials-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("credentials dir");
    let with_files: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            let v = v.replace("%d", &dir.display().to_string());
            if let Some(secret) = k.strip_suffix("_FILE") {
                std::fs::write(&v, format!("{}\n", sample_secret(secret))).expect("credential file");
            }
            (k.clone(), v)
        })
        .collect();
    let (code, out) = config_check(&with_files);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("processor: stripe"), "the Stripe key came from its credential: {out}");
    for (key, label) in [("CHITTYCHARGE_LISTEN", "listen"), ("DATABASE_URL", "store")] {
        if let Some((_, v)) = env.iter().find(|(k, _)| k == key) {
            assert!(out.contains(&format!("{label}: {v}")), "{key}={v} was read: {out}");
        }
    }
}
