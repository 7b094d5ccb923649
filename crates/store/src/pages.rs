//! A customer's interactions in pages: one sled key per page of up to
//! [`codec::PAGE_MAX_ENTRIES`] interactions (or [`codec::PAGE_MAX_BYTES`]), instead of one key
//! per interaction.
//!
//! A page's key is the customer id and the page's *fence*, a (time, id) no greater than any
//! interaction on it; the page holds the customer's interactions from its fence up to the next
//! page's fence (the customer's first page also any older one). So pages never overlap, a
//! forward scan of the customer's pages is its history oldest first, a reverse scan newest
//! first, and the page an interaction belongs to is found with one reverse seek from its own
//! (time, id). Interactions mostly arrive newest last: they go to the newest page until it is
//! full, then a new page starts with them, so pages written in time order are full and are
//! never rewritten again. An interaction out of time order goes into the page whose range holds
//! it, which is split when it overflows.
//!
//! [`Store::plan_interaction_pages`] turns a batch's interaction operations into page writes:
//! per customer, each page the operations touch is read once, all operations are applied to
//! it in batch order, and it is written once (cut again when over the limits; removed when
//! empty). [`crate::Batch::put_new_interactions`] writes whole pages without reading.
//!
//! **Appends.** A night's ingest adds one interaction or two to many customers whose newest
//! page holds their whole history: rewriting that page (up to 128 interactions, 24 KiB,
//! sealed again) for each was most of what an append cost. So interactions newer than every
//! one a customer has go to a *tail*, a newest page of fewer than [`TAIL_ENTRIES`] (and
//! [`TAIL_BYTES`]): a tail is rewritten with them; a newest page larger than a tail is left as
//! it is and they begin a page of their own; a tail that grows past the limit joins the page
//! before it when that one has room (that page is rewritten once per tail's worth of appends,
//! cut at the usual limits). Pages written in time order still fill to 128; a history holds at
//! most one tail and one partly filled page besides its full pages, so the newest 100 are on
//! at most three pages. A tail is a page like any other: nothing reads it differently.

use std::collections::{BTreeMap, BTreeSet};

use rapport_core::{Change, CustomerId, Interaction, InteractionId, Timestamp};

use crate::keys::{self, Key, Space};
use crate::{Error, Store, codec, seal};

/// The (time, id) that orders a customer's interactions.
pub(crate) type IKey = (Timestamp, InteractionId);

/// A page's entries with their keys, in order.
type Entries = Vec<(IKey, Vec<u8>)>;

/// One interaction operation of a batch, in batch order.
pub(crate) enum PageOp {
    Put {
        key: IKey,
        entry: Vec<u8>,
    },
    Remove {
        key: IKey,
    },
    /// Sorted, written as whole pages without reading (unless mixed with other operations).
    Fresh(Vec<(Timestamp, InteractionId, Vec<u8>)>),
}

/// Seals a page body for its customer (with the half an erasure names).
pub(crate) type Sealer<'a> = dyn Fn(CustomerId, &[u8]) -> Result<Vec<u8>, Error> + 'a;

/// A page read (or begun) while a batch is planned.
struct Loaded {
    /// The fence of the stored page (`None`: a page this batch begins).
    stored: Option<IKey>,
    /// Holds interactions older than its fence too (the customer's first page).
    first: bool,
    /// The next page's fence (`None`: the customer's newest page).
    upper: Option<IKey>,
    entries: BTreeMap<IKey, Vec<u8>>,
    /// Entries on the stored page.
    old_count: usize,
    /// The newest key on the stored page.
    old_max: Option<IKey>,
    /// Whether a stored entry was replaced or removed, or one was put among them: then the
    /// stored entries are written again; otherwise only what was appended after them is.
    changed_old: bool,
    /// Keys put by this batch (announced by the change feed).
    added: BTreeSet<IKey>,
    dirty: bool,
}

impl Loaded {
    fn covers(&self, k: IKey) -> bool {
        (self.first || self.stored.is_none_or(|f| f <= k)) && self.upper.is_none_or(|u| k < u)
    }
}

fn decode_err(raw_key: &[u8], reason: String) -> Error {
    Error::Decode {
        tree: Space::Interactions.name(),
        key: keys::describe(raw_key),
        reason,
    }
}

/// Where the pages cut: the lengths of the pages that `sizes` (entry bytes, in order) fill,
/// each up to the limits (an entry larger than the byte limit gets a page to itself).
pub(crate) fn cut<I: IntoIterator<Item = usize>>(sizes: I) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut n, mut bytes) = (0usize, 0usize);
    for len in sizes {
        let len = len + 2;
        if n > 0 && (n >= codec::PAGE_MAX_ENTRIES || bytes + len > codec::PAGE_MAX_BYTES) {
            out.push(n);
            n = 0;
            bytes = 0;
        }
        n += 1;
        bytes += len;
    }
    if n > 0 {
        out.push(n);
    }
    out
}

