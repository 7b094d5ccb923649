//! Service benchmarks on loopback (run with `cargo bench -p rapport-service --bench service`):
//!
//! 1. concurrent opens: `CLIENTS` network clients (default 200), each logged in on its own
//!    connection, open random customer records on a fixed schedule adding up to `RATE` opens a
//!    second (default 2,000) for `SECS` seconds (default 10); latency percentiles and the rate
//!    achieved;
//! 2. change propagation: one client logs an interaction (a durable write), another client
//!    watching that customer receives the live event; time from the request leaving to the
//!    event arriving, idle and under the open load.
//!
//! The server runs in this process on its own runtime (2 workers), the clients on another.
//! Settings through environment variables: RAPPORT_BENCH_CLIENTS, RAPPORT_BENCH_RATE,
//! RAPPORT_BENCH_SECS, RAPPORT_BENCH_CUSTOMERS, RAPPORT_BENCH_INTERACTIONS (per customer);
//! RAPPORT_BENCH_DB names an existing database to open records of (e.g. a loaded
//! million-customer world) instead of seeding a temporary one: its customers are read from
//! the pages of ids and an operator `bench` is added to it (kept if already there).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_core::{
    Channel, Customer, CustomerId, Interaction, InteractionId, InteractionKind, PartyKind, Sourced,
    Timestamp,
};
use rapport_governance::Role;
use rapport_service::{
    Embedded, Engine, InteractionQuery, Listener, LiveEvent, NewInteraction, OperatorAdmin, Remote,
    ServerConfig, Service, Watch, run,
};
use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "bench password 1";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed(store: &Store, customers: u64, per_customer: u64) -> Vec<CustomerId> {
    let t0 = Timestamp::now().plus_millis(-(per_customer as i64) * 86_400_000);
    let mut ids = Vec::new();
    let mut batch = Batch::default();
    let first = store
        .next_interaction_ids(customers * per_customer)
        .unwrap()
        .start;
    let mut next = first;
    for k in 0..customers {
        let id = store.next_customer_id().unwrap();
        let mut c = Customer::new(id, PartyKind::Person, t0);
        c.profile.display_name = Some(Sourced::new(format!("Bench Customer {k}"), None, t0));
        batch.put_customer(
            &c,
            vec![IndexKey::new(IndexKind::NameToken, format!("bench{k}"))],
        );
        for d in 0..per_customer {
            let mut i = Interaction::new(
                InteractionId(next),
                id,
                t0.plus_millis(d as i64 * 86_400_000),
                Channel::Web,
                InteractionKind::FlightFlown,
            );
            i.touchpoint = Some("LHR".into());
            next += 1;
            batch.put_interaction(&i);
        }
        ids.push(id);
        if batch.len() > 20_000 {
            store
                .write(std::mem::take(&mut batch), Durability::Batched)
                .unwrap();
        }
    }
    store.write(batch, Durability::Durable).unwrap();
    ids
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let k = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name}: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        percentile(&samples, 50.0).as_secs_f64() * 1e3,
        percentile(&samples, 90.0).as_secs_f64() * 1e3,
        percentile(&samples, 99.0).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

