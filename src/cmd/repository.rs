//! `ingest`, `quarantine`, `merge`, `review`, `unmerge`, `quality`, `search`, `customer`.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::global::Global;

#[derive(Debug, Args)]
pub struct IngestArgs {}
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List quarantined rows.
    List,
}
#[derive(Debug, Args)]
pub struct QualityArgs {}
#[derive(Debug, Args)]
pub struct SearchArgs {}
#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Show a record.
    Show,
}

pub fn ingest(_g: &Global, _a: IngestArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport ingest` is not built yet")
}
pub fn quarantine(_g: &Global, _c: QuarantineCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport quarantine` is not built yet")
}
pub fn quality(_g: &Global, _a: QualityArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport quality` is not built yet")
}
pub fn search(_g: &Global, _a: SearchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport search` is not built yet")
}
pub fn customer(_g: &Global, _c: CustomerCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport customer` is not built yet")
}

/// Arguments of `rapport export identities` (dispatched from `rapport export`).
#[derive(Debug, Args)]
pub struct IdentitiesArgs {}

pub fn export_identities(_g: &Global, _a: IdentitiesArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport export identities` is not built yet")
}
