//! The shared vocabulary of Rapport: ids, parties, contact points, source references,
//! interactions, money, time, scores, compensation grants and the unified customer record.
//!
//! Every other Rapport crate depends on this one; it depends on nothing of Rapport's and does
//! no I/O. Types derive serde so the store, the wire protocol and JSON output share them.
//! Stored types avoid `#[serde(untagged)]`, `#[serde(flatten)]` and other features that need a
//! self-describing format, because the store encodes them with bincode.
//!
//! ```
//! use rapport_core::{CustomerId, Money, Currency};
//! let id: CustomerId = "C00000042".parse().unwrap();
//! assert_eq!(id, CustomerId(42));
//! let fare = Money::new(12_950, Currency::EUR);
//! assert_eq!(fare.to_string(), "129.50 EUR");
//! ```

pub mod case;
mod change;
mod customer;
mod disruption;
mod error;
mod id;
mod interaction;
mod money;
mod rates;
mod record;
pub mod text;
mod time;
pub mod varint;

pub use case::{ComplaintCase, Resolution};
pub use change::{Change, ChangeEvent};
pub use customer::{
    ContactKind, ContactPoint, Customer, Date, PartyKind, Preference, Profile, QualityFlag,
    Relationship, RelationshipKind, Sourced,
};
pub use disruption::{Affected, Disruption, DisruptionId, DisruptionOrigin};
pub use error::{Error, Result};
pub use id::{CustomerId, InteractionId, SourceRef};
pub use interaction::{
    Amount, AmountRole, AttrValue, Channel, Interaction, InteractionKind, Phase,
};
pub use money::{Currency, Money};
pub use rates::{ExchangeRates, RateSeries};
pub use record::{
    CompensationGrant, Cue, CueLevel, CustomerRecord, CustomerSummary, DisruptionKind,
    ExperimentArm, PortfolioRef, Scores, Tier, TierChange,
};
pub use time::{Clock, Timestamp};
