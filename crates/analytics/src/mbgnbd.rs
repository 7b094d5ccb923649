//! The MBG/NBD model (Batislam, Denizel and Filiztekin 2007): BG/NBD, except that a customer
//! may also drop out right after the first purchase. So a customer who bought once and was
//! never seen again is not certainly alive, as BG/NBD says (its P(alive) is 1 for every
//! one-time buyer); long silence after one purchase lowers the probability as it does after
//! several. Used for P(alive) when it ranks the next year's buyers better out of time
//! (`scoring`), with the same parameters' meaning as [`crate::BgNbd`].

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::bgnbd::{Fit, fit_four};
use crate::optimize::FitOptions;
use crate::rfm::{Rfm, weighted_rows};
use crate::special::{digamma, ln_gamma, log_add_exp};

/// Fitted MBG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MbgNbd {
    /// Shape of the purchase-rate gamma distribution.
    pub r: f64,
    /// Scale (rate) of the purchase-rate gamma distribution, in the data's time unit.
    pub alpha: f64,
    /// Beta distribution of the drop-out probability: a.
    pub a: f64,
    /// Beta distribution of the drop-out probability: b.
    pub b: f64,
}

impl MbgNbd {
    /// Fits by maximum likelihood (BFGS on log-parameters with the analytic gradient).
    pub fn fit(data: &[Rfm], opts: &FitOptions) -> Result<Fit<MbgNbd>, Error> {
        fit_four(
            "MBG/NBD",
            data,
            opts,
            |[r, alpha, a, b]| MbgNbd { r, alpha, a, b },
            |m, rows, g| m.log_likelihood_and_gradient(rows, g),
        )
    }

    /// The log-likelihood of the data under these parameters.
    pub fn log_likelihood(&self, data: &[Rfm]) -> f64 {
        let mut g = [0.0; 4];
        self.log_likelihood_and_gradient(&weighted_rows(data), &mut g)
    }

    /// Log-likelihood (lifetimes' `ModifiedBetaGeoFitter` form) and its gradient in
    /// (r, alpha, a, b).
    fn log_likelihood_and_gradient(&self, rows: &[(Rfm, f64)], grad: &mut [f64; 4]) -> f64 {
        let MbgNbd { r, alpha, a, b } = *self;
        let ln_alpha = alpha.ln();
        let (psi_r, psi_ab, psi_b) = (digamma(r), digamma(a + b), digamma(b));
        let base = ln_gamma(a + b) - ln_gamma(b) - ln_gamma(r) + r * ln_alpha;
        let mut total = 0.0;
        let mut g = [0.0; 4];
        let mut cached_x = u32::MAX;
        let (mut per_x, mut dr_x, mut da_x, mut db_x) = (0.0, 0.0, 0.0, 0.0);
        for (d, w) in rows {
            let x = d.frequency;
            let xf = x as f64;
            if x != cached_x {
                per_x =
                    base + ln_gamma(r + xf) + ln_gamma(b + xf + 1.0) - ln_gamma(a + b + xf + 1.0);
                let psi_abx1 = digamma(a + b + xf + 1.0);
                dr_x = digamma(r + xf) - psi_r + ln_alpha;
                da_x = psi_ab - psi_abx1;
                db_x = psi_ab + digamma(b + xf + 1.0) - psi_b - psi_abx1;
                cached_x = x;
            }
            let rx = r + xf;
            let ln_at = (alpha + d.age).ln();
            let ln_atx = (alpha + d.recency).ln();
            let a3 = -rx * ln_at;
            let a4 = a.ln() - (b + xf).ln() + rx * (ln_at - ln_atx);
            let lse = log_add_exp(a4, 0.0);
            let s = (a4 - lse).exp();
            total += w * (per_x + a3 + lse);
            g[0] += w * (dr_x - ln_at + s * (ln_at - ln_atx));
            g[1] += w
                * (r / alpha - rx / (alpha + d.age)
                    + s * rx * (1.0 / (alpha + d.age) - 1.0 / (alpha + d.recency)));
            g[2] += w * (da_x + s / a);
            g[3] += w * (db_x - s / (b + xf));
        }
        *grad = g;
        total
    }

    /// Probability that a customer with this history is still alive at the end of the
    /// calibration period (below 1 also for a customer without repeat purchases).
    pub fn p_alive(&self, d: &Rfm) -> f64 {
        let x = d.frequency as f64;
        let ln_ratio = (self.r + x) * ((self.alpha + d.age) / (self.alpha + d.recency)).ln();
        let odds = (self.a / (self.b + x)).ln() + ln_ratio;
        1.0 / (1.0 + odds.exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: MbgNbd = MbgNbd {
        r: 0.525,
        alpha: 6.183,
        a: 0.891,
        b: 1.614,
    };

    #[test]
    fn gradient_matches_finite_differences() {
        let data = crate::simulate::bgnbd(
            &crate::BgNbd {
                r: P.r,
                alpha: P.alpha,
                a: P.a,
                b: P.b,
            },
            300,
            20.0,
            40.0,
            5,
        );
        let rows = weighted_rows(&data);
        let mut g = [0.0; 4];
        P.log_likelihood_and_gradient(&rows, &mut g);
        let p = [P.r, P.alpha, P.a, P.b];
        crate::bgnbd::tests::assert_gradient_matches(p, g, |q| {
            MbgNbd {
                r: q[0],
                alpha: q[1],
                a: q[2],
                b: q[3],
            }
            .log_likelihood(&data)
        });
    }

    #[test]
    fn one_time_buyers_are_not_certainly_alive_and_silence_lowers_it() {
        let fresh = P.p_alive(&Rfm::new(0, 0.0, 1.0));
        let old = P.p_alive(&Rfm::new(0, 0.0, 38.0));
        assert!(fresh < 1.0 && old < fresh, "{fresh} {old}");
        let recent = P.p_alive(&Rfm::new(3, 37.0, 38.0));
        let silent = P.p_alive(&Rfm::new(3, 5.0, 38.0));
        assert!(recent > silent, "{recent} {silent}");
    }
}
