//! Identity resolution: which customer a fragment belongs to.
//!
//! Two kinds of evidence decide it:
//!
//! - **Deterministic keys.** The same source record (its own source reference, or a cross
//!   reference another source carries) or the same loyalty number is the same customer.
//! - **Probabilistic matching** in the Fellegi-Sunter model. Each compared field (given and
//!   family name, date of birth, address, e-mail, phone, loyalty number, national id) falls
//!   into an agreement level; each level has an *m* probability (of seeing it when the two
//!   records are the same person) and a *u* probability (when they are not). The weight of a
//!   level is `log2(m / u)`; the match score is the sum over the fields both records have.
//!   Two thresholds give three outcomes: at or above `upper` the fragment is attached (a merge),
//!   between `lower` and `upper` it becomes a new customer plus a review item, below `lower`
//!   it is kept apart. The default probabilities are documented in [`MatchConfig::default`];
//!   [`em::estimate`] learns them from the data.
//!
//! Candidates come from the store's index: [`Resolver::keys`] lists the keys a fragment is
//! filed under (deterministic identifiers and blocking keys: phonetic codes of the names, also
//! swapped, the birth date, postcode with a name code or street number), and ingest looks each
//! one up to find the candidate customers it passes to [`Resolver::decide`].
//!
//! A move is not a new customer: names and birth date (or e-mail, phone, loyalty number) still
//! agree, the address disagreement costs only a few points, and the new address becomes
//! contact history of the same customer.
//!
//! ```
//! use rapport_core::{Date, PartyKind, SourceRef, Timestamp};
//! use rapport_repository::identity::{Decision, MatchConfig, Resolver};
//! use rapport_repository::Fragment;
//! # fn person(source: &str, key: &str, given: &str, family: &str) -> Fragment {
//! #     Fragment { source: SourceRef::new(source, key), kind: PartyKind::Person,
//! #         observed_at: Timestamp::EPOCH, given_name: Some(given.into()),
//! #         family_name: Some(family.into()), full_name: None,
//! #         birth_date: Date::new(1984, 3, 7), emails: vec![], phones: vec![],
//! #         addresses: vec![], loyalty_number: None, loyalty_status: None, national_id: None,
//! #         cross_refs: vec![], relations: vec![], extra: Default::default() }
//! # }
//! let resolver = Resolver::new(MatchConfig::default());
//! let known = person("crm", "17", "Robert", "Smith");
//! let incoming = person("web", "a9", "Bob", "Smyth");
//! let candidates = vec![(rapport_core::CustomerId(1), vec![known])];
//! match resolver.decide(&incoming, &candidates) {
//!     Decision::Attach { customer, evidence } => {
//!         assert_eq!(customer, rapport_core::CustomerId(1));
//!         assert!(evidence.score >= evidence.upper);
//!     }
//!     other => panic!("expected a merge, got {other:?}"),
//! }
//! ```

pub mod compare;
pub mod em;
pub mod names;

use std::collections::BTreeSet;
use std::fmt;

use rapport_core::{CustomerId, PartyKind, SourceRef};
use rapport_store::{IndexKey, IndexKind};
use serde::{Deserialize, Serialize};

pub use compare::{Field, Observation, Prepared};

use crate::fragment::Fragment;

/// The m and u probabilities of one agreement level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelProbabilities {
    /// P(level | same customer).
    pub m: f64,
    /// P(level | different customers).
    pub u: f64,
}

impl LevelProbabilities {
    /// The level's weight, `log2(m / u)`, with both clamped away from 0.
    pub fn weight(self) -> f64 {
        (self.m.max(1e-9) / self.u.max(1e-12)).log2()
    }
}

/// The model of one field: probabilities for each of its levels ([`Field::levels`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldModel {
    /// Which field.
    pub field: Field,
    /// One entry per level of `field`, best first.
    pub levels: Vec<LevelProbabilities>,
}

