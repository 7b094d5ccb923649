//! The vocabulary of prefix-searchable index values, kept out of sled.
//!
//! Index entries in sled carry a keyed hash of their value, never the value (sled keeps old
//! keys in its files). Type-ahead search needs the values themselves, in order, to expand a
//! prefix: they are kept here, without customer ids, for the kinds searched by prefix
//! ([`VOCAB_KINDS`]: e-mail addresses and name tokens and pairs). A prefix is expanded to the
//! values it starts, and each value is looked up by its hash.
//!
//! The file (`rapport.vocab` in the database directory) is a magic header and append-only
//! records (kind byte, length u32 LE, UTF-8 value). A value is appended, and the file written,
//! before the sled batch that indexes it, so the vocabulary is always a superset of the values
//! indexed (a value whose entries are all gone is found by no lookup and skipped). It is synced
//! by [`crate::Store::flush`] and by every rewrite. Erasure rewrites it without the values no
//! customer is indexed under any more: a new file, synced, renamed over the old one, the
//! directory synced, so no file of the database keeps them.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{Error, IndexKind};

/// The vocabulary's file name inside the database directory.
pub const VOCAB_FILE: &str = "rapport.vocab";
const MAGIC: &[u8; 8] = b"RAPVOCB1";

/// The kinds whose values are searched by prefix, so kept in the vocabulary.
pub const VOCAB_KINDS: [IndexKind; 2] = [IndexKind::Email, IndexKind::NameToken];

/// The values of the prefix-searchable kinds, in the file and, once first needed, in memory.
///
/// Opening only checks the file (and cuts a torn tail); the values are read into memory at the
/// first search, addition or rewrite ([`Vocab::warm`] does it ahead, on a thread of its own in
/// a server or console), so a command that never searches by prefix (`rapport score`, an
/// export) does not pay for them: at a million customers they are millions of values.
#[derive(Debug)]
pub(crate) struct Vocab {
    file: Option<(File, PathBuf)>,
    sets: OnceLock<[BTreeSet<String>; 2]>,
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Keys(format!("{}: {e}", path.display()))
}

fn slot(kind: IndexKind) -> Option<usize> {
    VOCAB_KINDS.iter().position(|k| *k == kind)
}

/// Walks the records of a vocabulary file's bytes (after the magic), calling `each` with every
/// (slot, value); the length of the whole records (a torn tail is not counted), or the offset
/// of a damaged record.
fn walk<'a>(bytes: &'a [u8], mut each: impl FnMut(usize, &'a str)) -> Result<usize, usize> {
    let mut at = MAGIC.len();
    while let Some(head) = bytes.get(at..at + 5) {
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let Some(raw) = bytes.get(at + 5..at + 5 + len) else {
            break;
        };
        let kind = IndexKind::from_code(head[0]).and_then(slot);
        match (kind, std::str::from_utf8(raw)) {
            (Some(k), Ok(s)) => each(k, s),
            _ => return Err(at),
        }
        at += 5 + len;
    }
    Ok(at)
}

impl Vocab {
    /// Opens (or creates) the vocabulary of `dir`; `None`: in memory only. Checks every
    /// record and cuts a torn tail; the values are read at first use.
    pub(crate) fn open(dir: Option<&Path>) -> Result<Vocab, Error> {
        let Some(dir) = dir else {
            return Ok(Vocab {
                file: None,
                sets: OnceLock::from([BTreeSet::new(), BTreeSet::new()]),
            });
        };
        let path = dir.join(VOCAB_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_err(&path, e))?;
        if bytes.len() < MAGIC.len() {
            file.set_len(0).map_err(|e| io_err(&path, e))?;
            file.write_all(MAGIC).map_err(|e| io_err(&path, e))?;
            file.sync_all().map_err(|e| io_err(&path, e))?;
        } else if &bytes[..8] != MAGIC {
            return Err(Error::Keys(format!(
                "{}: not a Rapport vocabulary (bad magic)",
                path.display()
            )));
        } else {
            let whole = walk(&bytes, |_, _| {}).map_err(|at| damaged(&path, at))?;
            if whole != bytes.len() {
                // A record torn by a crash: its sled batch was never applied.
                file.set_len(whole as u64).map_err(|e| io_err(&path, e))?;
            }
        }
        Ok(Vocab {
            file: Some((file, path)),
            sets: OnceLock::new(),
        })
    }

