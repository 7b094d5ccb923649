//! `score`, `clv fit`, `tiers`, `skew`, `lists`: the analyst's commands.
//!
//! `clv fit` works on the analyst's own CSV files and never opens the database. `score` reads
//! every customer's history from the store, fits the models (rapport-analytics), writes one
//! `Scores` per customer plus the run's documents (shapes in rapport-analytics' crate doc),
//! and `tiers`, `skew` and `lists` read those documents back.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rapport_analytics::{
    Activity, BgNbd, Converter, DayTransaction, Fit, FitOptions, FittedModels, FlatDigest,
    GammaGamma, HistoryDigest, ListName, ModelReport, ParetoNbd, Periods, Rfm, RunSummary,
    ScoreTable, ScoringConfig, SegmentValue, SkewSummary, TierContribution, TierHistory,
    TierSummary, ValueDefinition, WorkingList, fit_models, flat_digest_is_current, score_table,
    segment_values, summarize, summarize_touches, working_lists,
};
use rapport_core::text::sanitize;
use rapport_core::{CustomerId, Interaction, Tier, Timestamp};
use rapport_store::codec::PAGE_SLOTS;
use rapport_store::{Batch, Durability, Propensities, ScoreView, Store};
use serde::Serialize;

use crate::global::Global;

/// Document collection of the run's results.
pub const COLLECTION: &str = "analytics";
/// Document collection of tier changes per customer.
pub const TIER_HISTORY: &str = "tier_history";

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

/// Options of a scoring run.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Rescore only customers whose history changed since the last run.
    pub incremental: bool,
    /// Score as of this instant (default: now).
    pub as_of: Option<Timestamp>,
    /// A value definition to store as the one in force before scoring.
    pub value_definition: Option<ValueDefinition>,
    /// Worker threads.
    pub threads: usize,
    /// Show a progress bar on stderr (only drawn on a terminal).
    pub progress: bool,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            incremental: false,
            as_of: None,
            value_definition: None,
            threads: 2,
            progress: false,
        }
    }
}

/// What a scoring run did.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    /// A full run (false: incremental).
    pub full: bool,
    /// Why an incremental request ran in full, if it did.
    pub note: Option<String>,
    /// The model version written with every score.
    pub model_version: String,
    /// Scored as of.
    pub at: Timestamp,
    /// Customers in the store.
    pub customers: u64,
    /// Customers scored by this run.
    pub scored: u64,
    /// Interactions the scored histories hold (read from the store's history digests, or
    /// from the interactions themselves for the customers in `histories_read`).
    pub interactions: u64,
    /// Customers whose interactions were read (no current history digest: new or changed
    /// since the last run); the others' came from their digests.
    pub histories_read: u64,
    /// Tier changes recorded.
    pub tier_changes: u64,
    /// Customers per tier among those scored (A, B, C, D).
    pub tiers: [u64; 4],
    /// The value definition in force.
    pub value_definition: ValueDefinition,
    /// Skew of value (full runs).
    pub skew: Option<SkewSummary>,
    /// Working-list sizes (full runs).
    pub lists: Vec<(String, u64)>,
    /// Customer equity: the sum of the lifetime values scored.
    pub customer_equity: f64,
    /// How the models fitted.
    pub models: ModelReport,
    /// Milliseconds reading, fitting, scoring, writing.
    pub timings_ms: BTreeMap<String, u64>,
}

