//! [`Store`]: the handle, reads, atomic writes and id allocation.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rapport_core::{
    CompensationGrant, Customer, CustomerId, Interaction, InteractionId, Scores, Tier, Timestamp,
};
use serde::de::DeserializeOwned;

use crate::batch::Op;
use crate::feed::{Feed, Subscriber};
use crate::index::{IndexPlan, IndexState};
use crate::keys::{self, Key, Space};
use crate::seal::{self, KeyStore};
use crate::vocab::Vocab;
use crate::{Batch, Durability, Error, IndexKey, IndexKind, SpaceBytes, Stats, codec, schema};

const NEXT_CUSTOMER: &str = "next_customer";
const NEXT_INTERACTION: &str = "next_interaction";
/// Meta key: interaction writes mark stale digests ([`Store::track_stale_digests`]).
const STALE_TRACKING: &str = "stale_digest_tracking";
/// How long `open` retries a database whose lock was only just released.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(1_000);

/// sled's segment (and write buffer) size for a new database: 8 MiB, not sled's 512 KiB.
/// sled walks its whole segment table every time it retires a segment, so with 512 KiB
/// segments a 20 GB store (38,000 segments) spent 37% of a scoring run's CPU there
/// (`SegmentAccountant::stabilize`, docs/benchmarks.md); 8 MiB segments are 16 times fewer
/// and retired 16 times less often.
pub const SEGMENT_SIZE: usize = 8 << 20;

/// The segment size a database at `path` was made with (sled refuses another), read from
/// sled's `conf` file (text lines, then a binary checksum); [`SEGMENT_SIZE`] for a new one.
fn segment_size(path: &Path) -> usize {
    std::fs::read(path.join("conf"))
        .ok()
        .and_then(|conf| {
            String::from_utf8_lossy(&conf)
                .lines()
                .find_map(|l| l.strip_prefix("segment_size: ")?.trim().parse().ok())
        })
        .unwrap_or(SEGMENT_SIZE)
}

/// Decodes a score page into its entries (slot, value).
type PageDecoder<T> = fn(&[u8]) -> Result<Vec<(u8, T)>, String>;

/// A history digest as stored, not decoded (see [`Store::stored_history_digests`]).
pub struct StoredDigest {
    id: CustomerId,
    value: sled::IVec,
}

impl std::fmt::Debug for StoredDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDigest")
            .field("customer", &self.id)
            .field("bytes", &self.value.len())
            .finish()
    }
}

impl StoredDigest {
    /// The caller's bytes, when stored with [`Batch::put_history_digest_bytes`]; `None` for a
    /// typed digest.
    pub fn bytes(&self) -> Option<&[u8]> {
        codec::opaque(&self.value)
    }

    /// A typed digest (stored with [`Batch::put_history_digest`]), decoded.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        decode_at(&keys::history_digest(self.id), &self.value)
    }
}

/// Tuning for [`Store::open_with`]. Engine-neutral: a second engine may ignore fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Bytes of decoded pages to keep in memory (default 1 GiB). Not a hard memory limit:
    /// the process uses more (see `docs/benchmarks.md`).
    pub cache_capacity: u64,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            cache_capacity: 1 << 30,
        }
    }
}

impl OpenOptions {
    /// The default options with this cache capacity in bytes.
    pub fn with_cache_capacity(mut self, bytes: u64) -> OpenOptions {
        self.cache_capacity = bytes;
        self
    }
}

/// The store handle: cheap to clone (an `Arc` inside), `Send + Sync`. Calls block the calling
/// thread; from async code run them with `spawn_blocking` or on a store thread.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: sled::Db,
    pub(crate) tree: sled::Tree,
    path: Option<PathBuf>,
    schema_version: u32,
    /// Serialises writes so that index replacement, the conditional grant insert and the id
    /// counters can read what they need and apply one atomic sled batch without a
    /// transaction (sled transactions commit under a process-wide lock and retry).
    pub(crate) write_lock: Mutex<()>,
    feed: Mutex<Option<Feed>>,
    /// The customers' keys and the database secret (`seal`): read by every read of a sealed
    /// value, written (under `write_lock`) when a batch needs new keys or a customer is erased.
    pub(crate) keys: RwLock<KeyStore>,
    /// The values of the prefix-searchable index kinds (`vocab`).
    pub(crate) vocab: RwLock<Vocab>,
    /// The index's segments, overlay count and open build (`index`).
    pub(crate) index: IndexState,
    /// Whether interaction writes mark their customers' digests stale
    /// ([`Store::stale_digests`]): on once a caller asked ([`Store::track_stale_digests`]).
    stale_tracking: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("schema_version", &self.inner.schema_version)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent even if a holder panicked: sled applied the batch
    // completely or not at all.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn decode_err(raw_key: &[u8], reason: String) -> Error {
    Error::Decode {
        tree: Space::of(raw_key).map_or("unknown", Space::name),
        key: keys::describe(raw_key),
        reason,
    }
}

fn decode_at<T: DeserializeOwned>(raw_key: &[u8], value: &[u8]) -> Result<T, Error> {
    codec::decode(value).map_err(|reason| decode_err(raw_key, reason))
}

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// The customer a key of a sealed keyspace belongs to (schema 4's interaction keys included).
fn owner_of(raw_key: &[u8]) -> Option<CustomerId> {
    if let Some((c, _, _)) = keys::parse_legacy_interaction(raw_key) {
        return Some(c);
    }
    match Key::parse(raw_key)? {
        Key::Customer(c) | Key::CustomerIndex(c) | Key::Grant(c, _) | Key::Interaction(c, _, _) => {
            Some(c)
        }
        _ => None,
    }
}

fn bad_key(raw_key: &[u8]) -> Error {
    decode_err(raw_key, "malformed key".into())
}

/// A page of customer ids read by a scan: its number and bitmap.
fn id_page(kv: sled::Result<(sled::IVec, sled::IVec)>) -> Result<(u64, [u8; 32]), Error> {
    let (k, v) = kv?;
    let Some(Key::CustomerIdPage(page)) = Key::parse(&k) else {
        return Err(bad_key(&k));
    };
    let bits = codec::decode_id_page(&v).map_err(|reason| decode_err(&k, reason))?;
    Ok((page, bits))
}

/// The ids whose bits are set in a page of customer ids, ascending.
fn page_ids(page: u64, bits: &[u8; 32]) -> impl Iterator<Item = CustomerId> + '_ {
    (0..=u8::MAX)
        .filter(|slot| bits[usize::from(slot / 8)] & (1 << (slot % 8)) != 0)
        .map(move |slot| CustomerId(page * codec::PAGE_SLOTS + u64::from(slot)))
}

impl Store {
    /// Opens the database directory at `path`, creating it if missing. Checks the schema
    /// version (migrating an older database, refusing a newer one) and fails with
    /// [`Error::Locked`] when another process has it open.
    pub fn open(path: &Path) -> Result<Store, Error> {
        Store::open_with(path, &OpenOptions::default())
    }

