//! A server that survives the ground giving way: slow clients, too many
//! connections, a database it cannot write or cannot reach, a log it cannot
//! write, and health checks that must stay cheap.

use std::process::Command;

use crate::common::{sqlite_db, Server, BIN, TEST_TOKEN};
use serde_json::json;

mod slow {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    /// Whether the server closed `s` (end of stream or reset) within `wait`.
    pub fn closed_within(s: &TcpStream, wait: Duration) -> bool {
        let mut s = s;
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            match s.read(&mut buf) {
                Ok(0) => return true,
                // A response (say, to a slow body): keep reading to the end.
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }

    pub fn connect(addr: &str) -> TcpStream {
        TcpStream::connect(addr).expect("connect")
    }

    pub fn trickle(s: &mut TcpStream, bytes: &[u8]) {
        let _ = s.write_all(bytes);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_trickling_and_slow_body_sockets_are_closed_while_livez_stays_fast() {
    use std::time::{Duration, Instant};
    let server = Server::start_with(
        sqlite_db(),
        &[("CHITTYCHARGE_HEADER_READ_TIMEOUT_MS", "1000"), ("CHITTYCHARGE_BODY_TIMEOUT_MS", "1000")],
    );
    let addr = server.base.trim_start_matches("http://").to_string();
    let (idle, trickling, slow_body) = (60, 60, 40);
    let idle_socks: Vec<_> = (0..idle).map(|_| slow::connect(&addr)).collect();
    let mut trickle_socks: Vec<_> = (0..trickling)
        .map(|_| {
            let mut s = slow::connect(&addr);
            slow::trickle(&mut s, b"GET /livez HTTP/1.1\r\n");
            s
        })
        .collect();
    let body_socks: Vec<_> = (0..slow_body)
        .map(|_| {
            let mut s = slow::connect(&addr);
            slow::trickle(
                &mut s,
                format!("POST /webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"id\"")
                    .as_bytes(),
            );
            s
        })
        .collect();
    // Keep trickling header bytes while checking that /livez answers fast.
    let anon = server.anon();
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    while start.elapsed() < Duration::from_millis(1_500) {
        for s in &mut trickle_socks {
            slow::trickle(s, b"X");
        }
        let t = Instant::now();
        assert_eq!(anon.get("/livez").await.status, 200);
        slowest = slowest.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(slowest < Duration::from_secs(1), "/livez took {slowest:?} under the slow clients");
    let wait = Duration::from_millis(2_500);
    let open_idle = idle_socks.iter().filter(|s| !slow::closed_within(s, wait)).count();
    let open_trickle = trickle_socks.iter().filter(|s| !slow::closed_within(s, wait)).count();
    let open_body = body_socks.iter().filter(|s| !slow::closed_within(s, wait)).count();
    println!("slow clients: {idle} idle, {trickling} trickling, {slow_body} slow bodies; still open: {open_idle}, {open_trickle}, {open_body}");
    assert_eq!((open_idle, open_trickle, open_body), (0, 0, 0));
    assert_eq!(anon.get("/livez").await.status, 200);
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once() {
    use std::time::Duration;
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_MAX_CONNECTIONS", "5")]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut held: Vec<_> = (0..5).map(|_| slow::connect(&addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let extra = slow::connect(&addr);
    assert!(slow::closed_within(&extra, Duration::from_secs(2)), "the 6th connection is closed");
    drop(held.drain(..));
}

#[test]
fn serve_refuses_a_database_it_cannot_write() {
    let db = sqlite_db();
    let mut first = Server::start(db.clone());
    first.kill9();
    let out = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", format!("{}?mode=ro", db.url()))
        .env("CHITTYCHARGE_API_TOKEN", TEST_TOKEN)
        .env("CHITTYCHARGE_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be written"), "{err}");
}

/// Linux's /dev/full refuses every write.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_service_whose_log_cannot_be_written_keeps_answering_and_running_jobs() {
    let full = std::path::Path::new("/dev/full");
    assert!(full.exists(), "Linux has /dev/full");
    let server = Server::start_logged(
        sqlite_db(),
        &[
            ("RUST_LOG", "info"),
            ("CHITTYCHARGE_TEST_CLOCK", "1"),
            ("CHITTYCHARGE_JOBS_INTERVAL_MS", "100"),
            // Past two failures each one is logged as a warning.
            ("CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE", "2"),
        ],
        full,
    );
    let api = server.client();
    for _ in 0..5 {
        // Requests that log: failed authentications and ordinary traffic.
        let s = api.with_token("cc_nope_0000").get("/api/holds").await.status;
        assert!(s == 401 || s == 429, "{s}");
        assert_eq!(api.post("/api/holds", json!({"amount": 5000, "description": "x"})).await.status, 201);
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let ready = server.anon().get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.body["job_runner"]["status"], "ok");
    let metrics = api.get("/metrics").await.text;
    assert!(metrics.contains("chittycharge_log_write_errors_total"), "failed log writes are counted");
}

/// A TCP proxy that can freeze: connections stay open and nothing moves,
/// as in a network partition (the worst kind of database outage).
struct FreezingProxy {
    port: u16,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FreezingProxy {
    async fn start(upstream: String) -> FreezingProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let f = f.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let pump = |mut from: tokio::net::tcp::OwnedReadHalf,
                                mut to: tokio::net::tcp::OwnedWriteHalf,
                                f: std::sync::Arc<std::sync::atomic::AtomicBool>| async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let Ok(n) = from.read(&mut buf).await else { return };
                            if n == 0 {
                                return;
                            }
                            while f.load(Ordering::SeqCst) {
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                            if to.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let a = tokio::spawn(pump(cr, sw, f.clone()));
                    let b = tokio::spawn(pump(sr, cw, f));
                    let _ = tokio::join!(a, b);
                });
            }
        });
        FreezingProxy { port, frozen }
    }
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_answers_503_within_three_seconds_of_a_database_partition() {
    use std::time::{Duration, Instant};
    let crate::common::Db::Postgres(url) = crate::common::postgres_db() else {
        unreachable!("postgres_db is PostgreSQL")
    };
    // postgres://user@host:port/db → the same through the proxy.
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (hostport, db) = rest.split_once('/').unwrap();
    let proxy = FreezingProxy::start(hostport.to_string()).await;
    let via = format!("{scheme_user}@127.0.0.1:{}/{db}", proxy.port);
    let server = Server::start(crate::common::Db::Postgres(via));
    let anon = server.anon();
    assert_eq!(anon.get("/readyz").await.status, 200);
    proxy.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    let cut = Instant::now();
    let mut first_503 = None;
    while cut.elapsed() < Duration::from_secs(6) {
        let t = Instant::now();
        let r = anon.get("/readyz").await;
        assert!(t.elapsed() < Duration::from_millis(2_500), "/readyz took {:?}", t.elapsed());
        if r.status == 503 {
            assert_eq!(r.body["store"]["status"], "down", "{}", r.text);
            first_503 = Some(cut.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = first_503.expect("/readyz never reported the outage");
    println!("readyz: 503 {first:?} after the partition began");
    assert!(first < Duration::from_secs(3), "{first:?}");
    let t = Instant::now();
    assert_eq!(anon.get("/livez").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(500));
    proxy.frozen.store(false, std::sync::atomic::Ordering::SeqCst);
}

#[ignore = "needs the Stripe emulator (localstripe): run scripts/test.sh"]
#[tokio::test]
async fn health_checks_in_stripe_mode_do_not_call_stripe_on_every_hit() {
    let emu = crate::common::Emulator::start();
    let proxy = crate::common::FaultProxy::start(emu.url(), 0.0, 1);
    let env = crate::common::stripe_env(proxy.url());
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with(sqlite_db(), &pairs);
    let counts = || async {
        let r = reqwest::get(format!("{}/_fault/counts", proxy.url())).await.unwrap();
        r.json::<serde_json::Value>().await.unwrap()["forwarded"].as_i64().unwrap()
    };
    let before = counts().await;
    let anon = server.anon();
    for _ in 0..30 {
        assert_eq!(anon.get("/health").await.status, 200);
        assert_eq!(anon.get("/readyz").await.status, 200);
    }
    let calls = counts().await - before;
    assert!(calls <= 3, "60 health checks made {calls} Stripe calls");
}

/// A dependency that hangs (here ChittyID: it accepts and never answers)
/// makes every probe use its whole one-second budget. Only the very first
/// health check may wait for one; after that the answers come from the last
/// result while a probe runs in the background, and the outage shows.
#[tokio::test]
async fn health_checks_never_wait_for_a_hanging_dependency_after_the_first() {
    use std::time::{Duration, Instant};
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", hang.local_addr().unwrap());
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for conn in hang.incoming().flatten() {
            keep.lock().unwrap().push(conn);
        }
    });
    let server = Server::start_with(sqlite_db(), &[("CHITTY_ID_URL", url.as_str()), ("CHITTY_ID_TOKEN", "tok")]);
    let anon = server.anon();
    let first = anon.get("/health").await;
    assert_eq!(first.body["chittyid"]["status"], "down", "{}", first.text);
    let probe_budget = Duration::from_millis(1_000);
    let until = Instant::now() + Duration::from_millis(3_500);
    let mut answers = 0;
    while Instant::now() < until {
        for path in ["/health", "/readyz"] {
            let t = Instant::now();
            let r = anon.get(path).await;
            // A request that waited for a probe took the probe's whole budget.
            assert!(t.elapsed() < probe_budget, "{path} waited for a probe: {:?}", t.elapsed());
            assert!(r.status == 200, "{path}: ChittyID is not needed to be ready: {}", r.text);
            answers += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answers > 20, "{answers}");
    assert!(held.lock().unwrap().len() >= 3, "probes kept running in the background while answers were served");
}

#[test]
fn a_body_sent_a_byte_at_a_time_gets_one_deadline_in_all() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_BODY_TIMEOUT_MS", "1000")]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut s = slow::connect(&addr);
    s.write_all(format!("POST /webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 20\r\n\r\n").as_bytes()).unwrap();
    let start = Instant::now();
    // One byte every 200 ms would take 4 s; the deadline is 1 s in all.
    let mut closed_at = None;
    for _ in 0..20 {
        if s.write_all(b" ").is_err() || slow::closed_within(&s, Duration::from_millis(200)) {
            closed_at = Some(start.elapsed());
            break;
        }
    }
    let at = closed_at.expect("the slow body was never cut off");
    assert!(at < Duration::from_millis(2_500), "cut off after {at:?}");
}

#[test]
fn a_body_that_misses_its_deadline_gets_408_with_or_without_an_idempotency_key() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_BODY_TIMEOUT_MS", "500")]);
    let addr = server.base.trim_start_matches("http://").to_string();
    for key in ["", "Idempotency-Key: slow-1\r\n"] {
        // Ten bytes promised, two sent, and the socket left open: the
        // server answers at the deadline (raw_http reads until it closes).
        let request = format!(
            "POST /api/holds HTTP/1.1\r\nHost: {addr}\r\nChittyID-Token: {TEST_TOKEN}\r\n{key}\
             Content-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{{}}"
        );
        let answer = crate::common::raw_http(&addr, request.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 408"), "{key:?}: {answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    }
    // The key is not left in flight: the same request, sent whole, places
    // its hold.
    let body = r#"{"amount":5000,"description":"slow"}"#;
    let request = format!(
        "POST /api/holds HTTP/1.1\r\nHost: {addr}\r\nChittyID-Token: {TEST_TOKEN}\r\nIdempotency-Key: slow-1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = crate::common::raw_http(&addr, request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}
