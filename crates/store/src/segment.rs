//! Index segments: the search and identity index as sorted immutable files, read by exact
//! (kind, keyed hash) lookups.
//!
//! An entry is 25 bytes: the index kind (1), the keyed hash of the value (16, `seal`) and the
//! customer id (8, big-endian), so byte order is (kind, hash, customer) order, the order of
//! the `Xk` keys of the overlay. A segment file is a 4 KiB header block, then blocks of 4 KiB
//! holding 163 entries each (the last one fewer) and a CRC-32 of the block in its last four
//! bytes, then the fences (the first entry of every block). The header holds the counts and
//! the fences' CRC-32 and its own. Opening a segment reads the header and the fences (25
//! bytes per 163 entries: 5 MB at 34 million entries) into memory; a lookup binary-searches
//! the fences and reads the block(s) holding the value with `pread`, so a cold lookup is one
//! page read, and checks each block's CRC as it reads it. A corrupt or truncated file is an
//! error naming it.
//!
//! Why this form rather than an `fst` map: the hashes are uniformly random, so a finite-state
//! transducer finds no shared prefixes or suffixes to fold and a map of 17-byte keys to id
//! lists would be about as large as the entries themselves, while lookups would need a
//! second file for the ids; fixed-width sorted entries are 25 bytes an entry (a sled key was
//! about 370 bytes on disk with its share of the tree), are written in one sequential pass
//! and read with one `pread` (measured in `docs/benchmarks.md`, "#23 part 3").
//!
//! Files are written crash-safely: a temporary file, `fsync`, rename, `fsync` of the
//! directory; the store makes a segment live by one durable meta write naming it, and deletes
//! files no meta names at open.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rapport_core::CustomerId;

use crate::Error;
use crate::seal::HASH_LEN;

/// Bytes of one entry: kind, keyed hash of the value, customer id.
pub(crate) const ENTRY: usize = 1 + HASH_LEN + 8;
/// Bytes of the kind and hash: the part of an entry a lookup names.
pub(crate) const VALUE: usize = 1 + HASH_LEN;
/// One entry.
pub(crate) type Entry = [u8; ENTRY];

/// Bytes of a block (and of the header): a page.
const BLOCK: usize = 4096;
/// Entries per block, with room for the block's CRC-32.
const PER_BLOCK: usize = (BLOCK - 4) / ENTRY;
const MAGIC: &[u8; 8] = b"RPIXSEG1";
/// Blocks read at once by a sequential scan (compaction, counts): 256 KiB.
const SCAN_BLOCKS: usize = 64;

/// The name of a segment file of generation `generation`.
pub(crate) fn file_name(generation: u64) -> String {
    format!("rapport.index.{generation:012}.seg")
}

/// The generation in a segment file name, `None` for other files.
pub(crate) fn generation_of(name: &str) -> Option<u64> {
    name.strip_prefix("rapport.index.")?
        .strip_suffix(".seg")?
        .parse()
        .ok()
}

/// Whether a file of the database directory is a segment or a segment being written.
pub(crate) fn is_segment_file(name: &str) -> bool {
    name.starts_with("rapport.index.") && (name.ends_with(".seg") || name.ends_with(".tmp"))
}

/// An entry from its parts.
pub(crate) fn entry(kind: u8, hash: &[u8; HASH_LEN], customer: CustomerId) -> Entry {
    let mut e = [0u8; ENTRY];
    e[0] = kind;
    e[1..VALUE].copy_from_slice(hash);
    e[VALUE..].copy_from_slice(&customer.0.to_be_bytes());
    e
}

