//! `init`, `stats`, `export`, `import`: the database itself (create, inspect, back up,
//! restore). `init` and `import` work on the database file (local only); `stats` goes through
//! the service; `export --out FILE` asks a running server for an online backup, and an
//! export to stdout needs the database in this process.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rapport_core::text::sanitize;
use rapport_service::Operations;

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
    /// Also print the bytes of keys and values per keyspace, document collection and file,
    /// and what is left of the size on disk (sled's own overhead).
    #[arg(long)]
    pub bytes: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub what: Option<ExportWhat>,
    /// Write the export to FILE instead of stdout: a new file readable by you only, renamed
    /// over FILE only when complete. With a running server (or --connect) the server writes
    /// it (an online backup; admins only), FILE being a path on the server's machine.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Keep the operators' password hashes in the export (by default they are written blank,
    /// and operators get a new password after a restore with `rapport operator passwd`).
    #[arg(long)]
    pub with_password_hashes: bool,
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

pub fn init(g: &Global, a: InitArgs) -> anyhow::Result<ExitCode> {
    g.local_only("init")?;
    let path = g.db_path();
    let existed = path.join("conf").exists();
    let store = g.create_store()?;
    let customers = store.customer_count()?;
    if a.json {
        let out = serde_json::json!({
            "path": path,
            "created": !existed,
            "schema_version": store.schema_version(),
            "customers": customers,
        });
        println!("{}", crate::cmd::json(&out)?);
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
    let rt = crate::cmd::service::runtime()?;
    let client = rt.block_on(crate::cmd::service::connect(g))?;
    let stats = rt.block_on(client.stats())?;
    crate::cmd::service::finish(client)?;
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
        let mut out = out;
        if a.bytes {
            out["bytes"] = serde_json::to_value(&stats.bytes)?;
        }
        println!("{}", crate::cmd::json(&out)?);
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
    if a.bytes {
        out.push_str(&bytes_table(&stats));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The `--bytes` table: keys and bytes per keyspace, collection and file, their sum against
/// the size on disk. `docs` is the sum of its `docs/...` rows.
fn bytes_table(stats: &rapport_store::Stats) -> String {
    let mut out = format!(
        "{:<28} {:>12} {:>14} {:>14} {:>14} {:>7}\n",
        "stored bytes", "keys", "key bytes", "value bytes", "total", "share"
    );
    let share = |n: u64| {
        if stats.size_on_disk == 0 {
            0.0
        } else {
            100.0 * n as f64 / stats.size_on_disk as f64
        }
    };
    let mut sum = 0u64;
    for r in &stats.bytes {
        let total = r.key_bytes + r.value_bytes;
        if !r.name.starts_with("docs/") {
            sum += total;
        }
        out.push_str(&format!(
            "  {:<26} {:>12} {:>14} {:>14} {:>14} {:>6.1}%\n",
            sanitize(&r.name),
            r.keys,
            r.key_bytes,
            r.value_bytes,
            total,
            share(total)
        ));
    }
    let rest = stats.size_on_disk.saturating_sub(sum);
    out.push_str(&format!(
        "  {:<26} {:>12} {:>14} {:>14} {:>14} {:>6.1}%\n",
        "keys and values",
        "",
        "",
        "",
        sum,
        share(sum)
    ));
    out.push_str(&format!(
        "  {:<26} {:>12} {:>14} {:>14} {:>14} {:>6.1}%\n",
        "sled overhead (the rest)",
        "",
        "",
        "",
        rest,
        share(rest)
    ));
    out
}

pub fn export(g: &Global, a: ExportArgs) -> anyhow::Result<ExitCode> {
    if let Some(ExportWhat::Identities(args)) = a.what {
        return crate::cmd::repository::export_identities(g, args);
    }
    let db = g.db_path();
    let served = g.connect.is_some() || rapport_service::running_server(&db).is_some();
    let summary = match &a.out {
        Some(path) if served => {
            // The server holds the database: it writes the backup while it serves.
            let target = std::path::absolute(path)
                .with_context(|| format!("resolving {}", path.display()))?;
            let shown = target.display().to_string();
            let rt = crate::cmd::service::runtime()?;
            rt.block_on(async {
                use rapport_service::OperatorAdmin;
                let client = crate::cmd::service::connect(g).await?;
                client
                    .backup(&shown, a.with_password_hashes)
                    .await
                    .with_context(|| format!("online backup to {}", sanitize(&shown)))
            })?
        }
        Some(path) => {
            g.local_only("export --out")?;
            let store = open_existing(g)?;
            let options = rapport_service::backup::options(a.with_password_hashes);
            store
                .export_to_file(path, &options)
                .with_context(|| format!("exporting to {}", path.display()))?
        }
        None => {
            if served {
                bail!(
                    "a server holds the database: write the backup with --out FILE (the server \
                     writes it while it serves), or stop the server to export to stdout"
                );
            }
            g.local_only("export")?;
            let store = open_existing(g)?;
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!(
                    "refusing to write the export to a terminal: use --out FILE or redirect \
                     stdout to a file"
                );
            }
            let mut lock = stdout.lock();
            let options = rapport_service::backup::options(a.with_password_hashes);
            let summary = store
                .export_jsonl_with(&mut lock, &options)
                .context("exporting to stdout")?;
            lock.flush().context("writing the export to stdout")?;
            summary
        }
    };
    let text = if a.json {
        crate::cmd::json(&summary)?
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
    if !a.with_password_hashes && !a.json {
        eprintln!(
            "note: operators' password hashes are left out; after a restore, set each \
             operator's password with `rapport operator passwd NAME`"
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn import(g: &Global, a: ImportArgs) -> anyhow::Result<ExitCode> {
    g.local_only("import")?;
    let shown = sanitize(&a.file.display().to_string()).into_owned();
    if a.file.as_os_str() != "-" {
        // Check the whole file (trailer, counts, digest) before writing anything.
        let file =
            File::open(&a.file).with_context(|| format!("opening the export file {shown}"))?;
        rapport_store::Store::verify_export(&mut BufReader::with_capacity(1 << 16, file))
            .with_context(|| format!("checking {shown}: nothing was imported"))?;
    }
    // A restore goes into a database made for it (`rapport init`): a mistyped --db is an
    // error, never a new database.
    let store = g.open_store()?;
    let summary = if a.file.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        store.import_jsonl(&mut lock).context(
            "importing from stdin (the database holds what came before the error: delete it \
             before importing again)",
        )?
    } else {
        let file =
            File::open(&a.file).with_context(|| format!("opening the export file {shown}"))?;
        let mut r = BufReader::with_capacity(1 << 16, file);
        store
            .import_jsonl(&mut r)
            .with_context(|| format!("importing {shown}"))?
    };
    if a.json {
        println!("{}", crate::cmd::json(&summary)?);
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
