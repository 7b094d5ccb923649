//! Experiments with a control group: the definition (hypothesis, eligible population by a
//! rule, arms with their cost and share, an outcome and its window), its validation, random
//! assignment reproducible from a seed (optionally stratified by tier), experiments declared
//! with assignments made outside the product, the lifecycle, and the outcome of one customer
//! measured over the window.
//!
//! Pure: the caller gives the facts (each customer's tier, value and disruptions, the
//! bookings after assignment) and the time; the statistics are in
//! `rapport_analytics::analyse_experiment`.
//!
//! ```
//! use rapport_core::{CustomerId, Timestamp};
//! use rapport_governance::experiment::{ExperimentDraft, assign};
//! let now = Timestamp::parse_rfc3339("2026-11-23T09:00:00Z").unwrap();
//! let draft = ExperimentDraft {
//!     id: "APOLOGY-2027".into(),
//!     hypothesis: "an apology keeps delayed passengers".into(),
//!     population: "delay >= 3h within 30d".into(),
//!     arms: vec![("letter".into(), 2.0, None), ("letter_coupon".into(), 52.0, None)],
//!     control_share: 0.25,
//!     outcome: "bookings".into(),
//!     window_days: 365,
//!     starts: now,
//!     ..ExperimentDraft::default()
//! };
//! let def = draft.validate(now).unwrap();
//! let people: Vec<_> = (1..=100).map(|k| (CustomerId(k), None)).collect();
//! let a = assign(&def, &people, now).unwrap();
//! assert_eq!(a.iter().filter(|x| x.arm == "control").count(), 25);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rapport_core::{CustomerId, DisruptionKind, Tier, Timestamp};
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// The name of the control arm.
pub const CONTROL: &str = "control";

/// What an experiment measures over its window after assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutcomeKind {
    /// Revenue booked in the window (reporting currency, major units); more is better.
    Revenue,
    /// Bookings made in the window; more is better.
    Bookings,
    /// 1 when the customer booked at least once in the window, else 0; more is better.
    Rebooked,
    /// 1 when the customer made no booking in the window (lapsed), else 0; less is better.
    Defection,
}

impl OutcomeKind {
    /// Every outcome.
    pub const ALL: [OutcomeKind; 4] = [
        OutcomeKind::Revenue,
        OutcomeKind::Bookings,
        OutcomeKind::Rebooked,
        OutcomeKind::Defection,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Revenue => "revenue",
            OutcomeKind::Bookings => "bookings",
            OutcomeKind::Rebooked => "rebooked",
            OutcomeKind::Defection => "defection",
        }
    }

    /// Whether more of the outcome is better.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, OutcomeKind::Defection)
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutcomeKind {
    type Err = DefinitionError;
    fn from_str(s: &str) -> Result<Self, DefinitionError> {
        OutcomeKind::ALL
            .into_iter()
            .find(|o| o.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| DefinitionError::UnknownOutcome(s.to_owned()))
    }
}

