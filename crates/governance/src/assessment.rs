//! The coordination-stage assessment: which of the four stages of customer focus the
//! organisation has reached, from the system's own evidence and its people's answers.
//!
//! The four stages (communal, serial, symbiotic, integral) build on each other. Each has a
//! handful of [`MEASURES`], each with a definition, a threshold and the place its evidence
//! comes from. The service gathers the raw [`Evidence`] from the store; everything here is
//! pure computation:
//!
//! - a measure is **met** when its value passes its threshold; a measure without evidence
//!   (the feature that would produce it is unused) is **not measured** and counts as not met;
//! - a stage **holds** when at least two thirds of its measures are met
//!   and none of its foundation measures fails;
//! - the **stage reached** is the highest stage such that it and every stage before it hold
//!   (0: not even the communal pool holds);
//! - a **weak-foundation warning** is raised when a later stage shows activity (any of its
//!   measures met) while an earlier stage does not hold or one of its foundation measures
//!   fails, e.g. experiments concluded on a pool whose duplicate rate is high;
//! - when questionnaire answers are given, the maturity they imply (1-5, mapped to a stage by
//!   [`stage_of_maturity`]) is compared with the evidence, and a difference of a stage or
//!   more is a finding;
//! - the **next steps** are the unmet measures of the first stage that does not hold, with
//!   what to do about each.
//!
//! ```
//! use rapport_governance::assessment::{assess, Evidence};
//! let mut e = Evidence::default();
//! e.sources_pooled = 5;
//! e.interactions = 9_000;
//! e.rows_read = 10_000;
//! e.rows_quarantined = 50;
//! e.customers = 2_000;
//! e.reviews_pending = 10;
//! e.stalest_source_days = Some(1.0);
//! let report = assess(&e, None);
//! assert_eq!(report.stage, 1);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::questionnaire::AnswerSummary;

/// The four coordination stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// One pool of every interaction, organised by customer.
    Communal,
    /// Insight from the past, through hand-offs on a cadence.
    Serial,
    /// Anticipation: models, experiments and the front line's ideas in a loop.
    Symbiotic,
    /// Real-time response by every employee, by policy.
    Integral,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 4] = [
        Stage::Communal,
        Stage::Serial,
        Stage::Symbiotic,
        Stage::Integral,
    ];

    /// 1 to 4.
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    /// The stage's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Communal => "communal",
            Stage::Serial => "serial",
            Stage::Symbiotic => "symbiotic",
            Stage::Integral => "integral",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of the threshold passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The value must be at least the threshold.
    AtLeast,
    /// The value must be at most the threshold.
    AtMost,
}

/// A measure's definition (the table in `docs/guide.md`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeasureDef {
    /// Short id, e.g. `duplicate-rate`.
    pub id: &'static str,
    /// The stage it is evidence for.
    pub stage: Stage,
    /// What is measured, in words.
    pub definition: &'static str,
    /// Unit: `share` (0-1), `count` or `days`.
    pub unit: &'static str,
    /// Which side passes.
    pub direction: Direction,
    /// The threshold.
    pub threshold: f64,
    /// A failing foundation measure weakens every later stage.
    pub foundation: bool,
    /// Where the evidence comes from.
    pub source: &'static str,
    /// What to do when it is not met.
    pub advice: &'static str,
}

#[allow(clippy::too_many_arguments)] // one argument per column of the MEASURES table
const fn m(
    id: &'static str,
    stage: Stage,
    definition: &'static str,
    unit: &'static str,
    direction: Direction,
    threshold: f64,
    foundation: bool,
    source: &'static str,
    advice: &'static str,
) -> MeasureDef {
    MeasureDef {
        id,
        stage,
        definition,
        unit,
        direction,
        threshold,
        foundation,
        source,
        advice,
    }
}

use Direction::{AtLeast, AtMost};
use Stage::{Communal, Integral, Serial, Symbiotic};

