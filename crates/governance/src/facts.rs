//! What the relationship rules may look at about one customer: attributes, tier, scores and
//! recent history, gathered by the caller (the repository reads them from the store) at one
//! moment. The rules never read anything else, so the same facts give the same decision at
//! every terminal.

use std::collections::BTreeMap;

use rapport_core::{CustomerId, PartyKind, Tier};
use serde::{Deserialize, Serialize};

/// A delay of at least this many minutes is a long delay (`days_since_long_delay`): the
/// length from which the standard compensation policy compensates.
pub const LONG_DELAY_MINUTES: u32 = 180;

/// Everything the portfolio and offer rules may read about one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerFacts {
    /// The customer.
    pub id: CustomerId,
    /// Person, organisation or intermediary.
    pub kind: PartyKind,
    /// Country (ISO 3166 alpha-2 where known).
    pub country: Option<String>,
    /// Home city.
    pub city: Option<String>,
    /// Loyalty status as the loyalty system states it (`gold`).
    pub loyalty_status: Option<String>,
    /// Further golden fields a mapping defines (`attr.NAME` in rules).
    pub attributes: BTreeMap<String, String>,
    /// The corporate account this person works for, if any.
    pub employer: Option<CustomerId>,
    /// The other members of the customer's household.
    pub household: Vec<CustomerId>,
    /// The latest scores, when the customer has been scored.
    pub scores: Option<ScoreFacts>,
    /// What happened to the customer lately.
    pub history: HistoryFacts,
}

/// The scores the rules may read (from the latest scoring run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreFacts {
    /// Value tier.
    pub tier: Tier,
    /// Named segment (premium / standard / foundation).
    pub segment: String,
    /// Current-period value (reporting currency, major units).
    pub value: f64,
    /// Annual value with carry-over.
    pub annual_value: f64,
    /// Profit: revenue minus cost to serve, compensation included.
    pub profit: f64,
    /// Customer lifetime value.
    pub clv: f64,
    /// Probability the customer is still active.
    pub p_alive: f64,
    /// Churn score, when a churn model was used.
    pub churn: Option<f64>,
    /// Expected transactions over the model horizon.
    pub expected_transactions: f64,
    /// In the top ~5%.
    pub top: bool,
    /// In the bottom ~20%.
    pub bottom: bool,
    /// Purchase propensities by product.
    pub propensity: BTreeMap<String, f64>,
}

/// Recent history, in whole days before the moment the facts were gathered (0 = today).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryFacts {
    /// Days since the newest complaint.
    pub days_since_complaint: Option<u32>,
    /// Days since the newest complaint that is not resolved.
    pub days_since_unresolved_complaint: Option<u32>,
    /// Complaints not resolved, over the last 90 days.
    pub unresolved_complaints: u32,
    /// Complaints in the last 365 days.
    pub complaints_12m: u32,
    /// Days since the newest disruption (delay, cancellation, denied boarding, lost bag).
    pub days_since_disruption: Option<u32>,
    /// Days since the newest delay of [`LONG_DELAY_MINUTES`] or more.
    pub days_since_long_delay: Option<u32>,
    /// Disruptions in the last 30 days.
    pub disruptions_30d: u32,
    /// Compensation granted in the last 365 days (reporting currency, major units).
    pub compensation_12m: f64,
    /// Days since the newest interaction of any kind.
    pub days_since_contact: Option<u32>,
}

impl HistoryFacts {
    /// Whether a complaint is open (not resolved, within the last 90 days).
    pub fn open_complaint(&self) -> bool {
        self.unresolved_complaints > 0
    }

    /// Whether a disruption happened today.
    pub fn disruption_today(&self) -> bool {
        self.days_since_disruption == Some(0)
    }
}

impl CustomerFacts {
    /// Facts with nothing known but the customer's id and kind.
    pub fn new(id: CustomerId, kind: PartyKind) -> CustomerFacts {
        CustomerFacts {
            id,
            kind,
            country: None,
            city: None,
            loyalty_status: None,
            attributes: BTreeMap::new(),
            employer: None,
            household: Vec::new(),
            scores: None,
            history: HistoryFacts::default(),
        }
    }

    /// The tier, when scored.
    pub fn tier(&self) -> Option<Tier> {
        self.scores.as_ref().map(|s| s.tier)
    }
}
