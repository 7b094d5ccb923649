//! The store's typed error.

use std::path::PathBuf;

use rapport_core::CompensationGrant;

/// Everything that can go wrong in the store.
///
/// The variants are part of the store contract: a second engine maps its own failures onto
/// them, so callers can branch on `Locked`, `Conflict` and `SchemaTooNew` without knowing
/// which engine is underneath.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process has the database open (only one process may open it).
    #[error(
        "another process holds the database at {}: start `rapport serve --db {}` and connect \
         consoles and commands to it with --connect",
        path.display(),
        path.display()
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// A stored value could not be decoded.
    #[error("cannot decode the value stored in {tree} at key {key}: {reason}")]
    Decode {
        /// The keyspace (tree) the value lives in, e.g. `customers`.
        tree: &'static str,
        /// The key, printed (e.g. `C00000042`).
        key: String,
        /// Why decoding failed.
        reason: String,
    },
    /// A value could not be encoded for storage.
    #[error("cannot encode a value for {tree}: {reason}")]
    Encode {
        /// The keyspace the value was meant for.
        tree: &'static str,
        /// Why encoding failed.
        reason: String,
    },
    /// `Batch::insert_grant` found an existing grant for the same (customer, disruption);
    /// nothing in the batch was written.
    #[error(
        "compensation for disruption {} was already granted to {} by {} at {} on {}",
        .0.disruption, .0.customer, .0.granted_by, .0.touchpoint, .0.at
    )]
    Conflict(Box<CompensationGrant>),
    /// A document a batch expected (`Batch::expect_doc`) had changed: someone else wrote it
    /// first; nothing in the batch was written. Read it again and decide anew.
    #[error(
        "the document {collection}/{key} was changed by another writer meanwhile; nothing was written"
    )]
    Changed {
        /// The collection.
        collection: String,
        /// The document key.
        key: String,
    },
    /// The database was written by a newer version of Rapport.
    #[error(
        "the database at {} has schema version {found}, newer than this build supports \
         ({supported}): upgrade rapport",
        path.display()
    )]
    SchemaTooNew {
        /// The database directory.
        path: PathBuf,
        /// The version stored in the database.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// A schema migration failed.
    #[error("migrating the database from schema version {from}: {reason}")]
    Migration {
        /// The version migrated from.
        from: u32,
        /// What went wrong.
        reason: String,
    },
    /// `import_jsonl` needs an empty store.
    #[error("import needs an empty database, but this one already holds data ({what})")]
    NotEmpty {
        /// What was found, e.g. `12 customers`.
        what: String,
    },
    /// A line of an import file is not valid.
    #[error("import line {line}: {reason}")]
    Import {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file or stream (export/import) failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The storage engine failed (disk full, corruption, ...).
    #[error("storage engine error: {0}")]
    Engine(String),

    /// The key store or the vocabulary file of the database directory failed (see
    /// `docs/security.md`: without its key store a database's personal data cannot be read).
    #[error("key store: {0}")]
    Keys(String),

    /// An index segment file of the database directory is missing, damaged or unwritable.
    #[error("index segment {}: {reason}", path.display())]
    Segment {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Error {
        match e {
            sled::Error::Io(io) => Error::Io(io),
            other => Error::Engine(other.to_string()),
        }
    }
}
