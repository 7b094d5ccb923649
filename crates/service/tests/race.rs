//! Two terminals race to grant the same compensation: exactly one grant every time, the
//! other refused with the first grant's details (who, where, when), whatever shape each
//! typed the reference in.

mod common;

use std::sync::Arc;

use rapport_core::DisruptionKind;
use rapport_governance::Role;
use rapport_service::{
    CompensationRequest, Embedded, GrantOutcome, OperatorAdmin, Remote, Service,
};
use tokio::sync::Barrier;

use common::{PASSWORD, TestServer, disrupt_many, engine, engine_over, world_in};
use rapport_store::Store;

/// Fresh disruptions raced by two network clients: 5,000 keeps the test to a few seconds on
/// two cores; set `RAPPORT_RACE_ROUNDS` for a longer run, e.g.
/// `RAPPORT_RACE_ROUNDS=100000 cargo test --release -p rapport-service --test race`.
fn rounds() -> usize {
    std::env::var("RAPPORT_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_terminals_race_to_grant_the_same_compensation() {
    let rounds = rounds();
    // An on-disk store with RAPPORT_RACE_DISK=1 (flushes then reach the disk).
    let dir = tempfile::tempdir().unwrap();
    let (engine, ids) = if std::env::var_os("RAPPORT_RACE_DISK").is_some() {
        engine_over(world_in(Store::open(&dir.path().join("db")).unwrap())).await
    } else {
        engine().await
    };
    let events: Vec<_> = (0..rounds)
        .map(|n| {
            (
                ids[n % ids.len()],
                format!("RP{}/2026-11-23", n + 1),
                rapport_core::InteractionKind::DeniedBoarding,
                None,
            )
        })
        .collect();
    disrupt_many(engine.store(), &events);
    let local = Embedded::from_engine(engine.clone(), "test".into());
    local
        .add_operator("gate.c12", Role::FrontLine, PASSWORD)
        .await
        .unwrap();
    local
        .add_operator("callcenter.7", Role::FrontLine, PASSWORD)
        .await
        .unwrap();
    let server = TestServer::start(engine.clone()).await;
    let gate = Remote::connect(&server.addr, "gate.c12", PASSWORD)
        .await
        .unwrap();
    let phone = Remote::connect(&server.addr, "callcenter.7", PASSWORD)
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    let barrier = Arc::new(Barrier::new(2));
    // The gate types the canonical form, the call center another case, spacing, leading
    // zero and date form: both name one disruption.
    let racer = |client: Remote, touchpoint: &'static str, shape: fn(usize) -> String| {
        let barrier = barrier.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            let mut outcomes = Vec::with_capacity(rounds);
            for n in 0..rounds {
                let req = CompensationRequest {
                    customer: ids[n % ids.len()],
                    disruption: shape(n + 1),
                    kind: DisruptionKind::DeniedBoarding,
                    delay_minutes: None,
                    touchpoint: touchpoint.into(),
                    channel: None,
                };
                // Both requests leave at the same instant.
                barrier.wait().await;
                outcomes.push(client.grant_compensation(req).await.unwrap());
            }
            outcomes
        })
    };
    let a = racer(gate, "gate C12", |n| format!("RP{n}/2026-11-23"));
    let b = racer(phone, "call center queue 7", |n| {
        format!("rp 0{n} / 23.11.2026")
    });
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut wins = [0usize; 2];
    for (n, (a, b)) in a.into_iter().zip(b).enumerate() {
        let (granted, refused) = match (a, b) {
            (GrantOutcome::Granted(g), GrantOutcome::Refused(r)) => {
                wins[0] += 1;
                (g, r)
            }
            (GrantOutcome::Refused(r), GrantOutcome::Granted(g)) => {
                wins[1] += 1;
                (g, r)
            }
            other => panic!("round {n}: not exactly one grant: {other:?}"),
        };
        // The refusal names the first grant: who, where, when, how much.
        assert_eq!(refused, granted, "round {n}");
        let stored = engine
            .store()
            .grant(granted.customer, &granted.disruption)
            .unwrap();
        assert_eq!(stored.as_ref(), Some(&granted));
    }
    // Both terminals won some races: they really were concurrent.
    assert_eq!(wins[0] + wins[1], rounds);
    eprintln!(
        "{rounds} races in {:.1} s: gate won {}, call center won {}",
        t0.elapsed().as_secs_f64(),
        wins[0],
        wins[1]
    );
    // Exactly one compensation interaction per grant.
    let mut grants = 0;
    for id in &ids {
        grants += engine.store().grants_of(*id).unwrap().len();
        let comp = engine
            .store()
            .interactions_of(*id)
            .filter(|i| {
                i.as_ref().unwrap().kind == rapport_core::InteractionKind::CompensationGranted
            })
            .count();
        assert_eq!(comp, engine.store().grants_of(*id).unwrap().len());
    }
    assert_eq!(grants, rounds);
    server.stop().await;
}
