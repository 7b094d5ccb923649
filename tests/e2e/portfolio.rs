//! End-to-end: the demo world's relationship-governance files (`fixtures/demo/config`) over
//! the committed demo world, ingested and scored by the real binary: first through the
//! repository's portfolio module on the database the binary built, then as a user would,
//! with `rapport offer load`, `rapport portfolio`, `rapport offer` and `rapport equity`.

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

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn portfolios_offers_and_equity_from_the_command_line_on_the_demo_world() {
    let d = Dir::new();
    let demo = Dir::root().join("fixtures/demo/ingest.toml");
    let config = Dir::root().join("fixtures/demo/config");
    d.ok(&["init"]);
    d.ok(&["ingest", demo.to_str().unwrap()]);
    d.ok(&["score", "--as-of", "2026-11-22"]);

    // Load the three files and place everyone.
    let out = d.ok(&["offer", "load", "--dir", config.to_str().unwrap()]);
    assert!(out.contains("8 portfolios"), "{out}");
    let assigned = json(&d.ok(&["portfolio", "assign", "--json"]));
    let customers = assigned["customers"].as_u64().unwrap();
    assert!(customers > 1900, "{assigned}");
    assert_eq!(assigned["assigned"].as_u64(), Some(customers));
    let unassigned = json(&d.ok(&["portfolio", "unassigned", "--json"]));
    assert_eq!(unassigned.as_array().map(Vec::len), Some(0));

    // Every customer in exactly one portfolio, each with its manager and metrics.
    let list = json(&d.ok(&["portfolio", "list", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 8);
    let sum: u64 = list
        .iter()
        .map(|p| p["metrics"]["customers"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, customers);
    let continental = list.iter().find(|p| p["id"] == "continental").unwrap();
    assert_eq!(continental["manager"], "lgarcia");
    assert!(continental["metrics"]["projected_value"].as_f64().unwrap() > 0.0);

    // Lucía Fernández (story 3, delayed 14 hours the day before the world's date): the
    // explanation names the blocking rule of her portfolio.
    let store_id = {
        let store = Store::open(&d.db()).unwrap();
        by_loyalty(&store, "FF481106870")
    };
    let lucia = store_id.to_string();
    let text = d.ok(&["offer", "explain", &lucia]);
    assert!(
        text.contains("portfolio continental (customer manager lgarcia)"),
        "{text}"
    );
    assert!(text.contains("Next best action:"), "{text}");

    // A move by hand with its reason, in the customer's history of moves.
    let moved = d.ok(&[
        "portfolio",
        "move",
        &lucia,
        "--to",
        "premium",
        "--reason",
        "moved to the premium desk after the delay",
        "--from",
        "continental",
    ]);
    assert!(
        moved.contains("moved from continental to premium"),
        "{moved}"
    );
    let history = d.ok(&["portfolio", "history", &lucia]);
    assert!(history.contains("continental -> premium"), "{history}");
    assert!(history.contains("after the delay"), "{history}");
    // Seen elsewhere meanwhile: a second move expecting the old portfolio is refused.
    let stale = d.run(&[
        "portfolio",
        "move",
        &lucia,
        "--to",
        "americas",
        "--reason",
        "stale view",
        "--from",
        "continental",
    ]);
    assert!(!stale.status.success());

    // An answer to an allowed offer: in the report.
    let offers = json(&d.ok(&["offer", "explain", &lucia, "--json"]));
    let allowed = offers["explanation"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["outcome"] == "allowed" || d["outcome"] == "adapted")
        .map(|d| d["offer"].as_str().unwrap().to_string())
        .expect("an allowed offer for Lucía");
    d.ok(&[
        "offer",
        "answer",
        &lucia,
        &allowed,
        "not-now",
        "--touchpoint",
        "desk 4",
    ]);
    let report = json(&d.ok(&["offer", "report", "--json"]));
    let row = &report[0];
    assert_eq!(row["offer"], allowed.as_str());
    assert_eq!(
        (row["presented"].as_u64(), row["not_now"].as_u64()),
        (Some(1), Some(1))
    );

    // Equity by portfolio and tier; after a second scoring run, the change since the first.
    let e1 = json(&d.ok(&["equity", "--json"]));
    assert!(e1["latest"]["total"].as_f64().unwrap() > 0.0);
    d.ok(&["score", "--as-of", "2026-11-23"]);
    let e2 = json(&d.ok(&["equity", "--json", "--market", "1e9"]));
    assert!(e2["previous"].is_object(), "{e2}");
    assert!(!e2["changes"].as_array().unwrap().is_empty());
    assert!(e2["share"].as_f64().unwrap() > 0.0);
    let show = d.ok(&["portfolio", "show", "continental", "--members", "3"]);
    assert!(
        show.contains("tier mix since the scoring run before: "),
        "{show}"
    );
    assert!(!show.contains("no earlier run kept"), "{show}");
    let text = d.ok(&["equity"]);
    assert!(text.contains("change since the run of"), "{text}");
    assert!(text.contains("continental"), "{text}");

    // A rules file with a mistake: refused naming the file and line, nothing changed.
    let bad = d.path().join("rules.toml");
    std::fs::write(
        &bad,
        "version = 2\n\n[[rule]]\nportfolio = \"premium\"\nname = \"x\"\nwhen = \"tier >> A\"\nthen = \"block\"\n",
    )
    .unwrap();
    let out = d.run(&["offer", "load", "--rules", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules.toml:6"), "{err}");
}
