//! The Pareto/NBD model (Schmittlein, Morrison and Colombo 1987): while alive a customer buys
//! at a Poisson rate λ ~ Gamma(r, α) and has an exponential lifetime with rate μ ~ Gamma(s, β).
//! Likelihood as in Fader and Hardie's note "A note on deriving the Pareto/NBD model".

use serde::{Deserialize, Serialize};

use crate::bgnbd::Fit;
use crate::optimize::{FitOptions, minimize};
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
    /// Fits by maximum likelihood: BFGS on the log-parameters with a central-difference
    /// gradient (the hypergeometric term has no cheap closed-form derivative in its
    /// parameters), Nelder-Mead from BFGS's best point as a last resort. Errors when the
    /// optimiser does not converge.
    pub fn fit(data: &[Rfm], opts: &FitOptions) -> Result<Fit<ParetoNbd>, Error> {
        check_rows(data)?;
        let rows = weighted_rows(data);
        let value = |v: &[f64]| {
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
        let objective = |v: &[f64], grad: &mut [f64]| {
            let f = value(v);
            if f.is_finite() {
                let mut p = [v[0], v[1], v[2], v[3]];
                for i in 0..4 {
                    let h = 1e-5 * (1.0 + v[i].abs());
                    p[i] = v[i] + h;
                    let up = value(&p);
                    p[i] = v[i] - h;
                    let down = value(&p);
                    p[i] = v[i];
                    grad[i] = (up - down) / (2.0 * h);
                }
            }
            f
        };
        let mean_age = data.iter().map(|d| d.age).sum::<f64>() / data.len() as f64;
        let start = mean_age.max(1e-3).ln() - 1.0;
        let x0 = [0.0, start, 0.0, start];
        let m = minimize(objective, &x0, opts).map_err(|e| Error::NotConverged {
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

    /// Over `rows` sorted by (x, t_x, T) as `weighted_rows` makes them: the hypergeometric
    /// terms depend on (x, t_x) and on (x, T) only, so each is computed once per distinct
    /// pair (most customers share a few first-purchase weeks and many have x = 0).
    fn weighted_log_likelihood(&self, rows: &[(Rfm, f64)]) -> Option<f64> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let base = -ln_gamma(r) + r * alpha.ln() + s * beta.ln();
        let mut total = 0.0;
        let mut cached_x = u32::MAX;
        let mut per_x = 0.0;
        let mut cached_tx = (u32::MAX, 0u64, 0.0);
        let mut by_age: std::collections::HashMap<u64, f64> = Default::default();
        for (d, w) in rows {
            if d.frequency != cached_x {
                per_x = base + ln_gamma(r + d.frequency as f64);
                cached_x = d.frequency;
                by_age.clear();
            }
            let x = d.frequency as f64;
            let first = -(r + x) * (alpha + d.age).ln() - s * (beta + d.age).ln();
            let ln_a0 = if d.age <= d.recency {
                f64::NEG_INFINITY
            } else {
                if cached_tx.0 != d.frequency || cached_tx.1 != d.recency.to_bits() {
                    cached_tx = (
                        d.frequency,
                        d.recency.to_bits(),
                        self.ln_a0_term(x, d.recency)?,
                    );
                }
                let l2 = match by_age.get(&d.age.to_bits()) {
                    Some(v) => *v,
                    None => {
                        let v = self.ln_a0_term(x, d.age)?;
                        by_age.insert(d.age.to_bits(), v);
                        v
                    }
                };
                let v = log_sub_exp(cached_tx.2, l2);
                if v.is_nan() {
                    return None;
                }
                v
            };
            let second = (s / (r + s + x)).ln() + ln_a0;
            total += w * (per_x + log_add_exp(first, second));
        }
        total.is_finite().then_some(total)
    }

    /// One of the two terms of ln A0: ln(2F1(...; z(t)) / (max(α, β) + t)^(r+s+x)).
    fn ln_a0_term(&self, x: f64, t: f64) -> Option<f64> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let rsx = r + s + x;
        let (max_ab, diff, second) = if alpha >= beta {
            (alpha, alpha - beta, s + 1.0)
        } else {
            (beta, beta - alpha, r + x)
        };
        let q = max_ab + t;
        let f = hyp2f1(rsx, second, rsx + 1.0, diff / q, MAX_SERIES_TERMS)?;
        Some(f.ln() - rsx * q.ln())
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
