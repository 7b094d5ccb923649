//! Portfolios in the store: exclusive membership under racing moves, every move recorded,
//! assignment by rules over the whole store, the unassigned list, facts and metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};

use rapport_core::{
    AttrValue, Channel, CompensationGrant, Currency, Customer, CustomerId, DisruptionKind,
    Interaction, InteractionId, InteractionKind, Money, PartyKind, Relationship, RelationshipKind,
    Scores, Sourced, Tier, Timestamp,
};
use rapport_governance::SourceText;
use rapport_repository::Error;
use rapport_repository::portfolio::{
    self, Expect, INDEX, MEMBERS, Membership, assign_all, facts, members, membership,
    move_customer, moves, reporting_rates, save_config, unassigned,
};
use rapport_store::{Batch, Durability, Store};

const PORTFOLIOS: &str = r#"
version = 1
default = "standard"

[[portfolio]]
id = "corporate"
name = "Corporate accounts"
manager = "akeller"

[[portfolio]]
id = "premium"
name = "Premium"
manager = "cdubois"
target_size = 2

[[portfolio]]
id = "standard"
name = "Standard"
manager = "bnovak"

[[assign]]
name = "corporate accounts with their employees"
portfolio = "corporate"
when = "kind = organisation"
together = "employees"

[[assign]]
name = "premium households"
portfolio = "premium"
when = "tier = A"
together = "household"
"#;

const OFFERS: &str = r#"
version = 1

[[offer]]
id = "lounge-pass"
title = "Lounge day pass"
product = "lounge"
kind = "upsell"
owner = "pmeyer"
price = "35.00 EUR"
channels = ["gate"]
valid_from = "2026-01-01"
"#;

const RULES: &str = r#"
version = 1

[[rule]]
portfolio = "premium"
name = "no upsell after a long delay"
kinds = ["upsell"]
when = "days_since_long_delay < 7"
then = "block"
"#;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T22:00:00Z").unwrap()
}

fn text(file: &str, text: &str) -> SourceText {
    SourceText {
        file: file.into(),
        text: text.into(),
    }
}

fn scores(tier: Tier, clv: f64, p_alive: f64) -> Scores {
    Scores {
        model_version: "test".into(),
        at: now(),
        value: clv / 4.0,
        annual_value: clv / 4.0,
        profit: clv / 10.0,
        clv,
        p_alive,
        churn: None,
        expected_transactions: 2.0,
        tier,
        top: tier == Tier::A,
        bottom: tier == Tier::D,
        segment: "standard".into(),
        propensity: BTreeMap::new(),
    }
}

/// Seven customers: an organisation (1) with an employee (2), a household (3: tier A, 4:
/// tier C), a tier-B person (5), a tier-A person (6) delayed ten hours yesterday, and a
/// person never scored (7).
fn world() -> Store {
    let store = Store::temporary().unwrap();
    let t = now();
    let mut b = Batch::new();
    let mut people = Vec::new();
    for (id, kind) in [
        (1, PartyKind::Organisation),
        (2, PartyKind::Person),
        (3, PartyKind::Person),
        (4, PartyKind::Person),
        (5, PartyKind::Person),
        (6, PartyKind::Person),
        (7, PartyKind::Person),
    ] {
        let mut c = Customer::new(CustomerId(id), kind, t);
        c.profile.country = Some(Sourced::new("GB".to_string(), None, t));
        people.push(c);
    }
    let rel = |kind, other| Relationship {
        kind,
        other: CustomerId(other),
        since: None,
        source: None,
    };
    people[1]
        .relationships
        .push(rel(RelationshipKind::EmployeeOf, 1));
    people[0]
        .relationships
        .push(rel(RelationshipKind::Employs, 2));
    people[2]
        .relationships
        .push(rel(RelationshipKind::Household, 4));
    people[3]
        .relationships
        .push(rel(RelationshipKind::Household, 3));
    for c in &people {
        b.put_customer(c, Vec::new());
    }
    b.put_scores(CustomerId(2), &scores(Tier::A, 9000.0, 0.9));
    b.put_scores(CustomerId(3), &scores(Tier::A, 8000.0, 0.8));
    b.put_scores(CustomerId(4), &scores(Tier::C, 300.0, 0.9));
    b.put_scores(CustomerId(5), &scores(Tier::B, 1500.0, 0.3));
    b.put_scores(CustomerId(6), &scores(Tier::A, 7000.0, 0.1));
    let mut delay = Interaction::new(
        InteractionId(1),
        CustomerId(6),
        t.plus_millis(-26 * 3_600_000),
        Channel::Airport,
        InteractionKind::Delay,
    );
    delay
        .attributes
        .insert("delay_minutes".into(), AttrValue::Int(600));
    b.put_interaction(&delay);
    let mut complaint = Interaction::new(
        InteractionId(2),
        CustomerId(5),
        t.plus_millis(-3 * 86_400_000),
        Channel::CallCenter,
        InteractionKind::Complaint,
    );
    complaint
        .attributes
        .insert("resolved_first_contact".into(), AttrValue::Bool(false));
    b.put_interaction(&complaint);
    // An older complaint, closed as a case by a resolution naming it.
    let mut older = complaint.clone();
    older.id = InteractionId(3);
    older.at = t.plus_millis(-40 * 86_400_000);
    b.put_interaction(&older);
    let mut resolution = Interaction::new(
        InteractionId(4),
        CustomerId(5),
        t.plus_millis(-39 * 86_400_000),
        Channel::CallCenter,
        rapport_core::case::resolution_kind(),
    );
    resolution.attributes.insert(
        rapport_core::case::CASE_ATTR.into(),
        AttrValue::Text(InteractionId(3).to_string()),
    );
    b.put_interaction(&resolution);
    b.insert_grant(&CompensationGrant {
        customer: CustomerId(6),
        disruption: "RP667/2026-11-22".into(),
        kind: DisruptionKind::Delay,
        delay_minutes: Some(600),
        instrument: "voucher".into(),
        amount: Money::new(30_000, Currency::EUR),
        policy_rule: "delay 9h+ v1".into(),
        granted_by: "jsmith".into(),
        touchpoint: "gate C12".into(),
        at: t.plus_millis(-20 * 3_600_000),
        interaction: InteractionId(9),
    });
    store.write(b, Durability::Durable).unwrap();
    save_config(
        &store,
        text("portfolios.toml", PORTFOLIOS),
        text("offers.toml", OFFERS),
        text("rules.toml", RULES),
        "cco",
        t,
    )
    .unwrap();
    store
}

