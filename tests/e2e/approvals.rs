//! End-to-end test of goodwill above the limit (#19, point 2) with the real binary: the demo
//! world served by `rapport serve`, two consoles over the socket in tmux. The call-center
//! rep gives goodwill above her limit on a record and sends it for approval (the amount and
//! reason carried over); her customer manager opens the approval queue with `a` and approves
//! it with a reason; the rep's screen shows the decision and the grant without a key press.
//! Skipped, saying so, when tmux is not installed.

use std::process::Command;

use crate::console::{Tmux, build_demo, open_record, rapport_in_pane, tmux_available};
use crate::util::Dir;

const PASSWORD: &str = "correct horse battery";

#[test]
fn a_rep_sends_goodwill_for_approval_and_sees_the_supervisors_decision_live() {
    if !tmux_available() {
        eprintln!("SKIPPED: tmux is not installed (CI installs it; apt-get install tmux)");
        return;
    }
    let d = Dir::new();
    let db = build_demo(&d);
    d.add_operator_on(&db, "mrossi", "front-line", PASSWORD);
    // The demo's customer managers each see their own portfolios' customers: the one who
    // manages the customer decides (whoever the portfolio rules placed her with).
    for m in [
        "akeller", "tmorgan", "cdubois", "rsingh", "bnovak", "lgarcia", "jwright",
    ] {
        d.add_operator_on(&db, m, "customer-manager", PASSWORD);
    }
    let (server, addr) = d.start_server_on(&db);
    let console = |log: &str| {
        rapport_in_pane(
            &d,
            &format!(
                "--log-file {home}/{log} console --connect {addr} --channel call_center",
                home = d.path().display()
            ),
            "echo console-done; sleep 60",
        )
    };
    let socket = format!("approvals-e2e-{}", std::process::id());
    let rep = Tmux::start(&socket, "approvals-rep", &console("rep.log"));
    let sup = Tmux::start(&socket, "approvals-sup", &console("sup.log"));
    let sign_in = |t: &Tmux, user: &str, role: &str| {
        t.wait_for("Sign in", 20);
        t.type_text(user);
        t.keys(&["Tab"]);
        t.type_text(PASSWORD);
        t.keys(&["Enter"]);
        t.wait_for(&format!("{user} ({role})"), 20);
    };
    sign_in(&rep, "mrossi", "front-line");

    // The rep opens Lucía Fernández (delayed 14 h yesterday) and gives 800 EUR of goodwill:
    // the form starts on that disruption, shows her limit, and offers approval above it.
    let record = {
        open_record(&rep, "Lucía Fernández");
        rep.capture()
    };
    let manager = record
        .split("(mgr ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("the record names her manager:\n{record}"))
        .to_string();
    rep.keys(&["+"]);
    rep.wait_for("Goodwill for Lucía Fernández", 10);
    rep.wait_for("Your limit: 500.00 EUR without approval", 10);
    rep.type_text("800");
    rep.keys(&["Tab", "Tab"]);
    rep.type_text("14 hours and a missed wedding");
    rep.keys(&["Enter"]);
    rep.wait_for("is above your limit: Enter again sends it for approval", 10);
    rep.keys(&["Enter"]);
    rep.wait_for("Sent for approval: A", 10);
    let waiting = rep.wait_for("Awaiting approval: 800.00 EUR voucher by mrossi", 10);
    assert!(!waiting.contains("Granted voucher 800.00 EUR"), "{waiting}");

    // Her customer manager's queue, from anywhere: `a`.
    sign_in(&sup, &manager, "customer-manager");
    sup.keys(&["a"]);
    let queue = sup.wait_for("Goodwill waiting for approval: 1 request", 10);
    for part in [
        "Lucía Fernández",
        "mrossi",
        "800.00 EUR voucher",
        "14 hours and a missed wedding",
        "you manage this customer",
    ] {
        assert!(queue.contains(part), "{part} in\n{queue}");
    }
    sup.keys(&["a"]);
    sup.wait_for("Approve goodwill", 10);
    sup.type_text("agreed: a wedding missed");
    sup.keys(&["Enter"]);
    sup.wait_for("Enter again to confirm", 10);
    sup.keys(&["Enter"]);
    sup.wait_for("approved: 800.00 EUR voucher granted", 10);
    sup.wait_for("Goodwill waiting for approval: 0 requests", 10);

    // The rep pressed nothing: the decision is on her screen, and the grant on the record.
    let seen = rep.wait_for(
        &format!("Goodwill approved by {manager}: 800.00 EUR voucher"),
        10,
    );
    assert!(seen.contains("for Lucía Fernández"), "{seen}");
    let seen = rep.wait_for("Granted voucher 800.00 EUR for goodwill/RP667/", 10);
    assert!(!seen.contains("Awaiting approval"), "{seen}");

    // Stored once, as the command line reads it.
    let out = d
        .cmd_on(&db)
        .env("RAPPORT_USER", &manager)
        .env("RAPPORT_PASSWORD", PASSWORD)
        .args(["approvals", "list", "--all", "--connect", &addr])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        list.matches(&format!("approved by {manager}")).count(),
        1,
        "{list}"
    );
    assert!(list.contains("Lucía Fernández: decided"), "{list}");

    rep.keys(&["q"]);
    rep.wait_for("console-done", 10);
    sup.keys(&["q"]);
    sup.wait_for("console-done", 10);
    let mut server = server;
    let _ = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let _ = server.0.wait();
}

