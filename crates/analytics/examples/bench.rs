//! Timings for docs/benchmarks.md (run with `--release`):
//!
//! ```text
//! cargo run --release -p rapport-analytics --example bench -- fits
//! cargo run --release -p rapport-analytics --example bench -- score 1000000
//! ```
//!
//! `fits` times BG/NBD, Gamma-Gamma and Pareto/NBD on the CDNOW summary (median of repeated
//! runs). `score N` generates N customers' yearly activity in memory (no store) and times the
//! pure scoring path: model fits (on the configured samples), scoring on 2 threads, tiers,
//! skew and working lists.

use std::path::PathBuf;
use std::time::Instant;

use rapport_analytics::simulate::Rng;
use rapport_analytics::{
    Activity, BgNbd, FitOptions, GammaGamma, ParetoNbd, Rfm, ScoringConfig, fit_models, score_all,
    skew, working_lists,
};
use rapport_core::{CustomerId, Timestamp};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("fits") => fits(),
        Some("pnbd") => pnbd(args.get(1).map(String::as_str)),
        Some("score") => {
            let n = args
                .get(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000);
            score(n)
        }
        _ => eprintln!("usage: bench fits | bench pnbd SUMMARY.csv | bench score N"),
    }
}

fn cdnow() -> Vec<Rfm> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/external/cdnow/cdnow_customers_summary_with_transactions.csv");
    let text = std::fs::read_to_string(&p).expect("CDNOW fixture");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l
                .split(',')
                .map(|v| v.trim().parse().expect("number"))
                .collect();
            Rfm {
                frequency: f[1] as u32,
                recency: f[2],
                age: f[3],
                monetary: f[4],
            }
        })
        .collect()
}

/// Pareto/NBD on a `frequency,recency,T` summary (e.g. the full CDNOW cohort written by
/// `benches/lifetimes_pnbd.py`): estimates, evaluations and the median of 5 fits.
fn pnbd(path: Option<&str>) {
    let Some(path) = path else {
        eprintln!("usage: bench pnbd SUMMARY.csv");
        return;
    };
    let text = std::fs::read_to_string(path).expect("summary");
    let data: Vec<Rfm> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l
                .split(',')
                .map(|v| v.trim().parse().expect("number"))
                .collect();
            Rfm::new(f[0] as u32, f[1], f[2])
        })
        .collect();
    let opts = FitOptions::default();
    let fit = ParetoNbd::fit(&data, &opts).expect("Pareto/NBD");
    println!(
        "Pareto/NBD on {} customers: {:?} LL {:.4} ({} optimiser steps)",
        data.len(),
        fit.params,
        fit.log_likelihood,
        fit.evaluations
    );
    let t = median_ms(5, || {
        std::hint::black_box(ParetoNbd::fit(&data, &opts).expect("fit"));
    });
    println!("median fit time: {t:.1} ms");
}

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[runs / 2]
}

fn fits() {
    let data = cdnow();
    let opts = FitOptions::default();
    let bg = BgNbd::fit(&data, &opts).expect("BG/NBD");
    let gg = GammaGamma::fit(&data, &opts).expect("Gamma-Gamma");
    let pn = ParetoNbd::fit(&data, &opts).expect("Pareto/NBD");
    println!(
        "BG/NBD      {:?} LL {:.4} ({} evaluations)",
        bg.params, bg.log_likelihood, bg.evaluations
    );
    println!(
        "Gamma-Gamma {:?} LL {:.4} ({} evaluations)",
        gg.params, gg.log_likelihood, gg.evaluations
    );
    println!(
        "Pareto/NBD  {:?} LL {:.4} ({} evaluations)",
        pn.params, pn.log_likelihood, pn.evaluations
    );
    let t_bg = median_ms(21, || {
        std::hint::black_box(BgNbd::fit(&data, &opts).expect("fit"));
    });
    let t_gg = median_ms(21, || {
        std::hint::black_box(GammaGamma::fit(&data, &opts).expect("fit"));
    });
    let t_pn = median_ms(5, || {
        std::hint::black_box(ParetoNbd::fit(&data, &opts).expect("fit"));
    });
    println!(
        "median fit time: BG/NBD {t_bg:.2} ms, Gamma-Gamma {t_gg:.2} ms, Pareto/NBD {t_pn:.1} ms"
    );
}

