//! Governance through the one door: the tamper-evident audit trail of every write and every
//! record opened (`rapport audit list|verify`), the compensation policy as versioned data
//! (`rapport policy show|set|history`), and goodwill with its approval queue (`rapport goodwill`,
//! `rapport approvals list|approve|change|refuse`).
//!
//! Goodwill is a gesture on top of what the policy entitles, for a disruption on record that
//! affected the customer, at most one per customer and disruption (stored as a grant under
//! `goodwill/` and the disruption's canonical id, so the store's one-grant check holds whichever
//! path it took). Up to the role's limit of the policy in force it is granted at once; above
//! it, it waits in the approval queue (documents of `approvals`) until a supervisor (a role
//! whose limit covers it) or the customer's manager approves, changes or refuses it, with a
//! reason. Decisions are made under the engine's write lock and are final: a second decision is
//! refused, naming the first. Every step writes an interaction on the customer's record (a
//! request, a grant, a refusal) in the same batch, so the record, and the console of whoever
//! asked, shows the outcome as it happens.
//!
//! Each request is one [`GovernanceRequest`] answered by one [`GovernanceReply`];
//! [`Governance`] writes each once on the client side over any [`crate::Transport`], and
//! [`crate::Engine`] answers them where the store is owned.
//!
//! How the trail is kept: the entries are documents of the `audit` collection keyed by their
//! sequence number (20 digits, so key order is chain order), in bincode, with the head (last
//! sequence number and hash) in `audit_head`. The engine keeps the head in memory under one
//! lock; an entry and the new head are written in the same atomic batch as the write they
//! record (a note, a preference, a grant, a declaration), so a crash keeps both or neither.
//! Other writes (operators, ingests, merges, scoring runs, other engineers' requests) are
//! appended after they succeed, durably. A record opened or a history page read is appended
//! with a batched write (no flush of its own: sled's flusher or the next durable write makes it
//! durable within half a second; a crash may lose the last opens' entries together with their
//! head, never leave a broken chain). An entry holds who (operator, role), from where (the
//! peer's address or the command), what (the permission-matrix action), when, which customer
//! (an id) and an identifying detail (an interaction id, an operator name): never a customer's
//! name, contact or free text, so erasing a customer's personal data leaves it untouched.

use std::future::Future;

use rapport_core::{
    Amount, AmountRole, AttrValue, Channel, CompensationGrant, CustomerId, Interaction,
    InteractionKind, Money, Timestamp,
};
use rapport_governance::audit::{self, AuditEntry, AuditEvent, AuditHead, Verifier};
use rapport_governance::{Action, ApprovalLimits, CompensationPolicy, PolicyFile, Role};
use rapport_store::{Batch, Durability};
use serde::{Deserialize, Serialize};

use crate::api::{ServiceError, ServiceResult};
use crate::engine::{Caller, Engine, GOVERNANCE, store_err};
use crate::protocol::{Reply, Request};
use crate::typed::Transport;
use crate::unexpected;

/// The collection of audit entries (key: the sequence number, 20 digits).
pub const AUDIT: &str = "audit";
/// The collection holding the audit chain's head (key [`HEAD_KEY`]).
pub const AUDIT_HEAD: &str = "audit_head";
/// The head's key.
pub const HEAD_KEY: &str = "head";
/// Most entries in one page of `audit list`.
pub const MAX_AUDIT_PAGE: usize = 1_000;
/// The origin of requests made in-process without a named command.
pub const EMBEDDED: &str = "embedded";
/// The collection of policy versions (key: the version, 10 digits).
pub const POLICY_VERSIONS: &str = "policy_versions";
/// Longest policy file accepted, in bytes.
pub const MAX_POLICY_FILE: usize = 64 * 1024;

/// The collection of approval requests (key: the request's id).
pub const APPROVALS: &str = "approvals";
/// The requests still waiting (key and value: the request's id), kept in the batch
/// that files or decides a request, so the queue reads only what waits.
pub const APPROVALS_PENDING: &str = "approvals_pending";
/// Every request by customer (key: the customer id in 20 digits, `/`, the request's id; value:
/// the request's id), so a record's requests are one prefix read.
pub const APPROVALS_BY_CUSTOMER: &str = "approvals_by_customer";
/// The key, in the governance collection, of the marker saying both indexes above are built.
const APPROVAL_INDEX_MARKER: &str = "approval_index";
/// The prefix of goodwill grants' keys (then the disruption's canonical id).
pub const GOODWILL_PREFIX: &str = "goodwill/";
/// The rule goodwill grants record.
pub const GOODWILL_RULE: &str = "goodwill";

/// Goodwill asked for at a terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodwillRequest {
    /// The customer.
    pub customer: CustomerId,
    /// The disruption on record it is for (any reference shape).
    pub disruption: String,
    /// How much.
    pub amount: Money,
    /// `voucher` or `cash`.
    pub instrument: String,
    /// Why (kept with the request and shown to whoever decides).
    pub reason: String,
    /// Where it is asked, e.g. `call center`.
    pub touchpoint: String,
    /// Above the role's limit, put it in the approval queue (else it is refused, saying so).
    pub send_for_approval: bool,
}

/// What a goodwill request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GoodwillOutcome {
    /// Within the role's limit: granted now.
    Granted(CompensationGrant),
    /// Above it: waiting in the approval queue.
    Queued(Approval),
    /// Goodwill for this disruption was already granted (who, where, when).
    Refused(CompensationGrant),
}

/// Where an approval request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalState {
    /// Waiting for a decision.
    Pending,
    /// Approved (with the amount asked, or changed to another): granted.
    Approved {
        /// Who decided.
        by: String,
        /// When.
        at: Timestamp,
        /// Why.
        reason: String,
        /// What was granted.
        amount: Money,
        /// Whether the amount was changed.
        changed: bool,
    },
    /// Refused: nothing granted.
    Refused {
        /// Who decided (or `rapport` when goodwill was granted by another path meanwhile).
        by: String,
        /// When.
        at: Timestamp,
        /// Why.
        reason: String,
    },
}

/// A goodwill request above its requester's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// `A` and 10 digits.
    pub id: String,
    /// What was asked.
    pub request: GoodwillRequest,
    /// The disruption's canonical id.
    pub disruption: String,
    /// Who asked.
    pub requested_by: String,
    /// Their role.
    pub requested_role: Role,
    /// When.
    pub requested_at: Timestamp,
    /// The policy version whose limit it was above.
    pub policy_version: u32,
    /// Where it stands.
    pub state: ApprovalState,
}

