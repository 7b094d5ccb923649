//! Pure customer analytics for Rapport: one value definition, customer profitability,
//! lifetime value (BG/NBD, Pareto/NBD, Gamma-Gamma, retention-based), tiers and value skew,
//! working lists, churn and next-best-product propensity models, and the statistics of
//! experiments with a control group ([`analyse_experiment`]).
//!
//! This crate does no I/O and never touches the store: every function takes plain data
//! (summaries, slices of [`rapport_core::Interaction`], numbers) and returns plain data, so a
//! developer can use it on their own data. The `rapport` binary wires it to the store
//! (`rapport score`) and to CSV files (`rapport clv fit`).
//!
//! The lifetime-value models reproduce the published maximum-likelihood estimates on the
//! CDNOW sample (see `tests/cdnow.rs`).
//!
//! ```
//! use rapport_analytics::{simulate, BgNbd, FitOptions, GammaGamma, Rfm};
//! // Calibration summaries (repeat transactions, recency and age in weeks): here simulated
//! // from known parameters; in practice from `summarize` on a transaction log.
//! let truth = BgNbd { r: 0.5, alpha: 6.0, a: 0.7, b: 2.5 };
//! let data: Vec<Rfm> = simulate::bgnbd(&truth, 2_000, 26.0, 52.0, 1);
//! let fit = BgNbd::fit(&data, &FitOptions::default()).unwrap();
//! assert!((fit.params.r - 0.5).abs() < 0.15);
//! // Published CDNOW parameters: a customer with 2 repeats, the last in week 30 of 39, is
//! // expected to buy about 1.23 times in the next 39 weeks.
//! let cdnow = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
//! let customer = Rfm { frequency: 2, recency: 30.43, age: 38.86, monetary: 22.35 };
//! let e = cdnow.conditional_expected_transactions(&customer, 39.0).unwrap();
//! assert!((e - 1.226).abs() < 0.01);
//! assert!(cdnow.p_alive(&customer) > 0.5);
//! let gg = GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 };
//! assert!(gg.conditional_expected_spend(2, 22.35) > 22.35);
//! ```
//!
//! # Stored results
//!
//! A scoring run (rapport-scoring, whose `results` module reads them back typed) stores, besides one [`rapport_core::Scores`] per customer,
//! these documents, whose shapes are defined here so readers (the service's overview and
//! lists, `rapport tiers/skew/lists`) share them:
//!
//! | collection | key | type |
//! |---|---|---|
//! | `analytics` | `value_definition` | [`ValueDefinition`] (the one in force) |
//! | `analytics` | `run` | [`RunSummary`] (the latest run: when, models, fits, AUCs) |
//! | `analytics` | `skew` | [`SkewSummary`] |
//! | `analytics` | `skew_profit` | [`SkewSummary`] of profit |
//! | `analytics` | `tiers` | [`TierSummary`] |
//! | `analytics` | `list/<name>` | [`WorkingList`], `<name>` one of [`ListName::ALL`] |
//! | `analytics` | `segment_clv` | `Vec<`[`SegmentValue`]`>` |
//! | `analytics` | `models` | [`FittedModels`] (reused by incremental rescoring) |
//! | `tier_history` | `<customer id>` (`C00000042`) | [`TierHistory`] (tier changes over time) |

mod bgnbd;
mod clv;
mod currency;
mod error;
mod experiment;
mod features;
mod gamma_gamma;
mod history;
mod lists;
mod logistic;
mod mbgnbd;
mod optimize;
pub mod par;
mod pareto_nbd;
mod rfm;
mod scoring;
pub mod simulate;
mod skew;
pub mod special;
mod tiers;
mod value;

pub use bgnbd::{BgNbd, Fit};
pub use clv::{
    ClvOptions, SegmentValue, customer_equity, discounted_clv, discounted_transactions,
    equity_share, retention_clv, segment_values,
};
pub use currency::Converter;
pub use error::Error;
pub use experiment::{
    AnalysisConfig, ArmOutcomes, ArmSummary, Bootstrap, Comparison, Direction, ExperimentReport,
    Interval, Recommendation, Warning, Welch, analyse_experiment, bootstrap_difference,
    mean_interval, needed_per_arm, power, welch_test,
};
pub use features::{FEATURE_NAMES, FeatureRow, churn_dataset, features, propensity_dataset};
pub use gamma_gamma::GammaGamma;
pub use history::{
    Activity, DIGEST_VERSION, FlatDigest, HistoryDigest, MAX_CURRENCIES, MoneyLine, Touch, YEARS,
    day_of, explain_money, flat_digest_is_current, summarize_history, summarize_touches,
};
pub use lists::{ListEntry, ListInput, ListName, ListRules, WorkingList, working_lists};
pub use logistic::{LogisticModel, LogisticOptions, auc, auc_interval};
pub use mbgnbd::MbgNbd;
pub use optimize::{FitOptions, Minimum, NotConverged, bfgs, minimize, nelder_mead};
pub use pareto_nbd::ParetoNbd;
pub use rfm::{CustomerSummary, DayTransaction, Periods, Rfm, Summaries, summarize};
pub use scoring::{
    AliveCandidate, AliveReport, AliveTable, ClassifierReport, FittedModels, ModelReport,
    RunSummary, ScoreRow, ScoreTable, ScoringConfig, fit_models, score_all, score_table,
};
pub use skew::{SkewSummary, SkewVerdict, skew};
pub use tiers::{
    SegmentRule, TierChange, TierContribution, TierFlags, TierHistory, TierMeasure, TierMovement,
    TierRow, TierRules, TierSummary, Tiering, assign_tiers, rank_tiers, segment_for,
    tier_movements,
};
pub use value::{PeriodTotals, ValueDefinition, annual_value_with_carry_over};

/// A maximum on the edge of the parameter space (a parameter driven towards 0 or infinity)
/// is no estimate: the data cannot identify the model. The optimiser works on log-parameters;
/// beyond ±18 (about 1.5e-8 and 6.6e7) the fit is reported as not converged.
pub(crate) fn check_interior(
    model: &'static str,
    names: &[&str],
    log_params: &[f64],
    log_likelihood: f64,
) -> Result<(), Error> {
    for (name, x) in names.iter().zip(log_params) {
        if !(-18.0..=18.0).contains(x) {
            return Err(Error::NotConverged {
                model,
                reason: format!(
                    "parameter {name} ran off to {:.3e}: the likelihood has no maximum inside the parameter space on this data",
                    x.exp()
                ),
                best_log_likelihood: log_likelihood,
            });
        }
    }
    Ok(())
}

/// Checks every summary, naming the first bad row (1-based) and field.
pub(crate) fn check_rows(data: &[Rfm]) -> Result<(), Error> {
    if data.is_empty() {
        return Err(Error::Empty {
            what: "no customers to fit".into(),
        });
    }
    for (i, d) in data.iter().enumerate() {
        if let Some((field, reason)) = d.problem() {
            return Err(Error::InvalidInput {
                row: i + 1,
                field,
                reason,
            });
        }
    }
    Ok(())
}
