//! rapport-store: Rapport's persistent store, and the only crate that knows sled.
//!
//! Every other crate sees the store through this narrow API, which leaks no sled types and is
//! written as the contract a second engine (PostgreSQL, later) must meet:
//!
//! - typed keyspaces: customers (with secondary indexes kept in the same atomic write),
//!   interactions in pages per customer ordered by time / id so "newest N of customer X" is a
//!   reverse range scan of one or two pages, compensation grants (at most one per customer and disruption, enforced atomically),
//!   scores, and generic JSON documents for everything else;
//! - atomic writes through a [`Batch`] with an explicit [`Durability`];
//! - a change feed ([`Store::subscribe`]) that never blocks writers;
//! - backup and restore as JSON Lines, statistics, and a schema version checked at open.
//!
//! # Durability contract
//!
//! - [`Durability::Durable`]: [`Store::write`] returns only after the write is flushed to the
//!   operating system with `flush()`. It then survives a crash of the process (kill -9, panic,
//!   OOM kill). It is **not guaranteed to survive a power loss or kernel crash**: on Linux
//!   sled's flush waits for `sync_file_range`, not `fsync`, so the data may still sit in the
//!   disk's volatile cache. See `docs/durability.md`.
//! - [`Durability::Batched`]: the write is applied (visible to readers at once) and made
//!   durable by sled's background flusher (every 500 ms) or by the next durable write or
//!   [`Store::flush`]. A crash can lose the last half second of batched writes, but never
//!   part of a batch: each [`Batch`] is atomic, with its index entries.
//!
//! Durable writes are for the console and the service (a voucher must not vanish); bulk
//! ingest uses batched writes of a few thousand operations and ends with one `flush()`.
//!
//! # Change feed
//!
//! Subscribers get typed [`ChangeEvent`]s through a bounded channel (1,024 events). A
//! subscriber that falls behind loses events and then receives [`Change::Lagged`]: it must
//! re-read what it shows. Events are hints to refresh, never the source of truth; they are
//! published when a write is applied, before it is durable, and may arrive out of order across
//! customers.
//!
//! # Example
//!
//! ```
//! use rapport_core::{Customer, CustomerId, PartyKind, Timestamp};
//! use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};
//!
//! let store = Store::temporary()?;
//! let id = store.next_customer_id()?;
//! let customer = Customer::new(id, PartyKind::Person, Timestamp::from_secs(1_700_000_000));
//! let mut batch = Batch::default();
//! batch.put_customer(&customer, vec![IndexKey::new(IndexKind::Email, "ada@example.com")]);
//! store.write(batch, Durability::Durable)?;
//!
//! assert_eq!(store.customer(id)?, Some(customer));
//! let key = IndexKey::new(IndexKind::Email, "ada@example.com");
//! assert_eq!(store.index_lookup(&key)?, vec![id]);
//! # Ok::<(), rapport_store::Error>(())
//! ```

mod backup;
mod batch;
pub mod codec;
mod error;
mod feed;
mod index;
mod keys;
mod pages;
mod schema;
mod seal;
mod segment;
mod store;
mod vocab;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use backup::{ExportOptions, export_trailer};
pub use batch::Batch;
pub use codec::{Propensities, ScoreView};
pub use error::Error;
pub use feed::Subscriber;
pub use rapport_core::{Change, ChangeEvent};
pub use schema::SCHEMA_VERSION;
pub use seal::{KEYS_FILE, SEALED_V1, SEALED_V2};
pub use store::{ErasureSummary, OpenOptions, Store, StoredDigest};
pub use vocab::{VOCAB_FILE, VOCAB_KINDS};

/// How durable a write must be before [`Store::write`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Returns after `flush()`: survives a process crash (not necessarily a power loss).
    Durable,
    /// Returns once applied; flushed by the background flusher (every 500 ms) or the next
    /// durable write or [`Store::flush`]. For bulk work ended by one flush.
    Batched,
}

/// The kinds of secondary index on customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    /// Normalised e-mail address.
    Email,
    /// Phone number in E.164.
    Phone,
    /// Loyalty programme number.
    LoyaltyNumber,
    /// A source reference (`source:key`).
    SourceRef,
    /// A booking reference.
    BookingRef,
    /// One normalised token of a name.
    NameToken,
    /// A phonetic code of a name token.
    NamePhonetic,
    /// Birth date (`YYYY-MM-DD`).
    BirthDate,
    /// Normalised postcode.
    Postcode,
    /// National identity number.
    NationalId,
}

