//! A/B/C/D value tiers by configurable shares of customers, the top ~5% and bottom ~20%
//! flags, named segments by rules, and tier changes over time.
//!
//! A full scoring run ranks every customer by value, highest first, ties broken by lifetime
//! value (the forward-looking measure) and then by customer order, and cuts the ranking at
//! the configured shares ([`rank_tiers`]): by default A the top 5%, B the next 25%, C the next
//! 50%, D the bottom 20%. So the shares hold whatever the ties: when a fifth of the customers
//! have no value this period, the bottom 20% are those of them with the least lifetime value,
//! not every customer at zero. A and B also need a positive value (a customer with none is at
//! best C). The same cuts as values ([`Tiering`]) tier customers rescored incrementally until
//! the next full run.

use serde::{Deserialize, Serialize};

use rapport_core::{Tier, Timestamp};

use crate::Error;

/// What customers are ranked by for tiers and the top and bottom flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierMeasure {
    /// This period's value (the value definition on the last 365 days).
    Value,
    /// Annual value with carry-over (this year's value plus the definition's share of last
    /// year's annual value): steady customers are recognised, a one-off year fades.
    AnnualValue,
}

impl TierMeasure {
    /// Stored models from before the measure was configurable were cut on value.
    pub(crate) fn stored_default() -> TierMeasure {
        TierMeasure::Value
    }

    fn rules_default() -> TierMeasure {
        TierMeasure::AnnualValue
    }
}

impl std::fmt::Display for TierMeasure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TierMeasure::Value => "value",
            TierMeasure::AnnualValue => "annual value with carry-over",
        })
    }
}

/// Shares of customers per tier and flag, and the measure they rank by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierRules {
    /// What customers are ranked by (default: annual value with carry-over, which matched the
    /// demo world's true top 5% better than one year's value: docs/benchmarks.md).
    #[serde(default = "TierMeasure::rules_default")]
    pub measure: TierMeasure,
    /// Share of customers in tier A (by value, highest first).
    pub a_share: f64,
    /// Share in tier B (the next ones).
    pub b_share: f64,
    /// Share in tier C (the next ones); the rest are D.
    #[serde(default = "default_c_share")]
    pub c_share: f64,
    /// Share flagged as the most valuable customers.
    pub top_share: f64,
    /// Share flagged as the bottom (may cost money).
    pub bottom_share: f64,
}

fn default_c_share() -> f64 {
    0.5
}

impl Default for TierRules {
    /// A = top 5%, B = next 25%, C = next 50%, D = the bottom 20%; the top 5% and the
    /// bottom 20% flagged.
    fn default() -> Self {
        TierRules {
            measure: TierMeasure::AnnualValue,
            a_share: 0.05,
            b_share: 0.25,
            c_share: 0.5,
            top_share: 0.05,
            bottom_share: 0.2,
        }
    }
}

impl TierRules {
    /// Checks the shares.
    pub fn validate(&self) -> Result<(), Error> {
        let ok = |v: f64| (0.0..=1.0).contains(&v);
        if !ok(self.a_share)
            || !ok(self.b_share)
            || !ok(self.c_share)
            || !ok(self.top_share)
            || !ok(self.bottom_share)
            || self.a_share + self.b_share + self.c_share > 1.0 + 1e-9
        {
            return Err(Error::InvalidConfig(format!(
                "tier shares must be between 0 and 1 and A + B + C at most 1: {self:?}"
            )));
        }
        Ok(())
    }
}

/// Value cut-offs computed from the value distribution of one scoring run, reused to tier
/// customers rescored incrementally until the next full run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tiering {
    /// Lowest value in tier A.
    pub a_cutoff: f64,
    /// Lowest value in tier B.
    pub b_cutoff: f64,
    /// Lowest value in tier C (below it: D). Tierings stored before tier D have none: no D.
    #[serde(default = "lowest")]
    pub c_cutoff: f64,
    /// Lowest value flagged top.
    pub top_cutoff: f64,
    /// Highest value flagged bottom.
    pub bottom_cutoff: f64,
    /// The lowest value seen (customers at the floor are never A or B).
    pub floor: f64,
    /// The highest value seen (customers at the ceiling are never bottom).
    pub ceiling: f64,
}

