//! A disputed hold's evidence packet as a printable page, for the API
//! (`format=html`) and the console.

use axum::response::Response;
use chittycharge_core::evidence::EvidencePacket;
use chittycharge_domain::Currency;
use serde_json::Value;

/// The packet with its amounts written as money, for the printable page.
pub(crate) fn printable(p: &EvidencePacket) -> Value {
    let currency = Currency::parse(&p.hold.currency).unwrap_or_else(|_| Currency::usd());
    let mut v = serde_json::to_value(p).unwrap_or_default();
    let fmt = |x: &mut Value| {
        if let Some(n) = x.as_i64() {
            *x = Value::String(currency.format(n));
        }
    };
    for k in ["authorized", "captured", "refunded"] {
        if let Some(x) = v.pointer_mut(&format!("/hold/{k}")) {
            fmt(x);
        }
    }
    if let Some(x) = v.pointer_mut("/dispute/amount") {
        fmt(x);
    }
    for list in ["damage_lines", "timeline"] {
        if let Some(items) = v.get_mut(list).and_then(Value::as_array_mut) {
            for item in items {
                if let Some(x) = item.get_mut("amount") {
                    fmt(x);
                }
            }
        }
    }
    v
}

pub(crate) fn evidence_page(p: &EvidencePacket, console: Option<&str>) -> Response {
    super::render(
        "evidence.html",
        minijinja::context! { p => printable(p), console => console.is_some(), csrf => console.unwrap_or_default() },
    )
}
