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
    dst.init();
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
        "{\"header\":{\"format\":\"rapport-export\",\"version\":2,\"schema\":1}}\nnot json\n",
    )
    .unwrap();
    let out = dir.run(&["import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
}

/// Regression: `export` was refused while the server ran (no backup without downtime), a
/// failed export overwrote the good file, and a file cut at a line boundary imported with
/// success (a 30,000-line cut restored no grants and no operators).
#[test]
fn an_online_backup_is_private_whole_and_every_cut_of_it_is_refused() {
    let d = Dir::new();
    populate(&d);
    d.add_operator_on(&d.db(), "admin", "admin", "correct horse battery");
    d.add_operator_on(&d.db(), "gate", "front-line", "correct horse battery");
    let (_server, _addr) = d.start_server_on(&d.db());
    let file = d.path().join("nightly.jsonl");
    let as_user = |user: &str, args: &[&str]| {
        d.cmd()
            .env("RAPPORT_USER", user)
            .env("RAPPORT_PASSWORD", "correct horse battery")
            .args(args)
            .output()
            .unwrap()
    };
    let out = as_user("admin", &["export", "--out", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("exported 19 customers"),
        "{out:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the backup is readable by its owner only"
        );
    }
    let full = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&full);
    assert!(!text.contains("$argon2"), "no password hash in the backup");
    assert!(text.lines().last().unwrap().contains("\"trailer\""));

    // Only an admin may take one; a refused backup leaves the old file alone.
    let out = as_user("gate", &["export", "--out", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("may not backup"),
        "{out:?}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), full);
    // To stdout there is no online backup: it says what to do.
    let out = as_user("admin", &["export"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--out FILE"),
        "{out:?}"
    );

    // Every cut is refused, nothing is imported, and the message says what is wrong.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut cuts: Vec<usize> = (0..24)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % full.len() as u64) as usize
        })
        .collect();
    let ends: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' && i + 1 < full.len())
        .map(|(i, _)| i + 1)
        .collect();
    cuts.extend(ends.iter().step_by(7));
    cuts.push(full.len() - 1);
    let cut_file = d.path().join("cut.jsonl");
    for (n, cut) in cuts.iter().enumerate() {
        std::fs::write(&cut_file, &full[..*cut]).unwrap();
        let target = d.path().join(format!("restore{n}"));
        let out = d
            .cmd_on(&target)
            .args(["import", cut_file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "cut at {cut} of {} imported",
            full.len()
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nothing was imported"), "cut at {cut}: {err}");
        assert!(
            err.contains("cut short") || err.contains("trailer") || err.contains("EOF"),
            "cut at {cut}: {err}"
        );
        assert!(!target.exists(), "cut at {cut}: a database was created");
    }

    // The whole file restores; operators come back without passwords until set again.
    let restored = d.path().join("restored");
    d.init_on(&restored);
    let out = d
        .cmd_on(&restored)
        .args(["import", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 19 customers"));
    let mut passwd = d
        .cmd_on(&restored)
        .args(["operator", "passwd", "admin", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    writeln!(passwd.stdin.take().unwrap(), "a new long password").unwrap();
    assert!(passwd.wait_with_output().unwrap().status.success());
}

/// Regression: `serve --db` and `operator add --db` with a mistyped path silently created an
/// empty database (and served 0 customers); the database files were world-readable.
#[test]
fn a_missing_database_is_an_error_and_a_new_one_is_private() {
    let dir = Dir::new();
    let missing = dir.path().join("typo");
    for args in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["operator", "list"][..],
        &["stats"][..],
        &["search", "ann"][..],
        &["quarantine", "list"][..],
    ] {
        let out = dir.cmd_on(&missing).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no database at") && err.contains("rapport init"),
            "{args:?}: {err}"
        );
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
    dir.ok(&["init"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.db()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "a new database is private");
        // A looser one gets a warning at start.
        std::fs::set_permissions(dir.db(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = dir.run(&["stats"]);
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("can be read by other users") && err.contains("chmod 700"),
            "{err}"
        );
    }
}
