//! The learning loop through the one door (#20): experiments with a control group (created
//! and assigned here, or declared from the contacts of one run outside), campaigns on short
//! scored lists with their measured return, the hand-offs of the serial pipeline, and the
//! front line's ideas on their way to the analysts and back.
//!
//! Each request is one [`LearningRequest`] answered by one [`LearningReply`]; [`Learning`]
//! writes each once on the client side over any [`crate::Transport`], and [`crate::Engine`]
//! answers them where the store is owned. The rules are pure in
//! `rapport_governance::{experiment, campaign, handoff, idea}`, the statistics in
//! `rapport_analytics::analyse_experiment`, the storage in `rapport_repository::learning`.
//!
//! What is read from the store:
//! - an experiment's outcome: each participant's bookings (distinct booking references of
//!   `booking` interactions, at their earliest time, with the revenue amounts on them in the
//!   reporting currency), over the whole days after the day of assignment up to the window's
//!   end;
//! - a declared experiment's assignments: the `campaign_contact` and `campaign_holdout`
//!   interactions whose `campaign` attribute is the experiment's id, the arm in `list`;
//! - a campaign's results: `campaign_contact`, `campaign_holdout` and `campaign_response`
//!   interactions by their `campaign` and `list` attributes (one scan of every interaction),
//!   revenue being the revenue amounts of a responder's interactions in the 30 days from
//!   the response;
//! - the hand-offs' facts: each source's last ingest, the models' fitting time, the scoring
//!   runs, the working lists, and the facts this module records (campaign lists produced and
//!   run, reports measured, ideas closed).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;

use rapport_analytics::{
    AnalysisConfig, ArmOutcomes, Converter, Direction, ExperimentReport, analyse_experiment,
};
use rapport_core::{
    AmountRole, CustomerId, ExchangeRates, Interaction, InteractionKind, Tier, Timestamp,
};
use rapport_governance::Action;
use rapport_governance::campaign::{
    CampaignDraft, ContactEvent, EventKind, ListCandidate, ListResult, SizeBand, build_list,
    by_list_size, list_results,
};
use rapport_governance::experiment::{
    ArmDefinition, Assignment, Booking, Clause, CustomerFacts, DeclaredRow, DisruptionFact,
    ExperimentDefinition, ExperimentDraft, ExperimentStatus, assign, declare, measure,
};
use rapport_governance::handoff::{Fact, FactKind, Pipeline, PipelineStatus};
use rapport_governance::idea::{self, Idea, Link, LinkKind};
use rapport_repository::learning::{self as store_learning, StoredCampaign, StoredExperiment};
use serde::{Deserialize, Serialize};

use crate::api::{ServiceError, ServiceResult};
use crate::engine::{Caller, Engine, repo_err, store_err};
use crate::protocol::{Reply, Request};
use crate::typed::Transport;
use crate::unexpected;

/// Days after a response whose revenue counts for the campaign.
pub const ATTRIBUTION_DAYS: i64 = 30;
/// Most ideas or experiments in one reply.
pub const MAX_ITEMS: usize = 10_000;

const DAY_MS: i64 = 86_400_000;

/// An experiment as the analyst defines it (see `rapport_governance::experiment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSpec {
    /// Id, e.g. `APOLOGY-2027`.
    pub id: String,
    /// What it tests.
    pub hypothesis: String,
    /// The population rule (`delay >= 3h within 30d and tier in A,B`); for a declared
    /// experiment, a description.
    pub population: String,
    /// Treatment arms: name, cost per customer, share (`None`: an equal part of the rest).
    pub arms: Vec<(String, f64, Option<f64>)>,
    /// The control's share.
    pub control_share: f64,
    /// `revenue`, `bookings`, `rebooked` or `defection`.
    pub outcome: String,
    /// Outcome window in days after assignment.
    pub window_days: u32,
    /// Assign within each tier separately.
    pub stratify_by_tier: bool,
    /// The seed of the assignment and the bootstrap.
    pub seed: u64,
    /// Money per unit of outcome, for incremental profit.
    pub value_per_unit: Option<f64>,
    /// The smallest uplift worth detecting.
    pub minimum_effect: Option<f64>,
}

impl ExperimentSpec {
    fn draft(&self, starts: Timestamp) -> ExperimentDraft {
        ExperimentDraft {
            id: self.id.clone(),
            hypothesis: self.hypothesis.clone(),
            population: self.population.clone(),
            arms: self.arms.clone(),
            control_share: self.control_share,
            outcome: self.outcome.clone(),
            window_days: self.window_days,
            starts,
            stratify_by_tier: self.stratify_by_tier,
            seed: self.seed,
            value_per_unit: self.value_per_unit,
            minimum_effect: self.minimum_effect,
        }
    }
}

/// An experiment in a list: its definition and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSummary {
    /// The definition.
    pub definition: ExperimentDefinition,
    /// Who created or declared it, and when.
    pub by: String,
    /// When.
    pub created: Timestamp,
    /// Customers in it.
    pub assigned: u64,
    /// Customers per arm, in the definition's order.
    pub per_arm: Vec<(String, u64)>,
    /// Defined, running (preliminary) or closed.
    pub status: ExperimentStatus,
    /// Declared rows left out, each with its reason.
    pub conflicts: Vec<String>,
}

/// An experiment's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    /// The experiment.
    pub experiment: ExperimentSummary,
    /// When it was measured.
    pub as_of: Timestamp,
    /// The statistics (arms with intervals, comparisons with control, recommendation).
    pub report: ExperimentReport,
}

/// A campaign as the customer manager or analyst defines it: the governance crate's draft,
/// validated there (the score it ranks by is checked here, where the scores are read).
pub type CampaignSpec = CampaignDraft;

/// A stored campaign in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignSummary {
    /// Id.
    pub id: String,
    /// The offer.
    pub offer: String,
    /// The list's name (`targeted` with a cap, else `all`).
    pub list: String,
    /// The rule and score it was built from.
    pub rule: String,
    /// Who produced it.
    pub by: String,
    /// When.
    pub created: Timestamp,
    /// Customers contacted.
    pub contacts: u64,
    /// Customers held out.
    pub held_out: u64,
    /// Cost per contact.
    pub cost_per_contact: f64,
}