/// Runs a scoring run on the store: reads every customer's history, fits the models (or reuses
/// the last run's when incremental), writes scores, tier history, working lists and skew.
pub fn run_scoring(store: &Store, opts: &ScoreOptions) -> anyhow::Result<ScoreReport> {
    let started = Instant::now();
    let at = opts.as_of.unwrap_or_else(Timestamp::now);
    let mut timings = BTreeMap::new();
    if let Some(def) = &opts.value_definition {
        def.validate().context("the value definition")?;
        let mut b = Batch::default();
        b.put_doc(COLLECTION, "value_definition", def)?;
        store.write(b, Durability::Durable)?;
    }
    let value: ValueDefinition = match store.doc(COLLECTION, "value_definition")? {
        Some(v) => v,
        None => {
            let def = ValueDefinition::default();
            let mut b = Batch::default();
            b.put_doc(COLLECTION, "value_definition", &def)?;
            store.write(b, Durability::Durable)?;
            def
        }
    };
    let cfg = ScoringConfig {
        value: value.clone(),
        threads: opts.threads.max(1),
        ..ScoringConfig::default()
    };
    // Every amount is converted into the reporting currency at its day's rate; without
    // stored rates only amounts already in euros convert, and any other stops the run below.
    let rates = rapport_repository::rates::stored(store)
        .context("reading the exchange rates")?
        .unwrap_or_else(|| {
            rapport_core::ExchangeRates::reporting_only(rapport_core::Currency::EUR)
        });
    let converter = Converter::new(&rates);

    let mut note = None;
    let previous: Option<(FittedModels, RunSummary)> = if opts.incremental {
        let models: Option<FittedModels> = store.doc(COLLECTION, "models")?;
        let run: Option<RunSummary> = store.doc(COLLECTION, "run")?;
        match (models, run) {
            (Some(m), Some(r)) if m.value == value => Some((m, r)),
            (Some(_), Some(_)) => {
                note =
                    Some("the value definition changed since the last run: scored in full".into());
                None
            }
            _ => {
                note = Some("no previous run to rescore against: scored in full".into());
                None
            }
        }
    } else {
        None
    };

    // Read: every customer's history digest (what scoring reads of each interaction), in
    // customer order, split across the worker threads by customer id range. A customer
    // without a current digest (new, or its interactions changed since the last run) has its
    // interactions read and a new digest made, stored with its scores.
    let t = Instant::now();
    let watermark = store
        .next_interaction_ids(0)
        .context("reading the interaction counter")?
        .start
        .saturating_sub(1);
    let parts = read_histories(store, at, previous.is_some(), cfg.threads, &converter)?;
    let mut customers = 0u64;
    let mut interactions = 0u64;
    let mut rebuilt = 0u64;
    // The first part's vectors are kept and the others appended (a large vector grows in
    // place by remapping its pages, so most of a million histories are not copied).
    let mut parts = parts.into_iter();
    let first = parts.next().unwrap_or_default();
    customers += first.customers;
    interactions += first.interactions;
    rebuilt += first.rebuilt;
    let mut ids: Vec<CustomerId> = first.ids;
    let mut activities: Vec<Activity> = first.activities;
    let mut old_tiers: Vec<Option<Tier>> = first.old_tiers;
    let mut digests: Vec<(CustomerId, Vec<u8>)> = first.digests;
    for p in parts {
        customers += p.customers;
        interactions += p.interactions;
        rebuilt += p.rebuilt;
        ids.extend(p.ids);
        activities.extend(p.activities);
        old_tiers.extend(p.old_tiers);
        digests.extend(p.digests);
    }
    timings.insert("read".to_string(), t.elapsed().as_millis() as u64);
    check_rates(&ids, &activities, &rates)?;

    let t = Instant::now();
    let models = match &previous {
        Some((m, _)) => m.clone(),
        None => {
            if activities.is_empty() {
                bail!("no customers to score: ingest some data first");
            }
            fit_models(&activities, &cfg, at).context("fitting the models")?
        }
    };
    timings.insert("fit".to_string(), t.elapsed().as_millis() as u64);

    let t = Instant::now();
    let mut scores = score_table(&activities, &models, at, cfg.threads);
    if previous.is_none() {
        scores.rank_tiers(&cfg.tiers);
    }
    timings.insert("score".to_string(), t.elapsed().as_millis() as u64);

    // Write: scores and tier changes in batches, the run's documents, then one flush.
    let t = Instant::now();
    let bar = progress_bar(opts.progress, scores.len() as u64, "writing scores");
    // Scores, new digests and tier changes are written on a second thread while this one
    // works out the run's documents (skew, tiers, segments, lists).
    let write_scores = || write_scores(store, &ids, &scores, &old_tiers, digests, &bar);
    let (written, docs) = std::thread::scope(|scope| {
        let writer = scope.spawn(write_scores);
        let docs = run_documents(
            previous.is_none(),
            &ids,
            &old_tiers,
            &activities,
            &scores,
            &models,
            &cfg,
            at,
        );
        let written = match writer.join() {
            Ok(w) => w,
            Err(p) => std::panic::resume_unwind(p),
        };
        (written, docs)
    });
    let (tiers, tier_changes) = written?;
    let (mut batch, skew_summary, list_sizes) = docs?;
    let customer_equity: f64 = scores.rows.iter().map(|s| s.clv).sum();
    let summary = RunSummary {
        at,
        full: previous.is_none(),
        model_version: models.version.clone(),
        customers,
        scored: scores.len() as u64,
        tier_changes,
        watermark,
        duration_ms: started.elapsed().as_millis() as u64,
        report: models.report.clone(),
    };
    batch.put_doc(COLLECTION, "run", &summary)?;
    // Every run is also kept by its time: the stage assessment reads the cadence of runs.
    batch.put_doc(
        COLLECTION,
        &format!("runs/{:015}", at.as_millis().max(0)),
        &summary,
    )?;
    store.write(batch, Durability::Batched)?;
    store.flush()?;
    bar.finish_and_clear();
    timings.insert("write".to_string(), t.elapsed().as_millis() as u64);
    timings.insert("total".to_string(), started.elapsed().as_millis() as u64);
    // Freeing a million customers' histories and scores one allocation at a time takes about
    // a second: done on a thread of its own (a command line run exits meanwhile).
    let scored = scores.len() as u64;
    drop(scores);
    std::thread::spawn(move || drop((ids, activities, old_tiers)));

    Ok(ScoreReport {
        full: previous.is_none(),
        note,
        model_version: models.version.clone(),
        at,
        customers,
        scored,
        interactions,
        histories_read: rebuilt,
        tier_changes,
        tiers,
        value_definition: value,
        skew: skew_summary,
        lists: list_sizes,
        customer_equity,
        models: models.report,
        timings_ms: timings,
    })
}