    /// The values, read from the file the first time.
    fn sets(&self) -> Result<&[BTreeSet<String>; 2], Error> {
        if let Some(s) = self.sets.get() {
            return Ok(s);
        }
        let mut sets = [BTreeSet::new(), BTreeSet::new()];
        if let Some((_, path)) = &self.file {
            let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
            // Appended in the order values were first indexed: collected and sorted once
            // rather than inserted one by one into the ordered sets.
            let mut lists: [Vec<&str>; 2] = [Vec::new(), Vec::new()];
            walk(&bytes, |k, v| lists[k].push(v)).map_err(|at| damaged(path, at))?;
            for (set, mut list) in sets.iter_mut().zip(lists) {
                list.sort_unstable();
                list.dedup();
                *set = list.into_iter().map(str::to_owned).collect();
            }
        }
        // Two first uses at once both read the file; the first to finish is kept.
        let _ = self.sets.set(sets);
        Ok(self.sets.get().expect("set above"))
    }

    fn sets_mut(&mut self) -> Result<&mut [BTreeSet<String>; 2], Error> {
        self.sets()?;
        Ok(self.sets.get_mut().expect("read above"))
    }

    /// Reads the values into memory now, so the first search does not wait for them.
    pub(crate) fn warm(&self) -> Result<(), Error> {
        self.sets().map(|_| ())
    }

    /// Whether the values are in memory.
    pub(crate) fn is_warm(&self) -> bool {
        self.sets.get().is_some()
    }

    /// Adds the values of `keys` that the vocabulary lacks, written to the file (not synced:
    /// see the module doc) before returning.
    pub(crate) fn add<'a>(
        &mut self,
        keys: impl Iterator<Item = (IndexKind, &'a str)>,
    ) -> Result<(), Error> {
        let mut out = Vec::new();
        // Only the kinds kept here; none (a batch without names or e-mail addresses) leaves
        // the values unread.
        let mut keys = keys
            .filter_map(|(kind, value)| Some((kind, slot(kind)?, value)))
            .peekable();
        if keys.peek().is_none() {
            return Ok(());
        }
        let sets = self.sets_mut()?;
        for (kind, s, value) in keys {
            if sets[s].contains(value) {
                continue;
            }
            sets[s].insert(value.to_owned());
            push_record(&mut out, kind, value);
        }
        if let (false, Some((file, path))) = (out.is_empty(), &mut self.file) {
            file.write_all(&out).map_err(|e| io_err(path, e))?;
        }
        Ok(())
    }

