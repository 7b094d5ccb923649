//! The quarantine: rows that could not be ingested, kept with their original bytes, file,
//! line, field and reason, until a steward fixes the mapping and retries them.
//!
//! Entries are documents in the store's `quarantine` collection. An entry's id is derived from
//! the source, the file name and the row's bytes, so ingesting the same bad row twice keeps
//! one entry (the second time the row counts as already known).

use std::path::Path;

use rapport_core::Timestamp;
use rapport_store::{Batch, Durability, Store};
use serde::{Deserialize, Serialize};

use crate::cleanse::Reason;
use crate::error::Error;

/// The store collection holding quarantined rows.
pub const COLLECTION: &str = "quarantine";

/// A quarantined row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// Stable id (`Q` and 16 hex digits).
    pub id: String,
    /// The source name.
    pub source: String,
    /// The mapping file used.
    pub mapping: String,
    /// The data file.
    pub file: String,
    /// 1-based line where the row starts.
    pub line: u64,
    /// The column or part concerned (`row` for the whole row).
    pub field: String,
    /// Why.
    pub reason: Reason,
    /// Details for the steward (may contain data: sanitise before display).
    pub detail: String,
    /// The row's original bytes.
    pub raw: Vec<u8>,
    /// The file's header row, for CSV files with one (needed to read the row again).
    pub header: Option<Vec<u8>>,
    /// When the row was quarantined.
    pub at: Timestamp,
}

impl QuarantineEntry {
    /// The id an entry for these bytes gets.
    pub fn id_for(source: &str, file: &Path, raw: &[u8]) -> String {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut h = Fnv::new();
        h.write(source.as_bytes());
        h.write(&[0]);
        h.write(name.as_bytes());
        h.write(&[0]);
        h.write(raw);
        format!("Q{:016x}", h.finish())
    }

    /// The original row as text (lossy for bytes that are not UTF-8).
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// All quarantined rows, in id order.
pub fn list(store: &Store) -> Result<Vec<QuarantineEntry>, Error> {
    store
        .docs::<QuarantineEntry>(COLLECTION, "")
        .map(|r| r.map(|(_, e)| e).map_err(Error::from))
        .collect()
}

/// One quarantined row.
pub fn get(store: &Store, id: &str) -> Result<Option<QuarantineEntry>, Error> {
    Ok(store.doc(COLLECTION, id)?)
}

/// Removes entries (after a successful retry).
pub fn remove(store: &Store, ids: &[String]) -> Result<(), Error> {
    let mut b = Batch::default();
    for id in ids {
        b.remove_doc(COLLECTION, id);
    }
    store.write(b, Durability::Durable)?;
    Ok(())
}

/// Counts of quarantined rows by reason.
pub fn counts_by_reason(store: &Store) -> Result<std::collections::BTreeMap<String, u64>, Error> {
    let mut out = std::collections::BTreeMap::new();
    for e in list(store)? {
        *out.entry(e.reason.as_str().to_string()).or_insert(0) += 1;
    }
    Ok(out)
}

/// FNV-1a, 64 bits: a small, stable hash for row identity (not for security).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    /// A fresh hash.
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    /// Adds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash.
    pub fn finish(self) -> u64 {
        self.0
    }

    /// The hash of one byte string.
    pub fn hash(bytes: &[u8]) -> u64 {
        let mut h = Fnv::new();
        h.write(bytes);
        h.finish()
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}
