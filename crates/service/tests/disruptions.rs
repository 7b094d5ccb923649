//! Disruptions are records: a grant names a disruption on record that affected the customer,
//! exactly once per customer and canonical disruption whatever shape the reference is typed
//! in; a made-up one is refused for the front line; a declared one is recorded with its
//! reason and who declared it; a flight shows its passengers and is granted to at once.

mod common;

use std::sync::Arc;

use rapport_core::{DisruptionKind, InteractionKind};
use rapport_governance::Role;
use rapport_service::{
    CompensationRequest, Declaration, Embedded, GrantOutcome, OperatorAdmin, Remote, Service,
    ServiceError,
};

use common::{PASSWORD, TestServer, disrupt, engine};

fn request(customer: rapport_core::CustomerId, disruption: &str) -> CompensationRequest {
    CompensationRequest {
        customer,
        disruption: disruption.into(),
        // What the operator picked: the record's facts decide, not this.
        kind: DisruptionKind::Delay,
        delay_minutes: Some(5),
        touchpoint: "gate C12".into(),
        channel: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_grant_per_canonical_disruption_whatever_is_typed() {
    let (engine, ids) = engine().await;
    disrupt(
        engine.store(),
        ids[0],
        "RP121/2026-11-23",
        InteractionKind::DeniedBoarding,
        None,
    );
    let s = Embedded::from_engine(engine.clone(), "gate".into());
    let first = match s
        .grant_compensation(request(ids[0], "RP121/2026-11-23"))
        .await
        .unwrap()
    {
        GrantOutcome::Granted(g) => g,
        other => panic!("expected a grant: {other:?}"),
    };
    // The facts come from the record: denied boarding, 400 EUR, whatever was typed.
    assert_eq!(first.kind, DisruptionKind::DeniedBoarding);
    assert_eq!(first.amount.minor, 40_000);
    for typed in [
        "rp121/2026-11-23",
        "RP121 / 2026-11-23",
        "rp 121 / 23.11.2026",
        "RP0121 2026-11-23",
        "RP121/23/11/2026",
        "rp121-23nov26",
        " RP121/20261123 ",
    ] {
        match s.grant_compensation(request(ids[0], typed)).await {
            Ok(GrantOutcome::Refused(g)) => assert_eq!(g, first, "{typed}"),
            other => panic!("{typed}: expected a refusal naming the first grant, got {other:?}"),
        }
        let e = s.entitlement(request(ids[0], typed)).await.unwrap();
        assert_eq!(e.existing.as_ref(), Some(&first), "{typed}");
    }
    assert_eq!(engine.store().grants_of(ids[0]).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_or_foreign_disruptions_are_refused_for_the_front_line() {
    let (engine, ids) = engine().await;
    disrupt(
        engine.store(),
        ids[1],
        "RP5/2026-11-23",
        InteractionKind::Cancellation,
        None,
    );
    let local = Embedded::from_engine(engine.clone(), "test".into());
    local
        .add_operator("gate.a1", Role::FrontLine, PASSWORD)
        .await
        .unwrap();
    let server = TestServer::start(engine.clone()).await;
    let gate = Remote::connect(&server.addr, "gate.a1", PASSWORD)
        .await
        .unwrap();
    for (typed, says) in [
        ("whatever", "invalid disruption reference"),
        ("RP999/2026-11-23", "not a disruption on record"),
        // On record, but Jane was not on it.
        ("rp5 23.11.2026", "did not affect Jane Doe"),
    ] {
        match gate.grant_compensation(request(ids[0], typed)).await {
            Err(ServiceError::Invalid(m)) => assert!(m.contains(says), "{typed}: {m}"),
            other => panic!("{typed}: expected a refusal, got {other:?}"),
        }
    }
    // A front-line operator cannot declare one.
    let declared = Declaration {
        disruption: "rp 999 / 23.11.2026".into(),
        kind: DisruptionKind::Delay,
        delay_minutes: Some(600),
        cause: Some("crew".into()),
        reason: "ops room: delayed, not in the airport feed yet".into(),
        customers: vec![ids[0]],
    };
    assert!(matches!(
        gate.declare_disruption(declared.clone()).await,
        Err(ServiceError::Forbidden { .. })
    ));
    // A supervisor (customer manager) can, with a reason; then the grant goes through.
    local
        .add_operator("duty.manager", Role::CustomerManager, PASSWORD)
        .await
        .unwrap();
    let manager = Remote::connect(&server.addr, "duty.manager", PASSWORD)
        .await
        .unwrap();
    let mut no_reason = declared.clone();
    no_reason.reason = " ".into();
    assert!(matches!(
        manager.declare_disruption(no_reason).await,
        Err(ServiceError::Invalid(_))
    ));
    let d = manager.declare_disruption(declared).await.unwrap();
    assert_eq!(d.id.to_string(), "RP999/2026-11-23");
    match &d.origin {
        rapport_core::DisruptionOrigin::Declared { by, reason, .. } => {
            assert_eq!(by, "duty.manager");
            assert!(reason.contains("ops room"));
        }
        other => panic!("declared: {other:?}"),
    }
    match gate
        .grant_compensation(request(ids[0], "RP999/2026-11-23"))
        .await
    {
        Ok(GrantOutcome::Granted(g)) => {
            assert_eq!(g.delay_minutes, Some(600));
            assert_eq!(g.amount.minor, 30_000);
        }
        other => panic!("expected a grant on the declared disruption, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_stored_under_an_older_shape_still_refuses_the_next() {
    let (engine, ids) = engine().await;
    disrupt(
        engine.store(),
        ids[0],
        "RP121/2026-11-23",
        InteractionKind::DeniedBoarding,
        None,
    );
    // Stored before references were canonical (typed in lower case).
    let old = rapport_core::CompensationGrant {
        customer: ids[0],
        disruption: "rp121/2026-11-23".into(),
        kind: DisruptionKind::DeniedBoarding,
        delay_minutes: None,
        instrument: "voucher".into(),
        amount: rapport_core::Money::new(40_000, rapport_core::Currency::EUR),
        policy_rule: "denied boarding v1".into(),
        granted_by: "J. Smith".into(),
        touchpoint: "C12".into(),
        at: rapport_core::Timestamp::now(),
        interaction: rapport_core::InteractionId(9_999),
    };
    let mut b = rapport_store::Batch::default();
    b.insert_grant(&old);
    engine
        .store()
        .write(b, rapport_store::Durability::Durable)
        .unwrap();
    let s = Embedded::from_engine(engine.clone(), "phone".into());
    match s
        .grant_compensation(request(ids[0], "RP121 23.11.2026"))
        .await
        .unwrap()
    {
        GrantOutcome::Refused(g) => assert_eq!(g, old),
        other => panic!("expected a refusal naming J. Smith's grant, got {other:?}"),
    }
    let list = s.disruptions(ids[0]).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].existing.as_ref(), Some(&old));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flight_shows_its_passengers_and_is_granted_once_each() {
    let (engine, ids) = engine().await;
    for id in &ids {
        disrupt(
            engine.store(),
            *id,
            "RP667/2026-11-22",
            InteractionKind::Delay,
            Some(840),
        );
    }
    let s = Embedded::from_engine(engine.clone(), "gate".into());
    // One passenger was compensated already at the gate.
    s.grant_compensation(request(ids[1], "RP667/2026-11-22"))
        .await
        .unwrap();
    let f = s.flight("rp 667 22.11.2026").await.unwrap();
    assert_eq!(f.passengers.len(), 3);
    for p in &f.passengers {
        let e = p.entry.entitlement.as_ref().unwrap();
        // Same delay, same compensation, and the care items of a 14-hour wait.
        assert_eq!((e.amount.minor, e.rule.as_str()), (30_000, "delay 9h+ v1"));
        let care: Vec<_> = p.entry.care.iter().map(|c| c.item.as_str()).collect();
        assert_eq!(care, ["meal voucher", "hotel night"]);
    }
    assert!(f.passengers[1].entry.existing.is_some());
    let done = s.grant_flight("RP667/2026-11-22", "gate E5").await.unwrap();
    let granted = done
        .iter()
        .filter(|g| matches!(g.outcome, Some(GrantOutcome::Granted(_))))
        .count();
    let refused = done
        .iter()
        .filter(|g| matches!(g.outcome, Some(GrantOutcome::Refused(_))))
        .count();
    assert_eq!((granted, refused), (2, 1));
    // Again: everyone refused, nothing granted twice.
    let again = s.grant_flight("RP667/2026-11-22", "gate E5").await.unwrap();
    assert!(
        again
            .iter()
            .all(|g| matches!(g.outcome, Some(GrantOutcome::Refused(_))))
    );
    for id in &ids {
        assert_eq!(engine.store().grants_of(*id).unwrap().len(), 1);
    }
}

/// Many clients race on variants of one reference for each of 50 disruptions: exactly one
/// grant per canonical disruption.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_racing_on_reference_variants_grant_once() {
    let (engine, ids) = engine().await;
    for n in 1..=50 {
        disrupt(
            engine.store(),
            ids[n % ids.len()],
            &format!("RP{n}/2026-11-23"),
            InteractionKind::Cancellation,
            None,
        );
    }
    let server = TestServer::start(engine.clone()).await;
    let shapes: [fn(usize) -> String; 4] = [
        |n| format!("RP{n}/2026-11-23"),
        |n| format!("rp {n} / 23.11.2026"),
        |n| format!("RP0{n} 2026-11-23"),
        |n| format!("rp{n}-23NOV26"),
    ];
    let mut clients = Vec::new();
    for _ in 0..shapes.len() {
        clients.push(server.admin().await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(shapes.len()));
    let mut tasks = Vec::new();
    for (client, shape) in clients.into_iter().zip(shapes) {
        let (barrier, ids) = (barrier.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for n in 1..=50 {
                barrier.wait().await;
                let r = client
                    .grant_compensation(request(ids[n % ids.len()], &shape(n)))
                    .await
                    .unwrap();
                if let GrantOutcome::Granted(g) = r {
                    won.push(g.disruption);
                }
            }
            won
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let mut expected: Vec<String> = (1..=50).map(|n| format!("RP{n}/2026-11-23")).collect();
    expected.sort();
    assert_eq!(all, expected, "exactly one grant per disruption");
    let stored: usize = ids
        .iter()
        .map(|id| engine.store().grants_of(*id).unwrap().len())
        .sum();
    assert_eq!(stored, 50);
    server.stop().await;
}
