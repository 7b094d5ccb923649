//! The rows an ingest has seen, in pages: what makes ingest idempotent, in a few keys.
//!
//! Every stored source row leaves an entry: a 128-bit digest of its key (`source:row key`),
//! the hash of its bytes and the interaction stored for it ([`RowSeen`]). The entries of a
//! source are kept in pages (collection [`ROW_PAGES`], key `source:bits:bucket`), a page
//! holding the rows whose digest falls in its bucket, sorted by digest, in a compact encoding
//! (about 38 bytes an entry: the digest, the hash, the customer, time and id as varints). A
//! source's number of pages (`2^bits`) is chosen when its first page is written, from the
//! rows expected (a first load's file sizes, a migrated store's count), so a page holds some
//! [`TARGET_ENTRIES`]; its layout and row count are in the repository's settings
//! (`row_pages/source`). A source that grows past twice that per page is laid out again by
//! the next incremental ingest ([`relayout`]).
//!
//! One page is one sled key for a hundred rows or more: a stored row used to cost a document
//! of its own (one of the 4.4 keys a row wrote, `docs/benchmarks.md`, "#23").
//!
//! The ingest reads a page once and keeps it ([`RowPages`]): on the incremental path a page a
//! row changed is written again, whole, in the same batch as the row's interaction, so a page
//! in the store never names an interaction that is not stored and a stored interaction always
//! has its entry (an ingest killed at any point is completed by the next run as before). A
//! first load writes each page once, when it has read every row of the source, and keeps no
//! entry of a source it has written.
//!
//! Stores written before the pages have one document per row in [`ROWS`]: the first ingest
//! moves them into pages ([`migrate`]), and [`row_seen`] still reads them until then.

use rapport_core::varint::{put as varint, unzigzag, zigzag};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rapport_core::{CustomerId, InteractionId, Timestamp};
use rapport_store::{Batch, Durability, Store};
use serde::{Deserialize, Serialize};

use super::writer::Writer;
use super::{META, ROWS, RowSeen};
use crate::error::Error;

/// Collection of the pages of rows seen, keyed by `source:bits:bucket`.
pub const ROW_PAGES: &str = "row_pages";

/// Settings key prefix of a source's page layout ([`Layout`]).
const LAYOUT_PREFIX: &str = "row_pages/";

/// Entries a page is laid out to hold (about 5 KB). A source that grows past twice this per
/// page is laid out again ([`relayout`]). Pages of 32 entries were measured: a night wrote
/// 30% less, but the first load's store was 5% larger (more keys) and the night's CPU the
/// same (`docs/benchmarks.md`, "#23: the night path, part 2").
pub(crate) const TARGET_ENTRIES: u64 = 128;

/// Most pages a source is laid out in (`2^20`: 128 M rows at [`TARGET_ENTRIES`]; the page key
/// holds a bucket in five hex digits).
const MAX_BITS: u8 = 20;

/// Entries the incremental path keeps in its page cache before it drops the pages it has
/// written (48 bytes each: about 100 MB).
const CACHE_ENTRIES: usize = 2_000_000;

/// The version byte a page's encoding starts with.
const PAGE_V1: u8 = 1;

/// How a source's rows are laid out in pages, and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The source has `2^bits` pages.
    pub bits: u8,
    /// Rows seen of the source.
    pub rows: u64,
}

/// The layout for a source of about `rows` rows.
pub(crate) fn bits_for(rows: u64) -> u8 {
    let mut bits = 0u8;
    while bits < MAX_BITS && (rows >> bits) > TARGET_ENTRIES {
        bits += 1;
    }
    bits
}

/// The source a row key belongs to (what comes before its first `:`).
pub(crate) fn page_source(row_key: &str) -> &str {
    row_key.split_once(':').map_or(row_key, |(s, _)| s)
}

/// The bucket of a digest among `2^bits` pages.
fn bucket(digest: u128, bits: u8) -> u32 {
    if bits == 0 {
        return 0;
    }
    // The high half is the FNV-1a hash of the key; mixed again so that every bit counts.
    let mut z = (digest >> 64) as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> (64 - u32::from(bits))) as u32
}

fn page_key(source: &str, bits: u8, bucket: u32) -> String {
    format!("{source}:{bits:02}:{bucket:05x}")
}

/// One row's entry, as a page holds it in memory (48 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    digest: [u64; 2],
    hash: u64,
    /// The interaction's customer, or `u64::MAX` when the row stored none.
    customer: u64,
    at: i64,
    id: u64,
}

impl Entry {
    fn new(digest: u128, seen: &RowSeen) -> Entry {
        let (customer, at, id) = match seen.interaction {
            Some((c, at, id)) => (c.0, at.0, id.0),
            None => (u64::MAX, 0, 0),
        };
        Entry {
            digest: split(digest),
            hash: seen.hash,
            customer,
            at,
            id,
        }
    }

