//! `rapport erase`: erase a customer's personal data on request (see `docs/security.md`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use rapport_core::CustomerId;
use rapport_core::text::sanitize;
use rapport_service::Operations;

use crate::cmd::service::{connect, finish, runtime};
use crate::global::Global;

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The customer (`C00000042` or `42`); customers merged into it are erased with it.
    #[arg(value_name = "CUSTOMER")]
    pub customer: String,
    /// Why: a request reference kept in the erasures register (never personal data).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Confirm: erasure cannot be undone (the customer's keys are destroyed).
    #[arg(long)]
    pub yes: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn erase(g: &Global, a: EraseArgs) -> anyhow::Result<ExitCode> {
    let customer: CustomerId = a
        .customer
        .parse()
        .with_context(|| format!("not a customer id: {}", sanitize(&a.customer)))?;
    if !a.yes {
        bail!(
            "erasing {customer} destroys its personal data for good (the facts stay under a \
             pseudonym); run again with --yes to confirm"
        );
    }
    let rt = runtime()?;
    let client = rt.block_on(connect(g))?;
    let r = rt
        .block_on(client.erase_customer(customer, &a.reason))
        .with_context(|| format!("erasing {customer}"))?;
    if a.json {
        emit(&crate::cmd::json(&r)?)?;
    } else {
        let merged = r.customers.len().saturating_sub(1);
        emit(&format!(
            "erased {customer}{}: now \"{}\"; kept {} interaction(s) and {} grant(s); {} source \
             record(s) and {} merge record(s) stripped; {} search value(s) dropped",
            if merged > 0 {
                format!(" and {merged} customer(s) merged into it")
            } else {
                String::new()
            },
            sanitize(&r.pseudonym),
            r.interactions,
            r.grants,
            r.source_records,
            r.evidence,
            r.vocabulary_dropped
        ))?;
    }
    finish(client)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes one line to stdout; a closed pipe ends quietly.
fn emit(line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => Ok(r?),
    }
}
