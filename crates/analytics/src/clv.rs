//! Customer lifetime value: discounted BG/NBD + Gamma-Gamma value for non-contractual
//! customers, retention-based value for contractual products, customer equity, equity share
//! and segment lifetime value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::bgnbd::BgNbd;
use crate::gamma_gamma::GammaGamma;
use crate::rfm::Rfm;

/// How to discount future value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvOptions {
    /// Number of periods in the horizon.
    pub periods: u32,
    /// Length of one period in the model's time unit (e.g. 13 weeks for quarters).
    pub period_length: f64,
    /// Discount rate per period (e.g. 0.025 a quarter, about 10% a year).
    pub discount_rate: f64,
    /// Share of spend that is profit (1 for revenue value).
    pub margin: f64,
}

impl Default for ClvOptions {
    /// Three years in quarters of 13 weeks, 2.5% a quarter, revenue value.
    fn default() -> Self {
        ClvOptions {
            periods: 12,
            period_length: 13.0,
            discount_rate: 0.025,
            margin: 1.0,
        }
    }
}

impl ClvOptions {
    /// The horizon in the model's time unit.
    pub fn horizon(&self) -> f64 {
        self.periods as f64 * self.period_length
    }
}

/// Discounted lifetime value of a customer over the horizon: the expected transactions of
/// each period (BG/NBD, conditional on the history) times the expected spend per transaction
/// (Gamma-Gamma), times the margin, discounted at the end of each period.
/// Also returns the undiscounted expected transactions over the whole horizon.
pub fn discounted_clv(
    transactions: &BgNbd,
    spend: &GammaGamma,
    d: &Rfm,
    opts: &ClvOptions,
) -> Result<(f64, f64), Error> {
    let per_transaction = spend.conditional_expected_spend(d.frequency, d.monetary);
    discounted_transactions(transactions, d, opts)
        .map(|(units, expected)| (units * per_transaction, expected))
}

/// Discounted expected transactions over the horizon, times the margin (multiply by the
/// spend per transaction for a lifetime value), and the undiscounted expected transactions.
pub fn discounted_transactions(
    transactions: &BgNbd,
    d: &Rfm,
    opts: &ClvOptions,
) -> Result<(f64, f64), Error> {
    let mut previous = 0.0;
    let mut value = 0.0;
    let mut discount = 1.0;
    for k in 1..=opts.periods {
        let cumulative =
            transactions.conditional_expected_transactions(d, k as f64 * opts.period_length)?;
        discount /= 1.0 + opts.discount_rate;
        // Expected transactions only grow; clamp rounding noise.
        value += (cumulative - previous).max(0.0) * opts.margin * discount;
        previous = cumulative;
    }
    Ok((value, previous))
}

/// Retention-based lifetime value for contractual products: a margin `margin` per period,
/// kept with probability `retention` each period, discounted at `discount_rate` per period,
/// the first margin received now. `periods = None` for an unlimited horizon
/// (m (1 + d) / (1 + d - r)).
pub fn retention_clv(
    margin: f64,
    retention: f64,
    discount_rate: f64,
    periods: Option<u32>,
) -> Result<f64, Error> {
    if !(0.0..=1.0).contains(&retention) {
        return Err(Error::InvalidConfig(format!(
            "retention rate must be between 0 and 1, got {retention}"
        )));
    }
    if discount_rate <= -1.0 || !discount_rate.is_finite() {
        return Err(Error::InvalidConfig(format!(
            "discount rate must be above -1, got {discount_rate}"
        )));
    }
    match periods {
        None => {
            if retention >= 1.0 + discount_rate {
                return Err(Error::InvalidConfig(
                    "an unlimited horizon needs retention below 1 + discount rate".into(),
                ));
            }
            Ok(margin * (1.0 + discount_rate) / (1.0 + discount_rate - retention))
        }
        Some(n) => {
            let factor = retention / (1.0 + discount_rate);
            let mut value = 0.0;
            let mut weight = 1.0;
            for _ in 0..n {
                value += margin * weight;
                weight *= factor;
            }
            Ok(value)
        }
    }
}

/// Customer equity: the sum of the customers' lifetime values.
pub fn customer_equity<I: IntoIterator<Item = f64>>(clvs: I) -> f64 {
    clvs.into_iter().sum()
}