/// Every measure of the assessment.
pub const MEASURES: [MeasureDef; 17] = [
    m(
        "sources-pooled",
        Communal,
        "source systems whose rows are in the pool",
        "count",
        AtLeast,
        3.0,
        false,
        "rows stored per source (ingest)",
        "map and ingest the remaining source systems",
    ),
    m(
        "interactions-tied",
        Communal,
        "share of source rows stored as interactions of a resolved customer (rows stored / (stored + quarantined))",
        "share",
        AtLeast,
        0.95,
        true,
        "ingest counts and the quarantine",
        "work the quarantine: fix the mappings or the sources behind the rejected rows",
    ),
    m(
        "duplicate-rate",
        Communal,
        "pending merge reviews (likely duplicates a steward has not decided) per customer",
        "share",
        AtMost,
        0.05,
        true,
        "the merge-review queue",
        "work the merge-review queue (rapport review list)",
    ),
    m(
        "quarantine-rate",
        Communal,
        "share of rows read that were quarantined",
        "share",
        AtMost,
        0.02,
        true,
        "the quarantine",
        "fix the sources with the most quarantined rows (rapport quality)",
    ),
    m(
        "freshness",
        Communal,
        "days since the stalest source was last ingested",
        "days",
        AtMost,
        7.0,
        false,
        "ingest runs",
        "ingest every source at least weekly",
    ),
    m(
        "scoring-cadence",
        Serial,
        "longest gap between scoring runs in the period, or since the last run",
        "days",
        AtMost,
        31.0,
        true,
        "scoring runs",
        "score every customer at least monthly (rapport score, or the server's scoring cadence)",
    ),
    m(
        "lists-produced",
        Serial,
        "working lists produced from scores in the period",
        "count",
        AtLeast,
        1.0,
        false,
        "stored working lists",
        "produce the working lists after scoring (rapport lists)",
    ),
    m(
        "campaign-results",
        Serial,
        "campaigns with recorded results in the period",
        "count",
        AtLeast,
        1.0,
        false,
        "campaigns",
        "run a campaign on a short scored list and record its responses",
    ),
    m(
        "handoffs-on-time",
        Serial,
        "share of hand-off steps done on their cadence",
        "share",
        AtLeast,
        0.8,
        false,
        "hand-off pipeline",
        "give each hand-off an owner and a cadence, and complete the overdue ones",
    ),
    m(
        "models-in-use",
        Symbiotic,
        "models in use that beat their baseline out of time",
        "count",
        AtLeast,
        1.0,
        true,
        "the scoring run's model evaluation",
        "fit and validate churn or propensity models against a simple baseline",
    ),
    m(
        "experiments-concluded",
        Symbiotic,
        "experiments concluded with a control group in the period",
        "count",
        AtLeast,
        1.0,
        false,
        "experiments",
        "run an experiment with a control group and read its results",
    ),
    m(
        "ideas-linked",
        Symbiotic,
        "share of front-line ideas linked to a model change, experiment or campaign",
        "share",
        AtLeast,
        0.2,
        false,
        "ideas logged on records",
        "have analysts review the ideas queue and link what they act on",
    ),
    m(
        "front-line-opening",
        Integral,
        "share of front-line operators who opened customer records in the period",
        "share",
        AtLeast,
        0.8,
        false,
        "audit of record openings",
        "give every front-line employee the console and a sign-in",
    ),
    m(
        "grants-by-policy",
        Integral,
        "share of compensation grants priced by a policy rule",
        "share",
        AtLeast,
        0.95,
        false,
        "compensation grants",
        "grant compensation through the policy, not by hand",
    ),
    m(
        "equal-entitlement",
        Integral,
        "share of disruptions whose passengers all received the same compensation",
        "share",
        AtLeast,
        0.95,
        false,
        "compensation grants per disruption",
        "apply the policy to every passenger of a disruption (the flight view)",
    ),
    m(
        "approvals-within-limits",
        Integral,
        "share of goodwill decided within the front line's limits or through approvals",
        "share",
        AtLeast,
        0.95,
        false,
        "approvals",
        "route goodwill above the role's limit to the approval queue",
    ),
    m(
        "portfolios-managed",
        Integral,
        "share of customers in a portfolio with an active customer manager",
        "share",
        AtLeast,
        0.9,
        false,
        "portfolios",
        "assign every customer to a portfolio with a customer manager",
    ),
];

