//! Reading the configuration: the TOML file, then the environment over it,
//! then secrets from files (`*_FILE`).

use std::collections::HashMap;
use std::path::Path;

use super::parse::{absolute_sqlite_url, apply_secret_files};
use super::{err, Config, ConfigError};

/// The configuration keys; in a TOML file they are written in lower case.
pub const KEYS: &[&str] = &[
    "CHITTYCHARGE_LISTEN",
    "DATABASE_URL",
    "CHITTYCHARGE_PROCESSOR",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_JS_URL",
    "STRIPE_WEBHOOK_TOLERANCE_SECS",
    "CHITTY_ID_TOKEN",
    "CHITTY_ID_URL",
    "ALLOWED_ORIGINS",
    "CURRENCY",
    "DEFAULT_HOLD_AMOUNT_CENTS",
    "RATE_LIMIT_PER_MINUTE",
    "CHITTYCHARGE_INSTALL_TOKEN_RATE_LIMIT",
    "CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE",
    "CHITTYCHARGE_API_TOKEN",
    "CHITTYCHARGE_PUBLIC_URL",
    "CHITTYCHARGE_TEST_CLOCK",
    "CHITTYCHARGE_LOG_FORMAT",
    "CHITTYCHARGE_MAX_BODY_BYTES",
    "CHITTYCHARGE_STRIPE_TIMEOUT_MS",
    "CHITTYCHARGE_STRIPE_MAX_ATTEMPTS",
    "CHITTYCHARGE_JANITOR_SCHEDULE",
    "CHITTYCHARGE_JOBS_INTERVAL_MS",
    "SMTP_URL",
    "SMTP_FROM",
    "OPERATOR_EMAIL",
    "CHITTY_ID_RETRY_SCHEDULE",
    "CHITTY_ID_TIMEOUT_MS",
    "CHITTYCHARGE_EXPIRY_WARNING",
    "CHITTYCHARGE_REAUTH_MARGIN",
    "CHITTYCHARGE_RETENTION_DAYS",
    "CHITTYCHARGE_BENCH_FLOOR",
    "CHITTYCHARGE_SERVER_TIMING",
    "CHITTYCHARGE_TRUSTED_PROXIES",
    "CHITTYCHARGE_SHUTDOWN_GRACE_MS",
    "CHITTYCHARGE_HEADER_READ_TIMEOUT_MS",
    "CHITTYCHARGE_BODY_TIMEOUT_MS",
    "CHITTYCHARGE_MAX_CONNECTIONS",
    "CHITTYCHARGE_METRICS_LISTEN",
    "CHITTYCHARGE_METRICS_PUBLIC",
    "CHITTY_REGISTRY_URL",
    "CHITTY_REGISTRY_HEARTBEAT",
    "CHITTY_REGISTRY_TIER",
];

impl Config {
    /// Environment over the TOML file named by `file` (or `CHITTYCHARGE_CONFIG`).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut values: HashMap<String, String> = HashMap::new();
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("CHITTYCHARGE_CONFIG").map(Into::into));
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| err("CHITTYCHARGE_CONFIG", format!("cannot read {}: {e}", path.display())))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| err("CHITTYCHARGE_CONFIG", format!("{} is not valid TOML: {e}", path.display())))?;
            for (k, v) in table {
                let key = k.to_ascii_uppercase();
                if !KEYS.contains(&key.as_str()) {
                    return Err(err("CHITTYCHARGE_CONFIG", format!("unknown key '{k}' in {}", path.display())));
                }
                let s = match v {
                    toml::Value::String(s) => s,
                    toml::Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                values.insert(key, s);
            }
        }
        for key in KEYS {
            if let Ok(v) = std::env::var(key) {
                values.insert((*key).to_string(), v);
            }
        }
        apply_secret_files(&mut values, &|k| std::env::var(k).ok(), &|p| std::fs::read_to_string(p))?;
        let mut config = Self::from_map(&values)?;
        let cwd = std::env::current_dir()
            .map_err(|e| err("DATABASE_URL", format!("cannot resolve a relative path: no working directory: {e}")))?;
        config.database_url = absolute_sqlite_url(&config.database_url, &cwd);
        Ok(config)
    }
}
