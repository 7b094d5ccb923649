//! Ingest, quarantine, idempotency, the record and search, on a small two-source world.

use std::path::{Path, PathBuf};

use rapport_core::{ContactKind, CueLevel, InteractionKind, RelationshipKind, Timestamp};
use rapport_repository::cleanse::Reason;
use rapport_repository::ingest::{IngestOptions, ingest_files, ingest_manifest, retry_quarantine};
use rapport_repository::{InteractionFilter, Repository, quarantine};
use rapport_store::Store;

const CRM_MAPPING: &str = r#"
[source]
name = "crm"
format = "csv"
date_formats = ["%d/%m/%Y"]
phone_region = "GB"

[party]
key = "id"
kind = "person"
given_name = "first"
family_name = "last"
birth_date = "dob"
email = "email"
phone = "phone"
street = "street"
locality = "city"
postcode = "postcode"
address_since = "since"
loyalty_number = "ffp"

[[party.relations]]
kind = "household"
column = "partner"
"#;

const CRM: &[u8] = b"id,first,last,dob,email,phone,street,city,postcode,since,ffp,partner
1,Ann,Lee,03/04/1980,ann.lee@example.com,07911 123456,1 High St,Leeds,LS1 1AA,01/01/2015,FF100,2
2,Bob,Lee,12/05/1979,,,1 High St,Leeds,LS1 1AA,,,1
3,Carla,Diaz,12/25/1985,carla@example.com,,,,,,,
4,Dan,Ng,01/02/1990,dan@example.com,12,,,,,,
5,Eve,Park,01/02/1991
6,Fay,K\xffm,01/02/1992,fay@example.com,,,,,,,
1,Ann,Lee,03/04/1980,ann.lee@example.com,07911 123456,5 Low Rd,York,YO1 2BB,01/06/2024,FF100,2
7,Gus,Oak,01/0";

const OPS_MAPPING: &str = r#"
[source]
name = "ops"
format = "jsonl"
currency = "EUR"
phone_region = "GB"

[party]
key = "pax"
kind = "person"
full_name = "name"
phone = "phone"

[[party.cross_refs]]
source = "crm"
column = "crm_id"

[interaction]
key = "event_id"
time = "at"
kind_column = "type"
kind_map = { DLY = "delay", VCH = "compensation_granted", BAG = "bag_lost" }
channel = "airport"
touchpoint = "where"
employee = "agent"
booking_ref = "pnr"

[[interaction.attributes]]
name = "delay_minutes"
column = "minutes"
type = "int"

[compensation]
disruption = "disruption"
disruption_kind = "delay"
instrument = "voucher"
amount = "amount"
"#;

fn ops() -> String {
    [
        r#"{"event_id":"e1","pax":"P1","crm_id":"1","name":"ANN LEE","phone":"+44 7911 123456","at":"2026-11-22T08:00:00Z","type":"DLY","minutes":840,"where":"AMS","pnr":"ABC123"}"#,
        r#"{"event_id":"e2","pax":"P1","crm_id":"1","name":"ANN LEE","at":"2026-11-23T09:58:00Z","type":"VCH","where":"gate C12","agent":"J. Smith","disruption":"RP123/2026-11-22","amount":"250.00"}"#,
        r#"{"event_id":"e3","pax":"P1","crm_id":"1","name":"ANN LEE","at":"2026-11-23T09:59:00Z","type":"VCH","where":"gate C14","agent":"K. Jones","disruption":"RP123/2026-11-22","amount":"250.00"}"#,
        r#"{"event_id":"e4","pax":"P9","name":"Zed Zulu","at":"2026-11-20T09:59:00Z","type":"BAG"}"#,
    ]
    .join("\n")
        + "\n"
}

struct World {
    _dir: tempfile::TempDir,
    manifest: PathBuf,
    crm_mapping: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("crm.toml"), CRM_MAPPING).unwrap();
    std::fs::write(p.join("crm.csv"), CRM).unwrap();
    std::fs::write(p.join("ops.toml"), OPS_MAPPING).unwrap();
    std::fs::write(p.join("ops.jsonl"), ops()).unwrap();
    std::fs::write(
        p.join("ingest.toml"),
        "trust = [\"crm\", \"ops\"]\n[[source]]\nmapping = \"crm.toml\"\nfiles = [\"crm.csv\"]\n[[source]]\nmapping = \"ops.toml\"\nfiles = [\"ops.jsonl\"]\n",
    )
    .unwrap();
    World {
        manifest: p.join("ingest.toml"),
        crm_mapping: p.join("crm.toml"),
        _dir: dir,
    }
}

