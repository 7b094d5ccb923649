//! The search and identity index: sorted immutable segment files (`segment`) under a small
//! mutable overlay of sled keys, an index build for bulk loads, and compaction.
//!
//! The logical index is a set of entries (kind, keyed hash of the value, customer id). Each
//! overlay key (`Xk` + entry) holds a record: present or removed (a tombstone), with the
//! sequence number of the write that made it (from sled's persistent id generator, so later
//! writes have larger numbers, across restarts too). An entry's state is its overlay record
//! when it has one, else whether a live segment holds it. Writes go to the overlay (a put or a
//! tombstone per changed entry, in the batch that writes the customer); nothing is read back.
//!
//! Compaction merges the live segment and the overlay into a new segment, makes it live with
//! one durable meta write, then removes the overlay records it absorbed: those with a sequence
//! number below the watermark taken when it began (a record written since has a larger one,
//! so it stays and still decides its entry). Writers never wait for a compaction's merge;
//! readers read the overlay first and the segment after, so what a lookup misses of the
//! overlay because a compaction removed it is in the segment it reads next, and a reader keeps
//! the segment it started with (an `Arc`; an unlinked file stays readable while open).
//!
//! An index build ([`Store::begin_index_build`], for a first load) holds the entries that
//! customer writes add in memory instead of the overlay, each with its sequence number, and
//! [`Store::publish_index_build`] sorts them and merges them with the segment and the overlay
//! into a new segment in one sequential write. Removals still go to the overlay, so they take
//! effect at once. A durable marker says a build is open: a process that dies before
//! publishing it leaves the index to be rebuilt from the customers' key lists at the next
//! open.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rapport_core::CustomerId;

use crate::keys::{self, Key, Space};
use crate::segment::{self, Entry, Merge, Segment, SegmentWriter, Source, VALUE};
use crate::store::{Store, encode_meta, lock, read, write};
use crate::{Error, IndexKey, codec};

/// The meta key naming the live segments.
const LIVE_KEY: &str = "index_segments";
/// The meta key present while an index build is open.
const BUILD_KEY: &str = "index_build";
/// The meta key counting overlay records written since the last compaction (about: records
/// rewritten count again).
const OVERLAY_KEY: &str = "index_overlay";
/// Overlay records from which an open compacts the index: at least this many, and at least
/// a tenth of the segment's entries (a compaction rewrites the whole segment).
const COMPACT_AT: u64 = 100_000;
/// Bits of a sequence number counting writes within one id from sled's generator.
const SEQ_SHIFT: u32 = 20;

/// An entry of an open build followed by its sequence number (big-endian): 33 bytes, sorted
/// as bytes into entry order with the newest write of an entry last.
type Built = [u8; segment::ENTRY + 8];

fn built(e: &Entry, seq: u64) -> Built {
    let mut b = [0u8; segment::ENTRY + 8];
    b[..segment::ENTRY].copy_from_slice(e);
    b[segment::ENTRY..].copy_from_slice(&seq.to_be_bytes());
    b
}

fn unbuilt(b: &Built) -> (Entry, u64) {
    let mut e = [0u8; segment::ENTRY];
    e.copy_from_slice(&b[..segment::ENTRY]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&b[segment::ENTRY..]);
    (e, u64::from_be_bytes(seq))
}

/// The segments readers look up: one at most (every compaction merges all into one).
#[derive(Debug, Default)]
pub(crate) struct Live {
    generation: u64,
    segment: Option<Segment>,
}

impl Live {
    /// Entries in the live segment.
    pub(crate) fn entries(&self) -> u64 {
        self.segment.as_ref().map_or(0, Segment::len)
    }

    /// Bytes of the live segment on disk.
    pub(crate) fn bytes(&self) -> u64 {
        self.segment.as_ref().map_or(0, Segment::bytes)
    }
}

/// Where the segments live: the database directory, or a directory of its own deleted with
/// the store for a temporary store.
#[derive(Debug)]
pub(crate) struct SegmentDir {
    path: PathBuf,
    temporary: bool,
}

impl Drop for SegmentDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The index's state in the store handle.
#[derive(Debug)]
pub(crate) struct IndexState {
    dir: SegmentDir,
    live: std::sync::RwLock<Arc<Live>>,
    /// One compaction (or build publication) at a time.
    compaction: std::sync::Mutex<()>,
    /// The open index build: entries added since it began, with their sequence numbers.
    /// Changed only under the store's write lock.
    build: std::sync::Mutex<Option<Vec<Built>>>,
    /// Overlay records written since the last compaction (see [`OVERLAY_KEY`]).
    overlay: AtomicU64,
}