/// The demo world's planted goodwill pattern (#19, point 3): before the goodwill policy
/// (version 2, set on its day by the demo build), call-center goodwill went most to the
/// least valuable; after it, every tier gets the policy's amount. `rapport policy report`
/// on the real demo database shows both, with samples that carry them.
#[test]
fn the_policy_report_on_the_demo_world_shows_the_old_pattern_and_its_end() {
    use rapport_service::governance_ops::{PolicyReport, ReportLine};
    let d = Dir::new();
    let db = build_demo(&d);
    let run = |args: &[&str]| {
        let out = d.cmd_on(&db).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = run(&["policy", "report", "--json"]);
    let report: PolicyReport = serde_json::from_str(&out).unwrap();
    assert_eq!(report.version, 2, "the demo's goodwill policy is in force");
    assert!(report.since.is_some());
    assert_eq!(report.currency, "EUR");
    let goodwill = |period: &str, tier: &str| -> ReportLine {
        report
            .by_tier
            .iter()
            .find(|l| l.what == "goodwill" && l.period == period && l.group == tier)
            .unwrap_or_else(|| panic!("no {period} goodwill line for tier {tier}: {out}"))
            .clone()
    };
    // Before: the lowest tier received most, the highest least, on samples that carry it.
    let (top, low) = (goodwill("before", "A"), goodwill("before", "D"));
    let before: u64 = ["A", "B", "C", "D"]
        .iter()
        .map(|t| goodwill("before", t).grants)
        .sum();
    assert!(before >= 200, "{before} goodwill grants before the policy");
    assert!(top.grants >= 10 && low.grants >= 30, "{top:?} {low:?}");
    let ratio = low.mean / top.mean;
    assert!(
        ratio > 1.6,
        "lowest tier {:.0} EUR against the highest {:.0} EUR (x{ratio:.2})",
        low.mean,
        top.mean
    );
    let means: Vec<f64> = ["A", "B", "C", "D"]
        .iter()
        .map(|t| goodwill("before", t).mean)
        .collect();
    assert!(
        means.windows(2).all(|w| w[0] < w[1]),
        "the lower the tier, the more goodwill: {means:?}"
    );
    // After: equal entitlement, whatever the tier.
    let after: Vec<ReportLine> = ["A", "B", "C", "D"]
        .iter()
        .map(|t| goodwill("after", t))
        .collect();
    assert!(
        after.iter().map(|l| l.grants).sum::<u64>() >= 30,
        "{after:?}"
    );
    for l in &after {
        assert!((l.mean - 100.0).abs() < 1e-9, "{l:?}");
    }
    // The text report names the periods and the version.
    let text = run(&["policy", "report"]);
    assert!(text.contains("before  goodwill"), "{text}");
    assert!(text.contains("v2"), "{text}");
}
