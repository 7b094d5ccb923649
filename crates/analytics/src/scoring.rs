//! A scoring run's pure part: fit every model on the customers' histories, then score each
//! customer (value, profit, lifetime value, probability alive, churn, propensity, tier,
//! segment). The binary reads the histories from the store and writes the results back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use rapport_core::{CustomerId, Scores, Tier, Timestamp};

use crate::bgnbd::{BgNbd, Fit};
use crate::clv::{ClvOptions, discounted_clv, discounted_transactions};
use crate::features::{FEATURE_NAMES, churn_dataset, features, propensity_dataset};
use crate::gamma_gamma::GammaGamma;
use crate::history::Activity;
use crate::lists::{ListInput, ListRules};
use crate::logistic::{LogisticModel, LogisticOptions, auc, auc_interval};
use crate::mbgnbd::MbgNbd;
use crate::optimize::FitOptions;
use crate::rfm::Rfm;
use crate::tiers::{SegmentRule, TierMeasure, TierRules, Tiering, segment_for};
use crate::value::ValueDefinition;
use crate::{Error, retention_clv};

/// Everything a scoring run is configured by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringConfig {
    /// The value definition.
    pub value: ValueDefinition,
    /// Tier shares.
    pub tiers: TierRules,
    /// Segment rules, first match wins.
    pub segments: Vec<SegmentRule>,
    /// Lifetime-value horizon and discounting, in weeks (the models' time unit here).
    pub clv: ClvOptions,
    /// Working-list thresholds.
    pub lists: ListRules,
    /// Optimiser settings for BG/NBD and Gamma-Gamma.
    pub fit: FitOptions,
    /// Logistic regression settings.
    pub logistic: LogisticOptions,
    /// BG/NBD and Gamma-Gamma are fitted on at most this many customers (an even sample).
    pub max_fit_customers: usize,
    /// Churn and propensity models are trained on at most this many rows per window.
    pub max_train_rows: usize,
    /// Propensity models for this many of the most widely held products.
    pub propensity_products: usize,
    /// A churn or propensity model needs at least this many positives in its training and
    /// in its evaluation window (fewer: no model).
    pub min_positives: usize,
    /// P(alive) candidates are compared out of time on at most this many customers.
    pub max_alive_eval: usize,
    /// Worker threads for scoring.
    pub threads: usize,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            value: ValueDefinition::default(),
            tiers: TierRules::default(),
            segments: SegmentRule::defaults(),
            clv: ClvOptions {
                periods: 3,
                period_length: 52.0,
                discount_rate: 0.10,
                margin: 1.0,
            },
            lists: ListRules::default(),
            // A scoring run must finish: a model that needs more than this is reported as not
            // converged and the run falls back to retention-based lifetime value.
            fit: FitOptions {
                max_evaluations: 2_000,
                ..FitOptions::default()
            },
            logistic: LogisticOptions::default(),
            max_fit_customers: 50_000,
            max_train_rows: 50_000,
            propensity_products: 5,
            min_positives: 50,
            max_alive_eval: 20_000,
            threads: 2,
        }
    }
}

/// How the models fitted, for the run report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// Customers given.
    pub customers: u64,
    /// Customers with at least one transaction.
    pub acquired: u64,
    /// Customers the BG/NBD and Gamma-Gamma fits used.
    pub fit_sample: u64,
    /// BG/NBD fit (weeks).
    pub bgnbd: Option<Fit<BgNbd>>,
    /// Why BG/NBD is missing.
    pub bgnbd_error: Option<String>,
    /// Gamma-Gamma fit.
    pub gamma_gamma: Option<Fit<GammaGamma>>,
    /// Why Gamma-Gamma is missing.
    pub gamma_gamma_error: Option<String>,
    /// Share of the previous year's buyers who bought again in the last year.
    pub retention: f64,
    /// Churn model report.
    pub churn: ClassifierReport,
    /// One per propensity product.
    pub propensity: Vec<ClassifierReport>,
    /// How P(alive) was chosen.
    #[serde(default)]
    pub p_alive: Option<AliveReport>,
}

/// P(alive) calibrated on what customers did: the share of customers with the same time since
/// their last purchase and the same number of purchases (in bands) who bought again within a
/// year, smoothed towards the overall share. Learnt on one year's outcome, applied to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliveTable {
    /// Upper bounds (weeks) of the bands of time since the last purchase; one more band after.
    pub silence_weeks: Vec<f64>,
    /// Lower bounds of the bands of repeat purchases after the first (0, 1, 2, 3-4, 5-7, 8+).
    pub repeats: Vec<u32>,
    /// Share who bought again, per silence band (outer) and repeat band (inner).
    pub p: Vec<f64>,
}