fn opts() -> IngestOptions {
    IngestOptions {
        now: Timestamp::parse_rfc3339("2026-11-23T10:00:00Z"),
        chunk_rows: 3,
        ..IngestOptions::default()
    }
}

fn reasons(store: &Store) -> Vec<(u64, String, Reason)> {
    let mut v: Vec<_> = quarantine::list(store)
        .unwrap()
        .into_iter()
        .map(|e| (e.line, e.field, e.reason))
        .collect();
    v.sort();
    v
}

#[test]
fn bad_rows_are_quarantined_with_reasons_and_nothing_is_lost() {
    let w = world();
    let store = Store::temporary().unwrap();
    let r = ingest_manifest(&store, &w.manifest, &opts()).unwrap();
    assert_eq!(
        r.rows_read,
        r.rows_stored + r.rows_quarantined + r.rows_known,
        "{r:?}"
    );
    assert_eq!(r.rows_read, 12);
    assert_eq!(
        reasons(&store),
        [
            (4, "dob".into(), Reason::AmbiguousDate),
            (5, "phone".into(), Reason::MalformedPhone),
            (6, "row".into(), Reason::WrongColumnCount),
            (7, "last".into(), Reason::NonUtf8),
            (9, "row".into(), Reason::TruncatedLastLine),
            // The second voucher for the same disruption (ops.jsonl line 3).
            (3, "disruption".into(), Reason::DuplicateGrant),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(r.grants_stored, 1);
    assert_eq!(r.quarantined_by_reason["duplicate_grant"], 1);
    // Ann (crm:1, its later row with a new address, ops:P1) is one customer; Bob, the
    // household partner, another; Zed a third.
    assert_eq!(store.customer_count().unwrap(), 3);
}

#[test]
fn the_same_files_twice_add_nothing() {
    let w = world();
    let store = Store::temporary().unwrap();
    let first = ingest_manifest(&store, &w.manifest, &opts()).unwrap();
    let customers = store.customer_count().unwrap();
    let interactions = store.interaction_count().unwrap();
    let second = ingest_manifest(&store, &w.manifest, &opts()).unwrap();
    assert_eq!(second.rows_read, first.rows_read);
    assert_eq!(second.rows_known, second.rows_read, "{second:?}");
    assert_eq!(second.rows_stored + second.rows_quarantined, 0);
    assert_eq!(store.customer_count().unwrap(), customers);
    assert_eq!(store.interaction_count().unwrap(), interactions);
}

fn ann(store: &Store) -> rapport_core::CustomerRecord {
    let repo = Repository::new(store.clone());
    let hits = repo.search("ann.lee@example.com", 5).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    let filter = InteractionFilter::at(Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap());
    repo.customer_record(hits[0].id, &filter).unwrap().unwrap()
}

#[test]
fn the_record_unifies_sources_with_history_and_cues() {
    let w = world();
    let store = Store::temporary().unwrap();
    ingest_manifest(&store, &w.manifest, &opts()).unwrap();
    let rec = ann(&store);
    let c = &rec.customer;
    assert_eq!(c.display_name(), "Ann Lee");
    assert_eq!(c.identifiers.len(), 2, "{:?}", c.identifiers);
    // The move: Leeds closed, York current.
    let addrs: Vec<_> = c
        .contacts
        .iter()
        .filter(|x| x.kind == ContactKind::Address)
        .collect();
    assert_eq!(addrs.len(), 2);
    assert!(
        addrs
            .iter()
            .any(|a| a.value.contains("LEEDS") && a.valid_to.is_some())
    );
    assert_eq!(c.profile.city.as_ref().unwrap().value, "YORK");
    assert_eq!(
        c.profile.birth_date.as_ref().unwrap().value.to_string(),
        "1980-04-03"
    );
    assert_eq!(c.relationships.len(), 1);
    assert_eq!(c.relationships[0].kind, RelationshipKind::Household);
    assert_eq!(rec.related_names.values().next().unwrap(), "Bob Lee");
    assert_eq!(rec.grants.len(), 1);
    assert_eq!(rec.grants[0].touchpoint, "gate C12");
    assert_eq!(rec.interactions.len(), 2);
    assert_eq!(
        rec.interactions[0].kind,
        InteractionKind::CompensationGranted
    );
    assert_eq!(rec.cues[0].level, CueLevel::Alert);
    assert!(
        rec.cues[0]
            .text
            .contains("2 min ago at gate C12 by J. Smith"),
        "{:?}",
        rec.cues
    );
    assert!(
        rec.cues
            .iter()
            .any(|c| c.text == "delayed 14 h yesterday: apologise"),
        "{:?}",
        rec.cues
    );
}

#[test]
fn search_finds_by_every_handle() {
    let w = world();
    let store = Store::temporary().unwrap();
    ingest_manifest(&store, &w.manifest, &opts()).unwrap();
    let repo = Repository::new(store.clone());
    let id = ann(&store).customer.id;
    for q in [
        "Ann Lee",
        "anne lee",
        "Lee Ann",
        "an",
        "07911 123456",
        "+44 (0)7911-123456",
        "447911123456",
        "ANN.LEE@example.com",
        "FF100",
        "abc123",
        "crm:1",
        "P1",
        &id.to_string(),
    ] {
        let hits = repo.search(q, 5).unwrap();
        assert_eq!(
            hits.first().map(|h| h.id),
            Some(id),
            "query {q:?}: {hits:?}"
        );
    }
    assert!(repo.search("Qwxyz", 5).unwrap().is_empty());
}

#[test]
fn retry_after_fixing_the_mapping_clears_the_quarantine() {
    let w = world();
    let store = Store::temporary().unwrap();
    ingest_files(
        &store,
        &w.crm_mapping,
        &[w.crm_mapping.with_file_name("crm.csv")],
        &opts(),
    )
    .unwrap();
    assert!(reasons(&store).iter().any(|r| r.2 == Reason::AmbiguousDate));
    // The steward learns the crm writes some dates month first... and declares it.
    let fixed = CRM_MAPPING.replace(
        "date_formats = [\"%d/%m/%Y\"]",
        "date_formats = [\"%m/%d/%Y\"]",
    );
    let fixed_path = w.crm_mapping.with_file_name("crm-fixed.toml");
    std::fs::write(&fixed_path, fixed).unwrap();
    let (report, cleared) = retry_quarantine(&store, &fixed_path, &opts()).unwrap();
    assert_eq!(cleared.len(), 1, "{report:?}");
    assert!(!reasons(&store).iter().any(|r| r.2 == Reason::AmbiguousDate));
    let repo = Repository::new(store.clone());
    assert_eq!(repo.search("carla@example.com", 1).unwrap().len(), 1);
}

#[test]
fn a_file_without_the_mapped_columns_is_a_clear_error() {
    let w = world();
    let store = Store::temporary().unwrap();
    let bad = w.crm_mapping.with_file_name("other.csv");
    std::fs::write(&bad, "id,name\n1,x\n").unwrap();
    let err = ingest_files(&store, &w.crm_mapping, &[bad], &opts()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("other.csv:1: first: column `first`"), "{msg}");
    let missing = ingest_files(
        &store,
        &w.crm_mapping,
        &[Path::new("/nonexistent.csv").into()],
        &opts(),
    )
    .unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent.csv"),
        "{missing}"
    );
}

/// Hundreds of customers share each of the query's names: the one customer with both is
/// found, also when typed in the other order, half typed or with a typo (each name alone
/// would bring more customers than a search reads).
#[test]
fn a_full_name_is_found_among_many_namesakes_of_each_part() {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ra", "te", "vu", "no", "be", "si", "da", "fe", "gu", "ho", "ji", "pe",
        "qu", "wo", "xe", "yo", "zu",
    ];
    let made_up = |i: usize| {
        let s = format!(
            "{}{}{}",
            SYLLABLES[i % 20],
            SYLLABLES[(i / 20) % 20],
            SYLLABLES[(i / 7 + 3) % 20]
        );
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    let mut csv =
        String::from("id,first,last,dob,email,phone,street,city,postcode,since,ffp,partner\n");
    for i in 0..600 {
        csv.push_str(&format!("m{i},Maria,{},,,,,,,,,\n", made_up(i)));
        csv.push_str(&format!("s{i},{},Silva,,,,,,,,,\n", made_up(i + 1000)));
    }
    csv.push_str("zz,Maria,Silva,,maria.silva@example.com,,,,,,,\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crm.toml"), CRM_MAPPING).unwrap();
    std::fs::write(dir.path().join("crm.csv"), csv).unwrap();
    let store = Store::temporary().unwrap();
    ingest_files(
        &store,
        &dir.path().join("crm.toml"),
        &[dir.path().join("crm.csv")],
        &opts(),
    )
    .unwrap();
    let repo = Repository::new(store.clone());
    let her = repo.search("maria.silva@example.com", 1).unwrap()[0].id;
    for q in [
        "Maria Silva",
        "silva maria",
        "Maria Silv",
        "Mraia Silva",
        "Maria Sylva",
    ] {
        let hits = repo.search(q, 5).unwrap();
        assert_eq!(
            hits.first().map(|h| h.id),
            Some(her),
            "query {q:?}: {hits:?}"
        );
    }
}