/// One line of the policy report: grants of one kind in one group and period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportLine {
    /// The value tier (`A`..`D`, `unscored`) or the portfolio (`unassigned`).
    pub group: String,
    /// `before` or `after` the version was set.
    pub period: String,
    /// `goodwill`, or the policy rule's name without its version (`delay 9h+`).
    pub what: String,
    /// Grants.
    pub grants: u64,
    /// Their sum, in major units of `currency`.
    pub total: f64,
    /// Their mean, in major units.
    pub mean: f64,
}

/// Compensation and goodwill by value tier and by portfolio, before and after a policy
/// version (`rapport policy report`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyReport {
    /// The version the periods are split at.
    pub version: u32,
    /// When it was set (`None`: the built-in version, so every grant is "before").
    pub since: Option<Timestamp>,
    /// The currency of the amounts (grants in another currency are counted apart).
    pub currency: String,
    /// By value tier.
    pub by_tier: Vec<ReportLine>,
    /// By portfolio.
    pub by_portfolio: Vec<ReportLine>,
    /// Grants left out: in another currency.
    pub other_currency: u64,
}

/// A request in the approval queue as a console shows it to the operator asking: the
/// customer's name, and what this operator may do with it (`rapport approvals list`, the
/// console's approvals screen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedApproval {
    /// The request.
    pub approval: Approval,
    /// The customer's display name (the roles that may read the queue see personal data).
    pub customer_name: String,
    /// Whether this operator may approve it (or change it) now.
    pub may_approve: bool,
    /// Whether this operator may refuse it now.
    pub may_refuse: bool,
    /// Why, in words: "you manage this customer", "within your limit of 2000.00 EUR",
    /// "your own request", "above your limit ... and not the customer's manager".
    pub why: String,
}

/// What a supervisor decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalDecision {
    /// Grant the amount asked.
    Approve,
    /// Grant another amount (in the request's currency, minor units).
    Change(i64),
    /// Grant nothing.
    Refuse,
}

/// One version of the compensation policy and the goodwill limits, with who set it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// 1, 2, 3, ...; grants name it in their rule (`delay 9h+ v2`) and `policy_version`.
    pub version: u32,
    /// Who set it (`standard` for the built-in version 1 never set by anyone).
    pub set_by: String,
    /// When (`None` for the built-in one).
    pub set_at: Option<Timestamp>,
    /// The file it was read from, as named by whoever set it.
    pub file: String,
    /// The compensation table and care items.
    pub policy: CompensationPolicy,
    /// What each role may grant without approval.
    pub limits: ApprovalLimits,
}

impl PolicyVersion {
    /// The version as a policy file (what `policy show` prints and `policy set` reads).
    pub fn to_toml(&self) -> String {
        PolicyFile {
            policy: self.policy.clone(),
            limits: self.limits.clone(),
        }
        .to_toml()
    }
}

/// Which entries of the trail to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Only entries about this customer.
    pub customer: Option<CustomerId>,
    /// Only entries by this operator.
    pub operator: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<Timestamp>,
    /// Start after this sequence number (the previous page's `next`).
    pub after: Option<u64>,
    /// Most entries (at most [`MAX_AUDIT_PAGE`]).
    pub limit: usize,
}

/// A page of the trail, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// The sequence number to continue after, when there may be more.
    pub next: Option<u64>,
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerdict {
    /// Entries checked before the first break (all of them when the chain holds).
    pub checked: u64,
    /// The head as stored.
    pub head: AuditHead,
    /// The first break, in words (`None`: the chain holds).
    pub problem: Option<String>,
    /// The sequence number where it breaks.
    pub broken_at: Option<u64>,
}

impl AuditVerdict {
    /// Whether the chain holds.
    pub fn holds(&self) -> bool {
        self.problem.is_none()
    }
}

/// The governance requests (one [`Action`] each; see [`GovernanceRequest::action`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GovernanceRequest {
    /// [`Governance::audit`].
    AuditList(AuditQuery),
    /// [`Governance::verify_audit`].
    AuditVerify,
    /// [`Governance::policy`].
    PolicyShow,
    /// [`Governance::set_policy`].
    PolicySet {
        /// The file's name, for errors.
        file: String,
        /// Its text (a policy file, see [`PolicyFile`]).
        text: String,
    },
    /// [`Governance::policy_history`].
    PolicyHistory,
    /// [`Governance::goodwill`].
    Goodwill(GoodwillRequest),
    /// [`Governance::approvals`].
    Approvals {
        /// Only those still waiting.
        pending: bool,
    },
    /// [`Governance::approvals_of`].
    ApprovalsOf {
        /// The customer.
        customer: CustomerId,
    },
    /// [`Governance::policy_report`].
    PolicyReport {
        /// The version to split at (default: the one in force).
        version: Option<u32>,
    },
    /// [`Governance::approval_queue`].
    ApprovalQueue {
        /// Only those still waiting.
        pending: bool,
    },
    /// [`Governance::decide_approval`].
    DecideApproval {
        /// The request's id.
        id: String,
        /// Approve, change or refuse.
        decision: ApprovalDecision,
        /// Why.
        reason: String,
    },
}

impl GovernanceRequest {
    /// The permission-matrix action this request needs.
    pub fn action(&self) -> Action {
        match self {
            GovernanceRequest::AuditList(_) | GovernanceRequest::AuditVerify => Action::ReadAudit,
            GovernanceRequest::PolicyShow | GovernanceRequest::PolicyHistory => Action::ReadPolicy,
            GovernanceRequest::PolicySet { .. } => Action::SetPolicy,
            GovernanceRequest::Goodwill(_) => Action::GrantGoodwill,
            GovernanceRequest::Approvals { .. }
            | GovernanceRequest::ApprovalsOf { .. }
            | GovernanceRequest::ApprovalQueue { .. } => Action::ReadApprovals,
            GovernanceRequest::PolicyReport { .. } => Action::ReadPolicyReport,
            GovernanceRequest::DecideApproval { .. } => Action::DecideApproval,
        }
    }

    /// Whether the request may run for long (verifying a trail of millions of entries).
    pub fn is_long(&self) -> bool {
        matches!(self, GovernanceRequest::AuditVerify)
    }
}

/// The replies to [`GovernanceRequest`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GovernanceReply {
    /// A page of the audit trail.
    Audit(AuditPage),
    /// A verification.
    Verified(AuditVerdict),
    /// A policy version (the one in force, or the one just set).
    Policy(Box<PolicyVersion>),
    /// Every policy version, oldest first.
    Policies(Vec<PolicyVersion>),
    /// What a goodwill request did.
    Goodwill(Box<GoodwillOutcome>),
    /// Approval requests, oldest first.
    Approvals(Vec<Approval>),
    /// The policy report.
    Report(Box<PolicyReport>),
    /// The approval queue as the asking operator sees it, oldest first.
    Queue(Vec<QueuedApproval>),
    /// A decision made: the request as decided, and the grant when approved.
    Decided(Box<Approval>, Option<Box<CompensationGrant>>),
}

