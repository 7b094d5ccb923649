//! The customer department's view of customer equity: the sum of the customers' lifetime
//! values by portfolio and tier, its change since the previous scoring run, the equity share
//! of a market, and segment lifetime value. Pure functions over score rows; money in the
//! reporting currency (major units).

use std::collections::BTreeMap;

use rapport_core::{CustomerId, Tier, Timestamp};
use serde::{Deserialize, Serialize};

/// The portfolio name used for customers not in any portfolio.
pub const UNASSIGNED: &str = "(unassigned)";

/// One scored customer, as the equity view reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    /// The customer.
    pub customer: CustomerId,
    /// Its portfolio, if assigned.
    pub portfolio: Option<String>,
    /// Its tier.
    pub tier: Tier,
    /// Its segment.
    pub segment: String,
    /// Its lifetime value.
    pub clv: f64,
}

/// Equity of one portfolio and tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquityCell {
    /// Portfolio id ([`UNASSIGNED`] for none).
    pub portfolio: String,
    /// Tier.
    pub tier: Tier,
    /// Customers.
    pub customers: u64,
    /// Sum of their lifetime values.
    pub equity: f64,
}

/// Customer equity after one scoring run, by portfolio and tier: kept per run so the next
/// run can say what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquitySnapshot {
    /// When the scoring run scored.
    pub scored_at: Timestamp,
    /// The run's model version.
    pub model_version: String,
    /// Customers counted.
    pub customers: u64,
    /// Customer equity: the sum of every lifetime value.
    pub total: f64,
    /// By portfolio and tier, sorted.
    pub cells: Vec<EquityCell>,
}

/// Adds up the rows into a snapshot.
pub fn equity_snapshot<'a>(
    rows: impl IntoIterator<Item = &'a ScoreRow>,
    scored_at: Timestamp,
    model_version: &str,
) -> EquitySnapshot {
    let mut tally = EquityTally::default();
    for r in rows {
        tally.add(r.portfolio.as_deref(), r.tier, r.clv);
    }
    tally.snapshot(scored_at, model_version)
}

/// Adds up customers into a snapshot one at a time, without a row per customer: what a
/// million scored customers are summed by after every run.
#[derive(Debug, Default)]
pub struct EquityTally {
    /// Customers and equity per portfolio ([`UNASSIGNED`] for none), by tier (A, B, C, D).
    cells: BTreeMap<String, [(u64, f64); 4]>,
    customers: u64,
    total: f64,
}

impl EquityTally {
    /// Counts one customer.
    pub fn add(&mut self, portfolio: Option<&str>, tier: Tier, clv: f64) {
        let port = portfolio.unwrap_or(UNASSIGNED);
        let tiers = match self.cells.get_mut(port) {
            Some(t) => t,
            None => self.cells.entry(port.to_string()).or_default(),
        };
        let c = &mut tiers[tier as usize];
        c.0 += 1;
        c.1 += clv;
        self.customers += 1;
        self.total += clv;
    }

    /// The snapshot of the customers counted.
    pub fn snapshot(self, scored_at: Timestamp, model_version: &str) -> EquitySnapshot {
        let mut cells = Vec::new();
        for (portfolio, tiers) in self.cells {
            for (tier, (customers, equity)) in
                [Tier::A, Tier::B, Tier::C, Tier::D].into_iter().zip(tiers)
            {
                if customers > 0 {
                    cells.push(EquityCell {
                        portfolio: portfolio.clone(),
                        tier,
                        customers,
                        equity,
                    });
                }
            }
        }
        EquitySnapshot {
            scored_at,
            model_version: model_version.to_string(),
            customers: self.customers,
            total: self.total,
            cells,
        }
    }
}

impl EquitySnapshot {
    /// Equity by portfolio.
    pub fn by_portfolio(&self) -> BTreeMap<&str, f64> {
        let mut out = BTreeMap::new();
        for c in &self.cells {
            *out.entry(c.portfolio.as_str()).or_default() += c.equity;
        }
        out
    }

    /// Equity by tier.
    pub fn by_tier(&self) -> BTreeMap<Tier, f64> {
        let mut out = BTreeMap::new();
        for c in &self.cells {
            *out.entry(c.tier).or_default() += c.equity;
        }
        out
    }
}

/// The change of one portfolio and tier's equity between two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquityChange {
    /// Portfolio id.
    pub portfolio: String,
    /// Tier.
    pub tier: Tier,
    /// Equity now.
    pub equity: f64,
    /// Equity at the previous run (0 when the cell was empty).
    pub previous: f64,
    /// `equity - previous`.
    pub change: f64,
    /// Customers now and then.
    pub customers: (u64, u64),
}

/// The change of every portfolio and tier cell present in either snapshot, sorted.
pub fn equity_change(current: &EquitySnapshot, previous: &EquitySnapshot) -> Vec<EquityChange> {
    // (customers, equity) now and at the previous run.
    type Counts = (u64, f64);
    let mut cells: BTreeMap<(&str, Tier), (Counts, Counts)> = BTreeMap::new();
    for c in &current.cells {
        cells.entry((&c.portfolio, c.tier)).or_default().0 = (c.customers, c.equity);
    }
    for c in &previous.cells {
        cells.entry((&c.portfolio, c.tier)).or_default().1 = (c.customers, c.equity);
    }
    cells
        .into_iter()
        .map(|((portfolio, tier), ((n, now), (m, then)))| EquityChange {
            portfolio: portfolio.to_string(),
            tier,
            equity: now,
            previous: then,
            change: now - then,
            customers: (n, m),
        })
        .collect()
}