/// Why a definition, an assignment or a declaration is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DefinitionError {
    /// The outcome is not one of revenue, bookings, rebooked, defection.
    #[error("unknown outcome {0:?}: expected revenue, bookings, rebooked or defection")]
    UnknownOutcome(String),
    /// The arms' and control's shares add up to more than the whole population.
    #[error("arm shares add up to {:.1}% (control {:.1}%): at most 100%", total * 100.0, control * 100.0)]
    SharesAbove100 {
        /// The sum of all shares.
        total: f64,
        /// The control's share.
        control: f64,
    },
    /// A share outside (0, 1].
    #[error("arm {arm}: share {share} must be above 0 and at most 1")]
    BadShare {
        /// The arm.
        arm: String,
        /// The share given.
        share: f64,
    },
    /// A cost that is negative or not a number.
    #[error("arm {arm}: cost per customer {cost} must be a number of at least 0")]
    BadCost {
        /// The arm.
        arm: String,
        /// The cost given.
        cost: f64,
    },
    /// No treatment arm.
    #[error("an experiment needs at least one arm besides the control")]
    NoArms,
    /// Two arms with one name, or an arm named like the control.
    #[error("arm {0:?} is named twice (the control is {CONTROL:?})")]
    DuplicateArm(String),
    /// An arm name that is empty or has characters other than letters, digits, `_` and `-`.
    #[error("arm name {0:?}: use 1 to 32 letters, digits, '_' or '-'")]
    BadArmName(String),
    /// The experiment id is empty or too long.
    #[error("experiment id {0:?}: use 1 to 64 letters, digits, '_' or '-'")]
    BadId(String),
    /// The hypothesis is empty.
    #[error("the hypothesis is empty: say what the experiment tests")]
    NoHypothesis,
    /// A window of no days or over ten years.
    #[error("outcome window of {0} days: must be 1 to 3650 days")]
    BadWindow(u32),
    /// The outcome window has already closed.
    #[error(
        "the outcome window ends {ends}, before now ({now}): a new experiment must still be running; declare a past one instead"
    )]
    WindowInPast {
        /// When the window ends.
        ends: Timestamp,
        /// Now.
        now: Timestamp,
    },
    /// The control share is outside [0, 1).
    #[error("control share {0}: must be at least 0 and below 1")]
    BadControlShare(f64),
    /// The population rule does not parse.
    #[error("population rule, clause {clause:?}: {reason}")]
    BadRule {
        /// The clause at fault.
        clause: String,
        /// Why.
        reason: String,
    },
    /// No eligible customer.
    #[error("the eligible population is empty: no customer satisfies {rule:?}")]
    EmptyPopulation {
        /// The rule, as written.
        rule: String,
    },
    /// A declared assignment names an arm the definition does not have.
    #[error("line {line}: arm {arm:?} is not an arm of the experiment (arms: {known})")]
    UnknownArm {
        /// The line of the declaration.
        line: usize,
        /// The arm given.
        arm: String,
        /// The arms defined.
        known: String,
    },
    /// A customer is declared in two arms.
    #[error(
        "line {line}: customer {customer} is already in arm {first} (line {first_line}), not {arm}"
    )]
    TwoArms {
        /// The line of the second declaration.
        line: usize,
        /// The customer.
        customer: CustomerId,
        /// The arm of the first.
        first: String,
        /// Its line.
        first_line: usize,
        /// The arm of the second.
        arm: String,
    },
}

/// One disruption a customer suffered, as the population rule reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisruptionFact {
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: DisruptionKind,
    /// A delay's length.
    pub delay_minutes: Option<u32>,
}

/// What the population rule reads of one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerFacts {
    /// The customer.
    pub customer: CustomerId,
    /// Tier from the latest scoring run.
    pub tier: Option<Tier>,
    /// Value (the value definition's measure, reporting currency).
    pub value: f64,
    /// Disruptions on record.
    pub disruptions: Vec<DisruptionFact>,
}

/// One clause of a population rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Clause {
    /// Everyone.
    All,
    /// A disruption of one of these kinds (any when empty), a delay at least this long,
    /// within this many days before the reference time.
    Disrupted {
        /// Kinds admitted (any when empty).
        kinds: Vec<DisruptionKind>,
        /// Minimum delay for a delay to count (0 for any).
        min_delay_minutes: u32,
        /// Days before the reference time.
        within_days: u32,
    },
    /// Tier among these.
    Tier(Vec<Tier>),
    /// Value at least this.
    MinValue(f64),
}

/// The eligible population: every clause must hold. Written as text, clauses joined by
/// `and`:
///
/// - `all`
/// - `delay >= 3h within 30d` (also `180m`; a delay of at least that long)
/// - `disrupted within 30d`, `disrupted cancellation,lost-bag within 90d`
/// - `tier in A,B` (or `tier = A`)
/// - `value >= 1000`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulationRule {
    /// The rule as written.
    pub text: String,
    /// Its clauses.
    pub clauses: Vec<Clause>,
}