fn lowest() -> f64 {
    f64::MIN
}

/// How many of `n` customers a share is (rounded to the nearest customer).
fn count_of(share: f64, n: usize) -> usize {
    ((share * n as f64).round() as usize).min(n)
}

impl Tiering {
    /// Cut-offs from the values of all customers.
    pub fn from_values(values: &[f64], rules: &TierRules) -> Result<Tiering, Error> {
        rules.validate()?;
        if values.is_empty() {
            return Err(Error::Empty {
                what: "no customer values to tier".into(),
            });
        }
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Err(Error::Empty {
                what: "no finite customer values to tier".into(),
            });
        }
        v.sort_by(|a, b| b.total_cmp(a));
        let n = v.len();
        let at_share = |share: f64| -> f64 {
            // Finite sentinels: the cut-offs are stored as JSON, which has no infinity.
            if share <= 0.0 {
                return f64::MAX;
            }
            let k = ((share * n as f64).ceil() as usize).clamp(1, n);
            v[k - 1]
        };
        let bottom_cutoff = if rules.bottom_share <= 0.0 {
            f64::MIN
        } else {
            let k = ((rules.bottom_share * n as f64).ceil() as usize).clamp(1, n);
            v[n - k]
        };
        let c_cutoff = if rules.a_share + rules.b_share + rules.c_share >= 1.0 {
            f64::MIN
        } else {
            at_share(rules.a_share + rules.b_share + rules.c_share)
        };
        Ok(Tiering {
            a_cutoff: at_share(rules.a_share),
            b_cutoff: at_share(rules.a_share + rules.b_share),
            c_cutoff,
            top_cutoff: at_share(rules.top_share),
            bottom_cutoff,
            floor: v[n - 1],
            ceiling: v[0],
        })
    }

    /// The tier of a value (a customer rescored incrementally). A and B need a positive
    /// value; a value tied at the C cut-off is C.
    pub fn tier(&self, value: f64) -> Tier {
        let valued = value > self.floor && value > 0.0;
        if value >= self.a_cutoff && valued {
            Tier::A
        } else if value >= self.b_cutoff && valued {
            Tier::B
        } else if value >= self.c_cutoff {
            Tier::C
        } else {
            Tier::D
        }
    }

    /// Whether a value is in the most valuable group (needs a positive value).
    pub fn top(&self, value: f64) -> bool {
        value >= self.top_cutoff && value > self.floor && value > 0.0
    }

    /// Whether a value is in the bottom group.
    pub fn bottom(&self, value: f64) -> bool {
        value <= self.bottom_cutoff && value < self.ceiling
    }
}

/// A customer's tier with its top and bottom flags.
pub type TierFlags = (Tier, bool, bool);

/// Tier and flags for every value, with the cut-offs used.
pub fn assign_tiers(values: &[f64], rules: &TierRules) -> Result<(Tiering, Vec<TierFlags>), Error> {
    let t = Tiering::from_values(values, rules)?;
    let out = values
        .iter()
        .map(|&v| (t.tier(v), t.top(v), t.bottom(v)))
        .collect();
    Ok((t, out))
}

