//! The row parser and the normalisers never panic, whatever the bytes: every input ends as a
//! value, a row problem (quarantine) or a clear error.

use std::path::Path;

use proptest::prelude::*;
use rapport_core::{Currency, Timestamp};
use rapport_repository::cleanse;
use rapport_repository::extract::{Context, Plan};
use rapport_repository::mapping::Mapping;
use rapport_repository::read;

const CSV_MAPPING: &str = r#"
[source]
name = "p"
format = "csv"
date_formats = ["%d/%m/%Y", "%m/%d/%Y", "%Y%m%d"]
datetime_formats = ["%d/%m/%Y %H:%M", "epoch_ms"]
time_zone_column = "tz"
decimal_separator = "auto"
currency_column = "cur"
phone_region_column = "country"

[party]
key = ["id", "name"]
kind_column = "kind"
kind_map = { "P*" = "person", "O*" = "organisation" }
full_name = "name"
full_name_format = "auto"
birth_date = "dob"
email = "email"
phone = "phone"
country = "country"

[[party.relations]]
kind = "household"
column = "hh"
group = true

[interaction]
key = "row"
time = "at"
kind = "purchase"
channel = "web"

[[interaction.amounts]]
role = "revenue"
column = "amount"

[[interaction.attributes]]
name = "n"
column = "n"
type = "int"

[compensation]
when_column = "amount"
disruption = "hh"
disruption_kind = "delay"
instrument = "voucher"
amount = "amount"
"#;

fn plan(format: &str) -> Plan {
    let text = CSV_MAPPING.replace("format = \"csv\"", &format!("format = \"{format}\""));
    Plan::new(Mapping::from_toml_str(&text, Path::new("p.toml")).unwrap())
}

const HEADER: &str = "id,name,kind,dob,email,phone,country,hh,row,at,amount,n,tz,cur\n";

fn ctx() -> Context {
    Context {
        shift_days: 3,
        shift_millis: 3 * 86_400_000,
        now: Timestamp::from_secs(1_800_000_000),
    }
}

/// Rows as read whole and as read in parts of `part` bytes: (line, raw bytes, values or reason).
type Seen = Vec<(u64, Vec<u8>, Result<Vec<String>, cleanse::Reason>)>;

