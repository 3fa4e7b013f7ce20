//! The operator's side of the binary: only `serve` and `migrate` change the
//! schema, a schema newer than the binary is refused, `migrate --check`
//! says what would run, `config check` validates without starting, and exit
//! codes tell a finding (1) from a configuration error (2) from a store that
//! cannot be reached (3).

use std::process::{Command, Output};

use crate::common::{authorize, booking, property, sqlite_db, Db, Server, BIN};
use serde_json::json;

fn run(db: &Db, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("DATABASE_URL", db.url());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run chittycharge")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn migrate_check_says_what_would_run_and_other_commands_never_migrate() {
    let db = sqlite_db();
    let check = run(&db, &[], &["migrate", "--check"]);
    assert_eq!(code(&check), 1, "pending migrations are a finding: {}", out(&check));
    assert!(out(&check).contains("would apply 1 "), "{}", out(&check));
    let tokens = run(&db, &[], &["token", "list"]);
    assert_eq!(code(&tokens), 2, "{}", out(&tokens));
    let migrate = run(&db, &[], &["migrate"]);
    assert_eq!(code(&migrate), 0, "{}", out(&migrate));
    let check = run(&db, &[], &["migrate", "--check"]);
    assert_eq!(code(&check), 0, "{}", out(&check));
    assert!(out(&check).contains("up to date"), "{}", out(&check));
    assert_eq!(code(&run(&db, &[], &["token", "list"])), 0);
}

/// Records a migration newer than any this binary knows, as a newer
/// release's `migrate` would.
fn from_the_future(db: &Db) {
    let Db::Sqlite(path) = db else { unreachable!() };
    let status = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99990101000000, 'from a newer release', 1, x'00', 0)\"); c.commit()",
        ])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_schema_newer_than_the_binary_is_refused_by_every_command_naming_both_versions() {
    let db = sqlite_db();
    assert_eq!(code(&run(&db, &[], &["migrate"])), 0);
    from_the_future(&db);
    for args in [&["serve"][..], &["migrate"], &["token", "list"], &["audit"]] {
        let o = run(&db, &[("CHITTYCHARGE_LISTEN", "127.0.0.1:0")], args);
        assert_eq!(code(&o), 3, "{args:?}: {}", out(&o));
        assert!(
            out(&o).contains("schema is at version 99990101000000, newer than this binary knows"),
            "{args:?}: {}",
            out(&o)
        );
    }
    let check = run(&db, &[], &["migrate", "--check"]);
    assert_eq!(code(&check), 2, "{}", out(&check));
}

#[test]
fn config_check_validates_without_starting_and_names_the_key_at_fault() {
    let db = sqlite_db();
    let ok = run(&db, &[], &["config", "check"]);
    assert_eq!(code(&ok), 0, "{}", out(&ok));
    assert!(out(&ok).contains("configuration is valid") && out(&ok).contains("processor: simulated"), "{}", out(&ok));
    let Db::Sqlite(path) = &db else { unreachable!() };
    assert!(!path.exists(), "checking the configuration opens nothing");
    let bad = run(&db, &[("STRIPE_JS_URL", "http://cdn.example.com/stripe.js")], &["config", "check"]);
    assert_eq!(code(&bad), 2, "{}", out(&bad));
    assert!(out(&bad).contains("STRIPE_JS_URL"), "{}", out(&bad));
    let secret = run(&db, &[("STRIPE_SECRET_KEY", "sk_test_do_not_print_me")], &["config", "check"]);
    assert!(!out(&secret).contains("do_not_print_me"), "secrets never printed: {}", out(&secret));
}

