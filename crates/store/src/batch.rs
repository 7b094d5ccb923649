//! [`Batch`]: a set of writes applied atomically by [`crate::Store::write`].

use rapport_core::{
    CompensationGrant, Customer, CustomerId, Interaction, InteractionId, Scores, Timestamp,
};
use serde::Serialize;

use crate::keys::{self, Space};
use crate::{Error, IndexKey, codec};

/// Writes that [`crate::Store::write`] applies all together or not at all, index entries
/// included. Values are encoded when added, on the caller's thread.
///
/// ```
/// use rapport_core::{Customer, CustomerId, PartyKind, Timestamp};
/// use rapport_store::{Batch, IndexKey, IndexKind};
///
/// let c = Customer::new(CustomerId(1), PartyKind::Person, Timestamp::EPOCH);
/// let mut batch = Batch::default();
/// batch.put_customer(&c, vec![IndexKey::new(IndexKind::Phone, "+4915112345678")]);
/// assert_eq!(batch.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Batch {
    pub(crate) ops: Vec<Op>,
    /// About how many bytes the batch writes (keys and values, index entries included).
    bytes: usize,
    /// The first value that failed to encode; `write` returns it and writes nothing.
    pub(crate) error: Option<Error>,
}

#[derive(Debug)]
pub(crate) enum Op {
    PutCustomer {
        id: CustomerId,
        value: Vec<u8>,
        keys: Vec<IndexKey>,
    },
    RemoveCustomer {
        id: CustomerId,
        merged_into: Option<CustomerId>,
    },
    /// A customer's record written again with the index keys it has.
    PutCustomerRecord {
        id: CustomerId,
        value: Vec<u8>,
    },
    /// Merged into the customer's pages of interactions when the batch is planned.
    PutInteraction {
        id: InteractionId,
        customer: CustomerId,
        at: Timestamp,
        /// The interaction encoded for a page (`codec::encode_entry`).
        entry: Vec<u8>,
    },
    RemoveInteraction {
        customer: CustomerId,
        at: Timestamp,
        id: InteractionId,
    },
    /// A customer's interactions, sorted by (time, id), written as whole pages without
    /// reading the stored ones ([`Batch::put_new_interactions`]).
    PutInteractionPages {
        customer: CustomerId,
        entries: Vec<(Timestamp, InteractionId, Vec<u8>)>,
    },
    InsertGrant {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// Merged into the customer's page of scores when the batch is applied.
    PutScores {
        customer: CustomerId,
        scores: Box<Scores>,
    },
    /// The scores of some customers of one page, already encoded as a page (slots in
    /// `slots`); merged with the stored page when it holds other customers.
    PutScorePage {
        page: u64,
        slots: [u8; 32],
        value: Vec<u8>,
    },
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Remove {
        key: Vec<u8>,
    },
    /// A document sealed under the key of `owner` when the batch is planned.
    PutSealed {
        key: Vec<u8>,
        owner: CustomerId,
        value: Vec<u8>,
    },
    /// The write fails with [`Error::Changed`] unless the document at `key` holds exactly
    /// `expected` (`None`: absent) as the operations before it in the batch leave it.
    ExpectDoc {
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        collection: String,
        doc_key: String,
    },
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Stores the customer and replaces ALL of its index entries with `keys` (duplicates are
    /// stored once). Clears a removed-marker left by an earlier `remove_customer` (unmerge).
    pub fn put_customer(&mut self, c: &Customer, keys: Vec<IndexKey>) {
        if let Some(value) = self.encode(Space::Customers, c) {
            self.push(Op::PutCustomer {
                id: c.id,
                value,
                keys,
            });
        }
    }

    /// Removes the customer document and its index entries, and leaves a marker saying
    /// whether and into whom it was merged ([`crate::Store::merged_into`]). Interactions,
    /// grants and scores stay: moving them is the caller's business.
    /// Writes a customer whose index keys are the ones stored with it (a writer that knows
    /// nothing they derive from changed, such as an ingest adding to known records): like
    /// [`Batch::put_customer`] with those keys, without reading or writing them. The customer
    /// must be stored with its keys already.
    pub fn put_customer_record(&mut self, c: &Customer) {
        if let Some(value) = self.encode(Space::Customers, c) {
            self.push(Op::PutCustomerRecord { id: c.id, value });
        }
    }

    pub fn remove_customer(&mut self, id: CustomerId, merged_into: Option<CustomerId>) {
        self.push(Op::RemoveCustomer { id, merged_into });
    }

    /// Stores an interaction (replacing one with the same customer, time and id). Removes the
    /// customer's history digest (see [`Batch::put_history_digest`]). Interactions are kept
    /// in pages per customer: the write reads and rewrites each page it touches once per
    /// batch, however many of the customer's interactions the batch writes.
    pub fn put_interaction(&mut self, i: &Interaction) {
        match codec::encode_entry(i) {
            Ok(entry) => self.push(Op::PutInteraction {
                id: i.id,
                customer: i.customer,
                at: i.at,
                entry,
            }),
            Err(reason) => self.fail(Error::Encode {
                tree: Space::Interactions.name(),
                reason,
            }),
        }
    }

    /// Removes an interaction, and the customer's history digest.
    pub fn remove_interaction(&mut self, customer: CustomerId, at: Timestamp, id: InteractionId) {
        self.push(Op::RemoveInteraction { customer, at, id });
    }

    /// Stores interactions of one customer as whole pages, without reading the customer's
    /// stored pages: for a bulk load that knows the customer has no interactions stored (a
    /// first load), or only these same ones written by this method before (a first load done
    /// again after a kill, which writes the same pages under the same keys). `interactions`
    /// must all be of one customer, in (time, id) order without repeats (the write fails
    /// otherwise, writing nothing). Anything else is [`Batch::put_interaction`]'s business:
    /// pages written over a stored history would overlap it. Removes the customer's history
    /// digest and announces every interaction to the change feed, as `put_interaction` does.
    pub fn put_new_interactions(&mut self, interactions: &[Interaction]) {
        let Some(first) = interactions.first() else {
            return;
        };
        let customer = first.customer;
        let mut entries = Vec::with_capacity(interactions.len());
        let mut last: Option<(Timestamp, InteractionId)> = None;
        for i in interactions {
            if i.customer != customer || last.is_some_and(|l| l >= (i.at, i.id)) {
                self.fail(Error::Encode {
                    tree: Space::Interactions.name(),
                    reason: format!(
                        "put_new_interactions: {} of {} is not after the one before it for {customer}",
                        i.id, i.customer
                    ),
                });
                return;
            }
            last = Some((i.at, i.id));
            match codec::encode_entry(i) {
                Ok(entry) => entries.push((i.at, i.id, entry)),
                Err(reason) => {
                    self.fail(Error::Encode {
                        tree: Space::Interactions.name(),
                        reason,
                    });
                    return;
                }
            }
        }
        self.push(Op::PutInteractionPages { customer, entries });
    }

    /// Inserts a compensation grant, conditionally: if (customer, disruption) already has a
    /// grant (stored, or earlier in this batch), the whole batch fails with
    /// [`Error::Conflict`] carrying the existing grant, and nothing is written.
    pub fn insert_grant(&mut self, g: &CompensationGrant) {
        if let Some(value) = self.encode(Space::Grants, g) {
            self.push(Op::InsertGrant {
                key: keys::grant(g.customer, &g.disruption),
                value,
            });
        }
    }

    /// Stores a grant unconditionally, replacing the one stored for its (customer,
    /// disruption): for rewriting a grant (erasure), never for granting.
    pub fn replace_grant(&mut self, g: &CompensationGrant) {
        if let Some(value) = self.encode(Space::Grants, g) {
            self.push(Op::PutSealed {
                key: keys::grant(g.customer, &g.disruption),
                owner: g.customer,
                value,
            });
        }
    }

    /// Stores the customer's latest scores (replacing earlier ones). Scores are kept in
    /// pages of 256 customers (see `codec`): the write reads and rewrites the customer's page
    /// once per batch, however many of its customers the batch scores.
    pub fn put_scores(&mut self, customer: CustomerId, s: &Scores) {
        self.push(Op::PutScores {
            customer,
            scores: Box::new(s.clone()),
        });
    }

    /// Stores the scores of customers of one page of scores (`entries`: customer id and
    /// scores, ids ascending, all in the same page of 256 ids), encoded at once from borrowed
    /// values: [`Batch::put_scores`] for each, without an owned copy per customer. Writing
    /// every customer of a page (a full scoring run) replaces the page without reading it.
    pub fn put_score_page(&mut self, entries: &[(CustomerId, codec::ScoreView<'_>)]) {
        let Some((first, _)) = entries.first() else {
            return;
        };
        let (page, _) = keys::score_slot(*first);
        let mut slots = [0u8; 32];
        let mut views = Vec::with_capacity(entries.len());
        for (id, view) in entries {
            let (p, slot) = keys::score_slot(*id);
            if p != page {
                self.fail(Error::Encode {
                    tree: Space::Scores.name(),
                    reason: format!("customers of pages {page} and {p} in one page of scores"),
                });
                return;
            }
            slots[usize::from(slot / 8)] |= 1 << (slot % 8);
            views.push((slot, *view));
        }
        match codec::encode_score_views(&views) {
            Ok(value) => self.push(Op::PutScorePage { page, slots, value }),
            Err(reason) => self.fail(Error::Encode {
                tree: Space::Scores.name(),
                reason,
            }),
        }
    }

    /// Stores a compact digest of the customer's interactions as they stand (whatever the
    /// caller needs to avoid reading them all again, e.g. what scoring reads of each), encoded
    /// like every typed value. Every later write to the customer's interactions
    /// (`put_interaction`, `remove_interaction`, in a later batch or earlier in this one)
    /// removes it, so a digest that exists is never older than the interactions; one put
    /// after an interaction write in the same batch wins (the caller made it from them).
    /// Digests are derived data: backups leave them out.
    pub fn put_history_digest<T: Serialize>(&mut self, customer: CustomerId, digest: &T) {
        if let Some(value) = self.encode(Space::HistoryDigests, digest) {
            self.push(Op::Put {
                key: keys::history_digest(customer),
                value,
            });
        }
    }

    /// Removes the customer's history digest: for a caller that stored one it can no longer
    /// vouch for (interactions written while it was being made). Marks the customer stale
    /// ([`crate::Store::stale_digests`]).
    pub fn remove_history_digest(&mut self, customer: CustomerId) {
        self.push(Op::Remove {
            key: keys::history_digest(customer),
        });
        self.push(Op::Put {
            key: keys::stale_digest(customer),
            value: Vec::new(),
        });
    }

    /// Clears the customer's stale mark ([`crate::Store::stale_digests`]): for a caller that
    /// has read its history as it stands (a scoring run that stored its digest).
    pub fn clear_stale_digest(&mut self, customer: CustomerId) {
        self.push(Op::Remove {
            key: keys::stale_digest(customer),
        });
    }

    /// [`Batch::put_history_digest`] with the digest in the caller's own byte layout, stored
    /// as given and read back in place by [`crate::Store::stored_history_digests`] (no decoding of
    /// owned values per customer). The caller checks the bytes when it reads them.
    pub fn put_history_digest_bytes(&mut self, customer: CustomerId, digest: &[u8]) {
        self.push(Op::Put {
            key: keys::history_digest(customer),
            value: codec::encode_opaque(digest),
        });
    }

    /// Stores a document under `collection`/`key`, encoded as JSON (so backups can show it).
    /// Fails when the value cannot be represented (e.g. a map with non-string keys).
    pub fn put_doc<T: Serialize>(
        &mut self,
        collection: &str,
        key: &str,
        value: &T,
    ) -> Result<(), Error> {
        let encoded = codec::encode_doc(value);
        self.put_encoded_doc(collection, key, encoded)
    }

    /// [`Batch::put_doc`] in bincode instead of JSON: about half the bytes and several times
    /// faster to read, for collections of many large documents (an ingest's source records,
    /// merge evidence). Reads ([`crate::Store::doc`], [`crate::Store::docs`]) take either
    /// form; a backup carries these as hex, since it cannot show them without their type. The
    /// type must not skip fields when it serialises (no `skip_serializing_if`, `flatten` or
    /// `untagged`).
    pub fn put_doc_compact<T: Serialize>(
        &mut self,
        collection: &str,
        key: &str,
        value: &T,
    ) -> Result<(), Error> {
        let encoded = codec::encode(value);
        self.put_encoded_doc(collection, key, encoded)
    }

    fn put_encoded_doc(
        &mut self,
        collection: &str,
        key: &str,
        encoded: Result<Vec<u8>, String>,
    ) -> Result<(), Error> {
        let value = doc_value(collection, key, encoded)?;
        self.put_doc_bytes(collection, key, value);
        Ok(())
    }

    /// [`Batch::put_doc`] for a document that holds personal data of customer `owner`: stored
    /// sealed under that customer's key, so that erasing the customer makes every version of
    /// it unreadable (see `docs/security.md`). Reads take it like any document.
    pub fn put_doc_sealed<T: Serialize>(
        &mut self,
        collection: &str,
        key: &str,
        owner: CustomerId,
        value: &T,
    ) -> Result<(), Error> {
        let value = doc_value(collection, key, codec::encode_doc(value))?;
        self.put_sealed_doc_bytes(collection, key, owner, value);
        Ok(())
    }

    /// [`Batch::put_doc_compact`] sealed under the key of customer `owner` (see
    /// [`Batch::put_doc_sealed`]).
    pub fn put_doc_compact_sealed<T: Serialize>(
        &mut self,
        collection: &str,
        key: &str,
        owner: CustomerId,
        value: &T,
    ) -> Result<(), Error> {
        let value = doc_value(collection, key, codec::encode(value))?;
        self.put_sealed_doc_bytes(collection, key, owner, value);
        Ok(())
    }

    /// A sealed document's plain bytes (format byte included), sealed when applied.
    pub(crate) fn put_sealed_doc_bytes(
        &mut self,
        collection: &str,
        key: &str,
        owner: CustomerId,
        value: Vec<u8>,
    ) {
        self.push(Op::PutSealed {
            key: keys::doc(collection, key),
            owner,
            value,
        });
    }

    /// A document's stored bytes as a backup carries them (format byte included).
    pub(crate) fn put_doc_bytes(&mut self, collection: &str, key: &str, value: Vec<u8>) {
        self.push(Op::Put {
            key: keys::doc(collection, key),
            value,
        });
    }

    /// Removes a document (no error if absent).
    pub fn remove_doc(&mut self, collection: &str, key: &str) {
        self.push(Op::Remove {
            key: keys::doc(collection, key),
        });
    }

    /// A condition on the write (compare and swap): [`crate::Store::write`] fails with
    /// [`Error::Changed`], writing nothing, unless the document `collection`/`key` is
    /// `expected` when the batch is applied (`None`: no such document). The stored document
    /// is compared with `expected` as [`Batch::put_doc`] encodes it, so use it with documents
    /// written by `put_doc` whose values round-trip exactly (no floats). Checked under the
    /// store's write lock, in order with the batch's own writes.
    pub fn expect_doc<T: Serialize>(&mut self, collection: &str, key: &str, expected: Option<&T>) {
        let expected = match expected.map(codec::encode_doc) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(reason)) => {
                self.fail(Error::Encode {
                    tree: Space::Docs.name(),
                    reason: format!("{collection}/{key}: {reason}"),
                });
                return;
            }
        };
        self.push(Op::ExpectDoc {
            key: keys::doc(collection, key),
            expected,
            collection: collection.to_string(),
            doc_key: key.to_string(),
        });
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// About how many bytes applying the batch writes: keys and values, a customer's index
    /// entries included. sled holds a batch's whole log in memory until it is applied (a
    /// batch of several megabytes made the ingest's memory grow by gigabytes), so writers of
    /// many records cut their batches by this, not by [`Batch::len`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn push(&mut self, op: Op) {
        self.bytes += match &op {
            Op::PutCustomer { value, keys, .. } => {
                // Each index entry, plus its line in the customer's list of keys.
                value.len() + keys.iter().map(|k| 2 * (k.value.len() + 12)).sum::<usize>()
            }
            Op::PutCustomerRecord { value, .. } => value.len() + 16,
            // A page's share of its key and seal, per interaction.
            Op::PutInteraction { entry, .. } => entry.len() + 8,
            Op::PutInteractionPages { entries, .. } => {
                entries.iter().map(|(_, _, e)| e.len() + 4).sum::<usize>() + 64
            }
            Op::RemoveInteraction { .. } => 26,
            Op::InsertGrant { key, value } | Op::Put { key, value } => key.len() + value.len(),
            Op::PutSealed { key, value, .. } => key.len() + value.len() + 40,
            Op::PutScorePage { value, .. } => value.len() + 16,
            Op::Remove { key } => key.len(),
            Op::ExpectDoc { .. } => 0,
            Op::RemoveCustomer { .. } | Op::PutScores { .. } => 64,
        };
        self.ops.push(op);
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Records the batch's first error (the write then fails, writing nothing).
    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn encode<T: Serialize>(&mut self, space: Space, value: &T) -> Option<Vec<u8>> {
        match codec::encode(value) {
            Ok(v) => Some(v),
            Err(reason) => {
                if self.error.is_none() {
                    self.error = Some(Error::Encode {
                        tree: space.name(),
                        reason,
                    });
                }
                None
            }
        }
    }
}

/// A document's encoded bytes, or the encoding failure named by collection and key.
fn doc_value(
    collection: &str,
    key: &str,
    encoded: Result<Vec<u8>, String>,
) -> Result<Vec<u8>, Error> {
    encoded.map_err(|reason| Error::Encode {
        tree: Space::Docs.name(),
        reason: format!("{collection}/{key}: {reason}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndexKind;
    use rapport_core::PartyKind;

    #[test]
    fn bytes_count_values_and_index_entries() {
        let c = Customer::new(CustomerId(1), PartyKind::Person, Timestamp::EPOCH);
        let mut bare = Batch::new();
        bare.put_customer(&c, Vec::new());
        let mut keyed = Batch::new();
        let keys: Vec<IndexKey> = (0..40)
            .map(|n| IndexKey::new(IndexKind::NameToken, format!("token{n}")))
            .collect();
        keyed.put_customer(&c, keys);
        assert_eq!(bare.len(), keyed.len());
        // Forty index entries of 18 bytes (key and the customer's list of keys) weigh more
        // than the customer's own value.
        assert!(
            keyed.bytes() >= bare.bytes() + 40 * 2 * 18,
            "{}",
            keyed.bytes()
        );
        let mut docs = Batch::new();
        docs.put_doc("c", "k", &"x".repeat(1000)).unwrap();
        assert!(docs.bytes() > 1000);
        docs.remove_doc("c", "k");
        assert!(docs.bytes() > 1000 + "k".len());
    }
}
