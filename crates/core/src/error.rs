/// Errors from parsing the vocabulary's printable forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A printable id, currency, date or kind name that does not parse.
    #[error("invalid {what}: {input:?}")]
    Parse {
        /// What was being parsed, e.g. "customer id".
        what: &'static str,
        /// The offending input (may come from data: sanitise before showing it in a terminal).
        input: String,
    },
    /// A disruption reference that names no flight and date nor bag tag.
    #[error("invalid disruption reference {input:?}: {why}")]
    Reference {
        /// The offending input (may come from data: sanitise before showing it in a terminal).
        input: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn parse_err(what: &'static str, input: &str) -> Error {
    Error::Parse {
        what,
        input: input.chars().take(80).collect(),
    }
}
