//! One typed configuration, read from the environment (the original's
//! variable names) over an optional TOML file, and validated at start-up.
//! Every error names the key at fault, and secrets are wrapped so that
//! `Debug` never prints them.

use std::collections::HashMap;
use std::net::SocketAddr;

use chittycharge_domain::{Currency, Money};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorKind {
    Simulated,
    Stripe,
}

impl ProcessorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessorKind::Simulated => "simulated",
            ProcessorKind::Stripe => "stripe",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// The highest requests-a-minute limit anything may set: one request a
/// microsecond, the rate limiter's resolution.
pub const MAX_RATE_LIMIT: i64 = 60_000_000;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub processor: ProcessorKind,
    pub stripe_secret_key: Option<SecretString>,
    /// Several secrets, comma-separated, while one is being rotated.
    pub stripe_webhook_secrets: Vec<SecretString>,
    pub stripe_api_base: String,
    pub stripe_publishable_key: Option<String>,
    /// Where the check-in page loads Stripe.js from (`STRIPE_JS_URL`).
    pub stripe_js_url: url::Url,
    pub webhook_tolerance_secs: i64,
    /// Outbound bearer for the ChittyID service; never accepted inbound.
    pub chitty_id_token: Option<SecretString>,
    pub chitty_id_url: String,
    pub allowed_origins: Vec<String>,
    pub currency: Currency,
    pub default_hold_amount: i64,
    pub rate_limit_per_minute: u32,
    /// The per-minute limit of the token made at first start.
    pub install_token_rate_limit: u32,
    /// Failed authentications allowed per client IP per minute.
    pub auth_failures_per_minute: u32,
    /// An API token to make sure exists (for scripted deployments).
    pub api_token: Option<SecretString>,
    /// Base URL used in links handed to guests (`checkin_url`).
    pub public_url: Option<String>,
    /// Lets tests move the clock through `/_sim/clock` (the simulated
    /// processor, or Stripe's API on a loopback emulator).
    pub test_clock: bool,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub stripe_timeout_ms: u64,
    pub stripe_max_attempts: u32,
    /// Delays between reconciliation attempts of an unknown operation.
    pub janitor_schedule: Vec<u64>,
    /// How often background jobs wake up.
    pub jobs_interval_ms: u64,
    /// `smtp://host:port`, `smtps://user:pass@host` or with `?tls=required`.
    pub smtp_url: Option<SecretString>,
    pub smtp_from: String,
    /// Where operator warnings (holds about to expire) go.
    pub operator_email: Option<String>,
    /// Back-off for re-minting PENDING ChittyIDs (the last value repeats).
    pub chitty_id_retry: Vec<u64>,
    pub chitty_id_timeout_ms: u64,
    /// Warn the operator this long before a hold's capture deadline.
    pub expiry_warning_secs: i64,
    /// Re-authorize a long stay's hold this long before its deadline.
    pub reauth_margin_secs: i64,
    /// Webhook event ids and sent notifications are kept this many days.
    pub retention_days: i64,
    /// Serves `/_bench/floor`, a static endpoint outside every middleware,
    /// as the benchmark's baseline.
    pub bench_floor: bool,
    /// Benchmark hook: every response carries `Server-Timing` (timing.rs).
    pub server_timing: bool,
    /// Connections, client addresses and the metrics endpoint.
    pub edge: Edge,
    /// Registration in ChittyRegistry, when `CHITTY_REGISTRY_URL` is set.
    pub registry: Option<Registry>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: &'static str,
    pub message: String,
}

fn err(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { key, message: message.into() }
}

pub const DEFAULT_ORIGINS: [&str; 2] = ["https://chitty.cc", "https://*.chitty.cc"];

impl Config {
    pub fn from_map(m: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| m.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let secret = |k: &str| get(k).map(SecretString::from);

        let listen = get("CHITTYCHARGE_LISTEN").unwrap_or_else(|| "127.0.0.1:8787".into());
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| err("CHITTYCHARGE_LISTEN", format!("'{listen}' is not an address such as 127.0.0.1:8787")))?;

        let database_url = get("DATABASE_URL").unwrap_or_else(|| "sqlite://./data/chittycharge.db".into());
        if !["sqlite:", "postgres://", "postgresql://"].iter().any(|p| database_url.starts_with(p)) {
            return Err(err("DATABASE_URL", "must start with sqlite:// or postgres://"));
        }