/// Tier and flags by rank (see the module doc): `values` ranked highest first, ties broken
/// by `tie_break` (highest first; e.g. lifetime value), then by position. The shares hold
/// exactly, to the nearest customer, whatever the ties; A, B and the top flag need a positive
/// value. `tie_break` must be as long as `values`.
pub fn rank_tiers(values: &[f64], tie_break: &[f64], rules: &TierRules) -> Vec<TierFlags> {
    let n = values.len();
    let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    // Rank order: value descending, then the tie-break descending, then the index; a total
    // order, so the customers above each cut are the same whether sorted or selected.
    let mut order: Vec<(f64, f64, u32)> = (0..n)
        .map(|i| {
            let tie = tie_break.get(i).copied().unwrap_or(0.0);
            (key(values[i]), key(tie), i as u32)
        })
        .collect();
    let rank_order = |x: &(f64, f64, u32), y: &(f64, f64, u32)| {
        y.0.total_cmp(&x.0)
            .then_with(|| y.1.total_cmp(&x.1))
            .then(x.2.cmp(&y.2))
    };
    let at = RankCuts::of(rules, n);
    // Only the ranks where a class changes matter: each is selected in turn (linear time),
    // not every rank sorted (a million customers' indirect sort was 0.2 s of a run).
    let mut cuts: Vec<usize> = [at.a, at.b, at.c, at.top, at.bottom_from]
        .into_iter()
        .filter(|&p| p > 0 && p < n)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut from = 0;
    for &p in &cuts {
        order[from..].select_nth_unstable_by(p - from, rank_order);
        from = p;
    }
    let mut out = vec![(Tier::C, false, false); n];
    let mut start = 0;
    for end in cuts.into_iter().chain([n]) {
        // No cut falls inside `start..end`: every rank in it classes as `start` does.
        for &(_, _, i) in &order[start..end] {
            out[i as usize] = at.flags(start, values[i as usize]);
        }
        start = end;
    }
    out
}

/// The ranks (0 the highest) where a customer's class changes, for `n` customers.
struct RankCuts {
    /// Ranks below: tier A (with a positive value).
    a: usize,
    /// Ranks below: tier B at most (with a positive value).
    b: usize,
    /// Ranks below: tier C at most.
    c: usize,
    /// Ranks below: the top flag (with a positive value).
    top: usize,
    /// Ranks from: the bottom flag.
    bottom_from: usize,
}

impl RankCuts {
    fn of(rules: &TierRules, n: usize) -> RankCuts {
        RankCuts {
            a: count_of(rules.a_share, n),
            b: count_of(rules.a_share + rules.b_share, n),
            c: if rules.a_share + rules.b_share + rules.c_share >= 1.0 {
                n
            } else {
                count_of(rules.a_share + rules.b_share + rules.c_share, n)
            },
            top: count_of(rules.top_share, n),
            bottom_from: n - count_of(rules.bottom_share, n),
        }
    }

    /// The tier and flags of the customer at `rank` with `value`.
    fn flags(&self, rank: usize, value: f64) -> TierFlags {
        let positive = value > 0.0;
        let tier = if rank < self.a && positive {
            Tier::A
        } else if rank < self.b && positive {
            Tier::B
        } else if rank < self.c {
            Tier::C
        } else {
            Tier::D
        };
        (tier, rank < self.top && positive, rank >= self.bottom_from)
    }
}

/// A named segment: a customer belongs to the first rule whose conditions all hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRule {
    /// Segment name, e.g. `premium`.
    pub name: String,
    /// Tiers admitted (empty: any).
    pub tiers: Vec<Tier>,
    /// Minimum lifetime value, if any.
    pub min_clv: Option<f64>,
    /// Minimum probability alive, if any.
    pub min_p_alive: Option<f64>,
}

impl SegmentRule {
    /// The default rules: premium (tier A), standard (tier B), foundation (everyone else).
    pub fn defaults() -> Vec<SegmentRule> {
        let rule = |name: &str, tiers: Vec<Tier>| SegmentRule {
            name: name.into(),
            tiers,
            min_clv: None,
            min_p_alive: None,
        };
        vec![
            rule("premium", vec![Tier::A]),
            rule("standard", vec![Tier::B]),
            rule("foundation", vec![]),
        ]
    }

