//! Conversion of amounts into the reporting currency at the rate of their day.
//!
//! [`Converter`] is [`ExchangeRates`] laid out for scoring: one table per currency with a
//! factor for every day from its first to its last published day (a day without a published
//! rate holds the nearest earlier one's), so converting an amount is a lookup, not a search.
//! An amount before its currency's first rate, or in a currency without rates, does not
//! convert: the caller gets `None` and reports it; nothing is ever taken 1:1.

use rapport_core::{Currency, ExchangeRates, Money};

/// Amounts into the reporting currency, by day.
#[derive(Debug, Clone)]
pub struct Converter {
    reporting: Currency,
    source: String,
    tables: Vec<Table>,
}

#[derive(Debug, Clone)]
struct Table {
    currency: Currency,
    first_day: i64,
    /// Reporting units per major unit of `currency`, for `first_day + k`.
    factors: Vec<f64>,
    /// 10^minor digits of `currency`.
    minor_per_major: f64,
}

/// A rate at most this many days of published history is laid out densely (about 55 years).
const MAX_SPAN_DAYS: i64 = 20_000;

impl Converter {
    /// The converter of `rates`. Series longer than about 55 years keep their last 55.
    pub fn new(rates: &ExchangeRates) -> Converter {
        let mut tables = Vec::new();
        for s in &rates.series {
            if s.currency == rates.reporting {
                continue;
            }
            let (Some(first), Some(last)) = (s.rates.first(), s.rates.last()) else {
                continue;
            };
            let first_day = first.0.max(last.0 - MAX_SPAN_DAYS);
            let len = (last.0 - first_day + 1).max(1) as usize;
            let mut factors = vec![f64::NAN; len];
            let mut current = f64::NAN;
            let mut next = s.rates.iter().peekable();
            for (k, f) in factors.iter_mut().enumerate() {
                let day = first_day + k as i64;
                while let Some(&&(d, units)) = next.peek() {
                    if d > day {
                        break;
                    }
                    if units.is_finite() && units > 0.0 {
                        current = 1.0 / units;
                    }
                    next.next();
                }
                *f = current;
            }
            tables.push(Table {
                currency: s.currency,
                first_day,
                factors,
                minor_per_major: 10f64.powi(s.currency.minor_digits() as i32),
            });
        }
        Converter {
            reporting: rates.reporting,
            source: rates.source.clone(),
            tables,
        }
    }

    /// A converter that knows only `reporting` (amounts in any other currency do not
    /// convert).
    pub fn reporting_only(reporting: Currency) -> Converter {
        Converter::new(&ExchangeRates::reporting_only(reporting))
    }

    /// The reporting currency.
    pub fn reporting(&self) -> Currency {
        self.reporting
    }

    /// Where the rates came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `money` of `day` in major units of the reporting currency, or `None` when no rate
    /// of its currency was published on or before `day`.
    #[inline]
    pub fn to_reporting(&self, money: Money, day: i64) -> Option<f64> {
        if money.currency == self.reporting {
            return Some(money.as_major_f64());
        }
        let t = self.tables.iter().find(|t| t.currency == money.currency)?;
        let k = day - t.first_day;
        if k < 0 {
            return None;
        }
        let f = *t
            .factors
            .get(k as usize)
            .or_else(|| t.factors.last())
            .filter(|f| f.is_finite())?;
        Some(money.minor as f64 / t.minor_per_major * f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::RateSeries;

    #[test]
    fn amounts_convert_at_the_rate_of_their_day_or_not_at_all() {
        let sek: Currency = "SEK".parse().unwrap();
        let rates = ExchangeRates {
            reporting: Currency::EUR,
            source: "test".into(),
            series: vec![RateSeries {
                currency: sek,
                rates: vec![(100, 10.0), (103, 12.5)],
            }],
        };
        let c = Converter::new(&rates);
        let kr = |minor| Money::new(minor, sek);
        assert_eq!(
            c.to_reporting(Money::new(1234, Currency::EUR), 5),
            Some(12.34)
        );
        assert_eq!(
            c.to_reporting(kr(10_000), 99),
            None,
            "before the first rate"
        );
        assert_eq!(c.to_reporting(kr(10_000), 100), Some(10.0));
        assert_eq!(
            c.to_reporting(kr(10_000), 102),
            Some(10.0),
            "nearest earlier day"
        );
        assert_eq!(c.to_reporting(kr(10_000), 103), Some(8.0));
        assert_eq!(
            c.to_reporting(kr(10_000), 5_000),
            Some(8.0),
            "after the last day"
        );
        assert_eq!(c.to_reporting(Money::new(1, Currency::GBP), 100), None);
        // Every day agrees with the plain search of the rates.
        for day in 90..110 {
            let want = rates.units_per_reporting(sek, day).map(|u| 100.0 / u);
            assert_eq!(c.to_reporting(kr(10_000), day), want, "day {day}");
        }
    }
}
