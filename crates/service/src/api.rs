//! The one service API that the console and the subcommands use, whether the store is
//! embedded in the same process or owned by `rapport serve` across a socket.
//!
//! Both implementations ([`crate::Embedded`] and [`crate::Remote`]) must behave the same and
//! pass the same tests. Requests are authorised by role inside the implementation that owns
//! the store (the server, or the embedded service acting as local admin), never by the caller.

use std::collections::BTreeMap;
use std::future::Future;

use rapport_core::{
    Affected, Amount, AttrValue, ChangeEvent, Channel, CompensationGrant, CustomerId,
    CustomerRecord, CustomerSummary, Disruption, DisruptionKind, Interaction, InteractionId,
    InteractionKind, Money, Phase, Preference, Tier, Timestamp,
};
use rapport_governance::Role;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

/// Who is using the service and how it is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The operator's name.
    pub operator: String,
    /// The operator's role.
    pub role: Role,
    /// Embedded (local admin on the database file) or connected to a server.
    pub mode: Mode,
}

/// How the service is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// The database is opened in this process; the user acts as local admin.
    Embedded {
        /// The database path.
        db: String,
    },
    /// Connected to `rapport serve`.
    Remote {
        /// The server address or socket path.
        addr: String,
    },
}

/// Which interactions to return, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InteractionQuery {
    /// At most this many (0 means the implementation's default, 100).
    pub limit: usize,
    /// Only interactions strictly older than this position (for paging).
    pub before: Option<(Timestamp, InteractionId)>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<InteractionKind>,
    /// Only these channels (empty: all).
    pub channels: Vec<Channel>,
    /// Only at or after this time.
    pub since: Option<Timestamp>,
}

/// An interaction entered at a console or by a script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewInteraction {
    /// The customer.
    pub customer: CustomerId,
    /// What happened.
    pub kind: InteractionKind,
    /// Through which channel.
    pub channel: Channel,
    /// Where (gate, desk, queue).
    pub touchpoint: Option<String>,
    /// Activity-cycle phase.
    pub phase: Option<Phase>,
    /// Free text.
    pub text: Option<String>,
    /// Granular detail.
    pub attributes: BTreeMap<String, AttrValue>,
    /// Money involved.
    pub amounts: Vec<Amount>,
}

impl NewInteraction {
    /// A complaint case opened for `customer`, `about` a disruption or booking of theirs when
    /// given (the service checks it and stores it in canonical form).
    pub fn complaint(
        customer: CustomerId,
        text: String,
        about: Option<String>,
        channel: Channel,
        touchpoint: Option<String>,
    ) -> NewInteraction {
        let mut attributes = BTreeMap::new();
        if let Some(a) = about.filter(|a| !a.trim().is_empty()) {
            attributes.insert(
                rapport_core::case::ABOUT_ATTR.to_string(),
                AttrValue::Text(a),
            );
        }
        NewInteraction {
            customer,
            kind: InteractionKind::Complaint,
            channel,
            touchpoint,
            phase: None,
            text: Some(text),
            attributes,
            amounts: Vec::new(),
        }
    }

    /// The resolution of complaint `case` of `customer`: what was done (the service closes a
    /// case once).
    pub fn resolution(
        customer: CustomerId,
        case: InteractionId,
        resolution: String,
        channel: Channel,
    ) -> NewInteraction {
        let mut attributes = BTreeMap::new();
        attributes.insert(
            rapport_core::case::CASE_ATTR.to_string(),
            AttrValue::Text(case.to_string()),
        );
        NewInteraction {
            customer,
            kind: rapport_core::case::resolution_kind(),
            channel,
            touchpoint: None,
            phase: Some(Phase::Post),
            text: Some(resolution),
            attributes,
            amounts: Vec::new(),
        }
    }
}

/// A request to compensate a customer for a disruption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompensationRequest {
    /// The customer.
    pub customer: CustomerId,
    /// The disruption's reference, e.g. `RP123/2026-11-23`.
    pub disruption: String,
    /// What kind of disruption.
    pub kind: DisruptionKind,
    /// Delay in minutes, for delays.
    pub delay_minutes: Option<u32>,
    /// Where the grant is made, e.g. `gate C12`.
    pub touchpoint: String,
    /// The channel the operator works at (the grant's interaction is recorded there); `None`
    /// records it as `service`.
    #[serde(default)]
    pub channel: Option<Channel>,
}

/// What the compensation policy entitles a customer to for a disruption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// Voucher, miles, cash...
    pub instrument: String,
    /// How much.
    pub amount: Money,
    /// The rule that applies, e.g. `delay 6h+ v1`.
    pub rule: String,
    /// A grant that already exists for this customer and disruption, if any.
    pub existing: Option<CompensationGrant>,
}

/// A care item the policy gives on the spot (a meal voucher, a hotel night).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareItem {
    /// What, e.g. `meal voucher`.
    pub item: String,
    /// Its value.
    pub amount: Money,
}

