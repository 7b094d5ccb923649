//! `score`, `clv fit`, `tiers`, `skew`, `lists`, `value explain`, `rates`: the analyst's
//! commands.
//!
//! `clv fit` works on the analyst's own CSV files and never opens the database. The others go
//! through the service (embedded, or the server that holds the database): `score` asks it to
//! run scoring (rapport-scoring) where the store is, and `tiers`, `skew` and `lists` read the
//! run's results back through it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use rapport_analytics::{
    BgNbd, DayTransaction, Fit, FitOptions, GammaGamma, ParetoNbd, Periods, Rfm, SkewSummary,
    ValueDefinition, summarize,
};
use rapport_core::text::sanitize;
use rapport_core::{CustomerId, Timestamp};
use rapport_scoring::ScoreReport;
use rapport_service::Operations;
use rapport_service::data::{ScoreRequest, SkewView, TiersView};
use serde::Serialize;

use crate::cmd::service::{connect, finish, runtime};
use crate::global::Global;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Rescore only customers whose history changed since the last run (new interactions or
    /// no scores yet), with the last full run's models and tier cut-offs.
    #[arg(long)]
    pub incremental: bool,
    /// Score as of this date (YYYY-MM-DD) instead of now.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// A value definition (JSON, the shape `rapport score --json` shows under
    /// `value_definition`) to store as the one in force before scoring.
    #[arg(long, value_name = "FILE")]
    pub value_definition: Option<PathBuf>,
    /// Worker threads for scoring.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClvCommand {
    /// Fit BG/NBD, Gamma-Gamma and Pareto/NBD on a summary or a transaction log and print the
    /// parameters, log-likelihoods and, with a holdout, predicted vs actual repeat transactions.
    Fit(ClvFitArgs),
}

#[derive(Debug, Args)]
pub struct ClvFitArgs {
    /// A summary CSV with columns `frequency,recency,T` and optionally `monetary_value`
    /// (Fader and Hardie's `x,t_x,T,zbar` are accepted too).
    #[arg(long, value_name = "CSV", conflicts_with = "transactions")]
    pub summary: Option<PathBuf>,
    /// A transaction log CSV (columns `customer_id,date,amount` by default).
    #[arg(long, value_name = "CSV", requires = "calibration_end")]
    pub transactions: Option<PathBuf>,
    /// Last day of the calibration period (YYYY-MM-DD), inclusive.
    #[arg(long, value_name = "DATE")]
    pub calibration_end: Option<String>,
    /// Last day of the holdout period (YYYY-MM-DD), inclusive.
    #[arg(long, value_name = "DATE", requires = "transactions")]
    pub holdout_end: Option<String>,
    /// Name of the customer column.
    #[arg(long, default_value = "customer_id")]
    pub customer_col: String,
    /// Name of the date column (YYYY-MM-DD, YYYYMMDD or an RFC 3339 time).
    #[arg(long, default_value = "date")]
    pub date_col: String,
    /// Name of the amount column (without it, Gamma-Gamma is skipped).
    #[arg(long, default_value = "amount")]
    pub amount_col: String,
    /// Time unit of recency, T and the parameters.
    #[arg(long, value_enum, default_value_t = Unit::Week)]
    pub unit: Unit,
    /// Models to fit, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "bgnbd,gg,pnbd")]
    pub models: Vec<Model>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A time unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Day,
    Week,
    Month,
}

impl Unit {
    fn days(self) -> f64 {
        match self {
            Unit::Day => 1.0,
            Unit::Week => 7.0,
            Unit::Month => 365.25 / 12.0,
        }
    }
}

/// A model `clv fit` can fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// BG/NBD transactions.
    Bgnbd,
    /// Gamma-Gamma spend.
    Gg,
    /// Pareto/NBD transactions.
    Pnbd,
}

