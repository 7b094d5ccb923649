//! The store contract, tested through the public API only: a second engine must pass these.

mod common;

use std::time::{Duration, Instant};

use common::{customer, email, grant, interaction, scores};
use rapport_core::{Change, CustomerId, InteractionId, Scores, Tier, Timestamp};
use rapport_store::{
    Batch, Durability, Error, IndexKey, IndexKind, Propensities, ScoreView, Store,
};

fn put(store: &Store, f: impl FnOnce(&mut Batch)) {
    let mut b = Batch::default();
    f(&mut b);
    store.write(b, Durability::Batched).unwrap();
}

#[test]
fn customer_round_trips_with_its_index_entries() {
    let store = Store::temporary().unwrap();
    let ada = customer(7, "Ada");
    let keys = vec![
        email("Ada"),
        IndexKey::new(IndexKind::NameToken, "ada"),
        IndexKey::new(IndexKind::Phone, "+441234567890"),
        email("Ada"), // duplicates are stored once
    ];
    put(&store, |b| b.put_customer(&ada, keys));
    assert_eq!(store.customer(CustomerId(7)).unwrap(), Some(ada.clone()));
    assert_eq!(store.customer(CustomerId(8)).unwrap(), None);
    assert_eq!(
        store.index_lookup(&email("Ada")).unwrap(),
        vec![CustomerId(7)]
    );
    assert_eq!(
        store.index_keys_of(CustomerId(7)).unwrap(),
        vec![
            email("Ada"),
            IndexKey::new(IndexKind::Phone, "+441234567890"),
            IndexKey::new(IndexKind::NameToken, "ada"),
        ]
    );
    assert_eq!(store.customer_count().unwrap(), 1);
}

#[test]
fn a_bounded_lookup_reads_the_first_customers_under_a_key_in_id_order() {
    let store = Store::temporary().unwrap();
    let shared = IndexKey::new(IndexKind::BirthDate, "1970-01-01");
    put(&store, |b| {
        for id in [9u64, 3, 5, 1, 7] {
            b.put_customer(&customer(id, "Ada"), vec![shared.clone()]);
        }
        // A longer value with the same start is another key.
        b.put_customer(
            &customer(2, "Bo"),
            vec![IndexKey::new(IndexKind::BirthDate, "1970-01-011")],
        );
    });
    let ids = |n: usize| store.index_lookup_at_most(&shared, n).unwrap();
    assert_eq!(ids(3), vec![CustomerId(1), CustomerId(3), CustomerId(5)]);
    assert_eq!(ids(0), Vec::<CustomerId>::new());
    assert_eq!(ids(100), store.index_lookup(&shared).unwrap());
    assert_eq!(ids(100).len(), 5);
}

