//! Logistic regression with an L2 penalty, fitted by iteratively reweighted least squares
//! (Newton's method) on standardised features, and the AUC to evaluate it.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Fitting options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogisticOptions {
    /// L2 penalty on the (standardised) coefficients; the intercept is not penalised.
    pub l2: f64,
    /// Maximum Newton iterations.
    pub max_iterations: usize,
    /// Converged when no coefficient moves more than this.
    pub tolerance: f64,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions {
            l2: 1.0,
            max_iterations: 100,
            tolerance: 1e-8,
        }
    }
}

/// A fitted model: P(y = 1 | x) = 1 / (1 + exp(-(b0 + Σ b_j (x_j - mean_j) / sd_j))).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// Feature names, in order.
    pub features: Vec<String>,
    /// Feature means used for standardising.
    pub means: Vec<f64>,
    /// Feature standard deviations used for standardising (1 where constant).
    pub sds: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// Coefficients on the standardised features.
    pub coefficients: Vec<f64>,
    /// Training rows.
    pub rows: usize,
    /// Share of positive outcomes in training.
    pub base_rate: f64,
}

impl LogisticModel {
    /// Fits on rows `x` (all the same length as `names`) and outcomes `y`.
    pub fn fit(
        names: &[&str],
        x: &[Vec<f64>],
        y: &[bool],
        opts: &LogisticOptions,
    ) -> Result<LogisticModel, Error> {
        let d = names.len();
        if x.len() != y.len() {
            return Err(Error::InvalidConfig(format!(
                "{} feature rows but {} outcomes",
                x.len(),
                y.len()
            )));
        }
        if x.is_empty() {
            return Err(Error::Empty {
                what: "logistic regression: no training rows".into(),
            });
        }
        if let Some((i, r)) = x
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != d || r.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::InvalidInput {
                row: i + 1,
                field: "features",
                reason: format!("expected {d} finite values, got {r:?}"),
            });
        }
        let positives = y.iter().filter(|v| **v).count();
        if positives == 0 || positives == y.len() {
            return Err(Error::Empty {
                what: format!(
                    "logistic regression needs both outcomes; all {} rows are {}",
                    y.len(),
                    positives > 0
                ),
            });
        }
        let n = x.len() as f64;
        let mut means = vec![0.0; d];
        for r in x {
            for (m, v) in means.iter_mut().zip(r) {
                *m += v / n;
            }
        }
        let mut sds = vec![0.0; d];
        for r in x {
            for ((s, v), m) in sds.iter_mut().zip(r).zip(&means) {
                *s += (v - m) * (v - m) / n;
            }
        }
        for s in &mut sds {
            *s = if *s > 1e-24 { s.sqrt() } else { 1.0 };
        }
        // beta[0] is the intercept.
        let p = d + 1;
        let base_rate = positives as f64 / n;
        let mut beta = vec![0.0; p];
        beta[0] = (base_rate / (1.0 - base_rate)).ln();
        // The rows standardised once, an intercept column first.
        let z: Vec<f64> = x
            .iter()
            .flat_map(|r| {
                std::iter::once(1.0).chain(
                    r.iter()
                        .zip(&means)
                        .zip(&sds)
                        .map(|((v, m), s)| (v - m) / s),
                )
            })
            .collect();
        let rows = || z.chunks_exact(p).zip(y);
        // The penalised log-likelihood at `beta` (what every step must increase).
        let objective = |beta: &[f64]| -> f64 {
            let ll: f64 = rows()
                .map(|(z, &yi)| {
                    let eta: f64 = z.iter().zip(beta).map(|(a, b)| a * b).sum();
                    if yi {
                        eta - log1p_exp(eta)
                    } else {
                        -log1p_exp(eta)
                    }
                })
                .sum();
            ll - 0.5 * opts.l2 * beta[1..].iter().map(|b| b * b).sum::<f64>()
        };
        let mut current = objective(&beta);
        for _ in 0..opts.max_iterations {
            let mut h = vec![0.0; p * p];
            let mut g = vec![0.0; p];
            for (z, &yi) in rows() {
                let eta: f64 = z.iter().zip(&beta).map(|(a, b)| a * b).sum();
                let mu = sigmoid(eta);
                let w = (mu * (1.0 - mu)).max(1e-12);
                let resid = if yi { 1.0 } else { 0.0 } - mu;
                for a in 0..p {
                    g[a] += z[a] * resid;
                    let za = z[a] * w;
                    for b in 0..=a {
                        h[a * p + b] += za * z[b];
                    }
                }
            }
            for a in 1..p {
                h[a * p + a] += opts.l2;
                g[a] -= opts.l2 * beta[a];
            }
            for a in 0..p {
                for b in 0..a {
                    h[b * p + a] = h[a * p + b];
                }
            }
            let step = solve_spd(&mut h, &g, p).ok_or(Error::Numerical {
                what: "logistic regression",
                reason: "the Newton system is singular".into(),
            })?;
            // Damped Newton: no coefficient moves more than 5 (standardised units) at once,
            // so a near-separable data set does not overshoot; and the step is halved until
            // the objective rises enough (Armijo), so Newton cannot cycle between two points
            // (a feature with a few far outliers made it, for all 100 iterations).
            let longest = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
            if !longest.is_finite() {
                break;
            }
            let mut t = if longest > 5.0 { 5.0 / longest } else { 1.0 };
            let slope: f64 = g.iter().zip(&step).map(|(g, s)| g * s).sum();
            let mut next = beta.clone();
            let mut moved = false;
            for _ in 0..40 {
                for ((n, b), s) in next.iter_mut().zip(&beta).zip(&step) {
                    *n = b + t * s;
                }
                let value = objective(&next);
                if value.is_finite() && value >= current + 1e-4 * t * slope {
                    moved = value > current || t * longest < opts.tolerance;
                    current = value;
                    break;
                }
                t *= 0.5;
            }
            let largest = t * longest;
            if moved {
                beta.copy_from_slice(&next);
            }
            if !moved || largest < opts.tolerance {
                return Ok(LogisticModel {
                    features: names.iter().map(|s| s.to_string()).collect(),
                    means,
                    sds,
                    intercept: beta[0],
                    coefficients: beta[1..].to_vec(),
                    rows: x.len(),
                    base_rate,
                });
            }
        }
        Err(Error::NotConverged {
            model: "logistic regression",
            reason: format!("no convergence within {} iterations", opts.max_iterations),
            best_log_likelihood: f64::NAN,
        })
    }

    /// The predicted probability for one row of features (in the model's feature order).
    pub fn predict(&self, x: &[f64]) -> f64 {
        let eta = self.intercept
            + self
                .coefficients
                .iter()
                .zip(x)
                .zip(self.means.iter().zip(&self.sds))
                .map(|((b, v), (m, s))| b * (v - m) / s)
                .sum::<f64>();
        sigmoid(eta)
    }
}

