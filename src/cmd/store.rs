//! `init`, `stats`, `export`, `import`.

use std::process::ExitCode;

use clap::Args;

use crate::global::Global;

#[derive(Debug, Args)]
pub struct InitArgs {}
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
#[derive(Debug, Args)]
pub struct ExportArgs {}
#[derive(Debug, Args)]
pub struct ImportArgs {}

pub fn init(_g: &Global, _a: InitArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport init` is not built yet")
}
pub fn stats(_g: &Global, _a: StatsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport stats` is not built yet")
}
pub fn export(_g: &Global, _a: ExportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport export` is not built yet")
}
pub fn import(_g: &Global, _a: ImportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport import` is not built yet")
}
