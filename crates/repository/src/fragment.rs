//! A fragment: what one source record says about one party, cleansed.
//!
//! Ingest turns each source row that describes a party into a `Fragment`; identity resolution
//! decides which customer it belongs to; survivorship builds the golden profile from all the
//! fragments of a customer. Fragments are kept (collection `fragments`, keyed by source
//! reference) so that a merge can be explained and undone.

use std::collections::BTreeMap;

use rapport_core::{CustomerId, Date, PartyKind, SourceRef, Timestamp};
use serde::{Deserialize, Serialize};

/// What one source record says about one party, after cleansing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragment {
    /// The source record.
    pub source: SourceRef,
    /// Person, organisation or intermediary.
    pub kind: PartyKind,
    /// When the source observed these values (row timestamp, or ingest time).
    pub observed_at: Timestamp,
    /// Given name, cleansed (Unicode NFC, trimmed, single spaces, original case kept).
    pub given_name: Option<String>,
    /// Family name, cleansed.
    pub family_name: Option<String>,
    /// Full name when the source does not split it, or an organisation's name.
    pub full_name: Option<String>,
    /// Date of birth.
    pub birth_date: Option<Date>,
    /// E-mail addresses, lower-cased.
    pub emails: Vec<String>,
    /// Phone numbers in E.164.
    pub phones: Vec<String>,
    /// Postal addresses.
    pub addresses: Vec<Address>,
    /// Loyalty programme number.
    pub loyalty_number: Option<String>,
    /// Loyalty status as the source states it.
    pub loyalty_status: Option<String>,
    /// A national identifier, when a mapping includes one (most real sources do not).
    pub national_id: Option<String>,
    /// Keys of the same party in other sources, when this source carries them
    /// (e.g. the loyalty number on a reservation).
    pub cross_refs: Vec<SourceRef>,
    /// Relationships this record states (household, employer, agent, referrer), by the
    /// other party's source reference.
    pub relations: Vec<(rapport_core::RelationshipKind, SourceRef)>,
    /// Further mapped fields, by name.
    pub extra: BTreeMap<String, String>,
}

/// A postal address, cleansed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    /// House or street number.
    pub street_number: Option<String>,
    /// Street and further lines, upper-cased and single-spaced for comparison.
    pub street: Option<String>,
    /// Suburb, town or city.
    pub locality: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// State or region.
    pub region: Option<String>,
    /// Country, ISO 3166 alpha-2 where known.
    pub country: Option<String>,
    /// From when the source says the address was valid.
    pub valid_from: Option<Timestamp>,
}

/// A stored fragment with the customer it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedFragment {
    /// The fragment.
    pub fragment: Fragment,
    /// The customer it belongs to now.
    pub customer: CustomerId,
}
