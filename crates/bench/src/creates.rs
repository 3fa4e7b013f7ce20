//! What a create adds to the processor's time: creates one after another
//! (one connection) against a service started with
//! `CHITTYCHARGE_SERVER_TIMING`, whose `Server-Timing` header splits each
//! request into the processor's time, ChittyID's and the rest (`app`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One header's durations in ms, by name.
fn timings(header: &str) -> Vec<(String, f64)> {
    header
        .split(',')
        .filter_map(|part| {
            let (name, dur) = part.trim().split_once(";dur=")?;
            Some((name.to_string(), dur.parse().ok()?))
        })
        .collect()
}

pub(crate) async fn run(url: &str, token: &str, seconds: u64) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut app, mut total, mut processor, mut chittyid, mut client) = (vec![], vec![], vec![], vec![], vec![]);
    let mut n = 0_u64;
    while Instant::now() < deadline {
        n += 1;
        let start = Instant::now();
        let r = http
            .post(format!("{url}/api/holds"))
            .header("ChittyID-Token", token)
            .json(&json!({"amount": 25000, "description": format!("create {n}"), "payment_method": "pm_card_visa", "confirm": true}))
            .send()
            .await?;
        let status = r.status();
        let header = r.headers().get("server-timing").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body: Value = r.json().await?;
        client.push(start.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status.is_success(), "create answered {status}: {body}");
        let Some(header) = header else {
            anyhow::bail!("no Server-Timing header: start the service with CHITTYCHARGE_SERVER_TIMING=1")
        };
        for (name, ms) in timings(&header) {
            match name.as_str() {
                "app" => app.push(ms),
                "total" => total.push(ms),
                "processor" => processor.push(ms),
                "chittyid" => chittyid.push(ms),
                _ => {}
            }
        }
        anyhow::ensure!(
            body["chitty_id"].as_str().is_some_and(|c| !c.starts_with("PENDING")),
            "the create did not mint a ChittyID: {body}"
        );
    }
    let p = crate::percentile;
    Ok(json!({
        "creates": n,
        "app_p50_ms": p(app.clone(), 0.5),
        "app_p99_ms": p(app, 0.99),
        "total_p50_ms": p(total, 0.5),
        "processor_p50_ms": p(processor, 0.5),
        "chittyid_p50_ms": p(chittyid, 0.5),
        "client_p50_ms": p(client, 0.5),
    }))
}

#[cfg(test)]
mod tests {
    use super::timings;

    #[test]
    fn a_server_timing_header_is_read_into_named_durations() {
        let t = timings("total;dur=6.001, processor;dur=4.000, chittyid;dur=0.500, app;dur=1.501");
        assert_eq!(t[3], ("app".to_string(), 1.501));
        assert_eq!(t.len(), 4);
    }
}
