//! Relationship governance through the one door (#18): portfolios with their metrics, the
//! assignment by rules and moves by hand, the governance files (portfolios, offers, offer
//! rules), every offer explained for a customer with the next best action, the customers'
//! answers to presented offers, the offer report and the customer-equity view.
//!
//! Each request is one [`RelationshipRequest`] answered by one [`RelationshipReply`];
//! [`Relationships`] writes each once on the client side over any [`crate::Transport`], and
//! [`crate::Engine`] answers them where the store is owned, with the rules of
//! `rapport_governance` and the stored documents of `rapport_repository::portfolio` and
//! `rapport_repository::offer`.
//!
//! **Scope.** A customer manager acts only on the customers of the portfolios they manage
//! (logging, preferences, grants, declarations, offer answers, moves), and, where the
//! portfolio file sets `customer_managers_see = "portfolio"`, sees only those too (search
//! hits, records, histories, disruptions, working lists and flights are cut to them).
//! `Scope` is worked out per request from two point reads and applied by the engine.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use rapport_core::{Channel, CustomerId, Date, Interaction, Tier, Timestamp};
use rapport_governance::equity::{
    EquityChange, EquitySnapshot, SegmentValue, equity_change, equity_share, equity_snapshot,
    segment_lifetime_values,
};
use rapport_governance::offer::OfferRule;
use rapport_governance::portfolio::ManagerScope;
use rapport_governance::{
    Action, Answer, Explanation, NextBestAction, PortfolioMetrics, RelationshipConfig, Role,
    SourceText,
};
use rapport_repository::offer::{NewAnswer, OfferAnswer, OfferReportRow};
use rapport_repository::portfolio::{self, AssignReport, Expect, Move, StoredText};
use serde::{Deserialize, Serialize};

use crate::api::{ServiceError, ServiceResult};
use crate::data::{server_path, user_err};
use crate::engine::{Caller, Engine, repo_err, store_err};
use crate::protocol::{Reply, Request};
use crate::typed::Transport;
use crate::unexpected;

/// Most customers listed with a portfolio or as unassigned.
pub const MAX_LISTED: usize = 10_000;

/// A portfolio with its manager and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortfolioView {
    /// The portfolio id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its customer manager (an operator).
    pub manager: String,
    /// The metrics of its customers.
    pub metrics: PortfolioMetrics,
    /// Its customers per tier after the scoring run before the latest one (as kept then),
    /// for the tier migration since the last period; `None` when no earlier run is kept.
    pub previous_tiers: Option<std::collections::BTreeMap<Tier, u64>>,
}

/// One customer of a portfolio, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberLine {
    /// The customer.
    pub customer: CustomerId,
    /// Its name now.
    pub name: String,
    /// Its tier, when scored.
    pub tier: Option<Tier>,
    /// Its lifetime value, when scored.
    pub clv: Option<f64>,
}

/// A portfolio with its customers, highest lifetime value first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortfolioDetail {
    /// The portfolio and its metrics.
    pub view: PortfolioView,
    /// Its customers, at most the number asked for.
    pub members: Vec<MemberLine>,
}

/// The governance files in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesView {
    /// Portfolios, offers and rules, checked.
    pub config: RelationshipConfig,
    /// The three files as loaded (portfolios, offers, rules), with who and when.
    pub loaded: Vec<StoredText>,
}

/// What a load stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    /// The files read this time (the others are the ones stored before).
    pub files: Vec<String>,
    /// Portfolios defined.
    pub portfolios: u64,
    /// Assignment rules.
    pub assignment_rules: u64,
    /// Offers in the catalogue, and its version.
    pub offers: u64,
    /// The catalogue's version.
    pub catalogue_version: u32,
    /// The capability managers' default rules.
    pub defaults: u64,
    /// The customer managers' rules, and their file's version.
    pub rules: u64,
    /// The rules file's version.
    pub rules_version: u32,
    /// What customer managers see.
    pub managers_see: ManagerScope,
}

/// Every offer for one customer, and what to do next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferView {
    /// The customer.
    pub customer: CustomerId,
    /// Its name.
    pub name: String,
    /// Every offer's outcome, with the rule and portfolio that decided it.
    pub explanation: Explanation,
    /// The next best action.
    pub next: NextBestAction,
    /// The day the rules were evaluated for.
    pub day: Date,
}

/// A customer's answer to a presented offer, recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answered {
    /// The interaction written into the customer's history.
    pub interaction: Interaction,
    /// The answer as the report keeps it.
    pub answer: OfferAnswer,
}

/// Customer equity: the latest scoring run's, by portfolio and tier, and its change since
/// the run before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquityView {
    /// The latest snapshot (taken after each scoring run; worked out now when none is kept).
    pub latest: EquitySnapshot,
    /// The snapshot of the run before, if one is kept.
    pub previous: Option<EquitySnapshot>,
    /// The change by portfolio and tier since the run before.
    pub changes: Vec<EquityChange>,
    /// Segment lifetime value (average CLV times customers), largest first.
    pub segments: Vec<SegmentValue>,
    /// The market's customer equity, when given.
    pub market: Option<f64>,
    /// Our share of it.
    pub share: Option<f64>,
    /// The portfolios' names (id, name, manager) for display.
    pub portfolios: Vec<rapport_core::PortfolioRef>,
    /// The currency of every amount here: the deployment's reporting currency.
    #[serde(default)]
    pub currency: Option<rapport_core::Currency>,
}

