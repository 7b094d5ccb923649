//! Merge, review and unmerge on a store filled by real ingest: two shops whose customers
//! overlap. One record matches on names only (a review item), one matches on names, birth
//! date and e-mail (attached at ingest).

use std::path::PathBuf;
use std::time::Duration;

use rapport_core::{Change, CustomerId, SourceRef, Timestamp};
use rapport_repository::identity::{Decision, Resolver};
use rapport_repository::ingest::{self, IngestOptions, ingest_files};
use rapport_repository::merge::{self, MergeKind};
use rapport_repository::{Fragment, ResolvedFragment};
use rapport_store::{IndexKey, IndexKind, Store};

/// The shop mapping shared with the end-to-end identity tests.
const SHOP: &str = include_str!("../../../fixtures/test/shop.toml");

const SHOP_CSV: &str = "customer,first,last,dob,email,order,at,amount
S1,Anna,Berg,1975-11-02,anna@example.com,o1,2026-01-05T10:00:00Z,10.00
S2,Piet,Jansen,1980-01-01,piet@example.com,o2,2026-01-06T10:00:00Z,20.00
";

const WEB_CSV: &str = "customer,first,last,dob,email,order,at,amount
W1,Ana,Berg,,ana.b@other.example,w1,2026-02-05T10:00:00Z,30.00
W2,Piet,Jansen,1980-01-01,piet@example.com,w2,2026-02-06T10:00:00Z,40.00
";

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    shop: (PathBuf, PathBuf),
    web: (PathBuf, PathBuf),
}

fn world() -> World {
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
    let store = Store::temporary().unwrap();
    let w = World {
        store,
        shop: (p.join("shop.toml"), p.join("shop.csv")),
        web: (p.join("web.toml"), p.join("web.csv")),
        _dir: dir,
    };
    ingest(&w, &w.shop);
    ingest(&w, &w.web);
    w
}

fn ingest(w: &World, (mapping, file): &(PathBuf, PathBuf)) -> ingest::IngestReport {
    let opts = IngestOptions {
        now: Timestamp::parse_rfc3339("2026-11-23T10:00:00Z"),
        ..IngestOptions::default()
    };
    ingest_files(&w.store, mapping, std::slice::from_ref(file), &opts).unwrap()
}

fn owner(store: &Store, record: &str) -> CustomerId {
    store
        .doc::<ResolvedFragment>(ingest::FRAGMENTS, record)
        .unwrap()
        .unwrap_or_else(|| panic!("no fragment {record}"))
        .customer
}

fn interactions(store: &Store, c: CustomerId) -> Vec<String> {
    let mut v: Vec<String> = store
        .interactions_of(c)
        .map(|i| i.unwrap().source.unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn indexed(store: &Store, record: &str) -> Vec<CustomerId> {
    store
        .index_lookup(&IndexKey::new(IndexKind::SourceRef, record))
        .unwrap()
}

#[test]
fn ingest_attaches_strong_matches_and_queues_name_only_matches() {
    let w = world();
    assert_eq!(w.store.customer_count().unwrap(), 3);
    assert_eq!(owner(&w.store, "web:W2"), owner(&w.store, "shop:S2"));
    assert_ne!(owner(&w.store, "web:W1"), owner(&w.store, "shop:S1"));
    let reviews = merge::open_reviews(&w.store).unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].0, "web:W1");
    assert_eq!(reviews[0].1.candidates, vec![owner(&w.store, "shop:S1")]);

    let ex = merge::explain(&w.store, "web:W2").unwrap();
    let (_, now, e) = &ex.attaches[0];
    assert_eq!(*now, Some(owner(&w.store, "shop:S2")));
    assert!(e.score >= e.upper);
    let agreed: Vec<&str> = e.agreed().map(|f| f.field.as_str()).collect();
    assert!(
        agreed.contains(&"email") && agreed.contains(&"birth_date"),
        "{agreed:?}"
    );
}

