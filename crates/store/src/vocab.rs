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

use crate::{Error, IndexKind};

/// The vocabulary's file name inside the database directory.
pub const VOCAB_FILE: &str = "rapport.vocab";
const MAGIC: &[u8; 8] = b"RAPVOCB1";

/// The kinds whose values are searched by prefix, so kept in the vocabulary.
pub const VOCAB_KINDS: [IndexKind; 2] = [IndexKind::Email, IndexKind::NameToken];

/// The values of the prefix-searchable kinds, in memory and in the file.
#[derive(Debug)]
pub(crate) struct Vocab {
    file: Option<(File, PathBuf)>,
    sets: [BTreeSet<String>; 2],
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Keys(format!("{}: {e}", path.display()))
}

fn slot(kind: IndexKind) -> Option<usize> {
    VOCAB_KINDS.iter().position(|k| *k == kind)
}

impl Vocab {
    /// Opens (or creates) the vocabulary of `dir`; `None`: in memory only.
    pub(crate) fn open(dir: Option<&Path>) -> Result<Vocab, Error> {
        let mut v = Vocab {
            file: None,
            sets: [BTreeSet::new(), BTreeSet::new()],
        };
        let Some(dir) = dir else { return Ok(v) };
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
            let mut at = 8;
            while let Some(head) = bytes.get(at..at + 5) {
                let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
                let Some(raw) = bytes.get(at + 5..at + 5 + len) else {
                    break;
                };
                let kind = IndexKind::from_code(head[0]).and_then(slot);
                match (kind, std::str::from_utf8(raw)) {
                    (Some(k), Ok(s)) => {
                        v.sets[k].insert(s.to_owned());
                    }
                    _ => {
                        return Err(Error::Keys(format!(
                            "{}: a damaged record at byte {at}",
                            path.display()
                        )));
                    }
                }
                at += 5 + len;
            }
            if at != bytes.len() {
                // A record torn by a crash: its sled batch was never applied.
                file.set_len(at as u64).map_err(|e| io_err(&path, e))?;
            }
        }
        v.file = Some((file, path));
        Ok(v)
    }

    /// Adds the values of `keys` that the vocabulary lacks, written to the file (not synced:
    /// see the module doc) before returning.
    pub(crate) fn add<'a>(
        &mut self,
        keys: impl Iterator<Item = (IndexKind, &'a str)>,
    ) -> Result<(), Error> {
        let mut out = Vec::new();
        for (kind, value) in keys {
            let Some(s) = slot(kind) else { continue };
            if self.sets[s].contains(value) {
                continue;
            }
            self.sets[s].insert(value.to_owned());
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
    ) -> impl Iterator<Item = &'a String> + 'a {
        use std::ops::Bound;
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Included(prefix),
        };
        slot(kind)
            .into_iter()
            .flat_map(move |s| self.sets[s].range::<str, _>((start, Bound::Unbounded)))
            .take_while(move |v| v.starts_with(prefix))
    }

    /// Every (kind, value) held.
    pub(crate) fn entries(&self) -> Vec<(IndexKind, String)> {
        VOCAB_KINDS
            .iter()
            .zip(&self.sets)
            .flat_map(|(k, set)| set.iter().map(move |v| (*k, v.clone())))
            .collect()
    }

    /// Rewrites the vocabulary with only the values `keep` accepts: a new file, synced,
    /// renamed over the old one, the directory synced.
    pub(crate) fn rewrite(
        &mut self,
        keep: impl Fn(IndexKind, &str) -> bool,
    ) -> Result<usize, Error> {
        let mut dropped = 0;
        for (k, set) in VOCAB_KINDS.iter().zip(self.sets.iter_mut()) {
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
        for (k, set) in VOCAB_KINDS.iter().zip(&self.sets) {
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
        assert_eq!(v.entries().len(), 3);
        let found: Vec<&String> = v.with_prefix(IndexKind::NameToken, "ma", None).collect();
        assert_eq!(found, vec!["maria"]);
        v.rewrite(|_, s| s != "zyxquorva").unwrap();
        v.add([(IndexKind::NameToken, "marta")].into_iter())
            .unwrap();
        drop(v);
        let bytes = std::fs::read(dir.path().join(VOCAB_FILE)).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"zyxquorva"));
        let v = Vocab::open(Some(dir.path())).unwrap();
        let found: Vec<&String> = v.with_prefix(IndexKind::NameToken, "mar", None).collect();
        assert_eq!(found, vec!["maria", "marta"]);
    }
}