/// The customer id of an entry.
#[cfg(test)]
pub(crate) fn customer_of(e: &Entry) -> CustomerId {
    let mut id = [0u8; 8];
    id.copy_from_slice(&e[VALUE..]);
    CustomerId(u64::from_be_bytes(id))
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::Segment {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_err(path: &Path, e: &io::Error) -> Error {
    corrupt(path, e.to_string())
}

/// An open segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    name: String,
    path: PathBuf,
    file: File,
    entries: u64,
    /// The first entry of every block.
    fences: Vec<Entry>,
}

impl Segment {
    /// Opens the segment `name` of directory `dir`, checking its header and fences.
    pub(crate) fn open(dir: &Path, name: &str) -> Result<Segment, Error> {
        let path = dir.join(name);
        let file = File::open(&path).map_err(|e| {
            corrupt(
                &path,
                format!("cannot open this index segment, which the database names: {e}"),
            )
        })?;
        let len = file.metadata().map_err(|e| io_err(&path, &e))?.len();
        let mut header = [0u8; BLOCK];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| corrupt(&path, format!("cannot read the header: {e}")))?;
        if &header[..8] != MAGIC {
            return Err(corrupt(&path, "not an index segment (bad magic)"));
        }
        let stored = u32::from_le_bytes(header[44..48].try_into().unwrap_or_default());
        if crc32fast::hash(&header[..44]) != stored {
            return Err(corrupt(&path, "the header's checksum does not match"));
        }
        let u64_at =
            |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or_default());
        let entries = u64_at(8);
        let blocks = u64_at(16);
        let fences_at = u64_at(24);
        let fences_crc = u32::from_le_bytes(header[32..36].try_into().unwrap_or_default());
        let per_block = u32::from_le_bytes(header[36..40].try_into().unwrap_or_default());
        if per_block as usize != PER_BLOCK
            || blocks != entries.div_ceil(PER_BLOCK as u64)
            || fences_at != (blocks + 1) * BLOCK as u64
            || len != fences_at + blocks * ENTRY as u64
        {
            return Err(corrupt(
                &path,
                format!(
                    "the file is {len} bytes, which does not fit its header ({entries} entries \
                     in {blocks} blocks): truncated or damaged"
                ),
            ));
        }
        let mut raw = vec![0u8; blocks as usize * ENTRY];
        file.read_exact_at(&mut raw, fences_at)
            .map_err(|e| corrupt(&path, format!("cannot read the fences: {e}")))?;
        if crc32fast::hash(&raw) != fences_crc {
            return Err(corrupt(&path, "the fences' checksum does not match"));
        }
        let fences = raw
            .chunks_exact(ENTRY)
            .map(|c| {
                let mut e = [0u8; ENTRY];
                e.copy_from_slice(c);
                e
            })
            .collect();
        Ok(Segment {
            name: name.to_owned(),
            path,
            file,
            entries,
            fences,
        })
    }

    /// The file name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> u64 {
        self.entries
    }

    /// Bytes on disk.
    pub(crate) fn bytes(&self) -> u64 {
        (self.fences.len() as u64 + 1) * BLOCK as u64 + (self.fences.len() * ENTRY) as u64
    }

    fn block_entries(&self, block: usize) -> usize {
        let before = block * PER_BLOCK;
        (self.entries as usize - before).min(PER_BLOCK)
    }

    /// Reads blocks `first..first + n` into `buf` (n blocks), checking each one's CRC.
    fn read_blocks(&self, first: usize, n: usize, buf: &mut Vec<u8>) -> Result<(), Error> {
        buf.resize(n * BLOCK, 0);
        self.file
            .read_exact_at(buf, ((first + 1) * BLOCK) as u64)
            .map_err(|e| corrupt(&self.path, format!("cannot read block {first}: {e}")))?;
        for (i, b) in buf.chunks_exact(BLOCK).enumerate() {
            let stored = u32::from_le_bytes(b[BLOCK - 4..].try_into().unwrap_or_default());
            if crc32fast::hash(&b[..BLOCK - 4]) != stored {
                return Err(corrupt(
                    &self.path,
                    format!("block {} does not match its checksum", first + i),
                ));
            }
            let n = self.block_entries(first + i);
            if n > 0 && b[..ENTRY] != self.fences[first + i] {
                return Err(corrupt(
                    &self.path,
                    format!("block {} does not begin with its fence", first + i),
                ));
            }
        }
        Ok(())
    }

    /// The customers indexed under `value` (kind and hash), ascending, read lazily.
    pub(crate) fn ids(&self, value: &[u8; VALUE]) -> SegmentIds<'_> {
        // The last block whose first entry sorts before the value's first possible entry may
        // hold its first entries.
        let first = self
            .fences
            .partition_point(|f| f[..VALUE] < value[..])
            .saturating_sub(1);
        SegmentIds {
            segment: self,
            value: *value,
            block: first,
            buf: Vec::new(),
            at: 0,
            done: self.fences.is_empty(),
        }
    }

    /// Every entry in order, read 256 KiB at a time.
    pub(crate) fn scan(&self) -> SegmentScan<'_> {
        SegmentScan {
            segment: self,
            next_block: 0,
            buf: Vec::new(),
            at: 0,
            in_buf: 0,
        }
    }

    /// Whether the exact entry is in the segment.
    #[cfg(test)]
    pub(crate) fn contains(&self, e: &Entry) -> Result<bool, Error> {
        let mut value = [0u8; VALUE];
        value.copy_from_slice(&e[..VALUE]);
        let id = customer_of(e);
        for got in self.ids(&value) {
            let got = got?;
            if got >= id {
                return Ok(got == id);
            }
        }
        Ok(false)
    }
}

