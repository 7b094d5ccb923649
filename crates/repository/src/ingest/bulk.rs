//! The first-load path's writes: what an ingest into an empty store produces, held back and
//! handed to the store in sorted runs rather than in the order the rows came.
//!
//! On a first load nothing the run writes is ever read back (every index key, record and row
//! it made is in memory), so the write-once results of the rows (interactions, grants, rows
//! seen go in pages, `ingest/rowpages.rs`; merge evidence, review items, quarantine entries)
//! need not reach the store as the
//! rows come. They are collected here and, every [`RUN_OPS`] operations and at the end, sorted
//! in the store's key order (interactions by customer, time and id, so a customer's
//! interactions of a run are one sequential stretch; documents by collection and key) and
//! handed to the writer in batches of [`super::WRITE_BYTES`]. The golden records are written
//! once, at the end, in customer id order.
//!
//! A first load killed midway is done again whole by the next run: the [`FirstLoad`] marker,
//! written durably before the first row, holds the id counters as they were, so the rerun
//! hands out the same customer and interaction ids and overwrites what the killed run wrote
//! with the same keys.

use rapport_core::{
    CompensationGrant, CustomerId, Disruption, Interaction, InteractionId, Timestamp,
};
use rapport_store::{Batch, Store};
use serde::{Deserialize, Serialize};

use super::writer::Writer;
use super::{PendingMerge, PendingRelation, ReviewItem, WRITE_BYTES};
use crate::error::Error;
use crate::fragment::ResolvedFragment;
use crate::identity::Evidence;
use crate::quarantine::QuarantineEntry;

/// The key of the [`FirstLoad`] marker in the repository's settings collection.
pub(super) const MARKER: &str = "first_load";

/// Operations collected before a sorted run is written. An interaction held here is a few
/// hundred bytes (its attributes and amounts), so a run holds some 100-200 MB.
pub(super) const RUN_OPS: usize = 400_000;

/// A first load in progress: written (durably) before its first row, removed once everything
/// it resolved is stored (before the merges it decided for its end, which the incremental
/// machinery completes after a kill like any run's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FirstLoad {
    /// The next customer id when the load began: its customers are numbered from here.
    pub customer_base: u64,
    /// The next interaction id when the load began.
    pub interaction_base: u64,
    /// What was being loaded (the manifest or the files): a run that finds the marker must
    /// load the same, or its results would mix with the killed run's.
    pub inputs: Vec<String>,
}

/// A document held for a sorted run, with the encoding its collection uses.
pub(super) enum Doc {
    Merge(Box<Evidence>),
    Review(Box<ReviewItem>),
    Pending(Box<PendingMerge>),
    Fragment(Box<ResolvedFragment>),
    Disruption(Box<Disruption>),
    Quarantine(Box<QuarantineEntry>),
    Relation(Box<PendingRelation>),
}

impl Doc {
    fn put(
        &self,
        b: &mut Batch,
        collection: &str,
        key: &str,
        owner: Option<CustomerId>,
    ) -> Result<(), Error> {
        // Documents that carry a customer's personal data are sealed under its key, as the
        // incremental path writes them.
        if let Some(c) = owner {
            match self {
                Doc::Merge(d) => b.put_doc_compact_sealed(collection, key, c, &**d)?,
                Doc::Review(d) => b.put_doc_compact_sealed(collection, key, c, &**d)?,
                Doc::Pending(d) => b.put_doc_compact_sealed(collection, key, c, &**d)?,
                Doc::Fragment(d) => b.put_doc_compact_sealed(collection, key, c, &**d)?,
                _ => {
                    return Err(Error::Invalid(format!(
                        "{collection}/{key}: this document is not sealed"
                    )));
                }
            }
            return Ok(());
        }
        match self {
            Doc::Merge(d) => b.put_doc_compact(collection, key, &**d)?,
            Doc::Review(d) => b.put_doc_compact(collection, key, &**d)?,
            Doc::Pending(d) => b.put_doc_compact(collection, key, &**d)?,
            Doc::Fragment(d) => b.put_doc_compact(collection, key, &**d)?,
            Doc::Disruption(d) => b.put_doc_compact(collection, key, &**d)?,
            // The incremental path writes these two as JSON documents: so does this one.
            Doc::Quarantine(d) => b.put_doc(collection, key, &**d)?,
            Doc::Relation(d) => b.put_doc(collection, key, &**d)?,
        }
        Ok(())
    }
}

