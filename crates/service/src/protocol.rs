//! The messages of the wire protocol (encoded by [`crate::codec`]).
//!
//! A connection starts with [`ClientMsg::Hello`] (magic and protocol version) answered by
//! [`ServerMsg::Welcome`] or [`ServerMsg::Refused`]; then [`ClientMsg::Login`] or
//! [`ClientMsg::Resume`] answered by [`ServerMsg::LoggedIn`]; then requests, each with an id
//! the reply carries, and live events pushed for the connection's subscriptions.

use rapport_core::{
    Channel, CustomerId, CustomerRecord, CustomerSummary, Disruption, Interaction, Preference,
};
use rapport_governance::questionnaire::Answers;
use rapport_governance::{Action, OperatorInfo, Role, SessionToken};
use serde::{Deserialize, Serialize};

use crate::api::{
    CompensationRequest, Declaration, DisruptionEntry, Entitlement, FlightGrant, FlightView,
    GrantOutcome, InteractionQuery, ListEntry, LiveEvent, NewInteraction, Overview, ServiceError,
    Watch,
};
use crate::assess::AssessmentEntry;
use crate::data::{DataReply, DataRequest};
use crate::governance_ops::{GovernanceReply, GovernanceRequest};
use crate::learning::{LearningReply, LearningRequest};
use crate::relationship::{RelationshipReply, RelationshipRequest};

/// The protocol version; a client with another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// The first bytes of every handshake, so that a stray client (HTTP, telnet) is told apart.
pub const MAGIC: [u8; 4] = *b"RPRT";

/// From client to server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// The first message.
    Hello {
        /// [`MAGIC`].
        magic: [u8; 4],
        /// The client's [`PROTOCOL_VERSION`].
        version: u32,
    },
    /// Log in with a password.
    Login {
        /// Operator name.
        user: String,
        /// Password.
        password: String,
    },
    /// Resume a session after a reconnect.
    Resume {
        /// The token from an earlier login.
        token: SessionToken,
    },
    /// A request; the reply carries the same id.
    Request {
        /// Chosen by the client, unique per connection.
        id: u64,
        /// What to do.
        body: Request,
    },
}

/// Every request type. Each maps to one [`Action`] of the permission matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// [`crate::Service::search`].
    Search {
        /// Query text.
        query: String,
        /// Max hits.
        limit: usize,
    },
    /// [`crate::Service::open`].
    Open {
        /// Customer.
        customer: CustomerId,
        /// Interaction page.
        query: InteractionQuery,
    },
    /// [`crate::Service::interactions`].
    Interactions {
        /// Customer.
        customer: CustomerId,
        /// Interaction page.
        query: InteractionQuery,
    },
    /// [`crate::Service::log_interaction`].
    LogInteraction(NewInteraction),
    /// [`crate::Service::record_preference`].
    RecordPreference {
        /// Customer.
        customer: CustomerId,
        /// Topic.
        topic: String,
        /// Value.
        value: String,
        /// Channel.
        channel: Channel,
    },
    /// [`crate::Service::entitlement`].
    Entitlement(CompensationRequest),
    /// [`crate::Service::grant_compensation`].
    Grant(CompensationRequest),
    /// [`crate::Service::overview`].
    Overview,
    /// [`crate::Service::list`].
    List {
        /// List name.
        name: String,
        /// Max entries.
        limit: usize,
    },
    /// Start a subscription with a client-chosen id; events carry it.
    Subscribe {
        /// Subscription id, unique per connection.
        sub: u64,
        /// What to watch.
        watch: Watch,
    },
    /// Change what a subscription watches.
    SetWatch {
        /// Subscription id.
        sub: u64,
        /// What to watch.
        watch: Watch,
    },
    /// End a subscription.
    Unsubscribe {
        /// Subscription id.
        sub: u64,
    },
    /// [`crate::OperatorAdmin::operators`].
    ListOperators,
    /// [`crate::OperatorAdmin::add_operator`].
    AddOperator {
        /// Name.
        name: String,
        /// Role.
        role: Role,
        /// Password (hashed at the server).
        password: String,
    },
    /// [`crate::OperatorAdmin::set_password`].
    SetPassword {
        /// Name.
        name: String,
        /// New password.
        password: String,
    },
    /// [`crate::OperatorAdmin::disable_operator`].
    DisableOperator {
        /// Name.
        name: String,
    },
    /// [`crate::Assessments::assess`].
    Assess {
        /// Days to look back over.
        period_days: u32,
    },
    /// [`crate::Assessments::submit_answers`].
    SubmitAnswers(Answers),
    /// [`crate::Assessments::assessment_history`].
    AssessmentHistory,
    /// [`crate::OperatorAdmin::backup`].
    Backup {
        /// Where the server writes the backup: an absolute path on the server's machine.
        path: String,
        /// Keep the operators' password hashes (else they are written blank).
        password_hashes: bool,
    },
    /// [`crate::Service::disruptions`].
    Disruptions {
        /// Customer.
        customer: CustomerId,
    },
    /// [`crate::Service::flight`].
    Flight {
        /// The reference, any shape.
        disruption: String,
    },
    /// [`crate::Service::grant_flight`].
    GrantFlight {
        /// The reference, any shape.
        disruption: String,
        /// Where the grants are made.
        touchpoint: String,
    },
    /// [`crate::Service::declare_disruption`].
    DeclareDisruption(Declaration),
    /// The steward's and analyst's requests ([`crate::Operations`]).
    Data(DataRequest),
    /// Relationship governance ([`crate::Relationships`]).
    Relationship(RelationshipRequest),
    /// The learning loop's requests ([`crate::Learning`]).
    Learning(LearningRequest),
    /// Audit, policy and approvals ([`crate::Governance`]).
    Governance(GovernanceRequest),
}

