//! `cc-bench`: the measurements behind bench/run.sh. Each subcommand runs
//! for a fixed time or count and prints one JSON line of results.
#![expect(
    clippy::print_stdout,
    clippy::as_conversions,
    reason = "a benchmark prints what it measured, and its ratios are f64 arithmetic on counts and durations"
)]

mod creates;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::json;
use sqlx::Executor;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Durable single-row inserts per second into the store's database.
    Inserts {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 8)]
        seconds: u64,
    },
    /// Full hold flows per second: create, confirm, partial capture. With
    /// several `--url`s (instances on one database) each flow moves from
    /// one instance to the next at every step, and 409s are counted.
    Flows {
        #[arg(long = "url", required = true)]
        urls: Vec<String>,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 8)]
        seconds: u64,
    },
    /// Signed webhook events per second (verify + dedupe + apply).
    Webhooks {
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        secret: String,
        #[arg(long, default_value_t = 50)]
        holds: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 8)]
        seconds: u64,
    },
    /// Writes `count` holds straight into a store (with its migrations).
    Load {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
    },
    /// Creates one at a time against a service started with
    /// `CHITTYCHARGE_SERVER_TIMING`: its own share of each (creates.rs).
    Creates {
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 8)]
        seconds: u64,
    },
    /// Latency of list queries against a running service.
    Lists {
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx.min(v.len() - 1)]
}

async fn run_for<F, Fut>(concurrency: usize, seconds: u64, work: F) -> (u64, u64, f64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let work = Arc::new(work);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (ok, failed, next, work) = (ok.clone(), failed.clone(), next.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if work(n).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed), start.elapsed().as_secs_f64())
}

/// The baseline: the database's own durable single-row insert, one commit
/// each. On SQLite that is `synchronous=FULL` (an fsync per commit), not the
/// store's group commit, so the flows are compared with what the engine
/// offers on its own; on PostgreSQL it is the default `synchronous_commit`.
async fn baseline_pool(url: &str) -> anyhow::Result<sqlx::AnyPool> {
    connect(url).await?; // creates the file and runs the migrations
    let sqlite = url.starts_with("sqlite:");
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(if sqlite { 8 } else { 16 })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    conn.execute("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA synchronous=FULL;")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    Ok(pool)
}

