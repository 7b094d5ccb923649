//! A tamper-evident audit log: every write and every record opened, as a hash chain.
//!
//! Each entry carries the SHA-256 of its own fields and of the entry before it, so editing an
//! entry changes its hash, and removing, inserting or reordering entries breaks the link to the
//! previous hash. The head (last sequence number and hash) is kept apart from the entries, so
//! cutting entries off the end is seen too. [`verify`] walks a chain and names the first entry
//! that does not hold, and why. Pure: the service stores the entries and the head.

use std::fmt;

use rapport_core::{CustomerId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audited event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, ... in the order written.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who (the operator's name).
    pub operator: String,
    /// Their role at the time.
    pub role: String,
    /// From where: a terminal's address, `embedded`, or a command.
    pub origin: String,
    /// What: the permission-matrix action (`open-record`, `grant-compensation`, ...).
    pub action: String,
    /// Which customer, when the event concerns one.
    pub customer: Option<CustomerId>,
    /// What else identifies the event (an interaction id, a policy version), never personal
    /// data: no name, contact, free text or identifier a customer gave.
    pub detail: String,
    /// The hash of the entry before (hex), [`GENESIS`] for the first.
    pub prev: String,
    /// The hash of this entry's fields and `prev` (hex).
    pub hash: String,
}

/// The last entry's sequence number and hash, kept apart from the entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Entries written.
    pub seq: u64,
    /// The last entry's hash ([`GENESIS`] before the first).
    pub hash: String,
}

impl AuditHead {
    /// The head of an empty log.
    pub fn empty() -> AuditHead {
        AuditHead {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

/// What an entry is about, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub operator: String,
    /// Their role.
    pub role: String,
    /// From where.
    pub origin: String,
    /// What.
    pub action: String,
    /// Which customer.
    pub customer: Option<CustomerId>,
    /// Identifying detail (no personal data).
    pub detail: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash of an entry's fields and `prev`: each field length-prefixed, so no two different
/// entries hash the same bytes.
pub fn digest(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(&e.seq.to_le_bytes());
    field(&e.at.as_millis().to_le_bytes());
    field(e.operator.as_bytes());
    field(e.role.as_bytes());
    field(e.origin.as_bytes());
    field(e.action.as_bytes());
    field(&e.customer.map_or(u64::MAX, |c| c.0).to_le_bytes());
    field(e.detail.as_bytes());
    field(e.prev.as_bytes());
    hex(&h.finalize())
}

/// Chains `event` after `head`: the new entry and the new head.
pub fn append(head: &AuditHead, event: AuditEvent) -> (AuditEntry, AuditHead) {
    let mut e = AuditEntry {
        seq: head.seq + 1,
        at: event.at,
        operator: event.operator,
        role: event.role,
        origin: event.origin,
        action: event.action,
        customer: event.customer,
        detail: event.detail,
        prev: head.hash.clone(),
        hash: String::new(),
    };
    e.hash = digest(&e);
    let head = AuditHead {
        seq: e.seq,
        hash: e.hash.clone(),
    };
    (e, head)
}

/// Where a chain stops holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The entry's fields no longer match its hash: it was edited.
    Edited {
        /// The entry.
        seq: u64,
    },
    /// The entry does not follow the one before it (removed, inserted or reordered entries).
    Unlinked {
        /// The entry found.
        seq: u64,
        /// The sequence number expected there.
        expected: u64,
    },
    /// The log ends before (or goes on after) its recorded head: entries were cut off or added
    /// at the end, or the head was changed.
    Head {
        /// The last entry found.
        last: u64,
        /// The head's sequence number.
        head: u64,
    },
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainBreak::Edited { seq } => {
                write!(f, "entry {seq} was changed after it was written")
            }
            ChainBreak::Unlinked { seq, expected } => write!(
                f,
                "entry {seq} does not follow the entry before it (expected entry {expected}): \
                 entries were removed, inserted or reordered"
            ),
            ChainBreak::Head { last, head } => write!(
                f,
                "the log ends at entry {last} but its head says {head}: entries were cut off or \
                 added at the end"
            ),
        }
    }
}