/// ln(1 + e^eta), without overflow.
fn log1p_exp(eta: f64) -> f64 {
    if eta > 0.0 {
        eta + (-eta).exp().ln_1p()
    } else {
        eta.exp().ln_1p()
    }
}

fn sigmoid(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

/// Solves H x = g for a symmetric positive definite H (p x p, row-major) by Cholesky.
fn solve_spd(h: &mut [f64], g: &[f64], p: usize) -> Option<Vec<f64>> {
    for j in 0..p {
        let mut s = h[j * p + j];
        for k in 0..j {
            s -= h[j * p + k] * h[j * p + k];
        }
        if s <= 0.0 || !s.is_finite() {
            return None;
        }
        let l = s.sqrt();
        h[j * p + j] = l;
        for i in j + 1..p {
            let mut s = h[i * p + j];
            for k in 0..j {
                s -= h[i * p + k] * h[j * p + k];
            }
            h[i * p + j] = s / l;
        }
    }
    let mut y = vec![0.0; p];
    for i in 0..p {
        let mut s = g[i];
        for k in 0..i {
            s -= h[i * p + k] * y[k];
        }
        y[i] = s / h[i * p + i];
    }
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        let mut s = y[i];
        for k in i + 1..p {
            s -= h[k * p + i] * x[k];
        }
        x[i] = s / h[i * p + i];
    }
    Some(x)
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative (ties count half). `None` without both outcomes.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    let positives = pairs.iter().filter(|p| p.1).count() as f64;
    let negatives = pairs.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' (mid-)ranks.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid_rank * pairs[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// The area under the ROC curve with its 95% confidence interval (Hanley and McNeil 1982):
/// `(auc, low, high)`, or `None` without both outcomes.
pub fn auc_interval(scores: &[f64], labels: &[bool]) -> Option<(f64, f64, f64)> {
    let a = auc(scores, labels)?;
    let np = labels.iter().filter(|l| **l).count() as f64;
    let nn = labels.len() as f64 - np;
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    let var = (a * (1.0 - a) + (np - 1.0) * (q1 - a * a) + (nn - 1.0) * (q2 - a * a)) / (np * nn);
    let half = 1.96 * var.max(0.0).sqrt();
    Some((a, (a - half).max(0.0), (a + half).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::Rng;

    #[test]
    fn auc_interval_narrows_with_more_rows() {
        let labels: Vec<bool> = (0..40).map(|i| i % 2 == 0).collect();
        let scores: Vec<f64> = (0..40)
            .map(|i| if i % 4 == 0 { 1.0 } else { 0.0 })
            .collect();
        let (a, lo, hi) = auc_interval(&scores, &labels).unwrap();
        assert!(
            (a - 0.75).abs() < 1e-12 && lo < a && a < hi,
            "{lo} {a} {hi}"
        );
        let many_l: Vec<bool> = labels.iter().cycle().take(4000).copied().collect();
        let many_s: Vec<f64> = scores.iter().cycle().take(4000).copied().collect();
        let (_, lo2, hi2) = auc_interval(&many_s, &many_l).unwrap();
        assert!(hi2 - lo2 < (hi - lo) / 5.0);
    }

    #[test]
    fn recovers_coefficients_and_ranks_well() {
        // y ~ Bernoulli(sigmoid(-1 + 2 x1 - 1 x2)), x ~ N(0, 1).
        let mut rng = Rng::new(3);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..20_000 {
            let a = rng.normal();
            let b = rng.normal();
            let p = sigmoid(-1.0 + 2.0 * a - b);
            x.push(vec![a, b]);
            y.push(rng.uniform() < p);
        }
        let opts = LogisticOptions {
            l2: 0.0,
            ..LogisticOptions::default()
        };
        let m = LogisticModel::fit(&["a", "b"], &x, &y, &opts).unwrap();
        // Coefficients are on standardised features; sds are about 1.
        assert!((m.intercept + 1.0).abs() < 0.1, "{m:?}");
        assert!((m.coefficients[0] / m.sds[0] - 2.0).abs() < 0.1, "{m:?}");
        assert!((m.coefficients[1] / m.sds[1] + 1.0).abs() < 0.1, "{m:?}");
        let scores: Vec<f64> = x.iter().map(|r| m.predict(r)).collect();
        let a = auc(&scores, &y).unwrap();
        assert!(a > 0.8 && a < 0.95, "{a}");
    }

    #[test]
    fn auc_handles_ties_and_extremes() {
        assert_eq!(
            auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            auc(&[0.4, 0.3, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[0.5], &[true]), None);
    }

    #[test]
    fn a_feature_set_on_all_rows_but_one_converges_to_the_optimum() {
        // A product feature one customer of 2,000 lacks, that customer a buyer, 1 in 43
        // buying: undamped Newton cycled between two points for all 100 iterations (the
        // `car` model of the 100k world failed so).
        let x: Vec<Vec<f64>> = (0..2_000)
            .map(|i| vec![if i == 0 { 0.0 } else { 1.0 }, (i % 7) as f64])
            .collect();
        let y: Vec<bool> = (0..2_000).map(|i| i % 43 == 0).collect();
        let opts = LogisticOptions::default();
        let m = LogisticModel::fit(&["has", "other"], &x, &y, &opts).unwrap();
        // At the optimum the penalised gradient is zero: in standardised units,
        // sum((y - p) z_j) = l2 * b_j for every coefficient, and sum(y - p) = 0.
        let mut g = [0.0; 3];
        for (r, yi) in x.iter().zip(&y) {
            let resid = f64::from(u8::from(*yi)) - m.predict(r);
            g[0] += resid;
            for j in 0..2 {
                g[j + 1] += resid * (r[j] - m.means[j]) / m.sds[j];
            }
        }
        assert!(g[0].abs() < 1e-6, "{g:?}");
        for j in 0..2 {
            assert!((g[j + 1] - opts.l2 * m.coefficients[j]).abs() < 1e-6, "{g:?} {m:?}");
        }
    }

    #[test]
    fn one_outcome_is_an_error() {
        let e = LogisticModel::fit(
            &["a"],
            &[vec![1.0], vec![2.0]],
            &[true, true],
            &LogisticOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("both outcomes"));
    }
}

