//! The scoring run: read every customer's history, fit (or reuse) the models, score, and write
//! scores, history digests, tier history and the run's documents.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use rapport_analytics::{
    Activity, Converter, FittedModels, FlatDigest, HistoryDigest, ModelReport, RunSummary,
    ScoreTable, ScoringConfig, SegmentValue, SkewSummary, TierContribution, TierSummary,
    ValueDefinition, fit_models, flat_digest_is_current, score_table, segment_values,
    summarize_touches, working_lists,
};
use rapport_core::{CustomerId, Interaction, Tier, Timestamp};
use rapport_store::codec::PAGE_SLOTS;
use rapport_store::{Batch, Durability, Propensities, ScoreView, Store, StoredDigest};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::results;

/// Where a run reports how far it got: `report(done, total)` customers written. Cheap to
/// clone; called from the thread that writes scores.
#[derive(Clone)]
pub struct Progress(Arc<dyn Fn(u64, u64) + Send + Sync>);

impl Progress {
    /// A progress callback.
    pub fn new(f: impl Fn(u64, u64) + Send + Sync + 'static) -> Progress {
        Progress(Arc::new(f))
    }

    fn report(&self, done: u64, total: u64) {
        (self.0)(done, total);
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

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
    /// Called with (customers written, customers to write) while scores are written; the
    /// binary draws a progress bar from it, the server logs nothing.
    pub progress: Option<Progress>,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            incremental: false,
            as_of: None,
            value_definition: None,
            threads: 2,
            progress: None,
        }
    }
}