/// How the resolver decides: field models, thresholds, and pairs of records an information
/// steward said to keep apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchConfig {
    /// Field models (a field without a model is not compared).
    pub fields: Vec<FieldModel>,
    /// Score (sum of log2 weights) at or above which a fragment is attached.
    pub upper: f64,
    /// Score at or above which (and below `upper`) a review item is raised.
    pub lower: f64,
    /// Score at or above which names alone attach, when nothing else disagrees and no other
    /// candidate reaches `lower` (given and family name both exact or close).
    pub names_alone: f64,
    /// Source-record pairs that must never end up in the same customer (review rejections),
    /// each stored with the smaller reference first.
    pub keep_apart: BTreeSet<(SourceRef, SourceRef)>,
}

fn lp(m: f64, u: f64) -> LevelProbabilities {
    LevelProbabilities { m, u }
}

impl Default for MatchConfig {
    /// Probabilities tuned by hand on the FEBRL data sets and the demo world, then checked
    /// against what [`em::estimate`] learns on FEBRL data set 2 (see `docs/benchmarks.md`).
    ///
    /// | field | levels (m / u) |
    /// |---|---|
    /// | given name | exact .80/.006, close .07/.002, similar .03/.02, initial .01/.01, different .09/.962 |
    /// | family name | exact .82/.003, close .08/.001, similar .02/.01, initial .005/.005, different .075/.981 |
    /// | organisation name | exact .85/.0005, close .08/.001, similar .04/.01, different .03/.9885 |
    /// | birth date | exact .90/.0002, day-month swapped .005/.0001, one digit differs .04/.004, different .055/.9957 |
    /// | address | same .80/.0005, same street .08/.002, same area .05/.02, different .07/.9775 |
    /// | e-mail | shared .5/.00001, none shared .5/.99999 |
    /// | phone | shared .5/.0001, none shared .5/.9999 |
    /// | loyalty number | shared .99/.00001, different .01/.99999 |
    /// | national id | exact .9/.000001, one typo .06/.0001, different .04/.9999 |
    ///
    /// The m probabilities of disagreement follow what EM learns on FEBRL (a duplicate's given
    /// name differs about one time in ten); the u probabilities are those of random pairs.
    /// Thresholds: attach at 14 or more when something besides the names agrees; names alone
    /// attach from 11 (both names exact or close) only when nothing else disagrees and no
    /// other candidate reaches the review threshold; review from 9.
    fn default() -> Self {
        MatchConfig {
            fields: vec![
                FieldModel {
                    field: Field::GivenName,
                    levels: vec![
                        lp(0.80, 0.006),
                        lp(0.07, 0.002),
                        lp(0.03, 0.02),
                        lp(0.01, 0.01),
                        lp(0.09, 0.962),
                    ],
                },
                FieldModel {
                    field: Field::FamilyName,
                    levels: vec![
                        lp(0.82, 0.003),
                        lp(0.08, 0.001),
                        lp(0.02, 0.01),
                        lp(0.005, 0.005),
                        lp(0.075, 0.981),
                    ],
                },
                FieldModel {
                    field: Field::OrganisationName,
                    levels: vec![
                        lp(0.85, 0.0005),
                        lp(0.08, 0.001),
                        lp(0.04, 0.01),
                        lp(0.03, 0.9885),
                    ],
                },
                FieldModel {
                    field: Field::BirthDate,
                    levels: vec![
                        lp(0.90, 0.0002),
                        lp(0.005, 0.0001),
                        lp(0.04, 0.004),
                        lp(0.055, 0.9957),
                    ],
                },
                FieldModel {
                    field: Field::Address,
                    levels: vec![
                        lp(0.80, 0.0005),
                        lp(0.08, 0.002),
                        lp(0.05, 0.02),
                        lp(0.07, 0.9775),
                    ],
                },
                FieldModel {
                    field: Field::Email,
                    levels: vec![lp(0.5, 0.00001), lp(0.5, 0.99999)],
                },
                FieldModel {
                    field: Field::Phone,
                    levels: vec![lp(0.5, 0.0001), lp(0.5, 0.9999)],
                },
                FieldModel {
                    field: Field::LoyaltyNumber,
                    levels: vec![lp(0.99, 0.00001), lp(0.01, 0.99999)],
                },
                FieldModel {
                    field: Field::NationalId,
                    levels: vec![lp(0.9, 0.000001), lp(0.06, 0.0001), lp(0.04, 0.9999)],
                },
            ],
            upper: 14.0,
            lower: 9.0,
            names_alone: 11.0,
            keep_apart: BTreeSet::new(),
        }
    }
}

