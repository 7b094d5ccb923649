//! The one place that knows how values are encoded. Every stored value starts with a format
//! byte, so the encoding can change (bincode is unmaintained) without rewriting old data
//! at once: a new format gets a new byte and old bytes keep decoding.
//!
//! - [`BINCODE_V1`]: bincode 2 `standard()` (varint integers) through serde, for the typed
//!   keyspaces (customers, interactions, grants, scores, removed, meta).
//! - [`JSON_V1`]: JSON through serde, for generic documents, so a backup can show them without
//!   knowing their Rust type. Collections of many large documents (the ingest's source
//!   records, rows seen, merge evidence) are stored in bincode instead ([`BINCODE_V1`], about
//!   half the bytes and several times faster to read); a backup carries those as hex.
//! - [`OPAQUE_V1`]: bytes in the caller's own layout, stored as given after the format byte
//!   (history digests, which scoring reads in place; the caller checks them).
//! - [`ID_PAGE_V1`]: which of a page's [`PAGE_SLOTS`] customer ids exist: a 256-bit bitmap
//!   (bit `id % 256`, least significant bit of byte 0 first).
//! - [`INTERACTION_PAGE_V1`]: a page of one customer's interactions (up to
//!   [`PAGE_MAX_ENTRIES`] or [`PAGE_MAX_BYTES`]): in the clear, the count and the ids the
//!   write that stored it added (varints; for counts and change events), then the body sealed
//!   under the customer's key: each interaction as a varint length and its bincode bytes, in
//!   (time, id) order.
//! - [`SCORE_PAGE_V1`]: a page of up to [`PAGE_SLOTS`] customers' scores in one value
//!   (customer id / 256 is the page, id % 256 the slot), fixed-width so that one customer's
//!   entry is read without decoding the others. A scoring run writes a million customers'
//!   scores as 3,907 values instead of a million. Layout (little-endian): format byte; a
//!   256-bit presence bitmap; a string table (`u16` count, then `u16` length + UTF-8 each:
//!   model versions, segments, product names); the product columns (`u8` count, `u16`
//!   string index each); then one entry per present slot, in slot order, each
//!   [`ENTRY_FIXED`] + 8 bytes per product column: model version (`u16` string index), `at`
//!   (`i64` ms), value, annual value, profit, CLV, P(alive), churn, expected transactions
//!   (`f64` each), flags (`u8`: tier in bits 0-1, top, bottom, churn present), segment
//!   (`u16` string index), propensity presence (`u64`, one bit per product column), one
//!   `f64` per product column.
//!
//! - Packing (`pack`, `unpack`): what a sealed value (`seal::SEALED_V2`) holds inside
//!   its ciphertext: a method byte, then the plain bytes as they are (`PACK_RAW`) or their
//!   length (varint) and an LZ4 block (`PACK_LZ4`, `lz4_flex`), whichever is shorter.
//!
//! Decoding is defensive: bincode 2 has no size limit by default (11 hostile bytes can make it
//! try to allocate terabytes and abort the process), so every decode runs with
//! [`DECODE_LIMIT`], and a value that does not consume its whole input is rejected.

use rapport_core::varint::{VarintError, put as put_varint};
use std::collections::BTreeMap;

use rapport_core::{InteractionId, Scores, Tier, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Format byte of bincode-encoded values, version 1.
pub const BINCODE_V1: u8 = 1;
/// Format byte of JSON-encoded documents, version 1.
pub const JSON_V1: u8 = 2;
/// Format byte of a page of scores, version 1.
pub const SCORE_PAGE_V1: u8 = 3;
/// Format byte of caller-encoded bytes stored as they are, version 1.
pub const OPAQUE_V1: u8 = 4;
/// Format byte of a page of customer ids, version 1.
pub const ID_PAGE_V1: u8 = 5;
/// Customers per page of scores.
pub const PAGE_SLOTS: u64 = 256;
/// Bytes of a page entry without its propensity columns.
pub const ENTRY_FIXED: usize = 2 + 8 + 7 * 8 + 1 + 2 + 8;
const MAX_COLUMNS: usize = 64;
/// Offset of the flags byte in an entry (after the version index, `at` and seven numbers).
const ENTRY_FLAGS: usize = 2 + 8 + 7 * 8;
/// Offset of the lifetime value in an entry (after value, annual value and profit).
const ENTRY_CLV: usize = 2 + 8 + 3 * 8;
/// The most memory a decoded value may claim, in bytes. bincode charges the limit by the
/// in-memory size of what it allocates, so it is far above the largest value we store.
pub const DECODE_LIMIT: usize = 16 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Encodes a typed value: format byte, then bincode.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(128);
    out.push(BINCODE_V1);
    bincode::serde::encode_into_std_write(value, &mut out, config()).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes a typed value written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&BINCODE_V1, body)) => {
            let (value, used) = bincode::serde::decode_from_slice::<T, _>(body, config())
                .map_err(|e| e.to_string())?;
            if used != body.len() {
                return Err(format!(
                    "{} trailing bytes after the value",
                    body.len() - used
                ));
            }
            Ok(value)
        }
        Some((other, _)) => Err(format!("unknown value format {other}")),
        None => Err("empty value".into()),
    }
}

/// Stores caller-encoded bytes: format byte, then the bytes as given.
pub fn encode_opaque(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + bytes.len());
    out.push(OPAQUE_V1);
    out.extend_from_slice(bytes);
    out
}

