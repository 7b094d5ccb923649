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
//! Interactions take another way: a customer's interactions come in every run (each source
//! names the person again), and the store keeps them in pages per customer, which a run
//! written as it comes would rewrite once per run. So each sorted run's interactions are
//! spilled to a file beside the database ([`SPILL_DIR`]), and at the end the files are merged
//! (they are sorted alike) and each customer's whole history is handed to the store once,
//! written as whole pages without reading anything back
//! ([`rapport_store::Batch::put_new_interactions`]).
//!
//! A first load killed midway is done again whole by the next run: the [`FirstLoad`] marker,
//! written durably before the first row, holds the id counters as they were, so the rerun
//! hands out the same customer and interaction ids and overwrites what the killed run wrote
//! with the same keys.

use rapport_core::{
    CompensationGrant, CustomerId, Disruption, Interaction, InteractionId, Timestamp,
};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rapport_store::{Batch, Store};
use serde::{Deserialize, Serialize};

use super::writer::Writer;
use super::{PendingMerge, PendingRelation, ReviewItem, WRITE_BYTES};
use crate::error::Error;
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
            Doc::Disruption(d) => b.put_doc_compact(collection, key, &**d)?,
            // The incremental path writes these two as JSON documents: so does this one.
            Doc::Quarantine(d) => b.put_doc(collection, key, &**d)?,
            Doc::Relation(d) => b.put_doc(collection, key, &**d)?,
        }
        Ok(())
    }
}

/// The directory (inside the database directory) where a first load spills the interactions
/// of its sorted runs until the end. Removed when they are stored, and at the start of a
/// first load (a killed one's files are of no use: the load is done again whole).
pub(super) const SPILL_DIR: &str = "first-load-interactions";

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
    /// The spill files of the runs' interactions, in run order (see the module doc).
    spills: Vec<PathBuf>,
    spill_dir: Option<PathBuf>,
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
        self.spill(store, &interactions)?;
        drop(interactions);
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

