//! A small Nelder-Mead minimiser for the 2-4 parameter likelihoods of the lifetime-value
//! models. Parameters are optimised on the log scale by the callers, so the search space is
//! unconstrained. The search restarts from its best point until a restart no longer improves,
//! which guards against a collapsed simplex stopping early.

use serde::{Deserialize, Serialize};

/// When to stop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Maximum objective evaluations over all restarts.
    pub max_evaluations: usize,
    /// Converged when the objective's spread over the simplex is below this (absolute).
    pub f_tolerance: f64,
    /// ... and the simplex's largest coordinate distance from its best vertex is below this.
    pub x_tolerance: f64,
    /// Size of the initial simplex steps (on the log-parameter scale).
    pub initial_step: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            max_evaluations: 20_000,
            f_tolerance: 1e-9,
            x_tolerance: 1e-7,
            initial_step: 0.5,
        }
    }
}

/// A minimum found.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// Where.
    pub x: Vec<f64>,
    /// The objective there.
    pub value: f64,
    /// Objective evaluations used.
    pub evaluations: usize,
}

/// Why the minimiser stopped without an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct NotConverged {
    /// The best point when it stopped.
    pub best: Minimum,
    /// What went wrong.
    pub reason: String,
}

/// Minimises `f` from `x0`. Non-finite objective values count as +infinity, so a callback can
/// reject a region by returning NaN or infinity.
pub fn nelder_mead<F: FnMut(&[f64]) -> f64>(
    mut f: F,
    x0: &[f64],
    opts: &FitOptions,
) -> Result<Minimum, NotConverged> {
    let mut evaluations = 0usize;
    let mut eval = |x: &[f64], evaluations: &mut usize| {
        *evaluations += 1;
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut start = x0.to_vec();
    let mut step = opts.initial_step;
    let mut last_best = f64::INFINITY;
    loop {
        let m = simplex_run(&mut eval, &mut evaluations, &start, step, opts);
        match m {
            Ok((x, v)) => {
                let improved = last_best - v;
                if !v.is_finite() {
                    return Err(NotConverged {
                        best: Minimum {
                            x,
                            value: v,
                            evaluations,
                        },
                        reason: "the objective is not finite anywhere the search went".into(),
                    });
                }
                if improved.abs() <= opts.f_tolerance * 10.0 {
                    return Ok(Minimum {
                        x,
                        value: v,
                        evaluations,
                    });
                }
                last_best = v;
                start = x;
                step = (step * 0.5).max(opts.x_tolerance * 100.0);
            }
            Err((x, v)) => {
                return Err(NotConverged {
                    best: Minimum {
                        x,
                        value: v,
                        evaluations,
                    },
                    reason: format!(
                        "no convergence within {} objective evaluations",
                        opts.max_evaluations
                    ),
                });
            }
        }
    }
}

type Eval<'a> = dyn FnMut(&[f64], &mut usize) -> f64 + 'a;

/// One Nelder-Mead run; Ok((best x, best value)) on convergence, Err with the best point when
/// the evaluation budget ran out.
fn simplex_run(
    eval: &mut Eval<'_>,
    evaluations: &mut usize,
    x0: &[f64],
    step: f64,
    opts: &FitOptions,
) -> Result<(Vec<f64>, f64), (Vec<f64>, f64)> {
    let n = x0.len();
    let mut pts: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    pts.push(x0.to_vec());
    for i in 0..n {
        let mut p = x0.to_vec();
        p[i] += step;
        pts.push(p);
    }
    let mut vals: Vec<f64> = pts.iter().map(|p| eval(p, evaluations)).collect();
    let mut order: Vec<usize> = (0..=n).collect();
    loop {
        order.sort_by(|&i, &j| vals[i].total_cmp(&vals[j]));
        let (best, worst, second) = (order[0], order[n], order[n - 1]);
        let spread = vals[worst] - vals[best];
        let size = pts
            .iter()
            .flat_map(|p| p.iter().zip(&pts[best]).map(|(a, b)| (a - b).abs()))
            .fold(0.0, f64::max);
        if spread.is_finite() && spread <= opts.f_tolerance && size <= opts.x_tolerance {
            return Ok((pts[best].clone(), vals[best]));
        }
        if *evaluations >= opts.max_evaluations {
            return Err((pts[best].clone(), vals[best]));
        }
        let mut centroid = vec![0.0; n];
        for &i in order.iter().take(n) {
            for (c, x) in centroid.iter_mut().zip(&pts[i]) {
                *c += x / n as f64;
            }
        }
        let along = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&pts[worst])
                .map(|(c, w)| c + t * (c - w))
                .collect()
        };
        let xr = along(1.0);
        let fr = eval(&xr, evaluations);
        if fr < vals[best] {
            let xe = along(2.0);
            let fe = eval(&xe, evaluations);
            if fe < fr {
                pts[worst] = xe;
                vals[worst] = fe;
            } else {
                pts[worst] = xr;
                vals[worst] = fr;
            }
        } else if fr < vals[second] {
            pts[worst] = xr;
            vals[worst] = fr;
        } else {
            let (xc, fc) = if fr < vals[worst] {
                let xc = along(0.5);
                let fc = eval(&xc, evaluations);
                (xc, fc)
            } else {
                let xc = along(-0.5);
                let fc = eval(&xc, evaluations);
                (xc, fc)
            };
            if fc < vals[worst].min(fr) {
                pts[worst] = xc;
                vals[worst] = fc;
            } else {
                // Shrink towards the best vertex.
                let b = pts[best].clone();
                for i in 0..=n {
                    if i == best {
                        continue;
                    }
                    for (x, bx) in pts[i].iter_mut().zip(&b) {
                        *x = bx + 0.5 * (*x - bx);
                    }
                    vals[i] = eval(&pts[i], evaluations);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let f = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let m = nelder_mead(f, &[-1.2, 1.0], &FitOptions::default()).unwrap();
        assert!((m.x[0] - 1.0).abs() < 1e-4, "{:?}", m);
        assert!((m.x[1] - 1.0).abs() < 1e-4, "{:?}", m);
        assert!(m.value < 1e-8);
    }

    #[test]
    fn reports_non_convergence() {
        // Unbounded below: the simplex keeps expanding until the budget runs out.
        let f = |x: &[f64]| x[0] + x[1];
        let opts = FitOptions {
            max_evaluations: 200,
            ..FitOptions::default()
        };
        let e = nelder_mead(f, &[0.0, 0.0], &opts).unwrap_err();
        assert!(e.reason.contains("200"), "{}", e.reason);
    }

    #[test]
    fn non_finite_regions_are_avoided() {
        let f = |x: &[f64]| {
            if x[0] < 0.0 {
                f64::NAN
            } else {
                (x[0] - 2.0).powi(2)
            }
        };
        let m = nelder_mead(f, &[0.5], &FitOptions::default()).unwrap();
        assert!((m.x[0] - 2.0).abs() < 1e-4);
    }
}
