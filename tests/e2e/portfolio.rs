//! End-to-end: the demo world's relationship-governance files (`fixtures/demo/config`) over
//! the committed demo world, ingested and scored by the real binary.
//!
//! The `rapport portfolio` and `rapport offer` commands come with the service (#15); until
//! then this test drives the repository's portfolio module on the database the binary built.

use std::collections::{BTreeMap, BTreeSet};

use rapport_core::{CustomerId, Timestamp};
use rapport_governance::{NextBestAction, Outcome};
use rapport_repository::portfolio;
use rapport_store::{IndexKey, IndexKind, Store};

use crate::util::Dir;

fn by_loyalty(store: &Store, number: &str) -> CustomerId {
    let ids = store
        .index_lookup(&IndexKey::new(IndexKind::LoyaltyNumber, number))
        .unwrap();
    assert_eq!(ids.len(), 1, "{number}: {ids:?}");
    ids[0]
}

#[test]
fn every_demo_customer_is_in_exactly_one_portfolio_and_the_delayed_passenger_is_protected() {
    let d = Dir::new();
    let demo = Dir::root().join("fixtures/demo/ingest.toml");
    d.ok(&["init"]);
    d.ok(&["ingest", demo.to_str().unwrap()]);
    d.ok(&["score", "--as-of", "2026-11-23"]);

    let store = Store::open(&d.db()).unwrap();
    let now = Timestamp::parse_rfc3339("2026-11-23T22:00:00Z").unwrap();
    let config_dir = Dir::root().join("fixtures/demo/config");
    let cfg = portfolio::load_config_dir(&store, &config_dir, "cco", now)
        .unwrap_or_else(|e| panic!("{e}"));
    let report = portfolio::assign_all(&store, &cfg, "steward", false, now).unwrap();

    // Every customer is in exactly one portfolio.
    let customers = store.customer_count().unwrap();
    assert!(customers > 1900, "{customers}");
    assert_eq!((report.customers, report.assigned), (customers, customers));
    assert!(portfolio::unassigned(&store, 10).unwrap().is_empty());
    let mut seen = BTreeSet::new();
    let mut sizes = BTreeMap::new();
    for p in &cfg.portfolios.portfolios {
        let members = portfolio::members(&store, &p.id).unwrap();
        sizes.insert(p.id.clone(), members.len());
        for c in members {
            assert!(seen.insert(c), "{c} is in two portfolios");
            let m = portfolio::membership(&store, c).unwrap().unwrap();
            assert_eq!(m.portfolio, p.id);
        }
    }
    assert_eq!(seen.len() as u64, customers);
    for p in [
        "corporate",
        "agencies",
        "premium",
        "foundation",
        "uk-ireland",
        "continental",
        "americas",
    ] {
        assert!(sizes[p] > 0, "{p} is empty: {sizes:?}");
    }
    assert_eq!(
        report.by_portfolio.values().sum::<u64>(),
        customers,
        "{report:?}"
    );

    // The Moreau household (story 9) is served as one relationship.
    let daniel = by_loyalty(&store, "FF087035993");
    let sofia = by_loyalty(&store, "FF459311582");
    let of = |c| portfolio::membership(&store, c).unwrap().unwrap().portfolio;
    assert_eq!(of(daniel), of(sofia));

    // Employees of a corporate account follow it.
    let rates = portfolio::reporting_rates(&store).unwrap();
    let mut employees = 0;
    for c in store.customers() {
        let c = c.unwrap();
        let f = portfolio::facts(&store, &c, &rates, now).unwrap();
        if f.employer.is_some() && f.kind == rapport_core::PartyKind::Person {
            employees += 1;
            assert_eq!(of(c.id), "corporate", "{}", c.id);
        }
    }
    assert!(employees > 100, "{employees}");

    // Lucía Fernández (story 3), delayed 14 hours yesterday: no upsell, by her portfolio's
    // manager's rule.
    let lucia = by_loyalty(&store, "FF481106870");
    let customer = store.customer(lucia).unwrap().unwrap();
    let f = portfolio::facts(&store, &customer, &rates, now).unwrap();
    assert_eq!(f.history.days_since_long_delay, Some(1));
    let home = of(lucia);
    let today = "2026-11-23".parse().unwrap();
    let e = cfg.explain(&home, &f, today).unwrap();
    for offer in ["cabin-upgrade", "lounge-pass"] {
        let d = e.decisions.iter().find(|d| d.offer == offer).unwrap();
        assert_eq!(d.outcome, Outcome::Blocked, "{d:?}");
        assert_eq!(d.decided_by.portfolio.as_deref(), Some(home.as_str()));
        assert!(
            d.decided_by
                .rule
                .contains("after a complaint or a long delay"),
            "{d:?}"
        );
        assert_eq!(
            d.decided_by.owner,
            cfg.portfolios.portfolio(&home).unwrap().manager
        );
    }
    let apology = e
        .decisions
        .iter()
        .find(|d| d.offer == "apology-letter")
        .unwrap();
    assert_eq!(apology.outcome, Outcome::Allowed, "{apology:?}");

    // Margaret Okafor (story 1), bumped today: recovery comes before selling.
    let margaret = by_loyalty(&store, "FF736555692");
    let customer = store.customer(margaret).unwrap().unwrap();
    let f = portfolio::facts(&store, &customer, &rates, now).unwrap();
    assert!(f.history.disruption_today(), "{:?}", f.history);
    let (_, nba) = cfg
        .next_best_action(&of(margaret), &f, today, &rates)
        .unwrap();
    match nba {
        NextBestAction::Recover { offer, reason, .. } => {
            assert_eq!(offer.unwrap().offer, "lounge-on-us");
            assert!(reason.contains("a disruption happened today"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // The portfolio metrics add up to the whole store's equity.
    let mut projected = 0.0;
    for p in &cfg.portfolios.portfolios {
        projected += portfolio::metrics(&store, &cfg, &p.id)
            .unwrap()
            .projected_value;
    }
    let (snap, _) = portfolio::record_equity(&store).unwrap().unwrap();
    assert!((projected - snap.total).abs() < 1e-6 * snap.total.max(1.0));
    assert!(snap.customers > 0 && snap.customers <= customers);
    eprintln!("portfolio sizes on the demo world: {sizes:?}");
}
