//! Backups and upgrades as docs/OPERATIONS.md tells an operator to do them:
//! its shell blocks run as written, on SQLite and PostgreSQL, while holds
//! are being placed, captured and released; the restored database starts
//! and audits clean.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::{cli, postgres_db, sqlite_db, Db, Server, BIN};
use serde_json::json;

/// The shell block after `<!-- ops-test: NAME -->` in docs/OPERATIONS.md.
fn ops_block(name: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/OPERATIONS.md")).unwrap();
    let marker = format!("<!-- ops-test: {name} -->");
    let after = doc.split(&marker).nth(1).unwrap_or_else(|| panic!("no {marker} in docs/OPERATIONS.md"));
    let body = after.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a sh block after the marker");
    body.to_string()
}

/// Runs a documented block with `chittycharge` on PATH, as an operator's shell would.
fn run_block(name: &str, env: &[(&str, &str)]) -> Output {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &ops_block(name)]).env_clear().env("PATH", path).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("bash")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cc-backup-{tag}-{}-{}", std::process::id(), rand_tag()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_tag() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// Places, captures and releases holds until `stop`; returns how many it placed.
async fn load(server: &Server, stop: Arc<AtomicBool>) -> usize {
    let api = server.client();
    let mut placed = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = api.authorized_hold(5_000 + placed as i64).await;
        let r = if placed % 2 == 0 {
            api.post(&format!("/api/holds/{id}/capture"), json!({"amount": 1_000})).await
        } else {
            api.post(&format!("/api/holds/{id}/cancel"), json!({})).await
        };
        assert_eq!(r.status, 200, "{}", r.text);
        placed += 1;
    }
    placed
}