        let stripe_secret_key = secret("STRIPE_SECRET_KEY");
        let processor = match get("CHITTYCHARGE_PROCESSOR").as_deref() {
            None if stripe_secret_key.is_some() => ProcessorKind::Stripe,
            None if !listen.ip().is_loopback() => {
                // Nobody should take real bookings on play money by accident.
                return Err(err(
                    "CHITTYCHARGE_PROCESSOR",
                    format!(
                        "no STRIPE_SECRET_KEY, and CHITTYCHARGE_LISTEN ({listen}) is not a loopback address: \
                         set STRIPE_SECRET_KEY, or CHITTYCHARGE_PROCESSOR=simulated to run the simulated processor there"
                    ),
                ));
            }
            None | Some("simulated") => ProcessorKind::Simulated,
            Some("stripe") => ProcessorKind::Stripe,
            Some(other) => {
                return Err(err("CHITTYCHARGE_PROCESSOR", format!("'{other}' is not 'simulated' or 'stripe'")))
            }
        };
        if processor == ProcessorKind::Stripe {
            match &stripe_secret_key {
                None => return Err(err("STRIPE_SECRET_KEY", "required when CHITTYCHARGE_PROCESSOR=stripe")),
                Some(k) if !(k.expose_secret().starts_with("sk_") || k.expose_secret().starts_with("rk_")) => {
                    return Err(err("STRIPE_SECRET_KEY", "must be a secret key starting with sk_ or rk_"))
                }
                Some(_) => {}
            }
        }
        let stripe_webhook_secrets: Vec<SecretString> = get("STRIPE_WEBHOOK_SECRET")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| SecretString::from(s.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let stripe_api_base = get("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".into());
        if !(stripe_api_base.starts_with("http://") || stripe_api_base.starts_with("https://")) {
            return Err(err("STRIPE_API_BASE", "must be an http(s) URL"));
        }
        let webhook_tolerance_secs =
            parse_int(get("STRIPE_WEBHOOK_TOLERANCE_SECS"), "STRIPE_WEBHOOK_TOLERANCE_SECS", 300, 1, 86_400)?;

        let currency = match get("CURRENCY") {
            Some(c) => Currency::parse(&c).map_err(|e| err("CURRENCY", e.to_string()))?,
            None => Currency::usd(),
        };
        let default_hold_amount =
            parse_int(get("DEFAULT_HOLD_AMOUNT_CENTS"), "DEFAULT_HOLD_AMOUNT_CENTS", 25_000, 1, i64::MAX)?;
        Money::chargeable(default_hold_amount, currency)
            .map_err(|e| err("DEFAULT_HOLD_AMOUNT_CENTS", e.to_string()))?;
        let rate_limit_per_minute =
            parse_int(get("RATE_LIMIT_PER_MINUTE"), "RATE_LIMIT_PER_MINUTE", 10, 1, MAX_RATE_LIMIT)?;
        let rate_limit_per_minute = u32::try_from(rate_limit_per_minute).unwrap_or(u32::MAX);
        let auth_failures = parse_int(
            get("CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE"),
            "CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE",
            20,
            1,
            1_000_000,
        )?;
        let auth_failures_per_minute = u32::try_from(auth_failures).unwrap_or(20);
        let edge = Edge::from_keys(&get)?;

        let allowed_origins: Vec<String> = match get("ALLOWED_ORIGINS") {
            Some(list) => list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
            None => DEFAULT_ORIGINS.iter().map(|s| (*s).to_string()).collect(),
        };
        for o in &allowed_origins {
            validate_origin_pattern(o).map_err(|m| err("ALLOWED_ORIGINS", m))?;
        }

        let test_clock = match get("CHITTYCHARGE_TEST_CLOCK").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => return Err(err("CHITTYCHARGE_TEST_CLOCK", format!("'{other}' is not true or false"))),
        };
        if test_clock && processor != ProcessorKind::Simulated && !stripe::test_clock_allowed(&stripe_api_base) {
            return Err(err(
                "CHITTYCHARGE_TEST_CLOCK",
                "only available with the simulated processor or a Stripe emulator on a loopback STRIPE_API_BASE",
            ));
        }
        let log_format = match get("CHITTYCHARGE_LOG_FORMAT").as_deref() {
            None | Some("human") | Some("pretty") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(err("CHITTYCHARGE_LOG_FORMAT", format!("'{other}' is not 'json' or 'human'"))),
        };
        let max_body_bytes =
            parse_int(get("CHITTYCHARGE_MAX_BODY_BYTES"), "CHITTYCHARGE_MAX_BODY_BYTES", 65_536, 1_024, 10_485_760)?;
        let public_url = get("CHITTYCHARGE_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(err("CHITTYCHARGE_PUBLIC_URL", "must be an http(s) URL"));
            }
        }
        let public_host = public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .filter(|h| {
                h != "localhost"
                    && !h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            });
        if let (ProcessorKind::Simulated, None, Some(host)) = (processor, get("CHITTYCHARGE_PROCESSOR"), &public_host) {
            return Err(err(
                "CHITTYCHARGE_PROCESSOR",
                format!(
                    "no STRIPE_SECRET_KEY, and CHITTYCHARGE_PUBLIC_URL names {host}: set STRIPE_SECRET_KEY, or \
                     CHITTYCHARGE_PROCESSOR=simulated to hand guests the simulated processor there"
                ),
            ));
        }
        let chitty_id_url = get("CHITTY_ID_URL").unwrap_or_else(|| "https://id.chitty.cc".into());
        if !(chitty_id_url.starts_with("http://") || chitty_id_url.starts_with("https://")) {
            return Err(err("CHITTY_ID_URL", "must be an http(s) URL"));
        }
        let stripe_timeout_ms =
            parse_int(get("CHITTYCHARGE_STRIPE_TIMEOUT_MS"), "CHITTYCHARGE_STRIPE_TIMEOUT_MS", 30_000, 100, 300_000)?;
        let stripe_max_attempts =
            parse_int(get("CHITTYCHARGE_STRIPE_MAX_ATTEMPTS"), "CHITTYCHARGE_STRIPE_MAX_ATTEMPTS", 4, 1, 10)?;
        let janitor_schedule = match get("CHITTYCHARGE_JANITOR_SCHEDULE") {
            // Kill Bill's schedule for UNKNOWN payment transactions.
            None => vec![300, 3_600, 86_400, 86_400, 86_400, 86_400, 86_400],
            Some(s) => s
                .split(',')
                .map(|part| parse_duration_secs(part.trim()))
                .collect::<Option<Vec<u64>>>()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    err("CHITTYCHARGE_JANITOR_SCHEDULE", format!("'{s}' is not a list of durations such as 5m,1h,1d"))
                })?,
        };
        let jobs_interval_ms =
            parse_int(get("CHITTYCHARGE_JOBS_INTERVAL_MS"), "CHITTYCHARGE_JOBS_INTERVAL_MS", 10_000, 10, 3_600_000)?;
        let smtp_url = secret("SMTP_URL");
        if let Some(u) = &smtp_url {
            let u = u.expose_secret();
            if !(u.starts_with("smtp://") || u.starts_with("smtps://")) {
                return Err(err("SMTP_URL", "must start with smtp:// or smtps://"));
            }
        }
        let smtp_from = get("SMTP_FROM").unwrap_or_else(|| "ChittyCharge <noreply@chittycharge.local>".into());
        if !smtp_from.contains('@') {
            return Err(err("SMTP_FROM", "must be an email address, optionally with a display name"));
        }
        let operator_email = get("OPERATOR_EMAIL");
        if operator_email.as_deref().is_some_and(|e| !e.contains('@')) {
            return Err(err("OPERATOR_EMAIL", "must be an email address"));
        }
        let schedule = |key: &'static str, default: Vec<u64>| -> Result<Vec<u64>, ConfigError> {
            match get(key) {
                None => Ok(default),
                Some(s) => s
                    .split(',')
                    .map(|part| parse_duration_secs(part.trim()))
                    .collect::<Option<Vec<u64>>>()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| err(key, format!("'{s}' is not a list of durations such as 10s,1m,5m"))),
            }
        };
        let chitty_id_retry = schedule("CHITTY_ID_RETRY_SCHEDULE", vec![10, 30, 60, 300, 900, 3_600])?;
        if chitty_id_retry.first().is_some_and(|first| *first > 30) {
            return Err(err("CHITTY_ID_RETRY_SCHEDULE", "the first retry must come within 30 seconds"));
        }
        let chitty_id_timeout_ms = parse_int(get("CHITTY_ID_TIMEOUT_MS"), "CHITTY_ID_TIMEOUT_MS", 2_000, 50, 30_000)?;
        let one = |key: &'static str, default: u64| -> Result<i64, ConfigError> {
            let v = schedule(key, vec![default])?;
            Ok(i64::try_from(v[0]).unwrap_or(i64::MAX))
        };
        let expiry_warning_secs = one("CHITTYCHARGE_EXPIRY_WARNING", 86_400)?;
        let reauth_margin_secs = one("CHITTYCHARGE_REAUTH_MARGIN", 12 * 3_600)?;
        let stripe_js_url = stripe::stripe_js_url(get("STRIPE_JS_URL"))?;
        let live_key = stripe_secret_key
            .as_ref()
            .is_some_and(|k| k.expose_secret().starts_with("sk_live_") || k.expose_secret().starts_with("rk_live_"));
        stripe::check_stripe_js_for_guests(&stripe_js_url, public_host.as_deref(), live_key)?;
        let chitty_id_token_text = get("CHITTY_ID_TOKEN");
        let registry = Registry::from_keys(
            &get,
            &registry::Context {
                public_url: public_url.as_deref(),
                chitty_id_token: chitty_id_token_text.as_deref(),
                live_key,
            },
        )?;
        let api_token = secret("CHITTYCHARGE_API_TOKEN");
        if let Some(t) = &api_token {
            if t.expose_secret().len() < 24 {
                return Err(err("CHITTYCHARGE_API_TOKEN", "must be at least 24 characters"));
            }
        }

        Ok(Config {
            listen,
            database_url,
            processor,
            stripe_secret_key,
            stripe_webhook_secrets,
            stripe_api_base: stripe_api_base.trim_end_matches('/').to_string(),
            stripe_publishable_key: get("STRIPE_PUBLISHABLE_KEY"),
            stripe_js_url,
            webhook_tolerance_secs,
            chitty_id_token: secret("CHITTY_ID_TOKEN"),
            chitty_id_url: chitty_id_url.trim_end_matches('/').to_string(),
            allowed_origins,
            currency,
            default_hold_amount,
            rate_limit_per_minute,
            install_token_rate_limit: u32::try_from(parse_int(
                get("CHITTYCHARGE_INSTALL_TOKEN_RATE_LIMIT"),
                "CHITTYCHARGE_INSTALL_TOKEN_RATE_LIMIT",
                600,
                1,
                MAX_RATE_LIMIT,
            )?)
            .unwrap_or(600),
            auth_failures_per_minute,
            api_token,
            public_url,
            test_clock,
            log_format,
            max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(65_536),
            stripe_timeout_ms: u64::try_from(stripe_timeout_ms).unwrap_or(30_000),
            stripe_max_attempts: u32::try_from(stripe_max_attempts).unwrap_or(4),
            janitor_schedule,
            jobs_interval_ms: u64::try_from(jobs_interval_ms).unwrap_or(10_000),
            smtp_url,
            smtp_from,
            operator_email,
            chitty_id_retry,
            chitty_id_timeout_ms: u64::try_from(chitty_id_timeout_ms).unwrap_or(2_000),
            expiry_warning_secs,
            reauth_margin_secs,
            retention_days: parse_int(get("CHITTYCHARGE_RETENTION_DAYS"), "CHITTYCHARGE_RETENTION_DAYS", 90, 7, 3_650)?,
            bench_floor: matches!(get("CHITTYCHARGE_BENCH_FLOOR").as_deref(), Some("1") | Some("true")),
            server_timing: matches!(get("CHITTYCHARGE_SERVER_TIMING").as_deref(), Some("1") | Some("true")),
            edge,
            registry,
        })
    }

    /// The public base URL for links, defaulting to the listen address.
    pub fn base_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// The SQLite database file, when the store is SQLite.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        sqlite_file(&self.database_url).map(std::path::PathBuf::from)
    }

    /// The database URL with any password masked, for the start-up line.
    pub fn database_display(&self) -> String {
        match self.database_url.split_once('@') {
            Some((creds, rest)) if creds.contains("://") => {
                let (scheme, userinfo) = creds.split_once("://").unwrap_or((creds, ""));
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{rest}")
            }
            _ => self.database_url.clone(),
        }
    }
}

mod edge;
mod load;
mod parse;
mod registry;
mod stripe;
pub use edge::Edge;
pub use load::KEYS;
pub use parse::SECRET_KEYS;
use parse::{parse_duration_secs, parse_int, sqlite_file, validate_origin_pattern};
pub use registry::Registry;

#[cfg(test)]
mod tests;
