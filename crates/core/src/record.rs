use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, parse_err};
use crate::{Customer, CustomerId, Interaction, InteractionId, Money, PartyKind, Timestamp};

/// A tier change seen by a scoring run: the record's tier history is a list of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierChange {
    /// When the scoring run saw it.
    pub at: crate::Timestamp,
    /// The tier before (none for the first scoring).
    pub from: Option<Tier>,
    /// The tier after.
    pub to: Tier,
}

/// A value tier: A for the most valuable customers, C for the least.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// Top tier.
    A,
    /// Middle tier.
    B,
    /// Third tier (C in an A/B/C scheme).
    C,
    /// Bottom tier (by default the bottom 20% by value, who may cost money).
    D,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::A => "A",
            Tier::B => "B",
            Tier::C => "C",
            Tier::D => "D",
        })
    }
}

impl FromStr for Tier {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "A" | "a" => Ok(Tier::A),
            "B" | "b" => Ok(Tier::B),
            "C" | "c" => Ok(Tier::C),
            "D" | "d" => Ok(Tier::D),
            _ => Err(parse_err("tier", s)),
        }
    }
}

/// The latest scores of a customer from a scoring run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Which value definition and models produced these scores, e.g. `value-v1/bgnbd-2026-11`.
    pub model_version: String,
    /// When the scoring run computed them.
    pub at: Timestamp,
    /// Current-period value by the one value definition (major currency units).
    pub value: f64,
    /// Annual value with carry-over, for recognising steady customers.
    pub annual_value: f64,
    /// Profitability: revenue minus cost to serve, compensation included (major units).
    pub profit: f64,
    /// Discounted customer lifetime value over the model horizon (major units).
    pub clv: f64,
    /// Probability the customer is still active (BG/NBD).
    pub p_alive: f64,
    /// Churn score 0-1 (logistic model), if a model was fitted.
    pub churn: Option<f64>,
    /// Expected transactions over the model horizon.
    pub expected_transactions: f64,
    /// Value tier.
    pub tier: Tier,
    /// In the most valuable ~5%.
    pub top: bool,
    /// In the bottom ~20% (may cost money).
    pub bottom: bool,
    /// Named segment (e.g. premium / standard / foundation).
    pub segment: String,
    /// Next-best-product propensities by product name.
    pub propensity: BTreeMap<String, f64>,
}

/// The kind of disruption that entitles a customer to compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisruptionKind {
    /// A delay (with its length in minutes).
    Delay,
    /// A cancelled flight.
    Cancellation,
    /// Denied boarding on an overbooked flight.
    DeniedBoarding,
    /// A lost bag.
    LostBag,
}

impl DisruptionKind {
    /// The kebab-case name used on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            DisruptionKind::Delay => "delay",
            DisruptionKind::Cancellation => "cancellation",
            DisruptionKind::DeniedBoarding => "denied-boarding",
            DisruptionKind::LostBag => "lost-bag",
        }
    }
}

impl fmt::Display for DisruptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DisruptionKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "delay" => Ok(DisruptionKind::Delay),
            "cancellation" => Ok(DisruptionKind::Cancellation),
            "denied-boarding" | "bumped" => Ok(DisruptionKind::DeniedBoarding),
            "lost-bag" | "bag-lost" => Ok(DisruptionKind::LostBag),
            _ => Err(parse_err("disruption type", s)),
        }
    }
}

/// Compensation granted for one disruption to one customer: at most one per
/// (customer, disruption), enforced atomically by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompensationGrant {
    /// Who received it.
    pub customer: CustomerId,
    /// The disruption's reference, e.g. `RP123/2026-11-23`.
    pub disruption: String,
    /// What kind of disruption.
    pub kind: DisruptionKind,
    /// Delay in minutes, for delays.
    pub delay_minutes: Option<u32>,
    /// What was granted, e.g. `voucher`, `miles`, `cash`.
    pub instrument: String,
    /// How much, by the compensation policy.
    pub amount: Money,
    /// The policy rule that set the amount, e.g. `delay 6h+ v1`.
    pub policy_rule: String,
    /// The operator who granted it.
    pub granted_by: String,
    /// Where (touchpoint), e.g. `gate C12`.
    pub touchpoint: String,
    /// When.
    pub at: Timestamp,
    /// The `compensation_granted` interaction written with the grant.
    pub interaction: InteractionId,
}

/// The portfolio a customer belongs to and its customer manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioRef {
    /// Portfolio id.
    pub id: String,
    /// Portfolio name.
    pub name: String,
    /// The accountable customer manager.
    pub manager: String,
}

/// How urgent a recognition cue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CueLevel {
    /// Act now (e.g. a voucher was already granted: do not grant another).
    Alert,
    /// Recognise (e.g. apologise for yesterday's delay).
    Recognise,
    /// Good to know.
    Info,
}

/// A recognition cue shown at the top of a record, e.g.
/// "delayed 14 h yesterday: apologise".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cue {
    /// Urgency.
    pub level: CueLevel,
    /// The text to show (built from data: sanitise before display).
    pub text: String,
    /// When the underlying event happened.
    pub at: Timestamp,
}

/// A search hit: enough to tell people apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    /// The customer.
    pub id: CustomerId,
    /// Party kind.
    pub kind: PartyKind,
    /// Display name.
    pub name: String,
    /// Value tier, if scored.
    pub tier: Option<Tier>,
    /// Home city.
    pub city: Option<String>,
    /// Time of the last interaction.
    pub last_contact: Option<Timestamp>,
    /// What matched (e.g. `phone`, `name~`), for the operator.
    pub matched: String,
    /// Match score 0-1.
    pub score: f64,
}

/// The unified customer record as the console and the CLI show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// The stored customer: golden profile, contacts, identifiers, relationships, preferences.
    pub customer: Customer,
    /// Display names of related customers, by id, so the record can show them.
    pub related_names: BTreeMap<CustomerId, String>,
    /// Latest scores and tier, when a scoring run has happened.
    pub scores: Option<Scores>,
    /// The customer's tier changes seen by scoring runs, oldest first (the newest 64).
    #[serde(default)]
    pub tier_history: Vec<TierChange>,
    /// Portfolio and customer manager, when assigned.
    pub portfolio: Option<PortfolioRef>,
    /// Recognition cues, most urgent first.
    pub cues: Vec<Cue>,
    /// Compensation granted to this customer, newest first.
    pub grants: Vec<CompensationGrant>,
    /// Complaint cases in the recent history (the newest 200 interactions), newest first.
    #[serde(default)]
    pub cases: Vec<crate::ComplaintCase>,
    /// One page of interactions, newest first.
    pub interactions: Vec<Interaction>,
    /// Whether more (older) interactions exist beyond this page.
    pub more_interactions: bool,
    /// Whether personal data was masked for the requesting role.
    pub masked: bool,
    /// The currency of the scores' money figures (value, annual value, profit, CLV): the
    /// deployment's reporting currency, set by the service.
    #[serde(default)]
    pub value_currency: Option<crate::Currency>,
}
