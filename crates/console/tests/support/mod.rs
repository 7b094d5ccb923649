//! An in-memory `Service` for the console's snapshot tests, with a small world of customers,
//! a fixed clock and live updates between consoles sharing one world. The product always runs
//! on the real service; this only makes screens reproducible.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio::sync::watch;

use rapport_console::keymap::KeyBinding;
use rapport_console::{App, Clock, Config, Event};
use rapport_core::*;
use rapport_governance::Role;
use rapport_service::*;

/// The fixed "now" of every snapshot: 2026-11-23 10:00 UTC.
pub fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap()
}

fn hours_ago(h: i64) -> Timestamp {
    now().plus_millis(-h * 3_600_000)
}

struct World {
    records: BTreeMap<CustomerId, CustomerRecord>,
    next_interaction: u64,
    subs: Vec<(mpsc::Sender<LiveEvent>, watch::Receiver<Watch>)>,
}

/// The fake service: one shared world, one session per console.
#[derive(Clone)]
pub struct Fake {
    world: Arc<Mutex<World>>,
    session: SessionInfo,
}

fn sourced<T>(v: T) -> Option<Sourced<T>> {
    Some(Sourced::new(
        v,
        Some(SourceRef::new("crm", "x")),
        hours_ago(24 * 400),
    ))
}