/// The raw evidence the service gathers over a period. `None` means the feature that would
/// produce the evidence is not in use (not measured).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// Length of the period in days.
    pub period_days: u32,
    /// Source systems with stored rows.
    pub sources_pooled: u32,
    /// Interactions stored.
    pub interactions: u64,
    /// Rows read by every ingest.
    pub rows_read: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Customers in the pool.
    pub customers: u64,
    /// Merge-review items waiting for a steward.
    pub reviews_pending: u64,
    /// Days since the stalest source was last ingested.
    pub stalest_source_days: Option<f64>,
    /// Days between consecutive scoring runs in the period, and from the last to now.
    pub scoring_gaps_days: Vec<f64>,
    /// Working lists produced in the period.
    pub lists_produced: u32,
    /// Campaigns with recorded results (None: no campaigns defined).
    pub campaigns_with_results: Option<u32>,
    /// Hand-off steps due in the period and done on time (None: no pipeline defined).
    pub handoffs: Option<(u32, u32)>,
    /// Models in use that beat their baseline (None: the scoring run reports no evaluation).
    pub models_beating_baseline: Option<u32>,
    /// Experiments concluded with a control group (None: no experiments defined).
    pub experiments_concluded: Option<u32>,
    /// Ideas logged and ideas linked to a change (None: no ideas logged).
    pub ideas: Option<(u32, u32)>,
    /// Front-line operators, and those who opened records (None: openings not audited).
    pub front_line_opening: Option<(u32, u32)>,
    /// Grants, and grants priced by a policy rule.
    pub grants: (u64, u64),
    /// Disruptions with grants to more than one customer, and those whose grants were equal.
    pub disruptions_equal: (u64, u64),
    /// Goodwill decisions, and those within limits or approved (None: no approvals).
    pub approvals: Option<(u64, u64)>,
    /// Customers, and customers in a managed portfolio (None: no portfolios).
    pub portfolios: Option<(u64, u64)>,
}

fn share(pair: (u64, u64)) -> Option<f64> {
    (pair.0 > 0).then(|| pair.1 as f64 / pair.0 as f64)
}

impl Evidence {
    /// The value of a measure, `None` when not measured.
    pub fn value(&self, id: &str) -> Option<f64> {
        let u = |p: (u32, u32)| share((u64::from(p.0), u64::from(p.1)));
        match id {
            "sources-pooled" => Some(f64::from(self.sources_pooled)),
            "interactions-tied" => {
                share((self.interactions + self.rows_quarantined, self.interactions))
            }
            "duplicate-rate" => share((self.customers, self.reviews_pending)),
            "quarantine-rate" => share((self.rows_read, self.rows_quarantined)),
            "freshness" => self.stalest_source_days,
            "scoring-cadence" => self.scoring_gaps_days.iter().copied().reduce(f64::max),
            "lists-produced" => Some(f64::from(self.lists_produced)),
            "campaign-results" => self.campaigns_with_results.map(f64::from),
            "handoffs-on-time" => self.handoffs.and_then(u),
            "models-in-use" => self.models_beating_baseline.map(f64::from),
            "experiments-concluded" => self.experiments_concluded.map(f64::from),
            "ideas-linked" => self.ideas.and_then(u),
            "front-line-opening" => self.front_line_opening.and_then(u),
            "grants-by-policy" => share(self.grants),
            "equal-entitlement" => share(self.disruptions_equal),
            "approvals-within-limits" => self.approvals.and_then(share),
            "portfolios-managed" => self.portfolios.and_then(share),
            _ => None,
        }
    }
}