impl AliveTable {
    const SILENCE: [f64; 14] = [
        2.0, 4.0, 6.0, 8.0, 11.0, 13.0, 17.0, 21.0, 26.0, 35.0, 45.0, 52.0, 78.0, 104.0,
    ];
    const REPEATS: [u32; 6] = [0, 1, 2, 3, 5, 8];
    /// Weight of the overall share in a band (in customers).
    const PRIOR: f64 = 5.0;

    fn cell(&self, d: &Rfm) -> usize {
        let silence = (d.age - d.recency).max(0.0);
        let s = self.silence_weeks.partition_point(|e| *e < silence);
        let r = self.repeats.partition_point(|e| *e <= d.frequency).max(1) - 1;
        s * self.repeats.len() + r
    }

    /// Learns the table from `(history a year ago, bought again since)`.
    pub fn fit(rows: &[(Rfm, bool)]) -> Option<AliveTable> {
        if rows.is_empty() {
            return None;
        }
        let mut t = AliveTable {
            silence_weeks: Self::SILENCE.to_vec(),
            repeats: Self::REPEATS.to_vec(),
            p: Vec::new(),
        };
        let cells = (t.silence_weeks.len() + 1) * t.repeats.len();
        let mut n = vec![0.0; cells];
        let mut k = vec![0.0; cells];
        for (d, y) in rows {
            let c = t.cell(d);
            n[c] += 1.0;
            if *y {
                k[c] += 1.0;
            }
        }
        let overall = k.iter().sum::<f64>() / rows.len() as f64;
        t.p = n
            .iter()
            .zip(&k)
            .map(|(n, k)| (k + Self::PRIOR * overall) / (n + Self::PRIOR))
            .collect();
        Some(t)
    }

    /// The share of customers like `d` who bought again within a year.
    pub fn p_alive(&self, d: &Rfm) -> f64 {
        self.p.get(self.cell(d)).copied().unwrap_or(0.0)
    }
}

/// How the P(alive) model was chosen: each candidate fitted on the customers' histories as
/// they stood a year ago, and ranked by out-of-time AUC at telling who bought again in the
/// year since (P(alive) high = bought), against plain recency (time since the last purchase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliveReport {
    /// Customers in the evaluation (acquired a year ago).
    pub rows: u64,
    /// Of them, who bought again in the year since.
    pub bought_again: u64,
    /// The candidates, in the order tried.
    pub candidates: Vec<AliveCandidate>,
    /// Plain recency's AUC with its 95% interval.
    pub recency_auc: Option<(f64, f64, f64)>,
    /// The model used for P(alive) (`bgnbd`, `mbgnbd`).
    pub chosen: String,
    /// Whether the chosen model ranks better than plain recency.
    pub beats_recency: bool,
}

/// One P(alive) candidate's out-of-time result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliveCandidate {
    /// `bgnbd` or `mbgnbd`.
    pub model: String,
    /// AUC with its 95% interval, when it fitted.
    pub auc: Option<(f64, f64, f64)>,
    /// Why it did not fit.
    pub error: Option<String>,
}

/// How a logistic model did: trained on the window two years ago to one year ago, evaluated
/// out of time on the last year, then refitted on the last year for scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierReport {
    /// `churn` or the product name.
    pub target: String,
    /// Training rows (past window).
    pub train_rows: u64,
    /// Positive share in training.
    pub train_positive_share: f64,
    /// AUC on the training window.
    pub auc_train: Option<f64>,
    /// Evaluation rows (later window).
    pub eval_rows: u64,
    /// Out-of-time AUC of the past-window model on the later window.
    pub auc_eval: Option<f64>,
    /// Why there is no model, if there is none.
    pub error: Option<String>,
    /// Positives in the training window.
    #[serde(default)]
    pub train_positives: u64,
    /// The out-of-time AUC's 95% interval (Hanley and McNeil).
    #[serde(default)]
    pub auc_interval: Option<(f64, f64)>,
    /// The simple baseline the model must beat (`recency` for churn, `frequency` for a
    /// product) and its out-of-time AUC on the same rows.
    #[serde(default)]
    pub baseline: Option<(String, f64)>,
    /// Whether the model is used for scores, lists and cues: it beat its baseline and the
    /// base rate (its interval above 0.5) out of time.
    #[serde(default)]
    pub used: bool,
}

