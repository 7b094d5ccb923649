//! End-to-end tests: `rapport audit` and `rapport policy` with the real binary.

use rapport_core::{Customer, PartyKind, Sourced, Timestamp};
use rapport_governance::audit::AuditEntry;
use rapport_service::governance_ops::AUDIT;
use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};

use crate::util::Dir;

#[test]
fn commands_are_audited_and_verify_finds_an_entry_changed_in_the_file() {
    let d = Dir::new();
    d.init();
    let id = {
        let store = Store::open(&d.db()).unwrap();
        let t = Timestamp::now();
        let id = store.next_customer_id().unwrap();
        let mut c = Customer::new(id, PartyKind::Person, t);
        c.profile.display_name = Some(Sourced::new("Ada Lovelace".to_string(), None, t));
        let mut batch = Batch::default();
        batch.put_customer(&c, vec![IndexKey::new(IndexKind::NameToken, "lovelace")]);
        store.write(batch, Durability::Durable).unwrap();
        id.to_string()
    };
    d.ok(&["customer", "show", &id]);
    d.ok(&[
        "log",
        "--customer",
        &id,
        "--kind",
        "note",
        "--text",
        "called",
    ]);

    let out = d.ok(&["audit", "list", "--customer", &id, "--json"]);
    let entries: Vec<AuditEntry> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.origin.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("open-record", "embedded command customer show"),
            ("log-interaction", "embedded command log")
        ]
    );
    assert!(!out.contains("Ada") && !out.contains("called"), "{out}");
    assert!(d.ok(&["audit", "verify"]).contains("holds: 2 entries"));

    // A policy file with a mistake is refused naming the file and line; a good one is the
    // next version, and setting it is audited.
    let standard = d.ok(&["policy", "show"]);
    assert!(
        standard.contains("policy v1: set by standard"),
        "{standard}"
    );
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, standard.replacen("amount = 300", "amount = 10", 1)).unwrap();
    let out = d.run(&["policy", "set", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:") && err.contains("a longer delay must not get less"),
        "{err}"
    );
    let good = d.path().join("good.toml");
    std::fs::write(&good, standard.replacen("amount = 300", "amount = 350", 1)).unwrap();
    assert!(
        d.ok(&["policy", "set", good.to_str().unwrap()])
            .starts_with("policy v2: set by local-admin")
    );
    let history = d.ok(&["policy", "history"]);
    assert!(
        history.contains("policy v2") && history.contains("good.toml"),
        "{history}"
    );
    assert!(d.ok(&["audit", "verify"]).contains("holds: 3 entries"));

    // Someone with the file edits who opened the record: verify says so and exits 1.
    {
        let store = Store::open(&d.db()).unwrap();
        let (key, mut e) = store.docs::<AuditEntry>(AUDIT, "").next().unwrap().unwrap();
        e.operator = "nobody".into();
        let mut b = Batch::default();
        b.put_doc_compact(AUDIT, &key, &e).unwrap();
        store.write(b, Durability::Durable).unwrap();
    }
    let out = d.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("does NOT hold") && text.contains("entry 1 was changed"),
        "{text}"
    );
}