/// The governance operations, embedded or remote, each written once over the transport.
pub trait Governance: Transport {
    /// A page of the audit trail, oldest first.
    fn audit(&self, q: AuditQuery) -> impl Future<Output = ServiceResult<AuditPage>> + Send {
        async move {
            match governance(self, GovernanceRequest::AuditList(q)).await? {
                GovernanceReply::Audit(p) => Ok(p),
                other => Err(odd(other)),
            }
        }
    }

    /// Checks the whole audit chain against its head.
    fn verify_audit(&self) -> impl Future<Output = ServiceResult<AuditVerdict>> + Send {
        async move {
            match governance(self, GovernanceRequest::AuditVerify).await? {
                GovernanceReply::Verified(v) => Ok(v),
                other => Err(odd(other)),
            }
        }
    }

    /// The policy in force.
    fn policy(&self) -> impl Future<Output = ServiceResult<PolicyVersion>> + Send {
        async move {
            match governance(self, GovernanceRequest::PolicyShow).await? {
                GovernanceReply::Policy(p) => Ok(*p),
                other => Err(odd(other)),
            }
        }
    }

    /// Sets a new policy version from a policy file's text (`file` names it in errors); it
    /// applies to every grant from the moment this returns.
    fn set_policy(
        &self,
        file: &str,
        text: &str,
    ) -> impl Future<Output = ServiceResult<PolicyVersion>> + Send {
        let req = GovernanceRequest::PolicySet {
            file: file.to_string(),
            text: text.to_string(),
        };
        async move {
            match governance(self, req).await? {
                GovernanceReply::Policy(p) => Ok(*p),
                other => Err(odd(other)),
            }
        }
    }

    /// Every policy version, oldest first.
    fn policy_history(&self) -> impl Future<Output = ServiceResult<Vec<PolicyVersion>>> + Send {
        async move {
            match governance(self, GovernanceRequest::PolicyHistory).await? {
                GovernanceReply::Policies(p) => Ok(p),
                other => Err(odd(other)),
            }
        }
    }

    /// Grants goodwill for a disruption on record, or queues it for approval when above the
    /// role's limit and `send_for_approval`.
    fn goodwill(
        &self,
        r: GoodwillRequest,
    ) -> impl Future<Output = ServiceResult<GoodwillOutcome>> + Send {
        async move {
            match governance(self, GovernanceRequest::Goodwill(r)).await? {
                GovernanceReply::Goodwill(o) => Ok(*o),
                other => Err(odd(other)),
            }
        }
    }

    /// The approval queue (or every request), oldest first.
    fn approvals(
        &self,
        pending: bool,
    ) -> impl Future<Output = ServiceResult<Vec<Approval>>> + Send {
        async move {
            match governance(self, GovernanceRequest::Approvals { pending }).await? {
                GovernanceReply::Approvals(a) => Ok(a),
                other => Err(odd(other)),
            }
        }
    }

