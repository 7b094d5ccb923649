//! `demo` and `console`: the terminal console on the database, on a server, or on the demo
//! world built from `fixtures/demo`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use rapport_console::{Config, Tui};
use rapport_core::text::sanitize;
use rapport_governance::Role;
use rapport_service::{
    Embedded, OperatorAdmin, Remote, ServeOptions, ServerConfig, Service, running_server,
};

use crate::cmd::service::{is_loopback, runtime};
use crate::global::Global;
use rapport_scoring::{ScoreOptions, run_scoring};

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
    /// Serve the demo database instead of opening a console: other terminals then join it
    /// with `rapport demo` (two consoles, live updates between them). Creates the demo
    /// operators `jsmith` (gate agent) and `mrossi` (call center), the customer managers of
    /// the demo's portfolios (akeller, tmorgan, cdubois, rsingh, bnovak, lgarcia, jwright),
    /// the capability managers (pmeyer, lhansen, ecare) and the chief customer officer
    /// (`cco`), password `rapport-demo`.
    #[arg(long, conflicts_with = "build_only")]
    pub serve: bool,
    /// The address `--serve` listens on (loopback).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:7878",
        requires = "serve"
    )]
    pub listen: String,
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
    /// The channel you work at (gate, call_center, airport, ...): forms record it. Overrides
    /// `channel` in the configuration file; without either, each form asks.
    #[arg(long, env = "RAPPORT_CHANNEL", value_name = "CHANNEL")]
    pub channel: Option<String>,
    /// Where you work, e.g. `gate C12` or `desk 4`: forms and grants record it.
    #[arg(long, env = "RAPPORT_TOUCHPOINT", value_name = "TEXT")]
    pub touchpoint: Option<String>,
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
    if a.serve {
        return serve_demo(&db, &a.listen);
    }
    if running_server(&db).is_some() {
        eprintln!(
            "The demo server holds the demo database: joining it. Sign in as jsmith (gate) or \
             mrossi (call center), a customer manager such as lgarcia, or cco, password \
             {DEMO_PASSWORD}."
        );
    } else {
        eprintln!(
            "Two terminals on the demo, live: quit, run `rapport demo --serve`, then \
             `rapport demo` in two other terminals."
        );
    }
    open_console(&db, None, &config).map_err(|e| {
        // A second `rapport demo` while the first holds the database: say how to get two.
        let locked = e.chain().any(|c| {
            c.downcast_ref::<rapport_service::ServiceError>()
                .is_some_and(|s| matches!(s, rapport_service::ServiceError::Unavailable(_)))
        });
        if locked {
            e.context(
                "another `rapport demo` has the demo database open; to work in two terminals, \
                 quit it, run `rapport demo --serve` and then `rapport demo` in each terminal",
            )
        } else {
            e
        }
    })
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
    if let Some(ch) = &d.channel {
        if !rapport_core::Channel::BUILT_IN
            .iter()
            .any(|c| c.as_str() == ch)
        {
            bail!(
                "--channel {}: unknown channel (expected one of: {})",
                sanitize(ch),
                rapport_core::Channel::BUILT_IN
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        config.channel = Some(ch.clone());
    }
    if let Some(t) = &d.touchpoint {
        config.touchpoint = t.trim().to_string();
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
    let shift = demo_shift(as_of, world_clock, now);
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
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
    // The demo's directories are private like every database's (0700).
    if let Some(parent) = db.parent() {
        crate::global::create_private_dir(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    crate::global::create_private_dir(&building)
        .with_context(|| format!("creating {}", building.display()))?;
    eprintln!(
        "Building the demo database in {}{}",
        db.display(),
        if reset { " (--reset)" } else { " (first run)" }
    );
    // Each step a line of its own that says what is being built (no progress bars: the whole
    // build takes a few seconds, and a line is what a terminal, a log or a script can read).
    eprintln!("Building the demo database from {}", fixtures.display());
    eprintln!(
        "Building the demo database: times moved by {} h ({as_of} 22:00 UTC is now), dates \
         and disruption references by {} days ({as_of} is today, {today})",
        shift.millis_total() / 3_600_000,
        shift.days
    );
    let store = rapport_store::Store::open(&building)
        .with_context(|| format!("creating the database at {}", building.display()))?;
    let opts = rapport_repository::IngestOptions {
        time_shift_days: shift.days,
        time_shift_millis: shift.millis,
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
    let scored =
        run_scoring(&store, &ScoreOptions::default()).context("scoring the demo customers")?;
    eprintln!(
        "Building the demo database: scored {} customers",
        scored.scored
    );
    // Relationship governance: the demo's portfolios, customer managers, offers and rules,
    // and every customer placed in one portfolio by them, so each record shows its manager.
    let config_dir = fixtures.join("config");
    if config_dir.join("portfolios.toml").exists() {
        let now = rapport_core::Timestamp::now();
        let config =
            rapport_repository::portfolio::load_config_dir(&store, &config_dir, "demo", now)
                .with_context(|| format!("loading {}", config_dir.display()))?;
        let assigned =
            rapport_repository::portfolio::assign_all(&store, &config, "demo", false, now)
                .context("placing the demo customers in their portfolios")?;
        eprintln!(
            "Building the demo database: {} customers in {} portfolios, each with its \
             customer manager",
            assigned.customers,
            assigned.by_portfolio.len()
        );
        // The equity of this first run by portfolio, so `rapport equity` shows the change
        // after the next one.
        rapport_repository::portfolio::record_equity(&store)
            .context("recording the demo's customer equity")?;
    }
    // The goodwill policy of the demo world: before its day the call center gave goodwill
    // by mood, from it by policy; version 2, set on that day by the chief customer officer
    // through the service, so `rapport policy report` splits the grants at it.
    if let Some(from) = manifest
        .get("goodwill_policy_from")
        .and_then(|v| v.as_str())
    {
        let day: jiff::civil::Date = from.parse().with_context(|| {
            format!(
                "{}: goodwill_policy_from is not a date",
                manifest_json.display()
            )
        })?;
        let day = day
            .checked_add(jiff::Span::new().days(shift.days))
            .context("the goodwill policy's day moved to today")?;
        let at = day
            .to_zoned(jiff::tz::TimeZone::UTC)
            .context("the goodwill policy's day")?
            .timestamp();
        set_demo_policy(&store, rapport_core::Timestamp(at.as_millisecond()))?;
        eprintln!(
            "Building the demo database: goodwill by policy from {day} (policy v2; before it, \
             goodwill by mood)"
        );
    }
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

/// Sets the demo's policy version 2 (the standard table and limits) through the service,
/// as the chief customer officer, on the policy's day.
fn set_demo_policy(
    store: &rapport_store::Store,
    at: rapport_core::Timestamp,
) -> anyhow::Result<()> {
    let engine =
        rapport_service::Engine::new(store.clone()).with_clock(rapport_core::Clock::Fixed(at));
    let svc = Embedded::from_engine(std::sync::Arc::new(engine), "(demo build)".into())
        .acting_as("cco", Role::ChiefCustomerOfficer);
    let text = rapport_governance::PolicyFile {
        policy: rapport_governance::CompensationPolicy::standard(),
        limits: rapport_governance::ApprovalLimits::standard(),
    }
    .to_toml();
    let rt = runtime()?;
    rt.block_on(async {
        use rapport_service::Governance;
        svc.set_policy("demo goodwill policy", &text).await
    })
    .context("setting the demo's goodwill policy")?;
    Ok(())
}

/// The demo operators' password (a demo on loopback; never a real database's).
const DEMO_PASSWORD: &str = "rapport-demo";

/// The demo's operators: a gate agent and a call-center rep (front line); the customer
/// managers of the demo's portfolios (`fixtures/demo/config/portfolios.toml`); the capability
/// managers who own its offers; the chief customer officer.
const DEMO_OPERATORS: &[(&str, &str, Role)] = &[
    ("jsmith", "gate agent", Role::FrontLine),
    ("mrossi", "call center", Role::FrontLine),
    ("akeller", "corporate accounts", Role::CustomerManager),
    ("tmorgan", "travel agencies", Role::CustomerManager),
    ("cdubois", "premium travellers", Role::CustomerManager),
    ("rsingh", "foundation", Role::CustomerManager),
    (
        "bnovak",
        "UK and Ireland, and the unplaced",
        Role::CustomerManager,
    ),
    ("lgarcia", "continental Europe", Role::CustomerManager),
    ("jwright", "the Americas", Role::CustomerManager),
    (
        "pmeyer",
        "flights and airport products",
        Role::CapabilityManager,
    ),
    ("lhansen", "partner products", Role::CapabilityManager),
    ("ecare", "customer care", Role::CapabilityManager),
    ("cco", "chief customer officer", Role::ChiefCustomerOfficer),
];

/// `rapport demo --serve`: the demo operators exist, then the server holds the demo database
/// until Ctrl-C; `rapport demo` in other terminals finds it (the server file beside the
/// database) and signs in.
fn serve_demo(db: &Path, listen: &str) -> anyhow::Result<ExitCode> {
    if !is_loopback(listen) {
        bail!(
            "--listen {}: the demo serves on loopback only",
            sanitize(listen)
        );
    }
    let rt = runtime()?;
    rt.block_on(async {
        let path = db.to_path_buf();
        let local = tokio::task::spawn_blocking(move || Embedded::open(&path))
            .await
            .context("opening the demo database")?
            .with_context(|| format!("opening the demo database at {}", db.display()))?;
        let known: Vec<String> = local
            .operators()
            .await?
            .into_iter()
            .map(|o| o.name)
            .collect();
        for (name, _, role) in DEMO_OPERATORS {
            if !known.iter().any(|k| k == name) {
                local
                    .add_operator(name, *role, DEMO_PASSWORD)
                    .await
                    .with_context(|| format!("adding the demo operator {name}"))?;
            }
        }
        // The server opens the database itself: close this handle first.
        local.engine().flush()?;
        drop(local);
        anyhow::Ok(())
    })?;
    let opts = ServeOptions {
        db: db.to_path_buf(),
        listen: Some(listen.to_string()),
        socket: None,
        config: ServerConfig::default(),
    };
    rt.block_on(rapport_service::serve(opts, |addr| {
        eprintln!(
            "Demo server ready on {} (database {}). In two other terminals run \
             `rapport demo --channel gate --touchpoint \"gate C12\"` and `rapport demo \
             --channel call_center`, sign in as jsmith and mrossi (password {DEMO_PASSWORD}): \
             what one grants, the other sees at once. Stop with Ctrl-C.",
            addr.listen.as_deref().unwrap_or(listen),
            db.display()
        );
    }))
    .with_context(|| format!("serving the demo database at {}", db.display()))?;
    eprintln!("Demo server stopped; database flushed.");
    Ok(ExitCode::SUCCESS)
}

/// How the demo world is moved to the present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DemoShift {
    /// Whole days: the dates inside the data (a flight's date, the date inside a disruption
    /// reference) move by these, so the world's as-of date becomes today's date.
    days: i64,
    /// Milliseconds added to every time after the whole days (negative when the world's
    /// clock is later in its day than now is in today).
    millis: i64,
}

impl DemoShift {
    fn millis_total(&self) -> i64 {
        self.days * 86_400_000 + self.millis
    }
}

/// The world's clock (its as-of date at 22:00 UTC, after its last planted event) becomes now,
/// so "3 h ago" and "yesterday" read as the stories say; the dates move by the days from the
/// as-of date to today's date (UTC), so a reference's date stays the date of its flight, and
/// a voucher granted for `RP121/<as-of>` is found under `RP121/<today>` by every agent.
fn demo_shift(
    as_of: jiff::civil::Date,
    world_clock: jiff::Timestamp,
    now: jiff::Timestamp,
) -> DemoShift {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let days = i64::from((today - as_of).get_days());
    let total = now.as_millisecond() - world_clock.as_millisecond();
    DemoShift {
        days,
        millis: total - days * 86_400_000,
    }
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
                svc.engine().warm_search();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_shift_makes_the_as_of_date_today_and_its_clock_now() {
        let as_of: jiff::civil::Date = "2026-11-23".parse().unwrap();
        let world: jiff::Timestamp = "2026-11-23T22:00:00Z".parse().unwrap();
        for (now, days) in [
            ("2026-12-07T05:00:00Z", 14),
            ("2026-12-06T23:30:00Z", 13),
            ("2026-12-06T00:10:00Z", 13),
            ("2026-11-23T22:00:00Z", 0),
        ] {
            let now: jiff::Timestamp = now.parse().unwrap();
            let s = demo_shift(as_of, world, now);
            assert_eq!(s.days, days, "{now}");
            // Times: the world's clock is now, to the millisecond.
            assert_eq!(
                world.as_millisecond() + s.millis_total(),
                now.as_millisecond()
            );
        }
    }
}
