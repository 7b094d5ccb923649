//! The one value definition: configurable weights on revenue, miles, margin, cost to serve and
//! tenure, versioned and stored once so every unit ranks customers the same way.

use serde::{Deserialize, Serialize};

use crate::Error;

/// How much a customer is worth in a period. Stored once (collection `analytics`, key
/// `value_definition`) and used by every scoring run; change the version when the weights
/// change so scores say which definition produced them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueDefinition {
    /// Version number, part of every score's model version (`value-v<N>`).
    pub version: u32,
    /// A short description of the definition for people.
    pub description: String,
    /// Weight per currency unit of net revenue (revenue minus refunds).
    pub revenue_weight: f64,
    /// Weight per mile (or other volume unit) flown or consumed.
    pub miles_weight: f64,
    /// Weight per currency unit of margin (net revenue minus cost to serve and compensation).
    pub margin_weight: f64,
    /// Weight per currency unit of cost to serve including compensation (subtracted).
    pub cost_to_serve_weight: f64,
    /// Weight per year of tenure (time since the first interaction).
    pub tenure_weight: f64,
    /// Share of last year's annual value carried into this year's (0 to below 1), so steady
    /// customers are recognised by their long-term value.
    pub carry_over: f64,
    /// Share of revenue that is profit before cost to serve, applied to lifetime value.
    pub gross_margin: f64,
}

impl Default for ValueDefinition {
    /// Version 1: ticket price and miles both count (1 per currency unit of net revenue,
    /// 0.05 per mile), cost to serve and compensation are subtracted, half of last year's
    /// value carries over; lifetime value on a 30% gross margin.
    fn default() -> Self {
        ValueDefinition {
            version: 1,
            description:
                "net revenue + 0.05 per mile - cost to serve incl. compensation; 50% carry-over"
                    .into(),
            revenue_weight: 1.0,
            miles_weight: 0.05,
            margin_weight: 0.0,
            cost_to_serve_weight: 1.0,
            tenure_weight: 0.0,
            carry_over: 0.5,
            gross_margin: 0.3,
        }
    }
}

/// What a customer did in one period, in major currency units.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PeriodTotals {
    /// Revenue.
    pub revenue: f64,
    /// Refunds given back.
    pub refunds: f64,
    /// Cost to serve.
    pub cost_to_serve: f64,
    /// Compensation granted.
    pub compensation: f64,
    /// Miles (volume).
    pub miles: f64,
}

impl PeriodTotals {
    /// Profitability: revenue minus refunds, cost to serve and compensation.
    pub fn profit(&self) -> f64 {
        self.revenue - self.refunds - self.cost_to_serve - self.compensation
    }
}

impl ValueDefinition {
    /// The model-version fragment, e.g. `value-v1`.
    pub fn tag(&self) -> String {
        format!("value-v{}", self.version)
    }

    /// Checks the weights; names the field at fault.
    pub fn validate(&self) -> Result<(), Error> {
        for (name, v) in [
            ("revenue_weight", self.revenue_weight),
            ("miles_weight", self.miles_weight),
            ("margin_weight", self.margin_weight),
            ("cost_to_serve_weight", self.cost_to_serve_weight),
            ("tenure_weight", self.tenure_weight),
        ] {
            if !v.is_finite() {
                return Err(Error::InvalidConfig(format!(
                    "value definition: {name} must be a number, got {v}"
                )));
            }
        }
        if !(0.0..1.0).contains(&self.carry_over) {
            return Err(Error::InvalidConfig(format!(
                "value definition: carry_over must be in [0, 1), got {}",
                self.carry_over
            )));
        }
        if !(0.0..=1.0).contains(&self.gross_margin) {
            return Err(Error::InvalidConfig(format!(
                "value definition: gross_margin must be in [0, 1], got {}",
                self.gross_margin
            )));
        }
        Ok(())
    }

    /// The value of one period's activity for a customer with `tenure_years` of tenure.
    pub fn value(&self, p: &PeriodTotals, tenure_years: f64) -> f64 {
        let net = p.revenue - p.refunds;
        let cost = p.cost_to_serve + p.compensation;
        self.revenue_weight * net + self.miles_weight * p.miles + self.margin_weight * (net - cost)
            - self.cost_to_serve_weight * cost
            + self.tenure_weight * tenure_years
    }
}

/// Annual value with carry-over: this year's value plus `carry_over` times last year's annual
/// value, recursively (`values` newest first).
pub fn annual_value_with_carry_over(values: &[f64], carry_over: f64) -> f64 {
    values
        .iter()
        .rev()
        .fold(0.0, |carried, v| v + carry_over * carried)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_weights_revenue_miles_and_cost() {
        let def = ValueDefinition::default();
        def.validate().unwrap();
        let p = PeriodTotals {
            revenue: 1000.0,
            refunds: 100.0,
            cost_to_serve: 50.0,
            compensation: 150.0,
            miles: 2000.0,
        };
        assert_eq!(p.profit(), 700.0);
        assert_eq!(def.value(&p, 3.0), 900.0 + 100.0 - 200.0);
        let tenure = ValueDefinition {
            tenure_weight: 10.0,
            ..def.clone()
        };
        assert_eq!(tenure.value(&p, 3.0), 830.0);
        assert!(
            ValueDefinition {
                carry_over: 1.0,
                ..def
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn carry_over_recognises_steady_customers() {
        // A steady customer (100 a year) versus a one-off high roller (250 once, last year).
        let steady = annual_value_with_carry_over(&[100.0, 100.0, 100.0], 0.5);
        assert_eq!(steady, 100.0 + 50.0 + 25.0);
        let one_off = annual_value_with_carry_over(&[0.0, 250.0, 0.0], 0.5);
        assert!(steady > one_off);
    }

    #[test]
    fn definition_round_trips_through_json() {
        let def = ValueDefinition::default();
        let back: ValueDefinition =
            serde_json::from_str(&serde_json::to_string(&def).unwrap()).unwrap();
        assert_eq!(back, def);
    }
}
