//! The `chittycharge` command line: `serve`, token management and other
//! server-side admin tasks.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::app::{open_store, Application};
use crate::auth::{create_token, ALL_SCOPES, SCOPE_ADMIN, SCOPE_READ};
use crate::config::{Config, LogFormat};

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// Every command says what it does, every option what it means, and
    /// commands that only read are not offered an idempotency key.
    #[test]
    fn every_command_and_option_has_help_and_reads_take_no_idempotency_key() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && path.trim() != "chittycharge" {
                missing.push(format!("{path}: no about"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} --{id}: no help"));
                }
            }
            let writes = cmd.get_arguments().any(|a| a.get_id() == "idempotency_key");
            let name = cmd.get_name();
            if writes && ["get", "list", "events", "stuck"].contains(&name) {
                missing.push(format!("{path}: a read offers --idempotency-key"));
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = super::Cli::command();
        cmd.build();
        walk(&cmd, "", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }
}

#[derive(Debug, Parser)]
#[command(name = "chittycharge", version, about = "Authorization holds for property rentals")]
pub struct Cli {
    /// A TOML configuration file (keys as the environment variables, in lower case).
    #[arg(long, global = true, env = "CHITTYCHARGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP service.
    Serve,
    /// Create the database schema and exit.
    Migrate,
    /// Compare every hold with the processor; exit 1 on any discrepancy.
    Audit {
        #[command(flatten)]
        store: StoreOpts,
    },
    /// Manage API tokens (in the store DATABASE_URL names).
    Token {
        #[command(flatten)]
        store: StoreOpts,
        #[command(subcommand)]
        cmd: TokenCommand,
    },
    /// Holds, through the HTTP API.
    Holds {
        #[command(flatten)]
        remote: crate::cli_client::Remote,
        #[command(subcommand)]
        cmd: crate::cli_client::HoldsCmd,
    },
    /// Bookings, through the HTTP API.
    Bookings {
        #[command(flatten)]
        remote: crate::cli_client::Remote,
        #[command(subcommand)]
        cmd: crate::cli_client::BookingsCmd,
    },
    /// Properties, through the HTTP API.
    Properties {
        #[command(flatten)]
        remote: crate::cli_client::Remote,
        #[command(subcommand)]
        cmd: crate::cli_client::PropertiesCmd,
    },
    /// Operations with unknown outcomes, through the HTTP API (admin token).
    Operations {
        #[command(flatten)]
        remote: crate::cli_client::Remote,
        #[command(subcommand)]
        cmd: crate::cli_client::OperationsCmd,
    },
}