#[test]
fn put_customer_replaces_all_index_entries() {
    let store = Store::temporary().unwrap();
    let c = customer(1, "Ada");
    put(&store, |b| {
        b.put_customer(
            &c,
            vec![email("Ada"), IndexKey::new(IndexKind::NameToken, "ada")],
        )
    });
    put(&store, |b| {
        b.put_customer(&c, vec![IndexKey::new(IndexKind::NameToken, "lovelace")])
    });
    assert!(store.index_lookup(&email("Ada")).unwrap().is_empty());
    assert!(
        store
            .index_lookup(&IndexKey::new(IndexKind::NameToken, "ada"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .index_lookup(&IndexKey::new(IndexKind::NameToken, "lovelace"))
            .unwrap(),
        vec![CustomerId(1)]
    );
    // Two puts of the same customer in one batch: the last one's keys win.
    put(&store, |b| {
        b.put_customer(&c, vec![email("x")]);
        b.put_customer(&c, vec![email("y")]);
    });
    assert_eq!(
        store.index_keys_of(CustomerId(1)).unwrap(),
        vec![email("y")]
    );
    assert!(store.index_lookup(&email("x")).unwrap().is_empty());
    // Keys kept across a put stay (only the changed entries are written), in one batch or
    // in two; a key dropped and given back in one batch is there.
    put(&store, |b| b.put_customer(&c, vec![email("y"), email("z")]));
    put(&store, |b| b.put_customer(&c, vec![email("z"), email("w")]));
    put(&store, |b| {
        b.put_customer(&c, vec![email("w")]);
        b.put_customer(&c, vec![email("w"), email("z")]);
    });
    assert_eq!(
        store.index_keys_of(CustomerId(1)).unwrap(),
        vec![email("w"), email("z")]
    );
    for (value, found) in [("w", true), ("z", true), ("y", false)] {
        assert_eq!(
            store.index_lookup(&email(value)).unwrap(),
            if found { vec![CustomerId(1)] } else { vec![] },
            "{value}"
        );
    }
}

#[test]
fn one_index_value_can_point_at_several_customers() {
    let store = Store::temporary().unwrap();
    let shared = IndexKey::new(IndexKind::Phone, "+4930123456");
    put(&store, |b| {
        b.put_customer(&customer(2, "B"), vec![shared.clone()]);
        b.put_customer(&customer(10, "J"), vec![shared.clone()]);
    });
    assert_eq!(
        store.index_lookup(&shared).unwrap(),
        vec![CustomerId(2), CustomerId(10)]
    );
}

#[test]
fn index_prefix_serves_type_ahead_in_value_order() {
    let store = Store::temporary().unwrap();
    put(&store, |b| {
        for (id, name) in [(1, "smith"), (2, "smithers"), (3, "smyth"), (4, "jones")] {
            b.put_customer(
                &customer(id, name),
                vec![IndexKey::new(IndexKind::NameToken, name)],
            );
        }
        // A value containing a NUL byte must not confuse the key encoding.
        b.put_customer(
            &customer(5, "odd"),
            vec![IndexKey::new(IndexKind::NameToken, "smi\0th")],
        );
    });
    let hits = store.index_prefix(IndexKind::NameToken, "smi", 10).unwrap();
    assert_eq!(
        hits,
        vec![
            ("smi\0th".to_owned(), CustomerId(5)),
            ("smith".to_owned(), CustomerId(1)),
            ("smithers".to_owned(), CustomerId(2)),
        ]
    );
    assert_eq!(
        store
            .index_prefix(IndexKind::NameToken, "sm", 2)
            .unwrap()
            .len(),
        2
    );
    assert!(
        store
            .index_prefix(IndexKind::Email, "smi", 10)
            .unwrap()
            .is_empty()
    );
}

/// Opening a database does not read the vocabulary of prefix search (millions of values at
/// a million customers, paid by every command otherwise): the first prefix search reads it,
/// or a server's warm-up ahead of it, and a search after a reopen finds what was written.
#[test]
fn the_vocabulary_is_read_at_the_first_prefix_search_not_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        put(&store, |b| {
            for (id, name) in [(1, "smith"), (2, "smithers"), (3, "jones")] {
                b.put_customer(
                    &customer(id, name),
                    vec![IndexKey::new(IndexKind::NameToken, name)],
                );
            }
        });
        store.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(!store.vocabulary_is_warm());
    // Exact lookups and writes without vocabulary values leave it unread.
    assert_eq!(
        store
            .index_lookup(&IndexKey::new(IndexKind::NameToken, "jones"))
            .unwrap(),
        vec![CustomerId(3)]
    );
    assert!(!store.vocabulary_is_warm());
    let hits = store.index_prefix(IndexKind::NameToken, "smi", 10).unwrap();
    assert_eq!(
        hits,
        vec![
            ("smith".to_owned(), CustomerId(1)),
            ("smithers".to_owned(), CustomerId(2)),
        ]
    );
    assert!(store.vocabulary_is_warm());
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    store.warm_vocabulary().unwrap();
    assert!(store.vocabulary_is_warm());
    // A value added after the warm-up is found too.
    put(&store, |b| {
        b.put_customer(
            &customer(4, "smythe"),
            vec![IndexKey::new(IndexKind::NameToken, "smythe")],
        )
    });
    assert_eq!(
        store.index_prefix(IndexKind::NameToken, "smy", 10).unwrap(),
        vec![("smythe".to_owned(), CustomerId(4))]
    );
}

#[test]
fn remove_customer_removes_document_and_index_and_records_the_merge() {
    let store = Store::temporary().unwrap();
    put(&store, |b| {
        b.put_customer(&customer(1, "Ada"), vec![email("Ada")]);
        b.put_customer(&customer(2, "Ada2"), vec![email("Ada2")]);
    });
    put(&store, |b| {
        b.remove_customer(CustomerId(2), Some(CustomerId(1)))
    });
    assert_eq!(store.customer(CustomerId(2)).unwrap(), None);
    assert!(store.index_lookup(&email("Ada2")).unwrap().is_empty());
    assert!(store.index_keys_of(CustomerId(2)).unwrap().is_empty());
    assert_eq!(
        store.merged_into(CustomerId(2)).unwrap(),
        Some(CustomerId(1))
    );
    assert_eq!(store.merged_into(CustomerId(1)).unwrap(), None);
    // Unmerge: putting the customer back clears the marker.
    put(&store, |b| {
        b.put_customer(&customer(2, "Ada2"), vec![email("Ada2")])
    });
    assert_eq!(store.merged_into(CustomerId(2)).unwrap(), None);
    assert_eq!(
        store.index_lookup(&email("Ada2")).unwrap(),
        vec![CustomerId(2)]
    );
}

#[test]
fn newest_interactions_are_one_reverse_scan_with_paging() {
    let store = Store::temporary().unwrap();
    put(&store, |b| {
        // Customer 5 has interactions before and after the epoch; its neighbours must not leak
        // into its history.
        for (id, at) in [
            (1, -5_000),
            (2, -1),
            (3, 0),
            (4, 10),
            (5, 10),
            (6, 1_000_000),
        ] {
            b.put_interaction(&interaction(id, 5, at));
        }
        b.put_interaction(&interaction(7, 4, 2_000_000));
        b.put_interaction(&interaction(8, 6, -9_000_000));
    });
    let ids = |v: Vec<rapport_core::Interaction>| v.iter().map(|i| i.id.0).collect::<Vec<_>>();
    let newest = store.interactions_newest(CustomerId(5), 100, None).unwrap();
    assert_eq!(ids(newest), vec![6, 5, 4, 3, 2, 1]);
    let page1 = store.interactions_newest(CustomerId(5), 2, None).unwrap();
    assert_eq!(ids(page1.clone()), vec![6, 5]);
    let last = page1.last().unwrap();
    let page2 = store
        .interactions_newest(CustomerId(5), 3, Some((last.at, last.id)))
        .unwrap();
    assert_eq!(ids(page2), vec![4, 3, 2]);
    let oldest_first: Vec<u64> = store
        .interactions_of(CustomerId(5))
        .map(|i| i.unwrap().id.0)
        .collect();
    assert_eq!(oldest_first, vec![1, 2, 3, 4, 5, 6]);
    let all: Vec<(u64, u64)> = store
        .all_interactions()
        .map(|i| i.unwrap())
        .map(|i| (i.customer.0, i.id.0))
        .collect();
    assert_eq!(all.first(), Some(&(4, 7)));
    assert_eq!(all.last(), Some(&(6, 8)));
    assert_eq!(store.interaction_count().unwrap(), 8);
    assert!(
        store
            .interactions_newest(CustomerId(99), 10, None)
            .unwrap()
            .is_empty()
    );

    put(&store, |b| {
        b.remove_interaction(CustomerId(5), Timestamp::from_millis(10), InteractionId(5))
    });
    assert_eq!(store.interaction_count().unwrap(), 7);
}

#[test]
fn a_second_grant_for_the_same_disruption_conflicts_and_writes_nothing() {
    let store = Store::temporary().unwrap();
    let first = grant(1, "RP123/2026-11-23", "gate agent Ana");
    let mut b = Batch::default();
    b.insert_grant(&first);
    store.write(b, Durability::Durable).unwrap();

    let mut b = Batch::default();
    b.put_customer(&customer(1, "Ada"), vec![email("Ada")]);
    b.insert_grant(&grant(1, "RP123/2026-11-23", "call center Bo"));
    match store.write(b, Durability::Durable) {
        Err(Error::Conflict(existing)) => {
            assert_eq!(*existing, first);
            let msg = Error::Conflict(existing).to_string();
            assert!(
                msg.contains("gate agent Ana") && msg.contains("gate C12"),
                "{msg}"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // All or nothing: the customer in the failed batch was not written.
    assert_eq!(store.customer(CustomerId(1)).unwrap(), None);
    assert!(store.index_lookup(&email("Ada")).unwrap().is_empty());

    // Another disruption is fine; two grants for one disruption in one batch conflict.
    let mut b = Batch::default();
    b.insert_grant(&grant(1, "RP124/2026-11-24", "Ana"));
    store.write(b, Durability::Batched).unwrap();
    let mut b = Batch::default();
    b.insert_grant(&grant(2, "X1", "Ana"));
    b.insert_grant(&grant(2, "X1", "Bo"));
    assert!(matches!(
        store.write(b, Durability::Batched),
        Err(Error::Conflict(_))
    ));
    assert_eq!(store.grant(CustomerId(2), "X1").unwrap(), None);

    let grants = store.grants_of(CustomerId(1)).unwrap();
    assert_eq!(grants.len(), 2);
    assert_eq!(
        store.grant(CustomerId(1), "RP123/2026-11-23").unwrap(),
        Some(first)
    );
}

#[test]
fn concurrent_grants_for_one_disruption_admit_exactly_one() {
    let store = Store::temporary().unwrap();
    let handles: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut b = Batch::default();
                b.insert_grant(&grant(3, "RP9/2026-11-23", &format!("agent {n}")));
                store.write(b, Durability::Durable).is_ok()
            })
        })
        .collect();
    let ok = handles
        .into_iter()
        .filter(|_| true)
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(ok, 1);
}

