//! The experiment statistics against independent reference values.
//!
//! Reference values were computed with scipy 1.17.1 (numpy 2, Python 3) on this machine:
//! `scipy.stats.ttest_ind(a, b, equal_var=False)` (statistic, pvalue, df and
//! `confidence_interval(0.95)`), `scipy.stats.t.ppf` for a mean's interval,
//! `scipy.stats.norm` for power and sample size, and `scipy.stats.bootstrap(..., method=
//! 'percentile', n_resamples=100000)` for the bootstrap interval. The first Welch example is
//! the worked example 1 of the Wikipedia article "Welch's t-test" (t = -2.46, ν = 25.0,
//! p = 0.021), which scipy reproduces.

use rapport_analytics::{
    AnalysisConfig, ArmOutcomes, Direction, Warning, analyse_experiment, bootstrap_difference,
    mean_interval, needed_per_arm, power, welch_test,
};

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (±{tol})"
    );
}

const A1: [f64; 15] = [
    27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4,
];
const A2: [f64; 15] = [
    27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4,
];

// scipy's documentation samples of unequal size and spread.
const S1: [f64; 10] = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0];
const S2: [f64; 20] = [
    28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0, 23.9, 21.6,
    24.3, 20.4, 23.9, 13.3,
];

#[test]
fn welch_matches_the_published_example() {
    // Wikipedia, "Welch's t-test", example 1; scipy: t -2.455356398286006,
    // p 0.021378001462866992, df 24.988529290231416.
    let w = welch_test(&A1, &A2, 0.95).unwrap().unwrap();
    close(w.t, -2.455356398286006, 1e-9, "t");
    close(w.df, 24.988529290231416, 1e-9, "df");
    close(w.p_value, 0.021378001462866992, 1e-7, "p");
}

#[test]
fn welch_matches_scipy_on_unequal_samples() {
    // scipy: t -2.225512039969852, p 0.035484530830010394, df 24.524634944257343,
    // 95% interval (-4.276458650120555, -0.16354134987944358).
    let w = welch_test(&S1, &S2, 0.95).unwrap().unwrap();
    close(w.t, -2.225512039969852, 1e-9, "t");
    close(w.df, 24.524634944257343, 1e-9, "df");
    close(w.p_value, 0.035484530830010394, 1e-7, "p");
    close(w.interval.low, -4.276458650120555, 1e-6, "low");
    close(w.interval.high, -0.16354134987944358, 1e-6, "high");
}

#[test]
fn welch_matches_scipy_on_a_yes_no_outcome() {
    // 21 of 30 rebooked against 12 of 30; scipy: t 2.4083189157584584,
    // p 0.019239774125183677, df 57.74336283185841, interval (0.0506260188117367,
    // 0.5493739811882632).
    let treated: Vec<f64> = (0..30).map(|k| f64::from(u8::from(k < 21))).collect();
    let control: Vec<f64> = (0..30).map(|k| f64::from(u8::from(k < 12))).collect();
    let w = welch_test(&treated, &control, 0.95).unwrap().unwrap();
    close(w.t, 2.4083189157584584, 1e-9, "t");
    close(w.df, 57.74336283185841, 1e-9, "df");
    close(w.p_value, 0.019239774125183677, 1e-7, "p");
    close(w.interval.low, 0.0506260188117367, 1e-6, "low");
    close(w.interval.high, 0.5493739811882632, 1e-6, "high");
}

#[test]
fn mean_interval_matches_scipy() {
    // mean(S1) ± t.ppf(0.975, 9) * sem(S1): (18.50889330293455, 20.231106697065446).
    let i = mean_interval(&S1, 0.95).unwrap().unwrap();
    close(i.low, 18.50889330293455, 1e-6, "low");
    close(i.high, 20.231106697065446, 1e-6, "high");
    assert_eq!(mean_interval(&[1.0], 0.95).unwrap(), None);
}

#[test]
fn power_and_sample_size_match_scipy() {
    // norm.cdf(0.25/0.1 - z) + norm.cdf(-0.25/0.1 - z), z = norm.ppf(0.975): 0.7054180011138003.
    close(power(0.25, 0.1, 0.05), 0.7054180011138003, 1e-6, "power");
    // (norm.ppf(0.975) + norm.ppf(0.8))^2 * (0.5^2 + 0.5^2) / 0.1^2 = 392.44 -> 393.
    assert_eq!(needed_per_arm(0.1, 0.5, 0.5, 0.05, 0.8), 393);
}

#[test]
fn bootstrap_agrees_with_scipy_and_is_reproducible() {
    // scipy.stats.bootstrap((S1, S2), mean difference, percentile, 100,000 resamples):
    // (-4.08, -0.285). Another generator, so agreement within resampling noise.
    let b = bootstrap_difference(&S1, &S2, 0.95, 20_000, 7)
        .unwrap()
        .unwrap();
    close(b.interval.low, -4.08, 0.12, "low");
    close(b.interval.high, -0.285, 0.12, "high");
    assert!(b.p_value < 0.05 && b.p_value > 0.005, "p {}", b.p_value);
    let again = bootstrap_difference(&S1, &S2, 0.95, 20_000, 7)
        .unwrap()
        .unwrap();
    assert_eq!(b, again, "the same seed gives the same resamples");
    let other = bootstrap_difference(&S1, &S2, 0.95, 20_000, 8)
        .unwrap()
        .unwrap();
    assert_ne!(b.interval, other.interval);
    assert!(bootstrap_difference(&S1, &S2, 0.95, 10, 7).is_err());
}

