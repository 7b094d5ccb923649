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

impl Fragment {
    /// Bytes this fragment holds on the heap, about (strings and lists by capacity, a map
    /// entry with its share of a node): the ingest's memory census reports it.
    pub fn heap_bytes(&self) -> usize {
        let s = |x: &String| x.capacity();
        let o = |x: &Option<String>| x.as_ref().map_or(0, String::capacity);
        let r = |x: &SourceRef| x.source.capacity() + x.key.capacity();
        let size = std::mem::size_of::<String>();
        r(&self.source)
            + o(&self.given_name)
            + o(&self.family_name)
            + o(&self.full_name)
            + self.emails.capacity() * size
            + self.emails.iter().map(s).sum::<usize>()
            + self.phones.capacity() * size
            + self.phones.iter().map(s).sum::<usize>()
            + self.addresses.capacity() * std::mem::size_of::<Address>()
            + self
                .addresses
                .iter()
                .map(|a| {
                    o(&a.street_number)
                        + o(&a.street)
                        + o(&a.locality)
                        + o(&a.postcode)
                        + o(&a.region)
                        + o(&a.country)
                })
                .sum::<usize>()
            + o(&self.loyalty_number)
            + o(&self.loyalty_status)
            + o(&self.national_id)
            + self.cross_refs.capacity() * std::mem::size_of::<SourceRef>()
            + self.cross_refs.iter().map(r).sum::<usize>()
            + self.relations.capacity()
                * std::mem::size_of::<(rapport_core::RelationshipKind, SourceRef)>()
            + self.relations.iter().map(|(_, x)| r(x)).sum::<usize>()
            // A B-tree node holds up to 11 entries: count each entry's share of one.
            + self
                .extra
                .iter()
                .map(|(k, v)| s(k) + s(v) + 2 * size + 8)
                .sum::<usize>()
    }
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
