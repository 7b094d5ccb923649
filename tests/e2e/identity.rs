//! End-to-end tests: identity resolution through the real binary. FEBRL data set 2 ingested
//! through its ordinary mapping and scored against the ground truth; the steward's review,
//! explain and unmerge commands on a small two-shop world.

use std::collections::{HashMap, HashSet};

use crate::util::Dir;

/// Pairwise precision, recall and F1 of the identities export against FEBRL's ground truth
/// (`rec-N-org` and `rec-N-dup-K` are entity N). `all_records` also counts the records of the
/// file that are not in the export (quarantined) as unresolved singletons.
fn febrl_quality(export: &str, all_records: Option<&[String]>) -> (f64, f64, f64) {
    let mut got: HashMap<String, String> = HashMap::new();
    for line in export.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let key = v["source_key"].as_str().expect("source_key").to_owned();
        let customer = v["customer_id"].as_str().expect("customer_id").to_owned();
        got.insert(key, customer);
    }
    let records: Vec<String> = match all_records {
        Some(r) => r.to_vec(),
        None => got.keys().cloned().collect(),
    };
    let entity = |r: &str| r.split('-').nth(1).expect("rec-N-...").to_owned();
    let pairs = |group: &dyn Fn(&str) -> Option<String>| {
        let mut by: HashMap<String, Vec<&str>> = HashMap::new();
        for r in &records {
            if let Some(g) = group(r) {
                by.entry(g).or_default().push(r);
            }
        }
        let mut s = HashSet::new();
        for members in by.values() {
            for (i, a) in members.iter().enumerate() {
                for b in &members[i + 1..] {
                    s.insert(if a < b { (*a, *b) } else { (*b, *a) });
                }
            }
        }
        s.into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect::<HashSet<_>>()
    };
    let truth = pairs(&|r| Some(entity(r)));
    let found = pairs(&|r| got.get(r).cloned());
    let tp = truth.intersection(&found).count() as f64;
    let p = tp / found.len().max(1) as f64;
    let r = tp / truth.len().max(1) as f64;
    (p, r, 2.0 * p * r / (p + r).max(f64::MIN_POSITIVE))
}

fn febrl_ids() -> Vec<String> {
    let text = std::fs::read_to_string(Dir::root().join("fixtures/external/febrl/dataset2.csv"))
        .expect("FEBRL data set 2");
    text.lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(|s| s.trim().to_owned()))
        .collect()
}

