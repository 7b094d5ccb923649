//! End-to-end tests: store (`init`, `stats`, `export`, `import`, the locked-database message).

use rapport_core::{
    Channel, Customer, CustomerId, Interaction, InteractionId, InteractionKind, PartyKind, Sourced,
    Timestamp,
};
use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};

use crate::util::Dir;

/// Fills the database at `dir` through the library, as ingest would.
fn populate(dir: &Dir) {
    let store = Store::open(&dir.db()).unwrap();
    let mut b = Batch::default();
    for n in 1..=20u64 {
        let now = Timestamp::from_secs(1_700_000_000 + n as i64);
        let mut c = Customer::new(CustomerId(n), PartyKind::Person, now);
        c.profile.display_name = Some(Sourced::new(format!("Customer {n} \u{e9}"), None, now));
        b.put_customer(
            &c,
            vec![
                IndexKey::new(IndexKind::Email, format!("c{n}@example.com")),
                IndexKey::new(IndexKind::NameToken, "customer"),
            ],
        );
        for k in 0..3u64 {
            let mut i = Interaction::new(
                InteractionId(n * 10 + k),
                CustomerId(n),
                now.plus_millis(k as i64 * 60_000),
                Channel::Web,
                InteractionKind::Purchase,
            );
            i.text = Some(format!("order {k}"));
            b.put_interaction(&i);
        }
    }
    b.put_doc("audit", "000001", &("init", 1)).unwrap();
    b.remove_customer(CustomerId(20), Some(CustomerId(1)));
    store.write(b, Durability::Durable).unwrap();
}

#[test]
fn init_creates_an_empty_database_and_stats_reports_it() {
    let dir = Dir::new();
    let out = dir.ok(&["init"]);
    assert!(out.contains("created an empty database"), "{out}");
    let again = dir.ok(&["init"]);
    assert!(again.contains("already exists"), "{again}");
    let stats: serde_json::Value = serde_json::from_str(&dir.ok(&["stats", "--json"])).unwrap();
    assert_eq!(stats["keyspaces"]["customers"], 0);
    assert_eq!(
        stats["schema_version"],
        u64::from(rapport_store::SCHEMA_VERSION)
    );
    assert!(stats["size_on_disk"].as_u64().unwrap() > 0);
    let human = dir.ok(&["stats"]);
    assert!(
        human.contains("customers") && human.contains("size on disk"),
        "{human}"
    );
}

#[test]
fn stats_on_a_missing_database_says_how_to_create_one() {
    let dir = Dir::new();
    let out = dir.run(&["stats"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rapport init"), "{err}");
}

#[test]
fn export_import_export_is_byte_identical() {
    let src = Dir::new();
    populate(&src);
    let file = src.path().join("backup.jsonl");
    let file_arg = file.to_str().unwrap();
    let summary = src.ok(&["export", "--out", file_arg]);
    assert!(summary.contains("exported 19 customers"), "{summary}");

    let dst = Dir::new();
    let imported = dst.ok(&["import", file_arg]);
    assert!(imported.contains("imported 19 customers"), "{imported}");
    let second = dst.run(&["export"]);
    assert!(second.status.success());
    let first = std::fs::read(&file).unwrap();
    assert!(first == second.stdout, "export after import differs");

    let stats: serde_json::Value = serde_json::from_str(&dst.ok(&["stats", "--json"])).unwrap();
    assert_eq!(stats["keyspaces"]["customers"], 19);
    assert_eq!(stats["keyspaces"]["interactions"], 60);
    assert_eq!(stats["keyspaces"]["removed"], 1);
    assert_eq!(stats["collections"]["audit"], 1);

    // A restore never merges into existing data.
    let out = dst.run(&["import", file_arg]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty database"), "{err}");
}

#[test]
fn a_database_held_by_another_process_says_to_use_the_server() {
    let dir = Dir::new();
    dir.ok(&["init"]);
    let _held = Store::open(&dir.db()).unwrap();
    let out = dir.run(&["stats"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another process holds the database"), "{err}");
    assert!(err.contains("rapport serve --db"), "{err}");
    assert!(err.contains("--connect"), "{err}");
}

#[test]
fn a_bad_import_file_names_the_line() {
    let dir = Dir::new();
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"header\":{\"format\":\"rapport-export\",\"version\":1,\"schema\":1}}\nnot json\n",
    )
    .unwrap();
    let out = dir.run(&["import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
}
