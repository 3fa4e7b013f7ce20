//! `chittycharge holds|bookings|properties …`: the CLI as a client of the
//! HTTP API (never of the database), for the odd manual action. Tables by
//! default, `--json` for scripts.
#![expect(clippy::print_stdout, reason = "printing is what the command line is for")]

use chittycharge_client::api::{
    BookingRequest, CaptureRequest, CheckoutRequest, CreateHoldRequest, DamageLine, PropertyRequest,
};
use chittycharge_client::{BookingQuery, Client, HoldQuery};
use clap::{Args, Subcommand};
use serde::Serialize;

#[derive(Debug, Args)]
pub(crate) struct Remote {
    /// The service's base URL.
    #[arg(long, env = "CHITTYCHARGE_URL", default_value = "http://127.0.0.1:8787", global = true)]
    pub url: String,
    /// An API token (the one printed at first start, or from `chittycharge token create`).
    #[arg(long, env = "CHITTYCHARGE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Options of the commands that change something.
#[derive(Debug, Args, Default)]
pub(crate) struct Write {
    /// Send this Idempotency-Key, so that running the command again with the
    /// same key replays the first answer instead of acting twice. Default: none.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HoldsCmd {
    /// Place a hold (amounts in minor units: cents for USD).
    Create {
        /// The amount to hold, in minor units (25000 is $250.00).
        #[arg(long)]
        amount: i64,
        /// What the hold is for; the guest sees it.
        #[arg(long)]
        description: String,
        /// ISO-4217 currency code. Default: the service's CURRENCY (usd).
        #[arg(long)]
        currency: Option<String>,
        /// The guest's email, for the hold's notices. Default: none.
        #[arg(long)]
        email: Option<String>,
        /// The property the hold belongs to. Default: none.
        #[arg(long)]
        property: Option<String>,
        /// The tenant (rental operator) id. Default: none.
        #[arg(long)]
        tenant: Option<String>,
        /// Confirm at once with this PaymentMethod (e.g. pm_card_visa). Default: the guest confirms on the check-in page.
        #[arg(long)]
        payment_method: Option<String>,
        #[command(flatten)]
        write: Write,
    },
    /// Show one hold.
    Get {
        /// The hold id (pi_…).
        id: String,
    },
    /// List holds, newest first.
    List {
        /// Only this property's holds.
        #[arg(long)]
        property: Option<String>,
        /// Only this tenant's holds.
        #[arg(long)]
        tenant: Option<String>,
        /// Only holds in this status (requires_capture, captured, canceled, …).
        #[arg(long)]
        status: Option<String>,
        /// At most this many (default 50, at most 200).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Confirm a hold with a PaymentMethod, server-side.
    Confirm {
        /// The hold id (pi_…).
        id: String,
        /// The PaymentMethod (e.g. pm_card_visa).
        #[arg(long)]
        payment_method: String,
        #[command(flatten)]
        write: Write,
    },
    /// Capture in full, or part of the hold; the rest is released at once.
    Capture {
        /// The hold id (pi_…).
        id: String,
        /// Minor units to capture. Default: the whole capturable amount.
        #[arg(long)]
        amount: Option<i64>,
        /// Why (kept in the hold's event log). Default: none.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        write: Write,
    },
    /// Release the hold without capturing.
    Cancel {
        /// The hold id (pi_…).
        id: String,
        /// Why (kept in the hold's event log). Default: none.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        write: Write,
    },
    /// Show a hold's event log, oldest first.
    Events {
        /// The hold id (pi_…).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PropertiesCmd {
    /// Create or update a property.
    Create {
        /// The property id (your own, e.g. unit-4b).
        id: String,
        /// Its name, shown to guests. Required for a new property; on an
        /// update every option left out keeps its current value.
        #[arg(long)]
        name: Option<String>,
        /// A premium property (a higher hold limit); `--premium false` makes
        /// it an ordinary one again.
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        premium: Option<bool>,
        /// ISO-4217 currency of its holds. Default: the service's CURRENCY (usd).
        #[arg(long)]
        currency: Option<String>,
        /// The hold placed at check-in, in minor units. Default: DEFAULT_HOLD_AMOUNT_CENTS (25000).
        #[arg(long)]
        default_hold_amount: Option<i64>,
        /// Hours after check-out during which damages may be claimed. Default: 48.
        #[arg(long)]
        claim_window_hours: Option<i64>,
        /// IANA time zone for check-in and check-out times (e.g. America/Chicago). Default: UTC.
        #[arg(long)]
        time_zone: Option<String>,
        #[command(flatten)]
        write: Write,
    },
    /// Show one property.
    Get {
        /// The property id.
        id: String,
    },
    /// List the properties the token may see.
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BookingsCmd {
    /// Create a booking.
    Create {
        /// The booking id (your own, e.g. bk-1001).
        id: String,
        /// The property it is at.
        #[arg(long)]
        property: String,
        /// The guest's name.
        #[arg(long)]
        guest: String,
        /// The guest's email, for the hold's notices. Default: none.
        #[arg(long)]
        email: Option<String>,
        /// The tenant (rental operator) id. Default: none.
        #[arg(long)]
        tenant: Option<String>,
        /// Check-in date, YYYY-MM-DD.
        #[arg(long)]
        check_in: String,
        /// Check-out date, YYYY-MM-DD.
        #[arg(long)]
        check_out: String,
        #[command(flatten)]
        write: Write,
    },
    /// Show one booking, with its claims.
    Get {
        /// The booking id.
        id: String,
    },
    /// List bookings.
    List {
        /// Only this property's bookings.
        #[arg(long)]
        property: Option<String>,
        /// Only bookings in this status (booked, hold_active, checked_out, settled, …).
        #[arg(long)]
        status: Option<String>,
    },
    /// Check-in: place (or return) the booking's hold.
    Authorize {
        /// The booking id.
        id: String,
        /// Confirm at once with this PaymentMethod (e.g. pm_card_visa). Default: the guest confirms on the check-in page.
        #[arg(long)]
        payment_method: Option<String>,
        #[command(flatten)]
        write: Write,
    },
    /// Check-out; `--damage 5000:"Broken lamp"` per line, or none to release.
    Checkout {
        /// The booking id.
        id: String,
        /// A damage line as AMOUNT:DESCRIPTION (minor units); repeat for several. None: release the hold.
        #[arg(long = "damage")]
        damages: Vec<String>,
        /// Keep the hold open for claims until the property's claim window ends.
        #[arg(long)]
        defer_release: bool,
        #[command(flatten)]
        write: Write,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum OperationsCmd {
    /// Operations whose processor outcome stayed unknown through the janitor's whole schedule.
    Stuck,
    /// Settle an operation: re-read the processor and apply what it shows.
    Resolve {
        /// The operation id (op_…).
        id: String,
        /// Also release the hold at the processor if it is still open (the operator's word).
        #[arg(long)]
        release: bool,
        #[command(flatten)]
        write: Write,
    },
}

pub(crate) async fn operations(r: &Remote, cmd: OperationsCmd) -> anyhow::Result<()> {
    match cmd {
        OperationsCmd::Stuck => print(r.json, &client(r, None)?.stuck_operations().await?),
        OperationsCmd::Resolve { id, release, write } => {
            print(r.json, &client(r, Some(&write))?.resolve_operation(&id, release).await?)
        }
    }
}

fn print<T: Serialize>(json: bool, value: &T) -> anyhow::Result<()> {
    let v = serde_json::to_value(value)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    match &v {
        serde_json::Value::Object(map) => {
            let list =
                map.values().find_map(|x| x.as_array().filter(|a| a.first().is_some_and(serde_json::Value::is_object)));
            match list {
                Some(rows) => table(rows),
                None => {
                    for (k, val) in map {
                        let text = match val {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Null => "-".into(),
                            other => other.to_string(),
                        };
                        println!("{k:<24} {text}");
                    }
                }
            }
        }
        other => println!("{other}"),
    }
    Ok(())
}

fn cell(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn table(rows: &[serde_json::Value]) {
    const COLS: [&str; 8] =
        ["id", "status", "amount", "amount_captured", "currency", "property_id", "guest_name", "kind"];
    let cols: Vec<&str> = COLS.iter().copied().filter(|c| rows.iter().any(|r| r.get(c).is_some())).collect();
    crate::cli::table::print(&cols, rows.iter().map(|r| cols.iter().map(|c| cell(r.get(c))).collect()));
}

fn client(r: &Remote, write: Option<&Write>) -> anyhow::Result<Client> {
    let token = r.token.clone().ok_or_else(|| anyhow::anyhow!("--token or CHITTYCHARGE_TOKEN is required"))?;
    let c = Client::new(&r.url, &token);
    Ok(match write.and_then(|w| w.idempotency_key.as_deref()) {
        Some(k) => c.with_idempotency_key(k),
        None => c,
    })
}

pub(crate) async fn holds(r: &Remote, cmd: HoldsCmd) -> anyhow::Result<()> {
    let read = || client(r, None);
    match cmd {
        HoldsCmd::Create { amount, description, currency, email, property, tenant, payment_method, write } => {
            let confirm = payment_method.as_ref().map(|_| true);
            let req = CreateHoldRequest {
                amount,
                description,
                currency,
                customer_email: email,
                property_id: property,
                tenant_id: tenant,
                booking_id: None,
                payment_method,
                confirm,
                metadata: None,
                incremental_authorization: None,
            };
            print(r.json, &client(r, Some(&write))?.create_hold(&req).await?)
        }
        HoldsCmd::Get { id } => print(r.json, &read()?.get_hold(&id).await?),
        HoldsCmd::List { property, tenant, status, limit } => print(
            r.json,
            &read()?
                .list_holds(&HoldQuery { property_id: property, tenant_id: tenant, status, limit, cursor: None })
                .await?,
        ),
        HoldsCmd::Confirm { id, payment_method, write } => {
            print(r.json, &client(r, Some(&write))?.confirm(&id, &payment_method).await?)
        }
        HoldsCmd::Capture { id, amount, reason, write } => print(
            r.json,
            &client(r, Some(&write))?
                .capture(&id, &CaptureRequest { amount_to_capture: amount, reason, lines: Vec::new() })
                .await?,
        ),
        HoldsCmd::Cancel { id, reason, write } => {
            print(r.json, &client(r, Some(&write))?.cancel(&id, reason.as_deref()).await?)
        }
        HoldsCmd::Events { id } => print(r.json, &read()?.events(&id).await?),
    }
}

pub(crate) async fn properties(r: &Remote, cmd: PropertiesCmd) -> anyhow::Result<()> {
    let read = || client(r, None);
    match cmd {
        PropertiesCmd::Create {
            id,
            name,
            premium,
            currency,
            default_hold_amount,
            claim_window_hours,
            time_zone,
            write,
        } => {
            let req = PropertyRequest {
                id,
                name,
                premium,
                currency,
                default_hold_amount,
                claim_window_hours,
                time_zone,
                hold_lead_days: None,
            };
            print(r.json, &client(r, Some(&write))?.put_property(&req).await?)
        }
        PropertiesCmd::Get { id } => print(r.json, &read()?.get_property(&id).await?),
        PropertiesCmd::List => print(r.json, &read()?.list_properties().await?),
    }
}

fn parse_damage(s: &str) -> anyhow::Result<DamageLine> {
    let (amount, description) =
        s.split_once(':').ok_or_else(|| anyhow::anyhow!("--damage takes AMOUNT:DESCRIPTION, got '{s}'"))?;
    let amount: i64 =
        amount.trim().parse().map_err(|_| anyhow::anyhow!("--damage amount '{amount}' is not minor units"))?;
    Ok(DamageLine { amount, description: description.trim().to_string(), evidence_urls: Vec::new() })
}

pub(crate) async fn bookings(r: &Remote, cmd: BookingsCmd) -> anyhow::Result<()> {
    let read = || client(r, None);
    match cmd {
        BookingsCmd::Create { id, property, guest, email, tenant, check_in, check_out, write } => {
            let req = BookingRequest {
                id,
                property_id: property,
                tenant_id: tenant,
                guest_name: guest,
                guest_email: email,
                check_in,
                check_out,
                payment_method: None,
            };
            print(r.json, &client(r, Some(&write))?.create_booking(&req).await?)
        }
        BookingsCmd::Get { id } => print(r.json, &read()?.get_booking(&id).await?),
        BookingsCmd::List { property, status } => print(
            r.json,
            &read()?.list_bookings(&BookingQuery { property_id: property, tenant_id: None, status }).await?,
        ),
        BookingsCmd::Authorize { id, payment_method, write } => {
            print(r.json, &client(r, Some(&write))?.authorize_booking(&id, payment_method.as_deref()).await?)
        }
        BookingsCmd::Checkout { id, damages, defer_release, write } => {
            let damages = damages.iter().map(|d| parse_damage(d)).collect::<anyhow::Result<Vec<_>>>()?;
            print(r.json, &client(r, Some(&write))?.checkout(&id, &CheckoutRequest { damages, defer_release }).await?)
        }
    }
}
