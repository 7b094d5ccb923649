//! The screens: search, the customer record, and the overview with working lists.

pub mod approvals;
pub mod assessment;
pub mod equity;
pub mod flight;
pub mod learning;
pub mod overview;
pub mod record;
pub mod search;
pub mod today;

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenId {
    /// Type-ahead search.
    Search,
    /// The unified record.
    Record,
    /// Overview and working lists.
    Overview,
    /// The coordination-stage assessment.
    Assessment,
    /// A disruption with every passenger it affected.
    Flight,
    /// Customer equity by portfolio and tier.
    Equity,
    /// The learning loop: hand-offs, experiments, campaigns, ideas.
    Learning,
    /// The approval queue.
    Approvals,
}
