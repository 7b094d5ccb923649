//! Rapport's scoring run and the typed home of its results.
//!
//! [`run_scoring`] reads every customer's history from the store (history digests, or the
//! interactions of customers changed since the last run), fits the models of
//! rapport-analytics (or reuses the last full run's when incremental), and writes one score
//! per customer, new history digests, tier history and the run's documents (tiers, skew,
//! working lists, models). [`results`] reads those documents back, typed, for the service and
//! the binary alike. Depends on the store, analytics and the repository (exchange rates);
//! `rapport score`, `rapport demo` and the service's `Score` request call it.
//!
//! ```no_run
//! use rapport_scoring::{ScoreOptions, results, run_scoring};
//! # fn demo(store: &rapport_store::Store) -> Result<(), rapport_scoring::Error> {
//! let report = run_scoring(store, &ScoreOptions::default())?;
//! println!("{} customers scored", report.scored);
//! let tiers = results::tiers(store)?;
//! # let _ = tiers;
//! # Ok(()) }
//! ```
//!
//! A run assumes that nobody else writes interactions of the customers it reads while it
//! runs: a customer whose interactions change meanwhile must have its history digest removed
//! afterwards ([`forget_digests`]), which the service does for the writes it serves during a
//! run.

mod error;
pub mod results;
mod run;

pub use error::Error;
pub use run::{Progress, ScoreOptions, ScoreReport, forget_digests, run_scoring};