/// An interaction written, or one a later version of its row replaced.
enum InteractionOp {
    Put(Box<Interaction>),
    Remove(CustomerId, Timestamp, InteractionId),
}

impl InteractionOp {
    fn key(&self) -> (CustomerId, Timestamp, InteractionId) {
        match self {
            InteractionOp::Put(i) => (i.customer, i.at, i.id),
            InteractionOp::Remove(c, at, id) => (*c, *at, *id),
        }
    }
}

/// The writes of a first load waiting for their sorted run.
#[derive(Default)]
pub(super) struct Deferred {
    interactions: Vec<InteractionOp>,
    grants: Vec<CompensationGrant>,
    docs: Vec<(&'static str, String, Option<CustomerId>, Doc)>,
    /// Sorted runs written so far (for the log).
    pub(super) runs: u64,
    /// Whether this run completes a killed first load: then a grant it stored is there
    /// already (a grant is inserted only where none is, so it is not written again).
    pub(super) resumed: bool,
}

impl Deferred {
    /// Nothing held yet; `resumed` when the run completes a killed first load.
    pub(super) fn new(resumed: bool) -> Deferred {
        Deferred {
            resumed,
            ..Deferred::default()
        }
    }

    pub(super) fn interaction(&mut self, i: Interaction) {
        self.interactions.push(InteractionOp::Put(Box::new(i)));
    }

    pub(super) fn remove_interaction(&mut self, c: CustomerId, at: Timestamp, id: InteractionId) {
        self.interactions.push(InteractionOp::Remove(c, at, id));
    }

    pub(super) fn grant(&mut self, g: CompensationGrant) {
        self.grants.push(g);
    }

    pub(super) fn doc(&mut self, collection: &'static str, key: &str, doc: Doc) {
        self.docs.push((collection, key.to_string(), None, doc));
    }

    /// A document sealed under the key of customer `owner`.
    pub(super) fn sealed(
        &mut self,
        collection: &'static str,
        key: &str,
        owner: CustomerId,
        doc: Doc,
    ) {
        self.docs
            .push((collection, key.to_string(), Some(owner), doc));
    }

    /// Operations held.
    pub(super) fn len(&self) -> usize {
        self.interactions.len() + self.grants.len() + self.docs.len()
    }

