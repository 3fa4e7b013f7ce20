//! Rendering report rows, a page at a time, as JSON (integer minor units)
//! or CSV (major units; the header says so; free text defused for
//! spreadsheets).

use std::collections::BTreeMap;

use axum::body::Bytes;
use chittycharge_core::reports::ReportPeriod;
use chittycharge_domain::report::{major_units, spreadsheet_text, HoldFigures, Totals};
use chittycharge_domain::time::iso_millis;
use chittycharge_domain::{Currency, Hold};
use chittycharge_store::DamageClaim;
use serde::Serialize;
use serde_json::{json, Value};

use super::Format;

pub(super) trait Rows<T> {
    fn format(&self) -> Format;
    fn head(&mut self, period: &ReportPeriod) -> Bytes;
    fn page(&mut self, items: &[T]) -> Bytes;
    fn totals(&mut self) -> Bytes;
}

fn csv_bytes(records: impl IntoIterator<Item = Vec<String>>) -> Bytes {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        // Writing to memory cannot fail.
        let _ = w.write_record(&r);
    }
    Bytes::from(w.into_inner().unwrap_or_default())
}

fn json_head(kind: &str, period: &ReportPeriod) -> String {
    let head = json!({
        "report": kind,
        "from": iso_millis(period.from.millis()),
        "to": iso_millis(period.to.millis()),
        "property_id": period.property_id,
        "amounts": "integer minor units of each row's currency",
    })
    .to_string();
    // The object stays open: the rows follow as `"rows": [ … ]`.
    format!("{},\"rows\":[", head.trim_end_matches('}'))
}

/// JSON rows separated by commas across pages.
fn json_rows(first: &mut bool, rows: impl IntoIterator<Item = Value>) -> Bytes {
    let mut out = String::new();
    for r in rows {
        if !std::mem::take(first) {
            out.push(',');
        }
        out.push_str(&r.to_string());
    }
    Bytes::from(out)
}

fn text(s: Option<&str>) -> String {
    spreadsheet_text(s.unwrap_or_default()).into_owned()
}

pub(super) struct HoldRows {
    format: Format,
    totals: Totals,
    first: bool,
}

impl HoldRows {
    pub(super) fn new(format: Format) -> Self {
        Self { format, totals: Totals::default(), first: true }
    }
}

#[derive(Serialize)]
struct HoldTotal<'a> {
    /// `null` for the holds without a property, as in their rows.
    property_id: Option<&'a str>,
    currency: &'a str,
    holds: u64,
    authorized: i128,
    captured: i128,
    released: i128,
    outstanding: i128,
    refunded: i128,
    disputed: i128,
    estimated_fee: i128,
}

impl Rows<(Hold, i64)> for HoldRows {
    fn format(&self) -> Format {
        self.format
    }
    fn head(&mut self, period: &ReportPeriod) -> Bytes {
        match self.format {
            Format::Json => Bytes::from(json_head("holds", period)),
            Format::Csv => csv_bytes([[
                "row",
                "hold_id",
                "created_at",
                "property_id",
                "booking_id",
                "guest_email",
                "status",
                "currency",
                "holds",
                "authorized_major_units",
                "captured_major_units",
                "released_major_units",
                "outstanding_major_units",
                "refunded_major_units",
                "disputed_major_units",
                "estimated_fee_major_units",
            ]
            .map(String::from)
            .to_vec()]),
        }
    }
    fn page(&mut self, holds: &[(Hold, i64)]) -> Bytes {
        let figures: Vec<(&Hold, HoldFigures)> =
            holds.iter().map(|(h, disputed)| (h, HoldFigures { disputed: *disputed, ..HoldFigures::of(h) })).collect();
        for (h, f) in &figures {
            self.totals.add(h, f);
        }
        match self.format {
            Format::Json => json_rows(
                &mut self.first,
                figures.iter().map(|(h, f)| {
                    json!({
                        "hold_id": h.id,
                        "created_at": iso_millis(h.created_at.millis()),
                        "property_id": h.property_id,
                        "booking_id": h.booking_id,
                        "guest_email": h.customer_email,
                        "status": h.state.status().as_str(),
                        "currency": h.amount.currency().code(),
                        "authorized": f.authorized,
                        "captured": f.captured,
                        "released": f.released,
                        "outstanding": f.outstanding,
                        "refunded": f.refunded,
                        "disputed": f.disputed,
                        "estimated_fee": f.estimated_fee,
                    })
                }),
            ),
            Format::Csv => csv_bytes(figures.iter().map(|(h, f)| {
                let c = h.amount.currency();
                let m = |v: i64| major_units(i128::from(v), c);
                vec![
                    "hold".into(),
                    text(Some(&h.id)),
                    iso_millis(h.created_at.millis()),
                    text(h.property_id.as_deref()),
                    text(h.booking_id.as_deref()),
                    text(h.customer_email.as_deref()),
                    h.state.status().as_str().into(),
                    c.code().into(),
                    "1".into(),
                    m(f.authorized),
                    m(f.captured),
                    m(f.released),
                    m(f.outstanding),
                    m(f.refunded),
                    m(f.disputed),
                    m(f.estimated_fee),
                ]
            })),
        }
    }
    fn totals(&mut self) -> Bytes {
        match self.format {
            Format::Json => {
                let totals: Vec<HoldTotal<'_>> = self
                    .totals
                    .iter()
                    .map(|(p, c, s)| HoldTotal {
                        property_id: Some(p).filter(|p| !p.is_empty()),
                        currency: c.code(),
                        holds: s.holds,
                        authorized: s.authorized,
                        captured: s.captured,
                        released: s.released,
                        outstanding: s.outstanding,
                        refunded: s.refunded,
                        disputed: s.disputed,
                        estimated_fee: s.estimated_fee,
                    })
                    .collect();
                let list = serde_json::to_string(&totals).unwrap_or_else(|_| "[]".into());
                Bytes::from(format!("],\"totals\":{list}}}"))
            }
            Format::Csv => csv_bytes(self.totals.iter().map(|(p, c, s)| {
                let m = |v: i128| major_units(v, c);
                vec![
                    "total".into(),
                    String::new(),
                    String::new(),
                    text(Some(p)),
                    String::new(),
                    String::new(),
                    String::new(),
                    c.code().into(),
                    s.holds.to_string(),
                    m(s.authorized),
                    m(s.captured),
                    m(s.released),
                    m(s.outstanding),
                    m(s.refunded),
                    m(s.disputed),
                    m(s.estimated_fee),
                ]
            })),
        }
    }
}

