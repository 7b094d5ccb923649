//! The stage assessment through the service: evidence gathered from the store at a fixed
//! (then moved) clock, answers stored by the respondent's own role, reports kept in order.

mod common;

use std::sync::Arc;

use rapport_core::{Channel, Clock, Interaction, InteractionId, InteractionKind, Timestamp};
use rapport_governance::Role;
use rapport_governance::questionnaire::Answers;
use rapport_service::{Assessments, Embedded, Engine, OperatorAdmin, Remote, ServiceError};
use rapport_store::{Batch, Durability, Store};
use serde::Serialize;

use common::{PASSWORD, TestServer, world};

const DAY: i64 = 86_400_000;

#[derive(Serialize)]
struct At {
    at: Timestamp,
}

#[derive(Serialize)]
struct Classifier {
    auc_eval: f64,
    baseline: (String, f64),
    used: bool,
}

#[derive(Serialize)]
struct ModelsReport {
    churn: Classifier,
    propensity: Vec<Classifier>,
}

#[derive(Serialize)]
struct Models {
    report: ModelsReport,
}

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap()
}

/// Three customers with three interactions each from three sources ingested a day ago,
/// scoring runs every week for two months, working lists, and a churn model that beat its
/// baseline.
fn pooled() -> Store {
    let (store, ids) = world();
    let mut b = Batch::default();
    let sources = vec!["crm".to_string(), "airport".into(), "web".into()];
    b.put_doc("repository_meta", "sources", &sources).unwrap();
    for s in &sources {
        b.put_doc(
            "repository_meta",
            &format!("ingested/{s}"),
            &t0().plus_millis(-DAY),
        )
        .unwrap();
    }
    let mut n = 0;
    for id in &ids {
        for k in 0..3 {
            n += 1;
            let i = Interaction::new(
                InteractionId(n),
                *id,
                t0().plus_millis(-(k + 1) * DAY),
                Channel::Web,
                InteractionKind::Note,
            );
            b.put_interaction(&i);
            b.put_doc("rows", &format!("row{n}"), &n).unwrap();
        }
    }
    for week in 0..9 {
        let at = t0().plus_millis(-(week * 7 + 1) * DAY);
        b.put_doc(
            "analytics",
            &format!("runs/{:015}", at.as_millis()),
            &At { at },
        )
        .unwrap();
    }
    b.put_doc(
        "analytics",
        "list/complainers",
        &At {
            at: t0().plus_millis(-DAY),
        },
    )
    .unwrap();
    b.put_doc(
        "analytics",
        "models",
        &Models {
            report: ModelsReport {
                churn: Classifier {
                    auc_eval: 0.74,
                    baseline: ("recency".into(), 0.69),
                    used: true,
                },
                propensity: vec![Classifier {
                    auc_eval: 0.55,
                    baseline: ("frequency".into(), 0.61),
                    used: false,
                }],
            },
        },
    )
    .unwrap();
    store.write(b, Durability::Durable).unwrap();
    store
}

