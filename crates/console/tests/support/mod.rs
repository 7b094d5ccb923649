//! The console's screen tests run the real service: a temporary store seeded with a small
//! world through the store and repository APIs, the real engine at a fixed time
//! (`Engine::with_clock`), and consoles as `Embedded` services acting as different operators
//! on that one engine, so live updates and the compensation policy are the product's own.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::{self, UnboundedReceiver};

use rapport_analytics::{ListName, TierMeasure, TierRow, TierSummary, Tiering, WorkingList};
use rapport_console::keymap::KeyBinding;
use rapport_console::{App, Clock, Config, Event};
use rapport_core::*;
use rapport_governance::Role;
use rapport_repository::cleanse::{Reason, name_tokens};
use rapport_repository::ingest::{search_code, search_pair};
use rapport_repository::quarantine::{self, QuarantineEntry};
use rapport_service::{Embedded, Engine};
use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};

/// The fixed "now" of every snapshot: 2026-11-23 10:00 UTC.
pub fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap()
}

fn hours_ago(h: i64) -> Timestamp {
    now().plus_millis(-h * 3_600_000)
}

/// The collection the scoring run stores its results in (read by the service's overview).
const ANALYTICS: &str = "analytics";

/// The small world on the real engine. Customers, in id order: 1 Anna Berg (tier A, delayed
/// 14 h yesterday, a lost bag, flying again today), 2 Erik Berg (her household), 3 Acme AB
/// (her employer, 30 employees), 4 a hostile name, 5 Anders Bergström (a look-alike).
#[derive(Clone)]
pub struct World {
    pub engine: Arc<Engine>,
}

struct Seed {
    store: Store,
    batch: Batch,
    next_interaction: u64,
    /// Disruption records noted so far, as the ingest keeps them.
    disruptions: std::collections::HashMap<String, rapport_core::Disruption>,
}

impl Seed {
    /// Stores an interaction; a disruption row also notes its disruption on record, as the
    /// ingest does for the airport's rows (grants must name a disruption on record).
    fn put(&mut self, i: &Interaction) {
        self.batch.put_interaction(i);
        if let Some(d) = rapport_repository::extract::disruption_of(i, "airport") {
            rapport_repository::disruption::note(
                &self.store,
                &mut self.disruptions,
                &mut self.batch,
                d,
                i.customer,
            )
            .unwrap();
        }
    }

    fn customer(&mut self, c: &Customer) {
        let mut keys = Vec::new();
        let tokens = name_tokens(&c.display_name());
        for t in &tokens {
            keys.push(IndexKey::new(IndexKind::NameToken, t.clone()));
            keys.push(IndexKey::new(IndexKind::NamePhonetic, search_code(t)));
        }
        for a in &tokens {
            for b in &tokens {
                if a != b {
                    keys.push(IndexKey::new(IndexKind::NameToken, search_pair(a, b)));
                }
            }
        }
        for cp in &c.contacts {
            let kind = match cp.kind {
                ContactKind::Email => IndexKind::Email,
                _ => IndexKind::Phone,
            };
            keys.push(IndexKey::new(kind, cp.value.clone()));
        }
        if let Some(l) = &c.profile.loyalty_number {
            keys.push(IndexKey::new(IndexKind::LoyaltyNumber, l.value.clone()));
        }
        keys.sort();
        keys.dedup();
        self.batch.put_customer(c, keys);
    }

    fn interaction(
        &mut self,
        customer: CustomerId,
        at: Timestamp,
        channel: Channel,
        kind: InteractionKind,
    ) -> Interaction {
        let id = InteractionId(self.next_interaction);
        self.next_interaction += 1;
        Interaction::new(id, customer, at, channel, kind)
    }
}

fn sourced<T>(v: T) -> Option<Sourced<T>> {
    Some(Sourced::new(
        v,
        Some(SourceRef::new("crm", "x")),
        hours_ago(24 * 400),
    ))
}

fn person(id: CustomerId, kind: PartyKind, name: &str, city: &str) -> Customer {
    let mut c = Customer::new(id, kind, hours_ago(24 * 900));
    c.profile.display_name = sourced(name.to_string());
    c.profile.city = sourced(city.to_string());
    c.identifiers
        .push(SourceRef::new("crm", format!("K{}", id.0)));
    c
}