    /// Every approval request for one customer, decided ones included, oldest first: what a
    /// record shows as waiting, and how a requester learns its requests' outcomes.
    fn approvals_of(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = ServiceResult<Vec<Approval>>> + Send {
        async move {
            match governance(self, GovernanceRequest::ApprovalsOf { customer }).await? {
                GovernanceReply::Approvals(a) => Ok(a),
                other => Err(odd(other)),
            }
        }
    }

    /// The approval queue (or every request) with the customers' names and what the caller
    /// may do with each, oldest first.
    fn approval_queue(
        &self,
        pending: bool,
    ) -> impl Future<Output = ServiceResult<Vec<QueuedApproval>>> + Send {
        async move {
            match governance(self, GovernanceRequest::ApprovalQueue { pending }).await? {
                GovernanceReply::Queue(q) => Ok(q),
                other => Err(odd(other)),
            }
        }
    }

    /// Compensation and goodwill by tier and portfolio, before and after a policy version.
    fn policy_report(
        &self,
        version: Option<u32>,
    ) -> impl Future<Output = ServiceResult<PolicyReport>> + Send {
        async move {
            match governance(self, GovernanceRequest::PolicyReport { version }).await? {
                GovernanceReply::Report(r) => Ok(*r),
                other => Err(odd(other)),
            }
        }
    }

    /// Approves, changes or refuses a waiting request, once.
    fn decide_approval(
        &self,
        id: &str,
        decision: ApprovalDecision,
        reason: &str,
    ) -> impl Future<Output = ServiceResult<(Approval, Option<CompensationGrant>)>> + Send {
        let req = GovernanceRequest::DecideApproval {
            id: id.to_string(),
            decision,
            reason: reason.to_string(),
        };
        async move {
            match governance(self, req).await? {
                GovernanceReply::Decided(a, g) => Ok((*a, g.map(|g| *g))),
                other => Err(odd(other)),
            }
        }
    }
}

impl<T: Transport> Governance for T {}

async fn governance<T: Transport + ?Sized>(
    t: &T,
    req: GovernanceRequest,
) -> ServiceResult<GovernanceReply> {
    match t.send(Request::Governance(req)).await? {
        Reply::Governance(g) => Ok(g),
        other => Err(unexpected(&other)),
    }
}

fn odd(reply: GovernanceReply) -> ServiceError {
    ServiceError::Internal(format!("unexpected reply {reply:?}"))
}

/// The string fields of a governance request against the limits (see [`crate::limits`]).
pub(crate) fn check(req: &GovernanceRequest) -> ServiceResult<()> {
    match req {
        GovernanceRequest::AuditList(q) => match &q.operator {
            Some(o) => crate::limits::text("operator name", o, 40),
            None => Ok(()),
        },
        GovernanceRequest::PolicySet { file, text } => {
            crate::limits::text("policy file name", file, 200)?;
            if text.len() > MAX_POLICY_FILE {
                return Err(ServiceError::Invalid(format!(
                    "a policy file is at most {MAX_POLICY_FILE} bytes"
                )));
            }
            Ok(())
        }
        GovernanceRequest::Goodwill(r) => {
            crate::limits::text("disruption", &r.disruption, crate::limits::MAX_DISRUPTION)?;
            crate::limits::text("instrument", &r.instrument, 20)?;
            crate::limits::text("reason", &r.reason, 400)?;
            crate::limits::text("touchpoint", &r.touchpoint, crate::limits::MAX_TOUCHPOINT)
        }
        GovernanceRequest::DecideApproval { id, reason, .. } => {
            crate::limits::text("approval id", id, 20)?;
            crate::limits::text("reason", reason, 400)
        }
        GovernanceRequest::AuditVerify
        | GovernanceRequest::PolicyShow
        | GovernanceRequest::PolicyHistory
        | GovernanceRequest::Approvals { .. }
        | GovernanceRequest::ApprovalsOf { .. }
        | GovernanceRequest::ApprovalQueue { .. }
        | GovernanceRequest::PolicyReport { .. } => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The engine's side.

/// An entry's key: its sequence number in 20 digits, so key order is chain order.
fn entry_key(seq: u64) -> String {
    format!("{seq:020}")
}

/// Reads the stored head (the engine keeps it in memory from then on).
pub(crate) fn stored_head(store: &rapport_store::Store) -> AuditHead {
    match store.doc::<AuditHead>(AUDIT_HEAD, HEAD_KEY) {
        Ok(Some(h)) => h,
        Ok(None) => AuditHead::empty(),
        Err(e) => {
            // Appending after an unreadable head forks the chain; `audit verify` says where.
            tracing::error!(error = %e, "the audit head is unreadable: the chain restarts and `rapport audit verify` will report the break");
            AuditHead::empty()
        }
    }
}

/// Whether a request of this action is audited after it succeeds, in a write of its own: every
/// write that does not put its entry in its own batch. Reads are not audited, except opening
/// a record or reading its history (audited by the engine as they happen).
fn audited_after(action: Action) -> bool {
    use Action::*;
    let in_batch = matches!(
        action,
        OpenRecord | ReadInteractions | LogInteraction | RecordPreference | GrantCompensation
    ) || matches!(
        action,
        DeclareDisruption | SetPolicy | GrantGoodwill | DecideApproval
    );
    let read = matches!(
        action,
        Search
            | ReadEntitlement
            | ReadOverview
            | ReadList
            | Subscribe
            | ListOperators
            | ReadDisruptions
            | ReadQuarantine
            | ReadReviews
            | ExplainMerge
            | ReadQuality
            | ReadStats
            | ReadRates
            | ExplainValue
            | ReadValueReport
            | ReadAudit
            | ReadPolicy
            | ReadApprovals
            | ReadPolicyReport
    ) || action.as_str().starts_with("read-");
    !in_batch && !read
}

/// What identifies a generic write's object without personal data.
fn detail_of(req: &Request) -> String {
    match req {
        Request::AddOperator { name, role, .. } => format!("operator {name} as {role}"),
        Request::SetPassword { name, .. } | Request::DisableOperator { name } => {
            format!("operator {name}")
        }
        Request::Data(crate::data::DataRequest::Erase { customer, .. }) => {
            format!("erased {customer}")
        }
        _ => String::new(),
    }
}

/// What the engine audits for a request, decided before it runs (it consumes the request).
pub(crate) struct AfterAudit {
    action: Action,
    detail: String,
    customer: Option<CustomerId>,
}

impl AfterAudit {
    /// The audit a successful `req` needs after it, if any.
    pub(crate) fn of(req: &Request, action: Action) -> Option<AfterAudit> {
        audited_after(action).then(|| AfterAudit {
            action,
            detail: detail_of(req),
            customer: match req {
                Request::Data(crate::data::DataRequest::Erase { customer, .. }) => Some(*customer),
                _ => None,
            },
        })
    }
}

impl Engine {
    /// An audit event by `caller` from `origin`, now.
    pub(crate) fn audit_event(
        &self,
        caller: &Caller,
        origin: &str,
        action: Action,
        customer: Option<CustomerId>,
        detail: String,
    ) -> AuditEvent {
        AuditEvent {
            at: self.now(),
            operator: caller.operator.clone(),
            role: caller.role.as_str().to_string(),
            origin: origin.to_string(),
            action: action.as_str().to_string(),
            customer,
            detail,
        }
    }

    /// Writes `batch` with `events` chained onto the audit trail in the same atomic batch, as
    /// durable as asked. The head moves only when the batch is written (a refused grant leaves
    /// no entry). The audit lock is held while the batch is applied, not while it is flushed.
    pub(crate) fn write_audited(
        &self,
        mut batch: Batch,
        events: Vec<AuditEvent>,
        durability: Durability,
    ) -> Result<(), rapport_store::Error> {
        {
            let mut head = self.audit_head();
            let mut next = head.clone();
            for event in events {
                let (entry, h) = audit::append(&next, event);
                batch.put_doc_compact(AUDIT, &entry_key(entry.seq), &entry)?;
                next = h;
            }
            batch.put_doc_compact(AUDIT_HEAD, HEAD_KEY, &next)?;
            self.store().write(batch, Durability::Batched)?;
            *head = next;
        }
        if durability == Durability::Durable {
            // Flushes every write so far, this batch included.
            self.store().flush()?;
        }
        Ok(())
    }

    /// Appends one entry alone.
    pub(crate) fn audit_alone(
        &self,
        event: AuditEvent,
        durability: Durability,
    ) -> ServiceResult<()> {
        self.write_audited(Batch::default(), vec![event], durability)
            .map_err(store_err)
    }

    /// Appends the entry of a write that succeeded without one in its batch. A failure is
    /// logged: the write happened, and the reply must say so.
    pub(crate) fn audit_after(&self, caller: &Caller, origin: &str, a: AfterAudit) {
        let event = self.audit_event(caller, origin, a.action, a.customer, a.detail);
        if let Err(e) = self.audit_alone(event, Durability::Durable) {
            tracing::error!(error = %e, operator = %caller.operator, action = %a.action, "the write succeeded but its audit entry could not be written");
        }
    }

    /// Answers a [`GovernanceRequest`] (authorised and checked by the caller).
    pub(crate) fn handle_governance(
        &self,
        caller: &Caller,
        origin: &str,
        req: GovernanceRequest,
    ) -> ServiceResult<GovernanceReply> {
        match req {
            GovernanceRequest::AuditList(q) => self.audit_list(&q).map(GovernanceReply::Audit),
            GovernanceRequest::AuditVerify => self.audit_verify().map(GovernanceReply::Verified),
            GovernanceRequest::PolicyShow => {
                Ok(GovernanceReply::Policy(Box::new(self.policy_in_force())))
            }
            GovernanceRequest::PolicySet { file, text } => self
                .set_policy(caller, origin, &file, &text)
                .map(|p| GovernanceReply::Policy(Box::new(p))),
            GovernanceRequest::Goodwill(r) => self
                .goodwill(caller, origin, r)
                .map(|o| GovernanceReply::Goodwill(Box::new(o))),
            GovernanceRequest::Approvals { pending: true } => {
                pending_approvals(self.store()).map(GovernanceReply::Approvals)
            }
            GovernanceRequest::Approvals { pending: false } => {
                approvals(self.store()).map(GovernanceReply::Approvals)
            }
            GovernanceRequest::ApprovalsOf { customer } => {
                crate::relationship::Scope::of(self, caller)?.sees(self, caller, customer)?;
                approvals_of(self.store(), customer).map(GovernanceReply::Approvals)
            }
            GovernanceRequest::ApprovalQueue { pending } => self
                .approval_queue(caller, pending)
                .map(GovernanceReply::Queue),
            GovernanceRequest::PolicyReport { version } => self
                .policy_report(version)
                .map(|r| GovernanceReply::Report(Box::new(r))),
            GovernanceRequest::DecideApproval {
                id,
                decision,
                reason,
            } => self
                .decide_approval(caller, origin, &id, decision, &reason)
                .map(|(a, g)| GovernanceReply::Decided(Box::new(a), g.map(Box::new))),
            GovernanceRequest::PolicyHistory => {
                let mut all = policy_versions(self.store())?;
                if all.is_empty() {
                    all.push(self.policy_in_force());
                }
                Ok(GovernanceReply::Policies(all))
            }
        }
    }

    /// Stores `text` as the next policy version and puts it in force, with its audit entry in
    /// the same batch. Refused with every mistake (file, line, problem) when it does not hold.
    fn set_policy(
        &self,
        caller: &Caller,
        origin: &str,
        file: &str,
        text: &str,
    ) -> ServiceResult<PolicyVersion> {
        let parsed = PolicyFile::parse(file, text).map_err(|e| {
            ServiceError::Invalid(rapport_core::text::sanitize(&e.to_string()).into_owned())
        })?;
        let _guard = self.write_guard();
        let stored = policy_versions(self.store())?;
        let current = self.policy_in_force();
        let version = stored
            .last()
            .map_or(current.version, |v| v.version.max(current.version))
            + 1;
        let mut policy = parsed.policy;
        policy.version = version;
        let v = PolicyVersion {
            version,
            set_by: caller.operator.clone(),
            set_at: Some(self.now()),
            file: file.to_string(),
            policy,
            limits: parsed.limits,
        };
        let mut batch = Batch::default();
        batch
            .put_doc(POLICY_VERSIONS, &format!("{version:010}"), &v)
            .map_err(store_err)?;
        let event = self.audit_event(
            caller,
            origin,
            Action::SetPolicy,
            None,
            format!("policy v{version}"),
        );
        self.write_audited(batch, vec![event], Durability::Durable)
            .map_err(store_err)?;
        self.put_in_force(&v);
        tracing::info!(operator = %caller.operator, version, "compensation policy set");
        Ok(v)
    }

    fn audit_list(&self, q: &AuditQuery) -> ServiceResult<AuditPage> {
        let limit = q.limit.clamp(1, MAX_AUDIT_PAGE);
        let after = q.after.map(entry_key).unwrap_or_default();
        let mut entries = Vec::new();
        let mut next = None;
        for kv in self.store().docs_after::<AuditEntry>(AUDIT, &after) {
            let (_, e) = kv.map_err(store_err)?;
            if q.customer.is_some_and(|c| e.customer != Some(c))
                || q.operator.as_deref().is_some_and(|o| o != e.operator)
                || q.since.is_some_and(|s| e.at < s)
            {
                continue;
            }
            if entries.len() == limit {
                next = entries.last().map(|e: &AuditEntry| e.seq);
                break;
            }
            entries.push(e);
        }
        Ok(AuditPage { entries, next })
    }

    /// Walks the whole chain without holding the audit lock (record opens go on meanwhile),
    /// then, under the lock, the entries appended since and the head.
    fn audit_verify(&self) -> ServiceResult<AuditVerdict> {
        let mut v = Verifier::new();
        let mut last_key = String::new();
        let broken = |v: &Verifier, b: audit::ChainBreak, head: AuditHead| {
            let at = match &b {
                audit::ChainBreak::Edited { seq } | audit::ChainBreak::Unlinked { seq, .. } => *seq,
                audit::ChainBreak::Head { last, .. } => *last,
            };
            Ok(AuditVerdict {
                checked: v.checked(),
                head,
                problem: Some(b.to_string()),
                broken_at: Some(at),
            })
        };
        let stored = || stored_head(self.store());
        for kv in self.store().docs::<AuditEntry>(AUDIT, "") {
            let (key, e) = match kv {
                Ok(x) => x,
                Err(e) => {
                    return Ok(AuditVerdict {
                        checked: v.checked(),
                        head: stored(),
                        problem: Some(format!(
                            "an entry after entry {} cannot be read: {e}",
                            v.checked()
                        )),
                        broken_at: Some(v.checked() + 1),
                    });
                }
            };
            if let Err(b) = v.push(&e) {
                return broken(&v, b, stored());
            }
            last_key = key;
        }
        let _head = self.audit_head();
        for kv in self.store().docs_after::<AuditEntry>(AUDIT, &last_key) {
            let (_, e) = kv.map_err(store_err)?;
            if let Err(b) = v.push(&e) {
                return broken(&v, b, stored());
            }
        }
        let head = stored();
        match v.finish(&head) {
            Ok(n) => Ok(AuditVerdict {
                checked: n,
                head,
                problem: None,
                broken_at: None,
            }),
            Err(b) => broken(&v, b, head),
        }
    }
}

/// Every stored policy version, oldest first.
pub(crate) fn policy_versions(store: &rapport_store::Store) -> ServiceResult<Vec<PolicyVersion>> {
    store
        .docs::<PolicyVersion>(POLICY_VERSIONS, "")
        .map(|r| r.map(|(_, v)| v).map_err(store_err))
        .collect()
}

/// Every approval request, oldest first (a scan of every request ever filed: for reports and
/// `approvals list --all`, not for paths a terminal takes on every record).
pub(crate) fn approvals(store: &rapport_store::Store) -> ServiceResult<Vec<Approval>> {
    store
        .docs::<Approval>(APPROVALS, "")
        .map(|r| r.map(|(_, a)| a).map_err(store_err))
        .collect()
}

/// The requests named by the entries of an index collection under `prefix`, in key order.
fn indexed_approvals(
    store: &rapport_store::Store,
    index: &str,
    prefix: &str,
) -> ServiceResult<Vec<Approval>> {
    let mut out = Vec::new();
    for entry in store.docs::<String>(index, prefix) {
        let (_, id) = entry.map_err(store_err)?;
        if let Some(a) = store.doc::<Approval>(APPROVALS, &id).map_err(store_err)? {
            out.push(a);
        }
    }
    Ok(out)
}

/// The requests still waiting, oldest first: reads only those (the pending index).
pub(crate) fn pending_approvals(store: &rapport_store::Store) -> ServiceResult<Vec<Approval>> {
    Ok(indexed_approvals(store, APPROVALS_PENDING, "")?
        .into_iter()
        .filter(|a| a.state == ApprovalState::Pending)
        .collect())
}

/// Every request for `customer`, oldest first: one prefix read of the customer index.
pub(crate) fn approvals_of(
    store: &rapport_store::Store,
    customer: CustomerId,
) -> ServiceResult<Vec<Approval>> {
    indexed_approvals(
        store,
        APPROVALS_BY_CUSTOMER,
        &format!("{:020}/", customer.0),
    )
}

/// Writes `a` with the index entries that follow its state, into `batch`.
fn put_approval(batch: &mut Batch, a: &Approval) -> ServiceResult<()> {
    batch.put_doc(APPROVALS, &a.id, a).map_err(store_err)?;
    let by_customer = format!("{:020}/{}", a.request.customer.0, a.id);
    batch
        .put_doc(APPROVALS_BY_CUSTOMER, &by_customer, &a.id)
        .map_err(store_err)?;
    if a.state == ApprovalState::Pending {
        batch
            .put_doc(APPROVALS_PENDING, &a.id, &a.id)
            .map_err(store_err)?;
    } else {
        batch.remove_doc(APPROVALS_PENDING, &a.id);
    }
    Ok(())
}

/// Builds the approval indexes of a database written before they existed (once: a marker
/// records it). A database without requests needs nothing.
pub(crate) fn index_approvals(store: &rapport_store::Store) -> ServiceResult<()> {
    if store
        .doc_exists(GOVERNANCE, APPROVAL_INDEX_MARKER)
        .map_err(store_err)?
    {
        return Ok(());
    }
    let all = approvals(store)?;
    if all.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::default();
    for a in &all {
        put_approval(&mut batch, a)?;
    }
    batch
        .put_doc(GOVERNANCE, APPROVAL_INDEX_MARKER, &all.len())
        .map_err(store_err)?;
    store.write(batch, Durability::Durable).map_err(store_err)?;
    tracing::info!(requests = all.len(), "approval requests indexed");
    Ok(())
}

fn sanitized(s: &str) -> String {
    rapport_core::text::sanitize(s).into_owned()
}

impl Engine {
    /// The goodwill grant and its interaction for `r`, approved by `approval` when given.
    fn goodwill_grant(
        &self,
        caller: &Caller,
        r: &GoodwillRequest,
        disruption: &str,
        facts: &rapport_core::Affected,
        amount: Money,
        approval: Option<&Approval>,
    ) -> ServiceResult<(CompensationGrant, Interaction)> {
        let now = self.now();
        let iid = self.next_interaction_id()?;
        let touchpoint = match approval {
            Some(a) => a.request.touchpoint.clone(),
            None => r.touchpoint.trim().to_string(),
        };
        let granted_by = approval.map_or(caller.operator.clone(), |a| a.requested_by.clone());
        let grant = CompensationGrant {
            customer: r.customer,
            disruption: format!("{GOODWILL_PREFIX}{disruption}"),
            kind: facts.kind,
            delay_minutes: facts.delay_minutes,
            instrument: r.instrument.clone(),
            amount,
            policy_rule: match approval {
                Some(a) => format!("{GOODWILL_RULE} approved by {} ({})", caller.operator, a.id),
                None => GOODWILL_RULE.to_string(),
            },
            granted_by,
            touchpoint: touchpoint.clone(),
            at: now,
            interaction: iid,
        };
        let mut i = Interaction::new(
            iid,
            r.customer,
            now,
            Channel::Other("service".into()),
            InteractionKind::CompensationGranted,
        );
        i.touchpoint = Some(touchpoint);
        i.employee = Some(grant.granted_by.clone());
        i.text = Some(r.reason.clone());
        i.amounts.push(Amount {
            role: AmountRole::Compensation,
            money: amount,
        });
        let attrs = &mut i.attributes;
        attrs.insert("disruption".into(), AttrValue::Text(disruption.to_string()));
        attrs.insert(
            "disruption_kind".into(),
            AttrValue::Text(facts.kind.to_string()),
        );
        attrs.insert("instrument".into(), AttrValue::Text(r.instrument.clone()));
        attrs.insert(
            "policy_rule".into(),
            AttrValue::Text(grant.policy_rule.clone()),
        );
        attrs.insert(
            "policy_version".into(),
            AttrValue::Int(i64::from(self.policy().policy.version)),
        );
        attrs.insert("goodwill".into(), AttrValue::Bool(true));
        if let Some(a) = approval {
            attrs.insert("approval".into(), AttrValue::Text(a.id.clone()));
            attrs.insert(
                "approved_by".into(),
                AttrValue::Text(caller.operator.clone()),
            );
        }
        Ok((grant, i))
    }

    fn goodwill(
        &self,
        caller: &Caller,
        origin: &str,
        r: GoodwillRequest,
    ) -> ServiceResult<GoodwillOutcome> {
        let mut r = r;
        r.instrument = r.instrument.trim().to_ascii_lowercase();
        if !rapport_governance::INSTRUMENTS.contains(&r.instrument.as_str()) {
            return Err(ServiceError::Invalid(format!(
                "goodwill is one of: {}",
                rapport_governance::INSTRUMENTS.join(", ")
            )));
        }
        if r.amount.minor <= 0 {
            return Err(ServiceError::Invalid("goodwill must be more than 0".into()));
        }
        r.reason = r.reason.trim().to_string();
        if r.reason.is_empty() {
            return Err(ServiceError::Invalid(
                "say why goodwill is given (the reason goes with it)".into(),
            ));
        }
        self.require_customer(r.customer)?;
        let (id, facts) = self.facts(&crate::api::CompensationRequest {
            customer: r.customer,
            disruption: r.disruption.clone(),
            kind: rapport_core::DisruptionKind::Delay,
            delay_minutes: None,
            touchpoint: r.touchpoint.clone(),
            channel: None,
        })?;
        let disruption = id.to_string();
        let key = format!("{GOODWILL_PREFIX}{disruption}");
        let in_force = self.policy();
        let _guard = self.write_guard();
        if let Some(g) = self.store().grant(r.customer, &key).map_err(store_err)? {
            return Ok(GoodwillOutcome::Refused(g));
        }
        if let Some(waiting) = approvals_of(self.store(), r.customer)?
            .into_iter()
            .find(|a| {
                a.state == ApprovalState::Pending
                    && a.request.customer == r.customer
                    && a.disruption == disruption
            })
        {
            return Err(ServiceError::Invalid(format!(
                "goodwill for {disruption} is already waiting for approval ({}, asked by {} at {})",
                waiting.id, waiting.requested_by, waiting.requested_at
            )));
        }
        if in_force.limits.within(caller.role, r.amount) {
            let (grant, i) =
                self.goodwill_grant(caller, &r, &disruption, &facts, r.amount, None)?;
            let mut batch = Batch::default();
            batch.insert_grant(&grant);
            batch.put_interaction(&i);
            let event = self.audit_event(
                caller,
                origin,
                Action::GrantGoodwill,
                Some(r.customer),
                i.id.to_string(),
            );
            return match self.noting(&[r.customer], || {
                Ok(self.write_audited(batch, vec![event], Durability::Durable))
            })? {
                Ok(()) => Ok(GoodwillOutcome::Granted(grant)),
                Err(rapport_store::Error::Conflict(g)) => Ok(GoodwillOutcome::Refused(*g)),
                Err(e) => Err(store_err(e)),
            };
        }
        if !r.send_for_approval {
            return Err(ServiceError::Forbidden {
                role: caller.role,
                action: format!(
                    "grant {} of goodwill without approval (above the role's limit of policy v{}): send it for approval",
                    r.amount, in_force.version
                ),
            });
        }
        let iid = self.next_interaction_id()?;
        let now = self.now();
        let approval = Approval {
            id: format!("A{:010}", iid.0),
            request: r.clone(),
            disruption: disruption.clone(),
            requested_by: caller.operator.clone(),
            requested_role: caller.role,
            requested_at: now,
            policy_version: in_force.version,
            state: ApprovalState::Pending,
        };
        let mut i = Interaction::new(
            iid,
            r.customer,
            now,
            Channel::Other("service".into()),
            InteractionKind::Other("goodwill_requested".into()),
        );
        i.employee = Some(caller.operator.clone());
        i.text = Some(r.reason.clone());
        i.attributes
            .insert("approval".into(), AttrValue::Text(approval.id.clone()));
        i.attributes
            .insert("disruption".into(), AttrValue::Text(disruption.clone()));
        i.attributes
            .insert("amount".into(), AttrValue::Money(r.amount));
        let mut batch = Batch::default();
        put_approval(&mut batch, &approval)?;
        batch.put_interaction(&i);
        let event = self.audit_event(
            caller,
            origin,
            Action::GrantGoodwill,
            Some(r.customer),
            format!("{} queued", approval.id),
        );
        self.noting(&[r.customer], || {
            self.write_audited(batch, vec![event], Durability::Durable)
                .map_err(store_err)
        })?;
        tracing::info!(operator = %caller.operator, approval = %approval.id, amount = %r.amount, "goodwill sent for approval");
        Ok(GoodwillOutcome::Queued(approval))
    }

    fn decide_approval(
        &self,
        caller: &Caller,
        origin: &str,
        id: &str,
        decision: ApprovalDecision,
        reason: &str,
    ) -> ServiceResult<(Approval, Option<CompensationGrant>)> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::Invalid(
                "say why (the reason goes to whoever asked)".into(),
            ));
        }
        // One decision at a time: the second of two racing approvers finds it decided.
        let _guard = self.write_guard();
        let mut a: Approval = self
            .store()
            .doc(APPROVALS, id)
            .map_err(store_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("approval request {}", sanitized(id))))?;
        match &a.state {
            ApprovalState::Pending => {}
            ApprovalState::Approved { by, at, amount, .. } => {
                return Err(ServiceError::Invalid(format!(
                    "{id} was already approved by {by} at {at} ({amount} granted)"
                )));
            }
            ApprovalState::Refused { by, at, reason } => {
                return Err(ServiceError::Invalid(sanitized(&format!(
                    "{id} was already refused by {by} at {at}: {reason}"
                ))));
            }
        }
        if a.requested_by == caller.operator {
            return Err(ServiceError::Forbidden {
                role: caller.role,
                action: "decide on one's own request".into(),
            });
        }
        let amount = match decision {
            ApprovalDecision::Change(minor) if minor <= 0 => {
                return Err(ServiceError::Invalid(
                    "a changed amount must be more than 0 (refuse to grant nothing)".into(),
                ));
            }
            ApprovalDecision::Change(minor) => Money::new(minor, a.request.amount.currency),
            _ => a.request.amount,
        };
        let in_force = self.policy();
        let manages = rapport_repository::portfolio::manages(
            self.store(),
            &caller.operator,
            a.request.customer,
        )
        .map_err(crate::engine::repo_err)?;
        if decision != ApprovalDecision::Refuse
            && !manages
            && !in_force.limits.within(caller.role, amount)
        {
            return Err(ServiceError::Forbidden {
                role: caller.role,
                action: format!(
                    "approve {amount} of goodwill (above the role's limit, and not the customer's manager)"
                ),
            });
        }
        let expected = a.clone();
        let now = self.now();
        let mut batch = Batch::default();
        let mut grant = None;
        let customer = a.request.customer;
        let detail;
        if decision == ApprovalDecision::Refuse {
            a.state = ApprovalState::Refused {
                by: caller.operator.clone(),
                at: now,
                reason: reason.to_string(),
            };
            let mut i = Interaction::new(
                self.next_interaction_id()?,
                customer,
                now,
                Channel::Other("service".into()),
                InteractionKind::Other("goodwill_refused".into()),
            );
            i.employee = Some(caller.operator.clone());
            i.text = Some(reason.to_string());
            i.attributes
                .insert("approval".into(), AttrValue::Text(a.id.clone()));
            i.attributes.insert(
                "requested_by".into(),
                AttrValue::Text(a.requested_by.clone()),
            );
            batch.put_interaction(&i);
            detail = format!("{} refused", a.id);
        } else {
            let id: rapport_core::DisruptionId = a
                .disruption
                .parse()
                .map_err(|_| ServiceError::Internal(format!("{}: bad disruption", a.id)))?;
            let facts = rapport_repository::disruption::affected(self.store(), customer, &id)
                .map_err(crate::engine::repo_err)?
                .map(|(_, f)| f)
                .ok_or_else(|| {
                    ServiceError::Invalid(format!(
                        "{} no longer affects the customer on record",
                        a.disruption
                    ))
                })?;
            let mut r = a.request.clone();
            r.reason = reason.to_string();
            let (g, i) =
                self.goodwill_grant(caller, &r, &a.disruption, &facts, amount, Some(&a))?;
            a.state = ApprovalState::Approved {
                by: caller.operator.clone(),
                at: now,
                reason: reason.to_string(),
                amount,
                changed: amount != a.request.amount,
            };
            batch.insert_grant(&g);
            batch.put_interaction(&i);
            detail = format!("{} approved, {}", a.id, i.id);
            grant = Some(g);
        }
        batch.expect_doc(APPROVALS, &a.id, Some(&expected));
        put_approval(&mut batch, &a)?;
        let event = self.audit_event(
            caller,
            origin,
            Action::DecideApproval,
            Some(customer),
            detail,
        );
        let written = self.noting(&[customer], || {
            Ok(self.write_audited(batch, vec![event], Durability::Durable))
        })?;
        match written {
            Ok(()) => {
                tracing::info!(operator = %caller.operator, approval = %a.id, "approval decided");
                Ok((a, grant))
            }
            Err(rapport_store::Error::Conflict(existing)) => {
                // Goodwill for the disruption was granted by another path meanwhile: the
                // request is closed, nothing is granted twice.
                let mut closed = expected.clone();
                closed.state = ApprovalState::Refused {
                    by: caller.operator.clone(),
                    at: now,
                    reason: format!(
                        "goodwill for {} was already granted by {} at {}",
                        existing.disruption, existing.granted_by, existing.at
                    ),
                };
                let mut batch = Batch::default();
                batch.expect_doc(APPROVALS, &closed.id, Some(&expected));
                put_approval(&mut batch, &closed)?;
                let event = self.audit_event(
                    caller,
                    origin,
                    Action::DecideApproval,
                    Some(customer),
                    format!("{} closed: already granted", closed.id),
                );
                self.write_audited(batch, vec![event], Durability::Durable)
                    .map_err(store_err)?;
                Err(ServiceError::Invalid(format!(
                    "goodwill for {} was already granted by {} at {}: {} is closed, nothing more granted",
                    existing.disruption, existing.granted_by, existing.at, closed.id
                )))
            }
            Err(e) => Err(store_err(e)),
        }
    }
}

