//! The Gamma-Gamma model of spend per transaction (Fader, Hardie and Lee 2005, "RFM and CLV:
//! using iso-value curves"): each transaction's value is Gamma(p, ν) with ν ~ Gamma(q, γ)
//! across customers, independent of the transaction process. Fitted on the repeat customers'
//! average spend.

use serde::{Deserialize, Serialize};

use crate::bgnbd::Fit;
use crate::optimize::{FitOptions, minimize};
use crate::rfm::Rfm;
use crate::special::{digamma, ln_gamma};
use crate::{Error, check_rows};

/// Fitted Gamma-Gamma parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of a transaction's value.
    pub p: f64,
    /// Shape of the across-customer distribution of ν.
    pub q: f64,
    /// Scale (rate) of the across-customer distribution of ν.
    pub gamma: f64,
}

impl GammaGamma {
    /// Fits on the customers with at least one repeat transaction and a positive average
    /// spend (the others carry no information about spend per transaction).
    pub fn fit(data: &[Rfm], opts: &FitOptions) -> Result<Fit<GammaGamma>, Error> {
        check_rows(data)?;
        let mut rows: Vec<(u32, f64)> = data
            .iter()
            .filter(|d| d.frequency > 0 && d.monetary > 0.0)
            .map(|d| (d.frequency, d.monetary))
            .collect();
        if rows.is_empty() {
            return Err(Error::Empty {
                what: "Gamma-Gamma fit: no customer with repeat transactions and positive spend"
                    .into(),
            });
        }
        let customers = rows.len();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        // Per-row constants: x ln x and ln m.
        let prepared: Vec<(f64, f64, f64)> = rows
            .iter()
            .map(|&(x, m)| (x as f64, (x as f64).ln(), m.ln()))
            .collect();
        let mean_m = rows.iter().map(|r| r.1).sum::<f64>() / customers as f64;
        let objective = |v: &[f64], grad: &mut [f64]| {
            let (p, q, g) = (v[0].exp(), v[1].exp(), v[2].exp());
            let mut d = [0.0; 3];
            let ll = log_likelihood_and_gradient(p, q, g, &prepared, &mut d);
            grad[0] = -d[0] * p;
            grad[1] = -d[1] * q;
            grad[2] = -d[2] * g;
            -ll
        };
        let x0 = [0.0, 0.0, mean_m.ln()];
        let m = minimize(objective, &x0, opts).map_err(|e| Error::NotConverged {
            model: "Gamma-Gamma",
            reason: e.reason,
            best_log_likelihood: -e.best.value,
        })?;
        crate::check_interior("Gamma-Gamma", &["p", "q", "gamma"], &m.x, -m.value)?;
        Ok(Fit {
            params: GammaGamma {
                p: m.x[0].exp(),
                q: m.x[1].exp(),
                gamma: m.x[2].exp(),
            },
            log_likelihood: -m.value,
            customers,
            evaluations: m.evaluations,
        })
    }

    /// The log-likelihood of the repeat customers' average spend.
    pub fn log_likelihood(&self, data: &[Rfm]) -> f64 {
        let prepared: Vec<(f64, f64, f64)> = data
            .iter()
            .filter(|d| d.frequency > 0 && d.monetary > 0.0)
            .map(|d| {
                let x = d.frequency as f64;
                (x, x.ln(), d.monetary.ln())
            })
            .collect();
        log_likelihood_prepared(self.p, self.q, self.gamma, &prepared)
    }

    /// Mean spend per transaction across the population, γp / (q - 1) (needs q > 1).
    pub fn population_mean(&self) -> f64 {
        if self.q > 1.0 {
            self.gamma * self.p / (self.q - 1.0)
        } else {
            f64::INFINITY
        }
    }

    /// Expected spend per transaction of a customer with `frequency` repeat transactions of
    /// average `monetary`: a weighted mean of the population mean and the customer's own.
    pub fn conditional_expected_spend(&self, frequency: u32, monetary: f64) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let x = frequency as f64;
        if frequency == 0 || monetary <= 0.0 {
            return self.population_mean();
        }
        (gamma + x * monetary) * p / (p * x + q - 1.0)
    }
}

fn log_likelihood_prepared(p: f64, q: f64, gamma: f64, rows: &[(f64, f64, f64)]) -> f64 {
    let base = -ln_gamma(q) + q * gamma.ln();
    let mut total = 0.0;
    let mut cached_x = f64::NAN;
    let mut per_x = 0.0;
    for &(x, ln_x, ln_m) in rows {
        let px = p * x;
        if x != cached_x {
            per_x = base + ln_gamma(px + q) - ln_gamma(px) + px * ln_x;
            cached_x = x;
        }
        let m = ln_m.exp();
        total += per_x + (px - 1.0) * ln_m - (px + q) * (x * m + gamma).ln();
    }
    total
}

/// The log-likelihood and its gradient with respect to (p, q, gamma).
fn log_likelihood_and_gradient(
    p: f64,
    q: f64,
    gamma: f64,
    rows: &[(f64, f64, f64)],
    grad: &mut [f64; 3],
) -> f64 {
    let ln_g = gamma.ln();
    let base = -ln_gamma(q) + q * ln_g;
    let psi_q = digamma(q);
    let mut total = 0.0;
    let mut d = [0.0; 3];
    let mut cached_x = f64::NAN;
    let (mut per_x, mut psi_pxq, mut psi_px) = (0.0, 0.0, 0.0);
    for &(x, ln_x, ln_m) in rows {
        let px = p * x;
        if x != cached_x {
            per_x = base + ln_gamma(px + q) - ln_gamma(px) + px * ln_x;
            psi_pxq = digamma(px + q);
            psi_px = digamma(px);
            cached_x = x;
        }
        let m = ln_m.exp();
        let denom = x * m + gamma;
        let ln_den = denom.ln();
        total += per_x + (px - 1.0) * ln_m - (px + q) * ln_den;
        d[0] += x * (psi_pxq - psi_px + ln_m + ln_x - ln_den);
        d[1] += psi_pxq - psi_q + ln_g - ln_den;
        d[2] += q / gamma - (px + q) / denom;
    }
    *grad = d;
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let rows: Vec<(f64, f64, f64)> = [(1.0, 20.0), (3.0, 35.5), (7.0, 12.25), (2.0, 80.0)]
            .iter()
            .map(|&(x, m): &(f64, f64)| (x, x.ln(), m.ln()))
            .collect();
        let p = [6.25, 3.74, 15.44];
        let mut g = [0.0; 3];
        log_likelihood_and_gradient(p[0], p[1], p[2], &rows, &mut g);
        for i in 0..3 {
            let h = 1e-6 * p[i];
            let at = |delta: f64| {
                let mut q = p;
                q[i] += delta;
                log_likelihood_prepared(q[0], q[1], q[2], &rows)
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            assert!((g[i] - numeric).abs() < 1e-5 * (1.0 + numeric.abs()), "{i}");
        }
    }

    #[test]
    fn conditional_spend_shrinks_towards_the_population_mean() {
        let gg = GammaGamma {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let pop = gg.population_mean();
        assert!((pop - 35.22).abs() < 0.05, "{pop}");
        let one = gg.conditional_expected_spend(1, 100.0);
        let many = gg.conditional_expected_spend(20, 100.0);
        assert!(pop < one && one < many && many < 100.0);
        assert_eq!(gg.conditional_expected_spend(0, 0.0), pop);
    }
}