fn portfolio_of(store: &Store, id: u64) -> Option<String> {
    membership(store, CustomerId(id))
        .unwrap()
        .map(|m| m.portfolio)
}

/// Every customer with a membership has exactly one index entry, the one of its membership.
fn assert_exclusive(store: &Store) {
    let mut indexed: BTreeMap<CustomerId, Vec<String>> = BTreeMap::new();
    for kv in store.docs::<CustomerId>(INDEX, "") {
        let (key, id) = kv.unwrap();
        let port = key.split('/').next().unwrap().to_string();
        indexed.entry(id).or_default().push(port);
    }
    let members: Vec<Membership> = store
        .docs::<Membership>(MEMBERS, "")
        .map(|kv| kv.unwrap().1)
        .collect();
    assert_eq!(indexed.len(), members.len());
    for m in members {
        assert_eq!(indexed[&m.customer], vec![m.portfolio.clone()], "{m:?}");
    }
}

#[test]
fn assignment_by_rules_puts_every_customer_in_one_portfolio_with_its_reason() {
    let store = world();
    assert_eq!(unassigned(&store, 100).unwrap().len(), 7);
    let cfg = portfolio::config(&store).unwrap().unwrap();
    let r = assign_all(&store, &cfg, "steward", false, now()).unwrap();
    assert_eq!(
        (r.customers, r.assigned, r.moved, r.unchanged),
        (7, 7, 0, 0)
    );
    let got: Vec<Option<String>> = (1..=7).map(|i| portfolio_of(&store, i)).collect();
    let want = [
        "corporate",
        "corporate",
        "premium",
        "premium",
        "standard",
        "premium",
        "standard",
    ];
    assert_eq!(got, want.map(|p| Some(p.to_string())));
    assert_eq!(r.by_portfolio["premium"], 3);
    assert!(unassigned(&store, 100).unwrap().is_empty());
    assert_exclusive(&store);
    // The household's tier-C member follows its tier-A member, and says so.
    let m = membership(&store, CustomerId(4)).unwrap().unwrap();
    assert_eq!(m.rule.as_deref(), Some("premium households"));
    assert!(m.why.contains("household member C00000003"), "{}", m.why);
    assert_eq!((m.by.as_str(), m.since, m.moves), ("steward", now(), 1));
    // The record shows the portfolio and its manager.
    let repo = rapport_repository::Repository::new(store.clone());
    let record = repo
        .customer_record(
            CustomerId(4),
            &rapport_repository::InteractionFilter::at(now()),
        )
        .unwrap()
        .unwrap();
    let p = record.portfolio.unwrap();
    assert_eq!(
        (p.id.as_str(), p.name.as_str(), p.manager.as_str()),
        ("premium", "Premium", "cdubois")
    );
    // A customer manager's scope: the customers of their portfolios.
    assert!(portfolio::manages(&store, "cdubois", CustomerId(4)).unwrap());
    assert!(!portfolio::manages(&store, "bnovak", CustomerId(4)).unwrap());
    assert!(portfolio::manages(&store, "bnovak", CustomerId(7)).unwrap());
    let mine = portfolio::managed_by(&store, "akeller").unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, "corporate");
    // Running it again changes nothing.
    let again = assign_all(&store, &cfg, "steward", false, now()).unwrap();
    assert_eq!((again.assigned, again.moved, again.unchanged), (0, 0, 7));
    assert_eq!(moves(&store, CustomerId(4)).unwrap().len(), 1);
}

