//! Recency-frequency-monetary summaries, the input of the lifetime-value models, and how to
//! build them from a transaction log with a calibration period and an optional holdout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One customer's calibration-period summary in the models' time unit (weeks for CDNOW).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rfm {
    /// Repeat transactions: distinct transaction days after the first.
    pub frequency: u32,
    /// Time from the first to the last transaction (0 without repeats).
    pub recency: f64,
    /// Time from the first transaction to the end of the calibration period (`T`).
    pub age: f64,
    /// Average spend of the repeat transactions (0 without repeats).
    pub monetary: f64,
}

impl Rfm {
    /// A summary without spend.
    pub fn new(frequency: u32, recency: f64, age: f64) -> Rfm {
        Rfm {
            frequency,
            recency,
            age,
            monetary: 0.0,
        }
    }

    /// Why this summary cannot be used, if it cannot: names the field at fault.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if !self.age.is_finite() || self.age <= 0.0 {
            return Some(("T", format!("must be a positive number, got {}", self.age)));
        }
        if !self.recency.is_finite() || self.recency < 0.0 {
            return Some((
                "recency",
                format!("must be zero or positive, got {}", self.recency),
            ));
        }
        if self.recency > self.age * (1.0 + 1e-9) {
            return Some((
                "recency",
                format!("{} is greater than T = {}", self.recency, self.age),
            ));
        }
        if self.frequency > 0 && self.recency <= 0.0 {
            return Some((
                "recency",
                "must be positive when frequency is positive".to_string(),
            ));
        }
        if !self.monetary.is_finite() || self.monetary < 0.0 {
            return Some((
                "monetary_value",
                format!("must be zero or positive, got {}", self.monetary),
            ));
        }
        None
    }
}

/// One transaction: who, which day (any day numbering, e.g. days since 1970-01-01), how much.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayTransaction<K> {
    /// The customer.
    pub customer: K,
    /// Day number.
    pub day: i64,
    /// Amount spent.
    pub amount: f64,
}

/// How to cut a transaction log into a calibration period and a holdout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Periods {
    /// Last day of the calibration period (inclusive).
    pub calibration_end: i64,
    /// Last day of the holdout period (inclusive), if any.
    pub holdout_end: Option<i64>,
    /// Days per model time unit: 1 (day), 7 (week) or 365.25 / 12 (month).
    pub unit_days: f64,
}

/// A customer's calibration summary and what they did in the holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary<K> {
    /// The customer.
    pub customer: K,
    /// Calibration summary.
    pub rfm: Rfm,
    /// Distinct transaction days in the holdout.
    pub holdout_transactions: u32,
    /// Spend in the holdout.
    pub holdout_spend: f64,
}

/// The summaries plus what was left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summaries<K> {
    /// One per customer whose first transaction is in the calibration period, by customer.
    pub customers: Vec<CustomerSummary<K>>,
    /// Customers whose first transaction came after the calibration end (not modelled).
    pub first_seen_after_calibration: usize,
    /// Length of the holdout in model time units (0 without a holdout).
    pub holdout_length: f64,
}

/// Summarises a transaction log: several transactions of a customer on one day count as one
/// transaction whose amount is their sum (as in the published CDNOW analyses).
pub fn summarize<K: Ord + Clone>(
    transactions: &[DayTransaction<K>],
    periods: &Periods,
) -> Summaries<K> {
    // customer -> day -> amount
    let mut by_customer: BTreeMap<&K, BTreeMap<i64, f64>> = BTreeMap::new();
    for t in transactions {
        *by_customer
            .entry(&t.customer)
            .or_default()
            .entry(t.day)
            .or_insert(0.0) += t.amount;
    }
    let unit = periods.unit_days;
    let mut customers = Vec::with_capacity(by_customer.len());
    let mut late = 0;
    for (k, days) in by_customer {
        let Some((&first, _)) = days.iter().next() else {
            continue;
        };
        if first > periods.calibration_end {
            late += 1;
            continue;
        }
        let mut frequency = 0u32;
        let mut last = first;
        let mut spend = 0.0;
        let mut holdout_transactions = 0u32;
        let mut holdout_spend = 0.0;
        for (&d, &amount) in days.iter().skip(1) {
            if d <= periods.calibration_end {
                frequency += 1;
                last = d;
                spend += amount;
            } else if periods.holdout_end.is_some_and(|h| d <= h) {
                holdout_transactions += 1;
                holdout_spend += amount;
            }
        }
        let rfm = Rfm {
            frequency,
            recency: (last - first) as f64 / unit,
            age: (periods.calibration_end - first) as f64 / unit,
            monetary: if frequency > 0 {
                spend / frequency as f64
            } else {
                0.0
            },
        };
        customers.push(CustomerSummary {
            customer: k.clone(),
            rfm,
            holdout_transactions,
            holdout_spend,
        });
    }
    Summaries {
        customers,
        first_seen_after_calibration: late,
        holdout_length: periods
            .holdout_end
            .map(|h| (h - periods.calibration_end) as f64 / unit)
            .unwrap_or(0.0),
    }
}

/// Rows with identical (frequency, recency, age) merged with a weight, so a likelihood is
/// evaluated once per distinct row.
pub(crate) fn weighted_rows(data: &[Rfm]) -> Vec<(Rfm, f64)> {
    let mut keys: Vec<(u32, u64, u64)> = data
        .iter()
        .map(|d| (d.frequency, d.recency.to_bits(), d.age.to_bits()))
        .collect();
    keys.sort_unstable();
    let mut out: Vec<(Rfm, f64)> = Vec::new();
    for k in keys {
        match out.last_mut() {
            Some((r, w))
                if r.frequency == k.0 && r.recency.to_bits() == k.1 && r.age.to_bits() == k.2 =>
            {
                *w += 1.0
            }
            _ => out.push((Rfm::new(k.0, f64::from_bits(k.1), f64::from_bits(k.2)), 1.0)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_day_purchases_count_once_and_holdout_is_split() {
        let tx = |c: &str, day: i64, amount: f64| DayTransaction {
            customer: c.to_string(),
            day,
            amount,
        };
        let log = vec![
            tx("a", 0, 10.0),
            tx("a", 0, 5.0),
            tx("a", 7, 20.0),
            tx("a", 7, 2.0),
            tx("a", 14, 30.0),
            tx("a", 30, 99.0),
            tx("b", 21, 1.0),
            tx("c", 40, 1.0),
        ];
        let s = summarize(
            &log,
            &Periods {
                calibration_end: 28,
                holdout_end: Some(56),
                unit_days: 7.0,
            },
        );
        assert_eq!(s.first_seen_after_calibration, 1);
        assert_eq!(s.holdout_length, 4.0);
        let a = &s.customers[0];
        assert_eq!(a.rfm.frequency, 2);
        assert_eq!(a.rfm.recency, 2.0);
        assert_eq!(a.rfm.age, 4.0);
        assert_eq!(a.rfm.monetary, 26.0);
        assert_eq!(a.holdout_transactions, 1);
        let b = &s.customers[1];
        assert_eq!((b.rfm.frequency, b.rfm.recency, b.rfm.age), (0, 0.0, 1.0));
    }

    #[test]
    fn problems_name_the_field() {
        assert_eq!(Rfm::new(1, 5.0, 4.0).problem().unwrap().0, "recency");
        assert_eq!(Rfm::new(0, 0.0, 0.0).problem().unwrap().0, "T");
        assert!(Rfm::new(2, 3.0, 4.0).problem().is_none());
    }
}
