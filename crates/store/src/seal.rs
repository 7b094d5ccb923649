//! Crypto-shredding: the key store, sealed values and keyed hashes of index values.
//!
//! sled keeps removed and overwritten values readable in its files until it happens to rewrite
//! their segments, which cannot be forced (see `docs/security.md`). So a customer's personal
//! data is never written to sled in the clear: values of the customer's own keyspaces
//! (customer, interactions, grants, the customer's list of index keys) and the documents a
//! caller seals for a customer ([`crate::Batch::put_doc_sealed`]) are encrypted with
//! ChaCha20-Poly1305 under a key of that customer. Erasing the customer destroys the key: the
//! ciphertext left in stale pages can no longer be read.
//!
//! The keys live in a file of the database directory that this module writes byte by byte
//! (`rapport.keys`), so that overwriting a key really overwrites it:
//!
//! | offset | bytes | what |
//! |---|---|---|
//! | 0 | 8 | magic `RAPKEYS1` |
//! | 8 | 24 | zero (reserved) |
//! | 32 | 32 | the database secret (keys the index hashes, see [`KeyStore::index_hash`]) |
//! | 64 + 64·id | 64 | customer `id`'s slot: two halves of 32 bytes, each a key or zeros |
//!
//! One half of a slot holds the customer's key; the other is zero except while the customer is
//! being erased (the new key is written into the free half before the rewritten values, and the
//! old half is zeroed after them; [`KeyStore::recover`] finishes or rolls back an erasure a crash
//! interrupted). A sealed value names its owner and the half that sealed it. Slots are made
//! ahead in blocks ([`SLOT_BLOCK`] ids at a time, one `fsync`), so an ingest creating customers
//! pays one `fsync` per 4,096 new ids, always before the sled batch that uses the keys.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rapport_core::CustomerId;
use sha2::Sha256;

use crate::Error;

/// The key store's file name inside the database directory.
pub const KEYS_FILE: &str = "rapport.keys";
const MAGIC: &[u8; 8] = b"RAPKEYS1";
const HEADER: u64 = 64;
const SLOT: u64 = 64;
/// How many slots are made at once when a batch needs a key past the end of the file.
pub(crate) const SLOT_BLOCK: u64 = 4_096;
/// The format byte of a sealed value: owner (u64 BE), half (u8), nonce (12), ciphertext + tag.
/// Written up to schema 6; read still (its ciphertext opens to the plain bytes).
pub const SEALED_V1: u8 = 6;
/// The format byte of a sealed value whose plain bytes were packed before sealing (schema 7,
/// `codec::pack`: LZ4 when that is shorter): owner (varint), half (u8), nonce (12),
/// ciphertext + tag; the ciphertext opens to the packed bytes. Compression comes before
/// encryption (ciphertext does not compress), and inside it, so the packed bytes are
/// authenticated like the plain ones.
pub const SEALED_V2: u8 = 7;
const SEALED_HEAD: usize = 1 + 8 + 1 + 12;
/// Bytes of an index value's keyed hash.
pub(crate) const HASH_LEN: usize = 16;

/// The customer keys and the database secret, in memory, written through to the file.
pub(crate) struct KeyStore {
    file: Option<(File, PathBuf)>,
    mac: Hmac<Sha256>,
    /// Slot per customer id.
    slots: Vec<[u8; 64]>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Keys(format!("{}: {e}", path.display()))
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

impl KeyStore {
    /// Opens (or creates, with a fresh secret) the key store of the database directory `dir`;
    /// `None`: a store in memory only (temporary databases).
    pub(crate) fn open(dir: Option<&Path>) -> Result<KeyStore, Error> {
        let Some(dir) = dir else {
            return Ok(KeyStore::with(None, random()));
        };
        let path = dir.join(KEYS_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_err(&path, e))?;
        if bytes.len() < HEADER as usize {
            // New (or a header torn before any key was used: nothing was sealed with it).
            let secret: [u8; 32] = random();
            let mut header = [0u8; HEADER as usize];
            header[..8].copy_from_slice(MAGIC);
            header[32..].copy_from_slice(&secret);
            file.set_len(0).map_err(|e| io_err(&path, e))?;
            file.seek(SeekFrom::Start(0))
                .map_err(|e| io_err(&path, e))?;
            file.write_all(&header).map_err(|e| io_err(&path, e))?;
            file.sync_all().map_err(|e| io_err(&path, e))?;
            sync_dir(dir)?;
            return Ok(KeyStore::with(Some((file, path)), secret));
        }
        if &bytes[..8] != MAGIC {
            return Err(Error::Keys(format!(
                "{}: not a Rapport key store (bad magic)",
                path.display()
            )));
        }
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&bytes[32..64]);
        let body = &bytes[HEADER as usize..];
        // A block of slots torn by a crash was never used (its fsync comes before any batch
        // sealed with it): whole slots only.
        let whole = body.len() / SLOT as usize;
        let mut ks = KeyStore::with(None, secret);
        ks.slots = body
            .chunks_exact(SLOT as usize)
            .take(whole)
            .map(|c| {
                let mut s = [0u8; 64];
                s.copy_from_slice(c);
                s
            })
            .collect();
        if body.len() % SLOT as usize != 0 {
            file.set_len(HEADER + whole as u64 * SLOT)
                .map_err(|e| io_err(&path, e))?;
        }
        ks.file = Some((file, path));
        Ok(ks)
    }

