//! Ingest: source files through their mappings into the pool.
//!
//! For every row: read it ([`crate::read`]), cleanse it ([`crate::extract`]), skip it when the
//! same row was ingested before (idempotency: a row key per source and a hash of its bytes),
//! resolve its party to a customer ([`crate::identity::Resolver`], candidates from the
//! store's index), store its interaction and compensation grant, and rebuild the golden
//! record of every customer it touched ([`crate::survivorship`]). A row that cannot be read
//! or cleansed goes to the quarantine ([`crate::quarantine`]) and the ingest goes on.
//!
//! Nothing is lost: `rows_read = rows_stored + rows_quarantined + rows_known` for every run.
//!
//! Writes are batched ([`Durability::Batched`]) in chunks and ended by one flush, so an
//! interrupted ingest can simply be run again: rows already stored count as known.
//!
//! **Time shift.** [`IngestOptions::time_shift_days`] plus
//! [`IngestOptions::time_shift_millis`] is added to every time read from the data (interaction
//! times, observation times, address validity, grants), but not to birth dates. Dates inside
//! the data (a flight's date, the date inside a disruption reference) move by the whole days
//! alone, so a reference and its flight's date always agree. The demo uses
//! it to rebase its generated world onto the present: the world's clock (its as-of date at
//! 22:00 UTC, after the last planted event) becomes now, so that "delayed yesterday" is
//! yesterday and "voucher granted at 18:20 today" is a few hours ago whenever the demo is
//! built.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rapport_core::{
    Customer, CustomerId, InteractionId, Relationship, RelationshipKind, SourceRef, Timestamp,
};
use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};
use serde::{Deserialize, Serialize};

use crate::cleanse::{self, Problem, Reason};
use crate::error::Error;
use crate::extract::{
    Context, Extracted, GROUP_SOURCE, Plan, merge_fragment, merge_keeps_identity,
};
use crate::fragment::{Fragment, ResolvedFragment};
use crate::identity::{Decision, Evidence, MatchConfig, Prepared, Resolver};
use crate::mapping::{Manifest, Mapping};
use crate::quarantine::{self, Fnv, QuarantineEntry};
use crate::read::{self, RawRow, RowProblem};
use crate::survivorship::{BOOKING_REFS, NATIONAL_PHONES, Trust};

mod bulk;
mod golden;
mod held;
mod overlay;
mod pipeline;
mod rowpages;
mod writer;
use bulk::{Deferred, Doc, FirstLoad};
use held::Held;
use overlay::KeyOverlay;
pub use rowpages::{Layout, ROW_PAGES, row_seen, rows_seen, rows_seen_count};
use rowpages::{Reads, RowPages};
pub(crate) use rowpages::{Repoint, repoint as repoint_rows};
use writer::Writer;

/// Customers whose folded records a run keeps at most (a few KiB each: a customer with many
/// bookings has many records).
const PREPARED_CACHE: usize = 100_000;

/// Collection of stored fragments, keyed by source reference (`source:key`).
pub const FRAGMENTS: &str = "fragments";
/// Collection of ingested rows (idempotency), keyed by `source:row key`, one document per
/// row: how stores written before 2026-12-07 kept them. Rows are now kept in pages
/// ([`ROW_PAGES`]); the first ingest into such a store moves them there.
pub const ROWS: &str = "rows";
/// Collection of relationships waiting for the related record to be ingested.
pub const PENDING_RELATIONS: &str = "pending_relations";
/// Collection of repository settings (`trust`).
pub const META: &str = "repository_meta";
/// Collection of attach evidence, keyed by the attached record's source reference.
pub const MERGES: &str = "merges";
/// Collection of review items, keyed by the new record's source reference.
pub const REVIEWS: &str = "reviews";
/// Collection of customers whose records were stored but whose golden record is not rebuilt
/// yet, keyed by customer id, valued by the source references of their records. An ingest
/// interrupted between the two is completed by the next one (see `Run::recover`).
pub const UNBUILT: &str = "ingest_unbuilt";

/// Collection of the merges a run decided for its end (late merges, ties), written with the
/// row that decided them and removed once they are applied: a run killed before its end
/// leaves them for the next run, which applies them (`PendingMerge`).
pub const PENDING_MERGES: &str = "ingest_pending_merges";

/// A merge decided during a run and applied at its end.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum PendingMerge {
    /// A record alone in its customer that attaches to `0` (see [`crate::merge::merge_late`]).
    Late(CustomerId, Evidence),
    /// A record that ties customers together (see [`crate::merge::merge_ties`]).
    Tie(Evidence),
}

/// Rows between two progress lines in the log.
const PROGRESS_LOG_ROWS: u64 = 250_000;

/// A blocking key shared by more customers than this is skipped.
const BLOCK_CAP: usize = 200;
/// A blocking key shared by at most this many customers is enough on its own to compare
/// them; members of a larger block must share a second one.
const SMALL_BLOCK: usize = 12;

/// Keys that identify (a source record, an e-mail, a phone, a loyalty or national number):
/// everyone under them is a candidate, however many.
fn identifying(kind: IndexKind) -> bool {
    matches!(
        kind,
        IndexKind::SourceRef
            | IndexKind::Email
            | IndexKind::Phone
            | IndexKind::LoyaltyNumber
            | IndexKind::NationalId
    )
}

/// Bytes a source row takes in a file, about: a source's pages of rows seen are laid out for
/// its file's size over this (a first load's files; see `ingest/rowpages.rs`).
const ROW_BYTES_ESTIMATE: u64 = 150;

/// Bytes of a source file read into rows at a time.
const READ_PART_BYTES: usize = 8 << 20;

/// Bytes per write batch handed to the writer thread. sled pins a batch's log buffers and
/// epoch until the whole batch is applied: batches of 20,000 operations (megabytes) made a
/// 400,000-row ingest peak at 4.5 GB for 0.3 GB of data, 64 KiB batches at 1.2 GB, as fast
/// (`docs/benchmarks.md`, "Small write batches").
const WRITE_BYTES: usize = 64 << 10;

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Whole days added to every time read from the data (not birth dates); see the module
    /// documentation.
    pub time_shift_days: i64,
    /// Further milliseconds added to every time read from the data, after the whole days.
    pub time_shift_millis: i64,
    /// Show a progress bar on standard error (hidden when it is not a terminal).
    pub progress: bool,
    /// The time of ingest (the default observation time of party-only rows); `None` = now.
    pub now: Option<Timestamp>,
    /// Rows per chunk: the golden records of the customers a chunk touched are rebuilt once,
    /// at its end (rows, records and interactions are written as they come, in batches).
    pub chunk_rows: usize,
    /// At the end of the run, merge customers that a record tied together (it scored above
    /// the attach threshold against several customers; see [`crate::merge::merge_ties`]).
    /// Helps single-source deduplication (FEBRL: +0.8 points of F1); on the demo world's
    /// seven sources it merges households and costs precision (0.98 to 0.85), so it is off
    /// by default.
    pub merge_ties: bool,
    /// Take the first-load path when the store holds no customers and no rows: resolve in
    /// memory and write the results in sorted runs, golden records once at the end (see
    /// `docs/ARCHITECTURE.md`, "The first load"). Off, such a run takes the incremental path
    /// (same results, slower). A first load that was killed is always completed by the
    /// first-load path.
    pub first_load: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            time_shift_days: 0,
            time_shift_millis: 0,
            progress: false,
            now: None,
            chunk_rows: 1_000_000,
            merge_ties: false,
            first_load: true,
        }
    }
}

/// What an ingest did. `rows_read = rows_stored + rows_quarantined + rows_known`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Rows read from the files.
    pub rows_read: u64,
    /// Rows stored (new or changed).
    pub rows_stored: u64,
    /// Rows sent to the quarantine.
    pub rows_quarantined: u64,
    /// Rows already ingested before (same key, same bytes).
    pub rows_known: u64,
    /// Customers created.
    pub customers_created: u64,
    /// Source records attached to an existing customer (merges).
    pub merges: u64,
    /// Review items raised (possible duplicates kept apart for a steward).
    pub review_items: u64,
    /// Existing customers merged because a record tied them together.
    pub customers_merged: u64,
    /// Interactions stored.
    pub interactions_stored: u64,
    /// Compensation grants stored.
    pub grants_stored: u64,
    /// Quarantined rows of this run by reason.
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Rows read per second.
    pub rows_per_second: f64,
    /// Share of rows quarantined.
    pub quarantine_rate: f64,
    /// Share of rows already known.
    pub known_rate: f64,
    /// Per source file.
    pub files: Vec<FileReport>,
}

/// What an ingest did with one file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// Source name.
    pub source: String,
    /// File path.
    pub file: String,
    /// Rows read.
    pub rows_read: u64,
    /// Rows stored.
    pub rows_stored: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Rows already known.
    pub rows_known: u64,
}

impl IngestReport {
    fn add_file(&mut self, f: FileReport) {
        self.rows_read += f.rows_read;
        self.rows_stored += f.rows_stored;
        self.rows_quarantined += f.rows_quarantined;
        self.rows_known += f.rows_known;
        self.files.push(f);
    }