/// The results of the campaigns on record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignReport {
    /// Per campaign and list: contacted, responders, hold-out, revenue, cost.
    pub lists: Vec<ListResult>,
    /// Per list size (1-20, 21-100, ...): the short lists against the long ones.
    pub by_size: Vec<SizeBand>,
    /// The reporting currency of revenue and cost.
    pub currency: String,
    /// When it was measured.
    pub as_of: Timestamp,
}

/// The hand-offs of the serial pipeline, read from the system at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffsView {
    /// Each step's state.
    pub status: PipelineStatus,
    /// Every flag with whom it goes to (the step's owner and the leading unit).
    pub flags: Vec<(String, String)>,
    /// The facts read, newest of each kind.
    pub facts: Vec<Fact>,
    /// When.
    pub as_of: Timestamp,
}

/// An idea with its context for the analysts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdeaEntry {
    /// The idea.
    pub idea: Idea,
    /// The customer's name, when it was made on a record.
    pub customer_name: Option<String>,
    /// The customer's tier.
    pub tier: Option<Tier>,
}

/// The learning loop's requests (one [`Action`] each; see [`LearningRequest::action`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LearningRequest {
    /// [`Learning::create_experiment`].
    CreateExperiment(ExperimentSpec),
    /// [`Learning::assign_experiment`].
    AssignExperiment {
        /// The experiment.
        id: String,
    },
    /// [`Learning::declare_experiment`].
    DeclareExperiment(ExperimentSpec),
    /// [`Learning::experiments`].
    Experiments,
    /// [`Learning::experiment_status`].
    ExperimentStatus {
        /// The experiment.
        id: String,
    },
    /// [`Learning::experiment_report`].
    ExperimentReport {
        /// The experiment.
        id: String,
    },
    /// [`Learning::create_campaign`].
    CreateCampaign(CampaignSpec),
    /// [`Learning::campaigns`].
    Campaigns,
    /// [`Learning::campaign_report`].
    CampaignReport {
        /// Only this campaign.
        id: Option<String>,
    },
    /// [`Learning::handoffs`].
    Handoffs,
    /// [`Learning::add_idea`].
    AddIdea {
        /// The customer it is about, if any.
        customer: Option<CustomerId>,
        /// The idea.
        text: String,
    },
    /// [`Learning::my_ideas`].
    MyIdeas,
    /// [`Learning::ideas`].
    Ideas {
        /// Closed ones too.
        all: bool,
    },
    /// [`Learning::tag_idea`].
    TagIdea {
        /// The idea.
        id: u64,
        /// The tag.
        tag: String,
    },
    /// [`Learning::link_idea`].
    LinkIdea {
        /// The idea.
        id: u64,
        /// What it led to.
        link: Link,
    },
    /// [`Learning::close_idea`].
    CloseIdea {
        /// The idea.
        id: u64,
        /// What became of it.
        outcome: String,
    },
}

impl LearningRequest {
    /// The permission-matrix action this request needs.
    pub fn action(&self) -> Action {
        use LearningRequest as L;
        match self {
            L::CreateExperiment(_) | L::AssignExperiment { .. } | L::DeclareExperiment(_) => {
                Action::DesignExperiment
            }
            L::Experiments | L::ExperimentStatus { .. } | L::ExperimentReport { .. } => {
                Action::ReadExperiments
            }
            L::CreateCampaign(_) => Action::RunCampaign,
            L::Campaigns | L::CampaignReport { .. } => Action::ReadCampaigns,
            L::Handoffs => Action::ReadHandoffs,
            L::AddIdea { .. } | L::MyIdeas => Action::ShareIdea,
            L::Ideas { .. } | L::TagIdea { .. } | L::LinkIdea { .. } | L::CloseIdea { .. } => {
                Action::WorkIdeas
            }
        }
    }

    /// Whether the request may run for long (it reads every interaction or writes one per
    /// customer): the long time-out applies.
    pub fn is_long(&self) -> bool {
        use LearningRequest as L;
        matches!(
            self,
            L::AssignExperiment { .. }
                | L::DeclareExperiment(_)
                | L::ExperimentReport { .. }
                | L::CreateCampaign(_)
                | L::CampaignReport { .. }
        )
    }
}

/// The replies to [`LearningRequest`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LearningReply {
    /// One experiment.
    Experiment(Box<ExperimentSummary>),
    /// Every experiment.
    Experiments(Vec<ExperimentSummary>),
    /// An experiment's results.
    Result(Box<ExperimentResult>),
    /// One campaign.
    Campaign(Box<CampaignSummary>),
    /// Every campaign.
    Campaigns(Vec<CampaignSummary>),
    /// Campaign results.
    CampaignReport(Box<CampaignReport>),
    /// The hand-offs.
    Handoffs(Box<HandoffsView>),
    /// One idea.
    Idea(Box<IdeaEntry>),
    /// Ideas.
    Ideas(Vec<IdeaEntry>),
}

/// The learning loop, embedded or remote, each request written once over the transport.
pub trait Learning: Transport {
    /// Defines an experiment (validated: a window still open, shares at most 100%, a known
    /// outcome, a population rule that parses); nobody is assigned yet.
    fn create_experiment(
        &self,
        spec: ExperimentSpec,
    ) -> impl Future<Output = ServiceResult<ExperimentSummary>> + Send {
        async move {
            match learn(self, LearningRequest::CreateExperiment(spec)).await? {
                LearningReply::Experiment(e) => Ok(*e),
                other => Err(odd(other)),
            }
        }
    }

    /// Assigns a defined experiment's eligible population now, reproducibly from its seed;
    /// each customer's record shows the arm.
    fn assign_experiment(
        &self,
        id: &str,
    ) -> impl Future<Output = ServiceResult<ExperimentSummary>> + Send {
        let id = id.to_string();
        async move {
            match learn(self, LearningRequest::AssignExperiment { id }).await? {
                LearningReply::Experiment(e) => Ok(*e),
                other => Err(odd(other)),
            }
        }
    }

