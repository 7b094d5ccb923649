//! A customer's source records held by a run, encoded.
//!
//! A first load holds every record of every customer for the whole run (survivorship builds
//! the golden records from them at its end), and an incremental run holds those of the
//! customers it touched. As `Fragment`s they cost about 1.5 KB each on the heap (a dozen
//! small strings, lists and a map: measured with heaptrack on a 30,000-person first load,
//! 152,327 records, `docs/benchmarks.md`, "#23: the first load's memory"), which made a
//! million-customer world (5 million records) need some 7 GB for them alone. Held as the
//! store's compact encoding they cost some 200 bytes; a record is decoded when it is read
//! (a repeated source record merged, a candidate folded for comparison, a golden record
//! built), which a run does a few times per record.

use std::collections::BTreeMap;

use rapport_store::codec;

use crate::error::Error;
use crate::fragment::Fragment;

/// Source records by source reference (`source:key`), each encoded.
#[derive(Default)]
pub(super) struct Held {
    records: BTreeMap<Box<str>, Box<[u8]>>,
}

fn encode(f: &Fragment) -> Result<Box<[u8]>, Error> {
    codec::encode(f)
        .map(Vec::into_boxed_slice)
        .map_err(|e| Error::Invalid(format!("a source record could not be held: {e}")))
}

fn decode(src: &str, bytes: &[u8]) -> Result<Fragment, Error> {
    codec::decode(bytes)
        .map_err(|e| Error::Invalid(format!("the held source record {src} is damaged: {e}")))
}

impl Held {
    /// The record under `src`, decoded.
    pub(super) fn get(&self, src: &str) -> Result<Option<Fragment>, Error> {
        self.records.get(src).map(|b| decode(src, b)).transpose()
    }

    /// Holds `f` under `src`, replacing what was there.
    pub(super) fn insert(&mut self, src: &str, f: &Fragment) -> Result<(), Error> {
        let bytes = encode(f)?;
        match self.records.get_mut(src) {
            Some(b) => *b = bytes,
            None => {
                self.records.insert(src.into(), bytes);
            }
        }
        Ok(())
    }

    /// Number of records held.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The source references held, in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        self.records.keys().map(|k| &**k)
    }

    /// Every record held, decoded, in source reference order.
    pub(super) fn decoded(&self) -> Result<Vec<Fragment>, Error> {
        self.records.iter().map(|(k, b)| decode(k, b)).collect()
    }

    /// Bytes held on the heap, about (keys and encodings, and each entry's share of a
    /// B-tree node): the memory census reports it.
    pub(super) fn heap_bytes(&self) -> usize {
        self.records
            .iter()
            .map(|(k, b)| k.len() + b.len() + 2 * std::mem::size_of::<Box<[u8]>>() + 8)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::Address;
    use rapport_core::{PartyKind, SourceRef, Timestamp};

    fn record(key: &str) -> Fragment {
        let mut extra = BTreeMap::new();
        extra.insert("booking_refs".to_string(), "ABC123 DEF456".to_string());
        Fragment {
            source: SourceRef::new("loyalty", key),
            kind: PartyKind::Person,
            observed_at: Timestamp::from_millis(1_700_000_000_000),
            given_name: Some("Maria".into()),
            family_name: Some("da Silva".into()),
            full_name: None,
            birth_date: None,
            emails: vec!["maria@example.com".into()],
            phones: vec!["+447700900123".into()],
            addresses: vec![Address {
                street: Some("1 HIGH STREET".into()),
                locality: Some("Leeds".into()),
                ..Address::default()
            }],
            loyalty_number: Some("L1234567".into()),
            loyalty_status: Some("Gold".into()),
            national_id: None,
            cross_refs: vec![SourceRef::new("web", "w9")],
            relations: Vec::new(),
            extra,
        }
    }

    #[test]
    fn a_held_record_reads_back_as_it_was_given_and_costs_a_fraction_of_its_heap() {
        let mut held = Held::default();
        let a = record("L1");
        let mut b = record("L2");
        held.insert("loyalty:L2", &b).unwrap();
        held.insert("loyalty:L1", &a).unwrap();
        assert_eq!(held.get("loyalty:L1").unwrap(), Some(a.clone()));
        assert_eq!(held.get("loyalty:L3").unwrap(), None);
        b.emails.push("maria.silva@example.org".into());
        held.insert("loyalty:L2", &b).unwrap();
        assert_eq!(held.len(), 2);
        assert_eq!(
            held.keys().collect::<Vec<_>>(),
            ["loyalty:L1", "loyalty:L2"]
        );
        assert_eq!(held.decoded().unwrap(), vec![a.clone(), b]);
        let as_fragment = std::mem::size_of::<Fragment>() + a.heap_bytes();
        assert!(
            held.heap_bytes() < as_fragment,
            "two held records take {} bytes, one Fragment {as_fragment}",
            held.heap_bytes()
        );
    }

    #[test]
    fn a_damaged_held_record_is_an_error_naming_it() {
        let mut held = Held::default();
        held.records
            .insert("loyalty:L1".into(), vec![1, 0xff, 0xff].into_boxed_slice());
        let e = held.get("loyalty:L1").unwrap_err().to_string();
        assert!(e.contains("loyalty:L1"), "{e}");
    }
}
