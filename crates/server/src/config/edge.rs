//! The settings of the service's edge: which proxies to believe for the
//! client's address, connection limits and timeouts, and where metrics go.

use std::net::SocketAddr;

use super::{err, parse_int, ConfigError};

#[derive(Debug, Clone)]
pub struct Edge {
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A request's headers must arrive within this; so must the next
    /// request on a kept-alive connection.
    pub header_read_timeout_ms: u64,
    /// A request's body must arrive within this.
    pub body_timeout_ms: u64,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// A separate listen address for `/metrics` (then absent from the API port).
    pub metrics_listen: Option<SocketAddr>,
    /// `/metrics` on the API port without a token.
    pub metrics_public: bool,
    /// At shutdown, how long requests in flight may take to finish.
    pub shutdown_grace_ms: u64,
}

impl Edge {
    pub(super) fn from_keys(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let trusted_proxies = match get("CHITTYCHARGE_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<ipnet::IpNet>()
                        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            err("CHITTYCHARGE_TRUSTED_PROXIES", format!("'{s}' is not a CIDR such as 10.0.0.0/8"))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let metrics_listen = match get("CHITTYCHARGE_METRICS_LISTEN") {
            None => None,
            Some(a) => Some(a.parse::<SocketAddr>().map_err(|_| {
                err("CHITTYCHARGE_METRICS_LISTEN", format!("'{a}' is not an address such as 127.0.0.1:9187"))
            })?),
        };
        let header_read_timeout_ms = parse_int(
            get("CHITTYCHARGE_HEADER_READ_TIMEOUT_MS"),
            "CHITTYCHARGE_HEADER_READ_TIMEOUT_MS",
            10_000,
            100,
            600_000,
        )?;
        let body_timeout_ms =
            parse_int(get("CHITTYCHARGE_BODY_TIMEOUT_MS"), "CHITTYCHARGE_BODY_TIMEOUT_MS", 30_000, 100, 3_600_000)?;
        let max_connections =
            parse_int(get("CHITTYCHARGE_MAX_CONNECTIONS"), "CHITTYCHARGE_MAX_CONNECTIONS", 1_024, 1, 1_000_000)?;
        let metrics_public = match get("CHITTYCHARGE_METRICS_PUBLIC").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => return Err(err("CHITTYCHARGE_METRICS_PUBLIC", format!("'{other}' is not true or false"))),
        };
        let shutdown_grace_ms =
            parse_int(get("CHITTYCHARGE_SHUTDOWN_GRACE_MS"), "CHITTYCHARGE_SHUTDOWN_GRACE_MS", 20_000, 0, 600_000)?;
        Ok(Edge {
            shutdown_grace_ms: u64::try_from(shutdown_grace_ms).unwrap_or(20_000),
            trusted_proxies,
            header_read_timeout_ms: u64::try_from(header_read_timeout_ms).unwrap_or(10_000),
            body_timeout_ms: u64::try_from(body_timeout_ms).unwrap_or(30_000),
            max_connections: usize::try_from(max_connections).unwrap_or(1_024),
            metrics_listen,
            metrics_public,
        })
    }
}
