//! `merge explain`, `review list|accept|reject`, `unmerge`.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::global::Global;

#[derive(Debug, Subcommand)]
pub enum MergeCommand {
    /// Explain a merge.
    Explain,
}
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// List review items.
    List,
}
#[derive(Debug, Args)]
pub struct UnmergeArgs {}

pub fn merge(_g: &Global, _c: MergeCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport merge` is not built yet")
}
pub fn review(_g: &Global, _c: ReviewCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport review` is not built yet")
}
pub fn unmerge(_g: &Global, _a: UnmergeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rapport unmerge` is not built yet")
}
