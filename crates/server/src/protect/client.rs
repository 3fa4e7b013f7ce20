//! The client's address. The socket peer, unless the peer is a proxy the
//! operator trusts (`CHITTYCHARGE_TRUSTED_PROXIES`): then the nearest
//! address in `X-Forwarded-For` (or `Forwarded: for=`) that is not itself a
//! trusted proxy. Logs, rate limits and events all use this address.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

fn trusted(list: &[IpNet], ip: IpAddr) -> bool {
    list.iter().any(|n| n.contains(&ip))
}

/// The addresses proxies appended, nearest last: `X-Forwarded-For` (what
/// most proxies append to), or `Forwarded: for=` when there is none, so a
/// client cannot pick whichever header its proxy does not maintain.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for v in headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()) {
        out.extend(v.split(',').filter_map(|s| s.trim().parse::<IpAddr>().ok()));
    }
    if !out.is_empty() {
        return out;
    }
    for v in headers.get_all("forwarded").iter().filter_map(|v| v.to_str().ok()) {
        for element in v.split(',') {
            for pair in element.split(';') {
                if let Some((k, val)) = pair.trim().split_once('=') {
                    if k.trim().eq_ignore_ascii_case("for") {
                        let val = val.trim().trim_matches('"');
                        // `for="[2001:db8::1]:4711"` or `for=192.0.2.1:80`
                        let host = match val.strip_prefix('[') {
                            Some(rest) => rest.split(']').next().unwrap_or(""),
                            None => val.rsplit_once(':').filter(|(h, _)| !h.contains(':')).map_or(val, |(h, _)| h),
                        };
                        if let Ok(ip) = host.parse() {
                            out.push(ip);
                        }
                    }
                }
            }
        }
    }
    out
}

pub fn client_ip(trusted_proxies: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !trusted(trusted_proxies, peer) {
        return peer;
    }
    let chain = forwarded_chain(headers);
    chain
        .iter()
        .rev()
        .copied()
        .find(|ip| !trusted(trusted_proxies, *ip))
        .or_else(|| chain.first().copied())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        m
    }

    #[test]
    fn forwarded_headers_count_only_from_a_trusted_proxy() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoof = h(&[("x-forwarded-for", "203.0.113.9")]);
        let peer: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(client_ip(&proxies, peer, &spoof), peer, "an untrusted peer's header is ignored");
        assert_eq!(client_ip(&[], "10.0.0.2".parse().unwrap(), &spoof), "10.0.0.2".parse::<IpAddr>().unwrap());
        let via = h(&[("x-forwarded-for", "203.0.113.9, 198.51.100.1, 10.1.1.1")]);
        assert_eq!(client_ip(&proxies, "10.0.0.2".parse().unwrap(), &via), "198.51.100.1".parse::<IpAddr>().unwrap());
        let fwd = h(&[("forwarded", "for=192.0.2.60;proto=https, for=\"[2001:db8::1]:4711\"")]);
        assert_eq!(client_ip(&proxies, "10.0.0.2".parse().unwrap(), &fwd), "2001:db8::1".parse::<IpAddr>().unwrap());
        // A client-supplied Forwarded does not override the proxy's X-Forwarded-For.
        let both = h(&[("x-forwarded-for", "198.51.100.9"), ("forwarded", "for=1.1.1.1")]);
        assert_eq!(client_ip(&proxies, "10.0.0.2".parse().unwrap(), &both), "198.51.100.9".parse::<IpAddr>().unwrap());
    }
}
