//! The front line on the real service: the console over `Embedded` on a temporary store at a
//! fixed clock, with disruptions on record as the airport reports them. The grant form's
//! disruption list at 80x24 and 120x40, and a second grant for the same disruption, picked
//! from the list, refused naming the first agent.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::{self, UnboundedReceiver};

use rapport_console::keymap::KeyBinding;
use rapport_console::{App, Clock, Config, Event};
use rapport_core::{
    AttrValue, Channel, CompensationGrant, Currency, Customer, CustomerId, Interaction,
    InteractionId, InteractionKind, Money, PartyKind, Sourced, Timestamp,
};
use rapport_governance::Role;
use rapport_service::{Embedded, Engine};
use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};

const HOUR: i64 = 3_600_000;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T22:00:00Z").unwrap()
}

/// Margaret Okafor: denied boarding on RP121 today (a gate voucher by J. Smith), delayed
/// 14 hours on RP667 yesterday; Lucía Fernández on RP667 too.
fn world() -> (Store, CustomerId) {
    let store = Store::temporary().unwrap();
    let t = now();
    let mut batch = Batch::default();
    let mut run = std::collections::HashMap::new();
    let mut ids = Vec::new();
    for (given, family) in [("Margaret", "Okafor"), ("Lucía", "Fernández")] {
        let id = store.next_customer_id().unwrap();
        let mut c = Customer::new(id, PartyKind::Person, t);
        c.profile.display_name = Some(Sourced::new(format!("{given} {family}"), None, t));
        c.profile.given_name = Some(Sourced::new(given.into(), None, t));
        c.profile.family_name = Some(Sourced::new(family.into(), None, t));
        let keys = vec![
            IndexKey::new(IndexKind::NameToken, given.to_lowercase()),
            IndexKey::new(IndexKind::NameToken, family.to_lowercase()),
        ];
        batch.put_customer(&c, keys);
        ids.push(id);
    }
    let event = |n: u64, customer, kind, flight: &str, date: &str, at, delay: Option<i64>| {
        let mut i = Interaction::new(InteractionId(n), customer, at, Channel::Airport, kind);
        i.touchpoint = Some("C12".into());
        for (k, v) in [
            ("flight", flight),
            ("flight_date", date),
            ("origin", if flight == "RP121" { "LHR" } else { "MAD" }),
            ("destination", if flight == "RP121" { "CDG" } else { "JFK" }),
        ] {
            i.attributes.insert(k.into(), AttrValue::Text(v.into()));
        }
        if let Some(m) = delay {
            i.attributes
                .insert("delay_minutes".into(), AttrValue::Int(m));
        }
        i
    };
    let evs = [
        event(
            1,
            ids[0],
            InteractionKind::Delay,
            "RP667",
            "2026-11-22",
            t.plus_millis(-30 * HOUR),
            Some(840),
        ),
        event(
            2,
            ids[1],
            InteractionKind::Delay,
            "RP667",
            "2026-11-22",
            t.plus_millis(-30 * HOUR),
            Some(840),
        ),
        event(
            3,
            ids[0],
            InteractionKind::DeniedBoarding,
            "RP121",
            "2026-11-23",
            t.plus_millis(-4 * HOUR),
            None,
        ),
    ];
    for i in &evs {
        batch.put_interaction(i);
        let d = rapport_repository::extract::disruption_of(i, "airport").unwrap();
        rapport_repository::disruption::note(&store, &mut run, &mut batch, d, i.customer).unwrap();
    }
    let mut g = Interaction::new(
        InteractionId(4),
        ids[0],
        t.plus_millis(-3 * HOUR - 40 * 60_000),
        Channel::Gate,
        InteractionKind::CompensationGranted,
    );
    g.touchpoint = Some("C12".into());
    g.employee = Some("J. Smith".into());
    batch.put_interaction(&g);
    batch.insert_grant(&CompensationGrant {
        customer: ids[0],
        disruption: "RP121/2026-11-23".into(),
        kind: rapport_core::DisruptionKind::DeniedBoarding,
        delay_minutes: None,
        instrument: "voucher".into(),
        amount: Money::new(40_000, Currency::EUR),
        policy_rule: "airport gate compensation".into(),
        granted_by: "J. Smith".into(),
        touchpoint: "C12".into(),
        at: g.at,
        interaction: g.id,
    });
    store.write(batch, Durability::Durable).unwrap();
    let _ = store.next_interaction_ids(10).unwrap();
    (store, ids[0])
}

struct Console {
    app: App<Embedded>,
    rx: UnboundedReceiver<Event>,
    term: Terminal<TestBackend>,
}

impl Console {
    async fn new(engine: Arc<Engine>, operator: &str, w: u16, h: u16) -> Console {
        let svc = Embedded::from_engine(engine, operator.into());
        Console::over(svc, &Config::default(), w, h).await
    }