    fn seen(&self) -> RowSeen {
        RowSeen {
            hash: self.hash,
            interaction: (self.customer != u64::MAX).then_some((
                CustomerId(self.customer),
                Timestamp(self.at),
                InteractionId(self.id),
            )),
        }
    }
}

fn split(d: u128) -> [u64; 2] {
    [(d >> 64) as u64, d as u64]
}

fn join(d: [u64; 2]) -> u128 {
    (u128::from(d[0]) << 64) | u128::from(d[1])
}

/// The entries of one page, sorted by digest.
#[derive(Debug, Default, Clone)]
struct Page {
    entries: Vec<Entry>,
}

impl Page {
    fn find(&self, digest: u128) -> Result<usize, usize> {
        let d = split(digest);
        self.entries.binary_search_by(|e| e.digest.cmp(&d))
    }

    /// Sets a row's entry; whether the row is new to the page.
    fn set(&mut self, digest: u128, seen: &RowSeen) -> bool {
        let e = Entry::new(digest, seen);
        match self.find(digest) {
            Ok(i) => {
                self.entries[i] = e;
                false
            }
            Err(i) => {
                self.entries.insert(i, e);
                true
            }
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.entries.len() * 40);
        out.push(PAGE_V1);
        varint(&mut out, self.entries.len() as u64);
        for e in &self.entries {
            out.extend_from_slice(&join(e.digest).to_be_bytes());
            out.extend_from_slice(&e.hash.to_le_bytes());
            if e.customer == u64::MAX {
                varint(&mut out, 0);
            } else {
                varint(&mut out, e.customer + 1);
                varint(&mut out, zigzag(e.at));
                varint(&mut out, e.id);
            }
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Page> {
        let mut r = Reader(bytes);
        if r.byte()? != PAGE_V1 {
            return None;
        }
        let n = usize::try_from(r.varint()?).ok()?;
        // Each entry takes at least 25 bytes: a count beyond that is a damaged page.
        if n > bytes.len() / 25 {
            return None;
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let digest = u128::from_be_bytes(r.take::<16>()?);
            let hash = u64::from_le_bytes(r.take::<8>()?);
            let (customer, at, id) = match r.varint()? {
                0 => (u64::MAX, 0, 0),
                c => (c - 1, unzigzag(r.varint()?), r.varint()?),
            };
            entries.push(Entry {
                digest: split(digest),
                hash,
                customer,
                at,
                id,
            });
        }
        if !r.0.is_empty() || !entries.windows(2).all(|w| w[0].digest < w[1].digest) {
            return None;
        }
        Some(Page { entries })
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn varint(&mut self) -> Option<u64> {
        rapport_core::varint::take(&mut self.0).ok()
    }
}

fn layout_key(source: &str) -> String {
    format!("{LAYOUT_PREFIX}{source}")
}

fn read_page(store: &Store, key: &str) -> Result<Option<Page>, Error> {
    match store.doc::<Vec<u8>>(ROW_PAGES, key)? {
        None => Ok(None),
        Some(bytes) => Page::decode(&bytes)
            .map(Some)
            .ok_or_else(|| Error::Invalid(format!("{ROW_PAGES}/{key}: a damaged page of rows"))),
    }
}

fn put_page(b: &mut Batch, key: &str, page: &Page) -> Result<(), Error> {
    Ok(b.put_doc_compact(ROW_PAGES, key, &page.encode())?)
}

/// Where pages not in memory are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// From the store (an ingest into a store that holds rows).
    Store,
    /// Nowhere: the store held no rows when the run began, so a page this run has not made
    /// is empty (a first load, or an incremental run into an empty store), except the pages
    /// of sources a first load has written already ([`RowPages::reopen`]).
    RunOnly,
}

/// The pages of rows seen an ingest works with (see the module documentation).
pub(crate) struct RowPages {
    reads: Reads,
    layouts: HashMap<String, Layout>,
    pages: HashMap<(String, u32), Page>,
    /// Pages changed since they were last handed to a batch.
    dirty: BTreeSet<(String, u32)>,
    /// Layouts changed since they were last handed to a batch.
    dirty_layouts: BTreeSet<String>,
    /// Sources a first load has written and dropped: their pages are read from the store.
    written: HashSet<String>,
    /// Entries held in `pages`.
    entries: usize,
}

impl RowPages {
    pub(crate) fn new(reads: Reads) -> RowPages {
        RowPages {
            reads,
            layouts: HashMap::new(),
            pages: HashMap::new(),
            dirty: BTreeSet::new(),
            dirty_layouts: BTreeSet::new(),
            written: HashSet::new(),
            entries: 0,
        }
    }

    fn reads_store(&self, source: &str) -> bool {
        self.reads == Reads::Store || self.written.contains(source)
    }

    fn layout(&mut self, store: &Store, source: &str) -> Result<Option<Layout>, Error> {
        if let Some(l) = self.layouts.get(source) {
            return Ok(Some(*l));
        }
        if !self.reads_store(source) {
            return Ok(None);
        }
        let found = store.doc::<Layout>(META, &layout_key(source))?;
        if let Some(l) = found {
            self.layouts.insert(source.to_string(), l);
        }
        Ok(found)
    }

    /// The page a digest falls in, read once.
    fn page(
        &mut self,
        store: &Store,
        source: &str,
        layout: Layout,
        digest: u128,
    ) -> Result<(u32, &mut Page), Error> {
        let b = bucket(digest, layout.bits);
        let id = (source.to_string(), b);
        if !self.pages.contains_key(&id) {
            let page = if self.reads_store(source) {
                read_page(store, &page_key(source, layout.bits, b))?.unwrap_or_default()
            } else {
                Page::default()
            };
            self.entries += page.entries.len();
            self.pages.insert(id.clone(), page);
        }
        let page = self
            .pages
            .get_mut(&id)
            .ok_or_else(|| Error::Invalid(format!("{ROW_PAGES}: page {source}:{b} not held")))?;
        Ok((b, page))
    }

    /// Whether the source is one a first load has written already and reads back now.
    pub(crate) fn was_written(&self, source: &str) -> bool {
        self.written.contains(source)
    }

    /// What the row `digest` of `source` left when it was stored, if it was.
    pub(crate) fn get(
        &mut self,
        store: &Store,
        source: &str,
        digest: u128,
    ) -> Result<Option<RowSeen>, Error> {
        let Some(layout) = self.layout(store, source)? else {
            return Ok(None);
        };
        let (_, page) = self.page(store, source, layout, digest)?;
        Ok(page.find(digest).ok().map(|i| page.entries[i].seen()))
    }

    /// Records a stored row; `expected_rows` lays out a source that has no pages yet.
    pub(crate) fn set(
        &mut self,
        store: &Store,
        source: &str,
        digest: u128,
        seen: &RowSeen,
        expected_rows: u64,
    ) -> Result<(), Error> {
        let layout = match self.layout(store, source)? {
            Some(l) => l,
            None => {
                let l = Layout {
                    bits: bits_for(expected_rows),
                    rows: 0,
                };
                self.layouts.insert(source.to_string(), l);
                l
            }
        };
        let (b, page) = self.page(store, source, layout, digest)?;
        let new = page.set(digest, seen);
        self.dirty.insert((source.to_string(), b));
        if new {
            self.entries += 1;
            if let Some(l) = self.layouts.get_mut(source) {
                l.rows += 1;
            }
            self.dirty_layouts.insert(source.to_string());
        }
        Ok(())
    }

    /// Puts every page and layout changed since the last call into `b`, calling `cut` after
    /// each page (the incremental path keeps them in the batch of their rows: `cut` does
    /// nothing; a migration hands the batch over when it is large).
    pub(crate) fn put_dirty(
        &mut self,
        b: &mut Batch,
        mut cut: impl FnMut(&mut Batch) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for (source, bucket) in std::mem::take(&mut self.dirty) {
            let (Some(layout), Some(page)) = (
                self.layouts.get(&source),
                self.pages.get(&(source.clone(), bucket)),
            ) else {
                continue;
            };
            put_page(b, &page_key(&source, layout.bits, bucket), page)?;
            cut(b)?;
        }
        for source in std::mem::take(&mut self.dirty_layouts) {
            if let Some(l) = self.layouts.get(&source) {
                b.put_doc(META, &layout_key(&source), l)?;
            }
        }
        Ok(())
    }

    /// Whether the cache holds more entries than it should keep (incremental path).
    pub(crate) fn over_budget(&self) -> bool {
        self.reads == Reads::Store && self.entries > CACHE_ENTRIES
    }

    /// Drops every page held. Only once they are all in the store: after
    /// [`RowPages::put_dirty`] and a writer barrier, and only where pages are read from the
    /// store ([`Reads::Store`]).
    pub(crate) fn drop_clean(&mut self) {
        if self.reads == Reads::Store && self.dirty.is_empty() && self.dirty_layouts.is_empty() {
            self.pages.clear();
            self.entries = 0;
        }
    }

    /// A first load's end of a source: every page of `source` goes to the writer (in key
    /// order, with the layout last) and is dropped; from then on its pages are read from the
    /// store, once the writer has applied them (see [`RowPages::was_written`]).
    pub(crate) fn write_source(&mut self, source: &str, writer: &mut Writer) -> Result<(), Error> {
        let Some(layout) = self.layouts.get(source).copied() else {
            return Ok(());
        };
        let mut buckets: Vec<u32> = self
            .pages
            .keys()
            .filter(|(s, _)| s == source)
            .map(|(_, b)| *b)
            .collect();
        buckets.sort_unstable();
        let mut b = Batch::default();
        for bucket in buckets {
            let id = (source.to_string(), bucket);
            if let Some(page) = self.pages.remove(&id) {
                self.entries -= page.entries.len();
                if self.dirty.remove(&id) {
                    put_page(&mut b, &page_key(source, layout.bits, bucket), &page)?;
                    super::bulk::cut(&mut b, writer)?;
                }
            }
        }
        if self.dirty_layouts.remove(source) {
            b.put_doc(META, &layout_key(source), &layout)?;
        }
        writer.write(b)?;
        self.layouts.remove(source);
        self.written.insert(source.to_string());
        Ok(())
    }

    /// Entries held and the bytes their pages hold (by capacity), for the memory census.
    pub(crate) fn census(&self) -> (usize, usize) {
        let bytes = self
            .pages
            .iter()
            .map(|((s, _), p)| {
                s.capacity() + 56 + p.entries.capacity() * std::mem::size_of::<Entry>()
            })
            .sum();
        (self.entries, bytes)
    }

    /// The sources with pages held (a first load writes them at its end).
    pub(crate) fn sources(&self) -> Vec<String> {
        let mut s: Vec<String> = self.layouts.keys().cloned().collect();
        s.sort();
        s
    }
}

/// What the store remembers about the row `row_key` (`source:row key`): from its page, or
/// from its own document in a store whose rows are not in pages yet.
pub fn row_seen(store: &Store, row_key: &str) -> Result<Option<RowSeen>, Error> {
    let source = page_source(row_key);
    if let Some(layout) = store.doc::<Layout>(META, &layout_key(source))? {
        let digest = super::bulk::row_digest(row_key);
        if let Some(page) = read_page(
            store,
            &page_key(source, layout.bits, bucket(digest, layout.bits)),
        )? && let Ok(i) = page.find(digest)
        {
            return Ok(Some(page.entries[i].seen()));
        }
    }
    Ok(store.doc::<RowSeen>(ROWS, row_key)?)
}

/// A change to rows seen: the row `row_key`'s interaction now belongs to `to`.
pub(crate) struct Repoint {
    pub row_key: String,
    pub from: (CustomerId, Timestamp, InteractionId),
    pub to: CustomerId,
}

/// Points the entries of rows whose interaction moved (a merge, an unmerge) at their new
/// customer, in `b`: each page changed is put once, whole; a row still in its own document
/// (a store not migrated yet) has that document rewritten.
pub(crate) fn repoint(store: &Store, b: &mut Batch, moves: &[Repoint]) -> Result<(), Error> {
    let mut pages: BTreeMap<String, Page> = BTreeMap::new();
    let mut layouts: HashMap<String, Option<Layout>> = HashMap::new();
    for m in moves {
        let source = page_source(&m.row_key);
        let layout = match layouts.get(source) {
            Some(l) => *l,
            None => {
                let l = store.doc::<Layout>(META, &layout_key(source))?;
                layouts.insert(source.to_string(), l);
                l
            }
        };
        let mut done = false;
        if let Some(layout) = layout {
            let digest = super::bulk::row_digest(&m.row_key);
            let key = page_key(source, layout.bits, bucket(digest, layout.bits));
            if !pages.contains_key(&key)
                && let Some(p) = read_page(store, &key)?
            {
                pages.insert(key.clone(), p);
            }
            if let Some(page) = pages.get_mut(&key)
                && let Ok(i) = page.find(digest)
            {
                done = true;
                let e = &mut page.entries[i];
                let (c, at, id) = m.from;
                if (e.customer, e.at, e.id) == (c.0, at.0, id.0) {
                    e.customer = m.to.0;
                }
            }
        }
        if !done
            && let Some(mut seen) = store.doc::<RowSeen>(ROWS, &m.row_key)?
            && seen.interaction == Some(m.from)
        {
            let (_, at, id) = m.from;
            seen.interaction = Some((m.to, at, id));
            b.put_doc_compact(ROWS, &m.row_key, &seen)?;
        }
    }
    for (key, page) in &pages {
        put_page(b, key, page)?;
    }
    Ok(())
}

/// The layout a source of `layout.rows` rows is laid out in again, when its pages hold more
/// than twice [`TARGET_ENTRIES`] on average (it grew past what its first file said).
fn relayout_bits(layout: Layout) -> Option<u8> {
    let bits = bits_for(layout.rows);
    (bits > layout.bits.saturating_add(1)).then_some(bits)
}

/// The bits of a page key (`source:bits:bucket`).
fn key_bits(key: &str) -> Option<u8> {
    key.split(':').nth(1)?.parse().ok()
}

/// Lays out again every source whose pages hold more than twice [`TARGET_ENTRIES`] on
/// average: a source that grew night after night past what its first file said. Source by
/// source: each page is split into the `2^(new - old)` pages its entries fall in (a digest's
/// bucket is the top bits of its mixed hash, so the new buckets of a page's entries are its
/// own followed by more bits), written under the new bits in key order, then the layout is
/// switched in a batch of its own and the old pages are removed. A page whose bits are not
/// its source's layout's is left over from a run killed midway (new pages before the switch,
/// old ones after it) and is removed first, so the next run completes the work. Returns the
/// rows laid out again.
pub(crate) fn relayout(store: &Store) -> Result<u64, Error> {
    let layouts: Vec<(String, Layout)> = store
        .docs::<Layout>(META, LAYOUT_PREFIX)
        .map(|r| r.map(|(k, l)| (k[LAYOUT_PREFIX.len()..].to_string(), l)))
        .collect::<Result<_, _>>()?;
    let mut moved = 0;
    for (source, layout) in layouts {
        // Pages of another layout than the source's: what a killed run left. One seek per
        // other layout, not a walk over every page key of the source each night.
        let mut stale: Vec<String> = Vec::new();
        for other in (0..=MAX_BITS).filter(|b| *b != layout.bits) {
            for k in store.doc_keys(ROW_PAGES, &format!("{source}:{other:02}:")) {
                stale.push(k?);
            }
        }
        remove_pages(store, &stale)?;
        let Some(bits) = relayout_bits(layout) else {
            continue;
        };
        let began = std::time::Instant::now();
        let shift = bits - layout.bits;
        let mut old_keys: Vec<String> = Vec::new();
        let mut b = Batch::default();
        let mut rows = 0u64;
        for doc in store.docs::<Vec<u8>>(ROW_PAGES, &format!("{source}:{:02}:", layout.bits)) {
            let (key, bytes) = doc?;
            let page = Page::decode(&bytes).ok_or_else(|| {
                Error::Invalid(format!("{ROW_PAGES}/{key}: a damaged page of rows"))
            })?;
            let mut split: BTreeMap<u32, Page> = BTreeMap::new();
            for e in page.entries {
                // Entries stay sorted by digest within each new page.
                split
                    .entry(bucket(join(e.digest), bits))
                    .or_default()
                    .entries
                    .push(e);
                rows += 1;
            }
            for (bucket, page) in &split {
                put_page(&mut b, &page_key(&source, bits, *bucket), page)?;
            }
            old_keys.push(key);
            if b.bytes() >= MIGRATE_BYTES {
                store.write(std::mem::take(&mut b), Durability::Batched)?;
            }
        }
        store.write(b, Durability::Batched)?;
        // The switch: from here on the new pages are the source's.
        let mut b = Batch::default();
        b.put_doc(
            META,
            &layout_key(&source),
            &Layout {
                bits,
                rows: layout.rows,
            },
        )?;
        store.write(b, Durability::Batched)?;
        remove_pages(store, &old_keys)?;
        moved += rows;
        tracing::info!(
            source = source.as_str(),
            rows,
            pages_before = old_keys.len(),
            bits_before = layout.bits,
            bits,
            split = 1u32 << shift,
            seconds = format!("{:.2}", began.elapsed().as_secs_f64()),
            "rows seen laid out again in smaller pages"
        );
    }
    if moved > 0 {
        store.flush()?;
    }
    Ok(moved)
}

fn remove_pages(store: &Store, keys: &[String]) -> Result<(), Error> {
    for chunk in keys.chunks(MIGRATE_BATCH) {
        let mut b = Batch::default();
        for k in chunk {
            b.remove_doc(ROW_PAGES, k);
        }
        store.write(b, Durability::Batched)?;
    }
    Ok(())
}

/// Rows seen in the store (pages and documents not migrated yet).
pub fn rows_seen_count(store: &Store) -> Result<u64, Error> {
    let mut n = store.doc_count(ROWS)?;
    for l in store.docs::<Layout>(META, LAYOUT_PREFIX) {
        n += l?.1.rows;
    }
    Ok(n)
}

/// Every row seen in the store, by source and digest of its row key (pages, then documents
/// not migrated yet), for comparisons and checks.
pub fn rows_seen(store: &Store) -> Result<BTreeMap<(String, u128), RowSeen>, Error> {
    let mut out = BTreeMap::new();
    let layouts: HashMap<String, u8> = store
        .docs::<Layout>(META, LAYOUT_PREFIX)
        .map(|r| r.map(|(k, l)| (k[LAYOUT_PREFIX.len()..].to_string(), l.bits)))
        .collect::<Result<_, _>>()?;
    for doc in store.docs::<Vec<u8>>(ROW_PAGES, "") {
        let (key, bytes) = doc?;
        let source = page_source(&key).to_string();
        // A page of another layout than its source's is left over from a relayout killed
        // midway (the next ingest removes it).
        if layouts.get(&source).copied() != key_bits(&key) {
            continue;
        }
        let page = Page::decode(&bytes)
            .ok_or_else(|| Error::Invalid(format!("{ROW_PAGES}/{key}: a damaged page of rows")))?;
        for e in page.entries {
            out.insert((source.clone(), join(e.digest)), e.seen());
        }
    }
    for doc in store.docs::<RowSeen>(ROWS, "") {
        let (key, seen) = doc?;
        let source = page_source(&key).to_string();
        out.entry((source, super::bulk::row_digest(&key)))
            .or_insert(seen);
    }
    Ok(out)
}

/// Whether the store holds any row seen (a page or a document).
pub(crate) fn any(store: &Store) -> Result<bool, Error> {
    Ok(store.docs::<Vec<u8>>(ROW_PAGES, "").next().is_some()
        || store.docs::<RowSeen>(ROWS, "").next().is_some())
}

/// Documents removed per batch by [`migrate`].
const MIGRATE_BATCH: usize = 20_000;
/// Bytes of pages per batch written by [`migrate`].
const MIGRATE_BYTES: usize = 1 << 20;

/// Moves the rows of a store written before the pages (one [`ROWS`] document each) into
/// pages, source by source: first the pages (an entry already in a page stands: it is the
/// newer), then the documents are removed. A run killed midway leaves documents that the next
/// run moves again; until then [`row_seen`] reads them. Returns the rows moved.
pub(crate) fn migrate(store: &Store) -> Result<u64, Error> {
    // The sources and their counts, from the keys (`source:row key`).
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for doc in store.docs::<RowSeen>(ROWS, "") {
        let (key, _) = doc?;
        *counts.entry(page_source(&key).to_string()).or_insert(0) += 1;
    }
    let mut moved = 0;
    for (source, count) in counts {
        let mut pages = RowPages::new(Reads::Store);
        let layout = pages.layout(store, &source)?;
        let mut kept: Vec<(u128, RowSeen)> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        for doc in store.docs::<RowSeen>(ROWS, &format!("{source}:")) {
            let (key, seen) = doc?;
            if page_source(&key) != source {
                continue;
            }
            kept.push((super::bulk::row_digest(&key), seen));
            keys.push(key);
        }
        let expected = count + layout.map_or(0, |l| l.rows);
        for (digest, seen) in &kept {
            if pages.get(store, &source, *digest)?.is_none() {
                pages.set(store, &source, *digest, seen, expected)?;
            }
        }
        let mut b = Batch::default();
        pages.put_dirty(&mut b, |b| {
            if b.bytes() >= MIGRATE_BYTES {
                store.write(std::mem::take(b), Durability::Batched)?;
            }
            Ok(())
        })?;
        store.write(b, Durability::Batched)?;
        for chunk in keys.chunks(MIGRATE_BATCH) {
            let mut b = Batch::default();
            for k in chunk {
                b.remove_doc(ROWS, k);
            }
            store.write(b, Durability::Batched)?;
        }
        moved += keys.len() as u64;
        tracing::info!(
            source = source.as_str(),
            rows = keys.len(),
            "rows seen moved into pages"
        );
    }
    if moved > 0 {
        store.flush()?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(hash: u64, i: Option<(u64, i64, u64)>) -> RowSeen {
        RowSeen {
            hash,
            interaction: i.map(|(c, at, id)| (CustomerId(c), Timestamp(at), InteractionId(id))),
        }
    }

    #[test]
    fn a_page_encodes_its_entries_compactly_and_decodes_them_back() {
        let mut p = Page::default();
        let mut n = 0;
        for k in 0..200u64 {
            let d = super::super::bulk::row_digest(&format!("web:{k}"));
            let s = if k % 3 == 0 {
                seen(k * 7919, None)
            } else {
                seen(
                    u64::MAX - k,
                    Some((k, 1_764_000_000_000 - k as i64 * 1000, 1_000_000 + k)),
                )
            };
            assert!(p.set(d, &s));
            n += 1;
        }
        // Setting a row again replaces its entry.
        let d = super::super::bulk::row_digest("web:5");
        assert!(!p.set(d, &seen(1, Some((9, -5, 3)))));
        let bytes = p.encode();
        assert!(
            bytes.len() < n * 40,
            "{} bytes for {n} entries",
            bytes.len()
        );
        let back = Page::decode(&bytes).unwrap();
        assert_eq!(back.entries, p.entries);
        assert_eq!(
            back.entries[back.find(d).unwrap()].seen(),
            seen(1, Some((9, -5, 3)))
        );
        // Damaged pages are refused, not misread.
        assert!(Page::decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(Page::decode(&[2]).is_none());
        let mut long = bytes.clone();
        long.push(0);
        assert!(Page::decode(&long).is_none());
    }

    #[test]
    fn layouts_hold_about_the_target_per_page_and_buckets_spread() {
        assert_eq!(bits_for(0), 0);
        assert_eq!(bits_for(TARGET_ENTRIES), 0);
        assert_eq!(bits_for(TARGET_ENTRIES + 1), 1);
        assert_eq!(bits_for(300_000), 12);
        assert_eq!(bits_for(u64::MAX), MAX_BITS);
        let bits = 6;
        let mut counts = vec![0u32; 1 << bits];
        for k in 0..64_000 {
            let d = super::super::bulk::row_digest(&format!("reservations:R{k:07}"));
            counts[bucket(d, bits) as usize] += 1;
        }
        let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*lo > 800 && *hi < 1200, "{lo}..{hi}");
        assert_eq!(page_source("web:a:b"), "web");
    }

    #[test]
    fn a_source_grown_past_its_layout_is_laid_out_again_and_a_killed_relayout_completed() {
        let store = Store::temporary().unwrap();
        let digest = |k: &str| super::super::bulk::row_digest(k);
        // Pages as an ingest writes them today: `crm` laid out for one row (one page) and
        // grown to 2,000; `web` as its layout expected.
        let mut rp = RowPages::new(Reads::Store);
        for k in 0..2000u64 {
            let s = seen(k, (k % 3 != 0).then_some((k % 17, k as i64 * 1000, k)));
            rp.set(&store, "crm", digest(&format!("crm:{k}")), &s, 1)
                .unwrap();
        }
        for k in 0..100u64 {
            rp.set(
                &store,
                "web",
                digest(&format!("web:{k}")),
                &seen(k, None),
                100,
            )
            .unwrap();
        }
        let mut b = Batch::default();
        rp.put_dirty(&mut b, |_| Ok(())).unwrap();
        store.write(b, Durability::Batched).unwrap();
        let layout = |s: &str| store.doc::<Layout>(META, &layout_key(s)).unwrap().unwrap();
        assert_eq!(
            layout("crm"),
            Layout {
                bits: 0,
                rows: 2000
            }
        );
        assert_eq!(layout("web").bits, 0);
        let before = rows_seen(&store).unwrap();
        assert_eq!(before.len(), 2100);
        let pages = |s: &str| -> Vec<String> {
            store
                .doc_keys(ROW_PAGES, &format!("{s}:"))
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(pages("crm"), ["crm:00:00000"]);

        // A relayout killed after writing some new pages, before its switch: they are not
        // the source's pages yet (not read, not counted).
        let mut stray = Page::default();
        stray.set(digest("crm:stray"), &seen(1, None));
        let mut b = Batch::default();
        put_page(&mut b, &page_key("crm", 4, 3), &stray).unwrap();
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(rows_seen(&store).unwrap(), before);

        assert_eq!(relayout(&store).unwrap(), 2000);
        let bits = bits_for(2000);
        assert_eq!(bits, 4);
        assert_eq!(layout("crm"), Layout { bits, rows: 2000 });
        assert_eq!(layout("web").bits, 0, "a source within its layout stays");
        let crm = pages("crm");
        assert_eq!(crm.len(), 16, "{crm:?}");
        assert!(crm.iter().all(|k| key_bits(k) == Some(bits)), "{crm:?}");
        assert_eq!(rows_seen(&store).unwrap(), before);
        assert_eq!(rows_seen_count(&store).unwrap(), 2100);
        for k in [0u64, 1, 999, 1999] {
            assert_eq!(
                row_seen(&store, &format!("crm:{k}")).unwrap(),
                Some(seen(
                    k,
                    (k % 3 != 0).then_some((k % 17, k as i64 * 1000, k))
                )),
            );
        }
        assert_eq!(row_seen(&store, "crm:stray").unwrap(), None);
        // Nothing left to do; an ingest's cache reads and writes the new pages.
        assert_eq!(relayout(&store).unwrap(), 0);
        let mut rp = RowPages::new(Reads::Store);
        assert_eq!(
            rp.get(&store, "crm", digest("crm:4")).unwrap(),
            Some(seen(4, Some((4, 4000, 4))))
        );
        rp.set(&store, "crm", digest("crm:new"), &seen(7, None), 1)
            .unwrap();
        let mut b = Batch::default();
        rp.put_dirty(&mut b, |_| Ok(())).unwrap();
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(row_seen(&store, "crm:new").unwrap(), Some(seen(7, None)));
        assert_eq!(pages("crm").len(), 16);

        // A relayout killed after its switch, before the old pages were removed: the old
        // page is not read, and the next relayout removes it.
        let mut old = Page::default();
        old.set(digest("crm:0"), &seen(0, None));
        let mut b = Batch::default();
        put_page(&mut b, &page_key("crm", 0, 0), &old).unwrap();
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(rows_seen(&store).unwrap().len(), 2101);
        assert_eq!(relayout(&store).unwrap(), 0);
        assert_eq!(pages("crm").len(), 16);
        assert_eq!(rows_seen_count(&store).unwrap(), 2101);
    }

    #[test]
    fn rows_seen_survive_the_store_and_old_documents_move_into_pages() {
        let store = Store::temporary().unwrap();
        // A store of before the pages: one document per row.
        let mut b = Batch::default();
        for k in 0..1000u64 {
            let s = seen(k, Some((k % 17, k as i64, k)));
            b.put_doc_compact(ROWS, &format!("crm:{k}"), &s).unwrap();
        }
        b.put_doc_compact(ROWS, "web:x", &seen(5, None)).unwrap();
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(rows_seen_count(&store).unwrap(), 1001);
        let before = rows_seen(&store).unwrap();
        assert_eq!(before.len(), 1001);
        assert_eq!(
            row_seen(&store, "crm:7").unwrap(),
            Some(seen(7, Some((7, 7, 7))))
        );
        // A merge before the migration rewrites the document.
        let mut b = Batch::default();
        let from = (CustomerId(7), Timestamp(7), InteractionId(7));
        repoint(
            &store,
            &mut b,
            &[Repoint {
                row_key: "crm:7".into(),
                from,
                to: CustomerId(99),
            }],
        )
        .unwrap();
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(
            row_seen(&store, "crm:7").unwrap(),
            Some(seen(7, Some((99, 7, 7))))
        );

        assert_eq!(migrate(&store).unwrap(), 1001);
        assert_eq!(store.doc_count(ROWS).unwrap(), 0);
        let pages = store.doc_count(ROW_PAGES).unwrap();
        assert!((8..=16).contains(&pages), "{pages} pages");
        assert_eq!(rows_seen_count(&store).unwrap(), 1001);
        let after = rows_seen(&store).unwrap();
        let mut expected = before.clone();
        expected.insert(
            ("crm".into(), super::super::bulk::row_digest("crm:7")),
            seen(7, Some((99, 7, 7))),
        );
        assert_eq!(after, expected);
        for k in [0u64, 500, 999] {
            assert_eq!(
                row_seen(&store, &format!("crm:{k}")).unwrap(),
                Some(seen(k, Some((k % 17, k as i64, k))))
            );
        }
        assert_eq!(row_seen(&store, "web:x").unwrap(), Some(seen(5, None)));
        assert_eq!(row_seen(&store, "crm:1000").unwrap(), None);
        // Nothing left to move.
        assert_eq!(migrate(&store).unwrap(), 0);

        // A merge after it rewrites the page.
        let mut b = Batch::default();
        repoint(
            &store,
            &mut b,
            &[Repoint {
                row_key: "crm:8".into(),
                from: (CustomerId(8), Timestamp(8), InteractionId(8)),
                to: CustomerId(42),
            }],
        )
        .unwrap();
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(
            row_seen(&store, "crm:8").unwrap(),
            Some(seen(8, Some((42, 8, 8))))
        );

        // The cache reads pages from the store and writes changed ones whole.
        let mut rp = RowPages::new(Reads::Store);
        let d = super::super::bulk::row_digest("crm:9");
        assert_eq!(
            rp.get(&store, "crm", d).unwrap(),
            Some(seen(9, Some((9, 9, 9))))
        );
        let n = super::super::bulk::row_digest("crm:new");
        assert_eq!(rp.get(&store, "crm", n).unwrap(), None);
        rp.set(&store, "crm", n, &seen(1, None), 1).unwrap();
        rp.set(&store, "crm", d, &seen(2, None), 1).unwrap();
        let mut b = Batch::default();
        rp.put_dirty(&mut b, |_| Ok(())).unwrap();
        store.write(b, Durability::Batched).unwrap();
        rp.drop_clean();
        assert_eq!(rows_seen_count(&store).unwrap(), 1002);
        assert_eq!(row_seen(&store, "crm:new").unwrap(), Some(seen(1, None)));
        assert_eq!(row_seen(&store, "crm:9").unwrap(), Some(seen(2, None)));
        assert_eq!(
            row_seen(&store, "crm:10").unwrap(),
            Some(seen(10, Some((10, 10, 10))))
        );
    }
}
