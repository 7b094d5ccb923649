//! `demo` and `console`: the terminal console on the database, on a server, or on the demo
//! world built from `fixtures/demo`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use rapport_console::{Config, Tui};
use rapport_core::text::sanitize;
use rapport_service::{Embedded, Remote, Service, running_server};

use crate::cmd::analytics::{ScoreOptions, run_scoring};
use crate::cmd::service::runtime;
use crate::global::Global;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Rebuild the demo database from fixtures/demo.
    #[arg(long)]
    pub reset: bool,
    /// The demo world to build from [default: ./fixtures/demo, else the source tree's].
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Build the demo database (if needed) and stop, without opening the console.
    #[arg(long)]
    pub build_only: bool,
    #[command(flatten)]
    pub display: DisplayArgs,
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub display: DisplayArgs,
}

/// How the console draws and which keys it uses.
#[derive(Debug, Args)]
pub struct DisplayArgs {
    /// Key and display configuration file [default: the user's config directory,
    /// rapport/console.toml].
    #[arg(long, env = "RAPPORT_CONSOLE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Draw with ASCII only (also when the locale is not UTF-8).
    #[arg(long)]
    pub ascii: bool,
}

/// The demo database's directory: `<data dir>/rapport/demo`.
pub fn demo_db() -> PathBuf {
    Global::data_dir().join("demo")
}

pub fn demo(g: &Global, a: DemoArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&a.display)?;
    let db = demo_db();
    if a.reset || !db.exists() {
        let fixtures = match &a.fixtures {
            Some(f) => f.clone(),
            None => default_fixtures()?,
        };
        build_demo(&fixtures, &db, a.reset)?;
    } else {
        eprintln!(
            "Using the demo database at {} (rebuild it with `rapport demo --reset`).",
            db.display()
        );
    }
    if a.build_only {
        return Ok(ExitCode::SUCCESS);
    }
    let _ = g;
    open_console(&db, None, &config)
}

pub fn console(g: &Global, a: ConsoleArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&a.display)?;
    if g.connect.is_none() && running_server(&g.db_path()).is_none() {
        g.require_db()?;
    }
    open_console(&g.db_path(), g.connect.as_deref(), &config)
}

/// Reads the configuration file and applies `NO_COLOR`, `--ascii` and the locale.
fn load_config(d: &DisplayArgs) -> anyhow::Result<Config> {
    let path = d
        .config
        .clone()
        .or_else(|| dirs::config_dir().map(|c| c.join("rapport").join("console.toml")));
    let mut config = match path {
        Some(p) => Config::load(&p)?,
        None => Config::default(),
    };
    // https://no-color.org: any non-empty value turns colours off.
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        config.color = false;
    }
    if d.ascii || !locale_is_utf8() {
        config.ascii = true;
    }
    Ok(config)
}

/// Whether the locale promises UTF-8 (the first of LC_ALL, LC_CTYPE, LANG that is set).
fn locale_is_utf8() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}