    /// A console signed in as `operator` with `role`, working at `touchpoint` on `channel`.
    async fn signed_in(
        engine: Arc<Engine>,
        (operator, role): (&str, Role),
        (channel, touchpoint): (&str, &str),
        (w, h): (u16, u16),
    ) -> Console {
        let svc = Embedded::from_engine(engine, "front".into()).acting_as(operator, role);
        let config = Config {
            channel: Some(channel.into()),
            touchpoint: touchpoint.into(),
            ..Config::default()
        };
        Console::over(svc, &config, w, h).await
    }

    async fn over(svc: Embedded, config: &Config, w: u16, h: u16) -> Console {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut app = App::new(svc, config, tx, Clock::Fixed(now()));
        app.resize(w, h);
        app.start();
        let mut c = Console {
            app,
            rx,
            term: Terminal::new(TestBackend::new(w, h)).unwrap(),
        };
        c.settle().await;
        c
    }

    async fn press(&mut self, key: &str) {
        let kb: KeyBinding = key.parse().unwrap();
        self.app.handle(Event::Key(kb.to_event()));
        self.settle().await;
    }

    /// Presses `key` and handles the replies one at a time until a frame shows `text`; that
    /// frame (what a user sees first, before the rest of the replies arrive).
    async fn press_until(&mut self, key: &str, text: &str) -> String {
        let kb: KeyBinding = key.parse().unwrap();
        self.app.handle(Event::Key(kb.to_event()));
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            match tokio::time::timeout(Duration::from_secs(10), self.rx.recv()).await {
                Ok(Some(ev)) => self.app.handle(ev),
                _ => panic!("the console waited 10 s for {text:?}:\n{s}"),
            }
        }
    }

    async fn type_text(&mut self, text: &str) {
        for ch in text.chars() {
            self.app.handle(Event::Key(KeyEvent::new(
                KeyCode::Char(ch),
                KeyModifiers::NONE,
            )));
        }
        self.settle().await;
    }

    async fn settle(&mut self) {
        loop {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            while let Ok(ev) = self.rx.try_recv() {
                self.app.handle(ev);
            }
            if self.app.pending() == 0 {
                break;
            }
            match tokio::time::timeout(Duration::from_secs(10), self.rx.recv()).await {
                Ok(Some(ev)) => self.app.handle(ev),
                _ => panic!("the console waited 10 s for a reply"),
            }
        }
    }

    fn screen(&mut self) -> String {
        let app = &self.app;
        self.term.draw(|f| app.view(f)).unwrap();
        let buf = self.term.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            let mut line = String::new();
            for x in 0..buf.area.width {
                line.push_str(buf[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    async fn open_okafor(&mut self) {
        self.press("/").await;
        self.type_text("okafor").await;
        self.press("enter").await;
    }
}

fn engine() -> (Arc<Engine>, CustomerId) {
    let (store, okafor) = world();
    (
        Arc::new(Engine::new(store).with_clock(Clock::Fixed(now()))),
        okafor,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grant_form_lists_the_disruptions_on_record() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut c = Console::new(engine().0, "M. Rossi", w, h).await;
        c.open_okafor().await;
        c.press("c").await;
        let shown = c.screen();
        // Lines the box wrapped, joined for the checks.
        let s = shown
            .replace("│\n│", " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // Newest first, the newest picked, with the policy and the care items.
        let rp121 = s.find("> RP121/2026-11-23 denied-boarding").expect(&s);
        let rp667 = s.find("RP667/2026-11-22 delay 14 h 00").expect(&s);
        assert!(rp121 < rp667, "{s}");
        assert!(
            s.contains("voucher 400.00 EUR + meal voucher 15.00 EUR"),
            "{s}"
        );
        assert!(s.contains("hotel night 120.00 EUR"), "{s}");
        // The gate's grant: who, where, when, how much.
        assert!(
            s.contains("GRANTED voucher 400.00 EUR for RP121/2026-11-23 by J. Smith at C12"),
            "{s}"
        );
        insta::assert_snapshot!(format!("grant_disruption_list_{w}x{h}"), shown);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_grant_picked_from_the_list_is_refused_naming_the_first_agent() {
    let (engine, okafor) = engine();
    let mut c = Console::signed_in(
        engine.clone(),
        ("mrossi", Role::FrontLine),
        ("call_center", ""),
        (120, 40),
    )
    .await;
    c.open_okafor().await;
    c.press("c").await;
    // Accept the form as it comes (the newest disruption, picked), saying where we are.
    for _ in 0..4 {
        c.press("tab").await;
    }
    c.type_text("phone").await;
    c.press("enter").await;
    c.press("enter").await;
    let s = c.screen();
    assert!(s.contains("Refused: already granted"), "{s}");
    assert!(s.contains("by J. Smith at C12"), "{s}");
    // Picking the other disruption grants it, once.
    c.press("esc").await;
    c.press("c").await;
    c.press("right").await;
    for _ in 0..4 {
        c.press("tab").await;
    }
    c.type_text("phone").await;
    let s = c.screen();
    assert!(s.contains("> RP667/2026-11-22 delay"), "{s}");
    assert!(s.contains("Policy entitles: voucher 300.00 EUR"), "{s}");
    c.press("enter").await;
    c.press("enter").await;
    let s = c.screen();
    assert!(s.contains("Granted voucher 300.00 EUR"), "{s}");
    let grants = engine.store().grants_of(okafor).unwrap();
    assert_eq!(grants.len(), 2, "{grants:?}");
    // The grant is recorded at the rep's channel, not a generic one.
    let newest = grants.iter().max_by_key(|g| g.at).unwrap();
    let row = engine
        .store()
        .interactions_of(okafor)
        .map(Result::unwrap)
        .find(|i| i.id == newest.interaction)
        .unwrap();
    assert_eq!(row.channel, rapport_core::Channel::CallCenter);
    assert_eq!(row.employee.as_deref(), Some("mrossi"));
}

/// The flight view from Margaret Okafor's record: her newest disruption first (RP121, the
/// gate's voucher shown as received), then RP667 a tab away with both passengers entitled to
/// the same; granting the whole flight gives each exactly once, and a second whole-flight
/// grant is refused for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flight_view_shows_every_passenger_and_grants_the_whole_flight_once() {
    for (w, h) in [(80, 24), (120, 40)] {
        let (engine, okafor) = engine();
        let mut c = Console::signed_in(
            engine.clone(),
            ("mrossi", Role::FrontLine),
            ("call_center", ""),
            (w, h),
        )
        .await;
        c.open_okafor().await;
        c.press("v").await;
        let s = c.screen();
        assert!(s.contains("RP121/2026-11-23 denied-boarding"), "{s}");
        assert!(s.contains("1 passenger, 1 compensated, 0 not yet"), "{s}");
        assert!(s.contains("(disruption 1 of 2; tab: next)"), "{s}");
        let row = s.lines().find(|l| l.contains("Margaret Okafor")).expect(&s);
        assert!(row.contains("voucher 400.00 EUR"), "{row}");
        c.press("tab").await;
        let s = c.screen();
        assert!(s.contains("RP667/2026-11-22 delay 14 h 00"), "{s}");
        assert!(s.contains("2 passengers, 0 compensated, 2 not yet"), "{s}");
        // Same delay, same entitlement, nothing received yet.
        for name in ["Margaret Okafor", "Lucía Fernández"] {
            let row = s.lines().find(|l| l.contains(name)).expect(&s);
            assert!(row.contains("voucher 300.00 EUR"), "{row}");
            assert!(row.contains("nothing yet"), "{row}");
        }
        insta::assert_snapshot!(format!("flight_view_{w}x{h}"), s);
        if w == 80 {
            continue;
        }
        // The grant key asks first; any other key cancels.
        c.press("C").await;
        assert!(c.screen().contains("again to confirm"));
        c.press("j").await;
        assert!(!c.screen().contains("again to confirm"));
        assert!(engine.store().grants_of(okafor).unwrap().len() == 1);
        c.press("C").await;
        // The frame that first says what the grant did already shows it on the rows (the
        // reread of the flight comes after it).
        let s = c.press_until("C", "Whole flight:").await;
        let row = s.lines().find(|l| l.contains("Lucía Fernández")).expect(&s);
        assert!(!row.contains("nothing yet"), "{row}");
        c.settle().await;
        let s = c.screen();
        assert!(
            s.contains(
                "Whole flight: 2 granted now, 0 already compensated (refused), 0 not granted"
            ),
            "{s}"
        );
        assert!(s.contains("2 passengers, 2 compensated, 0 not yet"), "{s}");
        let row = s.lines().find(|l| l.contains("Lucía Fernández")).expect(&s);
        assert!(row.contains("mrossi at call_center"), "{row}");
        let lucia = engine.store().grants_of(CustomerId(okafor.0 + 1)).unwrap();
        assert_eq!(lucia.len(), 1, "{lucia:?}");
        assert_eq!(lucia[0].amount, Money::new(30_000, Currency::EUR));
        assert_eq!(engine.store().grants_of(okafor).unwrap().len(), 2);
        // Again: nobody is paid twice.
        c.press("C").await;
        c.press("C").await;
        let s = c.screen();
        assert!(
            s.contains("Whole flight: 0 granted now, 2 already compensated (refused)"),
            "{s}"
        );
        assert_eq!(engine.store().grants_of(okafor).unwrap().len(), 2);
        // Enter opens the selected passenger's record; Esc comes back to the flight.
        c.press("j").await;
        c.press("enter").await;
        let s = c.screen();
        assert!(s.contains("Lucía Fernández") && s.contains("Record"), "{s}");
        c.press("esc").await;
        assert!(c.screen().contains("RP667/2026-11-22 delay"));
    }
}

/// A complaint is a case: logged at the call center about the disruption the form prefills
/// (accepted as it comes), it is a cue on the record until resolved; resolving it from the
/// record closes it once, and a second console that picked the same case is refused, naming
/// who closed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_is_a_case_until_it_is_resolved_once() {
    let (engine, _) = engine();
    let mut rep = Console::signed_in(
        engine.clone(),
        ("mrossi", Role::FrontLine),
        ("call_center", "desk 4"),
        (120, 40),
    )
    .await;
    rep.open_okafor().await;
    rep.press("i").await;
    rep.press("left").await;
    for _ in 0..4 {
        rep.press("tab").await;
    }
    rep.type_text("bumped from RP121 and nobody called back")
        .await;
    let s = rep.screen();
    assert!(s.contains("◀ complaint ▶"), "{s}");
    assert!(s.contains("About") && s.contains("RP121/2026-11-23"), "{s}");
    rep.press("enter").await;
    let s = rep.screen();
    assert!(
        s.contains("complaint open since just now about RP121/2026-11-23"),
        "{s}"
    );
    // The gate agent has the same record open and starts resolving the same case.
    let mut gate = Console::signed_in(
        engine.clone(),
        ("jsmith", Role::FrontLine),
        ("gate", "gate C12"),
        (120, 40),
    )
    .await;
    gate.open_okafor().await;
    gate.press("R").await;
    gate.press("tab").await;
    gate.type_text("apologised at the gate").await;
    // The rep resolves it first, accepting the case as it comes.
    rep.press("R").await;
    let s = rep.screen();
    assert!(
        s.contains("Resolve a complaint") && s.contains("about RP121/2026-11-23"),
        "{s}"
    );
    rep.press("tab").await;
    rep.type_text("called back, voucher explained").await;
    rep.press("enter").await;
    let s = rep.screen();
    assert!(s.contains("Saved complaint_resolved"), "{s}");
    assert!(!s.contains("complaint open since"), "{s}");
    assert!(s.contains("complaint_resolved"), "{s}");
    rep.press("R").await;
    assert!(rep.screen().contains("No open complaint on this record."));
    // The gate's attempt is refused, naming who closed it.
    gate.press("enter").await;
    let s = gate.screen();
    assert!(s.contains("already resolved by mrossi"), "{s}");
}

/// The record's erase action (#19.5): offered to a steward, not to the front line; it names the
/// customer, asks twice, and the record then shows the pseudonym with its history kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_erase_action_names_the_customer_asks_twice_and_leaves_the_pseudonym() {
    let (engine, okafor) = engine();
    let mut front = Console::signed_in(
        engine.clone(),
        ("J. Smith", Role::FrontLine),
        ("airport", "C12"),
        (120, 40),
    )
    .await;
    front.open_okafor().await;
    front.press("X").await;
    assert!(!front.screen().contains("Erase personal data"));

    let mut steward = Console::signed_in(
        engine.clone(),
        ("I. Steward", Role::Steward),
        ("web", "office"),
        (120, 40),
    )
    .await;
    steward.open_okafor().await;
    let history_before = engine.store().interactions_of(okafor).count();
    steward.press("X").await;
    let s = steward.screen();
    assert!(
        s.contains(&format!(
            "Erase the personal data of Margaret Okafor ({okafor})?"
        )),
        "{s}"
    );
    assert!(s.contains("Enter to continue (asks again)"), "{s}");
    // Esc cancels: nothing happens.
    steward.press("esc").await;
    assert!(!steward.screen().contains("Erase personal data"));
    steward.press("X").await;
    steward.press("enter").await;
    let s = steward.screen();
    assert!(s.contains("Enter again to erase Margaret Okafor"), "{s}");
    assert_eq!(
        engine
            .store()
            .customer(okafor)
            .unwrap()
            .unwrap()
            .display_name(),
        "Margaret Okafor"
    );
    steward.press("enter").await;
    let s = steward.screen();
    assert!(
        s.contains("Erased: the record now shows \"erased 2026-11-23\""),
        "{s}"
    );
    let c = engine.store().customer(okafor).unwrap().unwrap();
    assert_eq!(c.display_name(), "erased 2026-11-23");
    assert_eq!(
        engine.store().interactions_of(okafor).count(),
        history_before
    );
    let hits = engine
        .store()
        .index_prefix(IndexKind::NameToken, "okafor", 10)
        .unwrap();
    assert!(hits.is_empty(), "{hits:?}");
}