/// Why an equity share cannot be given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    /// The market size must be positive and finite.
    #[error("the market's customer equity must be a positive amount, got {0}")]
    BadMarket(f64),
    /// Our equity cannot exceed the market's.
    #[error(
        "our customer equity {ours:.2} exceeds the market's {market:.2}: check the market size"
    )]
    ExceedsMarket {
        /// Ours.
        ours: f64,
        /// The market's.
        market: f64,
    },
}

/// Customer equity share: our equity over the market's (which the company supplies).
pub fn equity_share(ours: f64, market: f64) -> Result<f64, ShareError> {
    if !(market.is_finite() && market > 0.0) {
        return Err(ShareError::BadMarket(market));
    }
    if ours > market {
        return Err(ShareError::ExceedsMarket { ours, market });
    }
    Ok(ours.max(0.0) / market)
}

/// One segment's lifetime value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentValue {
    /// The segment.
    pub segment: String,
    /// Customers in it.
    pub customers: u64,
    /// Their average lifetime value.
    pub average_clv: f64,
    /// Segment lifetime value: average CLV times customers (= the segment's equity).
    pub lifetime_value: f64,
    /// Its share of the whole customer equity (0 when the equity is not positive).
    pub share: f64,
}

/// Segment lifetime values, largest first.
pub fn segment_lifetime_values<'a>(
    rows: impl IntoIterator<Item = &'a ScoreRow>,
) -> Vec<SegmentValue> {
    let mut by: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    let mut total = 0.0;
    for r in rows {
        let e = by.entry(r.segment.as_str()).or_default();
        e.0 += 1;
        e.1 += r.clv;
        total += r.clv;
    }
    let mut out: Vec<SegmentValue> = by
        .into_iter()
        .map(|(segment, (customers, sum))| SegmentValue {
            segment: segment.to_string(),
            customers,
            average_clv: sum / customers as f64,
            lifetime_value: sum,
            share: if total > 0.0 { sum / total } else { 0.0 },
        })
        .collect();
    out.sort_by(|a, b| b.lifetime_value.total_cmp(&a.lifetime_value));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64, portfolio: Option<&str>, tier: Tier, segment: &str, clv: f64) -> ScoreRow {
        ScoreRow {
            customer: CustomerId(id),
            portfolio: portfolio.map(str::to_string),
            tier,
            segment: segment.into(),
            clv,
        }
    }

    #[test]
    fn equity_adds_up_by_portfolio_and_tier_and_changes_between_runs() {
        let before = [
            row(1, Some("premium"), Tier::A, "premium", 1000.0),
            row(2, Some("standard"), Tier::B, "standard", 300.0),
            row(3, None, Tier::C, "standard", 50.0),
        ];
        let after = [
            row(1, Some("premium"), Tier::A, "premium", 1200.0),
            row(2, Some("premium"), Tier::A, "premium", 500.0),
            row(3, Some("standard"), Tier::C, "standard", 40.0),
        ];
        let s0 = equity_snapshot(&before, Timestamp(0), "v1");
        let s1 = equity_snapshot(&after, Timestamp(1), "v2");
        assert_eq!((s0.total, s1.total, s1.customers), (1350.0, 1740.0, 3));
        assert_eq!(s1.by_portfolio().get("premium"), Some(&1700.0));
        assert_eq!(s0.by_portfolio().get(UNASSIGNED), Some(&50.0));
        assert_eq!(s1.by_tier().get(&Tier::A), Some(&1700.0));
        let ch = equity_change(&s1, &s0);
        let cell = |p: &str, t: Tier| ch.iter().find(|c| c.portfolio == p && c.tier == t).unwrap();
        assert_eq!(cell("premium", Tier::A).change, 700.0);
        assert_eq!(cell("premium", Tier::A).customers, (2, 1));
        assert_eq!(cell("standard", Tier::B).change, -300.0);
        assert_eq!(cell(UNASSIGNED, Tier::C).change, -50.0);
        assert_eq!(cell("standard", Tier::C).change, 40.0);
        let sum: f64 = ch.iter().map(|c| c.change).sum();
        assert!((sum - (s1.total - s0.total)).abs() < 1e-9);
    }

    #[test]
    fn share_and_segment_value() {
        assert_eq!(equity_share(250.0, 1000.0), Ok(0.25));
        assert!(matches!(
            equity_share(1.0, 0.0),
            Err(ShareError::BadMarket(_))
        ));
        assert!(matches!(
            equity_share(2.0, 1.0),
            Err(ShareError::ExceedsMarket { .. })
        ));
        let rows = [
            row(1, None, Tier::A, "premium", 900.0),
            row(2, None, Tier::A, "premium", 1100.0),
            row(3, None, Tier::C, "standard", 100.0),
            row(4, None, Tier::C, "standard", 200.0),
            row(5, None, Tier::C, "standard", 300.0),
        ];
        let s = segment_lifetime_values(&rows);
        assert_eq!(s[0].segment, "premium");
        assert_eq!(
            (s[0].customers, s[0].average_clv, s[0].lifetime_value),
            (2, 1000.0, 2000.0)
        );
        assert_eq!(
            (s[1].customers, s[1].average_clv, s[1].lifetime_value),
            (3, 200.0, 600.0)
        );
        assert!((s[0].share - 2000.0 / 2600.0).abs() < 1e-12);
    }
}