/// What a scoring run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub fn run_scoring(store: &Store, opts: &ScoreOptions) -> Result<ScoreReport, Error> {
    let started = Instant::now();
    let at = opts.as_of.unwrap_or_else(Timestamp::now);
    let mut timings = BTreeMap::new();
    if let Some(def) = &opts.value_definition {
        def.validate()
            .map_err(|e| Error::Invalid(format!("the value definition: {e}")))?;
        results::put_value_definition(store, def)?;
    }
    let value: ValueDefinition = match results::value_definition(store)? {
        Some(v) => v,
        None => {
            let def = ValueDefinition::default();
            results::put_value_definition(store, &def)?;
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
    let rates = rapport_repository::rates::stored(store)?.unwrap_or_else(|| {
        rapport_core::ExchangeRates::reporting_only(rapport_core::Currency::EUR)
    });
    let converter = Converter::new(&rates);

    let mut note = None;
    let previous: Option<(FittedModels, RunSummary)> = if opts.incremental {
        let models = results::models(store)?;
        let run = results::run(store)?;
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
    //
    // An incremental run on a database that marks stale digests (every run since the first
    // full one on it) reads only the customers marked: those whose interactions were written
    // since (`Store::stale_digests`). Every run clears the marks it read, and the first run
    // that read every customer turns the marking on.
    let t = Instant::now();
    let watermark = store.next_interaction_ids(0)?.start.saturating_sub(1);
    let tracking = store.tracks_stale_digests();
    let marked = store.stale_digests()?;
    let parts = if previous.is_some() && tracking {
        let mut parts = read_marked(store, at, &marked, cfg.threads, &converter)?;
        if parts.is_empty() {
            parts.push(HistoryPart::default());
        }
        parts[0].customers = store.customer_count()?;
        parts
    } else {
        read_histories(store, at, previous.is_some(), cfg.threads, &converter)?
    };
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
                return Err(Error::NoCustomers);
            }
            fit_models(&activities, &cfg, at).map_err(Error::Fit)?
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
    let bar = opts.progress.clone();
    let total = scores.len() as u64;
    // Scores, new digests and tier changes are written on a second thread while this one
    // works out the run's documents (skew, tiers, segments, lists).
    let write_scores = || {
        write_scores(
            store,
            &ids,
            &scores,
            &old_tiers,
            digests,
            bar.as_ref(),
            total,
        )
    };
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
            (at, rates.reporting),
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
    results::put_run(&mut batch, &summary)?;
    for id in &marked {
        batch.clear_stale_digest(*id);
    }
    store.write(batch, Durability::Batched)?;
    store.flush()?;
    if !tracking {
        store.track_stale_digests()?;
    }
    if let Some(p) = &bar {
        p.report(total, total);
    }
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
) -> Result<(), Error> {
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
    Err(Error::MissingRate(format!(
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
    )))
}

/// Writes the scores (a page of 256 customers at a time), the new history digests and the
/// tier changes in batches; returns the customers per tier and the tier changes recorded.
fn write_scores(
    store: &Store,
    ids: &[CustomerId],
    scores: &ScoreTable<'_>,
    old_tiers: &[Option<Tier>],
    digests: Vec<(CustomerId, Vec<u8>)>,
    bar: Option<&Progress>,
    total: u64,
) -> Result<([u64; 4], u64), Error> {
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
                let mut history = results::tier_history(store, ids[k])?.unwrap_or_default();
                if history.current().is_none()
                    && let Some(old) = old_tiers[k]
                {
                    history.record(at, old);
                }
                if history.record(at, s.tier) {
                    tier_changes += 1;
                    results::put_tier_history(&mut batch, ids[k], &history)?;
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
            if let Some(p) = bar {
                p.report(end as u64, total);
            }
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
    (at, currency): (Timestamp, rapport_core::Currency),
) -> Result<(Batch, Option<SkewSummary>, Vec<(String, u64)>), Error> {
    let mut batch = Batch::default();
    let mut skew_summary = None;
    let mut list_sizes = Vec::new();
    if full {
        let values: Vec<f64> = scores.rows.iter().map(|s| s.value).collect();
        match rapport_analytics::skew(&values, "value", at) {
            Ok(sk) => {
                results::put_skew(&mut batch, &sk)?;
                skew_summary = Some(sk);
            }
            Err(e) => {
                results::put_skew_error(&mut batch, &e.to_string())?;
            }
        }
        let profits: Vec<f64> = scores.rows.iter().map(|s| s.profit).collect();
        if let Ok(sk) = rapport_analytics::skew(&profits, "profit", at) {
            results::put_skew_profit(&mut batch, &sk)?;
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
        results::put_tiers(&mut batch, &tier_summary)?;
        let segments: Vec<SegmentValue> =
            segment_values(scores.rows.iter().map(|s| (s.segment, s.clv)));
        results::put_segments(&mut batch, &segments)?;
        let inputs: Vec<_> = ids
            .iter()
            .zip(activities)
            .zip(&scores.rows)
            .map(|((id, a), s)| models.list_input_row(*id, a, s))
            .collect();
        for list in working_lists(&inputs, &cfg.lists, at, currency) {
            list_sizes.push((list.name.as_str().to_string(), list.total));
            results::put_list(&mut batch, &list)?;
        }
        results::put_models(&mut batch, models)?;
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
) -> Result<Vec<HistoryPart>, Error> {
    let Some(last) = store.last_customer_id()? else {
        return Ok(Vec::new());
    };
    let first = match store.customer_ids(CustomerId(0), None).next() {
        Some(id) => id?,
        None => return Ok(Vec::new()),
    };
    // Pieces of the id range taken in turn by the threads (customers differ in cost: with a
    // half each, one thread finished 0.6 s before the other at a million).
    let pieces = (threads.max(1) * 16) as u64;
    let span = (last.0 - first.0) / pieces + 1;
    let bounds: Vec<(CustomerId, Option<CustomerId>)> = (0..pieces)
        .map(|k| {
            let lo = first.0.saturating_add(span.saturating_mul(k));
            let hi = (k + 1 < pieces).then(|| CustomerId(lo.saturating_add(span)));
            (CustomerId(lo), hi)
        })
        .filter(|(lo, _)| *lo <= last)
        .collect();
    // A full run's columns are sized ahead (the first piece's for every customer, since the
    // others are appended to it): grown by doubling, a million customers' activities were
    // copied and their fresh pages faulted in several times over (about a second of CPU).
    let whole = (last.0 - first.0 + 1) as usize;
    rapport_analytics::par::map_pieces(bounds.len(), threads, |k| {
        let (lo, hi) = bounds[k];
        let reserve = match (incremental, k) {
            (true, _) => 0,
            (false, 0) => whole,
            (false, _) => (hi.map_or(last.0 + 1, |h| h.0) - lo.0) as usize,
        };
        read_part(store, at, incremental, (lo, hi), reserve, rates)
    })
    .into_iter()
    .collect()
}

fn read_part(
    store: &Store,
    at: Timestamp,
    incremental: bool,
    (lo, hi): (CustomerId, Option<CustomerId>),
    reserve: usize,
    rates: &Converter,
) -> Result<HistoryPart, Error> {
    let mut part = HistoryPart::default();
    part.ids.reserve(reserve);
    part.activities.reserve(reserve);
    part.old_tiers.reserve(reserve);
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
        while let Some(s) = scores.next_if(|s| s.as_ref().map_or(true, |(c, _)| *c <= id)) {
            let (c, tier) = s?;
            if c == id {
                old_tier = Some(tier);
            }
        }
        read_one(
            store,
            (id, stored, old_tier),
            at,
            incremental,
            rates,
            &mut part,
            &mut interactions,
        )?;
    }
    Ok(part)
}

/// Reads the customers marked stale ([`Store::stale_digests`]; `marked`, in id order) for an
/// incremental run: their digests (rebuilt where missing) and old tiers, one key each, not
/// every customer's, in pieces of the id order taken in turn by `threads` threads (the parts
/// in id order).
fn read_marked(
    store: &Store,
    at: Timestamp,
    marked: &[CustomerId],
    threads: usize,
    rates: &Converter,
) -> Result<Vec<HistoryPart>, Error> {
    // Small pieces: an organisation billed for every booking it pays has thousands of
    // interactions and changes every night, and such accounts sit together in the id order
    // (at a million customers 33 of them, 374,000 interactions, were in one piece of 400
    // customers and one thread read them alone for a second).
    let pieces: Vec<&[CustomerId]> = marked.chunks(16).collect();
    rapport_analytics::par::map_pieces(pieces.len(), threads, |k| {
        read_marked_part(store, at, pieces[k], rates)
    })
    .into_iter()
    .collect()
}

/// [`read_marked`] for one run of ids. A marked id that is no customer now (merged away,
/// erased) is skipped.
fn read_marked_part(
    store: &Store,
    at: Timestamp,
    marked: &[CustomerId],
    rates: &Converter,
) -> Result<HistoryPart, Error> {
    let mut part = HistoryPart::default();
    let mut interactions: Vec<Interaction> = Vec::new();
    for &id in marked {
        let next = CustomerId(id.0.saturating_add(1));
        if store.customer_ids(id, Some(next)).next().transpose()? != Some(id) {
            continue;
        }
        let stored = store.stored_history_digest(id)?;
        let old_tier = store
            .tiers_in(id, Some(next))
            .next()
            .transpose()?
            .map(|(_, t)| t);
        read_one(
            store,
            (id, stored, old_tier),
            at,
            false,
            rates,
            &mut part,
            &mut interactions,
        )?;
    }
    Ok(part)
}

/// Reads one customer's history from its stored digest (or its interactions) into `part`;
/// `incremental`: skips a customer whose digest was current and who has scores.
fn read_one(
    store: &Store,
    (id, stored, old_tier): (CustomerId, Option<StoredDigest>, Option<Tier>),
    at: Timestamp,
    incremental: bool,
    rates: &Converter,
    part: &mut HistoryPart,
    interactions: &mut Vec<Interaction>,
) -> Result<(), Error> {
    let scored = old_tier.is_some();
    {
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
                DigestRead::Rebuilt(HistoryDigest::of(interactions))
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
            return Ok(());
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
    Ok(())
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

/// Removes the history digests of `customers`, durably: the next run reads their
/// interactions. For customers whose interactions were written while a run was reading them
/// and writing their digests (the run's digest may miss those writes).
pub fn forget_digests(store: &Store, customers: &[CustomerId]) -> Result<(), Error> {
    if customers.is_empty() {
        return Ok(());
    }
    let mut b = Batch::default();
    for c in customers {
        b.remove_history_digest(*c);
    }
    store.write(b, Durability::Durable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_analytics::TierHistory;
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
        assert!(!store.tracks_stale_digests());
        let full = run_scoring(&store, &opts).unwrap();
        assert!(full.full);
        assert_eq!(full.scored, 60);
        assert_eq!(full.tier_changes, 60);
        // The full run read every customer: from now on writes mark who changed.
        assert!(store.tracks_stale_digests());
        assert_eq!(store.stale_digests().unwrap(), vec![]);
        let before = store.scores(CustomerId(1)).unwrap().unwrap();
        // The smallest spender: the bottom fifth.
        assert_eq!(before.tier, rapport_core::Tier::D);

        // Customer 1 becomes the biggest spender; nobody else changes.
        let mut b = Batch::default();
        b.put_interaction(&purchase(&store, 1, now_day, 100_000));
        store.write(b, Durability::Durable).unwrap();
        assert_eq!(store.stale_digests().unwrap(), vec![CustomerId(1)]);
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
        assert_eq!(inc.histories_read, 1);
        assert_eq!(inc.customers, 60);
        assert_eq!(inc.tier_changes, 1);
        assert_eq!(store.stale_digests().unwrap(), vec![]);
        let after = store.scores(CustomerId(1)).unwrap().unwrap();
        assert_eq!(after.tier, rapport_core::Tier::A);
        assert_eq!(after.model_version, before.model_version);
        let history: TierHistory = results::tier_history(&store, CustomerId(1))
            .unwrap()
            .unwrap();
        let tiers: Vec<_> = history.changes.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(
            tiers,
            vec![
                (None, rapport_core::Tier::D),
                (Some(rapport_core::Tier::D), rapport_core::Tier::A)
            ]
        );
        // The run summary moved its watermark: a second incremental run scores nobody.
        let again = run_scoring(
            &store,
            &ScoreOptions {
                incremental: true,
                ..opts.clone()
            },
        )
        .unwrap();
        assert_eq!(again.scored, 0);

        // A digest a run could not vouch for (written while the run read the customer) is
        // forgotten, and the next incremental run reads that customer again.
        forget_digests(&store, &[CustomerId(7)]).unwrap();
        assert_eq!(store.stale_digests().unwrap(), vec![CustomerId(7)]);
        let forgotten = run_scoring(
            &store,
            &ScoreOptions {
                incremental: true,
                ..opts
            },
        )
        .unwrap();
        assert_eq!((forgotten.scored, forgotten.histories_read), (1, 1));
        assert_eq!(store.stale_digests().unwrap(), vec![]);
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
        assert_eq!(rapport_core::Tier::D as usize, 3);
    }
}