/// A first load looks rows up only among those it wrote itself: a row repeated in the same
/// file, chunks later, is still known, and nothing is counted twice.
#[test]
fn a_row_repeated_chunks_later_in_a_first_load_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv =
        String::from("id,first,last,dob,email,phone,street,city,postcode,since,ffp,partner\n");
    let ann = "1,Ann,Lee,03/04/1980,ann.lee@example.com,,,,,,,\n";
    csv.push_str(ann);
    for i in 0..7 {
        csv.push_str(&format!("{},P{i},Q{i},,p{i}@example.com,,,,,,,\n", i + 10));
    }
    csv.push_str(ann);
    std::fs::write(dir.path().join("crm.toml"), CRM_MAPPING).unwrap();
    std::fs::write(dir.path().join("crm.csv"), &csv).unwrap();
    let store = Store::temporary().unwrap();
    let files = [dir.path().join("crm.csv")];
    let report = ingest_files(&store, &dir.path().join("crm.toml"), &files, &opts()).unwrap();
    assert_eq!(
        (report.rows_read, report.rows_stored, report.rows_known),
        (9, 8, 1)
    );
    let again = ingest_files(&store, &dir.path().join("crm.toml"), &files, &opts()).unwrap();
    assert_eq!((again.rows_read, again.rows_known), (9, 9));
}

