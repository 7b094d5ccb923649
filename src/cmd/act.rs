//! `log` and `prefer`: the front-line actions as subcommands, embedded or against a server,
//! through the same service API the console uses.

use std::process::ExitCode;

use clap::Args;
use rapport_core::text::sanitize;
use rapport_core::{Channel, CustomerId, InteractionKind, Phase};
use rapport_service::{NewInteraction, Service};

use crate::cmd::service::{connect, runtime};
use crate::global::Global;

/// Arguments of `rapport log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The customer, e.g. C00000042.
    #[arg(long, value_name = "ID")]
    pub customer: CustomerId,
    /// What happened: complaint, inquiry, note, idea, survey_answer, ... (any snake_case name).
    #[arg(long, value_name = "KIND")]
    pub kind: InteractionKind,
    /// Through which channel: call_center, gate, airport, web, email, branch, ...
    #[arg(long, value_name = "CHANNEL", default_value = "call_center")]
    pub channel: Channel,
    /// Where: a gate, a desk, a queue.
    #[arg(long, value_name = "TOUCHPOINT")]
    pub touchpoint: Option<String>,
    /// Activity-cycle phase: pre, during or post.
    #[arg(long, value_name = "PHASE", value_parser = parse_phase)]
    pub phase: Option<Phase>,
    /// Free text (the customer's words, the note, the idea).
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,
    /// Print the stored interaction as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `rapport prefer`.
#[derive(Debug, Args)]
pub struct PreferArgs {
    /// The customer, e.g. C00000042.
    #[arg(long, value_name = "ID")]
    pub customer: CustomerId,
    /// What the preference is about: seat, meal, drink, contact_channel, contact_frequency...
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The stated value, e.g. aisle.
    #[arg(long, value_name = "VALUE")]
    pub value: String,
    /// Through which channel the customer said it.
    #[arg(long, value_name = "CHANNEL", default_value = "call_center")]
    pub channel: Channel,
    /// Print the stored preference as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_phase(s: &str) -> Result<Phase, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "pre" => Ok(Phase::Pre),
        "during" => Ok(Phase::During),
        "post" => Ok(Phase::Post),
        _ => Err(format!("{s:?} is not a phase (pre, during, post)")),
    }
}

