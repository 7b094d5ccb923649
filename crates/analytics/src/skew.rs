//! Value skew: the Lorenz curve, the Gini coefficient, the share of value from the top 1, 2,
//! 5, 10 and 20% of customers, and a steep/shallow verdict. Skew is steep when the top 2% of
//! customers bring half the value and shallow when it takes the top 20%; the verdict splits
//! at the geometric middle of the two (about 6.3%), and the share that brings half the value
//! is reported so the reader sees where it sits.

use serde::{Deserialize, Serialize};

use rapport_core::Timestamp;

use crate::Error;

/// Steep or shallow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkewVerdict {
    /// A few customers bring most of the value: focus on the top pays.
    Steep,
    /// Value is spread widely.
    Shallow,
}

impl SkewVerdict {
    /// `steep` or `shallow`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SkewVerdict::Steep => "steep",
            SkewVerdict::Shallow => "shallow",
        }
    }
}

/// The skew of one value measure across customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkewSummary {
    /// When computed.
    pub at: Timestamp,
    /// Which measure (e.g. `value` or `profit`).
    pub measure: String,
    /// Customers counted.
    pub customers: u64,
    /// Customers with a negative value (counted as zero in the shares).
    pub negative_customers: u64,
    /// Total of the positive values.
    pub total: f64,
    /// Gini coefficient of the values (negatives as zero), 0 = equal, 1 = one has all.
    pub gini: f64,
    /// (share of customers from the top, share of the value they bring) for 1, 2, 5, 10, 20%.
    pub top_shares: Vec<(f64, f64)>,
    /// The smallest share of customers (from the top) that brings half of the value.
    pub share_for_half: f64,
    /// Steep or shallow.
    pub verdict: SkewVerdict,
    /// The Lorenz curve: (share of customers from the bottom, share of value), 0 to 1 in 1% steps.
    pub lorenz: Vec<(f64, f64)>,
}

const TOPS: [f64; 5] = [0.01, 0.02, 0.05, 0.10, 0.20];
/// Geometric middle of 2% (steep) and 20% (shallow).
const STEEP_BELOW: f64 = 0.063_245_553;

/// The skew of `values`.
pub fn skew(values: &[f64], measure: &str, at: Timestamp) -> Result<SkewSummary, Error> {
    let mut v: Vec<f64> = values
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| x.max(0.0))
        .collect();
    if v.is_empty() {
        return Err(Error::Empty {
            what: format!("no {measure} values to measure skew on"),
        });
    }
    let negative_customers = values.iter().filter(|x| **x < 0.0).count() as u64;
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let total: f64 = v.iter().sum();
    if total <= 0.0 {
        return Err(Error::Empty {
            what: format!("no positive {measure}: skew is undefined"),
        });
    }
    let mut weighted = 0.0;
    for (i, x) in v.iter().enumerate() {
        weighted += (2.0 * (i as f64 + 1.0) - n as f64 - 1.0) * x;
    }
    let gini = weighted / (n as f64 * total);
    // Cumulative sums from the bottom.
    let mut cumulative = Vec::with_capacity(n + 1);
    cumulative.push(0.0);
    let mut s = 0.0;
    for x in &v {
        s += x;
        cumulative.push(s);
    }
    let top_sum = |k: usize| total - cumulative[n - k.min(n)];
    let top_shares = TOPS
        .iter()
        .map(|&q| {
            let k = ((q * n as f64).ceil() as usize).clamp(1, n);
            (q, top_sum(k) / total)
        })
        .collect();
    // Smallest k with top_sum(k) >= total / 2.
    let (mut lo, mut hi) = (1usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if top_sum(mid) >= total / 2.0 {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let share_for_half = lo as f64 / n as f64;
    let lorenz = (0..=100)
        .map(|j| {
            let p = j as f64 / 100.0;
            let k = ((p * n as f64).round() as usize).min(n);
            (p, cumulative[k] / total)
        })
        .collect();
    Ok(SkewSummary {
        at,
        measure: measure.to_string(),
        customers: n as u64,
        negative_customers,
        total,
        gini,
        top_shares,
        share_for_half,
        verdict: if share_for_half <= STEEP_BELOW {
            SkewVerdict::Steep
        } else {
            SkewVerdict::Shallow
        },
        lorenz,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_have_no_skew() {
        let s = skew(&[5.0; 100], "value", Timestamp(0)).unwrap();
        assert!(s.gini.abs() < 1e-12);
        assert!((s.top_shares[4].1 - 0.2).abs() < 1e-12);
        assert_eq!(s.share_for_half, 0.5);
        assert_eq!(s.verdict, SkewVerdict::Shallow);
        assert!((s.lorenz[50].1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_few_big_customers_make_it_steep() {
        // 2 customers of 100 bring 60% of the value.
        let mut v = vec![1.0; 98];
        v.push(73.5);
        v.push(73.5);
        let s = skew(&v, "value", Timestamp(0)).unwrap();
        assert_eq!(s.share_for_half, 0.02);
        assert_eq!(s.verdict, SkewVerdict::Steep);
        assert!((s.top_shares[1].1 - 0.6).abs() < 1e-9);
        assert!(s.gini > 0.5);
    }

    #[test]
    fn negatives_count_as_zero_and_all_zero_is_an_error() {
        let s = skew(&[-10.0, 0.0, 10.0], "profit", Timestamp(0)).unwrap();
        assert_eq!(s.negative_customers, 1);
        assert!((s.gini - 2.0 / 3.0).abs() < 1e-12);
        assert!(skew(&[0.0, -1.0], "profit", Timestamp(0)).is_err());
    }
}