/// The customers of one value in a segment (see [`Segment::ids`]).
pub(crate) struct SegmentIds<'a> {
    segment: &'a Segment,
    value: [u8; VALUE],
    block: usize,
    buf: Vec<u8>,
    at: usize,
    done: bool,
}

impl Iterator for SegmentIds<'_> {
    type Item = Result<CustomerId, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.buf.is_empty() {
                if self.block >= self.segment.fences.len() {
                    self.done = true;
                    return None;
                }
                if let Err(e) = self.segment.read_blocks(self.block, 1, &mut self.buf) {
                    self.done = true;
                    return Some(Err(e));
                }
                self.at = 0;
            }
            let n = self.segment.block_entries(self.block);
            while self.at < n {
                let e = &self.buf[self.at * ENTRY..(self.at + 1) * ENTRY];
                self.at += 1;
                match e[..VALUE].cmp(&self.value[..]) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Equal => {
                        let mut id = [0u8; 8];
                        id.copy_from_slice(&e[VALUE..]);
                        return Some(Ok(CustomerId(u64::from_be_bytes(id))));
                    }
                    std::cmp::Ordering::Greater => {
                        self.done = true;
                        return None;
                    }
                }
            }
            self.block += 1;
            self.buf.clear();
        }
    }
}

/// Every entry of a segment in order (see [`Segment::scan`]).
pub(crate) struct SegmentScan<'a> {
    segment: &'a Segment,
    next_block: usize,
    buf: Vec<u8>,
    /// Index of the next entry in `buf` (over its blocks).
    at: usize,
    /// Entries in `buf`, block by block: (block in buf, entries).
    in_buf: usize,
}

impl Iterator for SegmentScan<'_> {
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let blocks_in_buf = self.buf.len() / BLOCK;
            if self.in_buf < blocks_in_buf {
                let first = self.next_block - blocks_in_buf;
                let n = self.segment.block_entries(first + self.in_buf);
                if self.at < n {
                    let off = self.in_buf * BLOCK + self.at * ENTRY;
                    self.at += 1;
                    let mut e = [0u8; ENTRY];
                    e.copy_from_slice(&self.buf[off..off + ENTRY]);
                    return Some(Ok(e));
                }
                self.in_buf += 1;
                self.at = 0;
                continue;
            }
            let total = self.segment.fences.len();
            if self.next_block >= total {
                return None;
            }
            let n = SCAN_BLOCKS.min(total - self.next_block);
            if let Err(e) = self.segment.read_blocks(self.next_block, n, &mut self.buf) {
                self.next_block = total;
                self.buf.clear();
                return Some(Err(e));
            }
            self.next_block += n;
            self.in_buf = 0;
            self.at = 0;
        }
    }
}

/// Writes a segment file from entries given in strictly ascending order.
pub(crate) struct SegmentWriter {
    dir: PathBuf,
    name: String,
    tmp: PathBuf,
    out: BufWriter<File>,
    block: Vec<u8>,
    in_block: usize,
    fences: Vec<Entry>,
    entries: u64,
    last: Option<Entry>,
}

impl SegmentWriter {
    /// Starts `name` in `dir` (written as `name.tmp` until [`SegmentWriter::finish`]).
    pub(crate) fn create(dir: &Path, name: &str) -> Result<SegmentWriter, Error> {
        let tmp = dir.join(format!("{name}.tmp"));
        let file = File::create(&tmp).map_err(|e| io_err(&tmp, &e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        // The header is written last, over this.
        out.write_all(&[0u8; BLOCK]).map_err(|e| io_err(&tmp, &e))?;
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            tmp,
            out,
            block: Vec::with_capacity(BLOCK),
            in_block: 0,
            fences: Vec::new(),
            entries: 0,
            last: None,
        })
    }

    /// Appends an entry; entries must come in strictly ascending order.
    pub(crate) fn push(&mut self, e: &Entry) -> Result<(), Error> {
        if self.last.is_some_and(|l| l >= *e) {
            return Err(corrupt(&self.tmp, "entries written out of order"));
        }
        self.last = Some(*e);
        if self.in_block == 0 {
            self.fences.push(*e);
        }
        self.block.extend_from_slice(e);
        self.in_block += 1;
        self.entries += 1;
        if self.in_block == PER_BLOCK {
            self.end_block()?;
        }
        Ok(())
    }

    fn end_block(&mut self) -> Result<(), Error> {
        self.block.resize(BLOCK - 4, 0);
        let crc = crc32fast::hash(&self.block);
        self.block.extend_from_slice(&crc.to_le_bytes());
        self.out
            .write_all(&self.block)
            .map_err(|e| io_err(&self.tmp, &e))?;
        self.block.clear();
        self.in_block = 0;
        Ok(())
    }