/// A yes/no outcome: `yes` of `n` customers.
fn shares(yes: usize, n: usize) -> Vec<f64> {
    (0..n).map(|k| f64::from(u8::from(k < yes))).collect()
}

#[test]
fn the_cheapest_arm_not_significantly_worse_than_the_best_is_recommended() {
    let arms = vec![
        ArmOutcomes::new("control", 0.0, shares(90, 200)),
        ArmOutcomes::new("letter", 2.0, shares(126, 200)),
        ArmOutcomes::new("letter_coupon", 52.0, shares(130, 200)),
        ArmOutcomes::new("letter_lounge", 37.0, shares(124, 200)),
    ];
    let mut config = AnalysisConfig::new(0, Direction::HigherIsBetter);
    config.value_per_unit = Some(300.0);
    config.minimum_effect = Some(0.15);
    let r = analyse_experiment(&arms, &config).unwrap();
    assert_eq!(r.arms.len(), 4);
    close(r.arms[1].mean, 0.63, 1e-12, "letter mean");
    assert_eq!(r.comparisons.len(), 3);
    for c in &r.comparisons {
        assert!(c.better_than_control, "{} beats control", c.arm);
        let w = c.welch.unwrap();
        assert!(w.interval.contains(c.uplift));
        let b = c.bootstrap.unwrap();
        assert!(
            b.interval.low > 0.0,
            "{}: bootstrap interval {:?}",
            c.arm,
            b.interval
        );
        assert!(c.power > 0.8, "{} power {}", c.arm, c.power);
    }
    let letter = &r.comparisons[0];
    close(letter.uplift, 0.18, 1e-12, "uplift");
    close(letter.incremental_cost_per_customer, 2.0, 1e-12, "cost");
    close(
        letter.incremental_profit_per_customer.unwrap(),
        0.18 * 300.0 - 2.0,
        1e-9,
        "profit",
    );
    let rec = r.recommendation.unwrap();
    assert_eq!(rec.arm, "letter");
    assert_eq!(rec.best, "letter_coupon");
    assert!(!rec.provisional);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // The same inputs and seed give the same report.
    assert_eq!(
        analyse_experiment(&arms, &config).unwrap().comparisons,
        r.comparisons
    );
}

#[test]
fn a_small_sample_warns_and_keeps_the_control() {
    let arms = vec![
        ArmOutcomes::new("control", 0.0, shares(5, 12)),
        ArmOutcomes::new("letter", 2.0, shares(7, 12)),
    ];
    let mut config = AnalysisConfig::new(0, Direction::HigherIsBetter);
    config.minimum_effect = Some(0.1);
    config.window_closed = false;
    let r = analyse_experiment(&arms, &config).unwrap();
    assert!(r.preliminary);
    assert!(r.warnings.contains(&Warning::Preliminary));
    let under = r
        .warnings
        .iter()
        .find_map(|w| match w {
            Warning::Underpowered {
                arm,
                needed_per_arm,
                ..
            } => Some((arm.clone(), *needed_per_arm)),
            _ => None,
        })
        .expect("a power warning");
    assert_eq!(under.0, "letter");
    assert!(under.1.unwrap() > 300, "{under:?}");
    let rec = r.recommendation.unwrap();
    assert_eq!(
        rec.arm, "control",
        "nothing was shown to help: {}",
        rec.reason
    );
    assert!(rec.provisional);
    assert!(!r.comparisons[0].significant);
}

#[test]
fn lower_is_better_for_defection() {
    // Defection: 40% in control, 20% with the letter.
    let arms = vec![
        ArmOutcomes::new("control", 0.0, shares(80, 200)),
        ArmOutcomes::new("letter", 2.0, shares(40, 200)),
    ];
    let mut config = AnalysisConfig::new(0, Direction::LowerIsBetter);
    // A defection loses a customer worth 500.
    config.value_per_unit = Some(-500.0);
    let r = analyse_experiment(&arms, &config).unwrap();
    let c = &r.comparisons[0];
    assert!(c.uplift < 0.0 && c.better_than_control);
    close(
        c.incremental_profit_per_customer.unwrap(),
        0.2 * 500.0 - 2.0,
        1e-9,
        "profit",
    );
    assert_eq!(r.recommendation.unwrap().arm, "letter");
}

#[test]
fn bad_input_is_refused() {
    let arm = |v: Vec<f64>| vec![ArmOutcomes::new("control", 0.0, v)];
    let config = AnalysisConfig::new(0, Direction::HigherIsBetter);
    assert!(analyse_experiment(&[], &config).is_err());
    let e = analyse_experiment(&arm(vec![1.0, f64::NAN]), &config).unwrap_err();
    assert!(e.to_string().contains("row 2"), "{e}");
    let mut bad = config.clone();
    bad.control = 3;
    assert!(analyse_experiment(&arm(vec![1.0]), &bad).is_err());
    let mut bad = config.clone();
    bad.confidence = 1.5;
    assert!(analyse_experiment(&arm(vec![1.0]), &bad).is_err());
    // An empty arm is reported, not a panic.
    let arms = vec![
        ArmOutcomes::new("control", 0.0, vec![]),
        ArmOutcomes::new("letter", 2.0, vec![1.0, 0.0]),
    ];
    let r = analyse_experiment(&arms, &config).unwrap();
    assert!(r.comparisons[0].welch.is_none() && r.comparisons[0].bootstrap.is_none());
    assert!(matches!(
        r.warnings[0],
        Warning::TooFewCustomers { n: 0, .. }
    ));
}
