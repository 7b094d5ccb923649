//! Goodwill with limits and the approval queue, end to end over a real server: within the
//! role's limit it is granted at once, above it it waits for a supervisor, who approves,
//! changes or refuses it with a reason; the requester sees the outcome live; nothing is granted
//! twice, whichever path it took and however many approvers race.

mod common;

use std::time::Duration;

use rapport_core::{Change, Currency, CustomerId, InteractionKind, Money};
use rapport_governance::Role;
use rapport_service::governance_ops::{
    ApprovalDecision, ApprovalState, GOODWILL_PREFIX, GoodwillOutcome, GoodwillRequest,
};
use rapport_service::{
    Embedded, Governance, LiveEvent, OperatorAdmin, Service, ServiceError, Watch,
};

use common::{PASSWORD, TestServer, disrupt_many, engine, newest_page};

fn eur(euros: i64) -> Money {
    Money::new(euros * 100, Currency::EUR)
}

fn goodwill(customer: CustomerId, flight: &str, euros: i64, send: bool) -> GoodwillRequest {
    GoodwillRequest {
        customer,
        disruption: flight.into(),
        amount: eur(euros),
        instrument: "voucher".into(),
        reason: "missed a connection and a wedding".into(),
        touchpoint: "call center".into(),
        send_for_approval: send,
    }
}

fn flight(n: usize) -> String {
    format!("RP{n}/2026-11-23")
}

/// The goodwill grants stored for `customer`.
fn goodwill_grants(
    engine: &rapport_service::Engine,
    customer: CustomerId,
) -> Vec<rapport_core::CompensationGrant> {
    engine
        .store()
        .grants_of(customer)
        .unwrap()
        .into_iter()
        .filter(|g| g.disruption.starts_with(GOODWILL_PREFIX))
        .collect()
}

async fn next_change_for(
    events: &mut tokio::sync::mpsc::Receiver<LiveEvent>,
    pred: impl Fn(&Change) -> bool,
) {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(LiveEvent::Change(e))) if pred(&e.change) => return,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("subscription ended"),
            Err(_) => panic!("no matching live event within 5 s"),
        }
    }
}

