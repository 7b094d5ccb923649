//! Relationship governance at the console (#18), over the real engine: a rep opens a customer
//! with an allowed offer, sees the next best action with its reason on the record, presents
//! it with `O` and logs the answer, which appears in the record's history and in the offer
//! report; a customer manager's console finds only the customers of their portfolio; the
//! executive's `E` shows customer equity by portfolio and tier.

mod support;

use rapport_core::CustomerId;
use rapport_governance::Role;
use rapport_service::{Embedded, Relationships, Service};

use support::{Harness, World};

/// Portfolios `north` (managed by `cm.north`, customers see only theirs) and `rest` (the
/// default, managed by `cm.rest`); a lounge pass (upsell) allowed unless a complaint is open,
/// and an apology letter for customers with an open complaint. Loaded and assigned as the
/// chief customer officer; Erik Berg and Anders Bergström moved by hand to `north`.
async fn governed(world: &World) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let portfolios = write(
        "portfolios.toml",
        "version = 1\ndefault = \"rest\"\ncustomer_managers_see = \"portfolio\"\n\n\
         [[portfolio]]\nid = \"north\"\nname = \"The north\"\nmanager = \"cm.north\"\n\n\
         [[portfolio]]\nid = \"rest\"\nname = \"Everyone else\"\nmanager = \"cm.rest\"\n",
    );
    let offers = write(
        "offers.toml",
        "version = 1\n\n\
         [[offer]]\nid = \"lounge-pass\"\ntitle = \"Lounge day pass\"\nproduct = \"lounge\"\n\
         kind = \"upsell\"\nowner = \"pmeyer\"\nterms = \"one visit within 30 days\"\n\
         price = \"35.00 EUR\"\nmargin = 0.7\nchannels = [\"gate\", \"call_center\"]\n\
         eligible = \"kind = person\"\nvalid_from = \"2026-01-01\"\n\
         wording = \"Would you like to wait in the lounge?\"\n\n\
         [[offer]]\nid = \"apology-letter\"\ntitle = \"Letter of apology\"\nproduct = \"apology\"\n\
         kind = \"recovery\"\nowner = \"ecare\"\nterms = \"a personal letter\"\nprice = \"0 EUR\"\n\
         channels = [\"mail\", \"call_center\"]\n\
         eligible = \"kind = person and open_complaint\"\nvalid_from = \"2026-01-01\"\n",
    );
    let rules = write(
        "rules.toml",
        "version = 1\n\n\
         [[rule]]\nportfolio = \"north\"\nname = \"no upsell while a complaint is open\"\n\
         kinds = [\"upsell\"]\nwhen = \"open_complaint\"\nthen = \"block\"\n\
         reason = \"recovery first\"\n",
    );
    let cco = world.console("cco", Role::ChiefCustomerOfficer);
    cco.load_relationship(Some(portfolios), Some(offers), Some(rules))
        .await
        .unwrap();
    cco.assign(false).await.unwrap();
    for c in [CustomerId(2), CustomerId(5)] {
        cco.move_customer(c, "north", "served from the Göteborg office", None)
            .await
            .unwrap()
            .unwrap();
    }
    dir
}

