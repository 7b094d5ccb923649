//! The schema version stored in the database, checked at open, and the migration hook.

use std::path::Path;

use crate::keys::{self, Space};
use crate::{Error, codec};

/// The schema version this build writes. Bump it when a key layout or a stored type changes
/// incompatibly, and add a step to `MIGRATIONS` that brings version `n - 1` to `n`.
///
/// - 1: the first released layout.
/// - 2: scores in pages of 256 customers (`Ep`, was one `Es` key per customer); history
///   digests (`Xh`), which every interaction write removes, so a version-1 build must not
///   write to a version-2 database.
/// - 3: pages of customer ids (`Xc`: which of 256 ids exist, kept by every customer write),
///   so that listing a million customers reads a few thousand small values instead of every
///   customer document; history digests may be caller bytes (`codec::OPAQUE_V1`), which a
///   version-2 build cannot decode.
/// - 4: personal data sealed (`seal`): values of the customers' keyspaces encrypted under a
///   key per customer held in the key store file, index keys holding a keyed hash of their
///   value instead of the value, the prefix-searchable values in the vocabulary file; migrated
///   by sealing every value in place and rebuilding the index from the customers' key lists.
/// - 5: a customer's interactions in pages (`EI` + customer id + the page's fence, up to
///   `codec::PAGE_MAX_ENTRIES` interactions a page, `pages`), was one `Ei` key per
///   interaction; migrated by `interactions_into_pages`.
/// - 6: index entries in sorted immutable segment files under an overlay of sled records
///   (`index`, `segment`): an `Xk` key holds a record (present or removed, and a sequence
///   number) instead of being the entry; migrated by moving the `Xk` entries into a segment
///   (`Store::index_into_segments`).
/// - 7: sealed values packed before sealing (`seal::SEALED_V2`: LZ4 inside the ciphertext
///   when shorter, `codec::pack`), which a version-6 build cannot open; migrated by sealing
///   every old-format value again in the new one (`Store::repack_sealed`).
pub const SCHEMA_VERSION: u32 = 7;

pub(crate) const VERSION_KEY: &str = "schema_version";

/// One migration step: from version `from` to `from + 1`, run on the raw tree before the
/// store is handed out. A step must be idempotent (a crash mid-migration reruns it) and may
/// not use the change feed.
pub(crate) struct Migration {
    pub(crate) from: u32,
    pub(crate) run: fn(&crate::Store) -> Result<(), String>,
}

/// The migrations, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        from: 1,
        run: |s| scores_into_pages(s.raw_tree()),
    },
    Migration {
        from: 2,
        run: |s| customer_id_pages(s.raw_tree()),
    },
    Migration {
        from: 3,
        run: crate::Store::seal_existing,
    },
    Migration {
        from: 4,
        run: interactions_into_pages,
    },
    Migration {
        from: 5,
        run: crate::Store::index_into_segments,
    },
    Migration {
        from: 6,
        run: crate::Store::repack_sealed,
    },
];

/// 4 -> 5: the interactions from one key each into pages per customer (`pages`).
fn interactions_into_pages(store: &crate::Store) -> Result<(), String> {
    store.interactions_into_pages()
}

/// 2 -> 3: writes the pages of customer ids from the customer keys (one scan, keys in id
/// order; a page is written once all its customers are seen, so a rerun after a crash
/// writes the same pages again).
fn customer_id_pages(tree: &sled::Tree) -> Result<(), String> {
    let mut batch = sled::Batch::default();
    let mut in_batch = 0usize;
    let mut current: Option<(u64, [u8; 32])> = None;
    let mut pages = 0u64;
    let mut put = |batch: &mut sled::Batch, page: u64, bits: &[u8; 32]| {
        batch.insert(keys::customer_id_page(page), codec::encode_id_page(bits));
        pages += 1;
    };
    for k in tree.scan_prefix(Space::Customers.prefix()).keys() {
        let k = k.map_err(|e| e.to_string())?;
        let Some(keys::Key::Customer(id)) = keys::Key::parse(&k) else {
            return Err(format!("malformed customer key {}", keys::describe(&k)));
        };
        let (page, slot) = keys::score_slot(id);
        match &mut current {
            Some((p, bits)) if *p == page => bits[usize::from(slot / 8)] |= 1 << (slot % 8),
            _ => {
                if let Some((p, bits)) = current.take() {
                    put(&mut batch, p, &bits);
                    in_batch += 1;
                    if in_batch >= 1_000 {
                        tree.apply_batch(std::mem::take(&mut batch))
                            .map_err(|e| e.to_string())?;
                        in_batch = 0;
                    }
                }
                let mut bits = [0u8; 32];
                bits[usize::from(slot / 8)] |= 1 << (slot % 8);
                current = Some((page, bits));
            }
        }
    }
    if let Some((p, bits)) = current {
        put(&mut batch, p, &bits);
    }
    tree.apply_batch(batch).map_err(|e| e.to_string())?;
    tracing::info!(pages, "wrote the pages of customer ids");
    Ok(())
}

