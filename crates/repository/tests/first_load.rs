//! The first-load path (an ingest into an empty store: resolved in memory, written in sorted
//! runs) gives the same store as the incremental path on the same world.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rapport_core::{ContactKind, Timestamp};
use rapport_repository::fragment::ResolvedFragment;
use rapport_repository::ingest::{
    FRAGMENTS, IngestOptions, IngestReport, MERGES, REVIEWS, ROW_PAGES, ReviewItem,
    ingest_manifest, rows_seen, rows_seen_count,
};
use rapport_repository::{Repository, merge, quarantine};
use rapport_store::Store;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo")
}

fn load(dir: &Path, first_load: bool) -> (Store, IngestReport) {
    let store = Store::open(&dir.join(if first_load { "first" } else { "incremental" })).unwrap();
    let report = ingest_manifest(
        &store,
        &demo().join("ingest.toml"),
        &IngestOptions {
            now: Timestamp::parse_rfc3339("2026-11-23T22:00:00Z"),
            first_load,
            ..IngestOptions::default()
        },
    )
    .unwrap();
    (store, report)
}

/// Every document of a collection, by key, as JSON (types that are not `PartialEq` compare
/// through it).
fn docs<T: serde::de::DeserializeOwned + serde::Serialize>(
    store: &Store,
    collection: &str,
) -> BTreeMap<String, serde_json::Value> {
    store
        .docs::<T>(collection, "")
        .map(|r| {
            let (k, v) = r.unwrap();
            (k, serde_json::to_value(&v).unwrap())
        })
        .collect()
}