impl PopulationRule {
    /// Parses a rule; every error names the clause.
    pub fn parse(text: &str) -> Result<PopulationRule, DefinitionError> {
        let mut clauses = Vec::new();
        for raw in text.split(" and ") {
            let clause = raw.trim();
            let bad = |reason: &str| DefinitionError::BadRule {
                clause: clause.to_owned(),
                reason: reason.to_owned(),
            };
            let words: Vec<&str> = clause.split_whitespace().collect();
            let parsed = match words.as_slice() {
                [] => return Err(bad("empty clause")),
                ["all"] => Clause::All,
                ["delay", ">=", len, "within", days] => Clause::Disrupted {
                    kinds: vec![DisruptionKind::Delay],
                    min_delay_minutes: minutes(len)
                        .ok_or_else(|| bad("a delay is written like 3h or 180m"))?,
                    within_days: days_of(days).ok_or_else(|| bad("days are written like 30d"))?,
                },
                ["disrupted", "within", days] => Clause::Disrupted {
                    kinds: Vec::new(),
                    min_delay_minutes: 0,
                    within_days: days_of(days).ok_or_else(|| bad("days are written like 30d"))?,
                },
                ["disrupted", kinds, "within", days] => Clause::Disrupted {
                    kinds: kinds
                        .split(',')
                        .map(|k| k.parse::<DisruptionKind>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| {
                            bad("kinds are delay, cancellation, denied-boarding, lost-bag")
                        })?,
                    min_delay_minutes: 0,
                    within_days: days_of(days).ok_or_else(|| bad("days are written like 30d"))?,
                },
                ["tier", "in" | "=", tiers] => Clause::Tier(
                    tiers
                        .split(',')
                        .map(|t| t.parse::<Tier>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad("tiers are A, B, C, D"))?,
                ),
                ["value", ">=", v] => Clause::MinValue(
                    v.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| bad("the value is a number"))?,
                ),
                _ => {
                    return Err(bad(
                        "expected all, delay >= 3h within 30d, disrupted [KINDS] within 30d, tier in A,B or value >= N",
                    ));
                }
            };
            clauses.push(parsed);
        }
        Ok(PopulationRule {
            text: text.trim().to_owned(),
            clauses,
        })
    }

    /// Whether a customer is eligible at time `at` (the lookback ends there).
    pub fn admits(&self, facts: &CustomerFacts, at: Timestamp) -> bool {
        self.clauses.iter().all(|c| match c {
            Clause::All => true,
            Clause::Disrupted {
                kinds,
                min_delay_minutes,
                within_days,
            } => {
                let from = at.plus_millis(-i64::from(*within_days) * DAY_MS);
                facts.disruptions.iter().any(|d| {
                    d.at > from
                        && d.at <= at
                        && (kinds.is_empty() || kinds.contains(&d.kind))
                        && (d.kind != DisruptionKind::Delay
                            || d.delay_minutes.unwrap_or(0) >= *min_delay_minutes)
                })
            }
            Clause::Tier(tiers) => facts.tier.is_some_and(|t| tiers.contains(&t)),
            Clause::MinValue(v) => facts.value >= *v,
        })
    }

    /// The eligible customers among `facts`, with their tiers, in customer order.
    pub fn eligible(
        &self,
        facts: &[CustomerFacts],
        at: Timestamp,
    ) -> Vec<(CustomerId, Option<Tier>)> {
        let mut out: Vec<_> = facts
            .iter()
            .filter(|f| self.admits(f, at))
            .map(|f| (f.customer, f.tier))
            .collect();
        out.sort_by_key(|x| x.0);
        out
    }
}

fn minutes(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_suffix('h') {
        h.parse::<u32>().ok()?.checked_mul(60)
    } else {
        s.strip_suffix('m')?.parse().ok()
    }
}

fn days_of(s: &str) -> Option<u32> {
    s.strip_suffix('d')?.parse().ok().filter(|d| *d > 0)
}

/// One arm of a definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmDefinition {
    /// The arm's name.
    pub name: String,
    /// Cost per assigned customer (reporting currency, major units).
    pub cost_per_customer: f64,
    /// Share of the eligible population assigned to it.
    pub share: f64,
}

/// What a user types to define an experiment, before validation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExperimentDraft {
    /// Id, e.g. `APOLOGY-2027`.
    pub id: String,
    /// What it tests.
    pub hypothesis: String,
    /// The population rule (see [`PopulationRule`]); for a declared experiment, a description.
    pub population: String,
    /// Treatment arms: name, cost per customer, share (`None`: an equal part of what the
    /// control and the arms with a share leave).
    pub arms: Vec<(String, f64, Option<f64>)>,
    /// The control's share.
    pub control_share: f64,
    /// `revenue`, `bookings`, `rebooked` or `defection`.
    pub outcome: String,
    /// Outcome window in days after assignment.
    pub window_days: u32,
    /// When customers are assigned (the outcome window opens the next day).
    pub starts: Timestamp,
    /// Assign within each tier separately.
    pub stratify_by_tier: bool,
    /// The random seed of the assignment and the bootstrap.
    pub seed: u64,
    /// Money per unit of outcome, for incremental profit.
    pub value_per_unit: Option<f64>,
    /// The smallest uplift worth detecting.
    pub minimum_effect: Option<f64>,
}