fn febrl(mapping: &str) -> (f64, f64, f64, f64) {
    let d = Dir::new();
    d.init();
    let root = Dir::root();
    let map = root.join("fixtures/external/febrl").join(mapping);
    let data = root.join("fixtures/external/febrl/dataset2.csv");
    let report = d.ok(&[
        "ingest",
        "--json",
        "--source",
        map.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    let r: serde_json::Value = serde_json::from_str(&report).expect("ingest report JSON");
    assert_eq!(r["rows_read"], 5000);
    assert_eq!(r["rows_quarantined"], 10, "the ten impossible birth dates");
    let export = d.ok(&["export", "identities"]);
    // A reader that stops early (`| head`) ends the export quietly, not with an error.
    for args in [&["export", "identities"][..], &["export"][..]] {
        let mut child = d
            .cmd()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
        assert!(first.starts_with('{'), "{first}");
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (p, rc, f1) = febrl_quality(&export, None);
    let (_, _, f1_all) = febrl_quality(&export, Some(&febrl_ids()));
    eprintln!(
        "FEBRL 2 via {mapping}: precision {p:.4} recall {rc:.4} F1 {f1:.4} (ingested records); \
         F1 {f1_all:.4} counting the 10 quarantined rows as missed"
    );
    (p, rc, f1, f1_all)
}

#[test]
fn febrl2_deduplicates_with_national_id() {
    let (p, r, f1, f1_all) = febrl("febrl2.toml");
    assert!(f1 >= 0.99, "precision {p:.4} recall {r:.4} F1 {f1:.4}");
    assert!(f1_all >= 0.985, "F1 over all 5,000 records {f1_all:.4}");
}

#[test]
fn febrl2_deduplicates_without_national_id() {
    let (p, r, f1, f1_all) = febrl("febrl2-no-ssn.toml");
    assert!(f1 >= 0.99, "precision {p:.4} recall {r:.4} F1 {f1:.4}");
    assert!(f1_all >= 0.98, "F1 over all 5,000 records {f1_all:.4}");
}

/// The shop mapping shared with the repository crate's identity tests.
const SHOP: &str = include_str!("../../fixtures/test/shop.toml");

fn shops(d: &Dir) {
    d.init();
    let p = d.path();
    std::fs::write(p.join("shop.toml"), SHOP).unwrap();
    std::fs::write(
        p.join("web.toml"),
        SHOP.replace("name = \"shop\"", "name = \"web\""),
    )
    .unwrap();
    std::fs::write(
        p.join("shop.csv"),
        "customer,first,last,dob,email,order,at,amount\n\
         S1,Anna,Berg,1975-11-02,anna@example.com,o1,2026-01-05T10:00:00Z,10.00\n\
         S2,Piet,Jansen,1980-01-01,piet@example.com,o2,2026-01-06T10:00:00Z,20.00\n",
    )
    .unwrap();
    std::fs::write(
        p.join("web.csv"),
        "customer,first,last,dob,email,order,at,amount\n\
         W1,Ana,Berg,,ana.b@other.example,w1,2026-02-05T10:00:00Z,30.00\n\
         W2,Piet,Jansen,1980-01-01,piet@example.com,w2,2026-02-06T10:00:00Z,40.00\n",
    )
    .unwrap();
    d.ok(&["ingest", "--source", "shop.toml", "shop.csv"]);
    d.ok(&["ingest", "--source", "web.toml", "web.csv"]);
}

#[test]
fn steward_reviews_explains_and_unmerges() {
    let d = Dir::new();
    shops(&d);

    // The attach made at ingest is explained field by field.
    let ex = d.ok(&["merge", "explain", "web:W2"]);
    assert!(ex.contains("web:W2"), "{ex}");
    assert!(ex.contains("agreed: shared"), "{ex}");
    assert!(ex.contains("birth_date"), "{ex}");
    assert!(ex.contains("score"), "{ex}");

    // The name-only match waits in the queue.
    let list = d.ok(&["review", "list"]);
    assert!(list.contains("web:W1"), "{list}");
    assert!(list.contains("1 open"), "{list}");
    let json = d.ok(&["review", "list", "--json"]);
    let item: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(item["id"], "web:W1");

    let accepted = d.ok(&["review", "accept", "web:W1"]);
    let merge_id = accepted
        .split_whitespace()
        .find(|w| w.starts_with('M'))
        .map(|w| w.trim_end_matches([')', ';']))
        .expect("merge id in output")
        .to_owned();
    assert!(d.ok(&["review", "list"]).contains("no open review items"));
    let ex = d.ok(&["merge", "explain", &merge_id]);
    assert!(ex.contains("merged into"), "{ex}");
    assert!(ex.contains("given_name"), "{ex}");

    let export = d.ok(&["export", "identities"]);
    let owner = |export: &str, key: &str| -> String {
        export
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["source_key"] == key)
            .map(|v| v["customer_id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(owner(&export, "W1"), owner(&export, "S1"));

    let out = d.ok(&["unmerge", &merge_id]);
    assert!(out.contains("unmerged"), "{out}");
    let export = d.ok(&["export", "identities"]);
    assert_ne!(owner(&export, "W1"), owner(&export, "S1"));
    // Undone once only.
    assert!(!d.run(&["unmerge", &merge_id]).status.success());
}

#[test]
fn rejected_review_stays_apart_and_bad_ids_are_clear_errors() {
    let d = Dir::new();
    d.init();
    shops(&d);
    let out = d.ok(&["review", "reject", "web:W1"]);
    assert!(out.contains("kept apart"), "{out}");
    assert!(d.ok(&["review", "list"]).contains("no open review items"));
    d.ok(&["ingest", "--source", "web.toml", "web.csv"]);
    assert!(d.ok(&["review", "list"]).contains("no open review items"));

    let bad = d.run(&["review", "accept", "web:nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no open review item"));
    let bad = d.run(&["merge", "explain", "C99999999"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no merge found"));
}
