//! The binary's own behaviour: first-start token, configuration errors,
//! the TOML file, and token management.

use std::process::Command;

use crate::common::{sqlite_db, Db, Server, BIN};

fn run(db: &Db, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("DATABASE_URL", db.url());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run chittycharge")
}

#[tokio::test]
async fn first_start_prints_a_working_token_once_on_stderr() {
    let db = sqlite_db();
    let server = Server::first_start(db, &[("CHITTYCHARGE_TEST_CLOCK", "0")]);
    assert!(server.banner.contains("processor: simulated"), "{}", server.banner);
    assert!(server.banner.contains("store: sqlite://"), "{}", server.banner);
    assert!(server.banner.contains("printed once on stderr"), "{}", server.banner);
    let token = server.token.clone();
    assert_eq!(server.client().get("/api/holds").await.status, 200);
    let again = server.restart();
    assert!(!again.banner.contains(&token), "the token is printed only once");
    assert!(again.banner.contains("issued earlier"));
    assert_eq!(again.client().get("/api/holds").await.status, 200, "the stored hash still authenticates");
}

#[cfg(unix)]
#[tokio::test]
async fn with_a_token_file_the_first_token_is_written_there_for_its_owner_only() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    let db = sqlite_db();
    let Db::Sqlite(path) = &db else { unreachable!() };
    let dir = path.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    // A new file (an existing one is refused: operator.rs).
    let file = dir.join("token");
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--token-file"])
        .arg(&file)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.url())
        .env("CHITTYCHARGE_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut banner).unwrap();
    let token = std::fs::read_to_string(&file).unwrap().trim().to_string();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    let mut server = Server::attach(db.clone(), banner, child);
    server.token = token.clone();
    let listed = server.client().get("/api/holds").await.status;
    let stderr = server.stop_reading_stderr();
    assert!(token.starts_with("cc_"), "{token:?}");
    assert_eq!(mode, 0o600, "only the owner may read the token");
    assert!(server.banner.contains(&format!("written to {}", file.display())), "{}", server.banner);
    assert!(!server.banner.contains(&token) && !stderr.contains(&token), "the token appears nowhere else: {stderr}");
    assert_eq!(listed, 200, "the token in the file authenticates");
}

#[test]
fn an_invalid_setting_stops_start_up_naming_the_key() {
    let db = sqlite_db();
    for (key, value) in
        [("CURRENCY", "xyz"), ("CHITTYCHARGE_LISTEN", "not-an-address"), ("CHITTYCHARGE_PROCESSOR", "paypal")]
    {
        let out = run(&db, &["serve"], &[(key, value)]);
        assert!(!out.status.success(), "{key}={value} must not start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{key}: {stderr}");
    }
}