impl Engine {
    /// The queue as `caller` sees it: each request with the customer's name and whether the
    /// caller may approve or refuse it, by the same rules [`Engine::decide_approval`] applies.
    /// A customer manager who sees only their portfolios sees only their customers' requests.
    fn approval_queue(&self, caller: &Caller, pending: bool) -> ServiceResult<Vec<QueuedApproval>> {
        let scope = crate::relationship::Scope::of(self, caller)?;
        let in_force = self.policy();
        let decides = rapport_governance::permission(caller.role, Action::DecideApproval).allowed();
        let limit = in_force
            .limits
            .limits
            .iter()
            .find(|(r, _)| *r == caller.role)
            .map(|(_, l)| *l);
        let mut out = Vec::new();
        let listed = if pending {
            pending_approvals(self.store())?
        } else {
            approvals(self.store())?
        };
        for a in listed {
            let customer = a.request.customer;
            if scope.sees(self, caller, customer).is_err() {
                continue;
            }
            let customer_name = self
                .store()
                .customer(customer)
                .map_err(store_err)?
                .map_or_else(|| format!("customer {customer}"), |c| c.display_name());
            let manages =
                rapport_repository::portfolio::manages(self.store(), &caller.operator, customer)
                    .map_err(crate::engine::repo_err)?;
            let within = in_force.limits.within(caller.role, a.request.amount);
            let own = a.requested_by == caller.operator;
            let open = a.state == ApprovalState::Pending;
            let (may_approve, may_refuse, why) = if !open {
                (false, false, "decided".to_string())
            } else if !decides {
                (
                    false,
                    false,
                    format!(
                        "your role ({}) may not decide: a supervisor or the customer's manager does",
                        caller.role
                    ),
                )
            } else if own {
                (
                    false,
                    false,
                    "your own request: someone else decides".into(),
                )
            } else if manages {
                (true, true, "you manage this customer".into())
            } else if within {
                let l = match limit {
                    Some(Some(minor)) => {
                        format!(
                            "within your limit of {}",
                            Money::new(minor, in_force.limits.currency)
                        )
                    }
                    _ => "no limit for your role".to_string(),
                };
                (true, true, l)
            } else {
                let l = match limit {
                    Some(Some(minor)) => format!("{}", Money::new(minor, in_force.limits.currency)),
                    _ => "nothing".to_string(),
                };
                (
                    false,
                    true,
                    format!(
                        "above your limit of {l} and not the customer's manager: you may refuse"
                    ),
                )
            };
            out.push(QueuedApproval {
                approval: a,
                customer_name,
                may_approve,
                may_refuse,
                why,
            });
        }
        Ok(out)
    }
}

