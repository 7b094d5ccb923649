//! End-to-end tests: the real console in tmux. `rapport demo --build-only` builds the demo
//! world (moved to today), `rapport serve` serves it, two consoles connect as two front-line
//! operators: the gate grants for a disruption picked from the grant form's list, accepting
//! the prefilled values as they come; the grant appears in the other console without a key
//! press, and the call center's attempt for the same disruption, typed in another case and
//! date form or picked from the list, is refused naming the first agent, where and when; the
//! planted gate voucher (Margaret Okafor, J. Smith at C12) refuses a second one the same way.
//! Skipped, saying so, when tmux is not installed (CI installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::Dir;

const PASSWORD: &str = "correct horse battery";

pub(crate) fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One tmux session on a private tmux server, running one console.
pub(crate) struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    pub(crate) fn start(socket: &str, session: &str, command: &str) -> Tmux {
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
    pub(crate) fn keys(&self, keys: &[&str]) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
        // A lone Escape followed by a key in the same read of the terminal is Alt+key to the
        // console (crossterm): when the console is busy (re-reading a record after a
        // refusal), the next send-keys lands in the same read and the Escape is lost. Give
        // the console time to read the Escape alone.
        if keys.last() == Some(&"Escape") {
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Types text literally.
    pub(crate) fn type_text(&self, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub(crate) fn capture(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`; fails with the screen after `secs` seconds.
    pub(crate) fn wait_for(&self, text: &str, secs: u64) -> String {
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

    /// Presses Escape and waits until `text` (the popup it closes) is gone, so that the next
    /// key is not read with the Escape as one Alt-key sequence (a busy machine delivers both
    /// at once).
    pub(crate) fn escape_from(&self, text: &str, secs: u64) {
        self.keys(&["Escape"]);
        let t0 = Instant::now();
        loop {
            let screen = self.capture();
            if !screen.contains(text) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "{}: {text:?} still shown {secs} s after Escape; the screen:\n{screen}",
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

/// The shell command a tmux pane runs: `rapport ARGS` in the test's own home (no operator,
/// password, database or server inherited from the environment), then `after`.
pub(crate) fn rapport_in_pane(d: &Dir, args: &str, after: &str) -> String {
    format!(
        "env -u RAPPORT_USER -u RAPPORT_PASSWORD -u RAPPORT_DB -u RAPPORT_CONNECT -u NO_COLOR \
         LANG=C.UTF-8 HOME={home} XDG_DATA_HOME={home}/data XDG_CONFIG_HOME={home}/config \
         {bin} {args}; {after}",
        home = d.path().display(),
        bin = env!("CARGO_BIN_EXE_rapport"),
    )
}

/// Builds the committed demo world into `d`'s data directory (`rapport demo --build-only`);
/// the database's path.
pub(crate) fn build_demo(d: &Dir) -> PathBuf {
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
    d.path().join("data/rapport/demo")
}

fn add_operator(d: &Dir, db: &Path, name: &str) {
    d.add_operator_on(db, name, "front-line", PASSWORD);
}

/// Opens the customer's record: search by name, Enter on the first hit.
pub(crate) fn open_record(t: &Tmux, name: &str) {
    // The console opens with no customer: `/` to search.
    t.keys(&["/"]);
    t.type_text(name);
    t.wait_for(&format!("> {name}").replace('>', "▶"), 20);
    t.keys(&["Enter"]);
    t.wait_for("History (all kinds", 20);
}

/// Opens the grant form and waits for the disruptions on record: the form starts on the
/// newest, picked, with its reference, kind and delay filled in.
fn open_grant(t: &Tmux, name: &str) {
    t.keys(&["c"]);
    t.wait_for(&format!("Compensate {name}"), 10);
    t.wait_for("Disruptions on record", 10);
}

/// Says where we are (the touchpoint, after Pick, Disruption, Kind and Delay) and grants,
/// confirming with the second Enter.
fn grant_as_it_comes(t: &Tmux, touchpoint: &str) {
    t.keys(&["Tab", "Tab", "Tab", "Tab"]);
    t.type_text(touchpoint);
    t.wait_for("Policy entitles:", 10);
    t.keys(&["Enter"]);
    t.wait_for("Enter again to confirm", 10);
    t.keys(&["Enter"]);
}

/// Types a reference over the prefilled one (Pick's last choice is `other`).
fn type_reference(t: &Tmux, reference: &str) {
    t.keys(&["Tab"]);
    for _ in 0..30 {
        t.keys(&["BSpace"]);
    }
    t.type_text(reference);
    t.keys(&["BTab"]);
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
    #[cfg(unix)]
    for dir in [db.clone(), d.path().join("data/rapport")] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is private", dir.display());
    }

    // A second run reuses it.
    let again = d.cmd().args(["demo", "--build-only"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("Using the demo database"));

    add_operator(&d, &db, "jsmith");
    add_operator(&d, &db, "mrossi");
    let (mut server, addr) = d.start_server_on(&db);

    let console = |log: &str| {
        rapport_in_pane(
            &d,
            &format!(
                "--log-file {home}/{log} console --connect {addr}",
                home = d.path().display()
            ),
            "echo console-exit=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; \
             echo console-done; sleep 60",
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
        open_record(t, "Lucía Fernández");
    }
    // The demo moved the world to today: Lucía's 14-hour delay was yesterday, and its
    // reference carries yesterday's date.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let yesterday = today.yesterday().unwrap();
    let disruption = format!("RP667/{yesterday}");

    // The gate agent picks it from the list (the newest, picked as the form opens) and grants
    // what the policy entitles, the prefilled values accepted as they come.
    open_grant(&gate, "Lucía Fernández");
    let form = gate.wait_for(&format!("> {disruption} delay 14 h 00"), 10);
    assert!(form.contains("voucher 300.00 EUR"), "{form}");
    assert!(form.contains("hotel night 120.00 EUR"), "{form}");
    grant_as_it_comes(&gate, "gate C12");
    gate.wait_for("Granted voucher 300.00 EUR", 10);

    // The call-center console shows it without a key press (Lucía's history already holds
    // older grants: the new one is known by its cue).
    let screen = call.wait_for(&format!("{disruption} (300.00 EUR)"), 10);
    assert!(screen.contains("voucher granted just now"), "{screen}");

    // Its own attempt, typed in another case and date form, is refused naming the first.
    open_grant(&call, "Lucía Fernández");
    call.wait_for("GRANTED voucher 300.00 EUR", 10);
    call.keys(&["Left"]); // Pick: `other`, the reference is typed
    type_reference(
        &call,
        &format!("rp 667 / {}", yesterday.strftime("%d.%m.%Y")),
    );
    grant_as_it_comes(&call, "phone");
    let refused = call.wait_for("Refused: already granted", 10);
    assert!(refused.contains("by jsmith at gate C12"), "{refused}");
    call.escape_from("Refused: already granted", 10);
    // And picked from the list, as it comes: refused the same way.
    open_grant(&call, "Lucía Fernández");
    grant_as_it_comes(&call, "phone");
    let refused = call.wait_for("Refused: already granted", 10);
    assert!(refused.contains("by jsmith at gate C12"), "{refused}");
    call.escape_from("Refused: already granted", 10);

    // The planted double voucher: Margaret Okafor was bumped today and J. Smith gave her a
    // voucher at gate C12; the call center's attempt, picked as it comes, is refused.
    call.keys(&["/"]);
    for _ in 0..20 {
        call.keys(&["BSpace"]);
    }
    call.type_text("Margaret Okafor");
    call.wait_for("▶ Margaret Okafor", 20);
    call.keys(&["Enter"]);
    call.wait_for("Margaret Okafor  person", 20);
    open_grant(&call, "Margaret Okafor");
    let form = call.wait_for(&format!("> RP121/{today} denied-boarding"), 10);
    assert!(form.contains("GRANTED voucher 400.00 EUR"), "{form}");
    grant_as_it_comes(&call, "phone");
    let refused = call.wait_for("Refused: already granted", 10);
    assert!(refused.contains("by J. Smith at C12"), "{refused}");
    call.keys(&["Escape"]);

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
    let db = build_demo(&d);
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

    let console = |args: &str| {
        rapport_in_pane(
            &d,
            &format!("demo {args}"),
            "echo console-exit=$?; sleep 60",
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
    // The status line says so first; the record is read again just after, so the rep's
    // own history shows the note within a moment.
    call.wait_for("Saved note", 10);
    call.wait_for("called back", 10);
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

/// Searches `query`, waits until the first hit is the customer named `header` (the
/// previous search's hits stay on screen until the new ones arrive), opens it and waits until
/// the record shows `header` (e.g. `Henrik Lindqvist  person`).
fn open_story(t: &Tmux, query: &str, header: &str) -> String {
    t.keys(&["/"]);
    t.type_text(query);
    let name = header.split("  ").next().unwrap_or(header);
    t.wait_for(&format!("▶ {name}"), 20);
    t.keys(&["Enter"]);
    t.wait_for(header, 20);
    // The record's history and cues may come a frame after its header.
    t.wait_for(" History (", 20)
}

/// Every planted story of `docs/demo.md`, walked the way a call-center rep would on the
/// time-shifted `rapport demo`: search, open, read the record, act with the values the forms
/// prefill, and find the working lists where the stories put them.
#[test]
fn every_planted_story_shows_in_the_console_of_the_time_shifted_demo() {
    if !tmux_available() {
        eprintln!("SKIPPED: tmux is not installed (CI installs it; apt-get install tmux)");
        return;
    }
    let d = Dir::new();
    let fixtures = Dir::root().join("fixtures/demo");
    let command = rapport_in_pane(
        &d,
        &format!(
            "demo --fixtures {} --channel call_center --touchpoint 'desk 4'",
            fixtures.display()
        ),
        "echo console-exit=$?; sleep 60",
    );
    let socket = format!("rapport-e2e-stories-{}", std::process::id());
    let t = Tmux::start(&socket, "rep", &command);
    t.wait_for("No customer open", 240);

    // 1. The double voucher: the gate's voucher is on the record, a second one is refused.
    let s = open_story(&t, "margaret okafor", "Margaret Okafor  person");
    // Every demo customer is in a portfolio with its customer manager.
    assert!(!s.contains("no portfolio"), "{s}");
    assert!(
        s.contains("! voucher granted") && s.contains("by J. Smith for"),
        "{s}"
    );
    open_grant(&t, "Margaret Okafor");
    // Everything as it comes: the newest disruption picked, the rep's desk as touchpoint.
    t.wait_for("Policy entitles:", 10);
    t.keys(&["Enter"]);
    t.wait_for("Enter again to confirm", 10);
    t.keys(&["Enter"]);
    let s = t.wait_for("Refused: already granted", 10);
    assert!(s.contains("by J. Smith at C12"), "{s}");
    t.keys(&["Escape"]);

    // 2. The lost bag: recognise it and check today's bag.
    let s = open_story(&t, "henrik lindqvist", "Henrik Lindqvist  person");
    assert!(s.contains("[A] Henrik Lindqvist"), "{s}");
    assert!(s.contains("bag lost on last trip"), "{s}");
    assert!(s.contains("confirm today's bag is loaded"), "{s}");
    assert!(s.contains("Today RP227"), "{s}");

    // 3. Delayed 14 hours yesterday: apologise; the flight view shows what she is entitled
    //    to, and granting the whole flight gives each passenger it once.
    let s = open_story(&t, "lucia fernandez", "Lucía Fernández  person");
    assert!(
        s.contains("delayed 14 h on RP667 yesterday: apologise"),
        "{s}"
    );
    t.keys(&["v"]);
    let s = t.wait_for("passenger", 10);
    assert!(s.contains("RP667/") && s.contains("delay 14 h 00"), "{s}");
    let row = s.lines().find(|l| l.contains("Lucía Fernández")).expect(&s);
    assert!(row.contains("nothing yet"), "{row}");
    t.keys(&["C"]);
    t.wait_for("again to confirm", 10);
    t.keys(&["C"]);
    let s = t.wait_for("Whole flight:", 20);
    assert!(s.contains("0 already compensated (refused)"), "{s}");
    let row = s.lines().find(|l| l.contains("Lucía Fernández")).expect(&s);
    assert!(!row.contains("nothing yet"), "{row}");
    t.keys(&["C"]);
    t.wait_for("again to confirm", 10);
    t.keys(&["C"]);
    t.wait_for("0 granted now", 20);
    t.keys(&["Escape"]);

    // 4. The valuable complainer: an open complaint about his disruption; resolving it ends
    //    the cue.
    let s = open_story(&t, "robert achterberg", "Robert Achterberg  person");
    assert!(s.contains("[A] Robert Achterberg"), "{s}");
    assert!(
        s.contains("complaint open since") && s.contains("about RP428/"),
        "{s}"
    );
    t.keys(&["R"]);
    t.wait_for("Resolve a complaint", 10);
    t.keys(&["Tab"]);
    t.type_text("called back, apologised for the bag");
    t.keys(&["Enter"]);
    let s = t.wait_for("Saved complaint_resolved", 10);
    let s = if s.contains("complaint open since") {
        std::thread::sleep(Duration::from_millis(500));
        t.capture()
    } else {
        s
    };
    assert!(!s.contains("complaint open since"), "{s}");

    // 5.-11. The account, the referral chain, the household, the hostile name, the move.
    let s = open_story(&t, "northwind", "Northwind Logistics Ltd  organisation");
    assert!(s.contains("[A] Northwind"), "{s}");
    let s = open_story(&t, "tomasz nowak", "Tomasz Nowak  person");
    assert!(s.contains("referred by: Ingrid Solberg"), "{s}");
    assert!(s.contains("referred: Amara Nwosu"), "{s}");
    let s = open_story(&t, "daniel moreau", "Daniel Moreau  person");
    assert!(s.contains("household: Sofia Moreau"), "{s}");
    let s = open_story(&t, "eve mallory", "Eve[2J ]0;pwnedMallory  person");
    assert!(!s.contains('\u{1b}'), "{s}");
    let title = t
        .tmux()
        .args(["display", "-p", "-t", "rep", "#{pane_title}"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&title.stdout).contains("pwned"),
        "the hostile name set the terminal's title"
    );
    let s = open_story(&t, "olusegun bakare", "Olusegun Bakare  person");
    assert!(s.contains("27 PARK AVENUE") && s.contains("LEEDS"), "{s}");

    // The working lists put the stories where they belong.
    t.keys(&["w"]);
    let s = t.wait_for("on the list", 20);
    assert!(s.contains("Robert Achterberg"), "complainers: {s}");
    t.keys(&["Tab"]);
    let s = t.wait_for("ordered half or less this year:", 20);
    let s = if s.contains("loading") {
        t.wait_for("on the list", 20)
    } else {
        s
    };
    assert!(s.contains("Northwind Logistics Ltd"), "halved: {s}");
    t.keys(&["Tab", "Tab"]);
    let s = t.wait_for("lost in the last two years (win back):", 20);
    let s = if s.contains("loading") {
        t.wait_for("on the list", 20)
    } else {
        s
    };
    assert!(s.contains("Charles Whitfield"), "lost-valuable: {s}");

    t.keys(&["q"]);
    let s = t.wait_for("console-exit=", 20);
    assert!(s.contains("console-exit=0"), "{s}");
}