#[test]
fn a_record_names_its_first_related_customers_and_shows_the_rest_by_id() {
    use rapport_core::{Customer, CustomerId, PartyKind, Relationship, Sourced};
    use rapport_repository::record::RELATED_NAMES;
    use rapport_store::{Batch, Durability};
    let store = Store::temporary().unwrap();
    let now = Timestamp::EPOCH;
    let mut corp = Customer::new(CustomerId(1), PartyKind::Organisation, now);
    corp.profile.display_name = Some(Sourced::new("Acme AB".to_string(), None, now));
    let mut b = Batch::new();
    for i in 0..(RELATED_NAMES as u64 + 8) {
        let id = CustomerId(100 + i);
        let mut p = Customer::new(id, PartyKind::Person, now);
        p.profile.display_name = Some(Sourced::new(format!("Employee{i}"), None, now));
        b.put_customer(&p, vec![]);
        corp.relationships.push(Relationship {
            kind: RelationshipKind::Employs,
            other: id,
            since: None,
            source: None,
        });
    }
    b.put_customer(&corp, vec![]);
    store.write(b, Durability::Durable).unwrap();
    let rec = Repository::new(store)
        .customer_record(CustomerId(1), &InteractionFilter::default())
        .unwrap()
        .unwrap();
    assert_eq!(rec.customer.relationships.len(), RELATED_NAMES + 8);
    assert_eq!(rec.related_names.len(), RELATED_NAMES);
    assert_eq!(rec.related_names[&CustomerId(100)], "Employee0");
    assert!(
        !rec.related_names
            .contains_key(&CustomerId(100 + RELATED_NAMES as u64))
    );
}

