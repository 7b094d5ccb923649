//! The one door: every command that reads or writes customer data goes through the service,
//! so it works while `rapport serve` holds the database (and embedded when nobody does), and a
//! path without a database is an error for every command but `init` and `demo`.

use std::path::Path;
use std::process::{Command, Output};

use crate::console::{Tmux, build_demo, open_record, rapport_in_pane, tmux_available};
use crate::util::Dir;

const PASSWORD: &str = "correct horse battery";

/// `rapport ARGS` on `db` as the admin, found through the server file (no --connect).
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("held by a running server; connected to it"),
        "{what} went through the server: {err}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The line of the screen that holds `marker` (e.g. the record's `CLV` line).
fn line_with(screen: &str, marker: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker:?} on the screen:\n{screen}"))
        .to_string()
}

/// The acceptance test of issue #15: with `rapport serve` holding the demo database and two
/// consoles signed in on the same customer, an admin ingests the night's call-center file,
/// rescores, and reads the review queue, the quality report and the working lists from
/// another process without stopping anything; both consoles show the new contact and the new
/// scores without a key press.
#[test]
fn an_admin_ingests_and_scores_while_the_server_serves_and_consoles_see_it_live() {
    if !tmux_available() {
        eprintln!("SKIPPED: tmux is not installed (CI installs it; apt-get install tmux)");
        return;
    }
    let d = Dir::new();
    let fixtures = Dir::root().join("fixtures/demo");
    let db = build_demo(&d);
    d.add_operator_on(&db, "admin", "admin", PASSWORD);
    d.add_operator_on(&db, "jsmith", "front-line", PASSWORD);
    d.add_operator_on(&db, "mrossi", "front-line", PASSWORD);
    let (_server, addr) = d.start_server_on(&db);

    let console = |log: &str| {
        rapport_in_pane(
            &d,
            &format!(
                "--log-file {home}/{log} console --connect {addr}",
                home = d.path().display()
            ),
            "echo console-done; sleep 60",
        )
    };
    let socket = format!("rapport-e2e-door-{}", std::process::id());
    let gate = Tmux::start(&socket, "gate", &console("gate.log"));
    let call = Tmux::start(&socket, "call", &console("call.log"));
    for (t, user) in [(&gate, "jsmith"), (&call, "mrossi")] {
        t.wait_for("Sign in", 20);
        t.type_text(user);
        t.keys(&["Tab"]);
        t.type_text(PASSWORD);
        t.keys(&["Enter"]);
        t.wait_for(&format!("{user} (front-line)"), 20);
        open_record(t, "Lucía Fernández");
    }
    let clv_before = line_with(&gate.wait_for("CLV", 10), "CLV");

    // The night's file: Lucía calls again (her caller id and loyalty number), now.
    let now = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    let night = d.path().join("night");
    std::fs::create_dir_all(night.join("mappings")).unwrap();
    std::fs::copy(
        fixtures.join("mappings/callcenter.toml"),
        night.join("mappings/callcenter.toml"),
    )
    .unwrap();
    std::fs::write(
        night.join("callcenter.csv"),
        format!(
            "contact_id,caller_id,started_at,caller_name,phone,email,loyalty_number,booking_ref,\
             contact_type,topic,disruption_ref,resolved_first_contact,compensation_instrument,\
             compensation_amount,compensation_currency,agent,note\n\
             C900000001,CLR73481573,{now},Lucía Fernández,,,FF481106870,,complaint,lounge,,N,,,,\
             H. Brown,door test: the lounge at B7 was closed\n"
        ),
    )
    .unwrap();
    std::fs::write(
        night.join("ingest.toml"),
        "[[source]]\nmapping = \"mappings/callcenter.toml\"\nfiles = [\"callcenter.csv\"]\n",
    )
    .unwrap();

    let report = ok(
        as_admin(
            &d,
            &db,
            &[
                "ingest",
                night.join("ingest.toml").to_str().unwrap(),
                "--json",
            ],
        ),
        "ingest",
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["rows_read"], 1, "{report}");
    assert_eq!(report["rows_stored"], 1, "{report}");
    assert_eq!(
        report["customers_created"], 0,
        "Lucía was recognised: {report}"
    );
    // Both consoles show the new contact without a key press.
    for t in [&gate, &call] {
        t.wait_for("door test: the lounge", 10);
    }

    // Rescore as of a year from now: every value moves, and the consoles re-read.
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let scored = ok(
        as_admin(&d, &db, &["score", "--as-of", &later, "--json"]),
        "score",
    );
    let scored: serde_json::Value = serde_json::from_str(&scored).unwrap();
    assert_eq!(scored["full"], true, "{scored}");
    assert!(scored["scored"].as_u64().unwrap() > 1_000, "{scored}");
    let t0 = std::time::Instant::now();
    loop {
        let now = line_with(&gate.capture(), "CLV");
        if now != clv_before {
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "the gate console still shows {clv_before:?} after the scoring run"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        line_with(&call.capture(), "CLV"),
        line_with(&gate.capture(), "CLV"),
        "both consoles show the new scores"
    );

    // The steward's and analyst's reads, through the server.
    let reviews = ok(as_admin(&d, &db, &["review", "list"]), "review list");
    assert!(
        reviews.contains("open;") || reviews.contains("no open review items"),
        "{reviews}"
    );
    let quality: serde_json::Value =
        serde_json::from_str(&ok(as_admin(&d, &db, &["quality", "--json"]), "quality")).unwrap();
    assert!(quality["customers"].as_u64().unwrap() > 1_000, "{quality}");
    let lists = ok(as_admin(&d, &db, &["lists"]), "lists");
    assert!(lists.contains("complainers"), "{lists}");
    let tiers = ok(as_admin(&d, &db, &["tiers"]), "tiers");
    assert!(tiers.contains(&later), "the tiers of the new run: {tiers}");
    // The identities export, written by the server while it serves.
    let ids = d.path().join("identities.csv");
    ok(
        as_admin(
            &d,
            &db,
            &[
                "export",
                "identities",
                "--format",
                "csv",
                "--out",
                ids.to_str().unwrap(),
            ],
        ),
        "export identities",
    );
    let ids = std::fs::read_to_string(&ids).unwrap();
    assert!(
        ids.starts_with("source,source_key,customer_id\n"),
        "{ids:.200}"
    );
    assert!(ids.lines().count() > 1_000, "every source record");

    // A front-line operator may not: the matrix applies to commands as to consoles.
    let mut c = d.cmd_on(&db);
    c.env("RAPPORT_USER", "jsmith")
        .env("RAPPORT_PASSWORD", PASSWORD)
        .args(["score"]);
    let refused = c.output().unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("forbidden: role front-line may not score"),
        "{err}"
    );

    for t in [&gate, &call] {
        t.keys(&["q"]);
        t.wait_for("console-done", 10);
    }
}