fn scores(tier: Tier, clv: f64, p_alive: f64) -> Scores {
    Scores {
        model_version: "value-v1".into(),
        at: hours_ago(30),
        value: clv / 5.0,
        annual_value: clv / 4.0,
        profit: clv / 8.0,
        clv,
        p_alive,
        churn: Some(1.0 - p_alive),
        expected_transactions: 4.0,
        tier,
        top: tier == Tier::A,
        bottom: tier == Tier::C,
        segment: "premium".into(),
        propensity: BTreeMap::new(),
    }
}

fn eur(cents: i64) -> Money {
    Money::new(cents, Currency::EUR)
}

fn text(v: &str) -> AttrValue {
    AttrValue::Text(v.into())
}

fn relation(kind: RelationshipKind, other: u64) -> Relationship {
    Relationship {
        kind,
        other: CustomerId(other),
        since: None,
        source: None,
    }
}

fn contact(kind: ContactKind, value: &str) -> ContactPoint {
    ContactPoint {
        kind,
        value: value.into(),
        valid_from: None,
        valid_to: None,
        source: None,
        last_seen: hours_ago(48),
    }
}

impl World {
    /// Builds the world in a temporary store and starts the real engine at [`now`].
    pub fn new() -> World {
        let store = Store::temporary().unwrap();
        let mut seed = Seed {
            store: store.clone(),
            batch: Batch::default(),
            // A block the engine will not hand out again.
            next_interaction: store.next_interaction_ids(1_000).unwrap().start,
            disruptions: Default::default(),
        };
        let ids: Vec<CustomerId> = (0..5).map(|_| store.next_customer_id().unwrap()).collect();
        assert_eq!(
            ids[0],
            CustomerId(1),
            "a fresh store numbers customers from 1"
        );
        seed.anna();
        seed.erik();
        seed.acme();
        seed.eve();
        seed.anders();
        seed.analytics();
        let Seed { store, batch, .. } = seed;
        store.write(batch, Durability::Durable).unwrap();
        World {
            engine: Arc::new(Engine::new(store).with_clock(Clock::Fixed(now()))),
        }
    }

    /// A console's service: the engine acting as `operator` with `role`.
    pub fn console(&self, operator: &str, role: Role) -> Embedded {
        Embedded::from_engine(self.engine.clone(), "(test world)".into()).acting_as(operator, role)
    }
}

/// A front-line console on a fresh world.
pub fn front_line() -> Embedded {
    World::new().console("J. Smith", Role::FrontLine)
}