    fn with(file: Option<(File, PathBuf)>, secret: [u8; 32]) -> KeyStore {
        // HMAC accepts keys of any length: this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        KeyStore {
            file,
            mac,
            slots: Vec::new(),
        }
    }

    /// The keyed hash that stands for an index value in sled keys: HMAC-SHA256 under the
    /// database secret over the kind's code and the value, cut to 16 bytes.
    pub(crate) fn index_hash(&self, kind: u8, value: &str) -> [u8; HASH_LEN] {
        let mut m = self.mac.clone();
        m.update(&[kind]);
        m.update(value.as_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0u8; HASH_LEN];
        out.copy_from_slice(&full[..HASH_LEN]);
        out
    }

    /// Makes sure customers up to `max` have a slot with a key (blocks of [`SLOT_BLOCK`]),
    /// synced to disk before returning.
    pub(crate) fn ensure(&mut self, max: CustomerId) -> Result<(), Error> {
        let need = max.0.saturating_add(1);
        let have = self.slots.len() as u64;
        if need <= have {
            return Ok(());
        }
        let end = need.div_ceil(SLOT_BLOCK).saturating_mul(SLOT_BLOCK);
        let mut block = Vec::with_capacity(((end - have) * SLOT) as usize);
        let mut new = Vec::with_capacity((end - have) as usize);
        for _ in have..end {
            let mut s = [0u8; 64];
            s[..32].copy_from_slice(&random::<32>());
            block.extend_from_slice(&s);
            new.push(s);
        }
        if let Some((file, path)) = &mut self.file {
            file.seek(SeekFrom::Start(HEADER + have * SLOT))
                .map_err(|e| io_err(path, e))?;
            file.write_all(&block).map_err(|e| io_err(path, e))?;
            file.sync_data().map_err(|e| io_err(path, e))?;
        }
        self.slots.extend(new);
        Ok(())
    }

    /// Whether customer `id` has a slot (made by [`KeyStore::ensure`]).
    pub(crate) fn has_slot(&self, id: CustomerId) -> bool {
        id.0 < self.slots.len() as u64
    }

    /// The half and key that seal the customer's values now (the half holding a key; the
    /// first when both do, which only an erasure in progress leaves, and it names its half).
    fn current(&self, owner: CustomerId) -> Option<(u8, [u8; 32])> {
        let slot = self.slots.get(usize::try_from(owner.0).ok()?)?;
        for half in 0..2u8 {
            let k = half_of(slot, half);
            if k != [0u8; 32] {
                return Some((half, k));
            }
        }
        None
    }

    /// Seals `plain` for `owner` with the customer's current key (or the given half), after
    /// [`KeyStore::ensure`].
    pub(crate) fn seal(
        &self,
        owner: CustomerId,
        half: Option<u8>,
        plain: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.seal_as(SEALED_V2, owner, half, &crate::codec::pack(plain))
    }

    /// Seals `plain` in the format of schema 6 and before ([`SEALED_V1`]): for the tests of
    /// the migration to schema 7.
    #[cfg(test)]
    pub(crate) fn seal_v1(
        &self,
        owner: CustomerId,
        half: Option<u8>,
        plain: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.seal_as(SEALED_V1, owner, half, plain)
    }

    /// Encrypts `msg` (plain or packed, as `format` says) under the owner's key.
    fn seal_as(
        &self,
        format: u8,
        owner: CustomerId,
        half: Option<u8>,
        msg: &[u8],
    ) -> Result<Vec<u8>, String> {
        let (half, key) = match half {
            Some(h) => {
                let slot = self
                    .slots
                    .get(owner.0 as usize)
                    .ok_or_else(|| format!("no key slot for {owner}"))?;
                (h, half_of(slot, h))
            }
            None => self
                .current(owner)
                .ok_or_else(|| format!("no key for {owner}"))?,
        };
        let nonce: [u8; 12] = random();
        let owner_bytes = owner.0.to_be_bytes();
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg,
                    aad: &owner_bytes,
                },
            )
            .map_err(|_| format!("cannot seal a value of {owner}"))?;
        let mut out = Vec::with_capacity(SEALED_HEAD + ct.len());
        out.push(format);
        if format == SEALED_V1 {
            out.extend_from_slice(&owner_bytes);
        } else {
            rapport_core::varint::put(&mut out, owner.0);
        }
        out.push(half);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a sealed value: the plain bytes, or an error (an erased customer's old value, a
    /// damaged value).
    pub(crate) fn open_sealed(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let (owner, half, nonce) = sealed_head(sealed).ok_or("a sealed value is truncated")?;
        let slot = self
            .slots
            .get(owner.0 as usize)
            .ok_or_else(|| format!("no key for {owner} (was the key store replaced?)"))?;
        let key = half_of(slot, half);
        if key == [0u8; 32] {
            return Err(format!("the key of {owner} was destroyed (erased)"));
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
        let opened = cipher
            .decrypt(
                Nonce::from_slice(&sealed[nonce..nonce + 12]),
                Payload {
                    msg: &sealed[nonce + 12..],
                    aad: &owner.0.to_be_bytes(),
                },
            )
            .map_err(|_| format!("a sealed value of {owner} does not open (erased or damaged)"))?;
        if sealed[0] == SEALED_V2 {
            crate::codec::unpack(opened)
        } else {
            Ok(opened)
        }
    }

    /// Erasure, step 1: a fresh key in the customer's free half, synced. Returns the half
    /// the rewritten values must be sealed with.
    pub(crate) fn begin_erase(&mut self, owner: CustomerId) -> Result<u8, Error> {
        self.ensure(owner)?;
        let (old, _) = self
            .current(owner)
            .ok_or_else(|| Error::Keys(format!("no key for {owner}")))?;
        let new = 1 - old;
        let mut slot = self.slots[owner.0 as usize];
        set_half(&mut slot, new, random());
        self.write_slot(owner, slot)?;
        Ok(new)
    }

    /// Erasure, last step: destroys every key of the customer but the one in `keep`
    /// (overwritten with zeros in the file and synced).
    pub(crate) fn finish_erase(&mut self, owner: CustomerId, keep: u8) -> Result<(), Error> {
        let Some(mut slot) = self.slots.get(owner.0 as usize).copied() else {
            return Ok(());
        };
        set_half(&mut slot, 1 - keep, [0u8; 32]);
        self.write_slot(owner, slot)
    }

    fn write_slot(&mut self, owner: CustomerId, slot: [u8; 64]) -> Result<(), Error> {
        if let Some((file, path)) = &mut self.file {
            file.seek(SeekFrom::Start(HEADER + owner.0 * SLOT))
                .map_err(|e| io_err(path, e))?;
            file.write_all(&slot).map_err(|e| io_err(path, e))?;
            file.sync_data().map_err(|e| io_err(path, e))?;
        }
        self.slots[owner.0 as usize] = slot;
        Ok(())
    }

    /// The customers whose slot holds two keys: erasures a crash interrupted.
    pub(crate) fn interrupted(&self) -> Vec<CustomerId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| half_of(s, 0) != [0u8; 32] && half_of(s, 1) != [0u8; 32])
            .map(|(i, _)| CustomerId(i as u64))
            .collect()
    }

    /// Syncs the key store file (also done by every change; for [`crate::Store::flush`]).
    pub(crate) fn sync(&self) -> Result<(), Error> {
        if let Some((file, path)) = &self.file {
            file.sync_data().map_err(|e| io_err(path, e))?;
        }
        Ok(())
    }
}

