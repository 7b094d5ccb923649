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
