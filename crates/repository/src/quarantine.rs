//! The quarantine: rows that could not be ingested, kept with their original bytes, file,
//! line, field and reason, until a steward fixes the mapping and retries them.
//!
//! Entries are documents in the store's `quarantine` collection. An entry's id is derived from
//! the source, the file name and the row's bytes, so ingesting the same bad row twice keeps
//! one entry (the second time the row counts as already known).
//!
//! An entry keeps at most [`RAW_CAP`] bytes of its row (and of the file's header): a longer
//! row keeps its first bytes, its full length and the SHA-256 digest of all of it, so that an
//! entry stays a small document (the store decodes values up to 16 MiB, and a JSON byte array
//! takes up to four bytes per byte). Such an entry cannot be retried (its row is not whole):
//! fix the source file and ingest it again, then remove the entry.

use std::path::Path;

use rapport_core::Timestamp;
use rapport_store::{Batch, Durability, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cleanse::Reason;
use crate::error::Error;

/// The store collection holding quarantined rows.
pub const COLLECTION: &str = "quarantine";

/// The most bytes of a row (and of its file's header) an entry keeps: 16 KiB, so an entry is
/// at most about 130 KiB of JSON.
pub const RAW_CAP: usize = 16 * 1024;

/// The most bytes of an entry's detail kept.
pub const DETAIL_CAP: usize = 1024;

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
    /// The row's original bytes, or its first [`RAW_CAP`] bytes when it is longer.
    pub raw: Vec<u8>,
    /// The file's header row, for CSV files with one (needed to read the row again); its
    /// first [`RAW_CAP`] bytes when longer.
    pub header: Option<Vec<u8>>,
    /// When the row was quarantined.
    pub at: Timestamp,
    /// The row's full length in bytes, when `raw` holds only its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_len: Option<u64>,
    /// The SHA-256 digest (hex) of the whole row, when `raw` holds only its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_sha256: Option<String>,
    /// Whether `header` holds only the start of the file's header.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub header_cut: bool,
}

/// What is known of a quarantined row before it is stored (see [`QuarantineEntry::new`]).
#[derive(Debug, Clone)]
pub struct Quarantined<'a> {
    /// The source name.
    pub source: &'a str,
    /// The mapping file used.
    pub mapping: String,
    /// The data file.
    pub file: &'a Path,
    /// 1-based line where the row starts.
    pub line: u64,
    /// The column or part concerned.
    pub field: String,
    /// Why.
    pub reason: Reason,
    /// Details for the steward.
    pub detail: String,
    /// The row's original bytes, whole.
    pub raw: &'a [u8],
    /// The file's header row, whole.
    pub header: Option<&'a [u8]>,
    /// When.
    pub at: Timestamp,
}

impl QuarantineEntry {
    /// An entry for a row, its bytes kept up to [`RAW_CAP`] (the rest summarised by length
    /// and digest), its detail up to [`DETAIL_CAP`].
    pub fn new(q: Quarantined<'_>) -> QuarantineEntry {
        let id = QuarantineEntry::id_for(q.source, q.file, q.raw);
        let cut = q.raw.len() > RAW_CAP;
        let mut detail = q.detail;
        if detail.len() > DETAIL_CAP {
            let mut end = DETAIL_CAP;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
            detail.push('…');
        }
        QuarantineEntry {
            id,
            source: q.source.to_string(),
            mapping: q.mapping,
            file: q.file.display().to_string(),
            line: q.line,
            field: q.field,
            reason: q.reason,
            detail,
            raw: q.raw[..q.raw.len().min(RAW_CAP)].to_vec(),
            header: q.header.map(|h| h[..h.len().min(RAW_CAP)].to_vec()),
            at: q.at,
            raw_len: cut.then_some(q.raw.len() as u64),
            raw_sha256: cut.then(|| sha256_hex(q.raw)),
            header_cut: q.header.is_some_and(|h| h.len() > RAW_CAP),
        }
    }

    /// Whether the entry holds its whole row (and header), so that it can be retried.
    pub fn is_whole(&self) -> bool {
        self.raw_len.is_none() && !self.header_cut
    }

    /// The row's length in bytes (also when only its start is kept).
    pub fn row_len(&self) -> u64 {
        self.raw_len.unwrap_or(self.raw.len() as u64)
    }

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

/// All quarantined rows that can be read, and the errors of those that cannot (an entry
/// written by an older Rapport that kept whole rows of any size may be too large to read):
/// listing goes on past them, and [`remove`] removes them by id.
pub fn list_readable(store: &Store) -> (Vec<QuarantineEntry>, Vec<Error>) {
    let mut entries = Vec::new();
    let mut unreadable = Vec::new();
    for r in store.docs::<QuarantineEntry>(COLLECTION, "") {
        match r {
            Ok((_, e)) => entries.push(e),
            Err(e) => unreadable.push(Error::from(e)),
        }
    }
    (entries, unreadable)
}

/// One quarantined row.
pub fn get(store: &Store, id: &str) -> Result<Option<QuarantineEntry>, Error> {
    Ok(store.doc(COLLECTION, id)?)
}

/// Whether an entry with this id exists (without reading it, so also for an unreadable one).
pub fn exists(store: &Store, id: &str) -> Result<bool, Error> {
    Ok(store.doc_exists(COLLECTION, id)?)
}

/// Removes entries (after a successful retry, or a steward's decision); durable.
pub fn remove(store: &Store, ids: &[String]) -> Result<(), Error> {
    let mut b = Batch::default();
    for id in ids {
        b.remove_doc(COLLECTION, id);
    }
    store.write(b, Durability::Durable)?;
    Ok(())
}

/// Counts of quarantined rows by reason (entries that cannot be read count as `unreadable`).
pub fn counts_by_reason(store: &Store) -> Result<std::collections::BTreeMap<String, u64>, Error> {
    let mut out = std::collections::BTreeMap::new();
    let (entries, unreadable) = list_readable(store);
    for e in entries {
        *out.entry(e.reason.as_str().to_string()).or_insert(0) += 1;
    }
    if !unreadable.is_empty() {
        out.insert("unreadable".to_string(), unreadable.len() as u64);
    }
    Ok(out)
}

/// The SHA-256 digest of bytes, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