#[test]
fn customers_marked_unbuilt_by_an_interrupted_run_are_rebuilt_by_the_next() {
    let w = world();
    let store = Store::temporary().unwrap();
    ingest_manifest(&store, &w.manifest, &opts()).unwrap();
    let before = ann(&store);
    let id = before.customer.id;
    let sources: Vec<String> = before
        .customer
        .identifiers
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert!(sources.len() >= 2, "{sources:?}");
    // What a run killed before its chunk's rebuild leaves: records stored, golden record and
    // index entries stale (here: none at all), markers naming the customers. One marker in
    // the form of earlier releases (one customer, keyed by its id), one of a write batch.
    let stale =
        rapport_core::Customer::new(id, rapport_core::PartyKind::Person, before.customer.created);
    let mut b = rapport_store::Batch::new();
    b.put_customer(&stale, Vec::new());
    b.put_doc("ingest_unbuilt", &id.0.to_string(), &sources[..1].to_vec())
        .unwrap();
    let batch_marker: Vec<(u64, Vec<String>)> = vec![(id.0, sources[1..].to_vec())];
    b.put_doc(
        "ingest_unbuilt",
        "b0000000000000001-0000000000",
        &batch_marker,
    )
    .unwrap();
    store.write(b, rapport_store::Durability::Durable).unwrap();
    let repo = Repository::new(store.clone());
    assert!(repo.search("ann.lee@example.com", 5).unwrap().is_empty());

    let again = ingest_manifest(&store, &w.manifest, &opts()).unwrap();
    assert_eq!(
        again.rows_known,
        again.rows_read - again.rows_quarantined,
        "{again:?}"
    );
    assert_eq!(store.doc_count("ingest_unbuilt").unwrap(), 0);
    let after = ann(&store);
    assert_eq!(after.customer.id, id);
    assert_eq!(after.customer.identifiers, before.customer.identifiers);
    assert_eq!(
        after.customer.profile.loyalty_number,
        before.customer.profile.loyalty_number
    );
}

/// Ingests a source `res` and then a call-center source `calls`, each from its mapping and
/// file; returns the store and the second ingest's report.
fn two_sources(
    res_mapping: &str,
    res: &str,
    calls_mapping: &str,
    calls: &str,
) -> (tempfile::TempDir, Store, rapport_repository::IngestReport) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for (name, text) in [
        ("res.toml", res_mapping),
        ("res.csv", res),
        ("calls.toml", calls_mapping),
        ("calls.csv", calls),
    ] {
        std::fs::write(p.join(name), text).unwrap();
    }
    let store = Store::temporary().unwrap();
    ingest_files(&store, &p.join("res.toml"), &[p.join("res.csv")], &opts()).unwrap();
    let report = ingest_files(
        &store,
        &p.join("calls.toml"),
        &[p.join("calls.csv")],
        &opts(),
    )
    .unwrap();
    (dir, store, report)
}

/// A call center in Britain types a French customer's number as she says it at home
/// (`07281 25832`): no British number, so it is kept as national digits, and it still finds
/// her record under `+33 7281 25832`, in the resolver and in search.
#[test]
fn a_foreign_number_typed_in_its_national_form_finds_its_holder() {
    let (_dir, store, report) = two_sources(
        "[source]\nname = \"res\"\nformat = \"csv\"\nphone_region = \"FR\"\n\n[party]\nkey = \"id\"\nkind = \"person\"\ngiven_name = \"first\"\nfamily_name = \"last\"\nphone = \"phone\"\nlocality = \"city\"\n",
        "id,first,last,phone,city\nP1,Susan,Leroy,+33 7281 25832,Lyon\nP2,Susan,Leroy,+33 6111 22233,Paris\n",
        "[source]\nname = \"calls\"\nformat = \"csv\"\nphone_region = \"GB\"\n\n[party]\nkey = \"caller\"\nkind = \"person\"\nfull_name = \"name\"\nphone = \"phone\"\n",
        "caller,name,phone\nCLR1,Sue Leroy,07281 25832\n",
    );
    assert_eq!(report.rows_stored, 1);
    assert_eq!(report.merges, 1, "{report:?}");
    let repo = Repository::new(store.clone());
    let owner = |q: &str| {
        let hits = repo.search(q, 5).unwrap();
        assert_eq!(hits.len(), 1, "query {q:?}: {hits:?}");
        hits[0].id
    };
    // Two Susan Leroys: the number tells them apart.
    assert_eq!(owner("calls:CLR1"), owner("res:P1"));
    assert_ne!(owner("res:P1"), owner("res:P2"));
    // The number as typed at the call center finds her too.
    assert_eq!(owner("07281 25832"), owner("res:P1"));
    // Her golden record shows only the number it could read.
    let record = repo
        .customer_record(owner("res:P1"), &InteractionFilter::default())
        .unwrap()
        .unwrap();
    let phones: Vec<&str> = record
        .customer
        .contacts
        .iter()
        .filter(|c| c.kind == ContactKind::Phone)
        .map(|c| c.value.as_str())
        .collect();
    assert_eq!(phones, ["+33728125832"]);
}