fn measure(e: &rapport_service::AssessmentEntry, id: &str) -> (Option<f64>, bool) {
    let m = e
        .report
        .stages
        .iter()
        .flat_map(|s| &s.measures)
        .find(|m| m.id == id)
        .unwrap();
    (m.value, m.met)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_moves_with_the_evidence_the_store_holds() {
    let store = pooled();
    let clock = Clock::manual(t0());
    let engine = Arc::new(Engine::new(store.clone()).with_clock(clock.clone()));
    let svc = Embedded::from_engine(engine, "test".into());

    let first = svc.assess(90).await.unwrap();
    assert_eq!(first.report.stage, 1, "{:#?}", first.report);
    assert_eq!(first.evidence.sources_pooled, 3);
    assert_eq!(measure(&first, "interactions-tied"), (Some(1.0), true));
    assert_eq!(measure(&first, "freshness"), (Some(1.0), true));
    // Weekly runs: the longest gap is 7 days; the last run was a day ago.
    assert_eq!(measure(&first, "scoring-cadence"), (Some(7.0), true));
    assert_eq!(measure(&first, "lists-produced"), (Some(1.0), true));
    assert_eq!(measure(&first, "models-in-use"), (Some(1.0), true));
    assert_eq!(measure(&first, "campaign-results"), (None, false));

    // Forty-five days without a scoring run: the serial foundation fails.
    clock.advance_millis(45 * DAY);
    let stale = svc.assess(90).await.unwrap();
    assert_eq!(measure(&stale, "scoring-cadence"), (Some(46.0), false));
    assert!(
        stale
            .report
            .warnings
            .iter()
            .any(|w| w.starts_with("the symbiotic stage is attempted on a weak serial foundation")),
        "{:?}",
        stale.report.warnings
    );

    // A pending merge review for three customers: a third are likely duplicates.
    let mut b = Batch::default();
    b.put_doc("reviews", "r1", &"pending").unwrap();
    store.write(b, Durability::Durable).unwrap();
    let dup = svc.assess(90).await.unwrap();
    let (rate, met) = measure(&dup, "duplicate-rate");
    assert!((rate.unwrap() - 1.0 / 3.0).abs() < 1e-9 && !met);
    assert_eq!(dup.report.stage, 0);
    assert!(dup.report.next_steps[0].starts_with("duplicate-rate 33.3%"));

    let history = svc.assessment_history().await.unwrap();
    let stages: Vec<u8> = history.iter().map(|e| e.report.stage).collect();
    assert_eq!(stages, [1, 1, 0]);
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respondents_answer_for_themselves_and_executives_load_a_survey() {
    let engine = Arc::new(Engine::new(pooled()).with_clock(Clock::Fixed(t0())));
    let local = Embedded::from_engine(engine.clone(), "test".into());
    local
        .add_operator("gate.ann", Role::FrontLine, PASSWORD)
        .await
        .unwrap();
    local
        .add_operator("cco", Role::Executive, PASSWORD)
        .await
        .unwrap();
    let server = TestServer::start(engine).await;

    let ann = Remote::connect(&server.addr, "gate.ann", PASSWORD)
        .await
        .unwrap();
    let hers = Answers::parse(
        "ann.csv",
        "respondent,constituency,item,answer\ngate.ann,front-line,B1,2\ngate.ann,front-line,B2,2\n",
    )
    .unwrap();
    assert_eq!(ann.submit_answers(hers).await.unwrap(), 1);
    let forged = Answers::parse(
        "forged.csv",
        "respondent,constituency,item,answer\ncco,executive,B1,1\n",
    )
    .unwrap();
    assert!(matches!(
        ann.submit_answers(forged).await,
        Err(ServiceError::Forbidden { .. })
    ));
    // The front line answers but does not run the assessment.
    assert!(matches!(
        ann.assess(90).await,
        Err(ServiceError::Forbidden { .. })
    ));

    let cco = Remote::connect(&server.addr, "cco", PASSWORD)
        .await
        .unwrap();
    let survey = Answers::parse(
        "survey.csv",
        "respondent,constituency,item,answer\ncco,executive,B1,5\ncco,executive,B2,5\n\
         vp,executive,B1,5\nvp,executive,B2,3\n",
    )
    .unwrap();
    assert_eq!(cco.submit_answers(survey).await.unwrap(), 2);
    let e = cco.assess(90).await.unwrap();
    let a = e.report.answers.as_ref().expect("answers in the report");
    assert_eq!(a.respondents, 3);
    // Executives (4.5 mean) and the front line (2) disagree: a finding.
    assert!(
        e.report
            .warnings
            .iter()
            .any(|w| w.contains("on broad view the front-line answer 2.0 and the executive 4.5")),
        "{:?}",
        e.report.warnings
    );
    server.stop().await;
}
