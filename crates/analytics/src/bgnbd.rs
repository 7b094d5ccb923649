//! The BG/NBD model of repeat transactions for non-contractual customers (Fader, Hardie and
//! Lee 2005, "Counting your customers the easy way"): while alive a customer buys at a
//! Poisson rate λ ~ Gamma(r, α), and after each purchase drops out with probability
//! p ~ Beta(a, b).

use serde::{Deserialize, Serialize};

use crate::optimize::{FitOptions, minimize};
use crate::rfm::{Rfm, weighted_rows};
use crate::special::{digamma, hyp2f1, ln_gamma, log_add_exp};
use crate::{Error, check_rows};

/// Fitted BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the purchase-rate gamma distribution.
    pub r: f64,
    /// Scale (rate) of the purchase-rate gamma distribution, in the data's time unit.
    pub alpha: f64,
    /// Beta distribution of the drop-out probability: a.
    pub a: f64,
    /// Beta distribution of the drop-out probability: b.
    pub b: f64,
}

/// The result of a maximum-likelihood fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit<P> {
    /// The estimates.
    pub params: P,
    /// The maximised log-likelihood.
    pub log_likelihood: f64,
    /// Customers the fit used.
    pub customers: usize,
    /// Likelihood evaluations the optimiser used.
    pub evaluations: usize,
}

const MAX_SERIES_TERMS: usize = 100_000;

/// Fits a model of the BG/NBD family (parameters r, alpha, a, b) by maximum likelihood:
/// BFGS on log-parameters with the model's analytic gradient (`ll` returns the weighted
/// log-likelihood and fills its gradient in r, alpha, a, b), started at the data's mean
/// purchase-rate scale. Errors on empty or invalid data, and when the optimiser does not
/// converge or ends on a boundary.
pub(crate) fn fit_four<M>(
    model: &'static str,
    data: &[Rfm],
    opts: &FitOptions,
    make: impl Fn([f64; 4]) -> M,
    ll: impl Fn(&M, &[(Rfm, f64)], &mut [f64; 4]) -> f64,
) -> Result<Fit<M>, Error> {
    check_rows(data)?;
    let rows = weighted_rows(data);
    let exp = |p: &[f64]| [p[0].exp(), p[1].exp(), p[2].exp(), p[3].exp()];
    let objective = |p: &[f64], grad: &mut [f64]| {
        let params = exp(p);
        let m = make(params);
        let mut g = [0.0; 4];
        let value = ll(&m, &rows, &mut g);
        // Chain rule to log-parameters, sign for minimisation.
        for (out, (gi, pi)) in grad.iter_mut().zip(g.iter().zip(params)) {
            *out = -gi * pi;
        }
        -value
    };
    // Start at the mean purchase rate's scale so alpha begins in the data's time unit.
    let mean_age = data.iter().map(|d| d.age).sum::<f64>() / data.len() as f64;
    let x0 = [0.0, mean_age.max(1e-3).ln() - 1.0, 0.0, 0.0];
    let m = minimize(objective, &x0, opts).map_err(|e| Error::NotConverged {
        model,
        reason: e.reason,
        best_log_likelihood: -e.best.value,
    })?;
    crate::check_interior(model, &["r", "alpha", "a", "b"], &m.x, -m.value)?;
    Ok(Fit {
        params: make(exp(&m.x)),
        log_likelihood: -m.value,
        customers: data.len(),
        evaluations: m.evaluations,
    })
}

impl BgNbd {
    /// Fits by maximum likelihood. Errors on empty or invalid data, and when the optimiser
    /// does not converge (then no parameters are returned).
    pub fn fit(data: &[Rfm], opts: &FitOptions) -> Result<Fit<BgNbd>, Error> {
        fit_four(
            "BG/NBD",
            data,
            opts,
            |[r, alpha, a, b]| BgNbd { r, alpha, a, b },
            |m, rows, g| m.weighted_log_likelihood_and_gradient(rows, g),
        )
    }

    /// The log-likelihood of the data under these parameters.
    pub fn log_likelihood(&self, data: &[Rfm]) -> f64 {
        self.weighted_log_likelihood(&weighted_rows(data))
    }

