//! rapport-repository: the communal repository. Source mappings, ingest, cleansing with a
//! quarantine, identity resolution with merge and unmerge, and the unified customer record.
//! (Being built: see issue 4.)

pub mod cleanse;
pub mod error;
pub mod extract;
pub mod fragment;
pub mod identity;
pub mod ingest;
pub mod mapping;
pub mod merge;
pub mod quality;
pub mod quarantine;
pub mod read;
pub mod record;
pub mod survivorship;

pub use error::Error;
pub use fragment::{Address, Fragment, ResolvedFragment};
pub use ingest::{IngestOptions, IngestReport, ingest_files, ingest_manifest};
pub use record::{InteractionFilter, Repository};