/// The fitted models and cut-offs of a run, stored so incremental rescoring reuses them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedModels {
    /// The model version every score carries.
    pub version: String,
    /// When fitted.
    pub fitted_at: Timestamp,
    /// The value definition used.
    pub value: ValueDefinition,
    /// BG/NBD, when it converged.
    pub transactions: Option<BgNbd>,
    /// MBG/NBD for P(alive), when it was chosen (see [`AliveReport`]).
    #[serde(default)]
    pub alive: Option<MbgNbd>,
    /// The calibrated table for P(alive), when it was chosen.
    #[serde(default)]
    pub alive_table: Option<AliveTable>,
    /// Gamma-Gamma, when it converged.
    pub spend: Option<GammaGamma>,
    /// Mean spend per repeat transaction across customers: the spend model when Gamma-Gamma
    /// did not converge (each customer's own average, or this mean without repeats).
    pub mean_spend: f64,
    /// Observed yearly retention (the fallback lifetime-value model).
    pub retention: f64,
    /// Churn model, when it could be fitted.
    pub churn: Option<LogisticModel>,
    /// Propensity models by product.
    pub propensity: Vec<(String, LogisticModel)>,
    /// The products whose holding is a feature.
    pub catalogue: Vec<String>,
    /// Tier cut-offs.
    pub tiering: Tiering,
    /// What the tier cut-offs are on.
    #[serde(default = "TierMeasure::stored_default")]
    pub tier_measure: TierMeasure,
    /// Segment rules.
    pub segments: Vec<SegmentRule>,
    /// Lifetime-value horizon.
    pub clv: ClvOptions,
    /// The fit report.
    pub report: ModelReport,
}

/// What a scoring run did, stored as `analytics/run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// When it ran.
    pub at: Timestamp,
    /// Full run or incremental rescoring.
    pub full: bool,
    /// The model version.
    pub model_version: String,
    /// Customers in the store.
    pub customers: u64,
    /// Customers scored by this run.
    pub scored: u64,
    /// Tier changes recorded.
    pub tier_changes: u64,
    /// Highest interaction id seen: the next incremental run rescores customers with newer ones.
    pub watermark: u64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// The models.
    pub report: ModelReport,
}

fn stride_sample<T: Clone>(items: &[T], max: usize) -> Vec<T> {
    if items.len() <= max || max == 0 {
        return items.to_vec();
    }
    let step = items.len() as f64 / max as f64;
    (0..max)
        .map(|i| items[((i as f64 * step) as usize).min(items.len() - 1)].clone())
        .collect()
}

fn date_tag(t: Timestamp) -> String {
    t.to_string().chars().take(10).collect()
}

/// A classifier fitted out of time: returns the model refitted on the latest window and its
/// report.
/// The two windows of a sample: (two years ago, one year ago) and (one year ago, now).
struct Windows {
    past: Vec<(Activity, Activity)>,
    latest: Vec<(Activity, Activity)>,
}

