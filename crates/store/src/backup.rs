//! Backup and restore as JSON Lines.
//!
//! The first line is a header naming the format and the schema version; then counters,
//! customers (each with its index keys), removed-customer markers, interactions, grants,
//! scores and documents, each group in key order, one JSON object per line. The output is a
//! deterministic function of the store's contents, so export, import into an empty store and
//! export again gives byte-identical files.

use std::io::{BufRead, Write};

use rapport_core::{CompensationGrant, Customer, CustomerId, Interaction, Scores};
use serde::{Deserialize, Serialize};

use crate::keys::{self, Key, Space};
use crate::store::{COUNTERS, encode_meta};
use crate::{Batch, Durability, Error, ExportSummary, ImportSummary, IndexKey, Store, codec};

/// The `format` field of the header line.
pub const FORMAT: &str = "rapport-export";
/// The version of the export format.
pub const FORMAT_VERSION: u32 = 1;

/// How many records an import writes per atomic batch.
const IMPORT_BATCH: usize = 2_000;

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // one line at a time, never held in bulk
enum Line {
    Header {
        format: String,
        version: u32,
        schema: u32,
    },
    Counter {
        name: String,
        next: u64,
    },
    Customer {
        customer: Customer,
        index: Vec<IndexKey>,
    },
    Removed {
        customer: CustomerId,
        merged_into: Option<CustomerId>,
    },
    Interaction(Interaction),
    Grant(CompensationGrant),
    Scores {
        customer: CustomerId,
        scores: Scores,
    },
    Doc {
        collection: String,
        key: String,
        value: serde_json::Value,
    },
    /// A document stored compact (bincode): its stored bytes in hex.
    CompactDoc {
        collection: String,
        key: String,
        hex: String,
    },
}

impl Store {
    /// Writes everything in the store to `out` as JSON Lines. Writers wait while the export
    /// runs, so the export is a consistent snapshot.
    pub fn export_jsonl(&self, out: &mut dyn Write) -> Result<ExportSummary, Error> {
        let _guard = self
            .inner
            .write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        let mut sum = ExportSummary::default();
        let mut emit = |line: &Line, sum: &mut ExportSummary| -> Result<(), Error> {
            serde_json::to_writer(&mut out, line).map_err(|e| match e.io_error_kind() {
                // The output failed (a closed pipe, a full disk), not the value.
                Some(kind) => Error::Io(std::io::Error::new(kind, e)),
                None => Error::Encode {
                    tree: "export",
                    reason: e.to_string(),
                },
            })?;
            out.write_all(b"\n")?;
            sum.lines += 1;
            Ok(())
        };
        let tree = self.raw_tree();
        emit(
            &Line::Header {
                format: FORMAT.into(),
                version: FORMAT_VERSION,
                schema: self.schema_version(),
            },
            &mut sum,
        )?;
        for name in COUNTERS {
            let key = keys::meta(name);
            if let Some(raw) = tree.get(&key)? {
                let next: u64 = decode(&key, &raw)?;
                emit(
                    &Line::Counter {
                        name: name.into(),
                        next,
                    },
                    &mut sum,
                )?;
            }
        }
        for kv in tree.scan_prefix(Space::Customers.prefix()) {
            let (k, v) = kv?;
            let customer: Customer = decode(&k, &v)?;
            let index = self.index_keys_of(customer.id)?;
            sum.customers += 1;
            sum.index_entries += index.len() as u64;
            emit(&Line::Customer { customer, index }, &mut sum)?;
        }
        for kv in tree.scan_prefix(Space::Removed.prefix()) {
            let (k, v) = kv?;
            let Some(Key::Removed(customer)) = Key::parse(&k) else {
                return Err(bad_key(&k));
            };
            let merged_into: Option<CustomerId> = decode(&k, &v)?;
            sum.removed += 1;
            emit(
                &Line::Removed {
                    customer,
                    merged_into,
                },
                &mut sum,
            )?;
        }
        for kv in tree.scan_prefix(Space::Interactions.prefix()) {
            let (k, v) = kv?;
            sum.interactions += 1;
            emit(&Line::Interaction(decode(&k, &v)?), &mut sum)?;
        }
        for kv in tree.scan_prefix(Space::Grants.prefix()) {
            let (k, v) = kv?;
            sum.grants += 1;
            emit(&Line::Grant(decode(&k, &v)?), &mut sum)?;
        }
        for entry in self.scores_in(CustomerId(0), None) {
            let (customer, scores) = entry?;
            sum.scores += 1;
            emit(&Line::Scores { customer, scores }, &mut sum)?;
        }
        for kv in tree.scan_prefix(Space::Docs.prefix()) {
            let (k, v) = kv?;
            let Some(Key::Doc(collection, key)) = Key::parse(&k) else {
                return Err(bad_key(&k));
            };
            sum.docs += 1;
            if v.first() == Some(&codec::BINCODE_V1) {
                emit(
                    &Line::CompactDoc {
                        collection,
                        key,
                        hex: to_hex(&v),
                    },
                    &mut sum,
                )?;
                continue;
            }
            let value = codec::decode_doc(&v).map_err(|reason| Error::Decode {
                tree: Space::Docs.name(),
                key: keys::describe(&k),
                reason,
            })?;
            emit(
                &Line::Doc {
                    collection,
                    key,
                    value,
                },
                &mut sum,
            )?;
        }
        out.flush()?;
        Ok(sum)
    }