#[derive(Serialize)]
struct ClaimTotal<'a> {
    property_id: &'a str,
    currency: &'a str,
    lines: u64,
    amount: i128,
}

pub(super) struct ClaimRows {
    format: Format,
    /// (property, currency code) -> (lines, amount).
    totals: BTreeMap<(String, &'static str), (u64, i128)>,
    first: bool,
}

impl ClaimRows {
    pub(super) fn new(format: Format) -> Self {
        Self { format, totals: BTreeMap::new(), first: true }
    }
}

/// A claim's lines as stored: `[{amount, description, evidence_urls}]`.
fn lines(c: &DamageClaim) -> Vec<(i64, String, Vec<String>)> {
    c.lines
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    let urls = l["evidence_urls"]
                        .as_array()
                        .map(|u| u.iter().filter_map(Value::as_str).map(String::from).collect())
                        .unwrap_or_default();
                    (
                        l["amount"].as_i64().unwrap_or_default(),
                        l["description"].as_str().unwrap_or_default().into(),
                        urls,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Rows<DamageClaim> for ClaimRows {
    fn format(&self) -> Format {
        self.format
    }
    fn head(&mut self, period: &ReportPeriod) -> Bytes {
        match self.format {
            Format::Json => Bytes::from(json_head("claims", period)),
            Format::Csv => csv_bytes([[
                "row",
                "claim_id",
                "created_at",
                "property_id",
                "booking_id",
                "hold_id",
                "currency",
                "line",
                "lines",
                "description",
                "evidence_urls",
                "amount_major_units",
            ]
            .map(String::from)
            .to_vec()]),
        }
    }
    fn page(&mut self, claims: &[DamageClaim]) -> Bytes {
        let mut json = Vec::new();
        let mut csv = Vec::new();
        for c in claims {
            let Ok(currency) = Currency::parse(&c.currency) else { continue };
            for (n, (amount, description, urls)) in lines(c).into_iter().enumerate() {
                let t = self.totals.entry((c.property_id.clone(), currency.code())).or_default();
                t.0 = t.0.saturating_add(1);
                t.1 += i128::from(amount);
                let line = n.saturating_add(1);
                match self.format {
                    Format::Json => json.push(json!({
                        "claim_id": c.id,
                        "created_at": iso_millis(c.created_at.millis()),
                        "property_id": c.property_id,
                        "booking_id": c.booking_id,
                        "hold_id": c.hold_id,
                        "currency": currency.code(),
                        "line": line,
                        "description": description,
                        "amount": amount,
                        "evidence_urls": urls,
                    })),
                    Format::Csv => csv.push(vec![
                        "line".into(),
                        text(Some(&c.id)),
                        iso_millis(c.created_at.millis()),
                        text(Some(&c.property_id)),
                        text(Some(&c.booking_id)),
                        text(Some(&c.hold_id)),
                        currency.code().into(),
                        line.to_string(),
                        "1".into(),
                        text(Some(&description)),
                        text(Some(&urls.join(" "))),
                        major_units(i128::from(amount), currency),
                    ]),
                }
            }
        }
        match self.format {
            Format::Json => json_rows(&mut self.first, json),
            Format::Csv => csv_bytes(csv),
        }
    }
    fn totals(&mut self) -> Bytes {
        match self.format {
            Format::Json => {
                let list: Vec<ClaimTotal<'_>> = self
                    .totals
                    .iter()
                    .map(|((p, c), (n, amount))| ClaimTotal { property_id: p, currency: c, lines: *n, amount: *amount })
                    .collect();
                let list = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
                Bytes::from(format!("],\"totals\":{list}}}"))
            }
            Format::Csv => csv_bytes(self.totals.iter().filter_map(|((p, c), (n, amount))| {
                let currency = Currency::parse(c).ok()?;
                let blank = String::new;
                Some(vec![
                    "total".into(),
                    blank(),
                    blank(),
                    text(Some(p)),
                    blank(),
                    blank(),
                    (*c).into(),
                    blank(),
                    n.to_string(),
                    blank(),
                    blank(),
                    major_units(*amount, currency),
                ])
            })),
        }
    }
}