/// Refuses a run in which an amount has no exchange rate for its day: scores summed across
/// currencies at face value would be wrong without saying so.
fn check_rates(
    ids: &[CustomerId],
    activities: &[Activity],
    rates: &rapport_core::ExchangeRates,
) -> anyhow::Result<()> {
    let mut customers = 0u64;
    let mut amounts = 0u64;
    let mut first = None;
    for (id, a) in ids.iter().zip(activities) {
        if a.unconverted > 0 {
            customers += 1;
            amounts += u64::from(a.unconverted);
            if first.is_none() {
                first = a.missing_rate.map(|m| (*id, m));
            }
        }
    }
    let Some((id, (currency, day))) = first else {
        return Ok(());
    };
    let known = rapport_repository::rates::summary(rates)
        .iter()
        .map(|(c, from, to)| format!("{c} {from} to {to}"))
        .collect::<Vec<_>>()
        .join(", ");
    bail!(
        "no {} rate for {currency} on or before {} (customer {id}; {amounts} amounts of \
         {customers} customers have no rate): load exchange rates with `rapport rates load \
         FILE` (ECB reference-rate layout) and score again; rates stored: {}",
        rates.reporting,
        rapport_repository::rates::format_day(day),
        if known.is_empty() {
            "none".to_string()
        } else {
            known
        },
    )
}

/// Writes the scores (a page of 256 customers at a time), the new history digests and the
/// tier changes in batches; returns the customers per tier and the tier changes recorded.
fn write_scores(
    store: &Store,
    ids: &[CustomerId],
    scores: &ScoreTable<'_>,
    old_tiers: &[Option<Tier>],
    digests: Vec<(CustomerId, Vec<u8>)>,
    bar: &ProgressBar,
) -> anyhow::Result<([u64; 4], u64)> {
    let mut tiers = [0u64; 4];
    let mut tier_changes = 0u64;
    let mut batch = Batch::default();
    let mut pages_in_batch = 0;
    let at = scores.at();
    let version = scores.model_version();
    // New digests go in the batches of their customers' scores (both in customer order).
    let mut digests = digests.into_iter().peekable();
    let mut propensity: Vec<(&str, f64)> = Vec::new();
    let mut spans = Vec::with_capacity(PAGE_SLOTS as usize);
    let mut start = 0;
    while start < ids.len() {
        let page = ids[start].0 / PAGE_SLOTS;
        let end = start
            + ids[start..]
                .iter()
                .take_while(|id| id.0 / PAGE_SLOTS == page)
                .count();
        for k in start..end {
            let s = &scores.rows[k];
            tiers[s.tier as usize] += 1;
            if old_tiers[k] != Some(s.tier) {
                let key = ids[k].to_string();
                let mut history: TierHistory = store.doc(TIER_HISTORY, &key)?.unwrap_or_default();
                if history.current().is_none()
                    && let Some(old) = old_tiers[k]
                {
                    history.record(at, old);
                }
                if history.record(at, s.tier) {
                    tier_changes += 1;
                    batch.put_doc(TIER_HISTORY, &key, &history)?;
                }
            }
        }
        propensity.clear();
        spans.clear();
        for k in start..end {
            let from = propensity.len();
            propensity.extend(scores.propensity(k));
            spans.push(from..propensity.len());
        }
        let mut entries = Vec::with_capacity(end - start);
        for (k, span) in (start..end).zip(&spans) {
            let s = &scores.rows[k];
            entries.push((
                ids[k],
                ScoreView {
                    model_version: version,
                    at,
                    value: s.value,
                    annual_value: s.annual_value,
                    profit: s.profit,
                    clv: s.clv,
                    p_alive: s.p_alive,
                    churn: s.churn,
                    expected_transactions: s.expected_transactions,
                    tier: s.tier,
                    top: s.top,
                    bottom: s.bottom,
                    segment: s.segment,
                    propensity: Propensities::Pairs(&propensity[span.clone()]),
                },
            ));
        }
        batch.put_score_page(&entries);
        pages_in_batch += 1;
        let last = ids[end - 1];
        while let Some((d_id, digest)) = digests.next_if(|(d, _)| *d <= last) {
            batch.put_history_digest_bytes(d_id, &digest);
        }
        // About 10,000 customers' worth of writes per batch.
        if pages_in_batch >= 40 || batch.len() >= 10_000 {
            store.write(std::mem::take(&mut batch), Durability::Batched)?;
            pages_in_batch = 0;
            bar.set_position(end as u64);
        }
        start = end;
    }
    for (d_id, digest) in digests {
        batch.put_history_digest_bytes(d_id, &digest);
    }
    store.write(batch, Durability::Batched)?;
    Ok((tiers, tier_changes))
}

