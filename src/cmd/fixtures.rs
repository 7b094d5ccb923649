//! `rapport fixtures generate`: write a deterministic demo world (sources, ground truth and
//! manifest) into a directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::global::Global;

/// Generate demo worlds.
#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Generate a world: seven source files, `truth/` and `manifest.json` in --out.
    Generate(GenerateArgs),
}

/// Arguments of `fixtures generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of persons (corporate accounts and travel agents come on top).
    #[arg(long, default_value_t = 2_000)]
    pub customers: u64,
    /// Seed: the same seed, size, as-of date and generator version give the same bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The directory to write (created if missing; files of the same names are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// "Today" of the stories, YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD", default_value = rapport_fixtures::DEFAULT_AS_OF)]
    pub as_of: String,
}

pub fn run(_g: &Global, c: FixturesCommand) -> anyhow::Result<ExitCode> {
    match c {
        FixturesCommand::Generate(a) => generate(a),
    }
}

fn generate(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    let config = rapport_fixtures::Config::new(a.customers, a.seed, &a.as_of)?;
    let started = Instant::now();
    let manifest = rapport_fixtures::generate(&config, &a.out)
        .with_context(|| format!("generating a world into {}", a.out.display()))?;
    let secs = started.elapsed().as_secs_f64();
    let rows = manifest.source_rows();
    println!(
        "generated {} customers (seed {}, as of {}, generator version {}) into {}",
        manifest.customers,
        manifest.seed,
        manifest.as_of,
        manifest.generator_version,
        a.out.display()
    );
    for s in &manifest.sources {
        println!("  {:<18} {:>12} rows {:>14} bytes", s.file, s.rows, s.bytes);
    }
    println!(
        "{rows} source rows in {secs:.2} s ({:.0} rows/s)",
        rows as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