#[test]
fn moves_by_hand_are_recorded_and_kept_by_the_rules() {
    let store = world();
    let cfg = portfolio::config(&store).unwrap().unwrap();
    assign_all(&store, &cfg, "steward", false, now()).unwrap();
    let later = now().plus_millis(60_000);
    let mv = move_customer(
        &store,
        CustomerId(5),
        "premium",
        &Expect::In(Some("standard".into())),
        "cdubois",
        "promised personal service after the complaint",
        later,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (mv.from.as_deref(), mv.to.as_str(), mv.number),
        (Some("standard"), "premium", 2)
    );
    let history = moves(&store, CustomerId(5)).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].by, "cdubois");
    assert_eq!(history[1].at, later);
    assert_eq!(
        history[1].why,
        "promised personal service after the complaint"
    );
    assert_eq!(history[1].rule, None);
    assert_eq!(members(&store, "premium").unwrap().len(), 4);
    assert!(
        !members(&store, "standard")
            .unwrap()
            .contains(&CustomerId(5))
    );
    assert_exclusive(&store);

    // An operator who still sees the customer in `standard` is told who moved it.
    let err = move_customer(
        &store,
        CustomerId(5),
        "corporate",
        &Expect::In(Some("standard".into())),
        "bnovak",
        "x",
        later,
    )
    .unwrap_err();
    assert!(matches!(err, Error::PortfolioChanged { .. }), "{err}");
    assert!(
        err.to_string().contains("now in premium (by cdubois"),
        "{err}"
    );

    // The rules keep a move by hand unless told to override.
    let r = assign_all(&store, &cfg, "steward", false, now()).unwrap();
    assert_eq!(r.kept_by_hand, 1);
    assert_eq!(portfolio_of(&store, 5).as_deref(), Some("premium"));
    let r = assign_all(&store, &cfg, "steward", true, now()).unwrap();
    assert_eq!(r.moved, 1);
    assert_eq!(portfolio_of(&store, 5).as_deref(), Some("standard"));

    // Mistakes are refused with what is wrong.
    let bad = move_customer(&store, CustomerId(5), "gold", &Expect::Any, "x", "y", later);
    assert!(bad.unwrap_err().to_string().contains("no portfolio `gold`"));
    let nobody = move_customer(
        &store,
        CustomerId(99),
        "premium",
        &Expect::Any,
        "x",
        "y",
        later,
    );
    assert!(
        nobody
            .unwrap_err()
            .to_string()
            .contains("no customer C00000099")
    );
    let why = move_customer(
        &store,
        CustomerId(5),
        "premium",
        &Expect::Any,
        "x",
        " ",
        later,
    );
    assert!(why.unwrap_err().to_string().contains("needs a reason"));
}