    /// The values of `kind` that start with `prefix`, in byte order, after `after` when given.
    pub(crate) fn with_prefix<'a>(
        &'a self,
        kind: IndexKind,
        prefix: &'a str,
        after: Option<&'a str>,
    ) -> Result<impl Iterator<Item = &'a String> + 'a, Error> {
        use std::ops::Bound;
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Included(prefix),
        };
        let sets = self.sets()?;
        Ok(slot(kind)
            .into_iter()
            .flat_map(move |s| sets[s].range::<str, _>((start, Bound::Unbounded)))
            .take_while(move |v| v.starts_with(prefix)))
    }

    /// Every (kind, value) held.
    pub(crate) fn entries(&self) -> Result<Vec<(IndexKind, String)>, Error> {
        Ok(VOCAB_KINDS
            .iter()
            .zip(self.sets()?)
            .flat_map(|(k, set)| set.iter().map(move |v| (*k, v.clone())))
            .collect())
    }

    /// Rewrites the vocabulary with only the values `keep` accepts: a new file, synced,
    /// renamed over the old one, the directory synced.
    pub(crate) fn rewrite(
        &mut self,
        keep: impl Fn(IndexKind, &str) -> bool,
    ) -> Result<usize, Error> {
        let mut dropped = 0;
        for (k, set) in VOCAB_KINDS.iter().zip(self.sets_mut()?.iter_mut()) {
            let before = set.len();
            set.retain(|v| keep(*k, v));
            dropped += before - set.len();
        }
        let Some((_, path)) = &self.file else {
            return Ok(dropped);
        };
        let path = path.clone();
        let tmp = path.with_extension("vocab.new");
        let mut bytes = MAGIC.to_vec();
        for (k, set) in VOCAB_KINDS.iter().zip(self.sets()?) {
            for v in set {
                push_record(&mut bytes, *k, v);
            }
        }
        {
            let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
            f.write_all(&bytes).map_err(|e| io_err(&tmp, e))?;
            f.sync_all().map_err(|e| io_err(&tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        if let Some(dir) = path.parent() {
            crate::seal::sync_dir(dir)?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        self.file = Some((file, path));
        Ok(dropped)
    }

    /// Syncs the file.
    pub(crate) fn sync(&self) -> Result<(), Error> {
        if let Some((file, path)) = &self.file {
            file.sync_data().map_err(|e| io_err(path, e))?;
        }
        Ok(())
    }
}

fn damaged(path: &Path, at: usize) -> Error {
    Error::Keys(format!("{}: a damaged record at byte {at}", path.display()))
}

fn push_record(out: &mut Vec<u8>, kind: IndexKind, value: &str) {
    out.push(kind.code());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_a_reopen_and_a_rewrite_drops_them_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vocab::open(Some(dir.path())).unwrap();
        v.add(
            [
                (IndexKind::NameToken, "zyxquorva"),
                (IndexKind::NameToken, "maria"),
                (IndexKind::Email, "m@x.org"),
                (IndexKind::Phone, "+441"),
            ]
            .into_iter(),
        )
        .unwrap();
        drop(v);
        let mut v = Vocab::open(Some(dir.path())).unwrap();
        // Opening does not read the values; the first use does.
        assert!(!v.is_warm());
        assert_eq!(v.entries().unwrap().len(), 3);
        assert!(v.is_warm());
        let found: Vec<&String> = v
            .with_prefix(IndexKind::NameToken, "ma", None)
            .unwrap()
            .collect();
        assert_eq!(found, vec!["maria"]);
        v.rewrite(|_, s| s != "zyxquorva").unwrap();
        v.add([(IndexKind::NameToken, "marta")].into_iter())
            .unwrap();
        drop(v);
        let bytes = std::fs::read(dir.path().join(VOCAB_FILE)).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"zyxquorva"));
        let v = Vocab::open(Some(dir.path())).unwrap();
        let found: Vec<&String> = v
            .with_prefix(IndexKind::NameToken, "mar", None)
            .unwrap()
            .collect();
        assert_eq!(found, vec!["maria", "marta"]);
    }

    #[test]
    fn a_torn_tail_is_cut_at_open_and_a_damaged_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VOCAB_FILE);
        let mut v = Vocab::open(Some(dir.path())).unwrap();
        v.add([(IndexKind::Email, "a@x.org")].into_iter()).unwrap();
        drop(v);
        let whole = std::fs::metadata(&path).unwrap().len();
        // A crash in the middle of an append: the header of a record, half its value.
        let mut torn = std::fs::read(&path).unwrap();
        push_record(&mut torn, IndexKind::Email, "b@x.org");
        torn.truncate(torn.len() - 3);
        std::fs::write(&path, &torn).unwrap();
        let mut v = Vocab::open(Some(dir.path())).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        v.add([(IndexKind::Email, "c@x.org")].into_iter()).unwrap();
        drop(v);
        let v = Vocab::open(Some(dir.path())).unwrap();
        assert_eq!(
            v.entries().unwrap(),
            vec![
                (IndexKind::Email, "a@x.org".to_string()),
                (IndexKind::Email, "c@x.org".to_string())
            ]
        );
        drop(v);
        // A record of an unknown kind is damage, not a tear: refused at open, by offset.
        let mut bad = std::fs::read(&path).unwrap();
        bad[MAGIC.len()] = 0xEE;
        std::fs::write(&path, &bad).unwrap();
        let e = Vocab::open(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("a damaged record at byte 8"), "{e}");
    }
}
