//! End-to-end: the learning loop's commands on the committed demo world, through the real
//! binary (embedded, so through the service like every command).

use serde_json::Value;

use crate::util::Dir;

#[test]
fn the_learning_loop_from_the_command_line_on_the_demo_world() {
    let d = Dir::new();
    d.init();
    let demo = Dir::root().join("fixtures/demo/ingest.toml");
    d.ok(&["ingest", demo.to_str().unwrap()]);

    // The apology experiment, run outside, declared from its source contacts and analysed.
    let declared: Value = serde_json::from_str(&d.ok(&[
        "experiment",
        "declare",
        "APOLOGY-2025",
        "--hypothesis",
        "an apology after an inconvenience brings passengers back",
        "--population",
        "passengers inconvenienced in 2025",
        "--arm",
        "letter:2",
        "--arm",
        "letter_coupon:52",
        "--arm",
        "letter_lounge:37",
        "--outcome",
        "rebooked",
        "--window-days",
        "365",
        "--seed",
        "2025",
        "--value-per-unit",
        "150",
        "--minimum-effect",
        "0.25",
        "--json",
    ]))
    .unwrap();
    assert!(declared["status"]["Closed"].is_object(), "{declared}");
    let assigned = declared["assigned"].as_u64().unwrap();
    assert!(assigned > 300, "{declared}");
    let r: Value =
        serde_json::from_str(&d.ok(&["experiment", "report", "APOLOGY-2025", "--json"])).unwrap();
    let report = &r["report"];
    assert_eq!(report["recommendation"]["arm"], "letter", "{report}");
    assert_eq!(report["preliminary"], false);
    let n: u64 = report["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["n"].as_u64().unwrap())
        .sum();
    assert_eq!(n, assigned);
    for c in report["comparisons"].as_array().unwrap() {
        let p = c["welch"]["p_value"].as_f64().unwrap();
        assert!(p < 0.05 && c["better_than_control"] == true, "{c}");
        assert!(c["welch"]["interval"]["low"].as_f64().unwrap() > 0.0, "{c}");
    }
    let text = d.ok(&["experiment", "report", "APOLOGY-2025"]);
    assert!(text.contains("recommendation: letter"), "{text}");

    // Bad definitions: clear errors, exit 2.
    let out = d.run(&[
        "experiment",
        "create",
        "BAD",
        "--hypothesis",
        "h",
        "--arm",
        "a:1:0.9",
        "--control-share",
        "0.5",
        "--outcome",
        "bookings",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("arm shares add up to 140.0% (control 50.0%): at most 100%"),
        "{err}"
    );
    let out = d.run(&[
        "experiment",
        "create",
        "BAD",
        "--hypothesis",
        "h",
        "--arm",
        "a:1",
        "--outcome",
        "happiness",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown outcome \"happiness\""), "{err}");
    let out = d.run(&[
        "experiment",
        "create",
        "BAD",
        "--hypothesis",
        "h",
        "--arm",
        "letter",
        "--outcome",
        "bookings",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("write an arm as NAME:COST"), "{err}");

    // The recorded campaigns: short lists respond better than long ones.
    let c: Value = serde_json::from_str(&d.ok(&["campaign", "report", "--json"])).unwrap();
    let bands = c["by_size"].as_array().unwrap();
    let rate = |b: &Value| b["responders"].as_f64().unwrap() / b["contacted"].as_f64().unwrap();
    assert_eq!(bands[0]["band"], "1-20");
    assert!(
        rate(&bands[0]) > 5.0 * rate(bands.last().unwrap()),
        "{bands:?}"
    );

    // A list from the scores: at most 20 per customer manager, with a hold-out.
    d.ok(&["score"]);
    let made: Value = serde_json::from_str(&d.ok(&[
        "campaign",
        "create",
        "WINBACK-1",
        "--cap-per-owner",
        "20",
        "--holdout",
        "--cost",
        "4",
        "--json",
    ]))
    .unwrap();
    assert_eq!(made["contacts"], made["held_out"]);
    assert!(made["contacts"].as_u64().unwrap() > 0);
    assert!(d.ok(&["campaign", "list"]).contains("WINBACK-1"));

    // Hand-offs from the system: ingested, scored, a list produced and a campaign run now.
    let h: Value = serde_json::from_str(&d.ok(&["handoffs", "--json"])).unwrap();
    let steps = h["status"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7);
    for k in [0, 2, 3, 4, 5] {
        assert!(steps[k]["state"]["OnTime"].is_object(), "{}", steps[k]);
    }
    assert_eq!(steps[6]["state"], "NeverDone");

    // An idea passed on, tagged and closed; its author reads the outcome.
    let added = d.ok(&["ideas", "add", "families ask to sit together"]);
    let id = added.split_whitespace().nth(1).unwrap().to_string();
    let q: Value = serde_json::from_str(&d.ok(&["ideas", "list", "--json"])).unwrap();
    assert_eq!(q[0]["idea"]["text"], "families ask to sit together");
    d.ok(&["ideas", "tag", &id, "seating"]);
    d.ok(&["ideas", "link", &id, "experiment", "SEATS-2027"]);
    d.ok(&["ideas", "close", &id, "tested in SEATS-2027: kept"]);
    let mine = d.ok(&["ideas", "mine"]);
    assert!(mine.contains("tested in SEATS-2027: kept"), "{mine}");
    assert!(d.ok(&["ideas", "list"]).contains("no open idea"));
}
