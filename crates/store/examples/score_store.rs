//! Builds a store for the `rapport score` benchmark: N customers (default 1,000,000) with
//! purchase-like histories drawn from a BG/NBD-shaped process, so the lifetime-value models
//! converge, written through the store API in large batched writes and one flush.
//!
//! Each customer buys at a personal rate (Gamma-distributed, about 2.7 purchases a year on
//! average) from a first day in the three years before 2026-11-20 and may drop out after each
//! purchase (Beta-distributed probability, mean 0.21). A purchase is a `purchase` interaction
//! with a revenue amount (personal mean spend, Gamma-distributed), a `product` and a
//! `booking_ref`; around it come web sessions, flights flown (miles), now and then a delay
//! with `delay_minutes`, a complaint with `resolved_first_contact`, a compensation, and
//! campaign contacts while the customer is known. About 12 interactions per customer (11.8 million for a million customers).
//!
//! ```text
//! cargo run --release -p rapport-store --example score_store -- /tmp/score1m/db 1000000
//! ```
//!
//! Refuses a directory that already holds customers (delete it to rebuild).

use std::path::PathBuf;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rapport_core::{
    Amount, AmountRole, AttrValue, Channel, ContactKind, ContactPoint, Currency, Customer,
    CustomerId, Interaction, InteractionId, InteractionKind, Money, PartyKind, Sourced, Timestamp,
};
use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};