/// `rapport log`: logs an interaction; durable when it prints.
pub fn log(g: &Global, a: LogArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(g).await?;
        let stored = client
            .log_interaction(NewInteraction {
                customer: a.customer,
                kind: a.kind,
                channel: a.channel,
                touchpoint: a.touchpoint,
                phase: a.phase,
                text: a.text,
                attributes: Default::default(),
                amounts: Vec::new(),
            })
            .await?;
        if a.json {
            println!("{}", crate::cmd::json_pretty(&stored)?);
        } else {
            println!(
                "{}",
                sanitize(&format!(
                    "logged {} {} for {} at {}",
                    stored.id, stored.kind, stored.customer, stored.at
                ))
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rapport prefer`: records a stated preference; the newest per topic wins.
pub fn prefer(g: &Global, a: PreferArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(g).await?;
        let p = client
            .record_preference(a.customer, a.topic, a.value, a.channel)
            .await?;
        if a.json {
            println!("{}", crate::cmd::json_pretty(&p)?);
        } else {
            println!(
                "{}",
                sanitize(&format!(
                    "recorded {} = {} for {} by {} at {}",
                    p.topic, p.value, a.customer, p.recorded_by, p.at
                ))
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rapport complaint ...`: complaints as cases.
#[derive(Debug, clap::Subcommand)]
pub enum ComplaintCommand {
    /// Open a complaint case, optionally about a disruption or booking of the customer.
    Open(ComplaintOpenArgs),
    /// Close an open complaint with its resolution (each case is closed once).
    Resolve(ComplaintResolveArgs),
    /// The customer's complaint cases (in the newest 200 interactions), newest first.
    List(ComplaintListArgs),
}

/// Arguments of `rapport complaint open`.
#[derive(Debug, Args)]
pub struct ComplaintOpenArgs {
    /// The customer, e.g. C00000042.
    #[arg(long, value_name = "ID")]
    pub customer: CustomerId,
    /// What it is about: a disruption on the customer's record (any shape, e.g.
    /// "rp121 23.11.2026") or one of their booking references.
    #[arg(long, value_name = "REF")]
    pub about: Option<String>,
    /// The customer's words.
    #[arg(long, value_name = "TEXT")]
    pub text: String,
    /// Through which channel.
    #[arg(long, value_name = "CHANNEL", default_value = "call_center")]
    pub channel: Channel,
    /// Where: a gate, a desk, a queue.
    #[arg(long, value_name = "TOUCHPOINT")]
    pub touchpoint: Option<String>,
    /// Print the stored complaint as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `rapport complaint resolve`.
#[derive(Debug, Args)]
pub struct ComplaintResolveArgs {
    /// The customer, e.g. C00000042.
    #[arg(long, value_name = "ID")]
    pub customer: CustomerId,
    /// The complaint (its interaction id, e.g. I0000000042, from `complaint list`).
    #[arg(value_name = "CASE")]
    pub case: rapport_core::InteractionId,
    /// What was done.
    #[arg(long, value_name = "TEXT")]
    pub resolution: String,
    /// Through which channel.
    #[arg(long, value_name = "CHANNEL", default_value = "call_center")]
    pub channel: Channel,
    /// Print the stored resolution as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `rapport complaint list`.
#[derive(Debug, Args)]
pub struct ComplaintListArgs {
    /// The customer, e.g. C00000042.
    #[arg(long, value_name = "ID")]
    pub customer: CustomerId,
    /// Only the open cases.
    #[arg(long)]
    pub open: bool,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rapport complaint ...`.
pub fn complaint(g: &Global, c: ComplaintCommand) -> anyhow::Result<ExitCode> {
    use rapport_core::case::ABOUT_ATTR;
    runtime()?.block_on(async {
        let client = connect(g).await?;
        match c {
            ComplaintCommand::Open(a) => {
                let stored = client
                    .log_interaction(NewInteraction::complaint(
                        a.customer,
                        a.text,
                        a.about,
                        a.channel,
                        a.touchpoint,
                    ))
                    .await?;
                if a.json {
                    println!("{}", crate::cmd::json_pretty(&stored)?);
                } else {
                    let about = stored
                        .attr_text(ABOUT_ATTR)
                        .map(|x| format!(" about {x}"))
                        .unwrap_or_default();
                    println!(
                        "{}",
                        sanitize(&format!(
                            "opened complaint {}{about} for {}",
                            stored.id, stored.customer
                        ))
                    );
                }
            }
            ComplaintCommand::Resolve(a) => {
                let stored = client
                    .log_interaction(NewInteraction::resolution(
                        a.customer,
                        a.case,
                        a.resolution,
                        a.channel,
                    ))
                    .await?;
                if a.json {
                    println!("{}", crate::cmd::json_pretty(&stored)?);
                } else {
                    println!(
                        "{}",
                        sanitize(&format!(
                            "resolved complaint {} of {} ({})",
                            a.case, stored.customer, stored.id
                        ))
                    );
                }
            }
            ComplaintCommand::List(a) => {
                let record = client
                    .open(
                        a.customer,
                        rapport_service::InteractionQuery {
                            limit: 1,
                            before: None,
                            kinds: Vec::new(),
                            channels: Vec::new(),
                            since: None,
                        },
                    )
                    .await?;
                let cases: Vec<_> = record
                    .cases
                    .into_iter()
                    .filter(|c| !a.open || c.is_open())
                    .collect();
                if a.json {
                    println!("{}", crate::cmd::json_pretty(&cases)?);
                    return Ok(ExitCode::SUCCESS);
                }
                if cases.is_empty() {
                    println!("no complaint cases");
                }
                for c in &cases {
                    let about = c
                        .about
                        .as_deref()
                        .map(|x| format!(" about {x}"))
                        .unwrap_or_default();
                    let state = match &c.resolution {
                        None => "OPEN".to_string(),
                        Some(r) => format!(
                            "resolved {}{}: {}",
                            r.at,
                            r.by.as_deref()
                                .map(|b| format!(" by {b}"))
                                .unwrap_or_default(),
                            r.text.as_deref().unwrap_or("closed")
                        ),
                    };
                    println!(
                        "{}",
                        sanitize(&format!(
                            "{} {} {}{about}: {} [{state}]",
                            c.complaint,
                            c.opened,
                            c.channel,
                            c.text.as_deref().unwrap_or("")
                        ))
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