/// A caller first gives a misspelt name and nothing else (a customer of their own), and on the
/// next call their e-mail: the record now attaches to the customer with that e-mail, so its
/// customer is merged into that one at the end of the run, calls and all.
#[test]
fn a_record_that_learns_its_identifier_later_joins_its_customer() {
    let (_dir, store, report) = two_sources(
        "[source]\nname = \"res\"\nformat = \"csv\"\n\n[party]\nkey = \"id\"\nkind = \"person\"\ngiven_name = \"first\"\nfamily_name = \"last\"\nemail = \"email\"\n",
        "id,first,last,email\nP1,Victoria,Fischer,fischer.v@example.com\n",
        "[source]\nname = \"calls\"\nformat = \"csv\"\ndatetime_formats = [\"%Y-%m-%d %H:%M\"]\n\n[party]\nkey = \"caller\"\nkind = \"person\"\nfull_name = \"name\"\nemail = \"email\"\n\n[interaction]\nkey = \"contact\"\ntime = \"at\"\nkind = \"inquiry\"\nchannel = \"call_center\"\n",
        "contact,caller,at,name,email\nK1,CLR1,2025-01-02 10:00,Vicctoria Ficsher,\nK2,CLR1,2025-03-04 11:00,victoria fischer,fischer.v@example.com\n",
    );
    assert_eq!(report.customers_created, 1, "{report:?}");
    assert_eq!(report.customers_merged, 1, "{report:?}");
    let repo = Repository::new(store.clone());
    let hits = repo.search("calls:CLR1", 5).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(repo.search("res:P1", 5).unwrap()[0].id, hits[0].id);
    let record = repo
        .customer_record(hits[0].id, &InteractionFilter::default())
        .unwrap()
        .unwrap();
    assert_eq!(record.interactions.len(), 2);
    // The merge keeps its evidence: the e-mail the second call gave.
    let explained = rapport_repository::merge::explain(&store, "calls:CLR1").unwrap();
    let text = format!("{explained:?}");
    assert!(text.contains("fischer.v@example.com"), "{text}");
}

/// A gate voucher row says only "compensation" with the mapping's fallback kind (delay); the
/// disruption on record it names was a denied boarding for that passenger, and the grant
/// says so.
#[test]
fn a_grant_takes_its_kind_from_the_disruption_on_record() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let mapping = OPS_MAPPING.replace(
        "kind_map = { DLY = \"delay\", VCH = \"compensation_granted\", BAG = \"bag_lost\" }",
        "kind_map = { DLY = \"delay\", VCH = \"compensation_granted\", BAG = \"bag_lost\", DNB = \"denied_boarding\" }",
    ) + "\n[[interaction.attributes]]\nname = \"flight\"\ncolumn = \"flight\"\n\n[[interaction.attributes]]\nname = \"flight_date\"\ncolumn = \"flight_date\"\n";
    // Appended attribute tables must follow [interaction]: put them before [compensation].
    let (head, comp) = mapping.split_once("[compensation]").unwrap();
    let (comp, extra) = comp.split_once("\n[[interaction.attributes]]").unwrap();
    let mapping = format!("{head}[[interaction.attributes]]{extra}\n[compensation]{comp}\n");
    std::fs::write(p.join("ops.toml"), mapping).unwrap();
    std::fs::write(
        p.join("ops.jsonl"),
        [
            r#"{"event_id":"d1","pax":"P1","name":"ANN LEE","at":"2026-11-23T06:00:00Z","type":"DNB","flight":"RP121","flight_date":"2026-11-23","where":"C12"}"#,
            r#"{"event_id":"v1","pax":"P1","name":"ANN LEE","at":"2026-11-23T06:10:00Z","type":"VCH","where":"C12","agent":"J. Smith","disruption":"rp121 23.11.2026","amount":"400.00"}"#,
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let store = Store::temporary().unwrap();
    let r = ingest_files(&store, &p.join("ops.toml"), &[p.join("ops.jsonl")], &opts()).unwrap();
    assert_eq!(r.grants_stored, 1, "{r:?}");
    let customer = store
        .customer_ids(rapport_core::CustomerId(0), None)
        .next()
        .unwrap()
        .unwrap();
    let grants = store.grants_of(customer).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].disruption, "RP121/2026-11-23");
    assert_eq!(grants[0].kind, rapport_core::DisruptionKind::DeniedBoarding);
}