/// A simple baseline a classifier must beat: a name and the score of a feature row.
type Baseline = (&'static str, fn(&[f64]) -> f64);

/// Churn's baseline: days since the last purchase (more: likelier gone).
const RECENCY: Baseline = ("recency", |row| row[0]);
/// A product's baseline: purchase days in the last year (more: likelier to buy).
const FREQUENCY: Baseline = ("frequency", |row| row[1]);

fn out_of_time<F>(
    target: &str,
    windows: &Windows,
    cfg: &ScoringConfig,
    names: &[&str],
    baseline: Baseline,
    dataset: F,
) -> (Option<LogisticModel>, ClassifierReport)
where
    F: Fn(&[(Activity, Activity)]) -> (Vec<Vec<f64>>, Vec<bool>),
{
    let (past, latest) = (&windows.past, &windows.latest);
    let (xt, yt) = dataset(past);
    let (xe, ye) = dataset(latest);
    let train_positives = yt.iter().filter(|v| **v).count() as u64;
    let eval_positives = ye.iter().filter(|v| **v).count() as u64;
    let mut report = ClassifierReport {
        target: target.to_string(),
        train_rows: xt.len() as u64,
        train_positive_share: if yt.is_empty() {
            0.0
        } else {
            yt.iter().filter(|v| **v).count() as f64 / yt.len() as f64
        },
        auc_train: None,
        eval_rows: xe.len() as u64,
        auc_eval: None,
        error: None,
        train_positives,
        auc_interval: None,
        baseline: None,
        used: false,
    };
    // Too few positives to learn from (or to evaluate on): no model, said plainly.
    let fewest = train_positives.min(eval_positives);
    if fewest < cfg.min_positives as u64 {
        report.error = Some(format!(
            "no model: {train_positives} positives in the training window and {eval_positives} \
             in the evaluation window, at least {} needed in each",
            cfg.min_positives
        ));
        return (None, report);
    }
    let base: Vec<f64> = xe.iter().map(|r| baseline.1(r)).collect();
    let base_auc = auc(&base, &ye);
    report.baseline = base_auc.map(|a| (baseline.0.to_string(), a));
    match LogisticModel::fit(names, &xt, &yt, &cfg.logistic) {
        Ok(m) => {
            let st: Vec<f64> = xt.iter().map(|r| m.predict(r)).collect();
            report.auc_train = auc(&st, &yt);
            let se: Vec<f64> = xe.iter().map(|r| m.predict(r)).collect();
            if let Some((a, lo, hi)) = auc_interval(&se, &ye) {
                report.auc_eval = Some(a);
                report.auc_interval = Some((lo, hi));
                report.used = lo > 0.5 && base_auc.is_none_or(|b| a > b);
            }
        }
        Err(e) => report.error = Some(format!("past window: {e}")),
    }
    if !report.used {
        if report.error.is_none() {
            report.error = Some(format!(
                "not used: out-of-time AUC {} does not beat {} ({}) and the base rate (0.5)",
                report
                    .auc_interval
                    .zip(report.auc_eval)
                    .map_or("-".to_string(), |((lo, hi), a)| format!(
                        "{a:.3} [{lo:.3}, {hi:.3}]"
                    )),
                baseline.0,
                base_auc.map_or("-".to_string(), |b| format!("{b:.3}")),
            ));
        }
        return (None, report);
    }
    match LogisticModel::fit(names, &xe, &ye, &cfg.logistic) {
        Ok(m) => (Some(m), report),
        Err(e) => {
            let msg = format!("latest window: {e}");
            report.error = Some(match report.error.take() {
                Some(p) => format!("{p}; {msg}"),
                None => msg,
            });
            (None, report)
        }
    }
}

/// Fits every model of a run on the customers' histories (all as of the same day).
pub fn fit_models(
    activities: &[Activity],
    cfg: &ScoringConfig,
    at: Timestamp,
) -> Result<FittedModels, Error> {
    cfg.value.validate()?;
    let values: Vec<f64> = activities
        .iter()
        .map(|a| match cfg.tiers.measure {
            TierMeasure::Value => a.value(&cfg.value),
            TierMeasure::AnnualValue => a.annual_value(&cfg.value),
        })
        .collect();
    let tiering = Tiering::from_values(&values, &cfg.tiers)?;
    let rfm: Vec<Rfm> = activities.iter().filter_map(Activity::rfm).collect();
    let acquired = rfm.len() as u64;
    let sample = stride_sample(&rfm, cfg.max_fit_customers);
    // The lifetime-value fits run on a second thread while this one trains the classifiers
    // (independent of each other: the results do not depend on the threads).
    std::thread::scope(|scope| {
        let clv_fits = scope.spawn(|| {
            let bgnbd = BgNbd::fit(&sample, &cfg.fit).map_err(|e| e.to_string());
            let gamma_gamma = GammaGamma::fit(&sample, &cfg.fit).map_err(|e| e.to_string());
            let alive = choose_alive(activities, &sample, cfg);
            (bgnbd, gamma_gamma, alive)
        });
        let classifiers = fit_classifiers(activities, cfg);
        match clv_fits.join() {
            Ok((bgnbd, gamma_gamma, alive)) => Ok(assemble(
                activities,
                cfg,
                at,
                tiering,
                rfm,
                acquired,
                sample.len() as u64,
                bgnbd,
                gamma_gamma,
                alive,
                classifiers,
            )),
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

/// What [`choose_alive`] picked: MBG/NBD or the calibrated table when chosen (neither:
/// BG/NBD), and the report.
type AliveChoice = (Option<MbgNbd>, Option<AliveTable>, Option<AliveReport>);

/// Chooses the P(alive) model (see [`AliveReport`]): BG/NBD and MBG/NBD fitted on the
/// histories as they stood a year ago, and the calibrated table learnt on the year before,
/// compared by AUC on who bought again in the last year; the winner refitted on today's data
/// (BG/NBD's is the run's own fit; the table learns from the last year's outcome).
fn choose_alive(activities: &[Activity], sample: &[Rfm], cfg: &ScoringConfig) -> AliveChoice {
    let mut past = Vec::new();
    let mut bought = Vec::new();
    let mut older = Vec::new();
    let step = (activities.len() / cfg.max_alive_eval.max(1)).max(1);
    for a in activities.iter().step_by(step) {
        let year_ago = a.years_ago(1);
        if let Some(rfm) = year_ago.rfm() {
            past.push(rfm);
            bought.push(a.purchase_days[0] > 0);
            if let Some(rfm2) = a.years_ago(2).rfm() {
                older.push((rfm2, year_ago.purchase_days[0] > 0));
            }
        }
    }
    if past.is_empty() || bought.iter().all(|b| *b) || bought.iter().all(|b| !*b) {
        return (None, None, None);
    }
    // Recency: weeks since the last purchase (the first, for a one-time buyer); more recent
    // ranks higher.
    let recency: Vec<f64> = past.iter().map(|d| d.recency - d.age).collect();
    let recency_auc = auc_interval(&recency, &bought);
    let mut candidates = Vec::new();
    let scored = |p: Vec<f64>| auc_interval(&p, &bought);
    let bg = BgNbd::fit(&past, &cfg.fit)
        .map(|f| scored(past.iter().map(|d| f.params.p_alive(d)).collect()));
    let mbg = MbgNbd::fit(&past, &cfg.fit)
        .map(|f| scored(past.iter().map(|d| f.params.p_alive(d)).collect()));
    let table = match AliveTable::fit(&older) {
        Some(t) if older.len() >= cfg.min_positives => {
            Ok(scored(past.iter().map(|d| t.p_alive(d)).collect()))
        }
        _ => Err(format!(
            "{} customers two years ago, at least {} needed",
            older.len(),
            cfg.min_positives
        )),
    };
    for (name, r) in [
        ("bgnbd", bg.map_err(|e| e.to_string())),
        ("mbgnbd", mbg.map_err(|e| e.to_string())),
        ("table", table),
    ] {
        candidates.push(match r {
            Ok(auc) => AliveCandidate {
                model: name.to_string(),
                auc,
                error: None,
            },
            Err(e) => AliveCandidate {
                model: name.to_string(),
                auc: None,
                error: Some(e),
            },
        });
    }
    let best = candidates
        .iter()
        .filter_map(|c| c.auc.map(|a| (c.model.clone(), a.0)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut chosen = "bgnbd".to_string();
    let mut alive = None;
    let mut alive_table = None;
    if let Some((name, _)) = &best
        && name == "table"
    {
        let latest: Vec<(Rfm, bool)> = past.iter().copied().zip(bought.iter().copied()).collect();
        alive_table = AliveTable::fit(&latest);
        chosen = name.clone();
    }
    if let Some((name, _)) = &best
        && name == "mbgnbd"
    {
        match MbgNbd::fit(sample, &cfg.fit) {
            Ok(f) => {
                alive = Some(f.params);
                chosen = name.clone();
            }
            Err(e) => {
                if let Some(c) = candidates.iter_mut().find(|c| c.model == "mbgnbd") {
                    c.error = Some(format!("refit on today's histories: {e}"));
                }
            }
        }
    }
    let chosen_auc = candidates
        .iter()
        .find(|c| c.model == chosen)
        .and_then(|c| c.auc)
        .map(|a| a.0);
    let beats_recency = match (chosen_auc, recency_auc) {
        (Some(m), Some(r)) => m > r.0,
        _ => false,
    };
    let report = AliveReport {
        rows: past.len() as u64,
        bought_again: bought.iter().filter(|b| **b).count() as u64,
        candidates,
        recency_auc,
        chosen,
        beats_recency,
    };
    (alive, alive_table, Some(report))
}

/// Retention, the product catalogue, and the churn and propensity models with reports.
struct Classifiers {
    retention: f64,
    catalogue: Vec<String>,
    churn: Option<LogisticModel>,
    churn_report: ClassifierReport,
    propensity: Vec<(String, LogisticModel)>,
    propensity_reports: Vec<ClassifierReport>,
}

fn fit_classifiers(activities: &[Activity], cfg: &ScoringConfig) -> Classifiers {
    let (mut before, mut kept) = (0u64, 0u64);
    for a in activities {
        if a.purchase_days[1] > 0 {
            before += 1;
            if a.purchase_days[0] > 0 {
                kept += 1;
            }
        }
    }
    let retention = if before > 0 {
        kept as f64 / before as f64
    } else {
        0.0
    };
    let mut holders: BTreeMap<&str, u64> = BTreeMap::new();
    for a in activities {
        for (p, _) in &a.products {
            *holders.entry(p.as_str()).or_default() += 1;
        }
    }
    let mut by_count: Vec<(&str, u64)> = holders.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let catalogue: Vec<String> = by_count
        .iter()
        .take(cfg.propensity_products)
        .map(|(p, _)| p.to_string())
        .collect();
    let mut names: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
    names.extend(catalogue.iter().map(|p| format!("holds_{p}")));
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let train_sample = stride_sample(activities, cfg.max_train_rows);
    let windows = Windows {
        past: train_sample
            .iter()
            .map(|a| (a.years_ago(2), a.years_ago(1)))
            .collect(),
        latest: train_sample
            .iter()
            .map(|a| (a.years_ago(1), a.clone()))
            .collect(),
    };
    drop(train_sample);
    let (churn, churn_report) = out_of_time("churn", &windows, cfg, &name_refs, RECENCY, |pairs| {
        churn_dataset(pairs.iter().map(|(a, b)| (a, b)), &catalogue)
    });
    let mut propensity = Vec::new();
    let mut propensity_reports = Vec::new();
    for product in &catalogue {
        let (m, r) = out_of_time(product, &windows, cfg, &name_refs, FREQUENCY, |pairs| {
            propensity_dataset(pairs.iter().map(|(a, b)| (a, b)), product, &catalogue)
        });
        if let Some(m) = m {
            propensity.push((product.clone(), m));
        }
        propensity_reports.push(r);
    }
    Classifiers {
        retention,
        catalogue,
        churn,
        churn_report,
        propensity,
        propensity_reports,
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    activities: &[Activity],
    cfg: &ScoringConfig,
    at: Timestamp,
    tiering: Tiering,
    rfm: Vec<Rfm>,
    acquired: u64,
    fit_sample: u64,
    bgnbd: Result<Fit<BgNbd>, String>,
    gamma_gamma: Result<Fit<GammaGamma>, String>,
    (alive, alive_table, alive_report): AliveChoice,
    c: Classifiers,
) -> FittedModels {
    let Classifiers {
        retention,
        catalogue,
        churn,
        churn_report,
        propensity,
        propensity_reports,
    } = c;
    let (bgnbd, bgnbd_error) = match bgnbd {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e)),
    };
    let (gamma_gamma, gamma_gamma_error) = match gamma_gamma {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e)),
    };
    let transactions = bgnbd.as_ref().map(|f| f.params);
    let spend = gamma_gamma.as_ref().map(|f| f.params);
    let repeaters: Vec<f64> = rfm
        .iter()
        .filter(|d| d.frequency > 0)
        .map(|d| d.monetary)
        .collect();
    let mean_spend = if repeaters.is_empty() {
        0.0
    } else {
        repeaters.iter().sum::<f64>() / repeaters.len() as f64
    };
    let clv_model = match (transactions.is_some(), spend.is_some()) {
        (true, true) => "bgnbd-gg",
        (true, false) => "bgnbd-mean",
        _ => "retention",
    };
    FittedModels {
        version: format!("{}/{clv_model}/lr/{}", cfg.value.tag(), date_tag(at)),
        fitted_at: at,
        value: cfg.value.clone(),
        transactions,
        alive,
        alive_table,
        spend,
        mean_spend,
        retention,
        churn,
        propensity,
        catalogue,
        tiering,
        tier_measure: cfg.tiers.measure,
        segments: cfg.segments.clone(),
        clv: cfg.clv,
        report: ModelReport {
            customers: activities.len() as u64,
            acquired,
            fit_sample,
            bgnbd,
            bgnbd_error,
            gamma_gamma,
            gamma_gamma_error,
            retention,
            churn: churn_report,
            propensity: propensity_reports,
            p_alive: alive_report,
        },
    }
}

impl FittedModels {
    /// Scores one customer.
    pub fn score(&self, a: &Activity, at: Timestamp) -> Scores {
        let mut propensity = BTreeMap::new();
        let row = self.score_row(a, |i, p| {
            propensity.insert(self.propensity[i].0.clone(), p);
        });
        Scores {
            model_version: self.version.clone(),
            at,
            value: row.value,
            annual_value: row.annual_value,
            profit: row.profit,
            clv: row.clv,
            p_alive: row.p_alive,
            churn: row.churn,
            expected_transactions: row.expected_transactions,
            tier: row.tier,
            top: row.top,
            bottom: row.bottom,
            segment: row.segment.to_string(),
            propensity,
        }
    }

    /// [`FittedModels::score`] without owned strings: the propensity of product
    /// `self.propensity[i]` goes to `propensity(i, p)`, for the products scored, in that order.
    fn score_row<'m>(
        &'m self,
        a: &Activity,
        mut propensity: impl FnMut(usize, f64),
    ) -> ScoreRow<'m> {
        let def = &self.value;
        let value = a.value(def);
        let (clv, p_alive, expected_transactions) = self.lifetime(a);
        let annual_value = a.annual_value(def);
        let measure = match self.tier_measure {
            TierMeasure::Value => value,
            TierMeasure::AnnualValue => annual_value,
        };
        let tier = self.tiering.tier(measure);
        let active = a.purchase_days[0] > 0;
        let needs_features =
            (self.churn.is_some() && active) || (a.acquired() && !self.propensity.is_empty());
        let row = if needs_features {
            features(a, &self.catalogue)
        } else {
            Vec::new()
        };
        let churn = self
            .churn
            .as_ref()
            .filter(|_| active)
            .map(|m| m.predict(&row));
        if a.acquired() {
            for (i, (p, m)) in self.propensity.iter().enumerate() {
                if !a.holds(p) {
                    propensity(i, m.predict(&row));
                }
            }
        }
        ScoreRow {
            value,
            annual_value,
            profit: a.profit(),
            clv,
            p_alive,
            churn,
            expected_transactions,
            tier,
            top: self.tiering.top(measure),
            bottom: self.tiering.bottom(measure),
            segment: segment_for(&self.segments, tier, clv, p_alive),
        }
    }

    /// (CLV, P(alive), expected transactions over the horizon).
    fn lifetime(&self, a: &Activity) -> (f64, f64, f64) {
        let Some(rfm) = a.rfm() else {
            return (0.0, 0.0, 0.0);
        };
        if let Some(bg) = &self.transactions {
            let opts = ClvOptions {
                margin: self.value.gross_margin,
                ..self.clv
            };
            let result = match &self.spend {
                Some(gg) => discounted_clv(bg, gg, &rfm, &opts),
                None => {
                    // Without a spend model: the customer's own average spend (or the mean).
                    let spend = if rfm.frequency > 0 {
                        rfm.monetary
                    } else {
                        self.mean_spend
                    };
                    discounted_transactions(bg, &rfm, &opts)
                        .map(|(units, expected)| (units * spend, expected))
                }
            };
            if let Ok((clv, expected)) = result {
                let p_alive = match (&self.alive_table, &self.alive) {
                    (Some(t), _) => t.p_alive(&rfm),
                    (None, Some(m)) => m.p_alive(&rfm),
                    (None, None) => bg.p_alive(&rfm),
                };
                return (clv, p_alive, expected);
            }
        }
        // Retention fallback: the yearly retention observed, applied since the last purchase.
        let years_silent = a.recency_days().unwrap_or(0) as f64 / 365.25;
        let p_alive = self.retention.powf(years_silent.max(0.0));
        let yearly_margin =
            (a.totals[0].revenue - a.totals[0].refunds).max(0.0) * self.value.gross_margin;
        let years = (self.clv.horizon() / 52.0).round().max(1.0) as u32;
        let clv = retention_clv(
            yearly_margin * self.retention,
            self.retention,
            self.clv.discount_rate,
            Some(years),
        )
        .unwrap_or(0.0);
        let expected = (1..=years)
            .map(|t| a.purchase_days[0] as f64 * self.retention.powi(t as i32))
            .sum();
        (clv, p_alive, expected)
    }

    /// What the working lists need about one scored customer.
    pub fn list_input(&self, customer: CustomerId, a: &Activity, s: &Scores) -> ListInput {
        self.list_input_of(customer, a, s.tier, s.value, s.clv, s.p_alive, s.churn)
    }

    /// [`FittedModels::list_input`] from a row of a [`ScoreTable`].
    pub fn list_input_row(
        &self,
        customer: CustomerId,
        a: &Activity,
        s: &ScoreRow<'_>,
    ) -> ListInput {
        self.list_input_of(customer, a, s.tier, s.value, s.clv, s.p_alive, s.churn)
    }

    #[allow(clippy::too_many_arguments)]
    fn list_input_of(
        &self,
        customer: CustomerId,
        a: &Activity,
        tier: Tier,
        value: f64,
        clv: f64,
        p_alive: f64,
        churn: Option<f64>,
    ) -> ListInput {
        ListInput {
            customer,
            tier,
            value,
            clv,
            p_alive,
            churn,
            complaints_last_year: a.complaints[0],
            revenue_this_year: a.totals[0].revenue - a.totals[0].refunds,
            revenue_last_year: a.totals[1].revenue - a.totals[1].refunds,
            products_held: a.products.len() as u32,
            days_since_last_purchase: a.recency_days(),
            past_value: (1..4)
                .map(|k| a.value_in_year(&self.value, k))
                .fold(0.0, f64::max),
        }
    }
}

/// One customer's scores as a [`ScoreTable`] holds them: [`Scores`] without the model
/// version (the table's), with the segment borrowed from the models and the propensities in
/// the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRow<'m> {
    /// Current-period value.
    pub value: f64,
    /// Annual value with carry-over.
    pub annual_value: f64,
    /// Profitability.
    pub profit: f64,
    /// Discounted lifetime value.
    pub clv: f64,
    /// Probability alive.
    pub p_alive: f64,
    /// Churn score.
    pub churn: Option<f64>,
    /// Expected transactions over the horizon.
    pub expected_transactions: f64,
    /// Value tier.
    pub tier: Tier,
    /// In the most valuable ~5%.
    pub top: bool,
    /// In the bottom ~20%.
    pub bottom: bool,
    /// Segment name.
    pub segment: &'m str,
}

/// Every customer's scores of a run, in input order, without an allocation per customer:
/// row `i` with the propensities of customer `i`. `scores(i)` equals
/// [`FittedModels::score`] of that customer.
#[derive(Debug)]
pub struct ScoreTable<'m> {
    models: &'m FittedModels,
    at: Timestamp,
    /// One per customer.
    pub rows: Vec<ScoreRow<'m>>,
    /// Row `i`'s propensity for product `models.propensity[j]` at `i * products + j`, when
    /// `scored` says so (not: the customer holds the product, or has no transaction).
    propensity: Vec<f64>,
    scored: Vec<bool>,
    /// Product indices in name order (the order of [`Scores::propensity`]).
    by_name: Vec<usize>,
}