/// A validated experiment definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentDefinition {
    /// Id.
    pub id: String,
    /// What it tests.
    pub hypothesis: String,
    /// Who is eligible (for a declared experiment: everyone declared).
    pub population: PopulationRule,
    /// The arms, the control first (named [`CONTROL`]).
    pub arms: Vec<ArmDefinition>,
    /// What is measured.
    pub outcome: OutcomeKind,
    /// Days after assignment.
    pub window_days: u32,
    /// Assignment time.
    pub starts: Timestamp,
    /// Assign within each tier separately.
    pub stratify_by_tier: bool,
    /// The seed.
    pub seed: u64,
    /// Money per unit of outcome.
    pub value_per_unit: Option<f64>,
    /// Smallest uplift worth detecting.
    pub minimum_effect: Option<f64>,
    /// Whether the assignments were made outside the product.
    pub declared: bool,
}

impl ExperimentDraft {
    /// Validates a new experiment: it must still be running at `now`.
    pub fn validate(self, now: Timestamp) -> Result<ExperimentDefinition, DefinitionError> {
        let def = self.checked(false)?;
        let ends = def.window_ends(def.starts);
        if ends <= now {
            return Err(DefinitionError::WindowInPast { ends, now });
        }
        Ok(def)
    }

    /// Validates an experiment run outside the product, whose assignments are declared: its
    /// window may be past, and its population is whoever is declared.
    pub fn validate_declared(self) -> Result<ExperimentDefinition, DefinitionError> {
        self.checked(true)
    }

    fn checked(self, declared: bool) -> Result<ExperimentDefinition, DefinitionError> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(DefinitionError::BadId(self.id));
        }
        if self.hypothesis.trim().is_empty() {
            return Err(DefinitionError::NoHypothesis);
        }
        let outcome: OutcomeKind = self.outcome.parse()?;
        if self.window_days == 0 || self.window_days > 3650 {
            return Err(DefinitionError::BadWindow(self.window_days));
        }
        let population = if declared && PopulationRule::parse(&self.population).is_err() {
            // A declared experiment's population was chosen outside: keep its description.
            PopulationRule {
                text: self.population.trim().to_owned(),
                clauses: vec![Clause::All],
            }
        } else {
            PopulationRule::parse(&self.population)?
        };
        if self.arms.is_empty() {
            return Err(DefinitionError::NoArms);
        }
        if !(0.0..1.0).contains(&self.control_share) {
            return Err(DefinitionError::BadControlShare(self.control_share));
        }
        let mut names = BTreeSet::from([CONTROL.to_owned()]);
        let mut given = self.control_share;
        let mut open = 0usize;
        for (name, cost, share) in &self.arms {
            if name.is_empty()
                || name.len() > 32
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(DefinitionError::BadArmName(name.clone()));
            }
            if !names.insert(name.clone()) {
                return Err(DefinitionError::DuplicateArm(name.clone()));
            }
            if !(cost.is_finite() && *cost >= 0.0) {
                return Err(DefinitionError::BadCost {
                    arm: name.clone(),
                    cost: *cost,
                });
            }
            match share {
                Some(s) if !(s.is_finite() && *s > 0.0 && *s <= 1.0) => {
                    return Err(DefinitionError::BadShare {
                        arm: name.clone(),
                        share: *s,
                    });
                }
                Some(s) => given += s,
                None => open += 1,
            }
        }
        // A little room for shares written as decimals (three thirds).
        if given > 1.0 + 1e-9 {
            return Err(DefinitionError::SharesAbove100 {
                total: given,
                control: self.control_share,
            });
        }
        let rest = if open > 0 {
            (1.0 - given).max(0.0) / open as f64
        } else {
            0.0
        };
        if open > 0 && rest <= 0.0 {
            return Err(DefinitionError::SharesAbove100 {
                total: given,
                control: self.control_share,
            });
        }
        let mut arms = vec![ArmDefinition {
            name: CONTROL.to_owned(),
            cost_per_customer: 0.0,
            share: self.control_share,
        }];
        arms.extend(
            self.arms
                .into_iter()
                .map(|(name, cost, share)| ArmDefinition {
                    name,
                    cost_per_customer: cost,
                    share: share.unwrap_or(rest),
                }),
        );
        Ok(ExperimentDefinition {
            id: self.id,
            hypothesis: self.hypothesis.trim().to_owned(),
            population,
            arms,
            outcome,
            window_days: self.window_days,
            starts: self.starts,
            stratify_by_tier: self.stratify_by_tier,
            seed: self.seed,
            value_per_unit: self.value_per_unit,
            minimum_effect: self.minimum_effect,
            declared,
        })
    }
}

/// One customer's arm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The customer.
    pub customer: CustomerId,
    /// The arm's name.
    pub arm: String,
    /// When assigned (the window opens the next day).
    pub assigned_at: Timestamp,
}