    fn finish(&mut self, started: Instant) {
        self.seconds = started.elapsed().as_secs_f64();
        let read = self.rows_read.max(1) as f64;
        self.rows_per_second = if self.seconds > 0.0 {
            self.rows_read as f64 / self.seconds
        } else {
            0.0
        };
        self.quarantine_rate = self.rows_quarantined as f64 / read;
        self.known_rate = self.rows_known as f64 / read;
    }
}

/// What the store remembers about an ingested row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSeen {
    /// Hash of the row's bytes.
    pub hash: u64,
    /// The interaction stored for it: customer, time and id.
    pub interaction: Option<(CustomerId, Timestamp, InteractionId)>,
}

/// An [`UNBUILT`] marker: the customers (id and source records) whose golden records a chunk
/// had not rebuilt yet when its rows were written.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Marker {
    /// One customer's source records, keyed by its id (markers written before 2026-12-02).
    Customer(Vec<String>),
    /// The customers of one write batch, keyed by run and batch.
    Batch(Vec<(u64, Vec<String>)>),
}

/// A relationship stated by `from` about a record not yet ingested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRelation {
    /// The record stating it.
    pub from: SourceRef,
    /// The relationship kind.
    pub kind: RelationshipKind,
    /// The related record.
    pub to: SourceRef,
}

/// A review item raised by ingest: the new customer may duplicate existing ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// The new customer created for the record.
    pub customer: CustomerId,
    /// The possible duplicates, best first.
    pub candidates: Vec<CustomerId>,
    /// Why.
    pub evidence: Evidence,
    /// When it was raised.
    pub at: Timestamp,
}

/// Ingests every source a manifest lists, in order, and records its trust order.
pub fn ingest_manifest(
    store: &Store,
    manifest: &Path,
    opts: &IngestOptions,
) -> Result<IngestReport, Error> {
    let m = Manifest::load(manifest)?;
    // Load every mapping first: a mistake in any of them stops the run before any row.
    let mut plans = Vec::new();
    for s in &m.sources {
        plans.push((Plan::new(Mapping::load(&s.mapping)?), s.files.clone()));
    }
    if let Some(r) = &m.rates {
        crate::rates::load_manifest_rates(store, manifest, r, opts.time_shift_days)?;
    }
    let trust = Trust {
        order: m.trust.clone(),
    };
    let mut b = Batch::default();
    b.put_doc(META, "trust", &trust)?;
    store.write(b, Durability::Batched)?;
    let inputs = vec![manifest.display().to_string()];
    let mut run = Run::new(store, trust, opts, inputs)?;
    run.recover()?;
    for (plan, files) in &plans {
        for f in files {
            run.file(plan, f)?;
        }
    }
    run.finish()
}

/// Ingests files of one source through its mapping.
pub fn ingest_files(
    store: &Store,
    mapping: &Path,
    files: &[PathBuf],
    opts: &IngestOptions,
) -> Result<IngestReport, Error> {
    let plan = Plan::new(Mapping::load(mapping)?);
    let trust = store.doc::<Trust>(META, "trust")?.unwrap_or_default();
    let inputs = std::iter::once(mapping)
        .chain(files.iter().map(PathBuf::as_path))
        .map(|p| p.display().to_string())
        .collect();
    let mut run = Run::new(store, trust, opts, inputs)?;
    run.recover()?;
    for f in files {
        run.file(&plan, f)?;
    }
    run.finish()
}

/// Retries quarantined rows with a (fixed) mapping: rows of the mapping's source that now
/// ingest leave the quarantine; the others stay, with their new reason.
pub fn retry_quarantine(
    store: &Store,
    mapping: &Path,
    opts: &IngestOptions,
) -> Result<(IngestReport, Vec<String>), Error> {
    let plan = Plan::new(Mapping::load(mapping)?);
    let trust = store.doc::<Trust>(META, "trust")?.unwrap_or_default();
    // Entries that keep only the start of their row cannot be read again: they stay.
    let entries: Vec<QuarantineEntry> = quarantine::list_readable(store)
        .0
        .into_iter()
        .filter(|e| e.source == plan.source() && e.is_whole())
        .collect();
    // Never a first load: its rows come from the quarantine of a store that has some.
    let mut run = Run::new(store, trust, opts, Vec::new())?;
    run.recover()?;
    run.register_source(&plan)?;
    let mut cleared = Vec::new();
    let mut file = FileReport {
        source: plan.source().to_string(),
        file: "(quarantine)".into(),
        ..FileReport::default()
    };
    for e in &entries {
        let mut bytes = Vec::new();
        if let Some(h) = &e.header {
            bytes.extend_from_slice(h);
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(&e.raw);
        bytes.push(b'\n');
        let path = PathBuf::from(&e.file);
        let parsed = read::read_bytes(&bytes, &path, &plan.mapping, &plan.columns)?;
        for mut row in parsed.rows {
            row.line = e.line;
            let ex = pipeline::extract(&plan, &row, run.ctx);
            run.row(&plan, &path, parsed.header.as_deref(), row, ex, &mut file)?;
            // Stored now, or found ingested already: either way no longer quarantined.
            if run.quarantined_last.is_none() {
                cleared.push(e.id.clone());
            }
        }
    }
    run.report.add_file(file);
    let report = run.finish()?;
    // Entries that now ingest leave the quarantine; failures were rewritten under their
    // (same) id with the new reason.
    let still: BTreeSet<String> = quarantine::list_readable(store)
        .0
        .into_iter()
        .map(|e| e.id)
        .collect();
    let cleared: Vec<String> = cleared
        .into_iter()
        .filter(|id| still.contains(id))
        .collect();
    quarantine::remove(store, &cleared)?;
    Ok((report, cleared))
}

/// A customer being changed in the current chunk.
struct Working {
    /// The stored customer (boxed: a first load holds a million `Working`s with none, and a
    /// `Customer` inline made each map slot some 860 bytes).
    existing: Option<Box<Customer>>,
    /// The customer's source records, encoded (`ingest/held.rs`).
    fragments: Held,
    changed: BTreeSet<String>,
    review: bool,
    /// Whether its index keys may differ from the stored ones: a record was added or said
    /// something new about who the party is (see [`Run::flush_chunk`]).
    keys_changed: bool,
}

struct Run<'s> {
    store: &'s Store,
    resolver: Resolver,
    trust: Trust,
    opts: IngestOptions,
    ctx: Context,
    report: IngestReport,
    started: Instant,
    batch: Batch,
    batch_rows: usize,
    dirty: HashMap<CustomerId, Working>,
    /// Index keys of records stored since the last chunk was written (on a first load: in
    /// this run), which the store does not answer for yet.
    pending_keys: KeyOverlay,
    /// Whether the store held no customers when the run began: then every index key is in
    /// `pending_keys` and the store is not asked.
    keys_in_memory: bool,
    owners: HashMap<String, CustomerId>,
    /// Candidates' records folded for comparison ([`Run::prepared_of`]).
    prepared: HashMap<CustomerId, Vec<Arc<Prepared>>>,
    /// Rows seen: the pages read or written by this run (`ingest/rowpages.rs`).
    row_pages: RowPages,
    /// Rows the current file is expected to hold (lays out the pages of a new source).
    expected_rows: u64,
    /// On a first load: the source whose rows are being read (its pages are written when
    /// another source begins, or at the end).
    load_source: Option<String>,
    /// On a first load: pages of a finished source were handed to the writer and must be
    /// applied before a page is read back.
    pages_unapplied: bool,
    grants: HashSet<(CustomerId, String)>,
    /// Disruption records touched by this run (by canonical id).
    disruptions: HashMap<String, rapport_core::Disruption>,
    quarantined: HashSet<String>,
    /// The id of the quarantine entry the last row went to (or matched), if any.
    quarantined_last: Option<String>,
    /// Attach evidence whose record also scored above the attach threshold against other
    /// customers: the record ties them together (merged at the end of the run).
    ties: Vec<Evidence>,
    /// Records that had a customer of their own and, with what a later row added, attach to
    /// another: that customer and the evidence (merged at the end of the run).
    late: Vec<(CustomerId, Evidence)>,
    ids: std::ops::Range<u64>,
    customer_ids: std::ops::Range<u64>,
    /// Applies the batches on its own thread.
    writer: Writer,
    /// Keys of the [`UNBUILT`] markers written in this chunk (removed once it is rebuilt).
    unbuilt: Vec<String>,
    /// Customers whose records changed since the rows were last handed to the writer.
    touched: HashSet<CustomerId>,
    /// This run's marker keys begin with it (unique per run).
    run_tag: u64,
    /// Rows read by this run so far (for the progress log).
    rows_seen: u64,
    /// Blocking keys found shared by more than [`BLOCK_CAP`] customers in this run.
    large_blocks: HashSet<IndexKey>,
    /// On the first-load path: the writes held for their sorted run (`ingest/bulk.rs`);
    /// then nothing is read from the store and no chunk is written before the end.
    bulk: Option<Deferred>,
}

enum Resolved {
    Existing(CustomerId),
    New,
    Attach(CustomerId, Box<Evidence>),
    Review(Vec<CustomerId>, Box<Evidence>),
}

