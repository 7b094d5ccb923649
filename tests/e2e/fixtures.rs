//! End-to-end tests: `rapport fixtures generate` and the committed demo world in
//! `fixtures/demo` (reproducible from its manifest, every planted story present, every bad row
//! where the ground truth says and nowhere else).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::Dir;

fn demo() -> PathBuf {
    Dir::root().join("fixtures/demo")
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// A source row that parsed: its line number and its fields as text.
struct Line {
    line: u64,
    fields: BTreeMap<String, String>,
}

/// The well-formed rows of a source file (CSV or JSON Lines); damaged rows are skipped.
fn rows(path: &Path) -> Vec<Line> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    if path.extension().is_some_and(|e| e == "jsonl") {
        for (k, l) in bytes.split(|b| *b == b'\n').enumerate() {
            if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(l) {
                let fields = o
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s,
                            v => v.to_string(),
                        };
                        (k, v)
                    })
                    .collect();
                out.push(Line {
                    line: k as u64 + 1,
                    fields,
                });
            }
        }
    } else {
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(bytes.as_slice());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
        for rec in r.byte_records() {
            let Ok(rec) = rec else { continue };
            let line = rec.position().unwrap().line();
            if rec.len() != header.len() {
                continue;
            }
            let Ok(rec) = csv::StringRecord::from_byte_record(rec) else {
                continue;
            };
            let fields = header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect();
            out.push(Line { line, fields });
        }
    }
    out
}

