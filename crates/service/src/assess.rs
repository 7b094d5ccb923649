//! The stage assessment's evidence, gathered from the store, and its history.
//!
//! The rules live in `rapport_governance::assessment` (pure); this module reads what they
//! need from the pool, the scoring runs, the working lists and the grants, over a period
//! ending now. Each report is kept (`assessments/<millis>`) so progress can be followed, and
//! questionnaire answers are kept per respondent (`questionnaire/<name>`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use rapport_core::Timestamp;
use rapport_governance::Role;
use rapport_governance::assessment::{self, Evidence, Report};
use rapport_governance::questionnaire::{Answers, Respondent};
use rapport_repository::ingest::{META, REVIEWS, rows_seen_count};
use rapport_repository::quarantine;
use rapport_store::{Batch, Durability, Store};
use serde::{Deserialize, Serialize};

use crate::api::{ServiceError, ServiceResult};
use crate::engine::{Caller, repo_err, store_err};
use crate::protocol::{Reply, Request};
use crate::typed::Transport;
use crate::unexpected;

/// Collection of assessment reports (key: zero-padded milliseconds).
pub const ASSESSMENTS: &str = "assessments";
/// Collection of questionnaire answers (key: respondent).
pub const QUESTIONNAIRE: &str = "questionnaire";
/// The repository's record of when each source was last ingested (`ingested/<source>`).
pub const INGESTED_PREFIX: &str = "ingested/";

/// The longest period an assessment looks back over.
pub const MAX_PERIOD_DAYS: u32 = 3_650;

/// One stored assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentEntry {
    /// When it was made.
    pub at: Timestamp,
    /// By whom.
    pub by: String,
    /// The period it looked back over, in days.
    pub period_days: u32,
    /// The evidence gathered.
    pub evidence: Evidence,
    /// The report.
    pub report: Report,
}

/// The stage assessment, embedded or remote, written once over the transport.
pub trait Assessments: Transport {
    /// Gathers the evidence over the last `period_days`, combines it with the stored answers
    /// and keeps the report in the history.
    fn assess(
        &self,
        period_days: u32,
    ) -> impl Future<Output = ServiceResult<AssessmentEntry>> + Send {
        assess(self, period_days)
    }
    /// Stores questionnaire answers (a respondent's answers replace their earlier ones);
    /// returns how many respondents were stored.
    fn submit_answers(&self, answers: Answers) -> impl Future<Output = ServiceResult<u64>> + Send {
        submit_answers(self, answers)
    }
    /// Every stored assessment, oldest first.
    fn assessment_history(
        &self,
    ) -> impl Future<Output = ServiceResult<Vec<AssessmentEntry>>> + Send {
        history(self)
    }
}

impl<T: Transport> Assessments for T {}

async fn assess<T: Transport + ?Sized>(t: &T, period_days: u32) -> ServiceResult<AssessmentEntry> {
    match t.send(Request::Assess { period_days }).await? {
        Reply::Assessment(a) => Ok(*a),
        other => Err(unexpected(&other)),
    }
}

async fn submit_answers<T: Transport + ?Sized>(t: &T, answers: Answers) -> ServiceResult<u64> {
    match t.send(Request::SubmitAnswers(answers)).await? {
        Reply::Count(n) => Ok(n),
        other => Err(unexpected(&other)),
    }
}

async fn history<T: Transport + ?Sized>(t: &T) -> ServiceResult<Vec<AssessmentEntry>> {
    match t.send(Request::AssessmentHistory).await? {
        Reply::Assessments(a) => Ok(a),
        other => Err(unexpected(&other)),
    }
}

fn scoring_err(e: rapport_scoring::Error) -> ServiceError {
    match e {
        rapport_scoring::Error::Store(s) => store_err(s),
        other => ServiceError::Internal(other.to_string()),
    }
}

/// What the stored models report holds that the assessment reads: per model its out-of-time
/// AUC and, when the scoring run measured one, its baseline's.
#[derive(Debug, Default, Deserialize)]
struct ModelsDoc {
    #[serde(default)]
    report: ModelsReport,
}

#[derive(Debug, Default, Deserialize)]
struct ModelsReport {
    #[serde(default)]
    churn: Option<ClassifierAt>,
    #[serde(default)]
    propensity: Vec<ClassifierAt>,
}

