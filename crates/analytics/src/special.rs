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

/// Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1 and a, b, c > 0. Below
/// z = 0.75 by its power series; above, through the linear transformation to 1 - z
/// (Abramowitz and Stegun 15.3.6), whose series converge fast, unless c - a - b is too close
/// to an integer for it, when the direct series is summed. `None` when a series has not
/// converged to a relative 1e-14 within `max_terms` terms.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64, max_terms: usize) -> Option<f64> {
    if !(0.0..1.0).contains(&z) || c <= 0.0 || a <= 0.0 || b <= 0.0 {
        return None;
    }
    let m = c - a - b;
    if z <= 0.75 || (m - m.round()).abs() < 1e-3 {
        return series(a, b, c, z, max_terms);
    }
    let w = 1.0 - z;
    let s1 = series(a, b, 1.0 - m, w, max_terms)?;
    let s2 = series(c - a, c - b, 1.0 + m, w, max_terms)?;
    let (g_c, ln_c) = signed_ln_gamma(c);
    let term = |parts: [(f64, f64); 3], s: f64, extra_ln: f64| {
        // parts: numerator Γ(u), denominators Γ(v), Γ(w) as (sign, ln|Γ|)
        let sign = g_c * parts[0].0 * parts[1].0 * parts[2].0;
        sign * s * (ln_c + parts[0].1 - parts[1].1 - parts[2].1 + extra_ln).exp()
    };
    let first = term(
        [
            signed_ln_gamma(m),
            signed_ln_gamma(c - a),
            signed_ln_gamma(c - b),
        ],
        s1,
        0.0,
    );
    let second = term(
        [signed_ln_gamma(-m), signed_ln_gamma(a), signed_ln_gamma(b)],
        s2,
        m * w.ln(),
    );
    let v = first + second;
    // With all parameters positive every term of the series is positive, so 2F1 >= 1; a
    // smaller or non-finite value, or two terms that cancel to fewer than about 12 good digits,
    // means the transformation lost precision: sum the direct series instead.
    if v.is_finite() && v >= 1.0 && (first.abs() + second.abs()) <= 1e3 * v {
        Some(v)
    } else {
        series(a, b, c, z, max_terms)
    }
}

/// (sign of Γ(x), ln |Γ(x)|) for any x that is not a pole.
fn signed_ln_gamma(x: f64) -> (f64, f64) {
    if x > 0.0 {
        return (1.0, ln_gamma(x));
    }
    // Reflection: Γ(x) = π / (sin(πx) Γ(1 - x)).
    let s = (std::f64::consts::PI * x).sin();
    (
        s.signum(),
        std::f64::consts::PI.ln() - s.abs().ln() - ln_gamma(1.0 - x),
    )
}

/// The power series of 2F1 for |z| < 1 and c not a non-positive integer (terms may change
/// sign when a parameter is negative).
fn series(a: f64, b: f64, c: f64, z: f64, max_terms: usize) -> Option<f64> {
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..max_terms {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-15 * sum.abs() {
            // Terms eventually fall at least geometrically (ratio -> z), so once a term is
            // negligible and the ratio is below one the tail is too.
            let ratio = ((a + k + 1.0) * (b + k + 1.0) / ((c + k + 1.0) * (k + 2.0)) * z).abs();
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
        // Above 0.75 the 1 - z transformation: check against the direct series.
        for (a, b, c, z) in [
            (0.243 + 2.0, 2.426 + 2.0, 0.793 + 2.426 + 1.0, 0.8),
            (0.5, 3.0, 2.7, 0.97),
            (1.243, 3.426, 3.219, 0.9),
            // Large b: the transformed terms cancel, the direct series is used.
            (4.509, 70.82, 73.72, 0.8),
        ] {
            let direct = series(a, b, c, z, 1_000_000).unwrap();
            let fast = hyp2f1(a, b, c, z, 10_000).unwrap();
            assert!(
                close(fast, direct, 1e-10),
                "{a} {b} {c} {z}: {fast} vs {direct}"
            );
        }
        assert!(close(
            hyp2f1(1.0, 1.0, 2.0, 0.95, 10_000).unwrap(),
            -(0.05f64).ln() / 0.95,
            1e-12
        ));
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