impl Seed {
    /// Anna Berg: tier A, 36 older interactions, a lost bag and a complaint last week, delayed
    /// 14 h yesterday, checked in today for RP125 with a seat, a gate and a bag tag.
    fn anna(&mut self) {
        let id = CustomerId(1);
        let mut anna = person(id, PartyKind::Person, "Anna Berg", "Stockholm");
        anna.profile.loyalty_number = sourced("M100200".into());
        anna.profile.loyalty_status = sourced("gold".into());
        anna.profile.country = sourced("SE".into());
        anna.contacts
            .push(contact(ContactKind::Phone, "+46701234567"));
        anna.contacts
            .push(contact(ContactKind::Email, "anna.berg@example.se"));
        anna.relationships
            .push(relation(RelationshipKind::Household, 2));
        anna.relationships
            .push(relation(RelationshipKind::EmployeeOf, 3));
        for (topic, value) in [("seat", "aisle"), ("drink", "sparkling water")] {
            anna.preferences.push(Preference {
                topic: topic.into(),
                value: value.into(),
                recorded_by: "crm".into(),
                channel: Channel::CallCenter,
                at: hours_ago(24 * 60),
            });
        }
        self.customer(&anna);
        self.batch.put_scores(id, &scores(Tier::A, 12_340.0, 0.93));
        for k in 0..36 {
            let at = hours_ago(24 * (300 - k * 8));
            let (kind, channel) = match k % 4 {
                0 => (InteractionKind::Booking, Channel::Web),
                1 => (InteractionKind::FlightFlown, Channel::Airport),
                2 => (InteractionKind::LoyaltyActivity, Channel::App),
                _ => (InteractionKind::Inquiry, Channel::CallCenter),
            };
            let mut i = self.interaction(id, at, channel, kind.clone());
            if kind == InteractionKind::Booking {
                i.amounts.push(Amount {
                    role: AmountRole::Revenue,
                    money: eur(42_000 + k * 100),
                });
                i.attributes.insert("booking_method".into(), text("web"));
            }
            if kind == InteractionKind::FlightFlown {
                i.touchpoint = Some("ARN".into());
                i.attributes
                    .insert("flight".into(), text(&format!("RP{}", 100 + k)));
            }
            self.put(&i);
        }
        let mut bag = self.interaction(
            id,
            hours_ago(24 * 9),
            Channel::Airport,
            InteractionKind::BagLost,
        );
        bag.touchpoint = Some("CPH baggage".into());
        bag.phase = Some(Phase::During);
        bag.attributes.insert("bag_tag".into(), text("RP884211"));
        self.put(&bag);
        let mut complaint = self.interaction(
            id,
            hours_ago(24 * 8),
            Channel::CallCenter,
            InteractionKind::Complaint,
        );
        complaint.employee = Some("L. Holm".into());
        complaint.text = Some(
            "bag still missing after 24 h; the customer had to buy clothes for a wedding in \
             Copenhagen and asks that the receipts (312.40 EUR) be refunded with the delay"
                .into(),
        );
        complaint.phase = Some(Phase::Post);
        self.put(&complaint);
        let mut flown = self.interaction(
            id,
            hours_ago(21),
            Channel::Gate,
            InteractionKind::FlightFlown,
        );
        flown.touchpoint = Some("gate B4".into());
        flown.attributes.insert("flight".into(), text("RP123"));
        self.put(&flown);
        let mut delay = self.interaction(id, hours_ago(20), Channel::Gate, InteractionKind::Delay);
        delay.touchpoint = Some("gate B4".into());
        delay.attributes.insert("flight".into(), text("RP123"));
        delay
            .attributes
            .insert("flight_date".into(), text("2026-11-22"));
        delay
            .attributes
            .insert("delay_minutes".into(), AttrValue::Int(840));
        delay
            .attributes
            .insert("disruption".into(), text("RP123/2026-11-22"));
        delay.phase = Some(Phase::During);
        self.put(&delay);
        // Today's trip: checked in an hour ago for a flight in three hours.
        let mut checkin = self.interaction(
            id,
            hours_ago(1),
            Channel::Airport,
            InteractionKind::Other("check_in".into()),
        );
        checkin.touchpoint = Some("B7".into());
        checkin.phase = Some(Phase::During);
        for (k, v) in [
            ("flight", "RP125"),
            ("flight_date", "2026-11-23"),
            ("origin", "ARN"),
            ("destination", "CPH"),
            ("seat", "14C"),
            ("bag_tag", "RP884977"),
            ("booking_ref", "K7Q2LM"),
        ] {
            checkin.attributes.insert(k.into(), text(v));
        }
        self.put(&checkin);
    }

    /// Erik Berg: tier B, a voucher granted three hours ago at a long touchpoint name (a
    /// long alert on his record) and an open complaint.
    fn erik(&mut self) {
        let id = CustomerId(2);
        let mut erik = person(id, PartyKind::Person, "Erik Berg", "Stockholm");
        erik.relationships
            .push(relation(RelationshipKind::Household, 1));
        self.customer(&erik);
        self.batch.put_scores(id, &scores(Tier::B, 3_100.0, 0.71));
        let mut cancel = self.interaction(
            id,
            hours_ago(5),
            Channel::Airport,
            InteractionKind::Cancellation,
        );
        cancel.attributes.insert("flight".into(), text("RP121"));
        cancel
            .attributes
            .insert("flight_date".into(), text("2026-11-23"));
        cancel
            .attributes
            .insert("disruption".into(), text("RP121/2026-11-23"));
        self.put(&cancel);
        let mut granted = self.interaction(
            id,
            hours_ago(3),
            Channel::Gate,
            InteractionKind::CompensationGranted,
        );
        granted.touchpoint = Some("gate C12 (Terminal 5 transfer desk)".into());
        granted.employee = Some("J. Smith".into());
        granted.amounts.push(Amount {
            role: AmountRole::Compensation,
            money: eur(40_000),
        });
        self.put(&granted);
        self.batch.insert_grant(&CompensationGrant {
            customer: id,
            disruption: "RP121/2026-11-23".into(),
            kind: DisruptionKind::Cancellation,
            delay_minutes: None,
            instrument: "voucher".into(),
            amount: eur(40_000),
            policy_rule: "cancellation v1".into(),
            granted_by: "J. Smith".into(),
            touchpoint: "gate C12 (Terminal 5 transfer desk)".into(),
            at: hours_ago(3),
            interaction: granted.id,
        });
        let mut complaint = self.interaction(
            id,
            hours_ago(2),
            Channel::CallCenter,
            InteractionKind::Complaint,
        );
        complaint.employee = Some("M. Rossi".into());
        complaint.text = Some(
            "rebooked on the evening flight but the connection to Tromsø leaves before it lands"
                .into(),
        );
        self.put(&complaint);
    }

