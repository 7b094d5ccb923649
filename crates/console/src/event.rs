//! The closed set of events the console's loop handles, and the replies of background requests.

use std::time::Duration;

use crossterm::event::KeyEvent;
use rapport_core::{CustomerId, CustomerRecord, CustomerSummary, Interaction, Preference};
use rapport_service::{
    Entitlement, GrantOutcome, ListEntry, LiveEvent, Overview, ServiceResult, Subscription,
};

/// Everything that can happen to the console.
// Events move once through a channel; boxing the large ones would buy nothing measurable.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    /// A key was pressed (releases and repeats are dropped at the source).
    Key(KeyEvent),
    /// The terminal was resized to columns x rows.
    Resize(u16, u16),
    /// Time passed (relative times, highlight expiry).
    Tick,
    /// A background request finished.
    Reply(Reply),
    /// The server pushed a change or a connection state.
    Live(LiveEvent),
    /// SIGTERM, SIGHUP or SIGINT: restore the terminal and leave.
    Shutdown,
}

/// The answer to a background request. Requests of one kind carry a sequence number: only
/// the newest is applied, so a slow answer never overwrites a newer one.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Reply {
    /// The live subscription is ready (or failed).
    Subscribed(ServiceResult<Subscription>),
    /// Search results.
    Search {
        /// Request number.
        seq: u64,
        /// What was searched.
        query: String,
        /// The hits.
        result: ServiceResult<Vec<CustomerSummary>>,
        /// How long the service took.
        elapsed: Duration,
    },
    /// A record was opened or re-read.
    Record {
        /// Request number.
        seq: u64,
        /// The customer.
        id: CustomerId,
        /// The record.
        result: ServiceResult<CustomerRecord>,
        /// A re-read after a change (highlight what is new).
        reload: bool,
    },
    /// A page of history (filtered, or older rows to append).
    History {
        /// Request number.
        seq: u64,
        /// Append to what is shown (older page) or replace it (new filter).
        append: bool,
        /// The rows.
        result: ServiceResult<Vec<Interaction>>,
        /// How many were asked for (fewer means the end was reached).
        limit: usize,
    },
    /// What the policy entitles the customer to.
    Entitlement {
        /// Request number.
        seq: u64,
        /// The answer.
        result: ServiceResult<Entitlement>,
    },
    /// The customer's disruptions, for the grant form to offer.
    Disruptions {
        /// The customer they belong to.
        customer: CustomerId,
        /// The list, newest first.
        result: ServiceResult<Vec<rapport_service::DisruptionEntry>>,
    },
    /// The customer's disruptions, for the flight view's tabs.
    FlightDisruptions {
        /// The customer they belong to.
        customer: CustomerId,
        /// The list, newest first.
        result: ServiceResult<Vec<rapport_service::DisruptionEntry>>,
    },
    /// A disruption with its passengers.
    Flight {
        /// The reference asked for.
        disruption: String,
        /// The view.
        result: ServiceResult<rapport_service::FlightView>,
    },
    /// What a whole-flight grant did.
    FlightGranted {
        /// The reference granted for.
        disruption: String,
        /// Per passenger.
        result: ServiceResult<Vec<rapport_service::FlightGrant>>,
    },
    /// The outcome of a grant.
    Grant(ServiceResult<GrantOutcome>),
    /// An interaction (log, note, idea) was written.
    Logged(ServiceResult<Interaction>),
    /// A preference was recorded.
    Preference(ServiceResult<Preference>),
    /// Questionnaire answers were stored.
    Answered(ServiceResult<u64>),
    /// A stage assessment.
    Assessment(ServiceResult<rapport_service::AssessmentEntry>),
    /// A tab of the learning screen.
    Learning {
        /// Request number.
        seq: u64,
        /// What was loaded.
        result: ServiceResult<crate::screens::learning::Loaded>,
    },
    /// Overview figures.
    Overview {
        /// Request number.
        seq: u64,
        /// The figures.
        result: ServiceResult<Overview>,
    },
    /// A working list.
    List {
        /// Request number.
        seq: u64,
        /// The list's name.
        name: String,
        /// Its entries.
        result: ServiceResult<Vec<ListEntry>>,
    },
    /// Every offer for a customer and the next best action.
    Offers {
        /// The customer.
        id: CustomerId,
        /// The offers.
        result: ServiceResult<rapport_service::relationship::OfferView>,
    },
    /// An answer to a presented offer, logged.
    OfferAnswered(ServiceResult<rapport_service::relationship::Answered>),
    /// Customer equity.
    Equity(ServiceResult<rapport_service::relationship::EquityView>),
    /// The approval queue as this operator sees it.
    Queue {
        /// Request number.
        seq: u64,
        /// The requests.
        result: ServiceResult<Vec<rapport_service::governance_ops::QueuedApproval>>,
    },
    /// A decision on a request of the queue.
    Decided(
        ServiceResult<(
            rapport_service::governance_ops::Approval,
            Option<rapport_core::CompensationGrant>,
        )>,
    ),
    /// The policy in force, for the goodwill form's limit.
    GoodwillPolicy(ServiceResult<rapport_service::governance_ops::PolicyVersion>),
    /// What a goodwill request did.
    Goodwill {
        /// The customer it was for.
        customer: CustomerId,
        /// The outcome.
        result: ServiceResult<rapport_service::governance_ops::GoodwillOutcome>,
    },
    /// The requests waiting for approval for the customer shown.
    Waiting {
        /// The customer.
        customer: CustomerId,
        /// The requests.
        result: ServiceResult<Vec<rapport_service::governance_ops::Approval>>,
    },
    /// Every approval request, to see whether this operator's own were decided (`start`:
    /// read at the start, to know which are still waiting).
    Outcomes {
        /// Read at the start of the session.
        start: bool,
        /// The requests.
        result: ServiceResult<Vec<rapport_service::governance_ops::Approval>>,
    },
}