/// Entries a customer's newest page holds at most to be a *tail* (see "Appends" in the module
/// documentation): an append rewrites a tail, never a larger page.
pub(crate) const TAIL_ENTRIES: usize = 16;
/// Bytes of entries a tail holds at most.
pub(crate) const TAIL_BYTES: usize = 4 * 1024;

/// Whether a newest page of `count` entries of `bytes` is a tail (an append rewrites it).
fn is_tail(count: usize, bytes: usize) -> bool {
    count < TAIL_ENTRIES && bytes < TAIL_BYTES
}

impl Store {
    /// Opens a stored page: its count and its plain body.
    pub(crate) fn open_page(&self, raw_key: &[u8], value: &[u8]) -> Result<Vec<u8>, Error> {
        let head = codec::parse_interaction_page(value).map_err(|r| decode_err(raw_key, r))?;
        if !seal::is_sealed(head.sealed) {
            return Err(decode_err(raw_key, "the page body is not sealed".into()));
        }
        Ok(self.plain(raw_key, head.sealed)?.into_owned())
    }

    /// The interactions of a stored page, oldest first.
    pub(crate) fn page_interactions(
        &self,
        raw_key: &[u8],
        value: &[u8],
    ) -> Result<Vec<Interaction>, Error> {
        let body = self.open_page(raw_key, value)?;
        codec::page_entries(&body)
            .and_then(|es| es.into_iter().map(codec::decode_entry).collect())
            .map_err(|r| decode_err(raw_key, r))
    }

    /// The (time, id) of every interaction of a stored page, oldest first.
    pub(crate) fn page_keys(&self, raw_key: &[u8], value: &[u8]) -> Result<Vec<IKey>, Error> {
        let body = self.open_page(raw_key, value)?;
        codec::page_entries(&body)
            .and_then(|es| es.into_iter().map(codec::entry_key).collect())
            .map_err(|r| decode_err(raw_key, r))
    }