    /// Acme AB: a corporate account employing Anna and 29 others.
    fn acme(&mut self) {
        let id = CustomerId(3);
        let mut acme = person(id, PartyKind::Organisation, "Acme AB", "Uppsala");
        for other in std::iter::once(1).chain(200..229) {
            acme.relationships
                .push(relation(RelationshipKind::Employs, other));
        }
        self.customer(&acme);
        self.batch.put_scores(id, &scores(Tier::A, 88_000.0, 0.99));
    }

    /// A customer whose data tries to drive the terminal.
    fn eve(&mut self) {
        let id = CustomerId(4);
        let hostile = "Eve\u{1b}[2J\u{1b}]0;pwned\u{7}\u{202E}Mallory";
        let mut eve = person(id, PartyKind::Person, hostile, "Oslo\u{1b}[31m");
        eve.preferences.push(Preference {
            topic: "meal".into(),
            value: "\u{1b}]52;c;ZXZpbA==\u{7}vegan".into(),
            recorded_by: "web".into(),
            channel: Channel::Web,
            at: hours_ago(5),
        });
        self.customer(&eve);
        let mut note = self.interaction(id, hours_ago(3), Channel::Web, InteractionKind::Note);
        note.text = Some("hello\u{1b}[1;1H\u{1b}[2Jgotcha".into());
        note.touchpoint = Some("\u{1b}[5mweb".into());
        self.put(&note);
    }

    /// Anders Bergström: tier C, one old booking.
    fn anders(&mut self) {
        let id = CustomerId(5);
        let anders = person(id, PartyKind::Person, "Anders Bergström", "Göteborg");
        self.customer(&anders);
        self.batch.put_scores(id, &scores(Tier::C, 410.0, 0.35));
        let mut old = self.interaction(
            id,
            hours_ago(24 * 200),
            Channel::Web,
            InteractionKind::Booking,
        );
        old.amounts.push(Amount {
            role: AmountRole::Revenue,
            money: eur(9_900),
        });
        self.put(&old);
    }

    /// What a scoring run and an ingest leave for the overview: tiers, value skew, the
    /// complainers list and two quarantined rows.
    fn analytics(&mut self) {
        let at = hours_ago(30);
        let row = |tier, customers, value_share| TierRow {
            tier,
            customers,
            value: 0.0,
            value_share,
            profit: 0.0,
            clv: 0.0,
        };
        let tiers = TierSummary {
            at,
            model_version: "value-v1".into(),
            measure: TierMeasure::Value,
            tiering: Tiering {
                a_cutoff: 2_000.0,
                b_cutoff: 500.0,
                c_cutoff: 100.0,
                top_cutoff: 5_000.0,
                bottom_cutoff: 100.0,
                floor: 0.0,
                ceiling: 100_000.0,
            },
            tiers: vec![
                row(Tier::A, 2, 0.95),
                row(Tier::B, 1, 0.03),
                row(Tier::C, 1, 0.02),
            ],
            top_customers: 1,
            top_value_share: 0.85,
            bottom_customers: 1,
            bottom_profit: -12.0,
            negative_customers: 0,
            negative_value: 0.0,
            movements: Vec::new(),
        };
        self.batch.put_doc(ANALYTICS, "tiers", &tiers).unwrap();
        let values = [17_600.0, 2_468.0, 620.0, 82.0];
        let skew = rapport_analytics::skew(&values, "value", at).unwrap();
        self.batch.put_doc(ANALYTICS, "skew", &skew).unwrap();
        let list = WorkingList {
            name: ListName::Complainers,
            title: "Valuable complainers".into(),
            at,
            total: 1,
            entries: vec![rapport_analytics::ListEntry {
                customer: CustomerId(1),
                tier: Tier::A,
                rank_value: 2.0,
                reason: "2 complaints in the last 12 months, tier A".into(),
            }],
        };
        self.batch
            .put_doc(
                ANALYTICS,
                &format!("list/{}", ListName::Complainers.as_str()),
                &list,
            )
            .unwrap();
        for (line, reason) in [(14, Reason::AmbiguousDate), (27, Reason::MalformedPhone)] {
            let raw = format!("row {line}").into_bytes();
            let file = std::path::Path::new("call_center.csv");
            let entry = QuarantineEntry {
                id: QuarantineEntry::id_for("call_center", file, &raw),
                source: "call_center".into(),
                mapping: "call_center.toml".into(),
                file: "call_center.csv".into(),
                line,
                field: "date".into(),
                reason,
                detail: "ambiguous".into(),
                raw,
                header: None,
                raw_len: None,
                raw_sha256: None,
                header_cut: false,
                at,
            };
            self.batch
                .put_doc(quarantine::COLLECTION, &entry.id, &entry)
                .unwrap();
        }
    }
}

