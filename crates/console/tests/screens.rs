//! The main screens as snapshots at 80x24 and 160x48, driven by real key events over an
//! in-memory service; plus the behaviours that snapshots cannot show (styles, live updates,
//! refusals, roles, hostile text).

mod support;

use rapport_console::{Config, Event, ScreenId};
use rapport_core::CustomerId;
use rapport_governance::Role;
use rapport_service::LiveEvent;
use ratatui::style::{Color, Modifier};
use support::{Fake, Harness};

async fn anna(width: u16, height: u16) -> Harness {
    let mut h = Harness::new(Fake::world("J. Smith", Role::FrontLine), width, height).await;
    h.type_text("berg").await;
    h.press("enter").await;
    assert_eq!(h.app.screen(), ScreenId::Record);
    h
}

#[tokio::test]
async fn search_screen_at_both_sizes() {
    for (w, hgt) in [(80, 24), (160, 48)] {
        let mut h = Harness::new(Fake::world("J. Smith", Role::FrontLine), w, hgt).await;
        let empty = h.screen();
        assert!(empty.contains("Type a name"), "{empty}");
        h.type_text("berg").await;
        let s = h.screen();
        assert!(
            s.contains("Anna Berg") && s.contains("Erik Berg") && s.contains("Anders Bergström")
        );
        insta::assert_snapshot!(format!("search_{w}x{hgt}"), support::stable(&s));
    }
}

#[tokio::test]
async fn record_screen_at_both_sizes() {
    for (w, hgt) in [(80, 24), (160, 48)] {
        let mut h = anna(w, hgt).await;
        let s = h.screen();
        // Who, how valuable, what happened lately: all in the first lines.
        let top: String = s.lines().take(8).collect::<Vec<_>>().join("\n");
        assert!(top.contains("[A] Anna Berg"), "{top}");
        assert!(top.contains("CLV 12,340"), "{top}");
        assert!(
            top.contains("delayed 14 h yesterday on RP123: apologise"),
            "{top}"
        );
        assert!(top.contains("J. Smith (front-line)"), "{top}");
        assert!(s.contains("delay") && s.contains("bag_lost"));
        insta::assert_snapshot!(format!("record_{w}x{hgt}"), s);
    }
}

#[tokio::test]
async fn tier_badge_carries_its_colour_and_no_color_drops_it() {
    let mut h = anna(80, 24).await;
    h.screen();
    let cell = &h.buffer()[(1, 1)];
    assert_eq!(cell.symbol(), "A");
    assert_eq!(cell.bg, Color::Yellow);
    assert!(cell.modifier.contains(Modifier::BOLD));

    let config = Config {
        color: false,
        ascii: true,
        ..Config::default()
    };
    let mut h =
        Harness::with_config(Fake::world("J. Smith", Role::FrontLine), 80, 24, &config).await;
    h.type_text("anna").await;
    h.press("enter").await;
    let s = h.screen();
    for cell in h.buffer().content() {
        assert_eq!(
            cell.fg,
            Color::Reset,
            "a colour with NO_COLOR at {:?}",
            cell.symbol()
        );
        assert_eq!(cell.bg, Color::Reset);
    }
    // The A badge still stands out without colour.
    assert!(h.buffer()[(1, 1)].modifier.contains(Modifier::REVERSED));
    let non_ascii: Vec<char> = s.chars().filter(|c| !c.is_ascii()).collect();
    assert!(
        non_ascii.is_empty(),
        "non-ASCII drawing characters: {non_ascii:?}\n{s}"
    );
    insta::assert_snapshot!("record_80x24_ascii_no_color", s);
}

