//! The audit trail over a real server: every write and every record opened is in it with who,
//! when, which customer and from where, and never personal data; `verify` finds entries
//! edited, removed, inserted, reordered or cut off in the store behind the server's back.

mod common;

use rapport_core::{Channel, CustomerId, DisruptionKind, InteractionKind};
use rapport_governance::Role;
use rapport_governance::audit::{AuditEntry, digest};
use rapport_service::governance_ops::{AUDIT, AuditQuery, AuditVerdict};
use rapport_service::{
    CompensationRequest, Embedded, Governance, GrantOutcome, InteractionQuery, NewInteraction,
    OperatorAdmin, Remote, Service, ServiceError,
};
use rapport_store::{Batch, Durability, Store};

use common::{PASSWORD, TestServer, disrupt, engine};

fn all(customer: Option<CustomerId>, operator: Option<&str>) -> AuditQuery {
    AuditQuery {
        customer,
        operator: operator.map(str::to_string),
        since: None,
        after: None,
        limit: 1_000,
    }
}

fn grant_request(customer: CustomerId, disruption: &str) -> CompensationRequest {
    CompensationRequest {
        customer,
        disruption: disruption.into(),
        kind: DisruptionKind::Delay,
        delay_minutes: Some(9 * 60 + 30),
        touchpoint: "gate C12".into(),
        channel: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_and_every_open_is_audited_with_who_when_and_where_and_no_personal_data() {
    let (engine, ids) = engine().await;
    let (jane, john) = (ids[0], ids[1]);
    disrupt(
        engine.store(),
        jane,
        "RP123/2026-11-22",
        InteractionKind::Delay,
        Some(9 * 60 + 30),
    );
    let local = Embedded::from_engine(engine.clone(), "test".into());
    local
        .add_operator("gate", Role::FrontLine, PASSWORD)
        .await
        .unwrap();
    let server = TestServer::start(engine.clone()).await;
    let gate = Remote::connect(&server.addr, "gate", PASSWORD)
        .await
        .unwrap();
    let admin = server.admin().await;

    gate.open(jane, InteractionQuery::default()).await.unwrap();
    gate.open(john, InteractionQuery::default()).await.unwrap();
    gate.interactions(jane, InteractionQuery::default())
        .await
        .unwrap();
    let note = gate
        .log_interaction(NewInteraction {
            customer: jane,
            kind: InteractionKind::Note,
            channel: Channel::Airport,
            touchpoint: Some("gate C12".into()),
            phase: None,
            text: Some("Jane Doe called from +44 7700 900123 about her seat".into()),
            attributes: Default::default(),
            amounts: Vec::new(),
        })
        .await
        .unwrap();
    gate.record_preference(jane, "seat".into(), "aisle".into(), Channel::Airport)
        .await
        .unwrap();
    let granted = gate
        .grant_compensation(grant_request(jane, "RP123/2026-11-22"))
        .await
        .unwrap();
    let GrantOutcome::Granted(grant) = granted else {
        panic!("{granted:?}");
    };
    // The second grant is refused and writes nothing, so it leaves no entry.
    let again = gate
        .grant_compensation(grant_request(jane, "RP123/2026-11-22"))
        .await
        .unwrap();
    assert!(matches!(again, GrantOutcome::Refused(_)));
    // A refused request is no event either.
    assert!(matches!(
        gate.verify_audit().await,
        Err(ServiceError::Forbidden { .. })
    ));

    let mine = admin.audit(all(Some(jane), None)).await.unwrap().entries;
    let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "open-record",
            "read-interactions",
            "log-interaction",
            "record-preference",
            "grant-compensation"
        ]
    );
    for e in &mine {
        assert_eq!(e.operator, "gate");
        assert_eq!(e.role, "front-line");
        assert!(e.origin.starts_with("peer 127.0.0.1:"), "{}", e.origin);
        assert_eq!(e.customer, Some(jane));
    }
    assert_eq!(mine[2].detail, note.id.to_string());
    assert_eq!(mine[4].detail, grant.interaction.to_string());
    assert!(
        mine.windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at)
    );

    // Filters: by operator, by time, and together.
    let by_gate = admin.audit(all(None, Some("gate"))).await.unwrap().entries;
    assert_eq!(by_gate.len(), 6, "{by_gate:?}");
    assert!(by_gate.iter().any(|e| e.customer == Some(john)));
    let everything = admin.audit(all(None, None)).await.unwrap().entries;
    let added = everything
        .iter()
        .find(|e| e.action == "add-operator" && e.detail.contains("gate"))
        .expect("adding an operator is audited");
    assert_eq!(added.origin, "embedded");
    assert_eq!(added.detail, "operator gate as front-line");
    let later = AuditQuery {
        since: Some(mine[3].at),
        ..all(Some(jane), None)
    };
    let later = admin.audit(later).await.unwrap().entries;
    assert!(later.iter().all(|e| e.at >= mine[3].at) && later.len() >= 2);
    // Paging walks the same entries.
    let mut paged = Vec::new();
    let mut q = AuditQuery {
        limit: 2,
        ..all(None, None)
    };
    loop {
        let page = admin.audit(q.clone()).await.unwrap();
        paged.extend(page.entries);
        match page.next {
            Some(n) => q.after = Some(n),
            None => break,
        }
    }
    assert_eq!(paged, everything);

    // No personal data: no name, contact, note text or preference value in any entry.
    let text = serde_json::to_string(&everything).unwrap();
    for personal in [
        "Jane",
        "Doe",
        "jane.doe@example.com",
        "7700",
        "seat",
        "aisle",
    ] {
        assert!(!text.contains(personal), "{personal} in the trail: {text}");
    }

    let v = admin.verify_audit().await.unwrap();
    assert!(v.holds(), "{v:?}");
    // Reading the trail is not itself a write: nothing was appended since the full list.
    assert_eq!(v.checked, everything.len() as u64);
    server.stop().await;
}