    fn matches(&self, tier: Tier, clv: f64, p_alive: f64) -> bool {
        (self.tiers.is_empty() || self.tiers.contains(&tier))
            && self.min_clv.is_none_or(|m| clv >= m)
            && self.min_p_alive.is_none_or(|m| p_alive >= m)
    }
}

/// The segment of a customer by the first matching rule (`unsegmented` when none matches).
pub fn segment_for(rules: &[SegmentRule], tier: Tier, clv: f64, p_alive: f64) -> &str {
    rules
        .iter()
        .find(|r| r.matches(tier, clv, p_alive))
        .map_or("unsegmented", |r| r.name.as_str())
}

/// Customers and value per tier, as stored after a scoring run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierSummary {
    /// When the run computed it.
    pub at: Timestamp,
    /// The model version of the run.
    pub model_version: String,
    /// The cut-offs.
    pub tiering: Tiering,
    /// What the tiers rank by.
    #[serde(default = "TierMeasure::stored_default")]
    pub measure: TierMeasure,
    /// Rows for A, B, C in that order.
    pub tiers: Vec<TierRow>,
    /// Customers flagged top.
    pub top_customers: u64,
    /// Their share of all value.
    pub top_value_share: f64,
    /// Customers flagged bottom.
    pub bottom_customers: u64,
    /// The bottom group's total profit (negative: they cost money).
    pub bottom_profit: f64,
    /// Customers of negative value (they cost more than they bring), named as such.
    #[serde(default)]
    pub negative_customers: u64,
    /// Their total value (negative).
    #[serde(default)]
    pub negative_value: f64,
    /// Customers per move between the previous run's tier and this run's (`from` none:
    /// first scored), largest first; staying put is not a move.
    #[serde(default)]
    pub movements: Vec<TierMovement>,
}

/// Customers who moved from one tier to another in a scoring run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierMovement {
    /// The tier before (none: not scored before).
    pub from: Option<Tier>,
    /// The tier now.
    pub to: Tier,
    /// Customers.
    pub customers: u64,
}

/// The moves between tiers of `(before, now)` pairs (see [`TierSummary::movements`]).
pub fn tier_movements(pairs: impl IntoIterator<Item = (Option<Tier>, Tier)>) -> Vec<TierMovement> {
    let mut counts: std::collections::BTreeMap<(Option<Tier>, Tier), u64> = Default::default();
    for (from, to) in pairs {
        if from != Some(to) {
            *counts.entry((from, to)).or_default() += 1;
        }
    }
    let mut out: Vec<TierMovement> = counts
        .into_iter()
        .map(|((from, to), customers)| TierMovement {
            from,
            to,
            customers,
        })
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.customers));
    out
}

/// One tier's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierRow {
    /// The tier.
    pub tier: Tier,
    /// Customers in it.
    pub customers: u64,
    /// Their total value.
    pub value: f64,
    /// Their share of all value.
    pub value_share: f64,
    /// Their total profit.
    pub profit: f64,
    /// Their total lifetime value.
    pub clv: f64,
}

/// One customer's contribution to a [`TierSummary`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierContribution {
    /// Tier.
    pub tier: Tier,
    /// Top flag.
    pub top: bool,
    /// Bottom flag.
    pub bottom: bool,
    /// Value.
    pub value: f64,
    /// Profit.
    pub profit: f64,
    /// Lifetime value.
    pub clv: f64,
}

