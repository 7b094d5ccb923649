//! Store benchmarks at production scale: point reads, index lookups, the newest-100 range
//! scan, a whole record open, durable writes and batched writes.
//!
//! The store is built once (batched writes of ~2,000 operations, then one flush) in a
//! temporary directory, or reused from `RAPPORT_BENCH_DB` if that directory already holds
//! one of the same size. Size with `RAPPORT_BENCH_CUSTOMERS` (default 1,000,000 customers;
//! 10 interactions per customer on average, 1 in 100 customers has 208 so newest-100 returns
//! 100).
//!
//! ```text
//! cargo bench -p rapport-store --bench store
//! RAPPORT_BENCH_CUSTOMERS=100000 cargo bench -p rapport-store --bench store
//! RAPPORT_BENCH_DB=/tmp/rapport-bench/db RAPPORT_BENCH_CACHE_MIB=4096 cargo bench -p rapport-store --bench store -- read
//! ```

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rapport_core::{
    AttrValue, Channel, CompensationGrant, Currency, Customer, CustomerId, DisruptionKind,
    Interaction, InteractionId, InteractionKind, Money, PartyKind, Scores, Sourced, Tier,
    Timestamp,
};
use rapport_store::{Batch, Durability, IndexKey, IndexKind, OpenOptions, Store};

const HEAVY_EVERY: u64 = 100;
const HEAVY_INTERACTIONS: u64 = 208;
const LIGHT_INTERACTIONS: u64 = 8;
const BATCH_CUSTOMERS: u64 = 200;

