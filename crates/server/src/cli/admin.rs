//! The commands that work on the store directly (`migrate`, `token`,
//! `audit`) and `config check`, with exit codes a script can act on.
#![expect(clippy::print_stdout, reason = "printing is what the command line is for")]

use std::io::Write;
use std::sync::Arc;

use chittycharge_store::{Migrations, SqlStore, Store};
use clap::Subcommand;

use crate::auth::{create_token, ALL_SCOPES, SCOPE_ADMIN, SCOPE_READ};
use crate::config::Config;

/// A failure with its exit code (see `cli::main`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(super) struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub(super) fn config(e: impl std::fmt::Display) -> anyhow::Error {
        Failure { code: 2, message: e.to_string() }.into()
    }
    pub(super) fn unreachable(e: impl std::fmt::Display) -> anyhow::Error {
        Failure { code: 3, message: format!("{e:#}") }.into()
    }
    fn finding(message: String) -> anyhow::Error {
        Failure { code: 1, message }.into()
    }
}

pub(super) fn exit_code(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<Failure>().map_or(1, |f| f.code)
}

/// Options of the commands that open the store directly.
#[derive(Debug, clap::Args)]
pub(super) struct StoreOpts {
    /// Create the SQLite database if it does not exist yet. Default: refuse,
    /// so that a command run from another directory or with a mistyped
    /// DATABASE_URL does not work on a new, empty database.
    #[arg(long)]
    pub create: bool,
}

#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Create a token and print it once.
    Create {
        /// A name to tell the token apart in `token list`.
        #[arg(long, default_value = "cli")]
        name: String,
        /// holds:read, holds:write, admin or tiers:override; repeat for several. Read-only when omitted.
        #[arg(long = "scope", default_values_t = [SCOPE_READ.to_string()])]
        scopes: Vec<String>,
        /// Restrict the token to these property ids; repeat for several.
        #[arg(long = "property")]
        properties: Vec<String>,
        /// Requests per minute for this token. Default: RATE_LIMIT_PER_MINUTE (10).
        #[arg(long)]
        rate_limit: Option<i64>,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id (tok_…, from `token list`).
        id: String,
    },
}

async fn open(config: &Config, migrations: Migrations) -> anyhow::Result<Arc<dyn Store>> {
    let store = SqlStore::open(&config.database_url, migrations)
        .await
        .map_err(|e| Failure::unreachable(format!("cannot open the store at {}: {e}", config.database_display())))?;
    Ok(Arc::new(store))
}

/// `migrate`, or `migrate --check`.
pub(super) async fn migrate(config: &Config, check: bool) -> anyhow::Result<()> {
    if check {
        let missing = config.sqlite_path().is_some_and(|p| std::fs::metadata(p).map(|m| m.len() == 0).unwrap_or(true));
        let status = if missing {
            // Nothing to open (and `--check` creates nothing): all would run.
            let pending = SqlStore::known_migrations(&config.database_url).map_err(Failure::config)?;
            let known = pending.iter().map(|(v, _)| *v).max().unwrap_or(0);
            chittycharge_store::SchemaStatus { applied: 0, known, pending }
        } else {
            SqlStore::schema_status(&config.database_url)
                .await
                .map_err(|e| Failure::unreachable(format!("cannot read {}: {e}", config.database_display())))?
        };
        println!("store: {}", config.database_display());
        println!("schema: at version {}, this binary knows {}", status.applied, status.known);
        if status.applied > status.known {
            return Err(Failure { code: 2, message: "the database is newer than this binary".into() }.into());
        }
        for (v, d) in &status.pending {
            println!("would apply {v} {d}");
        }
        if status.pending.is_empty() {
            println!("up to date");
            return Ok(());
        }
        return Err(Failure::finding(format!("{} migration(s) pending", status.pending.len())));
    }
    // Never under a running server (on SQLite, whose file it owns): the
    // server would go on with a schema it does not know.
    let _lock = SqlStore::lock_sqlite(&config.database_url, std::time::Duration::ZERO).await.map_err(|e| {
        Failure::config(format!("{e}: stop the server first (`serve` applies pending migrations itself)"))
    })?;
    open(config, Migrations::Apply).await?;
    println!("migrations applied to {}", config.database_display());
    Ok(())
}

pub(super) async fn token(config: &Config, opts: &StoreOpts, cmd: TokenCommand) -> anyhow::Result<()> {
    existing_store(config, opts)?;
    token_command(config, opts, cmd).await
}

/// `config check`: the configuration as the service would read it, secrets
/// left out.
pub(super) fn config_check(config: &Config) -> anyhow::Result<()> {
    println!("configuration is valid");
    println!("listen: {}", config.listen);
    println!("public URL: {}", config.base_url());
    println!("store: {}", config.database_display());
    println!("processor: {}", config.processor.as_str());
    println!("Stripe.js: {}", config.stripe_js_url);
    println!(
        "SMTP: {}",
        if config.smtp_url.is_some() { "configured" } else { "not configured (emails stay in the outbox)" }
    );
    Ok(())
}