/// A console over the real embedded service, rendering into a `TestBackend`, driven by key events.
pub struct Harness {
    pub app: App<Embedded>,
    rx: UnboundedReceiver<Event>,
    pub term: Terminal<TestBackend>,
}

impl Harness {
    pub async fn new(svc: Embedded, width: u16, height: u16) -> Harness {
        Harness::with_config(svc, width, height, &Config::default()).await
    }

    pub async fn with_config(svc: Embedded, width: u16, height: u16, config: &Config) -> Harness {
        Harness::with_clock(svc, width, height, config, Clock::Fixed(now())).await
    }

    /// A console whose clock the test moves (status messages, highlights).
    pub async fn with_clock(
        svc: Embedded,
        width: u16,
        height: u16,
        config: &Config,
        clock: Clock,
    ) -> Harness {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut app = App::new(svc, config, tx, clock);
        app.resize(width, height);
        app.start();
        let mut h = Harness {
            app,
            rx,
            term: Terminal::new(TestBackend::new(width, height)).unwrap(),
        };
        h.settle().await;
        // The console opens with no customer; the operator's first key is `/` (search).
        h.press("/").await;
        h
    }

    /// Presses one key in the notation of the key map (`enter`, `esc`, `ctrl-c`, `G`).
    pub async fn press(&mut self, key: &str) {
        let kb: KeyBinding = key.parse().unwrap();
        self.app.handle(Event::Key(kb.to_event()));
        self.settle().await;
    }

    /// Types text, one key event per character.
    pub async fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.app.handle(Event::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        self.settle().await;
    }

    /// Handles events until no request is outstanding and nothing is queued.
    pub async fn settle(&mut self) {
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
            match tokio::time::timeout(Duration::from_secs(5), self.rx.recv()).await {
                Ok(Some(ev)) => self.app.handle(ev),
                _ => panic!("the console waited 5 s for a reply"),
            }
        }
    }

    /// Waits for a live event pushed by the service (no key pressed), then settles.
    pub async fn wait_live(&mut self) {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.rx.recv()).await {
                Ok(Some(ev)) => {
                    let live = matches!(ev, Event::Live(_));
                    self.app.handle(ev);
                    if live {
                        break;
                    }
                }
                _ => panic!("no live event within 5 s"),
            }
        }
        self.settle().await;
    }

    pub fn event(&mut self, ev: Event) {
        self.app.handle(ev);
    }

    /// Draws and returns the screen as text, one line per row, trailing spaces trimmed.
    pub fn screen(&mut self) -> String {
        let app = &self.app;
        self.term.draw(|f| app.view(f)).unwrap();
        buffer_text(self.term.backend().buffer())
    }

    pub fn buffer(&self) -> &ratatui::buffer::Buffer {
        self.term.backend().buffer()
    }
}

pub fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The screen text with timings that vary between runs replaced by `N`.
pub fn stable(screen: &str) -> String {
    let mut out = String::new();
    for line in screen.lines() {
        match line.find(" in ").zip(line.find(" ms")) {
            Some((a, b)) if a < b && line[a + 4..b].bytes().all(|c| c.is_ascii_digit()) => {
                let padded = format!("{} in N ms{}", &line[..a], &line[b + 3..]);
                out.push_str(&padded);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