/// The relationship-governance requests (one [`Action`] each; see
/// [`RelationshipRequest::action`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RelationshipRequest {
    /// [`Relationships::portfolios`].
    Portfolios,
    /// [`Relationships::portfolio`].
    Portfolio {
        /// The portfolio id.
        id: String,
        /// Most customers listed.
        members: usize,
    },
    /// [`Relationships::unassigned`].
    Unassigned {
        /// Most customers listed.
        limit: usize,
    },
    /// [`Relationships::moves`].
    Moves {
        /// The customer.
        customer: CustomerId,
    },
    /// [`Relationships::portfolio_rules`].
    Rules,
    /// [`Relationships::assign`].
    Assign {
        /// Also move the customers placed by hand.
        override_hand: bool,
    },
    /// [`Relationships::move_customer`].
    Move {
        /// The customer.
        customer: CustomerId,
        /// The portfolio to move to.
        to: String,
        /// Why (kept with the move).
        reason: String,
        /// The portfolio the operator saw the customer in (`Some(None)`: in none); the move
        /// fails if someone moved the customer meanwhile. `None`: wherever it is.
        seen: Option<Option<String>>,
    },
    /// [`Relationships::load_relationship`].
    Load {
        /// The portfolio file, an absolute path where the store is.
        portfolios: Option<String>,
        /// The offer catalogue.
        offers: Option<String>,
        /// The customer managers' offer rules.
        rules: Option<String>,
    },
    /// [`Relationships::explain_offers`].
    Explain {
        /// The customer.
        customer: CustomerId,
    },
    /// [`Relationships::answer_offer`].
    Answer {
        /// The customer.
        customer: CustomerId,
        /// The offer presented.
        offer: String,
        /// What the customer said.
        answer: Answer,
        /// Through which channel.
        channel: Channel,
        /// Where (a gate, a desk).
        touchpoint: Option<String>,
    },
    /// [`Relationships::offer_report`].
    Report {
        /// Answers at or after this time only.
        since: Option<Timestamp>,
    },
    /// [`Relationships::equity`].
    Equity {
        /// The market's customer equity, for the share.
        market: Option<f64>,
    },
}

impl RelationshipRequest {
    /// The permission-matrix action this request needs. Loading several files needs the
    /// action of each: this is the first, the engine checks the others.
    pub fn action(&self) -> Action {
        match self {
            RelationshipRequest::Portfolios
            | RelationshipRequest::Portfolio { .. }
            | RelationshipRequest::Unassigned { .. }
            | RelationshipRequest::Moves { .. }
            | RelationshipRequest::Rules => Action::ReadPortfolios,
            RelationshipRequest::Assign { .. } => Action::AssignPortfolios,
            RelationshipRequest::Move { .. } => Action::MoveCustomer,
            RelationshipRequest::Load {
                portfolios, offers, ..
            } => {
                if portfolios.is_some() {
                    Action::DefinePortfolios
                } else if offers.is_some() {
                    Action::DefineOffers
                } else {
                    Action::DefineOfferRules
                }
            }
            RelationshipRequest::Explain { .. } => Action::ExplainOffers,
            RelationshipRequest::Answer { .. } => Action::RecordOfferAnswer,
            RelationshipRequest::Report { .. } => Action::ReadOfferReport,
            RelationshipRequest::Equity { .. } => Action::ReadEquity,
        }
    }

    /// Whether the request may run for long (an assignment over every customer).
    pub fn is_long(&self) -> bool {
        matches!(
            self,
            RelationshipRequest::Assign { .. } | RelationshipRequest::Portfolios
        )
    }
}

/// The replies to [`RelationshipRequest`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RelationshipReply {
    /// Every portfolio with its metrics.
    Portfolios(Vec<PortfolioView>),
    /// One portfolio with its customers.
    Portfolio(Box<PortfolioDetail>),
    /// Customers in no portfolio (with their names).
    Unassigned(Vec<MemberLine>),
    /// A customer's moves, oldest first.
    Moves(Vec<Move>),
    /// The governance files in force.
    Rules(Box<RulesView>),
    /// What an assignment did.
    Assigned(Box<AssignReport>),
    /// The move made (`None`: the customer was already there).
    Moved(Option<Box<Move>>),
    /// What a load stored.
    Loaded(Box<Loaded>),
    /// Every offer for a customer.
    Offers(Box<OfferView>),
    /// A recorded answer.
    Answered(Box<Answered>),
    /// The offer report.
    Report(Vec<OfferReportRow>),
    /// Customer equity.
    Equity(Box<EquityView>),
}