async fn setup(
    flights: usize,
) -> (
    std::sync::Arc<rapport_service::Engine>,
    Vec<CustomerId>,
    TestServer,
) {
    let (engine, ids) = engine().await;
    let events: Vec<_> = (1..=flights)
        .map(|n| (ids[0], flight(n), InteractionKind::Cancellation, None))
        .collect();
    disrupt_many(engine.store(), &events);
    let local = Embedded::from_engine(engine.clone(), "test".into());
    for (name, role) in [
        ("gate", Role::FrontLine),
        ("ana", Role::CustomerManager),
        ("ben", Role::CustomerManager),
    ] {
        local.add_operator(name, role, PASSWORD).await.unwrap();
    }
    let server = TestServer::start(engine.clone()).await;
    (engine, ids, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goodwill_above_the_limit_waits_for_a_supervisor_who_approves_changes_or_refuses() {
    let (engine, ids, server) = setup(5).await;
    let jane = ids[0];
    let gate = server.login("gate").await;
    let ana = server.login("ana").await;
    let mut live = gate.subscribe(Watch::Customers(vec![jane])).await.unwrap();

    // Within the front line's limit (500 EUR): granted at once, once.
    let GoodwillOutcome::Granted(g) = gate
        .goodwill(goodwill(jane, &flight(1), 200, false))
        .await
        .unwrap()
    else {
        panic!("not granted")
    };
    assert_eq!(
        (g.amount, g.granted_by.as_str(), g.policy_rule.as_str()),
        (eur(200), "gate", "goodwill")
    );
    assert!(matches!(
        gate.goodwill(goodwill(jane, &flight(1), 100, false)).await.unwrap(),
        GoodwillOutcome::Refused(first) if first == g
    ));

    // Above it: refused unless sent for approval, then queued.
    match gate.goodwill(goodwill(jane, &flight(2), 800, false)).await {
        Err(ServiceError::Forbidden { action, .. }) => {
            assert!(action.contains("send it for approval"), "{action}")
        }
        other => panic!("{other:?}"),
    }
    let GoodwillOutcome::Queued(asked) = gate
        .goodwill(goodwill(jane, &flight(2), 800, true))
        .await
        .unwrap()
    else {
        panic!("not queued")
    };
    assert_eq!(asked.state, ApprovalState::Pending);
    assert_eq!(
        (asked.requested_by.as_str(), asked.policy_version),
        ("gate", 1)
    );
    // Asking again for the same disruption while it waits is refused.
    assert!(matches!(
        gate.goodwill(goodwill(jane, &flight(2), 700, true)).await,
        Err(ServiceError::Invalid(m)) if m.contains(&asked.id)
    ));
    // The front line sees the queue but may not decide.
    assert_eq!(
        gate.approvals(true).await.unwrap(),
        std::slice::from_ref(&asked)
    );
    assert!(matches!(
        gate.decide_approval(&asked.id, ApprovalDecision::Approve, "ok")
            .await,
        Err(ServiceError::Forbidden { .. })
    ));
    assert!(
        goodwill_grants(&engine, jane)
            .iter()
            .all(|g| g.disruption != format!("{GOODWILL_PREFIX}{}", flight(2)))
    );

    // A supervisor approves with a reason: granted, and the requester's console hears it.
    let (decided, grant) = ana
        .decide_approval(&asked.id, ApprovalDecision::Approve, "a wedding: fair")
        .await
        .unwrap();
    let grant = grant.expect("a grant");
    assert!(
        matches!(&decided.state, ApprovalState::Approved { by, amount, changed: false, .. } if by == "ana" && *amount == eur(800))
    );
    assert_eq!(
        (grant.amount, grant.granted_by.as_str()),
        (eur(800), "gate")
    );
    assert!(
        grant.policy_rule.contains("approved by ana"),
        "{}",
        grant.policy_rule
    );
    next_change_for(&mut live.events, |c| {
        matches!(c, Change::GrantIssued { customer, disruption } if *customer == jane && disruption.contains(&flight(2)))
    })
    .await;
    // Decided once: approving, changing or refusing again is refused, naming the decision.
    for d in [
        ApprovalDecision::Approve,
        ApprovalDecision::Change(100),
        ApprovalDecision::Refuse,
    ] {
        match ana.decide_approval(&asked.id, d, "again").await {
            Err(ServiceError::Invalid(m)) => assert!(m.contains("already approved by ana"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    // Changed: 900 asked, 600 granted.
    let GoodwillOutcome::Queued(asked) = gate
        .goodwill(goodwill(jane, &flight(3), 900, true))
        .await
        .unwrap()
    else {
        panic!("not queued")
    };
    let (decided, grant) = ana
        .decide_approval(
            &asked.id,
            ApprovalDecision::Change(60_000),
            "600 is our usual",
        )
        .await
        .unwrap();
    assert_eq!(grant.unwrap().amount, eur(600));
    assert!(matches!(
        decided.state,
        ApprovalState::Approved { changed: true, .. }
    ));

    // Refused: nothing granted, the reason on the customer's record, heard live.
    let GoodwillOutcome::Queued(asked) = gate
        .goodwill(goodwill(jane, &flight(4), 1_000, true))
        .await
        .unwrap()
    else {
        panic!("not queued")
    };
    let (decided, grant) = ana
        .decide_approval(
            &asked.id,
            ApprovalDecision::Refuse,
            "already compensated by policy",
        )
        .await
        .unwrap();
    assert!(grant.is_none());
    assert!(matches!(decided.state, ApprovalState::Refused { .. }));
    next_change_for(
        &mut live.events,
        |c| matches!(c, Change::InteractionAdded { customer, .. } if *customer == jane),
    )
    .await;
    let record = gate.open(jane, newest_page()).await.unwrap();
    let refusal = record
        .interactions
        .iter()
        .find(|i| i.kind.as_str() == "goodwill_refused")
        .expect("the refusal on the record");
    assert_eq!(
        refusal.text.as_deref(),
        Some("already compensated by policy")
    );
    assert_eq!(refusal.employee.as_deref(), Some("ana"));

    // Above the manager's own limit (2,000 EUR): not hers to approve (not the customer's
    // manager either), but she may refuse.
    let GoodwillOutcome::Queued(big) = gate
        .goodwill(goodwill(jane, &flight(5), 2_500, true))
        .await
        .unwrap()
    else {
        panic!("not queued")
    };
    assert!(matches!(
        ana.decide_approval(&big.id, ApprovalDecision::Approve, "ok")
            .await,
        Err(ServiceError::Forbidden { .. })
    ));
    let admin = server.admin().await;
    let (_, g) = admin
        .decide_approval(&big.id, ApprovalDecision::Approve, "exceptional")
        .await
        .unwrap();
    assert_eq!(g.unwrap().amount, eur(2_500));

    let grants = goodwill_grants(&engine, jane);
    assert_eq!(
        grants
            .iter()
            .map(|g| g.amount.minor / 100)
            .collect::<Vec<_>>(),
        [200, 800, 600, 2_500]
    );
    // The decisions are in the audit trail.
    let trail = admin
        .audit(rapport_service::governance_ops::AuditQuery {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .entries;
    assert_eq!(
        trail
            .iter()
            .filter(|e| e.action == "decide-approval")
            .count(),
        4
    );
    assert!(admin.verify_audit().await.unwrap().holds());
    server.stop().await;
}

/// Two approvers race on every request of the queue: exactly one decision each, and goodwill
/// granted by the direct path meanwhile closes the request instead of granting twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_approvers_and_both_paths_never_grant_twice() {
    const N: usize = 30;
    let (engine, ids, server) = setup(N + 1).await;
    let jane = ids[0];
    let gate = server.login("gate").await;
    let ana = server.login("ana").await;
    let ben = server.login("ben").await;
    let mut queued = Vec::new();
    for n in 1..=N {
        match gate
            .goodwill(goodwill(jane, &flight(n), 600 + n as i64, true))
            .await
            .unwrap()
        {
            GoodwillOutcome::Queued(a) => queued.push(a),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ana.approvals(true).await.unwrap().len(), N);
    let (mut ana_won, mut ben_won) = (0, 0);
    for a in &queued {
        // One approves, the other changes the amount, at the same moment.
        let (x, y) = tokio::join!(
            ana.decide_approval(&a.id, ApprovalDecision::Approve, "fine"),
            ben.decide_approval(&a.id, ApprovalDecision::Change(50_000), "500 will do"),
        );
        match (x, y) {
            (Ok((_, Some(_))), Err(ServiceError::Invalid(m))) => {
                assert!(m.contains("already approved by ana"), "{m}");
                ana_won += 1;
            }
            (Err(ServiceError::Invalid(m)), Ok((_, Some(_)))) => {
                assert!(m.contains("already approved by ben"), "{m}");
                ben_won += 1;
            }
            other => panic!("not exactly one decision: {other:?}"),
        }
    }
    assert_eq!(ana_won + ben_won, N);
    assert!(ana.approvals(true).await.unwrap().is_empty());
    let grants = goodwill_grants(&engine, jane);
    assert_eq!(grants.len(), N, "one grant per request");

    // Both paths: a request waits, then an admin (no limit) grants goodwill for the same
    // disruption directly; the approval then grants nothing and closes the request.
    let last = flight(N + 1);
    let GoodwillOutcome::Queued(waiting) = gate
        .goodwill(goodwill(jane, &last, 900, true))
        .await
        .unwrap()
    else {
        panic!("not queued")
    };
    let admin = server.admin().await;
    assert!(
        matches!(
            admin.goodwill(goodwill(jane, &last, 900, false)).await,
            Err(ServiceError::Invalid(m)) if m.contains(&waiting.id)
        ),
        "the direct path sees the waiting request"
    );
    // Behind the queue's back (an ingest of the call center's file, say), the grant appears.
    let mut b = rapport_store::Batch::default();
    b.insert_grant(&rapport_core::CompensationGrant {
        customer: jane,
        disruption: format!("{GOODWILL_PREFIX}{last}"),
        kind: rapport_core::DisruptionKind::Cancellation,
        delay_minutes: None,
        instrument: "voucher".into(),
        amount: eur(900),
        policy_rule: "goodwill".into(),
        granted_by: "someone".into(),
        touchpoint: "desk".into(),
        at: rapport_core::Timestamp::now(),
        interaction: rapport_core::InteractionId(1),
    });
    engine
        .store()
        .write(b, rapport_store::Durability::Durable)
        .unwrap();
    match ana
        .decide_approval(&waiting.id, ApprovalDecision::Approve, "fine")
        .await
    {
        Err(ServiceError::Invalid(m)) => assert!(m.contains("already granted by someone"), "{m}"),
        other => panic!("{other:?}"),
    }
    let closed = ana.approvals(false).await.unwrap();
    let closed = closed.iter().find(|a| a.id == waiting.id).unwrap();
    assert!(
        matches!(&closed.state, ApprovalState::Refused { reason, .. } if reason.contains("already granted"))
    );
    assert_eq!(goodwill_grants(&engine, jane).len(), N + 1);
    server.stop().await;
}

/// The queue and a record's requests read indexes kept with every filing and decision, not
/// every request ever filed; a database written before the indexes gets them at open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_requests_and_the_queue_come_from_indexes_built_for_older_databases_too() {
    use rapport_service::governance_ops::{APPROVALS_BY_CUSTOMER, APPROVALS_PENDING};

    let (engine, ids, server) = setup(3).await;
    let (jane, other) = (ids[0], ids[1]);
    let gate = server.login("gate").await;
    let ana = server.login("ana").await;
    let mut asked = Vec::new();
    for n in 1..=3 {
        let GoodwillOutcome::Queued(a) = gate
            .goodwill(goodwill(jane, &flight(n), 600 + n as i64, true))
            .await
            .unwrap()
        else {
            panic!("not queued")
        };
        asked.push(a);
    }
    let (decided, _) = ana
        .decide_approval(&asked[1].id, ApprovalDecision::Refuse, "not this time")
        .await
        .unwrap();

    let of_jane = gate.approvals_of(jane).await.unwrap();
    assert_eq!(
        of_jane.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        asked.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        "every request of the customer's, oldest first"
    );
    assert_eq!(of_jane[1], decided, "the decided one as decided");
    assert!(gate.approvals_of(other).await.unwrap().is_empty());
    let waiting = gate.approvals(true).await.unwrap();
    assert_eq!(waiting, vec![asked[0].clone(), asked[2].clone()]);
    assert_eq!(engine.store().doc_count(APPROVALS_PENDING).unwrap(), 2);
    assert_eq!(engine.store().doc_count(APPROVALS_BY_CUSTOMER).unwrap(), 3);

    // A database from before the indexes: the same requests, no index entries.
    let store = engine.store().clone();
    let mut b = rapport_store::Batch::default();
    for coll in [APPROVALS_PENDING, APPROVALS_BY_CUSTOMER] {
        for entry in store.docs::<serde_json::Value>(coll, "") {
            b.remove_doc(coll, &entry.unwrap().0);
        }
    }
    b.remove_doc(rapport_service::GOVERNANCE, "approval_index");
    store.write(b, rapport_store::Durability::Durable).unwrap();
    assert!(
        Embedded::from_engine(engine.clone(), "test".into())
            .approvals(true)
            .await
            .unwrap()
            .is_empty(),
        "without its index the queue is empty: the index is what it reads"
    );
    server.stop().await;
    drop(gate);
    drop(ana);

    let reopened = std::sync::Arc::new(rapport_service::Engine::new(store));
    let local = Embedded::from_engine(reopened, "test".into());
    assert_eq!(local.approvals_of(jane).await.unwrap().len(), 3);
    assert_eq!(
        local.approvals(true).await.unwrap(),
        vec![asked[0].clone(), asked[2].clone()]
    );
}