impl IndexState {
    /// The state for a store in `path` (`None`: a temporary store), nothing live yet.
    pub(crate) fn new(path: Option<&Path>) -> Result<IndexState, Error> {
        let dir = match path {
            Some(p) => SegmentDir {
                path: p.to_path_buf(),
                temporary: false,
            },
            None => {
                static N: AtomicU64 = AtomicU64::new(0);
                let p = std::env::temp_dir().join(format!(
                    "rapport-index-{}-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos()),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p)?;
                SegmentDir {
                    path: p,
                    temporary: true,
                }
            }
        };
        Ok(IndexState {
            dir,
            live: std::sync::RwLock::new(Arc::new(Live::default())),
            compaction: std::sync::Mutex::new(()),
            build: std::sync::Mutex::new(None),
            overlay: AtomicU64::new(0),
        })
    }
}

/// The record an overlay key holds: present or not, and the write's sequence number. Schema
/// 4 wrote empty values (present, older than any sequence number).
fn decode_record(raw_key: &[u8], v: &[u8]) -> Result<(bool, u64), Error> {
    match v.len() {
        0 => Ok((true, 0)),
        9 => {
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&v[1..]);
            Ok((v[0] != 0, u64::from_be_bytes(seq)))
        }
        n => Err(Error::Decode {
            tree: Space::Index.name(),
            key: keys::describe(raw_key),
            reason: format!("an index record of {n} bytes (expected 0 or 9)"),
        }),
    }
}

fn encode_record(present: bool, seq: u64) -> [u8; 9] {
    let mut v = [0u8; 9];
    v[0] = u8::from(present);
    v[1..].copy_from_slice(&seq.to_be_bytes());
    v
}

fn malformed(raw_key: &[u8]) -> Error {
    Error::Decode {
        tree: Space::of(raw_key).map_or("unknown", Space::name),
        key: keys::describe(raw_key),
        reason: "malformed key".into(),
    }
}

/// The entry of an overlay key.
fn entry_of(raw_key: &[u8]) -> Result<Entry, Error> {
    raw_key
        .get(2..)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed(raw_key))
}

/// Sequence numbers for the index writes of one batch: an id from sled's generator, shifted,
/// plus a count.
pub(crate) struct Seqs<'a> {
    db: &'a sled::Db,
    next: u64,
    left: u64,
}

impl Seqs<'_> {
    fn next(&mut self) -> Result<u64, Error> {
        if self.left == 0 {
            self.next = self.db.generate_id()? << SEQ_SHIFT;
            self.left = 1 << SEQ_SHIFT;
        }
        self.left -= 1;
        let seq = self.next;
        self.next += 1;
        Ok(seq)
    }
}

/// The index writes of a batch being planned (under the write lock).
pub(crate) struct IndexPlan<'a> {
    seqs: Seqs<'a>,
    building: bool,
    /// Entries for the open build, handed to it once the batch is applied.
    built: Vec<Built>,
    /// Overlay records written.
    overlay: u64,
}

impl IndexPlan<'_> {
    /// Whether an index build is open: then every entry a customer write adds goes to it, not
    /// only the changed ones (its entries replace what a killed build left).
    pub(crate) fn building(&self) -> bool {
        self.building
    }

    /// Adds the entry: to the build when one is open, else an overlay record.
    pub(crate) fn put(
        &mut self,
        out: &mut sled::Batch,
        kind: u8,
        hash: &[u8; crate::seal::HASH_LEN],
        id: CustomerId,
    ) -> Result<(), Error> {
        let seq = self.seqs.next()?;
        let e = segment::entry(kind, hash, id);
        if self.building {
            self.built.push(built(&e, seq));
        } else {
            out.insert(overlay_key(&e), &encode_record(true, seq)[..]);
            self.overlay += 1;
        }
        Ok(())
    }

    /// Removes the entry: a tombstone in the overlay, at once (also during a build).
    pub(crate) fn remove(
        &mut self,
        out: &mut sled::Batch,
        kind: u8,
        hash: &[u8; crate::seal::HASH_LEN],
        id: CustomerId,
    ) -> Result<(), Error> {
        let seq = self.seqs.next()?;
        let e = segment::entry(kind, hash, id);
        out.insert(overlay_key(&e), &encode_record(false, seq)[..]);
        self.overlay += 1;
        Ok(())
    }
}

fn overlay_key(e: &Entry) -> Vec<u8> {
    let mut k = Space::Index.prefix().to_vec();
    k.extend_from_slice(e);
    k
}

/// What a compaction did (for the log and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Compacted {
    pub(crate) entries: u64,
    pub(crate) overlay_removed: u64,
}

