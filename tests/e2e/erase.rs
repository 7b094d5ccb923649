//! Erasure (#19 point 5): a customer planted through the product's ingest is erased through a
//! real `rapport serve`; afterwards no file of the database directory, no fresh backup or
//! identities export and nothing the server logged holds the customer's name, e-mail or phone
//! (searched case-insensitively, also in the normalised forms the index used), search by them
//! finds nothing, and the customer's facts (interactions, amounts, dates) remain.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Dir, Server};

const PASSWORD: &str = "correct horse battery";

/// The planted identity, in every form it was typed and indexed.
const NEEDLES: &[&str] = &[
    "zyxquorva",
    "zyxquorva.test@example.org",
    "+447700900461",
    "447700900461",
    "7700900461",
    "7700 900461",
    "zq7xkp",
    "plorbenthia",
];

fn as_admin(d: &Dir, db: &Path, args: &[&str]) -> Output {
    let mut c: Command = d.cmd_on(db);
    c.env("RAPPORT_USER", "admin")
        .env("RAPPORT_PASSWORD", PASSWORD)
        .args(args);
    c.output().expect("run rapport")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `path` (or the file itself) that holds a needle, case-insensitively.
fn holding(path: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            continue;
        }
        let bytes = std::fs::read(&p).unwrap().to_ascii_lowercase();
        for n in NEEDLES {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                found.push(format!("{n:?} in {}", p.display()));
            }
        }
    }
    found
}

/// The sources: the planted passenger books twice (one booking, two flights) and calls the
/// call center, a second passenger books once.
fn write_sources(d: &Dir) -> PathBuf {
    let dir = d.path().join("sources");
    std::fs::create_dir_all(dir.join("mappings")).unwrap();
    let demo = Dir::root().join("fixtures/demo");
    for m in ["reservations.toml", "callcenter.toml"] {
        std::fs::copy(demo.join("mappings").join(m), dir.join("mappings").join(m)).unwrap();
    }
    std::fs::write(
        dir.join("reservations.csv"),
        "record_id,profile_id,title,first_name,last_name,birth_date,email,phone,street,city,\
         postcode,country,loyalty_number,booking_ref,booked_at,booking_method,agent_id,\
         corporate_account,product,flight_number,origin,destination,service_date,cabin,seat,\
         amount,currency,pos_country,status\n\
         R1,P1,Ms,Plorbenthia,Zyxquorva,,Zyxquorva.Test@example.org,+44 7700 900461,\
         3 High Street,London,SW8 3PF,GB,,ZQ7XKP,02/05/2025 09:41,web,,,flight,RP156,LHR,AMS,\
         06/05/2025,economy,28E,279.65,EUR,GB,confirmed\n\
         R2,P1,Ms,Plorbenthia,Zyxquorva,,Zyxquorva.Test@example.org,+44 7700 900461,\
         3 High Street,London,SW8 3PF,GB,,ZQ7XKP,02/05/2025 09:41,web,,,flight,RP428,AMS,LHR,\
         10/05/2025,economy,,120.35,EUR,GB,confirmed\n\
         R3,P2,Mr,John,Smith,,john.smith@example.com,+44 7700 900999,1 Low Road,Leeds,LS1 1AA,\
         GB,,AB12CD,03/05/2025 10:00,web,,,flight,RP100,LHR,CDG,07/05/2025,economy,12A,99.00,\
         EUR,GB,confirmed\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("callcenter.csv"),
        "contact_id,caller_id,started_at,caller_name,phone,email,loyalty_number,booking_ref,\
         contact_type,topic,disruption_ref,resolved_first_contact,compensation_instrument,\
         compensation_amount,compensation_currency,agent,note\n\
         C1,CLR1,2025-05-11 08:07:35,Plorbenthia Zyxquorva,+44 7700 900461,\
         zyxquorva.test@example.org,,ZQ7XKP,complaint,baggage,,N,,,,H. Brown,\
         call back Ms Zyxquorva on 07700 900461\n",
    )
    .unwrap();
    let manifest = dir.join("ingest.toml");
    std::fs::write(
        &manifest,
        "[[source]]\nmapping = \"mappings/reservations.toml\"\nfiles = [\"reservations.csv\"]\n\n\
         [[source]]\nmapping = \"mappings/callcenter.toml\"\nfiles = [\"callcenter.csv\"]\n",
    )
    .unwrap();
    manifest
}