/// The caller's bytes of a value written by [`encode_opaque`], or `None` for a value of
/// another format.
pub fn opaque(bytes: &[u8]) -> Option<&[u8]> {
    match bytes.split_first() {
        Some((&OPAQUE_V1, body)) => Some(body),
        _ => None,
    }
}

/// Encodes a page of customer ids.
pub(crate) fn encode_id_page(bits: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(33);
    out.push(ID_PAGE_V1);
    out.extend_from_slice(bits);
    out
}

/// Decodes a page of customer ids written by [`encode_id_page`].
pub(crate) fn decode_id_page(bytes: &[u8]) -> Result<[u8; 32], String> {
    match bytes.split_first() {
        Some((&ID_PAGE_V1, body)) => body
            .try_into()
            .map_err(|_| format!("a page of customer ids of {} bytes, not 32", body.len())),
        Some((other, _)) => Err(format!("unknown value format {other}")),
        None => Err("empty value".into()),
    }
}

/// Encodes a document: format byte, then JSON.
pub fn encode_doc<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(128);
    out.push(JSON_V1);
    serde_json::to_writer(&mut out, value).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes a document written by [`encode_doc`] (JSON; serde_json rejects trailing data
/// itself) or, for collections stored compact ([`crate::Batch::put_doc_compact`]), by
/// [`encode`] (bincode).
pub fn decode_doc<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&BINCODE_V1, _)) => decode(bytes),
        Some((&JSON_V1, body)) => {
            if body.len() > DECODE_LIMIT {
                return Err(format!("document of {} bytes is too large", body.len()));
            }
            serde_json::from_slice(body).map_err(|e| e.to_string())
        }
        Some((other, _)) => Err(format!("unknown document format {other}")),
        None => Err("empty value".into()),
    }
}

/// One customer's scores, borrowed: what an entry of a page of scores holds, so that a run
/// can write a million customers' scores without owning their strings one by one.
#[derive(Debug, Clone, Copy)]
pub struct ScoreView<'a> {
    /// [`Scores::model_version`].
    pub model_version: &'a str,
    /// [`Scores::at`].
    pub at: Timestamp,
    /// [`Scores::value`].
    pub value: f64,
    /// [`Scores::annual_value`].
    pub annual_value: f64,
    /// [`Scores::profit`].
    pub profit: f64,
    /// [`Scores::clv`].
    pub clv: f64,
    /// [`Scores::p_alive`].
    pub p_alive: f64,
    /// [`Scores::churn`].
    pub churn: Option<f64>,
    /// [`Scores::expected_transactions`].
    pub expected_transactions: f64,
    /// [`Scores::tier`].
    pub tier: Tier,
    /// [`Scores::top`].
    pub top: bool,
    /// [`Scores::bottom`].
    pub bottom: bool,
    /// [`Scores::segment`].
    pub segment: &'a str,
    /// [`Scores::propensity`]: (product, propensity), products distinct.
    pub propensity: Propensities<'a>,
}

/// The propensities of a [`ScoreView`].
#[derive(Debug, Clone, Copy)]
pub enum Propensities<'a> {
    /// Of owned [`Scores`].
    Map(&'a BTreeMap<String, f64>),
    /// (product, propensity) pairs, products distinct.
    Pairs(&'a [(&'a str, f64)]),
}

impl<'a> Propensities<'a> {
    fn iter(self) -> impl Iterator<Item = (&'a str, f64)> {
        let (map, pairs) = match self {
            Propensities::Map(m) => (Some(m), &[][..]),
            Propensities::Pairs(p) => (None, p),
        };
        map.into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), *v)))
            .chain(pairs.iter().copied())
    }

    fn get(self, product: &str) -> Option<f64> {
        match self {
            Propensities::Map(m) => m.get(product).copied(),
            Propensities::Pairs(p) => p.iter().find(|(n, _)| *n == product).map(|(_, v)| *v),
        }
    }
}