/// The screen with box edges removed and runs of blanks closed up, for checks on wrapped text.
fn flat(s: &str) -> String {
    s.replace(['│', '|'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_presents_the_next_best_action_and_the_answer_is_in_the_record_and_the_report() {
    let world = World::new();
    let _files = governed(&world).await;
    let rep: Embedded = world.console("mrossi", Role::FrontLine);
    let mut h = Harness::new(rep.clone(), 120, 40).await;
    h.type_text("bergström").await;
    h.press("enter").await;
    let s = h.screen();
    assert!(s.contains("Anders Bergström"), "{s}");
    // The next best action on the record, with its reason: no propensity model scores him,
    // so the allowed offer that earns most when taken; allowed as catalogued.
    let f = flat(&s);
    assert!(
        f.contains("Next offer `Lounge day pass` 35.00 EUR (allowed)"),
        "{f}"
    );

    // `O` presents it: the words to say and why.
    h.press("O").await;
    let f = flat(&h.screen());
    assert!(f.contains("Next best action for Anders Bergström"), "{f}");
    assert!(f.contains("Would you like to wait in the lounge?"), "{f}");
    assert!(f.contains("allowed as catalogued"), "{f}");
    assert!(f.contains("no propensity score"), "{f}");
    // The customer takes it: `accepted` is the first answer; one step left is `not-now`.
    h.press("enter").await;
    let s = h.screen();
    assert!(!s.contains("Next best action for"), "the popup closed: {s}");
    // In the record's history, as a campaign response by the rep.
    let rec = h.app.record_shown().expect("the record");
    let row = rec
        .interactions
        .iter()
        .find(|i| i.kind == rapport_core::InteractionKind::CampaignResponse)
        .expect("the answer in the history");
    assert_eq!(row.employee.as_deref(), Some("mrossi"));
    assert_eq!(row.attr_text("answer"), Some("accepted"));
    assert_eq!(row.attr_text("offer"), Some("lounge-pass"));
    let f = flat(&h.screen());
    assert!(
        f.contains("campaign_response mrossi offer Lounge day pass"),
        "{f}"
    );
    // And in the offer report (the front line does not read it: the portfolio's manager does).
    let report = world
        .console("cm.north", Role::CustomerManager)
        .offer_report(None)
        .await
        .unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(
        (
            report[0].offer.as_str(),
            report[0].presented,
            report[0].accepted
        ),
        ("lounge-pass", 1, 1)
    );
    assert_eq!(report[0].by_portfolio["north"], (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_managers_console_finds_only_their_portfolio() {
    let world = World::new();
    let _files = governed(&world).await;
    // The front line finds every Berg.
    let mut rep = Harness::new(world.console("mrossi", Role::FrontLine), 120, 40).await;
    rep.type_text("berg").await;
    let s = rep.screen();
    assert!(s.contains("Anna Berg") && s.contains("Erik Berg"), "{s}");
    // The north's manager finds Erik and Anders, never Anna (in `rest`).
    let mut cm = Harness::new(world.console("cm.north", Role::CustomerManager), 120, 40).await;
    cm.type_text("berg").await;
    let s = cm.screen();
    assert!(s.contains("Erik Berg"), "{s}");
    assert!(s.contains("Anders Bergström"), "{s}");
    assert!(!s.contains("Anna Berg"), "{s}");
    // Opened by id from the palette, Anna's record is refused.
    let refused = world
        .console("cm.north", Role::CustomerManager)
        .open(CustomerId(1), rapport_service::InteractionQuery::default())
        .await;
    assert!(
        matches!(
            refused,
            Err(rapport_service::ServiceError::Forbidden { .. })
        ),
        "{refused:?}"
    );
    // Their working lists hold only their customers too.
    cm.press("esc").await;
    cm.press("w").await;
    let s = cm.screen();
    assert!(!s.contains("Anna Berg"), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_equity_screen_shows_equity_by_portfolio_and_tier() {
    let world = World::new();
    let _files = governed(&world).await;
    let mut h = Harness::new(world.console("cco", Role::ChiefCustomerOfficer), 120, 40).await;
    h.press("esc").await;
    h.press("E").await;
    let s = h.screen();
    assert!(s.contains("Customer equity"), "{s}");
    // Money says its currency: the deployment's reporting currency.
    let headline = s.lines().find(|l| l.contains("Customer equity")).unwrap();
    assert!(headline.contains(" EUR"), "{headline}");
    assert!(s.contains("By portfolio (manager)"), "{s}");
    assert!(s.contains("north (cm.north)"), "{s}");
    assert!(s.contains("rest (cm.rest)"), "{s}");
    assert!(s.contains("By tier"), "{s}");
    assert!(s.contains("tier A"), "{s}");
    assert!(s.contains("No earlier scoring run kept"), "{s}");
    // The front line may not: the key says so and nothing opens.
    let mut rep = Harness::new(world.console("mrossi", Role::FrontLine), 120, 40).await;
    rep.press("esc").await;
    rep.press("E").await;
    let s = rep.screen();
    assert!(!s.contains("By portfolio"), "{s}");
    assert!(s.contains("may not use equity"), "{s}");
}