    /// Writes what is held as one sorted run: interactions by customer, time and id, then
    /// grants by customer and disruption, then documents by collection and key (the store's
    /// own order for each; a sort that keeps the order of equal keys, so the later of two
    /// writes of one key is the one that stands), in batches of [`WRITE_BYTES`].
    pub(super) fn write_run(&mut self, store: &Store, writer: &mut Writer) -> Result<(), Error> {
        if self.len() == 0 {
            return Ok(());
        }
        self.runs += 1;
        let mut b = Batch::default();
        let mut interactions = std::mem::take(&mut self.interactions);
        interactions.sort_by_key(InteractionOp::key);
        for op in interactions {
            match op {
                InteractionOp::Put(i) => b.put_interaction(&i),
                InteractionOp::Remove(c, at, id) => b.remove_interaction(c, at, id),
            }
            cut(&mut b, writer)?;
        }
        let mut grants = std::mem::take(&mut self.grants);
        grants.sort_by(|x, y| (x.customer, &x.disruption).cmp(&(y.customer, &y.disruption)));
        for g in grants {
            if self.resumed && store.grant(g.customer, &g.disruption)?.is_some() {
                continue;
            }
            b.insert_grant(&g);
            cut(&mut b, writer)?;
        }
        let mut docs = std::mem::take(&mut self.docs);
        docs.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
        for (collection, key, owner, doc) in docs {
            doc.put(&mut b, collection, &key, owner)?;
            cut(&mut b, writer)?;
        }
        writer.write(b)
    }
}

/// Opens the store's index build before the golden records are written: the index entries of
/// the customers go to one sorted segment written at the end ([`publish_index`]) instead of
/// millions of sled keys in random order (`rapport_store`'s `index` module).
pub(super) fn begin_index(store: &Store) -> Result<(), Error> {
    store.begin_index_build()?;
    Ok(())
}

/// Makes the index build live once every golden record is applied (after the writer's
/// barrier), before the first-load marker is removed: a run killed before this loads again
/// and builds the index again.
pub(super) fn publish_index(store: &Store) -> Result<(), Error> {
    store.publish_index_build()?;
    Ok(())
}

/// Hands the batch to the writer once it holds [`WRITE_BYTES`].
pub(super) fn cut(b: &mut Batch, writer: &mut Writer) -> Result<(), Error> {
    if b.bytes() >= WRITE_BYTES {
        writer.write(std::mem::take(b))?;
    }
    Ok(())
}

/// A 128-bit digest of a row key: the first load remembers every row it stored by this
/// (16 bytes, not the key), and two keys of one digest are not to be expected (two 64-bit
/// hashes of the key, FNV-1a and a second FNV over the reversed bytes with another seed).
pub(super) fn row_digest(key: &str) -> u128 {
    let a = crate::quarantine::Fnv::hash(key.as_bytes());
    let mut h: u64 = 0x6c62_272e_07bb_0142;
    for &byte in key.as_bytes().iter().rev() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (u128::from(a) << 64) | u128::from(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_store::Store;

    fn interaction(c: u64, at: i64, id: u64) -> Interaction {
        Interaction::new(
            InteractionId(id),
            CustomerId(c),
            Timestamp(at),
            rapport_core::Channel::Web,
            rapport_core::InteractionKind::Other("visit".into()),
        )
    }

    #[test]
    fn a_run_is_written_sorted_and_the_later_write_of_a_key_stands() {
        let store = Store::temporary().unwrap();
        let mut w = Writer::start(&store).unwrap();
        let mut d = Deferred::default();
        d.interaction(interaction(2, 5, 1));
        d.interaction(interaction(1, 9, 2));
        d.interaction(interaction(2, 1, 3));
        // A row read again with other bytes replaced its interaction 2 by 4.
        d.remove_interaction(CustomerId(1), Timestamp(9), InteractionId(2));
        d.interaction(interaction(1, 9, 4));
        let relation = |n: &str| {
            Doc::Relation(Box::new(PendingRelation {
                from: rapport_core::SourceRef::new("crm", n),
                kind: rapport_core::RelationshipKind::Household,
                to: rapport_core::SourceRef::new("crm", "x"),
            }))
        };
        d.doc("pending", "b", relation("1"));
        d.doc("pending", "b", relation("2"));
        assert_eq!(d.len(), 7);
        d.write_run(&store, &mut w).unwrap();
        assert_eq!(d.len(), 0);
        w.barrier().unwrap();
        let ids = |c: u64| -> Vec<u64> {
            store
                .interactions_of(CustomerId(c))
                .map(|i| i.unwrap().id.0)
                .collect()
        };
        assert_eq!(ids(1), [4]);
        // Oldest first.
        assert_eq!(ids(2), [3, 1]);
        let p = store
            .doc::<PendingRelation>("pending", "b")
            .unwrap()
            .unwrap();
        assert_eq!(p.from.key, "2");
    }

    #[test]
    fn row_digests_differ_for_close_keys() {
        assert_ne!(row_digest("web:1"), row_digest("web:2"));
        assert_ne!(row_digest("ab"), row_digest("ba"));
        assert_eq!(row_digest("web:1"), row_digest("web:1"));
    }
}
