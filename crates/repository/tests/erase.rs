//! Erasure on a store filled by real ingest, with a merge: the customer and the customer
//! merged into it are both erased, their source records, review decision and merge log keep no
//! personal value, their facts stay, the other customers are untouched, and no file of the
//! database directory holds the erased values afterwards.

use std::path::Path;

use rapport_core::{CustomerId, Timestamp};
use rapport_repository::ResolvedFragment;
use rapport_repository::erase::{self, ERASURES};
use rapport_repository::ingest::{self, IngestOptions, ingest_files};
use rapport_repository::merge::{self, MERGE_LOG, MergeRecord, REVIEWS_DONE, ReviewDecision};
use rapport_store::{IndexKey, IndexKind, Store};

const SHOP: &str = include_str!("../../../fixtures/test/shop.toml");

const SHOP_CSV: &str = "customer,first,last,dob,email,order,at,amount
S1,Annaliese,Quorvandel,1975-11-02,annaliese.quorvandel@example.com,o1,2026-01-05T10:00:00Z,10.00
S2,Piet,Jansen,1980-01-01,piet@example.com,o2,2026-01-06T10:00:00Z,20.00
";

const WEB_CSV: &str = "customer,first,last,dob,email,order,at,amount
W1,Annaliese,Quorvandel,,aq.private@othermail.example,w1,2026-02-05T10:00:00Z,30.00
";

const NEEDLES: &[&str] = &[
    "annaliese",
    "quorvandel",
    "annaliese.quorvandel@example.com",
    "aq.private@othermail.example",
];

fn holding(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            found.extend(holding(&p));
            continue;
        }
        let bytes = std::fs::read(&p).unwrap().to_ascii_lowercase();
        for n in NEEDLES {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                found.push(format!("{n} in {}", p.display()));
            }
        }
    }
    found
}

fn owner(store: &Store, record: &str) -> CustomerId {
    store
        .doc::<ResolvedFragment>(ingest::FRAGMENTS, record)
        .unwrap()
        .unwrap()
        .customer
}

#[test]
fn erasing_a_merged_customer_erases_both_and_keeps_the_facts() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("shop.toml"), SHOP).unwrap();
    std::fs::write(
        p.join("web.toml"),
        SHOP.replace("name = \"shop\"", "name = \"web\""),
    )
    .unwrap();
    std::fs::write(p.join("shop.csv"), SHOP_CSV).unwrap();
    std::fs::write(p.join("web.csv"), WEB_CSV).unwrap();
    let db = p.join("db");
    let store = Store::open(&db).unwrap();
    let opts = IngestOptions {
        now: Timestamp::parse_rfc3339("2026-11-23T10:00:00Z"),
        ..IngestOptions::default()
    };
    for (m, f) in [("shop.toml", "shop.csv"), ("web.toml", "web.csv")] {
        ingest_files(&store, &p.join(m), &[p.join(f)], &opts).unwrap();
    }
    // The name-only match waits for review; the steward accepts it: one customer.
    let reviews = merge::open_reviews(&store).unwrap();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let record = merge::accept(&store, &reviews[0].0, "steward").unwrap();
    let (survivor, absorbed) = (record.survivor, record.other);
    assert_eq!(owner(&store, "web:W1"), survivor);
    assert_eq!(owner(&store, "shop:S1"), survivor);
    let piet = owner(&store, "shop:S2");
    let facts = |c: CustomerId| -> Vec<String> {
        store
            .interactions_of(c)
            .map(|i| {
                let i = i.unwrap();
                format!("{} {} {:?}", i.at, i.kind, i.amounts)
            })
            .collect()
    };
    let before = facts(survivor);
    assert_eq!(before.len(), 2);

    // The absorbed id is not the one to erase: its data is in the survivor.
    let err = erase::erase(&store, absorbed, "steward", "r", opts.now.unwrap()).unwrap_err();
    assert!(err.to_string().contains(&survivor.to_string()), "{err}");

    let at = Timestamp::parse_rfc3339("2026-12-07T09:00:00Z").unwrap();
    let report = erase::erase(&store, survivor, "steward", "request 118", at).unwrap();
    assert_eq!(report.customers, vec![survivor, absorbed]);
    assert_eq!(report.pseudonym, "erased 2026-12-07");
    assert_eq!(report.source_records, 2);
    assert_eq!(facts(survivor), before);
    let c = store.customer(survivor).unwrap().unwrap();
    assert_eq!(c.display_name(), "erased 2026-12-07");
    assert!(c.contacts.is_empty() && c.identifiers.is_empty());
    assert!(store.index_keys_of(survivor).unwrap().is_empty());
    for record in ["shop:S1", "web:W1"] {
        let f = store
            .doc::<ResolvedFragment>(ingest::FRAGMENTS, record)
            .unwrap()
            .unwrap();
        assert_eq!(f.customer, survivor);
        assert!(f.fragment.emails.is_empty() && f.fragment.given_name.is_none());
    }
    for item in store.docs::<ReviewDecision>(REVIEWS_DONE, "") {
        let (_, d) = item.unwrap();
        assert!(
            d.item
                .evidence
                .fields
                .iter()
                .all(|f| f.ours.is_none() && f.theirs.is_none())
        );
    }
    for item in store.docs::<MergeRecord>(MERGE_LOG, "") {
        let (_, m) = item.unwrap();
        assert!(m.survivor_before.is_none() && m.other_before.is_none());
        assert!(m.other_keys.is_empty());
    }
    assert_eq!(store.doc_count(ERASURES).unwrap(), 1);
    let register = erase::erasures(&store).unwrap();
    assert_eq!(register[0].merged, vec![absorbed]);
    for (kind, value) in [
        (IndexKind::Email, "annaliese.quorvandel@example.com"),
        (IndexKind::Email, "aq.private@othermail.example"),
        (IndexKind::NameToken, "quorvandel"),
        (IndexKind::SourceRef, "shop:S1"),
    ] {
        assert!(
            store
                .index_lookup(&IndexKey::new(kind, value))
                .unwrap()
                .is_empty()
        );
    }
    assert!(
        store
            .index_prefix(IndexKind::NameToken, "quor", 10)
            .unwrap()
            .is_empty()
    );
    // The other customer is untouched and found as before.
    assert_eq!(
        store
            .index_lookup(&IndexKey::new(IndexKind::Email, "piet@example.com"))
            .unwrap(),
        vec![piet]
    );
    assert_eq!(
        store.index_prefix(IndexKind::NameToken, "jan", 10).unwrap(),
        vec![
            ("jansen".to_string(), piet),
            ("jansen piet".to_string(), piet)
        ]
    );
    store.flush().unwrap();
    drop(store);
    let left = holding(&db);
    assert!(left.is_empty(), "{left:?}");
}