async fn connect(url: &str) -> anyhow::Result<chittycharge_store::SqlStore> {
    Ok(chittycharge_store::SqlStore::connect(url).await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Inserts { database_url, concurrency, seconds } => {
            let pool = Arc::new(baseline_pool(&database_url).await?);
            pool.execute("CREATE TABLE IF NOT EXISTS bench_rows (id TEXT PRIMARY KEY, payload TEXT NOT NULL, created_at BIGINT NOT NULL)").await?;
            let s = pool.clone();
            let (ok, failed, secs) = run_for(concurrency, seconds, move |n| {
                let s = s.clone();
                async move {
                    sqlx::query("INSERT INTO bench_rows (id, payload, created_at) VALUES ($1, $2, $3)")
                        .bind(format!("{}-{n}", uuid::Uuid::new_v4().simple()))
                        .bind("{\"amount\":25000,\"currency\":\"usd\"}")
                        .bind(i64::try_from(n).unwrap_or(0))
                        .execute(&*s)
                        .await
                        .is_ok()
                }
            })
            .await;
            println!("{}", json!({"inserts_per_sec": ok as f64 / secs, "ok": ok, "failed": failed}));
        }
        Cmd::Flows { urls, token, concurrency, seconds } => {
            let http = reqwest::Client::new();
            let conflicts = Arc::new(AtomicU64::new(0));
            let counted = conflicts.clone();
            let (ok, failed, secs) = run_for(concurrency, seconds, move |n| {
                let (http, token, conflicts) = (http.clone(), token.clone(), counted.clone());
                let at = |step: u64| urls[usize::try_from(n + step).unwrap_or(0) % urls.len()].clone();
                let (url, next_url) = (at(0), at(1));
                async move {
                    let seen = |r: &reqwest::Response| {
                        if r.status() == reqwest::StatusCode::CONFLICT {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                    };
                    let create = http
                        .post(format!("{url}/api/holds"))
                        .header("ChittyID-Token", &token)
                        .json(&json!({"amount": 25000, "description": format!("bench {n}")}))
                        .send()
                        .await;
                    let Ok(r) = create else { return false };
                    let Ok(body) = r.json::<serde_json::Value>().await else { return false };
                    let Some(id) = body["id"].as_str().map(str::to_string) else { return false };
                    let confirm = http
                        .post(format!("{next_url}/api/holds/{id}/confirm"))
                        .header("ChittyID-Token", &token)
                        .json(&json!({"payment_method": "pm_card_visa"}))
                        .send()
                        .await;
                    if let Ok(r) = &confirm {
                        seen(r);
                    }
                    if !confirm.is_ok_and(|r| r.status().is_success()) {
                        return false;
                    }
                    let cap = http
                        .post(format!("{url}/api/holds/{id}/capture"))
                        .header("ChittyID-Token", &token)
                        .json(&json!({"amount_to_capture": 5000}))
                        .send()
                        .await;
                    if let Ok(r) = &cap {
                        seen(r);
                    }
                    cap.is_ok_and(|r| r.status().is_success())
                }
            })
            .await;
            let conflicts = conflicts.load(Ordering::Relaxed);
            println!(
                "{}",
                json!({"flows_per_sec": ok as f64 / secs, "ok": ok, "failed": failed, "conflicts": conflicts})
            );
        }
        Cmd::Creates { url, token, seconds } => println!("{}", creates::run(&url, &token, seconds).await?),
        Cmd::Webhooks { url, token, secret, holds, concurrency, seconds } => {
            let http = reqwest::Client::new();
            let mut ids = Vec::new();
            for i in 0..holds {
                let r: serde_json::Value = http
                    .post(format!("{url}/api/holds"))
                    .header("ChittyID-Token", &token)
                    .json(&json!({"amount": 1000 + i, "description": "webhook bench", "payment_method": "pm_card_visa", "confirm": true}))
                    .send()
                    .await?
                    .json()
                    .await?;
                ids.push(r["id"].as_str().unwrap_or_default().to_string());
            }
            let ids = Arc::new(ids);
            let (ok, failed, secs) = run_for(concurrency, seconds, move |n| {
                let (http, url, secret, ids) = (http.clone(), url.clone(), secret.clone(), ids.clone());
                async move {
                    let pi = &ids[usize::try_from(n).unwrap_or(0) % ids.len()];
                    let payload = json!({"id": format!("evt_bench_{n}_{}", uuid::Uuid::new_v4().simple()), "type": "payment_intent.amount_capturable_updated",
                        "data": {"object": {"id": pi, "object": "payment_intent"}}})
                    .to_string();
                    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                    let sig = chittycharge_processor::stripe::signature::sign(payload.as_bytes(), secret.as_bytes(), i64::try_from(t).unwrap_or(0));
                    let r = http.post(format!("{url}/webhook")).header("Stripe-Signature", sig).body(payload).send().await;
                    r.is_ok_and(|r| r.status().is_success())
                }
            })
            .await;
            println!("{}", json!({"events_per_sec": ok as f64 / secs, "ok": ok, "failed": failed}));
        }
        Cmd::Load { database_url, count } => {
            let store = connect(&database_url).await?;
            let start = Instant::now();
            let batch = 500u64;
            let now: i64 = 1_760_000_000_000;
            let mut done = 0u64;
            while done < count {
                let n = batch.min(count - done);
                let mut sql = String::from(
                    "INSERT INTO holds (id, chitty_id, processor, client_secret, status, amount, amount_capturable, amount_captured, amount_released, currency, description, customer_email, property_id, tenant_id, tier, tier_reason, metadata, created_at, updated_at, version) VALUES ",
                );
                for i in 0..n {
                    let k = done + i;
                    let (status, capturable, captured, released) = match k % 4 {
                        0 => ("requires_capture", 25_000, 0, 0),
                        1 => ("captured", 0, 5_000, 20_000),
                        2 => ("canceled", 0, 0, 25_000),
                        _ => ("requires_payment_method", 0, 0, 0),
                    };
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!(
                        "('pi_load{k:010}', 'CHITTY-AUTH-LOAD-{k:010}', 'simulated', 'pi_load{k:010}_secret_x', '{status}', 25000, {capturable}, {captured}, {released}, 'usd', 'Incidentals', 'guest{}@example.com', 'prop-{}', 'tenant-{}', 'NEW_GUEST', 'load', '{{}}', {}, {}, 0)",
                        k % 50_000,
                        k % 200,
                        k % 50_000,
                        now + i64::try_from(k).unwrap_or(0),
                        now + i64::try_from(k).unwrap_or(0),
                    ));
                }
                let mut tx = store.pool().begin().await?;
                tx.execute(sql.as_str()).await?;
                tx.commit().await?;
                done += n;
            }
            // As a clean stop of the server leaves it: the log copied into the
            // database file and emptied. Left as it was, a million holds
            // stay in a log of several GB, which no running server would
            // keep, and every read of row (d) looked pages up in it.
            chittycharge_store::Store::close(&store).await?;
            println!("{}", json!({"loaded": done, "seconds": start.elapsed().as_secs_f64()}));
        }
        Cmd::Lists { url, token, rounds } => {
            let http = reqwest::Client::new();
            let mut lat = Vec::new();
            let queries = [
                "/api/holds?limit=50",
                "/api/holds?limit=50&property_id=prop-17",
                "/api/holds?limit=50&status=captured",
                "/api/holds?limit=50&tenant_id=tenant-123",
            ];
            for i in 0..rounds {
                let q = queries[i % queries.len()];
                let start = Instant::now();
                let r = http.get(format!("{url}{q}")).header("ChittyID-Token", &token).send().await?;
                let ok = r.status().is_success();
                let _ = r.bytes().await?;
                lat.push(start.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(ok, "list query {q} failed");
            }
            println!("{}", json!({"list_p50_ms": percentile(lat.clone(), 0.5), "list_p99_ms": percentile(lat, 0.99)}));
        }
    }
    Ok(())
}