/// Whether a stored value is sealed (either format).
pub(crate) fn is_sealed(value: &[u8]) -> bool {
    matches!(value.first(), Some(&(SEALED_V1 | SEALED_V2)))
}

/// The owner and half a sealed value names (`None`: not a whole sealed value).
pub(crate) fn sealed_owner(sealed: &[u8]) -> Option<(CustomerId, u8)> {
    sealed_head(sealed).map(|(owner, half, _)| (owner, half))
}

/// The owner, the half and where the nonce begins, of a whole sealed value: [`SEALED_V1`]
/// names its owner in 8 bytes (big-endian), [`SEALED_V2`] as a varint.
fn sealed_head(sealed: &[u8]) -> Option<(CustomerId, u8, usize)> {
    let (&format, mut rest) = sealed.split_first()?;
    let owner = match format {
        SEALED_V1 => {
            let (owner, after) = rest.split_first_chunk::<8>()?;
            rest = after;
            u64::from_be_bytes(*owner)
        }
        SEALED_V2 => rapport_core::varint::take(&mut rest).ok()?,
        _ => return None,
    };
    let (&half, rest) = rest.split_first()?;
    // The nonce (12 bytes) and at least the tag (16) follow.
    if half > 1 || rest.len() < 12 + 16 {
        return None;
    }
    Some((CustomerId(owner), half, sealed.len() - rest.len()))
}

fn half_of(slot: &[u8; 64], half: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    let at = usize::from(half) * 32;
    k.copy_from_slice(&slot[at..at + 32]);
    k
}