/// Eight threads move the same customers 2,400 times, then pairs of operators race 200 times
/// from the same view. With the compare-and-swap taken out of `plan_move` this test failed in
/// each of three runs (moves lost from the history, or both racing operators applied).
#[test]
fn racing_moves_keep_one_portfolio() {
    let store = world();
    let store = Arc::new(store);
    let portfolios = ["corporate", "premium", "standard"];
    let threads = 8;
    let rounds = 300;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut applied = 0u64;
                for i in 0..rounds {
                    // Every thread moves the same three customers around.
                    let customer = CustomerId(1 + ((i + t) % 3) as u64);
                    let to = portfolios[(i * 7 + t * 5) % 3];
                    let r = move_customer(
                        &store,
                        customer,
                        to,
                        &Expect::Any,
                        &format!("op{t}"),
                        &format!("round {i}"),
                        now().plus_millis(i as i64),
                    )
                    .unwrap();
                    applied += u64::from(r.is_some());
                }
                applied
            })
        })
        .collect();
    let applied: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(applied > 0);
    assert_exclusive(&store);
    let mut recorded = 0;
    for c in 1..=3 {
        let id = CustomerId(c);
        let history = moves(&store, id).unwrap();
        let m = membership(&store, id).unwrap().unwrap();
        // Numbers without gaps, each move leaving where the previous one arrived, ending
        // where the membership says.
        for (k, mv) in history.iter().enumerate() {
            assert_eq!(mv.number, k as u64 + 1);
            let before = if k == 0 {
                None
            } else {
                Some(history[k - 1].to.clone())
            };
            assert_eq!(mv.from, before, "{mv:?}");
            assert_ne!(mv.from.as_deref(), Some(mv.to.as_str()));
        }
        assert_eq!(history.last().unwrap().to, m.portfolio);
        assert_eq!(m.moves, history.len() as u64);
        recorded += history.len() as u64;
    }
    assert_eq!(recorded, applied);

    // Operators who both saw the customer in one portfolio: exactly one move applies.
    for round in 0..200 {
        let id = CustomerId(7);
        let seen = membership(&store, id).unwrap().map(|m| m.portfolio);
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<Result<_, Error>> = ["premium", "corporate"]
            .map(|to| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                let seen = seen.clone();
                let to = if seen.as_deref() == Some(to) {
                    "standard"
                } else {
                    to
                };
                std::thread::spawn(move || {
                    barrier.wait();
                    move_customer(
                        &store,
                        id,
                        to,
                        &Expect::In(seen),
                        "op",
                        &format!("race {round}"),
                        now(),
                    )
                })
            })
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let ok = results.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
        let lost = results
            .iter()
            .filter(|r| matches!(r, Err(Error::PortfolioChanged { .. })))
            .count();
        assert_eq!((ok, lost), (1, 1), "round {round}: {results:?}");
    }
    assert_exclusive(&store);
    let portfolios_seen: BTreeSet<String> = moves(&store, CustomerId(7))
        .unwrap()
        .into_iter()
        .map(|m| m.to)
        .collect();
    assert!(portfolios_seen.len() >= 2);
}

#[test]
fn facts_read_recent_history_and_the_rules_block_after_a_long_delay() {
    let store = world();
    let rates = reporting_rates(&store).unwrap();
    let cfg = portfolio::config(&store).unwrap().unwrap();
    assign_all(&store, &cfg, "steward", false, now()).unwrap();

    let six = store.customer(CustomerId(6)).unwrap().unwrap();
    let f = facts(&store, &six, &rates, now()).unwrap();
    assert_eq!(f.history.days_since_long_delay, Some(1));
    assert_eq!(f.history.days_since_disruption, Some(1));
    assert_eq!(f.history.compensation_12m, 300.0);
    let today = "2026-11-23".parse().unwrap();
    let e = cfg.explain("premium", &f, today).unwrap();
    assert_eq!(e.decisions[0].outcome, rapport_governance::Outcome::Blocked);
    assert_eq!(
        e.decisions[0].decided_by.rule,
        "no upsell after a long delay"
    );

    let five = store.customer(CustomerId(5)).unwrap().unwrap();
    let f = facts(&store, &five, &rates, now()).unwrap();
    assert_eq!(f.history.complaints_12m, 2);
    assert_eq!(f.history.unresolved_complaints, 1);
    assert_eq!(f.history.days_since_unresolved_complaint, Some(3));
    assert_eq!(f.history.days_since_complaint, Some(3));
    assert!(f.history.open_complaint());

    let two = store.customer(CustomerId(2)).unwrap().unwrap();
    let f = facts(&store, &two, &rates, now()).unwrap();
    assert_eq!(f.employer, Some(CustomerId(1)));
    assert_eq!(f.tier(), Some(Tier::A));
}

#[test]
fn metrics_and_equity_add_up_the_members() {
    let store = world();
    let cfg = portfolio::config(&store).unwrap().unwrap();
    assign_all(&store, &cfg, "steward", false, now()).unwrap();
    let m = portfolio::metrics(&store, &cfg, "premium").unwrap();
    // Customers 3 (A, 8000), 4 (C, 300), 6 (A, 7000, P(alive) 0.1: lost).
    assert_eq!((m.customers, m.scored, m.target_size), (3, 3, Some(2)));
    assert_eq!(m.projected_value, 15_300.0);
    assert_eq!(m.current_value, 15_300.0 / 4.0);
    assert_eq!((m.at_risk, m.lost_valuable), (0, 1));
    assert_eq!((m.compensation, m.grants), (300.0, 1));
    assert_eq!(m.tiers.get(&Tier::A), Some(&2));
    let standard = portfolio::metrics(&store, &cfg, "standard").unwrap();
    // Customer 5: tier B with P(alive) 0.3 is at risk; customer 7 is not scored.
    assert_eq!(
        (standard.customers, standard.scored, standard.at_risk),
        (2, 1, 1)
    );

    let (snap, previous) = portfolio::record_equity(&store).unwrap().unwrap();
    assert!(previous.is_none());
    assert_eq!(snap.total, 9000.0 + 8000.0 + 300.0 + 1500.0 + 7000.0);
    assert_eq!(snap.by_portfolio()["premium"], 15_300.0);
    assert_eq!(snap.by_portfolio()["corporate"], 9000.0);
    assert_eq!(portfolio::equity_snapshots(&store).unwrap().len(), 1);
}