/// 1 -> 2: moves every customer's scores from its own key into its page of scores, a page at
/// a time (the legacy keys of a page are removed in the batch that writes the page, so a
/// rerun after a crash finds only what is left). History digests start absent: the next
/// scoring run makes them.
fn scores_into_pages(tree: &sled::Tree) -> Result<(), String> {
    use rapport_core::Scores;
    let mut moved = 0u64;
    loop {
        // The first legacy page still to move: every legacy key of that page.
        let mut page: Option<u64> = None;
        let mut legacy: Vec<(sled::IVec, u8, Scores)> = Vec::new();
        for kv in tree.scan_prefix(keys::LEGACY_SCORES_PREFIX) {
            let (k, v) = kv.map_err(|e| e.to_string())?;
            let id: [u8; 8] = k
                .get(2..)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("malformed legacy scores key {}", keys::describe(&k)))?;
            let (p, slot) = keys::score_slot(rapport_core::CustomerId(u64::from_be_bytes(id)));
            if page.is_some_and(|q| q != p) {
                break;
            }
            page = Some(p);
            let s: Scores = codec::decode(&v).map_err(|e| {
                format!("legacy scores of customer {}: {e}", u64::from_be_bytes(id))
            })?;
            legacy.push((k, slot, s));
        }
        let Some(page) = page else { break };
        let key = keys::score_page(page);
        let mut entries = match tree.get(&key).map_err(|e| e.to_string())? {
            Some(raw) => codec::decode_score_page(&raw)?,
            None => Vec::new(),
        };
        let mut batch = sled::Batch::default();
        for (k, slot, s) in legacy {
            entries.retain(|(e, _)| *e != slot);
            entries.push((slot, s));
            batch.remove(k);
            moved += 1;
        }
        entries.sort_by_key(|(slot, _)| *slot);
        batch.insert(key, codec::encode_score_page(&entries)?);
        tree.apply_batch(batch).map_err(|e| e.to_string())?;
    }
    tracing::info!(moved, "moved scores into pages");
    Ok(())
}

/// Reads the stored version, creates it in an empty database, refuses newer databases and
/// migrates older ones step by step (flushing after each step).
pub(crate) fn check(store: &crate::Store, path: &Path) -> Result<u32, Error> {
    let tree = store.raw_tree();
    let key = keys::meta(VERSION_KEY);
    let found = match tree.get(&key)? {
        Some(raw) => codec::decode::<u32>(&raw).map_err(|reason| Error::Decode {
            tree: Space::Meta.name(),
            key: VERSION_KEY.into(),
            reason,
        })?,
        None if tree.is_empty() => {
            tree.insert(&key, encode_version(SCHEMA_VERSION)?)?;
            tree.flush()?;
            return Ok(SCHEMA_VERSION);
        }
        // Data without a version: older than the first versioned layout.
        None => 0,
    };
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let mut version = found;
    while version < SCHEMA_VERSION {
        let step = MIGRATIONS
            .iter()
            .find(|m| m.from == version)
            .ok_or_else(|| Error::Migration {
                from: version,
                reason: format!("this build has no migration from schema version {version}"),
            })?;
        (step.run)(store).map_err(|reason| Error::Migration {
            from: version,
            reason,
        })?;
        version += 1;
        tree.insert(&key, encode_version(version)?)?;
        tree.flush()?;
        tracing::info!(version, "migrated the database schema");
    }
    Ok(version)
}

pub(crate) fn encode_version(v: u32) -> Result<Vec<u8>, Error> {
    codec::encode(&v).map_err(|reason| Error::Encode {
        tree: Space::Meta.name(),
        reason,
    })
}
