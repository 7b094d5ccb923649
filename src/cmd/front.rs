//! `flight`, `disruptions` and `disruption declare`: disruptions as records, from the command
//! line, through the service like the console.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use rapport_core::text::sanitize;
use rapport_core::{CustomerId, DisruptionKind, DisruptionOrigin};
use rapport_service::{Declaration, DisruptionEntry, GrantOutcome, Service};

use crate::cmd::service::{connect, runtime};
use crate::global::Global;

#[derive(Debug, Args)]
pub struct FlightArgs {
    /// The disruption: a flight and its date in any shape (RP121/2026-11-23,
    /// "rp 121 23.11.2026") or a bag tag (BAG/0582417549).
    #[arg(value_name = "FLIGHT/DATE")]
    pub disruption: String,
    /// Grant every affected passenger what the policy entitles (each at most once).
    #[arg(long)]
    pub grant: bool,
    /// Where the grants are made, e.g. "gate C12" (with --grant).
    #[arg(long, value_name = "TOUCHPOINT", default_value = "command line")]
    pub touchpoint: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DisruptionsArgs {
    /// The customer, e.g. C00000042.
    #[arg(value_name = "CUSTOMER")]
    pub customer: CustomerId,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rapport disruption ...`.
#[derive(Debug, Subcommand)]
pub enum DisruptionCommand {
    /// Declare a disruption the sources do not report yet (customer managers, stewards and
    /// admins), with the reason and who declared it.
    Declare {
        /// The flight and date (RP121/2026-11-23) or bag tag (BAG/0582417549).
        #[arg(value_name = "REF")]
        disruption: String,
        /// delay, cancellation, denied-boarding or lost-bag.
        #[arg(long = "type", value_name = "TYPE")]
        kind: DisruptionKind,
        /// The delay in minutes (delays).
        #[arg(long, value_name = "N")]
        delay_minutes: Option<u32>,
        /// The cause, when known.
        #[arg(long)]
        cause: Option<String>,
        /// Why it is declared (required).
        #[arg(long)]
        reason: String,
        /// A customer it affected (repeat for each).
        #[arg(long = "customer", value_name = "ID", required = true)]
        customers: Vec<CustomerId>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One line per disruption entry: facts, entitlement, care, any grant.
fn entry_line(e: &DisruptionEntry) -> String {
    let d = &e.disruption;
    let mut s = format!("{} {}", d.id, e.affected.kind);
    if let Some(m) = e.affected.delay_minutes {
        s.push_str(&format!(" {} h {:02} min", m / 60, m % 60));
    }
    if let Some(r) = &d.route {
        s.push_str(&format!(" {r}"));
    }
    match (&e.entitlement, &e.not_entitled) {
        (Some(x), _) => s.push_str(&format!(
            "; entitled: {} {} ({})",
            x.instrument, x.amount, x.rule
        )),
        (None, Some(why)) => s.push_str(&format!("; {why}")),
        _ => {}
    }
    if !e.care.is_empty() {
        let care: Vec<String> = e
            .care
            .iter()
            .map(|c| format!("{} {}", c.item, c.amount))
            .collect();
        s.push_str(&format!("; care: {}", care.join(", ")));
    }
    match &e.existing {
        Some(g) => s.push_str(&format!(
            "; GRANTED {} {} by {} at {} on {}",
            g.instrument, g.amount, g.granted_by, g.touchpoint, g.at
        )),
        None => s.push_str("; not granted yet"),
    }
    if let DisruptionOrigin::Declared { by, reason, .. } = &d.origin {
        s.push_str(&format!(" (declared by {by}: {reason})"));
    }
    sanitize(&s).into_owned()
}

/// `rapport flight FLIGHT/DATE [--grant] [--json]`.
pub fn flight(g: &Global, a: FlightArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(g).await?;
        if a.grant {
            let done = client.grant_flight(&a.disruption, &a.touchpoint).await?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&done)?);
                return Ok(ExitCode::SUCCESS);
            }
            for x in &done {
                let line = match (&x.outcome, &x.problem) {
                    (Some(GrantOutcome::Granted(g)), _) => {
                        format!("{} granted {} {}", x.customer, g.instrument, g.amount)
                    }
                    (Some(GrantOutcome::Refused(g)), _) => format!(
                        "{} refused: already granted {} {} by {} at {} on {}",
                        x.customer, g.instrument, g.amount, g.granted_by, g.touchpoint, g.at
                    ),
                    (None, Some(p)) => format!("{} nothing granted: {p}", x.customer),
                    (None, None) => format!("{} nothing granted", x.customer),
                };
                println!("{}", sanitize(&line));
            }
            return Ok(ExitCode::SUCCESS);
        }
        let f = client.flight(&a.disruption).await?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&f)?);
            return Ok(ExitCode::SUCCESS);
        }
        let d = &f.disruption;
        println!(
            "{}",
            sanitize(&format!(
                "{} {}{}{}: {} affected",
                d.id,
                d.kind,
                d.route
                    .as_deref()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default(),
                d.cause
                    .as_deref()
                    .map(|c| format!(", cause: {c}"))
                    .unwrap_or_default(),
                f.passengers.len()
            ))
        );
        for p in &f.passengers {
            let tier = p.tier.map_or("-".to_string(), |t| t.to_string());
            println!(
                "  {} {} [{tier}] {}",
                p.entry.affected.customer,
                sanitize(&p.name),
                entry_line(&p.entry)
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rapport disruptions CUSTOMER [--json]`.
pub fn disruptions(g: &Global, a: DisruptionsArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(g).await?;
        let list = client.disruptions(a.customer).await?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else if list.is_empty() {
            println!("no disruptions on record for {}", a.customer);
        } else {
            for e in &list {
                println!("{}", entry_line(e));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rapport disruption declare ...`.
pub fn disruption(g: &Global, c: DisruptionCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(g).await?;
        match c {
            DisruptionCommand::Declare {
                disruption,
                kind,
                delay_minutes,
                cause,
                reason,
                customers,
                json,
            } => {
                let d = client
                    .declare_disruption(Declaration {
                        disruption,
                        kind,
                        delay_minutes,
                        cause,
                        reason,
                        customers,
                    })
                    .await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&d)?);
                } else {
                    println!(
                        "{}",
                        sanitize(&format!(
                            "declared {} {}: {} affected",
                            d.id,
                            d.kind,
                            d.affected.len()
                        ))
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