impl MatchConfig {
    /// Records that two source records must never be resolved to the same customer.
    pub fn keep_apart(&mut self, a: SourceRef, b: SourceRef) {
        self.keep_apart.insert(ordered(a, b));
    }

    /// Whether two source records were declared apart.
    pub fn kept_apart(&self, a: &SourceRef, b: &SourceRef) -> bool {
        if self.keep_apart.is_empty() {
            return false;
        }
        self.keep_apart.contains(&ordered(a.clone(), b.clone()))
    }
}

fn ordered(a: SourceRef, b: SourceRef) -> (SourceRef, SourceRef) {
    if a <= b { (a, b) } else { (b, a) }
}

/// Where a fragment belongs.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Merge into this customer.
    Attach {
        /// The customer.
        customer: CustomerId,
        /// Why.
        evidence: Evidence,
    },
    /// Create a new customer and raise a review item against these possible duplicates
    /// (best first).
    Review {
        /// The possible duplicates.
        customers: Vec<CustomerId>,
        /// The evidence against the best of them.
        evidence: Evidence,
    },
    /// A new customer: nothing matches well enough.
    New,
}

/// How far one field went towards the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldEvidence {
    /// Which field.
    pub field: Field,
    /// The agreement level's name (`exact`, `close`, `different`...), or `missing`.
    pub level: String,
    /// Whether the level counts as agreement (positive weight).
    pub agreed: bool,
    /// How the level was reached (similarity, swapped names...).
    pub detail: String,
    /// The weight added to the score (0 when missing).
    pub weight: f64,
    /// The incoming record's value.
    pub ours: Option<String>,
    /// The matched record's value.
    pub theirs: Option<String>,
}

/// Why a fragment was attached or sent to review: kept with every merge and review item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The incoming record.
    pub record: SourceRef,
    /// The record of the candidate customer it was compared with (the best of them).
    pub matched: SourceRef,
    /// A deterministic rule that decided it (`same loyalty number`, `cross reference`...).
    pub rule: Option<String>,
    /// Per-field outcomes.
    pub fields: Vec<FieldEvidence>,
    /// Sum of the field weights.
    pub score: f64,
    /// The attach threshold in force.
    pub upper: f64,
    /// The review threshold in force.
    pub lower: f64,
    /// Other candidate customers that also scored at or above `lower`, with their scores. A
    /// score at or above `upper` means the record would have attached to that customer too:
    /// the record ties the customers together ([`crate::merge::merge_ties`]). A candidate that
    /// reaches `upper` only on evidence that cannot attach (a household member, names alone)
    /// is listed just below `upper`.
    pub others: Vec<(CustomerId, f64)>,
}

impl Evidence {
    /// Fields that agreed.
    pub fn agreed(&self) -> impl Iterator<Item = &FieldEvidence> {
        self.fields.iter().filter(|f| f.agreed)
    }

    /// Whether a field other than the names agreed: evidence beyond a namesake's.
    pub fn agrees_beyond_names(&self) -> bool {
        self.agreed().any(|f| !f.field.is_name())
    }

    /// Fields that disagreed.
    pub fn disagreed(&self) -> impl Iterator<Item = &FieldEvidence> {
        self.fields
            .iter()
            .filter(|f| !f.agreed && f.level != "missing")
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} matched {}: score {:.1} (attach at {:.1}, review at {:.1})",
            self.record, self.matched, self.score, self.upper, self.lower
        )?;
        if let Some(rule) = &self.rule {
            writeln!(f, "  rule: {rule}")?;
        }
        for fe in &self.fields {
            writeln!(
                f,
                "  {:<18} {:<10} {:>+6.1}  {} | {}  ({})",
                fe.field.as_str(),
                fe.level,
                fe.weight,
                fe.ours.as_deref().unwrap_or("-"),
                fe.theirs.as_deref().unwrap_or("-"),
                fe.detail
            )?;
        }
        Ok(())
    }
}

/// Decides which customer a fragment belongs to. Cheap to clone; shareable across threads.
#[derive(Debug, Clone)]
pub struct Resolver {
    config: std::sync::Arc<MatchConfig>,
    /// Weight per field and level, indexed by `Field as usize`.
    weights: Vec<Option<Vec<f64>>>,
}