    /// [`Store::open`] with tuning options (e.g. a larger cache for a server).
    pub fn open_with(path: &Path, options: &OpenOptions) -> Result<Store, Error> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_capacity)
            .segment_size(segment_size(path));
        // sled releases its file lock only when its background jobs let go of the file, a
        // moment after the last handle is dropped (in this process or one that just exited),
        // so a lock conflict is retried briefly before it is reported.
        let deadline = std::time::Instant::now() + LOCK_RETRY;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(Error::Locked {
                            path: path.to_path_buf(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Err(other) => return Err(other.into()),
            }
        };
        Store::from_db(db, Some(path.to_path_buf()))
    }

    /// A store in a temporary directory, deleted when the last handle is dropped. For tests.
    pub fn temporary() -> Result<Store, Error> {
        let db = sled::Config::new().temporary(true).open()?;
        Store::from_db(db, None)
    }

    fn from_db(db: sled::Db, path: Option<PathBuf>) -> Result<Store, Error> {
        let tree: sled::Tree = (*db).clone();
        let keys = KeyStore::open(path.as_deref())?;
        let vocab = Vocab::open(path.as_deref())?;
        let index = IndexState::new(path.as_deref())?;
        let shown = path.clone().unwrap_or_else(|| PathBuf::from("(temporary)"));
        let store = Store {
            inner: Arc::new(Inner {
                db,
                tree,
                path,
                // Checked (and migrated) below, before the store is handed out.
                schema_version: schema::SCHEMA_VERSION,
                write_lock: Mutex::new(()),
                feed: Mutex::new(None),
                keys: RwLock::new(keys),
                vocab: RwLock::new(vocab),
                index,
                stale_tracking: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        schema::check(&store, &shown)?;
        if store.inner.tree.get(keys::meta(STALE_TRACKING))?.is_some() {
            store
                .inner
                .stale_tracking
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        store.recover_erasures()?;
        store.open_index()?;
        Ok(store)
    }

    /// The database directory (`None` for a temporary store).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> u32 {
        self.inner.schema_version
    }

    /// Makes every write applied so far durable against a process crash (see the crate doc
    /// for what it does not survive).
    pub fn flush(&self) -> Result<(), Error> {
        // The vocabulary and the keys first: sled's data may name them.
        read(&self.inner.vocab).sync()?;
        read(&self.inner.keys).sync()?;
        self.inner.db.flush()?;
        Ok(())
    }

    /// The plain bytes of a stored value: opened with its customer's key when sealed.
    pub(crate) fn plain<'a>(
        &self,
        raw_key: &[u8],
        value: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, Error> {
        if seal::is_sealed(value) {
            read(&self.inner.keys)
                .open_sealed(value)
                .map(Cow::Owned)
                .map_err(|reason| decode_err(raw_key, reason))
        } else {
            Ok(Cow::Borrowed(value))
        }
    }

    /// Decodes a stored value (opening it first when sealed).
    pub(crate) fn decode_at<T: DeserializeOwned>(
        &self,
        raw_key: &[u8],
        value: &[u8],
    ) -> Result<T, Error> {
        decode_at(raw_key, &self.plain(raw_key, value)?)
    }

    /// Decodes a stored document (opening it first when sealed).
    fn decode_doc_at<T: DeserializeOwned>(&self, raw_key: &[u8], value: &[u8]) -> Result<T, Error> {
        codec::decode_doc(&self.plain(raw_key, value)?)
            .map_err(|reason| decode_err(raw_key, reason))
    }

    /// The keyed hash standing for an index value in sled keys.
    pub(crate) fn index_hash(&self, kind: IndexKind, value: &str) -> [u8; seal::HASH_LEN] {
        read(&self.inner.keys).index_hash(kind.code(), value)
    }

    /// Flushes, then lets go of this handle without tearing down the page cache: for a
    /// process that exits right after (a command line run), where freeing millions of cached
    /// nodes one by one takes seconds and the exit returns the memory at once. What was
    /// written is as durable as after [`Store::flush`]: sled recovers from its log at the next
    /// open, as after any stop (its drop writes nothing more than a flush). Other handles of
    /// the same store (clones) stay usable; never call it in a process that goes on to open
    /// the same database again, since the file lock is only released at exit.
    pub fn close_for_exit(self) -> Result<(), Error> {
        self.flush()?;
        std::mem::forget(self);
        Ok(())
    }

    /// Closes the store and opens it again with `options`, for a process that has just
    /// written millions of records: sled 0.34 writes its snapshot of the page table only when
    /// it opens a database, and the open replays every write since the last snapshot, so the
    /// first open after a large ingest would take a minute or more (78 s after 7.7 million
    /// rows, cold). Reopening here pays that once, while the pages are still cached. Needs the
    /// only handle: with clones alive the database stays locked and this fails with
    /// [`Error::Locked`]. A temporary store is returned as it is.
    pub fn reopen(self, options: &OpenOptions) -> Result<Store, Error> {
        let Some(path) = self.inner.path.clone() else {
            return Ok(self);
        };
        self.flush()?;
        drop(self);
        Store::open_with(&path, options)
    }

    /// A fresh customer id: monotonic, never handed out twice (ids written by `put_customer`
    /// or an import also advance the counter).
    pub fn next_customer_id(&self) -> Result<CustomerId, Error> {
        self.next_ids(NEXT_CUSTOMER, 1).map(|r| CustomerId(r.start))
    }

    /// A block of `n` fresh customer ids (bulk work: one counter write for many customers;
    /// ids of the block left unused are never handed out).
    pub fn next_customer_ids(&self, n: u64) -> Result<Range<u64>, Error> {
        self.next_ids(NEXT_CUSTOMER, n)
    }

    /// A block of `n` fresh interaction ids.
    pub fn next_interaction_ids(&self, n: u64) -> Result<Range<u64>, Error> {
        self.next_ids(NEXT_INTERACTION, n)
    }

    fn next_ids(&self, counter: &str, n: u64) -> Result<Range<u64>, Error> {
        let _guard = lock(&self.inner.write_lock);
        let start = self.counter(counter)?;
        let end = start
            .checked_add(n)
            .ok_or_else(|| Error::Engine(format!("{counter} overflows")))?;
        self.inner
            .tree
            .insert(keys::meta(counter), encode_meta(end)?)?;
        Ok(start..end)
    }

    /// The next value of an id counter (ids start at 1).
    fn counter(&self, counter: &str) -> Result<u64, Error> {
        let key = keys::meta(counter);
        match self.inner.tree.get(&key)? {
            Some(raw) => self.decode_at(&key, &raw),
            None => Ok(1),
        }
    }

    // ---- customers ----

    /// The customer with this id.
    pub fn customer(&self, id: CustomerId) -> Result<Option<Customer>, Error> {
        self.get(&keys::customer(id))
    }

    /// Every customer, in id order.
    pub fn customers(&self) -> impl Iterator<Item = Result<Customer, Error>> + '_ {
        self.values(Space::Customers.prefix().to_vec())
    }

    /// The ids of the customers with `from <= id < to` (`to: None` for no upper end), in id
    /// order, read from the pages of customer ids (256 customers per value, kept by every
    /// customer write): no customer document is read.
    pub fn customer_ids(
        &self,
        from: CustomerId,
        to: Option<CustomerId>,
    ) -> impl Iterator<Item = Result<CustomerId, Error>> + '_ {
        let start = keys::customer_id_page(keys::score_slot(from).0);
        let range = match to {
            Some(to) => self
                .inner
                .tree
                .range(start..keys::customer_id_page(to.0.div_ceil(codec::PAGE_SLOTS))),
            None => match keys::prefix_end(&Space::CustomerIds.prefix()) {
                Some(end) => self.inner.tree.range(start..end),
                None => self.inner.tree.range(start..),
            },
        };
        range
            .flat_map(|kv| match id_page(kv) {
                Ok((page, bits)) => page_ids(page, &bits).map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
            .filter(move |r| match r {
                Ok(id) => *id >= from && to.is_none_or(|to| *id < to),
                Err(_) => true,
            })
    }

    /// The highest customer id stored (a reverse seek in the pages of customer ids).
    pub fn last_customer_id(&self) -> Result<Option<CustomerId>, Error> {
        for kv in self
            .inner
            .tree
            .scan_prefix(Space::CustomerIds.prefix())
            .rev()
        {
            let (page, bits) = id_page(kv)?;
            if let Some(id) = page_ids(page, &bits).last() {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Number of customers, from the pages of customer ids (a few thousand values at a
    /// million customers).
    pub fn customer_count(&self) -> Result<u64, Error> {
        let mut n = 0;
        for kv in self.inner.tree.scan_prefix(Space::CustomerIds.prefix()) {
            let (_, bits) = id_page(kv)?;
            n += bits.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
        }
        Ok(n)
    }

    /// Whether the customer was removed, and into whom it was merged: `Ok(Some(into))` after
    /// `remove_customer(id, Some(into))`, `Ok(None)` otherwise (also after a plain removal).
    pub fn merged_into(&self, id: CustomerId) -> Result<Option<CustomerId>, Error> {
        Ok(self
            .get::<Option<CustomerId>>(&keys::removed(id))?
            .flatten())
    }

    /// The customers merged directly into `into` (a scan of the removed-customer markers,
    /// for erasure, which must erase them too).
    pub fn merged_from(&self, into: CustomerId) -> Result<Vec<CustomerId>, Error> {
        let mut out = Vec::new();
        for kv in self.inner.tree.scan_prefix(Space::Removed.prefix()) {
            let (k, v) = kv?;
            let Some(Key::Removed(id)) = Key::parse(&k) else {
                return Err(bad_key(&k));
            };
            if decode_at::<Option<CustomerId>>(&k, &v)? == Some(into) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// The customers indexed under exactly this key, in id order.
    pub fn index_lookup(&self, key: &IndexKey) -> Result<Vec<CustomerId>, Error> {
        self.index_lookup_at_most(key, usize::MAX)
    }

    /// The first `limit` customers indexed under exactly this key, in id order: a caller that
    /// ignores keys shared by very many customers asks for one more than it uses, and does
    /// not read the rest.
    pub fn index_lookup_at_most(
        &self,
        key: &IndexKey,
        limit: usize,
    ) -> Result<Vec<CustomerId>, Error> {
        self.index_ids(key, limit)
    }

    /// Up to `limit` index entries of `kind` whose value starts with `prefix`, in value
    /// order (for type-ahead search). Index keys in the store hold a keyed hash, not the value
    /// (see `seal`): for the kinds searched by prefix ([`crate::VOCAB_KINDS`]) the prefix is
    /// expanded to the values of the vocabulary it starts and each is looked up; for the other
    /// kinds only the value equal to `prefix` is found.
    pub fn index_prefix(
        &self,
        kind: IndexKind,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, CustomerId)>, Error> {
        let mut out = Vec::new();
        if !crate::VOCAB_KINDS.contains(&kind) {
            for id in self.index_lookup_at_most(&IndexKey::new(kind, prefix), limit)? {
                out.push((prefix.to_owned(), id));
            }
            return Ok(out);
        }
        // The values are copied out in small runs so the vocabulary's lock is not held
        // across reads of sled.
        let mut after: Option<String> = None;
        while out.len() < limit {
            let run: Vec<String> = {
                let vocab = read(&self.inner.vocab);
                vocab
                    .with_prefix(kind, prefix, after.as_deref())?
                    .take(64)
                    .cloned()
                    .collect()
            };
            if run.is_empty() {
                break;
            }
            for v in &run {
                let ids =
                    self.index_lookup_at_most(&IndexKey::new(kind, v.clone()), limit - out.len())?;
                out.extend(ids.into_iter().map(|id| (v.clone(), id)));
                if out.len() >= limit {
                    break;
                }
            }
            after = run.last().cloned();
        }
        Ok(out)
    }

    /// The index keys the customer is currently indexed under, in (kind, value) order.
    pub fn index_keys_of(&self, id: CustomerId) -> Result<Vec<IndexKey>, Error> {
        Ok(self
            .get::<Vec<IndexKey>>(&keys::customer_index(id))?
            .unwrap_or_default())
    }

    // ---- interactions ----

    /// The newest `limit` interactions of the customer, newest first, strictly older than
    /// `before` (time, id) when given (for paging): a reverse range scan of its pages of
    /// interactions (one or two pages for the newest 100).
    pub fn interactions_newest(
        &self,
        customer: CustomerId,
        limit: usize,
        before: Option<(Timestamp, InteractionId)>,
    ) -> Result<Vec<Interaction>, Error> {
        self.newest_in_pages(customer, limit, before)
    }

    /// Every interaction of the customer, oldest first.
    pub fn interactions_of(
        &self,
        customer: CustomerId,
    ) -> impl Iterator<Item = Result<Interaction, Error>> + '_ {
        self.paged_interactions(keys::customer_prefix(Space::Interactions, customer))
    }

    /// Every interaction, by customer, then time.
    pub fn all_interactions(&self) -> impl Iterator<Item = Result<Interaction, Error>> + '_ {
        self.paged_interactions(Space::Interactions.prefix().to_vec())
    }

    /// Number of interactions: exact, from the counts in the headers of the pages of
    /// interactions (one small read per page, nothing opened).
    pub fn interaction_count(&self) -> Result<u64, Error> {
        Ok(self.count_paged()?.0)
    }

    // ---- grants and scores ----

    /// The grant for this (customer, disruption), if any.
    pub fn grant(
        &self,
        customer: CustomerId,
        disruption: &str,
    ) -> Result<Option<CompensationGrant>, Error> {
        self.get(&keys::grant(customer, disruption))
    }

    /// Every grant, by customer and disruption.
    pub fn grants(&self) -> impl Iterator<Item = Result<CompensationGrant, Error>> + '_ {
        self.values(Space::Grants.prefix().to_vec())
    }

    /// The customer's grants, in disruption order.
    pub fn grants_of(&self, customer: CustomerId) -> Result<Vec<CompensationGrant>, Error> {
        self.values(keys::customer_prefix(Space::Grants, customer))
            .collect()
    }

    /// The customer's latest scores: one point read of its page of scores, decoding only
    /// the page's header and this customer's entry.
    pub fn scores(&self, customer: CustomerId) -> Result<Option<Scores>, Error> {
        let (page, slot) = keys::score_slot(customer);
        let key = keys::score_page(page);
        match self.inner.tree.get(&key)? {
            Some(raw) => {
                codec::decode_score_slot(&raw, slot).map_err(|reason| decode_err(&key, reason))
            }
            None => Ok(None),
        }
    }

    /// The scores of the customers with `from <= id < to` (`to: None` for no upper end), in
    /// id order: one range scan.
    pub fn scores_in(
        &self,
        from: CustomerId,
        to: Option<CustomerId>,
    ) -> impl Iterator<Item = Result<(CustomerId, Scores), Error>> + '_ {
        self.page_entries(from, to, codec::decode_score_page)
    }

    /// The tiers of the customers with scores and `from <= id < to` (`to: None` for no upper
    /// end), in id order: [`Store::scores_in`] reading only each entry's tier.
    pub fn tiers_in(
        &self,
        from: CustomerId,
        to: Option<CustomerId>,
    ) -> impl Iterator<Item = Result<(CustomerId, Tier), Error>> + '_ {
        self.page_entries(from, to, codec::decode_score_tiers)
    }

    /// The tier and lifetime value of the customers with scores and `from <= id < to` (`to:
    /// None` for no upper end), in id order: [`Store::scores_in`] reading only what customer
    /// equity sums.
    pub fn equity_in(
        &self,
        from: CustomerId,
        to: Option<CustomerId>,
    ) -> impl Iterator<Item = Result<(CustomerId, (Tier, f64)), Error>> + '_ {
        self.page_entries(from, to, codec::decode_score_equity)
    }

    /// The entries of the score pages covering `from..to`, decoded by `decode` (slot and
    /// value per entry), in id order.
    fn page_entries<T>(
        &self,
        from: CustomerId,
        to: Option<CustomerId>,
        decode: PageDecoder<T>,
    ) -> impl Iterator<Item = Result<(CustomerId, T), Error>> + '_
    where
        T: 'static,
    {
        self.score_pages(from, to)
            .map(move |kv| -> Result<Vec<(CustomerId, T)>, Error> {
                let (k, v) = kv?;
                let Some(Key::ScorePage(page)) = Key::parse(&k) else {
                    return Err(bad_key(&k));
                };
                let entries = decode(&v).map_err(|reason| decode_err(&k, reason))?;
                Ok(entries
                    .into_iter()
                    .map(|(slot, t)| (CustomerId(page * codec::PAGE_SLOTS + u64::from(slot)), t))
                    .collect())
            })
            .flat_map(|page| match page {
                Ok(entries) => entries.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
            .filter(move |r| match r {
                Ok((id, _)) => *id >= from && to.is_none_or(|to| *id < to),
                Err(_) => true,
            })
    }

    /// The pages of scores holding customers `from..to`.
    fn score_pages(&self, from: CustomerId, to: Option<CustomerId>) -> sled::Iter {
        let start = keys::score_page(keys::score_slot(from).0);
        match to {
            Some(to) => self
                .inner
                .tree
                .range(start..keys::score_page(to.0.div_ceil(codec::PAGE_SLOTS))),
            None => match keys::prefix_end(&Space::Scores.prefix()) {
                Some(end) => self.inner.tree.range(start..end),
                None => self.inner.tree.range(start..),
            },
        }
    }

    /// The customer's history digest (see [`Batch::put_history_digest`]), if one is stored
    /// and its interactions did not change since.
    pub fn history_digest<T: DeserializeOwned>(
        &self,
        customer: CustomerId,
    ) -> Result<Option<T>, Error> {
        self.get(&keys::history_digest(customer))
    }

    /// The history digests of the customers with `from <= id < to` (`to: None` for no upper
    /// end), in id order: one range scan.
    pub fn history_digests<T: DeserializeOwned>(
        &self,
        from: CustomerId,
        to: Option<CustomerId>,
    ) -> impl Iterator<Item = Result<(CustomerId, T), Error>> + '_ {
        self.id_range(Space::HistoryDigests, from, to).map(|kv| {
            let (k, v) = kv?;
            match Key::parse(&k) {
                Some(Key::HistoryDigest(id)) => Ok((id, self.decode_at(&k, &v)?)),
                _ => Err(bad_key(&k)),
            }
        })
    }

    /// The history digests of the customers with `from <= id < to` (`to: None` for no upper
    /// end) as stored, in id order: one range scan, nothing decoded. Each is either the
    /// caller's bytes ([`Batch::put_history_digest_bytes`]) or a typed value
    /// ([`Batch::put_history_digest`]).
    pub fn stored_history_digests(
        &self,
        from: CustomerId,
        to: Option<CustomerId>,
    ) -> impl Iterator<Item = Result<(CustomerId, StoredDigest), Error>> + '_ {
        self.id_range(Space::HistoryDigests, from, to).map(|kv| {
            let (k, v) = kv?;
            match Key::parse(&k) {
                Some(Key::HistoryDigest(id)) => Ok((id, StoredDigest { id, value: v })),
                _ => Err(bad_key(&k)),
            }
        })
    }

    /// The customer's history digest as stored, not decoded (see
    /// [`Store::stored_history_digests`]).
    pub fn stored_history_digest(
        &self,
        customer: CustomerId,
    ) -> Result<Option<StoredDigest>, Error> {
        Ok(self
            .inner
            .tree
            .get(keys::history_digest(customer))?
            .map(|value| StoredDigest {
                id: customer,
                value,
            }))
    }

    /// The customers whose interactions were written since their stale marks were last
    /// cleared ([`Batch::clear_stale_digest`]), in id order: one range scan of small keys.
    /// Marks are written, in the batch that writes a customer's interactions or removes its
    /// digest, once [`Store::track_stale_digests`] has been called on the database, so an
    /// incremental scoring run reads the customers that changed, not every digest.
    pub fn stale_digests(&self) -> Result<Vec<CustomerId>, Error> {
        let mut out = Vec::new();
        for kv in self
            .inner
            .tree
            .scan_prefix(Space::StaleDigests.prefix())
            .keys()
        {
            let k = kv?;
            match Key::parse(&k) {
                Some(Key::StaleDigest(id)) => out.push(id),
                _ => return Err(bad_key(&k)),
            }
        }
        Ok(out)
    }

    /// Whether interaction writes mark stale digests ([`Store::stale_digests`]).
    pub fn tracks_stale_digests(&self) -> bool {
        self.inner
            .stale_tracking
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// From now on, every write of a customer's interactions (and every removal of its
    /// digest) marks it in [`Store::stale_digests`]; durable. The caller has just read every
    /// customer's digest (a full scoring run), so what changed before is known to it.
    pub fn track_stale_digests(&self) -> Result<(), Error> {
        if self.tracks_stale_digests() {
            return Ok(());
        }
        {
            let _guard = lock(&self.inner.write_lock);
            self.inner
                .tree
                .insert(keys::meta(STALE_TRACKING), &b"1"[..])?;
            self.inner
                .stale_tracking
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.flush()
    }

    // ---- documents ----

    /// The document `collection`/`key`.
    pub fn doc<T: DeserializeOwned>(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<Option<T>, Error> {
        let k = keys::doc(collection, key);
        match self.inner.tree.get(&k)? {
            Some(raw) => self.decode_doc_at(&k, &raw).map(Some),
            None => Ok(None),
        }
    }

    /// Whether the document `collection`/`key` exists (without decoding it).
    pub fn doc_exists(&self, collection: &str, key: &str) -> Result<bool, Error> {
        Ok(self.inner.tree.contains_key(keys::doc(collection, key))?)
    }

    /// The documents of `collection` whose key starts with `prefix`, in key order.
    pub fn docs<T: DeserializeOwned>(
        &self,
        collection: &str,
        prefix: &str,
    ) -> impl Iterator<Item = Result<(String, T), Error>> + '_ {
        let coll_len = keys::doc_collection(collection).len();
        self.inner
            .tree
            .scan_prefix(keys::doc(collection, prefix))
            .map(move |kv| {
                let (k, v) = kv?;
                let key = k
                    .get(coll_len..)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or_else(|| bad_key(&k))?
                    .to_owned();
                let value = self.decode_doc_at(&k, &v)?;
                Ok((key, value))
            })
    }

    /// The documents of `collection` whose key sorts after `after`, in key order (a page of a
    /// long collection, or what was appended to a log since a key).
    pub fn docs_after<T: DeserializeOwned>(
        &self,
        collection: &str,
        after: &str,
    ) -> impl Iterator<Item = Result<(String, T), Error>> + '_ {
        let coll = keys::doc_collection(collection);
        let coll_len = coll.len();
        let mut start = keys::doc(collection, after);
        // The smallest key after `after` itself.
        start.push(0);
        self.inner
            .tree
            .range(start..)
            .take_while(move |kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(&coll)))
            .map(move |kv| {
                let (k, v) = kv?;
                let key = k
                    .get(coll_len..)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or_else(|| bad_key(&k))?
                    .to_owned();
                let value = self.decode_doc_at(&k, &v)?;
                Ok((key, value))
            })
    }

    /// The keys of the documents of `collection` whose key starts with `prefix`, in key
    /// order, without reading their values.
    pub fn doc_keys(
        &self,
        collection: &str,
        prefix: &str,
    ) -> impl Iterator<Item = Result<String, Error>> + '_ {
        let coll_len = keys::doc_collection(collection).len();
        self.inner
            .tree
            .scan_prefix(keys::doc(collection, prefix))
            .keys()
            .map(move |k| {
                let k = k?;
                Ok(k.get(coll_len..)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or_else(|| bad_key(&k))?
                    .to_owned())
            })
    }

    /// Number of documents in `collection`, by scanning it.
    pub fn doc_count(&self, collection: &str) -> Result<u64, Error> {
        self.count(&keys::doc_collection(collection))
    }

    // ---- writes ----

    /// Applies the batch atomically (all or nothing, index entries included) and returns
    /// once it is as durable as asked. Fails with [`Error::Conflict`] (writing nothing) when
    /// an `insert_grant` finds an existing grant.
    pub fn write(&self, batch: Batch, durability: Durability) -> Result<(), Error> {
        if let Some(e) = batch.error {
            return Err(e);
        }
        if batch.ops.is_empty() {
            return if durability == Durability::Durable {
                self.flush()
            } else {
                Ok(())
            };
        }
        {
            let _guard = lock(&self.inner.write_lock);
            let (sled_batch, index) = self.plan(batch.ops, &HashMap::new())?;
            self.inner.tree.apply_batch(sled_batch)?;
            self.index_applied(index);
        }
        if durability == Durability::Durable {
            // After the batch, never inside a transaction: flush covers every write so far.
            self.flush()?;
        }
        Ok(())
    }

    /// Turns operations into one sled batch, reading what index replacement, the grant
    /// condition and the id counters need. Runs under the write lock.
    /// Values of customers' keyspaces and sealed documents are sealed here, with the
    /// customer's current key or, for the customers in `halves` (an erasure), the named half;
    /// keys the batch needs are made (and synced) first, and the vocabulary gains the batch's
    /// new prefix-searchable values, before the sled batch is returned to be applied.
    fn plan(
        &self,
        ops: Vec<Op>,
        halves: &HashMap<CustomerId, u8>,
    ) -> Result<(sled::Batch, IndexPlan<'_>), Error> {
        let tree = &self.inner.tree;
        let mut out = sled::Batch::default();
        // Index entries: overlay records, or the open build's (`index`).
        let mut index = self.index_plan();
        let owners = ops.iter().filter_map(|op| match op {
            Op::PutCustomer { id, .. } | Op::PutCustomerRecord { id, .. } => Some(*id),
            Op::PutInteraction { customer, .. } | Op::PutInteractionPages { customer, .. } => {
                Some(*customer)
            }
            Op::InsertGrant { key, .. } => owner_of(key),
            Op::PutSealed { owner, .. } => Some(*owner),
            _ => None,
        });
        if let Some(max) = owners.max() {
            let needs = {
                let ks = read(&self.inner.keys);
                !ks.has_slot(max)
            };
            if needs {
                write(&self.inner.keys).ensure(max)?;
            }
        }
        let seal = |owner: CustomerId, plain: &[u8]| -> Result<Vec<u8>, Error> {
            read(&self.inner.keys)
                .seal(owner, halves.get(&owner).copied(), plain)
                .map_err(Error::Keys)
        };
        // Prefix-searchable values the batch indexes for the first time.
        let mut vocab_new: Vec<(IndexKind, String)> = Vec::new();
        // Index keys as they stand after the operations planned so far.
        let mut current: HashMap<CustomerId, Vec<IndexKey>> = HashMap::new();
        let mut grants: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut max_customer: Option<u64> = None;
        let mut max_interaction: Option<u64> = None;
        // Pages of scores written by this batch: slot -> scores.
        let mut pages: HashMap<u64, Vec<(u8, Scores)>> = HashMap::new();
        // Pages of scores written by this batch as encoded pages only: slots, value.
        let mut encoded: HashMap<u64, ([u8; 32], Vec<u8>)> = HashMap::new();
        let decode_page = |page: u64, raw: &[u8]| {
            codec::decode_score_page(raw)
                .map_err(|reason| decode_err(&keys::score_page(page), reason))
        };
        // Customers whose history digest this batch has removed so far.
        let mut digests_removed: HashSet<CustomerId> = HashSet::new();
        let tracking = self.tracks_stale_digests();
        // Interaction operations per customer, in batch order: applied to the pages below.
        let mut page_ops: std::collections::BTreeMap<CustomerId, Vec<crate::pages::PageOp>> =
            std::collections::BTreeMap::new();
        // Pages of customer ids as they stand after the operations planned so far.
        let mut id_pages: HashMap<u64, [u8; 32]> = HashMap::new();
        // Plain writes planned so far, only when the batch has expectations to check against
        // them (an ingest's batches have none and pay nothing).
        let expects = ops.iter().any(|op| matches!(op, Op::ExpectDoc { .. }));
        let mut planned: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
        for op in ops {
            match op {
                Op::PutCustomer { id, value, keys } => {
                    let old = match current.remove(&id) {
                        Some(k) => k,
                        None => self.index_keys_of(id)?,
                    };
                    let new: Vec<IndexKey> = keys
                        .into_iter()
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    // Only the entries that changed are written: a customer rebuilt with the
                    // keys it had (most of them, most times) costs no index writes.
                    let old_set: BTreeSet<&IndexKey> = old.iter().collect();
                    let new_set: BTreeSet<&IndexKey> = new.iter().collect();
                    for k in old_set.difference(&new_set) {
                        let hash = self.index_hash(k.kind, &k.value);
                        index.remove(&mut out, k.kind.code(), &hash, id)?;
                    }
                    for k in new_set.difference(&old_set) {
                        if crate::VOCAB_KINDS.contains(&k.kind) {
                            vocab_new.push((k.kind, k.value.clone()));
                        }
                    }
                    // An open build takes every entry: what a stopped build held is lost.
                    let added: Vec<&&IndexKey> = if index.building() {
                        new_set.iter().collect()
                    } else {
                        new_set.difference(&old_set).collect()
                    };
                    for k in added {
                        let hash = self.index_hash(k.kind, &k.value);
                        index.put(&mut out, k.kind.code(), &hash, id)?;
                    }
                    if new.is_empty() {
                        out.remove(keys::customer_index(id));
                    } else if old_set != new_set || halves.contains_key(&id) {
                        let list = codec::encode(&new).map_err(|reason| Error::Encode {
                            tree: Space::CustomerIndex.name(),
                            reason,
                        })?;
                        out.insert(keys::customer_index(id), seal(id, &list)?);
                    }
                    out.insert(keys::customer(id), seal(id, &value)?);
                    out.remove(keys::removed(id));
                    self.list_customer(&mut id_pages, id, true)?;
                    current.insert(id, new);
                    max_customer = max_customer.max(Some(id.0));
                }
                Op::PutCustomerRecord { id, value } => {
                    if halves.contains_key(&id) {
                        // An erasure seals the list of keys again: it writes them whole.
                        return Err(Error::Encode {
                            tree: Space::Customers.name(),
                            reason: format!(
                                "customer {id}: a record without its keys in an erasure"
                            ),
                        });
                    }
                    out.insert(keys::customer(id), seal(id, &value)?);
                    out.remove(keys::removed(id));
                    self.list_customer(&mut id_pages, id, true)?;
                    max_customer = max_customer.max(Some(id.0));
                }
                Op::RemoveCustomer { id, merged_into } => {
                    let old = match current.remove(&id) {
                        Some(k) => k,
                        None => self.index_keys_of(id)?,
                    };
                    for k in &old {
                        let hash = self.index_hash(k.kind, &k.value);
                        index.remove(&mut out, k.kind.code(), &hash, id)?;
                    }
                    out.remove(keys::customer_index(id));
                    out.remove(keys::customer(id));
                    self.list_customer(&mut id_pages, id, false)?;
                    let marker = codec::encode(&merged_into).map_err(|reason| Error::Encode {
                        tree: Space::Removed.name(),
                        reason,
                    })?;
                    out.insert(keys::removed(id), marker);
                    current.insert(id, Vec::new());
                    max_customer = max_customer.max(Some(id.0));
                }
                Op::PutInteraction {
                    id,
                    customer,
                    at,
                    entry,
                } => {
                    page_ops
                        .entry(customer)
                        .or_default()
                        .push(crate::pages::PageOp::Put {
                            key: (at, id),
                            entry,
                        });
                    if digests_removed.insert(customer) {
                        out.remove(keys::history_digest(customer));
                        if tracking {
                            out.insert(keys::stale_digest(customer), &[][..]);
                        }
                    }
                    max_interaction = max_interaction.max(Some(id.0));
                }
                Op::RemoveInteraction { customer, at, id } => {
                    page_ops
                        .entry(customer)
                        .or_default()
                        .push(crate::pages::PageOp::Remove { key: (at, id) });
                    if digests_removed.insert(customer) {
                        out.remove(keys::history_digest(customer));
                        if tracking {
                            out.insert(keys::stale_digest(customer), &[][..]);
                        }
                    }
                }
                Op::PutInteractionPages { customer, entries } => {
                    let max = entries.iter().map(|(_, id, _)| id.0).max();
                    max_interaction = max_interaction.max(max);
                    page_ops
                        .entry(customer)
                        .or_default()
                        .push(crate::pages::PageOp::Fresh(entries));
                    if digests_removed.insert(customer) {
                        out.remove(keys::history_digest(customer));
                        if tracking {
                            out.insert(keys::stale_digest(customer), &[][..]);
                        }
                    }
                }
                Op::Remove { key } => {
                    if expects {
                        planned.insert(key.clone(), None);
                    }
                    out.remove(key)
                }
                Op::ExpectDoc {
                    key,
                    expected,
                    collection,
                    doc_key,
                } => {
                    let current = match planned.get(&key) {
                        Some(v) => v.clone(),
                        None => match tree.get(&key)? {
                            Some(v) => Some(self.plain(&key, &v)?.into_owned()),
                            None => None,
                        },
                    };
                    if current != expected {
                        return Err(Error::Changed {
                            collection,
                            key: doc_key,
                        });
                    }
                }
                Op::InsertGrant { key, value } => {
                    let existing = match grants.get(&key) {
                        Some(v) => Some(v.clone()),
                        None => tree.get(&key)?.map(|v| v.to_vec()),
                    };
                    if let Some(raw) = existing {
                        let grant: CompensationGrant = self.decode_at(&key, &raw)?;
                        return Err(Error::Conflict(Box::new(grant)));
                    }
                    let owner = owner_of(&key).ok_or_else(|| bad_key(&key))?;
                    out.insert(key.clone(), seal(owner, &value)?);
                    grants.insert(key, value);
                }
                Op::PutScores { customer, scores } => {
                    let (page, slot) = keys::score_slot(customer);
                    let updates = pages.entry(page).or_default();
                    if let Some((_, earlier)) = encoded.remove(&page) {
                        updates.extend(decode_page(page, &earlier)?);
                    }
                    updates.push((slot, *scores));
                }
                Op::PutScorePage { page, slots, value } => {
                    if pages.contains_key(&page) || encoded.contains_key(&page) {
                        // Several writes to one page in a batch: merged as owned scores.
                        let updates = pages.entry(page).or_default();
                        if let Some((_, earlier)) = encoded.remove(&page) {
                            updates.extend(decode_page(page, &earlier)?);
                        }
                        updates.extend(decode_page(page, &value)?);
                    } else {
                        encoded.insert(page, (slots, value));
                    }
                }
                Op::Put { key, value } => {
                    if let Some(Key::HistoryDigest(c)) = Key::parse(&key) {
                        // A later interaction write in this batch removes it again.
                        digests_removed.remove(&c);
                    }
                    if expects {
                        planned.insert(key.clone(), Some(value.clone()));
                    }
                    out.insert(key, value)
                }
                Op::PutSealed { key, owner, value } => {
                    if expects {
                        planned.insert(key.clone(), Some(value.clone()));
                    }
                    out.insert(key, seal(owner, &value)?)
                }
            }
        }
        self.plan_interaction_pages(page_ops, &mut out, &seal)?;
        for (page, (slots, value)) in encoded {
            let key = keys::score_page(page);
            let Some(raw) = tree.get(&key)? else {
                out.insert(key, value);
                continue;
            };
            let whole = codec::score_page_slots(&raw)
                .map_err(|reason| decode_err(&key, reason))?
                .iter()
                .all(|s| slots[usize::from(s / 8)] & (1 << (s % 8)) != 0);
            if whole {
                // Every customer on the stored page is rewritten (a full scoring run).
                out.insert(key, value);
            } else {
                // Some customers of the page (an incremental run): merged entry by entry,
                // borrowed.
                let merged = codec::merge_score_pages(&raw, &value)
                    .map_err(|reason| decode_err(&key, reason))?;
                out.insert(key, merged);
            }
        }
        for (page, updates) in pages {
            let key = keys::score_page(page);
            // Later puts win: a stable sort keeps their order within a slot.
            let mut updates = updates;
            updates.sort_by_key(|(slot, _)| *slot);
            let mut entries = match tree.get(&key)? {
                Some(raw) => {
                    let old =
                        codec::score_page_slots(&raw).map_err(|reason| decode_err(&key, reason))?;
                    if old
                        .iter()
                        .all(|s| updates.binary_search_by_key(s, |(u, _)| *u).is_ok())
                    {
                        // Every customer on the page is rewritten (a scoring run).
                        Vec::new()
                    } else {
                        codec::decode_score_page(&raw).map_err(|reason| decode_err(&key, reason))?
                    }
                }
                None => Vec::new(),
            };
            let mut merged: Vec<(u8, Scores)> = Vec::with_capacity(entries.len() + updates.len());
            let mut updates = updates.into_iter().peekable();
            let mut old = entries.drain(..).peekable();
            loop {
                let next_slot = match (old.peek(), updates.peek()) {
                    (None, None) => break,
                    (Some((a, _)), Some((b, _))) => (*a).min(*b),
                    (Some((a, _)), None) => *a,
                    (None, Some((b, _))) => *b,
                };
                let mut value = None;
                while let Some(e) = old.next_if(|(s, _)| *s == next_slot) {
                    value = Some(e.1);
                }
                while let Some(e) = updates.next_if(|(s, _)| *s == next_slot) {
                    value = Some(e.1);
                }
                if let Some(v) = value {
                    merged.push((next_slot, v));
                }
            }
            let value = codec::encode_score_page(&merged).map_err(|reason| Error::Encode {
                tree: Space::Scores.name(),
                reason,
            })?;
            out.insert(key, value);
        }
        if !vocab_new.is_empty() {
            write(&self.inner.vocab).add(vocab_new.iter().map(|(k, v)| (*k, v.as_str())))?;
        }
        for (page, bits) in id_pages {
            let key = keys::customer_id_page(page);
            if bits == [0; 32] {
                out.remove(key);
            } else {
                out.insert(key, codec::encode_id_page(&bits));
            }
        }
        for (counter, max) in [
            (NEXT_CUSTOMER, max_customer),
            (NEXT_INTERACTION, max_interaction),
        ] {
            if let Some(max) = max
                && max >= self.counter(counter)?
            {
                out.insert(keys::meta(counter), encode_meta(max.saturating_add(1))?);
            }
        }
        self.index_count(&index, &mut out)?;
        Ok((out, index))
    }

    /// Sets (`present`) or clears the customer's bit in its page of customer ids, as the
    /// batch being planned leaves it.
    fn list_customer(
        &self,
        pages: &mut HashMap<u64, [u8; 32]>,
        id: CustomerId,
        present: bool,
    ) -> Result<(), Error> {
        let (page, slot) = keys::score_slot(id);
        let bits = match pages.entry(page) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let key = keys::customer_id_page(page);
                let bits = match self.inner.tree.get(&key)? {
                    Some(raw) => {
                        codec::decode_id_page(&raw).map_err(|reason| decode_err(&key, reason))?
                    }
                    None => [0; 32],
                };
                e.insert(bits)
            }
        };
        let (byte, bit) = (usize::from(slot / 8), 1u8 << (slot % 8));
        if present {
            bits[byte] |= bit;
        } else {
            bits[byte] &= !bit;
        }
        Ok(())
    }

    // ---- erasure ----

    /// Erases customers (crypto-shredding): applies `batch`, which must rewrite every value the
    /// customers hold in their own keyspaces (customer, interactions, grants; the customer
    /// written with no index keys, or removed) and every document sealed for them, sealed under
    /// fresh keys; then destroys their old keys, so every older version of those values left in
    /// sled's files cannot be read; then rewrites the vocabulary without the values no customer
    /// is indexed under any more. Durable when it returns. Fails before destroying anything
    /// when the batch leaves a value of theirs unwritten (naming its key).
    ///
    /// The steps, each synced before the next: a new key in each customer's free key half;
    /// the batch (with a marker naming the new half) applied and flushed; the old halves
    /// zeroed. A crash between them is finished or rolled back at the next open.
    pub fn erase(&self, customers: &[CustomerId], batch: Batch) -> Result<ErasureSummary, Error> {
        if let Some(e) = batch.error {
            return Err(e);
        }
        let _guard = lock(&self.inner.write_lock);
        // Every stored value of theirs must be rewritten or removed by the batch.
        let mut interactions_written: HashSet<(CustomerId, crate::pages::IKey)> = HashSet::new();
        for op in &batch.ops {
            match op {
                Op::PutInteraction {
                    customer, at, id, ..
                }
                | Op::RemoveInteraction { customer, at, id } => {
                    interactions_written.insert((*customer, (*at, *id)));
                }
                Op::PutInteractionPages { customer, entries } => {
                    for (at, id, _) in entries {
                        interactions_written.insert((*customer, (*at, *id)));
                    }
                }
                _ => {}
            }
        }
        let written: HashSet<&[u8]> = batch
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::InsertGrant { key, .. }
                | Op::Put { key, .. }
                | Op::PutSealed { key, .. }
                | Op::Remove { key } => Some(key.as_slice()),
                _ => None,
            })
            .collect();
        let rewritten_customers: HashSet<CustomerId> = batch
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::PutCustomer { id, keys, .. } if keys.is_empty() => Some(*id),
                Op::RemoveCustomer { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let mut summary = ErasureSummary::default();
        for c in customers {
            // Every interaction rewritten or removed: then every page of the customer is
            // written again, sealed under the new key.
            for (at, id) in self.interaction_keys_of(*c)? {
                if !interactions_written.contains(&(*c, (at, id))) {
                    return Err(Error::Keys(format!(
                        "erasing {c}: the rewrite leaves interactions {c}/{at}/{id} as it was"
                    )));
                }
                summary.values += 1;
            }
            let space = Space::Grants;
            for k in self
                .inner
                .tree
                .scan_prefix(keys::customer_prefix(space, *c))
                .keys()
            {
                let k = k?;
                if !written.contains(&k[..]) {
                    return Err(Error::Keys(format!(
                        "erasing {c}: the rewrite leaves {} {} as it was",
                        space.name(),
                        keys::describe(&k)
                    )));
                }
                summary.values += 1;
            }
            let has_doc = self.inner.tree.contains_key(keys::customer(*c))?
                || self.inner.tree.contains_key(keys::customer_index(*c))?;
            if has_doc && !rewritten_customers.contains(c) {
                return Err(Error::Keys(format!(
                    "erasing {c}: the rewrite must store the customer without index keys"
                )));
            }
        }
        // Entries of theirs in the live segment: removed at once by tombstones, and from the
        // segment file by a compaction once the erasure is done.
        let mut in_segment = false;
        for c in customers {
            in_segment = in_segment || self.segment_holds(*c, &self.index_keys_of(*c)?)?;
        }
        let mut halves = HashMap::new();
        {
            let mut ks = write(&self.inner.keys);
            for c in customers {
                halves.insert(*c, ks.begin_erase(*c)?);
            }
        }
        let mut ops = batch.ops;
        for (c, half) in &halves {
            ops.push(Op::Put {
                key: keys::meta(&erased_marker(*c)),
                value: encode_meta(u64::from(*half))?,
            });
        }
        let (planned, index) = self.plan(ops, &halves)?;
        self.inner.tree.apply_batch(planned)?;
        self.index_applied(index);
        self.inner.db.flush()?;
        {
            let mut ks = write(&self.inner.keys);
            for (c, half) in &halves {
                ks.finish_erase(*c, *half)?;
            }
        }
        summary.customers = customers.len() as u64;
        drop(_guard);
        if in_segment {
            self.compact_index()?;
        }
        summary.vocabulary_dropped = self.prune_vocabulary()? as u64;
        Ok(summary)
    }

    /// Reads the vocabulary of prefix search into memory now (it is read at the first prefix
    /// search otherwise): a server or console calls it on a thread of its own at start, so
    /// the first keystroke does not wait for it. Cheap when already read.
    pub fn warm_vocabulary(&self) -> Result<(), Error> {
        read(&self.inner.vocab).warm()
    }

    /// Whether the vocabulary of prefix search is in memory (see
    /// [`Store::warm_vocabulary`]).
    pub fn vocabulary_is_warm(&self) -> bool {
        read(&self.inner.vocab).is_warm()
    }

    /// Rewrites the vocabulary without the values no customer is indexed under (see
    /// `vocab`). Returns how many values it dropped.
    pub fn prune_vocabulary(&self) -> Result<usize, Error> {
        let entries = read(&self.inner.vocab).entries()?;
        let mut gone: HashSet<(IndexKind, String)> = HashSet::new();
        for (kind, value) in entries {
            if self
                .index_lookup_at_most(&IndexKey::new(kind, value.clone()), 1)?
                .is_empty()
            {
                gone.insert((kind, value));
            }
        }
        write(&self.inner.vocab).rewrite(|k, v| !gone.contains(&(k, v.to_owned())))
    }

    /// Finishes or rolls back the erasures a crash interrupted (a customer whose key slot holds
    /// two keys): the half named by the customer's erasure marker is kept when the marker was
    /// written (the rewrite was applied), else the old half.
    fn recover_erasures(&self) -> Result<(), Error> {
        let interrupted = read(&self.inner.keys).interrupted();
        for c in interrupted {
            let key = keys::meta(&erased_marker(c));
            let keep = match self.inner.tree.get(&key)? {
                Some(raw) => decode_at::<u64>(&key, &raw)? as u8,
                None => 0,
            };
            tracing::warn!(customer = %c, keep, "finishing an interrupted erasure");
            write(&self.inner.keys).finish_erase(c, keep.min(1))?;
        }
        Ok(())
    }

    /// Schema 6 -> 7: every value sealed in the old format ([`seal::SEALED_V1`], plain bytes
    /// sealed as they are), interaction pages' bodies included, is opened and sealed again in
    /// the new one ([`seal::SEALED_V2`], packed first), under the same key half, a thousand
    /// values a batch. Idempotent: values already in the new format are left alone, so a rerun
    /// after a crash goes on where the last applied batch ended. A value that no longer opens
    /// (its key destroyed) is left as it is; reads report it as before.
    pub(crate) fn repack_sealed(&self) -> Result<(), String> {
        let tree = &self.inner.tree;
        let mut batch = sled::Batch::default();
        let (mut n, mut repacked, mut unopened) = (0usize, 0u64, 0u64);
        for kv in tree.iter() {
            let (k, v) = kv.map_err(|e| e.to_string())?;
            let new = if v.first() == Some(&seal::SEALED_V1) {
                self.reseal(&v)?
            } else if Space::of(&k) == Some(Space::Interactions) {
                let head =
                    codec::parse_interaction_page(&v).map_err(|r| decode_err(&k, r).to_string())?;
                if head.sealed.first() == Some(&seal::SEALED_V1) {
                    self.reseal(head.sealed)?
                        .map(|body| codec::encode_interaction_page(head.count, &head.added, &body))
                } else {
                    continue;
                }
            } else {
                continue;
            };
            let Some(new) = new else {
                unopened += 1;
                continue;
            };
            batch.insert(k, new);
            repacked += 1;
            n += 1;
            if n >= 1_000 {
                tree.apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| e.to_string())?;
                n = 0;
            }
        }
        tree.apply_batch(batch).map_err(|e| e.to_string())?;
        tracing::info!(repacked, unopened, "sealed values packed");
        Ok(())
    }

    /// A value sealed in the old format, sealed again in the new one under the same owner and
    /// half; `None` when it does not open.
    fn reseal(&self, old: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let keys = read(&self.inner.keys);
        let Some((owner, half)) = seal::sealed_owner(old) else {
            return Err("a sealed value is truncated".into());
        };
        match keys.open_sealed(old) {
            Ok(plain) => keys.seal(owner, Some(half), &plain).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Schema 3 -> 4: seals every value of the customers' keyspaces in place and rebuilds the
    /// index (hashed keys) and the vocabulary from the customers' key lists. Idempotent: sealed
    /// values are left alone, and the index is rebuilt whole from the lists each time.
    pub(crate) fn seal_existing(&self) -> Result<(), String> {
        let tree = &self.inner.tree;
        let e = |e: Error| e.to_string();
        let mut max: Option<CustomerId> = None;
        // Schema 3 kept interactions one per key, as schema 4 did (`Ei`): they are sealed in
        // place here and moved into pages by the next step.
        let prefixes = [
            Space::Customers.prefix(),
            [
                keys::LEGACY_INTERACTIONS_PREFIX[0],
                keys::LEGACY_INTERACTIONS_PREFIX[1],
            ],
            Space::Grants.prefix(),
            Space::CustomerIndex.prefix(),
        ];
        for prefix in prefixes {
            if let Some(kv) = tree.scan_prefix(prefix).keys().next_back() {
                let k = kv.map_err(|e| e.to_string())?;
                max = max.max(owner_of(&k));
            }
        }
        if let Some(max) = max {
            write(&self.inner.keys).ensure(max).map_err(e)?;
        }
        let mut sealed = 0u64;
        for prefix in prefixes {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for kv in tree.scan_prefix(prefix) {
                let (k, v) = kv.map_err(|e| e.to_string())?;
                if seal::is_sealed(&v) {
                    continue;
                }
                let owner =
                    owner_of(&k).ok_or_else(|| format!("malformed key {}", keys::describe(&k)))?;
                let value = read(&self.inner.keys).seal(owner, None, &v)?;
                batch.insert(k, value);
                n += 1;
                sealed += 1;
                if n >= 1_000 {
                    tree.apply_batch(std::mem::take(&mut batch))
                        .map_err(|e| e.to_string())?;
                    n = 0;
                }
            }
            tree.apply_batch(batch).map_err(|e| e.to_string())?;
        }
        // The index: every old entry goes; every customer's list is indexed again, hashed.
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for k in tree.scan_prefix(Space::Index.prefix()).keys() {
            batch.remove(k.map_err(|e| e.to_string())?);
            n += 1;
            if n >= 10_000 {
                tree.apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| e.to_string())?;
                n = 0;
            }
        }
        tree.apply_batch(std::mem::take(&mut batch))
            .map_err(|e| e.to_string())?;
        n = 0;
        for kv in tree.scan_prefix(Space::CustomerIndex.prefix()) {
            let (k, v) = kv.map_err(|e| e.to_string())?;
            let Some(Key::CustomerIndex(id)) = Key::parse(&k) else {
                return Err(format!("malformed key {}", keys::describe(&k)));
            };
            let list: Vec<IndexKey> = self.decode_at(&k, &v).map_err(e)?;
            write(&self.inner.vocab)
                .add(
                    list.iter()
                        .filter(|x| crate::VOCAB_KINDS.contains(&x.kind))
                        .map(|x| (x.kind, x.value.as_str())),
                )
                .map_err(e)?;
            for x in &list {
                batch.insert(
                    keys::index(x.kind, &self.index_hash(x.kind, &x.value), id),
                    &[][..],
                );
                n += 1;
            }
            if n >= 10_000 {
                tree.apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| e.to_string())?;
                n = 0;
            }
        }
        tree.apply_batch(batch).map_err(|e| e.to_string())?;
        read(&self.inner.vocab).sync().map_err(e)?;
        tracing::info!(sealed, "sealed the personal data and rehashed the index");
        Ok(())
    }

    // ---- change feed ----

    /// Subscribes to change events. Never blocks writers: a subscriber that does not keep up
    /// loses events and then receives [`rapport_core::Change::Lagged`] (re-read everything).
    /// Dropping the subscriber unsubscribes.
    pub fn subscribe(&self) -> Subscriber {
        let mut feed = lock(&self.inner.feed);
        if feed.is_none() {
            match Feed::start(&self.inner.tree) {
                Ok(f) => *feed = Some(f),
                Err(e) => {
                    tracing::error!("cannot start the change feed thread: {e}");
                    return Feed::closed();
                }
            }
        }
        match feed.as_ref() {
            Some(f) => f.subscribe(),
            None => Feed::closed(),
        }
    }

    // ---- stats ----

    /// Counts per keyspace and per document collection, and the size on disk. Scans the
    /// whole database: seconds at millions of records.
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut keyspaces = Vec::new();
        for space in Space::ALL {
            let n = match space {
                Space::Scores => self.scored_customers()?,
                Space::Interactions => self.interaction_count()?,
                Space::CustomerIds => self.customer_count()?,
                Space::Index => self.index_entry_count()?,
                _ => self.count(&space.prefix())?,
            };
            keyspaces.push((space.name().to_owned(), n));
        }
        // The sled keys the interactions take (pages of up to `codec::PAGE_MAX_ENTRIES`).
        keyspaces.push(("interaction_pages".to_owned(), self.count_paged()?.1));
        let mut collections: Vec<(String, u64)> = Vec::new();
        for k in self.inner.tree.scan_prefix(Space::Docs.prefix()).keys() {
            let k = k?;
            let coll = match Key::parse(&k) {
                Some(Key::Doc(coll, _)) => coll,
                _ => return Err(bad_key(&k)),
            };
            match collections.last_mut() {
                Some((name, n)) if *name == coll => *n += 1,
                _ => collections.push((coll, 1)),
            }
        }
        Ok(Stats {
            schema_version: self.inner.schema_version,
            keyspaces,
            collections,
            size_on_disk: self.inner.db.size_on_disk()? + self.index_segment_bytes(),
            bytes: self.stored_bytes()?,
        })
    }

    /// The bytes of every keyspace and document collection as stored (one scan of the whole
    /// tree), then the files beside sled's ([`Stats::bytes`]).
    fn stored_bytes(&self) -> Result<Vec<SpaceBytes>, Error> {
        // One row per keyspace (`docs` the total of its collections), then "other".
        let mut rows: Vec<SpaceBytes> = Space::ALL
            .iter()
            .map(|s| s.name())
            .chain(["other"])
            .map(|name| SpaceBytes {
                name: name.to_owned(),
                ..SpaceBytes::default()
            })
            .collect();
        let mut docs: Vec<SpaceBytes> = Vec::new();
        let add = |row: &mut SpaceBytes, k: &[u8], v: &[u8]| {
            row.keys += 1;
            row.key_bytes += k.len() as u64;
            row.value_bytes += v.len() as u64;
        };
        for kv in self.inner.tree.iter() {
            let (k, v) = kv?;
            let at = Space::of(&k)
                .and_then(|space| Space::ALL.iter().position(|s| *s == space))
                .unwrap_or(Space::ALL.len());
            add(&mut rows[at], &k, &v);
            if Space::of(&k) == Some(Space::Docs) {
                let Some(Key::Doc(coll, _)) = Key::parse(&k) else {
                    return Err(bad_key(&k));
                };
                let name = format!("docs/{coll}");
                match docs.last_mut() {
                    Some(d) if d.name == name => add(d, &k, &v),
                    _ => {
                        let mut d = SpaceBytes {
                            name,
                            ..SpaceBytes::default()
                        };
                        add(&mut d, &k, &v);
                        docs.push(d);
                    }
                }
            }
        }
        rows.extend(docs);
        rows.retain(|r| r.keys > 0);
        rows.push(SpaceBytes {
            name: "file/index segment".to_owned(),
            value_bytes: self.index_segment_bytes(),
            ..SpaceBytes::default()
        });
        if let Some(dir) = &self.inner.path {
            for name in [seal::KEYS_FILE, crate::VOCAB_FILE] {
                if let Ok(meta) = std::fs::metadata(dir.join(name)) {
                    rows.push(SpaceBytes {
                        name: format!("file/{name}"),
                        value_bytes: meta.len(),
                        ..SpaceBytes::default()
                    });
                }
            }
        }
        Ok(rows)
    }

    // ---- helpers ----

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, Error> {
        match self.inner.tree.get(key)? {
            Some(raw) => self.decode_at(key, &raw).map(Some),
            None => Ok(None),
        }
    }

    fn values<T: DeserializeOwned>(
        &self,
        prefix: Vec<u8>,
    ) -> impl Iterator<Item = Result<T, Error>> + '_ {
        self.inner.tree.scan_prefix(prefix).map(|kv| {
            let (k, v) = kv?;
            self.decode_at(&k, &v)
        })
    }

    /// Customers with scores (entries of every page of scores).
    fn scored_customers(&self) -> Result<u64, Error> {
        let mut n = 0;
        for kv in self.inner.tree.scan_prefix(Space::Scores.prefix()) {
            let (k, v) = kv?;
            n += codec::score_page_slots(&v)
                .map_err(|reason| decode_err(&k, reason))?
                .len() as u64;
        }
        Ok(n)
    }

    /// The keys of a customer-keyed keyspace with `from <= id < to`.
    fn id_range(&self, space: Space, from: CustomerId, to: Option<CustomerId>) -> sled::Iter {
        let start = keys::customer_prefix(space, from);
        match to.map(|to| keys::customer_prefix(space, to)) {
            Some(end) => self.inner.tree.range(start..end),
            None => match keys::prefix_end(&space.prefix()) {
                Some(end) => self.inner.tree.range(start..end),
                None => self.inner.tree.range(start..),
            },
        }
    }

    fn count(&self, prefix: &[u8]) -> Result<u64, Error> {
        let mut n = 0;
        for k in self.inner.tree.scan_prefix(prefix).keys() {
            k?;
            n += 1;
        }
        Ok(n)
    }

    /// Raw access for backup and tests inside the crate.
    pub(crate) fn raw_tree(&self) -> &sled::Tree {
        &self.inner.tree
    }

    /// Applies raw pairs atomically (import only).
    pub(crate) fn apply_raw(&self, batch: sled::Batch) -> Result<(), Error> {
        let _guard = lock(&self.inner.write_lock);
        self.inner.tree.apply_batch(batch)?;
        Ok(())
    }
}