#[tokio::test]
async fn history_scrolls_through_everything_and_filters() {
    let mut h = anna(80, 24).await;
    assert!(h.screen().contains("1 of 40"));
    h.press("G").await;
    let s = h.screen();
    assert!(s.contains("40 of 40"), "{s}");
    assert!(s.contains("booking"), "the oldest rows are bookings: {s}");
    h.press("g").await;
    h.press("f").await; // the first kind seen, in the built-in order: booking
    let s = h.screen();
    assert!(s.contains("kind booking"), "{s}");
    assert!(s.contains("1 of 9"), "{s}");
    h.press("f").await;
    assert!(h.screen().contains("kind flight_flown"));
    h.press("x").await;
    h.press("h").await; // the first channel seen in the built-in order: web
    let s = h.screen();
    assert!(s.contains("channel"), "{s}");
    assert!(!s.contains("call_center"), "{s}");
}

#[tokio::test]
async fn paging_loads_older_history_on_demand() {
    let fake = Fake::world("J. Smith", Role::FrontLine);
    let mut h = Harness::new(fake, 80, 24).await;
    h.type_text("anna").await;
    h.press("enter").await;
    // Page down through all 40 rows; the record's first page holds them all here, but the
    // selection never runs past the end.
    for _ in 0..10 {
        h.press("pagedown").await;
    }
    assert!(h.screen().contains("40 of 40"));
}

#[tokio::test]
async fn grant_in_one_console_appears_live_in_the_other_and_the_second_is_refused() {
    let world = Fake::world("J. Smith", Role::FrontLine);
    let rep = world.as_operator("M. Rossi", Role::FrontLine);
    let mut gate = Harness::new(world, 80, 24).await;
    let mut call = Harness::new(rep, 80, 24).await;
    for h in [&mut gate, &mut call] {
        h.type_text("anna").await;
        h.press("enter").await;
    }
    gate.press("c").await;
    gate.type_text("gate C12").await;
    let form = gate.screen();
    assert!(
        form.contains("Policy entitles: voucher 250.00 EUR"),
        "{form}"
    );
    assert!(
        form.contains("RP123/2026-11-22"),
        "prefilled from the delay: {form}"
    );
    insta::assert_snapshot!("grant_form_80x24", form);
    gate.press("enter").await;
    let confirm = gate.screen();
    assert!(confirm.contains("Enter again to confirm"), "{confirm}");
    gate.press("enter").await;
    let granted = gate.screen();
    assert!(granted.contains("Granted voucher 250.00 EUR"), "{granted}");

    // The other console sees it without a key press, highlighted.
    call.wait_live().await;
    let s = call.screen();
    assert!(s.contains("compensation_granted"), "{s}");
    assert!(
        s.contains("voucher 250.00 EUR granted just now at gate C12 by J. Smith"),
        "{s}"
    );
    let row = s
        .lines()
        .position(|l| l.contains("compensation_granted"))
        .unwrap() as u16;
    assert_eq!(
        call.buffer()[(2, row)].bg,
        Color::Yellow,
        "the new row is highlighted"
    );
    insta::assert_snapshot!("record_after_live_grant_80x24", s);
    // The highlight lasts a moment only.
    call.event(Event::Tick);

    // The second grant is refused with the first grant's details.
    call.press("c").await;
    call.type_text("call center").await;
    let s = call.screen();
    assert!(s.contains("ALREADY GRANTED"), "{s}");
    call.press("enter").await;
    call.press("enter").await;
    let s = call.screen();
    assert!(s.contains("Refused: already granted"), "{s}");
    assert!(s.contains("by J. Smith at gate C12"), "{s}");
    insta::assert_snapshot!("grant_refused_80x24", s);
}

#[tokio::test]
async fn log_note_idea_and_preference_land_in_the_record() {
    let mut h = anna(160, 48).await;
    h.press("i").await;
    let form = h.screen();
    assert!(form.contains("Log an interaction: Anna Berg"), "{form}");
    h.press("right").await; // kind: the one after inquiry
    h.press("tab").await;
    h.press("tab").await;
    h.type_text("desk 4").await;
    h.press("tab").await;
    h.press("tab").await;
    h.type_text("asked about lounge access").await;
    h.press("enter").await;
    let s = h.screen();
    assert!(s.contains("asked about lounge access"), "{s}");
    assert!(s.contains("desk 4"), "{s}");

    h.press("n").await;
    h.type_text("prefers calls after 5 pm").await;
    h.press("enter").await;
    assert!(h.screen().contains("prefers calls after 5 pm"));

    h.press("d").await;
    h.type_text("offer lounge pass after long delays").await;
    h.press("enter").await;
    let s = h.screen();
    assert!(s.contains("idea") && s.contains("offer lounge pass"), "{s}");

    h.press("p").await;
    h.press("right").await; // meal
    h.press("tab").await;
    h.press("tab").await;
    h.type_text("vegetarian").await;
    h.press("enter").await;
    let s = h.screen();
    assert!(s.contains("meal: vegetarian (J. Smith"), "{s}");
}