impl Deferred {
    /// Writes a sorted run's interactions to a new spill file.
    fn spill(&mut self, store: &Store, ops: &[InteractionOp]) -> Result<(), Error> {
        if ops.is_empty() {
            return Ok(());
        }
        let dir = match &self.spill_dir {
            Some(d) => d.clone(),
            None => {
                let d = spill_dir(store);
                remove_dir(&d)?;
                std::fs::create_dir_all(&d).map_err(|e| io_err(&d, e))?;
                self.spill_dir = Some(d.clone());
                d
            }
        };
        let path = dir.join(format!("run-{:05}", self.spills.len()));
        let file = std::fs::File::create(&path).map_err(|e| io_err(&path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        for op in ops {
            let (c, at, id) = op.key();
            let mut head = [0u8; 25];
            head[1..9].copy_from_slice(&c.0.to_le_bytes());
            head[9..17].copy_from_slice(&at.0.to_le_bytes());
            head[17..25].copy_from_slice(&id.0.to_le_bytes());
            match op {
                InteractionOp::Put(i) => {
                    head[0] = 1;
                    let bytes = rapport_store::codec::encode(&**i).map_err(|reason| {
                        Error::Store(rapport_store::Error::Encode {
                            tree: "interactions",
                            reason,
                        })
                    })?;
                    w.write_all(&head).map_err(|e| io_err(&path, e))?;
                    w.write_all(&(bytes.len() as u32).to_le_bytes())
                        .map_err(|e| io_err(&path, e))?;
                    w.write_all(&bytes).map_err(|e| io_err(&path, e))?;
                }
                InteractionOp::Remove(..) => {
                    w.write_all(&head).map_err(|e| io_err(&path, e))?;
                }
            }
        }
        w.flush().map_err(|e| io_err(&path, e))?;
        self.spills.push(path);
        Ok(())
    }

    /// Merges the spill files and hands each customer's whole history to the writer as whole
    /// pages (nothing read back), in customer order; then removes the files. For the end of
    /// the first load, after its last sorted run.
    pub(super) fn write_histories(&mut self, writer: &mut Writer) -> Result<(), Error> {
        let Some(dir) = self.spill_dir.take() else {
            return Ok(());
        };
        let mut readers = Vec::with_capacity(self.spills.len());
        for path in std::mem::take(&mut self.spills) {
            let file = std::fs::File::open(&path).map_err(|e| io_err(&path, e))?;
            readers.push(SpillReader {
                r: BufReader::with_capacity(1 << 18, file),
                path,
            });
        }
        // The head of every file; the smallest (customer, time, id, run) goes next, so the
        // later run's operation on a key comes after the earlier's and stands.
        let mut heads: Vec<Option<Spilled>> = readers
            .iter_mut()
            .map(SpillReader::next)
            .collect::<Result<_, _>>()?;
        let mut b = Batch::default();
        let mut customer: Option<CustomerId> = None;
        let mut history: Vec<Interaction> = Vec::new();
        let mut interactions = 0u64;
        loop {
            let next = heads
                .iter()
                .enumerate()
                .filter_map(|(n, h)| h.as_ref().map(|h| (h.key, n)))
                .min();
            let Some((key, n)) = next else { break };
            let op = heads[n].take().map(|h| h.op);
            heads[n] = readers[n].next()?;
            if customer != Some(key.0) {
                if !history.is_empty() {
                    interactions += history.len() as u64;
                    b.put_new_interactions(&history);
                    put_digest(&mut b, &history);
                    history.clear();
                    cut(&mut b, writer)?;
                }
                customer = Some(key.0);
            }
            if history
                .last()
                .is_some_and(|i| (i.customer, i.at, i.id) == key)
            {
                history.pop();
            }
            if let Some(Some(i)) = op {
                history.push(i);
            }
        }
        if !history.is_empty() {
            interactions += history.len() as u64;
            b.put_new_interactions(&history);
            put_digest(&mut b, &history);
        }
        writer.write(b)?;
        // The files go once the pages are applied.
        writer.barrier()?;
        remove_dir(&dir)?;
        tracing::info!(interactions, "first load: interactions written as pages");
        Ok(())
    }
}

/// An operation read back from a spill file: `Some` put, `None` removal.
struct Spilled {
    key: (CustomerId, Timestamp, InteractionId),
    op: Option<Interaction>,
}

struct SpillReader {
    r: BufReader<std::fs::File>,
    path: PathBuf,
}

impl SpillReader {
    fn next(&mut self) -> Result<Option<Spilled>, Error> {
        if self
            .r
            .fill_buf()
            .map_err(|e| io_err(&self.path, e))?
            .is_empty()
        {
            return Ok(None);
        }
        let mut head = [0u8; 25];
        self.r
            .read_exact(&mut head)
            .map_err(|e| io_err(&self.path, e))?;
        let u = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap_or([0; 8]));
        let key = (
            CustomerId(u(1)),
            Timestamp(u(9) as i64),
            InteractionId(u(17)),
        );
        if head[0] == 0 {
            return Ok(Some(Spilled { key, op: None }));
        }
        let mut len = [0u8; 4];
        self.r
            .read_exact(&mut len)
            .map_err(|e| io_err(&self.path, e))?;
        let mut bytes = vec![0u8; u32::from_le_bytes(len) as usize];
        self.r
            .read_exact(&mut bytes)
            .map_err(|e| io_err(&self.path, e))?;
        let i: Interaction = rapport_store::codec::decode(&bytes).map_err(|reason| {
            Error::Invalid(format!(
                "{}: a spilled interaction: {reason}",
                self.path.display()
            ))
        })?;
        Ok(Some(Spilled { key, op: Some(i) }))
    }
}

/// Where a first load on `store` spills: inside the database directory, or a temporary
/// directory for a store without one.
fn spill_dir(store: &Store) -> PathBuf {
    match store.path() {
        Some(p) => p.join(SPILL_DIR),
        None => std::env::temp_dir().join(format!(
            "rapport-{SPILL_DIR}-{}-{:p}",
            std::process::id(),
            store
        )),
    }
}

fn remove_dir(dir: &Path) -> Result<(), Error> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(dir, e)),
        _ => Ok(()),
    }
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
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

