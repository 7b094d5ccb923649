//! Backup and restore as JSON Lines.
//!
//! The first line is a header naming the format and the schema version; then counters,
//! customers (each with its index keys), removed-customer markers, interactions, grants,
//! scores and documents, each group in key order, one JSON object per line; the last line is
//! a trailer with the count of lines and of records per keyspace and the SHA-256 digest of
//! every byte before it. An import checks the trailer and refuses a file without one (cut
//! short: a failed copy, a full disk) or whose counts or digest disagree, naming what is
//! wrong. The output is a deterministic function of the store's contents, so export, import
//! into an empty store and export again gives byte-identical files.

use std::io::{BufRead, Write};
use std::path::Path;

use rapport_core::{CompensationGrant, Customer, CustomerId, Interaction, Scores};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keys::{self, Key, Space};
use crate::store::{COUNTERS, encode_meta};
use crate::{Batch, Durability, Error, ExportSummary, ImportSummary, IndexKey, Store, codec};

/// The `format` field of the header line.
pub const FORMAT: &str = "rapport-export";
/// The version of the export format: 2 adds the trailer (version 1 files cannot be checked
/// for completeness and are refused).
pub const FORMAT_VERSION: u32 = 2;

/// What an export leaves out or blanks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Fields of JSON documents written as an empty string: `(collection, field)`, e.g. the
    /// operators' password hashes, so that a backup file gives away no hash to crack.
    pub blank: Vec<(String, String)>,
}

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
        /// The customer whose key sealed the document (restored sealed under a new key).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<CustomerId>,
    },
    /// A document stored compact (bincode): its stored bytes in hex.
    CompactDoc {
        collection: String,
        key: String,
        hex: String,
        /// The customer whose key sealed the document.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<CustomerId>,
    },
    /// The last line: what came before it.
    Trailer {
        /// Lines before the trailer, header included.
        lines: u64,
        /// Records per keyspace.
        counts: Counts,
        /// SHA-256 (hex) of every byte before the trailer line.
        sha256: String,
        /// Document fields written blank (`collection.field`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        blanked: Vec<String>,
    },
}

/// Records per keyspace, as the trailer states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
struct Counts {
    customers: u64,
    index_entries: u64,
    removed: u64,
    interactions: u64,
    grants: u64,
    scores: u64,
    docs: u64,
}

impl Counts {
    fn of(s: &ExportSummary) -> Counts {
        Counts {
            customers: s.customers,
            index_entries: s.index_entries,
            removed: s.removed,
            interactions: s.interactions,
            grants: s.grants,
            scores: s.scores,
            docs: s.docs,
        }
    }

    /// The first disagreement with `other`, as `name: stated N, found M`.
    fn differences(&self, found: &Counts) -> Vec<String> {
        let pairs = [
            ("customers", self.customers, found.customers),
            ("index entries", self.index_entries, found.index_entries),
            ("removed markers", self.removed, found.removed),
            ("interactions", self.interactions, found.interactions),
            ("grants", self.grants, found.grants),
            ("scores", self.scores, found.scores),
            ("documents", self.docs, found.docs),
        ];
        pairs
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(n, a, b)| format!("{n}: the trailer says {a}, the file holds {b}"))
            .collect()
    }
}

impl Store {
    /// Writes everything in the store to `out` as JSON Lines. Writers wait while the export
    /// runs, so the export is a consistent snapshot.
    pub fn export_jsonl(&self, out: &mut dyn Write) -> Result<ExportSummary, Error> {
        self.export_jsonl_with(out, &ExportOptions::default())
    }