#[derive(Debug, Deserialize)]
struct ClassifierAt {
    #[serde(default)]
    auc_eval: Option<f64>,
    /// The baseline's name and out-of-time AUC, when the run measured one.
    #[serde(default)]
    baseline: Option<(String, f64)>,
    /// The scoring run's own verdict: the model beat its baseline and the base rate.
    #[serde(default)]
    used: Option<bool>,
}

/// Where a run reports neither a verdict nor a baseline (an older build), a model counts as
/// in use when its out-of-time AUC reaches chance plus a margin.
const CHANCE_WITH_MARGIN: f64 = 0.6;

/// Gathers the evidence of the last `period_days` days before `now`.
pub fn evidence(store: &Store, now: Timestamp, period_days: u32) -> ServiceResult<Evidence> {
    let period_days = period_days.clamp(1, MAX_PERIOD_DAYS);
    let since = now.plus_millis(-i64::from(period_days) * 86_400_000);
    let days =
        |from: Timestamp, to: Timestamp| (to.as_millis() - from.as_millis()) as f64 / 86_400_000.0;
    let mut e = Evidence {
        period_days,
        ..Evidence::default()
    };

    // Communal: the pool.
    let sources: Vec<String> = store
        .doc(META, "sources")
        .map_err(store_err)?
        .unwrap_or_default();
    e.sources_pooled = sources.len() as u32;
    e.customers = store.customer_count().map_err(store_err)?;
    e.interactions = store.interaction_count().map_err(store_err)?;
    e.rows_quarantined = store.doc_count(quarantine::COLLECTION).map_err(store_err)?;
    e.rows_read = rows_seen_count(store).map_err(repo_err)? + e.rows_quarantined;
    e.reviews_pending = store.doc_count(REVIEWS).map_err(store_err)?;
    let mut stalest: Option<f64> = None;
    for s in &sources {
        let last: Option<Timestamp> = store
            .doc(META, &format!("{INGESTED_PREFIX}{s}"))
            .map_err(store_err)?;
        // A source ingested before the repository kept the date counts as stale as the
        // period is long: its freshness is unknown.
        let age = last.map_or(f64::from(period_days), |t| days(t, now).max(0.0));
        stalest = Some(stalest.map_or(age, |a: f64| a.max(age)));
    }
    e.stalest_source_days = stalest;

    // Serial: scoring runs, lists, campaigns, hand-offs.
    let runs = rapport_scoring::results::run_times(store).map_err(scoring_err)?;
    let in_period: Vec<Timestamp> = runs.iter().copied().filter(|t| *t >= since).collect();
    if let Some(last) = runs.last() {
        // Gaps between the period's runs (the first counted from the run before it, if
        // any), and from the last run to now.
        let before = runs.iter().rev().find(|t| **t < since).copied();
        let mut prev = before;
        for t in &in_period {
            if let Some(p) = prev {
                e.scoring_gaps_days.push(days(p, *t));
            }
            prev = Some(*t);
        }
        e.scoring_gaps_days.push(days(*last, now).max(0.0));
    }
    e.lists_produced = rapport_scoring::results::list_times(store)
        .map_err(scoring_err)?
        .into_iter()
        .filter(|at| *at >= since)
        .count() as u32;

    // Symbiotic: models that beat their baseline.
    if let Some(m) = rapport_scoring::results::models_as::<ModelsDoc>(store).map_err(scoring_err)? {
        let beats = |c: &ClassifierAt| match (c.used, c.auc_eval, &c.baseline) {
            (Some(used), _, _) => used,
            (None, Some(a), Some((_, b))) => a > *b,
            (None, Some(a), None) => a >= CHANCE_WITH_MARGIN,
            _ => false,
        };
        let n = m.report.churn.iter().filter(|c| beats(c)).count()
            + m.report.propensity.iter().filter(|c| beats(c)).count();
        e.models_beating_baseline = Some(n as u32);
    }

    // Serial and symbiotic: the learning loop's campaigns, hand-offs, experiments, ideas.
    crate::learning::evidence(store, now, &mut e)?;

    // Integral: grants by policy and equal entitlement per disruption.
    let mut by_disruption: BTreeMap<String, BTreeSet<(i64, String)>> = BTreeMap::new();
    let mut customers_per: BTreeMap<String, u64> = BTreeMap::new();
    for g in store.grants() {
        let g = g.map_err(store_err)?;
        if g.at < since {
            continue;
        }
        e.grants.0 += 1;
        if !g.policy_rule.trim().is_empty() {
            e.grants.1 += 1;
        }
        let key = g.disruption.trim().to_ascii_uppercase();
        by_disruption
            .entry(key.clone())
            .or_default()
            .insert((g.amount.minor, g.amount.currency.to_string()));
        *customers_per.entry(key).or_default() += 1;
    }
    for (d, amounts) in &by_disruption {
        if customers_per.get(d).copied().unwrap_or(0) > 1 {
            e.disruptions_equal.0 += 1;
            if amounts.len() == 1 {
                e.disruptions_equal.1 += 1;
            }
        }
    }
    Ok(e)
}