impl<'m> ScoreTable<'m> {
    /// Tiers and flags by rank over the whole table ([`crate::rank_tiers`]: the shares of
    /// `rules` hold exactly whatever the ties, ties broken by lifetime value), segments
    /// following. For a full run; a partial table keeps the cut-offs' tiers.
    pub fn rank_tiers(&mut self, rules: &TierRules) {
        let values: Vec<f64> = self
            .rows
            .iter()
            .map(|r| match rules.measure {
                TierMeasure::Value => r.value,
                TierMeasure::AnnualValue => r.annual_value,
            })
            .collect();
        let clv: Vec<f64> = self.rows.iter().map(|r| r.clv).collect();
        let flags = crate::tiers::rank_tiers(&values, &clv, rules);
        for (row, (tier, top, bottom)) in self.rows.iter_mut().zip(flags) {
            row.tier = tier;
            row.top = top;
            row.bottom = bottom;
            row.segment = segment_for(&self.models.segments, tier, row.clv, row.p_alive);
        }
    }

    fn new(models: &'m FittedModels, at: Timestamp) -> ScoreTable<'m> {
        let mut by_name: Vec<usize> = (0..models.propensity.len()).collect();
        by_name.sort_by(|a, b| models.propensity[*a].0.cmp(&models.propensity[*b].0));
        ScoreTable {
            models,
            at,
            rows: Vec::new(),
            propensity: Vec::new(),
            scored: Vec::new(),
            by_name,
        }
    }

    fn push(&mut self, a: &Activity) {
        let n = self.models.propensity.len();
        let start = self.propensity.len();
        self.propensity.resize(start + n, 0.0);
        self.scored.resize(start + n, false);
        let values = &mut self.propensity[start..];
        let scored = &mut self.scored[start..];
        let row = self.models.score_row(a, |j, p| {
            values[j] = p;
            scored[j] = true;
        });
        self.rows.push(row);
    }

    /// Customers scored.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no customer was scored.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The model version of every row.
    pub fn model_version(&self) -> &'m str {
        &self.models.version
    }