    /// [`Store::export_jsonl`] with options (fields to blank).
    pub fn export_jsonl_with(
        &self,
        out: &mut dyn Write,
        options: &ExportOptions,
    ) -> Result<ExportSummary, Error> {
        let _guard = self
            .inner
            .write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        let mut sum = ExportSummary::default();
        let mut digest = Sha256::new();
        let mut buf = Vec::with_capacity(1 << 12);
        let mut emit = |line: &Line, sum: &mut ExportSummary| -> Result<(), Error> {
            buf.clear();
            serde_json::to_writer(&mut buf, line).map_err(|e| Error::Encode {
                tree: "export",
                reason: e.to_string(),
            })?;
            buf.push(b'\n');
            digest.update(&buf);
            // An output that fails (a closed pipe, a full disk) is an I/O error.
            out.write_all(&buf)?;
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
            let customer: Customer = self.decode_at(&k, &v)?;
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
        // Page by page: the interactions in (customer, time, id) order, one line each, so the
        // file does not depend on where the pages were cut.
        for kv in tree.scan_prefix(Space::Interactions.prefix()) {
            let (k, v) = kv?;
            for i in self.page_interactions(&k, &v)? {
                sum.interactions += 1;
                emit(&Line::Interaction(i), &mut sum)?;
            }
        }
        for kv in tree.scan_prefix(Space::Grants.prefix()) {
            let (k, v) = kv?;
            sum.grants += 1;
            emit(&Line::Grant(self.decode_at(&k, &v)?), &mut sum)?;
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
            // A sealed document is written opened, with its owner: a backup holds no keys.
            let owner = crate::seal::sealed_owner(&v).map(|(c, _)| c);
            let v = self.plain(&k, &v)?;
            if v.first() == Some(&codec::BINCODE_V1) {
                emit(
                    &Line::CompactDoc {
                        collection,
                        key,
                        hex: to_hex(&v),
                        owner,
                    },
                    &mut sum,
                )?;
                continue;
            }
            let mut value: serde_json::Value =
                codec::decode_doc(&v).map_err(|reason| Error::Decode {
                    tree: Space::Docs.name(),
                    key: keys::describe(&k),
                    reason,
                })?;
            for (c, field) in &options.blank {
                if *c == collection
                    && let Some(f) = value.get_mut(field.as_str())
                {
                    *f = serde_json::Value::String(String::new());
                }
            }
            emit(
                &Line::Doc {
                    collection,
                    key,
                    value,
                    owner,
                },
                &mut sum,
            )?;
        }
        let trailer = Line::Trailer {
            lines: sum.lines,
            counts: Counts::of(&sum),
            sha256: hex_digest(digest),
            blanked: options
                .blank
                .iter()
                .map(|(c, f)| format!("{c}.{f}"))
                .collect(),
        };
        serde_json::to_writer(&mut out, &trailer).map_err(|e| Error::Encode {
            tree: "export",
            reason: e.to_string(),
        })?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(sum)
    }

    /// Writes an export to `path` as [`Store::export_jsonl_with`] does, safely: into a new
    /// file beside it readable by its owner only (0600), synced to disk, then renamed over
    /// `path` (and the directory synced), so that `path` holds either its old contents or a
    /// whole export, never a fragment. On an error the temporary file is removed.
    pub fn export_to_file(
        &self,
        path: &Path,
        options: &ExportOptions,
    ) -> Result<ExportSummary, Error> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "export".into());
        let tmp = dir.join(format!(".{name}.{}.partial", std::process::id()));
        let result = (|| {
            let file = create_private(&tmp)?;
            let mut w = std::io::BufWriter::new(file);
            let sum = self.export_jsonl_with(&mut w, options)?;
            let file = w.into_inner().map_err(|e| Error::Io(e.into_error()))?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, path)?;
            // The rename itself is durable once the directory is synced.
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(sum)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Reads a whole export and checks it (header, every line, the trailer's counts and
    /// digest) without writing anything; the summary of what an import would restore.
    pub fn verify_export(input: &mut dyn BufRead) -> Result<ImportSummary, Error> {
        read_export(input, None)
    }

    /// Reads an export back into this store, which must be empty. Writes in atomic batches
    /// of a few thousand records and flushes at the end; the trailer is checked last, so a
    /// file cut short is refused after its records were written: check a file first with
    /// [`Store::verify_export`] when it can be read twice. On an error the store holds the
    /// batches written before it (start again with an empty database).
    pub fn import_jsonl(&self, input: &mut dyn BufRead) -> Result<ImportSummary, Error> {
        self.check_empty()?;
        let mut sink = Importer {
            store: self,
            batch: Batch::default(),
            counters: Vec::new(),
        };
        let sum = read_export(input, Some(&mut sink))?;
        sink.finish()?;
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

/// Where the records of an import go.
struct Importer<'a> {
    store: &'a Store,
    batch: Batch,
    counters: Vec<(String, u64)>,
}

impl Importer<'_> {
    fn add(&mut self, line_no: u64, line: Line) -> Result<(), Error> {
        match line {
            Line::Header { .. } | Line::Trailer { .. } => {}
            Line::Counter { name, next } => self.counters.push((name, next)),
            Line::Customer { customer, index } => self.batch.put_customer(&customer, index),
            Line::Removed {
                customer,
                merged_into,
            } => self.batch.remove_customer(customer, merged_into),
            Line::Interaction(i) => self.batch.put_interaction(&i),
            Line::Grant(g) => self.batch.insert_grant(&g),
            Line::Scores { customer, scores } => self.batch.put_scores(customer, &scores),
            Line::Doc {
                collection,
                key,
                value,
                owner,
            } => match owner {
                Some(owner) => self.batch.put_doc_sealed(&collection, &key, owner, &value),
                None => self.batch.put_doc(&collection, &key, &value),
            }
            .map_err(|e| import_err(line_no, &e.to_string()))?,
            Line::CompactDoc {
                collection,
                key,
                hex,
                owner,
            } => {
                let bytes = from_hex(&hex)
                    .filter(|b| b.first() == Some(&codec::BINCODE_V1))
                    .ok_or_else(|| {
                        import_err(line_no, "a compact document is not bincode in hex")
                    })?;
                match owner {
                    Some(owner) => self
                        .batch
                        .put_sealed_doc_bytes(&collection, &key, owner, bytes),
                    None => self.batch.put_doc_bytes(&collection, &key, bytes),
                }
            }
        }
        if self.batch.len() >= IMPORT_BATCH {
            let full = std::mem::take(&mut self.batch);
            self.store
                .write(full, Durability::Batched)
                .map_err(|e| import_err(line_no, &e.to_string()))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), Error> {
        let store = self.store;
        store
            .write(self.batch, Durability::Batched)
            .map_err(|e| import_err(0, &e.to_string()))?;
        // Restore the counters last: writing records advanced them to at least max id + 1,
        // and the exported values are at least that.
        let mut raw = sled::Batch::default();
        for (name, next) in self.counters {
            let key = keys::meta(&name);
            let current: u64 = match store.raw_tree().get(&key)? {
                Some(v) => decode(&key, &v)?,
                None => 1,
            };
            raw.insert(key, encode_meta(next.max(current))?);
        }
        store.apply_raw(raw)?;
        store.flush()?;
        Ok(())
    }
}

/// Reads an export line by line, checking each line, the header and the trailer; hands the
/// records to `sink` when there is one.
fn read_export(
    input: &mut dyn BufRead,
    mut sink: Option<&mut Importer<'_>>,
) -> Result<ImportSummary, Error> {
    let mut sum = ImportSummary::default();
    let mut digest = Sha256::new();
    let mut buf = String::new();
    let mut line_no = 0u64;
    let mut trailer_seen = false;
    loop {
        buf.clear();
        if input.read_line(&mut buf)? == 0 {
            break;
        }
        line_no += 1;
        if trailer_seen {
            return Err(import_err(
                line_no,
                "a line after the trailer: the file holds more than one export, or was appended to",
            ));
        }
        let text = buf.trim_end_matches(['\n', '\r']);
        let line: Line = serde_json::from_str(text).map_err(|e| {
            let cut = if buf.ends_with('\n') {
                ""
            } else {
                " (the last line is incomplete: the file was cut short)"
            };
            import_err(line_no, &format!("{e}{cut}"))
        })?;
        if let Line::Trailer {
            lines,
            counts,
            sha256,
            ..
        } = &line
        {
            if sum.lines == 0 {
                return Err(import_err(
                    line_no,
                    "the first line must be the export header",
                ));
            }
            if !buf.ends_with('\n') {
                return Err(import_err(
                    line_no,
                    "the trailer has no line end: the file was cut short",
                ));
            }
            if *lines != sum.lines {
                return Err(import_err(
                    line_no,
                    &format!(
                        "the trailer says {lines} lines come before it, the file holds {}",
                        sum.lines
                    ),
                ));
            }
            let wrong = counts.differences(&Counts::of(&sum));
            if !wrong.is_empty() {
                return Err(import_err(line_no, &wrong.join("; ")));
            }
            let found = hex_digest(std::mem::take(&mut digest));
            if *sha256 != found {
                return Err(import_err(
                    line_no,
                    &format!(
                        "the digest disagrees (the trailer says sha256 {sha256}, the lines before it give {found}): the file was changed"
                    ),
                ));
            }
            trailer_seen = true;
            continue;
        }
        digest.update(buf.as_bytes());
        sum.lines += 1;
        match &line {
            Line::Header {
                format,
                version,
                schema,
            } => {
                if line_no != 1 {
                    return Err(import_err(line_no, "a header may only be the first line"));
                }
                if format != FORMAT || *version > FORMAT_VERSION {
                    return Err(import_err(
                        line_no,
                        &format!("unsupported export format {format:?} version {version}"),
                    ));
                }
                if *version < 2 {
                    return Err(import_err(
                        line_no,
                        &format!(
                            "export format version {version} has no trailer, so a file cut short cannot be told from a whole one; export again with this rapport"
                        ),
                    ));
                }
                if *schema > crate::SCHEMA_VERSION {
                    return Err(import_err(
                        line_no,
                        &format!(
                            "written by schema version {schema}, newer than this build's {}",
                            crate::SCHEMA_VERSION
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
            Line::Counter { name, .. } => {
                if !COUNTERS.contains(&name.as_str()) {
                    return Err(import_err(line_no, &format!("unknown counter {name:?}")));
                }
            }
            Line::Customer { index, .. } => {
                sum.customers += 1;
                sum.index_entries += index.len() as u64;
            }
            Line::Removed { .. } => sum.removed += 1,
            Line::Interaction(_) => sum.interactions += 1,
            Line::Grant(_) => sum.grants += 1,
            Line::Scores { .. } => sum.scores += 1,
            Line::Doc { .. } | Line::CompactDoc { .. } => sum.docs += 1,
            Line::Trailer { .. } => {}
        }
        if let Some(sink) = sink.as_deref_mut() {
            sink.add(line_no, line)?;
        }
    }
    if line_no == 0 {
        return Err(import_err(1, "the file is empty (no export header)"));
    }
    if !trailer_seen {
        return Err(import_err(
            line_no,
            &format!(
                "the file ends after line {line_no} without the export trailer: it was cut short (a failed copy or a full disk) or is not a whole export"
            ),
        ));
    }
    Ok(sum)
}

/// The trailer line (with its line end) that makes `body`, the lines of an export written by
/// another program (header first, records after it, no trailer), a whole export that
/// `import` accepts. Each line is checked as an import would read it.
pub fn export_trailer(body: &[u8]) -> Result<String, Error> {
    let mut sum = ExportSummary::default();
    for (n, raw) in body.split_inclusive(|b| *b == b'\n').enumerate() {
        let text = std::str::from_utf8(raw)
            .map_err(|e| import_err(n as u64 + 1, &e.to_string()))?
            .trim_end_matches(['\n', '\r']);
        let line: Line =
            serde_json::from_str(text).map_err(|e| import_err(n as u64 + 1, &e.to_string()))?;
        sum.lines += 1;
        match line {
            Line::Customer { index, .. } => {
                sum.customers += 1;
                sum.index_entries += index.len() as u64;
            }
            Line::Removed { .. } => sum.removed += 1,
            Line::Interaction(_) => sum.interactions += 1,
            Line::Grant(_) => sum.grants += 1,
            Line::Scores { .. } => sum.scores += 1,
            Line::Doc { .. } | Line::CompactDoc { .. } => sum.docs += 1,
            Line::Header { .. } | Line::Counter { .. } | Line::Trailer { .. } => {}
        }
    }
    let trailer = Line::Trailer {
        lines: sum.lines,
        counts: Counts::of(&sum),
        sha256: to_hex(&Sha256::digest(body)),
        blanked: Vec::new(),
    };
    let mut out = serde_json::to_string(&trailer).map_err(|e| Error::Encode {
        tree: "export",
        reason: e.to_string(),
    })?;
    out.push('\n');
    Ok(out)
}

fn hex_digest(d: Sha256) -> String {
    to_hex(&d.finalize())
}

/// Creates a new file readable and writable by its owner only.
fn create_private(path: &Path) -> Result<std::fs::File, Error> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    Ok(o.open(path)?)
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
