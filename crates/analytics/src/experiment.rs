//! The statistics of an experiment with a control group: per arm the outcome mean with its
//! confidence interval, each arm's uplift over control with an interval and a p-value by
//! Welch's t-test and by a seeded bootstrap, cost and incremental profit per customer, the
//! recommendation "the cheapest arm not significantly worse than the best", a power warning
//! when the sample is too small to tell, and the mark "preliminary" while the outcome window is
//! still open.
//!
//! Pure: the caller gives each arm's outcome values (one per assigned customer, already
//! measured over the window: revenue, bookings, 1.0 for a defection) and gets a
//! [`ExperimentReport`] back. The distributions come from `statrs`; the bootstrap draws from a
//! ChaCha8 stream seeded by [`AnalysisConfig::seed`], so the same data and seed give the same
//! report on every machine.
//!
//! ```
//! use rapport_analytics::{AnalysisConfig, ArmOutcomes, Direction, analyse_experiment};
//! let arms = vec![
//!     ArmOutcomes::new("control", 0.0, vec![0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]),
//!     ArmOutcomes::new("letter", 2.0, vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]),
//! ];
//! let config = AnalysisConfig::new(0, Direction::HigherIsBetter);
//! let report = analyse_experiment(&arms, &config).unwrap();
//! assert_eq!(report.arms[1].n, 10);
//! assert!(report.comparisons[0].uplift > 0.0);
//! assert!(!report.warnings.is_empty()); // ten customers an arm cannot tell a small effect
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::Error;

/// Which way the outcome is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// More is better (revenue, bookings).
    HigherIsBetter,
    /// Less is better (defection).
    LowerIsBetter,
}

/// One arm's input: its name, what it costs per assigned customer (in the reporting
/// currency's major units) and the outcome of every assigned customer.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmOutcomes {
    /// The arm's name (`control`, `letter`, ...).
    pub name: String,
    /// Cost per assigned customer.
    pub cost_per_customer: f64,
    /// One outcome value per assigned customer.
    pub values: Vec<f64>,
}

impl ArmOutcomes {
    /// An arm from its parts.
    pub fn new(name: impl Into<String>, cost_per_customer: f64, values: Vec<f64>) -> ArmOutcomes {
        ArmOutcomes {
            name: name.into(),
            cost_per_customer,
            values,
        }
    }
}

/// How to analyse: which arm is the control, which way is good, the money value of one unit
/// of outcome, the confidence level, the smallest effect worth detecting, the bootstrap and
/// whether the outcome window has closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisConfig {
    /// Index of the control arm in the slice given to [`analyse_experiment`].
    pub control: usize,
    /// Which way the outcome is good.
    pub direction: Direction,
    /// Money gained per unit increase of the outcome, for incremental profit (a margin on
    /// revenue, the profit of a booking, minus a customer's value for defection); `None`
    /// reports no profit.
    pub value_per_unit: Option<f64>,
    /// Confidence level of every interval (0.95); tests are two-sided at 1 - confidence.
    pub confidence: f64,
    /// The smallest uplift worth detecting, in outcome units; `None` takes 0.2 standard
    /// deviations of the control arm (Cohen's "small" effect).
    pub minimum_effect: Option<f64>,
    /// The power wanted at the minimum effect (0.8): below it the comparison is flagged.
    pub power: f64,
    /// Bootstrap resamples (2,000).
    pub resamples: usize,
    /// Seed of the bootstrap's random stream.
    pub seed: u64,
    /// Whether the outcome window has closed for every assigned customer; while it has not,
    /// the report is preliminary.
    pub window_closed: bool,
}

impl AnalysisConfig {
    /// The defaults: 95% intervals, power 0.8 at 0.2 control standard deviations, 2,000
    /// resamples from seed 0, no money value, window closed.
    pub fn new(control: usize, direction: Direction) -> AnalysisConfig {
        AnalysisConfig {
            control,
            direction,
            value_per_unit: None,
            confidence: 0.95,
            minimum_effect: None,
            power: 0.8,
            resamples: 2_000,
            seed: 0,
            window_closed: true,
        }
    }
}