#[test]
fn scores_and_documents_round_trip() {
    let store = Store::temporary().unwrap();
    let mut b = Batch::default();
    b.put_scores(CustomerId(3), &scores(1_234.5));
    b.put_doc(
        "quarantine",
        "reservations/000001",
        &vec!["bad date", "01/02/03"],
    )
    .unwrap();
    b.put_doc("quarantine", "reservations/000002", &vec!["bad phone"])
        .unwrap();
    b.put_doc("quarantine2", "x", &1u32).unwrap();
    b.put_doc("operators", "ana", &("ana", 3)).unwrap();
    store.write(b, Durability::Durable).unwrap();

    assert_eq!(store.scores(CustomerId(3)).unwrap(), Some(scores(1_234.5)));
    assert_eq!(store.scores(CustomerId(4)).unwrap(), None);
    let q: Vec<(String, Vec<String>)> = store
        .docs("quarantine", "reservations/")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0].0, "reservations/000001");
    assert_eq!(q[1].1, vec!["bad phone".to_owned()]);
    assert_eq!(store.doc_count("quarantine").unwrap(), 2);
    assert_eq!(store.doc_count("quarantine2").unwrap(), 1);
    assert_eq!(
        store.doc::<(String, u32)>("operators", "ana").unwrap(),
        Some(("ana".into(), 3))
    );
    // A document read as the wrong type is a decode error naming the collection and key.
    match store.doc::<u64>("operators", "ana") {
        Err(Error::Decode { tree, key, .. }) => {
            assert_eq!(tree, "docs");
            assert_eq!(key, "operators/ana");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    put(&store, |b| b.remove_doc("operators", "ana"));
    assert_eq!(
        store.doc::<(String, u32)>("operators", "ana").unwrap(),
        None
    );
}

#[test]
fn ids_are_monotonic_and_never_reused() {
    let store = Store::temporary().unwrap();
    let a = store.next_customer_id().unwrap();
    let b = store.next_customer_id().unwrap();
    assert!(b > a);
    // A customer written with an explicit id (an import) moves the counter past it.
    put(&store, |bt| bt.put_customer(&customer(500, "X"), vec![]));
    assert!(store.next_customer_id().unwrap().0 > 500);
    let block = store.next_interaction_ids(100).unwrap();
    assert_eq!(block.end - block.start, 100);
    let next = store.next_interaction_ids(1).unwrap();
    assert!(next.start >= block.end);
    put(&store, |bt| bt.put_interaction(&interaction(10_000, 1, 0)));
    assert!(store.next_interaction_ids(1).unwrap().start > 10_000);
}

#[test]
fn durable_writes_and_counters_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let id;
    {
        let store = Store::open(&path).unwrap();
        id = store.next_customer_id().unwrap();
        let mut b = Batch::default();
        b.put_customer(&customer(id.0, "Ada"), vec![email("Ada")]);
        store.write(b, Durability::Durable).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert!(store.customer(id).unwrap().is_some());
    assert_eq!(store.index_lookup(&email("Ada")).unwrap(), vec![id]);
    assert!(store.next_customer_id().unwrap() > id);
}

#[test]
fn a_second_open_of_a_held_database_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let _held = Store::open(&path).unwrap();
    match Store::open(&path) {
        Err(e @ Error::Locked { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("rapport serve --db"), "{msg}");
            assert!(msg.contains("--connect"), "{msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn stats_count_every_keyspace_and_collection() {
    let store = Store::temporary().unwrap();
    put(&store, |b| {
        b.put_customer(&customer(1, "A"), vec![email("A"), email("B")]);
        b.put_customer(&customer(2, "C"), vec![]);
        b.put_interaction(&interaction(1, 1, 0));
        b.insert_grant(&grant(1, "D1", "x"));
        b.put_scores(CustomerId(1), &scores(1.0));
        b.put_doc("lists", "a", &1).unwrap();
        b.put_doc("lists", "b", &2).unwrap();
        b.put_doc("audit", "0001", &"x").unwrap();
    });
    let s = store.stats().unwrap();
    assert_eq!(s.count("customers"), 2);
    assert_eq!(s.count("index"), 2);
    assert_eq!(s.count("interactions"), 1);
    assert_eq!(s.count("grants"), 1);
    assert_eq!(s.count("scores"), 1);
    assert_eq!(s.count("docs"), 3);
    assert_eq!(
        s.collections,
        vec![("audit".to_owned(), 1), ("lists".to_owned(), 2)]
    );
    assert_eq!(s.schema_version, rapport_store::SCHEMA_VERSION);
}

#[test]
fn a_live_subscriber_sees_typed_events() {
    let store = Store::temporary().unwrap();
    let sub = store.subscribe();
    put(&store, |b| {
        b.put_customer(&customer(1, "A"), vec![email("A")])
    });
    put(&store, |b| b.put_interaction(&interaction(11, 1, 5)));
    put(&store, |b| b.insert_grant(&grant(1, "D1", "x")));
    put(&store, |b| b.put_scores(CustomerId(1), &scores(2.0)));
    put(&store, |b| b.put_doc("lists", "a", &1).unwrap()); // no event for documents
    put(&store, |b| {
        b.remove_customer(CustomerId(1), Some(CustomerId(9)))
    });
    let mut got = Vec::new();
    while got.len() < 5 {
        match sub.recv_timeout(Duration::from_secs(5)) {
            Some(e) => got.push(e.change),
            None => break,
        }
    }
    assert_eq!(
        got,
        vec![
            Change::CustomerChanged {
                customer: CustomerId(1)
            },
            Change::InteractionAdded {
                customer: CustomerId(1),
                interaction: InteractionId(11)
            },
            Change::GrantIssued {
                customer: CustomerId(1),
                disruption: "D1".into()
            },
            Change::ScoresUpdated {
                customer: CustomerId(1)
            },
            Change::CustomerRemoved {
                customer: CustomerId(1),
                merged_into: Some(CustomerId(9))
            },
        ]
    );
    assert!(sub.recv_timeout(Duration::from_millis(200)).is_none());
}

#[test]
fn a_stalled_subscriber_never_blocks_writers_and_learns_it_lagged() {
    let store = Store::temporary().unwrap();
    let stalled = store.subscribe();
    let dropped = store.subscribe();
    drop(dropped);
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for n in 0..5_000u64 {
                let mut b = Batch::default();
                b.put_interaction(&interaction(n + 1, 1, n as i64));
                store.write(b, Durability::Batched).unwrap();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !writer.is_finished() {
        assert!(
            Instant::now() < deadline,
            "writers blocked by a stalled subscriber"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.join().unwrap();
    // Everything was written.
    assert_eq!(store.interaction_count().unwrap(), 5_000);
    // The subscriber holds at most its capacity, then learns it lagged once it reads.
    let mut events = 0;
    let mut lagged = false;
    while let Some(e) = stalled.recv_timeout(Duration::from_secs(2)) {
        if e.change == Change::Lagged {
            lagged = true;
            break;
        }
        events += 1;
    }
    assert!(events <= 1_024, "{events} events buffered");
    assert!(lagged, "no Lagged notice after {events} events");
    // A later write reaches the subscriber again.
    put(&store, |b| b.put_scores(CustomerId(1), &scores(1.0)));
    let next = stalled
        .recv_timeout(Duration::from_secs(5))
        .map(|e| e.change);
    assert_eq!(
        next,
        Some(Change::ScoresUpdated {
            customer: CustomerId(1)
        })
    );
}

#[test]
fn export_import_export_is_byte_identical() {
    let store = Store::temporary().unwrap();
    put(&store, |b| {
        let mut ada = customer(1, "Ada \u{202e} \"quoted\"");
        ada.profile.extra.insert(
            "shoe".into(),
            rapport_core::Sourced::new("42".into(), None, Timestamp::from_millis(-5)),
        );
        b.put_customer(
            &ada,
            vec![email("Ada"), IndexKey::new(IndexKind::NameToken, "ada")],
        );
        b.put_customer(&customer(2, "Bo"), vec![email("Bo")]);
        b.put_customer(&customer(3, "Merged"), vec![]);
        b.put_interaction(&interaction(1, 1, -1_000));
        b.put_interaction(&interaction(2, 1, 1_700_000_000_123));
        b.insert_grant(&grant(1, "RP1/2026-11-23", "Ana"));
        b.put_scores(CustomerId(2), &scores(0.1 + 0.2));
        // Needs serde_json's exact float parsing to survive the round trip.
        b.put_scores(CustomerId(1), &scores(439_585_030_551.392_76));
        b.put_doc("audit", "0001", &("login", 3, -1.5)).unwrap();
        b.put_doc("quarantine", "src/1", &vec![Some("x"), None])
            .unwrap();
        b.put_doc_compact("fragments", "src:1", &(Some("Ada"), 7u64, vec![-1.5f64]))
            .unwrap();
    });
    put(&store, |b| {
        b.remove_customer(CustomerId(3), Some(CustomerId(1)))
    });
    let _ = store.next_customer_id().unwrap();

    let mut first = Vec::new();
    let sum = store.export_jsonl(&mut first).unwrap();
    assert_eq!(sum.customers, 2);
    assert_eq!(sum.index_entries, 3);
    assert_eq!(sum.removed, 1);
    assert_eq!(sum.interactions, 2);
    assert_eq!(sum.grants, 1);
    assert_eq!(sum.scores, 2);
    assert_eq!(sum.docs, 3);
    let compact = String::from_utf8(first.clone()).unwrap();
    assert!(compact.contains("\"compact_doc\""), "{compact}");

    let restored = Store::temporary().unwrap();
    let isum = restored.import_jsonl(&mut first.as_slice()).unwrap();
    assert_eq!(isum, sum);
    let mut second = Vec::new();
    restored.export_jsonl(&mut second).unwrap();
    assert_eq!(
        String::from_utf8(first.clone()).unwrap(),
        String::from_utf8(second).unwrap()
    );

    // The restored store works, not just its export.
    assert_eq!(
        restored
            .doc::<(Option<String>, u64, Vec<f64>)>("fragments", "src:1")
            .unwrap(),
        Some((Some("Ada".to_string()), 7, vec![-1.5]))
    );
    assert_eq!(
        restored.index_lookup(&email("Bo")).unwrap(),
        vec![CustomerId(2)]
    );
    assert_eq!(
        restored.merged_into(CustomerId(3)).unwrap(),
        Some(CustomerId(1))
    );
    assert_eq!(
        restored.next_customer_id().unwrap(),
        store.next_customer_id().unwrap()
    );

    // Import needs an empty store.
    assert!(matches!(
        restored.import_jsonl(&mut first.as_slice()),
        Err(Error::NotEmpty { .. })
    ));
}

#[test]
fn a_bad_import_line_names_its_line() {
    let store = Store::temporary().unwrap();
    let mut good = Vec::new();
    Store::temporary().unwrap().export_jsonl(&mut good).unwrap();
    let text = String::from_utf8(good).unwrap();
    let (header, trailer) = text.split_once('\n').unwrap();
    let text = format!("{header}\n{{\"customer\": {{\"nonsense\": 1}}}}\n{trailer}");
    match store.import_jsonl(&mut text.as_bytes()) {
        Err(Error::Import { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected an import error, got {other:?}"),
    }
    match Store::temporary()
        .unwrap()
        .import_jsonl(&mut "{\"counter\":{\"name\":\"next_customer\",\"next\":3}}\n".as_bytes())
    {
        Err(Error::Import { line: 1, reason }) => assert!(reason.contains("header"), "{reason}"),
        other => panic!("expected a missing-header error, got {other:?}"),
    }
}

/// Scores of many customers across pages (sparse and full ones, different versions, segments,
/// propensity products and missing churn) read back equal, one by one and by range, and a
/// later put replaces only its customer.
#[test]
fn scores_in_pages_read_back_equal_to_what_was_written() {
    let store = Store::temporary().unwrap();
    let varied = |id: u64| {
        let mut s = scores(id as f64 * 1.5 + 0.1);
        s.tier = [Tier::A, Tier::B, Tier::C][(id % 3) as usize];
        s.top = id.is_multiple_of(7);
        s.bottom = id.is_multiple_of(5);
        s.churn = (!id.is_multiple_of(4)).then_some(id as f64 / 1e4);
        s.segment = ["premium", "standard", "foundation"][(id % 3) as usize].into();
        if id.is_multiple_of(11) {
            s.model_version = "value-v2/bgnbd-gg/lr/2026-12-01".into();
        }
        s.propensity = (0..(id % 4))
            .map(|k| (format!("product{}", (id + k) % 6), k as f64 / 10.0))
            .collect();
        s.p_alive = f64::from_bits(0x3FE0_0000_0000_0001 + id);
        s
    };
    let ids: Vec<u64> = (1..=700)
        .chain([1_000, 5_000, 5_255, 5_256, u64::MAX / 2])
        .collect();
    let mut b = Batch::default();
    for &id in &ids {
        b.put_scores(CustomerId(id), &varied(id));
    }
    store.write(b, Durability::Durable).unwrap();
    for &id in &ids {
        assert_eq!(
            store.scores(CustomerId(id)).unwrap(),
            Some(varied(id)),
            "{id}"
        );
    }
    assert_eq!(store.scores(CustomerId(0)).unwrap(), None);
    assert_eq!(store.scores(CustomerId(701)).unwrap(), None);
    let all: Vec<(CustomerId, Scores)> = store
        .scores_in(CustomerId(0), None)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        all,
        ids.iter()
            .map(|&id| (CustomerId(id), varied(id)))
            .collect::<Vec<_>>()
    );
    let some: Vec<u64> = store
        .scores_in(CustomerId(250), Some(CustomerId(520)))
        .map(|r| r.unwrap().0.0)
        .collect();
    assert_eq!(some, (250..520).collect::<Vec<_>>());
    assert_eq!(store.stats().unwrap().count("scores"), ids.len() as u64);

    // Replacing one customer's scores (twice in one batch: the later wins) keeps its page
    // neighbours.
    let mut b = Batch::default();
    b.put_scores(CustomerId(300), &scores(1.0));
    b.put_scores(CustomerId(300), &scores(2.0));
    store.write(b, Durability::Durable).unwrap();
    assert_eq!(store.scores(CustomerId(300)).unwrap(), Some(scores(2.0)));
    assert_eq!(store.scores(CustomerId(299)).unwrap(), Some(varied(299)));
    assert_eq!(store.scores(CustomerId(301)).unwrap(), Some(varied(301)));

    // Whole pages from borrowed views read back the same as owned scores: a full page
    // (replaced), part of a page (merged with its neighbours), and a page written twice in
    // one batch, once with owned scores in between.
    let owned: Vec<(u64, Scores)> = (256..512).map(|id| (id, varied(id + 1))).collect();
    let pairs: Vec<Vec<(String, f64)>> = owned
        .iter()
        .map(|(_, s)| s.propensity.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .collect();
    let borrowed: Vec<Vec<(&str, f64)>> = pairs
        .iter()
        .map(|p| p.iter().map(|(k, v)| (k.as_str(), *v)).collect())
        .collect();
    let views = |range: std::ops::Range<usize>| -> Vec<(CustomerId, ScoreView<'_>)> {
        range
            .map(|i| {
                let mut v = ScoreView::of(&owned[i].1);
                v.propensity = Propensities::Pairs(&borrowed[i]);
                (CustomerId(owned[i].0), v)
            })
            .collect()
    };
    let mut b = Batch::default();
    b.put_score_page(&views(0..256));
    store.write(b, Durability::Durable).unwrap();
    for (id, s) in &owned {
        assert_eq!(
            store.scores(CustomerId(*id)).unwrap().as_ref(),
            Some(s),
            "{id}"
        );
    }
    let mut b = Batch::default();
    b.put_score_page(&views(10..20));
    b.put_scores(CustomerId(271), &scores(3.0));
    b.put_score_page(&views(18..19));
    store.write(b, Durability::Durable).unwrap();
    assert_eq!(store.scores(CustomerId(271)).unwrap(), Some(scores(3.0)));
    assert_eq!(
        store.scores(CustomerId(274)).unwrap().as_ref(),
        Some(&owned[18].1)
    );
    // Part of page 0: its other customers keep their scores.
    let first: Vec<(u64, Scores)> = (5..9).map(|id| (id, scores(id as f64))).collect();
    let mut b = Batch::default();
    b.put_score_page(
        &first
            .iter()
            .map(|(id, s)| (CustomerId(*id), ScoreView::of(s)))
            .collect::<Vec<_>>(),
    );
    store.write(b, Durability::Durable).unwrap();
    assert_eq!(store.scores(CustomerId(6)).unwrap(), Some(scores(6.0)));
    assert_eq!(store.scores(CustomerId(4)).unwrap(), Some(varied(4)));
    assert_eq!(store.scores(CustomerId(9)).unwrap(), Some(varied(9)));
    // Customers of two pages in one call: the write fails, writing nothing.
    let mut b = Batch::default();
    b.put_score_page(&views(254..256));
    let two = [
        (CustomerId(255), ScoreView::of(&first[0].1)),
        (CustomerId(256), ScoreView::of(&first[0].1)),
    ];
    b.put_score_page(&two);
    assert!(store.write(b, Durability::Durable).is_err());
}

/// A history digest lives until the customer's interactions change: any later
/// `put_interaction` or `remove_interaction` (or one earlier in the same batch followed by the
/// digest) decides.
#[test]
fn history_digests_are_removed_by_every_interaction_write() {
    let store = Store::temporary().unwrap();
    let mut b = Batch::default();
    for c in 1..=3 {
        b.put_customer(&customer(c, &format!("C{c}")), vec![]);
        b.put_interaction(&interaction(c * 10, c, 1_000));
        b.put_history_digest(CustomerId(c), &vec![c; 3]);
    }
    store.write(b, Durability::Durable).unwrap();
    let digest = |c: u64| store.history_digest::<Vec<u64>>(CustomerId(c)).unwrap();
    assert_eq!(digest(1), Some(vec![1; 3]));
    let all: Vec<(CustomerId, Vec<u64>)> = store
        .history_digests(CustomerId(2), None)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        all,
        vec![(CustomerId(2), vec![2; 3]), (CustomerId(3), vec![3; 3])]
    );

    let mut b = Batch::default();
    b.put_interaction(&interaction(11, 1, 2_000));
    b.remove_interaction(
        CustomerId(2),
        Timestamp::from_millis(1_000),
        InteractionId(20),
    );
    store.write(b, Durability::Durable).unwrap();
    assert_eq!((digest(1), digest(2)), (None, None));
    assert_eq!(digest(3), Some(vec![3; 3]));

    let mut b = Batch::default();
    b.put_history_digest(CustomerId(3), &vec![9]);
    b.put_interaction(&interaction(31, 3, 3_000));
    store.write(b, Durability::Durable).unwrap();
    assert_eq!(
        digest(3),
        None,
        "an interaction after the digest in one batch removes it"
    );

    // Digests in the caller's own bytes: read back as stored, removed the same way.
    let mut b = Batch::default();
    b.put_history_digest_bytes(CustomerId(1), &[7, 0, 1]);
    b.put_history_digest_bytes(CustomerId(2), &[]);
    b.put_history_digest(CustomerId(3), &vec![9u64]);
    store.write(b, Durability::Durable).unwrap();
    type Read = (CustomerId, Option<Vec<u8>>, Option<Vec<u64>>);
    let stored: Vec<Read> = store
        .stored_history_digests(CustomerId(0), None)
        .map(|r| {
            let (id, d) = r.unwrap();
            (
                id,
                d.bytes().map(<[u8]>::to_vec),
                d.decode::<Vec<u64>>().ok(),
            )
        })
        .collect();
    assert_eq!(
        stored,
        vec![
            (CustomerId(1), Some(vec![7, 0, 1]), None),
            (CustomerId(2), Some(vec![]), None),
            (CustomerId(3), None, Some(vec![9])),
        ]
    );
    let mut b = Batch::default();
    b.put_interaction(&interaction(12, 1, 4_000));
    store.write(b, Durability::Durable).unwrap();
    assert_eq!(
        store
            .stored_history_digests(CustomerId(0), Some(CustomerId(2)))
            .count(),
        0
    );

    let ids: Vec<u64> = store
        .customer_ids(CustomerId(2), None)
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(ids, vec![2, 3]);
    assert_eq!(store.last_customer_id().unwrap(), Some(CustomerId(3)));
}

#[test]
fn reopening_keeps_everything_and_needs_the_only_handle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = Store::open(&path).unwrap();
    put(&store, |b| {
        b.put_customer(&customer(1, "A"), vec![email("A")]);
        b.put_interaction(&interaction(1, 1, 0));
    });
    let store = store
        .reopen(&rapport_store::OpenOptions::default())
        .unwrap();
    assert_eq!(
        store.index_lookup(&email("A")).unwrap(),
        vec![CustomerId(1)]
    );
    assert_eq!(store.interaction_count().unwrap(), 1);
    let other = store.clone();
    assert!(matches!(
        store.reopen(&rapport_store::OpenOptions::default()),
        Err(Error::Locked { .. })
    ));
    assert_eq!(other.customer_count().unwrap(), 1);
}

/// A backup with records of every kind.
fn backup_of_a_small_store() -> Vec<u8> {
    let store = Store::temporary().unwrap();
    put(&store, |b| {
        for id in 1..=40u64 {
            b.put_customer(
                &customer(id, &format!("Name{id}")),
                vec![email(&format!("N{id}"))],
            );
            b.put_interaction(&interaction(id, id, 1_700_000_000_000 + id as i64));
            b.put_scores(CustomerId(id), &scores(id as f64));
        }
        b.insert_grant(&grant(1, "RP1/2026-11-23", "Ana"));
        b.put_doc(
            "operators",
            "ana",
            &serde_json::json!({"name": "ana", "password_hash": "$argon2id$secret"}),
        )
        .unwrap();
        b.put_doc_compact("fragments", "src:1", &(Some("Ada"), 7u64))
            .unwrap();
    });
    put(&store, |b| {
        b.remove_customer(CustomerId(40), Some(CustomerId(1)))
    });
    let mut out = Vec::new();
    store.export_jsonl(&mut out).unwrap();
    out
}

/// Regression: an export cut at a line boundary imported with success, restoring a store
/// without its grants and operators (vouchers already paid could be paid again).
#[test]
fn every_cut_of_a_backup_is_refused_naming_what_is_wrong() {
    use rand::{Rng, SeedableRng};
    let full = backup_of_a_small_store();
    assert!(Store::verify_export(&mut full.as_slice()).is_ok());
    let mut cuts: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .filter(|&i| i < full.len())
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    cuts.extend((0..200).map(|_| rng.random_range(0..full.len())));
    cuts.push(full.len() - 1); // only the last line end missing
    for &cut in &cuts {
        let part = &full[..cut];
        match Store::verify_export(&mut &part[..]) {
            Err(Error::Import { reason, .. }) => assert!(
                reason.contains("cut short")
                    || reason.contains("trailer")
                    || reason.contains("empty")
                    || reason.contains("EOF"),
                "cut at {cut}: {reason}"
            ),
            other => panic!("cut at {cut} of {}: {other:?}", full.len()),
        }
    }
    // A real import of a file cut at a line boundary is refused too.
    for &cut in cuts.iter().step_by(9).take(12) {
        let target = Store::temporary().unwrap();
        assert!(
            matches!(
                target.import_jsonl(&mut &full[..cut]),
                Err(Error::Import { .. })
            ),
            "cut at {cut}"
        );
    }
}

#[test]
fn a_backup_with_a_changed_count_or_byte_is_refused() {
    let full = String::from_utf8(backup_of_a_small_store()).unwrap();
    // A record removed from the middle: the counts disagree.
    let lines: Vec<&str> = full.lines().collect();
    let without: String = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| !(l.starts_with("{\"grant\"") && *i > 0))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    match Store::verify_export(&mut without.as_bytes()) {
        Err(Error::Import { reason, .. }) => {
            assert!(
                reason.contains("lines come before it") || reason.contains("grants"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    // One value changed: the digest disagrees.
    let changed = full.replacen("Name7", "Name8", 1);
    match Store::verify_export(&mut changed.as_bytes()) {
        Err(Error::Import { reason, .. }) => assert!(reason.contains("digest"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Two exports one after the other.
    let twice = format!("{full}{full}");
    match Store::verify_export(&mut twice.as_bytes()) {
        Err(Error::Import { reason, .. }) => {
            assert!(reason.contains("after the trailer"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_export_to_a_file_is_private_whole_and_can_blank_password_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::temporary().unwrap();
    put(&store, |b| {
        b.put_customer(&customer(1, "Ada"), vec![]);
        b.put_doc(
            "operators",
            "ana",
            &serde_json::json!({"name": "ana", "password_hash": "$argon2id$secret"}),
        )
        .unwrap();
    });
    let path = dir.path().join("nightly.jsonl");
    std::fs::write(&path, "the previous good backup\n").unwrap();
    let options = rapport_store::ExportOptions {
        blank: vec![("operators".into(), "password_hash".into())],
    };
    let sum = store.export_to_file(&path, &options).unwrap();
    assert_eq!(sum.customers, 1);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("argon2id"), "{text}");
    assert!(text.contains("operators.password_hash"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // A failed export (a directory where the file should go) leaves the old file alone.
    let blocked = dir.path().join("sub");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("x"), "").unwrap();
    assert!(store.export_to_file(&blocked, &options).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let restored = Store::temporary().unwrap();
    restored.import_jsonl(&mut text.as_bytes()).unwrap();
    assert_eq!(
        restored
            .doc::<serde_json::Value>("operators", "ana")
            .unwrap()
            .unwrap()["password_hash"],
        ""
    );
}