/// The documents of a full run (skew, tiers, segment CLV, working lists, models), in a batch.
#[allow(clippy::type_complexity)]
#[allow(clippy::too_many_arguments)] // the run's columns, borrowed side by side
fn run_documents(
    full: bool,
    ids: &[CustomerId],
    old_tiers: &[Option<Tier>],
    activities: &[Activity],
    scores: &ScoreTable<'_>,
    models: &FittedModels,
    cfg: &ScoringConfig,
    at: Timestamp,
) -> anyhow::Result<(Batch, Option<SkewSummary>, Vec<(String, u64)>)> {
    let mut batch = Batch::default();
    let mut skew_summary = None;
    let mut list_sizes = Vec::new();
    if full {
        let values: Vec<f64> = scores.rows.iter().map(|s| s.value).collect();
        match rapport_analytics::skew(&values, "value", at) {
            Ok(sk) => {
                batch.put_doc(COLLECTION, "skew", &sk)?;
                batch.remove_doc(COLLECTION, "skew_error");
                skew_summary = Some(sk);
            }
            Err(e) => {
                batch.put_doc(COLLECTION, "skew_error", &e.to_string())?;
                batch.remove_doc(COLLECTION, "skew");
            }
        }
        let profits: Vec<f64> = scores.rows.iter().map(|s| s.profit).collect();
        if let Ok(sk) = rapport_analytics::skew(&profits, "profit", at) {
            batch.put_doc(COLLECTION, "skew_profit", &sk)?;
        }
        let mut tier_summary = TierSummary::build(
            at,
            models.version.clone(),
            models.tiering.clone(),
            scores.rows.iter().map(|s| TierContribution {
                tier: s.tier,
                top: s.top,
                bottom: s.bottom,
                value: s.value,
                profit: s.profit,
                clv: s.clv,
            }),
        );
        tier_summary.measure = models.tier_measure;
        tier_summary.movements = rapport_analytics::tier_movements(
            old_tiers
                .iter()
                .zip(&scores.rows)
                .map(|(old, s)| (*old, s.tier)),
        );
        batch.put_doc(COLLECTION, "tiers", &tier_summary)?;
        let segments: Vec<SegmentValue> =
            segment_values(scores.rows.iter().map(|s| (s.segment, s.clv)));
        batch.put_doc(COLLECTION, "segment_clv", &segments)?;
        let inputs: Vec<_> = ids
            .iter()
            .zip(activities)
            .zip(&scores.rows)
            .map(|((id, a), s)| models.list_input_row(*id, a, s))
            .collect();
        for list in working_lists(&inputs, &cfg.lists, at) {
            list_sizes.push((list.name.as_str().to_string(), list.total));
            batch.put_doc(COLLECTION, &format!("list/{}", list.name), &list)?;
        }
        batch.put_doc(COLLECTION, "models", &models)?;
    }
    Ok((batch, skew_summary, list_sizes))
}

/// One customer id range's share of the read.
#[derive(Default)]
struct HistoryPart {
    /// Customers in the range.
    customers: u64,
    /// Interactions in the selected customers' histories.
    interactions: u64,
    /// The customers to score, in id order, with their histories and tiers before the run.
    ids: Vec<CustomerId>,
    activities: Vec<Activity>,
    old_tiers: Vec<Option<Tier>>,
    /// Flat digests to store (customers without a current one, or with a typed one), in id
    /// order.
    digests: Vec<(CustomerId, Vec<u8>)>,
    /// Customers whose interactions were read.
    rebuilt: u64,
}

/// Reads every customer's history as of `at`, split into `threads` customer id ranges read in
/// parallel, in id order. `incremental`: only customers whose digest had to be rebuilt or
/// that have no scores yet are selected.
fn read_histories(
    store: &Store,
    at: Timestamp,
    incremental: bool,
    threads: usize,
    rates: &Converter,
) -> anyhow::Result<Vec<HistoryPart>> {
    let Some(last) = store.last_customer_id()? else {
        return Ok(Vec::new());
    };
    let first = match store.customer_ids(CustomerId(0), None).next() {
        Some(id) => id?,
        None => return Ok(Vec::new()),
    };
    let threads = threads.max(1) as u64;
    let span = (last.0 - first.0) / threads + 1;
    let bounds: Vec<(CustomerId, Option<CustomerId>)> = (0..threads)
        .map(|k| {
            let lo = first.0.saturating_add(span.saturating_mul(k));
            let hi = (k + 1 < threads).then(|| CustomerId(lo.saturating_add(span)));
            (CustomerId(lo), hi)
        })
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .iter()
            .map(|&(lo, hi)| scope.spawn(move || read_part(store, at, incremental, lo, hi, rates)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(part) => part,
                Err(p) => std::panic::resume_unwind(p),
            })
            .collect()
    })
}