    /// The interactions of every page under `prefix` (a customer's, or all), page by page.
    pub(crate) fn paged_interactions(
        &self,
        prefix: Vec<u8>,
    ) -> impl Iterator<Item = Result<Interaction, Error>> + '_ {
        self.inner.tree.scan_prefix(prefix).flat_map(move |kv| {
            let page = kv
                .map_err(Error::from)
                .and_then(|(k, v)| self.page_interactions(&k, &v));
            match page {
                Ok(list) => list.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }
        })
    }

    /// The newest `limit` interactions of the customer strictly before `before`, newest first:
    /// a reverse scan of its pages, decoding only the interactions returned.
    pub(crate) fn newest_in_pages(
        &self,
        customer: CustomerId,
        limit: usize,
        before: Option<IKey>,
    ) -> Result<Vec<Interaction>, Error> {
        let start = keys::customer_prefix(Space::Interactions, customer);
        let end = match before {
            Some((at, id)) => Some(keys::interaction_page(customer, at, id)),
            None => keys::prefix_end(&start),
        };
        let range = match end {
            Some(end) => self.inner.tree.range(start..end),
            None => self.inner.tree.scan_prefix(&start),
        };
        let mut out = Vec::with_capacity(limit.min(256));
        for kv in range.rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            let body = self.open_page(&k, &v)?;
            let entries = codec::page_entries(&body).map_err(|r| decode_err(&k, r))?;
            for e in entries.into_iter().rev() {
                if out.len() >= limit {
                    break;
                }
                if let Some(b) = before
                    && codec::entry_key(e).map_err(|r| decode_err(&k, r))? >= b
                {
                    continue;
                }
                out.push(codec::decode_entry(e).map_err(|r| decode_err(&k, r))?);
            }
        }
        Ok(out)
    }

    /// Number of interactions: the counts in the pages' headers (nothing is opened).
    pub(crate) fn count_paged(&self) -> Result<(u64, u64), Error> {
        let (mut n, mut pages) = (0, 0);
        for kv in self.inner.tree.scan_prefix(Space::Interactions.prefix()) {
            let (k, v) = kv?;
            n += codec::parse_interaction_page(&v)
                .map_err(|r| decode_err(&k, r))?
                .count;
            pages += 1;
        }
        Ok((n, pages))
    }

    /// Turns a batch's interaction operations into page writes in `out` (see the module doc).
    /// Runs under the write lock.
    pub(crate) fn plan_interaction_pages(
        &self,
        ops: BTreeMap<CustomerId, Vec<PageOp>>,
        out: &mut sled::Batch,
        seal: &Sealer<'_>,
    ) -> Result<(), Error> {
        for (customer, ops) in ops {
            if ops.iter().all(|op| matches!(op, PageOp::Fresh(_))) {
                // Whole pages: cut and written without reading what is stored.
                for op in ops {
                    if let PageOp::Fresh(entries) = op {
                        let cuts = cut(entries.iter().map(|(_, _, e)| e.len()));
                        let mut rest = &entries[..];
                        for n in cuts {
                            let (page, tail) = rest.split_at(n);
                            rest = tail;
                            let fence = (page[0].0, page[0].1);
                            let mut ids: Vec<InteractionId> =
                                page.iter().map(|(_, id, _)| *id).collect();
                            ids.sort_unstable();
                            let body = codec::page_body(page.iter().map(|(_, _, e)| &e[..]));
                            out.insert(
                                keys::interaction_page(customer, fence.0, fence.1),
                                codec::encode_interaction_page(
                                    n as u64,
                                    &ids,
                                    &seal(customer, &body)?,
                                ),
                            );
                        }
                    }
                }
                continue;
            }
            self.plan_customer_pages(customer, ops, out, seal)?;
        }
        Ok(())
    }

    /// One customer's operations: read each page they touch once, apply, write.
    fn plan_customer_pages(
        &self,
        customer: CustomerId,
        ops: Vec<PageOp>,
        out: &mut sled::Batch,
        seal: &Sealer<'_>,
    ) -> Result<(), Error> {
        // Flattened in batch order: (key, Some(entry)) puts, (key, None) removes.
        let mut flat: Vec<(IKey, Option<Vec<u8>>)> = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                PageOp::Put { key, entry } => flat.push((key, Some(entry))),
                PageOp::Remove { key } => flat.push((key, None)),
                PageOp::Fresh(entries) => {
                    flat.extend(entries.into_iter().map(|(at, id, e)| ((at, id), Some(e))))
                }
            }
        }
        let mut pages: Vec<Loaded> = Vec::new();
        for (k, entry) in flat {
            let idx = match pages.iter().position(|p| p.covers(k)) {
                Some(i) => Some(i),
                None => self.load_page(customer, k, &mut pages, entry.is_some())?,
            };
            let Some(idx) = idx else {
                // A removal for a customer without pages: nothing to remove.
                continue;
            };
            let p = &mut pages[idx];
            let below_old = p.old_max.is_some_and(|m| k <= m);
            match entry {
                Some(e) => {
                    let replaced = p.entries.insert(k, e).is_some();
                    if below_old || (replaced && !p.added.contains(&k)) {
                        p.changed_old = true;
                    }
                    p.added.insert(k);
                    p.dirty = true;
                }
                None => {
                    if p.entries.remove(&k).is_some() {
                        if !p.added.remove(&k) || below_old {
                            p.changed_old = true;
                        }
                        p.dirty = true;
                    }
                }
            }
        }
        // A full tail joins the page before it only when the batch touched no other page of
        // the customer (which it would then write too).
        let alone = pages.len() == 1;
        for p in pages.into_iter().filter(|p| p.dirty) {
            self.write_loaded(customer, p, alone, out, seal)?;
        }
        Ok(())
    }

    /// Reads the stored page that holds `k` into `pages` (or begins the customer's first page
    /// when it has none and `create`); returns its index, `None` when there is no page.
    fn load_page(
        &self,
        customer: CustomerId,
        k: IKey,
        pages: &mut Vec<Loaded>,
        create: bool,
    ) -> Result<Option<usize>, Error> {
        let tree = &self.inner.tree;
        let prefix = keys::customer_prefix(Space::Interactions, customer);
        let at_or_before = keys::interaction_page(customer, k.0, k.1);
        let (kv, first) = match tree.range(prefix.clone()..=at_or_before).next_back() {
            Some(kv) => (Some(kv?), false),
            None => (tree.scan_prefix(&prefix).next().transpose()?, true),
        };
        let Some((raw, value)) = kv else {
            if !create {
                return Ok(None);
            }
            pages.push(Loaded {
                stored: None,
                first: true,
                upper: None,
                entries: BTreeMap::new(),
                old_count: 0,
                old_max: None,
                changed_old: false,
                added: BTreeSet::new(),
                dirty: false,
            });
            return Ok(Some(pages.len() - 1));
        };
        let Some(Key::Interaction(_, at, id)) = Key::parse(&raw) else {
            return Err(decode_err(&raw, "malformed key".into()));
        };
        if let Some(i) = pages.iter().position(|p| p.stored == Some((at, id))) {
            pages[i].first |= first;
            return Ok(Some(i));
        }
        let mut after = raw.to_vec();
        after.push(0);
        let upper = match keys::prefix_end(&prefix) {
            Some(end) => tree.range(after..end).keys().next(),
            None => tree.range(after..).keys().next(),
        };
        let upper = match upper.transpose()? {
            Some(u) => match Key::parse(&u) {
                Some(Key::Interaction(_, at, id)) => Some((at, id)),
                _ => return Err(decode_err(&u, "malformed key".into())),
            },
            None => None,
        };
        let body = self.open_page(&raw, &value)?;
        let mut entries = BTreeMap::new();
        for e in codec::page_entries(&body).map_err(|r| decode_err(&raw, r))? {
            entries.insert(
                codec::entry_key(e).map_err(|r| decode_err(&raw, r))?,
                e.to_vec(),
            );
        }
        pages.push(Loaded {
            stored: Some((at, id)),
            first,
            upper,
            old_count: entries.len(),
            old_max: entries.keys().next_back().copied(),
            entries,
            changed_old: false,
            added: BTreeSet::new(),
            dirty: false,
        });
        Ok(Some(pages.len() - 1))
    }

    /// Writes a page the batch changed: removed when empty, cut again when over the limits;
    /// a first cut holding exactly the stored entries, unchanged, is not written again.
    fn write_loaded(
        &self,
        customer: CustomerId,
        p: Loaded,
        alone: bool,
        out: &mut sled::Batch,
        seal: &Sealer<'_>,
    ) -> Result<(), Error> {
        let stored_key = p
            .stored
            .map(|(at, id)| keys::interaction_page(customer, at, id));
        let entries: Vec<(IKey, Vec<u8>)> = p.entries.into_iter().collect();
        let Some(((first_at, first_id), _)) = entries.first() else {
            if let Some(k) = stored_key {
                out.remove(k);
            }
            return Ok(());
        };
        let fence0 = match p.stored {
            Some(f) if f <= (*first_at, *first_id) => f,
            _ => (*first_at, *first_id),
        };
        // An append to the customer's newest page (every entry the batch put is newer than all
        // it held, nothing else changed): see "Appends" in the module documentation.
        let appended = !p.changed_old && p.upper.is_none() && p.old_count > 0;
        let appended = appended && p.stored == Some(fence0);
        if appended && let Some(stored) = p.stored {
            let old_bytes: usize = entries[..p.old_count].iter().map(|(_, e)| e.len()).sum();
            if !is_tail(p.old_count, old_bytes) {
                // A page past the tail's limits stands: the new entries begin a page.
                return self.write_entries(
                    customer,
                    &entries[p.old_count..],
                    None,
                    &p.added,
                    out,
                    seal,
                );
            }
            let all_bytes: usize = entries.iter().map(|(_, e)| e.len()).sum();
            if !is_tail(entries.len(), all_bytes)
                && alone
                && let Some(prev) = self.previous_page(customer, stored)?
            {
                // The tail is full: it joins the page before it, which is rewritten (once per
                // tail's worth of appends) and cut as usual.
                let (prev_fence, mut merged) = prev;
                merged.extend(entries);
                if let Some(k) = stored_key {
                    out.remove(k);
                }
                return self.write_entries(
                    customer,
                    &merged,
                    Some(prev_fence),
                    &p.added,
                    out,
                    seal,
                );
            }
        }
        if p.stored.is_some_and(|f| f != fence0)
            && let Some(k) = &stored_key
        {
            out.remove(k.clone());
        }
        let cuts = cut(entries.iter().map(|(_, e)| e.len()));
        let mut rest = &entries[..];
        for (n, len) in cuts.into_iter().enumerate() {
            let (page, tail) = rest.split_at(len);
            rest = tail;
            let fence = if n == 0 { fence0 } else { page[0].0 };
            if n == 0 && !p.changed_old && p.stored == Some(fence) && len == p.old_count {
                // The stored page as it was (the new interactions start the next page).
                continue;
            }
            put_page(customer, fence, page, &p.added, out, seal)?;
        }
        Ok(())
    }

    /// Writes `entries` (sorted) as pages cut to the limits, the first with fence `fence` (or
    /// its first key); the header of each names the entries in `added`.
    fn write_entries(
        &self,
        customer: CustomerId,
        entries: &[(IKey, Vec<u8>)],
        fence: Option<IKey>,
        added: &BTreeSet<IKey>,
        out: &mut sled::Batch,
        seal: &Sealer<'_>,
    ) -> Result<(), Error> {
        let cuts = cut(entries.iter().map(|(_, e)| e.len()));
        let mut rest = entries;
        for (n, len) in cuts.into_iter().enumerate() {
            let (page, tail) = rest.split_at(len);
            rest = tail;
            let fence = match (n, fence) {
                (0, Some(f)) => f,
                _ => page[0].0,
            };
            put_page(customer, fence, page, added, out, seal)?;
        }
        Ok(())
    }

    /// The page before the one with fence `fence`, when it has room for more entries: its
    /// fence and entries.
    fn previous_page(
        &self,
        customer: CustomerId,
        fence: IKey,
    ) -> Result<Option<(IKey, Entries)>, Error> {
        let prefix = keys::customer_prefix(Space::Interactions, customer);
        let before = keys::interaction_page(customer, fence.0, fence.1);
        let Some(kv) = self.inner.tree.range(prefix..before).next_back() else {
            return Ok(None);
        };
        let (raw, value) = kv?;
        let Some(Key::Interaction(_, at, id)) = Key::parse(&raw) else {
            return Err(decode_err(&raw, "malformed key".into()));
        };
        let head = codec::parse_interaction_page(&value).map_err(|r| decode_err(&raw, r))?;
        if head.count as usize >= codec::PAGE_MAX_ENTRIES {
            return Ok(None);
        }
        let body = self.open_page(&raw, &value)?;
        let mut entries = Vec::with_capacity(head.count as usize);
        for e in codec::page_entries(&body).map_err(|r| decode_err(&raw, r))? {
            entries.push((
                codec::entry_key(e).map_err(|r| decode_err(&raw, r))?,
                e.to_vec(),
            ));
        }
        let bytes: usize = entries.iter().map(|(_, e)| e.len() + 2).sum();
        if bytes >= codec::PAGE_MAX_BYTES {
            return Ok(None);
        }
        Ok(Some(((at, id), entries)))
    }

    /// The keys of the customer's interactions (for erasure's check that a rewrite covers them).
    pub(crate) fn interaction_keys_of(&self, customer: CustomerId) -> Result<Vec<IKey>, Error> {
        let mut out = Vec::new();
        for kv in self
            .inner
            .tree
            .scan_prefix(keys::customer_prefix(Space::Interactions, customer))
        {
            let (k, v) = kv?;
            out.extend(self.page_keys(&k, &v)?);
        }
        Ok(out)
    }

    /// Schema 4 -> 5: moves the interactions from one key each (`Ei`) into pages, a few
    /// customers per atomic batch, each customer's old keys removed in the batch that writes
    /// its pages (so a rerun after a crash finds only customers not yet moved, whole).
    pub(crate) fn interactions_into_pages(&self) -> Result<(), String> {
        let tree = &self.inner.tree;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0usize;
        let (mut moved, mut pages) = (0u64, 0u64);
        let mut current: Option<CustomerId> = None;
        let mut history: Vec<(Timestamp, InteractionId, Vec<u8>)> = Vec::new();
        for kv in tree.scan_prefix(keys::LEGACY_INTERACTIONS_PREFIX) {
            let (k, v) = kv.map_err(|e| e.to_string())?;
            let (c, at, id) = keys::parse_legacy_interaction(&k)
                .ok_or_else(|| format!("malformed interaction key {}", keys::describe(&k)))?;
            if let Some(p) = current
                && p != c
            {
                moved += history.len() as u64;
                pages += self.move_history(p, std::mem::take(&mut history), &mut batch)?;
                if in_batch >= 4_000 {
                    tree.apply_batch(std::mem::take(&mut batch))
                        .map_err(|e| e.to_string())?;
                    in_batch = 0;
                }
            }
            current = Some(c);
            let plain = self.plain(&k, &v).map_err(|e| e.to_string())?;
            // A schema-4 value is the interaction in bincode after the format byte: a page
            // entry is the same bytes without it.
            let entry = match plain.split_first() {
                Some((&codec::BINCODE_V1, body)) => body.to_vec(),
                _ => return Err(format!("interaction {}: not bincode", keys::describe(&k))),
            };
            codec::decode_entry(&entry)
                .map_err(|e| format!("interaction {}: {e}", keys::describe(&k)))?;
            history.push((at, id, entry));
            batch.remove(k);
            in_batch += 1;
        }
        if let Some(p) = current {
            moved += history.len() as u64;
            pages += self.move_history(p, history, &mut batch)?;
        }
        tree.apply_batch(batch).map_err(|e| e.to_string())?;
        tracing::info!(moved, pages, "moved the interactions into pages");
        Ok(())
    }

    /// Writes a customer's whole history (sorted) as pages into `batch`; returns the pages.
    fn move_history(
        &self,
        customer: CustomerId,
        history: Vec<(Timestamp, InteractionId, Vec<u8>)>,
        batch: &mut sled::Batch,
    ) -> Result<u64, String> {
        let pages = cut(history.iter().map(|(_, _, e)| e.len())).len() as u64;
        let sealer = |owner: CustomerId, plain: &[u8]| -> Result<Vec<u8>, Error> {
            self.inner
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .seal(owner, None, plain)
                .map_err(Error::Keys)
        };
        let mut ops = BTreeMap::new();
        ops.insert(customer, vec![PageOp::Fresh(history)]);
        self.plan_interaction_pages(ops, batch, &sealer)
            .map_err(|e| e.to_string())?;
        Ok(pages)
    }
}