/// Every stored respondent's answers.
pub fn stored_answers(store: &Store) -> ServiceResult<Answers> {
    let mut a = Answers::default();
    for r in store.docs::<Respondent>(QUESTIONNAIRE, "") {
        let (name, r) = r.map_err(store_err)?;
        a.respondents.insert(name, r);
    }
    Ok(a)
}

/// Assesses, keeps the report, and returns it.
pub fn run(
    store: &Store,
    by: &str,
    now: Timestamp,
    period_days: u32,
) -> ServiceResult<AssessmentEntry> {
    if period_days == 0 || period_days > MAX_PERIOD_DAYS {
        return Err(ServiceError::Invalid(format!(
            "the period must be 1 to {MAX_PERIOD_DAYS} days, not {period_days}"
        )));
    }
    let evidence = evidence(store, now, period_days)?;
    let answers = stored_answers(store)?;
    let summary = (!answers.respondents.is_empty()).then(|| answers.summarize());
    let report = assessment::assess(&evidence, summary);
    let entry = AssessmentEntry {
        at: now,
        by: by.to_string(),
        period_days,
        evidence,
        report,
    };
    let mut b = Batch::default();
    // Keyed by time, then by count, so two assessments in the same millisecond both stay.
    let seq = store.doc_count(ASSESSMENTS).map_err(store_err)?;
    b.put_doc(
        ASSESSMENTS,
        &format!("{:015}-{seq:08}", now.as_millis().max(0)),
        &entry,
    )
    .map_err(store_err)?;
    store.write(b, Durability::Durable).map_err(store_err)?;
    Ok(entry)
}

/// Stores answers. Admins and executives may load anyone's (a survey's file); every other
/// role answers for itself only.
pub fn submit(store: &Store, answers: Answers, caller: &Caller) -> ServiceResult<u64> {
    let for_anyone = matches!(caller.role, Role::Admin | Role::Executive);
    if answers.respondents.len() > 10_000 {
        return Err(ServiceError::Invalid(
            "at most 10,000 respondents at once".into(),
        ));
    }
    let mut b = Batch::default();
    for (name, r) in &answers.respondents {
        if name.chars().count() > 100 || name.trim().is_empty() {
            return Err(ServiceError::Invalid(
                "a respondent's name must be 1 to 100 characters".into(),
            ));
        }
        if !for_anyone && *name != caller.operator {
            return Err(ServiceError::Forbidden {
                role: caller.role,
                action: format!(
                    "submit answers for {name} (only your own, as {})",
                    caller.operator
                ),
            });
        }
        if r.answers.len() > 100 {
            return Err(ServiceError::Invalid(format!("{name}: too many answers")));
        }
        b.put_doc(QUESTIONNAIRE, name, r).map_err(store_err)?;
    }
    store.write(b, Durability::Durable).map_err(store_err)?;
    Ok(answers.respondents.len() as u64)
}

/// Every stored assessment, oldest first.
pub fn all(store: &Store) -> ServiceResult<Vec<AssessmentEntry>> {
    store
        .docs::<AssessmentEntry>(ASSESSMENTS, "")
        .map(|r| r.map(|(_, e)| e).map_err(store_err))
        .collect()
}