/// Relationship governance, embedded or remote, each request written once over the
/// transport. Every [`crate::Service`] has it.
pub trait Relationships: Transport {
    /// Every portfolio with its manager and metrics.
    fn portfolios(&self) -> impl Future<Output = ServiceResult<Vec<PortfolioView>>> + Send {
        async move {
            match rel(self, RelationshipRequest::Portfolios).await? {
                RelationshipReply::Portfolios(p) => Ok(p),
                other => Err(odd(other)),
            }
        }
    }

    /// One portfolio with its metrics and its first `members` customers by lifetime value.
    fn portfolio(
        &self,
        id: &str,
        members: usize,
    ) -> impl Future<Output = ServiceResult<PortfolioDetail>> + Send {
        let id = id.to_string();
        async move {
            match rel(self, RelationshipRequest::Portfolio { id, members }).await? {
                RelationshipReply::Portfolio(p) => Ok(*p),
                other => Err(odd(other)),
            }
        }
    }

    /// Customers in no portfolio yet, for a steward.
    fn unassigned(
        &self,
        limit: usize,
    ) -> impl Future<Output = ServiceResult<Vec<MemberLine>>> + Send {
        async move {
            match rel(self, RelationshipRequest::Unassigned { limit }).await? {
                RelationshipReply::Unassigned(u) => Ok(u),
                other => Err(odd(other)),
            }
        }
    }

    /// A customer's moves between portfolios, oldest first.
    fn moves(&self, customer: CustomerId) -> impl Future<Output = ServiceResult<Vec<Move>>> + Send {
        async move {
            match rel(self, RelationshipRequest::Moves { customer }).await? {
                RelationshipReply::Moves(m) => Ok(m),
                other => Err(odd(other)),
            }
        }
    }

    /// The governance files in force.
    fn portfolio_rules(&self) -> impl Future<Output = ServiceResult<RulesView>> + Send {
        async move {
            match rel(self, RelationshipRequest::Rules).await? {
                RelationshipReply::Rules(r) => Ok(*r),
                other => Err(odd(other)),
            }
        }
    }

    /// Assigns every customer by the portfolio rules.
    fn assign(
        &self,
        override_hand: bool,
    ) -> impl Future<Output = ServiceResult<AssignReport>> + Send {
        async move {
            match rel(self, RelationshipRequest::Assign { override_hand }).await? {
                RelationshipReply::Assigned(r) => Ok(*r),
                other => Err(odd(other)),
            }
        }
    }

    /// Moves a customer to portfolio `to` by hand, with a reason.
    fn move_customer(
        &self,
        customer: CustomerId,
        to: &str,
        reason: &str,
        seen: Option<Option<String>>,
    ) -> impl Future<Output = ServiceResult<Option<Move>>> + Send {
        let req = RelationshipRequest::Move {
            customer,
            to: to.to_string(),
            reason: reason.to_string(),
            seen,
        };
        async move {
            match rel(self, req).await? {
                RelationshipReply::Moved(m) => Ok(m.map(|m| *m)),
                other => Err(odd(other)),
            }
        }
    }

    /// Loads governance files (absolute paths where the store is); the ones not given stay
    /// as stored. All three are checked together before anything is stored.
    fn load_relationship(
        &self,
        portfolios: Option<String>,
        offers: Option<String>,
        rules: Option<String>,
    ) -> impl Future<Output = ServiceResult<Loaded>> + Send {
        let req = RelationshipRequest::Load {
            portfolios,
            offers,
            rules,
        };
        async move {
            match rel(self, req).await? {
                RelationshipReply::Loaded(l) => Ok(*l),
                other => Err(odd(other)),
            }
        }
    }

