//! Hand-offs of the serial stage: a pipeline of steps (data pooled, model refreshed,
//! customers scored, lists produced, campaign run, results measured, lessons shared), each
//! with an owning role or unit, a cadence and a definition of done read from facts the system
//! records (an ingest ran, a scoring run happened, a campaign's results were recorded). A step
//! not done within its cadence is overdue; a step the chain went past (a later step done after
//! this one fell due) is skipped. The pipeline has one leading unit, told of every flag.
//!
//! Pure: the caller gives the facts with their times and the clock.
//!
//! ```
//! use rapport_core::Timestamp;
//! use rapport_governance::handoff::{Fact, FactKind, Pipeline, StepState};
//! let now = Timestamp::parse_rfc3339("2026-11-23T09:00:00Z").unwrap();
//! let day = 86_400_000;
//! let facts = vec![Fact { kind: FactKind::Ingest, at: now.plus_millis(-3 * day) }];
//! let status = Pipeline::standard().check(&facts, now);
//! assert!(matches!(status.steps[0].state, StepState::OnTime { .. }));
//! assert!(matches!(status.steps[1].state, StepState::NeverDone));
//! ```

use std::fmt;
use std::str::FromStr;

use rapport_core::Timestamp;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// Something the system records that marks a step done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FactKind {
    /// A source was ingested into the pool.
    Ingest,
    /// A scoring run fitted its models.
    ModelFit,
    /// A scoring run scored every customer.
    ScoringRun,
    /// Working or campaign lists were produced from scores.
    ListProduced,
    /// A campaign's contacts were recorded.
    CampaignRun,
    /// A campaign's or experiment's results were recorded.
    ResultsRecorded,
    /// An idea or lesson was closed with its outcome.
    LessonShared,
}

impl FactKind {
    /// Every kind.
    pub const ALL: [FactKind; 7] = [
        FactKind::Ingest,
        FactKind::ModelFit,
        FactKind::ScoringRun,
        FactKind::ListProduced,
        FactKind::CampaignRun,
        FactKind::ResultsRecorded,
        FactKind::LessonShared,
    ];

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::Ingest => "ingest",
            FactKind::ModelFit => "model-fit",
            FactKind::ScoringRun => "scoring-run",
            FactKind::ListProduced => "list-produced",
            FactKind::CampaignRun => "campaign-run",
            FactKind::ResultsRecorded => "results-recorded",
            FactKind::LessonShared => "lesson-shared",
        }
    }
}

impl fmt::Display for FactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FactKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FactKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| format!("unknown fact {s:?}"))
    }
}

/// One recorded fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// What happened.
    pub kind: FactKind,
    /// When.
    pub at: Timestamp,
}

/// One step of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the step is.
    pub name: String,
    /// The role or unit that owns it (`steward`, `analyst`, `marketing`).
    pub owner: String,
    /// It must be done at least every this many days.
    pub cadence_days: u32,
    /// The fact that marks it done.
    pub done_when: FactKind,
}

/// A chain of steps with a leading unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    /// The unit that sees that the chain completes.
    pub leader: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepState {
    /// Done within its cadence; due again at `due`.
    OnTime {
        /// When it is next due.
        due: Timestamp,
    },
    /// Not done within its cadence.
    Overdue {
        /// When it fell due.
        due: Timestamp,
        /// Whole days since.
        days: i64,
    },
    /// A later step was done after this one fell due: the chain went on without it.
    Skipped {
        /// When it fell due.
        due: Timestamp,
        /// The later step done since.
        by: usize,
    },
    /// Never done.
    NeverDone,
}

impl StepState {
    /// Whether the owner and leader must be told.
    pub fn flagged(&self) -> bool {
        !matches!(self, StepState::OnTime { .. })
    }
}

/// One step's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepStatus {
    /// The step (its position in the pipeline).
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Its owner.
    pub owner: String,
    /// When it was last done.
    pub last_done: Option<Timestamp>,
    /// Where it stands.
    pub state: StepState,
}

