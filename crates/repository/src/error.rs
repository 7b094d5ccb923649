//! The repository's typed error.

use std::path::PathBuf;

/// What can go wrong in the repository: a mapping or manifest that does not load, a source
/// file that cannot be read at all, or the store.
///
/// Problems with single rows are not errors: they go to the quarantine and the ingest goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A mapping or manifest file with a mistake, located by file, line and field.
    #[error("{}:{line}: field `{field}`: {reason}", file.display())]
    Config {
        /// The mapping or manifest file.
        file: PathBuf,
        /// 1-based line of the offending field (0 when unknown).
        line: usize,
        /// The field, as a dotted path (e.g. `interaction.kind_map`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A source file that cannot be read at all (missing, unreadable, unknown encoding...).
    #[error("{}:{line}: {field}: {reason}", file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// 1-based line (0 for the whole file).
        line: usize,
        /// The field or part concerned (e.g. `header`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
    /// The relationship-governance files (portfolios, offers, rules) have mistakes, each
    /// named by file, line and problem.
    #[error("{0}")]
    Rules(#[from] rapport_governance::ConfigErrors),
    /// A move expected the customer in one portfolio, but someone moved it meanwhile.
    #[error(
        "customer {customer} was moved meanwhile: now in {} (by {by}{})",
        portfolio.as_deref().unwrap_or("no portfolio"),
        at.map(|t| format!(" at {t}")).unwrap_or_default()
    )]
    PortfolioChanged {
        /// The customer.
        customer: rapport_core::CustomerId,
        /// Where it is now.
        portfolio: Option<String>,
        /// Who put it there.
        by: String,
        /// When.
        at: Option<rapport_core::Timestamp>,
    },
    /// A request that makes no sense (unknown quarantine id, bad search...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