    /// Declares an experiment run outside the product from the source contacts on record
    /// (the `campaign_contact` and `campaign_holdout` interactions of the campaign named like
    /// the experiment, the arm in `list`).
    fn declare_experiment(
        &self,
        spec: ExperimentSpec,
    ) -> impl Future<Output = ServiceResult<ExperimentSummary>> + Send {
        async move {
            match learn(self, LearningRequest::DeclareExperiment(spec)).await? {
                LearningReply::Experiment(e) => Ok(*e),
                other => Err(odd(other)),
            }
        }
    }

    /// Every experiment with its status.
    fn experiments(&self) -> impl Future<Output = ServiceResult<Vec<ExperimentSummary>>> + Send {
        async move {
            match learn(self, LearningRequest::Experiments).await? {
                LearningReply::Experiments(e) => Ok(e),
                other => Err(odd(other)),
            }
        }
    }

    /// One experiment's status.
    fn experiment_status(
        &self,
        id: &str,
    ) -> impl Future<Output = ServiceResult<ExperimentSummary>> + Send {
        let id = id.to_string();
        async move {
            match learn(self, LearningRequest::ExperimentStatus { id }).await? {
                LearningReply::Experiment(e) => Ok(*e),
                other => Err(odd(other)),
            }
        }
    }

    /// Measures an experiment's outcomes and analyses them (preliminary while a window is
    /// open); the measurement is recorded as a hand-off fact.
    fn experiment_report(
        &self,
        id: &str,
    ) -> impl Future<Output = ServiceResult<ExperimentResult>> + Send {
        let id = id.to_string();
        async move {
            match learn(self, LearningRequest::ExperimentReport { id }).await? {
                LearningReply::Result(r) => Ok(*r),
                other => Err(odd(other)),
            }
        }
    }

    /// Builds a campaign's list from the scores and records its contacts and hold-out.
    fn create_campaign(
        &self,
        spec: CampaignSpec,
    ) -> impl Future<Output = ServiceResult<CampaignSummary>> + Send {
        async move {
            match learn(self, LearningRequest::CreateCampaign(spec)).await? {
                LearningReply::Campaign(c) => Ok(*c),
                other => Err(odd(other)),
            }
        }
    }

    /// The campaigns created here.
    fn campaigns(&self) -> impl Future<Output = ServiceResult<Vec<CampaignSummary>>> + Send {
        async move {
            match learn(self, LearningRequest::Campaigns).await? {
                LearningReply::Campaigns(c) => Ok(c),
                other => Err(odd(other)),
            }
        }
    }

    /// The results of every campaign on record (or one), from the recorded contacts and
    /// responses.
    fn campaign_report(
        &self,
        id: Option<String>,
    ) -> impl Future<Output = ServiceResult<CampaignReport>> + Send {
        async move {
            match learn(self, LearningRequest::CampaignReport { id }).await? {
                LearningReply::CampaignReport(r) => Ok(*r),
                other => Err(odd(other)),
            }
        }
    }

    /// The hand-offs of the pipeline at the service's now.
    fn handoffs(&self) -> impl Future<Output = ServiceResult<HandoffsView>> + Send {
        async move {
            match learn(self, LearningRequest::Handoffs).await? {
                LearningReply::Handoffs(h) => Ok(*h),
                other => Err(odd(other)),
            }
        }
    }

    /// Passes on an idea, on a customer's record or in general.
    fn add_idea(
        &self,
        customer: Option<CustomerId>,
        text: &str,
    ) -> impl Future<Output = ServiceResult<IdeaEntry>> + Send {
        let text = text.to_string();
        async move {
            match learn(self, LearningRequest::AddIdea { customer, text }).await? {
                LearningReply::Idea(i) => Ok(*i),
                other => Err(odd(other)),
            }
        }
    }

    /// The caller's own ideas with what became of them, newest first.
    fn my_ideas(&self) -> impl Future<Output = ServiceResult<Vec<IdeaEntry>>> + Send {
        async move {
            match learn(self, LearningRequest::MyIdeas).await? {
                LearningReply::Ideas(i) => Ok(i),
                other => Err(odd(other)),
            }
        }
    }

    /// The ideas queue (open ideas, oldest first), or every idea with `all`.
    fn ideas(&self, all: bool) -> impl Future<Output = ServiceResult<Vec<IdeaEntry>>> + Send {
        async move {
            match learn(self, LearningRequest::Ideas { all }).await? {
                LearningReply::Ideas(i) => Ok(i),
                other => Err(odd(other)),
            }
        }
    }

    /// Tags an open idea.
    fn tag_idea(
        &self,
        id: u64,
        tag: &str,
    ) -> impl Future<Output = ServiceResult<IdeaEntry>> + Send {
        let tag = tag.to_string();
        async move {
            match learn(self, LearningRequest::TagIdea { id, tag }).await? {
                LearningReply::Idea(i) => Ok(*i),
                other => Err(odd(other)),
            }
        }
    }

    /// Links an open idea to a model change, an experiment or a campaign.
    fn link_idea(
        &self,
        id: u64,
        kind: LinkKind,
        target: &str,
    ) -> impl Future<Output = ServiceResult<IdeaEntry>> + Send {
        let link = Link {
            kind,
            target: target.to_string(),
        };
        async move {
            match learn(self, LearningRequest::LinkIdea { id, link }).await? {
                LearningReply::Idea(i) => Ok(*i),
                other => Err(odd(other)),
            }
        }
    }

    /// Closes an idea with what became of it (its author sees the outcome).
    fn close_idea(
        &self,
        id: u64,
        outcome: &str,
    ) -> impl Future<Output = ServiceResult<IdeaEntry>> + Send {
        let outcome = outcome.to_string();
        async move {
            match learn(self, LearningRequest::CloseIdea { id, outcome }).await? {
                LearningReply::Idea(i) => Ok(*i),
                other => Err(odd(other)),
            }
        }
    }
}

impl<T: Transport> Learning for T {}

async fn learn<T: Transport + ?Sized>(t: &T, req: LearningRequest) -> ServiceResult<LearningReply> {
    match t.send(Request::Learning(req)).await? {
        Reply::Learning(r) => Ok(r),
        other => Err(unexpected(&other)),
    }
}

fn odd(reply: LearningReply) -> ServiceError {
    ServiceError::Internal(format!("unexpected reply {reply:?}"))
}