    /// Every offer's outcome for a customer, and the next best action.
    fn explain_offers(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = ServiceResult<OfferView>> + Send {
        async move {
            match rel(self, RelationshipRequest::Explain { customer }).await? {
                RelationshipReply::Offers(o) => Ok(*o),
                other => Err(odd(other)),
            }
        }
    }

    /// Records the customer's answer to an offer presented (decided again at the service:
    /// only an offer the rules allow or adapt for the customer can be answered).
    fn answer_offer(
        &self,
        customer: CustomerId,
        offer: &str,
        answer: Answer,
        channel: Channel,
        touchpoint: Option<String>,
    ) -> impl Future<Output = ServiceResult<Answered>> + Send {
        let req = RelationshipRequest::Answer {
            customer,
            offer: offer.to_string(),
            answer,
            channel,
            touchpoint,
        };
        async move {
            match rel(self, req).await? {
                RelationshipReply::Answered(a) => Ok(*a),
                other => Err(odd(other)),
            }
        }
    }

    /// Answers by offer (since a time, or all).
    fn offer_report(
        &self,
        since: Option<Timestamp>,
    ) -> impl Future<Output = ServiceResult<Vec<OfferReportRow>>> + Send {
        async move {
            match rel(self, RelationshipRequest::Report { since }).await? {
                RelationshipReply::Report(r) => Ok(r),
                other => Err(odd(other)),
            }
        }
    }

    /// Customer equity by portfolio and tier, its change since the run before, and the share
    /// of `market` when given.
    fn equity(
        &self,
        market: Option<f64>,
    ) -> impl Future<Output = ServiceResult<EquityView>> + Send {
        async move {
            match rel(self, RelationshipRequest::Equity { market }).await? {
                RelationshipReply::Equity(e) => Ok(*e),
                other => Err(odd(other)),
            }
        }
    }
}

impl<T: Transport> Relationships for T {}

async fn rel<T: Transport + ?Sized>(
    t: &T,
    req: RelationshipRequest,
) -> ServiceResult<RelationshipReply> {
    match t.send(Request::Relationship(req)).await? {
        Reply::Relationship(r) => Ok(r),
        other => Err(unexpected(&other)),
    }
}

fn odd(reply: RelationshipReply) -> ServiceError {
    ServiceError::Internal(format!("unexpected reply {reply:?}"))
}

/// The string fields of a relationship request against the limits (see [`crate::limits`]).
pub(crate) fn check(req: &RelationshipRequest) -> ServiceResult<()> {
    use crate::limits::{MAX_KEY, MAX_TEXT, MAX_TOUCHPOINT, text};
    let path = |what: &str, p: &Option<String>| match p {
        Some(p) if p.len() > crate::backup::MAX_PATH => Err(ServiceError::Invalid(format!(
            "the {what} path is longer than {} bytes",
            crate::backup::MAX_PATH
        ))),
        _ => Ok(()),
    };
    match req {
        RelationshipRequest::Portfolio { id, .. } => text("portfolio id", id, MAX_KEY),
        RelationshipRequest::Move {
            to, reason, seen, ..
        } => {
            text("portfolio id", to, MAX_KEY)?;
            if let Some(Some(s)) = seen {
                text("portfolio id", s, MAX_KEY)?;
            }
            text("reason", reason, MAX_TEXT)
        }
        RelationshipRequest::Load {
            portfolios,
            offers,
            rules,
        } => {
            if portfolios.is_none() && offers.is_none() && rules.is_none() {
                return Err(ServiceError::Invalid(
                    "name at least one file: portfolios, offers or rules".into(),
                ));
            }
            path("portfolios", portfolios)?;
            path("offers", offers)?;
            path("rules", rules)
        }
        RelationshipRequest::Answer {
            offer, touchpoint, ..
        } => {
            text("offer id", offer, MAX_KEY)?;
            if let Some(t) = touchpoint {
                text("touchpoint", t, MAX_TOUCHPOINT)?;
            }
            Ok(())
        }
        RelationshipRequest::Equity { market: Some(m) } if !m.is_finite() => Err(
            ServiceError::Invalid("the market's customer equity must be a number".into()),
        ),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The engine's side.

/// The parsed governance files, kept while the stored ones are unchanged (a record open asks
/// for the next best action: the files are not parsed again each time).
#[derive(Debug, Default)]
pub(crate) struct ConfigCache {
    slot: Mutex<Option<(Vec<Timestamp>, Arc<RelationshipConfig>)>>,
}

/// What a customer manager may reach; everyone else is unscoped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// The portfolios the operator manages, for a customer manager.
    portfolios: Option<BTreeSet<String>>,
    /// Whether the customer manager sees every customer (acting stays scoped).
    sees_all: bool,
    /// The number of items the request asked for, when the engine asks for more to cut.
    limit: Option<usize>,
}

/// Items read for a scoped customer manager before cutting them to their portfolios.
const SCOPED_READ: usize = 200;

fn forbidden(caller: &Caller, what: String) -> ServiceError {
    ServiceError::Forbidden {
        role: caller.role,
        action: what,
    }
}

impl Scope {
    /// The scope of `caller`: unscoped unless a customer manager, and unscoped until the
    /// company defines portfolios (a deployment without them has no portfolio to cut to).
    pub(crate) fn of(engine: &Engine, caller: &Caller) -> ServiceResult<Scope> {
        if caller.role != Role::CustomerManager {
            return Ok(Scope::default());
        }
        let store = engine.store();
        if !portfolio::has_portfolios(store).map_err(repo_err)? {
            return Ok(Scope::default());
        }
        let portfolios = portfolio::managed_by(store, &caller.operator)
            .map_err(repo_err)?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let sees_all = portfolio::manager_scope(store).map_err(repo_err)? == ManagerScope::All;
        Ok(Scope {
            portfolios: Some(portfolios),
            sees_all,
            limit: None,
        })
    }

    fn covers(&self, engine: &Engine, customer: CustomerId) -> ServiceResult<bool> {
        let Some(mine) = &self.portfolios else {
            return Ok(true);
        };
        Ok(portfolio::membership(engine.store(), customer)
            .map_err(repo_err)?
            .is_some_and(|m| mine.contains(&m.portfolio)))
    }

    /// Refuses a customer manager acting on a customer outside their portfolios.
    pub(crate) fn acts_on(
        &self,
        engine: &Engine,
        caller: &Caller,
        customer: CustomerId,
    ) -> ServiceResult<()> {
        if self.covers(engine, customer)? {
            return Ok(());
        }
        Err(forbidden(
            caller,
            format!("act on customer {customer}, who is not in a portfolio you manage"),
        ))
    }

    /// Refuses a customer manager who sees only their portfolios a customer outside them.
    pub(crate) fn sees(
        &self,
        engine: &Engine,
        caller: &Caller,
        customer: CustomerId,
    ) -> ServiceResult<()> {
        if self.sees_all || self.covers(engine, customer)? {
            return Ok(());
        }
        Err(forbidden(
            caller,
            format!("see customer {customer}, who is not in a portfolio you manage"),
        ))
    }

    /// Checks the customers a request names, and widens the lists a customer manager's
    /// request reads so that enough remain once cut to their portfolios.
    pub(crate) fn prepare(
        &mut self,
        engine: &Engine,
        caller: &Caller,
        req: &mut Request,
    ) -> ServiceResult<()> {
        if self.portfolios.is_none() {
            return Ok(());
        }
        match req {
            Request::LogInteraction(n) => self.acts_on(engine, caller, n.customer),
            Request::RecordPreference { customer, .. } => self.acts_on(engine, caller, *customer),
            Request::DeclareDisruption(d) => d
                .customers
                .iter()
                .try_for_each(|c| self.acts_on(engine, caller, *c)),
            // Grants (one or a whole flight's) are checked customer by customer at the grant.
            Request::Open { customer, .. }
            | Request::Interactions { customer, .. }
            | Request::Disruptions { customer } => self.sees(engine, caller, *customer),
            Request::Entitlement(r) => self.sees(engine, caller, r.customer),
            Request::Data(crate::data::DataRequest::ExplainValue { customer }) => {
                self.sees(engine, caller, *customer)
            }
            Request::Search { limit, .. } | Request::List { limit, .. } if !self.sees_all => {
                self.limit = Some(*limit);
                *limit = SCOPED_READ.max(*limit);
                Ok(())
            }
            Request::Data(crate::data::DataRequest::WorkingList { limit, .. })
                if !self.sees_all =>
            {
                self.limit = Some(*limit);
                *limit = 10_000;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Cuts what a customer manager who sees only their portfolios gets to those customers.
    pub(crate) fn cut(&self, engine: &Engine, reply: Reply) -> ServiceResult<Reply> {
        if self.portfolios.is_none() || self.sees_all {
            return Ok(reply);
        }
        let limit = self.limit.unwrap_or(usize::MAX);
        Ok(match reply {
            Reply::Summaries(hits) => {
                let mut out = Vec::new();
                for h in hits {
                    if out.len() < limit && self.covers(engine, h.id)? {
                        out.push(h);
                    }
                }
                Reply::Summaries(out)
            }
            Reply::List(entries) => {
                let mut out = Vec::new();
                for e in entries {
                    if out.len() < limit && self.covers(engine, e.customer.id)? {
                        out.push(e);
                    }
                }
                Reply::List(out)
            }
            Reply::Flight(mut f) => {
                let mut kept = Vec::new();
                for p in std::mem::take(&mut f.passengers) {
                    if self.covers(engine, p.entry.affected.customer)? {
                        kept.push(p);
                    }
                }
                f.passengers = kept;
                Reply::Flight(f)
            }
            Reply::Data(crate::data::DataReply::List(mut l)) => {
                let mut kept = Vec::new();
                for e in std::mem::take(&mut l.entries) {
                    if kept.len() < limit && self.covers(engine, e.customer)? {
                        kept.push(e);
                    }
                }
                l.total = kept.len() as u64;
                l.entries = kept;
                Reply::Data(crate::data::DataReply::List(l))
            }
            other => other,
        })
    }
}

/// The civil day (UTC) of an instant.
fn day_of(t: Timestamp) -> Date {
    let d = t.to_jiff().to_zoned(jiff::tz::TimeZone::UTC).date();
    Date::new(d.year(), d.month() as u8, d.day() as u8).unwrap_or(Date {
        year: 1970,
        month: 1,
        day: 1,
    })
}

fn no_config() -> ServiceError {
    ServiceError::NotFound(
        "no portfolios, offers and rules loaded: `rapport offer load --portfolios FILE \
         --offers FILE --rules FILE`"
            .into(),
    )
}

/// A customer manager's rules file may change the rules of their own portfolios only: every
/// other portfolio's rules (and the capability managers' defaults, which are in the offers
/// file) must stay as they are.
fn only_own_rules(
    caller: &Caller,
    mine: &BTreeSet<String>,
    before: Option<&RelationshipConfig>,
    after: &RelationshipConfig,
) -> ServiceResult<()> {
    let of = |cfg: Option<&RelationshipConfig>, p: &str| -> Vec<OfferRule> {
        cfg.map(|c| {
            c.rules
                .of_portfolio(p)
                .map(|r| OfferRule {
                    file: String::new(),
                    line: 0,
                    ..r.clone()
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let mut portfolios: BTreeSet<String> = after
        .portfolios
        .portfolios
        .iter()
        .map(|p| p.id.clone())
        .collect();
    if let Some(b) = before {
        portfolios.extend(b.portfolios.portfolios.iter().map(|p| p.id.clone()));
    }
    for p in portfolios.iter().filter(|p| !mine.contains(*p)) {
        if of(before, p) != of(Some(after), p) {
            return Err(forbidden(
                caller,
                format!(
                    "change the offer rules of portfolio `{p}`, which you do not manage (you manage: {})",
                    mine.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(())
}

impl Engine {
    /// The stored governance files, parsed (from the cache while they are unchanged).
    fn relationship_config(&self) -> ServiceResult<Option<Arc<RelationshipConfig>>> {
        let texts = portfolio::config_texts(self.store()).map_err(repo_err)?;
        let [Some(p), Some(o), Some(r)] = &texts else {
            return Ok(None);
        };
        let key: Vec<Timestamp> = vec![p.loaded_at, o.loaded_at, r.loaded_at];
        let cache = &self.relationship_cache().slot;
        if let Some((k, cfg)) = &*cache.lock().unwrap_or_else(PoisonError::into_inner)
            && *k == key
        {
            return Ok(Some(cfg.clone()));
        }
        let cfg = Arc::new(
            RelationshipConfig::parse(&p.source, &o.source, &r.source)
                .map_err(|e| ServiceError::Invalid(e.to_string()))?,
        );
        *cache.lock().unwrap_or_else(PoisonError::into_inner) = Some((key, cfg.clone()));
        Ok(Some(cfg))
    }

    /// Answers a [`RelationshipRequest`] for `caller` (authorised and checked by the caller).
    pub(crate) fn handle_relationship(
        &self,
        caller: &Caller,
        req: RelationshipRequest,
    ) -> ServiceResult<RelationshipReply> {
        let scope = Scope::of(self, caller)?;
        let store = self.store();
        match req {
            RelationshipRequest::Portfolios => {
                let cfg = self.relationship_config()?.ok_or_else(no_config)?;
                let previous = self.previous_snapshot()?;
                let mut out = Vec::new();
                for p in &cfg.portfolios.portfolios {
                    out.push(self.portfolio_view(&cfg, &p.id, previous.as_ref())?);
                }
                Ok(RelationshipReply::Portfolios(out))
            }
            RelationshipRequest::Portfolio { id, members } => {
                let cfg = self.relationship_config()?.ok_or_else(no_config)?;
                if cfg.portfolios.portfolio(&id).is_none() {
                    return Err(ServiceError::NotFound(format!(
                        "portfolio `{}` (defined: {})",
                        rapport_core::text::sanitize(&id),
                        cfg.portfolios
                            .portfolios
                            .iter()
                            .map(|p| p.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let previous = self.previous_snapshot()?;
                let view = self.portfolio_view(&cfg, &id, previous.as_ref())?;
                let mut lines = Vec::new();
                for c in portfolio::members(store, &id).map_err(repo_err)? {
                    let clv = store.scores(c).map_err(store_err)?;
                    lines.push((clv, c));
                }
                lines.sort_by(|(a, ca), (b, cb)| {
                    let (a, b) = (a.as_ref().map(|s| s.clv), b.as_ref().map(|s| s.clv));
                    b.partial_cmp(&a)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then(ca.cmp(cb))
                });
                let mut out = Vec::new();
                for (s, c) in lines.into_iter().take(members.min(MAX_LISTED)) {
                    out.push(self.member_line(c, s.as_ref())?);
                }
                Ok(RelationshipReply::Portfolio(Box::new(PortfolioDetail {
                    view,
                    members: out,
                })))
            }
            RelationshipRequest::Unassigned { limit } => {
                let mut out = Vec::new();
                for c in
                    portfolio::unassigned(store, limit.clamp(1, MAX_LISTED)).map_err(repo_err)?
                {
                    let s = store.scores(c).map_err(store_err)?;
                    out.push(self.member_line(c, s.as_ref())?);
                }
                Ok(RelationshipReply::Unassigned(out))
            }
            RelationshipRequest::Moves { customer } => {
                scope.sees(self, caller, customer)?;
                Ok(RelationshipReply::Moves(
                    portfolio::moves(store, customer).map_err(repo_err)?,
                ))
            }
            RelationshipRequest::Rules => {
                let cfg = self.relationship_config()?.ok_or_else(no_config)?;
                let loaded = portfolio::config_texts(store)
                    .map_err(repo_err)?
                    .into_iter()
                    .flatten()
                    .collect();
                Ok(RelationshipReply::Rules(Box::new(RulesView {
                    config: (*cfg).clone(),
                    loaded,
                })))
            }
            RelationshipRequest::Assign { override_hand } => {
                let cfg = self.relationship_config()?.ok_or_else(no_config)?;
                let _job = self.job();
                let report =
                    portfolio::assign_all(store, &cfg, &caller.operator, override_hand, self.now())
                        .map_err(user_err)?;
                tracing::info!(operator = %caller.operator, assigned = report.assigned, moved = report.moved, "portfolio assignment");
                Ok(RelationshipReply::Assigned(Box::new(report)))
            }
            RelationshipRequest::Move {
                customer,
                to,
                reason,
                seen,
            } => {
                scope.acts_on(self, caller, customer)?;
                let expect = match seen {
                    None => Expect::Any,
                    Some(s) => Expect::In(s),
                };
                let mv = portfolio::move_customer(
                    store,
                    customer,
                    to.trim(),
                    &expect,
                    &caller.operator,
                    reason.trim(),
                    self.now(),
                )
                .map_err(user_err)?;
                if let Some(m) = &mv {
                    tracing::info!(operator = %caller.operator, %customer, from = ?m.from, to = %m.to, "customer moved");
                }
                Ok(RelationshipReply::Moved(mv.map(Box::new)))
            }
            RelationshipRequest::Load {
                portfolios,
                offers,
                rules,
            } => self
                .load_relationship(caller, &scope, portfolios, offers, rules)
                .map(|l| RelationshipReply::Loaded(Box::new(l))),
            RelationshipRequest::Explain { customer } => {
                scope.sees(self, caller, customer)?;
                self.explain_offers(customer)
                    .map(|o| RelationshipReply::Offers(Box::new(o)))
            }
            RelationshipRequest::Answer {
                customer,
                offer,
                answer,
                channel,
                touchpoint,
            } => {
                scope.acts_on(self, caller, customer)?;
                let view = self.explain_offers(customer)?;
                let decision = view
                    .explanation
                    .decisions
                    .iter()
                    .find(|d| d.offer == offer)
                    .ok_or_else(|| {
                        ServiceError::NotFound(format!(
                            "offer `{}` in the catalogue",
                            rapport_core::text::sanitize(&offer)
                        ))
                    })?;
                let new = NewAnswer {
                    customer,
                    portfolio: &view.explanation.portfolio,
                    decision,
                    answer,
                    by: &caller.operator,
                    channel,
                    touchpoint: touchpoint
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty()),
                    now: self.now(),
                };
                let (interaction, kept) = self.noting(&[customer], || {
                    rapport_repository::offer::record_answer(store, &new).map_err(user_err)
                })?;
                tracing::info!(operator = %caller.operator, %customer, offer = %kept.offer, answer = %kept.answer, "offer answer");
                Ok(RelationshipReply::Answered(Box::new(Answered {
                    interaction,
                    answer: kept,
                })))
            }
            RelationshipRequest::Report { since } => Ok(RelationshipReply::Report(
                rapport_repository::offer::report(store, since).map_err(repo_err)?,
            )),
            RelationshipRequest::Equity { market } => self
                .equity_view(market)
                .map(|e| RelationshipReply::Equity(Box::new(e))),
        }
    }

    fn member_line(
        &self,
        c: CustomerId,
        s: Option<&rapport_core::Scores>,
    ) -> ServiceResult<MemberLine> {
        let name = self
            .store()
            .customer(c)
            .map_err(store_err)?
            .map(|c| c.display_name())
            .unwrap_or_default();
        Ok(MemberLine {
            customer: c,
            name,
            tier: s.map(|s| s.tier),
            clv: s.map(|s| s.clv),
        })
    }

    /// The equity snapshot kept for the scoring run before the latest one.
    fn previous_snapshot(&self) -> ServiceResult<Option<EquitySnapshot>> {
        let store = self.store();
        let Some(first) = store
            .scores_in(CustomerId(0), None)
            .next()
            .transpose()
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        let at = first.1.at;
        Ok(portfolio::equity_snapshots(store)
            .map_err(repo_err)?
            .into_iter()
            .rev()
            .find(|s| s.scored_at < at))
    }

    fn portfolio_view(
        &self,
        cfg: &RelationshipConfig,
        id: &str,
        previous: Option<&EquitySnapshot>,
    ) -> ServiceResult<PortfolioView> {
        let p = cfg
            .portfolios
            .portfolio(id)
            .ok_or_else(|| ServiceError::NotFound(format!("portfolio `{id}`")))?;
        let metrics = portfolio::metrics(self.store(), cfg, id).map_err(repo_err)?;
        let previous_tiers = previous.map(|s| {
            s.cells
                .iter()
                .filter(|c| c.portfolio == id)
                .map(|c| (c.tier, c.customers))
                .collect()
        });
        Ok(PortfolioView {
            id: p.id.clone(),
            name: p.name.clone(),
            manager: p.manager.clone(),
            metrics,
            previous_tiers,
        })
    }

    fn load_relationship(
        &self,
        caller: &Caller,
        scope: &Scope,
        portfolios: Option<String>,
        offers: Option<String>,
        rules: Option<String>,
    ) -> ServiceResult<Loaded> {
        // Each file needs its own permission (the request's action is the first one's).
        for (given, action) in [
            (portfolios.is_some(), Action::DefinePortfolios),
            (offers.is_some(), Action::DefineOffers),
            (rules.is_some(), Action::DefineOfferRules),
        ] {
            if given {
                self.authorize(caller, action)?;
            }
        }
        let read = |what: &str, p: &Option<String>| -> ServiceResult<Option<SourceText>> {
            let Some(p) = p else { return Ok(None) };
            let path = server_path(what, p)?;
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ServiceError::Invalid(format!(
                    "{}: cannot read the {what} file: {e}",
                    rapport_core::text::sanitize(&path.display().to_string())
                ))
            })?;
            Ok(Some(SourceText {
                file: path.display().to_string(),
                text,
            }))
        };
        let given = [
            read("portfolios", &portfolios)?,
            read("offers", &offers)?,
            read("rules", &rules)?,
        ];
        let files: Vec<String> = given.iter().flatten().map(|s| s.file.clone()).collect();
        let _guard = self.write_guard();
        let store = self.store();
        let stored = portfolio::config_texts(store).map_err(repo_err)?;
        let mut texts = Vec::new();
        for ((g, s), name) in given
            .into_iter()
            .zip(stored)
            .zip(["portfolios", "offers", "rules"])
        {
            match (g, s) {
                (Some(g), _) => texts.push(g),
                (None, Some(s)) => texts.push(s.source),
                (None, None) => {
                    return Err(ServiceError::Invalid(format!(
                        "no {name} file is stored yet: load portfolios, offers and rules \
                         together the first time"
                    )));
                }
            }
        }
        let [p, o, r]: [SourceText; 3] = texts
            .try_into()
            .map_err(|_| ServiceError::Internal("three governance files".into()))?;
        if let Some(mine) = &scope.portfolios {
            let after = RelationshipConfig::parse(&p, &o, &r)
                .map_err(|e| ServiceError::Invalid(e.to_string()))?;
            let before = self.relationship_config()?;
            only_own_rules(caller, mine, before.as_deref(), &after)?;
        }
        let cfg = portfolio::save_config(store, p, o, r, &caller.operator, self.now())
            .map_err(user_err)?;
        tracing::info!(operator = %caller.operator, files = files.len(), "relationship files loaded");
        Ok(Loaded {
            files,
            portfolios: cfg.portfolios.portfolios.len() as u64,
            assignment_rules: cfg.portfolios.rules.len() as u64,
            offers: cfg.catalogue.offers.len() as u64,
            catalogue_version: cfg.catalogue.version,
            defaults: cfg.catalogue.defaults.len() as u64,
            rules: cfg.rules.rules.len() as u64,
            rules_version: cfg.rules.version,
            managers_see: cfg.portfolios.managers_see,
        })
    }

    /// Every offer's outcome for the customer today, and the next best action.
    fn explain_offers(&self, customer: CustomerId) -> ServiceResult<OfferView> {
        let store = self.store();
        let c = store
            .customer(customer)
            .map_err(store_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("customer {customer}")))?;
        let cfg = self.relationship_config()?.ok_or_else(no_config)?;
        let m = portfolio::membership(store, customer)
            .map_err(repo_err)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "a portfolio for customer {customer}: assign it first (`rapport portfolio \
                     assign` or `rapport portfolio move`)"
                ))
            })?;
        let now = self.now();
        let rates = portfolio::reporting_rates(store).map_err(repo_err)?;
        let facts = portfolio::facts(store, &c, &rates, now).map_err(repo_err)?;
        let day = day_of(now);
        let (explanation, next) = cfg
            .next_best_action(&m.portfolio, &facts, day, &rates)
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        Ok(OfferView {
            customer,
            name: c.display_name(),
            explanation,
            next,
            day,
        })
    }

    fn equity_view(&self, market: Option<f64>) -> ServiceResult<EquityView> {
        let store = self.store();
        let rows = portfolio::score_rows(store).map_err(repo_err)?;
        if rows.is_empty() {
            return Err(ServiceError::NotFound(
                "no scoring results yet: run `rapport score` first".into(),
            ));
        }
        let kept = portfolio::equity_snapshots(store).map_err(repo_err)?;
        let newest = store.scores(rows[0].customer).map_err(store_err)?;
        let (at, version) = newest
            .map(|s| (s.at, s.model_version))
            .unwrap_or((Timestamp::EPOCH, String::new()));
        // The latest run's scores by today's portfolios (customers placed or moved since the
        // run count where they are now), against the snapshot kept after the run before.
        let latest = equity_snapshot(&rows, at, &version);
        let previous = kept.into_iter().rev().find(|s| s.scored_at < at);
        let changes = previous
            .as_ref()
            .map(|p| equity_change(&latest, p))
            .unwrap_or_default();
        let share = match market {
            Some(m) => Some(
                equity_share(latest.total, m).map_err(|e| ServiceError::Invalid(e.to_string()))?,
            ),
            None => None,
        };
        let portfolios = match self.relationship_config()? {
            Some(cfg) => cfg
                .portfolios
                .portfolios
                .iter()
                .map(|p| rapport_core::PortfolioRef {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    manager: p.manager.clone(),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(EquityView {
            segments: segment_lifetime_values(&rows),
            latest,
            previous,
            changes,
            market,
            share,
            portfolios,
            currency: Some(self.reporting),
        })
    }
}
