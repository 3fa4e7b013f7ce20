//! CORS with exact origins and one-label wildcards.
//!
//! The original turned `https://*.chitty.cc` into the regex
//! `^https://.*.chitty.cc$`, so `https://evilxchitty.cc` matched. Here an
//! entry matches exactly, or `*` stands for exactly one whole leading DNS
//! label, dots are literal, and scheme and port must match. A disallowed
//! origin gets no `Access-Control-Allow-Origin` at all.

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

#[derive(Debug, Clone)]
pub struct OriginMatcher {
    patterns: Vec<String>,
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl OriginMatcher {
    pub fn new(patterns: &[String]) -> Self {
        Self { patterns: patterns.to_vec() }
    }

    pub fn allows(&self, origin: &str) -> bool {
        if origin.is_empty() || origin == "null" {
            return false;
        }
        self.patterns.iter().any(|p| {
            if p == "*" {
                return true;
            }
            if p == origin {
                return true;
            }
            match p.split_once("://*.") {
                Some((scheme, rest)) => {
                    let Some(host) = origin.strip_prefix(scheme).and_then(|o| o.strip_prefix("://")) else {
                        return false;
                    };
                    match host.split_once('.') {
                        Some((label, tail)) => is_label(label) && tail == rest,
                        None => false,
                    }
                }
                None => false,
            }
        })
    }
}

pub fn layer(origins: &[String]) -> CorsLayer {
    let matcher = OriginMatcher::new(origins);
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().map(|o| matcher.allows(o)).unwrap_or(false)
        }))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static("chittyid-token"),
            header::AUTHORIZATION,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderName::from_static("idempotent-replayed"),
            header::RETRY_AFTER,
        ])
        .max_age(std::time::Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(list: &[&str]) -> OriginMatcher {
        OriginMatcher::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn the_original_origin_table_with_the_wildcard_bug_fixed() {
        let defaults = m(&["https://chitty.cc", "https://*.chitty.cc"]);
        let table = [
            ("https://chitty.cc", true),
            ("https://app.chitty.cc", true),
            ("https://a.b.chitty.cc", false),
            ("https://.chitty.cc", false),
            ("https://evilxchitty.cc", false),
            ("https://x.chittyXcc", false),
            ("http://app.chitty.cc", false),
            ("https://app.chitty.cc:8443", false),
            ("https://chitty.cc.evil.com", false),
            ("", false),
            ("null", false),
        ];
        for (origin, want) in table {
            assert_eq!(defaults.allows(origin), want, "{origin}");
        }
    }

    #[test]
    fn exact_entries_and_the_star_entry() {
        assert!(m(&["https://chitty.cc", "https://example.com"]).allows("https://chitty.cc"));
        assert!(!m(&["https://chitty.cc"]).allows("https://evil.com"));
        assert!(m(&["*"]).allows("https://anything.com"));
        assert!(!m(&["*"]).allows(""));
    }
}