#[test]
fn a_rule_file_with_mistakes_is_refused_and_nothing_is_stored() {
    let store = Store::temporary().unwrap();
    let bad = RULES.replace(
        "days_since_long_delay < 7",
        "days_since_long_delay < a week",
    );
    let err = save_config(
        &store,
        text("portfolios.toml", PORTFOLIOS),
        text("offers.toml", OFFERS),
        text("rules.toml", &bad),
        "cco",
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rules.toml:8: rule `no upsell after a long delay`: when: `days_since_long_delay` is a number, found `a`"
    );
    assert!(portfolio::config(&store).unwrap().is_none());
}

#[test]
fn the_demo_worlds_governance_files_load() {
    let store = Store::temporary().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo/config");
    let cfg =
        portfolio::load_config_dir(&store, &dir, "cco", now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.portfolios.portfolios.len(), 8);
    assert!(cfg.catalogue.offers.len() >= 8);
    assert!(!cfg.rules.rules.is_empty());
    assert_eq!(portfolio::config(&store).unwrap(), Some(cfg));
}

#[test]
fn answers_to_offers_are_in_the_history_and_the_report() {
    use rapport_repository::offer::{NewAnswer, record_answer, report};
    let store = world();
    let cfg = portfolio::config(&store).unwrap().unwrap();
    assign_all(&store, &cfg, "steward", false, now()).unwrap();
    let rates = reporting_rates(&store).unwrap();
    let today = "2026-11-23".parse().unwrap();
    let decision_for = |id: u64| {
        let c = store.customer(CustomerId(id)).unwrap().unwrap();
        let f = facts(&store, &c, &rates, now()).unwrap();
        let home = portfolio_of(&store, id).unwrap();
        let e = cfg.explain(&home, &f, today).unwrap();
        (home, e.decisions.into_iter().next().unwrap())
    };
    let mut answered = Vec::new();
    for (id, answer) in [
        (3, rapport_governance::Answer::Accepted),
        (5, rapport_governance::Answer::Declined),
        (4, rapport_governance::Answer::Accepted),
    ] {
        let (home, d) = decision_for(id);
        let (i, kept) = record_answer(
            &store,
            &NewAnswer {
                customer: CustomerId(id),
                portfolio: &home,
                decision: &d,
                answer,
                by: "mrossi",
                channel: Channel::CallCenter,
                touchpoint: Some("queue 2".into()),
                now: now(),
            },
        )
        .unwrap();
        let newest = store.interactions_newest(CustomerId(id), 1, None).unwrap();
        assert_eq!(newest[0], i);
        assert_eq!(i.kind, InteractionKind::CampaignResponse);
        assert_eq!(i.attr_text("offer"), Some("lounge-pass"));
        assert_eq!(i.attr_text("answer"), Some(answer.as_str()));
        answered.push(kept);
    }
    // A blocked offer cannot have been presented.
    let (home, blocked) = decision_for(6);
    assert_eq!(blocked.outcome, rapport_governance::Outcome::Blocked);
    let err = record_answer(
        &store,
        &NewAnswer {
            customer: CustomerId(6),
            portfolio: &home,
            decision: &blocked,
            answer: rapport_governance::Answer::Accepted,
            by: "mrossi",
            channel: Channel::Gate,
            touchpoint: None,
            now: now(),
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("is blocked for this customer"),
        "{err}"
    );

    let rows = report(&store, None).unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r.presented, r.accepted, r.declined, r.not_now),
        (3, 2, 1, 0)
    );
    assert!((r.acceptance_rate - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(r.accepted_value, vec![Money::new(7_000, Currency::EUR)]);
    assert_eq!(r.by_portfolio["premium"], (2, 2));
    assert_eq!(r.by_portfolio["standard"], (1, 0));
    assert!(
        report(&store, Some(now().plus_millis(1)))
            .unwrap()
            .is_empty()
    );
}