#[tokio::test]
async fn roles_are_offered_only_what_they_may_do() {
    let mut h = Harness::new(Fake::world("A. Nalyst", Role::Analyst), 80, 24).await;
    h.type_text("anna").await;
    h.press("enter").await;
    let s = h.screen();
    let footer = s.lines().last().unwrap();
    assert!(
        !footer.contains("grant") && !footer.contains("log"),
        "{footer}"
    );
    h.press("c").await;
    let s = h.screen();
    assert!(s.contains("Your role (analyst) may not use grant"), "{s}");
    assert!(!s.contains("Compensate"), "no grant form for an analyst");
}

#[tokio::test]
async fn a_corporate_account_lists_some_employees_and_counts_the_rest() {
    for (w, hgt) in [(80, 24), (160, 48)] {
        let mut h = Harness::new(Fake::world("J. Smith", Role::FrontLine), w, hgt).await;
        h.type_text("acme").await;
        h.press("enter").await;
        assert_eq!(h.app.screen(), ScreenId::Record);
        let s = h.screen();
        assert!(s.contains("Acme AB"), "{s}");
        if w == 160 {
            // Eight of the thirty, then the count.
            assert!(s.contains("employs: C00000206"), "{s}");
            assert!(!s.contains("C00000207"), "{s}");
            assert!(s.contains("and 22 more"), "{s}");
        }
        assert!(!s.contains("C00000207"), "{s}");
    }
}

#[tokio::test]
async fn hostile_names_render_as_harmless_text() {
    for (w, hgt) in [(80, 24), (160, 48)] {
        let mut h = Harness::new(Fake::world("J. Smith", Role::FrontLine), w, hgt).await;
        h.type_text("eve").await;
        let s = h.screen();
        assert!(s.contains("Eve?[2J?]0;pwned?Mallory"), "{s}");
        h.press("enter").await;
        let s = h.screen();
        assert!(s.contains("Eve?[2J?]0;pwned?Mallory"), "{s}");
        assert!(s.contains("Oslo?[31m") || w < 120, "{s}");
        for cell in h.buffer().content() {
            assert!(
                !cell
                    .symbol()
                    .chars()
                    .any(rapport_core::text::is_unsafe_char),
                "unsafe character {:?} reached the screen",
                cell.symbol()
            );
        }
        if w == 160 {
            assert!(s.contains("hello?[1;1H?[2Jgotcha"), "{s}");
            assert!(s.contains("?]52;c;ZXZpbA==?vegan"), "{s}");
        }
    }
}

#[tokio::test]
async fn help_lists_every_key_and_palette_runs_actions() {
    let mut h = anna(80, 24).await;
    h.press("?").await;
    let s = h.screen();
    assert!(s.contains("Keys"), "{s}");
    insta::assert_snapshot!("help_80x24", s);
    h.press("esc").await;
    h.press(":").await;
    h.type_text("overv").await;
    let s = h.screen();
    assert!(s.contains("overview"), "{s}");
    h.press("enter").await;
    assert_eq!(h.app.screen(), ScreenId::Overview);
    h.press(":").await;
    h.type_text("C00000002").await;
    h.press("enter").await;
    assert_eq!(
        h.app.record_shown().map(|r| r.customer.id),
        Some(CustomerId(2))
    );
}

