use serde::{Deserialize, Serialize};

use crate::{CustomerId, InteractionId, Timestamp};

/// A change to the pool, as the store's change feed and the service's live updates carry it.
///
/// Events name what changed, not the new state: a subscriber re-reads what it shows. Events
/// may be dropped for a subscriber that falls behind (it then gets [`Change::Lagged`] and
/// re-reads everything it shows), so they are hints to refresh, never the source of truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The customer document changed (profile, contacts, preferences, relationships).
    CustomerChanged {
        /// Which customer.
        customer: CustomerId,
    },
    /// The customer was removed, usually merged into another.
    CustomerRemoved {
        /// Which customer.
        customer: CustomerId,
        /// The surviving customer, when merged.
        merged_into: Option<CustomerId>,
    },
    /// An interaction was added to the customer's history.
    InteractionAdded {
        /// Which customer.
        customer: CustomerId,
        /// The new interaction.
        interaction: InteractionId,
    },
    /// Compensation was granted to the customer.
    GrantIssued {
        /// Which customer.
        customer: CustomerId,
        /// The disruption reference.
        disruption: String,
    },
    /// New scores were stored for the customer.
    ScoresUpdated {
        /// Which customer.
        customer: CustomerId,
    },
    /// The subscriber fell behind and events were dropped: re-read everything shown.
    Lagged,
}

/// A change with the time it was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// What changed.
    pub change: Change,
    /// When the change was published.
    pub at: Timestamp,
}

impl Change {
    /// The customer the change concerns, if any.
    pub fn customer(&self) -> Option<CustomerId> {
        match self {
            Change::CustomerChanged { customer }
            | Change::CustomerRemoved { customer, .. }
            | Change::InteractionAdded { customer, .. }
            | Change::GrantIssued { customer, .. }
            | Change::ScoresUpdated { customer } => Some(*customer),
            Change::Lagged => None,
        }
    }
}
