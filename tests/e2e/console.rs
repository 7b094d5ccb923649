//! End-to-end tests: the real console in tmux. `rapport demo --build-only` builds the demo
//! world, `rapport serve` serves it, two consoles connect as two front-line operators: a grant
//! in one appears in the other without a key press, and the second grant is refused with the
//! first grant's details. Skipped, saying so, when tmux is not installed (CI installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::Dir;

const PASSWORD: &str = "correct horse battery";

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One tmux session on a private tmux server, running one console.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn start(socket: &str, session: &str, command: &str) -> Tmux {
        let t = Tmux {
            socket: socket.to_string(),
            session: session.to_string(),
        };
        let ok = t
            .tmux()
            .args(["new", "-d", "-s", session, "-x", "120", "-y", "40", command])
            .status()
            .unwrap();
        assert!(ok.success(), "tmux new failed");
        t
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Sends tmux key names (`Enter`, `Tab`, `BTab`, `BSpace`, `Escape`).
    fn keys(&self, keys: &[&str]) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn capture(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`; fails with the screen after `secs` seconds.
    fn wait_for(&self, text: &str, secs: u64) -> String {
        let t0 = Instant::now();
        loop {
            let screen = self.capture();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "{}: {text:?} did not appear within {secs} s; the screen:\n{screen}",
                self.session
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The console's process id: the pane's shell's child (`env` replaced itself with it).
    fn console_pid(&self) -> u32 {
        let out = self
            .tmux()
            .args(["display", "-p", "-t", &self.session, "#{pane_pid}"])
            .output()
            .unwrap();
        let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no console process under the pane's shell {shell}"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .tmux()
            .args(["kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

fn add_operator(d: &Dir, db: &Path, name: &str) {
    d.add_operator_on(db, name, "front-line", PASSWORD);
}

/// Opens the customer's record: search by name, Enter on the first hit.
fn open_record(t: &Tmux, name: &str) {
    // The console opens with no customer: `/` to search.
    t.keys(&["/"]);
    t.type_text(name);
    t.wait_for(&format!("> {name}").replace('>', "▶"), 20);
    t.keys(&["Enter"]);
    t.wait_for("History (all kinds", 20);
}

/// Fills the grant form with a fresh disruption reference and a touchpoint.
fn fill_grant(t: &Tmux, disruption: &str, touchpoint: &str) {
    t.keys(&["c"]);
    t.wait_for("Compensate Margaret Okafor", 10);
    // The form is prefilled from her latest disruption (denied boarding today, RP121) and
    // starts on the touchpoint; go back to the reference and replace it.
    t.keys(&["BTab", "BTab", "BTab"]);
    for _ in 0..30 {
        t.keys(&["BSpace"]);
    }
    t.type_text(disruption);
    t.keys(&["Tab", "Tab", "Tab"]);
    t.type_text(touchpoint);
}

#[test]
fn grant_in_one_console_appears_live_in_another_and_the_second_is_refused() {
    if !tmux_available() {
        eprintln!("SKIPPED: tmux is not installed (CI installs it; apt-get install tmux)");
        return;
    }
    let d = Dir::new();
    let fixtures = Dir::root().join("fixtures/demo");
    let build = d
        .cmd()
        .args(["demo", "--build-only", "--fixtures"])
        .arg(&fixtures)
        .output()
        .unwrap();
    let progress = String::from_utf8_lossy(&build.stderr);
    assert!(build.status.success(), "rapport demo failed: {progress}");
    assert!(
        progress.contains("Building the demo database"),
        "{progress}"
    );
    assert!(progress.contains("scored"), "{progress}");
    let db: PathBuf = d.path().join("data/rapport/demo");
    assert!(db.exists(), "the demo database is in the data directory");

    // A second run reuses it.
    let again = d.cmd().args(["demo", "--build-only"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("Using the demo database"));

    add_operator(&d, &db, "jsmith");
    add_operator(&d, &db, "mrossi");
    let (mut server, addr) = d.start_server_on(&db);

    let bin = env!("CARGO_BIN_EXE_rapport");
    let console = |log: &str| {
        format!(
            "env -u RAPPORT_USER -u RAPPORT_PASSWORD -u RAPPORT_DB -u NO_COLOR LANG=C.UTF-8 \
             HOME={home} XDG_DATA_HOME={home}/data XDG_CONFIG_HOME={home}/config \
             {bin} --log-file {home}/{log} console --connect {addr}; \
             echo console-exit=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; echo console-done; sleep 60",
            home = d.path().display()
        )
    };
    let socket = format!("rapport-e2e-{}", std::process::id());
    let gate = Tmux::start(&socket, "gate", &console("gate.log"));
    let call = Tmux::start(&socket, "call", &console("call.log"));

    for (t, user) in [(&gate, "jsmith"), (&call, "mrossi")] {
        t.wait_for("Sign in", 20);
        t.type_text(user);
        t.keys(&["Tab"]);
        t.type_text(PASSWORD);
        t.keys(&["Enter"]);
        t.wait_for(&format!("{user} (front-line)"), 20);
        open_record(t, "Margaret Okafor");
    }

    // The gate agent grants a voucher for a fresh disruption, confirming twice.
    let disruption = "RP777/2026-11-23";
    fill_grant(&gate, disruption, "gate C12");
    gate.wait_for("Policy entitles:", 10);
    gate.keys(&["Enter"]);
    gate.wait_for("Enter again to confirm", 10);
    gate.keys(&["Enter"]);
    gate.wait_for("Granted", 10);

    // The call-center console shows it without a key press.
    let screen = call.wait_for(disruption, 10);
    assert!(screen.contains("compensation_granted"), "{screen}");

    // A second grant for the same disruption is refused, naming the first.
    fill_grant(&call, disruption, "phone");
    call.wait_for("ALREADY GRANTED", 10);
    call.keys(&["Enter"]);
    call.wait_for("Enter again to confirm", 10);
    call.keys(&["Enter"]);
    let refused = call.wait_for("Refused: already granted", 10);
    assert!(refused.contains("by jsmith at gate C12"), "{refused}");

    // The gate agent quits with q; the call-center console gets SIGTERM. Both exit 0 with the
    // terminal restored: canonical mode back on (`icanon`, not `-icanon`), no alternate screen.
    gate.keys(&["q"]);
    let screen = gate.wait_for("console-done", 10);
    assert!(screen.contains("console-exit=0"), "{screen}");
    assert!(screen.lines().any(|l| l.trim() == "icanon"), "{screen}");
    let pid = call.console_pid();
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let screen = call.wait_for("console-done", 10);
    assert!(screen.contains("console-exit=0"), "{screen}");
    assert!(screen.lines().any(|l| l.trim() == "icanon"), "{screen}");
    assert!(
        !screen.contains("History"),
        "the alternate screen was left: {screen}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let _ = server.0.wait();
}

/// The newcomer's way to two live terminals: `rapport demo --serve` in one terminal, then
/// `rapport demo` in two others joins the server (found beside the demo database), signs in
/// as the demo operators and sees the other's work live, each recording its own channel.
#[test]
fn demo_serve_lets_two_terminals_join_and_see_each_other_live() {
    if !tmux_available() {
        eprintln!("SKIPPED: tmux is not installed (CI installs it; apt-get install tmux)");
        return;
    }
    let d = Dir::new();
    let fixtures = Dir::root().join("fixtures/demo");
    let build = d
        .cmd()
        .args(["demo", "--build-only", "--fixtures"])
        .arg(&fixtures)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let db: PathBuf = d.path().join("data/rapport/demo");
    let mut server = d
        .cmd()
        .args(["demo", "--serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut ready = String::new();
    while !ready.contains("Demo server ready") {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "the demo server ended before it was ready: {ready}");
        ready.push_str(&line);
    }
    // The ready line tells a newcomer what to run and how to sign in.
    for part in [
        "rapport demo --channel gate",
        "jsmith",
        "mrossi",
        "rapport-demo",
    ] {
        assert!(ready.contains(part), "{part:?} missing: {ready}");
    }
    assert!(rapport_service::running_server(&db).is_some());

    let bin = env!("CARGO_BIN_EXE_rapport");
    let console = |args: &str| {
        format!(
            "env -u RAPPORT_USER -u RAPPORT_PASSWORD -u RAPPORT_DB -u RAPPORT_CONNECT -u NO_COLOR \
             LANG=C.UTF-8 HOME={home} XDG_DATA_HOME={home}/data XDG_CONFIG_HOME={home}/config \
             {bin} demo {args}; echo console-exit=$?; sleep 60",
            home = d.path().display()
        )
    };
    let socket = format!("rapport-e2e-demo-{}", std::process::id());
    let gate = Tmux::start(
        &socket,
        "gate",
        &console("--channel gate --touchpoint 'gate C12'"),
    );
    let call = Tmux::start(&socket, "call", &console("--channel call_center"));
    for (t, user, at) in [
        (&gate, "jsmith", "at gate C12 (gate)"),
        (&call, "mrossi", "at call_center"),
    ] {
        t.wait_for("Sign in", 20);
        t.type_text(user);
        t.keys(&["Tab"]);
        t.type_text("rapport-demo");
        t.keys(&["Enter"]);
        t.wait_for(&format!("{user} (front-line) {at}"), 20);
        open_record(t, "Margaret Okafor");
    }
    // The gate agent notes something; the call center sees it at once, with no key press.
    gate.keys(&["n"]);
    gate.type_text("bag on RP200");
    gate.keys(&["Enter"]);
    gate.wait_for("Saved note", 10);
    let screen = call.wait_for("bag on RP200", 10);
    let row = screen.lines().find(|l| l.contains("bag on RP200")).unwrap();
    assert!(row.contains("gate") && row.contains("jsmith"), "{row}");
    // And the rep's own note is stored as the call center's.
    call.keys(&["n"]);
    call.type_text("called back");
    call.keys(&["Enter"]);
    let screen = call.wait_for("Saved note", 10);
    assert!(screen.contains("called back"), "{screen}");
    let screen = gate.wait_for("called back", 10);
    let row = screen.lines().find(|l| l.contains("called back")).unwrap();
    assert!(
        row.contains("call_center") && row.contains("mrossi"),
        "{row}"
    );

    for t in [&gate, &call] {
        t.keys(&["q"]);
        let s = t.wait_for("console-exit=", 10);
        assert!(s.contains("console-exit=0"), "{s}");
    }
    let ok = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    assert!(server.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("Demo server stopped"), "{rest}");
}