/// One measure in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// Its id (see [`MEASURES`]).
    pub id: String,
    /// The stage it is evidence for.
    pub stage: Stage,
    /// What it measures.
    pub definition: String,
    /// `share`, `count` or `days`.
    pub unit: String,
    /// Which side passes.
    pub direction: Direction,
    /// The threshold.
    pub threshold: f64,
    /// The value, `None` when not measured.
    pub value: Option<f64>,
    /// Whether the value passes.
    pub met: bool,
    /// A foundation measure.
    pub foundation: bool,
    /// Where the evidence comes from.
    pub source: String,
}

/// One stage in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    /// The stage.
    pub stage: Stage,
    /// Measures met.
    pub met: usize,
    /// Measures in all.
    pub of: usize,
    /// Whether the stage holds.
    pub holds: bool,
    /// Its measures.
    pub measures: Vec<Measure>,
}

/// The assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The stage reached, 0 to 4.
    pub stage: u8,
    /// Its name (`before communal` for 0).
    pub stage_name: String,
    /// Per stage.
    pub stages: Vec<StageResult>,
    /// Weak foundations and disagreements between answers and evidence.
    pub warnings: Vec<String>,
    /// What to do to reach the next stage.
    pub next_steps: Vec<String>,
    /// What the questionnaires say, when answers were given.
    pub answers: Option<AnswerSummary>,
    /// The stage the answers imply.
    pub answers_stage: Option<u8>,
}

/// The stage a questionnaire maturity (1-5) implies: below 1.75 none, below 2.5 communal,
/// below 3.25 serial, below 4 symbiotic, else integral.
pub fn stage_of_maturity(maturity: f64) -> u8 {
    match maturity {
        m if m < 1.75 => 0,
        m if m < 2.5 => 1,
        m if m < 3.25 => 2,
        m if m < 4.0 => 3,
        _ => 4,
    }
}

/// Assesses the evidence (and, when given, the questionnaire answers).
pub fn assess(evidence: &Evidence, answers: Option<AnswerSummary>) -> Report {
    let stages: Vec<StageResult> = Stage::ALL
        .into_iter()
        .map(|stage| {
            let measures: Vec<Measure> = MEASURES
                .iter()
                .filter(|d| d.stage == stage)
                .map(|d| {
                    let value = evidence.value(d.id);
                    let met = value.is_some_and(|v| match d.direction {
                        AtLeast => v >= d.threshold,
                        AtMost => v <= d.threshold,
                    });
                    Measure {
                        id: d.id.into(),
                        stage,
                        definition: d.definition.into(),
                        unit: d.unit.into(),
                        direction: d.direction,
                        threshold: d.threshold,
                        value,
                        met,
                        foundation: d.foundation,
                        source: d.source.into(),
                    }
                })
                .collect();
            let met = measures.iter().filter(|m| m.met).count();
            let of = measures.len();
            let foundation_ok = measures.iter().all(|m| !m.foundation || m.met);
            StageResult {
                stage,
                met,
                of,
                // At least two thirds met, in integers: 3 * met >= 2 * of.
                holds: foundation_ok && 3 * met >= 2 * of,
                measures,
            }
        })
        .collect();
    let reached = stages.iter().take_while(|s| s.holds).count() as u8;
    let mut warnings = Vec::new();
    // One warning per later stage that shows activity, naming its lowest weak foundation.
    for (j, later) in stages.iter().enumerate() {
        let active: Vec<&str> = later
            .measures
            .iter()
            .filter(|m| m.met)
            .map(|m| m.id.as_str())
            .collect();
        if active.is_empty() {
            continue;
        }
        let weak = stages[..j].iter().find_map(|earlier| {
            let failing: Vec<&Measure> = earlier
                .measures
                .iter()
                .filter(|m| m.foundation && !m.met)
                .collect();
            (!earlier.holds || !failing.is_empty()).then_some((earlier, failing))
        });
        if let Some((earlier, failing)) = weak {
            let why = if failing.is_empty() {
                format!(
                    "the {} stage does not hold ({} of {} measures met)",
                    earlier.stage, earlier.met, earlier.of
                )
            } else {
                failing
                    .iter()
                    .map(|m| describe(m))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            warnings.push(format!(
                "the {} stage is attempted on a weak {} foundation ({} met while {why})",
                later.stage,
                earlier.stage,
                active.join(", "),
            ));
        }
    }
    let answers_stage = answers
        .as_ref()
        .and_then(|a| a.maturity)
        .map(stage_of_maturity);
    if let (Some(s), Some(a)) = (answers_stage, &answers)
        && s != reached
    {
        warnings.push(format!(
            "the answers ({} respondents, maturity {:.1} of 5) put the organisation at stage {} \
             ({}), the evidence at stage {} ({})",
            a.respondents,
            a.maturity.unwrap_or_default(),
            s,
            stage_name(s),
            reached,
            stage_name(reached),
        ));
    }
    if let Some(a) = &answers {
        for d in &a.disagreements {
            warnings.push(format!(
                "on {} the {} answer {:.1} and the {} {:.1} of 5",
                d.topic, d.low.0, d.low.1, d.high.0, d.high.1
            ));
        }
    }
    let next_steps = stages
        .iter()
        .find(|s| !s.holds)
        .map(|s| {
            s.measures
                .iter()
                .filter(|m| !m.met)
                .map(|m| {
                    let advice = MEASURES
                        .iter()
                        .find(|d| d.id == m.id)
                        .map_or("", |d| d.advice);
                    format!("{}: {advice}", describe(m))
                })
                .collect()
        })
        .unwrap_or_default();
    Report {
        stage: reached,
        stage_name: stage_name(reached).into(),
        stages,
        warnings,
        next_steps,
        answers,
        answers_stage,
    }
}

/// The name of stage 0 to 4.
pub fn stage_name(n: u8) -> &'static str {
    match n {
        0 => "before communal",
        n => Stage::ALL[usize::from(n.min(4)) - 1].as_str(),
    }
}