impl TierSummary {
    /// Sums the contributions.
    pub fn build<I: IntoIterator<Item = TierContribution>>(
        at: Timestamp,
        model_version: String,
        tiering: Tiering,
        items: I,
    ) -> TierSummary {
        let mut rows: Vec<TierRow> = [Tier::A, Tier::B, Tier::C, Tier::D]
            .into_iter()
            .map(|tier| TierRow {
                tier,
                customers: 0,
                value: 0.0,
                value_share: 0.0,
                profit: 0.0,
                clv: 0.0,
            })
            .collect();
        let (mut top, mut top_value, mut bottom, mut bottom_profit, mut total) =
            (0u64, 0.0, 0u64, 0.0, 0.0);
        let (mut negative, mut negative_value) = (0u64, 0.0);
        for c in items {
            if c.value < 0.0 {
                negative += 1;
                negative_value += c.value;
            }
            let row = &mut rows[c.tier as usize];
            row.customers += 1;
            row.value += c.value;
            row.profit += c.profit;
            row.clv += c.clv;
            total += c.value;
            if c.top {
                top += 1;
                top_value += c.value;
            }
            if c.bottom {
                bottom += 1;
                bottom_profit += c.profit;
            }
        }
        for r in &mut rows {
            r.value_share = if total != 0.0 { r.value / total } else { 0.0 };
        }
        TierSummary {
            at,
            model_version,
            tiering,
            tiers: rows,
            measure: TierMeasure::Value,
            top_customers: top,
            top_value_share: if total != 0.0 { top_value / total } else { 0.0 },
            bottom_customers: bottom,
            bottom_profit,
            negative_customers: negative,
            negative_value,
            movements: Vec::new(),
        }
    }
}

/// A tier change (the record carries them: one type in `rapport_core`).
pub use rapport_core::TierChange;

/// A customer's tier changes over time, oldest first (the most recent 64 kept).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TierHistory {
    /// The changes.
    pub changes: Vec<TierChange>,
}

impl TierHistory {
    const KEEP: usize = 64;

    /// The current tier by this history.
    pub fn current(&self) -> Option<Tier> {
        self.changes.last().map(|c| c.to)
    }