async fn hold_count(server: &Server) -> usize {
    let mut count = 0;
    let mut after = String::new();
    loop {
        let r = server.client().get(&format!("/api/holds?limit=100{after}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        count += r.body["holds"].as_array().unwrap().len();
        match r.body["next_cursor"].as_str() {
            Some(cursor) if r.body["has_more"] == true => after = format!("&cursor={cursor}"),
            _ => return count,
        }
    }
}

/// Backs up `from` with `backup_block` while a load runs, then restores into
/// `into` with `restore_block`, starts there and checks what came back.
async fn back_up_under_load_and_restore(from: Db, into: Db, backup_block: &'static str, restore_block: &str) {
    let dir = scratch(from.name());
    let dir_s = dir.display().to_string();
    let server = Server::start(from.clone());
    let stop = Arc::new(AtomicBool::new(false));
    // The load and the backup run at once.
    let (placed, backup) = tokio::join!(load(&server, stop.clone()), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let out = tokio::task::spawn_blocking({
            let url = from.url();
            let dir_s = dir_s.clone();
            move || run_block(backup_block, &[("DATABASE_URL", &url), ("BACKUP_DIR", &dir_s)])
        })
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        out
    });
    assert!(backup.status.success(), "{backup_block}: {}", text(&backup));
    assert!(placed >= 2, "the load ran across the backup ({placed} holds)");
    let backup_file = std::fs::read_dir(&dir).unwrap().next().expect("a backup file").unwrap().path();
    drop(server);

    let restored = run_block(
        restore_block,
        &[("DATABASE_URL", &into.url()), ("BACKUP_DIR", &dir_s), ("BACKUP", &backup_file.display().to_string())],
    );
    assert!(restored.status.success(), "{restore_block}: {}", text(&restored));
    let server = Server::start(into.clone());
    if matches!(into, Db::Postgres(_)) {
        // Another instance could still be finishing an operation there: the
        // janitor waits until it is stale.
        server.client().advance(180).await;
    }
    audits_clean_once_settled(&into).await;
    let count = hold_count(&server).await;
    assert!(count >= 1 && count <= placed + 1, "the backup holds the holds of its moment: {count} of {placed}");
    // The restored service works: a new hold goes through.
    server.client().authorized_hold(2_500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_backup_taken_under_load_restores_into_a_new_directory_and_audits_clean() {
    back_up_under_load_and_restore(sqlite_db(), sqlite_db(), "sqlite-backup", "sqlite-restore-new").await;
}

#[ignore = "needs PostgreSQL: run scripts/test.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_dump_taken_under_load_restores_into_an_empty_database_and_audits_clean() {
    let (from, into) = (postgres_db(), postgres_db());
    back_up_under_load_and_restore(from, into, "postgres-backup", "postgres-restore").await;
}

/// Runs the documented audit until the janitor has settled what was in
/// flight at the backup (at once on SQLite; a stale-operation wait on
/// PostgreSQL, which the test shortens with the test clock).
async fn audits_clean_once_settled(db: &Db) {
    let url = db.url();
    let mut last = String::new();
    for _ in 0..100 {
        let audit = run_block("audit", &[("DATABASE_URL", &url)]);
        if audit.status.success() {
            assert!(text(&audit).contains(", 0 discrepancies"), "{}", text(&audit));
            return;
        }
        last = text(&audit);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the restored store never audited clean: {last}");
}

#[tokio::test]
async fn restore_refuses_a_running_server_an_existing_database_and_a_file_that_is_no_backup() {
    let server = Server::start(sqlite_db());
    server.client().authorized_hold(1_000).await;
    let dir = scratch("refusals");
    let backup = dir.join("b.db");
    let b = backup.to_str().unwrap();
    assert_eq!(cli(&server.db, &["backup", b]).status.code(), Some(0));
    let again = cli(&server.db, &["backup", b]);
    assert_eq!(again.status.code(), Some(2), "a backup never overwrites: {}", text(&again));
    let nowhere = dir.join("missing/b.db");
    let o = cli(&server.db, &["backup", nowhere.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a missing directory is the caller's mistake: {}", text(&o));
    let running = cli(&server.db, &["restore", "--force", b]);
    assert_eq!(running.status.code(), Some(2), "{}", text(&running));
    assert!(text(&running).contains("in use by a running ChittyCharge server"), "{}", text(&running));
    drop(server);
    let other = sqlite_db();
    // A new target needs --create; an existing database needs --force.
    assert_eq!(cli(&other, &["restore", "--create", b]).status.code(), Some(0));
    let exists = cli(&other, &["restore", b]);
    assert_eq!(exists.status.code(), Some(2), "{}", text(&exists));
    assert!(text(&exists).contains("--force"), "{}", text(&exists));
    let junk = dir.join("junk.db");
    std::fs::write(&junk, b"not a database at all, but long enough to look like a file").unwrap();
    let no_backup = cli(&sqlite_db(), &["restore", junk.to_str().unwrap()]);
    assert_ne!(no_backup.status.code(), Some(0), "{}", text(&no_backup));
    let missing = cli(&sqlite_db(), &["restore", dir.join("nope.db").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    let pg = Db::Postgres("postgres://nobody@127.0.0.1:1/none".into());
    let dump = cli(&pg, &["backup", dir.join("pg.db").to_str().unwrap()]);
    assert_eq!(dump.status.code(), Some(2), "{}", text(&dump));
    assert!(text(&dump).contains("pg_dump --format=custom"), "PostgreSQL gets the command to use: {}", text(&dump));
}

/// The upgrade steps run on a current schema, then a "newer release" moves
/// the schema ahead; the documented roll-back brings the old one back.
#[tokio::test]
async fn the_documented_upgrade_and_roll_back_bring_back_the_database_from_before() {
    let db = sqlite_db();
    let dir = scratch("upgrade");
    let dir_s = dir.display().to_string();
    let mut server = Server::start(db.clone());
    let kept = server.client().authorized_hold(4_200).await;
    server.terminate();
    let env = [("DATABASE_URL", db.url()), ("BACKUP_DIR", dir_s.clone())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let check = run_block("upgrade-check", &env);
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("up to date"), "{}", text(&check));
    let migrate = run_block("upgrade-migrate", &env);
    assert!(migrate.status.success(), "{}", text(&migrate));
    // What a newer release's migrate would leave: a schema this binary refuses.
    let Db::Sqlite(path) = &db else { unreachable!() };
    let status = Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99990101000000, 'newer', 1, x'00', 0)\"); c.commit()"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(cli(&db, &["audit"]).status.code(), Some(3), "the newer schema is refused");
    let rollback = run_block("rollback", &env);
    assert!(rollback.status.success(), "{}", text(&rollback));
    let server = Server::start(db.clone());
    audits_clean_once_settled(&db).await;
    let r = server.client().get(&format!("/api/holds/{kept}")).await;
    assert_eq!((r.status, r.body["amount"].as_i64()), (200, Some(4_200)), "{}", r.text);
}

/// The database's lock is a sibling file that a restore never replaces,
/// and `serve` takes it before it opens anything: a server starting while a
/// restore holds it waits, then refuses, instead of serving the file the
/// restore is about to replace. `migrate` honours it too.
#[tokio::test]
async fn serve_and_migrate_wait_for_the_databases_lock_before_opening_it() {
    let db = sqlite_db();
    let Db::Sqlite(path) = &db else { unreachable!() };
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{}.lock", path.display()))
        .unwrap();
    lock.try_lock().unwrap();
    let started = std::time::Instant::now();
    let serve = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("CHITTYCHARGE_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(3), "{}", text(&serve));
    assert!(text(&serve).contains("in use by another ChittyCharge server"), "{}", text(&serve));
    assert!(started.elapsed() >= std::time::Duration::from_secs(5), "it waited for a server that might be exiting");
    assert!(!path.exists() || std::fs::metadata(path).unwrap().len() == 0, "nothing was opened or migrated meanwhile");
    let migrate = cli(&db, &["migrate"]);
    assert_eq!(migrate.status.code(), Some(2), "{}", text(&migrate));
    assert!(text(&migrate).contains("stop the server first"), "{}", text(&migrate));
    drop(lock);
    let server = Server::start(db.clone());
    let migrate = cli(&db, &["migrate"]);
    assert_eq!(
        migrate.status.code(),
        Some(2),
        "a running server's schema is not migrated under it: {}",
        text(&migrate)
    );
    drop(server);
    assert_eq!(cli(&db, &["migrate"]).status.code(), Some(0));
}

#[tokio::test]
async fn backups_never_land_on_the_databases_own_files_and_only_their_owner_reads_them() {
    let server = Server::start(sqlite_db());
    server.client().authorized_hold(1_000).await;
    let Db::Sqlite(path) = server.db.clone() else { unreachable!() };
    let path = &path;
    for own in ["", "-journal", "-wal", "-shm", ".lock"] {
        let target = format!("{}{own}", path.display());
        let o = cli(&server.db, &["backup", &target]);
        assert_eq!(o.status.code(), Some(2), "{own}: {}", text(&o));
    }
    let dir = scratch("modes");
    let backup = dir.join("b.db");
    assert_eq!(cli(&server.db, &["backup", backup.to_str().unwrap()]).status.code(), Some(0));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600, "guests' data: owner only");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    drop(server);
    // Restoring keeps the database file's mode (and owner) as it was.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = cli(&Db::Sqlite(path.clone()), &["restore", "--force", backup.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o640);
}

#[test]
fn restore_refuses_a_backup_whose_migrations_this_binary_did_not_write() {
    let db = sqlite_db();
    assert_eq!(cli(&db, &["migrate"]).status.code(), Some(0));
    let dir = scratch("tampered");
    let backup = dir.join("b.db");
    assert_eq!(cli(&db, &["backup", backup.to_str().unwrap()]).status.code(), Some(0));
    for (sql, why) in [
        (
            "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = (SELECT MIN(version) FROM _sqlx_migrations)",
            "differs",
        ),
        (
            "UPDATE _sqlx_migrations SET success = 0 WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
            "half-applied",
        ),
    ] {
        let copy = dir.join(format!("t{}.db", why.len()));
        std::fs::copy(&backup, &copy).unwrap();
        let status = Command::new("python3")
            .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"])
            .arg(&copy)
            .arg(sql)
            .status()
            .unwrap();
        assert!(status.success());
        let o = cli(&sqlite_db(), &["restore", "--create", copy.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(why), "{why}: {}", text(&o));
    }
    let nowhere = cli(&sqlite_db(), &["restore", backup.to_str().unwrap()]);
    assert_eq!(nowhere.status.code(), Some(2), "a missing target needs --create: {}", text(&nowhere));
    assert!(text(&nowhere).contains("--create"), "{}", text(&nowhere));
}

/// After SIGTERM the database file alone holds everything: a copy of just
/// the `.db` file is complete.
#[tokio::test]
async fn a_clean_stop_leaves_everything_in_the_database_file() {
    let mut server = Server::start(sqlite_db());
    let id = server.client().authorized_hold(3_300).await;
    assert!(server.terminate().success());
    let Db::Sqlite(path) = &server.db else { unreachable!() };
    let dir = scratch("alone");
    let copy = dir.join("only.db");
    std::fs::copy(path, &copy).unwrap();
    let out = Command::new("python3")
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT amount FROM holds WHERE id = ?', (sys.argv[2],)).fetchone())"])
        .arg(&copy)
        .arg(&id)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "(3300,)", "{}", String::from_utf8_lossy(&out.stderr));
}