pub(super) async fn audit(config: &Config, opts: &StoreOpts, json: bool) -> anyhow::Result<()> {
    existing_store(config, opts)?;
    let migrations = if opts.create { Migrations::Apply } else { Migrations::Require };
    let store = open(config, migrations).await?;
    let processor: Arc<dyn chittycharge_processor::Processor> = match config.processor {
        crate::config::ProcessorKind::Stripe => crate::app::stripe_processor(config).map_err(Failure::config)?,
        crate::config::ProcessorKind::Simulated => {
            Arc::new(chittycharge_processor::simulated::SimulatedProcessor::new(
                Arc::new(chittycharge_core::sim_backend::StoreSimBackend(store.clone())),
                Arc::new(chittycharge_processor::SystemClock),
            ))
        }
    };
    let schedule_ms: u64 = config.janitor_schedule.iter().sum::<u64>().saturating_mul(1000);
    let lock_limit = i64::try_from(schedule_ms).unwrap_or(i64::MAX) + chittycharge_core::operations::STALE_PENDING_MS;
    // Drawn only on a terminal (indicatif hides itself otherwise), on stderr
    // so `--json` output stays clean.
    let bar = indicatif::ProgressBar::new_spinner().with_message("comparing holds with the processor");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} holds checked, {per_sec} · {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let progress = |p: crate::audit::Progress| match p {
        crate::audit::Progress::Hold => bar.inc(1),
        crate::audit::Progress::ListingIntents => bar.set_message("listing the processor's PaymentIntents"),
    };
    let report = crate::audit::audit(store.as_ref(), processor.as_ref(), lock_limit, &progress)
        .await
        .map_err(Failure::unreachable)?;
    bar.finish_and_clear();
    if json {
        let out = serde_json::json!({
            "holds_checked": report.holds_checked,
            "intents_seen": report.intents_seen,
            "discrepancies": report.discrepancies,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for d in &report.discrepancies {
            println!("DISCREPANCY {d}");
        }
        println!(
            "audit: {} holds checked, {} processor PaymentIntents with source=chittycharge, {} discrepancies",
            report.holds_checked,
            report.intents_seen,
            report.discrepancies.len()
        );
    }
    if report.discrepancies.is_empty() {
        Ok(())
    } else {
        Err(Failure::finding(format!("{} discrepancies", report.discrepancies.len())))
    }
}

/// Says which store a command works on, and refuses a SQLite file that does
/// not exist unless `--create`.
pub(super) fn existing_store(config: &Config, opts: &StoreOpts) -> anyhow::Result<()> {
    if let Some(path) = config.sqlite_path() {
        // An empty file is no database either (a `touch`, or a failed copy).
        let missing = std::fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(true);
        if missing && !opts.create {
            return Err(Failure::config(format!(
                "no database at {} (DATABASE_URL). Start the service there first, set DATABASE_URL to the \
                 service's database, or pass --create to make a new one",
                path.display()
            )));
        }
    }
    eprintln!("store: {}", config.database_display());
    Ok(())
}

async fn token_command(config: &Config, opts: &StoreOpts, cmd: TokenCommand) -> anyhow::Result<()> {
    // Never migrates a schema another release's server is using; a new
    // database (`--create`) gets this binary's schema.
    let store = open(config, if opts.create { Migrations::Apply } else { Migrations::Require }).await?;
    let now = chittycharge_processor::Clock::now(&chittycharge_processor::SystemClock);
    match cmd {
        TokenCommand::Create { name, scopes, properties, rate_limit } => {
            if name.trim().is_empty() || name.chars().count() > 100 {
                return Err(Failure::config("--name must be 1 to 100 characters"));
            }
            crate::input::check_text("--name", &name).map_err(Failure::config)?;
            if name.chars().any(char::is_control) {
                return Err(Failure::config("--name must be one line of printable text"));
            }
            for s in &scopes {
                if !ALL_SCOPES.contains(&s.as_str()) {
                    return Err(Failure::config(format!("--scope: '{s}' is not one of {}", ALL_SCOPES.join(", "))));
                }
            }
            if scopes.iter().any(|s| s == SCOPE_ADMIN) && !properties.is_empty() {
                return Err(Failure::config(
                    "--scope admin cannot be combined with --property: an admin token manages every property; \
                     give a property's token holds:read or holds:write",
                ));
            }
            if let Some(r) = rate_limit {
                if !(1..=crate::config::MAX_RATE_LIMIT).contains(&r) {
                    return Err(Failure::config(format!(
                        "--rate-limit must be from 1 to {} requests a minute",
                        crate::config::MAX_RATE_LIMIT
                    )));
                }
            }
            let props = (!properties.is_empty()).then_some(properties);
            let (record, token) = create_token(store.as_ref(), &name, scopes, props, rate_limit, now).await?;
            // The token exists now: a closed stdout (`| head -0`) must not
            // panic before saying so on stderr.
            let _ = writeln!(std::io::stdout(), "{token}");
            eprintln!("created {} ({}); the token above is shown only once", record.id, record.name);
        }
        TokenCommand::List => {
            let rows = store.list_tokens().await?.into_iter().map(|t| {
                let status = if t.revoked_at.is_some() { "revoked" } else { "active" };
                let limit = t.rate_limit.map(|l| l.to_string()).unwrap_or_else(|| "default".into());
                let mut scopes = t.scopes.join(",");
                if let Some(p) = &t.property_ids {
                    scopes.push_str(&format!(" [{}]", p.join(",")));
                }
                vec![t.id, t.name, scopes, limit, status.to_string()]
            });
            super::table::print(&["ID", "NAME", "SCOPES", "LIMIT", "STATUS"], rows);
        }
        TokenCommand::Revoke { id } => {
            if store.revoke_token(&id, now).await? {
                println!("revoked {id}");
            } else {
                anyhow::bail!("no active token with id {id}");
            }
        }
    }
    Ok(())
}
