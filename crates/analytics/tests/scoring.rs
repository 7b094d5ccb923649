//! A whole scoring run on a simulated airline with planted effects: a steep value skew and
//! disruptions and complaints that raise defection. The run must find them.

use rapport_analytics::simulate::Rng;
use rapport_analytics::{
    Activity, FEATURE_NAMES, ListName, ScoringConfig, SkewVerdict, fit_models, score_all,
    score_table, skew, summarize_history, working_lists,
};
use rapport_core::{
    Amount, AmountRole, AttrValue, Channel, Currency, CustomerId, Interaction, InteractionId,
    InteractionKind, Money, Tier, Timestamp,
};

const NOW_DAY: i64 = 20_000;
const PRODUCTS: [&str; 4] = ["flight", "hotel", "car", "lounge"];

fn at(day: i64) -> Timestamp {
    Timestamp::from_millis(day * 86_400_000 + 36_000_000)
}

struct World {
    activities: Vec<Activity>,
}

fn world(customers: u64, seed: u64) -> World {
    let mut rng = Rng::new(seed);
    let mut next_id = 0u64;
    let mut activities = Vec::new();
    for c in 0..customers {
        let mut h: Vec<Interaction> = Vec::new();
        let mut push = |day: i64, kind: InteractionKind, channel: Channel| {
            next_id += 1;
            Interaction::new(
                InteractionId(next_id),
                CustomerId(c),
                at(day),
                channel,
                kind,
            )
        };
        let start = NOW_DAY - 4 * 365 + (rng.uniform() * (4.0 * 365.0 - 30.0)) as i64;
        let gap = 20.0 + rng.uniform() * 100.0;
        // 2% of customers spend fifty times as much: a steep skew.
        let big = rng.uniform() < 0.02;
        let spend = if big { 5_000.0 } else { 100.0 } * (0.5 + rng.uniform());
        let trouble = rng.uniform() * 3.0;
        let products: Vec<&str> = PRODUCTS
            .iter()
            .copied()
            .filter(|_| rng.uniform() < 0.4)
            .collect();
        let products = if products.is_empty() {
            vec!["flight"]
        } else {
            products
        };
        let mut day = start;
        let mut year_end = start + 365;
        let mut year_trouble = 0u32;
        loop {
            let next = day + rng.exponential(1.0 / gap).ceil() as i64;
            // Disruptions and complaints of the customer between purchases.
            let incidents = rng.poisson(trouble * (next - day) as f64 / 365.0);
            for _ in 0..incidents {
                let d = day + (rng.uniform() * (next - day) as f64) as i64;
                if d > NOW_DAY {
                    break;
                }
                let kind = if rng.uniform() < 0.5 {
                    InteractionKind::Delay
                } else {
                    InteractionKind::Complaint
                };
                h.push(push(d, kind, Channel::CallCenter));
                year_trouble += 1;
            }
            day = next;
            if day > NOW_DAY {
                break;
            }
            if day > year_end {
                // Yearly defection, raised by the year's disruptions and complaints.
                let z = -2.0 + 0.9 * year_trouble as f64;
                let p = 1.0 / (1.0 + (-z).exp());
                if rng.uniform() < p {
                    break;
                }
                year_end += 365;
                year_trouble = 0;
            }
            let mut i = push(day, InteractionKind::Purchase, Channel::Web);
            let product = products[(rng.uniform() * products.len() as f64) as usize];
            i.attributes
                .insert("product".into(), AttrValue::Text(product.into()));
            i.amounts.push(Amount {
                role: AmountRole::Revenue,
                money: Money::new(
                    (spend * (0.5 + rng.uniform()) * 100.0) as i64,
                    Currency::EUR,
                ),
            });
            i.amounts.push(Amount {
                role: AmountRole::CostToServe,
                money: Money::new(-500, Currency::EUR),
            });
            h.push(i);
        }
        activities.push(summarize_history(
            &h,
            at(NOW_DAY),
            &rapport_analytics::Converter::reporting_only(Currency::EUR),
        ));
    }
    World { activities }
}