    /// Reads an export back into this store, which must be empty. Writes in atomic batches
    /// of a few thousand records and flushes at the end; on an error the store holds the
    /// batches written before the bad line (start again with an empty database).
    pub fn import_jsonl(&self, input: &mut dyn BufRead) -> Result<ImportSummary, Error> {
        self.check_empty()?;
        let mut sum = ImportSummary::default();
        let mut batch = Batch::default();
        let mut counters = Vec::new();
        let mut buf = String::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            if input.read_line(&mut buf)? == 0 {
                break;
            }
            line_no += 1;
            let text = buf.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                continue;
            }
            let line: Line = serde_json::from_str(text).map_err(|e| Error::Import {
                line: line_no,
                reason: e.to_string(),
            })?;
            sum.lines += 1;
            match line {
                Line::Header {
                    format,
                    version,
                    schema,
                } => {
                    if line_no != 1 {
                        return Err(import_err(line_no, "a header may only be the first line"));
                    }
                    if format != FORMAT || version > FORMAT_VERSION {
                        return Err(import_err(
                            line_no,
                            &format!("unsupported export format {format:?} version {version}"),
                        ));
                    }
                    if schema > self.schema_version() {
                        return Err(import_err(
                            line_no,
                            &format!(
                                "written by schema version {schema}, newer than this build's {}",
                                self.schema_version()
                            ),
                        ));
                    }
                }
                _ if line_no == 1 => {
                    return Err(import_err(
                        line_no,
                        "the first line must be the export header",
                    ));
                }
                Line::Counter { name, next } => {
                    if !COUNTERS.contains(&name.as_str()) {
                        return Err(import_err(line_no, &format!("unknown counter {name:?}")));
                    }
                    counters.push((name, next));
                }
                Line::Customer { customer, index } => {
                    sum.customers += 1;
                    sum.index_entries += index.len() as u64;
                    batch.put_customer(&customer, index);
                }
                Line::Removed {
                    customer,
                    merged_into,
                } => {
                    sum.removed += 1;
                    batch.remove_customer(customer, merged_into);
                }
                Line::Interaction(i) => {
                    sum.interactions += 1;
                    batch.put_interaction(&i);
                }
                Line::Grant(g) => {
                    sum.grants += 1;
                    batch.insert_grant(&g);
                }
                Line::Scores { customer, scores } => {
                    sum.scores += 1;
                    batch.put_scores(customer, &scores);
                }
                Line::Doc {
                    collection,
                    key,
                    value,
                } => {
                    sum.docs += 1;
                    batch
                        .put_doc(&collection, &key, &value)
                        .map_err(|e| import_err(line_no, &e.to_string()))?;
                }
                Line::CompactDoc {
                    collection,
                    key,
                    hex,
                } => {
                    let bytes = from_hex(&hex)
                        .filter(|b| b.first() == Some(&codec::BINCODE_V1))
                        .ok_or_else(|| {
                            import_err(line_no, "a compact document is not bincode in hex")
                        })?;
                    sum.docs += 1;
                    batch.put_doc_bytes(&collection, &key, bytes);
                }
            }
            if batch.len() >= IMPORT_BATCH {
                let full = std::mem::take(&mut batch);
                self.write(full, Durability::Batched)
                    .map_err(|e| import_err(line_no, &e.to_string()))?;
            }
        }
        if line_no == 0 {
            return Err(import_err(1, "the file is empty (no export header)"));
        }
        self.write(batch, Durability::Batched)
            .map_err(|e| import_err(line_no, &e.to_string()))?;
        // Restore the counters last: writing records advanced them to at least max id + 1,
        // and the exported values are at least that.
        let mut raw = sled::Batch::default();
        for (name, next) in counters {
            let key = keys::meta(&name);
            let current: u64 = match self.raw_tree().get(&key)? {
                Some(v) => decode(&key, &v)?,
                None => 1,
            };
            raw.insert(key, encode_meta(next.max(current))?);
        }
        self.apply_raw(raw)?;
        self.flush()?;
        Ok(sum)
    }

    /// Fails with [`Error::NotEmpty`] unless the store holds no records.
    fn check_empty(&self) -> Result<(), Error> {
        for space in Space::ALL {
            if space == Space::Meta {
                continue;
            }
            if self.raw_tree().scan_prefix(space.prefix()).next().is_some() {
                return Err(Error::NotEmpty {
                    what: format!("the {} keyspace is not empty", space.name()),
                });
            }
        }
        Ok(())
    }
}

fn import_err(line: u64, reason: &str) -> Error {
    Error::Import {
        line,
        reason: reason.into(),
    }
}

fn bad_key(k: &[u8]) -> Error {
    Error::Decode {
        tree: Space::of(k).map_or("unknown", Space::name),
        key: keys::describe(k),
        reason: "malformed key".into(),
    }
}

fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T, Error> {
    codec::decode(v).map_err(|reason| Error::Decode {
        tree: Space::of(k).map_or("unknown", Space::name),
        key: keys::describe(k),
        reason,
    })
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
