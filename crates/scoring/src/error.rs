//! What can stop a scoring run or a read of its results.

/// Errors of the scoring crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
    /// Reading the exchange rates (kept by the repository) failed.
    #[error(transparent)]
    Repository(#[from] rapport_repository::Error),
    /// The models could not be fitted.
    #[error("fitting the models: {0}")]
    Fit(rapport_analytics::Error),
    /// There is nobody to score.
    #[error("no customers to score: ingest some data first")]
    NoCustomers,
    /// An amount has no exchange rate for its day (the message names currency, day and
    /// customer, and what to do).
    #[error("{0}")]
    MissingRate(String),
    /// An option or a stored value is not acceptable (the message says which).
    #[error("{0}")]
    Invalid(String),
}
