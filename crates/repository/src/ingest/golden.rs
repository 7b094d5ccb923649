//! Golden records built on a thread of their own: at the end of a chunk (of a first load:
//! of the whole load) every customer it touched is rebuilt from its records
//! ([`survivorship::build`]) with its index keys ([`super::customer_keys`]), which is pure
//! work, on a builder thread, handed to the calling thread in customer id order through a
//! bounded channel; the calling thread encodes, seals and writes them as before. On two
//! cores the next customers are built while the last ones are sealed and written.
//!
//! The order, and so every byte written, is the one of a single thread.

use std::collections::HashMap;
use std::sync::mpsc;

use rapport_core::{Customer, CustomerId, Relationship, Timestamp};
use rapport_store::IndexKey;

use super::Working;
use crate::error::Error;
use crate::fragment::Fragment;
use crate::identity::Resolver;
use crate::survivorship::{self, Trust};

/// Customers handed over at a time.
const PER_MESSAGE: usize = 256;

/// Messages waiting at most.
const IN_FLIGHT: usize = 8;

/// A customer rebuilt, with what the caller writes for it.
pub(super) struct Built {
    pub id: CustomerId,
    pub customer: Customer,
    /// Its index keys; `None` when the stored ones stand (no record was added or changed who
    /// it says the party is, and the golden loyalty number is the one stored): the caller
    /// writes the customer alone (`Batch::put_customer_record`).
    pub keys: Option<Vec<IndexKey>>,
    /// Its records that changed (all, on a first load), by source reference, in source
    /// reference order.
    pub changed: Vec<(String, Fragment)>,
}

/// What the rebuild reads besides the customers.
pub(super) struct Inputs<'a> {
    pub resolver: &'a Resolver,
    pub trust: &'a Trust,
    pub now: Timestamp,
    /// Relationships stated by each customer's own records.
    pub forward: HashMap<CustomerId, Vec<Relationship>>,
    /// Relationships stated by others' records, by the customer they are about.
    pub stated_by_others: HashMap<CustomerId, Vec<Relationship>>,
    /// Every record of every customer is new (a first load, which keeps no list of the
    /// changed ones): all are written.
    pub every_record_changed: bool,
}

/// Rebuilds the customers of `dirty` (in id order) on a builder thread and hands each to
/// `each` on the calling thread, in id order. A customer without records is skipped.
pub(super) fn rebuild(
    inputs: Inputs<'_>,
    dirty: Vec<(CustomerId, Working)>,
    mut each: impl FnMut(Built) -> Result<(), Error>,
) -> Result<(), Error> {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Vec<Built>>(IN_FLIGHT);
        let builder = std::thread::Builder::new()
            .name("rapport-ingest-golden".into())
            .spawn_scoped(scope, move || -> Result<(), Error> {
                let mut inputs = inputs;
                let mut block = Vec::with_capacity(PER_MESSAGE);
                for (id, w) in dirty {
                    if let Some(b) = build(&mut inputs, id, w)? {
                        block.push(b);
                    }
                    if block.len() == PER_MESSAGE {
                        let full = std::mem::replace(&mut block, Vec::with_capacity(PER_MESSAGE));
                        if tx.send(full).is_err() {
                            return Ok(());
                        }
                    }
                }
                if !block.is_empty() {
                    let _ = tx.send(block);
                }
                Ok(())
            })
            .map_err(|e| Error::Invalid(format!("cannot start the golden record builder: {e}")))?;
        let mut result = Ok(());
        'all: for block in rx.iter() {
            for b in block {
                if let Err(e) = each(b) {
                    result = Err(e);
                    break 'all;
                }
            }
        }
        drop(rx);
        let built = builder
            .join()
            .unwrap_or_else(|_| Err(Error::Invalid("the golden record builder panicked".into())));
        // The caller's error first (the builder stopped because of it).
        result.and(built)
    })
}

/// One customer rebuilt from its records (`None`: it has none).
fn build(inputs: &mut Inputs<'_>, id: CustomerId, w: Working) -> Result<Option<Built>, Error> {
    let Working {
        existing,
        fragments: held,
        changed,
        review,
        keys_changed,
    } = w;
    if held.len() == 0 {
        return Ok(None);
    }
    // Decoded once, in source reference order (`ingest/held.rs`).
    let fragments = held.decoded()?;
    let sources: Vec<&str> = held.keys().collect();
    let mut c = survivorship::build(
        id,
        existing.as_deref(),
        &fragments,
        inputs.forward.remove(&id).unwrap_or_default(),
        inputs.trust,
        inputs.now,
    );
    // One relationship per (kind, other customer), whichever record stated it: a household
    // both members' records state is one household, not two.
    for r in inputs.stated_by_others.remove(&id).unwrap_or_default() {
        if !c
            .relationships
            .iter()
            .any(|x| x.kind == r.kind && x.other == r.other)
        {
            c.relationships.push(r);
        }
    }
    if review
        && !c
            .quality
            .contains(&rapport_core::QualityFlag::PendingReview)
    {
        c.quality.push(rapport_core::QualityFlag::PendingReview);
    }
    // Keys derive from the records' identities and the golden loyalty number: when no record
    // was added or changed who it says the party is (most rows of a night add to known
    // records), the stored keys stand and are neither built nor read.
    let loyalty = |c: &Customer| c.profile.loyalty_number.as_ref().map(|l| l.value.clone());
    let same_keys = !keys_changed && existing.as_ref().is_some_and(|e| loyalty(e) == loyalty(&c));
    let keys = (!same_keys).then(|| super::customer_keys(inputs.resolver, &c, &fragments));
    let changed = sources
        .into_iter()
        .zip(fragments)
        .filter(|(src, _)| inputs.every_record_changed || changed.contains(*src))
        .map(|(src, f)| (src.to_string(), f))
        .collect();
    Ok(Some(Built {
        id,
        customer: c,
        keys,
        changed,
    }))
}
