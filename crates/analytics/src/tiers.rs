//! A/B/C value tiers by configurable quantiles, the top ~5% and bottom ~20% flags, named
//! segments by rules, and tier changes over time.

use serde::{Deserialize, Serialize};

use rapport_core::{Tier, Timestamp};

use crate::Error;

/// Shares of customers per tier and flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierRules {
    /// Share of customers in tier A (by value, highest first).
    pub a_share: f64,
    /// Share in tier B (the next ones); the rest are C.
    pub b_share: f64,
    /// Share flagged as the most valuable customers.
    pub top_share: f64,
    /// Share flagged as the bottom (may cost money).
    pub bottom_share: f64,
}

impl Default for TierRules {
    /// A = top 20%, B = next 30%, C = the rest; top 5% and bottom 20% flagged.
    fn default() -> Self {
        TierRules {
            a_share: 0.2,
            b_share: 0.3,
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
            || !ok(self.top_share)
            || !ok(self.bottom_share)
            || self.a_share + self.b_share > 1.0
        {
            return Err(Error::InvalidConfig(format!(
                "tier shares must be between 0 and 1 and A + B at most 1: {self:?}"
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
    /// Lowest value flagged top.
    pub top_cutoff: f64,
    /// Highest value flagged bottom.
    pub bottom_cutoff: f64,
    /// The lowest value seen (customers at the floor are never A or B).
    pub floor: f64,
    /// The highest value seen (customers at the ceiling are never bottom).
    pub ceiling: f64,
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
        Ok(Tiering {
            a_cutoff: at_share(rules.a_share),
            b_cutoff: at_share(rules.a_share + rules.b_share),
            top_cutoff: at_share(rules.top_share),
            bottom_cutoff,
            floor: v[n - 1],
            ceiling: v[0],
        })
    }

    /// The tier of a value. A and B need a positive value: customers tied at a zero cut-off
    /// (no value this period) are C, however many they are.
    pub fn tier(&self, value: f64) -> Tier {
        let valued = value > self.floor && value > 0.0;
        if value >= self.a_cutoff && valued {
            Tier::A
        } else if value >= self.b_cutoff && valued {
            Tier::B
        } else {
            Tier::C
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
        let mut rows: Vec<TierRow> = [Tier::A, Tier::B, Tier::C]
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
        for c in items {
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
            top_customers: top,
            top_value_share: if total != 0.0 { top_value / total } else { 0.0 },
            bottom_customers: bottom,
            bottom_profit,
        }
    }
}

/// A tier change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierChange {
    /// When the scoring run saw it.
    pub at: Timestamp,
    /// The tier before (None for the first scoring).
    pub from: Option<Tier>,
    /// The tier after.
    pub to: Tier,
}

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

    #[test]
    fn quantile_tiers_and_flags() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let (t, out) = assign_tiers(&values, &TierRules::default()).unwrap();
        let count = |tier| out.iter().filter(|o| o.0 == tier).count();
        assert_eq!(
            (count(Tier::A), count(Tier::B), count(Tier::C)),
            (20, 30, 50)
        );
        assert_eq!(out.iter().filter(|o| o.1).count(), 5);
        assert_eq!(out.iter().filter(|o| o.2).count(), 20);
        assert_eq!(t.a_cutoff, 81.0);
        assert_eq!(t.tier(1000.0), Tier::A);
    }

    #[test]
    fn customers_without_value_are_never_a_or_b() {
        let mut values = vec![0.0; 90];
        values.extend((1..=10).map(f64::from));
        let (_, out) = assign_tiers(&values, &TierRules::default()).unwrap();
        assert_eq!(out.iter().filter(|o| o.0 == Tier::A).count(), 10);
        assert!(out[..90].iter().all(|o| o.0 == Tier::C && o.2));
        // Half the customers at zero: the B cut-off is zero, and they stay C.
        let mut half = vec![0.0; 50];
        half.extend((1..=50).map(f64::from));
        let (_, out) = assign_tiers(&half, &TierRules::default()).unwrap();
        assert_eq!(out.iter().filter(|o| o.0 == Tier::C).count(), 50);
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
