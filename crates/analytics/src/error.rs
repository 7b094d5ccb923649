//! The crate's error type.

/// What went wrong in an analytics computation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The optimiser stopped without converging: no parameters are reported.
    #[error(
        "{model}: the optimiser did not converge ({reason}); best log-likelihood so far {best_log_likelihood:.4}; no parameters reported"
    )]
    NotConverged {
        /// Which model.
        model: &'static str,
        /// Why it stopped.
        reason: String,
        /// The best log-likelihood reached.
        best_log_likelihood: f64,
    },
    /// Nothing to compute on.
    #[error("{what}")]
    Empty {
        /// What was empty.
        what: String,
    },
    /// A row of input is unusable.
    #[error("row {row}: {field} {reason}")]
    InvalidInput {
        /// 1-based row number in the input slice.
        row: usize,
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A numerical method failed (e.g. a series did not converge).
    #[error("{what}: numerical failure ({reason})")]
    Numerical {
        /// The computation.
        what: &'static str,
        /// Why.
        reason: String,
    },
}