/// The customer's history digest (what a scoring run reads of each interaction,
/// `rapport_analytics::HistoryDigest`), written in the batch of its pages, after them, so it
/// stands: the first scoring run after a first load reads a digest per customer instead of
/// every interaction of the world (77.7 s of its 78 at a million customers before).
fn put_digest(b: &mut Batch, history: &[Interaction]) {
    if let (Some(first), Some(flat)) = (
        history.first(),
        rapport_analytics::HistoryDigest::of(history).to_flat(),
    ) {
        b.put_history_digest_bytes(first.customer, &flat);
    }
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
        // A second run: customer 2 again, one of its interactions replaced by a later row.
        d.interaction(interaction(2, 3, 5));
        d.remove_interaction(CustomerId(2), Timestamp(5), InteractionId(1));
        d.interaction(interaction(2, 5, 1));
        d.write_run(&store, &mut w).unwrap();
        // Interactions wait for the end of the load.
        w.barrier().unwrap();
        assert_eq!(store.interaction_count().unwrap(), 0);
        d.write_histories(&mut w).unwrap();
        w.barrier().unwrap();
        let ids = |c: u64| -> Vec<u64> {
            store
                .interactions_of(CustomerId(c))
                .map(|i| i.unwrap().id.0)
                .collect()
        };
        assert_eq!(ids(1), [4]);
        // Oldest first.
        assert_eq!(ids(2), [3, 5, 1]);
        assert_eq!(store.interaction_count().unwrap(), 4);
        let p = store
            .doc::<PendingRelation>("pending", "b")
            .unwrap()
            .unwrap();
        assert_eq!(p.from.key, "2");
    }

    /// `merge_keeps_identity` spares the before-and-after copy of a record only where the
    /// merge truly leaves its identity as it was (`same_identity`, which the ingest used to
    /// decide it on every row), and says so for a plain repeat.
    #[test]
    fn a_merge_said_to_keep_the_identity_keeps_it() {
        use crate::extract::{merge_fragment, merge_keeps_identity};
        use crate::fragment::Fragment;
        use crate::survivorship::BOOKING_REFS;
        let base = |at: i64| {
            let mut f = crate::extract::bare_fragment(
                rapport_core::SourceRef::new("crm", "1"),
                rapport_core::PartyKind::Person,
                Timestamp(at),
            );
            f.given_name = Some("Ana".into());
            f.family_name = Some("Silva".into());
            f.emails = vec!["ana@example.com".into()];
            f.extra.insert(BOOKING_REFS.into(), "AB12CD".into());
            f.addresses.push(crate::fragment::Address {
                street: Some("RUA A".into()),
                locality: Some("Lisboa".into()),
                ..Default::default()
            });
            f
        };
        let mut cases: Vec<(Fragment, bool)> = Vec::new();
        // A repeat, newer or older: kept.
        cases.push((base(20), true));
        cases.push((base(5), true));
        // An older row with another name does not win: kept.
        let mut older = base(5);
        older.given_name = Some("Anna".into());
        cases.push((older, true));
        // A newer one does: changed.
        let mut newer = base(20);
        newer.given_name = Some("Anna".into());
        cases.push((newer, false));
        // A new e-mail, a new booking, a new address: changed.
        let mut email = base(20);
        email.emails.push("a2@example.com".into());
        cases.push((email, false));
        let mut booking = base(20);
        booking.extra.insert(BOOKING_REFS.into(), "ZZ99YY".into());
        cases.push((booking, false));
        let mut moved = base(20);
        moved.addresses[0].street = Some("RUA B".into());
        cases.push((moved, false));
        // The same address dated otherwise: kept.
        let mut dated = base(20);
        dated.addresses[0].valid_from = Some(Timestamp(3));
        cases.push((dated, true));
        for (n, (new, expected)) in cases.into_iter().enumerate() {
            let mut old = base(10);
            let before = old.clone();
            let kept = merge_keeps_identity(&old, &new);
            assert_eq!(kept, expected, "case {n}");
            merge_fragment(&mut old, new);
            if kept {
                assert!(super::super::same_identity(&before, &old), "case {n}");
            } else {
                assert!(!super::super::same_identity(&before, &old), "case {n}");
            }
        }
    }

    #[test]
    fn row_digests_differ_for_close_keys() {
        assert_ne!(row_digest("web:1"), row_digest("web:2"));
        assert_ne!(row_digest("ab"), row_digest("ba"));
        assert_eq!(row_digest("web:1"), row_digest("web:1"));
    }
}
