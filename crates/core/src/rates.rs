//! Exchange rates by day into one reporting currency.
//!
//! A rate is published for some days (working days, for the ECB's reference rates) as units
//! of a currency per unit of the reporting currency (`11.5` SEK per EUR). An amount of a day
//! converts at the rate of that day or, when none was published that day, of the nearest
//! earlier published day. Before a currency's first published day there is no rate: the
//! caller reports it, never converts 1:1.

use serde::{Deserialize, Serialize};

use crate::Currency;

/// Exchange rates by day into one reporting currency, with the source they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeRates {
    /// The currency every report is in.
    pub reporting: Currency,
    /// Where the rates came from (e.g. `ECB euro foreign exchange reference rates`, a file).
    pub source: String,
    /// One series per currency, by currency code.
    pub series: Vec<RateSeries>,
}

/// One currency's published rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateSeries {
    /// The currency.
    pub currency: Currency,
    /// Published days (days since 1970-01-01), ascending, distinct, with the units of
    /// `currency` per unit of the reporting currency on that day (positive, finite).
    pub rates: Vec<(i64, f64)>,
}

impl ExchangeRates {
    /// Rates that know only the reporting currency itself.
    pub fn reporting_only(reporting: Currency) -> ExchangeRates {
        ExchangeRates {
            reporting,
            source: format!("none (amounts in {reporting} only)"),
            series: Vec::new(),
        }
    }

    /// Units of `currency` per unit of the reporting currency on `day` (the nearest earlier
    /// published day's), or `None` when no rate was published on or before `day`.
    pub fn units_per_reporting(&self, currency: Currency, day: i64) -> Option<f64> {
        if currency == self.reporting {
            return Some(1.0);
        }
        let s = self.series.iter().find(|s| s.currency == currency)?;
        let k = s.rates.partition_point(|(d, _)| *d <= day);
        k.checked_sub(1).map(|k| s.rates[k].1)
    }

    /// Adds (or replaces) the rates of `other` day by day, keeping this one's reporting
    /// currency; `other` must report in the same currency.
    pub fn merge(&mut self, other: ExchangeRates) -> bool {
        if other.reporting != self.reporting {
            return false;
        }
        for s in other.series {
            match self.series.iter_mut().find(|x| x.currency == s.currency) {
                Some(mine) => {
                    let mut all: std::collections::BTreeMap<i64, f64> =
                        mine.rates.iter().copied().collect();
                    all.extend(s.rates);
                    mine.rates = all.into_iter().collect();
                }
                None => self.series.push(s),
            }
        }
        self.series.sort_by_key(|s| s.currency);
        self.source = other.source;
        true
    }

    /// Published days and currencies: (currencies, first day, last day) over all series.
    pub fn coverage(&self) -> Option<(usize, i64, i64)> {
        let first = self
            .series
            .iter()
            .filter_map(|s| s.rates.first())
            .map(|r| r.0)
            .min()?;
        let last = self
            .series
            .iter()
            .filter_map(|s| s.rates.last())
            .map(|r| r.0)
            .max()?;
        Some((self.series.len(), first, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sek() -> Currency {
        "SEK".parse().unwrap()
    }

    #[test]
    fn a_day_without_a_rate_takes_the_nearest_earlier_published_one() {
        let r = ExchangeRates {
            reporting: Currency::EUR,
            source: "test".into(),
            series: vec![RateSeries {
                currency: sek(),
                rates: vec![(10, 11.0), (13, 12.0)],
            }],
        };
        assert_eq!(r.units_per_reporting(Currency::EUR, 0), Some(1.0));
        assert_eq!(
            r.units_per_reporting(sek(), 9),
            None,
            "before the first rate"
        );
        assert_eq!(r.units_per_reporting(sek(), 10), Some(11.0));
        assert_eq!(r.units_per_reporting(sek(), 12), Some(11.0), "weekend");
        assert_eq!(r.units_per_reporting(sek(), 13), Some(12.0));
        assert_eq!(r.units_per_reporting(sek(), 400), Some(12.0));
        assert_eq!(
            r.units_per_reporting(Currency::GBP, 400),
            None,
            "unknown currency"
        );
    }

    #[test]
    fn merging_replaces_the_same_days_and_keeps_the_others() {
        let one = |rates: Vec<(i64, f64)>| ExchangeRates {
            reporting: Currency::EUR,
            source: "x".into(),
            series: vec![RateSeries {
                currency: sek(),
                rates,
            }],
        };
        let mut a = one(vec![(1, 10.0), (2, 10.5)]);
        assert!(a.merge(one(vec![(2, 11.0), (3, 11.5)])));
        assert_eq!(a.series[0].rates, vec![(1, 10.0), (2, 11.0), (3, 11.5)]);
        let mut usd = ExchangeRates::reporting_only(Currency::USD);
        assert!(
            !usd.merge(a.clone()),
            "another reporting currency is refused"
        );
    }
}