#[tokio::test]
async fn exit_codes_tell_a_finding_from_a_mistake_from_an_unreachable_store() {
    let unreachable = Db::Postgres("postgres://nobody@127.0.0.1:1/none".into());
    let o = run(&unreachable, &[], &["token", "list"]);
    assert_eq!(code(&o), 3, "{}", out(&o));
    let server = Server::start(sqlite_db());
    let api = server.client();
    assert_eq!(code(&run(&server.db, &[("CURRENCY", "xyz")], &["audit"])), 2);
    assert_eq!(code(&run(&server.db, &[], &["token", "create", "--scope", "everything"])), 2);
    let clean = run(&server.db, &[], &["audit", "--json"]);
    assert_eq!(code(&clean), 0, "{}", out(&clean));
    // A settled booking whose hold is live: a finding.
    property(&api, "lake", json!({})).await;
    booking(&api, "lake", "bk-x").await;
    assert_eq!(authorize(&api, "bk-x").await.0, 200);
    let Db::Sqlite(path) = &server.db else { unreachable!() };
    let status = Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE bookings SET status='settled', settled_at=1\"); c.commit()"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
    let found = run(&server.db, &[], &["audit", "--json"]);
    assert_eq!(code(&found), 1, "{}", out(&found));
    let report: serde_json::Value = serde_json::from_slice(&found.stdout).expect("JSON report");
    assert_eq!(report["discrepancies"].as_array().unwrap().len(), 1, "{report}");
    assert!(report["holds_checked"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn a_stopped_service_logs_its_drain_and_end_without_colour_codes_in_a_file() {
    let dir = std::env::temp_dir().join(format!("cc-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("server.log");
    let mut server =
        Server::start_logged(sqlite_db(), &[("RUST_LOG", "info"), ("CHITTYCHARGE_SHUTDOWN_GRACE_MS", "2000")], &log);
    assert_eq!(server.client().get("/api/holds").await.status, 200);
    let status = server.terminate();
    assert!(status.success(), "a clean stop: {status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("shutting down: finishing requests in flight") && text.contains("grace_ms=2000"), "{text}");
    assert!(text.contains("stopped"), "{text}");
    assert!(!text.contains('\u{1b}'), "no terminal colour codes in a log file: {text:?}");
}

#[test]
fn bash_completion_completes_commands_and_options() {
    let db = sqlite_db();
    let script = run(&db, &[], &["completions", "bash"]);
    assert_eq!(code(&script), 0, "{}", out(&script));
    // As bash calls a completion function: the words, the index of the one
    // being completed, and as arguments the command, that word and the one before.
    let complete = |words: &str, cword: usize| {
        let o = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "source /dev/stdin; COMP_WORDS=({words}); COMP_CWORD={cword}; \
                     _chittycharge chittycharge \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
                     echo \"${{COMPREPLY[@]}}\""
                ),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                std::io::Write::write_all(child.stdin.as_mut().unwrap(), &script.stdout)?;
                child.wait_with_output()
            })
            .unwrap();
        String::from_utf8_lossy(&o.stdout).split_whitespace().map(String::from).collect::<Vec<_>>()
    };
    let commands = complete("chittycharge ba", 1);
    assert!(commands.contains(&"backup".to_string()), "{commands:?}");
    let options = complete("chittycharge restore --f", 2);
    assert!(options.contains(&"--force".to_string()), "{options:?}");
    let bad = run(&db, &[], &["completions", "tcsh"]);
    assert_eq!(code(&bad), 2, "an unknown shell is a usage error: {}", out(&bad));
}

#[test]
fn token_list_prints_aligned_columns_a_script_can_split() {
    let db = sqlite_db();
    assert_eq!(code(&run(&db, &[], &["migrate"])), 0);
    let made =
        run(&db, &[], &["token", "create", "--name", "front desk", "--scope", "holds:write", "--property", "lake"]);
    assert_eq!(code(&made), 0, "{}", out(&made));
    let list = run(&db, &[], &["token", "list"]);
    let stdout = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "NAME", "SCOPES", "LIMIT", "STATUS"],
        "{stdout}"
    );
    let row = lines[1];
    assert!(row.starts_with("tok_") && row.contains("front desk") && row.contains("holds:write [lake]"), "{stdout}");
    assert!(row.trim_end().ends_with("active"), "{stdout}");
    // Columns line up: STATUS starts where each row's status does.
    assert_eq!(lines[0].find("STATUS"), row.find("active"), "{stdout}");
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('│'), "no styling in a pipe: {stdout}");
}