fn truth_csv(name: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(demo().join("truth").join(name)).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|x| {
            let x = x.unwrap();
            h.iter()
                .map(str::to_owned)
                .zip(x.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

#[test]
fn generate_reproduces_the_committed_demo() {
    let dir = Dir::new();
    let m = manifest(&demo());
    let out = dir.path().join("world");
    let stdout = dir.ok(&[
        "fixtures",
        "generate",
        "--customers",
        &m["customers"].to_string(),
        "--seed",
        &m["seed"].to_string(),
        "--as-of",
        m["as_of"].as_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(stdout.contains("reservations.csv"), "{stdout}");
    let mut files: Vec<String> = vec!["manifest.json".into()];
    for f in m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .chain(m["truth"].as_array().unwrap())
    {
        files.push(f["file"].as_str().unwrap().to_owned());
    }
    assert_eq!(files.len(), 13);
    for f in files {
        let committed = std::fs::read(demo().join(&f)).unwrap();
        let fresh = std::fs::read(out.join(&f)).unwrap();
        assert!(
            committed == fresh,
            "fixtures/demo/{f} differs from what the generator makes from the manifest; \
             regenerate with `rapport fixtures generate --customers 2000 --seed 42 --out fixtures/demo`"
        );
    }
}

#[test]
fn every_story_is_in_the_demo() {
    let stories: Value =
        serde_json::from_slice(&std::fs::read(demo().join("truth/stories.json")).unwrap()).unwrap();
    let stories = stories["stories"].as_array().unwrap();
    let ids: BTreeSet<&str> = stories.iter().map(|s| s["id"].as_str().unwrap()).collect();
    for id in [
        "double_voucher",
        "lost_bag_boarding_today",
        "delayed_14h_yesterday",
        "valuable_complainer",
        "corporate_halved",
        "single_product",
        "lost_valuable",
        "referral_chain",
        "household",
        "hostile_name",
        "moved",
    ] {
        assert!(ids.contains(id), "story {id} missing");
    }
    let files: BTreeMap<&str, Vec<Line>> = [
        "reservations.csv",
        "loyalty.jsonl",
        "callcenter.csv",
        "airport.csv",
        "finance.csv",
        "marketing.csv",
        "web.jsonl",
    ]
    .into_iter()
    .map(|f| (f, rows(&demo().join(f))))
    .collect();
    let load = |file: &str| -> &Vec<Line> { &files[file] };
    for s in stories {
        let id = s["id"].as_str().unwrap();
        // Every key is found in its source's key column.
        for k in s["keys"].as_array().unwrap() {
            let file = match k["source"].as_str().unwrap() {
                "reservations" => "reservations.csv",
                "loyalty" => "loyalty.jsonl",
                "callcenter" => "callcenter.csv",
                "finance" => "finance.csv",
                "marketing" => "marketing.csv",
                "web" => "web.jsonl",
                other => panic!("{id}: unexpected source {other}"),
            };
            let (field, key) = (k["field"].as_str().unwrap(), k["key"].as_str().unwrap());
            assert!(
                load(file)
                    .iter()
                    .any(|r| r.fields.get(field).is_some_and(|v| v == key)),
                "{id}: key {field}={key} not found in {file}"
            );
        }
        // Every evidence row is on its line with these values.
        for e in s["evidence"].as_array().unwrap() {
            let file = e["file"].as_str().unwrap();
            let line = e["line"].as_u64().unwrap();
            let row = load(file)
                .iter()
                .find(|r| r.line == line)
                .unwrap_or_else(|| panic!("{id}: {file} line {line} is not a readable row"));
            for (f, v) in e["fields"].as_object().unwrap() {
                assert_eq!(
                    row.fields.get(f).map(String::as_str),
                    v.as_str(),
                    "{id}: {file} line {line} field {f}"
                );
            }
        }
    }
}

fn story<'a>(stories: &'a Value, id: &str) -> &'a Value {
    stories["stories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

fn key(s: &Value, source: &str, field: &str) -> Vec<String> {
    s["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["source"] == source && k["field"] == field)
        .map(|k| k["key"].as_str().unwrap().to_owned())
        .collect()
}

fn get<'a>(r: &'a Line, f: &str) -> &'a str {
    r.fields.get(f).map_or("", String::as_str)
}

/// Days since 1970-01-01 of `YYYY-MM-DD`, `DD/MM/YYYY` or `YYYYMMDD`.
fn day(s: &str) -> i64 {
    let (y, m, d): (i64, i64, i64) = if s.len() == 8 {
        (
            s[..4].parse().unwrap(),
            s[4..6].parse().unwrap(),
            s[6..8].parse().unwrap(),
        )
    } else if s.as_bytes()[2] == b'/' {
        (
            s[6..10].parse().unwrap(),
            s[3..5].parse().unwrap(),
            s[..2].parse().unwrap(),
        )
    } else {
        (
            s[..4].parse().unwrap(),
            s[5..7].parse().unwrap(),
            s[8..10].parse().unwrap(),
        )
    };
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

#[test]
fn story_facts_hold_in_the_demo() {
    let stories: Value =
        serde_json::from_slice(&std::fs::read(demo().join("truth/stories.json")).unwrap()).unwrap();
    let as_of = stories["as_of"].as_str().unwrap().to_owned();
    let today = day(&as_of);
    let airport = rows(&demo().join("airport.csv"));
    let calls = rows(&demo().join("callcenter.csv"));
    let res = rows(&demo().join("reservations.csv"));
    let fin = rows(&demo().join("finance.csv"));
    let loy = rows(&demo().join("loyalty.jsonl"));

    // Bumped today: denied boarding at C12, a voucher by J. Smith, no call-center voucher yet.
    let comp = airport
        .iter()
        .find(|r| {
            get(r, "event") == "compensation_granted"
                && get(r, "flight_date") == as_of
                && get(r, "gate") == "C12"
                && get(r, "agent") == "J. Smith"
                && get(r, "compensation_instrument") == "voucher"
        })
        .expect("gate voucher at C12 by J. Smith today");
    let dref = get(comp, "disruption_ref");
    assert!(dref.ends_with(&format!("/{as_of}")), "{dref}");
    assert!(airport.iter().any(|r| get(r, "event") == "denied_boarding"
        && get(r, "booking_ref") == get(comp, "booking_ref")
        && get(r, "flight_date") == as_of));
    assert!(
        !calls
            .iter()
            .any(|r| get(r, "disruption_ref") == dref
                && !get(r, "compensation_instrument").is_empty()),
        "the call-center voucher must not exist yet"
    );

    // Lost bag last trip, boarding today, high value.
    let s = story(&stories, "lost_bag_boarding_today");
    assert_eq!(s["value_class"], "A");
    let name = airport
        .iter()
        .find(|r| {
            get(r, "event") == "bag_lost"
                && get(r, "passenger_name").starts_with("LINDQVIST/HENRIK")
        })
        .expect("Henrik's lost bag");
    let lost_booking = get(name, "booking_ref").to_owned();
    let name = get(name, "passenger_name").to_owned();
    // The lost bag was on his last trip: his latest flight flown before today.
    let last_flown = airport
        .iter()
        .filter(|r| {
            get(r, "passenger_name") == name
                && get(r, "event") == "flown"
                && day(get(r, "flight_date")) < today
        })
        .max_by_key(|r| get(r, "local_time").to_owned())
        .expect("flights before today");
    assert_eq!(get(last_flown, "booking_ref"), lost_booking);
    assert!(airport.iter().any(|r| get(r, "passenger_name") == name
        && get(r, "event") == "checked_in"
        && get(r, "flight_date") == as_of
        && !get(r, "bag_tag").is_empty()));

    // Delayed 14 hours yesterday, flying today.
    let delay = airport
        .iter()
        .find(|r| {
            get(r, "event") == "delay"
                && get(r, "passenger_name").starts_with("FERNANDEZ/LUCIA")
                && day(get(r, "flight_date")) == today - 1
        })
        .expect("yesterday's delay");
    assert!(get(delay, "delay_minutes").parse::<i64>().unwrap() >= 14 * 60);
    assert!(
        airport
            .iter()
            .any(|r| get(r, "passenger_name") == get(delay, "passenger_name")
                && get(r, "event") == "checked_in"
                && get(r, "flight_date") == as_of)
    );

    // High-value customer with more than one complaint in the last year.
    let s = story(&stories, "valuable_complainer");
    assert_eq!(s["value_class"], "A");
    let callers = key(s, "callcenter", "caller_id");
    let complaints = calls
        .iter()
        .filter(|r| {
            callers.iter().any(|c| c == get(r, "caller_id"))
                && get(r, "contact_type") == "complaint"
                && day(&get(r, "started_at")[..10]) > today - 365
        })
        .count();
    assert!(complaints >= 2, "{complaints} complaints");

    // Last year's largest corporate account ordered half or less this year.
    let s = story(&stories, "corporate_halved");
    let code = &key(s, "finance", "account_code")[0];
    let revenue = |acct: &str, from: i64, to: i64| -> i64 {
        fin.iter()
            .filter(|r| {
                get(r, "account_code") == acct
                    && matches!(get(r, "entry_type"), "revenue" | "refund")
                    && (from..to).contains(&day(get(r, "posted_on")))
            })
            .map(|r| get(r, "amount_minor").parse::<i64>().unwrap())
            .sum()
    };
    let this_year = revenue(code, today - 364, today + 1);
    let last_year = revenue(code, today - 729, today - 364);
    assert!(
        last_year > 0 && this_year * 100 <= last_year * 50,
        "{this_year} vs {last_year}"
    );
    assert!(
        res.iter()
            .any(|r| get(r, "corporate_account") == key(s, "reservations", "corporate_account")[0])
    );

    // Buys only one product.
    let s = story(&stories, "single_product");
    let profile = &key(s, "reservations", "profile_id")[0];
    let mine: Vec<&Line> = res
        .iter()
        .filter(|r| get(r, "profile_id") == profile)
        .collect();
    assert!(mine.len() >= 5);
    assert!(mine.iter().all(|r| get(r, "product") == "flight"));

    // Valuable customer lost: bookings before, none in the last twelve months.
    let s = story(&stories, "lost_valuable");
    assert_eq!(s["value_class"], "A");
    let profile = &key(s, "reservations", "profile_id")[0];
    let booked: Vec<i64> = res
        .iter()
        .filter(|r| get(r, "profile_id") == profile)
        .map(|r| day(&get(r, "booked_at")[..10]))
        .collect();
    assert!(booked.iter().any(|d| *d <= today - 365 && *d > today - 730));
    assert!(booked.iter().all(|d| *d <= today - 365));

    // Referral chain: second referred by first, third by second.
    let s = story(&stories, "referral_chain");
    let members = key(s, "loyalty", "member_number");
    assert_eq!(members.len(), 3);
    for k in 1..3 {
        assert!(
            loy.iter().any(|r| get(r, "member_number") == members[k]
                && get(r, "referred_by") == members[k - 1])
        );
    }

    // Household across two sources.
    let s = story(&stories, "household");
    let members = key(s, "loyalty", "member_number");
    let households: BTreeSet<&str> = loy
        .iter()
        .filter(|r| members.iter().any(|m| m == get(r, "member_number")))
        .map(|r| get(r, "household_id"))
        .collect();
    assert_eq!(households.len(), 1);
    assert!(!households.iter().next().unwrap().is_empty());
    let profiles = key(s, "reservations", "profile_id");
    let refs = |p: &str| -> BTreeSet<String> {
        res.iter()
            .filter(|r| get(r, "profile_id") == p)
            .map(|r| get(r, "booking_ref").to_owned())
            .collect()
    };
    assert!(refs(&profiles[0]).intersection(&refs(&profiles[1])).count() >= 1);

    // Hostile name: the escape sequences are in the raw reservation bytes.
    let raw = std::fs::read(demo().join("reservations.csv")).unwrap();
    assert!(raw.windows(4).any(|w| w == b"\x1b[2J"));
    assert!(raw.windows(4).any(|w| w == b"\x1b]0;"));
    assert!(raw.contains(&0x07));

    // Moved: same profile, two cities over time.
    let s = story(&stories, "moved");
    let profile = &key(s, "reservations", "profile_id")[0];
    let cities: BTreeSet<&str> = res
        .iter()
        .filter(|r| get(r, "profile_id") == profile)
        .map(|r| get(r, "city"))
        .collect();
    assert!(
        cities.contains("Manchester") && cities.contains("Leeds"),
        "{cities:?}"
    );
}

#[test]
fn bad_rows_are_where_the_truth_says_and_nowhere_else() {
    let bad = truth_csv("bad_rows.csv");
    let reasons: BTreeSet<&str> = bad.iter().map(|b| b["reason"].as_str()).collect();
    for r in [
        "wrong_column_count",
        "impossible_date",
        "date_not_in_declared_format",
        "malformed_phone",
        "non_utf8",
        "invalid_json",
        "wrong_type",
        "truncated_last_line",
    ] {
        assert!(reasons.contains(r), "no bad row of kind {r} in the demo");
    }
    let m = manifest(&demo());
    for src in m["sources"].as_array().unwrap() {
        let file = src["file"].as_str().unwrap();
        let bytes = std::fs::read(demo().join(file)).unwrap();
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let ends_with_newline = bytes.ends_with(b"\n");
        if ends_with_newline {
            lines.pop();
        }
        let header_cols = if file.ends_with(".csv") {
            Some(lines[0].split(|b| *b == b',').count())
        } else {
            None
        };
        let listed: BTreeMap<u64, &str> = bad
            .iter()
            .filter(|b| b["file"] == file)
            .map(|b| (b["line"].parse().unwrap(), b["reason"].as_str()))
            .collect();
        let data_lines = lines.len() as u64 - u64::from(header_cols.is_some());
        assert_eq!(
            data_lines,
            src["rows"].as_u64().unwrap(),
            "{file} row count"
        );
        for (k, line) in lines.iter().enumerate() {
            let n = k as u64 + 1;
            if header_cols.is_some() && n == 1 {
                continue;
            }
            let utf8 = std::str::from_utf8(line).is_ok();
            let parses = match header_cols {
                Some(cols) => {
                    let mut r = csv::ReaderBuilder::new()
                        .has_headers(false)
                        .flexible(true)
                        .from_reader(*line);
                    r.byte_records()
                        .next()
                        .and_then(Result::ok)
                        .is_some_and(|rec| rec.len() == cols)
                }
                None => serde_json::from_slice::<Value>(line).is_ok(),
            };
            match listed.get(&n) {
                Some(&"non_utf8") => assert!(!utf8, "{file}:{n} should not be UTF-8"),
                Some(&"wrong_column_count") | Some(&"invalid_json") => {
                    assert!(!parses, "{file}:{n} should not parse")
                }
                Some(&"truncated_last_line") => {
                    assert_eq!(
                        n as usize,
                        lines.len(),
                        "{file}: truncation is the last line"
                    );
                    assert!(!ends_with_newline && !parses, "{file}:{n} should be cut");
                }
                Some(_) => assert!(utf8 && parses, "{file}:{n} is damaged in one field only"),
                None => assert!(utf8 && parses, "{file}:{n} is damaged but not listed"),
            }
        }
    }
}

#[test]
fn identities_cover_every_key_in_the_demo() {
    let ids = truth_csv("identities.csv");
    let known: BTreeSet<(String, String, String)> = ids
        .iter()
        .map(|r| {
            (
                r["source"].clone(),
                r["key_field"].clone(),
                r["source_key"].clone(),
            )
        })
        .collect();
    let entities: BTreeSet<&str> = ids.iter().map(|r| r["entity_id"].as_str()).collect();
    let customers = truth_csv("customers.csv");
    assert!(customers.len() >= 2000);
    for c in &customers {
        assert!(
            entities.contains(c["entity_id"].as_str()) || c["trips"] == "0",
            "{} has no source key",
            c["entity_id"]
        );
    }
    for (source, file, field) in [
        ("reservations", "reservations.csv", "profile_id"),
        ("loyalty", "loyalty.jsonl", "member_number"),
        ("callcenter", "callcenter.csv", "caller_id"),
        ("finance", "finance.csv", "account_code"),
        ("marketing", "marketing.csv", "contact_id"),
        ("web", "web.jsonl", "user_id"),
    ] {
        for r in rows(&demo().join(file)) {
            let k = get(&r, field).to_owned();
            assert!(
                known.contains(&(source.into(), field.into(), k.clone())),
                "{file}:{} key {k} is not in truth/identities.csv",
                r.line
            );
        }
    }
    for r in rows(&demo().join("airport.csv")) {
        let k = format!("{}|{}", get(&r, "booking_ref"), get(&r, "passenger_name"));
        assert!(
            known.contains(&(
                "airport".into(),
                "booking_ref+passenger_name".into(),
                k.clone()
            )),
            "airport.csv:{} key {k} is not in truth/identities.csv",
            r.line
        );
    }
    // The same person under different keys in different sources.
    let mut per_entity: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &ids {
        per_entity
            .entry(r["entity_id"].as_str())
            .or_default()
            .insert(r["source"].as_str());
    }
    assert!(per_entity.values().filter(|s| s.len() >= 4).count() > 500);
}

#[test]
fn generate_rejects_bad_arguments() {
    let dir = Dir::new();
    let out = dir.path().join("w");
    let o = dir.run(&[
        "fixtures",
        "generate",
        "--customers",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("customers must be between"));
    let o = dir.run(&[
        "fixtures",
        "generate",
        "--as-of",
        "2026-02-30",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("2026-02-30"));
}

#[test]
fn demo_doc_names_the_committed_keys() {
    let doc = std::fs::read_to_string(Dir::root().join("docs/demo.md")).unwrap();
    let stories = std::fs::read_to_string(demo().join("truth/stories.json")).unwrap();
    let start = doc.find("## Planted stories").unwrap();
    let end = doc.find("## Planted effects").unwrap();
    let mut checked = 0;
    for (k, tok) in doc[start..end].split('`').enumerate() {
        let keyish = ["P", "FF", "CLR", "CA", "CORP-", "HH", "RP"]
            .iter()
            .any(|p| {
                tok.strip_prefix(p)
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            });
        if k % 2 == 1 && keyish && !tok.contains(' ') {
            assert!(
                stories.contains(tok),
                "docs/demo.md names {tok}, not in stories.json"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} keys checked");
}