/// 2026-11-20 (days since 1970-01-01): the last day of generated history.
const END_DAY: i64 = 20_777;
const MS_PER_DAY: i64 = 86_400_000;
const BATCH_CUSTOMERS: u64 = 1_000;
const MAX_PURCHASES: usize = 150;
const PRODUCTS: [&str; 6] = [
    "economy",
    "premium_economy",
    "business",
    "hotel",
    "car_rental",
    "insurance",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/score1m/db".into()));
    let n: u64 = args
        .next()
        .map(|s| {
            s.replace('_', "")
                .parse()
                .expect("N: a number of customers")
        })
        .unwrap_or(1_000_000);
    let store = Store::open(&path).expect("open the store");
    assert_eq!(
        store.customer_count().expect("count"),
        0,
        "{} already holds customers: delete it to rebuild",
        path.display()
    );
    let started = Instant::now();
    let mut rng = SmallRng::seed_from_u64(20_261_120);
    let mut next_iid = 1u64;
    let mut interactions = 0u64;
    let mut purchases = 0u64;
    let mut c = 1u64;
    while c <= n {
        let mut b = Batch::default();
        for id in c..(c + BATCH_CUSTOMERS).min(n + 1) {
            let (cust, keys) = customer(id);
            b.put_customer(&cust, keys);
            for i in history(&mut rng, id, &mut next_iid) {
                if i.kind == InteractionKind::Purchase {
                    purchases += 1;
                }
                b.put_interaction(&i);
                interactions += 1;
            }
        }
        store.write(b, Durability::Batched).expect("write a batch");
        c += BATCH_CUSTOMERS;
        if (c - 1).is_multiple_of(100_000) {
            eprintln!(
                "{} customers, {interactions} interactions, {:.0} s",
                c - 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.flush().expect("flush");
    let disk = store.stats().map(|s| s.size_on_disk).unwrap_or(0);
    eprintln!(
        "built {n} customers, {interactions} interactions ({purchases} purchases) in {:.1} s; \
         {:.0} MiB on disk",
        started.elapsed().as_secs_f64(),
        disk as f64 / 1_048_576.0
    );
}

fn customer(n: u64) -> (Customer, Vec<IndexKey>) {
    let now = Timestamp::from_secs(1_600_000_000 + n as i64);
    let mut c = Customer::new(CustomerId(n), PartyKind::Person, now);
    let name = format!("Given{} Family{}", n % 5_000, n % 20_000);
    c.profile.display_name = Some(Sourced::new(name, None, now));
    c.profile.loyalty_number = Some(Sourced::new(format!("M{n:09}"), None, now));
    c.profile.city = Some(Sourced::new("Lisbon".into(), None, now));
    c.contacts.push(ContactPoint {
        kind: ContactKind::Email,
        value: format!("customer{n}@example.com"),
        valid_from: None,
        valid_to: None,
        source: None,
        last_seen: now,
    });
    let keys = vec![
        IndexKey::new(IndexKind::Email, format!("customer{n}@example.com")),
        IndexKey::new(IndexKind::Phone, format!("+35191{n:07}")),
        IndexKey::new(IndexKind::LoyaltyNumber, format!("M{n:09}")),
        IndexKey::new(IndexKind::NameToken, format!("family{}", n % 20_000)),
    ];
    (c, keys)
}

/// Standard normal (Box-Muller).
fn normal(rng: &mut SmallRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Gamma(shape, scale) by Marsaglia and Tsang (shape < 1 boosted).
fn gamma(rng: &mut SmallRng, shape: f64, scale: f64) -> f64 {
    if shape < 1.0 {
        let u: f64 = 1.0 - rng.random::<f64>();
        return gamma(rng, shape + 1.0, scale) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random::<f64>();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v * scale;
        }
    }
}

fn beta(rng: &mut SmallRng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a, 1.0);
    let y = gamma(rng, b, 1.0);
    x / (x + y)
}

fn exponential(rng: &mut SmallRng, rate: f64) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    -u.ln() / rate
}

fn at(day: i64, rng: &mut SmallRng) -> Timestamp {
    Timestamp::from_millis(day * MS_PER_DAY + rng.random_range(6 * 3_600_000..22 * 3_600_000))
}

fn eur(cents: i64, role: AmountRole) -> Amount {
    Amount {
        role,
        money: Money::new(cents, Currency::EUR),
    }
}

/// One customer's interactions.
fn history(rng: &mut SmallRng, c: u64, next_iid: &mut u64) -> Vec<Interaction> {
    let mut out = Vec::new();
    let mut push = |out: &mut Vec<Interaction>, day: i64, rng: &mut SmallRng, channel, kind| {
        let i = Interaction::new(
            InteractionId(*next_iid),
            CustomerId(c),
            at(day, rng),
            channel,
            kind,
        );
        *next_iid += 1;
        out.push(i);
        out.len() - 1
    };
    let first_day = END_DAY - rng.random_range(60..1_100);
    let rate = gamma(rng, 0.9, 1.0 / 110.0); // purchases a day
    let dropout = beta(rng, 0.8, 3.0);
    let spend = gamma(rng, 4.0, 30.0); // mean spend in euros
    let favourite = rng.random_range(0..PRODUCTS.len());
    let mut day = first_day;
    let mut n = 0;
    let last_day = loop {
        let channel = match rng.random_range(0..10) {
            0..=4 => Channel::Web,
            5..=7 => Channel::App,
            8 => Channel::Agent,
            _ => Channel::Branch,
        };
        if rng.random_bool(0.5) && day > first_day {
            let k = push(
                &mut out,
                day - 1,
                rng,
                channel.clone(),
                InteractionKind::WebSession,
            );
            out[k].touchpoint = Some("/book".into());
        }
        let k = push(&mut out, day, rng, channel, InteractionKind::Purchase);
        let product = if rng.random_bool(0.7) {
            PRODUCTS[favourite]
        } else {
            PRODUCTS[rng.random_range(0..PRODUCTS.len())]
        };
        let cents = (spend * (0.5 + rng.random::<f64>()) * 100.0).round() as i64;
        let booking = format!("B{c:07}{n:03}");
        let p = &mut out[k];
        p.amounts.push(eur(cents.max(100), AmountRole::Revenue));
        p.attributes
            .insert("product".into(), AttrValue::Text(product.into()));
        p.attributes
            .insert("booking_ref".into(), AttrValue::Text(booking.clone()));
        p.division = Some("airline".into());
        if rng.random_bool(0.6) && day + 3 <= END_DAY {
            let k = push(
                &mut out,
                day + 3,
                rng,
                Channel::Gate,
                InteractionKind::FlightFlown,
            );
            let f = &mut out[k];
            f.touchpoint = Some("LIS T1".into());
            f.attributes.insert(
                "flight".into(),
                AttrValue::Text(format!("RP{}", 100 + c % 900)),
            );
            f.attributes
                .insert("seat".into(), AttrValue::Text("14C".into()));
            f.attributes
                .insert("miles".into(), AttrValue::Int(rng.random_range(300..3_000)));
            f.attributes
                .insert("booking_ref".into(), AttrValue::Text(booking.clone()));
            f.amounts.push(eur(1_500, AmountRole::CostToServe));
            if rng.random_bool(0.06) {
                let k = push(
                    &mut out,
                    day + 3,
                    rng,
                    Channel::Gate,
                    InteractionKind::Delay,
                );
                let minutes = rng.random_range(20..600);
                out[k]
                    .attributes
                    .insert("delay_minutes".into(), AttrValue::Int(minutes));
                if minutes >= 180 && rng.random_bool(0.5) {
                    let k = push(
                        &mut out,
                        day + 4,
                        rng,
                        Channel::CallCenter,
                        InteractionKind::CompensationGranted,
                    );
                    out[k].amounts.push(eur(25_000, AmountRole::Compensation));
                }
            }
        }
        if rng.random_bool(0.03) {
            let k = push(
                &mut out,
                (day + 5).min(END_DAY),
                rng,
                Channel::CallCenter,
                InteractionKind::Complaint,
            );
            let unresolved = rng.random_bool(0.4);
            let cm = &mut out[k];
            cm.attributes.insert(
                "resolved_first_contact".into(),
                AttrValue::Bool(!unresolved),
            );
            cm.text = Some("The connection was missed and nobody helped.".into());
        }
        n += 1;
        if n >= MAX_PURCHASES || rng.random_bool(dropout) {
            break day;
        }
        let next = day + exponential(rng, rate).ceil().max(1.0) as i64;
        if next > END_DAY {
            break day;
        }
        day = next;
    };
    // Campaign contacts every ~3 months while the customer is known (the newest ones even
    // after they stopped buying).
    let mut d = first_day + rng.random_range(20..120);
    while d <= END_DAY.min(last_day + 400) {
        let k = push(
            &mut out,
            d,
            rng,
            Channel::Email,
            InteractionKind::CampaignContact,
        );
        out[k]
            .attributes
            .insert("campaign".into(), AttrValue::Text(format!("C{}", d / 120)));
        d += rng.random_range(60..110);
    }
    out
}