/// One disruption as the front line needs it for one customer: the facts, what happened to
/// the customer, what the policy entitles (or why nothing), the care items, and any grant
/// already made (who, where, when, how much) in `entitlement.existing` or `existing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisruptionEntry {
    /// The disruption (its affected list holds this customer's entry only).
    pub disruption: Disruption,
    /// What happened to this customer.
    pub affected: Affected,
    /// What the policy entitles, when it entitles anything.
    pub entitlement: Option<Entitlement>,
    /// Why the policy entitles nothing, when it does not.
    pub not_entitled: Option<String>,
    /// Care items by the policy.
    pub care: Vec<CareItem>,
    /// The grant already made for this disruption, if any.
    pub existing: Option<CompensationGrant>,
}

/// One passenger of a disrupted flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passenger {
    /// Display name.
    pub name: String,
    /// Value tier, if scored.
    pub tier: Option<Tier>,
    /// The passenger's entry: facts, entitlement, care and any grant.
    pub entry: DisruptionEntry,
}

/// A disruption with every customer it affected: "same delay, same compensation" at a
/// glance, and the list a whole-flight grant works through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightView {
    /// The disruption (affected as now, merges followed).
    pub disruption: Disruption,
    /// Its passengers in the order they were recorded.
    pub passengers: Vec<Passenger>,
}

/// The result of granting to one passenger of a whole-flight grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightGrant {
    /// The passenger.
    pub customer: CustomerId,
    /// Granted now, or refused as already granted.
    pub outcome: Option<GrantOutcome>,
    /// Why nothing was granted otherwise (not entitled, above the role's limit).
    pub problem: Option<String>,
}

/// A disruption an operator declares because the sources do not report it yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    /// The reference in any shape (`RP121/2026-11-23`, `bag 0582417549`).
    pub disruption: String,
    /// What happened.
    pub kind: DisruptionKind,
    /// The delay, for delays.
    pub delay_minutes: Option<u32>,
    /// The cause, when known.
    pub cause: Option<String>,
    /// Why it is declared (required): what the operator knows.
    pub reason: String,
    /// The customers it affected.
    pub customers: Vec<CustomerId>,
}

/// The outcome of a compensation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantOutcome {
    /// Granted now.
    Granted(CompensationGrant),
    /// Refused: this grant already exists (who, where, when).
    Refused(CompensationGrant),
}

/// Counts of customers per tier and the value skew, for the overview screen.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Overview {
    /// Customers in the pool.
    pub customers: u64,
    /// Interactions in the pool.
    pub interactions: u64,
    /// Customers per tier (unscored customers are not counted).
    pub tiers: BTreeMap<Tier, u64>,
    /// Lorenz curve points (share of customers, share of value), both 0-1, ascending.
    pub lorenz: Vec<(f64, f64)>,
    /// Gini coefficient of value.
    pub gini: Option<f64>,
    /// Share of value from the top 1, 2, 5, 10, 20 percent of customers.
    pub top_shares: Vec<(f64, f64)>,
    /// Rows in quarantine by reason.
    pub quarantine: BTreeMap<String, u64>,
    /// Merge-review items waiting.
    pub reviews_pending: u64,
    /// When scores were last computed.
    pub scored_at: Option<Timestamp>,
}

/// One entry of a working list (e.g. valuable customers who complained more than once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEntry {
    /// The customer.
    pub customer: CustomerSummary,
    /// Why the customer is on the list, in words.
    pub reason: String,
}

/// What a live subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LiveEvent {
    /// Something changed (re-read what you show of that customer).
    Change(ChangeEvent),
    /// The connection to the server dropped; the client is reconnecting.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// Connected again: re-read everything shown (changes may have been missed).
    Reconnected,
}

/// Which customers a subscription watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Watch {
    /// Every change.
    All,
    /// Changes to these customers only.
    Customers(Vec<CustomerId>),
}

/// A live subscription: events arrive on `events`; change the watched set with
/// [`Subscription::watch`]. Dropping it ends the subscription.
#[derive(Debug)]
pub struct Subscription {
    /// Incoming events. Bounded: a reader that falls behind gets `Change::Lagged`.
    pub events: mpsc::Receiver<LiveEvent>,
    /// The watched set, read by the producer.
    pub watching: watch::Sender<Watch>,
}

impl Subscription {
    /// Watch another set of customers from now on.
    pub fn watch(&self, w: Watch) {
        // A closed producer means the subscription is over; the next `recv` says so.
        let _ = self.watching.send(w);
    }
}