impl<'a> ScoreView<'a> {
    /// The view of owned scores.
    pub fn of(s: &'a Scores) -> ScoreView<'a> {
        ScoreView {
            model_version: &s.model_version,
            at: s.at,
            value: s.value,
            annual_value: s.annual_value,
            profit: s.profit,
            clv: s.clv,
            p_alive: s.p_alive,
            churn: s.churn,
            expected_transactions: s.expected_transactions,
            tier: s.tier,
            top: s.top,
            bottom: s.bottom,
            segment: &s.segment,
            propensity: Propensities::Map(&s.propensity),
        }
    }

    /// The scores, owned.
    pub fn to_scores(&self) -> Scores {
        Scores {
            model_version: self.model_version.to_string(),
            at: self.at,
            value: self.value,
            annual_value: self.annual_value,
            profit: self.profit,
            clv: self.clv,
            p_alive: self.p_alive,
            churn: self.churn,
            expected_transactions: self.expected_transactions,
            tier: self.tier,
            top: self.top,
            bottom: self.bottom,
            segment: self.segment.to_string(),
            propensity: self
                .propensity
                .iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

/// Encodes a page of scores (slot, scores), slots ascending and distinct.
pub(crate) fn encode_score_page(entries: &[(u8, Scores)]) -> Result<Vec<u8>, String> {
    let views: Vec<(u8, ScoreView<'_>)> = entries
        .iter()
        .map(|(slot, s)| (*slot, ScoreView::of(s)))
        .collect();
    encode_score_views(&views)
}

/// Encodes a page of scores from borrowed entries (slot, scores), slots ascending and
/// distinct.
pub(crate) fn encode_score_views(entries: &[(u8, ScoreView<'_>)]) -> Result<Vec<u8>, String> {
    let mut strings: Vec<&str> = Vec::new();
    let mut columns: Vec<&str> = Vec::new();
    for (_, s) in entries {
        for name in [s.model_version, s.segment] {
            if !strings.contains(&name) {
                strings.push(name);
            }
        }
        for (p, _) in s.propensity.iter() {
            if !columns.contains(&p) {
                columns.push(p);
            }
        }
    }
    if columns.len() > MAX_COLUMNS {
        return Err(format!(
            "{} propensity products in one page of scores (at most {MAX_COLUMNS})",
            columns.len()
        ));
    }
    let column_ids: Vec<u16> = columns
        .iter()
        .map(|c| match strings.iter().position(|s| s == c) {
            Some(i) => i,
            None => {
                strings.push(c);
                strings.len() - 1
            }
        } as u16)
        .collect();
    if strings.len() > usize::from(u16::MAX) {
        return Err("too many distinct strings in one page of scores".into());
    }
    let index = |name: &str| strings.iter().position(|s| *s == name).unwrap_or(0) as u16;
    let mut bitmap = [0u8; 32];
    let width = ENTRY_FIXED + 8 * columns.len();
    let mut out = Vec::with_capacity(64 + entries.len() * width);
    out.push(SCORE_PAGE_V1);
    for (slot, _) in entries {
        bitmap[usize::from(*slot / 8)] |= 1 << (slot % 8);
    }
    out.extend_from_slice(&bitmap);
    out.extend_from_slice(&(strings.len() as u16).to_le_bytes());
    for s in &strings {
        let len =
            u16::try_from(s.len()).map_err(|_| "a string over 64 KiB in a score".to_string())?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.push(columns.len() as u8);
    for id in &column_ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    let mut previous: Option<u8> = None;
    for (slot, s) in entries {
        if previous.is_some_and(|p| p >= *slot) {
            return Err("page slots out of order".into());
        }
        previous = Some(*slot);
        out.extend_from_slice(&index(s.model_version).to_le_bytes());
        out.extend_from_slice(&s.at.0.to_le_bytes());
        for v in [
            s.value,
            s.annual_value,
            s.profit,
            s.clv,
            s.p_alive,
            s.churn.unwrap_or(0.0),
            s.expected_transactions,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let tier = match s.tier {
            Tier::A => 0u8,
            Tier::B => 1,
            Tier::C => 2,
            Tier::D => 3,
        };
        let flags = tier
            | (u8::from(s.top) << 2)
            | (u8::from(s.bottom) << 3)
            | (u8::from(s.churn.is_some()) << 4);
        out.push(flags);
        out.extend_from_slice(&index(s.segment).to_le_bytes());
        let mut present = 0u64;
        let mut values = [0f64; MAX_COLUMNS];
        for (j, c) in columns.iter().enumerate() {
            if let Some(v) = s.propensity.get(c) {
                present |= 1 << j;
                values[j] = v;
            }
        }
        out.extend_from_slice(&present.to_le_bytes());
        for v in &values[..columns.len()] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

/// A page's header, parsed: where its entries start and what they refer to.
struct PageHeader<'a> {
    bitmap: [u8; 32],
    strings: Vec<&'a str>,
    columns: Vec<u16>,
    entries: &'a [u8],
    width: usize,
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if b.len() < n {
        return Err("page of scores cut short".into());
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn u16_at(b: &mut &[u8]) -> Result<u16, String> {
    let h = take(b, 2)?;
    Ok(u16::from_le_bytes([h[0], h[1]]))
}

fn parse_page(bytes: &[u8]) -> Result<PageHeader<'_>, String> {
    let mut b = match bytes.split_first() {
        Some((&SCORE_PAGE_V1, body)) => body,
        Some((other, _)) => return Err(format!("unknown page format {other}")),
        None => return Err("empty value".into()),
    };
    let mut bitmap = [0u8; 32];
    bitmap.copy_from_slice(take(&mut b, 32)?);
    let n = u16_at(&mut b)?;
    let mut strings = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let len = u16_at(&mut b)?;
        let raw = take(&mut b, usize::from(len))?;
        strings.push(std::str::from_utf8(raw).map_err(|_| "a string is not UTF-8".to_string())?);
    }
    let ncol = usize::from(take(&mut b, 1)?[0]);
    if ncol > MAX_COLUMNS {
        return Err(format!("{ncol} product columns (at most {MAX_COLUMNS})"));
    }
    let mut columns = Vec::with_capacity(ncol);
    for _ in 0..ncol {
        let c = u16_at(&mut b)?;
        if usize::from(c) >= strings.len() {
            return Err(format!(
                "product column names string {c} of {}",
                strings.len()
            ));
        }
        columns.push(c);
    }
    let width = ENTRY_FIXED + 8 * ncol;
    let present: usize = bitmap.iter().map(|b| b.count_ones() as usize).sum();
    if b.len() != present * width {
        return Err(format!(
            "{} bytes of entries for {present} customers of {width} bytes",
            b.len()
        ));
    }
    Ok(PageHeader {
        bitmap,
        strings,
        columns,
        entries: b,
        width,
    })
}

impl PageHeader<'_> {
    fn has(&self, slot: u8) -> bool {
        self.bitmap[usize::from(slot / 8)] & (1 << (slot % 8)) != 0
    }

    /// The position of a present slot's entry: the present slots before it.
    fn rank(&self, slot: u8) -> usize {
        let byte = usize::from(slot / 8);
        let before: u32 = self.bitmap[..byte].iter().map(|b| b.count_ones()).sum();
        let mask = (1u16 << (slot % 8)) as u8 - 1;
        (before + (self.bitmap[byte] & mask).count_ones()) as usize
    }

    fn string(&self, i: u16) -> Result<&str, String> {
        self.strings
            .get(usize::from(i))
            .copied()
            .ok_or_else(|| format!("string {i} of {}", self.strings.len()))
    }

    /// The fixed part of entry `k` and its propensity values (one per product column).
    fn raw_entry(&self, k: usize) -> Result<RawEntry<'_>, String> {
        let mut e = &self.entries[k * self.width..(k + 1) * self.width];
        let f64_at = |e: &mut &[u8]| -> Result<f64, String> {
            let raw: [u8; 8] = take(e, 8)?
                .try_into()
                .map_err(|_| "cut short".to_string())?;
            Ok(f64::from_le_bytes(raw))
        };
        let version = u16_at(&mut e)?;
        let at: [u8; 8] = take(&mut e, 8)?
            .try_into()
            .map_err(|_| "cut short".to_string())?;
        let mut v = [0f64; 7];
        for x in &mut v {
            *x = f64_at(&mut e)?;
        }
        let flags = take(&mut e, 1)?[0];
        let segment = u16_at(&mut e)?;
        let present_raw: [u8; 8] = take(&mut e, 8)?
            .try_into()
            .map_err(|_| "cut short".to_string())?;
        Ok(RawEntry {
            version,
            at: Timestamp(i64::from_le_bytes(at)),
            v,
            flags,
            segment,
            present: u64::from_le_bytes(present_raw),
            values: e,
        })
    }

    /// The (product, propensity) pairs of entry `k`, appended to `out`.
    fn pairs_into<'s>(&'s self, k: usize, out: &mut Vec<(&'s str, f64)>) -> Result<(), String> {
        let raw = self.raw_entry(k)?;
        let mut values = raw.values;
        for (j, c) in self.columns.iter().enumerate() {
            let p: [u8; 8] = take(&mut values, 8)?
                .try_into()
                .map_err(|_| "cut short".to_string())?;
            if raw.present & (1 << j) != 0 {
                out.push((self.string(*c)?, f64::from_le_bytes(p)));
            }
        }
        Ok(())
    }

    /// Entry `k` borrowed, its propensities `pairs` (from [`PageHeader::pairs_into`]).
    fn view<'s>(&'s self, k: usize, pairs: &'s [(&'s str, f64)]) -> Result<ScoreView<'s>, String> {
        let raw = self.raw_entry(k)?;
        Ok(ScoreView {
            model_version: self.string(raw.version)?,
            at: raw.at,
            value: raw.v[0],
            annual_value: raw.v[1],
            profit: raw.v[2],
            clv: raw.v[3],
            p_alive: raw.v[4],
            churn: (raw.flags & 16 != 0).then_some(raw.v[5]),
            expected_transactions: raw.v[6],
            tier: tier_of(raw.flags),
            top: raw.flags & 4 != 0,
            bottom: raw.flags & 8 != 0,
            segment: self.string(raw.segment)?,
            propensity: Propensities::Pairs(pairs),
        })
    }

    fn entry(&self, k: usize) -> Result<Scores, String> {
        let mut pairs = Vec::new();
        self.pairs_into(k, &mut pairs)?;
        Ok(self.view(k, &pairs)?.to_scores())
    }

    /// Every present slot with its entry's position, in slot order.
    fn slots(&self) -> impl Iterator<Item = (u8, usize)> + '_ {
        (0..=u8::MAX)
            .filter(|s| self.has(*s))
            .enumerate()
            .map(|(k, s)| (s, k))
    }
}

/// The fixed part of a page entry, parsed.
struct RawEntry<'a> {
    version: u16,
    at: Timestamp,
    /// Value, annual value, profit, CLV, P(alive), churn, expected transactions.
    v: [f64; 7],
    flags: u8,
    segment: u16,
    present: u64,
    /// One `f64` per product column.
    values: &'a [u8],
}

fn tier_of(flags: u8) -> Tier {
    match flags & 3 {
        0 => Tier::A,
        1 => Tier::B,
        2 => Tier::C,
        _ => Tier::D,
    }
}

/// A stored page of scores with the entries of `new` (another encoded page) put over it,
/// slot by slot, without owning any entry: what an incremental scoring run writes for the
/// few customers of each page that changed (owned, a million entries a run were decoded and
/// encoded again).
/// A page's propensity pairs, entry after entry, and where each entry's start (one more
/// than entries: the end).
#[allow(clippy::type_complexity)]
fn page_pairs<'s>(p: &'s PageHeader<'_>) -> Result<(Vec<(&'s str, f64)>, Vec<usize>), String> {
    let mut pairs = Vec::new();
    let mut starts = Vec::new();
    for (_, k) in p.slots() {
        starts.push(pairs.len());
        p.pairs_into(k, &mut pairs)?;
    }
    starts.push(pairs.len());
    Ok((pairs, starts))
}