/// A two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// Whether the interval holds `x`.
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// One arm's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// The arm.
    pub name: String,
    /// Customers assigned.
    pub n: usize,
    /// Mean outcome.
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 below two customers.
    pub sd: f64,
    /// Confidence interval of the mean (Student t with n - 1 degrees of freedom); `None`
    /// below two customers.
    pub interval: Option<Interval>,
    /// Cost per assigned customer.
    pub cost_per_customer: f64,
    /// Cost of the whole arm.
    pub total_cost: f64,
}

/// Welch's unequal-variance t-test of an arm's mean against another's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Welch {
    /// The t statistic of arm minus reference.
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Confidence interval of the difference of means.
    pub interval: Interval,
}

/// The bootstrap of the difference of means (each arm resampled with replacement).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Percentile interval of the difference.
    pub interval: Interval,
    /// Two-sided p-value: twice the smaller share of resampled differences on either side of
    /// zero, counted with the observed data as one resample ((k + 1) / (B + 1)), at most 1.
    pub p_value: f64,
    /// Resamples drawn.
    pub resamples: usize,
}

/// One treatment arm against the control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The treatment arm.
    pub arm: String,
    /// Mean of the arm minus mean of control, in outcome units.
    pub uplift: f64,
    /// Uplift over the control mean; `None` when the control mean is 0.
    pub relative_uplift: Option<f64>,
    /// Welch's t-test; `None` when either arm has fewer than two customers or neither varies.
    pub welch: Option<Welch>,
    /// The bootstrap; `None` when either arm is empty.
    pub bootstrap: Option<Bootstrap>,
    /// Significant at 1 - confidence by Welch's test, in either direction.
    pub significant: bool,
    /// Significant and in the good direction.
    pub better_than_control: bool,
    /// Cost per customer above control's.
    pub incremental_cost_per_customer: f64,
    /// Uplift times the value per unit, minus the incremental cost; `None` without a value
    /// per unit.
    pub incremental_profit_per_customer: Option<f64>,
    /// The smallest effect the power is computed at.
    pub minimum_effect: f64,
    /// Power of the two-sided test at the minimum effect with these arm sizes and spreads
    /// (normal approximation).
    pub power: f64,
    /// Customers needed in each of the two arms for the wanted power at the minimum effect;
    /// `None` when the spreads are unknown (fewer than two customers in an arm).
    pub needed_per_arm: Option<usize>,
}

/// The arm to roll out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The recommended arm (the control when nothing beat it).
    pub arm: String,
    /// The arm with the best mean.
    pub best: String,
    /// Why, in one sentence.
    pub reason: String,
    /// The outcome window is still open: a decision waits for it to close.
    pub provisional: bool,
}

/// Something the reader of a report must know before trusting it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Warning {
    /// The outcome window is still open: the numbers will change.
    Preliminary,
    /// An arm has too few customers for an interval (fewer than two).
    TooFewCustomers {
        /// The arm.
        arm: String,
        /// Its size.
        n: usize,
    },
    /// The comparison of an arm with control cannot tell the minimum effect reliably.
    Underpowered {
        /// The arm.
        arm: String,
        /// Power at the minimum effect.
        power: f64,
        /// The minimum effect.
        minimum_effect: f64,
        /// Customers needed per arm, when known.
        needed_per_arm: Option<usize>,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::Preliminary => f.write_str(
                "preliminary: the outcome window is still open; do not decide on these numbers",
            ),
            Warning::TooFewCustomers { arm, n } => {
                write!(f, "arm {arm} has {n} customers: too few for an interval")
            }
            Warning::Underpowered {
                arm,
                power,
                minimum_effect,
                needed_per_arm,
            } => {
                write!(
                    f,
                    "arm {arm}: the sample is too small to tell an effect of {minimum_effect:.4} (power {:.0}%",
                    power * 100.0
                )?;
                if let Some(n) = needed_per_arm {
                    write!(f, "; about {n} customers an arm needed")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// The whole analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// The configuration used.
    pub config: AnalysisConfig,
    /// Every arm, in input order (control included).
    pub arms: Vec<ArmSummary>,
    /// Every treatment arm against control, in input order.
    pub comparisons: Vec<Comparison>,
    /// The recommendation; `None` when no arm has a customer.
    pub recommendation: Option<Recommendation>,
    /// While the outcome window is open.
    pub preliminary: bool,
    /// What to know before trusting the numbers.
    pub warnings: Vec<Warning>,
}

/// Mean and sample standard deviation.
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, 0.0);
    }
    let ss: f64 = values.iter().map(|x| (x - mean) * (x - mean)).sum();
    (mean, (ss / (n - 1) as f64).sqrt())
}

