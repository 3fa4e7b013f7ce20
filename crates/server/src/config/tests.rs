use std::path::Path;

use super::parse::{absolute_sqlite_url, apply_secret_files};
use super::*;

fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_map(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

#[test]
fn no_configuration_gives_the_embedded_default() {
    let c = load(&[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8787");
    assert_eq!(c.database_url, "sqlite://./data/chittycharge.db");
    assert_eq!(c.processor, ProcessorKind::Simulated);
    assert_eq!(c.currency.code(), "usd");
    assert_eq!(c.default_hold_amount, 25_000);
    assert_eq!(c.rate_limit_per_minute, 10);
    assert_eq!(c.allowed_origins, ["https://chitty.cc", "https://*.chitty.cc"]);
}

#[test]
fn invalid_values_name_their_key() {
    assert_eq!(load(&[("CURRENCY", "xyz")]).unwrap_err().key, "CURRENCY");
    assert_eq!(load(&[("CHITTYCHARGE_LISTEN", "nowhere")]).unwrap_err().key, "CHITTYCHARGE_LISTEN");
    assert_eq!(load(&[("DATABASE_URL", "mysql://x")]).unwrap_err().key, "DATABASE_URL");
    assert_eq!(load(&[("CHITTYCHARGE_PROCESSOR", "paypal")]).unwrap_err().key, "CHITTYCHARGE_PROCESSOR");
    assert_eq!(load(&[("CHITTYCHARGE_PROCESSOR", "stripe")]).unwrap_err().key, "STRIPE_SECRET_KEY");
    assert_eq!(load(&[("DEFAULT_HOLD_AMOUNT_CENTS", "ten")]).unwrap_err().key, "DEFAULT_HOLD_AMOUNT_CENTS");
    assert_eq!(load(&[("ALLOWED_ORIGINS", "https://evil*.com")]).unwrap_err().key, "ALLOWED_ORIGINS");
    let e = load(&[("RATE_LIMIT_PER_MINUTE", "0")]).unwrap_err();
    assert_eq!(e.to_string(), "invalid configuration: RATE_LIMIT_PER_MINUTE: 0 is outside 1..=60000000");
}

#[test]
fn janitor_schedule_accepts_units_and_names_its_key_on_error() {
    assert_eq!(load(&[]).unwrap().janitor_schedule, [300, 3_600, 86_400, 86_400, 86_400, 86_400, 86_400]);
    assert_eq!(load(&[("CHITTYCHARGE_JANITOR_SCHEDULE", "1s, 2, 1m")]).unwrap().janitor_schedule, [1, 2, 60]);
    assert_eq!(load(&[("CHITTYCHARGE_JANITOR_SCHEDULE", "soon")]).unwrap_err().key, "CHITTYCHARGE_JANITOR_SCHEDULE");
}

#[test]
fn a_stripe_key_selects_the_stripe_processor() {
    let c = load(&[("STRIPE_SECRET_KEY", "sk_test_123")]).unwrap();
    assert_eq!(c.processor, ProcessorKind::Stripe);
}

#[test]
fn secrets_are_masked_in_debug_output() {
    let c =
        load(&[("STRIPE_SECRET_KEY", "sk_test_supersecret"), ("STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b")]).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("supersecret"));
    assert!(!dbg.contains("whsec_a"));
    assert_eq!(c.stripe_webhook_secrets.len(), 2);
}

#[test]
fn database_password_is_masked_for_display() {
    let c = load(&[("DATABASE_URL", "postgres://app:hunter2@db:5432/cc")]).unwrap();
    assert_eq!(c.database_display(), "postgres://app:***@db:5432/cc");
}

#[test]
fn stripe_js_comes_from_stripe_unless_a_loopback_or_https_url_is_given() {
    assert_eq!(load(&[]).unwrap().stripe_js_url.as_str(), "https://js.stripe.com/v3/");
    let local = load(&[("STRIPE_JS_URL", "http://127.0.0.1:8420/js.stripe.com/v3/")]).unwrap();
    assert_eq!(local.stripe_js_url.port(), Some(8420));
    assert!(load(&[("STRIPE_JS_URL", "https://cdn.example.com/stripe.js")]).is_ok());
    // Plain http elsewhere would let anyone on the path read card numbers.
    let e = load(&[("STRIPE_JS_URL", "http://cdn.example.com/stripe.js")]).unwrap_err();
    assert_eq!(e.key, "STRIPE_JS_URL");
    assert_eq!(load(&[("STRIPE_JS_URL", "javascript:alert(1)")]).unwrap_err().key, "STRIPE_JS_URL");
    // Anything that would widen the page's CSP or leak into it.
    for bad in
        ["https://*/v3/", "https://*.com/v3/", "https://user:pass@js.example.com/v3/", "https://evil.com;img-src/x"]
    {
        assert_eq!(load(&[("STRIPE_JS_URL", bad)]).map(|_| ()).unwrap_err().key, "STRIPE_JS_URL", "{bad}");
    }
    // A loopback stand-in never faces guests.
    let local = ("STRIPE_JS_URL", "http://127.0.0.1:8420/js.stripe.com/v3/");
    let public =
        [local, ("CHITTYCHARGE_PUBLIC_URL", "https://stay.example.com"), ("CHITTYCHARGE_PROCESSOR", "simulated")];
    assert_eq!(load(&public).unwrap_err().key, "STRIPE_JS_URL");
    let live = [local, ("STRIPE_SECRET_KEY", "sk_live_abc")];
    assert_eq!(load(&live).unwrap_err().key, "STRIPE_JS_URL");
}

#[test]
fn the_test_clock_runs_beside_stripe_only_against_a_loopback_emulator() {
    let stripe = [("STRIPE_SECRET_KEY", "sk_test_x"), ("CHITTYCHARGE_TEST_CLOCK", "1")];
    let e = load(&stripe).unwrap_err();
    assert_eq!(e.key, "CHITTYCHARGE_TEST_CLOCK", "live Stripe's clock cannot move");
    let mut emulator = stripe.to_vec();
    emulator.push(("STRIPE_API_BASE", "http://127.0.0.1:8420"));
    assert!(load(&emulator).unwrap().test_clock);
    let mut remote = stripe.to_vec();
    remote.push(("STRIPE_API_BASE", "http://stripe-mock.internal:12111"));
    assert_eq!(load(&remote).unwrap_err().key, "CHITTYCHARGE_TEST_CLOCK");
}

#[test]
fn a_relative_sqlite_path_is_made_absolute_once() {
    let cwd = Path::new("/srv/chittycharge");
    assert_eq!(
        absolute_sqlite_url("sqlite://./data/chittycharge.db", cwd),
        "sqlite:///srv/chittycharge/data/chittycharge.db"
    );
    assert_eq!(absolute_sqlite_url("sqlite:x.db?mode=rwc", cwd), "sqlite:///srv/chittycharge/x.db?mode=rwc");
    assert_eq!(absolute_sqlite_url("sqlite:///var/lib/cc.db", cwd), "sqlite:///var/lib/cc.db");
    assert_eq!(absolute_sqlite_url("postgres://u@h/db", cwd), "postgres://u@h/db");
    let c = load(&[("DATABASE_URL", "sqlite:///var/lib/cc.db")]).unwrap();
    assert_eq!(c.sqlite_path(), Some(std::path::PathBuf::from("/var/lib/cc.db")));
}

#[test]
fn retention_has_a_floor_so_webhook_replays_are_still_recognised() {
    assert_eq!(load(&[]).unwrap().retention_days, 90);
    assert_eq!(load(&[("CHITTYCHARGE_RETENTION_DAYS", "3")]).unwrap_err().key, "CHITTYCHARGE_RETENTION_DAYS");
}

#[test]
fn secrets_can_come_from_files_named_by_key_file() {
    let files: HashMap<&str, &str> = [("/run/secrets/stripe", "sk_test_from_a_file\n")].into_iter().collect();
    let read = |p: &str| files.get(p).map(|s| s.to_string()).ok_or_else(|| std::io::Error::other("no such file"));
    let mut values = HashMap::new();
    let env = |k: &str| (k == "STRIPE_SECRET_KEY_FILE").then(|| "/run/secrets/stripe".to_string());
    apply_secret_files(&mut values, &env, &read).unwrap();
    assert_eq!(values["STRIPE_SECRET_KEY"], "sk_test_from_a_file", "trailing newline dropped");
    let c = Config::from_map(&values).unwrap();
    assert_eq!(c.processor, ProcessorKind::Stripe);
    // Both at once, or an unreadable file: the key is named.
    assert_eq!(apply_secret_files(&mut values, &env, &read).unwrap_err().key, "STRIPE_SECRET_KEY");
    let missing = |k: &str| (k == "SMTP_URL_FILE").then(|| "/nope".to_string());
    let e = apply_secret_files(&mut HashMap::new(), &missing, &read).unwrap_err();
    assert_eq!(e.key, "SMTP_URL");
    assert!(e.message.contains("SMTP_URL_FILE: cannot read /nope"), "{}", e.message);
}

#[test]
fn durations_take_seconds_or_human_forms_and_refuse_fractions() {
    let schedule = |v: &str| load(&[("CHITTYCHARGE_JANITOR_SCHEDULE", v)]).map(|c| c.janitor_schedule);
    assert_eq!(schedule("90, 1h 30m, 2days").unwrap(), [90, 5_400, 172_800]);
    assert_eq!(schedule("1500ms").unwrap_err().key, "CHITTYCHARGE_JANITOR_SCHEDULE", "whole seconds only");
    assert_eq!(schedule("-5s").unwrap_err().key, "CHITTYCHARGE_JANITOR_SCHEDULE");
}

#[test]
fn a_registry_announces_the_public_address_and_needs_the_chittyid_token() {
    let base = [
        ("CHITTY_REGISTRY_URL", "https://registry.example.test/"),
        ("CHITTY_ID_TOKEN", "mcp_auth_x"),
        ("CHITTYCHARGE_PUBLIC_URL", "https://charge.example.test:8443/"),
        ("CHITTYCHARGE_PROCESSOR", "simulated"),
    ];
    let r = load(&base).unwrap().registry.unwrap();
    assert_eq!(r.url, "https://registry.example.test");
    assert_eq!(r.domain, "charge.example.test:8443");
    assert_eq!(r.health_endpoint, "https://charge.example.test:8443/health");
    assert_eq!((r.heartbeat_secs, r.tier.as_str()), (60, "test"));
    assert!(load(&[]).unwrap().registry.is_none(), "off unless asked for");
    let with = |extra: (&'static str, &'static str)| {
        let mut v = base.to_vec();
        v.retain(|(k, _)| *k != extra.0);
        v.push(extra);
        load(&v)
    };
    assert_eq!(with(("CHITTY_REGISTRY_TIER", "staging")).unwrap().registry.unwrap().tier, "staging");
    assert_eq!(with(("CHITTY_REGISTRY_HEARTBEAT", "5m")).unwrap().registry.unwrap().heartbeat_secs, 300);
    for bad in [
        ("CHITTY_REGISTRY_URL", "ftp://registry.example.test"),
        ("CHITTY_REGISTRY_URL", "https://user:pw@registry.example.test"),
        ("CHITTY_REGISTRY_TIER", "Prod<script>"),
        ("CHITTY_REGISTRY_HEARTBEAT", "0"),
        ("CHITTY_REGISTRY_HEARTBEAT", "2d"),
        ("CHITTY_REGISTRY_URL", "http://registry.example.test"),
        ("CHITTY_REGISTRY_URL", "https://registry.example.test/?x=1"),
        ("CHITTY_REGISTRY_URL", "https://registry.example.test/#top"),
    ] {
        assert_eq!(with(bad).unwrap_err().key, bad.0, "{bad:?}");
    }
    assert_eq!(with(("CHITTY_ID_TOKEN", "")).unwrap_err().key, "CHITTY_ID_TOKEN");
    assert_eq!(with(("CHITTY_ID_TOKEN", "a\u{7}b")).unwrap_err().key, "CHITTY_ID_TOKEN");
    assert!(
        with(("CHITTY_REGISTRY_URL", "http://127.0.0.1:9999")).is_ok(),
        "plain http on loopback, for a local registry"
    );
    assert_eq!(with(("CHITTYCHARGE_PUBLIC_URL", "")).unwrap_err().key, "CHITTYCHARGE_PUBLIC_URL");
    assert_eq!(load(&[("CHITTY_REGISTRY_TIER", "production")]).unwrap_err().key, "CHITTY_REGISTRY_TIER");
}
