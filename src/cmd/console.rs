//! `demo` and `console`.

use std::process::ExitCode;

use clap::Args;

use crate::global::Global;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Rebuild the demo database from fixtures/demo.
    #[arg(long)]
    pub reset: bool,
}
#[derive(Debug, Args)]
pub struct ConsoleArgs {}

pub fn demo(_g: &Global, _a: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport demo` is not built yet")
}
pub fn console(_g: &Global, _a: ConsoleArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport console` is not built yet")
}