/// The string fields of a learning request against the limits (see [`crate::limits`]).
pub(crate) fn check(req: &LearningRequest) -> ServiceResult<()> {
    use crate::limits::{MAX_KEY, MAX_QUERY, text};
    let spec = |s: &ExperimentSpec| -> ServiceResult<()> {
        text("experiment id", &s.id, MAX_KEY)?;
        text("hypothesis", &s.hypothesis, 2_000)?;
        text("population", &s.population, 2_000)?;
        text("outcome", &s.outcome, MAX_KEY)?;
        if s.arms.len() > 20 {
            return Err(ServiceError::Invalid(
                "an experiment has at most 20 arms".into(),
            ));
        }
        s.arms.iter().try_for_each(|a| text("arm", &a.0, MAX_KEY))
    };
    match req {
        LearningRequest::CreateExperiment(s) | LearningRequest::DeclareExperiment(s) => spec(s),
        LearningRequest::AssignExperiment { id }
        | LearningRequest::ExperimentStatus { id }
        | LearningRequest::ExperimentReport { id } => text("experiment id", id, MAX_KEY),
        LearningRequest::CreateCampaign(c) => {
            text("campaign id", &c.id, MAX_KEY)?;
            text("offer", &c.offer, 2_000)?;
            text("rule", &c.rule, 2_000)?;
            text("score", &c.score, MAX_KEY)
        }
        LearningRequest::CampaignReport { id: Some(id) } => text("campaign id", id, MAX_KEY),
        LearningRequest::AddIdea { text: t, .. } => text("idea", t, idea::MAX_TEXT * 4),
        LearningRequest::TagIdea { tag, .. } => text("tag", tag, MAX_KEY),
        LearningRequest::LinkIdea { link, .. } => text("link", &link.target, MAX_QUERY),
        LearningRequest::CloseIdea { outcome, .. } => text("outcome", outcome, 4_000),
        LearningRequest::Experiments
        | LearningRequest::Campaigns
        | LearningRequest::CampaignReport { id: None }
        | LearningRequest::Handoffs
        | LearningRequest::MyIdeas
        | LearningRequest::Ideas { .. } => Ok(()),
    }
}

fn invalid(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(rapport_core::text::sanitize(&e.to_string()).into_owned())
}

fn summary(e: StoredExperiment, assignments: &[Assignment], now: Timestamp) -> ExperimentSummary {
    let per_arm = e
        .definition
        .arms
        .iter()
        .map(|a| {
            let n = assignments.iter().filter(|x| x.arm == a.name).count() as u64;
            (a.name.clone(), n)
        })
        .collect();
    ExperimentSummary {
        status: e.definition.status(assignments, now),
        per_arm,
        assigned: assignments.len() as u64,
        definition: e.definition,
        by: e.by,
        created: e.created,
        conflicts: e.conflicts,
    }
}

fn campaign_summary(c: StoredCampaign) -> CampaignSummary {
    CampaignSummary {
        list: store_learning::list_name(&c.definition).to_string(),
        rule: match c.definition.min_score {
            Some(m) => format!("{} (score at least {m})", c.definition.rule.text),
            None => c.definition.rule.text.clone(),
        },
        id: c.definition.id,
        offer: c.definition.offer,
        by: c.by,
        created: c.created,
        contacts: c.contacts,
        held_out: c.held_out,
        cost_per_contact: c.definition.cost_per_contact,
    }
}

/// The score a campaign ranks by.
fn score_of(name: &str, s: &rapport_core::Scores) -> Option<f64> {
    match name {
        "" | "clv" => Some(s.clv),
        "value" => Some(s.value),
        "annual_value" => Some(s.annual_value),
        "profit" => Some(s.profit),
        "p_alive" => Some(s.p_alive),
        "churn" => s.churn,
        other => other
            .strip_prefix("propensity:")
            .and_then(|p| s.propensity.get(p).copied()),
    }
}

fn check_score_name(name: &str) -> ServiceResult<()> {
    let known = [
        "",
        "clv",
        "value",
        "annual_value",
        "profit",
        "p_alive",
        "churn",
    ];
    if known.contains(&name)
        || name
            .strip_prefix("propensity:")
            .is_some_and(|p| !p.is_empty())
    {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "score {}: expected clv, value, annual_value, profit, p_alive, churn or propensity:NAME",
            rapport_core::text::sanitize(name)
        )))
    }
}

