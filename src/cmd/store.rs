//! `init`, `stats`, `export`, `import`: the database itself (create, inspect, back up,
//! restore). They open the database in this process; a server holding it makes them fail
//! with a message that says what to do.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rapport_core::text::sanitize;

use crate::global::Global;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub what: Option<ExportWhat>,
    /// Write the export to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the summary as JSON (on stderr when the export goes to stdout).
    #[arg(long)]
    pub json: bool,
}

/// What else `rapport export` can export.
#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// Export the identities (source references per customer).
    Identities(crate::cmd::repository::IdentitiesArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The JSON Lines file written by `rapport export` (`-` reads stdin).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// These commands work on the database file itself, never through a server.
fn refuse_connect(g: &Global, what: &str) -> anyhow::Result<()> {
    if g.connect.is_some() {
        bail!(
            "`rapport {what}` works on the database directly and cannot run over --connect: \
             stop the server and run it with --db, or run it on the server's machine"
        );
    }
    Ok(())
}

pub fn init(g: &Global, a: InitArgs) -> anyhow::Result<ExitCode> {
    refuse_connect(g, "init")?;
    let path = g.db_path();
    let existed = path.join("conf").exists();
    let store = g.open_store()?;
    let customers = store.customer_count()?;
    if a.json {
        let out = serde_json::json!({
            "path": path,
            "created": !existed,
            "schema_version": store.schema_version(),
            "customers": customers,
        });
        println!("{out}");
    } else if existed {
        println!(
            "database already exists at {} (schema version {}, {customers} customers)",
            sanitize(&path.display().to_string()),
            store.schema_version()
        );
    } else {
        println!(
            "created an empty database at {} (schema version {})",
            sanitize(&path.display().to_string()),
            store.schema_version()
        );
    }
    store.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn stats(g: &Global, a: StatsArgs) -> anyhow::Result<ExitCode> {
    refuse_connect(g, "stats")?;
    let store = open_existing(g)?;
    let stats = store.stats()?;
    if a.json {
        let keyspaces: serde_json::Map<String, serde_json::Value> = stats
            .keyspaces
            .iter()
            .map(|(n, c)| (n.clone(), (*c).into()))
            .collect();
        let collections: serde_json::Map<String, serde_json::Value> = stats
            .collections
            .iter()
            .map(|(n, c)| (n.clone(), (*c).into()))
            .collect();
        let out = serde_json::json!({
            "path": g.db_path(),
            "schema_version": stats.schema_version,
            "keyspaces": keyspaces,
            "collections": collections,
            "size_on_disk": stats.size_on_disk,
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    out.push_str(&format!(
        "database {} (schema version {})\n",
        sanitize(&g.db_path().display().to_string()),
        stats.schema_version
    ));
    for (name, count) in &stats.keyspaces {
        out.push_str(&format!("  {name:<16} {count:>12}\n"));
    }
    if !stats.collections.is_empty() {
        out.push_str("documents by collection:\n");
        for (name, count) in &stats.collections {
            let name = sanitize(name);
            out.push_str(&format!("  {name:<16} {count:>12}\n"));
        }
    }
    out.push_str(&format!(
        "size on disk: {} ({} bytes)\n",
        human_bytes(stats.size_on_disk),
        stats.size_on_disk
    ));
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

pub fn export(g: &Global, a: ExportArgs) -> anyhow::Result<ExitCode> {
    if let Some(ExportWhat::Identities(args)) = a.what {
        return crate::cmd::repository::export_identities(g, args);
    }
    refuse_connect(g, "export")?;
    let store = open_existing(g)?;
    let summary = match &a.out {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("creating the export file {}", path.display()))?;
            let mut w = BufWriter::new(file);
            let summary = store
                .export_jsonl(&mut w)
                .with_context(|| format!("exporting to {}", path.display()))?;
            w.into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .with_context(|| format!("writing the export file {}", path.display()))?;
            summary
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!(
                    "refusing to write the export to a terminal: use --out FILE or redirect \
                     stdout to a file"
                );
            }
            let mut lock = stdout.lock();
            let summary = store
                .export_jsonl(&mut lock)
                .context("exporting to stdout")?;
            lock.flush().context("writing the export to stdout")?;
            summary
        }
    };
    let text = if a.json {
        serde_json::to_string(&summary)?
    } else {
        format!(
            "exported {} customers ({} index entries), {} removed markers, {} interactions, \
             {} grants, {} scores, {} documents: {} lines",
            summary.customers,
            summary.index_entries,
            summary.removed,
            summary.interactions,
            summary.grants,
            summary.scores,
            summary.docs,
            summary.lines
        )
    };
    // The summary must not mix with an export written to stdout.
    if a.out.is_some() {
        println!("{text}");
    } else {
        eprintln!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn import(g: &Global, a: ImportArgs) -> anyhow::Result<ExitCode> {
    refuse_connect(g, "import")?;
    let store = g.open_store()?;
    let shown = sanitize(&a.file.display().to_string()).into_owned();
    let summary = if a.file.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        store
            .import_jsonl(&mut lock)
            .context("importing from stdin")?
    } else {
        let file =
            File::open(&a.file).with_context(|| format!("opening the export file {shown}"))?;
        let mut r = BufReader::with_capacity(1 << 16, file);
        store
            .import_jsonl(&mut r)
            .with_context(|| format!("importing {shown}"))?
    };
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "imported {} customers ({} index entries), {} removed markers, {} interactions, \
             {} grants, {} scores, {} documents from {shown}",
            summary.customers,
            summary.index_entries,
            summary.removed,
            summary.interactions,
            summary.grants,
            summary.scores,
            summary.docs
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the database, refusing to create one where none exists (a typo in --db should
/// not silently produce an empty export).
fn open_existing(g: &Global) -> anyhow::Result<rapport_store::Store> {
    let path = g.db_path();
    if !path.join("conf").exists() {
        bail!(
            "no database at {}: create one with `rapport init` or pass --db PATH",
            sanitize(&path.display().to_string())
        );
    }
    g.open_store()
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