/// Issue #17: a mistyped path must not silently create an empty database. Every command but
/// `init` and `demo` refuses it, naming the path and how to create one, and creates nothing.
#[test]
fn a_missing_database_is_an_error_for_every_command_but_init_and_demo() {
    let d = Dir::new();
    // A real export, so that `import` gets as far as the database.
    let src = d.path().join("src");
    assert!(d.cmd_on(&src).arg("init").status().unwrap().success());
    let export = d.path().join("empty.jsonl");
    let out = d
        .cmd_on(&src)
        .args(["export", "--out", export.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(d.path().join("f.csv"), "a\n1\n").unwrap();
    std::fs::write(d.path().join("m.toml"), "").unwrap();
    let missing = d.path().join("no-such-db");
    let commands: &[&[&str]] = &[
        &["ingest", "m.toml"],
        &["ingest", "--source", "m.toml", "f.csv"],
        &["import", export.to_str().unwrap()],
        &["stats"],
        &["export", "--out", "x.jsonl"],
        &["quality"],
        &["quarantine", "list"],
        &["review", "list"],
        &["merge", "explain", "C00000001"],
        &["unmerge", "C00000001"],
        &["score"],
        &["tiers"],
        &["skew"],
        &["lists"],
        &["rates", "show"],
        &["value", "explain", "C00000001"],
        &["search", "anna"],
        &["customer", "show", "C00000001"],
        &["serve", "--listen", "127.0.0.1:0"],
        &["operator", "list"],
        &["assess"],
    ];
    for args in commands {
        let out = d.cmd_on(&missing).args(*args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {err}");
        assert!(
            err.contains("no database at") && err.contains("rapport init"),
            "{args:?}: {err}"
        );
        assert!(!missing.exists(), "{args:?} created a database");
    }
    // `init` creates it.
    assert!(d.cmd_on(&missing).arg("init").status().unwrap().success());
    assert!(missing.join("conf").exists());
}