pub(crate) fn merge_score_pages(old: &[u8], new: &[u8]) -> Result<Vec<u8>, String> {
    let (a, b) = (parse_page(old)?, parse_page(new)?);
    let (pa, sa) = page_pairs(&a)?;
    let (pb, sb) = page_pairs(&b)?;
    let mut merged: Vec<(u8, ScoreView<'_>)> = Vec::with_capacity(256);
    let mut ours = a.slots().peekable();
    let mut theirs = b.slots().peekable();
    loop {
        let take_new = match (ours.peek(), theirs.peek()) {
            (None, None) => break,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some((x, _)), Some((y, _))) => y <= x,
        };
        if take_new {
            let (slot, k) = theirs.next().ok_or("merge out of step")?;
            if ours.peek().is_some_and(|(x, _)| *x == slot) {
                ours.next();
            }
            merged.push((slot, b.view(k, &pb[sb[k]..sb[k + 1]])?));
        } else {
            let (slot, k) = ours.next().ok_or("merge out of step")?;
            merged.push((slot, a.view(k, &pa[sa[k]..sa[k + 1]])?));
        }
    }
    encode_score_views(&merged)
}

/// One slot of a page of scores, decoding only the header and that entry.
pub(crate) fn decode_score_slot(bytes: &[u8], slot: u8) -> Result<Option<Scores>, String> {
    let page = parse_page(bytes)?;
    if !page.has(slot) {
        return Ok(None);
    }
    page.entry(page.rank(slot)).map(Some)
}

