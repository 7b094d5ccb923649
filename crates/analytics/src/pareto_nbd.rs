//! The Pareto/NBD model (Schmittlein, Morrison and Colombo 1987): while alive a customer buys
//! at a Poisson rate λ ~ Gamma(r, α) and has an exponential lifetime with rate μ ~ Gamma(s, β).
//! Likelihood as in Fader and Hardie's note "A note on deriving the Pareto/NBD model".

use serde::{Deserialize, Serialize};

use crate::bgnbd::Fit;
use crate::optimize::{FitOptions, nelder_mead};
use crate::rfm::{Rfm, weighted_rows};
use crate::special::{hyp2f1, ln_gamma, log_add_exp, log_sub_exp};
use crate::{Error, check_rows};

/// Fitted Pareto/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbd {
    /// Shape of the purchase-rate gamma distribution.
    pub r: f64,
    /// Rate of the purchase-rate gamma distribution.
    pub alpha: f64,
    /// Shape of the drop-out-rate gamma distribution.
    pub s: f64,
    /// Rate of the drop-out-rate gamma distribution.
    pub beta: f64,
}

const MAX_SERIES_TERMS: usize = 20_000;

impl ParetoNbd {
    /// Fits by maximum likelihood; errors when the optimiser does not converge.
    pub fn fit(data: &[Rfm], opts: &FitOptions) -> Result<Fit<ParetoNbd>, Error> {
        check_rows(data)?;
        let rows = weighted_rows(data);
        let objective = |v: &[f64]| {
            let m = ParetoNbd {
                r: v[0].exp(),
                alpha: v[1].exp(),
                s: v[2].exp(),
                beta: v[3].exp(),
            };
            match m.weighted_log_likelihood(&rows) {
                Some(ll) => -ll,
                None => f64::INFINITY,
            }
        };
        let mean_age = data.iter().map(|d| d.age).sum::<f64>() / data.len() as f64;
        let start = mean_age.max(1e-3).ln() - 1.0;
        let x0 = [0.0, start, 0.0, start];
        let m = nelder_mead(objective, &x0, opts).map_err(|e| Error::NotConverged {
            model: "Pareto/NBD",
            reason: e.reason,
            best_log_likelihood: -e.best.value,
        })?;
        crate::check_interior("Pareto/NBD", &["r", "alpha", "s", "beta"], &m.x, -m.value)?;
        Ok(Fit {
            params: ParetoNbd {
                r: m.x[0].exp(),
                alpha: m.x[1].exp(),
                s: m.x[2].exp(),
                beta: m.x[3].exp(),
            },
            log_likelihood: -m.value,
            customers: data.len(),
            evaluations: m.evaluations,
        })
    }

    /// The log-likelihood, or `None` where the hypergeometric series does not converge.
    pub fn log_likelihood(&self, data: &[Rfm]) -> Option<f64> {
        self.weighted_log_likelihood(&weighted_rows(data))
    }

    fn weighted_log_likelihood(&self, rows: &[(Rfm, f64)]) -> Option<f64> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let base = -ln_gamma(r) + r * alpha.ln() + s * beta.ln();
        let mut total = 0.0;
        let mut cached_x = u32::MAX;
        let mut per_x = 0.0;
        for (d, w) in rows {
            if d.frequency != cached_x {
                per_x = base + ln_gamma(r + d.frequency as f64);
                cached_x = d.frequency;
            }
            let x = d.frequency as f64;
            let first = -(r + x) * (alpha + d.age).ln() - s * (beta + d.age).ln();
            let second = (s / (r + s + x)).ln() + self.ln_a0(d)?;
            total += w * (per_x + log_add_exp(first, second));
        }
        total.is_finite().then_some(total)
    }

    /// ln A0 of the likelihood: the integral over death times between t_x and T.
    fn ln_a0(&self, d: &Rfm) -> Option<f64> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let x = d.frequency as f64;
        let rsx = r + s + x;
        let (max_ab, diff, second) = if alpha >= beta {
            (alpha, alpha - beta, s + 1.0)
        } else {
            (beta, beta - alpha, r + x)
        };
        let q1 = max_ab + d.recency;
        let q2 = max_ab + d.age;
        let f1 = hyp2f1(rsx, second, rsx + 1.0, diff / q1, MAX_SERIES_TERMS)?;
        let f2 = hyp2f1(rsx, second, rsx + 1.0, diff / q2, MAX_SERIES_TERMS)?;
        let l1 = f1.ln() - rsx * q1.ln();
        let l2 = f2.ln() - rsx * q2.ln();
        if d.age <= d.recency {
            return Some(f64::NEG_INFINITY);
        }
        let v = log_sub_exp(l1, l2);
        (!v.is_nan()).then_some(v)
    }

    /// Probability the customer is alive at the end of the calibration period.
    pub fn p_alive(&self, d: &Rfm) -> Result<f64, Error> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let x = d.frequency as f64;
        let ln_a0 = self.ln_a0(d).ok_or(Error::Numerical {
            what: "Pareto/NBD P(alive)",
            reason: "hypergeometric series did not converge".into(),
        })?;
        let ln_odds = (s / (r + s + x)).ln()
            + (r + x) * (alpha + d.age).ln()
            + s * (beta + d.age).ln()
            + ln_a0;
        Ok(1.0 / (1.0 + ln_odds.exp()))
    }

    /// Expected transactions in the next `t` time units for a customer with this history.
    pub fn conditional_expected_transactions(&self, d: &Rfm, t: f64) -> Result<f64, Error> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let x = d.frequency as f64;
        let p = self.p_alive(d)?;
        let bt = beta + d.age;
        let tail = if (s - 1.0).abs() < 1e-9 {
            // The limit s -> 1: (r + x)(β + T)/(α + T) ln((β + T + t)/(β + T)).
            (r + x) * bt / (alpha + d.age) * ((bt + t) / bt).ln()
        } else {
            (r + x) * bt / ((alpha + d.age) * (s - 1.0)) * (1.0 - (bt / (bt + t)).powf(s - 1.0))
        };
        Ok(p * tail)
    }
}
