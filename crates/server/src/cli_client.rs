//! `chittycharge holds|bookings|properties …`: the CLI as a client of the
//! HTTP API (never of the database), for the odd manual action. Tables by
//! default, `--json` for scripts.

use chittycharge_client::api::{
    BookingRequest, CaptureRequest, CheckoutRequest, CreateHoldRequest, DamageLine, PropertyRequest,
};
use chittycharge_client::{BookingQuery, Client, HoldQuery};
use clap::{Args, Subcommand};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct Remote {
    /// The service's base URL.
    #[arg(long, env = "CHITTYCHARGE_URL", default_value = "http://127.0.0.1:8787", global = true)]
    pub url: String,
    /// An API token.
    #[arg(long, env = "CHITTYCHARGE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Send this Idempotency-Key with a POST.
    #[arg(long, global = true)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum HoldsCmd {
    /// Place a hold (amount in minor units).
    Create {
        #[arg(long)]
        amount: i64,
        #[arg(long)]
        description: String,
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        property: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        /// Confirm at once with this PaymentMethod (e.g. pm_card_visa).
        #[arg(long)]
        payment_method: Option<String>,
    },
    Get {
        id: String,
    },
    List {
        #[arg(long)]
        property: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    Confirm {
        id: String,
        #[arg(long)]
        payment_method: String,
    },
    /// Capture in full, or `--amount` in minor units.
    Capture {
        id: String,
        #[arg(long)]
        amount: Option<i64>,
        #[arg(long)]
        reason: Option<String>,
    },
    Cancel {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Events {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PropertiesCmd {
    Create {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        premium: bool,
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        default_hold_amount: Option<i64>,
        #[arg(long)]
        claim_window_hours: Option<i64>,
        #[arg(long)]
        time_zone: Option<String>,
    },
    Get {
        id: String,
    },
    List,
}

#[derive(Debug, Subcommand)]
pub enum BookingsCmd {
    Create {
        id: String,
        #[arg(long)]
        property: String,
        #[arg(long)]
        guest: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        check_in: String,
        #[arg(long)]
        check_out: String,
    },
    Get {
        id: String,
    },
    List {
        #[arg(long)]
        property: Option<String>,
        #[arg(long)]
        status: Option<String>,
    },
    /// Check-in: place (or return) the booking's hold.
    Authorize {
        id: String,
        #[arg(long)]
        payment_method: Option<String>,
    },
    /// Check-out; `--damage 5000:"Broken lamp"` per line, or none to release.
    Checkout {
        id: String,
        #[arg(long = "damage")]
        damages: Vec<String>,
        #[arg(long)]
        defer_release: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperationsCmd {
    /// Operations whose processor outcome stayed unknown through the janitor's whole schedule.
    Stuck,
    /// Settle an operation: re-read the processor and apply what it shows.
    Resolve {
        /// The operation id (op_…).
        id: String,
        /// Also release the hold at the processor if it is still open (the operator's word).
        #[arg(long)]
        release: bool,
    },
}

pub async fn operations(r: &Remote, cmd: OperationsCmd) -> anyhow::Result<()> {
    let c = client(r)?;
    match cmd {
        OperationsCmd::Stuck => print(r.json, &c.stuck_operations().await?),
        OperationsCmd::Resolve { id, release } => print(r.json, &c.resolve_operation(&id, release).await?),
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
    println!("{}", cols.iter().map(|c| format!("{c:<28}")).collect::<String>().trim_end());
    for r in rows {
        println!("{}", cols.iter().map(|c| format!("{:<28}", cell(r.get(c)))).collect::<String>().trim_end());
    }
}

fn client(r: &Remote) -> anyhow::Result<Client> {
    let token = r.token.clone().ok_or_else(|| anyhow::anyhow!("--token or CHITTYCHARGE_TOKEN is required"))?;
    let c = Client::new(&r.url, &token);
    Ok(match &r.idempotency_key {
        Some(k) => c.with_idempotency_key(k),
        None => c,
    })
}

pub async fn holds(r: &Remote, cmd: HoldsCmd) -> anyhow::Result<()> {
    let c = client(r)?;
    match cmd {
        HoldsCmd::Create { amount, description, currency, email, property, tenant, payment_method } => {
            let confirm = payment_method.as_ref().map(|_| true);
            let req = CreateHoldRequest {
                amount,
                description,
                currency,
                customer_email: email,
                property_id: property,
                tenant_id: tenant,
                payment_method,
                confirm,
                metadata: None,
                incremental_authorization: None,
            };
            print(r.json, &c.create_hold(&req).await?)
        }
        HoldsCmd::Get { id } => print(r.json, &c.get_hold(&id).await?),
        HoldsCmd::List { property, tenant, status, limit } => print(
            r.json,
            &c.list_holds(&HoldQuery { property_id: property, tenant_id: tenant, status, limit, cursor: None }).await?,
        ),
        HoldsCmd::Confirm { id, payment_method } => print(r.json, &c.confirm(&id, &payment_method).await?),
        HoldsCmd::Capture { id, amount, reason } => {
            print(r.json, &c.capture(&id, &CaptureRequest { amount_to_capture: amount, reason }).await?)
        }
        HoldsCmd::Cancel { id, reason } => print(r.json, &c.cancel(&id, reason.as_deref()).await?),
        HoldsCmd::Events { id } => print(r.json, &c.events(&id).await?),
    }
}

pub async fn properties(r: &Remote, cmd: PropertiesCmd) -> anyhow::Result<()> {
    let c = client(r)?;
    match cmd {
        PropertiesCmd::Create { id, name, premium, currency, default_hold_amount, claim_window_hours, time_zone } => {
            let req = PropertyRequest {
                id,
                name,
                premium: Some(premium),
                currency,
                default_hold_amount,
                claim_window_hours,
                time_zone,
                hold_lead_days: None,
            };
            print(r.json, &c.put_property(&req).await?)
        }
        PropertiesCmd::Get { id } => print(r.json, &c.get_property(&id).await?),
        PropertiesCmd::List => print(r.json, &c.list_properties().await?),
    }
}

fn parse_damage(s: &str) -> anyhow::Result<DamageLine> {
    let (amount, description) =
        s.split_once(':').ok_or_else(|| anyhow::anyhow!("--damage takes AMOUNT:DESCRIPTION, got '{s}'"))?;
    let amount: i64 =
        amount.trim().parse().map_err(|_| anyhow::anyhow!("--damage amount '{amount}' is not minor units"))?;
    Ok(DamageLine { amount, description: description.trim().to_string(), evidence_urls: Vec::new() })
}

pub async fn bookings(r: &Remote, cmd: BookingsCmd) -> anyhow::Result<()> {
    let c = client(r)?;
    match cmd {
        BookingsCmd::Create { id, property, guest, email, tenant, check_in, check_out } => {
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
            print(r.json, &c.create_booking(&req).await?)
        }
        BookingsCmd::Get { id } => print(r.json, &c.get_booking(&id).await?),
        BookingsCmd::List { property, status } => {
            print(r.json, &c.list_bookings(&BookingQuery { property_id: property, tenant_id: None, status }).await?)
        }
        BookingsCmd::Authorize { id, payment_method } => {
            print(r.json, &c.authorize_booking(&id, payment_method.as_deref()).await?)
        }
        BookingsCmd::Checkout { id, damages, defer_release } => {
            let damages = damages.iter().map(|d| parse_damage(d)).collect::<anyhow::Result<Vec<_>>>()?;
            print(r.json, &c.checkout(&id, &CheckoutRequest { damages, defer_release }).await?)
        }
    }
}