impl<'s> Run<'s> {
    fn new(
        store: &'s Store,
        trust: Trust,
        opts: &IngestOptions,
        inputs: Vec<String>,
    ) -> Result<Run<'s>, Error> {
        let now = opts.now.unwrap_or_else(Timestamp::now);
        // Rows kept one document each (a store written before the pages) move into pages.
        let moved = rowpages::migrate(store)?;
        if moved > 0 {
            tracing::info!(rows = moved, "rows seen moved into pages");
        }
        // Pages laid out for fewer rows than their source holds now are split (not under a
        // killed first load: its rerun writes its pages again as it laid them out).
        if !store.doc_exists(META, bulk::MARKER)? {
            rowpages::relayout(store)?;
        }
        let empty = !rowpages::any(store)?;
        let mut resumed = false;
        let nothing_stored = empty && store.last_customer_id()?.is_none();
        let found = store
            .doc::<FirstLoad>(META, bulk::MARKER)?
            // A first load that stopped before storing anything (a file it could not read)
            // left nothing to complete: another input may be loaded.
            .filter(|m| !(nothing_stored && m.inputs != inputs));
        let marker = match found {
            // A first load was killed: it is done again whole, with the same ids.
            Some(m) => {
                if m.inputs != inputs {
                    return Err(Error::Invalid(format!(
                        "a first load of {} was interrupted and is not complete: run that \
                         ingest again to complete it (or start from an empty database)",
                        m.inputs.join(" ")
                    )));
                }
                tracing::info!("completing an interrupted first load: loading it again whole");
                resumed = true;
                Some(m)
            }
            None if opts.first_load
                && empty
                && !inputs.is_empty()
                && store.last_customer_id()?.is_none() =>
            {
                let m = FirstLoad {
                    customer_base: store.next_customer_ids(0)?.start,
                    interaction_base: store.next_interaction_ids(0)?.start,
                    inputs,
                };
                let mut b = Batch::default();
                b.put_doc(META, bulk::MARKER, &m)?;
                store.write(b, Durability::Durable)?;
                Some(m)
            }
            None => None,
        };
        let first_load = empty || marker.is_some();
        // The defaults plus the steward's keep-apart decisions.
        let config: MatchConfig = crate::merge::match_config(store)?;
        Ok(Run {
            store,
            resolver: Resolver::new(config),
            trust,
            opts: opts.clone(),
            ctx: Context {
                shift_days: opts.time_shift_days,
                shift_millis: opts
                    .time_shift_days
                    .saturating_mul(86_400_000)
                    .saturating_add(opts.time_shift_millis),
                now,
            },
            report: IngestReport::default(),
            started: Instant::now(),
            batch: Batch::default(),
            batch_rows: 0,
            dirty: HashMap::new(),
            pending_keys: KeyOverlay::default(),
            owners: HashMap::new(),
            prepared: HashMap::new(),
            row_pages: RowPages::new(if first_load {
                Reads::RunOnly
            } else {
                Reads::Store
            }),
            expected_rows: 0,
            load_source: None,
            pages_unapplied: false,
            grants: HashSet::new(),
            disruptions: HashMap::new(),
            quarantined: HashSet::new(),
            quarantined_last: None,
            ties: Vec::new(),
            late: Vec::new(),
            // A first load numbers from the counters as they were when it began (a rerun of a
            // killed one hands out the same ids); the store's counters follow its writes.
            ids: marker
                .as_ref()
                .map_or(0..0, |m| m.interaction_base..u64::MAX),
            customer_ids: marker.as_ref().map_or(0..0, |m| m.customer_base..u64::MAX),
            writer: Writer::start(store)?,
            unbuilt: Vec::new(),
            touched: HashSet::new(),
            run_tag: now.as_millis() as u64,
            rows_seen: 0,
            keys_in_memory: marker.is_some() || (first_load && store.last_customer_id()?.is_none()),
            large_blocks: HashSet::new(),
            bulk: marker.map(|_| Deferred::new(resumed)),
        })
    }

    /// Completes an earlier ingest that stopped after storing records but before rebuilding
    /// their customers: the customers named by [`UNBUILT`] markers are rebuilt from their
    /// stored records.
    fn recover(&mut self) -> Result<(), Error> {
        // A first load (or the rerun of a killed one) has nothing to recover: a killed one's
        // decisions are made again by this run.
        if self.bulk.is_some() {
            return Ok(());
        }
        // Merges an earlier run decided but did not apply are applied at this run's end.
        for doc in self.store.docs::<PendingMerge>(PENDING_MERGES, "") {
            match doc?.1 {
                PendingMerge::Late(target, evidence) => self.late.push((target, evidence)),
                PendingMerge::Tie(evidence) => self.ties.push(evidence),
            }
        }
        if !self.late.is_empty() || !self.ties.is_empty() {
            tracing::info!(
                late = self.late.len(),
                ties = self.ties.len(),
                "completing an interrupted ingest: applying the merges it decided"
            );
        }
        let docs: Vec<(String, Marker)> = self
            .store
            .docs::<Marker>(UNBUILT, "")
            .collect::<Result<_, _>>()?;
        if docs.is_empty() {
            return Ok(());
        }
        let mut marked: Vec<(CustomerId, Vec<String>)> = Vec::new();
        for (key, marker) in docs {
            match marker {
                // One customer per marker, keyed by its id (stores of before 2026-12-02).
                Marker::Customer(sources) => {
                    if let Ok(id) = key.parse::<u64>() {
                        marked.push((CustomerId(id), sources));
                    }
                }
                Marker::Batch(customers) => marked.extend(
                    customers
                        .into_iter()
                        .map(|(id, sources)| (CustomerId(id), sources)),
                ),
            }
            self.unbuilt.push(key);
        }
        tracing::info!(
            customers = marked.len(),
            "completing an interrupted ingest: rebuilding its customers"
        );
        for (id, sources) in marked {
            self.load_working(id)?;
            for src in sources {
                let Some(rf) = self.store.doc::<ResolvedFragment>(FRAGMENTS, &src)? else {
                    continue;
                };
                if rf.customer != id {
                    continue;
                }
                self.owners.insert(src.clone(), id);
                if let Some(w) = self.dirty.get_mut(&id) {
                    w.fragments.insert(&src, &rf.fragment)?;
                    w.keys_changed = true;
                }
            }
        }
        self.flush_chunk()
    }

    /// Hands the rows of the chunk so far to the writer, with the records they changed and
    /// one [`UNBUILT`] marker naming the customers whose golden records wait for the chunk's
    /// end.
    fn write_rows(&mut self) -> Result<(), Error> {
        let mut marked: Vec<(u64, Vec<String>)> = Vec::new();
        for id in std::mem::take(&mut self.touched) {
            let Some(w) = self.dirty.get_mut(&id) else {
                continue;
            };
            if w.changed.is_empty() {
                continue;
            }
            for src in std::mem::take(&mut w.changed) {
                if let Some(fragment) = w.fragments.get(&src)? {
                    self.batch.put_doc_compact_sealed(
                        FRAGMENTS,
                        &src,
                        id,
                        &ResolvedFragment {
                            fragment,
                            customer: id,
                        },
                    )?;
                }
            }
            marked.push((id.0, w.fragments.keys().map(str::to_string).collect()));
        }
        if !marked.is_empty() {
            let key = format!("b{:016x}-{:010}", self.run_tag, self.unbuilt.len());
            self.batch.put_doc(UNBUILT, &key, &marked)?;
            self.unbuilt.push(key);
        }
        // The pages of rows seen these rows changed, whole, in the batch of their rows.
        self.row_pages.put_dirty(&mut self.batch, |_| Ok(()))?;
        let batch = std::mem::take(&mut self.batch);
        self.writer.write(batch)?;
        if self.row_pages.over_budget() {
            // Pages are dropped only once the store has them.
            self.writer.barrier()?;
            self.row_pages.drop_clean();
        }
        Ok(())
    }

    /// Remembers the source's name and phone region (search uses them).
    fn register_source(&mut self, plan: &Plan) -> Result<(), Error> {
        let mut sources: Vec<String> = self.store.doc(META, "sources")?.unwrap_or_default();
        let mut regions: Vec<String> = self.store.doc(META, "phone_regions")?.unwrap_or_default();
        let mut changed = false;
        if !sources.iter().any(|s| s == plan.source()) {
            sources.push(plan.source().to_string());
            changed = true;
        }
        if let Some(r) = &plan.mapping.source.phone_region {
            let r = r.to_ascii_uppercase();
            if !regions.contains(&r) {
                regions.push(r);
                changed = true;
            }
        }
        let mut b = Batch::default();
        if changed {
            b.put_doc(META, "sources", &sources)?;
            b.put_doc(META, "phone_regions", &regions)?;
        }
        // When the source was last ingested: the stage assessment's freshness measure.
        b.put_doc(
            META,
            &format!("ingested/{}", plan.source()),
            &Timestamp::now(),
        )?;
        self.store.write(b, Durability::Batched)?;
        Ok(())
    }

    fn file(&mut self, plan: &Plan, path: &Path) -> Result<(), Error> {
        self.register_source(plan)?;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        self.expected_rows = size / ROW_BYTES_ESTIMATE;
        if self.bulk.is_some() {
            // A first load writes a source's pages of rows seen once it has read its rows.
            let source = rowpages::page_source(&format!("{}:", plan.source())).to_string();
            if let Some(done) = self.load_source.take()
                && done != source
            {
                self.row_pages.write_source(&done, &mut self.writer)?;
                self.pages_unapplied = true;
            }
            self.load_source = Some(source);
        }
        let bar = if self.opts.progress {
            let b = indicatif::ProgressBar::new(size);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>14} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_message(plan.source().to_string());
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut file = FileReport {
            source: plan.source().to_string(),
            file: path.display().to_string(),
            ..FileReport::default()
        };
        // Large files are read in parts: rows of one part at a time are held in memory, read
        // and extracted on a thread of their own (`ingest/pipeline.rs`).
        let mut read_bytes = 0u64;
        let ctx = self.ctx;
        pipeline::read_extracted(path, plan, ctx, READ_PART_BYTES, |part| {
            let header = part.header;
            for (n, (row, ex)) in part.rows.into_iter().enumerate() {
                read_bytes += row.raw.len() as u64 + 1;
                self.row(
                    plan,
                    path,
                    header.as_deref().map(Vec::as_slice),
                    row,
                    ex,
                    &mut file,
                )?;
                self.rows_seen += 1;
                if self.rows_seen.is_multiple_of(PROGRESS_LOG_ROWS) {
                    // For runs without a terminal (the bar is hidden there) and for logs.
                    let secs = self.started.elapsed().as_secs_f64();
                    tracing::info!(
                        rows = self.rows_seen,
                        seconds = format!("{secs:.1}"),
                        rows_per_second = format!("{:.0}", self.rows_seen as f64 / secs),
                        source = plan.source(),
                        "ingesting"
                    );
                }
                if n % 256 == 0 {
                    bar.set_position(read_bytes);
                }
            }
            if part.done > 0 {
                read_bytes = part.done;
                bar.set_position(read_bytes);
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        self.report.add_file(file);
        Ok(())
    }

    fn quarantine(
        &mut self,
        plan: &Plan,
        path: &Path,
        header: Option<&[u8]>,
        row: &RawRow,
        problem: RowProblem,
        file: &mut FileReport,
    ) -> Result<(), Error> {
        file.rows_read += 1;
        let id = QuarantineEntry::id_for(plan.source(), path, &row.raw);
        self.quarantined_last = Some(id.clone());
        let known = !self.quarantined.insert(id.clone())
            || self.bulk.is_none()
                && self
                    .store
                    .doc::<QuarantineEntry>(quarantine::COLLECTION, &id)
                    // An entry too large to read back (written by an older build) is rewritten.
                    .ok()
                    .flatten()
                    .is_some_and(|e| {
                        e.reason == problem.problem.reason && e.field == problem.field
                    });
        if known {
            file.rows_known += 1;
            return Ok(());
        }
        let entry = QuarantineEntry::new(quarantine::Quarantined {
            source: plan.source(),
            mapping: plan.mapping.path.display().to_string(),
            file: path,
            line: row.line,
            field: problem.field,
            reason: problem.problem.reason,
            detail: problem.problem.detail,
            raw: &row.raw,
            header,
            at: self.ctx.now,
        });
        *self
            .report
            .quarantined_by_reason
            .entry(entry.reason.as_str().to_string())
            .or_insert(0) += 1;
        match &mut self.bulk {
            Some(d) => d.doc(
                quarantine::COLLECTION,
                &id,
                Doc::Quarantine(Box::new(entry)),
            ),
            None => self.batch.put_doc(quarantine::COLLECTION, &id, &entry)?,
        }
        file.rows_quarantined += 1;
        self.bump()
    }

    fn row(
        &mut self,
        plan: &Plan,
        path: &Path,
        header: Option<&[u8]>,
        row: RawRow,
        extracted: Result<Extracted, RowProblem>,
        file: &mut FileReport,
    ) -> Result<(), Error> {
        self.quarantined_last = None;
        // Read and extracted on the reader thread (`ingest/pipeline.rs`).
        let mut ex: Extracted = match extracted {
            Ok(e) => e,
            Err(p) => return self.quarantine(plan, path, header, &row, p, file),
        };
        if ex.row_key.is_empty() {
            ex.row_key = format!("h:{:016x}", Fnv::hash(&row.raw));
        } else if ex.row_key.starts_with("p:") {
            // Party-only rows: every distinct version of a record is its own row, so that
            // re-reading an older version is known rather than an update.
            ex.row_key = format!("{}#{:016x}", ex.row_key, Fnv::hash(&row.raw));
        }
        let row_doc = format!("{}:{}", plan.source(), ex.row_key);
        let hash = Fnv::hash(&row.raw);
        let digest = bulk::row_digest(&row_doc);
        let page_source = rowpages::page_source(&row_doc);
        if self.pages_unapplied && self.row_pages.was_written(page_source) {
            // A first load met a source again whose pages it wrote: read them back.
            self.writer.barrier()?;
            self.pages_unapplied = false;
        }
        let seen = self.row_pages.get(self.store, page_source, digest)?;
        if seen.as_ref().is_some_and(|s| s.hash == hash) {
            file.rows_read += 1;
            file.rows_known += 1;
            return Ok(());
        }

        let src = ex.fragment.source.to_string();
        let resolved = self.resolve(&ex.fragment)?;
        let known = matches!(resolved, Resolved::Existing(_));
        let customer_if_known = match &resolved {
            Resolved::Existing(c) | Resolved::Attach(c, _) => Some(*c),
            _ => None,
        };
        // A second grant for the same customer and disruption is refused.
        if let (Some(g), Some(c)) = (&ex.grant, customer_if_known)
            && (self.grants.contains(&(c, g.disruption.clone()))
                || self.bulk.is_none() && self.store.grant(c, &g.disruption)?.is_some())
        {
            let problem = RowProblem {
                field: plan
                    .mapping
                    .compensation
                    .as_ref()
                    .map(|c| c.disruption.clone())
                    .unwrap_or_default(),
                problem: Problem::new(
                    Reason::DuplicateGrant,
                    format!(
                        "{c} already has a grant for disruption {:?}",
                        cleanse::clip(&g.disruption)
                    ),
                ),
            };
            return self.quarantine(plan, path, header, &row, problem, file);
        }

        let customer = match resolved {
            Resolved::Existing(c) => c,
            Resolved::New => self.new_customer()?,
            Resolved::Attach(c, evidence) => {
                self.report.merges += 1;
                let tie = evidence.others.iter().any(|(_, s)| *s >= evidence.upper);
                if tie && self.opts.merge_ties {
                    let key = format!("tie/{src}");
                    let pending = PendingMerge::Tie((*evidence).clone());
                    match &mut self.bulk {
                        Some(d) => {
                            d.sealed(PENDING_MERGES, &key, c, Doc::Pending(Box::new(pending)))
                        }
                        None => {
                            self.batch
                                .put_doc_compact_sealed(PENDING_MERGES, &key, c, &pending)?
                        }
                    }
                }
                match &mut self.bulk {
                    Some(d) => d.sealed(MERGES, &src, c, Doc::Merge(evidence.clone())),
                    None => self
                        .batch
                        .put_doc_compact_sealed(MERGES, &src, c, &*evidence)?,
                }
                if tie {
                    self.ties.push((*evidence).clone());
                }
                c
            }
            Resolved::Review(candidates, evidence) => {
                let c = self.new_customer()?;
                self.report.review_items += 1;
                let item = ReviewItem {
                    customer: c,
                    candidates,
                    evidence: *evidence,
                    at: self.ctx.now,
                };
                match &mut self.bulk {
                    Some(d) => d.sealed(REVIEWS, &src, c, Doc::Review(Box::new(item))),
                    None => self.batch.put_doc_compact_sealed(REVIEWS, &src, c, &item)?,
                }
                if let Some(w) = self.dirty.get_mut(&c) {
                    w.review = true;
                }
                c
            }
        };
        self.load_working(customer)?;
        let merged = {
            let Some(w) = self.dirty.get_mut(&customer) else {
                return Err(Error::Invalid(format!("customer {customer} vanished")));
            };
            // A first load writes every record at its end: it keeps no list of the changed
            // ones (a third copy of every source reference, and a set insert per row).
            if self.bulk.is_none() {
                w.changed.insert(src.clone());
            }
            let merged = match w.fragments.get(&src)? {
                // A row that repeats what its record says changes nothing resolution reads:
                // merged in place, no copy to compare before and after.
                Some(mut old) if merge_keeps_identity(&old, &ex.fragment) => {
                    merge_fragment(&mut old, ex.fragment);
                    w.fragments.insert(&src, &old)?;
                    None
                }
                Some(before) => {
                    let mut merged = before.clone();
                    merge_fragment(&mut merged, ex.fragment);
                    w.fragments.insert(&src, &merged)?;
                    // Most rows of a known record repeat what it said: then its keys and
                    // folded form stand (only the observation time moved).
                    (!same_identity(&before, &merged)).then(|| {
                        let gained = gained_identifier(&before, &merged);
                        (merged, gained)
                    })
                }
                None => {
                    w.fragments.insert(&src, &ex.fragment)?;
                    Some((ex.fragment, false))
                }
            };
            w.keys_changed |= merged.is_some();
            merged
        };
        if self.bulk.is_none() {
            self.touched.insert(customer);
        }
        self.owners.insert(src, customer);
        for f in std::mem::take(&mut ex.related) {
            self.ensure_party(f)?;
        }
        if let Some((merged, gained)) = merged {
            // A record alone in its customer that now carries an identifier it lacked (a
            // caller who gave a typed name first and an e-mail on the next call) is resolved
            // again, as if it had arrived so: its customer joins the one it attaches to at the
            // end.
            if gained && known && self.alone(customer) {
                // Merging customers asks for more than names: a rule or an identifier.
                if let Resolved::Attach(target, evidence) =
                    self.resolve_among(&merged, Some(customer))?
                    && (evidence.rule.is_some() || evidence.agrees_beyond_names())
                {
                    let key = format!("late/{}", evidence.record);
                    let pending = PendingMerge::Late(target, (*evidence).clone());
                    match &mut self.bulk {
                        Some(d) => d.sealed(
                            PENDING_MERGES,
                            &key,
                            customer,
                            Doc::Pending(Box::new(pending)),
                        ),
                        None => self.batch.put_doc_compact_sealed(
                            PENDING_MERGES,
                            &key,
                            customer,
                            &pending,
                        )?,
                    }
                    self.late.push((target, *evidence));
                }
            }
            self.record_changed(customer, &merged);
            for k in self
                .resolver
                .keys(&merged)
                .into_iter()
                .chain(passenger_keys(&merged))
                .chain(namesake_key(&merged))
            {
                self.pending_keys.add(&k, customer);
            }
        }

        let mut stored_interaction = None;
        if let Some(mut it) = ex.interaction {
            if let Some((c, at, id)) = seen.as_ref().and_then(|s| s.interaction) {
                match &mut self.bulk {
                    Some(d) => d.remove_interaction(c, at, id),
                    None => self.batch.remove_interaction(c, at, id),
                }
            }
            it.id = self.next_interaction_id()?;
            it.customer = customer;
            self.report.interactions_stored += 1;
            stored_interaction = Some((customer, it.at, it.id));
            if let Some(d) = ex.disruption.take() {
                if self.bulk.is_some() {
                    crate::disruption::note_in(&mut self.disruptions, d, customer);
                } else {
                    crate::disruption::note(
                        self.store,
                        &mut self.disruptions,
                        &mut self.batch,
                        d,
                        customer,
                    )?;
                }
            }
            if let Some(mut g) = ex.grant {
                g.customer = customer;
                g.interaction = it.id;
                // The disruption on record says what happened to this customer (a mapping's
                // fixed kind is only the fallback): a voucher for a denied boarding is one.
                let affected = match self.disruptions.get(&g.disruption) {
                    Some(d) => d.affected(customer).cloned(),
                    None if self.bulk.is_some() => None,
                    None => self
                        .store
                        .doc::<rapport_core::Disruption>(
                            crate::disruption::DISRUPTIONS,
                            &g.disruption,
                        )?
                        .and_then(|d| d.affected(customer).cloned()),
                };
                if let Some(a) = affected {
                    g.kind = a.kind;
                    if g.delay_minutes.is_none() {
                        g.delay_minutes = a.delay_minutes;
                    }
                }
                self.grants.insert((customer, g.disruption.clone()));
                self.report.grants_stored += 1;
                match &mut self.bulk {
                    Some(d) => d.grant(g),
                    None => self.batch.insert_grant(&g),
                }
            }
            match &mut self.bulk {
                Some(d) => d.interaction(it),
                None => self.batch.put_interaction(&it),
            }
        }
        let seen = RowSeen {
            hash,
            interaction: stored_interaction,
        };
        self.row_pages.set(
            self.store,
            rowpages::page_source(&row_doc),
            digest,
            &seen,
            self.expected_rows,
        )?;
        file.rows_read += 1;
        file.rows_stored += 1;
        self.bump()
    }

    /// Creates a customer for a related party (a corporate account on a booking) unless its
    /// record is known.
    fn ensure_party(&mut self, f: Fragment) -> Result<(), Error> {
        let src = f.source.to_string();
        if self.owner(&src)?.is_some() {
            return Ok(());
        }
        let c = self.new_customer()?;
        for k in self.resolver.keys(&f) {
            self.pending_keys.add(&k, c);
        }
        self.owners.insert(src.clone(), c);
        if let Some(w) = self.dirty.get_mut(&c) {
            w.fragments.insert(&src, &f)?;
            w.keys_changed = true;
            if self.bulk.is_none() {
                w.changed.insert(src);
                self.touched.insert(c);
            }
        }
        Ok(())
    }

    fn bump(&mut self) -> Result<(), Error> {
        if let Some(d) = &mut self.bulk {
            // A first load writes its golden records once, at the end.
            if d.len() >= bulk::RUN_OPS {
                d.write_run(self.store, &mut self.writer)?;
            }
            return Ok(());
        }
        self.batch_rows += 1;
        if self.batch_rows >= self.opts.chunk_rows.max(1) {
            self.flush_chunk()?;
        } else if self.batch.bytes() >= WRITE_BYTES {
            self.write_rows()?;
        }
        Ok(())
    }

    fn new_customer(&mut self) -> Result<CustomerId, Error> {
        if self.customer_ids.is_empty() {
            self.customer_ids = self.store.next_customer_ids(1024)?;
        }
        let id = CustomerId(self.customer_ids.next().unwrap_or_default());
        self.report.customers_created += 1;
        self.dirty.insert(
            id,
            Working {
                existing: None,
                fragments: Held::default(),
                changed: BTreeSet::new(),
                review: false,
                keys_changed: true,
            },
        );
        Ok(id)
    }

    fn next_interaction_id(&mut self) -> Result<InteractionId, Error> {
        if self.ids.is_empty() {
            self.ids = self.store.next_interaction_ids(4096)?;
        }
        let id = self.ids.next().unwrap_or_default();
        Ok(InteractionId(id))
    }

    /// The customer a stored or pending source record belongs to.
    fn owner(&self, source_ref: &str) -> Result<Option<CustomerId>, Error> {
        if let Some(c) = self.owners.get(source_ref) {
            return Ok(Some(*c));
        }
        if self.bulk.is_some() {
            return Ok(None);
        }
        Ok(self
            .store
            .doc::<ResolvedFragment>(FRAGMENTS, source_ref)?
            .map(|r| r.customer))
    }

    fn resolve(&mut self, f: &Fragment) -> Result<Resolved, Error> {
        self.resolve_among(f, None)
    }

    /// Whether the customer is one source record alone (stored and in this run).
    fn alone(&self, id: CustomerId) -> bool {
        self.dirty.get(&id).is_some_and(|w| {
            w.fragments.len() == 1 && w.existing.as_ref().is_none_or(|c| c.identifiers.len() <= 1)
        })
    }

    /// Resolves a record: the customer that owns it, or, with `exclude` (its own customer),
    /// the decision among all the other customers.
    fn resolve_among(
        &mut self,
        f: &Fragment,
        exclude: Option<CustomerId>,
    ) -> Result<Resolved, Error> {
        if exclude.is_none()
            && let Some(c) = self.owner(&f.source.to_string())?
        {
            return Ok(Resolved::Existing(c));
        }
        // A passenger on a booking (booking reference, family name and initial) is one person:
        // a deterministic key for sources that know people only by booking and name.
        let mut on_booking: Vec<CustomerId> = Vec::new();
        for k in passenger_keys(f) {
            for c in self.lookup(&k)? {
                if !on_booking.contains(&c) && Some(c) != exclude {
                    on_booking.push(c);
                }
            }
        }
        if on_booking.len() == 1 {
            let c = on_booking[0];
            let frags = self.fragments_of(c)?;
            // The evidence is kept against the record on the same booking.
            let mine = passenger_keys(f);
            let best = frags
                .iter()
                .find(|o| passenger_keys(o).iter().any(|k| mine.contains(k)))
                .or_else(|| frags.first())
                .map(|o| self.resolver.evidence(f, o));
            if let Some(mut ev) = best {
                ev.rule = Some("same passenger on a booking".to_string());
                return Ok(Resolved::Attach(c, Box::new(ev)));
            }
        }
        let keys = self.resolver.keys(f);
        // How many customers hold each key (for the e-mail and phone weights).
        let mut held: Vec<(&IndexKey, u32)> = Vec::with_capacity(keys.len());
        let mut ids: Vec<CustomerId> = on_booking;
        // Blocks a customer shares with the record, a small block counting twice.
        let mut shared: HashMap<CustomerId, u32> = HashMap::new();
        for k in &keys {
            let pending = self.pending_keys.get(k);
            // Keys shared by very many customers carry no information (a shared office
            // phone, a common birthday): read no more of them than it takes to tell. A source
            // record is one record, however many customers claim it.
            let cap = if k.kind == IndexKind::SourceRef {
                usize::MAX
            } else {
                BLOCK_CAP
            };
            // A block only grows during a run: once over the cap it is not read again.
            if self.large_blocks.contains(k) {
                held.push((k, u32::try_from(cap.saturating_add(1)).unwrap_or(u32::MAX)));
                continue;
            }
            let found = self.stored_under(k, cap.saturating_add(1))?;
            let size = distinct(&found, pending);
            held.push((k, u32::try_from(size).unwrap_or(u32::MAX)));
            if size > cap {
                self.large_blocks.insert(k.clone());
                continue;
            }
            if identifying(k.kind) {
                for c in found.into_iter().chain(pending.iter().copied()) {
                    if !ids.contains(&c) {
                        ids.push(c);
                    }
                }
                continue;
            }
            let weight = if size <= SMALL_BLOCK { 2 } else { 1 };
            for c in found.into_iter().chain(pending.iter().copied()) {
                *shared.entry(c).or_insert(0) += weight;
            }
        }
        // A customer met in one large block only (same birthday, same name in a big city) is
        // not worth comparing: a true duplicate shares a second block or a small one. This
        // keeps the comparisons per record flat as the population grows.
        let mut blocked: Vec<CustomerId> = shared
            .into_iter()
            .filter(|(c, n)| *n >= 2 && !ids.contains(c))
            .map(|(c, _)| c)
            .collect();
        blocked.sort_unstable();
        ids.extend(blocked);
        ids.retain(|c| Some(*c) != exclude);
        if ids.is_empty() {
            return Ok(Resolved::New);
        }
        let mut candidates = Vec::with_capacity(ids.len());
        for id in ids {
            let records = self.prepared_of(id)?;
            if !records.is_empty() {
                candidates.push((id, records));
            }
        }
        let mut me = Prepared::new(f);
        let count = |kind: IndexKind, value: &str| {
            held.iter()
                .find(|(k, _)| k.kind == kind && k.value == value)
                .map_or(0, |(_, n)| *n)
        };
        me.email_holders = me
            .emails
            .iter()
            .map(|e| count(IndexKind::Email, e))
            .collect();
        me.phone_holders = me
            .phones
            .iter()
            .map(|p| count(IndexKind::Phone, p))
            .collect();
        if let Some(k) = namesake_key(f) {
            let found = self.stored_under(&k, NAMESAKES_READ)?;
            let pending = self.pending_keys.get(&k);
            me.namesakes = u32::try_from(distinct(&found, pending)).unwrap_or(u32::MAX);
        }
        Ok(match self.resolver.decide_prepared(&me, &candidates) {
            Decision::Attach { customer, evidence } => {
                Resolved::Attach(customer, Box::new(evidence))
            }
            Decision::Review {
                customers,
                evidence,
            } => Resolved::Review(customers, Box::new(evidence)),
            Decision::New => Resolved::New,
        })
    }

    /// Customers under a key, stored or written in this chunk.
    fn lookup(&self, k: &IndexKey) -> Result<Vec<CustomerId>, Error> {
        let mut ids = self.stored_under(k, usize::MAX)?;
        for c in self.pending_keys.get(k) {
            if !ids.contains(c) {
                ids.push(*c);
            }
        }
        Ok(ids)
    }

    /// At most `n` customers the store has under a key (none when every key is in memory).
    fn stored_under(&self, k: &IndexKey, n: usize) -> Result<Vec<CustomerId>, Error> {
        if self.keys_in_memory {
            return Ok(Vec::new());
        }
        Ok(self.store.index_lookup_at_most(k, n)?)
    }

    /// A candidate's records folded for comparison, kept for the run (a customer is a
    /// candidate for many records; folding is a fifth of the resolver's work otherwise).
    fn prepared_of(&mut self, id: CustomerId) -> Result<Vec<Arc<Prepared>>, Error> {
        if let Some(p) = self.prepared.get(&id) {
            return Ok(p.clone());
        }
        let records: Vec<Arc<Prepared>> = self
            .fragments_of(id)?
            .iter()
            .map(|f| Arc::new(Prepared::new(f)))
            .collect();
        if self.prepared.len() >= PREPARED_CACHE {
            self.prepared.clear();
        }
        self.prepared.insert(id, records.clone());
        Ok(records)
    }

    /// Keeps the folded records of a customer in step with a changed record.
    fn record_changed(&mut self, id: CustomerId, f: &Fragment) {
        if let Some(list) = self.prepared.get_mut(&id) {
            let p = Arc::new(Prepared::new(f));
            match list.iter_mut().find(|x| x.source == f.source) {
                Some(x) => *x = p,
                None => list.push(p),
            }
        }
    }

    fn fragments_of(&self, id: CustomerId) -> Result<Vec<Fragment>, Error> {
        if let Some(w) = self.dirty.get(&id) {
            return w.fragments.decoded();
        }
        if self.bulk.is_some() {
            return Ok(Vec::new());
        }
        let Some(c) = self.store.customer(id)? else {
            return Ok(Vec::new());
        };
        load_fragments(self.store, &c)
    }

    fn load_working(&mut self, id: CustomerId) -> Result<(), Error> {
        if self.dirty.contains_key(&id) {
            return Ok(());
        }
        let existing = match self.bulk {
            Some(_) => None,
            None => self.store.customer(id)?.map(Box::new),
        };
        let mut fragments = Held::default();
        if let Some(c) = &existing {
            for f in load_fragments(self.store, c)? {
                fragments.insert(&f.source.to_string(), &f)?;
            }
        }
        // A customer whose stored records are not all found is keyed again from those that are.
        let keys_changed = existing
            .as_ref()
            .is_none_or(|c| fragments.len() != c.identifiers.len());
        self.dirty.insert(
            id,
            Working {
                existing,
                fragments,
                changed: BTreeSet::new(),
                review: false,
                keys_changed,
            },
        );
        Ok(())
    }

    /// Logs what the run holds in memory, structure by structure (counts and bytes, about),
    /// with the process's resident memory: `docs/benchmarks.md`, "#23".
    fn census(&self) {
        let mut records = 0usize;
        let mut record_bytes = 0usize;
        let mut key_bytes = 0usize;
        for w in self.dirty.values() {
            records += w.fragments.len();
            record_bytes += w.fragments.heap_bytes();
            for k in &w.changed {
                key_bytes += k.capacity() + std::mem::size_of::<String>() + 8;
            }
        }
        let owner_bytes: usize = self.owners.capacity() * (std::mem::size_of::<String>() + 9)
            + self.owners.keys().map(String::capacity).sum::<usize>();
        let prepared: usize = self.prepared.values().map(Vec::len).sum();
        let (keys, overlay_bytes) = self.pending_keys.census();
        let (page_entries, page_bytes) = self.row_pages.census();
        let mb = |b: usize| format!("{:.0}", b as f64 / 1_048_576.0);
        tracing::info!(
            rss_mb = rss_bytes().map_or_else(|| "?".into(), |b| mb(b as usize)),
            resolving_thread_cpu_seconds =
                thread_cpu_seconds().map_or_else(|| "?".into(), |s| format!("{s:.1}")),
            customers = self.dirty.len(),
            working_map_mb = mb(self.dirty.capacity() * (8 + std::mem::size_of::<Working>())),
            records,
            records_mb = mb(record_bytes),
            record_keys_mb = mb(key_bytes),
            owners = self.owners.len(),
            owners_mb = mb(owner_bytes),
            index_keys = keys,
            index_keys_mb = mb(overlay_bytes),
            prepared_customers = self.prepared.len(),
            prepared_records = prepared,
            row_page_entries = page_entries,
            row_pages_mb = mb(page_bytes),
            grants = self.grants.len(),
            disruptions = self.disruptions.len(),
            "first load: memory census at the end of resolution"
        );
    }

    /// Rebuilds every customer touched in this chunk and writes the chunk.
    fn flush_chunk(&mut self) -> Result<(), Error> {
        // The chunk's rows and records first, with the markers: the rebuild below is written
        // in several batches, and a run killed in the middle of it is completed by the next.
        let began = Instant::now();
        if self.bulk.is_some() {
            self.census();
        }
        if let Some(d) = &self.bulk {
            tracing::info!(
                customers = self.dirty.len(),
                runs = d.runs,
                seconds = format!("{:.1}", self.started.elapsed().as_secs_f64()),
                "first load: writing the golden records and the last sorted run"
            );
            // A first load writes every record with its customer below.
            self.touched.clear();
            bulk::begin_index(self.store)?;
        } else {
            self.write_rows()?;
        }
        // Relationships stated by the touched customers' fragments.
        let mut forward: HashMap<CustomerId, Vec<Relationship>> = HashMap::new();
        let mut inverse: Vec<(CustomerId, Relationship)> = Vec::new();
        // In id order, so the relationships each customer gets are listed in one order
        // whatever the map's (a rerun of a killed first load writes the same records).
        let mut ids: Vec<CustomerId> = self.dirty.keys().copied().collect();
        ids.sort_unstable();
        // What each customer's records state (one decoding of every record held), and the
        // group members (households) in this chunk, by group reference.
        type Stated = Vec<(SourceRef, RelationshipKind, SourceRef)>;
        let mut stated: Vec<(CustomerId, Stated)> = Vec::new();
        let mut groups: HashMap<String, BTreeSet<CustomerId>> = HashMap::new();
        for id in &ids {
            let mut rels: Stated = Vec::new();
            for f in self.dirty[id].fragments.decoded()? {
                for (kind, to) in f.relations {
                    if to.source == GROUP_SOURCE {
                        groups.entry(to.to_string()).or_default().insert(*id);
                    }
                    rels.push((f.source.clone(), kind, to));
                }
            }
            if !rels.is_empty() {
                stated.push((*id, rels));
            }
        }
        for (g, members) in &mut groups {
            if self.bulk.is_some() {
                break; // every member is in this run
            }
            let stored = self
                .store
                .index_lookup(&IndexKey::new(IndexKind::SourceRef, g.clone()))?;
            members.extend(stored);
        }
        for (id, rels) in &stated {
            for (from, kind, to) in rels.clone() {
                if to.source == GROUP_SOURCE {
                    for other in groups.get(&to.to_string()).into_iter().flatten() {
                        if other == id {
                            continue;
                        }
                        forward.entry(*id).or_default().push(Relationship {
                            kind: kind.clone(),
                            other: *other,
                            since: None,
                            source: Some(from.clone()),
                        });
                        inverse.push((
                            *other,
                            Relationship {
                                kind: inverse_kind(&kind),
                                other: *id,
                                since: None,
                                source: Some(from.clone()),
                            },
                        ));
                    }
                    continue;
                }
                match self.owner(&to.to_string())? {
                    Some(other) if other != *id => {
                        forward.entry(*id).or_default().push(Relationship {
                            kind: kind.clone(),
                            other,
                            since: None,
                            source: Some(from.clone()),
                        });
                        inverse.push((
                            other,
                            Relationship {
                                kind: inverse_kind(&kind),
                                other: *id,
                                since: None,
                                source: Some(from.clone()),
                            },
                        ));
                        if self.bulk.is_none() {
                            let key = pending_relation_key(&to, &from);
                            self.batch.remove_doc(PENDING_RELATIONS, &key);
                        }
                    }
                    Some(_) => {}
                    None => {
                        let key = pending_relation_key(&to, &from);
                        let p = PendingRelation { from, kind, to };
                        match &mut self.bulk {
                            Some(d) => d.doc(PENDING_RELATIONS, &key, Doc::Relation(Box::new(p))),
                            None => self.batch.put_doc(PENDING_RELATIONS, &key, &p)?,
                        }
                    }
                }
            }
        }
        for (other, _) in &inverse {
            self.load_working(*other)?;
        }
        // Relationships stated by others, by the customer they are about.
        let mut stated_by_others: HashMap<CustomerId, Vec<Relationship>> = HashMap::new();
        for (other, r) in inverse {
            stated_by_others.entry(other).or_default().push(r);
        }
        let now = self.ctx.now;
        // Customers in id order: their keys are written in the store's order. Built on a
        // thread of their own, sealed and written on this one (`ingest/golden.rs`).
        let mut dirty: Vec<(CustomerId, Working)> =
            std::mem::take(&mut self.dirty).into_iter().collect();
        dirty.sort_unstable_by_key(|(id, _)| *id);
        let inputs = golden::Inputs {
            resolver: &self.resolver,
            trust: &self.trust,
            now,
            forward,
            stated_by_others,
            every_record_changed: self.bulk.is_some(),
        };
        let (batch, writer) = (&mut self.batch, &mut self.writer);
        golden::rebuild(inputs, dirty, |built| {
            let id = built.id;
            match built.keys {
                Some(keys) => batch.put_customer(&built.customer, keys),
                None => batch.put_customer_record(&built.customer),
            }
            // Records are written with their customer, encoded at once (a first load held
            // them decoded for its last sorted run: some 2 KB each, 1 GB at 100,000 persons).
            for (src, f) in built.changed {
                let rf = ResolvedFragment {
                    fragment: f,
                    customer: id,
                };
                batch.put_doc_compact_sealed(FRAGMENTS, &src, id, &rf)?;
            }
            bulk::cut(batch, writer)
        })?;
        for key in std::mem::take(&mut self.unbuilt) {
            self.batch.remove_doc(UNBUILT, &key);
        }
        let batch = std::mem::take(&mut self.batch);
        self.writer.write(batch)?;
        if let Some(d) = &mut self.bulk {
            for (key, record) in self.disruptions.drain() {
                d.doc(
                    crate::disruption::DISRUPTIONS,
                    &key,
                    Doc::Disruption(Box::new(record)),
                );
            }
            d.write_run(self.store, &mut self.writer)?;
            tracing::info!(runs = d.runs, "first load: sorted runs written");
            self.load_source = None;
            for source in self.row_pages.sources() {
                self.row_pages.write_source(&source, &mut self.writer)?;
            }
            d.write_histories(&mut self.writer)?;
        }
        let rebuilt = began.elapsed().as_secs_f64();
        // From here on the store answers for what the chunk wrote.
        self.writer.barrier()?;
        tracing::info!(
            customers = ids.len(),
            thread_cpu_seconds =
                thread_cpu_seconds().map_or_else(|| "?".into(), |s| format!("{s:.1}")),
            rebuild_seconds = format!("{rebuilt:.1}"),
            seconds = format!("{:.1}", began.elapsed().as_secs_f64()),
            "chunk written: golden records and index keys rebuilt"
        );
        self.batch_rows = 0;
        if !self.keys_in_memory {
            self.pending_keys.clear();
        }
        // Owners stay: a source record keeps its customer for the whole run, and the map
        // spares decoding its stored fragment again.
        if self.owners.len() > 2_000_000 {
            self.owners.clear();
        }
        self.grants.clear();
        self.disruptions.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<IngestReport, Error> {
        self.flush_chunk()?;
        if self.bulk.take().is_some() {
            bulk::publish_index(self.store)?;
            // Everything the first load resolved is stored: from here on it is a run like
            // any other (its end merges are completed after a kill by the incremental path).
            let mut b = Batch::default();
            b.remove_doc(META, bulk::MARKER);
            self.store.write(b, Durability::Durable)?;
        }
        // Relationships to records that arrived later in this run (or in an earlier one).
        let pending: Vec<PendingRelation> = self
            .store
            .docs::<PendingRelation>(PENDING_RELATIONS, "")
            .map(|r| r.map(|(_, p)| p))
            .collect::<Result<_, _>>()?;
        let mut any = false;
        for p in pending {
            if self.owner(&p.to.to_string())?.is_some()
                && let Some(c) = self.owner(&p.from.to_string())?
            {
                self.load_working(c)?;
                any = true;
            }
        }
        if any {
            self.flush_chunk()?;
        }
        // Records that tie two customers together merge them (with evidence and lineage).
        if self.opts.merge_ties && !self.ties.is_empty() {
            let ties = std::mem::take(&mut self.ties);
            let merged = crate::merge::merge_ties(self.store, &ties, "ingest")?;
            self.report.customers_merged += merged.len() as u64;
        }
        if !self.late.is_empty() {
            let began = Instant::now();
            let late = std::mem::take(&mut self.late);
            let merged = crate::merge::merge_late(self.store, &late, "ingest")?;
            tracing::info!(
                merged = merged.len(),
                seconds = format!("{:.1}", began.elapsed().as_secs_f64()),
                "records that learned who they are joined their customers"
            );
            self.report.customers_merged += merged.len() as u64;
        }
        // The decisions are applied: forget them (a crash before this flush applies them
        // again, and a merge already made is skipped).
        let mut done = Batch::default();
        for doc in self.store.docs::<PendingMerge>(PENDING_MERGES, "") {
            done.remove_doc(PENDING_MERGES, &doc?.0);
        }
        if !done.is_empty() {
            self.store.write(done, Durability::Batched)?;
        }
        self.store.flush()?;
        self.report.finish(self.started);
        Ok(self.report)
    }
}

/// CPU seconds (user and system) the calling thread has used, where the system tells it
/// (Linux): the resolving thread's is the first load's critical path, whatever else runs.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from the third: utime and
    // stime are the 14th and 15th, in clock ticks (100 a second on Linux).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut f = rest.split_whitespace().skip(11);
    let user: f64 = f.next()?.parse().ok()?;
    let system: f64 = f.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// The process's resident memory, where the system tells it (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Whether the newer version of a record carries an identifier the older one lacked: an
/// e-mail, a phone, a loyalty or national number (not a new address: a move is history).
fn gained_identifier(before: &Fragment, after: &Fragment) -> bool {
    let new_in = |a: &[String], b: &[String]| b.iter().any(|x| !a.contains(x));
    new_in(&before.emails, &after.emails)
        || new_in(&before.phones, &after.phones)
        || before.extra.get(NATIONAL_PHONES) != after.extra.get(NATIONAL_PHONES)
        || (before.loyalty_number.is_none() && after.loyalty_number.is_some())
        || (before.national_id.is_none() && after.national_id.is_some())
}

/// Whether two versions of a record say the same about who the party is (everything the
/// resolver, the index keys and relationships read; not the observation time or other
/// extra fields).
fn same_identity(a: &Fragment, b: &Fragment) -> bool {
    let addr = |x: &crate::fragment::Address, y: &crate::fragment::Address| {
        x.street_number == y.street_number
            && x.street == y.street
            && x.locality == y.locality
            && x.postcode == y.postcode
            && x.region == y.region
            && x.country == y.country
    };
    a.kind == b.kind
        && a.given_name == b.given_name
        && a.family_name == b.family_name
        && a.full_name == b.full_name
        && a.birth_date == b.birth_date
        && a.emails == b.emails
        && a.phones == b.phones
        && a.loyalty_number == b.loyalty_number
        && a.national_id == b.national_id
        && a.cross_refs == b.cross_refs
        && a.relations == b.relations
        && a.extra.get(BOOKING_REFS) == b.extra.get(BOOKING_REFS)
        && a.extra.get(NATIONAL_PHONES) == b.extra.get(NATIONAL_PHONES)
        && a.addresses.len() == b.addresses.len()
        && a.addresses
            .iter()
            .zip(&b.addresses)
            .all(|(x, y)| addr(x, y))
}

fn pending_relation_key(to: &SourceRef, from: &SourceRef) -> String {
    format!("{to}|{from}")
}

/// The relationship the other side has.
pub fn inverse_kind(k: &RelationshipKind) -> RelationshipKind {
    match k {
        RelationshipKind::Household => RelationshipKind::Household,
        RelationshipKind::EmployeeOf => RelationshipKind::Employs,
        RelationshipKind::Employs => RelationshipKind::EmployeeOf,
        RelationshipKind::BooksThrough => RelationshipKind::BooksFor,
        RelationshipKind::BooksFor => RelationshipKind::BooksThrough,
        RelationshipKind::ReferredBy => RelationshipKind::Referred,
        RelationshipKind::Referred => RelationshipKind::ReferredBy,
        RelationshipKind::Other(s) => RelationshipKind::Other(format!("{s} (inverse)")),
    }
}

/// The stored fragments of a customer.
pub fn load_fragments(store: &Store, c: &Customer) -> Result<Vec<Fragment>, Error> {
    let mut out = Vec::with_capacity(c.identifiers.len());
    for r in &c.identifiers {
        if let Some(f) = store.doc::<ResolvedFragment>(FRAGMENTS, &r.to_string())? {
            out.push(f.fragment);
        }
    }
    Ok(out)
}

/// Every index key of a customer: the resolver's keys of all its fragments, plus name tokens
/// and their phonetic codes (search), booking references and the golden identifiers.
pub fn customer_keys(resolver: &Resolver, c: &Customer, fragments: &[Fragment]) -> Vec<IndexKey> {
    let mut keys: Vec<IndexKey> = fragments.iter().flat_map(|f| resolver.keys(f)).collect();
    for f in fragments {
        // Each name's tokens once: alone (prefix and sound) and in pairs.
        let tokens =
            |n: &Option<String>| n.as_deref().map(cleanse::name_tokens).unwrap_or_default();
        let (given, family, full) = (
            tokens(&f.given_name),
            tokens(&f.family_name),
            tokens(&f.full_name),
        );
        for t in given.iter().chain(&family).chain(&full) {
            keys.push(IndexKey::new(IndexKind::NamePhonetic, search_code(t)));
            keys.push(IndexKey::new(IndexKind::NameToken, t.clone()));
        }
        let paired = if given.is_empty() && family.is_empty() {
            full
        } else {
            given.into_iter().chain(family).collect()
        };
        keys.extend(name_pair_keys(paired));
        if let Some(b) = f.extra.get(BOOKING_REFS) {
            for r in b.split(' ').filter(|r| !r.is_empty()) {
                keys.push(IndexKey::new(IndexKind::BookingRef, r.to_uppercase()));
            }
        }
        keys.push(IndexKey::new(IndexKind::SourceRef, f.source.to_string()));
        for (_, to) in &f.relations {
            if to.source == GROUP_SOURCE {
                keys.push(IndexKey::new(IndexKind::SourceRef, to.to_string()));
            }
        }
        for e in &f.emails {
            keys.push(IndexKey::new(IndexKind::Email, e.clone()));
        }
        for p in &f.phones {
            keys.push(IndexKey::new(IndexKind::Phone, p.clone()));
        }
    }
    for f in fragments {
        keys.extend(passenger_keys(f));
    }
    if let Some(l) = &c.profile.loyalty_number {
        keys.push(IndexKey::new(
            IndexKind::LoyaltyNumber,
            l.value.to_uppercase(),
        ));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The "passenger on a booking" keys of a person fragment: for each booking reference it
/// carries, `REF|family|initial` (folded family name, first letter of the given name).
pub fn passenger_keys(f: &Fragment) -> Vec<IndexKey> {
    if f.kind != rapport_core::PartyKind::Person {
        return Vec::new();
    }
    let Some(refs) = f.extra.get(BOOKING_REFS) else {
        return Vec::new();
    };
    let (given, family) = match (&f.given_name, &f.family_name) {
        (Some(g), Some(fam)) => (cleanse::fold(g), cleanse::fold(fam)),
        _ => match &f.full_name {
            Some(full) => {
                let (g, fam) = cleanse::split_person_name(full, "auto");
                (
                    g.map(|g| cleanse::fold(&g)).unwrap_or_default(),
                    fam.map(|f| cleanse::fold(&f)).unwrap_or_default(),
                )
            }
            None => return Vec::new(),
        },
    };
    // Nicknames count as their full name (Bob is Robert), so the initial is Robert's.
    let given = crate::identity::names::canonical_given(&given).to_string();
    let Some(initial) = given.chars().next() else {
        return Vec::new();
    };
    if family.is_empty() {
        return Vec::new();
    }
    refs.split(' ')
        .filter(|r| !r.is_empty())
        .map(|r| {
            IndexKey::new(
                IndexKind::BookingRef,
                format!("{}|{family}|{initial}", r.to_uppercase()),
            )
        })
        .collect()
}

/// How many customers are in `stored` or `pending` (a customer in both counts once).
fn distinct(stored: &[CustomerId], pending: &[CustomerId]) -> usize {
    stored.len() + pending.iter().filter(|c| !stored.contains(c)).count()
}

/// Bearers of a name read at most to weigh it (a name 64 customers share is as common as any
/// for the resolver: its agreement is then worth 6 bits less).
const NAMESAKES_READ: usize = 64;

/// The search key of a person record's given and family name together (`maria silva`, the
/// first given and the last family token): the customers under it bear that name.
pub fn namesake_key(f: &Fragment) -> Option<IndexKey> {
    if f.kind != rapport_core::PartyKind::Person {
        return None;
    }
    let tokens = |n: &Option<String>| n.as_deref().map(cleanse::name_tokens).unwrap_or_default();
    let (given, family) = match (tokens(&f.given_name), tokens(&f.family_name)) {
        (g, fam) if !g.is_empty() && !fam.is_empty() => (g, fam),
        _ => {
            let full = tokens(&f.full_name);
            if full.len() < 2 {
                return None;
            }
            (full[..1].to_vec(), full[1..].to_vec())
        }
    };
    let (first, last) = (given.first()?, family.last()?);
    (first != last).then(|| IndexKey::new(IndexKind::NameToken, search_pair(first, last)))
}

/// Most name tokens of one record paired for search (a longer name pairs its first ones).
const PAIRED_TOKENS: usize = 4;

/// Every ordered pair of a record's name tokens, as typed (`maria silva`, `silva maria`) and
/// by sound ([`search_pair_code`]): a search for two names reads the customers with both,
/// however many share each one.
fn name_pair_keys(mut tokens: Vec<String>) -> Vec<IndexKey> {
    tokens.dedup();
    tokens.truncate(PAIRED_TOKENS);
    let mut keys = Vec::new();
    for (i, a) in tokens.iter().enumerate() {
        for (j, b) in tokens.iter().enumerate() {
            if i != j && a != b {
                keys.push(IndexKey::new(IndexKind::NameToken, search_pair(a, b)));
                keys.push(IndexKey::new(
                    IndexKind::NamePhonetic,
                    search_pair_code(a, b),
                ));
            }
        }
    }
    keys
}

/// The name-token index value of two tokens typed in this order (a token holds no space).
pub fn search_pair(first: &str, second: &str) -> String {
    format!("{first} {second}")
}

/// The phonetic index value of two tokens in this order (`p:` + both codes).
pub fn search_pair_code(first: &str, second: &str) -> String {
    format!(
        "p:{} {}",
        crate::identity::names::phonetic(first),
        crate::identity::names::phonetic(second)
    )
}

/// The phonetic code a name token is searchable under (`s:` + double metaphone), distinct
/// from the resolver's blocking codes.
pub fn search_code(token: &str) -> String {
    format!("s:{}", crate::identity::names::phonetic(token))
}