#[test]
fn a_first_load_stores_what_the_incremental_path_stores() {
    let dir = tempfile::tempdir().unwrap();
    let (a, ra) = load(dir.path(), true);
    let (b, rb) = load(dir.path(), false);

    // The same rows in, stored and quarantined, the same decisions.
    assert_eq!(ra.rows_read, rb.rows_read);
    assert_eq!(ra.rows_read, ra.rows_stored + ra.rows_quarantined);
    assert_eq!(
        (ra.rows_stored, ra.rows_quarantined, ra.rows_known),
        (rb.rows_stored, rb.rows_quarantined, rb.rows_known)
    );
    assert_eq!(ra.quarantined_by_reason, rb.quarantined_by_reason);
    assert!(ra.rows_quarantined > 0, "the demo world has bad rows");
    assert_eq!(
        (
            ra.customers_created,
            ra.merges,
            ra.review_items,
            ra.customers_merged
        ),
        (
            rb.customers_created,
            rb.merges,
            rb.review_items,
            rb.customers_merged
        )
    );
    assert!(ra.customers_merged > 0, "the demo world makes late merges");
    assert_eq!(
        (ra.interactions_stored, ra.grants_stored),
        (rb.interactions_stored, rb.grants_stored)
    );

    // The same customers (golden records, ids included), with the same index keys.
    let customers = |s: &Store| -> Vec<_> { s.customers().map(Result::unwrap).collect() };
    let (ca, cb) = (customers(&a), customers(&b));
    assert_eq!(ca.len(), cb.len());
    assert!(ca.len() > 2_000, "{} customers", ca.len());
    for (x, y) in ca.iter().zip(&cb) {
        // A customer merged at the end of the run is updated at the wall clock's now.
        let mut y = y.clone();
        y.updated = x.updated;
        assert_eq!(*x, y);
        assert_eq!(
            a.index_keys_of(x.id).unwrap(),
            b.index_keys_of(y.id).unwrap()
        );
    }
    // The same records under the same customers: the same clustering, pair for pair.
    assert_eq!(
        docs::<ResolvedFragment>(&a, FRAGMENTS),
        docs::<ResolvedFragment>(&b, FRAGMENTS)
    );
    // The same interactions and grants, ids included.
    let all = |s: &Store| -> Vec<_> { s.all_interactions().map(Result::unwrap).collect() };
    let (ia, ib) = (all(&a), all(&b));
    assert_eq!(ia.len() as u64, ra.interactions_stored);
    assert!(ia == ib, "the interactions differ");
    let grants = |s: &Store| -> Vec<_> { s.grants().map(Result::unwrap).collect() };
    assert_eq!(grants(&a), grants(&b));
    // The same rows seen, merge evidence, review queue, merge log, quarantine, disruptions.
    let seen = rows_seen(&a).unwrap();
    assert_eq!(
        seen.len() as u64,
        ra.rows_stored,
        "one row seen per stored row"
    );
    assert_eq!(rows_seen_count(&a).unwrap(), ra.rows_stored);
    assert_eq!(seen, rows_seen(&b).unwrap());
    // In pages of many rows, the same pages both ways.
    let pages = a.doc_count(ROW_PAGES).unwrap();
    assert!(pages * 20 < ra.rows_stored, "{pages} pages");
    assert_eq!(pages, b.doc_count(ROW_PAGES).unwrap());
    assert_eq!(a.doc_count("rows").unwrap(), 0);
    assert_eq!(
        docs::<rapport_repository::identity::Evidence>(&a, MERGES),
        docs::<rapport_repository::identity::Evidence>(&b, MERGES)
    );
    assert_eq!(
        docs::<ReviewItem>(&a, REVIEWS),
        docs::<ReviewItem>(&b, REVIEWS)
    );
    assert_eq!(
        docs::<merge::MergeRecord>(&a, merge::MERGE_LOG).len(),
        docs::<merge::MergeRecord>(&b, merge::MERGE_LOG).len()
    );
    let quarantined = |s: &Store| quarantine::list_readable(s).0;
    assert_eq!(quarantined(&a), quarantined(&b));
    assert_eq!(quarantined(&a).len() as u64, ra.rows_quarantined);
    assert_eq!(
        docs::<rapport_core::Disruption>(&a, rapport_repository::disruption::DISRUPTIONS),
        docs::<rapport_core::Disruption>(&b, rapport_repository::disruption::DISRUPTIONS)
    );
    // Nothing left pending by either path.
    for s in [&a, &b] {
        for c in [
            "ingest_unbuilt",
            "ingest_pending_merges",
            "repository_meta/first_load",
        ] {
            let (coll, key) = c.split_once('/').unwrap_or((c, ""));
            if key.is_empty() {
                assert_eq!(s.doc_count(coll).unwrap(), 0, "{c}");
            } else {
                assert!(!s.doc_exists(coll, key).unwrap(), "{c}");
            }
        }
    }

    // The same search results, by name, e-mail, phone and loyalty number.
    let (qa, qb) = (Repository::new(a.clone()), Repository::new(b.clone()));
    let mut queries = 0;
    for c in ca.iter().step_by(37) {
        let mut q = vec![c.display_name()];
        q.extend(
            c.contacts
                .iter()
                .filter(|x| matches!(x.kind, ContactKind::Email | ContactKind::Phone))
                .map(|x| x.value.clone()),
        );
        if let Some(l) = &c.profile.loyalty_number {
            q.push(l.value.to_lowercase());
        }
        for q in q {
            let ids = |r: &Repository| -> Vec<_> {
                r.search(&q, 10)
                    .unwrap()
                    .into_iter()
                    .map(|h| h.id)
                    .collect()
            };
            let found = ids(&qa);
            assert!(!found.is_empty(), "{q:?} finds nobody");
            assert_eq!(found, ids(&qb), "{q:?}");
            queries += 1;
        }
    }
    assert!(queries > 100, "{queries} queries");
}

#[test]
fn a_first_load_stores_each_history_digest_with_its_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (store, report) = load(dir.path(), true);
    let ids: Vec<_> = store
        .customer_ids(rapport_core::CustomerId(0), None)
        .collect::<Result<_, _>>()
        .unwrap();
    let (mut with, mut without) = (0u64, 0u64);
    for id in ids {
        let history: Vec<_> = store.interactions_of(id).collect::<Result<_, _>>().unwrap();
        match store.stored_history_digest(id).unwrap() {
            Some(d) => {
                // What the scoring run would make of the interactions, byte for byte.
                let made = rapport_analytics::HistoryDigest::of(&history).to_flat();
                assert_eq!(d.bytes().map(<[u8]>::to_vec), made, "{id}");
                with += 1;
            }
            // A party no row is about (a corporate account, a travel agent) has no history.
            None if history.is_empty() => {}
            None => without += 1,
        }
    }
    // Only the customers the run's late merges changed after their pages were written (the
    // store removes a digest with every later interaction write) have none.
    assert!(with > 1_000, "{with} digests");
    assert!(
        without <= 2 * report.customers_merged,
        "{without} customers without a digest, {} late merges",
        report.customers_merged
    );
}
