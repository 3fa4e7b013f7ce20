//! Registration in ChittyRegistry (`CHITTY_REGISTRY_URL`): where the
//! registry is, how often to send a heartbeat, and the tier to announce.
//! Off unless the URL is set.

use super::{err, parse_duration_secs, ConfigError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// The registry's base URL; `POST {url}/api/services` registers.
    pub url: String,
    /// What this instance announces as its domain (`host[:port]` of
    /// `CHITTYCHARGE_PUBLIC_URL`) and its health endpoint.
    pub domain: String,
    pub health_endpoint: String,
    /// Seconds between heartbeats; also the longest back-off while the
    /// registry is down.
    pub heartbeat_secs: u64,
    /// `production` for a live Stripe key, `test` otherwise, unless set.
    pub tier: String,
}

/// What [`Registry::from_keys`] needs from the rest of the configuration.
pub(super) struct Context<'a> {
    pub public_url: Option<&'a str>,
    pub chitty_id_token: Option<&'a str>,
    pub live_key: bool,
}

impl Registry {
    pub(super) fn from_keys(
        get: &dyn Fn(&str) -> Option<String>,
        cx: &Context<'_>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(url) = get("CHITTY_REGISTRY_URL").map(|u| u.trim().trim_end_matches('/').to_string()) else {
            for key in ["CHITTY_REGISTRY_HEARTBEAT", "CHITTY_REGISTRY_TIER"] {
                if get(key).is_some() {
                    return Err(err(key, "has no effect without CHITTY_REGISTRY_URL"));
                }
            }
            return Ok(None);
        };
        let parsed = url::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| err("CHITTY_REGISTRY_URL", "must be an http(s) URL"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // The credential is the ChittyID token, sent as a header; a
            // password in the URL would end up in logs.
            return Err(err("CHITTY_REGISTRY_URL", "must not carry a user or password"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(err("CHITTY_REGISTRY_URL", "must be a base URL without a query or fragment"));
        }
        let loopback = parsed.host_str().is_some_and(|h| {
            h == "localhost" || h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        });
        if parsed.scheme() == "http" && !loopback {
            // The token would cross the network in clear.
            return Err(err("CHITTY_REGISTRY_URL", "must be https (http only on loopback)"));
        }
        let Some(token) = cx.chitty_id_token else {
            return Err(err("CHITTY_ID_TOKEN", "is the registry's credential: set it with CHITTY_REGISTRY_URL"));
        };
        if reqwest::header::HeaderValue::from_str(token).is_err() {
            return Err(err("CHITTY_ID_TOKEN", "must be printable text to be sent as a header"));
        }
        let public = cx.public_url.ok_or_else(|| {
            err("CHITTYCHARGE_PUBLIC_URL", "is what the registry announces: set it with CHITTY_REGISTRY_URL")
        })?;
        let public_parsed =
            url::Url::parse(public).map_err(|_| err("CHITTYCHARGE_PUBLIC_URL", "must be an http(s) URL"))?;
        let host = public_parsed.host_str().ok_or_else(|| err("CHITTYCHARGE_PUBLIC_URL", "has no host"))?;
        let domain = match public_parsed.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let heartbeat_secs = match get("CHITTY_REGISTRY_HEARTBEAT") {
            None => 60,
            Some(s) => parse_duration_secs(s.trim())
                .filter(|n| (1..=86_400).contains(n))
                .ok_or_else(|| err("CHITTY_REGISTRY_HEARTBEAT", format!("'{s}' is not a duration from 1s to 1d")))?,
        };
        let tier = match get("CHITTY_REGISTRY_TIER") {
            None => if cx.live_key { "production" } else { "test" }.to_string(),
            Some(t) => {
                let ok = (1..=32).contains(&t.len())
                    && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    return Err(err("CHITTY_REGISTRY_TIER", format!("'{t}' is not a label such as production")));
                }
                t
            }
        };
        Ok(Some(Registry {
            url,
            domain,
            health_endpoint: format!("{}/health", public.trim_end_matches('/')),
            heartbeat_secs,
            tier,
        }))
    }
}
