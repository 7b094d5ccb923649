//! The learning screen (`L`) and the experiment arm on the record, on the real engine at the
//! fixed time of the test world: an analyst sees the hand-offs with their flags, the
//! experiments with each arm's interval as a chart, the campaigns and the ideas queue; the
//! front line sees its own ideas only, and a control customer's record says not to spoil the
//! control group.

mod support;

use rapport_console::ScreenId;
use rapport_governance::Role;
use rapport_service::Learning;
use rapport_service::learning::ExperimentSpec;
use support::{Harness, World};

fn spec() -> ExperimentSpec {
    ExperimentSpec {
        id: "LETTER-1".into(),
        hypothesis: "a letter after a delay keeps passengers".into(),
        population: "all".into(),
        arms: vec![("letter".into(), 2.0, None)],
        control_share: 0.5,
        outcome: "bookings".into(),
        window_days: 90,
        stratify_by_tier: false,
        seed: 3,
        value_per_unit: Some(150.0),
        minimum_effect: None,
    }
}

#[tokio::test]
async fn the_learning_screen_for_an_analyst_and_for_the_front_line() {
    let world = World::new();
    let analyst = world.console("A. Nalyst", Role::Analyst);
    analyst.create_experiment(spec()).await.unwrap();
    let assigned = analyst.assign_experiment("LETTER-1").await.unwrap();
    assert_eq!(assigned.assigned, 5);
    let gate = world.console("J. Smith", Role::FrontLine);
    gate.add_idea(None, "passengers delayed overnight ask for a hotel list")
        .await
        .unwrap();

    let mut h = Harness::new(analyst.clone(), 100, 30).await;
    h.press("esc").await;
    h.press("L").await;
    assert_eq!(h.app.screen(), ScreenId::Learning);
    let s = h.screen();
    assert!(s.contains("Hand-offs") && s.contains("Ideas queue"), "{s}");
    assert!(s.contains("customers scored"), "{s}");
    assert!(s.contains("NEVER DONE"), "no source ingested: {s}");
    assert!(s.contains("! to steward: data pooled: never done"), "{s}");
    insta::assert_snapshot!("learning_handoffs_100x30", s);

    h.press("tab").await;
    let s = h.screen();
    assert!(s.contains("LETTER-1"), "{s}");
    assert!(s.contains("control") && s.contains("letter"), "{s}");
    assert!(s.contains("preliminary"), "the window is open: {s}");
    insta::assert_snapshot!("learning_experiments_100x30", s);

    h.press("tab").await;
    let s = h.screen();
    assert!(s.contains("No campaign contact on record."), "{s}");

    h.press("tab").await;
    let s = h.screen();
    assert!(
        s.contains("passengers delayed overnight ask for a hotel list") && s.contains("J. Smith"),
        "{s}"
    );
    insta::assert_snapshot!("learning_ideas_100x30", s);
    h.press("esc").await;
    assert_ne!(h.app.screen(), ScreenId::Learning);

    // The front line: its own ideas only.
    let mut f = Harness::new(gate.clone(), 100, 30).await;
    f.press("esc").await;
    f.press("L").await;
    let s = f.screen();
    assert!(s.contains("My ideas") && !s.contains("Hand-offs"), "{s}");
    assert!(s.contains("hotel list") && s.contains("open"), "{s}");

    // A control customer's record: the arm and the cue, at the front line.
    let control = rapport_repository::learning::assignments(world.engine.store(), "LETTER-1")
        .unwrap()
        .into_iter()
        .find(|a| a.arm == "control" && a.customer.0 <= 2)
        .expect("Anna or Erik Berg in the control group (seed 3)");
    let mut r = Harness::new(gate, 160, 48).await;
    r.type_text(if control.customer.0 == 1 {
        "anna"
    } else {
        "erik"
    })
    .await;
    r.press("enter").await;
    let s = r.screen();
    assert!(
        s.contains("! control group of experiment LETTER-1: no goodwill beyond policy until")
            && s.contains("2027-02-21"),
        "{s}"
    );
    assert!(s.contains("Experiment LETTER-1 control group"), "{s}");
}
