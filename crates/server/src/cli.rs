//! The `chittycharge` command line: `serve`, token management and other
//! server-side admin tasks.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::app::Application;
use crate::config::{Config, LogFormat};

mod admin;
mod backup;
mod report;
pub(crate) mod table;
use admin::{StoreOpts, TokenCommand};

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

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration (environment and --config file); exit 2 naming the key at fault.
    Check,
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
    Serve {
        /// At the first start, write the install's API token to this file
        /// (mode 0600) instead of printing it on stderr.
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
    },
    /// Create or upgrade the database schema and exit (the only command
    /// besides `serve` that changes it).
    Migrate {
        /// Only say which migrations would run; exit 1 when some would.
        #[arg(long)]
        check: bool,
    },
    /// Copy the SQLite database to PATH, consistently, while the service runs
    /// (PostgreSQL: pg_dump, see docs/OPERATIONS.md).
    Backup {
        /// Where to write the copy; must not exist yet.
        path: PathBuf,
    },
    /// Replace the SQLite database with the backup at PATH; refused while a
    /// server holds the database.
    Restore {
        /// The backup file `chittycharge backup` wrote.
        path: PathBuf,
        /// Replace an existing database (its current content is lost).
        #[arg(long)]
        force: bool,
        /// Restore into a new database at DATABASE_URL (a new data directory).
        #[arg(long)]
        create: bool,
    },
    /// Compare every hold with the processor; exit 1 on any discrepancy.
    Audit {
        #[command(flatten)]
        store: StoreOpts,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a completion script for a shell (e.g. `chittycharge completions bash > /etc/bash_completion.d/chittycharge`).
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Check the configuration without starting anything.
    #[command(subcommand)]
    Config(ConfigCommand),
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
    /// A period's report, through the HTTP API: holds (a row each, totals per
    /// property and currency) or damage-claim lines, as CSV or JSON on stdout.
    Report {
        #[command(flatten)]
        remote: crate::cli_client::Remote,
        /// Which report.
        #[arg(long, value_enum, default_value = "holds")]
        kind: report::ReportKind,
        /// First day (2026-11-01) or an RFC 3339 instant.
        #[arg(long)]
        from: String,
        /// Last day, included (2026-11-30), or an RFC 3339 instant, excluded.
        #[arg(long)]
        to: String,
        /// Only this property.
        #[arg(long)]
        property: Option<String>,
        /// CSV in major units, or JSON in minor units (`--json` too).
        #[arg(long, value_enum, default_value = "csv")]
        format: report::ReportFormat,
    },
    /// Operations with unknown outcomes, through the HTTP API (admin token).
    Operations {
        #[command(flatten)]
        remote: crate::cli_client::Remote,
        #[command(subcommand)]
        cmd: crate::cli_client::OperationsCmd,
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
    // Colour codes only for a person at a terminal, never in a log file or
    // a container's log stream.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogSink)
        .with_ansi(ansi)
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// Exit codes: 0 done, 1 the command's finding (audit discrepancies,
/// pending migrations), 2 usage or configuration, 3 the store or processor
/// could not be reached, 1 for anything else.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(admin::exit_code(&e))
        }
    }
}

/// The install's first token, when no `--token-file` took it, goes to
/// stderr, never stdout (often a log stream).
fn print_first_token(token: &str) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    writeln!(err, "API token (shown once; only its hash is stored): {token}")?;
    Ok(err.flush()?)
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
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into memory first: clap_complete panics on a failed write
            // (`| head`), and a closed pipe is no error here.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "chittycharge", &mut script);
            let _ = std::io::stdout().lock().write_all(&script);
            return Ok(());
        }
        Command::Holds { remote, cmd } => return crate::cli_client::holds(&remote, cmd).await,
        Command::Bookings { remote, cmd } => return crate::cli_client::bookings(&remote, cmd).await,
        Command::Properties { remote, cmd } => return crate::cli_client::properties(&remote, cmd).await,
        Command::Operations { remote, cmd } => return crate::cli_client::operations(&remote, cmd).await,
        Command::Report { remote, kind, from, to, property, format } => {
            return report::report(&remote, report::ReportArgs { kind, from, to, property, format }).await
        }
        _ => {}
    }
    let config = Config::load(cli.config.as_deref()).map_err(admin::Failure::config)?;
    init_logging(config.log_format);
    match cli.command {
        Command::Serve { token_file } => {
            let app = Application::build(config, token_file.as_deref()).await.map_err(|e| {
                if e.downcast_ref::<crate::app::TokenFileError>().is_some() {
                    admin::Failure::config(e)
                } else {
                    admin::Failure::unreachable(e)
                }
            })?;
            if let (Some(token), None) = (&app.first_token, &token_file) {
                print_first_token(token)?;
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", app.banner(token_file.as_deref()))?;
            out.flush()?;
            drop(out);
            app.run(shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate { check } => admin::migrate(&config, check).await,
        Command::Token { store, cmd } => admin::token(&config, &store, cmd).await,
        Command::Holds { .. }
        | Command::Bookings { .. }
        | Command::Properties { .. }
        | Command::Operations { .. }
        | Command::Report { .. }
        | Command::Completions { .. } => Ok(()),
        Command::Audit { store, json } => admin::audit(&config, &store, json).await,
        Command::Config(ConfigCommand::Check) => admin::config_check(&config),
        Command::Backup { path } => backup::backup(&config, &path).await,
        Command::Restore { path, force, create } => backup::restore(&config, &path, force, create).await,
    }
}