#[derive(Debug, Args)]
pub struct TiersArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SkewArgs {
    /// Also print the Lorenz curve (in 5% steps).
    #[arg(long)]
    pub lorenz: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListsArgs {
    /// The list: complainers, halved, single-product, lost-valuable, at-risk. Without it, every
    /// list with its size.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Show at most this many customers (short lists work better).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

// ---------------------------------------------------------------------------------------------
// score

pub fn score(g: &Global, a: ScoreArgs) -> anyhow::Result<ExitCode> {
    let as_of = a
        .as_of
        .as_deref()
        .map(|s| {
            let day = parse_day(s).with_context(|| format!("--as-of {s:?}"))?;
            // The end of that day: everything that happened on it counts.
            Ok::<_, anyhow::Error>(Timestamp::from_millis((day + 1) * 86_400_000 - 1))
        })
        .transpose()?;
    let value_definition = a
        .value_definition
        .as_deref()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str::<ValueDefinition>(&text)
                .with_context(|| format!("{}: not a value definition", p.display()))
        })
        .transpose()?;
    let rt = runtime()?;
    let client = rt.block_on(connect(g))?;
    let report = rt.block_on(client.score(ScoreRequest {
        incremental: a.incremental,
        as_of,
        value_definition,
        threads: a.threads,
    }))?;
    if a.json {
        println!("{}", crate::cmd::json_pretty(&report)?);
    } else {
        print_score_report(&report);
    }
    // The run flushed; the process exits next, so the page cache is not torn down.
    finish(client)?;
    Ok(ExitCode::SUCCESS)
}

fn print_score_report(r: &ScoreReport) {
    println!(
        "{} scoring run as of {}: {} of {} customers scored from {} interactions in {} ms",
        if r.full { "Full" } else { "Incremental" },
        r.at,
        r.scored,
        r.customers,
        r.interactions,
        r.timings_ms.get("total").copied().unwrap_or(0)
    );
    if let Some(n) = &r.note {
        println!("note: {n}");
    }
    println!("model version: {}", sanitize(&r.model_version));
    println!(
        "value definition v{}: {}",
        r.value_definition.version,
        sanitize(&r.value_definition.description)
    );
    println!(
        "tiers: A {}  B {}  C {}  D {}   tier changes: {}",
        r.tiers[0], r.tiers[1], r.tiers[2], r.tiers[3], r.tier_changes
    );
    println!("customer equity (sum of CLV): {:.2}", r.customer_equity);
    let m = &r.models;
    match &m.bgnbd {
        Some(f) => println!(
            "BG/NBD (weeks, {} customers): r {:.4}  alpha {:.4}  a {:.4}  b {:.4}  LL {:.2}",
            f.customers, f.params.r, f.params.alpha, f.params.a, f.params.b, f.log_likelihood
        ),
        None => println!(
            "BG/NBD: not fitted ({}); lifetime value uses observed retention {:.2}",
            m.bgnbd_error.as_deref().unwrap_or("unknown"),
            m.retention
        ),
    }
    match &m.gamma_gamma {
        Some(f) => println!(
            "Gamma-Gamma ({} customers): p {:.4}  q {:.4}  gamma {:.4}  LL {:.2}",
            f.customers, f.params.p, f.params.q, f.params.gamma, f.log_likelihood
        ),
        None => println!(
            "Gamma-Gamma: not fitted ({})",
            m.gamma_gamma_error.as_deref().unwrap_or("unknown")
        ),
    }
    for c in std::iter::once(&m.churn).chain(&m.propensity) {
        let label = if c.target == "churn" {
            "churn".to_string()
        } else {
            format!("propensity {}", sanitize(&c.target))
        };
        match (&c.error, c.auc_eval) {
            (None, Some(auc)) => println!(
                "{label}: trained on {} rows ({} positives), out-of-time AUC {auc:.3}{} on {} \
                 rows{}; used",
                c.train_rows,
                c.train_positives,
                c.auc_interval
                    .map(|(lo, hi)| format!(" [{lo:.3}, {hi:.3}]"))
                    .unwrap_or_default(),
                c.eval_rows,
                c.baseline
                    .as_ref()
                    .map(|(n, b)| format!(" ({} alone: {b:.3})", sanitize(n)))
                    .unwrap_or_default(),
            ),
            (err, auc) => println!(
                "{label}: {}{}",
                auc.map(|a| format!("AUC {a:.3}; ")).unwrap_or_default(),
                sanitize(err.as_deref().unwrap_or("no evaluation"))
            ),
        }
    }
    if let Some(p) = &m.p_alive {
        let fmt = |a: &Option<(f64, f64, f64)>| {
            a.map_or("-".to_string(), |(a, lo, hi)| {
                format!("{a:.3} [{lo:.3}, {hi:.3}]")
            })
        };
        let candidates: Vec<String> = p
            .candidates
            .iter()
            .map(|c| match &c.error {
                Some(e) => format!("{} no fit ({})", c.model, sanitize(e)),
                None => format!("{} {}", c.model, fmt(&c.auc)),
            })
            .collect();
        println!(
            "P(alive): {} chosen by out-of-time AUC on {} customers ({} bought again): {}; \
             recency alone {}{}",
            p.chosen,
            p.rows,
            p.bought_again,
            candidates.join(", "),
            fmt(&p.recency_auc),
            if p.beats_recency {
                ""
            } else {
                " (no model beats recency here)"
            }
        );
    }
    if let Some(sk) = &r.skew {
        println!(
            "value skew: {} (top 2% bring {:.0}%, top 20% bring {:.0}%, Gini {:.2})",
            sk.verdict.as_str(),
            100.0 * share_at(sk, 0.02),
            100.0 * share_at(sk, 0.20),
            sk.gini
        );
    }
    if !r.lists.is_empty() {
        let parts: Vec<String> = r.lists.iter().map(|(n, c)| format!("{n} {c}")).collect();
        println!("working lists: {}", parts.join(", "));
    }
}