/// A policy rule's name without its version suffix (`delay 9h+ v2` is `delay 9h+`); every
/// goodwill rule is `goodwill`.
fn rule_family(rule: &str) -> String {
    if rule.contains(GOODWILL_RULE) {
        return GOODWILL_RULE.to_string();
    }
    match rule.rsplit_once(" v") {
        Some((name, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            name.to_string()
        }
        _ => rule.to_string(),
    }
}

impl Engine {
    fn policy_report(&self, version: Option<u32>) -> ServiceResult<PolicyReport> {
        let current = self.policy_in_force();
        let v = match version {
            None => current,
            Some(n) if n == current.version => current,
            Some(n) => policy_versions(self.store())?
                .into_iter()
                .find(|v| v.version == n)
                .ok_or_else(|| ServiceError::NotFound(format!("policy version {n}")))?,
        };
        let currency = v.limits.currency;
        // (group kind, group, period, what) -> (grants, total minor)
        let mut sums: std::collections::BTreeMap<(u8, String, &str, String), (u64, i64)> =
            std::collections::BTreeMap::new();
        let mut other_currency = 0;
        for g in self.store().grants() {
            let g = g.map_err(store_err)?;
            if g.amount.currency != currency {
                other_currency += 1;
                continue;
            }
            let period = match v.set_at {
                Some(t) if g.at >= t => "after",
                _ => "before",
            };
            let tier = self
                .store()
                .scores(g.customer)
                .map_err(store_err)?
                .map_or("unscored".to_string(), |s| s.tier.to_string());
            let portfolio = rapport_repository::portfolio::membership(self.store(), g.customer)
                .map_err(crate::engine::repo_err)?
                .map_or("unassigned".to_string(), |m| m.portfolio);
            let what = rule_family(&g.policy_rule);
            for (kind, group) in [(0u8, tier), (1u8, portfolio)] {
                let e = sums.entry((kind, group, period, what.clone())).or_default();
                e.0 += 1;
                e.1 += g.amount.minor;
            }
        }
        let scale = 10f64.powi(currency.minor_digits() as i32);
        let (mut by_tier, mut by_portfolio) = (Vec::new(), Vec::new());
        for ((kind, group, period, what), (n, total)) in sums {
            let line = ReportLine {
                group,
                period: period.to_string(),
                what,
                grants: n,
                total: total as f64 / scale,
                mean: total as f64 / scale / n as f64,
            };
            if kind == 0 {
                by_tier.push(line);
            } else {
                by_portfolio.push(line);
            }
        }
        Ok(PolicyReport {
            version: v.version,
            since: v.set_at,
            currency: currency.to_string(),
            by_tier,
            by_portfolio,
            other_currency,
        })
    }
}