#[test]
fn a_run_finds_the_planted_skew_and_defection_drivers() {
    let w = world(4_000, 11);
    let cfg = ScoringConfig::default();
    let now = at(NOW_DAY);
    let models = fit_models(&w.activities, &cfg, now).unwrap();
    let report = &models.report;
    assert!(report.bgnbd.is_some(), "{:?}", report.bgnbd_error);
    // Spend is nearly the same across ordinary customers here, so Gamma-Gamma may find no
    // interior maximum; the run then values spend at each customer's own average.
    assert!(
        report.gamma_gamma.is_some() || report.gamma_gamma_error.is_some(),
        "{report:?}"
    );
    assert!(
        models.version.starts_with("value-v1/bgnbd-"),
        "{}",
        models.version
    );

    // Churn: complaints and disruptions raise it; evaluated out of time.
    let churn = models.churn.as_ref().expect("a churn model");
    let coef = |name: &str| {
        let i = FEATURE_NAMES.iter().position(|n| *n == name).unwrap();
        churn.coefficients[i]
    };
    assert!(coef("complaints_1y") > 0.0, "{churn:?}");
    assert!(coef("disruptions_1y") > 0.0, "{churn:?}");
    let auc = report.churn.auc_eval.expect("an out-of-time AUC");
    assert!(auc > 0.6, "{:?}", report.churn);

    let scores = score_all(&w.activities, &models, now, 2);
    assert_eq!(scores.len(), 4_000);
    // The table a run writes from holds exactly these scores, on one thread or two.
    assert!(!models.propensity.is_empty());
    for threads in [1, 2] {
        let table = score_table(&w.activities, &models, now, threads);
        assert_eq!(table.len(), scores.len());
        for (i, s) in scores.iter().enumerate() {
            assert_eq!(&table.scores(i), s, "customer {i}");
        }
    }
    // By the cut-offs (an incremental run's tiers): the default A is the top 5%.
    let a_share = scores.iter().filter(|s| s.tier == Tier::A).count() as f64 / 4_000.0;
    assert!((a_share - 0.05).abs() < 0.01, "{a_share}");
    // By rank (a full run's tiers): the shares hold to the customer, D the bottom 20%.
    let mut ranked = score_table(&w.activities, &models, now, 2);
    ranked.rank_tiers(&rapport_analytics::TierRules::default());
    let count = |t: Tier| ranked.rows.iter().filter(|r| r.tier == t).count();
    assert_eq!((count(Tier::A), count(Tier::D)), (200, 800));
    assert_eq!(ranked.rows.iter().filter(|r| r.bottom).count(), 800);
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(&s.p_alive)));
    for (a, s) in w.activities.iter().zip(&scores) {
        assert!(
            s.clv.is_finite() && s.clv >= 0.0,
            "{:?} {:?} {:?}",
            a.rfm(),
            s,
            models.transactions
        );
    }
    // Recent buyers are more likely alive than long-silent ones.
    let alive_of = |pred: &dyn Fn(&Activity) -> bool| {
        let v: Vec<f64> = w
            .activities
            .iter()
            .zip(&scores)
            .filter(|(a, _)| pred(a))
            .map(|(_, s)| s.p_alive)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let recent = alive_of(&|a| a.recency_days().is_some_and(|d| d < 60));
    let silent = alive_of(&|a| a.recency_days().is_some_and(|d| d > 500));
    assert!(recent > silent + 0.3, "{recent} {silent}");

    let values: Vec<f64> = scores.iter().map(|s| s.value).collect();
    let sk = skew(&values, "value", now).unwrap();
    assert_eq!(sk.verdict, SkewVerdict::Steep, "{:?}", sk.top_shares);

    let inputs: Vec<_> = w
        .activities
        .iter()
        .zip(&scores)
        .enumerate()
        .map(|(i, (a, s))| models.list_input(CustomerId(i as u64), a, s))
        .collect();
    let lists = working_lists(&inputs, &cfg.lists, now, rapport_core::Currency::EUR);
    for l in &lists {
        assert!(l.total > 0, "{} is empty", l.name);
        assert!(
            l.entries
                .windows(2)
                .all(|p| p[0].rank_value >= p[1].rank_value)
        );
    }
    let complainers = lists
        .iter()
        .find(|l| l.name == ListName::Complainers)
        .unwrap();
    assert!(
        complainers
            .entries
            .iter()
            .all(|e| e.tier == Tier::A || e.tier == Tier::B)
    );
}