    /// Entries written so far.
    pub(crate) fn len(&self) -> u64 {
        self.entries
    }

    /// Ends the file and makes it durable under its name: fences, header, `fsync`, rename,
    /// `fsync` of the directory. Returns the open segment.
    pub(crate) fn finish(mut self) -> Result<Segment, Error> {
        if self.in_block > 0 {
            self.end_block()?;
        }
        let mut fences = Vec::with_capacity(self.fences.len() * ENTRY);
        for f in &self.fences {
            fences.extend_from_slice(f);
        }
        self.out
            .write_all(&fences)
            .map_err(|e| io_err(&self.tmp, &e))?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_err(&self.tmp, e.error()))?;
        let blocks = self.fences.len() as u64;
        let mut header = [0u8; BLOCK];
        header[..8].copy_from_slice(MAGIC);
        header[8..16].copy_from_slice(&self.entries.to_le_bytes());
        header[16..24].copy_from_slice(&blocks.to_le_bytes());
        header[24..32].copy_from_slice(&((blocks + 1) * BLOCK as u64).to_le_bytes());
        header[32..36].copy_from_slice(&crc32fast::hash(&fences).to_le_bytes());
        header[36..40].copy_from_slice(&(PER_BLOCK as u32).to_le_bytes());
        let crc = crc32fast::hash(&header[..44]);
        header[44..48].copy_from_slice(&crc.to_le_bytes());
        file.write_all_at(&header, 0)
            .map_err(|e| io_err(&self.tmp, &e))?;
        file.sync_all().map_err(|e| io_err(&self.tmp, &e))?;
        drop(file);
        let path = self.dir.join(&self.name);
        fs::rename(&self.tmp, &path).map_err(|e| io_err(&path, &e))?;
        sync_dir(&self.dir)?;
        Segment::open(&self.dir, &self.name)
    }
}

/// Makes the directory's entries (a rename, a removal) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, &e))
}

/// A record of a merge source: entry, present, precedence.
pub(crate) type Record = (Entry, bool, u64);

/// A sorted stream of records for [`Merge`].
pub(crate) type Source<'a> = Box<dyn Iterator<Item = Result<Record, Error>> + 'a>;

/// Merges sorted streams of index records into the logical index, in entry order: for each
/// entry the record of highest precedence decides whether it is present. A stream yields
/// (entry, present, precedence) with entries ascending; segments give precedence 0, the
/// overlay and an index build the sequence number of the write.
pub(crate) struct Merge<'a> {
    sources: Vec<Source<'a>>,
    heads: Vec<Option<Record>>,
    started: bool,
}

