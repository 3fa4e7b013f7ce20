//! The value parsers behind the configuration: numbers and durations with
//! bounds, origin patterns, SQLite paths, and secrets read from files.

use std::collections::HashMap;
use std::path::Path;

use super::{err, ConfigError};

/// The settings that may hold a secret; each may come from a file instead,
/// `<KEY>_FILE` naming it (Docker and systemd credentials), so the secret
/// need not sit in the environment.
pub const SECRET_KEYS: &[&str] = &[
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "CHITTY_ID_TOKEN",
    "CHITTYCHARGE_API_TOKEN",
    "SMTP_URL",
    "DATABASE_URL",
];

/// Reads `<KEY>_FILE` into `<KEY>` (trailing newlines dropped); both at
/// once is an error naming the key.
pub(super) fn apply_secret_files(
    values: &mut HashMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<(), ConfigError> {
    for key in SECRET_KEYS {
        let file_key = format!("{key}_FILE");
        let Some(path) = lookup(&file_key).filter(|p| !p.trim().is_empty()) else { continue };
        if values.contains_key(*key) {
            return Err(err(key, format!("set either {key} or {file_key}, not both")));
        }
        let text = read(&path).map_err(|e| err(key, format!("{file_key}: cannot read {path}: {e}")))?;
        values.insert((*key).to_string(), text.trim_end_matches(['\n', '\r']).to_string());
    }
    Ok(())
}

/// The file part of a `sqlite:` URL (`sqlite://./data/x.db`,
/// `sqlite:///abs/x.db`, `sqlite:x.db`), without query parameters.
pub(super) fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or(rest);
    (!file.is_empty() && file != ":memory:").then_some(file)
}

/// A SQLite URL with a relative file made absolute against `cwd`, once at
/// start: every later message names the file really used, and a command run
/// elsewhere cannot silently open another one.
pub(super) fn absolute_sqlite_url(url: &str, cwd: &Path) -> String {
    match sqlite_file(url) {
        Some(file) if !Path::new(file).is_absolute() => {
            let query = url.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
            let abs = cwd.join(file.strip_prefix("./").unwrap_or(file));
            format!("sqlite://{}{query}", abs.display())
        }
        _ => url.to_string(),
    }
}

pub(super) fn parse_int(
    v: Option<String>,
    key: &'static str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => {
            let n: i64 = s.parse().map_err(|_| err(key, format!("'{s}' is not a whole number")))?;
            if n < min || n > max {
                return Err(err(key, format!("{n} is outside {min}..={max}")));
            }
            Ok(n)
        }
    }
}

/// Plain seconds ("90") or a humantime duration ("30s", "5m", "1h 30m",
/// "1d"), in whole seconds.
pub(super) fn parse_duration_secs(s: &str) -> Option<u64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let d = humantime::parse_duration(s).ok()?;
    (d.subsec_nanos() == 0).then_some(d.as_secs())
}

/// An origin is `*`, `scheme://host[:port]`, or `scheme://*.host[:port]`
/// with the wildcard as a whole leading label.
pub(super) fn validate_origin_pattern(o: &str) -> Result<(), String> {
    if o == "*" {
        return Ok(());
    }
    let Some((scheme, host)) = o.split_once("://") else {
        return Err(format!("'{o}' is not an origin such as https://app.example.com"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("'{o}' must use http or https"));
    }
    let rest = host.strip_prefix("*.").unwrap_or(host);
    if rest.is_empty() || rest.contains('*') || rest.contains('/') {
        return Err(format!("'{o}': '*' is only allowed as a whole leading label, as in https://*.example.com"));
    }
    Ok(())
}
