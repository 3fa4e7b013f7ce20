//! The Stripe settings that need more than a string: where the guest's page
//! loads Stripe.js from, and when the test clock may run beside Stripe.

use super::{err, ConfigError};

pub(super) const STRIPE_JS_DEFAULT: &str = "https://js.stripe.com/v3/";

/// `STRIPE_JS_URL`: Stripe's own script unless told otherwise. Anything else
/// must be https, or http on a loopback host (an emulator's stand-in on a
/// developer's machine), because this script sees the guest's card number.
pub(super) fn stripe_js_url(v: Option<String>) -> Result<url::Url, ConfigError> {
    let raw = v.unwrap_or_else(|| STRIPE_JS_DEFAULT.into());
    let u = url::Url::parse(&raw).map_err(|e| err("STRIPE_JS_URL", format!("'{raw}' is not a URL: {e}")))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(err(
            "STRIPE_JS_URL",
            "must not carry a user name or password (it is written into the guest's page)",
        ));
    }
    // The origin goes into the page's Content-Security-Policy: a wildcard or
    // a delimiter there would widen it.
    if let Some(url::Host::Domain(d)) = u.host() {
        if d.is_empty() || !d.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
            return Err(err("STRIPE_JS_URL", format!("'{d}' is not a host name")));
        }
    }
    match u.scheme() {
        "https" => Ok(u),
        "http" if is_loopback(&u) => Ok(u),
        "http" => Err(err("STRIPE_JS_URL", "plain http is only allowed on a loopback address")),
        other => Err(err("STRIPE_JS_URL", format!("'{other}' is not http(s)"))),
    }
}

/// A URL whose host is `localhost` or a loopback address.
pub(super) fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The test clock moves the service's time. Live Stripe's cannot be moved,
/// so beside the Stripe processor it is allowed only when the API is a
/// loopback emulator that moves its clock with ours.
pub(super) fn test_clock_allowed(api_base: &str) -> bool {
    url::Url::parse(api_base).is_ok_and(|u| is_loopback(&u))
}

/// A loopback Stripe.js is for a developer's machine: in front of guests it
/// would make their browsers load the payment script from their own machine.
pub(super) fn check_stripe_js_for_guests(
    js: &url::Url,
    public_host: Option<&str>,
    live_key: bool,
) -> Result<(), ConfigError> {
    if js.scheme() == "http" && (public_host.is_some() || live_key) {
        let why = match public_host {
            Some(h) => format!("CHITTYCHARGE_PUBLIC_URL names {h}"),
            None => "STRIPE_SECRET_KEY is a live key".into(),
        };
        return Err(err(
            "STRIPE_JS_URL",
            format!(
                "a loopback Stripe.js is for development only, and {why}: guests would load it from their own machine"
            ),
        ));
    }
    Ok(())
}
