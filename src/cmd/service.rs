//! `serve`, `compensate`, `operator`.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::global::Global;

#[derive(Debug, Args)]
pub struct ServeArgs {}
#[derive(Debug, Args)]
pub struct CompensateArgs {}
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// List operators.
    List,
}

pub fn serve(_g: &Global, _a: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport serve` is not built yet")
}
pub fn compensate(_g: &Global, _a: CompensateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport compensate` is not built yet")
}
pub fn operator(_g: &Global, _c: OperatorCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport operator` is not built yet")
}