impl Engine {
    /// Answers a [`LearningRequest`] for `caller` (authorised and checked by the caller).
    pub(crate) fn handle_learning(
        &self,
        caller: &Caller,
        req: LearningRequest,
    ) -> ServiceResult<LearningReply> {
        let store = self.store();
        let now = self.now();
        match req {
            LearningRequest::CreateExperiment(spec) => {
                let def = spec.draft(now).validate(now).map_err(invalid)?;
                let _w = self.write_guard();
                self.new_experiment_id(&def.id)?;
                let exp = StoredExperiment {
                    definition: def,
                    by: caller.operator.clone(),
                    created: now,
                    assigned: 0,
                    conflicts: Vec::new(),
                };
                store_learning::store_experiment(store, &exp, &[], now).map_err(repo_err)?;
                tracing::info!(operator = %caller.operator, experiment = %exp.definition.id, "experiment defined");
                Ok(LearningReply::Experiment(Box::new(summary(exp, &[], now))))
            }
            LearningRequest::AssignExperiment { id } => {
                let _job = self.job();
                let _w = self.write_guard();
                let mut exp = self.stored_experiment(&id)?;
                if exp.assigned > 0 || exp.definition.declared {
                    return Err(ServiceError::Invalid(format!(
                        "experiment {} is already assigned ({} customers)",
                        exp.definition.id, exp.assigned
                    )));
                }
                if exp.definition.window_ends(now) <= now {
                    return Err(ServiceError::Invalid("the outcome window is past".into()));
                }
                let eligible = self.eligible(&exp.definition, now)?;
                let a = assign(&exp.definition, &eligible, now).map_err(invalid)?;
                exp.assigned = a.len() as u64;
                exp.definition.starts = now;
                store_learning::store_experiment(store, &exp, &a, now).map_err(repo_err)?;
                tracing::info!(operator = %caller.operator, experiment = %exp.definition.id, customers = a.len(), "experiment assigned");
                Ok(LearningReply::Experiment(Box::new(summary(exp, &a, now))))
            }
            LearningRequest::DeclareExperiment(spec) => {
                let _job = self.job();
                let _w = self.write_guard();
                self.new_experiment_id(&spec.id)?;
                let rows = self.declared_rows(&spec.id)?;
                let starts = rows.iter().map(|r| r.at).min().unwrap_or(now);
                let def = spec.draft(starts).validate_declared().map_err(invalid)?;
                let d = declare(&def, &rows).map_err(invalid)?;
                let exp = StoredExperiment {
                    definition: def,
                    by: caller.operator.clone(),
                    created: now,
                    assigned: d.assignments.len() as u64,
                    conflicts: d.conflicts.iter().map(|c| c.to_string()).collect(),
                };
                store_learning::store_experiment(store, &exp, &d.assignments, now)
                    .map_err(repo_err)?;
                tracing::info!(operator = %caller.operator, experiment = %exp.definition.id, customers = d.assignments.len(), conflicts = d.conflicts.len(), "experiment declared");
                Ok(LearningReply::Experiment(Box::new(summary(
                    exp,
                    &d.assignments,
                    now,
                ))))
            }
            LearningRequest::Experiments => {
                let mut out = Vec::new();
                for e in store_learning::experiments(store)
                    .map_err(repo_err)?
                    .into_iter()
                    .take(MAX_ITEMS)
                {
                    let a =
                        store_learning::assignments(store, &e.definition.id).map_err(repo_err)?;
                    out.push(summary(e, &a, now));
                }
                Ok(LearningReply::Experiments(out))
            }
            LearningRequest::ExperimentStatus { id } => {
                let e = self.stored_experiment(&id)?;
                let a = store_learning::assignments(store, &id).map_err(repo_err)?;
                Ok(LearningReply::Experiment(Box::new(summary(e, &a, now))))
            }
            LearningRequest::ExperimentReport { id } => {
                let e = self.stored_experiment(&id)?;
                let a = store_learning::assignments(store, &id).map_err(repo_err)?;
                let report = self.analyse(&e.definition, &a, now)?;
                store_learning::record_fact(store, FactKind::ResultsRecorded, now)
                    .map_err(repo_err)?;
                Ok(LearningReply::Result(Box::new(ExperimentResult {
                    experiment: summary(e, &a, now),
                    as_of: now,
                    report,
                })))
            }
            LearningRequest::CreateCampaign(spec) => self
                .create_campaign(caller, spec, now)
                .map(|c| LearningReply::Campaign(Box::new(c))),
            LearningRequest::Campaigns => Ok(LearningReply::Campaigns(
                store_learning::campaigns(store)
                    .map_err(repo_err)?
                    .into_iter()
                    .take(MAX_ITEMS)
                    .map(campaign_summary)
                    .collect(),
            )),
            LearningRequest::CampaignReport { id } => {
                let r = self.campaign_results(id.as_deref(), now)?;
                if !r.lists.is_empty() {
                    store_learning::record_fact(store, FactKind::ResultsRecorded, now)
                        .map_err(repo_err)?;
                }
                Ok(LearningReply::CampaignReport(Box::new(r)))
            }
            LearningRequest::Handoffs => self
                .handoffs(now)
                .map(|h| LearningReply::Handoffs(Box::new(h))),
            LearningRequest::AddIdea { customer, text } => {
                if let Some(c) = customer
                    && store.customer(c).map_err(store_err)?.is_none()
                {
                    return Err(ServiceError::NotFound(format!("customer {c}")));
                }
                let id = store.next_interaction_ids(1).map_err(store_err)?.start;
                let idea =
                    Idea::new(id, &caller.operator, customer, &text, now).map_err(invalid)?;
                let mut b = rapport_store::Batch::default();
                store_learning::put_idea(&mut b, &idea).map_err(repo_err)?;
                store
                    .write(b, rapport_store::Durability::Durable)
                    .map_err(store_err)?;
                self.idea_entry(idea)
                    .map(|i| LearningReply::Idea(Box::new(i)))
            }
            LearningRequest::MyIdeas => {
                let all = store_learning::ideas(store).map_err(repo_err)?;
                let mine: Vec<Idea> = idea::by_author(&all, &caller.operator)
                    .into_iter()
                    .take(MAX_ITEMS)
                    .cloned()
                    .collect();
                self.idea_entries(mine).map(LearningReply::Ideas)
            }
            LearningRequest::Ideas { all } => {
                let ideas = store_learning::ideas(store).map_err(repo_err)?;
                let list: Vec<Idea> = if all {
                    ideas.into_iter().rev().take(MAX_ITEMS).collect()
                } else {
                    idea::queue(&ideas)
                        .into_iter()
                        .take(MAX_ITEMS)
                        .cloned()
                        .collect()
                };
                self.idea_entries(list).map(LearningReply::Ideas)
            }
            LearningRequest::TagIdea { id, tag } => self
                .change_idea(id, |i| i.tag(&tag))
                .map(|i| LearningReply::Idea(Box::new(i))),
            LearningRequest::LinkIdea { id, link } => self
                .change_idea(id, |i| i.link(link))
                .map(|i| LearningReply::Idea(Box::new(i))),
            LearningRequest::CloseIdea { id, outcome } => {
                let who = caller.operator.clone();
                let i = self.change_idea(id, |i| i.close(&who, &outcome, now))?;
                store_learning::record_fact(store, FactKind::LessonShared, now)
                    .map_err(repo_err)?;
                Ok(LearningReply::Idea(Box::new(i)))
            }
        }
    }

    fn new_experiment_id(&self, id: &str) -> ServiceResult<()> {
        if store_learning::experiment(self.store(), id)
            .map_err(repo_err)?
            .is_some()
        {
            return Err(ServiceError::Invalid(format!(
                "experiment {} exists already: choose another id",
                rapport_core::text::sanitize(id)
            )));
        }
        Ok(())
    }