/// `read(page, k)` of every entry of a page of scores, with its slot, in slot order.
fn decode_each<T>(
    bytes: &[u8],
    read: impl Fn(&PageHeader<'_>, usize) -> Result<T, String>,
) -> Result<Vec<(u8, T)>, String> {
    let page = parse_page(bytes)?;
    page.slots()
        .map(|(slot, k)| Ok((slot, read(&page, k)?)))
        .collect()
}

/// Every entry of a page of scores, in slot order.
pub(crate) fn decode_score_page(bytes: &[u8]) -> Result<Vec<(u8, Scores)>, String> {
    decode_each(bytes, |page, k| page.entry(k))
}

/// The tier of every entry of a page of scores, in slot order (reads one byte per entry).
pub(crate) fn decode_score_tiers(bytes: &[u8]) -> Result<Vec<(u8, Tier)>, String> {
    decode_each(bytes, |page, k| {
        Ok(tier_of(page.entries[k * page.width + ENTRY_FLAGS]))
    })
}

/// The tier and lifetime value of every entry of a page of scores, in slot order (reads nine
/// bytes per entry: what customer equity sums).
#[allow(clippy::type_complexity)] // (slot, (tier, lifetime value)), as its siblings
pub(crate) fn decode_score_equity(bytes: &[u8]) -> Result<Vec<(u8, (Tier, f64))>, String> {
    decode_each(bytes, |page, k| {
        let e = &page.entries[k * page.width..];
        let clv: [u8; 8] = e[ENTRY_CLV..ENTRY_CLV + 8]
            .try_into()
            .map_err(|_| "cut short".to_string())?;
        Ok((tier_of(e[ENTRY_FLAGS]), f64::from_le_bytes(clv)))
    })
}

/// The occupied slots of a page of scores (for change events and counts).
pub(crate) fn score_page_slots(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let page = parse_page(bytes)?;
    Ok(page.slots().map(|(slot, _)| slot).collect())
}

/// Format byte of a page of interactions, version 1.
pub const INTERACTION_PAGE_V1: u8 = 10;
/// The most interactions a page holds (see `docs/ARCHITECTURE.md`, store: measured against
/// the cost of reading the newest 100 and of rewriting a page for one more interaction).
pub const PAGE_MAX_ENTRIES: usize = 128;
/// The most bytes of encoded interactions a page holds (one larger interaction alone may
/// exceed it): far below sled's 128 KiB threshold for values kept in separate blob files.
pub const PAGE_MAX_BYTES: usize = 24 * 1024;

/// The parts of a stored page of interactions: the count and the ids the write that stored it
/// added, in the clear (so counts and change events need no key), and the sealed body.
#[derive(Debug)]
pub(crate) struct PageHead<'a> {
    /// Interactions on the page.
    pub count: u64,
    /// Ids of the interactions added or replaced by the write that stored the page, ascending.
    pub added: Vec<InteractionId>,
    /// The body, sealed under the customer's key: [`page_body`].
    pub sealed: &'a [u8],
}

/// Packs plain bytes before they are sealed (`seal::SEALED_V2`): a method byte, then
/// [`PACK_RAW`]: the bytes as they are, or [`PACK_LZ4`]: the plain length (varint) and an LZ4
/// block (`lz4_flex`, pure Rust), whichever is shorter. Values under [`PACK_MIN`] bytes are
/// kept raw (LZ4 has nothing to find in them).
pub(crate) fn pack(plain: &[u8]) -> Vec<u8> {
    if plain.len() >= PACK_MIN {
        let mut out = Vec::with_capacity(6 + lz4_flex::block::get_maximum_output_size(plain.len()));
        out.push(PACK_LZ4);
        put_varint(&mut out, plain.len() as u64);
        let head = out.len();
        out.resize(
            head + lz4_flex::block::get_maximum_output_size(plain.len()),
            0,
        );
        if let Ok(n) = lz4_flex::block::compress_into(plain, &mut out[head..])
            && head + n < 1 + plain.len()
        {
            out.truncate(head + n);
            return out;
        }
    }
    let mut out = Vec::with_capacity(1 + plain.len());
    out.push(PACK_RAW);
    out.extend_from_slice(plain);
    out
}