fn field_index(f: Field) -> usize {
    Field::ALL.iter().position(|x| *x == f).unwrap_or(0)
}

impl Resolver {
    /// A resolver with this configuration. A field model whose level count does not match the
    /// field is ignored (the field is then not compared).
    pub fn new(config: MatchConfig) -> Resolver {
        let mut weights = vec![None; Field::ALL.len()];
        for m in &config.fields {
            if m.levels.len() == m.field.levels().len() {
                weights[field_index(m.field)] = Some(m.levels.iter().map(|l| l.weight()).collect());
            }
        }
        Resolver {
            config: std::sync::Arc::new(config),
            weights,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Index keys under which the fragment must be findable: deterministic identifiers
    /// (source reference and cross references, e-mail, phone, loyalty number, national id)
    /// and blocking keys.
    ///
    /// Key values (all lower-case ASCII except identifiers):
    /// - `SourceRef`: `source:key`; `Email`, `Phone`: as cleansed; `LoyaltyNumber`,
    ///   `NationalId`: letters and digits, upper case.
    /// - `NamePhonetic`: `n:` + the double-metaphone codes of given and family name, sorted
    ///   (so swapped names block together), e.g. `n:JN|SM0`; organisations `o:` + the codes of
    ///   their first two words.
    /// - `BirthDate`: `YYYY-MM-DD`, plus `YYYY-DD-MM` when day and month could be swapped.
    /// - `Postcode`: `postcode|` + a name code (given and family each), and `postcode|#number`;
    ///   the same with the folded locality (first 12 letters) in place of the postcode.
    pub fn keys(&self, f: &Fragment) -> Vec<IndexKey> {
        let p = Prepared::new(f);
        let mut keys = Vec::with_capacity(12);
        keys.push(IndexKey::new(IndexKind::SourceRef, f.source.to_string()));
        for r in &f.cross_refs {
            keys.push(IndexKey::new(IndexKind::SourceRef, r.to_string()));
        }
        for e in &p.emails {
            keys.push(IndexKey::new(IndexKind::Email, e.clone()));
        }
        for ph in &p.phones {
            if !ph.starts_with(compare::NATIONAL_PHONE_PREFIX) {
                keys.push(IndexKey::new(IndexKind::Phone, ph.clone()));
            }
            // The subscriber part alone: a number typed without its country code comes out
            // under the source's default region (or in no region's plan), and still finds
            // its holder.
            if let Some(key) = compare::phone_tail_key(ph) {
                keys.push(IndexKey::new(IndexKind::Phone, key));
            }
        }
        if let Some(l) = &p.loyalty {
            keys.push(IndexKey::new(IndexKind::LoyaltyNumber, l.clone()));
        }
        if let Some(n) = &p.national {
            keys.push(IndexKey::new(IndexKind::NationalId, n.clone()));
        }
        let mut codes: Vec<String> = Vec::new();
        if p.kind == PartyKind::Person {
            for n in [&p.given, &p.family].into_iter().flatten() {
                codes.push(names::phonetic(n));
            }
            if codes.len() == 2 {
                let mut pair = codes.clone();
                pair.sort();
                keys.push(IndexKey::new(
                    IndexKind::NamePhonetic,
                    format!("n:{}|{}", pair[0], pair[1]),
                ));
            }
            if let Some(b) = p.birth {
                keys.push(IndexKey::new(IndexKind::BirthDate, b.to_string()));
                if b.day <= 12 && b.day != b.month {
                    keys.push(IndexKey::new(
                        IndexKind::BirthDate,
                        format!("{:04}-{:02}-{:02}", b.year, b.day, b.month),
                    ));
                }
            }
        } else if let Some(name) = &p.org_name {
            let words: Vec<String> = name.split(' ').take(2).map(names::phonetic).collect();
            codes.extend(words.iter().cloned());
            keys.push(IndexKey::new(
                IndexKind::NamePhonetic,
                format!("o:{}", words.join("|")),
            ));
        }
        for a in &p.addresses {
            // The same blocks keyed by locality catch a mistyped postcode.
            let areas = [
                a.postcode.as_deref(),
                a.locality.as_deref().map(|l| l.get(..12).unwrap_or(l)),
            ];
            for area in areas.into_iter().flatten() {
                for c in &codes {
                    keys.push(IndexKey::new(IndexKind::Postcode, format!("{area}|{c}")));
                }
                if let Some(n) = &a.number {
                    keys.push(IndexKey::new(IndexKind::Postcode, format!("{area}|#{n}")));
                }
            }
        }
        keys.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
        keys.dedup();
        keys
    }

    /// Compares two fragments and scores them: the evidence a merge would keep.
    pub fn evidence(&self, f: &Fragment, other: &Fragment) -> Evidence {
        self.score(&Prepared::new(f), &Prepared::new(other))
    }

    fn score(&self, a: &Prepared, b: &Prepared) -> Evidence {
        self.score_observed(a, b, compare::compare(a, b))
    }

    /// [`Resolver::score`] without the explanation of each field (the same levels, weights
    /// and score): for ranking candidates.
    fn score_levels(&self, a: &Prepared, b: &Prepared) -> Evidence {
        self.score_observed(a, b, compare::compare_levels(a, b))
    }

    fn score_observed(
        &self,
        a: &Prepared,
        b: &Prepared,
        observations: Vec<compare::Observation>,
    ) -> Evidence {
        let mut fields = Vec::with_capacity(observations.len());
        let mut score = 0.0;
        // Whether the given name agreed (exact or close): the full name's frequency then
        // applies to the family name.
        let mut given_agreed = false;
        for o in observations {
            let Some(weights) = &self.weights[field_index(o.field)] else {
                continue;
            };
            let (level, mut weight) = match o.level {
                Some(l) => (o.field.levels()[l].to_owned(), weights[l]),
                None => ("missing".to_owned(), 0.0),
            };
            let mut detail = o.detail;
            if o.field == Field::GivenName {
                given_agreed = o.level.is_some_and(|l| l <= 1);
            }
            let holders = match (o.field, o.level) {
                (Field::Email, Some(0)) => holders_of(&a.emails, &a.email_holders, &b.emails),
                (Field::Phone, Some(0)) => holders_of(&a.phones, &a.phone_holders, &b.phones),
                (Field::FamilyName, Some(0 | 1)) if given_agreed => a.namesakes,
                _ => 0,
            };
            if holders > 1 {
                let adjusted = tf_adjusted(weight, holders);
                if !detail.is_empty() {
                    detail.push_str(&format!(
                        ", {holders} customers share it ({:+.1})",
                        adjusted - weight
                    ));
                }
                weight = adjusted;
            }
            score += weight;
            fields.push(FieldEvidence {
                field: o.field,
                level,
                agreed: weight > 0.0,
                detail,
                weight,
                ours: o.ours,
                theirs: o.theirs,
            });
        }
        let rule = deterministic_rule(a, b);
        Evidence {
            record: a.source.clone(),
            matched: b.source.clone(),
            rule,
            fields,
            score,
            upper: self.config.upper,
            lower: self.config.lower,
            others: Vec::new(),
        }
    }

    /// Where the fragment belongs, given candidate customers and their fragments.
    ///
    /// Each candidate is scored by its best-matching fragment. A deterministic rule (same
    /// source record, a cross reference, the same loyalty number) attaches outright unless a
    /// steward kept the records apart. Candidates of another party kind are never merged.
    pub fn decide(&self, f: &Fragment, candidates: &[(CustomerId, Vec<Fragment>)]) -> Decision {
        let prepared: Vec<(CustomerId, Vec<std::sync::Arc<Prepared>>)> = candidates
            .iter()
            .map(|(c, fs)| {
                let ps = fs
                    .iter()
                    .map(|x| std::sync::Arc::new(Prepared::new(x)))
                    .collect();
                (*c, ps)
            })
            .collect();
        self.decide_prepared(&Prepared::new(f), &prepared)
    }

    /// [`Resolver::decide`] on records already folded ([`Prepared::new`]), for callers that
    /// keep the folded records of their candidates between decisions (ingest). Records of a
    /// candidate with the same content as one already compared are skipped: they score the
    /// same.
    pub fn decide_prepared(
        &self,
        me: &Prepared,
        candidates: &[(CustomerId, Vec<std::sync::Arc<Prepared>>)],
    ) -> Decision {
        // Every candidate is ranked on levels alone; the best one's evidence, which is kept
        // and shown, is then worked out in full (the same levels, weights and score).
        let mut scored: Vec<(CustomerId, Evidence, usize)> = Vec::with_capacity(candidates.len());
        let mut seen: Vec<u64> = Vec::new();
        for (at, (customer, fragments)) in candidates.iter().enumerate() {
            if fragments
                .iter()
                .any(|o| self.config.kept_apart(&me.source, &o.source))
            {
                continue;
            }
            if let Some(b) = self.customer_evidence(me, fragments, &mut seen, false) {
                scored.push((*customer, b, at));
            }
        }
        scored.sort_by(|a, b| rank(&b.1).total_cmp(&rank(&a.1)).then(a.0.cmp(&b.0)));
        let Some((best_customer, _, best_at)) = scored.first() else {
            return Decision::New;
        };
        let best_customer = *best_customer;
        if let Some(full) = self.customer_evidence(me, &candidates[*best_at].1, &mut seen, true) {
            scored[0].1 = full;
        }
        let mut scored: Vec<(CustomerId, Evidence)> =
            scored.into_iter().map(|(c, e, _)| (c, e)).collect();
        let upper = self.config.upper;
        let others: Vec<(CustomerId, f64)> = scored
            .iter()
            .skip(1)
            .filter(|(_, e)| e.rule.is_some() || e.score >= self.config.lower)
            .map(|(c, e)| {
                // Only a candidate the record would attach to on its own ties customers
                // together; one that reaches the threshold on evidence that cannot attach
                // (a household member, names alone) is listed just below it.
                let ties = e.score >= upper && self.attachable(e, f64::MAX, me.namesakes);
                let score = if e.score >= upper && !ties {
                    upper - 0.05
                } else {
                    e.score
                };
                (*c, score)
            })
            .collect();
        let runner_up = scored.get(1).map_or(f64::MIN, |(_, e)| e.score);
        let mut evidence = scored.swap_remove(0).1;
        evidence.others = others;
        if evidence.rule.is_some() || self.attachable(&evidence, runner_up, me.namesakes) {
            Decision::Attach {
                customer: best_customer,
                evidence,
            }
        } else if evidence.score >= self.config.lower {
            let mut customers = vec![best_customer];
            customers.extend(evidence.others.iter().map(|(c, _)| *c));
            Decision::Review {
                customers,
                evidence,
            }
        } else {
            Decision::New
        }
    }
}

/// The evidence against a customer with several records: the best single record, or, when
/// it scores higher, each field's best agreement over all the customer's records (a customer
/// known under two spellings and two addresses matches either). The evidence keeps the value
/// each field was matched with.
impl Resolver {
    /// A candidate customer's evidence against the record: its best-matching records
    /// combined ([`combine`]); `explain` works out each field's values and how its level
    /// was reached.
    fn customer_evidence(
        &self,
        me: &Prepared,
        fragments: &[std::sync::Arc<Prepared>],
        seen: &mut Vec<u64>,
        explain: bool,
    ) -> Option<Evidence> {
        seen.clear();
        let mut all: Vec<Evidence> = Vec::with_capacity(fragments.len());
        for other in fragments {
            if !same_kind(me.kind, other.kind) {
                continue;
            }
            let cross = deterministic_cross_ref(me, other);
            if !cross && other.source != me.source {
                if seen.contains(&other.content) {
                    continue;
                }
                seen.push(other.content);
            }
            let mut ev = if explain {
                self.score(me, other)
            } else {
                self.score_levels(me, other)
            };
            if cross {
                ev.rule = Some("cross reference".to_owned());
            }
            all.push(ev);
        }
        combine(all)
    }
}

/// How many customers hold the value of `mine` that `theirs` shares (0 when not known): the
/// count of the first shared value, or of any of mine when the values agree only by their
/// last digits (phones under two country codes).
fn holders_of(mine: &[String], holders: &[u32], theirs: &[String]) -> u32 {
    if holders.is_empty() {
        return 0;
    }
    match mine.iter().position(|x| theirs.contains(x)) {
        Some(i) => holders.get(i).copied().unwrap_or(0),
        None => holders.iter().copied().max().unwrap_or(0),
    }
}

/// An agreement's weight when `holders` customers share the agreeing value (term-frequency
/// adjustment): the field's u probability is that of a value held by one customer, so a value
/// held by n is n times likelier to agree by chance, `log2(n)` less weight. It stays an
/// agreement (at least 0.5).
pub fn tf_adjusted(weight: f64, holders: u32) -> f64 {
    if holders <= 1 || weight <= 0.5 {
        return weight;
    }
    (weight - f64::from(holders).log2()).max(0.5)
}

fn combine(mut all: Vec<Evidence>) -> Option<Evidence> {
    let best_at = (0..all.len()).max_by(|&a, &b| rank(&all[a]).total_cmp(&rank(&all[b])))?;
    let mut best = all.swap_remove(best_at);
    if all.is_empty() || best.rule.is_some() {
        return Some(best);
    }
    let mut fields = best.fields.clone();
    for e in &all {
        for (mine, theirs) in fields.iter_mut().zip(&e.fields) {
            let better = mine.field == theirs.field
                && (theirs.weight > mine.weight && theirs.level != "missing"
                    || mine.level == "missing"
                        && theirs.level != "missing"
                        && theirs.weight >= 0.0);
            if better {
                *mine = theirs.clone();
            }
        }
    }
    let score: f64 = fields.iter().map(|f| f.weight).sum();
    if score > best.score {
        best.fields = fields;
        best.score = score;
    }
    Some(best)
}

impl Resolver {
    /// Whether the evidence attaches the record:
    /// - a deterministic rule always does;
    /// - when the given names clearly differ (a household: same family name, same address),
    ///   only with evidence that belongs to one person (birth date, e-mail, phone, loyalty
    ///   number, national id) and a score at or above `upper`;
    /// - with agreement beyond the names, at or above `upper`;
    /// - names alone at or above `names_alone`, when nothing else disagrees, no other
    ///   candidate comes close (`runner_up` below `lower`) and no other customer bears the
    ///   name (`namesakes`, counted outside the candidates too); otherwise they raise a review
    ///   item.
    fn attachable(&self, e: &Evidence, runner_up: f64, namesakes: u32) -> bool {
        if e.rule.is_some() {
            return true;
        }
        let personal = e.fields.iter().any(|f| {
            f.agreed
                && matches!(
                    f.field,
                    Field::BirthDate
                        | Field::Email
                        | Field::Phone
                        | Field::LoyaltyNumber
                        | Field::NationalId
                )
        });
        let given_differs = e
            .fields
            .iter()
            .any(|f| f.field == Field::GivenName && f.level == "different");
        if given_differs && !personal {
            return false;
        }
        if e.agrees_beyond_names() {
            return e.score >= self.config.upper;
        }
        let nothing_disagrees = e
            .fields
            .iter()
            .all(|f| f.field.is_name() || f.level == "missing" || f.agreed);
        nothing_disagrees
            && runner_up < self.config.lower
            && namesakes <= 1
            && e.score >= self.config.names_alone
    }
}

/// Orders evidence: a deterministic rule beats any score.
fn rank(e: &Evidence) -> f64 {
    if e.rule.is_some() {
        f64::MAX / 2.0 + e.score
    } else {
        e.score
    }
}

fn same_kind(a: PartyKind, b: PartyKind) -> bool {
    (a == PartyKind::Person) == (b == PartyKind::Person)
}

fn deterministic_rule(a: &Prepared, b: &Prepared) -> Option<String> {
    if a.source == b.source {
        return Some("same source record".to_owned());
    }
    match (&a.loyalty, &b.loyalty) {
        (Some(x), Some(y)) if x == y => Some("same loyalty number".to_owned()),
        _ => None,
    }
}

fn deterministic_cross_ref(a: &Prepared, b: &Prepared) -> bool {
    a.cross_refs.contains(&b.source)
        || b.cross_refs.contains(&a.source)
        || a.cross_refs.iter().any(|r| b.cross_refs.contains(r))
}

#[cfg(test)]
mod tests;