fn read_part(
    store: &Store,
    at: Timestamp,
    incremental: bool,
    lo: CustomerId,
    hi: Option<CustomerId>,
    rates: &Converter,
) -> anyhow::Result<HistoryPart> {
    let mut part = HistoryPart::default();
    let mut digests = store.stored_history_digests(lo, hi).peekable();
    let mut scores = store.tiers_in(lo, hi).peekable();
    let mut interactions: Vec<Interaction> = Vec::new();
    for id in store.customer_ids(lo, hi) {
        let id = id?;
        part.customers += 1;
        let mut stored = None;
        while let Some(d) = digests.next_if(|d| d.as_ref().map_or(true, |(c, _)| *c <= id)) {
            let (c, d) = d?;
            if c == id {
                stored = Some(d);
            }
        }
        let mut old_tier = None;
        let mut scored = false;
        while let Some(s) = scores.next_if(|s| s.as_ref().map_or(true, |(c, _)| *c <= id)) {
            let (c, tier) = s?;
            if c == id {
                old_tier = Some(tier);
                scored = true;
            }
        }
        // A current flat digest is read in place; a typed one (written by an older build) is
        // converted and stored flat; none, or one of another version, means reading the
        // interactions.
        let read = match stored.as_ref().map(|d| (d, d.bytes())) {
            Some((_, Some(bytes))) if flat_digest_is_current(bytes) => {
                match FlatDigest::parse(bytes) {
                    Ok(flat) => Some(DigestRead::Flat(flat)),
                    Err(e) => {
                        tracing::warn!(customer = %id, "history digest unreadable, rebuilt: {e}");
                        None
                    }
                }
            }
            Some((_, Some(_))) => None,
            Some((d, None)) => d
                .decode::<HistoryDigest>()
                .ok()
                .filter(HistoryDigest::is_current)
                .map(DigestRead::Converted),
            None => None,
        };
        let read = match read {
            Some(r) => r,
            None => {
                interactions.clear();
                for i in store.interactions_of(id) {
                    interactions.push(i?);
                }
                DigestRead::Rebuilt(HistoryDigest::of(&interactions))
            }
        };
        let changed = matches!(read, DigestRead::Rebuilt(_));
        if let DigestRead::Converted(digest) | DigestRead::Rebuilt(digest) = &read
            && let Some(bytes) = digest.to_flat()
        {
            part.digests.push((id, bytes));
        }
        if changed {
            part.rebuilt += 1;
        }
        if incremental && !changed && scored {
            continue;
        }
        let (touches, activity) = match &read {
            DigestRead::Flat(flat) => (flat.len(), flat.summarize(at, rates)),
            DigestRead::Converted(d) | DigestRead::Rebuilt(d) => {
                (d.touches.len(), summarize_touches(&d.touches, at, rates))
            }
        };
        part.interactions += touches as u64;
        part.ids.push(id);
        part.activities.push(activity);
        part.old_tiers.push(old_tier);
    }
    Ok(part)
}

/// How a customer's history was read.
#[allow(clippy::large_enum_variant)] // one at a time, on the stack
enum DigestRead<'a> {
    /// From its stored flat digest, in place.
    Flat(FlatDigest<'a>),
    /// From a typed digest stored by an older build (stored again flat).
    Converted(HistoryDigest),
    /// From its interactions (no current digest: new or changed since the last run).
    Rebuilt(HistoryDigest),
}