/// A store written before rows seen were kept in pages has one `rows` document per row: the
/// next ingest moves them into pages and still knows every row (a file ingested again stores
/// nothing; a changed row replaces its interaction).
#[test]
fn rows_kept_one_document_each_move_into_pages_at_the_next_ingest() {
    use rapport_repository::ingest::{ROW_PAGES, RowSeen, row_seen, rows_seen, rows_seen_count};
    use rapport_repository::quarantine::Fnv;
    use rapport_store::{Batch, Durability};

    let w = world();
    let store = Store::temporary().unwrap();
    let first = ingest_manifest(&store, &w.manifest, &opts()).unwrap();
    assert!(first.rows_stored > 0);
    // Every row key of the world: party rows by their key and bytes, events by their key.
    let mut keys = Vec::new();
    for line in CRM.split(|b| *b == b'\n').skip(1) {
        let id = String::from_utf8_lossy(line.split(|b| *b == b',').next().unwrap()).to_string();
        keys.push(format!("crm:p:{id}#{:016x}", Fnv::hash(line)));
    }
    for n in 1..=4 {
        keys.push(format!("ops:i:e{n}"));
    }
    let known: Vec<(String, RowSeen)> = keys
        .iter()
        .filter_map(|k| row_seen(&store, k).unwrap().map(|s| (k.clone(), s)))
        .collect();
    assert_eq!(known.len() as u64, first.rows_stored, "{known:?}");
    assert_eq!(rows_seen_count(&store).unwrap(), first.rows_stored);
    let before = rows_seen(&store).unwrap();

    // The same store as the release before the pages wrote it: one document per row.
    let mut b = Batch::default();
    for (k, s) in &known {
        b.put_doc_compact("rows", k, s).unwrap();
    }
    for doc in store.docs::<Vec<u8>>(ROW_PAGES, "") {
        b.remove_doc(ROW_PAGES, &doc.unwrap().0);
    }
    for doc in store.docs::<serde_json::Value>("repository_meta", "row_pages/") {
        b.remove_doc("repository_meta", &doc.unwrap().0);
    }
    store.write(b, Durability::Durable).unwrap();
    assert_eq!(store.doc_count(ROW_PAGES).unwrap(), 0);
    assert_eq!(rows_seen_count(&store).unwrap(), first.rows_stored);
    assert_eq!(rows_seen(&store).unwrap(), before);

    // The same files again: every row known, nothing stored, the documents now in pages.
    let interactions = store.interaction_count().unwrap();
    let again = ingest_manifest(&store, &w.manifest, &opts()).unwrap();
    assert_eq!(again.rows_known, again.rows_read, "{again:?}");
    assert_eq!(again.rows_stored + again.rows_quarantined, 0);
    assert_eq!(store.doc_count("rows").unwrap(), 0);
    assert!(store.doc_count(ROW_PAGES).unwrap() > 0);
    assert_eq!(rows_seen(&store).unwrap(), before);
    assert_eq!(store.interaction_count().unwrap(), interactions);

    // A changed row replaces its interaction: one interaction still, under a new id.
    let old = row_seen(&store, "ops:i:e4").unwrap().unwrap();
    let changed = ops().replace("2026-11-20T09:59:00Z", "2026-11-20T10:05:00Z");
    let path = w.manifest.with_file_name("ops-changed.jsonl");
    std::fs::write(&path, changed).unwrap();
    let r = ingest_files(
        &store,
        &w.manifest.with_file_name("ops.toml"),
        &[path],
        &opts(),
    )
    .unwrap();
    // The second voucher of the file (e3) is refused again, from this file's path.
    assert_eq!(
        (r.rows_stored, r.rows_known, r.rows_quarantined),
        (1, 2, 1),
        "{r:?}"
    );
    assert_eq!(store.interaction_count().unwrap(), interactions);
    let new = row_seen(&store, "ops:i:e4").unwrap().unwrap();
    assert_ne!(new.hash, old.hash);
    let (c, _, id) = new.interaction.unwrap();
    assert_ne!(Some(id), old.interaction.map(|i| i.2));
    assert_eq!(
        store
            .interactions_of(c)
            .filter(|i| i.as_ref().unwrap().id == id)
            .count(),
        1
    );
    assert_eq!(rows_seen_count(&store).unwrap(), first.rows_stored);
}
