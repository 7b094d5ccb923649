//! Special functions the likelihoods need: log-gamma, log-beta, the Gauss hypergeometric
//! series and stable log-sum-exp.

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9; relative error below 1e-14).
/// Returns `f64::INFINITY` for x <= 0 (poles and the negative axis are never needed here).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x.is_nan() || x <= 0.0 {
        return f64::INFINITY;
    }
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1-x) = π / sin(πx), with x in (0, 0.5) so sin > 0.
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The digamma function ψ(x) = d/dx ln Γ(x) for x > 0 (recurrence up to x >= 10, then the
/// asymptotic series; absolute error below 1e-12). NaN for x <= 0.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let mut x = x;
    let mut result = 0.0;
    while x < 10.0 {
        result -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    result + x.ln()
        - 0.5 * inv
        - inv2
            * (1.0 / 12.0
                - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 / 132.0))))
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a + b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(e^a + e^b) without overflow.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + (-(a - b).abs()).exp().ln_1p()
}

/// ln(e^a - e^b) for a >= b; `NEG_INFINITY` when they are equal, NaN when b > a.
pub fn log_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    if b > a {
        return f64::NAN;
    }
    a + (-(-(a - b)).exp_m1()).ln()
}

/// Gauss hypergeometric function 2F1(a, b; c; z) by its power series, for 0 <= z < 1 and
/// a, b, c > 0 (all terms positive). `None` when the series has not converged to a relative
/// 1e-14 within `max_terms` terms (z too close to 1 for the series).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64, max_terms: usize) -> Option<f64> {
    if !(0.0..1.0).contains(&z) || c <= 0.0 {
        return None;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..max_terms {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-15 * sum.abs() {
            // Terms eventually fall at least geometrically (ratio -> z), so once a term is
            // negligible and the ratio is below one the tail is too.
            let ratio = (a + k + 1.0) * (b + k + 1.0) / ((c + k + 1.0) * (k + 2.0)) * z;
            if ratio < 1.0 {
                return sum.is_finite().then_some(sum);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        assert!(close(ln_gamma(1.0), 0.0, 1e-14));
        assert!(close(ln_gamma(2.0), 0.0, 1e-14));
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-14));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-14
        ));
        // Γ(0.1) = 9.513507698668732
        assert!(close(ln_gamma(0.1), 9.513_507_698_668_732f64.ln(), 1e-13));
        // ln Γ(100) = 359.1342053695754
        assert!(close(ln_gamma(100.0), 359.134_205_369_575_4, 1e-14));
        assert_eq!(ln_gamma(0.0), f64::INFINITY);
    }

    #[test]
    fn digamma_matches_known_values_and_the_derivative_of_ln_gamma() {
        // ψ(1) = -γ (Euler-Mascheroni)
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-12);
        // ψ(0.5) = -γ - 2 ln 2
        assert!((digamma(0.5) - (-0.577_215_664_901_532_9 - 2.0 * 2f64.ln())).abs() < 1e-12);
        for x in [0.05, 0.7, 3.3, 25.0, 400.0] {
            let h = 1e-5 * x;
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!(
                (digamma(x) - numeric).abs() < 1e-6 * (1.0 + numeric.abs()),
                "{x}"
            );
        }
        assert!(digamma(0.0).is_nan());
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z
        let z: f64 = 0.7;
        let v = hyp2f1(1.0, 1.0, 2.0, z, 10_000).unwrap();
        assert!(close(v, -(1.0 - z).ln() / z, 1e-12));
        // 2F1(a, b; b; z) = (1 - z)^-a
        let v = hyp2f1(2.5, 3.0, 3.0, 0.3, 10_000).unwrap();
        assert!(close(v, 0.7f64.powf(-2.5), 1e-12));
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 0.0, 10), Some(1.0));
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0, 10).is_none());
        assert!(hyp2f1(1.0, 1.0, 2.0, 0.999_999, 50).is_none());
    }

    #[test]
    fn log_exp_helpers_are_stable() {
        assert!(close(
            log_add_exp(1000.0, 1000.0),
            1000.0 + 2f64.ln(),
            1e-15
        ));
        assert!(close(log_sub_exp(2f64.ln(), 0.0), 0.0, 1e-12));
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
        assert!(log_sub_exp(0.0, 1.0).is_nan());
    }
}
