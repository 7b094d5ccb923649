//! `score`, `clv`, `tiers`, `skew`, `lists`.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::global::Global;

#[derive(Debug, Args)]
pub struct ScoreArgs {}
#[derive(Debug, Subcommand)]
pub enum ClvCommand {
    /// Fit models.
    Fit,
}
#[derive(Debug, Args)]
pub struct TiersArgs {}
#[derive(Debug, Args)]
pub struct SkewArgs {}
#[derive(Debug, Args)]
pub struct ListsArgs {}

pub fn score(_g: &Global, _a: ScoreArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport score` is not built yet")
}
pub fn clv(_g: &Global, _c: ClvCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport clv` is not built yet")
}
pub fn tiers(_g: &Global, _a: TiersArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport tiers` is not built yet")
}
pub fn skew(_g: &Global, _a: SkewArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport skew` is not built yet")
}
pub fn lists(_g: &Global, _a: ListsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport lists` is not built yet")
}
