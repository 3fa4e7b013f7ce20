//! The accountant's reports: a seeded period's totals equal the sums of
//! the holds' own figures to the minor unit, on every store; CSV in major
//! units with free text defused; a token sees only what it may read.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::common::{all_dbs, token, Server};

const ALL_TIME: &str = "from=2000-01-01&to=2099-12-31";

/// Places holds on two properties in two currencies and moves them through
/// every end: captured in part, released, still held, never authorized.
/// Returns their ids.
async fn seed(server: &Server) -> Vec<String> {
    let api = server.client();
    let mut ids = Vec::new();
    let specs = [
        ("p1", "usd", 25_000, Some(7_345)),
        ("p1", "usd", 10_000, None),
        ("p1", "jpy", 30_000, Some(12_000)),
        ("=HYPERLINK(\"http://evil.example\")", "usd", 5_000, Some(5_000)),
        ("p2", "usd", 12_345, None),
    ];
    for (n, (property, currency, amount, capture)) in specs.into_iter().enumerate() {
        let r = api
            .post(
                "/api/holds",
                json!({"amount": amount, "currency": currency, "description": "Incidentals", "property_id": property,
                       "customer_email": format!("guest{n}@example.com"), "payment_method": "pm_card_visa", "confirm": true}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        match (n, capture) {
            (_, Some(c)) => {
                let r = api.post(&format!("/api/holds/{id}/capture"), json!({"amount_to_capture": c})).await;
                assert_eq!(r.status, 200, "{}", r.text);
                if n == 0 {
                    // Part of the first capture goes back to the guest.
                    let r = api.post(&format!("/api/holds/{id}/refunds"), json!({"amount": 1_345})).await;
                    assert_eq!(r.status, 201, "{}", r.text);
                }
            }
            (1, None) => {
                let r = api.post(&format!("/api/holds/{id}/cancel"), json!({})).await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
            _ => {}
        }
        ids.push(id);
    }
    // The JPY charge is disputed by the guest's bank.
    let jpy = &ids[2];
    let r = api.post(&format!("/_sim/payment_intents/{jpy}/dispute"), json!({"reason": "fraudulent"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for _ in 0..200 {
        if api.get(&format!("/api/holds/{jpy}/dispute")).await.body["disputes"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // One never authorized: it held nothing.
    let r = api.post("/api/holds", json!({"amount": 9_900, "description": "Incidentals", "property_id": "p2"})).await;
    ids.push(r.body["id"].as_str().unwrap().to_string());
    ids
}

/// (property, currency) -> [holds, authorized, captured, released, outstanding, refunded], from the holds' own views.
fn expected(holds: &[Value]) -> BTreeMap<(String, String), [i64; 6]> {
    let mut sums: BTreeMap<(String, String), [i64; 6]> = BTreeMap::new();
    for h in holds {
        let key =
            (h["property_id"].as_str().unwrap_or_default().to_string(), h["currency"].as_str().unwrap().to_string());
        let (cap, rel, out) = (
            h["amount_captured"].as_i64().unwrap(),
            h["amount_released"].as_i64().unwrap(),
            h["amount_capturable"].as_i64().unwrap(),
        );
        let s = sums.entry(key).or_default();
        let refunded = h["amount_refunded"].as_i64().unwrap();
        for (i, v) in [1, cap + rel + out, cap, rel, out, refunded].into_iter().enumerate() {
            s[i] += v;
        }
    }
    sums
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn a_periods_report_totals_equal_the_sums_of_its_holds_to_the_minor_unit_on_every_store() {
    for db in all_dbs() {
        let server = Server::start(db);
        let ids = seed(&server).await;
        let api = server.client();
        let mut holds = Vec::new();
        for id in &ids {
            holds.push(api.get(&format!("/api/holds/{id}")).await.body);
        }
        let r = api.get(&format!("/api/reports/holds?{ALL_TIME}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.headers["content-type"], "application/json");
        let report = r.body;
        assert_eq!(report["rows"].as_array().unwrap().len(), ids.len(), "{report}");
        let row_ids: Vec<&str> =
            report["rows"].as_array().unwrap().iter().map(|r| r["hold_id"].as_str().unwrap()).collect();
        assert_eq!(row_ids, ids.iter().map(String::as_str).collect::<Vec<_>>(), "oldest first");
        let mut got: BTreeMap<(String, String), [i64; 6]> = BTreeMap::new();
        for t in report["totals"].as_array().unwrap() {
            let key = (t["property_id"].as_str().unwrap().to_string(), t["currency"].as_str().unwrap().to_string());
            let v = |k: &str| t[k].as_i64().unwrap();
            got.insert(
                key,
                [v("holds"), v("authorized"), v("captured"), v("released"), v("outstanding"), v("refunded")],
            );
        }
        assert_eq!(got, expected(&holds), "{report}");
        // The captured p1/usd hold's fee is the estimate of what was captured.
        let first = &report["rows"][0];
        assert_eq!(
            (first["captured"].as_i64(), first["refunded"].as_i64(), first["estimated_fee"].as_i64()),
            (Some(7_345), Some(1_345), Some(243)),
            "{first}"
        );

        let jpy = report["totals"].as_array().unwrap().iter().find(|t| t["currency"] == "jpy").unwrap();
        assert_eq!(jpy["disputed"], 12_000, "{jpy}");
        // A period before any of them is empty, with empty totals.
        let empty = api.get("/api/reports/holds?from=2001-01-01&to=2001-01-31").await.body;
        assert_eq!((empty["rows"].as_array().unwrap().len(), empty["totals"].as_array().unwrap().len()), (0, 0));
        // One property.
        let p2 = api.get(&format!("/api/reports/holds?{ALL_TIME}&property_id=p2")).await.body;
        assert_eq!(p2["rows"].as_array().unwrap().len(), 2, "{p2}");
    }
}

#[tokio::test]
async fn the_csv_report_is_in_major_units_says_so_and_defuses_formulas() {
    let server = Server::start(crate::common::sqlite_db());
    seed(&server).await;
    let r =
        server.client().raw("GET", &format!("/api/reports/holds?{ALL_TIME}"), None, &[("Accept", "text/csv")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("chittycharge-holds-2000-01-01-2100-01-01.csv"));
    let lines: Vec<&str> = r.text.lines().collect();
    assert!(
        lines[0].contains("authorized_major_units") && lines[0].contains("estimated_fee_major_units"),
        "{}",
        lines[0]
    );
    // The partly captured USD hold: 250.00 authorized, 73.45 captured,
    // 176.55 released, 13.45 of it refunded.
    assert!(lines.iter().any(|l| l.contains(",usd,1,250.00,73.45,176.55,0.00,13.45,0.00,2.43")), "{}", r.text);
    // JPY has no minor unit: 30000 authorized, 12000 captured.
    assert!(lines.iter().any(|l| l.contains(",jpy,1,30000,12000,18000,0,0,12000,")), "{}", r.text);
    // The hostile property id is text in a spreadsheet, never a formula.
    assert!(!r.text.contains(",=HYPERLINK") && !r.text.contains(",\"=HYPERLINK"), "{}", r.text);
    assert!(r.text.contains("'=HYPERLINK"), "{}", r.text);
    // Totals rows close it: p1/jpy, p1/usd, p2/usd and the hostile one.
    assert_eq!(lines.iter().filter(|l| l.starts_with("total,")).count(), 4, "{}", r.text);
    assert!(
        lines.iter().any(|l| l.starts_with("total,")
            && l.contains(",p1,")
            && l.contains(",usd,2,350.00,73.45,276.55,0.00,13.45,0.00,")),
        "{}",
        r.text
    );
    // format= wins over Accept.
    let json = server
        .client()
        .raw("GET", &format!("/api/reports/holds?{ALL_TIME}&format=json"), None, &[("Accept", "text/csv")])
        .await;
    assert_eq!(json.headers["content-type"], "application/json");
    // An Accept that refuses CSV (q=0), or ranks JSON higher, gets JSON.
    for accept in ["text/csv;q=0", "text/csv;q=0.5, application/json"] {
        let r =
            server.client().raw("GET", &format!("/api/reports/holds?{ALL_TIME}"), None, &[("Accept", accept)]).await;
        assert_eq!(r.headers["content-type"], "application/json", "{accept}");
    }
}

#[tokio::test]
async fn a_report_shows_a_restricted_token_only_its_property_and_refuses_bad_periods() {
    let server = Server::start(crate::common::sqlite_db());
    seed(&server).await;
    let reader = token(&server.db, &["--scope", "holds:read", "--property", "p2"]);
    let r = server.client().with_token(&reader).get(&format!("/api/reports/holds?{ALL_TIME}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let props: Vec<&str> =
        r.body["rows"].as_array().unwrap().iter().map(|h| h["property_id"].as_str().unwrap()).collect();
    assert_eq!(props, ["p2", "p2"]);
    // Asking for another property gives nothing, not that property's money.
    let other = server.client().with_token(&reader).get(&format!("/api/reports/holds?{ALL_TIME}&property_id=p1")).await;
    assert_eq!(other.body["rows"].as_array().unwrap().len(), 0, "{}", other.text);
    assert_eq!(other.body["totals"], json!([]));
    assert_eq!(server.anon().get(&format!("/api/reports/holds?{ALL_TIME}")).await.status, 401);
    let tiers_only = token(&server.db, &["--scope", "tiers:override"]);
    assert_eq!(
        server.client().with_token(&tiers_only).get(&format!("/api/reports/claims?{ALL_TIME}")).await.status,
        403
    );

    for (query, field) in [
        ("to=2026-11-30", "from"),
        ("from=2026-11-01", "to"),
        ("from=2026-11-31&to=2026-12-01", "from"),
        ("from=2026-12-01&to=2026-11-01", "to"),
        ("from=2026-11-01&to=2026-11-30&format=xlsx", "format"),
        ("from=1764547200&to=2026-11-30", "from"),
    ] {
        let r = server.client().get(&format!("/api/reports/holds?{query}")).await;
        assert_eq!((r.status, r.body["details"]["field"].as_str()), (400, Some(field)), "{query}: {}", r.text);
    }
}

#[tokio::test]
async fn the_cli_and_the_consoles_download_give_the_same_csv_as_the_api() {
    let server = Server::start(crate::common::sqlite_db());
    seed(&server).await;
    let api_csv = server.client().get(&format!("/api/reports/holds?{ALL_TIME}&format=csv")).await.text;
    assert!(api_csv.starts_with("row,hold_id,"), "{api_csv}");

    let cli = |args: &[&str]| {
        std::process::Command::new(crate::common::server_bin())
            .args(["report", "--url", &server.base])
            .args(args)
            .env("CHITTYCHARGE_TOKEN", &server.token)
            .output()
            .unwrap()
    };
    let out = cli(&["--from", "2000-01-01", "--to", "2099-12-31"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), api_csv);
    let bad = cli(&["--from", "2026-12-01", "--to", "2026-11-01"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("HTTP 400: to must be after from"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url =
        format!("{}/console/reports?kind=holds&from=2000-01-01&to=2099-12-31&property_id=&format=csv", server.base);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 303, "signed out: to the sign-in page");
    let login = crate::console::sign_in(&http, &server.base, crate::common::TEST_TOKEN).await;
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = http.get(format!("{}/console/holds", server.base)).header("cookie", &session).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("action=\"/console/reports\""), "the holds page offers the download");
    let r = http.get(&url).header("cookie", &session).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), api_csv);
}

#[tokio::test]
async fn the_claims_report_has_a_row_per_damage_line_with_its_evidence_and_totals() {
    use crate::common::{authorize, booking, property};
    let server = Server::start(crate::common::sqlite_db());
    let api = server.client();
    property(&api, "4b", json!({})).await;
    booking(&api, "4b", "bk-1").await;
    let (status, auth) = authorize(&api, "bk-1").await;
    assert_eq!(status, 200, "{auth}");
    let damages = json!({"damages": [
        {"amount": 5_000, "description": "=cmd|' /C calc'!A0 lamp", "evidence_urls": ["https://photos.example/lamp.jpg", "https://photos.example/lamp2.jpg"]},
        {"amount": 2_500, "description": "Carpet cleaning"},
    ]});
    let r = api.post("/api/bookings/bk-1/checkout", damages).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let report = api.get(&format!("/api/reports/claims?{ALL_TIME}")).await.body;
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{report}");
    assert_eq!((rows[0]["line"].as_i64(), rows[0]["amount"].as_i64()), (Some(1), Some(5_000)));
    assert_eq!(
        rows[0]["evidence_urls"],
        json!(["https://photos.example/lamp.jpg", "https://photos.example/lamp2.jpg"])
    );
    assert_eq!((rows[1]["booking_id"].as_str(), rows[1]["property_id"].as_str()), (Some("bk-1"), Some("4b")));
    assert_eq!(report["totals"], json!([{"property_id": "4b", "currency": "usd", "lines": 2, "amount": 7_500}]));

    let csv = api.get(&format!("/api/reports/claims?{ALL_TIME}&format=csv")).await.text;
    assert!(csv.contains("'=cmd|"), "a formula is text: {csv}");
    assert!(csv.contains("https://photos.example/lamp.jpg https://photos.example/lamp2.jpg,50.00"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("total,") && l.ends_with(",usd,,2,,,75.00")), "{csv}");
}

#[tokio::test]
async fn a_hold_without_a_property_is_null_in_its_row_and_in_its_totals() {
    let server = Server::start(crate::common::sqlite_db());
    let api = server.client();
    let r = api
        .post(
            "/api/holds",
            json!({"amount": 4_200, "currency": "usd", "description": "Incidentals", "property_id": "",
                   "payment_method": "pm_card_visa", "confirm": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let report = api.get(&format!("/api/reports/holds?{ALL_TIME}")).await.body;
    assert_eq!(report["rows"][0]["property_id"], Value::Null, "{report}");
    assert_eq!(
        report["totals"],
        json!([{"property_id": null, "currency": "usd", "holds": 1, "authorized": 4_200,
        "captured": 0, "released": 0, "outstanding": 4_200, "refunded": 0, "disputed": 0, "estimated_fee": 0}])
    );
}