/// Customer equity share: our customer equity over the market's.
pub fn equity_share(ours: f64, market_total: f64) -> Result<f64, Error> {
    if market_total <= 0.0 || !market_total.is_finite() {
        return Err(Error::InvalidConfig(format!(
            "the market's customer equity must be positive, got {market_total}"
        )));
    }
    if ours > market_total {
        return Err(Error::InvalidConfig(format!(
            "our customer equity {ours} exceeds the market's {market_total}"
        )));
    }
    Ok(ours / market_total)
}

/// Lifetime value of one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentValue {
    /// Segment name.
    pub segment: String,
    /// Customers in it.
    pub customers: u64,
    /// Sum of their lifetime values (the segment's customer equity).
    pub total_clv: f64,
    /// Mean lifetime value.
    pub mean_clv: f64,
    /// Share of the whole customer equity.
    pub equity_share: f64,
}

/// Segment lifetime values from (segment, CLV) pairs, largest segment equity first.
pub fn segment_values<'a, I: IntoIterator<Item = (&'a str, f64)>>(pairs: I) -> Vec<SegmentValue> {
    let mut by: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for (s, v) in pairs {
        let e = by.entry(s).or_default();
        e.0 += 1;
        e.1 += v;
    }
    let total: f64 = by.values().map(|v| v.1).sum();
    let mut out: Vec<SegmentValue> = by
        .into_iter()
        .map(|(s, (n, sum))| SegmentValue {
            segment: s.to_string(),
            customers: n,
            total_clv: sum,
            mean_clv: sum / n as f64,
            equity_share: if total != 0.0 { sum / total } else { 0.0 },
        })
        .collect();
    out.sort_by(|a, b| b.total_clv.total_cmp(&a.total_clv));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BG: BgNbd = BgNbd {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };
    const GG: GammaGamma = GammaGamma {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };

    #[test]
    fn clv_without_discount_is_transactions_times_spend() {
        let d = Rfm {
            frequency: 4,
            recency: 30.0,
            age: 38.0,
            monetary: 30.0,
        };
        let opts = ClvOptions {
            periods: 3,
            period_length: 13.0,
            discount_rate: 0.0,
            margin: 1.0,
        };
        let (v, n) = discounted_clv(&BG, &GG, &d, &opts).unwrap();
        let e = BG.conditional_expected_transactions(&d, 39.0).unwrap();
        assert!((n - e).abs() < 1e-12);
        assert!((v - e * GG.conditional_expected_spend(4, 30.0)).abs() < 1e-9);
        let discounted = discounted_clv(
            &BG,
            &GG,
            &d,
            &ClvOptions {
                discount_rate: 0.05,
                ..opts
            },
        )
        .unwrap();
        assert!(discounted.0 < v && discounted.0 > 0.8 * v);
        // A customer silent for 30 weeks is worth less than one who just bought.
        let silent = Rfm { recency: 8.0, ..d };
        assert!(discounted_clv(&BG, &GG, &silent, &opts).unwrap().0 < v / 2.0);
    }

    #[test]
    fn retention_clv_matches_the_closed_form() {
        // m = 100, r = 0.8, d = 0.1: 100 * 1.1 / 0.3 = 366.67
        let inf = retention_clv(100.0, 0.8, 0.1, None).unwrap();
        assert!((inf - 366.666_666).abs() < 1e-3);
        let long = retention_clv(100.0, 0.8, 0.1, Some(500)).unwrap();
        assert!((long - inf).abs() < 1e-6);
        assert_eq!(retention_clv(100.0, 0.8, 0.1, Some(1)).unwrap(), 100.0);
        assert!(retention_clv(100.0, 1.5, 0.1, None).is_err());
    }

    #[test]
    fn equity_share_and_segments() {
        assert_eq!(customer_equity([1.0, 2.0, 3.0]), 6.0);
        assert_eq!(equity_share(25.0, 100.0).unwrap(), 0.25);
        assert!(equity_share(1.0, 0.0).is_err());
        let s = segment_values([("premium", 90.0), ("standard", 5.0), ("premium", 5.0)]);
        assert_eq!(s[0].segment, "premium");
        assert_eq!(s[0].customers, 2);
        assert!((s[0].equity_share - 0.95).abs() < 1e-12);
    }
}
