//! The steward's and the analyst's work through the one door: ingest, the quarantine, the
//! merge-review queue, merges, data quality, store statistics, exchange rates, value
//! explanations (stage 1), and scoring with its results (stage 2).
//!
//! Each request is one [`DataRequest`] answered by one [`DataReply`]; [`Operations`] writes
//! each once on the client side over any [`crate::Transport`], and [`crate::Engine`] answers
//! them where the store is owned. Files (ingest, retry, rates) are read by the side that owns
//! the store, by absolute path on its machine: see `docs/ARCHITECTURE.md` ("The one door").

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use rapport_analytics::{ListName, SegmentValue, SkewSummary, TierSummary, ValueDefinition};
use rapport_core::{CustomerId, Interaction, Tier, Timestamp};
use rapport_governance::Action;
use rapport_repository::ingest::{IngestOptions, IngestReport, ReviewItem};
use rapport_repository::merge::{self, Explanation, KeepApart, MergeRecord, Unmerged};
use rapport_repository::quality::QualityReport;
use rapport_repository::quarantine::{self, QuarantineEntry};
use rapport_scoring::{ScoreOptions, ScoreReport};
use serde::{Deserialize, Serialize};

use crate::api::{ServiceError, ServiceResult};
use crate::engine::{Caller, Engine, repo_err, store_err};
use crate::protocol::{Reply, Request};
use crate::typed::Transport;
use crate::unexpected;

/// Most items in one page of the quarantine or the review queue.
pub const MAX_PAGE_ITEMS: usize = 500;
/// Most bytes of a quarantined row in a page of the list (`quarantine show` has the whole
/// kept row).
pub const LIST_ROW_BYTES: usize = 1_000;

/// An ingest, of a manifest or of files through one mapping, read where the store is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRequest {
    /// A manifest (one path), or with `mapping` the data files: absolute paths on the
    /// machine that holds the database.
    pub paths: Vec<String>,
    /// The one mapping the files go through, instead of a manifest.
    pub mapping: Option<String>,
    /// Whole days added to every time in the data (not birth dates).
    pub time_shift_days: i64,
    /// Merge existing customers that a record ties together.
    pub merge_ties: bool,
    /// Draw a progress bar (embedded only: a server draws nothing).
    pub progress: bool,
}

/// A scoring run's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRequest {
    /// Rescore only customers whose history changed since the last run.
    pub incremental: bool,
    /// Score as of this instant (default: the service's now).
    pub as_of: Option<Timestamp>,
    /// A value definition to store as the one in force before scoring.
    pub value_definition: Option<ValueDefinition>,
    /// Worker threads (at least 1, at most the machine's cores).
    pub threads: usize,
}

/// A quarantined row as the steward sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineItem {
    /// Stable id (`Q` and 16 hex digits).
    pub id: String,
    /// The source name.
    pub source: String,
    /// The mapping file used.
    pub mapping: String,
    /// The data file.
    pub file: String,
    /// 1-based line where the row starts.
    pub line: u64,
    /// The column or part concerned.
    pub field: String,
    /// Why (`ambiguous_date`, ...).
    pub reason: String,
    /// Details (data: sanitise before display).
    pub detail: String,
    /// When it was quarantined.
    pub at: Timestamp,
    /// The row's bytes kept (in a list, at most [`LIST_ROW_BYTES`]).
    pub raw: Vec<u8>,
    /// The row's full length in bytes.
    pub row_bytes: u64,
    /// The SHA-256 (hex) of the whole row, when only its start is kept.
    pub row_sha256: Option<String>,
    /// Whether the whole row is kept.
    pub whole: bool,
}

impl QuarantineItem {
    fn of(e: &QuarantineEntry, cap: Option<usize>) -> QuarantineItem {
        let mut raw = e.raw.clone();
        if let Some(cap) = cap {
            raw.truncate(cap);
        }
        QuarantineItem {
            id: e.id.clone(),
            source: e.source.clone(),
            mapping: e.mapping.clone(),
            file: e.file.clone(),
            line: e.line,
            field: e.field.clone(),
            reason: e.reason.as_str().to_string(),
            detail: e.detail.clone(),
            at: e.at,
            raw,
            row_bytes: e.row_len(),
            row_sha256: e.raw_sha256.clone(),
            whole: e.is_whole(),
        }
    }

    /// The kept bytes as text (invalid UTF-8 replaced).
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// One page of a long list; `next` is where the following page starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// The key to ask for next (`after`), when there are more.
    pub next: Option<String>,
    /// Entries that could not be read (each named, with what to do).
    pub problems: Vec<String>,
}

/// An open review item with its id (the new record, `source:key`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The id `review accept` and `review reject` take.
    pub id: String,
    /// The item.
    pub item: ReviewItem,
}

/// What a review decision did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    /// Accepted: the merge made.
    Merged(Box<MergeRecord>),
    /// Rejected: the record pairs kept apart from now on.
    KeptApart(Vec<KeepApart>),
}

/// What loading a rates file did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatesLoaded {
    /// The source named.
    pub source: String,
    /// The reporting currency.
    pub reporting: String,
    /// Published days in the file.
    pub days: u64,
    /// Currencies in the file.
    pub currencies: Vec<String>,
    /// First and last published day in the file (`YYYY-MM-DD`).
    pub first: Option<String>,
    /// Last published day.
    pub last: Option<String>,
}

/// The exchange rates stored, in summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatesView {
    /// The reporting currency.
    pub reporting: String,
    /// Where the rates come from.
    pub source: String,
    /// Per currency: code, first and last day, published days, last rate.
    pub currencies: Vec<RateLine>,
}

/// One currency's stored rates in summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLine {
    /// The currency code.
    pub currency: String,
    /// First published day (`YYYY-MM-DD`).
    pub first: String,
    /// Last published day.
    pub last: String,
    /// Published days.
    pub days: u64,
    /// The last rate, in units per reporting-currency unit.
    pub last_rate: f64,
}