pub(crate) fn encode_meta(v: u64) -> Result<Vec<u8>, Error> {
    codec::encode(&v).map_err(|reason| Error::Encode {
        tree: Space::Meta.name(),
        reason,
    })
}

pub(crate) const COUNTERS: [&str; 2] = [NEXT_CUSTOMER, NEXT_INTERACTION];

/// The meta key naming the key half of a customer's last completed erasure.
fn erased_marker(c: CustomerId) -> String {
    format!("erased/{}", c.0)
}

/// What [`Store::erase`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureSummary {
    /// Customers whose keys were destroyed.
    pub customers: u64,
    /// Interactions and grants rewritten or removed.
    pub values: u64,
    /// Values dropped from the vocabulary of prefix search.
    pub vocabulary_dropped: u64,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rapport_core::PartyKind;

    use super::*;

    fn customer(id: u64) -> Customer {
        Customer::new(CustomerId(id), PartyKind::Person, Timestamp::EPOCH)
    }

    #[test]
    fn a_corrupted_value_is_an_error_naming_tree_and_key() {
        let store = Store::temporary().unwrap();
        let mut b = Batch::default();
        b.put_customer(&customer(42), vec![]);
        b.put_interaction(&Interaction::new(
            InteractionId(7),
            CustomerId(42),
            Timestamp::from_secs(1_700_000_000),
            rapport_core::Channel::Web,
            rapport_core::InteractionKind::Note,
        ));
        store.write(b, Durability::Durable).unwrap();
        let tree = store.raw_tree();

        // Truncated value.
        let key = keys::customer(CustomerId(42));
        let raw = tree.get(&key).unwrap().unwrap();
        tree.insert(&key, &raw[..raw.len() / 2]).unwrap();
        match store.customer(CustomerId(42)) {
            Err(Error::Decode { tree, key, reason }) => {
                assert_eq!(tree, "customers");
                assert_eq!(key, "C00000042");
                assert!(!reason.is_empty());
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
        // The error message names both, for the operator.
        let msg = store.customers().next().unwrap().unwrap_err().to_string();
        assert!(
            msg.contains("customers") && msg.contains("C00000042"),
            "{msg}"
        );

        // Trailing bytes after a valid (sealed) value: the seal no longer opens.
        let ikey = keys::interaction_page(
            CustomerId(42),
            Timestamp::from_secs(1_700_000_000),
            InteractionId(7),
        );
        let mut raw = tree.get(&ikey).unwrap().unwrap().to_vec();
        raw.push(0);
        tree.insert(&ikey, raw).unwrap();
        match store.interactions_newest(CustomerId(42), 10, None) {
            Err(Error::Decode { tree, key, reason }) => {
                assert_eq!(tree, "interactions");
                assert_eq!(key, "C00000042/2023-11-14T22:13:20Z/I0000000007");
                assert!(reason.contains("does not open"), "{reason}");
            }
            other => panic!("expected a decode error, got {other:?}"),
        }

        // A hostile length prefix (bincode would try to allocate 2^40 bytes) and an unknown
        // format byte are errors, not aborts.
        let hostile = [codec::BINCODE_V1, 0xFD, 0, 0, 0, 0, 0, 1, 0, 0];
        tree.insert(keys::score_page(0), &hostile[..]).unwrap();
        assert!(matches!(
            store.scores(CustomerId(1)),
            Err(Error::Decode { tree: "scores", .. })
        ));
        tree.insert(keys::grant(CustomerId(1), "D"), &[9u8, 1, 2][..])
            .unwrap();
        match store.grant(CustomerId(1), "D") {
            Err(Error::Decode { key, reason, .. }) => {
                assert_eq!(key, "C00000001/D");
                assert!(reason.contains("unknown value format 9"), "{reason}");
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.schema_version(), schema::SCHEMA_VERSION);
            store
                .raw_tree()
                .insert(
                    keys::meta(schema::VERSION_KEY),
                    schema::encode_version(schema::SCHEMA_VERSION + 1).unwrap(),
                )
                .unwrap();
            store.flush().unwrap();
        }
        match Store::open(&path) {
            Err(e @ Error::SchemaTooNew { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("newer") && msg.contains("upgrade"), "{msg}");
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }

    #[test]
    fn an_older_database_without_a_migration_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            let mut b = Batch::default();
            b.put_customer(&customer(1), vec![]);
            store.write(b, Durability::Durable).unwrap();
            store
                .raw_tree()
                .remove(keys::meta(schema::VERSION_KEY))
                .unwrap();
            store.flush().unwrap();
        }
        match Store::open(&path) {
            Err(Error::Migration { from: 0, reason }) => {
                assert!(reason.contains("no migration"), "{reason}")
            }
            other => panic!("expected a migration error, got {other:?}"),
        }
    }

    #[test]
    fn a_version_1_database_has_its_scores_moved_into_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let scores = |v: f64| Scores {
            model_version: "value-v1".into(),
            at: Timestamp::from_secs(1_700_000_000),
            value: v,
            annual_value: v,
            profit: v,
            clv: v,
            p_alive: 0.5,
            churn: None,
            expected_transactions: 1.0,
            tier: rapport_core::Tier::B,
            top: false,
            bottom: false,
            segment: "standard".into(),
            propensity: [("lounge".to_string(), 0.25)].into_iter().collect(),
        };
        let ids = [1u64, 2, 255, 256, 257, 90_000];
        {
            let store = Store::open(&path).unwrap();
            let mut b = Batch::default();
            b.put_customer(&customer(1), vec![]);
            store.write(b, Durability::Durable).unwrap();
            let tree = store.raw_tree();
            // Version 1: one `Es` key per customer, bincode `Scores`.
            for id in ids {
                let mut key = keys::LEGACY_SCORES_PREFIX.to_vec();
                key.extend_from_slice(&id.to_be_bytes());
                tree.insert(key, codec::encode(&scores(id as f64)).unwrap())
                    .unwrap();
            }
            tree.insert(
                keys::meta(schema::VERSION_KEY),
                schema::encode_version(1).unwrap(),
            )
            .unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version(), schema::SCHEMA_VERSION);
        for id in ids {
            assert_eq!(
                store.scores(CustomerId(id)).unwrap(),
                Some(scores(id as f64)),
                "{id}"
            );
        }
        assert_eq!(
            store
                .raw_tree()
                .scan_prefix(keys::LEGACY_SCORES_PREFIX)
                .count(),
            0
        );
        assert_eq!(store.stats().unwrap().count("scores"), ids.len() as u64);
        assert_eq!(store.customer(CustomerId(1)).unwrap(), Some(customer(1)));
    }

    fn listed(store: &Store) -> Vec<u64> {
        store
            .customer_ids(CustomerId(0), None)
            .map(|r| r.unwrap().0)
            .collect()
    }

    fn documents(store: &Store) -> Vec<u64> {
        store.customers().map(|r| r.unwrap().id.0).collect()
    }

    #[test]
    fn the_pages_of_customer_ids_follow_every_customer_write() {
        let store = Store::temporary().unwrap();
        assert_eq!(listed(&store), Vec::<u64>::new());
        assert_eq!(store.last_customer_id().unwrap(), None);
        let mut b = Batch::default();
        for id in [1u64, 2, 255, 256, 257, 511, 512, 70_000] {
            b.put_customer(&customer(id), vec![]);
        }
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(listed(&store), documents(&store));
        // Removed, merged, removed and put again in one batch, put twice.
        let mut b = Batch::default();
        b.remove_customer(CustomerId(2), None);
        b.remove_customer(CustomerId(256), Some(CustomerId(1)));
        b.remove_customer(CustomerId(511), None);
        b.put_customer(&customer(511), vec![]);
        b.put_customer(&customer(3), vec![]);
        b.put_customer(&customer(3), vec![]);
        b.remove_customer(CustomerId(70_000), None);
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(listed(&store), vec![1, 3, 255, 257, 511, 512]);
        assert_eq!(listed(&store), documents(&store));
        assert_eq!(store.customer_count().unwrap(), 6);
        assert_eq!(store.last_customer_id().unwrap(), Some(CustomerId(512)));
        // The emptied page is gone, not kept as zeros.
        assert!(
            store
                .raw_tree()
                .get(keys::customer_id_page(70_000 / codec::PAGE_SLOTS))
                .unwrap()
                .is_none()
        );
        let ranged: Vec<u64> = store
            .customer_ids(CustomerId(4), Some(CustomerId(511)))
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(ranged, vec![255, 257]);
        assert_eq!(store.stats().unwrap().count("customer_ids"), 6);
        // A corrupted page is an error naming it, not a wrong list.
        store
            .raw_tree()
            .insert(keys::customer_id_page(0), &[codec::ID_PAGE_V1, 1, 2][..])
            .unwrap();
        let err = store.customer_ids(CustomerId(0), None).next().unwrap();
        assert!(err.unwrap_err().to_string().contains("customer ids page 0"),);
    }

    #[test]
    fn a_version_2_database_gets_its_pages_of_customer_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let ids: Vec<u64> = (1..=600).chain([1_000, 65_536, 65_537]).collect();
        {
            let store = Store::open(&path).unwrap();
            let mut b = Batch::default();
            for id in &ids {
                b.put_customer(&customer(*id), vec![]);
            }
            store.write(b, Durability::Durable).unwrap();
            let tree = store.raw_tree();
            for k in tree.scan_prefix(Space::CustomerIds.prefix()).keys() {
                tree.remove(k.unwrap()).unwrap();
            }
            tree.insert(
                keys::meta(schema::VERSION_KEY),
                schema::encode_version(2).unwrap(),
            )
            .unwrap();
            store.flush().unwrap();
            assert_eq!(listed(&store), Vec::<u64>::new());
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version(), schema::SCHEMA_VERSION);
        assert_eq!(listed(&store), ids);
        assert_eq!(store.customer_count().unwrap(), ids.len() as u64);
    }

    /// Every file under `dir`, lower-cased, searched for each needle.
    fn files_holding(dir: &Path, needles: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let bytes = std::fs::read(&p).unwrap().to_ascii_lowercase();
                for n in needles {
                    if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                        found.push(format!("{} in {}", n, p.display()));
                    }
                }
            }
        }
        found
    }

    fn planted(id: u64) -> (Customer, Vec<IndexKey>, Interaction) {
        let mut c = customer(id);
        c.profile.family_name = Some(rapport_core::Sourced::new(
            "Zyxquorva".to_string(),
            Some(rapport_core::SourceRef::new("crm", "1")),
            Timestamp::EPOCH,
        ));
        let keys = vec![
            IndexKey::new(IndexKind::Email, "zyxquorva.test@example.org"),
            IndexKey::new(IndexKind::Phone, "+447700900123"),
            IndexKey::new(IndexKind::NameToken, "zyxquorva"),
        ];
        let mut i = Interaction::new(
            InteractionId(id),
            CustomerId(id),
            Timestamp::from_secs(1_700_000_000),
            rapport_core::Channel::Web,
            rapport_core::InteractionKind::Note,
        );
        i.text = Some("Zyxquorva called from +447700900123".into());
        (c, keys, i)
    }

    #[test]
    fn an_erased_customer_leaves_no_byte_in_the_database_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let needles = ["zyxquorva", "447700900123"];
        {
            let store = Store::open(&path).unwrap();
            let mut b = Batch::default();
            for id in [1, 2] {
                let (c, keys, i) = planted(id);
                b.put_customer(&c, if id == 1 { keys } else { vec![] });
                b.put_interaction(&i);
                b.put_doc_sealed("fragments", &format!("crm:{id}"), CustomerId(id), &c)
                    .unwrap();
            }
            store.write(b, Durability::Durable).unwrap();
            // Indexed, searchable, and nowhere in clear in the files.
            let email = IndexKey::new(IndexKind::Email, "zyxquorva.test@example.org");
            assert_eq!(store.index_lookup(&email).unwrap(), vec![CustomerId(1)]);
            let hits = store.index_prefix(IndexKind::NameToken, "zyx", 10).unwrap();
            assert_eq!(hits, vec![("zyxquorva".to_string(), CustomerId(1))]);
            let in_vocab = files_holding(&path, &needles);
            assert!(
                in_vocab.iter().all(|f| f.ends_with(VOCAB_FILE_NAME)),
                "{in_vocab:?}"
            );
            // Customer 2 only is erased first: 1 keeps its name in the vocabulary.
            let mut rewrite = Batch::default();
            for id in [1, 2] {
                let (mut c, _, mut i) = planted(id);
                c.profile.family_name = None;
                i.text = None;
                rewrite.put_customer(&c, vec![]);
                rewrite.put_interaction(&i);
                rewrite
                    .put_doc_sealed("fragments", &format!("crm:{id}"), CustomerId(id), &c)
                    .unwrap();
            }
            // A rewrite that leaves an interaction unwritten is refused, nothing destroyed.
            let mut partial = Batch::default();
            partial.put_customer(&customer(1), vec![]);
            let err = store.erase(&[CustomerId(1)], partial).unwrap_err();
            assert!(err.to_string().contains("leaves interactions"), "{err}");
            assert!(store.customer(CustomerId(1)).unwrap().is_some());
            let summary = store
                .erase(&[CustomerId(1), CustomerId(2)], rewrite)
                .unwrap();
            assert_eq!(summary.customers, 2);
            assert_eq!(summary.vocabulary_dropped, 2);
            assert!(store.index_lookup(&email).unwrap().is_empty());
            assert!(
                store
                    .index_prefix(IndexKind::NameToken, "zyx", 10)
                    .unwrap()
                    .is_empty()
            );
            // The rewritten values read back under the new keys.
            let i = store.interactions_newest(CustomerId(1), 10, None).unwrap();
            assert_eq!(i.len(), 1);
            assert_eq!(i[0].text, None);
            let doc: Customer = store.doc("fragments", "crm:1").unwrap().unwrap();
            assert_eq!(doc.profile.family_name, None);
            store.flush().unwrap();
        }
        let left = files_holding(&path, &needles);
        assert!(left.is_empty(), "{left:?}");
        let store = Store::open(&path).unwrap();
        assert!(store.customer(CustomerId(1)).unwrap().is_some());
    }

    const VOCAB_FILE_NAME: &str = crate::VOCAB_FILE;

    #[test]
    fn a_new_database_has_large_segments_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new");
        drop(Store::open(&new).unwrap());
        assert_eq!(segment_size(&new), SEGMENT_SIZE);
        let store = Store::open(&new).unwrap();
        assert!(store.customer(CustomerId(1)).unwrap().is_none());
        drop(store);
        // A database sled made with its default segments (every database before this one).
        let old = dir.path().join("old");
        drop(sled::Config::new().path(&old).open().unwrap());
        assert_eq!(segment_size(&old), 512 * 1024);
        drop(Store::open(&old).unwrap());
        drop(Store::open(&old).unwrap());
        assert_eq!(segment_size(&old), 512 * 1024);
    }

    #[test]
    fn a_version_3_database_is_sealed_and_its_index_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (c, index, i) = planted(7);
        {
            // The version-3 layout, written by hand: values in clear, index keys holding the
            // value (kind, escaped value, customer id).
            let db = sled::Config::new().path(&path).open().unwrap();
            db.insert(keys::customer(c.id), codec::encode(&c).unwrap())
                .unwrap();
            db.insert(keys::customer_index(c.id), codec::encode(&index).unwrap())
                .unwrap();
            for k in &index {
                let mut key = Space::Index.prefix().to_vec();
                key.push(k.kind.code());
                keys::push_escaped(&mut key, k.value.as_bytes());
                key.extend_from_slice(&c.id.0.to_be_bytes());
                db.insert(key, &[][..]).unwrap();
            }
            db.insert(
                keys::legacy_interaction(i.customer, i.at, i.id),
                codec::encode(&i).unwrap(),
            )
            .unwrap();
            db.insert(
                keys::meta(schema::VERSION_KEY),
                schema::encode_version(3).unwrap(),
            )
            .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version(), schema::SCHEMA_VERSION);
        assert_eq!(store.customer(c.id).unwrap(), Some(c.clone()));
        assert_eq!(store.index_keys_of(c.id).unwrap(), index);
        for k in &index {
            assert_eq!(store.index_lookup(k).unwrap(), vec![c.id], "{k}");
        }
        assert_eq!(
            store.index_prefix(IndexKind::Email, "zyxq", 5).unwrap(),
            vec![("zyxquorva.test@example.org".to_string(), c.id)]
        );
        assert_eq!(store.interactions_of(c.id).next().unwrap().unwrap(), i);
        let tree = store.raw_tree();
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            assert!(
                !k.to_ascii_lowercase().windows(9).any(|w| w == b"zyxquorva"),
                "{k:?}"
            );
            if matches!(Space::of(&k), Some(Space::Customers | Space::CustomerIndex)) {
                assert_eq!(v.first(), Some(&seal::SEALED_V2));
            }
            if Space::of(&k) == Some(Space::Interactions) {
                let head = codec::parse_interaction_page(&v).unwrap();
                assert_eq!(head.sealed.first(), Some(&seal::SEALED_V2));
            }
            assert!(!k.starts_with(keys::LEGACY_INTERACTIONS_PREFIX), "{k:?}");
        }
        drop(store);
        // Opening again changes nothing.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.index_lookup(&index[0]).unwrap(), vec![c.id]);
    }

    /// Every sealed value of the tree in the format of schema 6 (plain bytes sealed as they
    /// are, `SEALED_V1`), as a version-6 build wrote it; returns how many.
    fn reseal_as_version_6(store: &Store) -> usize {
        let tree = store.raw_tree();
        let keys = read(&store.inner.keys);
        let mut n = 0;
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            let old = |sealed: &[u8]| {
                let (owner, half) = seal::sealed_owner(sealed).unwrap();
                let plain = keys.open_sealed(sealed).unwrap();
                keys.seal_v1(owner, Some(half), &plain).unwrap()
            };
            if seal::is_sealed(&v) {
                tree.insert(&k, old(&v)).unwrap();
                n += 1;
            } else if Space::of(&k) == Some(Space::Interactions) {
                let head = codec::parse_interaction_page(&v).unwrap();
                let body = old(head.sealed);
                tree.insert(
                    &k,
                    codec::encode_interaction_page(head.count, &head.added, &body),
                )
                .unwrap();
                n += 1;
            }
        }
        n
    }

    #[test]
    fn a_version_6_database_has_its_sealed_values_packed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (c, index, _) = planted(3);
        let history: Vec<Interaction> = (0..300)
            .map(|n| {
                let mut i = Interaction::new(
                    InteractionId(100 + n),
                    c.id,
                    Timestamp::from_secs(1_700_000_000 + n as i64 * 60),
                    rapport_core::Channel::Web,
                    rapport_core::InteractionKind::Note,
                );
                i.text = Some(format!("Zyxquorva asked about booking {}", n % 7));
                i
            })
            .collect();
        let (plain_bytes, stored_before);
        {
            let store = Store::open(&path).unwrap();
            let mut b = Batch::default();
            b.put_customer(&c, index.clone());
            for i in &history {
                b.put_interaction(i);
            }
            b.put_doc_compact_sealed("fragments", "crm:3", c.id, &c)
                .unwrap();
            b.put_doc_sealed("merges", "crm:3", c.id, &c).unwrap();
            store.write(b, Durability::Durable).unwrap();
            stored_before = stored_value_bytes(&store);
            assert_eq!(
                reseal_as_version_6(&store),
                7,
                "customer, key list, 3 pages, 2 docs"
            );
            plain_bytes = stored_value_bytes(&store);
            store
                .raw_tree()
                .insert(
                    keys::meta(schema::VERSION_KEY),
                    schema::encode_version(6).unwrap(),
                )
                .unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version(), schema::SCHEMA_VERSION);
        // Everything reads as it was written.
        assert_eq!(store.customer(c.id).unwrap(), Some(c.clone()));
        assert_eq!(store.index_keys_of(c.id).unwrap(), index);
        assert_eq!(store.index_lookup(&index[0]).unwrap(), vec![c.id]);
        let read: Vec<Interaction> = store.interactions_of(c.id).map(Result::unwrap).collect();
        assert_eq!(read, history);
        assert_eq!(store.interaction_count().unwrap(), 300);
        let doc: Customer = store.doc("fragments", "crm:3").unwrap().unwrap();
        assert_eq!(doc, c);
        let doc: Customer = store.doc("merges", "crm:3").unwrap().unwrap();
        assert_eq!(doc, c);
        // Every sealed value is in the new format, fewer bytes than before the migration
        // (the repeated notes pack), and nothing is in clear.
        let tree = store.raw_tree();
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            assert_ne!(v.first(), Some(&seal::SEALED_V1), "{k:?}");
            if Space::of(&k) == Some(Space::Interactions) {
                let head = codec::parse_interaction_page(&v).unwrap();
                assert_eq!(head.sealed.first(), Some(&seal::SEALED_V2));
            }
            assert!(!v.to_ascii_lowercase().windows(9).any(|w| w == b"zyxquorva"));
        }
        let after = stored_value_bytes(&store);
        assert_eq!(after, stored_before);
        assert!(after < plain_bytes * 2 / 3, "{after} of {plain_bytes}");
        drop(store);
        // Opening again changes nothing.
        let store = Store::open(&path).unwrap();
        assert_eq!(stored_value_bytes(&store), after);
        assert_eq!(store.customer(c.id).unwrap(), Some(c));
    }

    /// The stored bytes of the values of the customers' keyspaces and documents.
    fn stored_value_bytes(store: &Store) -> u64 {
        store
            .stats()
            .unwrap()
            .bytes
            .iter()
            .filter(|r| {
                ["customers", "customer_index", "interactions", "docs"].contains(&r.name.as_str())
            })
            .map(|r| r.value_bytes)
            .sum()
    }

    #[test]
    fn interaction_writes_mark_stale_digests_once_tracking_is_on_and_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let note = |id: u64, customer: u64| {
            Interaction::new(
                InteractionId(id),
                CustomerId(customer),
                Timestamp::from_secs(1_700_000_000 + id as i64),
                rapport_core::Channel::Web,
                rapport_core::InteractionKind::Note,
            )
        };
        let store = Store::open(&path).unwrap();
        let mut b = Batch::default();
        for c in 1..=3 {
            b.put_customer(&customer(c), vec![]);
        }
        b.put_interaction(&note(1, 1));
        store.write(b, Durability::Durable).unwrap();
        // Not tracking: nothing is marked.
        assert!(!store.tracks_stale_digests());
        assert_eq!(store.stale_digests().unwrap(), vec![]);
        store.track_stale_digests().unwrap();
        let mut b = Batch::default();
        b.put_interaction(&note(2, 3));
        b.put_interaction(&note(3, 1));
        b.put_interaction(&note(4, 3));
        store.write(b, Durability::Durable).unwrap();
        assert_eq!(
            store.stale_digests().unwrap(),
            vec![CustomerId(1), CustomerId(3)]
        );
        let mut b = Batch::default();
        b.clear_stale_digest(CustomerId(1));
        b.remove_interaction(CustomerId(2), Timestamp::from_secs(1), InteractionId(9));
        store.write(b, Durability::Durable).unwrap();
        assert_eq!(
            store.stale_digests().unwrap(),
            vec![CustomerId(2), CustomerId(3)]
        );
        drop(store);
        // Tracking is part of the database.
        let store = Store::open(&path).unwrap();
        assert!(store.tracks_stale_digests());
        let mut b = Batch::default();
        b.remove_history_digest(CustomerId(1));
        store.write(b, Durability::Durable).unwrap();
        assert_eq!(
            store.stale_digests().unwrap(),
            vec![CustomerId(1), CustomerId(2), CustomerId(3)]
        );
        assert!(
            store
                .stats()
                .unwrap()
                .keyspaces
                .contains(&("stale_digests".to_string(), 3))
        );
    }

    #[test]
    fn dropped_subscribers_are_removed() {
        let store = Store::temporary().unwrap();
        let kept = store.subscribe();
        drop(store.subscribe());
        let count = || {
            lock(&store.inner.feed)
                .as_ref()
                .map(|f| f.subscriber_count())
        };
        assert_eq!(count(), Some(2));
        let mut b = Batch::default();
        b.put_customer(&customer(1), vec![]);
        store.write(b, Durability::Batched).unwrap();
        assert!(kept.recv_timeout(Duration::from_secs(5)).is_some());
        assert_eq!(count(), Some(1));
    }

    #[test]
    fn a_customer_record_written_alone_keeps_its_index_keys() {
        let store = Store::temporary().unwrap();
        let email = IndexKey::new(IndexKind::Email, "ana@example.com");
        let phone = IndexKey::new(IndexKind::Phone, "+351912345678");
        let mut b = Batch::default();
        b.put_customer(&customer(7), vec![email.clone(), phone.clone()]);
        store.write(b, Durability::Batched).unwrap();
        let mut c = customer(7);
        c.updated = Timestamp::from_secs(1_800_000_000);
        let mut b = Batch::default();
        b.put_customer_record(&c);
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(store.customer(CustomerId(7)).unwrap(), Some(c));
        let mut want = vec![email.clone(), phone];
        want.sort();
        assert_eq!(store.index_keys_of(CustomerId(7)).unwrap(), want);
        assert_eq!(store.index_lookup(&email).unwrap(), vec![CustomerId(7)]);
        assert_eq!(listed(&store), vec![7]);
    }

    #[test]
    fn expect_doc_writes_only_when_the_document_is_as_expected() {
        let store = Store::temporary().unwrap();
        let put = |expected: Option<&str>, new: &str| {
            let mut b = Batch::default();
            b.expect_doc("members", "C1", expected.as_ref());
            b.put_doc("members", "C1", &new).unwrap();
            b.put_doc("log", new, &new).unwrap();
            store.write(b, Durability::Batched)
        };
        put(None, "a").unwrap();
        // A second writer that also saw no document loses, and writes nothing at all.
        let err = put(None, "b").unwrap_err();
        assert!(
            matches!(&err, Error::Changed { collection, key } if collection == "members" && key == "C1"),
            "{err}"
        );
        assert_eq!(store.doc::<String>("log", "b").unwrap(), None);
        put(Some("a"), "c").unwrap();
        assert!(put(Some("a"), "d").is_err());
        assert_eq!(
            store.doc::<String>("members", "C1").unwrap().as_deref(),
            Some("c")
        );
        // Checked in order with the batch's own writes.
        let mut b = Batch::default();
        b.remove_doc("members", "C1");
        b.expect_doc::<String>("members", "C1", None);
        b.put_doc("members", "C1", &"e").unwrap();
        b.expect_doc("members", "C1", Some(&"e"));
        store.write(b, Durability::Batched).unwrap();
        assert_eq!(
            store.doc::<String>("members", "C1").unwrap().as_deref(),
            Some("e")
        );
    }
}