/// The pipeline at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineStatus {
    /// The leading unit.
    pub leader: String,
    /// Every step.
    pub steps: Vec<StepStatus>,
    /// Steps on time over all steps.
    pub on_time: (u32, u32),
}

impl PipelineStatus {
    /// The flags to send: (owner, message), each also for the leader.
    pub fn flags(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for s in &self.steps {
            let msg = match s.state {
                StepState::OnTime { .. } => continue,
                StepState::NeverDone => format!("{}: never done", s.name),
                StepState::Overdue { days, .. } => format!("{}: overdue by {days} days", s.name),
                StepState::Skipped { by, .. } => format!(
                    "{}: skipped ({} went ahead without it)",
                    s.name, self.steps[by].name
                ),
            };
            out.push((s.owner.clone(), msg.clone()));
            if s.owner != self.leader {
                out.push((self.leader.clone(), msg));
            }
        }
        out
    }
}

/// Why a pipeline is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// No steps.
    #[error("a pipeline needs at least one step")]
    Empty,
    /// A step without a name or owner, or with a cadence of 0.
    #[error("step {index} ({name:?}): {reason}")]
    BadStep {
        /// 1-based.
        index: usize,
        /// Its name.
        name: String,
        /// Why.
        reason: &'static str,
    },
}

impl Pipeline {
    /// The serial stage's chain, led by marketing, monthly at least, as the brief describes:
    /// the pool, the models and the scores monthly or faster, lists and campaigns monthly,
    /// results and lessons within the month after.
    pub fn standard() -> Pipeline {
        let step = |name: &str, owner: &str, cadence_days, done_when| Step {
            name: name.to_owned(),
            owner: owner.to_owned(),
            cadence_days,
            done_when,
        };
        Pipeline {
            leader: "marketing".into(),
            steps: vec![
                step("data pooled", "steward", 7, FactKind::Ingest),
                step("model refreshed", "analyst", 31, FactKind::ModelFit),
                step("customers scored", "analyst", 31, FactKind::ScoringRun),
                step("lists produced", "marketing", 31, FactKind::ListProduced),
                step("campaign run", "marketing", 31, FactKind::CampaignRun),
                step("results measured", "analyst", 31, FactKind::ResultsRecorded),
                step("lessons shared", "marketing", 31, FactKind::LessonShared),
            ],
        }
    }

    /// Checks a pipeline someone wrote.
    pub fn validate(&self) -> Result<(), PipelineError> {
        if self.steps.is_empty() {
            return Err(PipelineError::Empty);
        }
        for (k, s) in self.steps.iter().enumerate() {
            let bad = |reason| PipelineError::BadStep {
                index: k + 1,
                name: s.name.clone(),
                reason,
            };
            if s.name.trim().is_empty() {
                return Err(bad("the step has no name"));
            }
            if s.owner.trim().is_empty() {
                return Err(bad("the step has no owner"));
            }
            if s.cadence_days == 0 {
                return Err(bad("a cadence of 0 days"));
            }
        }
        Ok(())
    }