/// Errors every service operation can return; they cross the wire unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// No such customer (or other object).
    #[error("not found: {0}")]
    NotFound(String),
    /// The operator's role may not do this.
    #[error("forbidden: role {role} may not {action}")]
    Forbidden {
        /// The role.
        role: Role,
        /// The refused action.
        action: String,
    },
    /// Not logged in, or the session expired.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The request is malformed or violates a rule.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The server cannot be reached or the store is unavailable.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The request took too long.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// Client and server speak different protocol versions.
    #[error("protocol version mismatch: client {client}, server {server}")]
    VersionMismatch {
        /// Client's version.
        client: u32,
        /// Server's version.
        server: u32,
    },
    /// Something failed inside the service; the message is for logs and admins.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias for service calls.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// The operations of Rapport, the same embedded and over the network.
///
/// Each request is written once, here, over the [`crate::Transport`] (the request/reply
/// mapping is in `typed.rs`); an implementation provides only the transport, who it is
/// ([`Service::session`]) and live subscriptions ([`Service::subscribe`]).
pub trait Service: crate::Transport + Clone + Send + Sync + 'static + crate::Assessments {
    /// Who is using the service, in which role, and how it is reached.
    fn session(&self) -> SessionInfo;

    /// Type-ahead search by name (with typos), phone in any shape, e-mail, loyalty number,
    /// booking reference or source key; best matches first.
    fn search(
        &self,
        query: &str,
        limit: usize,
    ) -> impl Future<Output = ServiceResult<Vec<CustomerSummary>>> + Send {
        crate::typed::search(self, query, limit)
    }

    /// The unified record with one page of interactions.
    fn open(
        &self,
        customer: CustomerId,
        query: InteractionQuery,
    ) -> impl Future<Output = ServiceResult<CustomerRecord>> + Send {
        crate::typed::open(self, customer, query)
    }

    /// A page of interactions, newest first (for scrolling and filtering).
    fn interactions(
        &self,
        customer: CustomerId,
        query: InteractionQuery,
    ) -> impl Future<Output = ServiceResult<Vec<Interaction>>> + Send {
        crate::typed::interactions(self, customer, query)
    }

    /// Logs an interaction; durable when this returns.
    fn log_interaction(
        &self,
        new: NewInteraction,
    ) -> impl Future<Output = ServiceResult<Interaction>> + Send {
        crate::typed::log_interaction(self, new)
    }

    /// Records a stated preference (the newest per topic wins); durable when this returns.
    fn record_preference(
        &self,
        customer: CustomerId,
        topic: String,
        value: String,
        channel: Channel,
    ) -> impl Future<Output = ServiceResult<Preference>> + Send {
        crate::typed::record_preference(self, customer, topic, value, channel)
    }

    /// What the policy entitles the customer to for a disruption, and any existing grant.
    fn entitlement(
        &self,
        request: CompensationRequest,
    ) -> impl Future<Output = ServiceResult<Entitlement>> + Send {
        crate::typed::entitlement(self, request)
    }

    /// Grants compensation at most once per customer and disruption, atomically; durable when
    /// this returns `Granted`.
    fn grant_compensation(
        &self,
        request: CompensationRequest,
    ) -> impl Future<Output = ServiceResult<GrantOutcome>> + Send {
        crate::typed::grant_compensation(self, request)
    }

    /// The customer's disruptions, newest first, each with its entitlement, care items and
    /// any grant already made.
    fn disruptions(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = ServiceResult<Vec<DisruptionEntry>>> + Send {
        crate::typed::disruptions(self, customer)
    }

    /// A disruption by reference (any shape) with every customer it affected.
    fn flight(&self, disruption: &str) -> impl Future<Output = ServiceResult<FlightView>> + Send {
        crate::typed::flight(self, disruption)
    }

    /// Grants to every passenger of a disruption what the policy entitles, each at most once
    /// (passengers already compensated are refused, naming the first grant).
    fn grant_flight(
        &self,
        disruption: &str,
        touchpoint: &str,
    ) -> impl Future<Output = ServiceResult<Vec<FlightGrant>>> + Send {
        crate::typed::grant_flight(self, disruption, touchpoint)
    }

    /// Declares a disruption the sources do not report (roles the policy allows; recorded
    /// with its reason and who declared it); durable when this returns.
    fn declare_disruption(
        &self,
        declaration: Declaration,
    ) -> impl Future<Output = ServiceResult<Disruption>> + Send {
        crate::typed::declare_disruption(self, declaration)
    }

    /// Tier distribution, value skew and data-quality counts.
    fn overview(&self) -> impl Future<Output = ServiceResult<Overview>> + Send {
        crate::typed::overview(self)
    }

    /// A working list by name (see `rapport lists --help` for the names).
    fn list(
        &self,
        name: &str,
        limit: usize,
    ) -> impl Future<Output = ServiceResult<Vec<ListEntry>>> + Send {
        crate::typed::list(self, name, limit)
    }

    /// Live changes for the watched customers.
    fn subscribe(&self, watch: Watch) -> impl Future<Output = ServiceResult<Subscription>> + Send;
}