#[tokio::test]
async fn overview_and_working_lists_at_both_sizes() {
    for (w, hgt) in [(80, 24), (160, 48)] {
        let mut h = Harness::new(Fake::world("K. Lund", Role::CustomerManager), w, hgt).await;
        h.press("esc").await;
        h.press("o").await;
        let s = h.screen();
        assert!(s.contains("Gini 0.71"), "{s}");
        assert!(s.contains("Quarantined rows 21"), "{s}");
        insta::assert_snapshot!(format!("overview_{w}x{hgt}"), s);
        h.press("tab").await;
        let s = h.screen();
        assert!(s.contains("2 complaints in the last 12"), "{s}");
        insta::assert_snapshot!(format!("list_complainers_{w}x{hgt}"), s);
        h.press("enter").await;
        assert_eq!(
            h.app.record_shown().map(|r| r.customer.id),
            Some(CustomerId(1))
        );
    }
}

#[tokio::test]
async fn reconnecting_is_shown_not_hidden() {
    let fake = Fake::world("J. Smith", Role::FrontLine);
    let mut h = Harness::new(fake.clone(), 80, 24).await;
    h.type_text("anna").await;
    h.press("enter").await;
    assert!(h.screen().lines().next().unwrap().contains("live"));
    fake.broadcast(LiveEvent::Reconnecting { attempt: 2 });
    h.wait_live().await;
    let header = h.screen().lines().next().unwrap().to_string();
    assert!(header.contains("RECONNECTING (attempt 2)"), "{header}");
    fake.broadcast(LiveEvent::Reconnected);
    h.wait_live().await;
    let s = h.screen();
    assert!(s.lines().next().unwrap().contains(" live"), "{s}");
    assert!(s.contains("Reconnected"), "{s}");
}

#[tokio::test]
async fn key_releases_are_ignored_and_resizes_redraw() {
    use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
    let mut h = anna(80, 24).await;
    let release = KeyEvent {
        code: KeyCode::Char('q'),
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Release,
        state: KeyEventState::NONE,
    };
    h.event(Event::Key(release));
    assert!(!h.app.should_quit());
    h.term.backend_mut().resize(120, 40);
    h.event(Event::Resize(120, 40));
    let s = h.screen();
    assert_eq!(s.lines().count(), 40);
    h.press("q").await;
    assert!(h.app.should_quit());
}

#[tokio::test]
async fn remapped_keys_work_and_defaults_stay() {
    let config = Config::parse(
        "[keys.record]\ngrant = \"g\"\n[keys.navigation]\ntop = \"home\"\n",
        std::path::Path::new("console.toml"),
    )
    .unwrap();
    let mut h =
        Harness::with_config(Fake::world("J. Smith", Role::FrontLine), 80, 24, &config).await;
    h.type_text("anna").await;
    h.press("enter").await;
    h.press("c").await;
    assert!(!h.screen().contains("Compensate"));
    h.press("g").await;
    assert!(h.screen().contains("Compensate Anna Berg"));
    h.press("esc").await;
    h.press("j").await;
    assert!(h.screen().contains("2 of 40"));
}

#[tokio::test]
async fn the_console_opens_ready_for_slash_and_q_quits_there() {
    use rapport_console::{App, Clock};
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut app = App::new(
        Fake::world("J. Smith", Role::FrontLine),
        &Config::default(),
        tx,
        Clock::Fixed(support::now()),
    );
    app.resize(80, 24);
    app.start();
    // No customer yet: the record screen, where every key of the key table works.
    assert_eq!(app.screen(), ScreenId::Record);
    let key = |c: char| {
        Event::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            crossterm::event::KeyModifiers::NONE,
        ))
    };
    app.handle(key('/'));
    assert_eq!(app.screen(), ScreenId::Search);
    // In the search input q is a letter of a name (Quentin) ...
    app.handle(key('q'));
    assert!(!app.should_quit());
    // ... and from the first screen it quits.
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut fresh = App::new(
        Fake::world("J. Smith", Role::FrontLine),
        &Config::default(),
        tx,
        Clock::Fixed(support::now()),
    );
    fresh.start();
    fresh.handle(key('q'));
    assert!(fresh.should_quit());
}
