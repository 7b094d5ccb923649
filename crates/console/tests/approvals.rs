//! Goodwill with limits and the approval queue at the console (#19, point 2), over the real
//! engine: a front-line rep gives goodwill above her limit, is offered "send for approval"
//! with the amount and reason carried over, and sees the request waiting on the record; a
//! supervisor (or the customer's manager) works the queue (`a`) and approves, changes or
//! refuses with a reason; the rep's console shows the outcome live, without a key pressed.
//! Whatever path it takes, goodwill for a disruption is granted once.

mod support;

use rapport_core::{CustomerId, Money};
use rapport_governance::Role;
use rapport_service::governance_ops::{ApprovalState, GOODWILL_PREFIX};
use rapport_service::{Embedded, Governance, Relationships};

use support::{Harness, World};

/// The screen with box edges removed and runs of blanks closed up (wrapped popup text).
fn flat(s: &str) -> String {
    s.replace(['│', '|'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Goodwill grants stored for a customer (the service's one-grant check is per key).
fn goodwill_grants(world: &World, customer: CustomerId) -> Vec<rapport_core::CompensationGrant> {
    world
        .engine
        .store()
        .grants()
        .map(|g| g.unwrap())
        .filter(|g| g.customer == customer && g.disruption.starts_with(GOODWILL_PREFIX))
        .collect()
}

/// A rep at 80x24 on Anna Berg's record sends `amount` of goodwill: the form comes on her
/// newest disruption on record with the limit shown; above it the form offers to send it for
/// approval. Returns the rep's console, on the record.
async fn rep_sends_for_approval(world: &World, amount: &str) -> Harness {
    let rep: Embedded = world.console("mrossi", Role::FrontLine);
    let mut h = Harness::new(rep, 80, 24).await;
    h.type_text("anna berg").await;
    h.press("enter").await;
    assert!(h.screen().contains("Anna Berg"), "{}", h.screen());
    h.press("+").await;
    let form = h.screen();
    assert!(form.contains("Goodwill for Anna Berg"), "{form}");
    assert!(
        flat(&form).contains("Your limit: 500.00 EUR without approval (policy v1)"),
        "{form}"
    );
    // The disruption is prefilled from the record; the cursor is on the amount.
    h.type_text(amount).await;
    h.press("tab").await;
    h.press("tab").await;
    h.type_text("missed her connection, second delay this month")
        .await;
    h.press("enter").await;
    let confirm = flat(&h.screen());
    assert!(
        confirm.contains("is above your limit: Enter again sends it for approval"),
        "{confirm}"
    );
    h.press("enter").await;
    let sent = h.screen();
    assert!(sent.contains("Sent for approval: A"), "{sent}");
    assert!(
        sent.contains("Awaiting approval: ") && sent.contains(" voucher by mrossi, just now, A"),
        "the record shows the request waiting:\n{sent}"
    );
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_approves_from_the_queue_and_the_reps_record_shows_it_live() {
    let world = World::new();
    let mut rep = rep_sends_for_approval(&world, "800").await;
    // Nothing granted yet: it waits in the queue.
    assert!(goodwill_grants(&world, CustomerId(1)).is_empty());
    let waiting = world
        .console("mrossi", Role::FrontLine)
        .approvals(true)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].request.amount.to_string(), "800.00 EUR");
    assert_eq!(
        waiting[0].request.reason,
        "missed her connection, second delay this month"
    );

    // A supervisor (customer manager: 2,000 EUR) opens the queue from anywhere with `a`.
    let sup = world.console("lsilva", Role::CustomerManager);
    let mut s = Harness::new(sup, 80, 24).await;
    s.press("esc").await;
    s.press("a").await;
    let queue = s.screen();
    assert!(queue.contains("Approvals"), "{queue}");
    assert!(
        queue.contains("Goodwill waiting for approval: 1 request"),
        "{queue}"
    );
    for part in ["Anna Berg", "mrossi", "800.00 EUR voucher", "just now"] {
        assert!(queue.contains(part), "{part} in\n{queue}");
    }
    assert!(
        flat(&queue).contains("Reason: missed her connection"),
        "{queue}"
    );
    assert!(
        flat(&queue)
            .contains("within your limit of 2000.00 EUR: a approve, c change the amount, x refuse"),
        "{queue}"
    );
    s.press("a").await;
    assert!(s.screen().contains("Approve goodwill"), "{}", s.screen());
    // A reason is asked for before anything is decided.
    s.press("enter").await;
    assert!(
        flat(&s.screen()).contains("say why (the reason goes to whoever asked)"),
        "{}",
        s.screen()
    );
    s.type_text("agreed, loyal customer").await;
    s.press("enter").await;
    assert!(
        flat(&s.screen()).contains("Approve 800.00 EUR voucher for Anna Berg? Enter again"),
        "{}",
        s.screen()
    );
    s.press("enter").await;
    let done = s.screen();
    assert!(
        done.contains("approved: 800.00 EUR voucher granted"),
        "{done}"
    );
    assert!(
        done.contains("Goodwill waiting for approval: 0 requests"),
        "{done}"
    );

    // The rep pressed nothing: the decision arrives on her console.
    rep.wait_live().await;
    let seen = rep.screen();
    assert!(
        flat(&seen).contains("Goodwill approved by lsilva: 800.00 EUR voucher for Anna Berg"),
        "the outcome as a status line:\n{seen}"
    );
    assert!(
        seen.contains("Granted voucher 800.00 EUR for goodwill/"),
        "the grant on the record:\n{seen}"
    );
    assert!(!seen.contains("Awaiting approval"), "{seen}");

    let grants = goodwill_grants(&world, CustomerId(1));
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0].amount.to_string(), "800.00 EUR");
    assert_eq!(grants[0].granted_by, "mrossi");
    assert!(grants[0].policy_rule.contains("approved by lsilva"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_prefilled_with_the_amount_asked_and_the_rep_sees_the_new_amount() {
    let world = World::new();
    let mut rep = rep_sends_for_approval(&world, "800").await;
    let mut s = Harness::new(world.console("lsilva", Role::CustomerManager), 80, 24).await;
    s.press("esc").await;
    s.press("a").await;
    s.press("c").await;
    let form = s.screen();
    assert!(form.contains("Approve another amount"), "{form}");
    assert!(form.contains("Amount 800.00"), "prefilled:\n{form}");
    // Back to the amount, clear it and type another.
    s.press("backtab").await;
    for _ in 0.."800.00".len() {
        s.press("backspace").await;
    }
    s.type_text("600").await;
    s.press("tab").await;
    s.type_text("600 covers the hotel night").await;
    s.press("enter").await;
    assert!(
        flat(&s.screen()).contains("Approve 600.00 EUR voucher instead of 800.00 EUR"),
        "{}",
        s.screen()
    );
    s.press("enter").await;
    assert!(
        s.screen().contains("approved: 600.00 EUR voucher granted"),
        "{}",
        s.screen()
    );
    rep.wait_live().await;
    assert!(
        flat(&rep.screen())
            .contains("Goodwill changed by lsilva: 600.00 EUR voucher (asked 800.00 EUR)"),
        "{}",
        rep.screen()
    );
    let grants = goodwill_grants(&world, CustomerId(1));
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0].amount,
        Money::new(60_000, grants[0].amount.currency)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_with_its_reason_reaches_the_rep_and_nothing_is_granted() {
    let world = World::new();
    let mut rep = rep_sends_for_approval(&world, "800").await;
    let mut s = Harness::new(world.console("lsilva", Role::CustomerManager), 80, 24).await;
    s.press("esc").await;
    s.press("a").await;
    s.press("x").await;
    assert!(s.screen().contains("Refuse goodwill"), "{}", s.screen());
    s.type_text("the policy already covers this delay").await;
    s.press("enter").await;
    s.press("enter").await;
    assert!(
        s.screen().contains("refused: nothing granted"),
        "{}",
        s.screen()
    );
    rep.wait_live().await;
    assert!(
        flat(&rep.screen())
            .contains("Goodwill refused by lsilva for Anna Berg: the policy already"),
        "{}",
        rep.screen()
    );
    assert!(!rep.screen().contains("Awaiting approval"));
    assert!(goodwill_grants(&world, CustomerId(1)).is_empty());
    let all = world
        .console("lsilva", Role::CustomerManager)
        .approvals(false)
        .await
        .unwrap();
    assert!(matches!(all[0].state, ApprovalState::Refused { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_supervisors_approving_the_same_request_grant_it_once() {
    let world = World::new();
    let _rep = rep_sends_for_approval(&world, "800").await;
    let mut one = Harness::new(world.console("lsilva", Role::CustomerManager), 80, 24).await;
    let mut two = Harness::new(world.console("admin", Role::Admin), 80, 24).await;
    for h in [&mut one, &mut two] {
        h.press("esc").await;
        h.press("a").await;
        assert!(h.screen().contains("800.00 EUR voucher"), "{}", h.screen());
        h.press("a").await;
        h.type_text("fine by me").await;
        h.press("enter").await;
    }
    // Both confirm; the first decides, the second is told who did.
    one.press("enter").await;
    assert!(
        one.screen()
            .contains("approved: 800.00 EUR voucher granted")
    );
    two.press("enter").await;
    let refused = flat(&two.screen());
    assert!(
        refused.contains("was already approved by lsilva"),
        "{refused}"
    );
    // Approving again from the first terminal finds nothing left to approve.
    one.press("a").await;
    assert!(
        one.screen()
            .contains("Nothing selected: the queue is empty."),
        "{}",
        one.screen()
    );
    let grants = goodwill_grants(&world, CustomerId(1));
    assert_eq!(grants.len(), 1, "exactly one grant: {grants:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_the_limit_goodwill_is_granted_at_once_and_a_second_is_refused() {
    let world = World::new();
    let mut h = Harness::new(world.console("mrossi", Role::FrontLine), 80, 24).await;
    h.type_text("anna berg").await;
    h.press("enter").await;
    for round in 0..2 {
        h.press("+").await;
        h.type_text("120").await;
        h.press("tab").await;
        h.press("tab").await;
        h.type_text("sorry for the wait").await;
        h.press("enter").await;
        assert!(
            flat(&h.screen()).contains("Give 120.00 EUR voucher to Anna Berg as goodwill?"),
            "{}",
            h.screen()
        );
        h.press("enter").await;
        let screen = flat(&h.screen());
        if round == 0 {
            assert!(
                screen.contains("Granted goodwill voucher 120.00 EUR"),
                "{screen}"
            );
        } else {
            assert!(
                screen.contains("Refused: goodwill already given"),
                "{screen}"
            );
            assert!(screen.contains("by mrossi"), "{screen}");
            h.press("esc").await;
        }
    }
    assert_eq!(goodwill_grants(&world, CustomerId(1)).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_decide_follows_the_matrix_the_limits_and_the_portfolio() {
    let world = World::new();
    // Anna Berg in `rest`, managed by cm.rest; cm.north manages another portfolio.
    let dir = tempfile::tempdir().unwrap();
    let portfolios = dir.path().join("portfolios.toml");
    std::fs::write(
        &portfolios,
        "version = 1\ndefault = \"rest\"\n\n\
         [[portfolio]]\nid = \"north\"\nname = \"The north\"\nmanager = \"cm.north\"\n\n\
         [[portfolio]]\nid = \"rest\"\nname = \"Everyone else\"\nmanager = \"cm.rest\"\n",
    )
    .unwrap();
    let offers = dir.path().join("offers.toml");
    std::fs::write(
        &offers,
        "version = 1\n\n[[offer]]\nid = \"apology-letter\"\ntitle = \"Letter of apology\"\n\
         product = \"apology\"\nkind = \"recovery\"\nowner = \"ecare\"\n\
         terms = \"a personal letter\"\nprice = \"0 EUR\"\nchannels = [\"mail\"]\n\
         eligible = \"kind = person\"\nvalid_from = \"2026-01-01\"\n",
    )
    .unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "version = 1\n").unwrap();
    let path = |p: &std::path::Path| Some(p.to_str().unwrap().to_string());
    let cco = world.console("cco", Role::ChiefCustomerOfficer);
    cco.load_relationship(path(&portfolios), path(&offers), path(&rules))
        .await
        .unwrap();
    cco.assign(false).await.unwrap();
    // Above every customer manager's limit (2,000 EUR).
    let _rep = rep_sends_for_approval(&world, "2500").await;

    // The customer's manager may approve it.
    let mut mgr = Harness::new(world.console("cm.rest", Role::CustomerManager), 80, 24).await;
    mgr.press("esc").await;
    mgr.press("a").await;
    assert!(
        flat(&mgr.screen()).contains("you manage this customer: a approve"),
        "{}",
        mgr.screen()
    );
    // Another customer manager may only refuse it, and is told why on `a`.
    let mut other = Harness::new(world.console("cm.north", Role::CustomerManager), 80, 24).await;
    other.press("esc").await;
    other.press("a").await;
    assert!(
        flat(&other.screen()).contains(
            "above your limit of 2000.00 EUR and not the customer's manager: you may refuse"
        ),
        "{}",
        other.screen()
    );
    other.press("a").await;
    assert!(
        flat(&other.screen()).contains("above your limit of 2000.00 EUR"),
        "{}",
        other.screen()
    );
    assert!(!other.screen().contains("Approve goodwill"));
    // The front line reads the queue but may not decide.
    let mut fl = Harness::new(world.console("jsmith", Role::FrontLine), 80, 24).await;
    fl.press("esc").await;
    fl.press("a").await;
    assert!(
        fl.screen().contains("2500.00 EUR voucher"),
        "{}",
        fl.screen()
    );
    assert!(
        flat(&fl.screen()).contains("your role (front-line) may not decide"),
        "{}",
        fl.screen()
    );
    fl.press("a").await;
    assert!(
        fl.screen()
            .contains("Your role (front-line) may not use approve."),
        "{}",
        fl.screen()
    );
    // A role without the right to read the queue sees the refusal, not an empty list.
    let mut analyst = Harness::new(world.console("aneal", Role::Analyst), 80, 24).await;
    analyst.press("esc").await;
    analyst.press("a").await;
    let refused = analyst.screen();
    assert!(
        refused.contains("forbidden: role analyst may not read-approvals"),
        "{refused}"
    );
    assert!(!refused.contains("Goodwill waiting"), "{refused}");

    // The manager approves; one grant of 2,500 EUR.
    mgr.press("a").await;
    mgr.type_text("my customer, my call").await;
    mgr.press("enter").await;
    mgr.press("enter").await;
    assert!(
        mgr.screen()
            .contains("approved: 2500.00 EUR voucher granted"),
        "{}",
        mgr.screen()
    );
    let grants = goodwill_grants(&world, CustomerId(1));
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].amount.minor, 250_000);
}