/// The plain bytes of a value written by [`pack`]. Checks the declared length against
/// [`DECODE_LIMIT`] and against what the block can hold before allocating, and that the block
/// fills exactly that length.
pub(crate) fn unpack(mut packed: Vec<u8>) -> Result<Vec<u8>, String> {
    match packed.first() {
        Some(&PACK_RAW) => {
            packed.remove(0);
            Ok(packed)
        }
        Some(&PACK_LZ4) => {
            let mut b = &packed[1..];
            let len = take_varint(&mut b)?;
            // An LZ4 sequence of n bytes yields at most about 255 n bytes.
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l <= DECODE_LIMIT && *l <= b.len().saturating_mul(255))
                .ok_or_else(|| format!("a packed value claims {len} plain bytes"))?;
            let mut out = vec![0u8; len];
            let n = lz4_flex::block::decompress_into(b, &mut out)
                .map_err(|e| format!("a packed value does not unpack: {e}"))?;
            if n != len {
                return Err(format!("a packed value of {len} bytes unpacks to {n}"));
            }
            Ok(out)
        }
        Some(other) => Err(format!("unknown packing {other}")),
        None => Err("an empty packed value".into()),
    }
}

/// Packing methods ([`pack`]).
pub(crate) const PACK_RAW: u8 = 0;
/// LZ4 block after the plain length.
pub(crate) const PACK_LZ4: u8 = 1;
/// Values shorter than this are kept raw.
pub(crate) const PACK_MIN: usize = 48;

/// Reads a LEB128 varint from the front of `b`.
fn take_varint(b: &mut &[u8]) -> Result<u64, String> {
    rapport_core::varint::take(b).map_err(|e| match e {
        VarintError::CutShort => "a page is cut short".to_string(),
        VarintError::TooLong => "a varint longer than 64 bits".to_string(),
    })
}

/// A stored page of interactions: format byte, count (varint), number of added ids (varint),
/// the added ids (varints, each the difference to the one before), then the sealed body.
pub(crate) fn encode_interaction_page(
    count: u64,
    added: &[InteractionId],
    sealed: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 3 * added.len() + sealed.len());
    out.push(INTERACTION_PAGE_V1);
    put_varint(&mut out, count);
    put_varint(&mut out, added.len() as u64);
    let mut last = 0u64;
    for id in added {
        put_varint(&mut out, id.0.wrapping_sub(last));
        last = id.0;
    }
    out.extend_from_slice(sealed);
    out
}

/// Reads the header of a page written by [`encode_interaction_page`].
pub(crate) fn parse_interaction_page(bytes: &[u8]) -> Result<PageHead<'_>, String> {
    let mut b = match bytes.split_first() {
        Some((&INTERACTION_PAGE_V1, body)) => body,
        Some((other, _)) => return Err(format!("unknown value format {other}")),
        None => return Err("empty value".into()),
    };
    let count = take_varint(&mut b)?;
    let n = take_varint(&mut b)?;
    if n > count || n > b.len() as u64 {
        return Err(format!("a page of {count} interactions claims {n} added"));
    }
    let mut added = Vec::with_capacity(n as usize);
    let mut last = 0u64;
    for _ in 0..n {
        last = last.wrapping_add(take_varint(&mut b)?);
        added.push(InteractionId(last));
    }
    Ok(PageHead {
        count,
        added,
        sealed: b,
    })
}

/// Encodes one interaction for a page: bincode, without a format byte (the page has one).
pub(crate) fn encode_entry(i: &rapport_core::Interaction) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(160);
    bincode::serde::encode_into_std_write(i, &mut out, config()).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The body of a page: each entry as a varint length and its bytes, in (time, id) order.
pub(crate) fn page_body<'a>(entries: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        put_varint(&mut out, e.len() as u64);
        out.extend_from_slice(e);
    }
    out
}

/// The entries of a page body written by [`page_body`], in order.
pub(crate) fn page_entries(body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut b = body;
    let mut out = Vec::new();
    while !b.is_empty() {
        let len = take_varint(&mut b)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= b.len())
            .ok_or("an entry runs past the end of its page")?;
        let (entry, rest) = b.split_at(len);
        out.push(entry);
        b = rest;
    }
    Ok(out)
}

/// The (time, id) of an entry, without decoding the rest of it: the first three fields of an
/// encoded `Interaction` are its id, customer and time.
pub(crate) fn entry_key(entry: &[u8]) -> Result<(Timestamp, InteractionId), String> {
    let ((id, _customer, at), _): ((InteractionId, rapport_core::CustomerId, Timestamp), usize) =
        bincode::serde::decode_from_slice(entry, config()).map_err(|e| e.to_string())?;
    Ok((at, id))
}