fn progress_bar(wanted: bool, len: u64, what: &'static str) -> ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>18} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

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
    let store = g.open_store()?;
    let report = run_scoring(
        &store,
        &ScoreOptions {
            incremental: a.incremental,
            as_of,
            value_definition,
            threads: a.threads,
            progress: !a.json,
        },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_score_report(&report);
    }
    // The run flushed; the process exits next, so the page cache is not torn down.
    store.close_for_exit()?;
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

fn read_doc<T: serde::de::DeserializeOwned>(store: &Store, key: &str) -> anyhow::Result<T> {
    store
        .doc(COLLECTION, key)?
        .with_context(|| format!("no {key} yet: run `rapport score` first"))
}

pub fn tiers(g: &Global, a: TiersArgs) -> anyhow::Result<ExitCode> {
    let store = g.open_store()?;
    let t: TierSummary = read_doc(&store, "tiers")?;
    let segments: Option<Vec<SegmentValue>> = store.doc(COLLECTION, "segment_clv")?;
    if a.json {
        let v = serde_json::json!({ "tiers": t, "segments": segments });
        println!("{}", serde_json::to_string_pretty(&v)?);
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
    let store = g.open_store()?;
    if store.doc::<SkewSummary>(COLLECTION, "skew")?.is_none()
        && let Some(why) = store.doc::<String>(COLLECTION, "skew_error")?
    {
        bail!("the last scoring run measured no skew: {why}");
    }
    let sk: SkewSummary = read_doc(&store, "skew")?;
    let profit: Option<SkewSummary> = store.doc(COLLECTION, "skew_profit")?;
    if a.json {
        let v = serde_json::json!({ "value": sk, "profit": profit });
        println!("{}", serde_json::to_string_pretty(&v)?);
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
    let store = g.open_store()?;
    let Some(name) = a.name.as_deref() else {
        let mut all = Vec::new();
        for l in ListName::ALL {
            let list: Option<WorkingList> = store.doc(COLLECTION, &format!("list/{l}"))?;
            all.push((l, list));
        }
        if all.iter().all(|(_, l)| l.is_none()) {
            bail!("no working lists yet: run `rapport score` first");
        }
        if a.json {
            let v: Vec<_> = all
                .iter()
                .map(|(n, l)| {
                    serde_json::json!({
                        "name": n.as_str(),
                        "title": n.title(),
                        "total": l.as_ref().map(|l| l.total),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            for (n, l) in all {
                println!(
                    "{:<15} {:>8}  {}",
                    n.as_str(),
                    l.map_or("-".to_string(), |l| l.total.to_string()),
                    n.title()
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let name: ListName = name.parse()?;
    let mut list: WorkingList = read_doc(&store, &format!("list/{name}"))?;
    list.entries.truncate(a.limit);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} ({} customers, as of {}; showing {})",
        list.title,
        list.total,
        list.at,
        list.entries.len()
    );
    for e in &list.entries {
        let who = store
            .customer(e.customer)?
            .map(|c| c.display_name())
            .unwrap_or_else(|| "(no longer in the store)".to_string());
        println!(
            "  {}  {:<28} tier {}  {:>12.2}  {}",
            e.customer,
            sanitize(&who),
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

/// One amount of `value explain`, with the other source of the same event when one is found.
#[derive(Debug, Serialize)]
struct ExplainedAmount {
    day: String,
    source: Option<String>,
    kind: String,
    product: Option<String>,
    booking: Option<String>,
    role: String,
    amount: String,
    reporting: Option<f64>,
    counted: bool,
    why: String,
    /// The record of the same event that carries the money (another customer's ledger entry,
    /// or this customer's own), when found.
    counted_on: Option<String>,
}

pub fn value(g: &Global, c: ValueCommand) -> anyhow::Result<ExitCode> {
    let ValueCommand::Explain(a) = c;
    if g.connect.is_some() {
        bail!(
            "`rapport value explain` works on the database directly and cannot run over \
             --connect: run it with --db on the server's machine"
        );
    }
    let store = g.open_store()?;
    let id: CustomerId =
        a.id.parse()
            .with_context(|| format!("{} is not a customer id", sanitize(&a.id)))?;
    let Some(customer) = store.customer(id)? else {
        bail!("no customer {id}");
    };
    let rates = rapport_repository::rates::stored(&store)?.unwrap_or_else(|| {
        rapport_core::ExchangeRates::reporting_only(rapport_core::Currency::EUR)
    });
    let converter = Converter::new(&rates);
    let mut interactions = Vec::new();
    for i in store.interactions_of(id) {
        interactions.push(i?);
    }
    interactions.sort_by_key(|i| (i.at, i.id));
    let lines = rapport_analytics::explain_money(&interactions, &converter);
    let repo = rapport_repository::Repository::new(store.clone());
    // The ledger entries of other customers for a booking this customer's records name.
    let mut others: BTreeMap<String, Option<String>> = BTreeMap::new();
    let source_of = |i: &Interaction| i.source.as_ref().map(|s| format!("{}:{}", s.source, s.key));
    let mut out = Vec::new();
    for l in &lines {
        let i = &interactions[l.interaction];
        let product = i.attr_text("product").map(str::to_string);
        let mut counted_on = None;
        if !l.counted
            && l.reporting.is_some()
            && let Some(b) = &l.booking
        {
            // This customer's own ledger entry, else another customer's (the payer).
            counted_on = interactions
                .iter()
                .find(|j| {
                    j.attr_text("booking_ref") == Some(b.as_str())
                        && j.kind == rapport_core::InteractionKind::Purchase
                        && j.amounts
                            .iter()
                            .any(|m| m.role == rapport_core::AmountRole::Other)
                })
                .map(|j| format!("{} (this customer)", source_of(j).unwrap_or_default()));
            if counted_on.is_none() {
                if !others.contains_key(b) {
                    let found = payer_entry(&store, &repo, id, b)?;
                    others.insert(b.clone(), found);
                }
                counted_on = others[b].clone();
            }
        }
        out.push(ExplainedAmount {
            day: rapport_repository::rates::format_day(l.day),
            source: source_of(i),
            kind: i.kind.to_string(),
            product,
            booking: l.booking.clone(),
            role: format!("{:?}", l.amount.role).to_lowercase(),
            amount: l.amount.money.to_string(),
            reporting: l.reporting,
            counted: l.counted,
            why: l.why.clone(),
            counted_on,
        });
    }
    if a.json {
        let v = serde_json::json!({
            "customer": id,
            "reporting": rates.reporting,
            "rates_source": rates.source,
            "amounts": out,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let counted: f64 = out
        .iter()
        .filter(|e| e.counted)
        .filter_map(|e| e.reporting)
        .sum();
    println!(
        "{id} {}: {} amounts, {} counted, {counted:.2} {} in all (rates: {})",
        sanitize(&customer.display_name()),
        out.len(),
        out.iter().filter(|e| e.counted).count(),
        rates.reporting,
        sanitize(&rates.source)
    );
    for e in &out {
        println!(
            "  {}  {:<24} {:<12} {:<9} {:>14} = {:>10} {}  {}{}",
            e.day,
            sanitize(e.source.as_deref().unwrap_or("-")),
            sanitize(&e.kind),
            sanitize(e.product.as_deref().unwrap_or("")),
            e.amount,
            e.reporting.map_or("-".to_string(), |v| format!("{v:.2}")),
            rates.reporting,
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

/// The ledger entry of another customer (the payer) for `booking`, as `source:key on
/// CUSTOMER (name)`, found by the booking reference's index.
fn payer_entry(
    store: &Store,
    repo: &rapport_repository::Repository,
    me: CustomerId,
    booking: &str,
) -> anyhow::Result<Option<String>> {
    for hit in repo.search(booking, 10)? {
        if hit.id == me {
            continue;
        }
        for j in store.interactions_of(hit.id) {
            let j = j?;
            if j.attr_text("booking_ref") == Some(booking)
                && j.kind == rapport_core::InteractionKind::Purchase
                && j.amounts
                    .iter()
                    .any(|m| m.role == rapport_core::AmountRole::Other)
            {
                let src = j
                    .source
                    .as_ref()
                    .map(|s| format!("{}:{}", s.source, s.key))
                    .unwrap_or_default();
                return Ok(Some(format!("{src} on {} ({})", hit.id, hit.name)));
            }
        }
    }
    Ok(None)
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
    if g.connect.is_some() {
        bail!(
            "`rapport rates` works on the database directly and cannot run over --connect: run \
             it with --db on the server's machine"
        );
    }
    let store = g.open_store()?;
    match c {
        RatesCommand::Load(a) => {
            let opts = rapport_repository::rates::RatesOptions {
                reporting: a
                    .reporting
                    .parse()
                    .with_context(|| format!("--reporting {}", sanitize(&a.reporting)))?,
                source: a.source,
                shift_days: 0,
            };
            let r = rapport_repository::rates::load_file(&store, &a.file, &opts)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
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
            let Some(rates) = rapport_repository::rates::stored(&store)? else {
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
            let summary = rapport_repository::rates::summary(&rates);
            if a.json {
                let v = serde_json::json!({
                    "reporting": rates.reporting,
                    "source": rates.source,
                    "currencies": summary.iter().map(|(c, from, to)| serde_json::json!({
                        "currency": c, "first": from, "last": to,
                        "days": rates.series.iter().find(|s| s.currency == *c).map_or(0, |s| s.rates.len()),
                    })).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "Reporting currency {}; rates from {}",
                    rates.reporting,
                    sanitize(&rates.source)
                );
                for (s, (c, from, to)) in rates.series.iter().zip(&summary) {
                    let last = s.rates.last().map_or(f64::NAN, |r| r.1);
                    println!(
                        "  {c}  {from} to {to}  {:>5} days  last {last} per {}",
                        s.rates.len(),
                        rates.reporting
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
        println!("{}", serde_json::to_string_pretty(&report)?);
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

    use rapport_core::{
        Amount, AmountRole, Channel, Currency, Customer, InteractionId, InteractionKind, Money,
        PartyKind,
    };

    fn purchase(store: &Store, customer: u64, day: i64, euros: i64) -> Interaction {
        let id = store.next_interaction_ids(1).unwrap().start;
        let mut i = Interaction::new(
            InteractionId(id),
            CustomerId(customer),
            Timestamp::from_millis(day * 86_400_000 + 3_600_000),
            Channel::Web,
            InteractionKind::Purchase,
        );
        i.amounts.push(Amount {
            role: AmountRole::Revenue,
            money: Money::new(euros * 100, Currency::EUR),
        });
        i
    }

    #[test]
    fn incremental_rescoring_touches_only_changed_customers_and_keeps_tier_history() {
        let store = Store::temporary().unwrap();
        let now_day = 20_000;
        let mut b = Batch::default();
        for c in 1..=60u64 {
            let customer = Customer::new(CustomerId(c), PartyKind::Person, Timestamp(0));
            b.put_customer(&customer, vec![]);
            // Every customer buys every 30 days; customer c spends c euros a time.
            let mut day = now_day - 700 + (c as i64 % 30);
            while day <= now_day - (c as i64 % 7) * 40 {
                b.put_interaction(&purchase(&store, c, day, c as i64));
                day += 30;
            }
        }
        store.write(b, Durability::Durable).unwrap();
        let opts = ScoreOptions {
            as_of: Some(Timestamp::from_millis(now_day * 86_400_000 + 80_000_000)),
            ..ScoreOptions::default()
        };
        let full = run_scoring(&store, &opts).unwrap();
        assert!(full.full);
        assert_eq!(full.scored, 60);
        assert_eq!(full.tier_changes, 60);
        let before = store.scores(CustomerId(1)).unwrap().unwrap();
        assert_eq!(before.tier, rapport_core::Tier::C);

        // Customer 1 becomes the biggest spender; nobody else changes.
        let mut b = Batch::default();
        b.put_interaction(&purchase(&store, 1, now_day, 100_000));
        store.write(b, Durability::Durable).unwrap();
        let inc = run_scoring(
            &store,
            &ScoreOptions {
                incremental: true,
                ..opts.clone()
            },
        )
        .unwrap();
        assert!(!inc.full, "{:?}", inc.note);
        assert_eq!(inc.scored, 1);
        assert_eq!(inc.tier_changes, 1);
        let after = store.scores(CustomerId(1)).unwrap().unwrap();
        assert_eq!(after.tier, rapport_core::Tier::A);
        assert_eq!(after.model_version, before.model_version);
        let history: TierHistory = store
            .doc(TIER_HISTORY, &CustomerId(1).to_string())
            .unwrap()
            .unwrap();
        let tiers: Vec<_> = history.changes.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(
            tiers,
            vec![
                (None, rapport_core::Tier::C),
                (Some(rapport_core::Tier::C), rapport_core::Tier::A)
            ]
        );
        // The run summary moved its watermark: a second incremental run scores nobody.
        let again = run_scoring(
            &store,
            &ScoreOptions {
                incremental: true,
                ..opts
            },
        )
        .unwrap();
        assert_eq!(again.scored, 0);
    }

    #[test]
    fn a_run_from_stored_digests_scores_exactly_as_one_from_the_interactions() {
        let store = Store::temporary().unwrap();
        let now_day = 20_000;
        let mut b = Batch::default();
        for c in 1..=600u64 {
            let customer = Customer::new(CustomerId(c), PartyKind::Person, Timestamp(0));
            b.put_customer(&customer, vec![]);
            let mut day = now_day - 900 + (c as i64 % 45);
            while day <= now_day - (c as i64 % 9) * 50 {
                b.put_interaction(&purchase(&store, c, day, 5 + (c as i64 % 17)));
                day += 20 + (c as i64 % 40);
            }
        }
        // A customer without interactions is scored too.
        b.put_customer(
            &Customer::new(CustomerId(700), PartyKind::Person, Timestamp(0)),
            vec![],
        );
        store.write(b, Durability::Durable).unwrap();
        let opts = ScoreOptions {
            as_of: Some(Timestamp::from_millis(now_day * 86_400_000 + 80_000_000)),
            ..ScoreOptions::default()
        };
        let first = run_scoring(&store, &opts).unwrap();
        assert_eq!((first.scored, first.histories_read), (601, 601));
        let before: Vec<_> = store
            .scores_in(CustomerId(0), None)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(before.len(), 601);
        let second = run_scoring(&store, &opts).unwrap();
        assert_eq!((second.scored, second.histories_read), (601, 0));
        assert_eq!(second.interactions, first.interactions);
        assert_eq!(second.tier_changes, 0);
        let after: Vec<_> = store
            .scores_in(CustomerId(0), None)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(after, before);
        // One new interaction: that customer's history is read again, the others' are not.
        let mut b = Batch::default();
        b.put_interaction(&purchase(&store, 42, now_day, 50));
        store.write(b, Durability::Durable).unwrap();
        let third = run_scoring(&store, &opts).unwrap();
        assert_eq!(third.histories_read, 1);
        assert_eq!(third.interactions, first.interactions + 1);
        // One thread or two: the same scores.
        let one = run_scoring(
            &store,
            &ScoreOptions {
                threads: 1,
                ..opts.clone()
            },
        )
        .unwrap();
        assert_eq!(one.customer_equity, third.customer_equity);
        let flat: Vec<_> = store
            .stored_history_digests(CustomerId(0), None)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(flat.len(), 601);
        assert!(flat.iter().all(|(_, d)| d.bytes().is_some()));
        // Typed digests, as the build before flat digests stored them: read, not rebuilt
        // from the interactions, the same scores, and stored flat again.
        let scores_before: Vec<_> = store
            .scores_in(CustomerId(0), None)
            .collect::<Result<_, _>>()
            .unwrap();
        let mut b = Batch::default();
        for (id, d) in &flat {
            let touches = FlatDigest::parse(d.bytes().unwrap()).unwrap().touches();
            b.put_history_digest(
                *id,
                &HistoryDigest {
                    version: rapport_analytics::DIGEST_VERSION,
                    touches,
                },
            );
        }
        store.write(b, Durability::Durable).unwrap();
        assert!(
            store.stored_history_digests(CustomerId(0), None).all(|d| d
                .unwrap()
                .1
                .bytes()
                .is_none())
        );
        let converted = run_scoring(&store, &opts).unwrap();
        assert_eq!(converted.histories_read, 0);
        assert_eq!(converted.interactions, third.interactions);
        assert_eq!(converted.customer_equity, third.customer_equity);
        let scores_after: Vec<_> = store
            .scores_in(CustomerId(0), None)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(scores_after, scores_before);
        assert!(
            store.stored_history_digests(CustomerId(0), None).all(|d| d
                .unwrap()
                .1
                .bytes()
                .is_some())
        );
    }

    #[test]
    fn tier_indices_follow_a_b_c() {
        // The report counts tiers by `tier as usize`.
        assert_eq!(rapport_core::Tier::A as usize, 0);
        assert_eq!(rapport_core::Tier::C as usize, 2);
    }
}