fn student(df: f64) -> Result<StudentsT, Error> {
    StudentsT::new(0.0, 1.0, df).map_err(|e| Error::Numerical {
        what: "Student t distribution",
        reason: e.to_string(),
    })
}

fn std_normal() -> Normal {
    // Mean 0 and standard deviation 1 are valid parameters.
    Normal::standard()
}

/// The confidence interval of one sample's mean (Student t, n - 1 degrees of freedom).
pub fn mean_interval(values: &[f64], confidence: f64) -> Result<Option<Interval>, Error> {
    check_confidence(confidence)?;
    let n = values.len();
    if n < 2 {
        return Ok(None);
    }
    let (mean, sd) = mean_sd(values);
    let q = student((n - 1) as f64)?.inverse_cdf(0.5 + confidence / 2.0);
    let half = q * sd / (n as f64).sqrt();
    Ok(Some(Interval {
        low: mean - half,
        high: mean + half,
    }))
}

/// Welch's t-test of mean(a) - mean(b), two-sided, with the difference's interval at
/// `confidence`. `None` when either sample has fewer than two values or both have no spread.
pub fn welch_test(a: &[f64], b: &[f64], confidence: f64) -> Result<Option<Welch>, Error> {
    check_confidence(confidence)?;
    if a.len() < 2 || b.len() < 2 {
        return Ok(None);
    }
    let (ma, sa) = mean_sd(a);
    let (mb, sb) = mean_sd(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let va = sa * sa / na;
    let vb = sb * sb / nb;
    let se2 = va + vb;
    if se2 <= 0.0 {
        return Ok(None);
    }
    let se = se2.sqrt();
    let diff = ma - mb;
    let t = diff / se;
    let df = se2 * se2 / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    let dist = student(df)?;
    let p_value = (2.0 * dist.cdf(-t.abs())).min(1.0);
    let q = dist.inverse_cdf(0.5 + confidence / 2.0);
    Ok(Some(Welch {
        t,
        df,
        p_value,
        interval: Interval {
            low: diff - q * se,
            high: diff + q * se,
        },
    }))
}

/// The bootstrap of mean(a) - mean(b): `resamples` times, each sample is resampled with
/// replacement from a ChaCha8 stream seeded by `seed`. `None` when either sample is empty.
pub fn bootstrap_difference(
    a: &[f64],
    b: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Result<Option<Bootstrap>, Error> {
    check_confidence(confidence)?;
    if resamples < 100 {
        return Err(Error::InvalidConfig(format!(
            "bootstrap resamples {resamples}: at least 100 are needed for a 95% interval"
        )));
    }
    if a.is_empty() || b.is_empty() {
        return Ok(None);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diffs = Vec::with_capacity(resamples);
    let resampled_mean = |xs: &[f64], rng: &mut ChaCha8Rng| {
        let mut s = 0.0;
        for _ in 0..xs.len() {
            s += xs[rng.random_range(0..xs.len())];
        }
        s / xs.len() as f64
    };
    for _ in 0..resamples {
        let d = resampled_mean(a, &mut rng) - resampled_mean(b, &mut rng);
        diffs.push(d);
    }
    diffs.sort_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    let low = quantile(&diffs, alpha / 2.0);
    let high = quantile(&diffs, 1.0 - alpha / 2.0);
    let below = diffs.iter().filter(|d| **d <= 0.0).count();
    let above = diffs.iter().filter(|d| **d >= 0.0).count();
    let p = 2.0 * (below.min(above) + 1) as f64 / (resamples + 1) as f64;
    Ok(Some(Bootstrap {
        interval: Interval { low, high },
        p_value: p.min(1.0),
        resamples,
    }))
}

/// The q-quantile of sorted values, linear between order statistics (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Power of a two-sided z test at level `alpha` to find `effect` when the difference's
/// standard error is `se`.
pub fn power(effect: f64, se: f64, alpha: f64) -> f64 {
    if se <= 0.0 {
        return if effect.abs() > 0.0 { 1.0 } else { alpha };
    }
    let n = std_normal();
    let z = n.inverse_cdf(1.0 - alpha / 2.0);
    let d = effect.abs() / se;
    n.cdf(d - z) + n.cdf(-d - z)
}

/// Customers needed in each of two equal arms with standard deviations `sd_a` and `sd_b` for a
/// two-sided test at level `alpha` to find `effect` with the given power.
pub fn needed_per_arm(effect: f64, sd_a: f64, sd_b: f64, alpha: f64, power: f64) -> usize {
    let n = std_normal();
    let z = n.inverse_cdf(1.0 - alpha / 2.0) + n.inverse_cdf(power);
    let var = sd_a * sd_a + sd_b * sd_b;
    if effect.abs() <= 0.0 {
        return usize::MAX;
    }
    (z * z * var / (effect * effect)).ceil().max(2.0) as usize
}

fn check_confidence(confidence: f64) -> Result<(), Error> {
    if !(confidence > 0.5 && confidence < 1.0) {
        return Err(Error::InvalidConfig(format!(
            "confidence {confidence}: must be between 0.5 and 1 (e.g. 0.95)"
        )));
    }
    Ok(())
}

/// Analyses an experiment: `arms` in any order with the control at `config.control`.
///
/// Errors: no arms, a control index outside them, an arm with a non-finite value or cost, a
/// configuration out of range.
pub fn analyse_experiment(
    arms: &[ArmOutcomes],
    config: &AnalysisConfig,
) -> Result<ExperimentReport, Error> {
    check_confidence(config.confidence)?;
    if arms.is_empty() {
        return Err(Error::Empty {
            what: "an experiment without arms".into(),
        });
    }
    if config.control >= arms.len() {
        return Err(Error::InvalidConfig(format!(
            "control arm {} of {} arms",
            config.control,
            arms.len()
        )));
    }
    if !(config.power > 0.0 && config.power < 1.0) {
        return Err(Error::InvalidConfig(format!(
            "power {}: must be between 0 and 1 (e.g. 0.8)",
            config.power
        )));
    }
    if let Some(m) = config.minimum_effect
        && !(m.is_finite() && m > 0.0)
    {
        return Err(Error::InvalidConfig(format!(
            "minimum effect {m}: must be a positive number"
        )));
    }
    for a in arms {
        if !a.cost_per_customer.is_finite() {
            return Err(Error::InvalidInput {
                row: 0,
                field: "cost_per_customer",
                reason: format!("of arm {} is not a number", a.name),
            });
        }
        if let Some(k) = a.values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidInput {
                row: k + 1,
                field: "outcome",
                reason: format!("of arm {} is not a number", a.name),
            });
        }
    }
    let alpha = 1.0 - config.confidence;
    let mut warnings = Vec::new();
    if !config.window_closed {
        warnings.push(Warning::Preliminary);
    }
    let mut summaries = Vec::with_capacity(arms.len());
    for a in arms {
        let (mean, sd) = mean_sd(&a.values);
        if a.values.len() < 2 {
            warnings.push(Warning::TooFewCustomers {
                arm: a.name.clone(),
                n: a.values.len(),
            });
        }
        summaries.push(ArmSummary {
            name: a.name.clone(),
            n: a.values.len(),
            mean,
            sd,
            interval: mean_interval(&a.values, config.confidence)?,
            cost_per_customer: a.cost_per_customer,
            total_cost: a.cost_per_customer * a.values.len() as f64,
        });
    }
    let control = &arms[config.control];
    let cs = &summaries[config.control];
    let minimum_effect = config.minimum_effect.unwrap_or(0.2 * cs.sd);
    let sign = match config.direction {
        Direction::HigherIsBetter => 1.0,
        Direction::LowerIsBetter => -1.0,
    };
    let mut comparisons = Vec::new();
    for (k, a) in arms.iter().enumerate() {
        if k == config.control {
            continue;
        }
        let s = &summaries[k];
        let uplift = s.mean - cs.mean;
        let welch = welch_test(&a.values, &control.values, config.confidence)?;
        // Each comparison gets its own stream, so adding an arm leaves the others' numbers.
        let bootstrap = bootstrap_difference(
            &a.values,
            &control.values,
            config.confidence,
            config.resamples,
            config.seed.wrapping_add(k as u64),
        )?;
        let significant = welch.is_some_and(|w| w.p_value < alpha);
        let incremental_cost = a.cost_per_customer - control.cost_per_customer;
        let se = if s.n > 0 && cs.n > 0 {
            (s.sd * s.sd / s.n as f64 + cs.sd * cs.sd / cs.n as f64).sqrt()
        } else {
            f64::INFINITY
        };
        let known = s.n >= 2 && cs.n >= 2;
        let pw = if known && minimum_effect > 0.0 {
            power(minimum_effect, se, alpha)
        } else {
            0.0
        };
        let needed = (known && minimum_effect > 0.0 && (s.sd > 0.0 || cs.sd > 0.0))
            .then(|| needed_per_arm(minimum_effect, s.sd, cs.sd, alpha, config.power));
        if pw < config.power {
            warnings.push(Warning::Underpowered {
                arm: a.name.clone(),
                power: pw,
                minimum_effect,
                needed_per_arm: needed,
            });
        }
        comparisons.push(Comparison {
            arm: a.name.clone(),
            uplift,
            relative_uplift: (cs.mean != 0.0).then(|| uplift / cs.mean.abs()),
            welch,
            bootstrap,
            significant,
            better_than_control: significant && uplift * sign > 0.0,
            incremental_cost_per_customer: incremental_cost,
            incremental_profit_per_customer: config
                .value_per_unit
                .map(|v| uplift * v - incremental_cost),
            minimum_effect,
            power: pw,
            needed_per_arm: needed,
        });
    }
    let recommendation = recommend(arms, &summaries, config, sign, alpha)?;
    Ok(ExperimentReport {
        config: config.clone(),
        arms: summaries,
        comparisons,
        recommendation,
        preliminary: !config.window_closed,
        warnings,
    })
}

/// The cheapest arm not significantly worse than the best: the best is the arm (control
/// included) with the best mean; every arm whose difference from it is not significant by
/// Welch's test (or cannot be tested) is a candidate; the cheapest candidate wins, ties going
/// to the better mean. When the control is among the candidates, nothing was shown to help.
fn recommend(
    arms: &[ArmOutcomes],
    summaries: &[ArmSummary],
    config: &AnalysisConfig,
    sign: f64,
    alpha: f64,
) -> Result<Option<Recommendation>, Error> {
    let Some(best) = (0..arms.len())
        .filter(|k| summaries[*k].n > 0)
        .max_by(|a, b| (sign * summaries[*a].mean).total_cmp(&(sign * summaries[*b].mean)))
    else {
        return Ok(None);
    };
    let mut candidates = Vec::new();
    for k in 0..arms.len() {
        if summaries[k].n == 0 {
            continue;
        }
        if k == best {
            candidates.push(k);
            continue;
        }
        let worse = welch_test(&arms[k].values, &arms[best].values, config.confidence)?
            .is_some_and(|w| w.p_value < alpha);
        if !worse {
            candidates.push(k);
        }
    }
    let pick = candidates
        .iter()
        .copied()
        .min_by(|a, b| {
            arms[*a]
                .cost_per_customer
                .total_cmp(&arms[*b].cost_per_customer)
                .then((sign * summaries[*b].mean).total_cmp(&(sign * summaries[*a].mean)))
        })
        .unwrap_or(best);
    let (name, best_name) = (&summaries[pick].name, &summaries[best].name);
    let reason = if pick == config.control {
        format!(
            "no arm did significantly better than {name} at {:.0}% confidence: nothing was shown to help",
            config.confidence * 100.0
        )
    } else if pick == best {
        format!(
            "{name} has the best outcome and every cheaper arm is significantly worse at {:.0}% confidence",
            config.confidence * 100.0
        )
    } else {
        format!(
            "{name} is the cheapest arm not significantly worse than the best ({best_name}) at {:.0}% confidence",
            config.confidence * 100.0
        )
    };
    Ok(Some(Recommendation {
        arm: name.clone(),
        best: best_name.clone(),
        reason,
        provisional: !config.window_closed,
    }))
}