fn set_half(slot: &mut [u8; 64], half: u8, key: [u8; 32]) {
    let at = usize::from(half) * 32;
    slot[at..at + 32].copy_from_slice(&key);
}

/// Syncs a directory so that a file created or renamed in it survives a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_until_its_key_is_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let mut ks = KeyStore::open(Some(dir.path())).unwrap();
        ks.ensure(CustomerId(5)).unwrap();
        let sealed = ks.seal(CustomerId(5), None, b"Zyxquorva").unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"Zyxquorva"));
        assert_eq!(ks.open_sealed(&sealed).unwrap(), b"Zyxquorva");
        // Reopened from the file: the same keys.
        let mut ks = KeyStore::open(Some(dir.path())).unwrap();
        assert_eq!(ks.open_sealed(&sealed).unwrap(), b"Zyxquorva");
        let half = ks.begin_erase(CustomerId(5)).unwrap();
        assert_eq!(ks.interrupted(), vec![CustomerId(5)]);
        let fresh = ks.seal(CustomerId(5), Some(half), b"erased").unwrap();
        ks.finish_erase(CustomerId(5), half).unwrap();
        assert!(ks.interrupted().is_empty());
        let ks = KeyStore::open(Some(dir.path())).unwrap();
        let err = ks.open_sealed(&sealed).unwrap_err();
        assert!(err.contains("destroyed"), "{err}");
        assert_eq!(ks.open_sealed(&fresh).unwrap(), b"erased");
        // A value moved to another owner does not open.
        let mut moved = fresh.clone();
        assert_eq!(moved[1], 5, "owner 5 as a one-byte varint");
        moved[1] = 6;
        assert_eq!(sealed_owner(&moved), Some((CustomerId(6), half)));
        assert!(ks.open_sealed(&moved).is_err());
    }

    proptest::proptest! {
        /// Whatever the bytes, reading a sealed value's head or opening it returns.
        #[test]
        fn any_bytes_open_or_fail_without_panic(
            format in proptest::prop_oneof![proptest::strategy::Just(SEALED_V1), proptest::strategy::Just(SEALED_V2), proptest::prelude::any::<u8>()],
            rest in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96),
        ) {
            let ks = KeyStore::open(None).unwrap();
            let mut bytes = vec![format];
            bytes.extend_from_slice(&rest);
            let _ = sealed_owner(&bytes);
            let _ = ks.open_sealed(&bytes);
        }
    }

    #[test]
    fn a_value_is_packed_inside_its_seal_and_old_seals_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut ks = KeyStore::open(Some(dir.path())).unwrap();
        ks.ensure(CustomerId(7)).unwrap();
        let plain = "Zyxquorva Brimbleton, 12 Quarry Lane, zyxquorva@example.com; ".repeat(20);
        let sealed = ks.seal(CustomerId(7), None, plain.as_bytes()).unwrap();
        assert_eq!(sealed[0], SEALED_V2);
        // Packed before sealing: well under the plain length, and nothing readable.
        assert!(sealed.len() < plain.len() / 4, "{} bytes", sealed.len());
        assert!(!sealed.windows(9).any(|w| w == b"Zyxquorva"));
        assert_eq!(ks.open_sealed(&sealed).unwrap(), plain.as_bytes());
        assert_eq!(sealed_owner(&sealed), Some((CustomerId(7), 0)));
        // A short value is kept raw inside the seal; the old format opens as before.
        let short = ks.seal(CustomerId(7), None, b"x").unwrap();
        assert_eq!(ks.open_sealed(&short).unwrap(), b"x");
        let old = ks.seal_v1(CustomerId(7), None, plain.as_bytes()).unwrap();
        assert_eq!(old[0], SEALED_V1);
        assert!(is_sealed(&old) && is_sealed(&sealed) && !is_sealed(b"\x01abc"));
        assert_eq!(ks.open_sealed(&old).unwrap(), plain.as_bytes());
        // Erasure destroys both alike.
        let half = ks.begin_erase(CustomerId(7)).unwrap();
        ks.finish_erase(CustomerId(7), half).unwrap();
        assert!(ks.open_sealed(&sealed).unwrap_err().contains("destroyed"));
        assert!(ks.open_sealed(&old).unwrap_err().contains("destroyed"));
    }

    #[test]
    fn index_hashes_depend_on_kind_value_and_secret() {
        let a = KeyStore::open(None).unwrap();
        let b = KeyStore::open(None).unwrap();
        assert_eq!(a.index_hash(1, "x@y"), a.index_hash(1, "x@y"));
        assert_ne!(a.index_hash(1, "x@y"), a.index_hash(2, "x@y"));
        assert_ne!(a.index_hash(1, "x@y"), b.index_hash(1, "x@y"));
    }
}
