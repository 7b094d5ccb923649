//! rapport-repository: the communal repository (stage 1 of customer focus). Source mappings,
//! ingest with cleansing and a quarantine, identity resolution with merge and unmerge,
//! survivorship of the golden record, the unified customer record, search and the
//! data-quality report.
//!
//! Who may depend on it: the `rapport` binary, the service and programs that embed the pool.
//! It works on a [`rapport_store::Store`] and never touches sled or a terminal itself.
//!
//! - [`mapping`]: TOML source mappings and manifests (format reference: `docs/mappings.md`).
//! - [`read`], [`cleanse`], [`extract`]: rows, normalisers, what a row says.
//! - [`ingest`]: idempotent, incremental ingest; [`quarantine`] keeps what cannot be read.
//! - [`identity`], [`merge`]: who is who, with evidence; review, merge, unmerge.
//! - [`rates`]: exchange rates by day (ECB layout), stored for the scoring run.
//! - [`survivorship`]: the golden profile; [`record`]: [`Repository::customer_record`] and
//!   [`Repository::search`]; [`quality`]: the data-quality report and identities export.
//!
//! ```no_run
//! use rapport_repository::{IngestOptions, InteractionFilter, Repository, ingest_manifest};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = rapport_store::Store::open("db".as_ref())?;
//! let report = ingest_manifest(&store, "fixtures/demo/ingest.toml".as_ref(), &IngestOptions::default())?;
//! assert_eq!(report.rows_read, report.rows_stored + report.rows_quarantined + report.rows_known);
//! let repo = Repository::new(store);
//! if let Some(hit) = repo.search("Margaret Okafor", 5)?.first() {
//!     let record = repo.customer_record(hit.id, &InteractionFilter::default())?;
//!     println!("{:?}", record.map(|r| r.cues));
//! }
//! # Ok(())
//! # }
//! ```

pub mod cleanse;
pub mod disruption;
pub mod erase;
pub mod error;
pub mod extract;
pub mod fragment;
pub mod identity;
pub mod ingest;
pub mod learning;
pub mod mapping;
pub mod merge;
pub mod offer;
pub mod portfolio;
pub mod quality;
pub mod quarantine;
pub mod rates;
pub mod read;
pub mod record;
pub mod survivorship;

pub use error::Error;
pub use fragment::{Address, Fragment, ResolvedFragment};
pub use ingest::{IngestOptions, IngestReport, ingest_files, ingest_manifest};
pub use record::{InteractionFilter, Repository};
