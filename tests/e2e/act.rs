//! End-to-end tests: `rapport log` and `rapport prefer`, the front-line actions as commands.

use rapport_core::{Customer, CustomerId, PartyKind, Sourced, Timestamp};
use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};

use crate::util::Dir;

fn one_customer(d: &Dir) -> CustomerId {
    let store = Store::open(&d.db()).unwrap();
    let t = Timestamp::now();
    let id = store.next_customer_id().unwrap();
    let mut c = Customer::new(id, PartyKind::Person, t);
    c.profile.display_name = Some(Sourced::new("Ada Lovelace".to_string(), None, t));
    let mut batch = Batch::default();
    batch.put_customer(&c, vec![IndexKey::new(IndexKind::NameToken, "lovelace")]);
    store.write(batch, Durability::Durable).unwrap();
    id
}

#[test]
fn logged_interactions_and_preferences_are_in_the_record() {
    let d = Dir::new();
    let id = one_customer(&d).to_string();
    let out = d.ok(&[
        "log",
        "--customer",
        &id,
        "--kind",
        "complaint",
        "--channel",
        "call-center",
        "--phase",
        "post",
        "--text",
        "asked for a second voucher",
        "--json",
    ]);
    let logged: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(logged["kind"], "complaint");
    assert_eq!(logged["phase"], "post");

    d.ok(&[
        "prefer",
        "--customer",
        &id,
        "--topic",
        "seat",
        "--value",
        "window",
    ]);
    d.ok(&[
        "prefer",
        "--customer",
        &id,
        "--topic",
        "seat",
        "--value",
        "aisle",
    ]);

    let record: serde_json::Value =
        serde_json::from_str(&d.ok(&["customer", "show", &id, "--json"])).unwrap();
    let kinds: Vec<&str> = record["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"complaint"), "{kinds:?}");
    let prefs = record["customer"]["preferences"].as_array().unwrap();
    assert_eq!(prefs.len(), 2, "both statements are kept as history");
    assert_eq!(prefs.last().unwrap()["value"], "aisle");
}

#[test]
fn a_bad_kind_or_unknown_customer_is_a_clear_error() {
    let d = Dir::new();
    one_customer(&d);
    let out = d.run(&["log", "--customer", "C00000001", "--kind", "\u{1b}[2J"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid interaction kind"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "the error must not echo escape bytes"
    );

    let out = d.run(&[
        "prefer",
        "--customer",
        "C00009999",
        "--topic",
        "seat",
        "--value",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

/// `search` and `customer show` go through the service: against a running server they log in
/// with `RAPPORT_USER`/`RAPPORT_PASSWORD` and the server applies the role (an analyst sees
/// masked contact data).
#[test]
fn search_and_customer_show_work_against_the_server_with_the_role_applied() {
    let d = Dir::new();
    let id = {
        let store = Store::open(&d.db()).unwrap();
        let t = Timestamp::now();
        let id = store.next_customer_id().unwrap();
        let mut c = Customer::new(id, PartyKind::Person, t);
        c.profile.display_name = Some(Sourced::new("Ada Lovelace".to_string(), None, t));
        c.contacts.push(rapport_core::ContactPoint {
            kind: rapport_core::ContactKind::Email,
            value: "ada@example.com".into(),
            valid_from: None,
            valid_to: None,
            source: None,
            last_seen: t,
        });
        let mut batch = Batch::default();
        batch.put_customer(&c, vec![IndexKey::new(IndexKind::NameToken, "lovelace")]);
        store.write(batch, Durability::Durable).unwrap();
        id
    };
    d.add_operator_on(&d.db(), "ann", "analyst", "analyst password 1");
    let (_server, addr) = d.start_server_on(&d.db());

    let as_ann = |args: &[&str]| {
        let out = d
            .cmd()
            .args(["--connect", &addr])
            .args(args)
            .env("RAPPORT_USER", "ann")
            .env("RAPPORT_PASSWORD", "analyst password 1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let hits: serde_json::Value =
        serde_json::from_str(&as_ann(&["search", "lovelace", "--json"])).unwrap();
    assert_eq!(hits[0]["id"], id.0);
    let shown = as_ann(&["customer", "show", &id.to_string(), "--json"]);
    let record: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(record["masked"], true);
    assert!(!shown.contains("ada@example.com"), "{shown}");
}

/// A complaint case from the command line: opened about one of the customer's bookings,
/// listed as open, resolved once (the second resolution is refused naming who closed it).
#[test]
fn a_complaint_is_opened_listed_and_resolved_once_from_the_command_line() {
    let d = Dir::new();
    let id = one_customer(&d);
    {
        let store = Store::open(&d.db()).unwrap();
        let mut i = rapport_core::Interaction::new(
            rapport_core::InteractionId(store.next_interaction_ids(1).unwrap().start),
            id,
            Timestamp::now(),
            rapport_core::Channel::Web,
            rapport_core::InteractionKind::Booking,
        );
        i.attributes.insert(
            "booking_ref".into(),
            rapport_core::AttrValue::Text("K7Q2LM".into()),
        );
        let mut batch = Batch::default();
        batch.put_interaction(&i);
        store.write(batch, Durability::Durable).unwrap();
    }
    let id = id.to_string();
    let out = d.ok(&[
        "complaint",
        "open",
        "--customer",
        &id,
        "--about",
        "k7q2lm",
        "--text",
        "charged twice",
        "--json",
    ]);
    let opened: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(opened["attributes"]["about"]["text"], "K7Q2LM", "{out}");
    let case = opened["id"]
        .as_u64()
        .map(|n| rapport_core::InteractionId(n).to_string());
    let case = case.unwrap_or_else(|| opened["id"].as_str().unwrap().to_string());
    let refused = d.run(&[
        "complaint",
        "open",
        "--customer",
        &id,
        "--about",
        "RP999/2026-11-23",
        "--text",
        "x",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("neither a disruption"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let list = d.ok(&["complaint", "list", "--customer", &id, "--open"]);
    assert!(
        list.contains(&case) && list.contains("about K7Q2LM") && list.contains("[OPEN]"),
        "{list}"
    );
    d.ok(&[
        "complaint",
        "resolve",
        "--customer",
        &id,
        &case,
        "--resolution",
        "refunded the second charge",
    ]);
    assert_eq!(
        d.ok(&["complaint", "list", "--customer", &id, "--open"])
            .trim(),
        "no complaint cases"
    );
    let all = d.ok(&["complaint", "list", "--customer", &id]);
    assert!(
        all.contains("resolved") && all.contains("refunded the second charge"),
        "{all}"
    );
    let again = d.run(&[
        "complaint",
        "resolve",
        "--customer",
        &id,
        &case,
        "--resolution",
        "again",
    ]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already resolved"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
