//! Complaints are cases: a complaint names the disruption or booking it is about (checked
//! against the record, stored in canonical form), stays a cue on the record while open, and
//! is closed once, with its resolution and who closed it, whichever terminal tries first.

mod common;

use std::sync::Arc;

use rapport_core::case::ABOUT_ATTR;
use rapport_core::{Channel, CustomerId, InteractionId, InteractionKind};
use rapport_service::{Embedded, NewInteraction, Service, ServiceError};

use common::{TestServer, disrupt, engine, newest_page as query};

fn complaint(customer: CustomerId, about: Option<&str>) -> NewInteraction {
    NewInteraction::complaint(
        customer,
        "missed the connection to Tromsø".into(),
        about.map(str::to_string),
        Channel::CallCenter,
        Some("desk 4".into()),
    )
}

fn resolution(customer: CustomerId, case: InteractionId, text: &str) -> NewInteraction {
    NewInteraction::resolution(customer, case, text.into(), Channel::CallCenter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_is_a_case_linked_to_its_disruption_and_closed_once() {
    let (engine, ids) = engine().await;
    disrupt(
        engine.store(),
        ids[0],
        "RP121/2026-11-23",
        InteractionKind::Cancellation,
        None,
    );
    let rep = Embedded::from_engine(engine.clone(), "t".into())
        .acting_as("mrossi", rapport_governance::Role::FrontLine);
    // Linked in any shape, stored canonical.
    let c = rep
        .log_interaction(complaint(ids[0], Some("rp 121 / 23.11.2026")))
        .await
        .unwrap();
    assert_eq!(c.attr_text(ABOUT_ATTR), Some("RP121/2026-11-23"));
    // Made up, or another customer's: refused, naming it.
    for bad in ["RP999/2026-11-23", "ZZZZZZ"] {
        match rep.log_interaction(complaint(ids[0], Some(bad))).await {
            Err(ServiceError::Invalid(m)) => assert!(m.contains(bad), "{m}"),
            other => panic!("{bad}: expected a refusal, got {other:?}"),
        }
    }
    match rep
        .log_interaction(complaint(ids[1], Some("RP121/2026-11-23")))
        .await
    {
        Err(ServiceError::Invalid(m)) => assert!(m.contains("neither"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Open: a case on the record and a cue.
    let r = rep.open(ids[0], query()).await.unwrap();
    let case = r.cases.iter().find(|k| k.complaint == c.id).unwrap();
    assert!(case.is_open());
    assert_eq!(case.about.as_deref(), Some("RP121/2026-11-23"));
    assert!(
        r.cues
            .iter()
            .any(|q| q.text.contains("complaint open") && q.text.contains("RP121/2026-11-23")),
        "{:?}",
        r.cues
    );
    // A resolution needs its text and an existing complaint.
    assert!(matches!(
        rep.log_interaction(resolution(ids[0], c.id, "  ")).await,
        Err(ServiceError::Invalid(_))
    ));
    assert!(matches!(
        rep.log_interaction(resolution(ids[0], InteractionId(987_654), "done"))
            .await,
        Err(ServiceError::NotFound(_))
    ));
    rep.log_interaction(resolution(ids[0], c.id, "rebooked and refunded the taxi"))
        .await
        .unwrap();
    let r = rep.open(ids[0], query()).await.unwrap();
    let case = r.cases.iter().find(|k| k.complaint == c.id).unwrap();
    let res = case.resolution.as_ref().expect("resolved");
    assert_eq!(res.by.as_deref(), Some("mrossi"));
    assert_eq!(res.text.as_deref(), Some("rebooked and refunded the taxi"));
    assert!(!r.cues.iter().any(|q| q.text.contains("complaint open")));
    // Closed once: the next attempt names who closed it.
    let gate = Embedded::from_engine(engine.clone(), "t".into())
        .acting_as("jsmith", rapport_governance::Role::FrontLine);
    match gate
        .log_interaction(resolution(ids[0], c.id, "voucher"))
        .await
    {
        Err(ServiceError::Invalid(m)) => {
            assert!(m.contains("already resolved by mrossi"), "{m}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_racing_to_close_one_complaint_close_it_once() {
    let (engine, ids) = engine().await;
    let server = TestServer::start(engine.clone()).await;
    let first = server.admin().await;
    let mut cases = Vec::new();
    for _ in 0..20 {
        cases.push(
            first
                .log_interaction(complaint(ids[0], None))
                .await
                .unwrap()
                .id,
        );
    }
    let mut clients = vec![first];
    for _ in 0..3 {
        clients.push(server.admin().await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(clients.len()));
    let mut tasks = Vec::new();
    for (n, client) in clients.into_iter().enumerate() {
        let (barrier, cases, customer) = (barrier.clone(), cases.clone(), ids[0]);
        tasks.push(tokio::spawn(async move {
            let mut won = 0;
            for case in cases {
                barrier.wait().await;
                if client
                    .log_interaction(resolution(customer, case, &format!("client {n}")))
                    .await
                    .is_ok()
                {
                    won += 1;
                }
            }
            won
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, cases.len(), "each complaint closed exactly once");
    let resolutions = engine
        .store()
        .interactions_of(ids[0])
        .filter(|i| rapport_core::case::is_resolution(i.as_ref().unwrap()))
        .count();
    assert_eq!(resolutions, cases.len());
    server.stop().await;
}