fn customers_wanted() -> u64 {
    std::env::var("RAPPORT_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000)
}

fn interactions_of(c: u64) -> u64 {
    if c.is_multiple_of(HEAVY_EVERY) {
        HEAVY_INTERACTIONS
    } else {
        LIGHT_INTERACTIONS
    }
}

fn customer(n: u64) -> (Customer, Vec<IndexKey>) {
    let now = Timestamp::from_secs(1_600_000_000 + n as i64);
    let mut c = Customer::new(CustomerId(n), PartyKind::Person, now);
    let name = format!("Given{} Family{}", n % 5_000, n % 20_000);
    c.profile.display_name = Some(Sourced::new(name, None, now));
    c.profile.loyalty_number = Some(Sourced::new(format!("M{n:09}"), None, now));
    c.profile.city = Some(Sourced::new("Lisbon".into(), None, now));
    let keys = vec![
        IndexKey::new(IndexKind::Email, format!("customer{n}@example.com")),
        IndexKey::new(IndexKind::Phone, format!("+35191{n:07}")),
        IndexKey::new(IndexKind::LoyaltyNumber, format!("M{n:09}")),
        IndexKey::new(IndexKind::NameToken, format!("family{}", n % 20_000)),
    ];
    (c, keys)
}

fn interaction(id: u64, c: u64, k: u64) -> Interaction {
    let at = Timestamp::from_secs(1_650_000_000 + (k as i64) * 86_400 + (c % 86_400) as i64);
    let mut i = Interaction::new(
        InteractionId(id),
        CustomerId(c),
        at,
        Channel::Web,
        InteractionKind::FlightFlown,
    );
    i.touchpoint = Some("LIS T1".into());
    i.division = Some("airline".into());
    i.attributes.insert(
        "flight".into(),
        AttrValue::Text(format!("RP{}", 100 + k % 900)),
    );
    i.attributes
        .insert("seat".into(), AttrValue::Text("14C".into()));
    i.attributes
        .insert("miles".into(), AttrValue::Int(800 + (k as i64 % 50) * 10));
    i.amounts.push(rapport_core::Amount {
        role: rapport_core::AmountRole::Revenue,
        money: Money::new(12_900, Currency::EUR),
    });
    i
}

fn scores(n: u64) -> Scores {
    Scores {
        model_version: "value-v1".into(),
        at: Timestamp::from_secs(1_700_000_000),
        value: n as f64,
        annual_value: 1.0,
        profit: 1.0,
        clv: 1.0,
        p_alive: 0.5,
        churn: Some(0.1),
        expected_transactions: 2.0,
        tier: Tier::B,
        top: false,
        bottom: false,
        segment: "standard".into(),
        propensity: Default::default(),
    }
}

fn grant(c: u64, d: &str) -> CompensationGrant {
    CompensationGrant {
        customer: CustomerId(c),
        disruption: d.into(),
        kind: DisruptionKind::Delay,
        delay_minutes: Some(540),
        instrument: "voucher".into(),
        amount: Money::new(25_000, Currency::EUR),
        policy_rule: "delay 6h+ v1".into(),
        granted_by: "bench".into(),
        touchpoint: "gate C12".into(),
        at: Timestamp::from_secs(1_700_000_000),
        interaction: InteractionId(0),
    }
}

fn rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Builds (or reuses) the benchmark store and returns its path.
fn build(n: u64) -> (PathBuf, Option<tempfile::TempDir>) {
    let (path, tmp) = match std::env::var_os("RAPPORT_BENCH_DB") {
        Some(p) => (PathBuf::from(p), None),
        None => {
            let tmp = tempfile::tempdir().expect("temp dir");
            (tmp.path().join("db"), Some(tmp))
        }
    };
    let store = Store::open(&path).expect("open bench store");
    if store.customer(CustomerId(n)).expect("read").is_some() {
        eprintln!("reusing the bench store at {}", path.display());
        return (path, tmp);
    }
    assert_eq!(
        store.customer_count().expect("count"),
        0,
        "{} holds a store of another size",
        path.display()
    );
    let started = Instant::now();
    let mut rows = 0u64;
    let mut ops = 0u64;
    let mut next_iid = 1u64;
    let mut c = 1u64;
    while c <= n {
        let mut b = Batch::default();
        for n in c..(c + BATCH_CUSTOMERS).min(n + 1) {
            let (cust, keys) = customer(n);
            b.put_customer(&cust, keys);
            for k in 0..interactions_of(n) {
                b.put_interaction(&interaction(next_iid, n, k));
                next_iid += 1;
                rows += 1;
            }
            if n.is_multiple_of(10) {
                b.put_scores(CustomerId(n), &scores(n));
                b.insert_grant(&grant(n, "RP100/2026-11-01"));
            }
            rows += 1;
        }
        ops += b.len() as u64;
        store.write(b, Durability::Batched).expect("bench write");
        c += BATCH_CUSTOMERS;
    }
    store.flush().expect("flush");
    // The index entries written above are overlay records: into a segment with them, as an
    // open does once the overlay is large.
    store.compact_index().expect("compact");
    let secs = started.elapsed().as_secs_f64();
    let disk = store.stats().map(|s| s.size_on_disk).unwrap_or(0);
    eprintln!(
        "built {n} customers, {} interactions ({ops} batch operations) in {secs:.1} s: \
         {:.0} rows/s; {:.0} MiB on disk; RSS {} MiB",
        next_iid - 1,
        rows as f64 / secs,
        disk as f64 / 1048576.0,
        rss_mib().unwrap_or(0)
    );
    (path, tmp)
}

/// Latency percentiles of one whole record open (customer + newest 100 + grants + scores):
/// a first pass on a cold cache, then a second pass over the same customers.
fn record_open_percentiles(store: &Store, n: u64) {
    for pass in ["cold", "warm"] {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut lat = Vec::with_capacity(20_000);
        for round in 0..20_000u64 {
            // Half heavy customers (100 interactions), half random ones.
            let c = if round % 2 == 0 {
                rng.random_range(1..=n / HEAVY_EVERY) * HEAVY_EVERY
            } else {
                rng.random_range(1..=n)
            };
            let t = Instant::now();
            let cust = store.customer(CustomerId(c)).expect("read");
            let page = store
                .interactions_newest(CustomerId(c), 100, None)
                .expect("scan");
            let grants = store.grants_of(CustomerId(c)).expect("grants");
            let s = store.scores(CustomerId(c)).expect("scores");
            lat.push(t.elapsed());
            black_box((cust, page, grants, s));
        }
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        eprintln!(
            "record open ({pass}; customer + newest 100 + grants + scores), 20,000 opens: \
             p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
            p(0.50),
            p(0.99),
            p(0.999),
            lat[lat.len() - 1]
        );
    }
}

/// How long the scan-based counts take (set `RAPPORT_BENCH_COUNTS=1`).
fn count_times(store: &Store) {
    let t = Instant::now();
    let customers = store.customer_count().expect("count");
    let t_customers = t.elapsed();
    let t = Instant::now();
    let interactions = store.interaction_count().expect("count");
    eprintln!(
        "customer_count() = {customers} in {t_customers:?}; interaction_count() = \
         {interactions} in {:?}",
        t.elapsed()
    );
}

fn benches(c: &mut Criterion) {
    let n = customers_wanted();
    let (path, _tmp) = build(n);
    // Reopen as a fresh process would, with the cache size asked for.
    let cache_mib: u64 = std::env::var("RAPPORT_BENCH_CACHE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    eprintln!("cache capacity {cache_mib} MiB");
    let options = OpenOptions::default().with_cache_capacity(cache_mib << 20);
    let store = Store::open_with(Path::new(&path), &options).expect("reopen");
    record_open_percentiles(&store, n);
    if std::env::var_os("RAPPORT_BENCH_COUNTS").is_some() {
        count_times(&store);
    }

    let mut rng = SmallRng::seed_from_u64(42);
    let mut g = c.benchmark_group("store");
    g.sample_size(50).measurement_time(Duration::from_secs(5));

    g.bench_function("point_read_customer", |b| {
        b.iter(|| {
            let id = CustomerId(rng.random_range(1..=n));
            black_box(store.customer(id).expect("read"))
        })
    });
    g.bench_function("index_lookup_email", |b| {
        b.iter(|| {
            let n = rng.random_range(1..=n);
            let key = IndexKey::new(IndexKind::Email, format!("customer{n}@example.com"));
            black_box(store.index_lookup(&key).expect("lookup"))
        })
    });
    g.bench_function("index_lookup_name_token", |b| {
        b.iter(|| {
            let n = rng.random_range(1..=n.min(20_000));
            let key = IndexKey::new(IndexKind::NameToken, format!("family{n}"));
            black_box(store.index_lookup(&key).expect("lookup"))
        })
    });
    g.bench_function("index_lookup_missing", |b| {
        b.iter(|| {
            let n = rng.random_range(1..=n);
            let key = IndexKey::new(IndexKind::Email, format!("nobody{n}@example.com"));
            black_box(store.index_lookup(&key).expect("lookup"))
        })
    });
    g.bench_function("index_prefix_name_token_20", |b| {
        b.iter(|| {
            let n = rng.random_range(1..=n.min(20_000) / 10);
            let hits = store
                .index_prefix(IndexKind::NameToken, &format!("family{n}"), 20)
                .expect("prefix");
            black_box(hits)
        })
    });
    g.bench_function("newest_100_interactions", |b| {
        b.iter(|| {
            let id = CustomerId(rng.random_range(1..=n / HEAVY_EVERY) * HEAVY_EVERY);
            let page = store.interactions_newest(id, 100, None).expect("scan");
            debug_assert_eq!(page.len(), 100);
            black_box(page)
        })
    });

    let mut next_id = n + 1;
    g.bench_function("durable_write_customer_with_4_index_keys", |b| {
        b.iter(|| {
            let (cust, keys) = customer(next_id);
            next_id += 1;
            let mut batch = Batch::default();
            batch.put_customer(&cust, keys);
            store.write(batch, Durability::Durable).expect("write")
        })
    });
    g.bench_function("batched_write_one_interaction", |b| {
        let mut iid = 1u64 << 40;
        b.iter(|| {
            let mut batch = Batch::default();
            batch.put_interaction(&interaction(iid, rng.random_range(1..=n), iid));
            iid += 1;
            store.write(batch, Durability::Batched).expect("write")
        })
    });
    g.throughput(Throughput::Elements(2_000));
    g.bench_function("batched_write_2000_interactions", |b| {
        let mut iid = 1u64 << 41;
        b.iter(|| {
            let mut batch = Batch::default();
            for _ in 0..2_000 {
                batch.put_interaction(&interaction(iid, rng.random_range(1..=n), iid));
                iid += 1;
            }
            store.write(batch, Durability::Batched).expect("write")
        })
    });
    g.throughput(Throughput::Elements(500));
    g.bench_function("batched_write_500_new_customers_with_4_index_keys", |b| {
        b.iter(|| {
            let mut batch = Batch::default();
            for _ in 0..500 {
                let (cust, keys) = customer(next_id);
                next_id += 1;
                batch.put_customer(&cust, keys);
            }
            store.write(batch, Durability::Batched).expect("write")
        })
    });
    // Customers written by the benchmarks above, found through the overlay.
    let written = next_id;
    g.bench_function("index_lookup_email_written_since", |b| {
        b.iter(|| {
            let id = rng.random_range(n + 1..written);
            let key = IndexKey::new(IndexKind::Email, format!("customer{id}@example.com"));
            black_box(store.index_lookup(&key).expect("lookup"))
        })
    });
    g.finish();
    store.flush().expect("flush");
    eprintln!(
        "after the benchmarks: {:.0} MiB on disk, RSS {} MiB",
        store.stats().map(|s| s.size_on_disk).unwrap_or(0) as f64 / 1048576.0,
        rss_mib().unwrap_or(0)
    );
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
