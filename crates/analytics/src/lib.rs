//! Pure customer analytics for Rapport: one value definition, customer profitability,
//! lifetime value (BG/NBD, Pareto/NBD, Gamma-Gamma, retention-based), tiers and value skew,
//! working lists, and churn and next-best-product propensity models.
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
//! use rapport_analytics::{BgNbd, FitOptions, GammaGamma, Rfm};
//! // Calibration summaries: repeat transactions, recency and age in weeks, average spend.
//! let data = vec![
//!     Rfm { frequency: 2, recency: 30.4, age: 38.9, monetary: 22.4 },
//!     Rfm { frequency: 1, recency: 1.7, age: 38.9, monetary: 11.8 },
//!     Rfm { frequency: 0, recency: 0.0, age: 38.9, monetary: 0.0 },
//!     Rfm { frequency: 0, recency: 0.0, age: 38.9, monetary: 0.0 },
//!     Rfm { frequency: 5, recency: 35.0, age: 38.9, monetary: 40.0 },
//!     Rfm { frequency: 3, recency: 12.0, age: 30.0, monetary: 18.0 },
//! ];
//! let fit = BgNbd::fit(&data, &FitOptions::default()).unwrap();
//! let alive = fit.params.p_alive(&data[1]);
//! assert!(alive > 0.0 && alive < 1.0);
//! // Published CDNOW parameters: a customer with 2 repeats is expected to buy ~1.23 times
//! // in the next 39 weeks.
//! let cdnow = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
//! let e = cdnow.conditional_expected_transactions(&data[0], 39.0).unwrap();
//! assert!((e - 1.23).abs() < 0.02);
//! let gg = GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 };
//! assert!(gg.conditional_expected_spend(2, 22.4) > 22.4);
//! ```
//!
//! # Stored results
//!
//! A scoring run (in the binary) stores, besides one [`rapport_core::Scores`] per customer,
//! these documents, whose shapes are defined here so readers (the service's overview and
//! lists, `rapport tiers/skew/lists`) share them:
//!
//! | collection | key | type |
//! |---|---|---|
//! | `analytics` | `value_definition` | [`ValueDefinition`] (the one in force) |
//! | `analytics` | `run` | [`RunSummary`] (the latest run: when, models, fits, AUCs) |
//! | `analytics` | `skew` | [`SkewSummary`] |
//! | `analytics` | `tiers` | [`TierSummary`] |
//! | `analytics` | `list/<name>` | [`WorkingList`], `<name>` one of [`ListName::ALL`] |
//! | `analytics` | `segment_clv` | `Vec<`[`SegmentValue`]`>` |
//! | `tier_history` | `<customer id>` | [`TierHistory`] (tier changes over time) |
//! | `analytics_state` | `<customer id>` | [`ScoredState`] (what incremental rescoring compares) |

mod bgnbd;
mod error;
mod gamma_gamma;
mod optimize;
mod pareto_nbd;
mod rfm;
pub mod special;

pub use bgnbd::{BgNbd, Fit};
pub use error::Error;
pub use gamma_gamma::GammaGamma;
pub use optimize::{FitOptions, Minimum, NotConverged, nelder_mead};
pub use pareto_nbd::ParetoNbd;
pub use rfm::{CustomerSummary, DayTransaction, Periods, Rfm, Summaries, summarize};

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