/// Checks a chain entry by entry, in stored order, without holding it in memory: a log of
/// millions of record opens is verified in one pass. [`Verifier::finish`] compares the end with
/// the head.
#[derive(Debug, Clone)]
pub struct Verifier {
    prev: String,
    expected: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    /// A verifier at the start of a log.
    pub fn new() -> Verifier {
        Verifier {
            prev: GENESIS.to_string(),
            expected: 1,
        }
    }

    /// Checks the next entry; the first break found is returned (and stays the answer).
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        if e.seq != self.expected || e.prev != self.prev {
            return Err(ChainBreak::Unlinked {
                seq: e.seq,
                expected: self.expected,
            });
        }
        if digest(e) != e.hash {
            return Err(ChainBreak::Edited { seq: e.seq });
        }
        self.prev.clone_from(&e.hash);
        self.expected += 1;
        Ok(())
    }

    /// Entries checked so far.
    pub fn checked(&self) -> u64 {
        self.expected - 1
    }

    /// The end of the log against its head: `Ok(entries)` when it holds.
    pub fn finish(&self, head: &AuditHead) -> Result<u64, ChainBreak> {
        let last = self.checked();
        if last != head.seq || (last > 0 && self.prev != head.hash) {
            return Err(ChainBreak::Head {
                last,
                head: head.seq,
            });
        }
        Ok(last)
    }
}

/// Checks a chain read in stored order against its head; `Ok(entries)` when it holds.
pub fn verify<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    head: &AuditHead,
) -> Result<u64, ChainBreak> {
    let mut v = Verifier::new();
    for e in entries {
        v.push(e)?;
    }
    v.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> (Vec<AuditEntry>, AuditHead) {
        let mut head = AuditHead::empty();
        let mut out = Vec::new();
        for k in 0..n {
            let (e, h) = append(
                &head,
                AuditEvent {
                    at: Timestamp::from_secs(1_800_000_000 + k as i64),
                    operator: if k % 2 == 0 { "jsmith" } else { "mrossi" }.into(),
                    role: "front-line".into(),
                    origin: "127.0.0.1:50000".into(),
                    action: if k % 3 == 0 {
                        "grant-compensation"
                    } else {
                        "open-record"
                    }
                    .into(),
                    customer: Some(CustomerId(k % 5 + 1)),
                    detail: format!("event {k}"),
                },
            );
            out.push(e);
            head = h;
        }
        (out, head)
    }

    #[test]
    fn a_chain_as_written_holds() {
        let (entries, head) = chain(10);
        assert_eq!(verify(&entries, &head), Ok(10));
        assert_eq!(verify(&[], &AuditHead::empty()), Ok(0));
    }

    #[test]
    fn an_edited_entry_is_found() {
        let (mut entries, head) = chain(10);
        entries[4].operator = "someone else".into();
        assert_eq!(verify(&entries, &head), Err(ChainBreak::Edited { seq: 5 }));
        // Re-hashing the edited entry breaks the next link instead.
        entries[4].hash = digest(&entries[4]);
        assert_eq!(
            verify(&entries, &head),
            Err(ChainBreak::Unlinked {
                seq: 6,
                expected: 6
            })
        );
    }

    #[test]
    fn removed_inserted_and_reordered_entries_are_found() {
        let (entries, head) = chain(10);
        let mut removed = entries.clone();
        removed.remove(3);
        assert_eq!(
            verify(&removed, &head),
            Err(ChainBreak::Unlinked {
                seq: 5,
                expected: 4
            })
        );
        let mut swapped = entries.clone();
        swapped.swap(2, 3);
        assert!(matches!(
            verify(&swapped, &head),
            Err(ChainBreak::Unlinked { seq: 4, .. })
        ));
        let mut inserted = entries.clone();
        let mut fake = entries[2].clone();
        fake.detail = "forged".into();
        inserted.insert(3, fake);
        assert!(matches!(
            verify(&inserted, &head),
            Err(ChainBreak::Unlinked { seq: 3, .. })
        ));
        // Cut off at the end: the head says more.
        assert_eq!(
            verify(&entries[..8], &head),
            Err(ChainBreak::Head { last: 8, head: 10 })
        );
    }
}