/// The first token's file must be new: an existing file, a symlink (even
/// a dangling one) or a missing directory is refused before any token is
/// made, so none exists that nobody has, and the next start makes one.
#[tokio::test]
async fn a_token_file_that_exists_or_is_a_symlink_is_refused_before_any_token_is_made() {
    use std::os::unix::fs::PermissionsExt;
    let db = sqlite_db();
    let Db::Sqlite(path) = &db else { unreachable!() };
    let dir = path.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
    for target in [link.clone(), dangling.clone(), victim.clone(), dir.join("missing/dir/token")] {
        let o =
            run(&db, &[("CHITTYCHARGE_LISTEN", "127.0.0.1:0")], &["serve", "--token-file", target.to_str().unwrap()]);
        assert_eq!(code(&o), 2, "{}: {}", target.display(), out(&o));
        assert!(out(&o).contains("no token was made"), "{}", out(&o));
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "nothing written through a symlink");
    assert_eq!(std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777, 0o644);
    assert!(!dir.join("nowhere").exists(), "a dangling symlink's target is not created");
    let list = run(&db, &[], &["token", "list"]);
    let rows = String::from_utf8_lossy(&list.stdout).lines().filter(|l| l.starts_with("tok_")).count();
    assert_eq!(rows, 0, "no admin token that nobody has: {}", out(&list));
    let good = dir.join("token");
    let mut server = Server::first_start(db.clone(), &[]);
    assert!(server.token.starts_with("cc_"), "the next start makes another token");
    server.terminate();
    assert!(!good.exists());
}

#[test]
fn rate_limits_past_one_a_microsecond_and_unprintable_token_names_are_refused() {
    let db = sqlite_db();
    assert_eq!(code(&run(&db, &[], &["migrate"])), 0);
    let high = run(&db, &[], &["token", "create", "--rate-limit", "60000001"]);
    assert_eq!(code(&high), 2, "{}", out(&high));
    let max = run(&db, &[], &["token", "create", "--rate-limit", "60000000"]);
    assert_eq!(code(&max), 0, "{}", out(&max));
    let config = run(&db, &[("RATE_LIMIT_PER_MINUTE", "100000000")], &["config", "check"]);
    assert_eq!(code(&config), 2, "{}", out(&config));
    assert!(out(&config).contains("RATE_LIMIT_PER_MINUTE"), "{}", out(&config));
    for name in ["a\u{1b}]0;pwned\u{7}", "two\nlines", "\u{202e}reversed", &"x".repeat(101)] {
        let o = run(&db, &[], &["token", "create", "--name", name]);
        assert_eq!(code(&o), 2, "{name:?}: {}", out(&o));
    }
}

/// A token allowed one request a microsecond still answers (the limiter's
/// interval never reaches zero).
#[tokio::test]
async fn the_highest_rate_limit_a_token_may_have_still_answers() {
    let server = Server::start(sqlite_db());
    let token =
        crate::common::token(&server.db, &["--name", "fast", "--scope", "holds:read", "--rate-limit", "60000000"]);
    let r = server.client().with_token(&token).get("/api/holds").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers.get("x-ratelimit-limit").unwrap(), "60000000");
}

/// Revoking every token is how an operator locks everyone out; a restart
/// must not quietly make a new admin token.
#[tokio::test]
async fn a_restart_after_every_token_was_revoked_makes_no_new_token() {
    let server = Server::first_start(sqlite_db(), &[]);
    let db = server.db.clone();
    drop(server);
    let list = run(&db, &[], &["token", "list"]);
    let id = String::from_utf8_lossy(&list.stdout)
        .lines()
        .find(|l| l.starts_with("tok_"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(code(&run(&db, &[], &["token", "revoke", &id])), 0);
    let again = Server::spawn(db, Vec::new(), String::new());
    assert!(again.banner.contains("issued earlier"), "{}", again.banner);
}