    /// When the rows were scored.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// Row `i`'s propensities (product, propensity), in product name order.
    pub fn propensity(&self, i: usize) -> impl Iterator<Item = (&'m str, f64)> + '_ {
        let n = self.models.propensity.len();
        let values = &self.propensity[i * n..(i + 1) * n];
        let scored = &self.scored[i * n..(i + 1) * n];
        let models = self.models;
        self.by_name
            .iter()
            .filter(move |j| scored[**j])
            .map(move |j| (models.propensity[*j].0.as_str(), values[*j]))
    }

    /// Row `i` as owned [`Scores`].
    pub fn scores(&self, i: usize) -> Scores {
        let r = &self.rows[i];
        Scores {
            model_version: self.models.version.clone(),
            at: self.at,
            value: r.value,
            annual_value: r.annual_value,
            profit: r.profit,
            clv: r.clv,
            p_alive: r.p_alive,
            churn: r.churn,
            expected_transactions: r.expected_transactions,
            tier: r.tier,
            top: r.top,
            bottom: r.bottom,
            segment: r.segment.to_string(),
            propensity: self
                .propensity(i)
                .map(|(p, v)| (p.to_string(), v))
                .collect(),
        }
    }
}

/// [`score_all`] into a [`ScoreTable`]: the same scores, without owned strings per customer.
pub fn score_table<'m>(
    activities: &[Activity],
    models: &'m FittedModels,
    at: Timestamp,
    threads: usize,
) -> ScoreTable<'m> {
    let threads = threads.max(1);
    let score_part = |part: &[Activity]| {
        let mut t = ScoreTable::new(models, at);
        t.rows.reserve(part.len());
        t.propensity.reserve(part.len() * models.propensity.len());
        t.scored.reserve(part.len() * models.propensity.len());
        for a in part {
            t.push(a);
        }
        t
    };
    if threads == 1 || activities.len() < 1024 {
        return score_part(activities);
    }
    // Pieces of about 8,192 customers taken in turn (customers differ in cost: halves
    // finished 0.3 s apart at a million).
    let pieces: Vec<&[Activity]> = activities.chunks(SCORING_PIECE).collect();
    let parts = crate::par::map_pieces(pieces.len(), threads, |k| score_part(pieces[k]));
    let mut out = ScoreTable::new(models, at);
    out.rows.reserve(activities.len());
    out.propensity
        .reserve(activities.len() * models.propensity.len());
    out.scored
        .reserve(activities.len() * models.propensity.len());
    for part in parts {
        out.rows.extend(part.rows);
        out.propensity.extend(part.propensity);
        out.scored.extend(part.scored);
    }
    out
}

/// Customers per piece of a scoring run's work (see [`crate::par::map_pieces`]).
const SCORING_PIECE: usize = 8_192;

/// Scores every customer on `threads` threads, in input order.
pub fn score_all(
    activities: &[Activity],
    models: &FittedModels,
    at: Timestamp,
    threads: usize,
) -> Vec<Scores> {
    let threads = threads.max(1);
    if threads == 1 || activities.len() < 1024 {
        return activities.iter().map(|a| models.score(a, at)).collect();
    }
    let pieces: Vec<&[Activity]> = activities.chunks(SCORING_PIECE).collect();
    crate::par::map_pieces(pieces.len(), threads, |k| {
        pieces[k]
            .iter()
            .map(|a| models.score(a, at))
            .collect::<Vec<Scores>>()
    })
    .into_iter()
    .flatten()
    .collect()
}