fn share_at(sk: &SkewSummary, q: f64) -> f64 {
    sk.top_shares
        .iter()
        .find(|(p, _)| (p - q).abs() < 1e-9)
        .map_or(0.0, |(_, s)| *s)
}

// ---------------------------------------------------------------------------------------------
// tiers, skew, lists

/// Runs one service call for a command and ends the client.
fn call<T>(
    g: &Global,
    f: impl AsyncFnOnce(&rapport_service::Client) -> Result<T, rapport_service::ServiceError>,
) -> anyhow::Result<T> {
    let rt = runtime()?;
    let client = rt.block_on(connect(g))?;
    let r = rt.block_on(f(&client));
    finish(client)?;
    Ok(r?)
}

pub fn tiers(g: &Global, a: TiersArgs) -> anyhow::Result<ExitCode> {
    let TiersView { tiers: t, segments } = call(g, async |c| c.tiers().await)?;
    if a.json {
        let v = serde_json::json!({ "tiers": t, "segments": segments });
        println!("{}", crate::cmd::json_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Tiers as of {} ({}), ranked by {}",
        t.at,
        sanitize(&t.model_version),
        t.measure
    );
    println!(
        "{:<5} {:>10} {:>16} {:>8} {:>16} {:>16}",
        "tier", "customers", "value", "share", "profit", "CLV"
    );
    for r in &t.tiers {
        println!(
            "{:<5} {:>10} {:>16.2} {:>7.1}% {:>16.2} {:>16.2}",
            r.tier.to_string(),
            r.customers,
            r.value,
            100.0 * r.value_share,
            r.profit,
            r.clv
        );
    }
    println!(
        "cut-offs: A from {:.2}, B from {:.2}, C from {:.2} (by rank: ties at a cut-off are split \
         by lifetime value)",
        t.tiering.a_cutoff,
        t.tiering.b_cutoff,
        if t.tiering.c_cutoff == f64::MIN {
            f64::NEG_INFINITY
        } else {
            t.tiering.c_cutoff
        }
    );
    println!(
        "top: {} customers bring {:.1}% of value; bottom: {} customers, profit {:.2}{}",
        t.top_customers,
        100.0 * t.top_value_share,
        t.bottom_customers,
        t.bottom_profit,
        if t.bottom_profit < 0.0 {
            " (they cost money)"
        } else {
            ""
        }
    );
    if t.negative_customers > 0 {
        println!(
            "negative value: {} customers cost more than they bring (value {:.2} in all)",
            t.negative_customers, t.negative_value
        );
    }
    if !t.movements.is_empty() {
        println!("moves since the previous run:");
        for m in &t.movements {
            println!(
                "  {:>5} -> {}  {:>8} customers",
                m.from.map_or("new".to_string(), |f| f.to_string()),
                m.to,
                m.customers
            );
        }
    }
    if let Some(segments) = segments {
        println!("segments:");
        for s in segments {
            println!(
                "  {:<14} {:>10} customers  CLV {:>16.2}  ({:.1}% of customer equity)",
                sanitize(&s.segment),
                s.customers,
                s.total_clv,
                100.0 * s.equity_share
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn skew(g: &Global, a: SkewArgs) -> anyhow::Result<ExitCode> {
    let SkewView { value: sk, profit } = call(g, async |c| c.skew().await)?;
    if a.json {
        let v = serde_json::json!({ "value": sk, "profit": profit });
        println!("{}", crate::cmd::json_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    for s in std::iter::once(&sk).chain(profit.as_ref()) {
        println!(
            "Skew of {} across {} customers as of {}: {}",
            s.measure,
            s.customers,
            s.at,
            s.verdict.as_str()
        );
        for (q, share) in &s.top_shares {
            println!("  top {:>4.0}% bring {:>5.1}%", 100.0 * q, 100.0 * share);
        }
        println!(
            "  half of the {} comes from the top {:.1}% of customers; Gini {:.3}{}",
            s.measure,
            100.0 * s.share_for_half,
            s.gini,
            if s.negative_customers > 0 {
                format!(
                    "; {} customers below zero counted as zero",
                    s.negative_customers
                )
            } else {
                String::new()
            }
        );
        if a.lorenz {
            println!(
                "  Lorenz curve (customers from the bottom -> share of {}):",
                s.measure
            );
            for (p, l) in s.lorenz.iter().step_by(5) {
                println!("    {:>5.0}% -> {:>5.1}%", 100.0 * p, 100.0 * l);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn lists(g: &Global, a: ListsArgs) -> anyhow::Result<ExitCode> {
    let Some(name) = a.name.clone() else {
        let all = call(g, async |c| c.working_lists().await)?;
        if all.iter().all(|l| l.total.is_none()) {
            bail!("no working lists yet: run `rapport score` first");
        }
        if a.json {
            println!("{}", crate::cmd::json_pretty(&all)?);
        } else {
            for l in all {
                println!(
                    "{:<15} {:>8}  {}",
                    l.name,
                    l.total.map_or("-".to_string(), |t| t.to_string()),
                    sanitize(&l.title)
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let list = call(g, async |c| c.working_list(&name, a.limit).await)?;
    if a.json {
        println!("{}", crate::cmd::json_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} ({} customers, as of {}; showing {})",
        sanitize(&list.title),
        list.total,
        list.at,
        list.entries.len()
    );
    for e in &list.entries {
        let who = e.name.as_deref().unwrap_or("(no longer in the store)");
        println!(
            "  {}  {:<28} tier {}  {:>12.2}  {}",
            e.customer,
            sanitize(who),
            e.tier,
            e.rank_value,
            sanitize(&e.reason)
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// value explain

#[derive(Debug, Subcommand)]
pub enum ValueCommand {
    /// Every amount of a customer with how it counts: its currency and day rate, and whether
    /// it is this customer's money or another source's record of the same event (a booking's
    /// ledger entry, a payer's account), with both sources named.
    Explain(ValueExplainArgs),
}

#[derive(Debug, Args)]
pub struct ValueExplainArgs {
    /// The customer (e.g. C00000042).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn value(g: &Global, c: ValueCommand) -> anyhow::Result<ExitCode> {
    let ValueCommand::Explain(a) = c;
    let id: CustomerId =
        a.id.parse()
            .with_context(|| format!("{} is not a customer id", sanitize(&a.id)))?;
    let v = match call(g, async |c| c.explain_value(id).await) {
        Err(e)
            if e.downcast_ref::<rapport_service::ServiceError>()
                .is_some_and(|e| matches!(e, rapport_service::ServiceError::NotFound(_))) =>
        {
            bail!("no customer {id}")
        }
        other => other?,
    };
    if a.json {
        let v = serde_json::json!({
            "customer": v.customer,
            "reporting": v.reporting,
            "rates_source": v.rates_source,
            "amounts": v.amounts,
        });
        println!("{}", crate::cmd::json_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let out = &v.amounts;
    let counted: f64 = out
        .iter()
        .filter(|e| e.counted)
        .filter_map(|e| e.reporting)
        .sum();
    println!(
        "{id} {}: {} amounts, {} counted, {counted:.2} {} in all (rates: {})",
        sanitize(&v.name),
        out.len(),
        out.iter().filter(|e| e.counted).count(),
        v.reporting,
        sanitize(&v.rates_source)
    );
    for e in out {
        println!(
            "  {}  {:<24} {:<12} {:<9} {:>14} = {:>10} {}  {}{}",
            e.day,
            sanitize(e.source.as_deref().unwrap_or("-")),
            sanitize(&e.kind),
            sanitize(e.product.as_deref().unwrap_or("")),
            e.amount,
            e.reporting.map_or("-".to_string(), |v| format!("{v:.2}")),
            v.reporting,
            if e.counted { "counted" } else { "not counted" },
            match (&e.counted_on, e.counted) {
                (_, true) if e.why == "counted" => String::new(),
                (Some(on), false) => format!(": {}; carried by {}", sanitize(&e.why), sanitize(on)),
                _ => format!(": {}", sanitize(&e.why)),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// rates

#[derive(Debug, Subcommand)]
pub enum RatesCommand {
    /// Load exchange rates by day from a CSV in the ECB reference-rate layout (a `Date` column,
    /// one column per currency in units per reporting-currency unit); added to the rates
    /// stored, a day loaded again replaced.
    Load(RatesLoadArgs),
    /// Show the rates stored: the reporting currency, the source and each currency's days.
    Show(RatesShowArgs),
}

#[derive(Debug, Args)]
pub struct RatesLoadArgs {
    /// The rates file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where the rates come from, shown with every report (default: the file's name).
    #[arg(long)]
    pub source: Option<String>,
    /// The currency the rates are quoted against.
    #[arg(long, default_value = "EUR")]
    pub reporting: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RatesShowArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn rates(g: &Global, c: RatesCommand) -> anyhow::Result<ExitCode> {
    match c {
        RatesCommand::Load(a) => {
            let path = crate::cmd::repository::absolute(&a.file)?;
            let r = call(g, async |c| {
                c.load_rates(&path, a.source.clone(), &a.reporting).await
            })?;
            if a.json {
                println!("{}", crate::cmd::json_pretty(&r)?);
            } else {
                println!(
                    "{} published days of {} currencies loaded from {} ({} to {}), per {}",
                    r.days,
                    r.currencies.len(),
                    sanitize(&r.source),
                    r.first.as_deref().unwrap_or("-"),
                    r.last.as_deref().unwrap_or("-"),
                    r.reporting
                );
                println!(
                    "Run `rapport score` to report every amount in {}.",
                    r.reporting
                );
            }
        }
        RatesCommand::Show(a) => {
            let Some(rates) = call(g, async |c| c.rates().await)? else {
                if a.json {
                    println!("null");
                } else {
                    println!(
                        "No exchange rates stored: only amounts in EUR can be scored. Load \
                         rates with `rapport rates load FILE`."
                    );
                }
                return Ok(ExitCode::SUCCESS);
            };
            if a.json {
                let v = serde_json::json!({
                    "reporting": rates.reporting,
                    "source": rates.source,
                    "currencies": rates.currencies.iter().map(|c| serde_json::json!({
                        "currency": c.currency, "first": c.first, "last": c.last,
                        "days": c.days,
                    })).collect::<Vec<_>>(),
                });
                println!("{}", crate::cmd::json_pretty(&v)?);
            } else {
                println!(
                    "Reporting currency {}; rates from {}",
                    rates.reporting,
                    sanitize(&rates.source)
                );
                for c in &rates.currencies {
                    println!(
                        "  {}  {} to {}  {:>5} days  last {} per {}",
                        c.currency, c.first, c.last, c.days, c.last_rate, rates.reporting
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// clv fit

pub fn clv(_g: &Global, c: ClvCommand) -> anyhow::Result<ExitCode> {
    match c {
        ClvCommand::Fit(a) => clv_fit(a),
    }
}

/// One model's outcome in `clv fit`.
#[derive(Debug, Serialize)]
struct ModelOutcome<P: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    fit: Option<Fit<P>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    fit_ms: f64,
}

#[derive(Debug, Serialize)]
struct Holdout {
    length: f64,
    actual: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    bgnbd_predicted: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pareto_nbd_predicted: Option<f64>,
}

#[derive(Debug, Serialize)]
struct ClvFitReport {
    input: String,
    unit: Unit,
    customers: usize,
    repeat_customers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen_after_calibration: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bgnbd: Option<ModelOutcome<BgNbd>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gamma_gamma: Option<ModelOutcome<GammaGamma>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pareto_nbd: Option<ModelOutcome<ParetoNbd>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    holdout: Option<Holdout>,
}

fn timed<P: Serialize>(
    f: impl FnOnce() -> Result<Fit<P>, rapport_analytics::Error>,
) -> ModelOutcome<P> {
    let t = Instant::now();
    let r = f();
    let fit_ms = t.elapsed().as_secs_f64() * 1000.0;
    match r {
        Ok(fit) => ModelOutcome {
            fit: Some(fit),
            error: None,
            fit_ms,
        },
        Err(e) => ModelOutcome {
            fit: None,
            error: Some(e.to_string()),
            fit_ms,
        },
    }
}

fn clv_fit(a: ClvFitArgs) -> anyhow::Result<ExitCode> {
    let (input, rfm, holdout_data, late, has_spend) = match (&a.summary, &a.transactions) {
        (Some(path), None) => {
            let (rfm, has_spend) = read_summary(path)?;
            (path.display().to_string(), rfm, None, None, has_spend)
        }
        (None, Some(path)) => {
            let cal = a
                .calibration_end
                .as_deref()
                .context("--calibration-end is required")?;
            let calibration_end =
                parse_day(cal).with_context(|| format!("--calibration-end {cal:?}"))?;
            let holdout_end = a
                .holdout_end
                .as_deref()
                .map(|h| parse_day(h).with_context(|| format!("--holdout-end {h:?}")))
                .transpose()?;
            if holdout_end.is_some_and(|h| h <= calibration_end) {
                bail!("--holdout-end must be after --calibration-end");
            }
            let (tx, has_spend) = read_transactions(path, &a)?;
            let s = summarize(
                &tx,
                &Periods {
                    calibration_end,
                    holdout_end,
                    unit_days: a.unit.days(),
                },
            );
            if s.customers.is_empty() {
                bail!(
                    "{}: no customer's first transaction is on or before the calibration end {cal}",
                    path.display()
                );
            }
            let rfm: Vec<Rfm> = s.customers.iter().map(|c| c.rfm).collect();
            let holdout = holdout_end.map(|_| {
                (
                    s.holdout_length,
                    s.customers
                        .iter()
                        .map(|c| u64::from(c.holdout_transactions))
                        .sum::<u64>(),
                )
            });
            (
                path.display().to_string(),
                rfm,
                holdout,
                Some(s.first_seen_after_calibration),
                has_spend,
            )
        }
        _ => bail!("give either --summary CSV or --transactions CSV --calibration-end DATE"),
    };
    let opts = FitOptions::default();
    let bgnbd = a
        .models
        .contains(&Model::Bgnbd)
        .then(|| timed(|| BgNbd::fit(&rfm, &opts)));
    let gamma_gamma = (a.models.contains(&Model::Gg) && has_spend)
        .then(|| timed(|| GammaGamma::fit(&rfm, &opts)));
    let pareto_nbd = a
        .models
        .contains(&Model::Pnbd)
        .then(|| timed(|| ParetoNbd::fit(&rfm, &opts)));
    let holdout = match holdout_data {
        Some((length, actual)) => {
            let predict_bg = match bgnbd.as_ref().and_then(|o| o.fit.as_ref()) {
                Some(f) => Some(sum_predictions(&rfm, |d| {
                    f.params.conditional_expected_transactions(d, length)
                })?),
                None => None,
            };
            let predict_p = match pareto_nbd.as_ref().and_then(|o| o.fit.as_ref()) {
                Some(f) => Some(sum_predictions(&rfm, |d| {
                    f.params.conditional_expected_transactions(d, length)
                })?),
                None => None,
            };
            Some(Holdout {
                length,
                actual,
                bgnbd_predicted: predict_bg,
                pareto_nbd_predicted: predict_p,
            })
        }
        None => None,
    };
    let report = ClvFitReport {
        input,
        unit: a.unit,
        customers: rfm.len(),
        repeat_customers: rfm.iter().filter(|d| d.frequency > 0).count(),
        first_seen_after_calibration: late,
        bgnbd,
        gamma_gamma,
        pareto_nbd,
        holdout,
    };
    let failed = [
        report.bgnbd.as_ref().and_then(|o| o.error.as_ref()),
        report.gamma_gamma.as_ref().and_then(|o| o.error.as_ref()),
        report.pareto_nbd.as_ref().and_then(|o| o.error.as_ref()),
    ]
    .into_iter()
    .flatten()
    .count();
    if a.json {
        println!("{}", crate::cmd::json_pretty(&report)?);
    } else {
        print_clv_report(&report, has_spend, a.models.contains(&Model::Gg));
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn sum_predictions(
    rfm: &[Rfm],
    f: impl Fn(&Rfm) -> Result<f64, rapport_analytics::Error>,
) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for d in rfm {
        total += f(d)?;
    }
    Ok(total)
}

fn print_clv_report(r: &ClvFitReport, has_spend: bool, wanted_gg: bool) {
    let unit = match r.unit {
        Unit::Day => "days",
        Unit::Week => "weeks",
        Unit::Month => "months",
    };
    println!(
        "{}: {} customers, {} with repeat transactions (time in {unit})",
        sanitize(&r.input),
        r.customers,
        r.repeat_customers
    );
    if let Some(n) = r.first_seen_after_calibration.filter(|n| *n > 0) {
        println!("  {n} customers first seen after the calibration end are not modelled");
    }
    fn line<P: Serialize>(name: &str, o: &ModelOutcome<P>, params: impl Fn(&P) -> String) {
        match (&o.fit, &o.error) {
            (Some(f), _) => println!(
                "{name:<12} {}  log-likelihood {:.4}  ({} evaluations, {:.1} ms)",
                params(&f.params),
                f.log_likelihood,
                f.evaluations,
                o.fit_ms
            ),
            (None, Some(e)) => println!("{name:<12} FAILED: {e}"),
            (None, None) => {}
        }
    }
    if let Some(o) = &r.bgnbd {
        line("BG/NBD", o, |p| {
            format!(
                "r {:.4}  alpha {:.4}  a {:.4}  b {:.4}",
                p.r, p.alpha, p.a, p.b
            )
        });
    }
    if let Some(o) = &r.gamma_gamma {
        line("Gamma-Gamma", o, |p| {
            format!("p {:.4}  q {:.4}  gamma {:.4}", p.p, p.q, p.gamma)
        });
    } else if wanted_gg && !has_spend {
        println!("Gamma-Gamma  skipped: the input has no amounts");
    }
    if let Some(o) = &r.pareto_nbd {
        line("Pareto/NBD", o, |p| {
            format!(
                "r {:.4}  alpha {:.4}  s {:.4}  beta {:.4}",
                p.r, p.alpha, p.s, p.beta
            )
        });
    }
    if let Some(h) = &r.holdout {
        println!(
            "holdout ({:.2} {unit}): actual repeat transactions {}",
            h.length, h.actual
        );
        for (name, p) in [
            ("BG/NBD", h.bgnbd_predicted),
            ("Pareto/NBD", h.pareto_nbd_predicted),
        ] {
            if let Some(p) = p {
                println!(
                    "  {name:<11} predicted {p:.1} ({:+.1}% vs actual)",
                    if h.actual > 0 {
                        100.0 * (p / h.actual as f64 - 1.0)
                    } else {
                        0.0
                    }
                );
            }
        }
    }
}

/// Finds a column (case-insensitive) in a header.
fn column(headers: &csv::StringRecord, name: &str) -> Option<usize> {
    headers.iter().position(|h| {
        h.trim()
            .trim_start_matches('\u{feff}')
            .eq_ignore_ascii_case(name)
    })
}

fn open_csv(path: &Path) -> anyhow::Result<(csv::Reader<std::fs::File>, csv::StringRecord)> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers = r
        .headers()
        .with_context(|| format!("{}: reading the header", path.display()))?
        .clone();
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        bail!("{}: the file is empty (no header line)", path.display());
    }
    Ok((r, headers))
}

fn line_of(rec: &csv::StringRecord) -> u64 {
    rec.position().map_or(0, |p| p.line())
}

/// Reads a `frequency,recency,T[,monetary_value]` summary; returns whether it has spend.
fn read_summary(path: &Path) -> anyhow::Result<(Vec<Rfm>, bool)> {
    let (mut r, headers) = open_csv(path)?;
    // Fader and Hardie's names (x, t_x, zbar) are accepted too.
    let find = |name: &str, alias: &str| {
        column(&headers, name)
            .or_else(|| column(&headers, alias))
            .with_context(|| {
                format!(
                    "{} line 1: missing column `{name}` (the header has: {})",
                    path.display(),
                    sanitize(&headers.iter().collect::<Vec<_>>().join(","))
                )
            })
    };
    let (f, rec, t) = (
        find("frequency", "x")?,
        find("recency", "t_x")?,
        find("T", "T")?,
    );
    let m = column(&headers, "monetary_value").or_else(|| column(&headers, "zbar"));
    let mut out = Vec::new();
    for row in r.records() {
        let row = row.with_context(|| format!("{}: reading a row", path.display()))?;
        let line = line_of(&row);
        let num = |i: usize, name: &str| -> anyhow::Result<f64> {
            let raw = row.get(i).unwrap_or("");
            raw.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| {
                    format!(
                        "{} line {line}: column `{name}`: {:?} is not a number",
                        path.display(),
                        sanitize(raw)
                    )
                })
        };
        let frequency = num(f, "frequency")?;
        if frequency < 0.0 {
            bail!(
                "{} line {line}: column `frequency`: negative frequency {frequency}",
                path.display()
            );
        }
        if frequency.fract() != 0.0 || frequency > f64::from(u32::MAX) {
            bail!(
                "{} line {line}: column `frequency`: {frequency} is not a whole number of repeat transactions",
                path.display()
            );
        }
        let d = Rfm {
            frequency: frequency as u32,
            recency: num(rec, "recency")?,
            age: num(t, "T")?,
            monetary: match m {
                Some(i) => num(i, "monetary_value")?,
                None => 0.0,
            },
        };
        if let Some((field, reason)) = d.problem() {
            bail!("{} line {line}: column `{field}`: {reason}", path.display());
        }
        out.push(d);
    }
    if out.is_empty() {
        bail!("{}: no data rows after the header", path.display());
    }
    Ok((out, m.is_some()))
}

/// Reads a transaction log; returns the transactions and whether they have amounts.
fn read_transactions(
    path: &Path,
    a: &ClvFitArgs,
) -> anyhow::Result<(Vec<DayTransaction<String>>, bool)> {
    let (mut r, headers) = open_csv(path)?;
    let find = |name: &str, flag: &str| {
        column(&headers, name).with_context(|| {
            format!(
                "{} line 1: missing column `{name}` (the header has: {}; name another with {flag})",
                path.display(),
                sanitize(&headers.iter().collect::<Vec<_>>().join(",")),
            )
        })
    };
    let c = find(&a.customer_col, "--customer-col")?;
    let d = find(&a.date_col, "--date-col")?;
    let amount = match column(&headers, &a.amount_col) {
        Some(i) => Some(i),
        None if a.amount_col != "amount" => {
            find(&a.amount_col, "--amount-col")?;
            None
        }
        None => None,
    };
    let mut out = Vec::new();
    for row in r.records() {
        let row = row.with_context(|| format!("{}: reading a row", path.display()))?;
        let line = line_of(&row);
        let customer = row.get(c).unwrap_or("").to_string();
        if customer.is_empty() {
            bail!(
                "{} line {line}: column `{}`: empty customer id",
                path.display(),
                a.customer_col
            );
        }
        let raw_date = row.get(d).unwrap_or("");
        let day = parse_day(raw_date).with_context(|| {
            format!(
                "{} line {line}: column `{}`: {:?} is not a date",
                path.display(),
                a.date_col,
                sanitize(raw_date)
            )
        })?;
        let value = match amount {
            Some(i) => {
                let raw = row.get(i).unwrap_or("");
                let v = raw
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .with_context(|| {
                        format!(
                            "{} line {line}: column `{}`: {:?} is not a number",
                            path.display(),
                            a.amount_col,
                            sanitize(raw)
                        )
                    })?;
                if v < 0.0 {
                    bail!(
                        "{} line {line}: column `{}`: negative amount {v}",
                        path.display(),
                        a.amount_col
                    );
                }
                v
            }
            None => 0.0,
        };
        out.push(DayTransaction {
            customer,
            day,
            amount: value,
        });
    }
    if out.is_empty() {
        bail!("{}: no data rows after the header", path.display());
    }
    Ok((out, amount.is_some()))
}

/// Day number (days since 1970-01-01) of `YYYY-MM-DD`, `YYYYMMDD` or an RFC 3339 time (UTC).
fn parse_day(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Ok(rapport_analytics::day_of(t));
    }
    // A local date and time (`1997-01-01 10:30`): the date counts.
    let s = match s.get(..10) {
        Some(date) if s.len() > 10 && matches!(s.as_bytes()[10], b' ' | b'T') => date,
        _ => s,
    };
    let date: jiff::civil::Date = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &s[0..4], &s[4..6], &s[6..8]).parse()?
    } else {
        s.parse()?
    };
    let epoch = jiff::civil::date(1970, 1, 1);
    Ok(i64::from((date - epoch).get_days()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_in_three_shapes() {
        assert_eq!(parse_day("1970-01-02").unwrap(), 1);
        assert_eq!(
            parse_day("19970101").unwrap(),
            parse_day("1997-01-01").unwrap()
        );
        assert_eq!(
            parse_day("1997-01-01T23:00:00Z").unwrap(),
            parse_day("1997-01-01").unwrap()
        );
        assert_eq!(
            parse_day("1997-01-01 10:30").unwrap(),
            parse_day("1997-01-01").unwrap()
        );
        assert!(parse_day("1997-13-01").is_err());
        assert!(parse_day("yesterday").is_err());
    }
}