/// One amount of a customer, with how it counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainedAmount {
    /// The day (`YYYY-MM-DD`).
    pub day: String,
    /// The source record (`source:key`).
    pub source: Option<String>,
    /// The interaction's kind.
    pub kind: String,
    /// The product, when named.
    pub product: Option<String>,
    /// The booking, when named.
    pub booking: Option<String>,
    /// The amount's role (revenue, cost...).
    pub role: String,
    /// The amount in its own currency.
    pub amount: String,
    /// In the reporting currency, when converted.
    pub reporting: Option<f64>,
    /// Whether it counts for this customer's value.
    pub counted: bool,
    /// Why (not) counted.
    pub why: String,
    /// The record of the same event that carries the money, when found.
    pub counted_on: Option<String>,
}

/// How a customer's amounts count (`rapport value explain`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueExplanation {
    /// The customer.
    pub customer: CustomerId,
    /// Its display name.
    pub name: String,
    /// The reporting currency.
    pub reporting: String,
    /// Where the rates come from.
    pub rates_source: String,
    /// Every amount, oldest first.
    pub amounts: Vec<ExplainedAmount>,
}

/// Tiers of the latest full run, with lifetime value by segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TiersView {
    /// The tiers.
    pub tiers: TierSummary,
    /// Lifetime value by segment.
    pub segments: Option<Vec<SegmentValue>>,
}

/// The skew of value and of profit of the latest full run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkewView {
    /// Of value.
    pub value: SkewSummary,
    /// Of profit.
    pub profit: Option<SkewSummary>,
}

/// A working list as the analyst reads it: its header and its first entries with names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListView {
    /// The list's name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// When it was produced.
    pub at: Timestamp,
    /// Customers on the whole list.
    pub total: u64,
    /// The first entries, best first.
    pub entries: Vec<ListLine>,
}

/// One entry of a [`ListView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListLine {
    /// The customer.
    pub customer: CustomerId,
    /// Its name now (`None`: no longer in the store).
    pub name: Option<String>,
    /// Its tier at the run.
    pub tier: Tier,
    /// What the list ranks by.
    pub rank_value: f64,
    /// Why the customer is on the list.
    pub reason: String,
}

/// A working list's size (`None`: not produced yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSize {
    /// The list's name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Customers on it.
    pub total: Option<u64>,
}

/// The steward's and analyst's requests (one [`Action`] each; see [`DataRequest::action`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataRequest {
    /// [`Operations::ingest`].
    Ingest(IngestRequest),
    /// [`Operations::quarantine`].
    Quarantine {
        /// Only rows of this source.
        source: Option<String>,
        /// Only rows with this reason.
        reason: Option<String>,
        /// Start after this id.
        after: Option<String>,
        /// Most items (at most [`MAX_PAGE_ITEMS`]).
        limit: usize,
    },
    /// [`Operations::quarantined`].
    QuarantineShow {
        /// The entry id.
        id: String,
    },
    /// [`Operations::retry_quarantine`].
    QuarantineRetry {
        /// The (fixed) mapping, an absolute path where the store is.
        mapping: String,
    },
    /// [`Operations::remove_quarantined`].
    QuarantineRemove {
        /// Entry ids.
        ids: Vec<String>,
    },
    /// [`Operations::reviews`].
    Reviews {
        /// Start after this id.
        after: Option<String>,
        /// Most items (at most [`MAX_PAGE_ITEMS`]).
        limit: usize,
    },
    /// [`Operations::decide_review`].
    DecideReview {
        /// The review item's id.
        id: String,
        /// Accept (merge) or reject (keep apart).
        accept: bool,
    },
    /// [`Operations::explain_merge`].
    ExplainMerge {
        /// A merge id, a customer id or a source record.
        id: String,
    },
    /// [`Operations::unmerge`].
    Unmerge {
        /// A merge id, a customer id or a source record.
        id: String,
    },
    /// [`Operations::quality`].
    Quality,
    /// [`Operations::stats`].
    Stats,
    /// [`Operations::export_identities`].
    ExportIdentities {
        /// The file to write, an absolute path where the store is (replaced when complete).
        path: String,
        /// CSV (`source,source_key,customer_id`) instead of JSON Lines.
        csv: bool,
    },
    /// [`Operations::load_rates`].
    LoadRates {
        /// The rates file, an absolute path where the store is.
        path: String,
        /// Where the rates come from (default: the file's name).
        source: Option<String>,
        /// The currency they are quoted against.
        reporting: String,
    },
    /// [`Operations::rates`].
    Rates,
    /// [`Operations::explain_value`].
    ExplainValue {
        /// The customer.
        customer: CustomerId,
    },
    /// [`Operations::score`].
    Score(ScoreRequest),
    /// [`Operations::tiers`].
    Tiers,
    /// [`Operations::skew`].
    Skew,
    /// [`Operations::working_list`].
    WorkingList {
        /// The list's name.
        name: String,
        /// Most entries.
        limit: usize,
    },
    /// [`Operations::working_lists`].
    WorkingLists,
    /// [`Operations::erase_customer`].
    Erase {
        /// The customer.
        customer: CustomerId,
        /// Why (a request reference, never personal data): kept in the erasures register.
        reason: String,
    },
}

impl DataRequest {
    /// The permission-matrix action this request needs.
    pub fn action(&self) -> Action {
        match self {
            DataRequest::Ingest(_) => Action::Ingest,
            DataRequest::Quarantine { .. } | DataRequest::QuarantineShow { .. } => {
                Action::ReadQuarantine
            }
            DataRequest::QuarantineRetry { .. } | DataRequest::QuarantineRemove { .. } => {
                Action::WorkQuarantine
            }
            DataRequest::Reviews { .. } => Action::ReadReviews,
            DataRequest::DecideReview { .. } => Action::DecideReview,
            DataRequest::ExplainMerge { .. } => Action::ExplainMerge,
            DataRequest::Unmerge { .. } => Action::Unmerge,
            DataRequest::Quality => Action::ReadQuality,
            DataRequest::Stats => Action::ReadStats,
            DataRequest::ExportIdentities { .. } => Action::ExportIdentities,
            DataRequest::LoadRates { .. } => Action::LoadRates,
            DataRequest::Rates => Action::ReadRates,
            DataRequest::ExplainValue { .. } => Action::ExplainValue,
            DataRequest::Score(_) => Action::Score,
            DataRequest::Tiers | DataRequest::Skew => Action::ReadValueReport,
            DataRequest::WorkingList { .. } | DataRequest::WorkingLists => Action::ReadList,
            DataRequest::Erase { .. } => Action::EraseCustomer,
        }
    }