/// The stored entries, in key order, with their keys.
fn stored(store: &Store) -> Vec<(String, AuditEntry)> {
    store
        .docs::<AuditEntry>(AUDIT, "")
        .collect::<Result<_, _>>()
        .unwrap()
}

fn write(store: &Store, f: impl FnOnce(&mut Batch)) {
    let mut b = Batch::default();
    f(&mut b);
    store.write(b, Durability::Durable).unwrap();
}

/// Puts the original entries back (and removes anything else) after a tampering.
fn restore(store: &Store, original: &[(String, AuditEntry)]) {
    write(store, |b| {
        for (k, _) in stored(store) {
            b.remove_doc(AUDIT, &k);
        }
        for (k, e) in original {
            b.put_doc_compact(AUDIT, k, e).unwrap();
        }
    });
}

async fn broken(admin: &Remote) -> (u64, String) {
    let v: AuditVerdict = admin.verify_audit().await.unwrap();
    (v.broken_at.expect("a break"), v.problem.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_entries_edited_removed_inserted_reordered_or_cut_behind_the_servers_back() {
    let (engine, ids) = engine().await;
    let server = TestServer::start(engine.clone()).await;
    let admin = server.admin().await;
    for k in 0..10 {
        admin
            .open(ids[k % ids.len()], InteractionQuery::default())
            .await
            .unwrap();
    }
    let store = engine.store();
    let original = stored(store);
    // The operator added by the set-up, then ten opens.
    assert_eq!(original.len(), 11);
    assert!(admin.verify_audit().await.unwrap().holds());

    // Edited: who opened entry 5 rewritten.
    write(store, |b| {
        let (k, e) = &original[4];
        let mut e = e.clone();
        e.operator = "someone-else".into();
        b.put_doc_compact(AUDIT, k, &e).unwrap();
    });
    let (at, why) = broken(&admin).await;
    assert_eq!(at, 5);
    assert!(why.contains("changed"), "{why}");
    restore(store, &original);
    assert!(admin.verify_audit().await.unwrap().holds());

    // Edited and re-hashed: the next entry's link gives it away.
    write(store, |b| {
        let (k, e) = &original[4];
        let mut e = e.clone();
        e.customer = Some(CustomerId(999));
        e.hash = digest(&e);
        b.put_doc_compact(AUDIT, k, &e).unwrap();
    });
    assert_eq!(broken(&admin).await.0, 6);
    restore(store, &original);

    // Removed: entry 4 gone.
    write(store, |b| b.remove_doc(AUDIT, &original[3].0));
    let (at, why) = broken(&admin).await;
    assert_eq!(at, 5);
    assert!(why.contains("removed, inserted or reordered"), "{why}");
    restore(store, &original);

    // Inserted: a forged, well-hashed entry 4 between entries 3 and 4.
    write(store, |b| {
        let mut forged = original[3].1.clone();
        forged.customer = Some(CustomerId(777));
        forged.hash = digest(&forged);
        b.put_doc_compact(AUDIT, &format!("{}a", original[2].0), &forged)
            .unwrap();
    });
    assert_eq!(stored(store).len(), 12);
    assert_eq!(broken(&admin).await.0, 4);
    restore(store, &original);

    // Reordered: entries 6 and 7 swapped.
    write(store, |b| {
        b.put_doc_compact(AUDIT, &original[5].0, &original[6].1)
            .unwrap();
        b.put_doc_compact(AUDIT, &original[6].0, &original[5].1)
            .unwrap();
    });
    assert_eq!(broken(&admin).await.0, 7);
    restore(store, &original);

    // Cut off at the end: the head remembers.
    write(store, |b| b.remove_doc(AUDIT, &original[10].0));
    let (at, why) = broken(&admin).await;
    assert_eq!(at, 10);
    assert!(why.contains("head"), "{why}");
    restore(store, &original);

    // Restored, it holds again, and appending goes on from the head.
    admin
        .open(ids[0], InteractionQuery::default())
        .await
        .unwrap();
    let v = admin.verify_audit().await.unwrap();
    assert!(v.holds(), "{v:?}");
    assert_eq!(v.checked, 12);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_survives_a_restart_and_goes_on_from_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let id;
    {
        let (store, ids) = common::world_in(Store::open(&path).unwrap());
        id = ids[0];
        let local = Embedded::from_store(store);
        local.open(id, InteractionQuery::default()).await.unwrap();
        local.open(id, InteractionQuery::default()).await.unwrap();
        local.engine().flush().unwrap();
    }
    let local = Embedded::open(&path)
        .unwrap()
        .with_origin("command customer show");
    local.open(id, InteractionQuery::default()).await.unwrap();
    let entries = local.audit(all(Some(id), None)).await.unwrap().entries;
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2].seq, 3);
    assert_eq!(entries[2].origin, "embedded command customer show");
    assert!(local.verify_audit().await.unwrap().holds());
}
