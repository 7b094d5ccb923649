//! `fixtures generate`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::global::Global;

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Generate a world.
    Generate,
}

pub fn run(_g: &Global, _c: FixturesCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport fixtures` is not built yet")
}