    /// Whether the request may run for long (an ingest, a run): the long time-out applies.
    pub fn is_long(&self) -> bool {
        matches!(
            self,
            DataRequest::Ingest(_)
                | DataRequest::QuarantineRetry { .. }
                | DataRequest::Score(_)
                | DataRequest::LoadRates { .. }
                | DataRequest::ExportIdentities { .. }
                | DataRequest::DecideReview { .. }
                | DataRequest::Unmerge { .. }
        )
    }
}

/// The replies to [`DataRequest`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataReply {
    /// What an ingest did.
    Ingested(Box<IngestReport>),
    /// A page of the quarantine.
    Quarantine(Page<QuarantineItem>),
    /// One quarantined row.
    Quarantined(Box<QuarantineItem>),
    /// A retry: what the ingest did and the entries that left the quarantine.
    Retried(Box<IngestReport>, Vec<String>),
    /// How many entries were removed.
    Removed(u64),
    /// A page of the review queue.
    Reviews(Page<Review>),
    /// A review decision.
    Decided(Box<Decision>),
    /// A merge explanation.
    Explanation(Box<Explanation>),
    /// An unmerge.
    Unmerged(Box<Unmerged>),
    /// The data-quality report.
    Quality(Box<QualityReport>),
    /// Store statistics.
    Stats(Box<rapport_store::Stats>),
    /// Source records written by an identities export.
    Exported(u64),
    /// A rates load.
    RatesLoaded(Box<RatesLoaded>),
    /// The rates stored, if any.
    Rates(Option<Box<RatesView>>),
    /// A value explanation.
    Value(Box<ValueExplanation>),
    /// A scoring run's report.
    Scored(Box<ScoreReport>),
    /// Tiers.
    Tiers(Box<TiersView>),
    /// Skew.
    Skew(Box<SkewView>),
    /// A working list.
    List(Box<ListView>),
    /// Every working list's size.
    Lists(Vec<ListSize>),
    /// An erasure.
    Erased(Box<rapport_repository::erase::ErasureReport>),
}

/// The steward's and analyst's operations, embedded or remote, each written once over the
/// transport. Every [`crate::Service`] has them.
pub trait Operations: Transport {
    /// Ingests a manifest, or files through one mapping (paths absolute, where the store is).
    fn ingest(&self, r: IngestRequest) -> impl Future<Output = ServiceResult<IngestReport>> + Send {
        async move {
            match data(self, DataRequest::Ingest(r)).await? {
                DataReply::Ingested(r) => Ok(*r),
                other => Err(odd(other)),
            }
        }
    }

    /// A page of the quarantine, optionally of one source or reason.
    fn quarantine(
        &self,
        source: Option<String>,
        reason: Option<String>,
        after: Option<String>,
        limit: usize,
    ) -> impl Future<Output = ServiceResult<Page<QuarantineItem>>> + Send {
        async move {
            let req = DataRequest::Quarantine {
                source,
                reason,
                after,
                limit,
            };
            match data(self, req).await? {
                DataReply::Quarantine(p) => Ok(p),
                other => Err(odd(other)),
            }
        }
    }

    /// One quarantined row with every byte kept.
    fn quarantined(&self, id: &str) -> impl Future<Output = ServiceResult<QuarantineItem>> + Send {
        let id = id.to_string();
        async move {
            match data(self, DataRequest::QuarantineShow { id }).await? {
                DataReply::Quarantined(q) => Ok(*q),
                other => Err(odd(other)),
            }
        }
    }

    /// Ingests a source's quarantined rows again with its (fixed) mapping; returns the report
    /// and the ids that left the quarantine.
    fn retry_quarantine(
        &self,
        mapping: &str,
    ) -> impl Future<Output = ServiceResult<(IngestReport, Vec<String>)>> + Send {
        let mapping = mapping.to_string();
        async move {
            match data(self, DataRequest::QuarantineRetry { mapping }).await? {
                DataReply::Retried(r, cleared) => Ok((*r, cleared)),
                other => Err(odd(other)),
            }
        }
    }

    /// Removes quarantined rows for good (every id must exist, else nothing is removed).
    fn remove_quarantined(
        &self,
        ids: Vec<String>,
    ) -> impl Future<Output = ServiceResult<u64>> + Send {
        async move {
            match data(self, DataRequest::QuarantineRemove { ids }).await? {
                DataReply::Removed(n) => Ok(n),
                other => Err(odd(other)),
            }
        }
    }