    /// Records the tier seen at `at`; returns whether it changed (and so must be stored).
    pub fn record(&mut self, at: Timestamp, tier: Tier) -> bool {
        let from = self.current();
        if from == Some(tier) {
            return false;
        }
        self.changes.push(TierChange { at, from, to: tier });
        if self.changes.len() > Self::KEEP {
            let excess = self.changes.len() - Self::KEEP;
            self.changes.drain(..excess);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ranking by a full sort, as before the selection: the reference.
    fn rank_tiers_by_sort(values: &[f64], tie_break: &[f64], rules: &TierRules) -> Vec<TierFlags> {
        let n = values.len();
        let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by(|&i, &j| {
            let (i, j) = (i as usize, j as usize);
            key(values[j])
                .total_cmp(&key(values[i]))
                .then_with(|| {
                    key(tie_break.get(j).copied().unwrap_or(0.0))
                        .total_cmp(&key(tie_break.get(i).copied().unwrap_or(0.0)))
                })
                .then(i.cmp(&j))
        });
        let at = RankCuts::of(rules, n);
        let mut out = vec![(Tier::C, false, false); n];
        for (rank, &i) in order.iter().enumerate() {
            out[i as usize] = at.flags(rank, values[i as usize]);
        }
        out
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ranking_by_selection_equals_ranking_by_sort(
            values in proptest::collection::vec(
                prop_oneof![
                    (-3i32..40).prop_map(|v| f64::from(v) * 2.5),
                    Just(f64::NAN),
                    Just(0.0),
                ],
                0..300,
            ),
            ties in proptest::collection::vec((-2i32..5).prop_map(f64::from), 0..300),
            shares in (0u8..=10, 0u8..=10, 0u8..=10, 0u8..=5, 0u8..=10),
        ) {
            let (a, b, c, top, bottom) = shares;
            let tenth = |k: u8| f64::from(k) / 10.0;
            let rules = TierRules {
                a_share: tenth(a),
                b_share: tenth(b),
                c_share: tenth(c),
                top_share: tenth(top),
                bottom_share: tenth(bottom),
                ..TierRules::default()
            };
            prop_assert_eq!(
                rank_tiers(&values, &ties, &rules),
                rank_tiers_by_sort(&values, &ties, &rules)
            );
        }
    }

    #[test]
    fn quantile_tiers_and_flags() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let (t, out) = assign_tiers(&values, &TierRules::default()).unwrap();
        let count = |tier| out.iter().filter(|o| o.0 == tier).count();
        assert_eq!(
            (
                count(Tier::A),
                count(Tier::B),
                count(Tier::C),
                count(Tier::D)
            ),
            (5, 25, 50, 20)
        );
        assert_eq!(out.iter().filter(|o| o.1).count(), 5);
        assert_eq!(out.iter().filter(|o| o.2).count(), 20);
        assert_eq!(t.a_cutoff, 96.0);
        assert_eq!(t.tier(1000.0), Tier::A);
        assert_eq!(t.tier(-5.0), Tier::D);
        // By rank, the same.
        let ranked = rank_tiers(&values, &[0.0; 100], &TierRules::default());
        assert_eq!(ranked, out);
    }

    #[test]
    fn ties_at_zero_still_give_a_bottom_fifth_ranked_by_lifetime_value() {
        // 60 customers without value this period (lifetime values 0..59), 40 with.
        let mut values = vec![0.0; 60];
        values.extend((1..=40).map(f64::from));
        let clv: Vec<f64> = (0..100)
            .map(|i| if i < 60 { i as f64 } else { 0.0 })
            .collect();
        let out = rank_tiers(&values, &clv, &TierRules::default());
        let count = |tier| out.iter().filter(|o| o.0 == tier).count();
        assert_eq!(
            (
                count(Tier::A),
                count(Tier::B),
                count(Tier::C),
                count(Tier::D)
            ),
            (5, 25, 50, 20)
        );
        assert_eq!(out.iter().filter(|o| o.2).count(), 20, "bottom 20% is 20%");
        // The bottom are the zero-value customers with the least lifetime value.
        assert!(out[..20].iter().all(|o| o.0 == Tier::D && o.2));
        assert!(out[20..60].iter().all(|o| o.0 == Tier::C && !o.2));
        // Without enough positive values, A and B stay short: no customer without value is A.
        let zeros = rank_tiers(&[0.0; 10], &[0.0; 10], &TierRules::default());
        assert!(
            zeros
                .iter()
                .all(|o| matches!(o.0, Tier::C | Tier::D) && !o.1)
        );
        assert_eq!(zeros.iter().filter(|o| o.0 == Tier::D).count(), 2);
    }

    #[test]
    fn movements_count_changes_only() {
        let m = tier_movements([
            (None, Tier::A),
            (Some(Tier::A), Tier::A),
            (Some(Tier::C), Tier::D),
            (Some(Tier::C), Tier::D),
        ]);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].from, m[0].to, m[0].customers),
            (Some(Tier::C), Tier::D, 2)
        );
    }

    #[test]
    fn segments_follow_rules_in_order() {
        let rules = SegmentRule::defaults();
        assert_eq!(segment_for(&rules, Tier::A, 0.0, 1.0), "premium");
        assert_eq!(segment_for(&rules, Tier::C, 0.0, 1.0), "foundation");
        let picky = vec![SegmentRule {
            name: "loyal".into(),
            tiers: vec![],
            min_clv: Some(100.0),
            min_p_alive: Some(0.5),
        }];
        assert_eq!(segment_for(&picky, Tier::A, 150.0, 0.4), "unsegmented");
        assert_eq!(segment_for(&picky, Tier::C, 150.0, 0.6), "loyal");
    }

    #[test]
    fn tier_history_keeps_changes_only() {
        let mut h = TierHistory::default();
        assert!(h.record(Timestamp(1), Tier::B));
        assert!(!h.record(Timestamp(2), Tier::B));
        assert!(h.record(Timestamp(3), Tier::A));
        assert_eq!(h.changes.len(), 2);
        assert_eq!(h.changes[1].from, Some(Tier::B));
    }
}