impl<'a> Merge<'a> {
    pub(crate) fn new(sources: Vec<Source<'a>>) -> Merge<'a> {
        let heads = sources.iter().map(|_| None).collect();
        Merge {
            sources,
            heads,
            started: false,
        }
    }
}

impl Iterator for Merge<'_> {
    /// An entry present in the logical index.
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                match self.sources[i].next().transpose() {
                    Ok(h) => self.heads[i] = h,
                    Err(e) => return Some(Err(e)),
                }
            }
        }
        loop {
            let min = self.heads.iter().flatten().map(|(e, _, _)| *e).min()?;
            let mut best: Option<(bool, u64)> = None;
            for i in 0..self.sources.len() {
                while let Some((e, present, seq)) = self.heads[i] {
                    if e != min {
                        break;
                    }
                    if best.is_none_or(|(_, s)| seq >= s) {
                        best = Some((present, seq));
                    }
                    match self.sources[i].next().transpose() {
                        Ok(h) => self.heads[i] = h,
                        Err(e) => return Some(Err(e)),
                    }
                }
            }
            if best.is_some_and(|(present, _)| present) {
                return Some(Ok(min));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: u8, h: u8, id: u64) -> Entry {
        entry(kind, &[h; HASH_LEN], CustomerId(id))
    }

    fn write(dir: &Path, name: &str, entries: &[Entry]) -> Segment {
        let mut w = SegmentWriter::create(dir, name).unwrap();
        for x in entries {
            w.push(x).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn lookups_find_every_customer_of_a_value_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        // Value (1, 5) spans several blocks; others around it.
        let mut all = Vec::new();
        for h in 0..10u8 {
            let n = if h == 5 { 1_000 } else { 7 };
            for id in 0..n {
                all.push(e(1, h, id * 3));
            }
        }
        all.push(e(2, 0, 1));
        let s = write(dir.path(), &file_name(1), &all);
        assert_eq!(s.len(), all.len() as u64);
        let ids: Vec<u64> = s
            .ids(&e(1, 5, 0)[..VALUE].try_into().unwrap())
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(ids, (0..1_000).map(|i| i * 3).collect::<Vec<_>>());
        for h in [0u8, 4, 6, 9] {
            let ids: Vec<u64> = s
                .ids(&e(1, h, 0)[..VALUE].try_into().unwrap())
                .map(|r| r.unwrap().0)
                .collect();
            assert_eq!(ids, [0, 3, 6, 9, 12, 15, 18], "{h}");
        }
        assert_eq!(s.ids(&e(1, 11, 0)[..VALUE].try_into().unwrap()).count(), 0);
        assert_eq!(s.ids(&e(0, 0, 0)[..VALUE].try_into().unwrap()).count(), 0);
        assert_eq!(s.ids(&e(2, 0, 0)[..VALUE].try_into().unwrap()).count(), 1);
        assert!(s.contains(&e(1, 5, 2997)).unwrap());
        assert!(!s.contains(&e(1, 5, 2998)).unwrap());
        let scanned: Vec<Entry> = s.scan().map(Result::unwrap).collect();
        assert_eq!(scanned, all);
        // Out of order is refused.
        let mut w = SegmentWriter::create(dir.path(), "x").unwrap();
        w.push(&e(1, 1, 1)).unwrap();
        assert!(w.push(&e(1, 1, 1)).is_err());
    }

    #[test]
    fn an_empty_segment_opens_and_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = write(dir.path(), &file_name(2), &[]);
        assert_eq!(s.len(), 0);
        assert_eq!(s.ids(&[0; VALUE]).count(), 0);
        assert_eq!(s.scan().count(), 0);
    }

    #[test]
    fn a_damaged_segment_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<Entry> = (0..500).map(|i| e(1, (i % 7) as u8, i)).collect();
        let mut sorted = all.clone();
        sorted.sort();
        let name = file_name(3);
        write(dir.path(), &name, &sorted);
        let path = dir.path().join(&name);
        // A flipped byte in a block: found by the lookup that reads it.
        let mut bytes = fs::read(&path).unwrap();
        bytes[BLOCK + 30] ^= 0xFF;
        fs::write(&path, &bytes).unwrap();
        let s = Segment::open(dir.path(), &name).unwrap();
        let err = s
            .ids(&sorted[0][..VALUE].try_into().unwrap())
            .find_map(Result::err)
            .unwrap()
            .to_string();
        assert!(err.contains(&name) && err.contains("checksum"), "{err}");
        // Truncated: refused at open.
        fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let err = Segment::open(dir.path(), &name).unwrap_err().to_string();
        assert!(err.contains(&name) && err.contains("truncated"), "{err}");
        // Missing.
        fs::remove_file(&path).unwrap();
        let err = Segment::open(dir.path(), &name).unwrap_err().to_string();
        assert!(err.contains(&name) && err.contains("cannot open"), "{err}");
    }

    #[test]
    fn the_merge_keeps_the_newest_record_of_each_entry() {
        let seg = vec![
            Ok((e(1, 1, 1), true, 0)),
            Ok((e(1, 1, 2), true, 0)),
            Ok((e(1, 2, 1), true, 0)),
        ];
        // The overlay removes (1,1,2) and adds (1,1,3); the build re-adds (1,1,2) later and
        // adds (1,2,0), which the overlay removed later still.
        let overlay = vec![
            Ok((e(1, 1, 2), false, 5)),
            Ok((e(1, 1, 3), true, 6)),
            Ok((e(1, 2, 0), false, 9)),
        ];
        let build = vec![Ok((e(1, 1, 2), true, 7)), Ok((e(1, 2, 0), true, 8))];
        let m = Merge::new(vec![
            Box::new(seg.into_iter()),
            Box::new(overlay.into_iter()),
            Box::new(build.into_iter()),
        ]);
        let got: Vec<Entry> = m.map(Result::unwrap).collect();
        assert_eq!(got, vec![e(1, 1, 1), e(1, 1, 2), e(1, 1, 3), e(1, 2, 1)]);
    }

    #[test]
    fn file_names_carry_their_generation() {
        assert_eq!(generation_of(&file_name(42)), Some(42));
        assert!(is_segment_file(&file_name(42)));
        assert!(is_segment_file(&format!("{}.tmp", file_name(42))));
        assert!(!is_segment_file("rapport.keys"));
        assert_eq!(generation_of("rapport.vocab"), None);
    }
}