/// Options of the commands that open the store directly.
#[derive(Debug, clap::Args)]
struct StoreOpts {
    /// Create the SQLite database if it does not exist yet. Default: refuse,
    /// so that a command run from another directory or with a mistyped
    /// DATABASE_URL does not work on a new, empty database.
    #[arg(long)]
    create: bool,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
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

/// Standard error for logs, where a failed write is counted and dropped:
/// logging must never take the service down (a full disk, a closed pipe).
struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::io::stderr().write_all(buf).is_err() {
            metrics::counter!("chittycharge_log_write_errors_total").increment(1);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // `log_internal_errors(false)`: the library would otherwise report a
    // failed write with `eprintln!`, which panics when stderr is gone.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| LogSink).log_internal_errors(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // The HTTP-client commands need no server configuration.
    match cli.command {
        Command::Holds { remote, cmd } => return crate::cli_client::holds(&remote, cmd).await,
        Command::Bookings { remote, cmd } => return crate::cli_client::bookings(&remote, cmd).await,
        Command::Properties { remote, cmd } => return crate::cli_client::properties(&remote, cmd).await,
        Command::Operations { remote, cmd } => return crate::cli_client::operations(&remote, cmd).await,
        _ => {}
    }
    let config = Config::load(cli.config.as_deref())?;
    init_logging(config.log_format);
    match cli.command {
        Command::Serve => {
            let app = Application::build(config).await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", app.banner())?;
            out.flush()?;
            drop(out);
            app.run(shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate => {
            open_store(&config).await?;
            println!("migrations applied to {}", config.database_display());
            Ok(())
        }
        Command::Token { store, cmd } => {
            existing_store(&config, &store)?;
            token_command(&config, cmd).await
        }
        Command::Holds { .. } | Command::Bookings { .. } | Command::Properties { .. } | Command::Operations { .. } => {
            Ok(())
        }
        Command::Audit { store } => {
            existing_store(&config, &store)?;
            let store = open_store(&config).await?;
            let processor: std::sync::Arc<dyn chittycharge_processor::Processor> = match config.processor {
                crate::config::ProcessorKind::Stripe => crate::app::stripe_processor(&config)?,
                crate::config::ProcessorKind::Simulated => {
                    std::sync::Arc::new(chittycharge_processor::simulated::SimulatedProcessor::new(
                        std::sync::Arc::new(crate::sim_backend::StoreSimBackend(store.clone())),
                        std::sync::Arc::new(chittycharge_processor::SystemClock),
                    ))
                }
            };
            let schedule_ms: u64 = config.janitor_schedule.iter().sum::<u64>().saturating_mul(1000);
            let lock_limit = i64::try_from(schedule_ms).unwrap_or(i64::MAX) + crate::jobs::janitor::STALE_PENDING_MS;
            let report = crate::audit::audit(store.as_ref(), processor.as_ref(), lock_limit).await?;
            for d in &report.discrepancies {
                println!("DISCREPANCY {d}");
            }
            println!(
                "audit: {} holds checked, {} processor PaymentIntents with source=chittycharge, {} discrepancies",
                report.holds_checked,
                report.intents_seen,
                report.discrepancies.len()
            );
            if report.discrepancies.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("{} discrepancies", report.discrepancies.len())
            }
        }
    }
}

/// Says which store a command works on, and refuses a SQLite file that does
/// not exist unless `--create`.
fn existing_store(config: &Config, opts: &StoreOpts) -> anyhow::Result<()> {
    if let Some(path) = config.sqlite_path() {
        // An empty file is no database either (a `touch`, or a failed copy).
        let missing = std::fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(true);
        if missing && !opts.create {
            anyhow::bail!(
                "no database at {} (DATABASE_URL). Start the service there first, set DATABASE_URL to the \
                 service's database, or pass --create to make a new one",
                path.display()
            );
        }
    }
    eprintln!("store: {}", config.database_display());
    Ok(())
}

async fn token_command(config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let now = chittycharge_processor::Clock::now(&chittycharge_processor::SystemClock);
    match cmd {
        TokenCommand::Create { name, scopes, properties, rate_limit } => {
            for s in &scopes {
                if !ALL_SCOPES.contains(&s.as_str()) {
                    anyhow::bail!("--scope: '{s}' is not one of {}", ALL_SCOPES.join(", "));
                }
            }
            if scopes.iter().any(|s| s == SCOPE_ADMIN) && !properties.is_empty() {
                anyhow::bail!(
                    "--scope admin cannot be combined with --property: an admin token manages every property; \
                     give a property's token holds:read or holds:write"
                );
            }
            if let Some(r) = rate_limit {
                if r < 1 {
                    anyhow::bail!("--rate-limit must be at least 1");
                }
            }
            let props = (!properties.is_empty()).then_some(properties);
            let (record, token) = create_token(store.as_ref(), &name, scopes, props, rate_limit, now).await?;
            println!("{token}");
            eprintln!("created {} ({}); the token above is shown only once", record.id, record.name);
        }
        TokenCommand::List => {
            println!("{:<24} {:<24} {:<28} {:<10} STATUS", "ID", "NAME", "SCOPES", "LIMIT");
            for t in store.list_tokens().await? {
                let status = if t.revoked_at.is_some() { "revoked" } else { "active" };
                let limit = t.rate_limit.map(|l| l.to_string()).unwrap_or_else(|| "default".into());
                let mut scopes = t.scopes.join(",");
                if let Some(p) = &t.property_ids {
                    scopes.push_str(&format!(" [{}]", p.join(",")));
                }
                println!("{:<24} {:<24} {:<28} {:<10} {status}", t.id, t.name, scopes, limit);
            }
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