fn person(id: u64, kind: PartyKind, name: &str, city: &str) -> Customer {
    let mut c = Customer::new(CustomerId(id), kind, hours_ago(24 * 900));
    c.profile.display_name = sourced(name.to_string());
    c.profile.city = sourced(city.to_string());
    c.identifiers.push(SourceRef::new("crm", format!("K{id}")));
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

fn record(customer: Customer, scores: Option<Scores>) -> CustomerRecord {
    CustomerRecord {
        customer,
        related_names: BTreeMap::new(),
        scores,
        portfolio: None,
        cues: Vec::new(),
        grants: Vec::new(),
        interactions: Vec::new(),
        more_interactions: false,
        masked: false,
    }
}

fn eur(cents: i64) -> Money {
    Money::new(cents, Currency::EUR)
}

impl Fake {
    /// The small world: Anna Berg (tier A, delayed 14 h yesterday, a lost bag), her household
    /// and employer, a hostile name, and a look-alike.
    pub fn world(operator: &str, role: Role) -> Fake {
        let mut records = BTreeMap::new();
        let mut next = 1u64;
        let mut anna = person(1, PartyKind::Person, "Anna Berg", "Stockholm");
        anna.profile.loyalty_number = sourced("M100200".into());
        anna.profile.loyalty_status = sourced("gold".into());
        anna.profile.country = sourced("SE".into());
        for (kind, value) in [
            (ContactKind::Phone, "+46701234567"),
            (ContactKind::Email, "anna.berg@example.se"),
        ] {
            anna.contacts.push(ContactPoint {
                kind,
                value: value.into(),
                valid_from: None,
                valid_to: None,
                source: None,
                last_seen: hours_ago(48),
            });
        }
        anna.relationships.push(Relationship {
            kind: RelationshipKind::Household,
            other: CustomerId(2),
            since: None,
            source: None,
        });
        anna.relationships.push(Relationship {
            kind: RelationshipKind::EmployeeOf,
            other: CustomerId(3),
            since: None,
            source: None,
        });
        for (topic, value) in [("seat", "aisle"), ("drink", "sparkling water")] {
            anna.preferences.push(Preference {
                topic: topic.into(),
                value: value.into(),
                recorded_by: "crm".into(),
                channel: Channel::CallCenter,
                at: hours_ago(24 * 60),
            });
        }
        let mut rec = record(anna, Some(scores(Tier::A, 12_340.0, 0.93)));
        rec.related_names.insert(CustomerId(2), "Erik Berg".into());
        rec.related_names.insert(CustomerId(3), "Acme AB".into());
        rec.portfolio = Some(PortfolioRef {
            id: "P1".into(),
            name: "Nordic premium".into(),
            manager: "K. Lund".into(),
        });
        rec.cues.push(Cue {
            level: CueLevel::Recognise,
            text: "delayed 14 h yesterday on RP123: apologise".into(),
            at: hours_ago(20),
        });
        rec.cues.push(Cue {
            level: CueLevel::Recognise,
            text: "bag lost on last trip: confirm today's bag is loaded".into(),
            at: hours_ago(24 * 9),
        });
        // 40 interactions, oldest first in time; the record keeps them newest first.
        let mut hist = Vec::new();
        for k in 0..36 {
            let at = hours_ago(24 * (300 - k * 8));
            let (kind, channel) = match k % 4 {
                0 => (InteractionKind::Booking, Channel::Web),
                1 => (InteractionKind::FlightFlown, Channel::Airport),
                2 => (InteractionKind::LoyaltyActivity, Channel::App),
                _ => (InteractionKind::Inquiry, Channel::CallCenter),
            };
            let mut i = Interaction::new(
                InteractionId(next),
                CustomerId(1),
                at,
                channel,
                kind.clone(),
            );
            next += 1;
            if kind == InteractionKind::Booking {
                i.amounts.push(Amount {
                    role: AmountRole::Revenue,
                    money: eur(42_000 + k * 100),
                });
                i.attributes
                    .insert("booking_method".into(), AttrValue::Text("web".into()));
            }
            if kind == InteractionKind::FlightFlown {
                i.touchpoint = Some("ARN".into());
                i.attributes
                    .insert("flight".into(), AttrValue::Text(format!("RP{}", 100 + k)));
            }
            hist.push(i);
        }
        let mut bag = Interaction::new(
            InteractionId(next),
            CustomerId(1),
            hours_ago(24 * 9),
            Channel::Airport,
            InteractionKind::BagLost,
        );
        next += 1;
        bag.touchpoint = Some("CPH baggage".into());
        bag.phase = Some(Phase::During);
        hist.push(bag);
        let mut complaint = Interaction::new(
            InteractionId(next),
            CustomerId(1),
            hours_ago(24 * 8),
            Channel::CallCenter,
            InteractionKind::Complaint,
        );
        next += 1;
        complaint.employee = Some("L. Holm".into());
        complaint.text = Some("bag still missing after 24 h".into());
        complaint.phase = Some(Phase::Post);
        hist.push(complaint);
        let mut flown = Interaction::new(
            InteractionId(next),
            CustomerId(1),
            hours_ago(21),
            Channel::Gate,
            InteractionKind::FlightFlown,
        );
        next += 1;
        flown.touchpoint = Some("gate B4".into());
        flown
            .attributes
            .insert("flight".into(), AttrValue::Text("RP123".into()));
        hist.push(flown);
        let mut delay = Interaction::new(
            InteractionId(next),
            CustomerId(1),
            hours_ago(20),
            Channel::Gate,
            InteractionKind::Delay,
        );
        next += 1;
        delay.touchpoint = Some("gate B4".into());
        delay
            .attributes
            .insert("flight".into(), AttrValue::Text("RP123".into()));
        delay
            .attributes
            .insert("delay_minutes".into(), AttrValue::Int(840));
        delay.attributes.insert(
            "disruption".into(),
            AttrValue::Text("RP123/2026-11-22".into()),
        );
        delay.phase = Some(Phase::During);
        hist.push(delay);
        hist.reverse();
        rec.interactions = hist;
        records.insert(CustomerId(1), rec);

        let erik = person(2, PartyKind::Person, "Erik Berg", "Stockholm");
        records.insert(
            CustomerId(2),
            record(erik, Some(scores(Tier::B, 3_100.0, 0.71))),
        );
        let mut acme = person(3, PartyKind::Organisation, "Acme AB", "Uppsala");
        // A corporate account employs many: Anna and 29 others.
        for other in std::iter::once(1).chain(200..229) {
            acme.relationships.push(Relationship {
                kind: RelationshipKind::Employs,
                other: CustomerId(other),
                since: None,
                source: None,
            });
        }
        records.insert(
            CustomerId(3),
            record(acme, Some(scores(Tier::A, 88_000.0, 0.99))),
        );
        let hostile = "Eve\u{1b}[2J\u{1b}]0;pwned\u{7}\u{202E}Mallory";
        let mut eve = person(4, PartyKind::Person, hostile, "Oslo\u{1b}[31m");
        eve.preferences.push(Preference {
            topic: "meal".into(),
            value: "\u{1b}]52;c;ZXZpbA==\u{7}vegan".into(),
            recorded_by: "web".into(),
            channel: Channel::Web,
            at: hours_ago(5),
        });
        let mut rec = record(eve, None);
        let mut note = Interaction::new(
            InteractionId(next),
            CustomerId(4),
            hours_ago(3),
            Channel::Web,
            InteractionKind::Note,
        );
        next += 1;
        note.text = Some("hello\u{1b}[1;1H\u{1b}[2Jgotcha".into());
        note.touchpoint = Some("\u{1b}[5mweb".into());
        rec.interactions.push(note);
        records.insert(CustomerId(4), rec);
        let anders = person(5, PartyKind::Person, "Anders Bergström", "Göteborg");
        let mut rec = record(anders, Some(scores(Tier::C, 410.0, 0.35)));
        let mut old = Interaction::new(
            InteractionId(next),
            CustomerId(5),
            hours_ago(24 * 200),
            Channel::Web,
            InteractionKind::Booking,
        );
        next += 1;
        old.amounts.push(Amount {
            role: AmountRole::Revenue,
            money: eur(9_900),
        });
        rec.interactions.push(old);
        records.insert(CustomerId(5), rec);
        Fake {
            world: Arc::new(Mutex::new(World {
                records,
                next_interaction: next,
                subs: Vec::new(),
            })),
            session: SessionInfo {
                operator: operator.into(),
                role,
                mode: Mode::Remote {
                    addr: "127.0.0.1:7070".into(),
                },
            },
        }
    }

    /// Another console on the same world.
    pub fn as_operator(&self, operator: &str, role: Role) -> Fake {
        Fake {
            world: self.world.clone(),
            session: SessionInfo {
                operator: operator.into(),
                role,
                mode: self.session.mode.clone(),
            },
        }
    }

    /// Sends an event to every subscriber (e.g. a reconnect).
    pub fn broadcast(&self, ev: LiveEvent) {
        let w = self.world.lock().unwrap();
        for (tx, _) in &w.subs {
            let _ = tx.try_send(ev.clone());
        }
    }

    fn notify(w: &mut World, change: Change) {
        let customer = change.customer();
        w.subs.retain(|(tx, _)| !tx.is_closed());
        for (tx, watching) in &w.subs {
            let wanted = match &*watching.borrow() {
                Watch::All => true,
                Watch::Customers(ids) => customer.is_some_and(|c| ids.contains(&c)),
            };
            if wanted {
                let _ = tx.try_send(LiveEvent::Change(ChangeEvent {
                    change: change.clone(),
                    at: now(),
                }));
            }
        }
    }

    fn summary(r: &CustomerRecord) -> CustomerSummary {
        CustomerSummary {
            id: r.customer.id,
            kind: r.customer.kind,
            name: r.customer.display_name(),
            tier: r.scores.as_ref().map(|s| s.tier),
            city: r.customer.profile.city.as_ref().map(|c| c.value.clone()),
            last_contact: r.interactions.first().map(|i| i.at),
            matched: "name~".into(),
            score: 0.9,
        }
    }

    fn page(all: &[Interaction], q: &InteractionQuery) -> (Vec<Interaction>, bool) {
        let limit = if q.limit == 0 { 100 } else { q.limit };
        let rows: Vec<Interaction> = all
            .iter()
            .filter(|i| q.kinds.is_empty() || q.kinds.contains(&i.kind))
            .filter(|i| q.channels.is_empty() || q.channels.contains(&i.channel))
            .filter(|i| q.before.is_none_or(|b| (i.at, i.id) < b))
            .cloned()
            .collect();
        let more = rows.len() > limit;
        (rows.into_iter().take(limit).collect(), more)
    }

    fn entitled(req: &CompensationRequest) -> (String, Money, String) {
        match req.kind {
            DisruptionKind::Delay if req.delay_minutes.unwrap_or(0) >= 360 => {
                ("voucher".into(), eur(25_000), "delay 6h+ v1".into())
            }
            DisruptionKind::Delay => ("voucher".into(), eur(7_500), "delay 2-6h v1".into()),
            DisruptionKind::Cancellation => {
                ("voucher".into(), eur(30_000), "cancellation v1".into())
            }
            DisruptionKind::DeniedBoarding => (
                "free flight".into(),
                eur(40_000),
                "denied boarding v1".into(),
            ),
            DisruptionKind::LostBag => ("miles".into(), eur(10_000), "lost bag v1".into()),
        }
    }
}

impl Service for Fake {
    fn session(&self) -> SessionInfo {
        self.session.clone()
    }

    async fn search(&self, query: &str, limit: usize) -> ServiceResult<Vec<CustomerSummary>> {
        let q = query.to_lowercase();
        let w = self.world.lock().unwrap();
        Ok(w.records
            .values()
            .filter(|r| {
                r.customer.display_name().to_lowercase().contains(&q)
                    || r.customer.contacts.iter().any(|c| c.value.contains(&q))
            })
            .take(limit)
            .map(Fake::summary)
            .collect())
    }

    async fn open(
        &self,
        customer: CustomerId,
        query: InteractionQuery,
    ) -> ServiceResult<CustomerRecord> {
        let w = self.world.lock().unwrap();
        let r = w
            .records
            .get(&customer)
            .ok_or_else(|| ServiceError::NotFound(customer.to_string()))?;
        let mut out = r.clone();
        let (rows, more) = Fake::page(&r.interactions, &query);
        out.interactions = rows;
        out.more_interactions = more;
        Ok(out)
    }

    async fn interactions(
        &self,
        customer: CustomerId,
        query: InteractionQuery,
    ) -> ServiceResult<Vec<Interaction>> {
        let w = self.world.lock().unwrap();
        let r = w
            .records
            .get(&customer)
            .ok_or_else(|| ServiceError::NotFound(customer.to_string()))?;
        Ok(Fake::page(&r.interactions, &query).0)
    }

    async fn log_interaction(&self, new: NewInteraction) -> ServiceResult<Interaction> {
        let mut w = self.world.lock().unwrap();
        let id = InteractionId(w.next_interaction);
        w.next_interaction += 1;
        let r = w
            .records
            .get_mut(&new.customer)
            .ok_or_else(|| ServiceError::NotFound(new.customer.to_string()))?;
        let mut i = Interaction::new(id, new.customer, now(), new.channel, new.kind);
        i.touchpoint = new.touchpoint;
        i.phase = new.phase;
        i.text = new.text;
        i.employee = Some(self.session.operator.clone());
        r.interactions.insert(0, i.clone());
        Fake::notify(
            &mut w,
            Change::InteractionAdded {
                customer: new.customer,
                interaction: id,
            },
        );
        Ok(i)
    }

    async fn record_preference(
        &self,
        customer: CustomerId,
        topic: String,
        value: String,
        channel: Channel,
    ) -> ServiceResult<Preference> {
        let mut w = self.world.lock().unwrap();
        let r = w
            .records
            .get_mut(&customer)
            .ok_or_else(|| ServiceError::NotFound(customer.to_string()))?;
        let p = Preference {
            topic,
            value,
            recorded_by: self.session.operator.clone(),
            channel,
            at: now(),
        };
        r.customer.preferences.push(p.clone());
        Fake::notify(&mut w, Change::CustomerChanged { customer });
        Ok(p)
    }

    async fn entitlement(&self, request: CompensationRequest) -> ServiceResult<Entitlement> {
        let w = self.world.lock().unwrap();
        let r = w
            .records
            .get(&request.customer)
            .ok_or_else(|| ServiceError::NotFound(request.customer.to_string()))?;
        let (instrument, amount, rule) = Fake::entitled(&request);
        let existing = r
            .grants
            .iter()
            .find(|g| g.disruption == request.disruption)
            .cloned();
        Ok(Entitlement {
            instrument,
            amount,
            rule,
            existing,
        })
    }

    async fn grant_compensation(
        &self,
        request: CompensationRequest,
    ) -> ServiceResult<GrantOutcome> {
        if self.session.role == Role::Analyst {
            return Err(ServiceError::Forbidden {
                role: self.session.role,
                action: "grant-compensation".into(),
            });
        }
        let mut w = self.world.lock().unwrap();
        let id = InteractionId(w.next_interaction);
        w.next_interaction += 1;
        let operator = self.session.operator.clone();
        let r = w
            .records
            .get_mut(&request.customer)
            .ok_or_else(|| ServiceError::NotFound(request.customer.to_string()))?;
        if let Some(g) = r.grants.iter().find(|g| g.disruption == request.disruption) {
            return Ok(GrantOutcome::Refused(g.clone()));
        }
        let (instrument, amount, policy_rule) = Fake::entitled(&request);
        let grant = CompensationGrant {
            customer: request.customer,
            disruption: request.disruption.clone(),
            kind: request.kind,
            delay_minutes: request.delay_minutes,
            instrument,
            amount,
            policy_rule,
            granted_by: operator.clone(),
            touchpoint: request.touchpoint.clone(),
            at: now(),
            interaction: id,
        };
        let mut i = Interaction::new(
            id,
            request.customer,
            now(),
            Channel::Gate,
            InteractionKind::CompensationGranted,
        );
        i.touchpoint = Some(request.touchpoint.clone());
        i.employee = Some(operator);
        i.amounts.push(Amount {
            role: AmountRole::Compensation,
            money: amount,
        });
        r.interactions.insert(0, i);
        r.grants.insert(0, grant.clone());
        r.cues.insert(
            0,
            Cue {
                level: CueLevel::Alert,
                text: format!(
                    "{} {} granted just now at {} by {}: do not grant again",
                    grant.instrument, grant.amount, grant.touchpoint, grant.granted_by
                ),
                at: now(),
            },
        );
        Fake::notify(
            &mut w,
            Change::GrantIssued {
                customer: request.customer,
                disruption: request.disruption,
            },
        );
        Ok(GrantOutcome::Granted(grant))
    }

    // The fake world has no disruption records: an empty list and clear refusals.
    async fn disruptions(
        &self,
        _customer: rapport_core::CustomerId,
    ) -> ServiceResult<Vec<rapport_service::DisruptionEntry>> {
        Ok(Vec::new())
    }

    async fn flight(&self, disruption: &str) -> ServiceResult<rapport_service::FlightView> {
        Err(ServiceError::NotFound(format!("disruption {disruption}")))
    }

    async fn grant_flight(
        &self,
        disruption: &str,
        _touchpoint: &str,
    ) -> ServiceResult<Vec<rapport_service::FlightGrant>> {
        Err(ServiceError::NotFound(format!("disruption {disruption}")))
    }

    async fn declare_disruption(
        &self,
        _declaration: rapport_service::Declaration,
    ) -> ServiceResult<rapport_core::Disruption> {
        Err(ServiceError::Forbidden {
            role: self.session.role,
            action: "declare-disruption".into(),
        })
    }

    async fn overview(&self) -> ServiceResult<Overview> {
        let mut tiers = BTreeMap::new();
        tiers.insert(Tier::A, 52);
        tiers.insert(Tier::B, 310);
        tiers.insert(Tier::C, 638);
        let mut quarantine = BTreeMap::new();
        quarantine.insert("ambiguous date (day/month or month/day)".to_string(), 17);
        quarantine.insert("amount without currency".to_string(), 4);
        Ok(Overview {
            customers: 1_000,
            interactions: 48_210,
            tiers,
            lorenz: vec![
                (0.0, 0.0),
                (0.2, 0.01),
                (0.5, 0.08),
                (0.8, 0.3),
                (0.95, 0.6),
                (0.98, 0.75),
                (1.0, 1.0),
            ],
            gini: Some(0.71),
            top_shares: vec![
                (0.01, 0.18),
                (0.02, 0.25),
                (0.05, 0.4),
                (0.1, 0.55),
                (0.2, 0.7),
            ],
            quarantine,
            reviews_pending: 3,
            scored_at: Some(hours_ago(30)),
        })
    }

    async fn list(&self, name: &str, limit: usize) -> ServiceResult<Vec<ListEntry>> {
        let w = self.world.lock().unwrap();
        match name {
            "complainers" => Ok(w
                .records
                .get(&CustomerId(1))
                .map(|r| ListEntry {
                    customer: Fake::summary(r),
                    reason: "2 complaints in the last 12 months, tier A".into(),
                })
                .into_iter()
                .take(limit)
                .collect()),
            "at-risk" | "lost" | "halved" | "single-product" => Ok(Vec::new()),
            other => Err(ServiceError::NotFound(format!("list {other}"))),
        }
    }

    async fn subscribe(&self, watch: Watch) -> ServiceResult<Subscription> {
        let (tx, rx) = mpsc::channel(64);
        let (wtx, wrx) = watch::channel(watch);
        self.world.lock().unwrap().subs.push((tx, wrx));
        Ok(Subscription {
            events: rx,
            watching: wtx,
        })
    }
}

/// A console over a fake service, rendering into a `TestBackend`, driven by key events.
pub struct Harness {
    pub app: App<Fake>,
    rx: UnboundedReceiver<Event>,
    pub term: Terminal<TestBackend>,
}

impl Harness {
    pub async fn new(fake: Fake, width: u16, height: u16) -> Harness {
        Harness::with_config(fake, width, height, &Config::default()).await
    }

    pub async fn with_config(fake: Fake, width: u16, height: u16, config: &Config) -> Harness {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut app = App::new(fake, config, tx, Clock::Fixed(now()));
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