/// The facts of a record that erasure keeps: each interaction's time, kind, channel and
/// amounts.
fn facts(record: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = record["interactions"]
        .as_array()
        .expect("interactions")
        .iter()
        .map(|i| {
            format!(
                "{} {} {} {}",
                i["at"], i["kind"], i["channel"], i["amounts"]
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn an_erased_customer_is_in_no_file_backup_export_or_log_and_its_facts_remain() {
    let d = Dir::new();
    d.init();
    let manifest = write_sources(&d);
    let report: serde_json::Value =
        serde_json::from_str(&d.ok(&["ingest", manifest.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(report["rows_quarantined"], 0, "{report}");
    assert_eq!(report["rows_stored"], 4, "{report}");
    // A scoring run stores each customer's history digest (the first load stored them too):
    // they must not hold the booking reference either.
    d.ok(&["score", "--json"]);
    let hits: serde_json::Value =
        serde_json::from_str(&d.ok(&["search", "Zyxquorva", "--json"])).unwrap();
    let id = hits[0]["id"]
        .as_u64()
        .expect("the planted customer")
        .to_string();
    let before: serde_json::Value =
        serde_json::from_str(&d.ok(&["customer", "show", &id, "--json", "--limit", "100"]))
            .unwrap();
    assert_eq!(facts(&before).len(), 3, "{before}");
    // Planted where the product keeps it: record, source records, index.
    assert!(before.to_string().contains("Zyxquorva"));
    let other: serde_json::Value =
        serde_json::from_str(&d.ok(&["search", "john.smith@example.com", "--json"])).unwrap();
    let other_id = other[0]["id"].as_u64().unwrap().to_string();

    // The search below is not blind: before the erasure a backup holds every form, and the
    // search vocabulary (the only file holding values in clear, without customer ids) the name.
    let before_backup = d.path().join("before.jsonl");
    d.ok(&["export", "--out", before_backup.to_str().unwrap()]);
    let planted = holding(&before_backup).join("\n");
    for n in [
        "\"zyxquorva\"",
        "\"zyxquorva.test@example.org\"",
        "\"+447700900461\"",
        "\"zq7xkp\"",
    ] {
        assert!(planted.contains(n), "{n} not in the backup: {planted}");
    }
    std::fs::remove_file(&before_backup).unwrap();
    let in_db = holding(&d.db());
    assert!(
        !in_db.is_empty() && in_db.iter().all(|f| f.ends_with(rapport_store::VOCAB_FILE)),
        "{in_db:?}"
    );

    d.add_operator_on(&d.db(), "admin", "admin", PASSWORD);
    let log = d.path().join("serve.log");
    let server = Server(
        d.cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RAPPORT_LOG", "debug")
            .stdout(Stdio::from(
                std::fs::File::create(d.path().join("serve.out")).unwrap(),
            ))
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while !rapport_service::running_server(&d.db())
        .is_some_and(|a| a.pid == Some(server.0.id()) && a.listen.is_some())
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Without --yes nothing happens.
    let refused = as_admin(&d, &d.db(), &["erase", &id]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    let erased: serde_json::Value = serde_json::from_str(&ok(
        as_admin(
            &d,
            &d.db(),
            &[
                "erase",
                &id,
                "--reason",
                "request 2026-118",
                "--yes",
                "--json",
            ],
        ),
        "erase",
    ))
    .unwrap();
    assert_eq!(erased["interactions"], 3, "{erased}");
    assert!(
        erased["vocabulary_dropped"].as_u64().unwrap() >= 3,
        "{erased}"
    );

    // Search by every erased identifier finds nothing; the other customer is still found.
    for q in [
        "Zyxquorva",
        "zyxq",
        "Plorbenthia Zyxquorva",
        "zyxquorva.test@example.org",
        "+44 7700 900461",
        "ZQ7XKP",
    ] {
        let hits: serde_json::Value =
            serde_json::from_str(&ok(as_admin(&d, &d.db(), &["search", q, "--json"]), q)).unwrap();
        assert_eq!(hits.as_array().map(Vec::len), Some(0), "{q}: {hits}");
    }
    let found = ok(
        as_admin(&d, &d.db(), &["search", "john.smith@example.com", "--json"]),
        "search",
    );
    let found: serde_json::Value = serde_json::from_str(&found).unwrap();
    assert_eq!(
        found[0]["id"].as_u64().map(|i| i.to_string()),
        Some(other_id)
    );

    // The facts remain under the pseudonym.
    let after: serde_json::Value = serde_json::from_str(&ok(
        as_admin(
            &d,
            &d.db(),
            &["customer", "show", &id, "--json", "--limit", "100"],
        ),
        "customer show",
    ))
    .unwrap();
    assert_eq!(facts(&after), facts(&before));
    assert!(after.to_string().contains("erased 20"), "{after}");

    // A fresh backup and identities export, written by the server.
    let backup = d.path().join("backup.jsonl");
    ok(
        as_admin(&d, &d.db(), &["export", "--out", backup.to_str().unwrap()]),
        "export",
    );
    let identities = d.path().join("identities.jsonl");
    ok(
        as_admin(
            &d,
            &d.db(),
            &[
                "export",
                "identities",
                "--out",
                identities.to_str().unwrap(),
            ],
        ),
        "export identities",
    );
    assert!(
        std::fs::read_to_string(&backup)
            .unwrap()
            .contains("\"display_name\":{\"value\":\"erased 20")
    );
    // The audit says it happened, by whom, with ids only.
    let audit = ok(
        as_admin(&d, &d.db(), &["audit", "list", "--customer", &id]),
        "audit list",
    );
    assert!(audit.contains("erase-customer"), "{audit}");
    assert!(!audit.to_lowercase().contains("zyxquorva"), "{audit}");
    drop(server);

    let mut leaks = holding(&d.db());
    leaks.extend(holding(&backup));
    leaks.extend(holding(&identities));
    leaks.extend(holding(&log));
    assert!(leaks.is_empty(), "erased data still readable: {leaks:#?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("customer erased"), "{logged}");

    // The database still opens and holds the pseudonymised customer.
    let shown = d.ok(&["customer", "show", &id]);
    assert!(shown.contains("erased 20"), "{shown}");
}