    fn stored_experiment(&self, id: &str) -> ServiceResult<StoredExperiment> {
        store_learning::experiment(self.store(), id)
            .map_err(repo_err)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("experiment {}", rapport_core::text::sanitize(id)))
            })
    }

    /// Every customer's facts as the population rule reads them, for the customers it can
    /// admit: with a disruption clause only the customers a disruption on record affected,
    /// else every customer.
    fn eligible(
        &self,
        def: &ExperimentDefinition,
        now: Timestamp,
    ) -> ServiceResult<Vec<(CustomerId, Option<Tier>)>> {
        let store = self.store();
        let lookback = def
            .population
            .clauses
            .iter()
            .filter_map(|c| match c {
                Clause::Disrupted { within_days, .. } => Some(*within_days),
                _ => None,
            })
            .max();
        let mut disruptions: BTreeMap<CustomerId, Vec<DisruptionFact>> = BTreeMap::new();
        if let Some(days) = lookback {
            let since = now.plus_millis(-i64::from(days) * DAY_MS);
            for d in store
                .docs::<rapport_core::Disruption>(rapport_repository::disruption::DISRUPTIONS, "")
            {
                let (_, d) = d.map_err(store_err)?;
                for a in d.affected.iter().filter(|a| a.at > since && a.at <= now) {
                    let c = rapport_repository::disruption::current_id(store, a.customer)
                        .map_err(repo_err)?;
                    disruptions.entry(c).or_default().push(DisruptionFact {
                        at: a.at,
                        kind: a.kind,
                        delay_minutes: a.delay_minutes,
                    });
                }
            }
        }
        let candidates: Vec<CustomerId> = if lookback.is_some() {
            disruptions.keys().copied().collect()
        } else {
            store
                .customer_ids(CustomerId(0), None)
                .collect::<Result<_, _>>()
                .map_err(store_err)?
        };
        let mut facts = Vec::with_capacity(candidates.len());
        for c in candidates {
            if store.customer(c).map_err(store_err)?.is_none() {
                continue;
            }
            let scores = store.scores(c).map_err(store_err)?;
            facts.push(CustomerFacts {
                customer: c,
                tier: scores.as_ref().map(|s| s.tier),
                value: scores.as_ref().map_or(0.0, |s| s.value),
                disruptions: disruptions.remove(&c).unwrap_or_default(),
            });
        }
        Ok(def.population.eligible(&facts, now))
    }

    /// The contacts of the campaign named like the experiment, in the history of every
    /// customer: one row per `campaign_contact` or `campaign_holdout`, the arm in `list`.
    fn declared_rows(&self, id: &str) -> ServiceResult<Vec<DeclaredRow>> {
        let mut rows = Vec::new();
        for i in self.store().all_interactions() {
            let i = i.map_err(store_err)?;
            if matches!(i.kind.as_str(), "campaign_contact" | "campaign_holdout")
                && i.attr_text("campaign") == Some(id)
                && let Some(arm) = i.attr_text("list")
            {
                rows.push(DeclaredRow {
                    line: rows.len() + 1,
                    customer: i.customer,
                    arm: arm.to_string(),
                    at: i.at,
                });
            }
        }
        if rows.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "no campaign contact on record names campaign {}: nothing to declare",
                rapport_core::text::sanitize(id)
            )));
        }
        Ok(rows)
    }

    fn converter(&self) -> ServiceResult<Converter> {
        Ok(
            match rapport_repository::rates::stored(self.store()).map_err(repo_err)? {
                Some(r) => Converter::new(&r),
                None => Converter::new(&ExchangeRates::reporting_only(rapport_core::Currency::EUR)),
            },
        )
    }

    /// Revenue of an interaction in the reporting currency (its revenue amounts).
    fn revenue(conv: &Converter, i: &Interaction) -> f64 {
        let day = i.at.as_millis().div_euclid(DAY_MS);
        i.amounts
            .iter()
            .filter(|a| a.role == AmountRole::Revenue)
            .filter_map(|a| conv.to_reporting(a.money, day))
            .sum()
    }

    /// A customer's bookings: distinct booking references of `booking` interactions at their
    /// earliest time, with the revenue on them.
    fn bookings(&self, conv: &Converter, customer: CustomerId) -> ServiceResult<Vec<Booking>> {
        let customer =
            rapport_repository::disruption::current_id(self.store(), customer).map_err(repo_err)?;
        let mut by: BTreeMap<String, Booking> = BTreeMap::new();
        for i in self.store().interactions_of(customer) {
            let i = i.map_err(store_err)?;
            if i.kind != InteractionKind::Booking {
                continue;
            }
            let Some(b) = i.attr_text("booking_ref") else {
                continue;
            };
            let revenue = Self::revenue(conv, &i);
            let e = by.entry(b.to_string()).or_insert(Booking {
                at: i.at,
                revenue: 0.0,
            });
            e.at = e.at.min(i.at);
            e.revenue += revenue;
        }
        Ok(by.into_values().collect())
    }

    fn analyse(
        &self,
        def: &ExperimentDefinition,
        assignments: &[Assignment],
        now: Timestamp,
    ) -> ServiceResult<ExperimentReport> {
        if assignments.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "experiment {} has nobody assigned yet: run `rapport experiment assign {}`",
                def.id, def.id
            )));
        }
        let conv = self.converter()?;
        let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for a in assignments {
            let ends = def.window_ends(a.assigned_at);
            // No peeking: only what happened up to now counts (the report says preliminary).
            let mine: Vec<Booking> = self
                .bookings(&conv, a.customer)?
                .into_iter()
                .filter(|b| b.at <= now.min(ends))
                .collect();
            values
                .entry(a.arm.as_str())
                .or_default()
                .push(measure(def, a.assigned_at, &mine));
        }
        let arms: Vec<ArmOutcomes> = def
            .arms
            .iter()
            .map(|a: &ArmDefinition| {
                ArmOutcomes::new(
                    &a.name,
                    a.cost_per_customer,
                    values.remove(a.name.as_str()).unwrap_or_default(),
                )
            })
            .collect();
        let direction = if def.outcome.higher_is_better() {
            Direction::HigherIsBetter
        } else {
            Direction::LowerIsBetter
        };
        let mut config = AnalysisConfig::new(0, direction);
        config.value_per_unit = def.value_per_unit;
        config.minimum_effect = def.minimum_effect;
        config.seed = def.seed;
        config.window_closed = matches!(
            def.status(assignments, now),
            ExperimentStatus::Closed { .. }
        );
        analyse_experiment(&arms, &config).map_err(invalid)
    }

    fn create_campaign(
        &self,
        caller: &Caller,
        spec: CampaignSpec,
        now: Timestamp,
    ) -> ServiceResult<CampaignSummary> {
        check_score_name(&spec.score)?;
        let def = spec.clone().validate().map_err(invalid)?;
        let store = self.store();
        let _job = self.job();
        let _w = self.write_guard();
        if store_learning::campaign(store, &def.id)
            .map_err(repo_err)?
            .is_some()
        {
            return Err(ServiceError::Invalid(format!(
                "campaign {} exists already: choose another id",
                def.id
            )));
        }
        let existing: HashSet<CustomerId> = store
            .customer_ids(CustomerId(0), None)
            .collect::<Result<_, _>>()
            .map_err(store_err)?;
        // Disruptions only when the rule reads them.
        let needs_disruptions = def
            .rule
            .clauses
            .iter()
            .any(|c| matches!(c, Clause::Disrupted { .. }));
        let mut candidates = Vec::new();
        for r in store.scores_in(CustomerId(0), None) {
            let (c, s) = r.map_err(store_err)?;
            if !existing.contains(&c) {
                continue;
            }
            let Some(score) = score_of(&spec.score, &s) else {
                continue;
            };
            let disruptions = if needs_disruptions {
                rapport_repository::disruption::of_customer(store, c)
                    .map_err(repo_err)?
                    .into_iter()
                    .map(|(_, a)| DisruptionFact {
                        at: a.at,
                        kind: a.kind,
                        delay_minutes: a.delay_minutes,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let facts = CustomerFacts {
                customer: c,
                tier: Some(s.tier),
                value: s.value,
                disruptions,
            };
            if !def.rule.admits(&facts, now) {
                continue;
            }
            let owner = rapport_repository::portfolio::portfolio_ref(store, c)
                .map_err(repo_err)?
                .map_or_else(|| "unassigned".to_string(), |p| p.manager);
            candidates.push(ListCandidate {
                facts,
                owner,
                score,
            });
        }
        if candidates.is_empty() {
            return Err(ServiceError::Invalid(
                "no scored customer qualifies: run `rapport score` first, or widen the rule".into(),
            ));
        }
        let list = build_list(&def, &candidates, now).map_err(invalid)?;
        let camp = StoredCampaign {
            definition: def,
            by: caller.operator.clone(),
            created: now,
            contacts: list.contacts.len() as u64,
            held_out: list.holdout.len() as u64,
        };
        store_learning::store_campaign(store, &camp, &list.contacts, &list.holdout, now)
            .map_err(repo_err)?;
        tracing::info!(operator = %caller.operator, campaign = %camp.definition.id, contacts = camp.contacts, held_out = camp.held_out, "campaign list produced");
        Ok(campaign_summary(camp))
    }

    fn campaign_results(
        &self,
        only: Option<&str>,
        now: Timestamp,
    ) -> ServiceResult<CampaignReport> {
        let store = self.store();
        let conv = self.converter()?;
        // Cost per contact of the campaigns created here; 0 for those only in the sources.
        let costs: BTreeMap<String, f64> = store_learning::campaigns(store)
            .map_err(repo_err)?
            .into_iter()
            .map(|c| (c.definition.id, c.definition.cost_per_contact))
            .collect();
        // Experiments are analysed as experiments, not as campaigns.
        let experiments: BTreeSet<String> = store_learning::experiments(store)
            .map_err(repo_err)?
            .into_iter()
            .map(|e| e.definition.id)
            .collect();
        let mut events = Vec::new();
        let mut responders: BTreeMap<CustomerId, Vec<usize>> = BTreeMap::new();
        for i in store.all_interactions() {
            let i = i.map_err(store_err)?;
            let kind = match i.kind.as_str() {
                "campaign_contact" => EventKind::Contact,
                "campaign_response" => EventKind::Response,
                "campaign_holdout" => EventKind::Holdout,
                _ => continue,
            };
            let (Some(campaign), Some(list)) = (i.attr_text("campaign"), i.attr_text("list"))
            else {
                continue;
            };
            if only.is_some_and(|o| o != campaign) || experiments.contains(campaign) {
                continue;
            }
            if kind == EventKind::Response {
                responders.entry(i.customer).or_default().push(events.len());
            }
            events.push((
                ContactEvent {
                    campaign: campaign.to_string(),
                    list: list.to_string(),
                    customer: i.customer,
                    kind,
                    revenue: Self::revenue(&conv, &i),
                },
                i.at,
            ));
        }
        // A responder's revenue in the days after the response.
        for (customer, idx) in &responders {
            let history: Vec<Interaction> = store
                .interactions_of(*customer)
                .collect::<Result<_, _>>()
                .map_err(store_err)?;
            for k in idx {
                let at = events[*k].1;
                let until = at.plus_millis(ATTRIBUTION_DAYS * DAY_MS);
                let after: f64 = history
                    .iter()
                    .filter(|i| {
                        i.at > at && i.at <= until && !i.kind.as_str().starts_with("campaign")
                    })
                    .map(|i| Self::revenue(&conv, i))
                    .sum();
                events[*k].0.revenue += after;
            }
        }
        let mut by_campaign: BTreeMap<String, Vec<ContactEvent>> = BTreeMap::new();
        for (e, _) in events {
            by_campaign.entry(e.campaign.clone()).or_default().push(e);
        }
        let mut lists = Vec::new();
        for (c, ev) in by_campaign {
            lists.extend(list_results(&ev, costs.get(&c).copied().unwrap_or(0.0)));
        }
        if let Some(o) = only
            && lists.is_empty()
        {
            return Err(ServiceError::NotFound(format!(
                "campaign {}: no contact on record",
                rapport_core::text::sanitize(o)
            )));
        }
        Ok(CampaignReport {
            by_size: by_list_size(&lists),
            lists,
            currency: conv.reporting().to_string(),
            as_of: now,
        })
    }

    /// The hand-offs: each step's last fact from the system itself.
    fn handoffs(&self, now: Timestamp) -> ServiceResult<HandoffsView> {
        handoffs(self.store(), now)
    }
}

/// The hand-offs at `now`: each step's last fact from the store.
pub(crate) fn handoffs(
    store: &rapport_store::Store,
    now: Timestamp,
) -> ServiceResult<HandoffsView> {
    {
        let mut facts: BTreeMap<FactKind, Timestamp> = BTreeMap::new();
        let mut note = |kind: FactKind, at: Timestamp| {
            let t = facts.entry(kind).or_insert(at);
            *t = (*t).max(at);
        };
        // Data pooled: the newest ingest of any source.
        let sources: Vec<String> = store
            .doc(rapport_repository::ingest::META, "sources")
            .map_err(store_err)?
            .unwrap_or_default();
        for s in &sources {
            if let Some(t) = store
                .doc::<Timestamp>(
                    rapport_repository::ingest::META,
                    &format!("{}{s}", crate::assess::INGESTED_PREFIX),
                )
                .map_err(store_err)?
            {
                note(FactKind::Ingest, t);
            }
        }
        // Any subset of the models' fields reads (an older build's or a test's models).
        #[derive(Deserialize)]
        struct Fitted {
            #[serde(default)]
            fitted_at: Option<Timestamp>,
        }
        let scoring = |e: rapport_scoring::Error| ServiceError::Internal(e.to_string());
        if let Some(Fitted { fitted_at: Some(t) }) =
            rapport_scoring::results::models_as::<Fitted>(store).map_err(scoring)?
        {
            note(FactKind::ModelFit, t);
        }
        for t in rapport_scoring::results::run_times(store).map_err(scoring)? {
            note(FactKind::ScoringRun, t);
        }
        for t in rapport_scoring::results::list_times(store).map_err(scoring)? {
            note(FactKind::ListProduced, t);
        }
        for (k, t) in store_learning::latest_facts(store).map_err(repo_err)? {
            note(k, t);
        }
        let facts: Vec<Fact> = facts
            .into_iter()
            .map(|(kind, at)| Fact { kind, at })
            .collect();
        let status = Pipeline::standard().check(&facts, now);
        Ok(HandoffsView {
            flags: status.flags(),
            status,
            facts,
            as_of: now,
        })
    }
}

/// The learning loop's part of the stage assessment's evidence: campaigns created here whose
/// results were measured after they ran, hand-off steps on time, experiments concluded with
/// a control group, ideas logged and linked to a change (each `None` while there is none).
pub(crate) fn evidence(
    store: &rapport_store::Store,
    now: Timestamp,
    e: &mut rapport_governance::assessment::Evidence,
) -> ServiceResult<()> {
    let facts = store_learning::latest_facts(store).map_err(repo_err)?;
    let measured = facts.get(&FactKind::ResultsRecorded).copied();
    let campaigns = store_learning::campaigns(store).map_err(repo_err)?;
    if !campaigns.is_empty() {
        e.campaigns_with_results = Some(
            campaigns
                .iter()
                .filter(|c| measured.is_some_and(|m| m >= c.created))
                .count() as u32,
        );
    }
    let h = handoffs(store, now)?;
    if !h.facts.is_empty() {
        e.handoffs = Some((h.status.on_time.1, h.status.on_time.0));
    }
    let experiments = store_learning::experiments(store).map_err(repo_err)?;
    if !experiments.is_empty() {
        let mut concluded = 0;
        for x in &experiments {
            let a = store_learning::assignments(store, &x.definition.id).map_err(repo_err)?;
            let control = a
                .iter()
                .any(|a| a.arm == rapport_governance::experiment::CONTROL);
            if control
                && matches!(
                    x.definition.status(&a, now),
                    ExperimentStatus::Closed { .. }
                )
            {
                concluded += 1;
            }
        }
        e.experiments_concluded = Some(concluded);
    }
    let ideas = store_learning::ideas(store).map_err(repo_err)?;
    if !ideas.is_empty() {
        e.ideas = Some(idea::linked_share(&ideas));
    }
    Ok(())
}

impl Engine {
    fn idea_entry(&self, idea: Idea) -> ServiceResult<IdeaEntry> {
        let (customer_name, tier) = match idea.customer {
            Some(c) => (
                self.store()
                    .customer(c)
                    .map_err(store_err)?
                    .map(|c| c.display_name()),
                self.store().scores(c).map_err(store_err)?.map(|s| s.tier),
            ),
            None => (None, None),
        };
        Ok(IdeaEntry {
            idea,
            customer_name,
            tier,
        })
    }

    fn idea_entries(&self, ideas: Vec<Idea>) -> ServiceResult<Vec<IdeaEntry>> {
        ideas.into_iter().map(|i| self.idea_entry(i)).collect()
    }

    fn change_idea(
        &self,
        id: u64,
        change: impl FnOnce(&mut Idea) -> Result<(), idea::IdeaError>,
    ) -> ServiceResult<IdeaEntry> {
        let store = self.store();
        let _w = self.write_guard();
        let mut i = store_learning::idea(store, id)
            .map_err(repo_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("idea {id}")))?;
        change(&mut i).map_err(invalid)?;
        let mut b = rapport_store::Batch::default();
        store_learning::put_idea(&mut b, &i).map_err(repo_err)?;
        store
            .write(b, rapport_store::Durability::Durable)
            .map_err(store_err)?;
        self.idea_entry(i)
    }

    /// An idea logged as an interaction (the console's idea form, `rapport log --kind idea`)
    /// joins the analysts' queue: the idea document is written in the interaction's batch.
    pub(crate) fn idea_of_interaction(
        batch: &mut rapport_store::Batch,
        i: &Interaction,
    ) -> ServiceResult<()> {
        if i.kind != InteractionKind::Idea {
            return Ok(());
        }
        let Some(text) = i.text.as_deref().filter(|t| !t.trim().is_empty()) else {
            return Ok(());
        };
        let author = i.employee.clone().unwrap_or_default();
        let idea = Idea::new(i.id.0, &author, Some(i.customer), text, i.at).map_err(invalid)?;
        store_learning::put_idea(batch, &idea).map_err(repo_err)
    }
}
