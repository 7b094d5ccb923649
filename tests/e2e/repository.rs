//! End-to-end tests: repository (ingest, quarantine, quality, search, customer show, export
//! identities), run as a new user would, against the committed demo world.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::util::Dir;

fn demo() -> std::path::PathBuf {
    Dir::root().join("fixtures/demo")
}

fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("read truth");
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            // Truth files quote only the detail column, which is last.
            let mut parts: Vec<String> = Vec::new();
            let mut rest = l;
            for _ in 0..header.len() - 1 {
                let (a, b) = rest.split_once(',').unwrap_or((rest, ""));
                parts.push(a.to_string());
                rest = b;
            }
            parts.push(rest.trim_matches('"').to_string());
            header.iter().cloned().zip(parts).collect()
        })
        .collect()
}

/// Ingests the demo world once per test binary run directory.
fn ingested() -> (Dir, serde_json::Value) {
    let d = Dir::new();
    d.init();
    let out = d.ok(&[
        "ingest",
        demo().join("ingest.toml").to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json report");
    (d, report)
}

fn n(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

/// The demo truth's reasons, and the repository's reasons that say the same.
fn same_reason(truth: &str, mine: &str) -> bool {
    match truth {
        "date_not_in_declared_format" => {
            matches!(mine, "date_not_in_declared_format" | "ambiguous_date")
        }
        "wrong_type" => matches!(
            mine,
            "wrong_type" | "bad_amount" | "date_not_in_declared_format"
        ),
        t => t == mine,
    }
}

#[test]
fn demo_world_ingests_with_every_bad_row_quarantined_and_duplicates_resolved() {
    let (d, report) = ingested();
    let read = n(&report, "rows_read");
    assert_eq!(
        read,
        n(&report, "rows_stored") + n(&report, "rows_quarantined") + n(&report, "rows_known"),
        "nothing is lost: {report}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo().join("manifest.json")).unwrap())
            .unwrap();
    let source_rows: u64 = manifest["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(read, source_rows, "every row of every source is read");

    // Every bad row of the truth is quarantined, at its line and field, for the right reason;
    // no good row is.
    let truth = read_csv(&demo().join("truth/bad_rows.csv"));
    let listed = d.ok(&["quarantine", "list", "--json"]);
    let mut mine: BTreeMap<(String, u64), serde_json::Value> = BTreeMap::new();
    for line in listed.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = Path::new(e["file"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        mine.insert((file, e["line"].as_u64().unwrap()), e);
    }
    let mut wrong = Vec::new();
    for t in &truth {
        let key = (t["file"].clone(), t["line"].parse::<u64>().unwrap());
        match mine.get(&key) {
            None => wrong.push(format!("missed {key:?} {}", t["reason"])),
            Some(e) => {
                let reason = e["reason"].as_str().unwrap();
                let field_ok = t["field"].is_empty() || t["field"] == e["field"].as_str().unwrap();
                if !same_reason(&t["reason"], reason) || !field_ok {
                    wrong.push(format!(
                        "{key:?}: truth {} {}, quarantined {} {}",
                        t["field"], t["reason"], e["field"], reason
                    ));
                }
            }
        }
    }
    let truth_keys: BTreeSet<(String, u64)> = truth
        .iter()
        .map(|t| (t["file"].clone(), t["line"].parse().unwrap()))
        .collect();
    for k in mine.keys() {
        if !truth_keys.contains(k) {
            wrong.push(format!("good row quarantined: {k:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} problems:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(n(&report, "rows_quarantined"), truth.len() as u64);

    // Duplicates against the ground truth, pairwise over the source records.
    let ids = d.ok(&["export", "identities"]);
    let mut pred: HashMap<(String, String), String> = HashMap::new();
    for line in ids.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        pred.insert(
            (
                e["source"].as_str().unwrap().to_string(),
                e["source_key"].as_str().unwrap().to_string(),
            ),
            e["customer_id"].as_str().unwrap().to_string(),
        );
    }
    let truth_ids = read_csv(&demo().join("truth/identities.csv"));
    let mut t_groups: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut p_of: HashMap<(String, String), String> = HashMap::new();
    for t in &truth_ids {
        let k = (t["source"].clone(), t["source_key"].clone());
        if let Some(c) = pred.get(&k) {
            t_groups
                .entry(t["entity_id"].clone())
                .or_default()
                .push(k.clone());
            p_of.insert(k, c.clone());
        }
    }
    // Nearly every source record of the truth was ingested (the rest are whole-row bad rows).
    assert!(p_of.len() as f64 >= 0.99 * truth_ids.len() as f64);
    let mut true_pairs = 0u64;
    let mut tp = 0u64;
    for members in t_groups.values() {
        for i in 0..members.len() {
            for j in i + 1..members.len() {
                true_pairs += 1;
                if p_of[&members[i]] == p_of[&members[j]] {
                    tp += 1;
                }
            }
        }
    }
    let mut p_groups: HashMap<&String, u64> = HashMap::new();
    for c in p_of.values() {
        *p_groups.entry(c).or_insert(0) += 1;
    }
    let pred_pairs: u64 = p_groups.values().map(|k| k * (k - 1) / 2).sum();
    let precision = tp as f64 / pred_pairs.max(1) as f64;
    let recall = tp as f64 / true_pairs.max(1) as f64;
    let f1 = 2.0 * precision * recall / (precision + recall);
    eprintln!(
        "demo world duplicates: precision {precision:.4} recall {recall:.4} F1 {f1:.4} \
         ({tp} of {true_pairs} true pairs, {pred_pairs} predicted)"
    );
    // The issue's goal: F1 at least 0.97 (0.975 on 2026-12-01, see docs/benchmarks.md).
    assert!(precision >= 0.97, "precision {precision:.4}");
    assert!(recall >= 0.96, "recall {recall:.4}");
    assert!(f1 >= 0.97, "F1 {f1:.4}");

    // The same files again add nothing.
    let again: serde_json::Value = serde_json::from_str(&d.ok(&[
        "ingest",
        demo().join("ingest.toml").to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(n(&again, "rows_read"), read);
    assert_eq!(n(&again, "rows_known"), read, "{again}");
    assert_eq!(n(&again, "rows_stored") + n(&again, "rows_quarantined"), 0);

    // The quality report sees the quarantine and the pool.
    let q: serde_json::Value = serde_json::from_str(&d.ok(&["quality", "--json"])).unwrap();
    assert_eq!(q["quarantined_rows"].as_u64().unwrap(), truth.len() as u64);
    assert!(
        q["sources"]["loyalty"]["completeness"]["email"]
            .as_f64()
            .unwrap()
            > 0.9
    );
    assert_eq!(q["interactions_without_customer"].as_u64(), Some(0));

    // The stories' customers are found and show their cues.
    let stories: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo().join("truth/stories.json")).unwrap())
            .unwrap();
    let double = stories["stories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "double_voucher")
        .expect("double voucher story");
    let name = double["customer"].as_str().unwrap();
    let hits: serde_json::Value = serde_json::from_str(&d.ok(&["search", name, "--json"])).unwrap();
    let id = format!("C{:08}", hits[0]["id"].as_u64().expect("found by name"));
    let rec: serde_json::Value =
        serde_json::from_str(&d.ok(&["customer", "show", &id, "--json"])).unwrap();
    assert!(
        !rec["grants"].as_array().unwrap().is_empty(),
        "the gate voucher is a grant: {}",
        rec["grants"]
    );
}

const MAPPING: &str = r#"
[source]
name = "shop"
format = "csv"
date_formats = ["%d/%m/%Y"]
phone_region = "GB"
currency = "GBP"

[party]
key = "id"
kind = "person"
given_name = "first"
family_name = "last"
birth_date = "dob"
phone = "phone"

[interaction]
key = "order"
time = "dob"
kind = "purchase"
channel = "branch"

[[interaction.amounts]]
role = "revenue"
column = "total"
"#;

#[test]
fn any_csv_with_a_mapping_ingests_and_bad_input_is_named() {
    let d = Dir::new();
    d.init();
    let mapping = d.path().join("shop.toml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let data = d.path().join("shop.csv");
    std::fs::write(
        &data,
        b"id,first,last,dob,phone,order,total\n\
          1,Ann,Lee,03/04/1980,07911 123456,o1,12.50\n\
          2,Bob,Ray,12/25/1980,,o2,3\n\
          3,Cy,Fox,31/02/1980,,o3,4\n\
          4,Di,Orr,01/01/1990,12,o4,5\n\
          5,Ed,Poe,01/01/1990,,o5\n\
          6,F\xe9,Kay,01/01/1990,,o6,7\n\
          7,Gus,Oak,01/0",
    )
    .unwrap();
    let out = d.ok(&[
        "ingest",
        "--source",
        mapping.to_str().unwrap(),
        data.to_str().unwrap(),
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(n(&r, "rows_read"), 7);
    assert_eq!(n(&r, "rows_stored"), 1);
    assert_eq!(n(&r, "rows_quarantined"), 6);
    let by: BTreeMap<String, u64> =
        serde_json::from_value(r["quarantined_by_reason"].clone()).unwrap();
    assert_eq!(
        by,
        [
            ("ambiguous_date", 1),
            ("impossible_date", 1),
            ("malformed_phone", 1),
            ("wrong_column_count", 1),
            ("non_utf8", 1),
            ("truncated_last_line", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    );
    // The human report says rows read = stored + quarantined + known.
    let human = d.ok(&[
        "ingest",
        "--source",
        mapping.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    assert!(
        human.contains("rows: 7 read = 0 stored + 0 quarantined + 7 already known"),
        "{human}"
    );

    // quarantine show gives the original bytes, file, line, field and reason.
    let list = d.ok(&["quarantine", "list", "--reason", "ambiguous_date", "--json"]);
    let e: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    assert_eq!(e["line"], 3);
    assert_eq!(e["field"], "dob");
    let shown = d.ok(&["quarantine", "show", e["id"].as_str().unwrap()]);
    assert!(shown.contains("2,Bob,Ray,12/25/1980,,o2,3"), "{shown}");
    assert!(shown.contains("shop.csv:3"), "{shown}");

    // The steward fixes the mapping (this source writes month first) and retries.
    std::fs::write(&mapping, MAPPING.replace("%d/%m/%Y", "%m/%d/%Y")).unwrap();
    let retried: serde_json::Value = serde_json::from_str(&d.ok(&[
        "quarantine",
        "retry",
        "--mapping",
        mapping.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let cleared = retried["cleared"].as_array().unwrap();
    assert!(cleared.iter().any(|c| c == &e["id"]), "{retried}");

    // Search by phone in another shape, show the record, export identities as CSV.
    let hits: serde_json::Value =
        serde_json::from_str(&d.ok(&["search", "+44 7911 123456", "--json"])).unwrap();
    assert_eq!(hits[0]["name"], "Ann Lee");
    let shown = d.ok(&["customer", "show", "--find", "ann lee"]);
    assert!(
        shown.contains("Ann Lee") && shown.contains("purchase"),
        "{shown}"
    );
    let csv = d.ok(&["export", "identities", "--format", "csv"]);
    assert!(csv.starts_with("source,source_key,customer_id\n"), "{csv}");
    assert!(csv.contains("shop,1,C"), "{csv}");

    // A mapping with a mistake names the file, line and field.
    std::fs::write(
        &mapping,
        MAPPING.replace("phone_region = \"GB\"", "phone_region = \"XX\""),
    )
    .unwrap();
    let bad = d.run(&[
        "ingest",
        "--source",
        mapping.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("shop.toml:6: field `source.phone_region`"),
        "{err}"
    );
}

/// The source records an identities export lists, and how many customers they resolve to.
fn identities_on(d: &Dir, db: &Path) -> (BTreeSet<(String, String)>, usize) {
    let out = d
        .cmd_on(db)
        .args(["export", "identities"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut records = BTreeSet::new();
    let mut customers = BTreeSet::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        records.insert((
            v["source"].as_str().unwrap().to_string(),
            v["source_key"].as_str().unwrap().to_string(),
        ));
        customers.insert(v["customer_id"].to_string());
    }
    (records, customers.len())
}

#[test]
fn an_ingest_killed_midway_is_completed_by_the_next_run() {
    // Into a store that already holds a source: the incremental path.
    killed_midway_then_completed(false);
}

#[test]
fn a_first_load_killed_midway_is_done_again_whole_by_the_next_run() {
    killed_midway_then_completed(true);
}

/// Kills ingests of the demo manifest at several points until one dies midway, lets the next
/// run finish the job and compares the store with a clean run's. With `first_load` the store
/// is empty (the first-load path: the rerun loads everything again, with the same ids);
/// without, it holds the loyalty source first (the incremental path: the rerun skips the rows
/// the killed run stored and rebuilds the customers it left unbuilt).
fn killed_midway_then_completed(first_load: bool) {
    let d = Dir::new();
    let manifest = demo().join("ingest.toml");
    let manifest = manifest.to_str().unwrap();
    let prepare = |db: &Path| {
        d.init_on(db);
        if !first_load {
            let out = d
                .cmd_on(db)
                .args(["ingest", "--source"])
                .arg(demo().join("mappings/loyalty.toml"))
                .arg(demo().join("loyalty.jsonl"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
    };
    let clean_db = d.path().join("clean");
    prepare(&clean_db);
    let started = std::time::Instant::now();
    let out = d
        .cmd_on(&clean_db)
        .args(["ingest", manifest, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let clean_secs = started.elapsed().as_secs_f64();
    let clean: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (clean_records, clean_customers) = identities_on(&d, &clean_db);

    // Kill ingests at several points of the run until one dies midway (rows stored, golden
    // records not yet rebuilt), then let a second run finish the job.
    let mut landed = false;
    for (attempt, fraction) in [0.5, 0.3, 0.7, 0.15, 0.85, 0.6, 0.4]
        .into_iter()
        .enumerate()
    {
        let db = d.path().join(format!("killed{attempt}"));
        prepare(&db);
        let mut child = d
            .cmd_on(&db)
            .args(["--log", "info", "ingest", manifest])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let delay = if first_load {
            // A first load writes at its end: wait for it to begin writing, then kill it
            // somewhere in its writes (they take a fifth of the run or so).
            let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
            let writing = lines.any(|l| l.is_ok_and(|l| l.contains("first load: writing")));
            std::thread::spawn(move || lines.for_each(drop));
            if !writing {
                let _ = child.wait();
                continue;
            }
            clean_secs * fraction * 0.25
        } else {
            std::thread::spawn(move || std::io::Read::bytes(stderr).for_each(drop));
            clean_secs * fraction
        };
        std::thread::sleep(std::time::Duration::from_secs_f64(delay));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            continue; // finished before the kill
        }
        // Midway: the killed run had stored some of its rows.
        let store = rapport_store::Store::open(&db).unwrap();
        let in_first_load = store.doc_exists("repository_meta", "first_load").unwrap();
        let written = store.customer_count().unwrap()
            + store.doc_count("rows").unwrap()
            + store.doc_count("row_pages").unwrap();
        drop(store);
        if first_load && !(in_first_load && written > 0) {
            continue; // killed before its writes, or after its load
        }
        let out = d
            .cmd_on(&db)
            .args(["ingest", manifest, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            n(&again, "rows_read"),
            n(&again, "rows_stored") + n(&again, "rows_quarantined") + n(&again, "rows_known")
        );
        assert_eq!(n(&again, "rows_read"), n(&clean, "rows_read"));
        if first_load {
            // Loaded again whole: the rerun's report is the clean run's.
            for k in [
                "rows_stored",
                "rows_quarantined",
                "rows_known",
                "customers_created",
            ] {
                assert_eq!(n(&again, k), n(&clean, k), "{k}, fraction {fraction}");
            }
        } else if n(&again, "rows_known") == n(&clean, "rows_known") {
            continue; // killed before anything was written
        }
        landed = true;
        // Every row is stored once: the two runs together stored what the clean run did.
        let store = rapport_store::Store::open(&db).unwrap();
        assert_eq!(
            store.interaction_count().unwrap(),
            interactions_in(&clean_db),
            "fraction {fraction}"
        );
        assert_eq!(
            store.doc_count("ingest_unbuilt").unwrap(),
            0,
            "every customer left unbuilt by the killed run is rebuilt"
        );
        assert!(
            !store.doc_exists("repository_meta", "first_load").unwrap(),
            "the first load is complete"
        );
        drop(store);
        let (records, customers) = identities_on(&d, &db);
        assert_eq!(
            records, clean_records,
            "every source record has its customer"
        );
        if first_load {
            assert_eq!(customers, clean_customers);
        }
        let diff = customers.abs_diff(clean_customers) as f64 / clean_customers as f64;
        assert!(
            diff < 0.01,
            "{customers} customers after the resumed run, {clean_customers} after a clean one"
        );
        // The customers the killed run stored are whole records: found by search.
        let hit = d
            .cmd_on(&db)
            .args(["search", "okafor.margaret88@example.com", "--json"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&hit.stdout).contains("Okafor"),
            "{hit:?}"
        );
        break;
    }
    assert!(landed, "no kill landed in the middle of an ingest");
}

/// Interactions in a database (opened after the commands that wrote it ended).
fn interactions_in(db: &Path) -> u64 {
    rapport_store::Store::open(db)
        .unwrap()
        .interaction_count()
        .unwrap()
}

/// Regression: a 4 MiB row and an unterminated 10 MB last line were quarantined whole, at
/// about four times their size (a JSON byte array), above the store's 16 MiB decode limit;
/// from then on export, quarantine list and retry and every re-ingest of the source failed.
#[test]
fn oversized_rows_are_quarantined_small_and_everything_reads_back() {
    let d = Dir::new();
    d.init();
    let mapping = d.path().join("shop.toml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let data = d.path().join("shop.csv");
    let mut bytes = b"id,first,last,dob,phone,order,total\n\
          1,Ann,Lee,03/04/1980,07911 123456,o1,12.50\n\
          2,Bob,Ray,12/25/1980,,o2,3\n"
        .to_vec();
    // A 4 MiB row (a name pasted from a binary file) ...
    bytes.extend_from_slice(b"3,");
    bytes.extend(std::iter::repeat_n(b'x', 4 << 20));
    bytes.extend_from_slice(b",Fox,01/01/1990,,o3,4\n");
    // ... an amount no real order has (a unit mix-up) ...
    bytes.extend_from_slice(b"4,Di,Orr,01/01/1990,,o4,92233720368547758.07\n");
    bytes.extend_from_slice(b"5,Ed,Poe,01/01/1990,,o5,7\n");
    // ... and a last line of 10 MB with an unterminated quote and no line end.
    bytes.extend_from_slice(b"6,\"");
    bytes.extend(std::iter::repeat_n(b'y', 10_000_000));
    std::fs::write(&data, &bytes).unwrap();
    let ingest = |d: &Dir| -> serde_json::Value {
        serde_json::from_str(&d.ok(&[
            "ingest",
            "--source",
            mapping.to_str().unwrap(),
            data.to_str().unwrap(),
            "--json",
        ]))
        .unwrap()
    };
    let r = ingest(&d);
    assert_eq!(n(&r, "rows_read"), 6, "{r}");
    assert_eq!(n(&r, "rows_stored"), 2, "{r}");
    assert_eq!(n(&r, "rows_quarantined"), 4, "{r}");
    let by: BTreeMap<String, u64> =
        serde_json::from_value(r["quarantined_by_reason"].clone()).unwrap();
    assert_eq!(by.get("row_too_long"), Some(&2), "{by:?}");
    assert_eq!(by.get("amount_out_of_range"), Some(&1), "{by:?}");

    // The quarantine lists every entry; the long ones keep their start, length and digest.
    let list = d.ok(&["quarantine", "list", "--json"]);
    let entries: Vec<serde_json::Value> = list
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 4, "{list}");
    let long: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["reason"] == "row_too_long")
        .collect();
    let mut lengths: Vec<u64> = long
        .iter()
        .map(|e| e["row_bytes"].as_u64().unwrap())
        .collect();
    lengths.sort_unstable();
    assert_eq!(lengths, [(4 << 20) + 23, 10_000_003]);
    for e in &long {
        assert_eq!(e["whole"], false);
        assert_eq!(e["row_sha256"].as_str().unwrap().len(), 64);
        assert!(e["row"].as_str().unwrap().len() <= 16 * 1024);
    }
    let first_line = long
        .iter()
        .find(|e| e["line"] == 4)
        .expect("the 4 MiB row on line 4");
    let shown = d.ok(&["quarantine", "show", first_line["id"].as_str().unwrap()]);
    assert!(
        shown.contains("4194327 bytes, only the first 16384 kept"),
        "{shown}"
    );

    // Export, quality, retry and a re-ingest all work.
    let backup = d.path().join("backup.jsonl");
    d.ok(&["export", "--out", backup.to_str().unwrap()]);
    assert!(std::fs::metadata(&backup).unwrap().len() < 1 << 20);
    d.ok(&["quality", "--json"]);
    let retried: serde_json::Value = serde_json::from_str(&d.ok(&[
        "quarantine",
        "retry",
        "--mapping",
        mapping.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(retried["cleared"].as_array().unwrap().len(), 0, "{retried}");
    let again = ingest(&d);
    assert_eq!(n(&again, "rows_known"), 6, "{again}");

    // The steward removes the long entries; a removed or unknown id is an error.
    let ids: Vec<&str> = long.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut args = vec!["quarantine", "remove"];
    args.extend(&ids);
    assert!(d.ok(&args).contains("2 quarantined rows removed"));
    let left = d.ok(&["quarantine", "list", "--json"]);
    assert_eq!(left.lines().count(), 2, "{left}");
    let gone = d.run(&["quarantine", "remove", ids[0]]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no quarantined row"));
}

/// What an ingest decided about identities, independent of customer ids: the partition of
/// source records into customers, the merges in the merge log (records moved and the record
/// that decided it), the review queue, and what is left pending.
#[derive(Debug, PartialEq)]
struct Outcome {
    customers: BTreeSet<BTreeSet<String>>,
    merges: BTreeSet<(String, Vec<String>)>,
    reviews: BTreeSet<String>,
    interactions: u64,
    pending: u64,
}

fn outcome_on(db: &Path) -> Outcome {
    use rapport_repository::{fragment::ResolvedFragment, ingest, merge};
    let store = rapport_store::Store::open(db).unwrap();
    let mut by_customer: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for r in store.docs::<ResolvedFragment>("fragments", "") {
        let (key, rf) = r.unwrap();
        by_customer.entry(rf.customer.0).or_default().insert(key);
    }
    let merges = store
        .docs::<merge::MergeRecord>(merge::MERGE_LOG, "")
        .map(|r| {
            let m = r.unwrap().1;
            let decided = m.evidence.map(|e| e.record.to_string()).unwrap_or_default();
            let mut moved: Vec<String> = m.records.iter().map(|r| r.to_string()).collect();
            moved.sort();
            (decided, moved)
        })
        .collect();
    let reviews = store
        .docs::<ingest::ReviewItem>(ingest::REVIEWS, "")
        .map(|r| r.unwrap().0)
        .collect();
    let out = Outcome {
        customers: by_customer.into_values().collect(),
        merges,
        reviews,
        interactions: store.interaction_count().unwrap(),
        pending: store.doc_count(ingest::PENDING_MERGES).unwrap()
            + store.doc_count(ingest::UNBUILT).unwrap(),
    };
    assert_eq!(
        out.customers.len() as u64,
        store.customer_count().unwrap(),
        "every customer has its records"
    );
    out
}

/// Regression: in 14 of 19 kill cycles the merges an ingest decides at its end (late merges)
/// were lost, also after a later run finished normally (2,083 customers instead of 2,077, 0
/// of 6 merge-log entries). Kills at random points across the run, its end included, each
/// followed by the next run; the result must equal a clean run's.
/// `RAPPORT_KILLS=N` runs more kills (default 20).
#[test]
fn a_killed_ingest_is_completed_whole_merges_included() {
    let d = Dir::new();
    let manifest = demo().join("ingest.toml");
    let manifest = manifest.to_str().unwrap();
    let clean_db = d.path().join("clean");
    d.init_on(&clean_db);
    let started = std::time::Instant::now();
    let out = d
        .cmd_on(&clean_db)
        .args(["ingest", manifest, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let clean_secs = started.elapsed().as_secs_f64();
    let clean = outcome_on(&clean_db);
    assert!(!clean.merges.is_empty(), "the demo world makes late merges");
    assert_eq!(clean.pending, 0);

    let kills: usize = std::env::var("RAPPORT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    // Four databases, each killed again and again (a run resumed after a kill is killed too),
    // at points spread over the whole run and its last tenth, where the merges are made.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f64 / 10_000.0
    };
    let (mut killed, mut finished) = (0, 0);
    let databases = 4;
    // How long the next run on a database takes: a whole run at first, then a resumed one
    // (rows already stored are read and skipped quickly), learnt from runs that finished.
    for k in 0..databases {
        let db = d.path().join(format!("killed{k}"));
        d.init_on(&db);
        let mut expected = clean_secs;
        let mut landed = 0;
        let mut attempts = 0;
        while landed < kills.div_ceil(databases) && attempts < 4 * kills {
            attempts += 1;
            let fraction = if attempts % 2 == 0 {
                0.8 + 0.2 * next()
            } else {
                0.02 + 0.98 * next()
            };
            let deadline = std::time::Duration::from_secs_f64(expected * fraction);
            let begun = std::time::Instant::now();
            let mut child = d
                .cmd_on(&db)
                .args(["ingest", manifest])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let done = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if begun.elapsed() >= deadline {
                    break None;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            };
            match done {
                Some(status) => {
                    assert!(status.success(), "database {k}: an ingest failed");
                    finished += 1;
                    expected = begun.elapsed().as_secs_f64();
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    killed += 1;
                    landed += 1;
                }
            }
        }
        let out = d
            .cmd_on(&db)
            .args(["ingest", manifest, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let got = outcome_on(&db);
        assert_eq!(got.interactions, clean.interactions, "database {k}");
        assert_eq!(got.pending, 0, "database {k}: decisions left pending");
        assert_eq!(got.merges, clean.merges, "database {k}: the merge log");
        assert_eq!(got.reviews, clean.reviews, "database {k}: the review queue");
        assert_eq!(
            got.customers.len(),
            clean.customers.len(),
            "database {k}: customers"
        );
        assert!(
            got.customers == clean.customers,
            "database {k}: who is whom"
        );
    }
    eprintln!("{killed} runs killed, {finished} finished before their kill");
    assert!(killed >= kills, "only {killed} of {kills} kills landed");
}

/// Regression: JSON output passed a raw right-to-left override (U+202E) through.
#[test]
fn json_output_escapes_bidi_and_invisible_characters() {
    let d = Dir::new();
    d.init();
    let mapping = d.path().join("shop.toml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let data = d.path().join("shop.csv");
    std::fs::write(
        &data,
        "id,first,last,dob,phone,order,total\n1,Eve,Lee,03/04/1980,,o1,12.50\n",
    )
    .unwrap();
    d.ok(&[
        "ingest",
        "--source",
        mapping.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    // Ingest cleans names; free text logged by an operator keeps what was typed.
    d.ok(&[
        "log",
        "--customer",
        "1",
        "--kind",
        "note",
        "--text",
        "refund to Eve\u{202E}gnp.exe\u{200B}",
        "--json",
    ]);
    for args in [
        &["customer", "show", "--find", "lee", "--json"][..],
        &[
            "log",
            "--customer",
            "1",
            "--kind",
            "note",
            "--text",
            "\u{202E}x",
            "--json",
        ][..],
    ] {
        let out = d.ok(args);
        assert!(
            !out.chars()
                .any(|c| rapport_core::text::is_unsafe_char(c) && c != '\n'),
            "{args:?}: {out}"
        );
        assert!(out.contains("\\u202e"), "{args:?}: {out}");
        let _: serde_json::Value = serde_json::from_str(&out).unwrap();
    }
}