/// Decodes one entry of a page (the whole entry must be used).
pub(crate) fn decode_entry(entry: &[u8]) -> Result<rapport_core::Interaction, String> {
    let (value, used) = bincode::serde::decode_from_slice(entry, config())
        .map_err(|e: bincode::error::DecodeError| e.to_string())?;
    if used != entry.len() {
        return Err(format!(
            "{} trailing bytes after an interaction",
            entry.len() - used
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use rapport_core::{
        Amount, AmountRole, AttrValue, Channel, Currency, CustomerId, Interaction, InteractionId,
        InteractionKind, Money, Phase, Timestamp,
    };

    use super::*;

    proptest! {
        /// Whatever the bytes, unpacking returns (no panic, no allocation past the limit).
        #[test]
        fn unpacking_any_bytes_does_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = unpack(bytes);
        }

        /// A packed value claiming a length unpacks to exactly that length or fails.
        #[test]
        fn unpacking_lz4_checks_the_length(len in any::<u64>(), block in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut bytes = vec![PACK_LZ4];
            put_varint(&mut bytes, len);
            bytes.extend_from_slice(&block);
            if let Ok(out) = unpack(bytes) {
                prop_assert_eq!(out.len() as u64, len);
            }
        }

        /// Packing round-trips, and never costs more than the method byte.
        #[test]
        fn packing_round_trips(plain in proptest::collection::vec(any::<u8>(), 0..4096), repeat in 1usize..8) {
            let plain = plain.repeat(repeat);
            let packed = pack(&plain);
            prop_assert!(packed.len() <= plain.len() + 1);
            prop_assert_eq!(unpack(packed).unwrap(), plain);
        }
    }

    #[test]
    fn packing_refuses_lengths_past_the_limit() {
        let mut bytes = vec![PACK_LZ4];
        put_varint(&mut bytes, (DECODE_LIMIT + 1) as u64);
        bytes.extend_from_slice(&[0u8; 1 << 17]);
        assert!(unpack(bytes).unwrap_err().contains("claims"));
        let mut bytes = vec![PACK_LZ4];
        put_varint(&mut bytes, 1 << 20);
        bytes.extend_from_slice(&[0x1f, 0]);
        assert!(unpack(bytes).unwrap_err().contains("claims"));
        assert!(
            unpack(vec![9, 1, 2])
                .unwrap_err()
                .contains("unknown packing")
        );
        assert!(unpack(Vec::new()).is_err());
        let long = vec![b'a'; 1000];
        let packed = pack(&long);
        assert_eq!(packed[0], PACK_LZ4);
        assert!(packed.len() < 40, "{}", packed.len());
        assert_eq!(pack(b"short")[0], PACK_RAW);
    }

    fn attr() -> impl Strategy<Value = AttrValue> {
        prop_oneof![
            any::<String>().prop_map(AttrValue::Text),
            any::<i64>().prop_map(AttrValue::Int),
            // NaN != NaN, so compare finite floats only.
            (-1e12f64..1e12).prop_map(AttrValue::Float),
            any::<bool>().prop_map(AttrValue::Bool),
            any::<i64>().prop_map(|m| AttrValue::Money(Money::new(m, Currency::EUR))),
            prop_oneof![any::<i64>(), -62_135_596_800_000i64..=253_402_300_799_999]
                .prop_map(|t| AttrValue::Time(Timestamp(t))),
        ]
    }

    fn interaction() -> impl Strategy<Value = Interaction> {
        (
            any::<u64>(),
            any::<u64>(),
            prop_oneof![any::<i64>(), -62_135_596_800_000i64..=253_402_300_799_999],
            proptest::option::of(any::<String>()),
            "[a-z_]{1,12}",
            proptest::collection::btree_map("[a-z_]{1,10}", attr(), 0..6),
            proptest::collection::vec(any::<i64>(), 0..3),
            proptest::option::of(any::<String>()),
        )
            .prop_map(|(id, c, at, touchpoint, kind, attributes, amounts, text)| {
                let mut i = Interaction::new(
                    InteractionId(id),
                    CustomerId(c),
                    Timestamp(at),
                    Channel::CallCenter,
                    kind.parse().unwrap_or(InteractionKind::Note),
                );
                i.touchpoint = touchpoint;
                i.attributes = attributes;
                i.amounts = amounts
                    .into_iter()
                    .map(|m| Amount {
                        role: AmountRole::Revenue,
                        money: Money::new(m, Currency::USD),
                    })
                    .collect();
                i.phase = Some(Phase::Post);
                i.text = text;
                i
            })
    }

    proptest! {
        #[test]
        fn interactions_round_trip(i in interaction()) {
            let bytes = encode(&i).unwrap();
            prop_assert_eq!(bytes[0], BINCODE_V1);
            prop_assert_eq!(decode::<Interaction>(&bytes).unwrap(), i.clone());
            // JSON carries timestamps as RFC 3339, which covers years 0001-9999 only.
            let in_rfc3339_range = (-62_135_596_800_000..=253_402_300_799_999).contains(&i.at.0)
                && i.attributes.values().all(|a| match a {
                    AttrValue::Time(t) => (-62_135_596_800_000..=253_402_300_799_999).contains(&t.0),
                    _ => true,
                });
            if in_rfc3339_range {
                let doc = encode_doc(&i).unwrap();
                prop_assert_eq!(decode_doc::<Interaction>(&doc).unwrap(), i);
            }
        }

        #[test]
        fn maps_and_options_round_trip(m in proptest::collection::btree_map(any::<String>(), proptest::option::of(any::<u64>()), 0..10)) {
            prop_assert_eq!(decode::<BTreeMap<String, Option<u64>>>(&encode(&m).unwrap()).unwrap(), m);
        }

        #[test]
        fn arbitrary_bytes_decode_to_an_error_or_a_value_never_a_crash(
            raw in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            let _ = decode::<Interaction>(&raw);
            let _ = decode::<rapport_core::Customer>(&raw);
            let _ = decode_doc::<serde_json::Value>(&raw);
        }

        #[test]
        fn a_damaged_page_of_scores_is_an_error_never_a_crash(
            cut in 0usize..400,
            flip in 0usize..400,
            byte in any::<u8>(),
        ) {
            let page = encode_score_page(&[
                (3, page_scores(1.5, &["hotel"])),
                (200, page_scores(2.5, &["car", "lounge"])),
            ])
            .unwrap();
            let mut bad = page[..cut.min(page.len())].to_vec();
            if let Some(b) = bad.get_mut(flip) {
                *b = byte;
            }
            let _ = decode_score_page(&bad);
            let _ = decode_score_equity(&bad);
            let _ = merge_score_pages(&bad, &page);
            let _ = merge_score_pages(&page, &bad);
        }
    }

    fn page_scores(v: f64, products: &[&str]) -> Scores {
        Scores {
            model_version: "value-v1/bgnbd-gg/lr/2026-12-01".into(),
            at: Timestamp(1_764_547_200_000),
            value: v,
            annual_value: -v,
            profit: v * 0.3,
            clv: f64::MAX,
            p_alive: 1e-300,
            churn: (v > 1.0).then_some(0.25),
            expected_transactions: 0.0,
            tier: if v > 2.0 { Tier::A } else { Tier::C },
            top: v > 2.0,
            bottom: v < 1.0,
            segment: if v > 2.0 { "premium" } else { "foundation" }.into(),
            propensity: products.iter().map(|p| (p.to_string(), v / 10.0)).collect(),
        }
    }

    /// Four customers' scores on a page: slots at both ends, with zero to two products.
    fn four_entries() -> Vec<(u8, Scores)> {
        vec![
            (0, page_scores(0.5, &[])),
            (7, page_scores(1.5, &["hotel"])),
            (8, page_scores(2.5, &["hotel", "lounge"])),
            (255, page_scores(3.5, &["car"])),
        ]
    }

    #[test]
    fn a_page_merged_over_a_stored_one_holds_the_new_entries_and_the_untouched_old() {
        let old = four_entries();
        // New entries with other strings and product columns: slot 7 replaced, 9 added.
        let mut seven = page_scores(9.5, &["lounge", "upgrade"]);
        seven.model_version = "v9".into();
        seven.segment = "recovery".into();
        let new: Vec<(u8, Scores)> = vec![(7, seven.clone()), (9, page_scores(0.25, &[]))];
        let merged = merge_score_pages(
            &encode_score_page(&old).unwrap(),
            &encode_score_page(&new).unwrap(),
        )
        .unwrap();
        let expected = vec![
            old[0].clone(),
            (7, seven),
            old[2].clone(),
            (9, new[1].1.clone()),
            old[3].clone(),
        ];
        assert_eq!(decode_score_page(&merged).unwrap(), expected);
        // Merged over nothing, or with nothing: the other page as it was.
        let empty = encode_score_page(&[]).unwrap();
        let old_bytes = encode_score_page(&old).unwrap();
        assert_eq!(
            decode_score_page(&merge_score_pages(&empty, &old_bytes).unwrap()).unwrap(),
            old
        );
        assert_eq!(
            decode_score_page(&merge_score_pages(&old_bytes, &empty).unwrap()).unwrap(),
            old
        );
        // A damaged page is refused, not merged.
        assert!(merge_score_pages(&old_bytes[..old_bytes.len() - 3], &empty).is_err());
    }

    #[test]
    fn pages_of_scores_round_trip_and_read_one_slot() {
        let entries = four_entries();
        let bytes = encode_score_page(&entries).unwrap();
        assert_eq!(bytes[0], SCORE_PAGE_V1);
        assert_eq!(decode_score_page(&bytes).unwrap(), entries);
        for (slot, s) in &entries {
            assert_eq!(decode_score_slot(&bytes, *slot).unwrap().as_ref(), Some(s));
        }
        assert_eq!(decode_score_slot(&bytes, 1).unwrap(), None);
        assert_eq!(score_page_slots(&bytes).unwrap(), vec![0, 7, 8, 255]);
        assert_eq!(
            decode_score_tiers(&bytes).unwrap(),
            entries
                .iter()
                .map(|(s, e)| (*s, e.tier))
                .collect::<Vec<_>>()
        );
        let equity: Vec<(u8, (Tier, f64))> = entries
            .iter()
            .map(|(slot, s)| (*slot, (s.tier, s.clv)))
            .collect();
        assert_eq!(decode_score_equity(&bytes).unwrap(), equity);
        assert_eq!(
            decode_score_page(&encode_score_page(&[]).unwrap()).unwrap(),
            vec![]
        );
        // Cut short, one byte too many, an unknown format: errors, never a panic.
        assert!(decode_score_page(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_score_slot(&long, 0).is_err());
        assert!(
            decode_score_page(&[BINCODE_V1])
                .unwrap_err()
                .contains("format")
        );
        assert!(
            encode_score_page(&[(3, page_scores(1.0, &[])), (3, page_scores(1.0, &[]))]).is_err()
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_page_decoder(
            raw in proptest::collection::vec(any::<u8>(), 0..200), slot in any::<u8>()
        ) {
            let mut raw = raw;
            if let Some(first) = raw.first_mut() {
                *first = SCORE_PAGE_V1;
            }
            let _ = decode_score_page(&raw);
            let _ = decode_score_slot(&raw, slot);
        }
    }

    #[test]
    fn hostile_lengths_and_trailing_bytes_are_rejected() {
        // A string claiming 2^40 bytes: without the limit bincode would try to allocate it.
        let hostile = [BINCODE_V1, 0xFD, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(decode::<String>(&hostile).is_err());
        let vec_of_strings = [BINCODE_V1, 0xFD, 0, 0, 0, 0, 0, 1, 0, 0, 0];
        assert!(decode::<Vec<String>>(&vec_of_strings).is_err());
        let mut ok = encode(&7u32).unwrap();
        assert_eq!(decode::<u32>(&ok).unwrap(), 7);
        ok.push(0);
        assert!(decode::<u32>(&ok).unwrap_err().contains("trailing"));
        assert!(decode::<u32>(&[]).is_err());
        assert!(
            decode::<u32>(&[JSON_V1, b'7'])
                .unwrap_err()
                .contains("format")
        );
    }
}