/// Where an experiment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExperimentStatus {
    /// Defined, nobody assigned yet.
    Defined,
    /// Assigned; the outcome window closes at the given time: results are preliminary.
    Running {
        /// When the last window closes.
        closes: Timestamp,
    },
    /// Every window has closed: results are final.
    Closed {
        /// When it closed.
        closed: Timestamp,
    },
}

impl ExperimentDefinition {
    /// The end of the outcome window of a customer assigned at `at`: the end of the
    /// `window_days`-th whole day (UTC) after the day of assignment.
    pub fn window_ends(&self, at: Timestamp) -> Timestamp {
        let day = at.as_millis().div_euclid(DAY_MS);
        Timestamp::from_millis((day + 1 + i64::from(self.window_days)) * DAY_MS - 1)
    }

    /// The lifecycle at `now`, given the assignments.
    pub fn status(&self, assignments: &[Assignment], now: Timestamp) -> ExperimentStatus {
        let Some(last) = assignments.iter().map(|a| a.assigned_at).max() else {
            return ExperimentStatus::Defined;
        };
        let closes = self.window_ends(last);
        if closes <= now {
            ExperimentStatus::Closed { closed: closes }
        } else {
            ExperimentStatus::Running { closes }
        }
    }

    /// The arm of this name.
    pub fn arm(&self, name: &str) -> Option<&ArmDefinition> {
        self.arms.iter().find(|a| a.name == name)
    }

