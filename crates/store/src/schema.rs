//! The schema version stored in the database, checked at open, and the migration hook.

use std::path::Path;

use crate::keys::{self, Space};
use crate::{Error, codec};

/// The schema version this build writes. Bump it when a key layout or a stored type changes
/// incompatibly, and add a step to [`MIGRATIONS`] that brings version `n - 1` to `n`.
pub const SCHEMA_VERSION: u32 = 1;

pub(crate) const VERSION_KEY: &str = "schema_version";

/// One migration step: from version `from` to `from + 1`, run on the raw tree before the
/// store is handed out. A step must be idempotent (a crash mid-migration reruns it) and may
/// not use the change feed.
pub(crate) struct Migration {
    pub(crate) from: u32,
    pub(crate) run: fn(&sled::Tree) -> Result<(), String>,
}

/// The migrations, oldest first. Version 1 is the first released layout, so none yet.
pub(crate) const MIGRATIONS: &[Migration] = &[];

/// Reads the stored version, creates it in an empty database, refuses newer databases and
/// migrates older ones step by step (flushing after each step).
pub(crate) fn check(tree: &sled::Tree, path: &Path) -> Result<u32, Error> {
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
        (step.run)(tree).map_err(|reason| Error::Migration {
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