/// The changes a stored page announces: each interaction its write added.
pub(crate) fn page_changes(customer: CustomerId, value: &[u8]) -> Vec<Change> {
    match codec::parse_interaction_page(value) {
        Ok(head) => head
            .added
            .into_iter()
            .map(|interaction| Change::InteractionAdded {
                customer,
                interaction,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(%customer, "bad page of interactions: {e}");
            Vec::new()
        }
    }
}

/// Writes one page of `entries` under `fence`: its header names the entries in `added` (for
/// the change feed), its body is sealed under the customer's key.
fn put_page(
    customer: CustomerId,
    fence: IKey,
    page: &[(IKey, Vec<u8>)],
    added: &BTreeSet<IKey>,
    out: &mut sled::Batch,
    seal: &Sealer<'_>,
) -> Result<(), Error> {
    let mut ids: Vec<InteractionId> = page
        .iter()
        .filter(|(k, _)| added.contains(k))
        .map(|((_, id), _)| *id)
        .collect();
    ids.sort_unstable();
    let body = codec::page_body(page.iter().map(|(_, e)| &e[..]));
    out.insert(
        keys::interaction_page(customer, fence.0, fence.1),
        codec::encode_interaction_page(page.len() as u64, &ids, &seal(customer, &body)?),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;
    use rapport_core::{Channel, InteractionKind};

    use super::*;
    use crate::{Batch, Durability};

    fn interaction(c: u64, at: i64, id: u64) -> Interaction {
        let mut i = Interaction::new(
            InteractionId(id),
            CustomerId(c),
            Timestamp(at),
            Channel::Web,
            InteractionKind::Note,
        );
        i.text = Some(format!("note {id} of {c}"));
        i
    }

    fn write(store: &Store, f: impl FnOnce(&mut Batch)) {
        let mut b = Batch::default();
        f(&mut b);
        store.write(b, Durability::Batched).unwrap();
    }

    /// Every page of the customer: (fence, keys on it), oldest first, checked against the
    /// layout's rules (fence at or below the first key, pages in order without overlap,
    /// within the limits, the header's count right).
    fn pages_of(store: &Store, c: u64) -> Vec<(IKey, Vec<IKey>)> {
        let mut out: Vec<(IKey, Vec<IKey>)> = Vec::new();
        for kv in store
            .raw_tree()
            .scan_prefix(keys::customer_prefix(Space::Interactions, CustomerId(c)))
        {
            let (k, v) = kv.unwrap();
            let Some(Key::Interaction(_, at, id)) = Key::parse(&k) else {
                panic!("bad key")
            };
            let ks = store.page_keys(&k, &v).unwrap();
            assert!(!ks.is_empty(), "an empty page is stored");
            assert!(ks.len() <= codec::PAGE_MAX_ENTRIES);
            assert!(ks.windows(2).all(|w| w[0] < w[1]));
            assert!((at, id) <= ks[0], "fence above the first key");
            if let Some((_, prev)) = out.last() {
                assert!(*prev.last().unwrap() < (at, id), "pages overlap");
            }
            let head = codec::parse_interaction_page(&v).unwrap();
            assert_eq!(head.count, ks.len() as u64);
            out.push(((at, id), ks));
        }
        out
    }

    #[test]
    fn interactions_in_time_order_fill_pages_that_are_never_written_again() {
        let store = Store::temporary().unwrap();
        let mut id = 0;
        // Every page as stored after the last round, by key.
        let mut before: BTreeMap<Vec<u8>, sled::IVec> = BTreeMap::new();
        // Entries on the pages each round wrote.
        let mut written = Vec::new();
        for round in 0..40 {
            write(&store, |b| {
                for _ in 0..7 {
                    id += 1;
                    b.put_interaction(&interaction(1, id as i64 * 1000, id));
                }
            });
            let pages = pages_of(&store, 1);
            // All but the newest two pages are full, and a full page is never written again.
            let sizes: Vec<usize> = pages.iter().map(|(_, k)| k.len()).collect();
            let n = sizes.len();
            assert!(
                sizes[..n.saturating_sub(2)]
                    .iter()
                    .all(|s| *s == codec::PAGE_MAX_ENTRIES),
                "round {round}: {sizes:?}"
            );
            let mut now = BTreeMap::new();
            let mut rewritten = 0;
            for kv in store
                .raw_tree()
                .scan_prefix(keys::customer_prefix(Space::Interactions, CustomerId(1)))
            {
                let (k, v) = kv.unwrap();
                let count = codec::parse_interaction_page(&v).unwrap().count as usize;
                match before.get(&k[..]) {
                    Some(old) if *old == v => {}
                    Some(old) => {
                        let old_count = codec::parse_interaction_page(old).unwrap().count;
                        assert!(
                            old_count < codec::PAGE_MAX_ENTRIES as u64,
                            "round {round}: a full page was written again"
                        );
                        rewritten += count;
                    }
                    None => rewritten += count,
                }
                now.insert(k.to_vec(), v);
            }
            written.push(rewritten);
            before = now;
        }
        let pages = pages_of(&store, 1);
        let sizes: Vec<usize> = pages.iter().map(|(_, k)| k.len()).collect();
        assert_eq!(sizes, vec![128, 128, 17, 7]);
        // An append rewrites a tail of fewer than 16 entries, and a full tail joins the page
        // before it once in three rounds here: 1,423 entries written for 280 (rewriting the
        // newest page at every round wrote 2,668).
        assert_eq!(written.iter().sum::<usize>(), 1_423, "{written:?}");
        assert_eq!(store.interaction_count().unwrap(), 280);
        let newest = store.interactions_newest(CustomerId(1), 100, None).unwrap();
        let ids: Vec<u64> = newest.iter().map(|i| i.id.0).collect();
        assert_eq!(ids, (181..=280).rev().collect::<Vec<_>>());
        let stats = store.stats().unwrap();
        assert_eq!(stats.count("interactions"), 280);
        assert_eq!(stats.count("interaction_pages"), 4);
    }

    #[test]
    fn many_writes_to_one_customer_in_one_batch_are_cut_into_full_pages_and_all_announced() {
        let store = Store::temporary().unwrap();
        let sub = store.subscribe();
        write(&store, |b| {
            // Newest first, and one written twice: the later write stands.
            for id in (1..=300u64).rev() {
                b.put_interaction(&interaction(2, id as i64, id));
            }
            let mut again = interaction(2, 5, 5);
            again.text = Some("again".into());
            b.put_interaction(&again);
            b.remove_interaction(CustomerId(2), Timestamp(7), InteractionId(7));
        });
        let sizes: Vec<usize> = pages_of(&store, 2).iter().map(|(_, k)| k.len()).collect();
        assert_eq!(sizes, vec![128, 128, 43]);
        let all: Vec<Interaction> = store
            .interactions_of(CustomerId(2))
            .map(Result::unwrap)
            .collect();
        assert_eq!(all.len(), 299);
        assert_eq!(all[4].text.as_deref(), Some("again"));
        assert!(all.iter().all(|i| i.id != InteractionId(7)));
        let mut announced = Vec::new();
        while let Some(e) = sub.recv_timeout(Duration::from_secs(2)) {
            match e.change {
                Change::InteractionAdded {
                    customer,
                    interaction,
                } => {
                    assert_eq!(customer, CustomerId(2));
                    announced.push(interaction.0);
                }
                other => panic!("unexpected {other:?}"),
            }
            if announced.len() == 299 {
                break;
            }
        }
        announced.sort_unstable();
        let expected: Vec<u64> = (1..=300).filter(|i| *i != 7).collect();
        assert_eq!(announced, expected);
        // A removal announces nothing.
        write(&store, |b| {
            b.remove_interaction(CustomerId(2), Timestamp(8), InteractionId(8))
        });
        assert!(sub.recv_timeout(Duration::from_millis(300)).is_none());
        assert_eq!(store.interaction_count().unwrap(), 298);
    }

    #[test]
    fn new_interactions_are_written_as_whole_pages_without_reading() {
        let store = Store::temporary().unwrap();
        let history: Vec<Interaction> = (1..=200)
            .map(|n| interaction(3, n * 10, n as u64))
            .collect();
        write(&store, |b| b.put_new_interactions(&history));
        let sizes: Vec<usize> = pages_of(&store, 3).iter().map(|(_, k)| k.len()).collect();
        assert_eq!(sizes, vec![128, 72]);
        // Done again (a first load rerun after a kill): the same pages, nothing doubled.
        write(&store, |b| b.put_new_interactions(&history));
        assert_eq!(store.interaction_count().unwrap(), 200);
        let back: Vec<Interaction> = store
            .interactions_of(CustomerId(3))
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, history);
        // Later writes merge into those pages like any.
        write(&store, |b| b.put_interaction(&interaction(3, 15, 1_000)));
        assert_eq!(pages_of(&store, 3).len(), 3);
        assert_eq!(store.interaction_count().unwrap(), 201);
        // Out of order or of two customers: refused, nothing written.
        let mut b = Batch::default();
        b.put_new_interactions(&[interaction(4, 2, 1), interaction(4, 1, 2)]);
        assert!(store.write(b, Durability::Batched).is_err());
        let mut b = Batch::default();
        b.put_new_interactions(&[interaction(4, 1, 1), interaction(5, 2, 2)]);
        assert!(store.write(b, Durability::Batched).is_err());
        assert_eq!(store.interactions_of(CustomerId(4)).count(), 0);
    }

    #[derive(Debug, Clone)]
    enum Step {
        Put(u64, i64, u64),
        Remove(u64, i64, u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        // Few customers, times and ids so that replacements and removals of stored
        // interactions happen often; times spread so that pages split in the middle.
        prop_oneof![
            4 => (1..4u64, -50..400i64, 1..600u64).prop_map(|(c, t, i)| Step::Put(c, t, i)),
            1 => (1..4u64, -50..400i64, 1..600u64).prop_map(|(c, t, i)| Step::Remove(c, t, i)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn pages_hold_what_one_key_per_interaction_would(
            batches in proptest::collection::vec(proptest::collection::vec(step(), 1..120), 1..12)
        ) {
            let store = Store::temporary().unwrap();
            let mut model: BTreeMap<(u64, i64, u64), Interaction> = BTreeMap::new();
            for (n, steps) in batches.iter().enumerate() {
                let mut b = Batch::default();
                for s in steps {
                    match *s {
                        Step::Put(c, t, i) => {
                            let mut it = interaction(c, t, i);
                            it.text = Some(format!("batch {n}"));
                            b.put_interaction(&it);
                            model.insert((c, t, i), it);
                        }
                        Step::Remove(c, t, i) => {
                            b.remove_interaction(CustomerId(c), Timestamp(t), InteractionId(i));
                            model.remove(&(c, t, i));
                        }
                    }
                }
                store.write(b, Durability::Batched).unwrap();
            }
            for c in 1..4u64 {
                let _ = pages_of(&store, c);
                let want: Vec<Interaction> =
                    model.range((c, i64::MIN, 0)..(c + 1, i64::MIN, 0)).map(|(_, i)| i.clone()).collect();
                let got: Vec<Interaction> =
                    store.interactions_of(CustomerId(c)).map(Result::unwrap).collect();
                prop_assert_eq!(&got, &want);
                // Newest first, paged 7 at a time.
                let mut paged = Vec::new();
                let mut before = None;
                loop {
                    let page = store.interactions_newest(CustomerId(c), 7, before).unwrap();
                    if page.is_empty() {
                        break;
                    }
                    let last = page.last().unwrap();
                    before = Some((last.at, last.id));
                    paged.extend(page);
                }
                paged.reverse();
                prop_assert_eq!(paged, want);
            }
            prop_assert_eq!(store.interaction_count().unwrap(), model.len() as u64);
            let all: Vec<Interaction> = store.all_interactions().map(Result::unwrap).collect();
            prop_assert_eq!(all, model.into_values().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_version_4_database_has_its_interactions_moved_into_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut written = Vec::new();
        {
            let store = Store::open(&path).unwrap();
            // A customer written through the store (so it has a key), then the version-4
            // layout by hand: one sealed bincode value per interaction under `Ei`.
            let mut b = Batch::default();
            for c in 1..=3u64 {
                b.put_customer(
                    &rapport_core::Customer::new(
                        CustomerId(c),
                        rapport_core::PartyKind::Person,
                        Timestamp::EPOCH,
                    ),
                    vec![],
                );
            }
            store.write(b, Durability::Durable).unwrap();
            let tree = store.raw_tree();
            let ks = store.inner.keys.read().unwrap();
            let mut id = 0;
            for c in 1..=3u64 {
                for n in 0..(if c == 2 { 300 } else { 5 }) {
                    id += 1;
                    let i = interaction(c, 1_700_000_000_000 - n * 60_000, id);
                    let plain = codec::encode(&i).unwrap();
                    tree.insert(
                        keys::legacy_interaction(i.customer, i.at, i.id),
                        ks.seal(i.customer, None, &plain).unwrap(),
                    )
                    .unwrap();
                    written.push(i);
                }
            }
            drop(ks);
            tree.insert(
                keys::meta(crate::schema::VERSION_KEY),
                crate::schema::encode_version(4).unwrap(),
            )
            .unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version(), crate::SCHEMA_VERSION);
        assert_eq!(
            store
                .raw_tree()
                .scan_prefix(keys::LEGACY_INTERACTIONS_PREFIX)
                .count(),
            0
        );
        written.sort_by_key(|i| (i.customer, i.at, i.id));
        let all: Vec<Interaction> = store.all_interactions().map(Result::unwrap).collect();
        assert_eq!(all, written);
        assert_eq!(store.interaction_count().unwrap(), 310);
        let sizes: Vec<usize> = pages_of(&store, 2).iter().map(|(_, k)| k.len()).collect();
        assert_eq!(sizes, vec![128, 128, 44]);
        let newest = store.interactions_newest(CustomerId(2), 1, None).unwrap();
        assert_eq!(newest[0].id, InteractionId(6));
        drop(store);
        // Opening again changes nothing.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.interaction_count().unwrap(), 310);
    }

    #[test]
    fn the_page_cut_respects_both_limits() {
        assert_eq!(cut([10usize; 300]), vec![128, 128, 44]);
        assert_eq!(cut(std::iter::empty::<usize>()), Vec::<usize>::new());
        // Bytes: 3 entries of 10 KiB fill a page of 24 KiB two at a time.
        assert_eq!(cut([10 * 1024usize; 3]), vec![2, 1]);
        // An entry larger than a page gets a page to itself.
        assert_eq!(cut([10usize, 100_000, 10]), vec![1, 1, 1]);
    }
}