impl IndexKind {
    /// Every kind.
    pub const ALL: [IndexKind; 10] = [
        IndexKind::Email,
        IndexKind::Phone,
        IndexKind::LoyaltyNumber,
        IndexKind::SourceRef,
        IndexKind::BookingRef,
        IndexKind::NameToken,
        IndexKind::NamePhonetic,
        IndexKind::BirthDate,
        IndexKind::Postcode,
        IndexKind::NationalId,
    ];

    /// The snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            IndexKind::Email => "email",
            IndexKind::Phone => "phone",
            IndexKind::LoyaltyNumber => "loyalty_number",
            IndexKind::SourceRef => "source_ref",
            IndexKind::BookingRef => "booking_ref",
            IndexKind::NameToken => "name_token",
            IndexKind::NamePhonetic => "name_phonetic",
            IndexKind::BirthDate => "birth_date",
            IndexKind::Postcode => "postcode",
            IndexKind::NationalId => "national_id",
        }
    }

    /// The byte that stands for the kind in keys. Stable: never renumber.
    pub(crate) fn code(self) -> u8 {
        match self {
            IndexKind::Email => 1,
            IndexKind::Phone => 2,
            IndexKind::LoyaltyNumber => 3,
            IndexKind::SourceRef => 4,
            IndexKind::BookingRef => 5,
            IndexKind::NameToken => 6,
            IndexKind::NamePhonetic => 7,
            IndexKind::BirthDate => 8,
            IndexKind::Postcode => 9,
            IndexKind::NationalId => 10,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<IndexKind> {
        IndexKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IndexKind {
    type Err = rapport_core::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace('-', "_");
        IndexKind::ALL
            .into_iter()
            .find(|k| k.as_str() == t)
            .ok_or_else(|| rapport_core::Error::Parse {
                what: "index kind",
                input: s.chars().take(80).collect(),
            })
    }
}

/// One secondary index entry of a customer. The value is already normalised by the caller
/// (lower-case e-mail, E.164 phone...): the store compares bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IndexKey {
    /// Which index.
    pub kind: IndexKind,
    /// The normalised value.
    pub value: String,
}

impl IndexKey {
    /// An index key of `kind` with `value`.
    pub fn new(kind: IndexKind, value: impl Into<String>) -> IndexKey {
        IndexKey {
            kind,
            value: value.into(),
        }
    }
}

impl fmt::Display for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// Counts per keyspace and document collection, and the size on disk.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stats {
    /// The schema version of the database.
    pub schema_version: u32,
    /// Number of entries per keyspace (customers, interactions, grants, scores, removed,
    /// index, customer_index, history_digests, docs, meta), in that order.
    pub keyspaces: Vec<(String, u64)>,
    /// Number of documents per collection, in name order.
    pub collections: Vec<(String, u64)>,
    /// Bytes the database occupies on disk.
    pub size_on_disk: u64,
    /// What the stored bytes are: one row per keyspace (sled keys and the bytes of their keys
    /// and values as stored: sealed, compressed), one per document collection (named
    /// `docs/COLLECTION`), and one per file of the database directory that is not sled's
    /// (`file/NAME`: index segment, key store, vocabulary). `size_on_disk` less their sum is
    /// sled's own overhead (node headers, stale versions not yet reclaimed).
    #[serde(default)]
    pub bytes: Vec<SpaceBytes>,
}

/// The stored bytes of one keyspace, document collection or file ([`Stats::bytes`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpaceBytes {
    /// `customers`, `interactions`, ..., `docs/fragments`, `file/rapport.keys`.
    pub name: String,
    /// sled keys (0 for a file).
    pub keys: u64,
    /// Bytes of the keys.
    pub key_bytes: u64,
    /// Bytes of the values as stored (for a file: its length).
    pub value_bytes: u64,
}

impl Stats {
    /// The count of a keyspace by name (0 when unknown).
    pub fn count(&self, keyspace: &str) -> u64 {
        self.keyspaces
            .iter()
            .find(|(n, _)| n == keyspace)
            .map_or(0, |(_, c)| *c)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExportSummary {
    /// Customers (each line carries its index keys).
    pub customers: u64,
    /// Index entries, over all customers.
    pub index_entries: u64,
    /// Removed-customer markers (merges).
    pub removed: u64,
    /// Interactions.
    pub interactions: u64,
    /// Compensation grants.
    pub grants: u64,
    /// Scores.
    pub scores: u64,
    /// Documents.
    pub docs: u64,
    /// Lines written, header and counters included.
    pub lines: u64,
}

/// What an import read.
pub type ImportSummary = ExportSummary;