/// `./fixtures/demo` when run from a checkout, else the source tree's copy.
fn default_fixtures() -> anyhow::Result<PathBuf> {
    let here = PathBuf::from("fixtures/demo");
    if here.join("manifest.json").exists() {
        return Ok(here);
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    if built_in.join("manifest.json").exists() {
        return Ok(built_in);
    }
    bail!(
        "cannot find the demo world (fixtures/demo/manifest.json): run from the Rapport \
         checkout or pass --fixtures DIR"
    )
}

/// Builds the demo database: ingest with every date moved to today, then scoring. Built
/// beside the final directory and renamed into place, so an interrupted build leaves no
/// half-built demo behind.
fn build_demo(fixtures: &Path, db: &Path, reset: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let manifest_json = fixtures.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_json)
        .with_context(|| format!("reading {}", manifest_json.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", manifest_json.display()))?;
    let as_of: jiff::civil::Date = manifest
        .get("as_of")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{}: field as_of is missing", manifest_json.display()))?
        .parse()
        .with_context(|| format!("{}: field as_of is not a date", manifest_json.display()))?;
    // The world is seen as of 22:00 UTC on its as-of date, after its last planted event
    // (the rebooked passenger's check-in at 21:15). That instant becomes now, so "today's"
    // events are in the past and recent: the gate voucher of 18:20 shows as a few hours ago.
    let world_clock = as_of
        .at(22, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .with_context(|| format!("the demo clock on {as_of}"))?
        .timestamp();
    let now = jiff::Timestamp::now();
    let shift_ms = now.as_millisecond() - world_clock.as_millisecond();
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let shift = shift_ms.div_euclid(86_400_000);
    let ingest_toml = fixtures.join("ingest.toml");
    if !ingest_toml.exists() {
        bail!(
            "{} is missing: the demo world has no source mappings",
            ingest_toml.display()
        );
    }

    let building = db.with_extension("building");
    if building.exists() {
        std::fs::remove_dir_all(&building)
            .with_context(|| format!("removing the unfinished build {}", building.display()))?;
    }
    if let Some(parent) = db.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    eprintln!(
        "Building the demo database in {}{}",
        db.display(),
        if reset { " (--reset)" } else { " (first run)" }
    );
    // Each step a line of its own that says what is being built (no progress bars: the whole
    // build takes a few seconds, and a line is what a terminal, a log or a script can read).
    eprintln!("Building the demo database from {}", fixtures.display());
    eprintln!(
        "Building the demo database: times moved by {} h ({as_of} 22:00 UTC is now, {today})",
        shift_ms / 3_600_000
    );
    let store = rapport_store::Store::open(&building)
        .with_context(|| format!("creating the database at {}", building.display()))?;
    let opts = rapport_repository::IngestOptions {
        time_shift_days: shift,
        time_shift_millis: shift_ms.rem_euclid(86_400_000),
        progress: false,
        ..Default::default()
    };
    let report = rapport_repository::ingest_manifest(&store, &ingest_toml, &opts)
        .with_context(|| format!("ingesting {}", ingest_toml.display()))?;
    eprintln!(
        "Building the demo database: {} rows read, {} stored, {} quarantined",
        report.rows_read, report.rows_stored, report.rows_quarantined,
    );
    eprintln!(
        "Building the demo database: {} customers, {} interactions, {} grants",
        report.customers_created, report.interactions_stored, report.grants_stored
    );
    eprintln!(
        "Building the demo database: scoring value, lifetime value, P(alive), churn and tiers"
    );
    let scored = run_scoring(
        &store,
        &ScoreOptions {
            progress: false,
            ..ScoreOptions::default()
        },
    )
    .context("scoring the demo customers")?;
    eprintln!(
        "Building the demo database: scored {} customers",
        scored.scored
    );
    store.flush().context("flushing the demo database")?;
    drop(store);
    if db.exists() {
        std::fs::remove_dir_all(db)
            .with_context(|| format!("removing the old demo database {}", db.display()))?;
    }
    std::fs::rename(&building, db)
        .with_context(|| format!("moving {} to {}", building.display(), db.display()))?;
    eprintln!(
        "Demo database ready in {:.1} s. Opening the console (/ to search, ? for keys, q to \
         quit)...",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Opens the console: on a server (login screen) when `connect` is given or a server holds
/// the database, else embedded on the database as local admin.
fn open_console(db: &Path, connect: Option<&str>, config: &Config) -> anyhow::Result<ExitCode> {
    let addr = connect
        .map(str::to_string)
        .or_else(|| running_server(db).and_then(|a| a.preferred().map(str::to_string)));
    let rt = runtime()?;
    rt.block_on(async move {
        match addr {
            Some(addr) => {
                let user = std::env::var("RAPPORT_USER").ok().filter(|u| !u.is_empty());
                let password = std::env::var("RAPPORT_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty());
                if let (Some(u), Some(p)) = (&user, &password) {
                    // Credentials from the environment: no login screen.
                    let svc = Remote::connect(&addr, u, p)
                        .await
                        .with_context(|| format!("connecting to {}", sanitize(&addr)))?;
                    return run(svc, config).await;
                }
                let mut tui = Tui::start().context("taking over the terminal")?;
                let svc = tui
                    .login(&addr, user.as_deref(), config, |u, p| {
                        let addr = addr.clone();
                        async move { Remote::connect(&addr, &u, &p).await }
                    })
                    .await?;
                match svc {
                    Some(svc) => tui.run(svc, config).await?,
                    None => return Ok(ExitCode::SUCCESS),
                }
                Ok(ExitCode::SUCCESS)
            }
            None => {
                // Take the terminal first and say what is happening: opening a large database
                // can take seconds. An error restores the terminal (the Tui is dropped) before
                // it is printed.
                let mut tui = Tui::start().context("taking over the terminal")?;
                tui.splash(
                    &format!("Opening the database at {}...", db.display()),
                    config,
                )?;
                let path = db.to_path_buf();
                let svc = tokio::task::spawn_blocking(move || Embedded::open(&path))
                    .await
                    .context("opening the database")?
                    .with_context(|| format!("opening the database at {}", db.display()))?;
                tui.run(svc, config).await?;
                drop(tui);
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

async fn run<S: Service>(svc: S, config: &Config) -> anyhow::Result<ExitCode> {
    let mut tui = Tui::start().context("taking over the terminal")?;
    tui.run(svc, config).await?;
    drop(tui);
    Ok(ExitCode::SUCCESS)
}