#[tokio::test]
async fn settings_can_come_from_a_toml_file() {
    let db = sqlite_db();
    let Db::Sqlite(path) = &db else { unreachable!() };
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = path.parent().unwrap().join("chittycharge.toml");
    std::fs::write(&file, "currency = \"eur\"\nchittycharge_api_token = \"cc_toml_token_000000000000000001\"\n")
        .unwrap();
    let env = vec![("CHITTYCHARGE_CONFIG".to_string(), file.display().to_string())];
    let server = Server::spawn(db, env, "cc_toml_token_000000000000000001".into());
    let r = server.client().post("/api/holds", serde_json::json!({"amount": 1000, "description": "x"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["currency"], "eur");
}

#[tokio::test]
async fn tokens_are_created_listed_scoped_and_revoked_from_the_cli() {
    let db = sqlite_db();
    let server = Server::start(db.clone());
    let out = run(&db, &["token", "create", "--name", "reader", "--scope", "holds:read"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let reader = server.client().with_token(&token);
    assert_eq!(reader.get("/api/holds").await.status, 200);
    let write = reader.post("/api/holds", serde_json::json!({"amount": 1000, "description": "x"})).await;
    assert_eq!(write.status, 403, "a read-only token cannot mutate");

    let list = run(&db, &["token", "list"], &[]);
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(listing.contains("reader") && listing.contains("holds:read"), "{listing}");
    assert!(!listing.contains(&token), "token values are never listed");
    let id =
        listing.lines().find(|l| l.contains("reader")).and_then(|l| l.split_whitespace().next()).unwrap().to_string();

    assert!(run(&db, &["token", "revoke", &id], &[]).status.success());
    // Token records are cached for 2 s; a revocation takes effect within that.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(reader.get("/api/holds").await.status, 401);
    assert!(!run(&db, &["token", "create", "--scope", "root"], &[]).status.success());
}

fn cli(server: &Server, args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(args)
        .arg("--json")
        .env_clear()
        .env("CHITTYCHARGE_URL", &server.base)
        .env("CHITTYCHARGE_TOKEN", &server.token)
        .output()
        .expect("run the CLI");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

#[tokio::test]
async fn the_cli_drives_the_readme_walkthrough_over_http() {
    let server = Server::start(sqlite_db());
    let created = cli(
        &server,
        &[
            "holds",
            "create",
            "--amount",
            "25000",
            "--description",
            "Incidentals - Unit 4B",
            "--email",
            "guest@example.com",
        ],
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "requires_payment_method");
    assert_eq!(
        cli(&server, &["holds", "confirm", &id, "--payment-method", "pm_card_visa"])["status"],
        "requires_capture"
    );
    let cap = cli(&server, &["holds", "capture", &id, "--amount", "5000", "--reason", "broken lamp"]);
    assert_eq!((cap["amount_captured"].as_i64(), cap["amount_released"].as_i64()), (Some(5000), Some(20000)));
    let other = cli(
        &server,
        &["holds", "create", "--amount", "10000", "--description", "Unit 7", "--payment-method", "pm_card_visa"],
    );
    let other_id = other["id"].as_str().unwrap();
    assert_eq!(cli(&server, &["holds", "cancel", other_id, "--reason", "checked out clean"])["status"], "canceled");
    let list = cli(&server, &["holds", "list", "--limit", "10"]);
    assert_eq!(list["holds"].as_array().unwrap().len(), 2);
    // Table output is the default.
    let out = Command::new(BIN)
        .args(["holds", "list", "--url", &server.base, "--token", &server.token])
        .env_clear()
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().next().unwrap().starts_with("id"), "{table}");
    assert!(table.contains(&id) && table.contains("captured") && table.contains("canceled"), "{table}");
    // Properties and bookings too.
    cli(&server, &["properties", "create", "4b", "--name", "Unit 4B", "--premium", "--default-hold-amount", "40000"]);
    // An update changes what it names and keeps the rest.
    let p = cli(&server, &["properties", "create", "4b", "--name", "Unit 4B (garden)"]);
    assert_eq!(
        (p["name"].as_str(), p["premium"].as_bool(), p["default_hold_amount"].as_i64()),
        (Some("Unit 4B (garden)"), Some(true), Some(40_000))
    );
    let p = cli(&server, &["properties", "create", "4b", "--premium", "false", "--default-hold-amount", "25000"]);
    assert_eq!(
        (p["name"].as_str(), p["premium"].as_bool(), p["default_hold_amount"].as_i64()),
        (Some("Unit 4B (garden)"), Some(false), Some(25_000))
    );
    cli(
        &server,
        &[
            "bookings",
            "create",
            "bk-9",
            "--property",
            "4b",
            "--guest",
            "Pat",
            "--check-in",
            "2026-12-01",
            "--check-out",
            "2026-12-03",
        ],
    );
    assert_eq!(
        cli(&server, &["bookings", "authorize", "bk-9", "--payment-method", "pm_card_visa"])["booking_status"],
        "hold_active"
    );
    let out = cli(&server, &["bookings", "checkout", "bk-9", "--damage", "1500:Towel"]);
    assert_eq!(out["amount_charged"], 1500);
}

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_refuses_to_start_naming_the_key() {
    let server = Server::start(sqlite_db());
    let started = std::time::Instant::now();
    let out = run(&server.db, &["serve"], &[("CHITTYCHARGE_LISTEN", "127.0.0.1:0")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second server must not run: {err}");
    assert!(err.contains("DATABASE_URL") && err.contains("in use by another ChittyCharge server"), "{err}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(9), "it waits for a previous server to exit first");
    assert_eq!(server.client().get("/api/holds").await.status, 200, "the first server is unaffected");
}