async fn open_load(
    clients: &[Remote],
    ids: Arc<Vec<CustomerId>>,
    rate: u64,
    secs: u64,
) -> (Vec<Duration>, u64, Duration) {
    let per_client = Duration::from_secs_f64(clients.len() as f64 / rate as f64);
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (n, c) in clients.iter().enumerate() {
        let (c, ids) = (c.clone(), ids.clone());
        // Spread the clients' schedules over one period.
        let offset = per_client.mul_f64(n as f64 / clients.len() as f64);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut next = Instant::now() + offset;
            let mut k = n as u64 * 7919;
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                k = k
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let id = ids[(k >> 33) as usize % ids.len()];
                // Latency from the scheduled time: a late start counts (no coordinated omission).
                match c.open(id, InteractionQuery::default()).await {
                    Ok(r) => {
                        assert_eq!(r.customer.id, id);
                        lat.push(next.elapsed());
                    }
                    Err(_) => errors += 1,
                }
                next += per_client;
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    (all, errors, start.elapsed())
}

async fn propagation(
    writer: &Remote,
    reader: &Remote,
    customer: CustomerId,
    n: usize,
) -> Vec<Duration> {
    let mut sub = reader
        .subscribe(Watch::Customers(vec![customer]))
        .await
        .unwrap();
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let t0 = Instant::now();
        let i = writer
            .log_interaction(NewInteraction {
                customer,
                kind: InteractionKind::Note,
                channel: Channel::CallCenter,
                touchpoint: None,
                phase: None,
                text: Some(format!("bench note {k}")),
                attributes: Default::default(),
                amounts: vec![],
            })
            .await
            .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), sub.events.recv()).await {
                Ok(Some(LiveEvent::Change(e))) => {
                    if let rapport_core::Change::InteractionAdded { interaction, .. } = e.change
                        && interaction == i.id
                    {
                        out.push(t0.elapsed());
                        break;
                    }
                }
                Ok(Some(_)) => {}
                other => panic!("no live event: {other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out
}

fn main() {
    let clients_n = env("RAPPORT_BENCH_CLIENTS", 200) as usize;
    let rate = env("RAPPORT_BENCH_RATE", 2_000);
    let secs = env("RAPPORT_BENCH_SECS", 10);
    let customers = env("RAPPORT_BENCH_CUSTOMERS", 10_000);
    let per_customer = env("RAPPORT_BENCH_INTERACTIONS", 30);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (store, ids) = match std::env::var_os("RAPPORT_BENCH_DB") {
        Some(db) => {
            let store = Store::open(std::path::Path::new(&db)).unwrap();
            let ids: Vec<CustomerId> = store
                .customer_ids(CustomerId(0), None)
                .collect::<Result<_, _>>()
                .unwrap();
            println!(
                "opened {} ({} customers) in {:.1} s",
                db.to_string_lossy(),
                ids.len(),
                t.elapsed().as_secs_f64()
            );
            (store, ids)
        }
        None => {
            let store = Store::open(&dir.path().join("db")).unwrap();
            let ids = seed(&store, customers, per_customer);
            println!(
                "seeded {customers} customers x {per_customer} interactions in {:.1} s (on disk, {})",
                t.elapsed().as_secs_f64(),
                dir.path().display()
            );
            (store, ids)
        }
    };
    let ids = Arc::new(ids);

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let engine = Arc::new(Engine::new(store));
    let local = Embedded::from_engine(engine.clone(), "bench".into());
    if let Err(e) = server_rt.block_on(local.add_operator("bench", Role::FrontLine, PASSWORD)) {
        // A database measured before keeps its operator (and its password).
        println!("operator bench: {e}");
    }
    let (listener, shutdown) = server_rt.block_on(async {
        (
            Listener::tcp("127.0.0.1:0").await.unwrap(),
            CancellationToken::new(),
        )
    });
    let addr = listener.address();
    let server = server_rt.spawn(run(
        vec![listener],
        engine,
        // The clients all come from 127.0.0.1: the per-address limit is raised as an
        // operator behind one NAT would (`rapport serve --max-per-address`).
        ServerConfig {
            max_per_address: clients_n + 8,
            ..ServerConfig::default()
        },
        shutdown.clone(),
    ));

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        let t = Instant::now();
        let mut clients = Vec::new();
        for _ in 0..clients_n {
            clients.push(Remote::connect(&addr, "bench", PASSWORD).await.unwrap());
        }
        println!(
            "{clients_n} clients logged in (argon2, 2 at a time) in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        // Warm-up.
        let _ = open_load(&clients, ids.clone(), rate, 1).await;

        let (lat, errors, took) = open_load(&clients, ids.clone(), rate, secs).await;
        println!(
            "opens: {clients_n} clients, target {rate}/s for {secs} s: achieved {:.0}/s, {errors} errors",
            lat.len() as f64 / took.as_secs_f64()
        );
        report("open latency", lat);

        let idle = propagation(&clients[0], &clients[1], ids[0], 300).await;
        report("propagation idle (write + flush + push)", idle);

        let load_clients: Vec<Remote> = clients[2..].to_vec();
        let load = tokio::spawn({
            let ids = ids.clone();
            async move { open_load(&load_clients, ids, rate, secs).await }
        });
        let busy = propagation(&clients[0], &clients[1], ids[1], 300).await;
        let (lat, errors, took) = load.await.unwrap();
        report("propagation under the open load", busy);
        println!(
            "opens during that: achieved {:.0}/s, {errors} errors",
            lat.len() as f64 / took.as_secs_f64()
        );
        report("open latency during propagation", lat);
    });
    shutdown.cancel();
    server_rt.block_on(server).unwrap().unwrap();
}
