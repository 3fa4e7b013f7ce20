//! The binary's own behaviour: first-start token, configuration errors,
//! the TOML file, and token management.

mod common;

use std::process::Command;

use common::{sqlite_db, Db, Server, BIN};

fn run(db: &Db, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("DATABASE_URL", db.url());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run chittycharge")
}

#[tokio::test]
async fn first_start_prints_a_working_token_once() {
    let db = sqlite_db();
    let env = vec![("CHITTYCHARGE_TEST_CLOCK".to_string(), "0".to_string())];
    let server = Server::spawn(db.clone(), env.clone(), String::new());
    assert!(server.banner.contains("processor: simulated"), "{}", server.banner);
    assert!(server.banner.contains("store: sqlite://"), "{}", server.banner);
    let token = server.banner.split("stored): ").nth(1).expect("token in banner").trim().to_string();
    assert!(token.starts_with("cc_"));
    let mut server = server;
    server.token = token.clone();
    assert_eq!(server.client().get("/api/holds").await.status, 200);
    let again = server.restart();
    assert!(!again.banner.contains(&token), "the token is printed only once");
    assert!(again.banner.contains("issued earlier"));
    assert_eq!(again.client().get("/api/holds").await.status, 200, "the stored hash still authenticates");
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
    assert_eq!(reader.get("/api/holds").await.status, 401);
    assert!(!run(&db, &["token", "create", "--scope", "root"], &[]).status.success());
}