/// N customers acquired over four years, each buying by a BG/NBD process (rate ~ Gamma,
/// drop-out after each purchase ~ Beta) with a heavy-tailed spend, bucketed by year.
fn generate(n: usize, as_of_day: i64) -> Vec<Activity> {
    let products = ["flight", "hotel", "car", "lounge", "insurance"];
    let mut rng = Rng::new(2026);
    (0..n)
        .map(|_| {
            let mut a = Activity::empty(as_of_day);
            let first = as_of_day - 1 - (rng.uniform() * 4.0 * 365.0) as i64;
            a.first_day = Some(first);
            let per_day = rng.gamma(0.8, 60.0); // about one purchase every 75 days on average
            let drop = rng.beta(0.7, 4.0);
            let spend = 40.0 * rng.gamma(0.6, 0.6);
            let mut day = first as f64;
            let mut days = vec![first];
            loop {
                day += rng.exponential(per_day.max(1e-6));
                if day > as_of_day as f64 || rng.uniform() < drop {
                    break;
                }
                let d = day as i64;
                if d != *days.last().unwrap_or(&first) {
                    days.push(d);
                }
            }
            a.first_purchase_day = Some(first);
            a.first_purchase_revenue = spend;
            for d in &days {
                let k = (((as_of_day - d) / 365) as usize).min(4);
                a.purchase_days[k] += 1;
                a.last_purchase_day[k] = a.last_purchase_day[k].max(*d);
                let t = &mut a.totals[k];
                t.revenue += spend * (0.5 + rng.uniform());
                t.cost_to_serve += 5.0;
                t.miles += 800.0;
                a.interactions[k] += 1;
                if rng.uniform() < 0.5 {
                    a.digital[k] += 1;
                }
                if rng.uniform() < 0.1 {
                    a.disruptions[k] += 1;
                    if rng.uniform() < 0.3 {
                        a.complaints[k] += 1;
                        t.compensation += 50.0;
                    }
                }
            }
            for (i, p) in products.iter().enumerate() {
                if rng.uniform() < 0.6 / (i + 1) as f64 {
                    let d = days[(rng.uniform() * days.len() as f64) as usize % days.len()];
                    a.products.push((p.to_string(), d));
                }
            }
            a.products.sort();
            a
        })
        .collect()
}

fn score(n: usize) {
    let now = Timestamp::from_millis(20_412 * 86_400_000);
    let t = Instant::now();
    let activities = generate(n, 20_412);
    println!(
        "generated {n} customers in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let cfg = ScoringConfig::default();
    let t0 = Instant::now();
    let models = fit_models(&activities, &cfg, now).expect("models");
    let fit_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let scores = score_all(&activities, &models, now, cfg.threads);
    let score_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let values: Vec<f64> = scores.iter().map(|s| s.value).collect();
    let sk = skew(&values, "value", now).expect("skew");
    let inputs: Vec<_> = activities
        .iter()
        .zip(&scores)
        .enumerate()
        .map(|(i, (a, s))| models.list_input(CustomerId(i as u64), a, s))
        .collect();
    let lists = working_lists(&inputs, &cfg.lists, now, rapport_core::Currency::EUR);
    let post_s = t2.elapsed().as_secs_f64();
    let total = t0.elapsed().as_secs_f64();
    println!("model version {}", models.version);
    println!(
        "BG/NBD {:?}",
        models.report.bgnbd.as_ref().map(|f| f.params)
    );
    println!("churn AUC (out of time) {:?}", models.report.churn.auc_eval);
    println!(
        "skew {} (top 2% {:.2}), lists {:?}",
        sk.verdict.as_str(),
        sk.top_shares[1].1,
        lists
            .iter()
            .map(|l| (l.name.as_str(), l.total))
            .collect::<Vec<_>>()
    );
    println!(
        "fit {fit_s:.2} s, score {score_s:.2} s, skew+lists {post_s:.2} s, total {total:.2} s for {n} customers"
    );
}