impl Request {
    /// The permission-matrix action this request needs. Setting one's own password is
    /// [`Action::ChangeOwnPassword`]; the caller's name decides.
    pub fn action(&self, caller: &str) -> Action {
        match self {
            Request::Search { .. } => Action::Search,
            Request::Open { .. } => Action::OpenRecord,
            Request::Interactions { .. } => Action::ReadInteractions,
            Request::LogInteraction(_) => Action::LogInteraction,
            Request::RecordPreference { .. } => Action::RecordPreference,
            Request::Entitlement(_) => Action::ReadEntitlement,
            Request::Grant(_) => Action::GrantCompensation,
            Request::Overview => Action::ReadOverview,
            Request::List { .. } => Action::ReadList,
            Request::Subscribe { .. } | Request::SetWatch { .. } | Request::Unsubscribe { .. } => {
                Action::Subscribe
            }
            Request::ListOperators => Action::ListOperators,
            Request::AddOperator { .. } => Action::AddOperator,
            Request::SetPassword { name, .. } if name == caller => Action::ChangeOwnPassword,
            Request::SetPassword { .. } => Action::SetPassword,
            Request::DisableOperator { .. } => Action::DisableOperator,
            Request::Assess { .. } | Request::AssessmentHistory => Action::Assess,
            Request::SubmitAnswers(_) => Action::AnswerQuestionnaire,
            Request::Backup { .. } => Action::Backup,
            Request::Disruptions { .. } | Request::Flight { .. } => Action::ReadDisruptions,
            Request::GrantFlight { .. } => Action::GrantCompensation,
            Request::DeclareDisruption(_) => Action::DeclareDisruption,
            Request::Data(d) => d.action(),
            Request::Relationship(r) => r.action(),
            Request::Learning(l) => l.action(),
            Request::Governance(g) => g.action(),
        }
    }

    /// Whether the request may run for long (a backup, an ingest, a scoring run): the long
    /// time-out ([`crate::server::BACKUP_TIMEOUT`]) applies instead of the request time-out.
    pub fn is_long(&self) -> bool {
        match self {
            Request::Backup { .. } => true,
            Request::Data(d) => d.is_long(),
            Request::Relationship(r) => r.is_long(),
            Request::Learning(l) => l.is_long(),
            Request::Governance(g) => g.is_long(),
            _ => false,
        }
    }
}

/// The successful result of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Search hits.
    Summaries(Vec<CustomerSummary>),
    /// A record.
    Record(Box<CustomerRecord>),
    /// A page of interactions.
    Interactions(Vec<Interaction>),
    /// The logged interaction.
    Interaction(Box<Interaction>),
    /// The recorded preference.
    Preference(Preference),
    /// An entitlement.
    Entitlement(Box<Entitlement>),
    /// A grant outcome.
    Grant(Box<GrantOutcome>),
    /// The overview.
    Overview(Box<Overview>),
    /// A working list.
    List(Vec<ListEntry>),
    /// Operators.
    Operators(Vec<OperatorInfo>),
    /// A stage assessment.
    Assessment(Box<AssessmentEntry>),
    /// Stored assessments, oldest first.
    Assessments(Vec<AssessmentEntry>),
    /// How many items a request stored.
    Count(u64),
    /// What a backup wrote.
    Backup(rapport_store::ExportSummary),
    /// Done, nothing to return.
    Done,
    /// A customer's disruptions.
    Disruptions(Vec<DisruptionEntry>),
    /// A disruption with its passengers.
    Flight(Box<FlightView>),
    /// The grants of a whole-flight grant.
    FlightGrants(Vec<FlightGrant>),
    /// A declared disruption.
    Disruption(Box<Disruption>),
    /// The reply to a [`Request::Data`].
    Data(DataReply),
    /// The reply to a [`Request::Relationship`].
    Relationship(RelationshipReply),
    /// The reply to a [`Request::Learning`].
    Learning(LearningReply),
    /// The reply to a [`Request::Governance`].
    Governance(GovernanceReply),
}

/// From server to client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// The handshake is accepted.
    Welcome {
        /// The server's [`PROTOCOL_VERSION`].
        version: u32,
    },
    /// The handshake or login is refused; the server closes the connection.
    Refused(ServiceError),
    /// Logged in.
    LoggedIn {
        /// The operator.
        operator: String,
        /// The role.
        role: Role,
        /// The token to resume with.
        token: SessionToken,
        /// Expiry, milliseconds since the epoch.
        expires_ms: i64,
    },
    /// The reply to request `id`.
    Reply {
        /// The request id.
        id: u64,
        /// The result.
        result: Result<Reply, ServiceError>,
    },
    /// A live event for subscription `sub`.
    Event {
        /// The subscription id.
        sub: u64,
        /// The event.
        event: LiveEvent,
    },
}