/// "duplicate-rate 4.1% (goal at most 2.0%)" or "not measured".
pub fn describe(m: &Measure) -> String {
    let goal = format!(
        "goal {} {}",
        match m.direction {
            AtLeast => "at least",
            AtMost => "at most",
        },
        format_value(&m.unit, m.threshold)
    );
    match m.value {
        Some(v) => format!("{} {}, {goal}", m.id, format_value(&m.unit, v)),
        None => format!("{} not measured, {goal}", m.id),
    }
}

/// A value in its unit's words.
pub fn format_value(unit: &str, v: f64) -> String {
    match unit {
        "share" => format!("{:.1}%", v * 100.0),
        "days" => format!("{v:.1} days"),
        _ => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questionnaire::Answers;

    /// The demo world after an ingest and one scoring run: a good pool, one scoring run a
    /// day ago, lists produced, nothing of the later stages in use.
    fn pooled() -> Evidence {
        Evidence {
            period_days: 90,
            sources_pooled: 7,
            interactions: 38_000,
            rows_read: 40_000,
            rows_quarantined: 300,
            customers: 2_000,
            reviews_pending: 12,
            stalest_source_days: Some(1.0),
            scoring_gaps_days: vec![1.0],
            lists_produced: 4,
            ..Evidence::default()
        }
    }

    fn measure<'a>(r: &'a Report, id: &str) -> &'a Measure {
        r.stages
            .iter()
            .flat_map(|s| &s.measures)
            .find(|m| m.id == id)
            .unwrap()
    }

    #[test]
    fn every_measure_has_a_value_rule() {
        let mut full = pooled();
        full.campaigns_with_results = Some(1);
        full.handoffs = Some((1, 1));
        full.models_beating_baseline = Some(1);
        full.experiments_concluded = Some(1);
        full.ideas = Some((1, 1));
        full.front_line_opening = Some((1, 1));
        full.disruptions_equal = (1, 1);
        full.grants = (1, 1);
        full.approvals = Some((1, 1));
        full.portfolios = Some((1, 1));
        for d in MEASURES {
            assert!(full.value(d.id).is_some(), "{}", d.id);
        }
        assert_eq!(assess(&full, None).stage, 4);
    }

    #[test]
    fn a_good_pool_reaches_communal_and_scoring_alone_does_not_make_serial() {
        let r = assess(&pooled(), None);
        assert_eq!(r.stage, 1, "{r:#?}");
        assert_eq!(r.stage_name, "communal");
        let serial = &r.stages[1];
        // scoring cadence and lists met, campaigns and hand-offs not measured: 2 of 4.
        assert_eq!((serial.met, serial.of, serial.holds), (2, 4, false));
        assert!(
            r.next_steps
                .iter()
                .any(|s| s.starts_with("campaign-results"))
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn scoring_on_cadence_and_a_concluded_experiment_move_the_stage() {
        let mut e = pooled();
        e.scoring_gaps_days = vec![7.0, 7.0, 7.0, 3.0];
        e.campaigns_with_results = Some(2);
        let r = assess(&e, None);
        assert_eq!(r.stage, 2);
        e.models_beating_baseline = Some(1);
        e.experiments_concluded = Some(1);
        let r = assess(&e, None);
        assert_eq!(r.stage, 3, "{:?}", r.next_steps);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn a_high_duplicate_rate_breaks_the_foundation_and_warns_about_experiments() {
        let mut e = pooled();
        e.scoring_gaps_days = vec![7.0];
        e.campaigns_with_results = Some(1);
        e.models_beating_baseline = Some(1);
        e.experiments_concluded = Some(1);
        assert_eq!(assess(&e, None).stage, 3);
        e.reviews_pending = 200; // one pending review per ten customers
        let r = assess(&e, None);
        assert_eq!(r.stage, 0);
        assert!(!measure(&r, "duplicate-rate").met);
        let w = r
            .warnings
            .iter()
            .find(|w| w.starts_with("the symbiotic stage"))
            .expect("a warning about the symbiotic stage");
        assert!(w.contains("experiments-concluded"), "{w}");
        assert!(w.contains("duplicate-rate 10.0%, goal at most 5.0%"), "{w}");
        assert!(
            r.next_steps[0].starts_with("duplicate-rate"),
            "{:?}",
            r.next_steps
        );
    }

    #[test]
    fn a_stale_scoring_run_loses_the_serial_stage() {
        let mut e = pooled();
        e.campaigns_with_results = Some(1);
        e.scoring_gaps_days = vec![7.0, 45.0];
        let r = assess(&e, None);
        assert_eq!(r.stage, 1);
        assert_eq!(measure(&r, "scoring-cadence").value, Some(45.0));
    }

    #[test]
    fn answers_that_disagree_with_the_evidence_are_a_finding() {
        let csv = "respondent,constituency,item,answer\n\
                   e1,executive,B1,5\ne1,executive,B2,5\nf1,front-line,B1,4\nf1,front-line,B2,4\n";
        let summary = Answers::parse("a.csv", csv).unwrap().summarize();
        let r = assess(&pooled(), Some(summary));
        assert_eq!(r.answers_stage, Some(4));
        assert!(
            r.warnings.iter().any(|w| w.contains(
                "put the organisation at stage 4 (integral), the evidence at stage 1 (communal)"
            )),
            "{:?}",
            r.warnings
        );
        assert!(
            r.warnings.iter().any(
                |w| w.contains("on broad view the front-line answer 4.0 and the executive 5.0")
            )
        );
    }

    #[test]
    fn maturity_maps_to_stages() {
        assert_eq!(
            [1.0, 2.0, 3.0, 3.5, 4.5].map(stage_of_maturity),
            [0, 1, 2, 3, 4]
        );
    }
}

#[cfg(test)]
mod guide_tests {
    use super::MEASURES;

    #[test]
    fn the_guide_explains_every_measure() {
        let guide = include_str!("../../../docs/guide.md");
        for m in MEASURES {
            assert!(
                guide.contains(&format!("`{}`", m.id)),
                "docs/guide.md lacks {}",
                m.id
            );
        }
    }
}