#[test]
fn accept_merges_atomically_and_unmerge_restores_both_customers() {
    let w = world();
    let anna = owner(&w.store, "shop:S1");
    let ana = owner(&w.store, "web:W1");
    let feed = w.store.subscribe();

    let m = merge::accept(&w.store, "web:W1", "tester").unwrap();
    assert_eq!((m.survivor, m.other), (anna, ana));
    assert_eq!(w.store.customer_count().unwrap(), 2);
    assert!(w.store.customer(ana).unwrap().is_none());
    assert_eq!(w.store.merged_into(ana).unwrap(), Some(anna));
    assert_eq!(interactions(&w.store, anna), ["shop:S1", "web:W1"]);
    assert_eq!(owner(&w.store, "web:W1"), anna);
    assert_eq!(indexed(&w.store, "web:W1"), [anna]);
    assert!(merge::open_reviews(&w.store).unwrap().is_empty());
    let mut removed = false;
    while let Some(ev) = feed.recv_timeout(Duration::from_millis(200)) {
        if ev.change
            == (Change::CustomerRemoved {
                customer: ana,
                merged_into: Some(anna),
            })
        {
            removed = true;
        }
    }
    assert!(removed, "the merge emits CustomerRemoved with the survivor");
    let ex = merge::explain(&w.store, &m.id).unwrap();
    assert_eq!(ex.merges[0].kind, MergeKind::Merge);
    assert!(ex.merges[0].evidence.is_some());

    let u = merge::unmerge(&w.store, &m.id, "tester").unwrap();
    assert_eq!((u.survivor, u.restored), (anna, ana));
    assert_eq!(w.store.customer_count().unwrap(), 3);
    assert_eq!(interactions(&w.store, anna), ["shop:S1"]);
    assert_eq!(interactions(&w.store, ana), ["web:W1"]);
    assert_eq!(owner(&w.store, "web:W1"), ana);
    assert_eq!(indexed(&w.store, "web:W1"), [ana]);
    assert_eq!(indexed(&w.store, "shop:S1"), [anna]);
    let restored = w.store.customer(ana).unwrap().unwrap();
    assert_eq!(restored.identifiers, vec![SourceRef::new("web", "W1")]);
    let again = merge::unmerge(&w.store, &m.id, "tester");
    assert!(again.is_err(), "a merge is undone once");
    let log = merge::explain(&w.store, &ana.to_string()).unwrap();
    assert!(log.merges.iter().any(|r| r.kind == MergeKind::Unmerge));
}

#[test]
fn reject_keeps_records_apart_in_later_decisions() {
    let w = world();
    let pairs = merge::reject(&w.store, "web:W1", "tester").unwrap();
    assert_eq!(pairs.len(), 1);
    assert!(merge::open_reviews(&w.store).unwrap().is_empty());
    assert!(merge::accept(&w.store, "web:W1", "tester").is_err());

    let config = merge::match_config(&w.store).unwrap();
    assert!(config.kept_apart(&SourceRef::new("web", "W1"), &SourceRef::new("shop", "S1")));
    let f = |r: &str| {
        w.store
            .doc::<ResolvedFragment>(ingest::FRAGMENTS, r)
            .unwrap()
            .unwrap()
            .fragment
    };
    let anna = owner(&w.store, "shop:S1");
    let candidates: Vec<(CustomerId, Vec<Fragment>)> = vec![(anna, vec![f("shop:S1")])];
    assert_eq!(
        Resolver::new(config).decide(&f("web:W1"), &candidates),
        Decision::New
    );
    // Ingesting the same file again raises nothing new.
    let report = ingest(&w, &w.web);
    assert_eq!(report.review_items, 0);
    assert!(merge::open_reviews(&w.store).unwrap().is_empty());
    // A steward cannot merge them by hand either.
    let ana = owner(&w.store, "web:W1");
    assert!(merge::merge_customers(&w.store, anna, ana, None, "tester").is_err());
}

#[test]
fn unmerging_an_attached_record_splits_it_off_with_its_interactions() {
    let w = world();
    let piet = owner(&w.store, "shop:S2");
    assert_eq!(interactions(&w.store, piet), ["shop:S2", "web:W2"]);
    let u = merge::unmerge(&w.store, "web:W2", "tester").unwrap();
    assert_eq!(u.survivor, piet);
    assert_ne!(u.restored, piet);
    assert_eq!(u.interactions, 1);
    assert_eq!(interactions(&w.store, piet), ["shop:S2"]);
    assert_eq!(interactions(&w.store, u.restored), ["web:W2"]);
    assert_eq!(owner(&w.store, "web:W2"), u.restored);
    assert_eq!(indexed(&w.store, "web:W2"), [u.restored]);
    let email = IndexKey::new(IndexKind::Email, "piet@example.com");
    let mut both = w.store.index_lookup(&email).unwrap();
    both.sort();
    assert_eq!(both, [piet, u.restored], "each keeps its own index entries");
    assert!(
        merge::unmerge(&w.store, "shop:S2", "tester").is_err(),
        "last record stays"
    );
}

#[test]
fn merge_ties_joins_customers_a_record_links() {
    let w = world();
    let anna = owner(&w.store, "shop:S1");
    let ana = owner(&w.store, "web:W1");
    let resolver = Resolver::new(merge::match_config(&w.store).unwrap());
    let e = resolver.evidence(
        &w.store
            .doc::<ResolvedFragment>(ingest::FRAGMENTS, "shop:S1")
            .unwrap()
            .unwrap()
            .fragment,
        &w.store
            .doc::<ResolvedFragment>(ingest::FRAGMENTS, "web:W1")
            .unwrap()
            .unwrap()
            .fragment,
    );
    let mut tie = e.clone();
    tie.others = vec![(ana, tie.upper + 1.0)];
    let made = merge::merge_ties(&w.store, &[tie], "ingest").unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].survivor, anna.min(ana));
    assert_eq!(w.store.customer_count().unwrap(), 2);
    assert_eq!(owner(&w.store, "web:W1"), owner(&w.store, "shop:S1"));
}
