//! Parameter recovery: data simulated from known parameters (seeded) is fitted back.

use rapport_analytics::simulate;
use rapport_analytics::{BgNbd, FitOptions, GammaGamma};

#[test]
fn bgnbd_recovers_simulated_parameters() {
    let truth = BgNbd {
        r: 0.5,
        alpha: 6.0,
        a: 0.7,
        b: 2.5,
    };
    let data = simulate::bgnbd(&truth, 20_000, 26.0, 78.0, 42);
    let fit = BgNbd::fit(&data, &FitOptions::default()).unwrap();
    let p = fit.params;
    for (name, got, want, tol) in [
        ("r", p.r, truth.r, 0.08),
        ("alpha", p.alpha, truth.alpha, 0.10),
        ("a", p.a, truth.a, 0.20),
        ("b", p.b, truth.b, 0.25),
    ] {
        assert!(
            ((got - want) / want).abs() < tol,
            "{name}: fitted {got}, simulated from {want}"
        );
    }
    // The fitted model predicts the simulated total transactions.
    let simulated: u32 = data.iter().map(|d| d.frequency).sum();
    let expected: f64 = data
        .iter()
        .map(|d| p.expected_transactions(d.age).unwrap())
        .sum();
    assert!((expected / simulated as f64 - 1.0).abs() < 0.03);
}

#[test]
fn gamma_gamma_recovers_simulated_parameters() {
    let truth = GammaGamma {
        p: 6.0,
        q: 4.0,
        gamma: 16.0,
    };
    let bg = BgNbd {
        r: 0.8,
        alpha: 4.0,
        a: 0.5,
        b: 3.0,
    };
    let mut data = simulate::bgnbd(&bg, 20_000, 39.0, 39.0, 7);
    simulate::gamma_gamma_spend(&truth, &mut data, 8);
    let fit = GammaGamma::fit(&data, &FitOptions::default()).unwrap();
    let p = fit.params;
    for (name, got, want) in [
        ("p", p.p, truth.p),
        ("q", p.q, truth.q),
        ("gamma", p.gamma, truth.gamma),
    ] {
        assert!(
            ((got - want) / want).abs() < 0.12,
            "{name}: fitted {got}, simulated from {want}"
        );
    }
}

#[test]
fn a_model_that_cannot_be_fitted_says_so() {
    // Too few evaluations to converge: an error, never numbers.
    let data = simulate::bgnbd(
        &BgNbd {
            r: 0.5,
            alpha: 6.0,
            a: 0.7,
            b: 2.5,
        },
        500,
        30.0,
        40.0,
        1,
    );
    let opts = FitOptions {
        max_evaluations: 5,
        ..FitOptions::default()
    };
    let e = BgNbd::fit(&data, &opts).unwrap_err();
    assert!(e.to_string().contains("did not converge"), "{e}");
}