    fn weighted_log_likelihood(&self, rows: &[(Rfm, f64)]) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let ln_alpha = alpha.ln();
        let ln_a = a.ln();
        let base = ln_gamma(a + b) - ln_gamma(b) - ln_gamma(r) + r * ln_alpha;
        let mut total = 0.0;
        let mut cached_x = u32::MAX;
        let mut per_x = 0.0;
        let mut ln_b_x1 = 0.0;
        for (d, w) in rows {
            let x = d.frequency;
            if x != cached_x {
                let xf = x as f64;
                per_x = base + ln_gamma(r + xf) + ln_gamma(b + xf) - ln_gamma(a + b + xf);
                ln_b_x1 = if x > 0 { (b + xf - 1.0).ln() } else { 0.0 };
                cached_x = x;
            }
            let rx = r + x as f64;
            let a3 = -rx * (alpha + d.age).ln();
            let ll = if x > 0 {
                let a4 = ln_a - ln_b_x1 - rx * (alpha + d.recency).ln();
                per_x + log_add_exp(a3, a4)
            } else {
                per_x + a3
            };
            total += w * ll;
        }
        total
    }

    /// The log-likelihood and its gradient with respect to (r, alpha, a, b).
    fn weighted_log_likelihood_and_gradient(
        &self,
        rows: &[(Rfm, f64)],
        grad: &mut [f64; 4],
    ) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let ln_alpha = alpha.ln();
        let ln_a = a.ln();
        let base = ln_gamma(a + b) - ln_gamma(b) - ln_gamma(r) + r * ln_alpha;
        let (psi_r, psi_ab, psi_b) = (digamma(r), digamma(a + b), digamma(b));
        let mut total = 0.0;
        let mut g = [0.0; 4];
        let mut cached_x = u32::MAX;
        let (mut per_x, mut ln_b_x1) = (0.0, 0.0);
        let (mut dr_x, mut da_x, mut db_x) = (0.0, 0.0, 0.0);
        for (d, w) in rows {
            let x = d.frequency;
            let xf = x as f64;
            if x != cached_x {
                per_x = base + ln_gamma(r + xf) + ln_gamma(b + xf) - ln_gamma(a + b + xf);
                ln_b_x1 = if x > 0 { (b + xf - 1.0).ln() } else { 0.0 };
                let psi_abx = digamma(a + b + xf);
                dr_x = digamma(r + xf) - psi_r + ln_alpha;
                da_x = psi_ab - psi_abx;
                db_x = psi_ab - psi_b + digamma(b + xf) - psi_abx;
                cached_x = x;
            }
            let rx = r + xf;
            let ln_at = (alpha + d.age).ln();
            let a3 = -rx * ln_at;
            let (ll, w4, ln_atx) = if x > 0 {
                let ln_atx = (alpha + d.recency).ln();
                let a4 = ln_a - ln_b_x1 - rx * ln_atx;
                let s = log_add_exp(a3, a4);
                (per_x + s, (a4 - s).exp(), ln_atx)
            } else {
                (per_x + a3, 0.0, 0.0)
            };
            let w3 = 1.0 - w4;
            total += w * ll;
            g[0] += w * (dr_x - w3 * ln_at - w4 * ln_atx);
            g[1] += w * (r / alpha - rx * (w3 / (alpha + d.age) + w4 / (alpha + d.recency)));
            g[2] += w * (da_x + w4 / a);
            g[3] += w * (db_x - if x > 0 { w4 / (b + xf - 1.0) } else { 0.0 });
        }
        *grad = g;
        total
    }

    /// Probability that a customer with this history is still alive at the end of the
    /// calibration period.
    pub fn p_alive(&self, d: &Rfm) -> f64 {
        if d.frequency == 0 {
            return 1.0;
        }
        let x = d.frequency as f64;
        let ln_ratio = (self.r + x) * ((self.alpha + d.age) / (self.alpha + d.recency)).ln();
        let odds = (self.a / (self.b + x - 1.0)).ln() + ln_ratio;
        1.0 / (1.0 + odds.exp())
    }

    /// Expected repeat transactions in (0, t] for a customer just acquired at time 0.
    pub fn expected_transactions(&self, t: f64) -> Result<f64, Error> {
        let BgNbd { r, alpha, a, b } = *self;
        let z = t / (alpha + t);
        let f = hyp2f1(r, b, a + b - 1.0, z, MAX_SERIES_TERMS).ok_or(Error::Numerical {
            what: "BG/NBD expected transactions",
            reason: format!("hypergeometric series did not converge at t = {t}"),
        })?;
        Ok((a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)).powf(r) * f))
    }

    /// Expected transactions in the next `t` time units for a customer with this history.
    pub fn conditional_expected_transactions(&self, d: &Rfm, t: f64) -> Result<f64, Error> {
        if t <= 0.0 {
            return Ok(0.0);
        }
        let BgNbd { r, alpha, a, b } = *self;
        let x = d.frequency as f64;
        let big_t = d.age;
        let z = t / (alpha + big_t + t);
        let f =
            hyp2f1(r + x, b + x, a + b + x - 1.0, z, MAX_SERIES_TERMS).ok_or(Error::Numerical {
                what: "BG/NBD conditional expectation",
                reason: format!("hypergeometric series did not converge at t = {t}"),
            })?;
        let num = (a + b + x - 1.0) / (a - 1.0)
            * (1.0 - ((alpha + big_t) / (alpha + big_t + t)).powf(r + x) * f);
        let den = if d.frequency > 0 {
            1.0 + a / (b + x - 1.0) * ((alpha + big_t) / (alpha + d.recency)).powf(r + x)
        } else {
            1.0
        };
        Ok(num / den)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const PUBLISHED: BgNbd = BgNbd {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    #[test]
    fn gradient_matches_finite_differences() {
        let data = crate::simulate::bgnbd(&PUBLISHED, 300, 20.0, 40.0, 5);
        let rows = weighted_rows(&data);
        let mut g = [0.0; 4];
        let ll = PUBLISHED.weighted_log_likelihood_and_gradient(&rows, &mut g);
        assert!((ll - PUBLISHED.weighted_log_likelihood(&rows)).abs() < 1e-9);
        let p = [PUBLISHED.r, PUBLISHED.alpha, PUBLISHED.a, PUBLISHED.b];
        assert_gradient_matches(p, g, |q| {
            BgNbd {
                r: q[0],
                alpha: q[1],
                a: q[2],
                b: q[3],
            }
            .weighted_log_likelihood(&rows)
        });
    }

    /// Checks an analytic gradient of a four-parameter log-likelihood against central
    /// differences at `p` (shared by the BG/NBD and MBG/NBD tests).
    pub(crate) fn assert_gradient_matches(p: [f64; 4], g: [f64; 4], ll: impl Fn([f64; 4]) -> f64) {
        for i in 0..4 {
            let h = 1e-6 * p[i];
            let at = |delta: f64| {
                let mut q = p;
                q[i] += delta;
                ll(q)
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (g[i] - numeric).abs() < 1e-4 * (1.0 + numeric.abs()),
                "{i}: {} vs {numeric}",
                g[i]
            );
        }
    }

    #[test]
    fn p_alive_is_one_without_repeats_and_falls_with_silence() {
        assert_eq!(PUBLISHED.p_alive(&Rfm::new(0, 0.0, 38.0)), 1.0);
        let recent = PUBLISHED.p_alive(&Rfm::new(3, 37.0, 38.0));
        let silent = PUBLISHED.p_alive(&Rfm::new(3, 5.0, 38.0));
        assert!(recent > 0.8 && silent < 0.1, "{recent} {silent}");
    }

    #[test]
    fn conditional_expectation_matches_the_published_example() {
        // Fader, Hardie and Lee (2005), section 4: a customer with x = 2, t_x = 30.43,
        // T = 38.86 is expected to make 1.226 purchases in the next 39 weeks.
        let e = PUBLISHED
            .conditional_expected_transactions(&Rfm::new(2, 30.43, 38.86), 39.0)
            .unwrap();
        assert!((e - 1.226).abs() < 0.005, "{e}");
    }

    #[test]
    fn unconditional_expectation_grows_with_time() {
        let e1 = PUBLISHED.expected_transactions(10.0).unwrap();
        let e2 = PUBLISHED.expected_transactions(39.0).unwrap();
        assert!(e1 > 0.0 && e2 > e1);
    }
}