impl Store {
    fn index(&self) -> &IndexState {
        &self.inner.index
    }

    /// The live segments, as they stand (readers keep this `Arc` for their whole read).
    pub(crate) fn live_index(&self) -> Arc<Live> {
        Arc::clone(&read(&self.index().live))
    }

    /// Starts planning a batch's index writes (under the write lock).
    pub(crate) fn index_plan(&self) -> IndexPlan<'_> {
        IndexPlan {
            seqs: Seqs {
                db: &self.inner.db,
                next: 0,
                left: 0,
            },
            building: lock(&self.index().build).is_some(),
            built: Vec::new(),
            overlay: 0,
        }
    }

    /// Adds the overlay count of a planned batch to `out` (the batch then keeps the count).
    pub(crate) fn index_count(
        &self,
        plan: &IndexPlan<'_>,
        out: &mut sled::Batch,
    ) -> Result<(), Error> {
        if plan.overlay > 0 {
            let n = self.index().overlay.load(Ordering::Relaxed) + plan.overlay;
            out.insert(keys::meta(OVERLAY_KEY), encode_meta(n)?);
        }
        Ok(())
    }

    /// After a planned batch is applied (under the write lock): its build entries join the
    /// build, its overlay records the count.
    pub(crate) fn index_applied(&self, plan: IndexPlan<'_>) {
        self.index()
            .overlay
            .fetch_add(plan.overlay, Ordering::Relaxed);
        if !plan.built.is_empty()
            && let Some(b) = lock(&self.index().build).as_mut()
        {
            b.extend(plan.built);
        }
    }

    /// Opens the segments the database names, deletes segment files it does not name, and
    /// rebuilds the index from the customers' key lists when a build was left open. Runs at
    /// open, after the schema check.
    pub(crate) fn open_index(&self) -> Result<(), Error> {
        self.load_live()?;
        let tree = &self.inner.tree;
        if let Some(raw) = tree.get(keys::meta(OVERLAY_KEY))? {
            let n: u64 = self.decode_at(&keys::meta(OVERLAY_KEY), &raw)?;
            self.index().overlay.store(n, Ordering::Relaxed);
        }
        let live = self.live_index();
        let named = live.segment.as_ref().map(|s| s.name().to_owned());
        for e in std::fs::read_dir(&self.index().dir.path)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if segment::is_segment_file(&name) && Some(&name) != named.as_ref() {
                tracing::info!(file = %name, "removing an index segment the database does not name");
                std::fs::remove_file(e.path())?;
            }
        }
        if tree.contains_key(keys::meta(BUILD_KEY))? {
            tracing::warn!(
                "an index build was interrupted: rebuilding the index from the customers' key lists"
            );
            self.rebuild_index_from_lists()?;
        } else {
            drop(live);
            self.compact_index_if_large()?;
        }
        Ok(())
    }

    /// Compacts when the overlay holds at least [`COMPACT_AT`] records and a tenth of the
    /// segment's entries (a compaction rewrites the whole segment).
    pub(crate) fn compact_index_if_large(&self) -> Result<(), Error> {
        let overlay = self.index().overlay.load(Ordering::Relaxed);
        if overlay >= COMPACT_AT.max(self.live_index().entries() / 10) {
            self.compact_index()?;
        }
        Ok(())
    }

    /// Reads the meta naming the live segments and opens them.
    fn load_live(&self) -> Result<(), Error> {
        let key = keys::meta(LIVE_KEY);
        let names: Vec<String> = match self.inner.tree.get(&key)? {
            Some(raw) => codec::decode(&raw).map_err(|reason| Error::Decode {
                tree: Space::Meta.name(),
                key: LIVE_KEY.into(),
                reason,
            })?,
            None => Vec::new(),
        };
        let live = match names.as_slice() {
            [] => Live::default(),
            [name] => Live {
                generation: segment::generation_of(name).unwrap_or(0),
                segment: Some(Segment::open(&self.index().dir.path, name)?),
            },
            more => {
                return Err(Error::Segment {
                    path: self.index().dir.path.clone(),
                    reason: format!(
                        "the database names {} live index segments; this build reads one",
                        more.len()
                    ),
                });
            }
        };
        *write(&self.index().live) = Arc::new(live);
        Ok(())
    }

    /// The customers indexed under `key`, at most `limit`, in id order: the overlay's records
    /// for the value, then the live segment's entries they do not override.
    pub(crate) fn index_ids(&self, key: &IndexKey, limit: usize) -> Result<Vec<CustomerId>, Error> {
        let hash = self.index_hash(key.kind, &key.value);
        let prefix = keys::index_value_prefix(key.kind, &hash);
        let plen = prefix.len();
        // The overlay first, then the segment (see the module doc).
        let mut overlay: Vec<(CustomerId, bool)> = Vec::new();
        for kv in self.inner.tree.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let id: [u8; 8] = k
                .get(plen..)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| malformed(&k))?;
            overlay.push((CustomerId(u64::from_be_bytes(id)), decode_record(&k, &v)?.0));
        }
        let live = self.live_index();
        let mut value = [0u8; VALUE];
        value[0] = key.kind.code();
        value[1..].copy_from_slice(&hash);
        let mut seg = live.segment.as_ref().map(|s| s.ids(&value));
        let mut next_seg = || -> Result<Option<CustomerId>, Error> {
            match seg.as_mut() {
                Some(s) => s.next().transpose(),
                None => Ok(None),
            }
        };
        let mut out = Vec::new();
        let mut over = overlay.into_iter().peekable();
        let mut s = next_seg()?;
        while out.len() < limit {
            match (over.peek().copied(), s) {
                (None, None) => break,
                (Some((o, present)), Some(id)) if o == id => {
                    if present {
                        out.push(o);
                    }
                    over.next();
                    s = next_seg()?;
                }
                (Some((o, present)), Some(id)) if o < id => {
                    if present {
                        out.push(o);
                    }
                    over.next();
                }
                (Some((o, present)), None) => {
                    if present {
                        out.push(o);
                    }
                    over.next();
                }
                (_, Some(id)) => {
                    out.push(id);
                    s = next_seg()?;
                }
            }
        }
        Ok(out)
    }

    /// Number of entries in the logical index (a merge of the segment and the overlay: a
    /// sequential read of both).
    pub(crate) fn index_entry_count(&self) -> Result<u64, Error> {
        let live = self.live_index();
        let mut n = 0;
        for e in Merge::new(self.index_sources(&live, Vec::new())) {
            e?;
            n += 1;
        }
        Ok(n)
    }

    /// Bytes of the live segment on disk.
    pub(crate) fn index_segment_bytes(&self) -> u64 {
        self.live_index().bytes()
    }

    /// Whether the index holds nothing at all (no segment entry, no overlay record).
    pub(crate) fn index_is_empty(&self) -> Result<bool, Error> {
        Ok(self.live_index().entries() == 0
            && self
                .inner
                .tree
                .scan_prefix(Space::Index.prefix())
                .next()
                .is_none())
    }

    /// The sources of a merge: the segment, the overlay, and a sorted build.
    fn index_sources<'a>(&'a self, live: &'a Live, built: Vec<Built>) -> Vec<Source<'a>> {
        let mut sources: Vec<Source<'a>> = Vec::new();
        if let Some(s) = &live.segment {
            sources.push(Box::new(s.scan().map(|r| r.map(|e| (e, true, 0)))));
        }
        sources.push(Box::new(
            self.inner
                .tree
                .scan_prefix(Space::Index.prefix())
                .map(|kv| {
                    let (k, v) = kv?;
                    let (present, seq) = decode_record(&k, &v)?;
                    Ok((entry_of(&k)?, present, seq))
                }),
        ));
        if !built.is_empty() {
            sources.push(Box::new(built.into_iter().map(|b| {
                let (e, seq) = unbuilt(&b);
                Ok((e, true, seq))
            })));
        }
        sources
    }

    /// Merges the live segment and the overlay into a new segment, makes it live and removes
    /// the overlay records it absorbed (see the module doc). Writers are held only while the
    /// new segment is made live and while each batch of absorbed records is removed.
    pub fn compact_index(&self) -> Result<(), Error> {
        self.compact(false).map(|_| ())
    }

    /// Opens an index build: until [`Store::publish_index_build`], the index entries that
    /// customer writes add are held in memory (sorted at the end) instead of written as
    /// overlay records, and become visible to lookups when the build is published; removals
    /// take effect at once. For a first load, which writes millions of entries and reads none
    /// back. Durable: a process that stops before publishing leaves a marker, and the next open
    /// rebuilds the index from the customers' key lists. Opening an open build does nothing.
    pub fn begin_index_build(&self) -> Result<(), Error> {
        {
            let _guard = lock(&self.inner.write_lock);
            let mut b = lock(&self.index().build);
            if b.is_some() {
                return Ok(());
            }
            self.inner
                .tree
                .insert(keys::meta(BUILD_KEY), encode_meta(1)?)?;
            *b = Some(Vec::new());
        }
        self.flush()
    }

    /// Publishes the open index build (see [`Store::begin_index_build`]): its entries, sorted,
    /// are merged with the live segment and the overlay into a new segment in one sequential
    /// write, made live durably. Does nothing when no build is open.
    pub fn publish_index_build(&self) -> Result<(), Error> {
        let began = std::time::Instant::now();
        let c = self.compact(true)?;
        if let Some(c) = c {
            tracing::info!(
                entries = c.entries,
                seconds = format!("{:.1}", began.elapsed().as_secs_f64()),
                "index build published"
            );
        }
        Ok(())
    }

    /// A compaction; `publish` takes the open build into it (`None`: no build was open).
    fn compact(&self, publish: bool) -> Result<Option<Compacted>, Error> {
        let _one = lock(&self.index().compaction);
        let began = std::time::Instant::now();
        // The watermark: every record written from here on has a larger sequence number.
        let (watermark, mut built) = {
            let _guard = lock(&self.inner.write_lock);
            let built = if publish {
                match lock(&self.index().build).take() {
                    Some(b) => b,
                    None => return Ok(None),
                }
            } else {
                Vec::new()
            };
            (self.inner.db.generate_id()? << SEQ_SHIFT, built)
        };
        // The newest write of each entry last, then one per entry.
        built.sort_unstable();
        built.dedup_by(|later, earlier| {
            if later[..segment::ENTRY] == earlier[..segment::ENTRY] {
                *earlier = *later;
                true
            } else {
                false
            }
        });
        let live = self.live_index();
        let generation = live.generation + 1;
        let name = segment::file_name(generation);
        let mut w = SegmentWriter::create(&self.index().dir.path, &name)?;
        for e in Merge::new(self.index_sources(&live, built)) {
            w.push(&e?)?;
        }
        let entries = w.len();
        let seg = w.finish()?;
        // Live: one durable meta write names it (and closes the build's marker).
        {
            let _guard = lock(&self.inner.write_lock);
            let mut b = sled::Batch::default();
            let names: Vec<String> = Vec::from([name.clone()]);
            let list = codec::encode(&names).map_err(|reason| Error::Encode {
                tree: Space::Meta.name(),
                reason,
            })?;
            b.insert(keys::meta(LIVE_KEY), list);
            if publish {
                b.remove(keys::meta(BUILD_KEY));
            }
            self.inner.tree.apply_batch(b)?;
            self.flush()?;
            *write(&self.index().live) = Arc::new(Live {
                generation,
                segment: Some(seg),
            });
        }
        if let Some(old) = &live.segment {
            // Readers that hold it keep reading the open file.
            std::fs::remove_file(self.index().dir.path.join(old.name()))?;
        }
        drop(live);
        let removed = self.remove_absorbed(watermark)?;
        tracing::info!(
            entries,
            overlay_removed = removed,
            seconds = format!("{:.1}", began.elapsed().as_secs_f64()),
            "index compacted into {name}"
        );
        Ok(Some(Compacted {
            entries,
            overlay_removed: removed,
        }))
    }

    /// Removes the overlay records older than `watermark` (absorbed by the live segment), in
    /// batches, each checked again under the write lock.
    fn remove_absorbed(&self, watermark: u64) -> Result<u64, Error> {
        const RUN: usize = 10_000;
        let tree = &self.inner.tree;
        let mut removed = 0u64;
        let mut start = Space::Index.prefix().to_vec();
        let end = keys::prefix_end(&Space::Index.prefix()).unwrap_or_default();
        loop {
            let mut absorbed: Vec<sled::IVec> = Vec::new();
            let mut last: Option<sled::IVec> = None;
            let mut read = 0;
            for kv in tree.range(start.clone()..end.clone()).take(RUN) {
                let (k, v) = kv?;
                read += 1;
                if decode_record(&k, &v)?.1 < watermark {
                    absorbed.push(k.clone());
                }
                last = Some(k);
            }
            if !absorbed.is_empty() {
                let _guard = lock(&self.inner.write_lock);
                let mut b = sled::Batch::default();
                for k in absorbed {
                    if let Some(v) = tree.get(&k)?
                        && decode_record(&k, &v)?.1 < watermark
                    {
                        b.remove(k);
                        removed += 1;
                    }
                }
                tree.apply_batch(b)?;
            }
            match last {
                Some(k) if read == RUN => {
                    start = k.to_vec();
                    start.push(0);
                }
                _ => break,
            }
        }
        let _guard = lock(&self.inner.write_lock);
        let left = self
            .index()
            .overlay
            .load(Ordering::Relaxed)
            .saturating_sub(removed);
        self.index().overlay.store(left, Ordering::Relaxed);
        tree.insert(keys::meta(OVERLAY_KEY), encode_meta(left)?)?;
        Ok(removed)
    }

    /// Rebuilds the index from the customers' key lists (`Xr`): a new segment of every
    /// customer's entries, made live, and every overlay record removed. For an index build a
    /// stopped process left open; runs at open, before anyone writes.
    fn rebuild_index_from_lists(&self) -> Result<(), Error> {
        let _one = lock(&self.index().compaction);
        let tree = &self.inner.tree;
        let mut entries: Vec<Entry> = Vec::new();
        for kv in tree.scan_prefix(Space::CustomerIndex.prefix()) {
            let (k, v) = kv?;
            let Some(Key::CustomerIndex(id)) = Key::parse(&k) else {
                return Err(malformed(&k));
            };
            let list: Vec<IndexKey> = self.decode_at(&k, &v)?;
            for x in &list {
                entries.push(segment::entry(
                    x.kind.code(),
                    &self.index_hash(x.kind, &x.value),
                    id,
                ));
            }
        }
        entries.sort_unstable();
        entries.dedup();
        let live = self.live_index();
        let generation = live.generation + 1;
        let name = segment::file_name(generation);
        let mut w = SegmentWriter::create(&self.index().dir.path, &name)?;
        for e in &entries {
            w.push(e)?;
        }
        let seg = w.finish()?;
        let mut b = sled::Batch::default();
        let list = codec::encode(&Vec::from([name.clone()])).map_err(|reason| Error::Encode {
            tree: Space::Meta.name(),
            reason,
        })?;
        b.insert(keys::meta(LIVE_KEY), list);
        b.remove(keys::meta(BUILD_KEY));
        tree.apply_batch(b)?;
        self.flush()?;
        *write(&self.index().live) = Arc::new(Live {
            generation,
            segment: Some(seg),
        });
        if let Some(old) = &live.segment {
            std::fs::remove_file(self.index().dir.path.join(old.name()))?;
        }
        // Every overlay record is absorbed: nothing writes during an open.
        let watermark = u64::MAX;
        drop(live);
        self.remove_absorbed(watermark)?;
        tracing::info!(
            entries = entries.len(),
            "index rebuilt from the customers' key lists"
        );
        Ok(())
    }

    /// Schema 5 -> 6: the index entries of the overlay (schema 5 kept every entry as an `Xk`
    /// key) move into a segment. A compaction: idempotent, and a rerun after a crash merges
    /// what is left.
    pub(crate) fn index_into_segments(&self) -> Result<(), String> {
        self.load_live().map_err(|e| e.to_string())?;
        self.compact_index().map_err(|e| e.to_string())
    }

    /// Whether a live segment holds any entry of `id` under `keys` (an erasure compacts then,
    /// so the entries leave the files).
    pub(crate) fn segment_holds(&self, id: CustomerId, keys: &[IndexKey]) -> Result<bool, Error> {
        let live = self.live_index();
        let Some(seg) = &live.segment else {
            return Ok(false);
        };
        for k in keys {
            let mut value = [0u8; VALUE];
            value[0] = k.kind.code();
            value[1..].copy_from_slice(&self.index_hash(k.kind, &k.value));
            for got in seg.ids(&value) {
                let got = got?;
                if got >= id {
                    if got == id {
                        return Ok(true);
                    }
                    break;
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use rapport_core::{Customer, PartyKind, Timestamp};

    use super::*;
    use crate::{Batch, Durability, IndexKind, schema};

    fn customer(id: u64) -> Customer {
        Customer::new(CustomerId(id), PartyKind::Person, Timestamp::EPOCH)
    }

    fn keys_of(id: u64) -> Vec<IndexKey> {
        vec![
            IndexKey::new(IndexKind::Email, format!("c{id}@example.com")),
            IndexKey::new(IndexKind::NameToken, format!("family{}", id % 7)),
            IndexKey::new(IndexKind::Postcode, "1000-001"),
        ]
    }

    fn put(store: &Store, ids: impl IntoIterator<Item = u64>) {
        let mut b = Batch::default();
        for id in ids {
            b.put_customer(&customer(id), keys_of(id));
        }
        store.write(b, Durability::Batched).unwrap();
    }

    fn ids(store: &Store, kind: IndexKind, value: &str) -> Vec<u64> {
        store
            .index_lookup(&IndexKey::new(kind, value))
            .unwrap()
            .into_iter()
            .map(|c| c.0)
            .collect()
    }

    fn overlay_len(store: &Store) -> usize {
        store.raw_tree().scan_prefix(Space::Index.prefix()).count()
    }

    /// Every lookup agrees with the customers' key lists.
    fn check_against_lists(store: &Store, customers: &[u64]) {
        let mut expected: std::collections::BTreeMap<IndexKey, Vec<u64>> = Default::default();
        for id in customers {
            for k in store.index_keys_of(CustomerId(*id)).unwrap() {
                expected.entry(k).or_default().push(*id);
            }
        }
        for (k, mut want) in expected {
            want.sort_unstable();
            assert_eq!(ids(store, k.kind, &k.value), want, "{k}");
        }
    }

    #[test]
    fn lookups_read_the_segment_under_the_overlay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        put(&store, 1..=40);
        store.compact_index().unwrap();
        assert_eq!(overlay_len(&store), 0);
        assert_eq!(store.live_index().entries(), 120);
        assert_eq!(ids(&store, IndexKind::Email, "c5@example.com"), [5]);
        assert_eq!(ids(&store, IndexKind::NameToken, "family3").len(), 6);
        // Changes after the compaction: a customer's keys replaced, one removed, new ones.
        let mut b = Batch::default();
        b.put_customer(
            &customer(3),
            vec![IndexKey::new(IndexKind::Email, "new3@example.com")],
        );
        b.remove_customer(CustomerId(10), Some(CustomerId(17)));
        b.put_customer(&customer(50), keys_of(50));
        store.write(b, Durability::Batched).unwrap();
        assert!(ids(&store, IndexKind::Email, "c3@example.com").is_empty());
        assert_eq!(ids(&store, IndexKind::Email, "new3@example.com"), [3]);
        assert_eq!(
            ids(&store, IndexKind::NameToken, "family3"),
            [17, 24, 31, 38]
        );
        assert_eq!(
            ids(&store, IndexKind::NameToken, "family1").last(),
            Some(&50)
        );
        // A limit stops the merge of overlay and segment.
        let two = store
            .index_lookup_at_most(&IndexKey::new(IndexKind::Postcode, "1000-001"), 2)
            .unwrap();
        assert_eq!(two, [CustomerId(1), CustomerId(2)]);
        let all: Vec<u64> = (1..=40)
            .filter(|i| ![3, 10].contains(i))
            .chain([50])
            .collect();
        check_against_lists(&store, &all);
        assert_eq!(
            store.stats().unwrap().count("index"),
            // Customer 3 keeps one key.
            (all.len() * 3 + 1) as u64
        );
        // Compacted again, and reopened: the same answers, the overlay empty.
        store.compact_index().unwrap();
        assert_eq!(overlay_len(&store), 0);
        check_against_lists(&store, &all);
        drop(store);
        let store = Store::open(&path).unwrap();
        check_against_lists(&store, &all);
        assert_eq!(ids(&store, IndexKind::Email, "new3@example.com"), [3]);
    }

    #[test]
    fn a_damaged_or_missing_segment_is_an_error_naming_it_and_stray_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let name = {
            let store = Store::open(&path).unwrap();
            put(&store, 1..=10);
            store.compact_index().unwrap();
            store
                .live_index()
                .segment
                .as_ref()
                .unwrap()
                .name()
                .to_owned()
        };
        // A file no meta names (a compaction that died before making it live) goes at open.
        let stray = path.join(segment::file_name(99));
        std::fs::write(&stray, b"half").unwrap();
        std::fs::write(path.join(format!("{}.tmp", segment::file_name(98))), b"x").unwrap();
        drop(Store::open(&path).unwrap());
        assert!(!stray.exists());
        let seg = path.join(&name);
        let bytes = std::fs::read(&seg).unwrap();
        std::fs::write(&seg, &bytes[..bytes.len() - 3]).unwrap();
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains(&name) && err.contains("truncated"), "{err}");
        std::fs::remove_file(&seg).unwrap();
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains(&name) && err.contains("cannot open"), "{err}");
    }

    #[test]
    fn an_index_build_is_looked_up_once_published() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        put(&store, 1..=5);
        store.begin_index_build().unwrap();
        put(&store, 6..=30);
        // Removals take effect at once, additions at publication.
        let mut b = Batch::default();
        b.remove_customer(CustomerId(2), None);
        store.write(b, Durability::Batched).unwrap();
        assert!(ids(&store, IndexKind::Email, "c2@example.com").is_empty());
        assert!(ids(&store, IndexKind::Email, "c20@example.com").is_empty());
        assert_eq!(ids(&store, IndexKind::Email, "c4@example.com"), [4]);
        store.publish_index_build().unwrap();
        let all: Vec<u64> = (1..=30).filter(|i| *i != 2).collect();
        check_against_lists(&store, &all);
        assert_eq!(overlay_len(&store), 0);
        assert!(
            !store
                .raw_tree()
                .contains_key(keys::meta(BUILD_KEY))
                .unwrap()
        );
        // Publishing again (nothing open) does nothing.
        store.publish_index_build().unwrap();
        check_against_lists(&store, &all);
    }

    #[test]
    fn an_index_build_left_open_is_rebuilt_from_the_key_lists_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            put(&store, 1..=5);
            store.compact_index().unwrap();
            store.begin_index_build().unwrap();
            put(&store, 6..=20);
            let mut b = Batch::default();
            b.put_customer(&customer(1), vec![]);
            store.write(b, Durability::Batched).unwrap();
            store.flush().unwrap();
            // The process stops without publishing.
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(overlay_len(&store), 0);
        check_against_lists(&store, &(1..=20).collect::<Vec<_>>());
        assert!(ids(&store, IndexKind::Email, "c1@example.com").is_empty());
        assert_eq!(ids(&store, IndexKind::Email, "c19@example.com"), [19]);
    }

    #[test]
    fn a_version_5_database_has_its_index_moved_into_a_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let sample = IndexKey::new(IndexKind::NameToken, "family3");
        {
            let store = Store::open(&path).unwrap();
            put(&store, 1..=300);
            // The version-5 layout: every entry an `Xk` key with an empty value, no segment.
            let tree = store.raw_tree();
            for k in tree.scan_prefix(Space::Index.prefix()).keys() {
                tree.insert(k.unwrap(), &[][..]).unwrap();
            }
            for m in [OVERLAY_KEY, LIVE_KEY] {
                tree.remove(keys::meta(m)).unwrap();
            }
            tree.insert(
                keys::meta(schema::VERSION_KEY),
                schema::encode_version(5).unwrap(),
            )
            .unwrap();
            store.flush().unwrap();
            assert_eq!(overlay_len(&store), 900);
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version(), schema::SCHEMA_VERSION);
        assert_eq!(overlay_len(&store), 0);
        assert_eq!(store.live_index().entries(), 900);
        check_against_lists(&store, &(1..=300).collect::<Vec<_>>());
        assert_eq!(store.index_lookup(&sample).unwrap().len(), 43);
        assert_eq!(
            store
                .index_prefix(IndexKind::Email, "c29", 5)
                .unwrap()
                .len(),
            5
        );
        assert_eq!(store.stats().unwrap().count("index"), 900);
        drop(store);
        let store = Store::open(&path).unwrap();
        check_against_lists(&store, &(1..=300).collect::<Vec<_>>());
    }

    #[test]
    fn readers_during_compactions_see_every_entry_that_stands() {
        let store = Store::temporary().unwrap();
        put(&store, 1..=200);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let store = store.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Customers 1..=100 keep their keys throughout.
                    let id = 1 + n % 100;
                    assert_eq!(
                        ids(&store, IndexKind::Email, &format!("c{id}@example.com")),
                        [id]
                    );
                    n += 1;
                }
                n
            })
        };
        for round in 0..20u64 {
            // Customers 101..=200 change their keys while compactions run.
            let mut b = Batch::default();
            for id in 101..=200 {
                let mut k = keys_of(id);
                k.push(IndexKey::new(IndexKind::Phone, format!("+1{round}{id}")));
                b.put_customer(&customer(id), k);
            }
            store.write(b, Durability::Batched).unwrap();
            store.compact_index().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        check_against_lists(&store, &(1..=200).collect::<Vec<_>>());
        assert!(ids(&store, IndexKind::Phone, "+118150").is_empty());
        assert_eq!(ids(&store, IndexKind::Phone, "+119150"), [150]);
    }

    #[test]
    fn an_erased_customer_leaves_the_segment_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        put(&store, 1..=20);
        store.compact_index().unwrap();
        let seven = keys_of(7);
        assert!(store.segment_holds(CustomerId(7), &seven).unwrap());
        let mut rewrite = Batch::default();
        rewrite.put_customer(&customer(7), vec![]);
        store.erase(&[CustomerId(7)], rewrite).unwrap();
        assert!(ids(&store, IndexKind::Email, "c7@example.com").is_empty());
        // The erasure compacted: no entry of 7 in the segment, no tombstone left.
        assert!(!store.segment_holds(CustomerId(7), &seven).unwrap());
        assert_eq!(overlay_len(&store), 0);
        let others: Vec<u64> = (1..=20).filter(|i| *i != 7).collect();
        check_against_lists(&store, &others);
    }
}
