//! End-to-end: `rapport assess` on the committed demo world, with questionnaire files.

use serde_json::Value;

use crate::util::Dir;

#[test]
fn the_demo_world_is_assessed_from_its_evidence_and_its_answers() {
    let d = Dir::new();
    d.init();
    let demo = Dir::root().join("fixtures/demo/ingest.toml");
    d.ok(&["ingest", demo.to_str().unwrap()]);
    d.ok(&["score"]);

    let v: Value = serde_json::from_str(&d.ok(&["assess", "--json"])).unwrap();
    let report = &v["report"];
    let measure = |id: &str| -> Value {
        report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["measures"].as_array().unwrap().clone())
            .find(|m| m["id"] == id)
            .unwrap()
    };
    // The demo pools all seven sources, ties nearly every row to a customer, and has just
    // been scored; its merge-review queue (about one item per fourteen customers) has not
    // been worked, so the communal stage does not hold yet, and the report says what to do.
    assert_eq!(v["evidence"]["sources_pooled"], 7);
    assert_eq!(measure("sources-pooled")["met"], true);
    assert_eq!(measure("interactions-tied")["met"], true);
    assert_eq!(measure("quarantine-rate")["met"], true);
    assert_eq!(measure("scoring-cadence")["met"], true);
    let dup = measure("duplicate-rate")["value"].as_f64().unwrap();
    assert!(dup > 0.05 && dup < 0.1, "{dup}");
    assert_eq!(report["stage"], 0);
    assert_eq!(report["stage_name"], "before communal");
    let next = report["next_steps"][0].as_str().unwrap();
    assert!(next.contains("work the merge-review queue"), "{next}");
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("the serial stage is attempted on a weak communal foundation")),
        "{warnings:?}"
    );

    // A questionnaire file with mistakes is refused, naming the file, line and problem.
    let bad = d.path().join("answers.csv");
    std::fs::write(
        &bad,
        "respondent,constituency,item,answer\nann,front-line,B1,9\nbob,chief,B2,3\n",
    )
    .unwrap();
    let out = d.run(&["assess", "--answers", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("answers.csv:2: the answer to B1 must be 1 (not at all) to 5 (fully)"),
        "{err}"
    );
    assert!(
        err.contains("answers.csv:3: unknown constituency \"chief\""),
        "{err}"
    );

    // Good answers: the executives see an integral company, the front line a communal one.
    let good = d.path().join("survey.csv");
    std::fs::write(
        &good,
        "respondent,constituency,item,answer\n\
         cco,executive,B1,5\ncco,executive,B2,5\ncco,executive,B3,4\ncco,executive,B4,5\n\
         ann,front-line,B1,2\nann,front-line,B2,1\nann,front-line,B3,2\nann,front-line,B4,2\n\
         ann,front-line,rank:technology,1\nann,front-line,G04,a\n",
    )
    .unwrap();
    let v: Value =
        serde_json::from_str(&d.ok(&["assess", "--answers", good.to_str().unwrap(), "--json"]))
            .unwrap();
    assert_eq!(v["report"]["answers"]["respondents"], 2);
    let text = v["report"]["warnings"].to_string();
    assert!(
        text.contains("on broad view the front-line answer"),
        "{text}"
    );

    let history: Value = serde_json::from_str(&d.ok(&["assess", "history", "--json"])).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2);
    let table = d.ok(&["assess", "history"]);
    assert!(table.contains("before communal"), "{table}");
}