    /// A page of the open review items.
    fn reviews(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> impl Future<Output = ServiceResult<Page<Review>>> + Send {
        async move {
            match data(self, DataRequest::Reviews { after, limit }).await? {
                DataReply::Reviews(p) => Ok(p),
                other => Err(odd(other)),
            }
        }
    }

    /// Accepts (merges) or rejects (keeps apart) a review item.
    fn decide_review(
        &self,
        id: &str,
        accept: bool,
    ) -> impl Future<Output = ServiceResult<Decision>> + Send {
        let id = id.to_string();
        async move {
            match data(self, DataRequest::DecideReview { id, accept }).await? {
                DataReply::Decided(d) => Ok(*d),
                other => Err(odd(other)),
            }
        }
    }

    /// Explains the merges of a merge id, a customer or a source record.
    fn explain_merge(&self, id: &str) -> impl Future<Output = ServiceResult<Explanation>> + Send {
        let id = id.to_string();
        async move {
            match data(self, DataRequest::ExplainMerge { id }).await? {
                DataReply::Explanation(e) => Ok(*e),
                other => Err(odd(other)),
            }
        }
    }

    /// Undoes a merge (a merge id, a customer's latest merge, or a source record's attach).
    fn unmerge(&self, id: &str) -> impl Future<Output = ServiceResult<Unmerged>> + Send {
        let id = id.to_string();
        async move {
            match data(self, DataRequest::Unmerge { id }).await? {
                DataReply::Unmerged(u) => Ok(*u),
                other => Err(odd(other)),
            }
        }
    }

    /// The data-quality report.
    fn quality(&self) -> impl Future<Output = ServiceResult<QualityReport>> + Send {
        async move {
            match data(self, DataRequest::Quality).await? {
                DataReply::Quality(q) => Ok(*q),
                other => Err(odd(other)),
            }
        }
    }

    /// Counts per keyspace and collection, and the size on disk.
    fn stats(&self) -> impl Future<Output = ServiceResult<rapport_store::Stats>> + Send {
        async move {
            match data(self, DataRequest::Stats).await? {
                DataReply::Stats(s) => Ok(*s),
                other => Err(odd(other)),
            }
        }
    }

    /// Writes every source record with its customer (`source,source_key,customer_id`) to a
    /// file where the store is (absolute path; CSV or JSON Lines), replaced only when
    /// complete; the number of source records written.
    fn export_identities(
        &self,
        path: &str,
        csv: bool,
    ) -> impl Future<Output = ServiceResult<u64>> + Send {
        let request = DataRequest::ExportIdentities {
            path: path.to_string(),
            csv,
        };
        async move {
            match data(self, request).await? {
                DataReply::Exported(n) => Ok(n),
                other => Err(odd(other)),
            }
        }
    }

    /// Loads exchange rates from a file (absolute path, where the store is).
    fn load_rates(
        &self,
        path: &str,
        source: Option<String>,
        reporting: &str,
    ) -> impl Future<Output = ServiceResult<RatesLoaded>> + Send {
        let (path, reporting) = (path.to_string(), reporting.to_string());
        async move {
            let req = DataRequest::LoadRates {
                path,
                source,
                reporting,
            };
            match data(self, req).await? {
                DataReply::RatesLoaded(r) => Ok(*r),
                other => Err(odd(other)),
            }
        }
    }

    /// The exchange rates stored, in summary.
    fn rates(&self) -> impl Future<Output = ServiceResult<Option<RatesView>>> + Send {
        async move {
            match data(self, DataRequest::Rates).await? {
                DataReply::Rates(r) => Ok(r.map(|r| *r)),
                other => Err(odd(other)),
            }
        }
    }

    /// How each of a customer's amounts counts.
    fn explain_value(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = ServiceResult<ValueExplanation>> + Send {
        async move {
            match data(self, DataRequest::ExplainValue { customer }).await? {
                DataReply::Value(v) => Ok(*v),
                other => Err(odd(other)),
            }
        }
    }

    /// Runs scoring where the store is; consoles watching a customer get `ScoresUpdated`.
    fn score(&self, r: ScoreRequest) -> impl Future<Output = ServiceResult<ScoreReport>> + Send {
        async move {
            match data(self, DataRequest::Score(r)).await? {
                DataReply::Scored(r) => Ok(*r),
                other => Err(odd(other)),
            }
        }
    }

    /// Tiers of the latest full run.
    fn tiers(&self) -> impl Future<Output = ServiceResult<TiersView>> + Send {
        async move {
            match data(self, DataRequest::Tiers).await? {
                DataReply::Tiers(t) => Ok(*t),
                other => Err(odd(other)),
            }
        }
    }

    /// Skew of the latest full run.
    fn skew(&self) -> impl Future<Output = ServiceResult<SkewView>> + Send {
        async move {
            match data(self, DataRequest::Skew).await? {
                DataReply::Skew(s) => Ok(*s),
                other => Err(odd(other)),
            }
        }
    }

    /// A working list with its header and first `limit` entries.
    fn working_list(
        &self,
        name: &str,
        limit: usize,
    ) -> impl Future<Output = ServiceResult<ListView>> + Send {
        let name = name.to_string();
        async move {
            match data(self, DataRequest::WorkingList { name, limit }).await? {
                DataReply::List(l) => Ok(*l),
                other => Err(odd(other)),
            }
        }
    }

    /// Every working list with its size.
    fn working_lists(&self) -> impl Future<Output = ServiceResult<Vec<ListSize>>> + Send {
        async move {
            match data(self, DataRequest::WorkingLists).await? {
                DataReply::Lists(l) => Ok(l),
                other => Err(odd(other)),
            }
        }
    }

    /// Erases the customer's personal data (and that of every customer merged into it),
    /// keeping the facts under a pseudonym; `reason` goes to the erasures register.
    fn erase_customer(
        &self,
        customer: CustomerId,
        reason: &str,
    ) -> impl Future<Output = ServiceResult<rapport_repository::erase::ErasureReport>> + Send {
        let reason = reason.to_string();
        async move {
            match data(self, DataRequest::Erase { customer, reason }).await? {
                DataReply::Erased(r) => Ok(*r),
                other => Err(odd(other)),
            }
        }
    }
}

impl<T: Transport> Operations for T {}

async fn data<T: Transport + ?Sized>(t: &T, req: DataRequest) -> ServiceResult<DataReply> {
    match t.send(Request::Data(req)).await? {
        Reply::Data(d) => Ok(d),
        other => Err(unexpected(&other)),
    }
}

fn odd(reply: DataReply) -> ServiceError {
    ServiceError::Internal(format!("unexpected reply {reply:?}"))
}

// ---------------------------------------------------------------------------------------------
// The engine's side.

fn scoring_err(e: rapport_scoring::Error) -> ServiceError {
    match e {
        rapport_scoring::Error::Store(s) => store_err(s),
        rapport_scoring::Error::Repository(r) => repo_err(r),
        rapport_scoring::Error::NoCustomers
        | rapport_scoring::Error::MissingRate(_)
        | rapport_scoring::Error::Invalid(_)
        | rapport_scoring::Error::Fit(_) => ServiceError::Invalid(sanitized(&e.to_string())),
        other => ServiceError::Internal(other.to_string()),
    }
}

fn sanitized(s: &str) -> String {
    rapport_core::text::sanitize(s).into_owned()
}

/// A repository error that the user can fix (a file, a mapping, an id): `Invalid`, naming
/// what is wrong; a store failure stays what it is.
pub(crate) fn user_err(e: rapport_repository::Error) -> ServiceError {
    match e {
        rapport_repository::Error::Store(s) => store_err(s),
        other => ServiceError::Invalid(sanitized(&other.to_string())),
    }
}

/// A path a client names for the store's side to read: absolute, without NUL.
pub(crate) fn server_path(what: &str, path: &str) -> ServiceResult<PathBuf> {
    if path.len() > crate::backup::MAX_PATH || path.contains('\0') {
        return Err(ServiceError::Invalid(format!(
            "the {what} path must be at most {} bytes, without NUL",
            crate::backup::MAX_PATH
        )));
    }
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(ServiceError::Invalid(format!(
            "the {what} path {} must be absolute: it is read where the database is",
            sanitized(path)
        )));
    }
    Ok(p.to_path_buf())
}

/// Writes the identities to a file beside `target`, synced, then renamed over it: a reader
/// never sees half an export.
fn write_identities_file(
    store: &rapport_store::Store,
    target: &Path,
    csv: bool,
) -> ServiceResult<u64> {
    let cannot = |e: std::io::Error| {
        ServiceError::Invalid(format!(
            "cannot write the identities to {}: {e}",
            sanitized(&target.display().to_string())
        ))
    };
    let mut partial = target.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial).map_err(cannot)?;
    let mut w = std::io::BufWriter::new(file);
    let written = rapport_repository::quality::write_identities(store, &mut w, csv)
        .map_err(repo_err)
        .and_then(|n| {
            let file = w.into_inner().map_err(|e| cannot(e.into_error()))?;
            file.sync_all().map_err(cannot)?;
            Ok(n)
        });
    match written {
        Ok(n) => {
            std::fs::rename(&partial, target).map_err(cannot)?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn page<T>(
    all: impl Iterator<Item = (String, T)>,
    after: Option<&str>,
    limit: usize,
) -> (Vec<T>, Option<String>) {
    let limit = limit.clamp(1, MAX_PAGE_ITEMS);
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    for (key, item) in all.filter(|(k, _)| after.is_none_or(|a| k.as_str() > a)) {
        if items.len() == limit {
            more = true;
            break;
        }
        last = Some(key);
        items.push(item);
    }
    (items, if more { last } else { None })
}

impl Engine {
    /// Answers a [`DataRequest`] for `caller` (authorised and checked by the caller).
    pub(crate) fn handle_data(
        &self,
        caller: &Caller,
        req: DataRequest,
    ) -> ServiceResult<DataReply> {
        let store = self.store();
        match req {
            DataRequest::Ingest(r) => self
                .ingest(caller, &r)
                .map(|r| DataReply::Ingested(Box::new(r))),
            DataRequest::Quarantine {
                source,
                reason,
                after,
                limit,
            } => {
                let (entries, unreadable) = quarantine::list_readable(store);
                let mut sorted: Vec<(String, QuarantineItem)> = entries
                    .iter()
                    .filter(|e| source.as_deref().is_none_or(|s| s == e.source))
                    .filter(|e| reason.as_deref().is_none_or(|r| r == e.reason.as_str()))
                    .map(|e| (e.id.clone(), QuarantineItem::of(e, Some(LIST_ROW_BYTES))))
                    .collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                let (items, next) = page(sorted.into_iter(), after.as_deref(), limit);
                Ok(DataReply::Quarantine(Page {
                    items,
                    next,
                    problems: if after.is_none() {
                        unreadable
                            .iter()
                            .map(|e| sanitized(&e.to_string()))
                            .collect()
                    } else {
                        Vec::new()
                    },
                }))
            }
            DataRequest::QuarantineShow { id } => match quarantine::get(store, &id) {
                Ok(Some(e)) => Ok(DataReply::Quarantined(Box::new(QuarantineItem::of(
                    &e, None,
                )))),
                Ok(None) => Err(ServiceError::NotFound(format!(
                    "quarantined row {}",
                    sanitized(&id)
                ))),
                Err(e) => Err(repo_err(e)),
            },
            DataRequest::QuarantineRetry { mapping } => {
                let mapping = server_path("mapping", &mapping)?;
                let _job = self.job();
                let _w = self.write_guard();
                let (report, cleared) = rapport_repository::ingest::retry_quarantine(
                    store,
                    &mapping,
                    &IngestOptions::default(),
                )
                .map_err(user_err)?;
                tracing::info!(operator = %caller.operator, rows = report.rows_read, cleared = cleared.len(), "quarantine retried");
                Ok(DataReply::Retried(Box::new(report), cleared))
            }
            DataRequest::QuarantineRemove { ids } => {
                let _job = self.job();
                for id in &ids {
                    if !quarantine::exists(store, id).map_err(repo_err)? {
                        return Err(ServiceError::NotFound(format!(
                            "quarantined row {}",
                            sanitized(id)
                        )));
                    }
                }
                quarantine::remove(store, &ids).map_err(repo_err)?;
                tracing::info!(operator = %caller.operator, rows = ids.len(), "quarantined rows removed");
                Ok(DataReply::Removed(ids.len() as u64))
            }
            DataRequest::Reviews { after, limit } => {
                let all = merge::open_reviews(store).map_err(repo_err)?;
                let (items, next) = page(
                    all.into_iter()
                        .map(|(id, item)| (id.clone(), Review { id, item })),
                    after.as_deref(),
                    limit,
                );
                Ok(DataReply::Reviews(Page {
                    items,
                    next,
                    problems: Vec::new(),
                }))
            }
            DataRequest::DecideReview { id, accept } => {
                let _job = self.job();
                let _w = self.write_guard();
                let d = if accept {
                    Decision::Merged(Box::new(
                        merge::accept(store, &id, &caller.operator).map_err(user_err)?,
                    ))
                } else {
                    Decision::KeptApart(
                        merge::reject(store, &id, &caller.operator).map_err(user_err)?,
                    )
                };
                tracing::info!(operator = %caller.operator, item = %sanitized(&id), accept, "review decided");
                Ok(DataReply::Decided(Box::new(d)))
            }
            DataRequest::ExplainMerge { id } => merge::explain(store, &id)
                .map(|e| DataReply::Explanation(Box::new(e)))
                .map_err(user_err),
            DataRequest::Unmerge { id } => {
                let _job = self.job();
                let _w = self.write_guard();
                let u = merge::unmerge(store, &id, &caller.operator).map_err(user_err)?;
                tracing::info!(operator = %caller.operator, target = %sanitized(&id), "unmerged");
                Ok(DataReply::Unmerged(Box::new(u)))
            }
            DataRequest::Quality => rapport_repository::quality::report(store)
                .map(|q| DataReply::Quality(Box::new(q)))
                .map_err(repo_err),
            DataRequest::Stats => store
                .stats()
                .map(|s| DataReply::Stats(Box::new(s)))
                .map_err(store_err),
            DataRequest::ExportIdentities { path, csv } => {
                let target = server_path("identities export", &path)?;
                let n = write_identities_file(store, &target, csv)?;
                tracing::info!(
                    operator = %caller.operator,
                    path = %sanitized(&path),
                    records = n,
                    "identities exported"
                );
                Ok(DataReply::Exported(n))
            }
            DataRequest::LoadRates {
                path,
                source,
                reporting,
            } => {
                let path = server_path("rates", &path)?;
                let opts = rapport_repository::rates::RatesOptions {
                    reporting: reporting.parse().map_err(|_| {
                        ServiceError::Invalid(format!(
                            "reporting currency {}: not a currency code",
                            sanitized(&reporting)
                        ))
                    })?,
                    source,
                    shift_days: 0,
                };
                let _job = self.job();
                let r =
                    rapport_repository::rates::load_file(store, &path, &opts).map_err(user_err)?;
                tracing::info!(operator = %caller.operator, days = r.days, "exchange rates loaded");
                Ok(DataReply::RatesLoaded(Box::new(RatesLoaded {
                    source: r.source,
                    reporting: r.reporting.to_string(),
                    days: r.days,
                    currencies: r.currencies.iter().map(ToString::to_string).collect(),
                    first: r.first,
                    last: r.last,
                })))
            }
            DataRequest::Rates => {
                let Some(rates) = rapport_repository::rates::stored(store).map_err(repo_err)?
                else {
                    return Ok(DataReply::Rates(None));
                };
                let summary = rapport_repository::rates::summary(&rates);
                let currencies = rates
                    .series
                    .iter()
                    .zip(&summary)
                    .map(|(s, (c, from, to))| RateLine {
                        currency: c.to_string(),
                        first: from.clone(),
                        last: to.clone(),
                        days: s.rates.len() as u64,
                        last_rate: s.rates.last().map_or(f64::NAN, |r| r.1),
                    })
                    .collect();
                Ok(DataReply::Rates(Some(Box::new(RatesView {
                    reporting: rates.reporting.to_string(),
                    source: rates.source.clone(),
                    currencies,
                }))))
            }
            DataRequest::ExplainValue { customer } => self
                .explain_value(customer)
                .map(|v| DataReply::Value(Box::new(v))),
            DataRequest::Score(r) => self
                .score(caller, &r)
                .map(|r| DataReply::Scored(Box::new(r))),
            DataRequest::Tiers => {
                let tiers = rapport_scoring::results::tiers(store)
                    .map_err(scoring_err)?
                    .ok_or_else(not_scored)?;
                let segments = rapport_scoring::results::segments(store).map_err(scoring_err)?;
                Ok(DataReply::Tiers(Box::new(TiersView { tiers, segments })))
            }
            DataRequest::Skew => {
                let Some(value) = rapport_scoring::results::skew(store).map_err(scoring_err)?
                else {
                    if let Some(why) =
                        rapport_scoring::results::skew_error(store).map_err(scoring_err)?
                    {
                        return Err(ServiceError::NotFound(format!(
                            "skew: the last scoring run measured none: {}",
                            sanitized(&why)
                        )));
                    }
                    return Err(not_scored());
                };
                let profit = rapport_scoring::results::skew_profit(store).map_err(scoring_err)?;
                Ok(DataReply::Skew(Box::new(SkewView { value, profit })))
            }
            DataRequest::WorkingList { name, limit } => {
                let list: ListName = crate::records::list_name(&name)?;
                let stored = rapport_scoring::results::list(store, list)
                    .map_err(scoring_err)?
                    .ok_or_else(not_scored)?;
                let limit = if limit == 0 { 20 } else { limit.min(10_000) };
                let mut entries = Vec::new();
                for e in stored.entries.into_iter().take(limit) {
                    let name = store
                        .customer(e.customer)
                        .map_err(store_err)?
                        .map(|c| c.display_name());
                    entries.push(ListLine {
                        customer: e.customer,
                        name,
                        tier: e.tier,
                        rank_value: e.rank_value,
                        reason: e.reason,
                    });
                }
                Ok(DataReply::List(Box::new(ListView {
                    name: list.as_str().to_string(),
                    title: stored.title,
                    at: stored.at,
                    total: stored.total,
                    entries,
                })))
            }
            DataRequest::WorkingLists => {
                let mut out = Vec::new();
                for l in ListName::ALL {
                    let stored = rapport_scoring::results::list(store, l).map_err(scoring_err)?;
                    out.push(ListSize {
                        name: l.as_str().to_string(),
                        title: l.title().to_string(),
                        total: stored.map(|s| s.total),
                    });
                }
                Ok(DataReply::Lists(out))
            }
            DataRequest::Erase { customer, reason } => {
                let _job = self.job();
                let _w = self.write_guard();
                let r = rapport_repository::erase::erase(
                    store,
                    customer,
                    &caller.operator,
                    &reason,
                    self.now(),
                )
                .map_err(user_err)?;
                // Ids and counts only: the log never holds the erased data.
                tracing::info!(
                    operator = %caller.operator,
                    %customer,
                    customers = r.customers.len(),
                    interactions = r.interactions,
                    "customer erased"
                );
                Ok(DataReply::Erased(Box::new(r)))
            }
        }
    }

    fn ingest(&self, caller: &Caller, r: &IngestRequest) -> ServiceResult<IngestReport> {
        let paths = r
            .paths
            .iter()
            .map(|p| server_path("source", p))
            .collect::<ServiceResult<Vec<_>>>()?;
        let opts = IngestOptions {
            time_shift_days: r.time_shift_days,
            progress: r.progress,
            merge_ties: r.merge_ties,
            ..IngestOptions::default()
        };
        let _job = self.job();
        let _w = self.write_guard();
        let store = self.store();
        let report = match &r.mapping {
            Some(mapping) => {
                let mapping = server_path("mapping", mapping)?;
                rapport_repository::ingest::ingest_files(store, &mapping, &paths, &opts)
                    .map_err(user_err)
            }
            None => {
                if paths.len() != 1 {
                    return Err(ServiceError::Invalid(
                        "give one manifest, or a mapping and files".into(),
                    ));
                }
                rapport_repository::ingest::ingest_manifest(store, &paths[0], &opts)
                    .map_err(user_err)
            }
        }?;
        tracing::info!(operator = %caller.operator, rows = report.rows_read, stored = report.rows_stored, quarantined = report.rows_quarantined, "ingest");
        Ok(report)
    }

    /// Runs scoring; interactions written by other requests meanwhile have their customers'
    /// history digests removed afterwards, so the next run reads them.
    pub(crate) fn score(&self, caller: &Caller, r: &ScoreRequest) -> ServiceResult<ScoreReport> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let opts = ScoreOptions {
            incremental: r.incremental,
            as_of: Some(r.as_of.unwrap_or_else(|| self.now())),
            value_definition: r.value_definition.clone(),
            threads: r.threads.clamp(1, cores.max(1)),
            progress: None,
        };
        let _job = self.job();
        let report = self.scoring_run(|| {
            rapport_scoring::run_scoring(self.store(), &opts).map_err(scoring_err)
        })?;
        // Customer equity by portfolio and tier after every run, so the equity view shows the
        // change since the run before.
        rapport_repository::portfolio::record_equity(self.store()).map_err(repo_err)?;
        tracing::info!(operator = %caller.operator, scored = report.scored, full = report.full, ms = report.timings_ms.get("total").copied().unwrap_or(0), "scoring run");
        Ok(report)
    }

    fn explain_value(&self, id: CustomerId) -> ServiceResult<ValueExplanation> {
        let store = self.store();
        let customer = store
            .customer(id)
            .map_err(store_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("customer {id}")))?;
        let rates = rapport_repository::rates::stored(store)
            .map_err(repo_err)?
            .unwrap_or_else(|| {
                rapport_core::ExchangeRates::reporting_only(rapport_core::Currency::EUR)
            });
        let converter = rapport_analytics::Converter::new(&rates);
        let mut interactions = Vec::new();
        for i in store.interactions_of(id) {
            interactions.push(i.map_err(store_err)?);
        }
        interactions.sort_by_key(|i| (i.at, i.id));
        let lines = rapport_analytics::explain_money(&interactions, &converter);
        // The ledger entries of other customers for a booking this customer's records name.
        let mut others: BTreeMap<String, Option<String>> = BTreeMap::new();
        let source_of =
            |i: &Interaction| i.source.as_ref().map(|s| format!("{}:{}", s.source, s.key));
        let mut out = Vec::new();
        for l in &lines {
            let i = &interactions[l.interaction];
            let mut counted_on = None;
            if !l.counted
                && l.reporting.is_some()
                && let Some(b) = &l.booking
            {
                // This customer's own ledger entry, else another customer's (the payer).
                counted_on = interactions
                    .iter()
                    .find(|j| is_ledger_entry(j, b))
                    .map(|j| format!("{} (this customer)", source_of(j).unwrap_or_default()));
                if counted_on.is_none() {
                    if !others.contains_key(b) {
                        let found = self.payer_entry(id, b)?;
                        others.insert(b.clone(), found);
                    }
                    counted_on = others[b].clone();
                }
            }
            out.push(ExplainedAmount {
                day: rapport_repository::rates::format_day(l.day),
                source: source_of(i),
                kind: i.kind.to_string(),
                product: i.attr_text("product").map(str::to_string),
                booking: l.booking.clone(),
                role: format!("{:?}", l.amount.role).to_lowercase(),
                amount: l.amount.money.to_string(),
                reporting: l.reporting,
                counted: l.counted,
                why: l.why.clone(),
                counted_on,
            });
        }
        Ok(ValueExplanation {
            customer: id,
            name: customer.display_name(),
            reporting: rates.reporting.to_string(),
            rates_source: rates.source.clone(),
            amounts: out,
        })
    }

    /// The ledger entry of another customer (the payer) for `booking`, as `source:key on
    /// CUSTOMER (name)`, found by the booking reference's index.
    fn payer_entry(&self, me: CustomerId, booking: &str) -> ServiceResult<Option<String>> {
        for hit in self.repo().search(booking, 10).map_err(repo_err)? {
            if hit.id == me {
                continue;
            }
            for j in self.store().interactions_of(hit.id) {
                let j = j.map_err(store_err)?;
                if is_ledger_entry(&j, booking) {
                    let src = j
                        .source
                        .as_ref()
                        .map(|s| format!("{}:{}", s.source, s.key))
                        .unwrap_or_default();
                    return Ok(Some(format!("{src} on {} ({})", hit.id, hit.name)));
                }
            }
        }
        Ok(None)
    }
}

fn is_ledger_entry(j: &Interaction, booking: &str) -> bool {
    j.attr_text("booking_ref") == Some(booking)
        && j.kind == rapport_core::InteractionKind::Purchase
        && j.amounts
            .iter()
            .any(|m| m.role == rapport_core::AmountRole::Other)
}

fn not_scored() -> ServiceError {
    ServiceError::NotFound("no scoring results yet: run `rapport score` first".into())
}

/// The string fields of a data request against the limits (see [`crate::limits`]).
pub(crate) fn check(req: &DataRequest) -> ServiceResult<()> {
    use crate::limits::{MAX_KEY, MAX_QUERY, text};
    let path = |what: &str, p: &str| {
        if p.len() > crate::backup::MAX_PATH {
            return Err(ServiceError::Invalid(format!(
                "the {what} path is longer than {} bytes",
                crate::backup::MAX_PATH
            )));
        }
        Ok(())
    };
    match req {
        DataRequest::Ingest(r) => {
            if r.paths.is_empty() || r.paths.len() > 1_000 {
                return Err(ServiceError::Invalid(
                    "an ingest names 1 to 1,000 files".into(),
                ));
            }
            r.paths.iter().try_for_each(|p| path("source", p))?;
            if let Some(m) = &r.mapping {
                path("mapping", m)?;
            }
            if r.time_shift_days.unsigned_abs() > 365 * 200 {
                return Err(ServiceError::Invalid(
                    "the time shift is more than 200 years".into(),
                ));
            }
            Ok(())
        }
        DataRequest::Quarantine {
            source,
            reason,
            after,
            ..
        } => {
            for (what, v) in [("source", source), ("reason", reason), ("after", after)] {
                if let Some(v) = v {
                    text(what, v, MAX_KEY)?;
                }
            }
            Ok(())
        }
        DataRequest::QuarantineShow { id } => text("quarantine id", id, MAX_KEY),
        DataRequest::QuarantineRetry { mapping } => path("mapping", mapping),
        DataRequest::QuarantineRemove { ids } => {
            if ids.len() > 10_000 {
                return Err(ServiceError::Invalid(
                    "at most 10,000 quarantined rows at a time".into(),
                ));
            }
            ids.iter()
                .try_for_each(|i| text("quarantine id", i, MAX_KEY))
        }
        DataRequest::Reviews { after, .. } => match after {
            Some(a) => text("after", a, MAX_QUERY),
            None => Ok(()),
        },
        DataRequest::DecideReview { id, .. }
        | DataRequest::ExplainMerge { id }
        | DataRequest::Unmerge { id } => text("id", id, MAX_QUERY),
        DataRequest::LoadRates {
            path: p,
            source,
            reporting,
        } => {
            path("rates", p)?;
            if let Some(s) = source {
                text("rates source", s, MAX_QUERY)?;
            }
            text("reporting currency", reporting, 3)
        }
        DataRequest::WorkingList { name, .. } => text("list name", name, MAX_KEY),
        DataRequest::ExportIdentities { path: p, .. } => path("identities export", p),
        DataRequest::Score(r) => match &r.value_definition {
            Some(v) => text("value definition description", &v.description, 4_000),
            None => Ok(()),
        },
        DataRequest::Quality
        | DataRequest::Stats
        | DataRequest::Rates
        | DataRequest::ExplainValue { .. }
        | DataRequest::Tiers
        | DataRequest::Skew
        | DataRequest::WorkingLists => Ok(()),
        DataRequest::Erase { reason, .. } => text("reason", reason, MAX_QUERY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::NewInteraction;
    use rapport_core::{
        Amount, AmountRole, Channel, Currency, Customer, InteractionId, InteractionKind, Money,
        PartyKind,
    };
    use rapport_governance::Role;
    use rapport_store::{Batch, Durability, Store};

    const DAY: i64 = 86_400_000;

    /// `n` customers buying every 30 days for two years before `day`.
    fn shoppers(n: u64, day: i64) -> Store {
        let store = Store::temporary().unwrap();
        let mut b = Batch::default();
        for c in 1..=n {
            b.put_customer(
                &Customer::new(CustomerId(c), PartyKind::Person, Timestamp(0)),
                vec![],
            );
            let mut d = day - 700 + (c as i64 % 30);
            while d <= day - (c as i64 % 7) * 40 {
                let id = store.next_interaction_ids(1).unwrap().start;
                let mut i = Interaction::new(
                    InteractionId(id),
                    CustomerId(c),
                    Timestamp::from_millis(d * DAY + 3_600_000),
                    Channel::Web,
                    InteractionKind::Purchase,
                );
                i.amounts.push(Amount {
                    role: AmountRole::Revenue,
                    money: Money::new(c as i64 * 100, Currency::EUR),
                });
                b.put_interaction(&i);
                d += 30;
            }
        }
        store.write(b, Durability::Durable).unwrap();
        store
    }

    fn note(customer: u64) -> Request {
        Request::LogInteraction(NewInteraction {
            customer: CustomerId(customer),
            kind: InteractionKind::Note,
            channel: Channel::CallCenter,
            touchpoint: None,
            phase: None,
            text: Some("called during the run".into()),
            attributes: Default::default(),
            amounts: vec![],
        })
    }

    /// Regression guard for serving and scoring at once: a digest stored by a run may miss an
    /// interaction written while the run read that customer, so the customers whose
    /// interactions the service writes during a run lose their digests after it (the next
    /// run reads their interactions), and writes after the run are not noted.
    #[test]
    fn interactions_written_during_a_scoring_run_have_their_digests_removed() {
        let day = 20_000;
        let store = shoppers(30, day);
        let engine = Engine::for_command(store.clone());
        let admin = Caller {
            operator: "test".into(),
            role: Role::Admin,
        };
        let opts = ScoreOptions {
            as_of: Some(Timestamp::from_millis(day * DAY + 80_000_000)),
            threads: 1,
            ..ScoreOptions::default()
        };
        let report = engine
            .scoring_run(|| {
                engine.handle(&admin, note(5)).unwrap();
                rapport_scoring::run_scoring(engine.store(), &opts).map_err(scoring_err)
            })
            .unwrap();
        assert_eq!(report.scored, 30);
        let with_digest: Vec<CustomerId> = store
            .stored_history_digests(CustomerId(0), None)
            .map(|d| d.unwrap().0)
            .collect();
        assert_eq!(with_digest.len(), 29, "{with_digest:?}");
        assert!(!with_digest.contains(&CustomerId(5)));
        // After the run nothing is noted: the note's own write removes the digest.
        engine.handle(&admin, note(6)).unwrap();
        assert!(lock_touched(&engine).is_empty());
        let again = rapport_scoring::run_scoring(engine.store(), &opts).unwrap();
        assert_eq!(again.histories_read, 2, "customers 5 and 6 are read again");
    }

    fn lock_touched(engine: &Engine) -> Vec<CustomerId> {
        engine.touched_now()
    }
}