    /// Every step's state at `now` from the facts.
    pub fn check(&self, facts: &[Fact], now: Timestamp) -> PipelineStatus {
        let last: Vec<Option<Timestamp>> = self
            .steps
            .iter()
            .map(|s| {
                facts
                    .iter()
                    .filter(|f| f.kind == s.done_when && f.at <= now)
                    .map(|f| f.at)
                    .max()
            })
            .collect();
        let mut steps = Vec::with_capacity(self.steps.len());
        for (k, s) in self.steps.iter().enumerate() {
            let cadence = i64::from(s.cadence_days) * DAY_MS;
            let state = match last[k] {
                None => StepState::NeverDone,
                Some(t) => {
                    let due = t.plus_millis(cadence);
                    // The chain went on without this step: a later step done after it fell due.
                    let skipped_by =
                        (k + 1..self.steps.len()).find(|j| last[*j].is_some_and(|lt| lt > due));
                    if let Some(by) = skipped_by {
                        StepState::Skipped { due, by }
                    } else if due < now {
                        StepState::Overdue {
                            due,
                            days: (now.as_millis() - due.as_millis()) / DAY_MS,
                        }
                    } else {
                        StepState::OnTime { due }
                    }
                }
            };
            steps.push(StepStatus {
                index: k,
                name: s.name.clone(),
                owner: s.owner.clone(),
                last_done: last[k],
                state,
            });
        }
        let on = steps.iter().filter(|s| !s.state.flagged()).count() as u32;
        PipelineStatus {
            leader: self.leader.clone(),
            on_time: (on, steps.len() as u32),
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overdue_step_is_flagged_to_its_owner_and_the_leader_with_a_fixed_clock() {
        let now = Timestamp::parse_rfc3339("2026-11-23T09:00:00Z").unwrap();
        let ago = |days: i64| now.plus_millis(-days * DAY_MS);
        let facts = vec![
            Fact {
                kind: FactKind::Ingest,
                at: ago(2),
            },
            Fact {
                kind: FactKind::Ingest,
                at: ago(9),
            },
            Fact {
                kind: FactKind::ModelFit,
                at: ago(45),
            },
            Fact {
                kind: FactKind::ScoringRun,
                at: ago(3),
            },
            Fact {
                kind: FactKind::ListProduced,
                at: ago(3),
            },
            Fact {
                kind: FactKind::CampaignRun,
                at: ago(2),
            },
            // Results measured 40 days ago: overdue by 9 days.
            Fact {
                kind: FactKind::ResultsRecorded,
                at: ago(40),
            },
        ];
        let status = Pipeline::standard().check(&facts, now);
        let states: Vec<_> = status.steps.iter().map(|s| s.state).collect();
        assert!(
            matches!(states[0], StepState::OnTime { .. }),
            "{:?}",
            states[0]
        );
        // The models were last fitted 45 days ago and scoring went on without a refit.
        assert_eq!(
            states[1],
            StepState::Skipped {
                due: ago(14),
                by: 2
            }
        );
        assert!(matches!(states[2], StepState::OnTime { .. }));
        assert_eq!(
            states[5],
            StepState::Overdue {
                due: ago(9),
                days: 9
            }
        );
        assert_eq!(states[6], StepState::NeverDone);
        assert_eq!(status.on_time, (4, 7));
        let flags = status.flags();
        assert!(flags.contains(&(
            "analyst".into(),
            "results measured: overdue by 9 days".into()
        )));
        assert!(flags.contains(&(
            "marketing".into(),
            "results measured: overdue by 9 days".into()
        )));
        assert!(flags.contains(&(
            "analyst".into(),
            "model refreshed: skipped (customers scored went ahead without it)".into()
        )));
        // Lessons are owned by marketing, the leader: told once.
        assert_eq!(
            flags
                .iter()
                .filter(|f| f.1.starts_with("lessons shared"))
                .count(),
            1
        );
        // A fact after the clock does not count.
        let later = vec![Fact {
            kind: FactKind::Ingest,
            at: now.plus_millis(DAY_MS),
        }];
        assert_eq!(
            Pipeline::standard().check(&later, now).steps[0].state,
            StepState::NeverDone
        );
    }

    #[test]
    fn a_written_pipeline_is_checked() {
        assert!(Pipeline::standard().validate().is_ok());
        let mut p = Pipeline::standard();
        p.steps[2].cadence_days = 0;
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "step 3 (\"customers scored\"): a cadence of 0 days"
        );
        p.steps.clear();
        assert_eq!(p.validate(), Err(PipelineError::Empty));
        assert_eq!(
            "campaign-run".parse::<FactKind>(),
            Ok(FactKind::CampaignRun)
        );
    }
}