    /// The arms' names, comma separated.
    fn arm_names(&self) -> String {
        self.arms
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Assigns the eligible customers at random, reproducibly: customers in id order (within each
/// tier when stratified) are shuffled by a ChaCha8 stream seeded by the definition's seed and
/// cut by the arms' shares (largest remainders), so every arm gets its share of each stratum
/// to within one customer. Customers left over when the shares add up to less than 100% are
/// not in the experiment.
pub fn assign(
    def: &ExperimentDefinition,
    eligible: &[(CustomerId, Option<Tier>)],
    at: Timestamp,
) -> Result<Vec<Assignment>, DefinitionError> {
    if eligible.is_empty() {
        return Err(DefinitionError::EmptyPopulation {
            rule: def.population.text.clone(),
        });
    }
    let mut strata: BTreeMap<Option<Tier>, Vec<CustomerId>> = BTreeMap::new();
    for (c, t) in eligible {
        let key = if def.stratify_by_tier { *t } else { None };
        strata.entry(key).or_default().push(*c);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(def.seed);
    let mut out = Vec::with_capacity(eligible.len());
    for (_, mut ids) in strata {
        ids.sort();
        ids.dedup();
        ids.shuffle(&mut rng);
        let counts = apportion(ids.len(), &def.arms);
        let mut next = ids.into_iter();
        for (arm, n) in def.arms.iter().zip(counts) {
            for c in next.by_ref().take(n) {
                out.push(Assignment {
                    customer: c,
                    arm: arm.name.clone(),
                    assigned_at: at,
                });
            }
        }
    }
    out.sort_by_key(|a| a.customer);
    Ok(out)
}

/// Whole customers per arm for `n` customers: floors of the shares, then the largest
/// remainders get one more, as long as the shares' total allows.
fn apportion(n: usize, arms: &[ArmDefinition]) -> Vec<usize> {
    let total: f64 = arms.iter().map(|a| a.share).sum::<f64>().min(1.0);
    let target = (total * n as f64 + 1e-9).floor() as usize;
    let exact: Vec<f64> = arms.iter().map(|a| a.share * n as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| (x + 1e-9).floor() as usize).collect();
    let mut order: Vec<usize> = (0..arms.len()).collect();
    order.sort_by(|a, b| {
        (exact[*b] - exact[*b].floor())
            .total_cmp(&(exact[*a] - exact[*a].floor()))
            .then(a.cmp(b))
    });
    let given: usize = counts.iter().sum();
    for k in order.into_iter().take(target.saturating_sub(given)) {
        counts[k] += 1;
    }
    counts
}

/// One declared assignment, as read from a source (line for errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredRow {
    /// Line (or row) it came from.
    pub line: usize,
    /// The customer.
    pub customer: CustomerId,
    /// The arm's name.
    pub arm: String,
    /// When assigned.
    pub at: Timestamp,
}

/// Declared assignments checked against the definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Declaration {
    /// One per customer, in customer order.
    pub assignments: Vec<Assignment>,
    /// Customers declared in two arms (two source contacts resolved to one customer, or a
    /// wrong merge): left out of the experiment, every one reported.
    pub conflicts: Vec<DefinitionError>,
}

/// Checks declared assignments against the definition: an unknown arm refuses the whole
/// declaration (the source is read wrong); a customer declared twice in one arm keeps the
/// earliest time; a customer declared in two arms is left out and reported, and the rest goes
/// on.
pub fn declare(
    def: &ExperimentDefinition,
    rows: &[DeclaredRow],
) -> Result<Declaration, DefinitionError> {
    if rows.is_empty() {
        return Err(DefinitionError::EmptyPopulation {
            rule: def.population.text.clone(),
        });
    }
    let mut by: BTreeMap<CustomerId, (usize, Assignment)> = BTreeMap::new();
    let mut conflicts = Vec::new();
    let mut excluded = BTreeSet::new();
    for r in rows {
        if def.arm(&r.arm).is_none() {
            return Err(DefinitionError::UnknownArm {
                line: r.line,
                arm: r.arm.clone(),
                known: def.arm_names(),
            });
        }
        match by.get_mut(&r.customer) {
            Some((first_line, a)) if a.arm != r.arm => {
                conflicts.push(DefinitionError::TwoArms {
                    line: r.line,
                    customer: r.customer,
                    first: a.arm.clone(),
                    first_line: *first_line,
                    arm: r.arm.clone(),
                });
                excluded.insert(r.customer);
            }
            Some((_, a)) => a.assigned_at = a.assigned_at.min(r.at),
            None => {
                by.insert(
                    r.customer,
                    (
                        r.line,
                        Assignment {
                            customer: r.customer,
                            arm: r.arm.clone(),
                            assigned_at: r.at,
                        },
                    ),
                );
            }
        }
    }
    Ok(Declaration {
        assignments: by
            .into_iter()
            .filter(|(c, _)| !excluded.contains(c))
            .map(|(_, (_, a))| a)
            .collect(),
        conflicts,
    })
}

/// A booking made by a customer, for outcome measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    /// When it was booked.
    pub at: Timestamp,
    /// Its revenue (reporting currency, major units).
    pub revenue: f64,
}

/// One customer's outcome: over the bookings made in the whole days after the day of
/// assignment up to the window's end.
pub fn measure(def: &ExperimentDefinition, assigned_at: Timestamp, bookings: &[Booking]) -> f64 {
    let opens = Timestamp::from_millis((assigned_at.as_millis().div_euclid(DAY_MS) + 1) * DAY_MS);
    let ends = def.window_ends(assigned_at);
    let inside = bookings.iter().filter(|b| b.at >= opens && b.at <= ends);
    match def.outcome {
        OutcomeKind::Revenue => inside.map(|b| b.revenue).sum(),
        OutcomeKind::Bookings => inside.count() as f64,
        OutcomeKind::Rebooked => f64::from(u8::from(inside.count() > 0)),
        OutcomeKind::Defection => f64::from(u8::from(inside.count() == 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn draft() -> ExperimentDraft {
        ExperimentDraft {
            id: "APOLOGY-2027".into(),
            hypothesis: "an apology keeps delayed passengers".into(),
            population: "delay >= 3h within 30d".into(),
            arms: vec![
                ("letter".into(), 2.0, None),
                ("letter_coupon".into(), 52.0, None),
                ("letter_lounge".into(), 37.0, None),
            ],
            control_share: 0.25,
            outcome: "bookings".into(),
            window_days: 365,
            starts: at("2026-11-23T09:00:00Z"),
            seed: 42,
            ..ExperimentDraft::default()
        }
    }

    #[test]
    fn bad_definitions_are_refused_with_clear_errors() {
        let now = at("2026-11-23T08:00:00Z");
        let check = |d: ExperimentDraft, want: &str| {
            let e = d.validate(now).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
        };
        check(
            ExperimentDraft {
                outcome: "happiness".into(),
                ..draft()
            },
            "unknown outcome \"happiness\": expected revenue, bookings, rebooked or defection",
        );
        check(
            ExperimentDraft {
                control_share: 0.5,
                arms: vec![
                    ("letter".into(), 2.0, Some(0.3)),
                    ("coupon".into(), 50.0, Some(0.3)),
                ],
                ..draft()
            },
            "arm shares add up to 110.0% (control 50.0%): at most 100%",
        );
        check(
            ExperimentDraft {
                control_share: 0.5,
                arms: vec![
                    ("letter".into(), 2.0, Some(0.5)),
                    ("coupon".into(), 50.0, None),
                ],
                ..draft()
            },
            "at most 100%",
        );
        check(
            ExperimentDraft {
                starts: at("2025-01-01T00:00:00Z"),
                window_days: 30,
                ..draft()
            },
            "the outcome window ends 2025-01-31T23:59:59.999Z, before now",
        );
        check(
            ExperimentDraft {
                population: "delayed by a lot".into(),
                ..draft()
            },
            "population rule, clause \"delayed by a lot\"",
        );
        check(
            ExperimentDraft {
                arms: vec![("control".into(), 2.0, None)],
                ..draft()
            },
            "named twice",
        );
        check(
            ExperimentDraft {
                arms: vec![("letter".into(), -2.0, None)],
                ..draft()
            },
            "cost per customer -2",
        );
        check(
            ExperimentDraft {
                arms: vec![],
                ..draft()
            },
            "at least one arm",
        );
        check(
            ExperimentDraft {
                hypothesis: " ".into(),
                ..draft()
            },
            "hypothesis is empty",
        );
        // A past window is fine for an experiment run outside the product.
        let past = ExperimentDraft {
            starts: at("2025-01-01T00:00:00Z"),
            ..draft()
        };
        assert!(past.validate_declared().unwrap().declared);
        // An empty population.
        let def = draft().validate(now).unwrap();
        let e = assign(&def, &[], now).unwrap_err().to_string();
        assert_eq!(
            e,
            "the eligible population is empty: no customer satisfies \"delay >= 3h within 30d\""
        );
    }

    #[test]
    fn shares_default_to_equal_parts_of_the_rest() {
        let def = draft().validate(at("2026-11-01T00:00:00Z")).unwrap();
        let shares: Vec<f64> = def.arms.iter().map(|a| a.share).collect();
        assert_eq!(shares, vec![0.25, 0.25, 0.25, 0.25]);
        assert_eq!(def.arms[0].name, CONTROL);
        assert_eq!(def.outcome, OutcomeKind::Bookings);
    }

    #[test]
    fn the_rule_reads_delays_tiers_and_value() {
        let now = at("2026-11-23T09:00:00Z");
        let rule = PopulationRule::parse("delay >= 3h within 30d and tier in A,B").unwrap();
        let facts = |tier, minutes, days_ago: i64| CustomerFacts {
            customer: CustomerId(1),
            tier: Some(tier),
            value: 500.0,
            disruptions: vec![DisruptionFact {
                at: now.plus_millis(-days_ago * DAY_MS),
                kind: DisruptionKind::Delay,
                delay_minutes: Some(minutes),
            }],
        };
        assert!(rule.admits(&facts(Tier::A, 200, 10), now));
        assert!(!rule.admits(&facts(Tier::C, 200, 10), now), "tier C");
        assert!(!rule.admits(&facts(Tier::A, 120, 10), now), "two hours");
        assert!(!rule.admits(&facts(Tier::A, 200, 40), now), "too long ago");
        let any = PopulationRule::parse("disrupted cancellation,lost-bag within 90d").unwrap();
        assert!(!any.admits(&facts(Tier::A, 200, 10), now));
        let rich = PopulationRule::parse("value >= 400").unwrap();
        assert!(rich.admits(&facts(Tier::D, 0, 1000), now));
        assert!(PopulationRule::parse("tier in A,Z").is_err());
        assert!(PopulationRule::parse("delay >= 3x within 30d").is_err());
    }

    #[test]
    fn assignment_is_reproducible_balanced_and_stratified() {
        let now = at("2026-11-01T00:00:00Z");
        let mut d = draft();
        d.stratify_by_tier = true;
        let def = d.validate(now).unwrap();
        let tiers = [Tier::A, Tier::B, Tier::C, Tier::D];
        let people: Vec<_> = (0..1000u64)
            .map(|k| (CustomerId(k), Some(tiers[(k % 10).min(3) as usize])))
            .collect();
        let a = assign(&def, &people, now).unwrap();
        assert_eq!(a.len(), 1000);
        assert_eq!(
            a,
            assign(&def, &people, now).unwrap(),
            "same seed, same arms"
        );
        let mut other = def.clone();
        other.seed = 43;
        assert_ne!(a, assign(&other, &people, now).unwrap());
        // Within every tier each arm has a quarter, to one customer.
        for t in tiers {
            let in_tier: Vec<_> = a
                .iter()
                .filter(|x| people[x.customer.0 as usize].1 == Some(t))
                .collect();
            for arm in &def.arms {
                let n = in_tier.iter().filter(|x| x.arm == arm.name).count();
                let want = in_tier.len() as f64 / 4.0;
                assert!(
                    (n as f64 - want).abs() <= 1.0,
                    "{t} {}: {n} of {}",
                    arm.name,
                    in_tier.len()
                );
            }
        }
        // Shares below 100%: the rest stays out.
        let mut half = draft();
        half.control_share = 0.1;
        half.arms = vec![("letter".into(), 2.0, Some(0.1))];
        let def = half.validate(now).unwrap();
        let a = assign(&def, &people, now).unwrap();
        assert_eq!(a.len(), 200);
    }

    #[test]
    fn declarations_check_arms_and_customers() {
        let def = ExperimentDraft {
            starts: at("2025-01-01T00:00:00Z"),
            population: "passengers disrupted in 2024-2025 (chosen by marketing)".into(),
            ..draft()
        }
        .validate_declared()
        .unwrap();
        let row = |line, c, arm: &str, t: &str| DeclaredRow {
            line,
            customer: CustomerId(c),
            arm: arm.into(),
            at: at(t),
        };
        let d = declare(
            &def,
            &[
                row(2, 1, "letter", "2025-02-01T09:00:00Z"),
                row(3, 2, "control", "2025-02-02T09:00:00Z"),
                row(4, 1, "letter", "2025-01-31T09:00:00Z"),
            ],
        )
        .unwrap();
        assert_eq!(d.assignments.len(), 2);
        assert!(d.conflicts.is_empty());
        assert_eq!(d.assignments[0].assigned_at, at("2025-01-31T09:00:00Z"));
        let e = declare(&def, &[row(7, 1, "postcard", "2025-02-01T09:00:00Z")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "line 7: arm \"postcard\" is not an arm of the experiment (arms: control, letter, letter_coupon, letter_lounge)"
        );
        let d = declare(
            &def,
            &[
                row(2, 1, "letter", "2025-02-01T09:00:00Z"),
                row(5, 2, "letter", "2025-02-01T09:00:00Z"),
                row(9, 1, "control", "2025-02-01T09:00:00Z"),
            ],
        )
        .unwrap();
        let e = d.conflicts[0].to_string();
        assert!(
            e.starts_with("line 9: customer C00000001 is already in arm letter (line 2)"),
            "{e}"
        );
        let kept: Vec<u64> = d.assignments.iter().map(|a| a.customer.0).collect();
        assert_eq!(kept, vec![2], "the customer in two arms is left out");
    }

    #[test]
    fn status_and_outcomes_follow_the_window() {
        let mut d = draft();
        d.window_days = 30;
        let def = d.validate(at("2026-11-01T00:00:00Z")).unwrap();
        assert_eq!(
            def.status(&[], at("2026-11-01T00:00:00Z")),
            ExperimentStatus::Defined
        );
        let assigned = at("2026-11-23T09:00:00Z");
        let a = vec![Assignment {
            customer: CustomerId(1),
            arm: "letter".into(),
            assigned_at: assigned,
        }];
        let closes = at("2026-12-23T23:59:59.999Z");
        assert_eq!(
            def.status(&a, at("2026-12-01T00:00:00Z")),
            ExperimentStatus::Running { closes }
        );
        assert_eq!(
            def.status(&a, at("2026-12-24T00:00:00Z")),
            ExperimentStatus::Closed { closed: closes }
        );
        let bookings = [
            Booking {
                at: at("2026-11-23T20:00:00Z"),
                revenue: 100.0,
            }, // the day of assignment
            Booking {
                at: at("2026-11-24T06:00:00Z"),
                revenue: 200.0,
            },
            Booking {
                at: at("2026-12-23T21:00:00Z"),
                revenue: 300.0,
            },
            Booking {
                at: at("2026-12-24T06:00:00Z"),
                revenue: 400.0,
            }, // after the window
        ];
        assert_eq!(measure(&def, assigned, &bookings), 2.0);
        let mut rev = def.clone();
        rev.outcome = OutcomeKind::Revenue;
        assert_eq!(measure(&rev, assigned, &bookings), 500.0);
        let mut back = def.clone();
        back.outcome = OutcomeKind::Rebooked;
        assert_eq!(measure(&back, assigned, &bookings), 1.0);
        assert_eq!(measure(&back, assigned, &bookings[..1]), 0.0);
        let mut gone = def.clone();
        gone.outcome = OutcomeKind::Defection;
        assert_eq!(measure(&gone, assigned, &bookings), 0.0);
        assert_eq!(measure(&gone, assigned, &bookings[..1]), 1.0);
    }
}