fn whole_and_parts(p: &Plan, name: &str, bytes: &[u8], part: usize) -> (Seen, Seen) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let flat = |rows: Vec<read::RawRow>| -> Seen {
        rows.into_iter()
            .map(|r| (r.line, r.raw, r.values.map_err(|e| e.problem.reason)))
            .collect()
    };
    let whole = flat(
        read::read_bytes(bytes, &path, &p.mapping, &p.columns)
            .unwrap()
            .rows,
    );
    let mut parts = Vec::new();
    read::read_file_parts(&path, &p.mapping, &p.columns, part, |f, _| {
        parts.extend(flat(f.rows));
        Ok(())
    })
    .unwrap();
    (whole, parts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_csv_file_read_in_parts_gives_the_rows_of_the_whole(
        lines in proptest::collection::vec("[a-z0-9 ,\"\n\u{e9}]{0,30}", 0..12),
        part in 1usize..64,
    ) {
        let p = plan("csv");
        let text = format!("{HEADER}{}", lines.join("\n"));
        let (whole, parts) = whole_and_parts(&p, "x.csv", text.as_bytes(), part);
        prop_assert_eq!(whole, parts);
    }

    #[test]
    fn a_jsonl_file_read_in_parts_gives_the_rows_of_the_whole(
        lines in proptest::collection::vec("[a-z0-9{}:,\" \n]{0,30}", 0..12),
        part in 1usize..64,
    ) {
        let p = plan("jsonl");
        let text = lines.join("\n");
        let (whole, parts) = whole_and_parts(&p, "x.jsonl", text.as_bytes(), part);
        prop_assert_eq!(whole, parts);
    }

    #[test]
    fn csv_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let p = plan("csv");
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(&body);
        let file = read::read_bytes(&bytes, Path::new("x.csv"), &p.mapping, &p.columns).unwrap();
        for row in file.rows {
            if let Ok(values) = &row.values {
                let _ = p.extract(values, ctx());
            }
        }
    }

    #[test]
    fn csv_like_rows_never_panic(
        fields in proptest::collection::vec("[ -~éØ\u{1b}\u{202e}]{0,20}", 14),
        cut in 0usize..200,
    ) {
        let p = plan("csv");
        let line = fields.join(",");
        let mut bytes = format!("{HEADER}{line}\n{line}").into_bytes();
        let keep = HEADER.len() + cut.min(bytes.len() - HEADER.len());
        bytes.truncate(keep);
        let file = read::read_bytes(&bytes, Path::new("x.csv"), &p.mapping, &p.columns).unwrap();
        for row in file.rows {
            if let Ok(values) = &row.values {
                let _ = p.extract(values, ctx());
            }
        }
    }

    #[test]
    fn jsonl_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let p = plan("jsonl");
        let file = read::read_bytes(&body, Path::new("x.jsonl"), &p.mapping, &p.columns).unwrap();
        for row in file.rows {
            if let Ok(values) = &row.values {
                let _ = p.extract(values, ctx());
            }
        }
    }

    #[test]
    fn normalisers_never_panic(s in "\\PC{0,40}", region in "[A-Z]{2}") {
        let formats = vec!["%d/%m/%Y".to_string(), "%m/%d/%Y %H:%M".to_string(), "epoch_ms".to_string()];
        let tz = jiff::tz::TimeZone::UTC;
        let _ = cleanse::name(&s);
        let _ = cleanse::name_tokens(&s);
        let _ = cleanse::email(&s);
        let _ = cleanse::phone(&s, cleanse::phone_region(&region));
        let _ = cleanse::phone(&s, None);
        let _ = cleanse::date(&s, &formats);
        let _ = cleanse::datetime(&s, &formats, &formats, &tz);
        let _ = cleanse::amount(&s, ',', Currency::EUR, false);
        let _ = cleanse::amount(&s, '.', Currency::GBP, true);
        let _ = cleanse::int(&s, '.');
        let _ = cleanse::float(&s, ',');
        let _ = cleanse::boolean(&s);
        let _ = cleanse::country(&s);
        let _ = cleanse::decimal_of(&s, 2);
        let _ = cleanse::split_person_name(&s, "pnr");
        let _ = cleanse::split_person_name(&s, "auto");
        let _ = cleanse::fits_shape("%Y-%m-%dT%H:%M:%S%:z", &s);
    }

    #[test]
    fn phone_like_strings_never_panic(s in "[0-9+ ()./-]{0,30}", region in "[A-Z]{2}") {
        if let Ok(Some(e164)) = cleanse::phone(&s, cleanse::phone_region(&region)) {
            prop_assert!(e164.starts_with('+'));
            prop_assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn dates_are_never_guessed(d in 1u8..=12, m in 1u8..=12, y in 1900i16..2100) {
        // Both formats declared and day != month: ambiguous, never one of the two.
        let both = vec!["%d/%m/%Y".to_string(), "%m/%d/%Y".to_string()];
        let text = format!("{d:02}/{m:02}/{y}");
        let r = cleanse::date(&text, &both);
        if d == m {
            prop_assert!(r.is_ok());
        } else {
            prop_assert_eq!(r.unwrap_err().reason, cleanse::Reason::AmbiguousDate);
        }
    }
}

#[test]
fn hostile_mapping_text_is_an_error_not_a_panic() {
    for text in [
        "",
        "[source]",
        "[source]\nname = 1",
        "[[[",
        "[source]\nname=\"a\"\nformat=\"csv\"\n[party]\nkey=[]\nkind=\"person\"",
        "\u{0}\u{1b}[2J",
    ] {
        assert!(
            Mapping::from_toml_str(text, Path::new("h.toml")).is_err(),
            "{text:?}"
        );
    }
}
