//! Offer decisions rule by rule: allow, adapt, block, precedence, the block after a complaint
//! or a long delay, the next best action, and rule files with mistakes.

use std::collections::BTreeMap;

use rapport_core::{Channel, Currency, CustomerId, Date, ExchangeRates, Money, PartyKind, Tier};
use rapport_governance::offer::{Layer, OfferDecision};
use rapport_governance::{
    Catalogue, CustomerFacts, HistoryFacts, NextBestAction, Outcome, PortfolioBook, RuleBook,
    ScoreFacts, explain, next_best_action,
};

const PORTFOLIOS: &str = r#"
version = 1
default = "standard"

[[portfolio]]
id = "premium"
name = "Premium travellers"
manager = "cdubois"

[[portfolio]]
id = "standard"
name = "Standard travellers"
manager = "bnovak"

[[assign]]
name = "tier A"
portfolio = "premium"
when = "tier = A"
"#;

const OFFERS: &str = r#"
version = 7

[[offer]]
id = "lounge-pass"
title = "Lounge day pass"
product = "lounge"
kind = "upsell"
owner = "pmeyer"
terms = "one visit within 30 days"
price = "35.00 EUR"
channels = ["gate", "call_center", "app"]
eligible = "kind = person"
valid_from = "2026-01-01"
valid_to = "2026-12-31"
wording = "Would you like to wait in the lounge today?"

[[offer]]
id = "hotel-weekend"
title = "Partner hotel weekend"
product = "hotel"
kind = "cross-sell"
owner = "lhansen"
terms = "two nights, breakfast"
price = "240.00 EUR"
margin = 0.25
channels = ["email", "call_center"]
eligible = "tier in [A, B, C]"
valid_from = "2026-06-01"

[[offer]]
id = "winter-sale"
title = "Winter fares"
product = "flight"
kind = "upsell"
owner = "pmeyer"
price = "99.00 EUR"
channels = ["web"]
valid_from = "2027-01-01"

[[offer]]
id = "apology-letter"
title = "Letter of apology"
product = "apology"
kind = "recovery"
owner = "lhansen"
price = "0 EUR"
channels = ["mail", "email"]
eligible = "open_complaint or disruption_today or days_since_long_delay <= 7"
valid_from = "2026-01-01"

# The capability managers' defaults.
[[default]]
name = "no lounge for the bottom tier"
offers = ["lounge-pass"]
when = "tier = D"
then = "block"
reason = "costs more than it earns"

[[default]]
name = "hotel by e-mail to low propensity"
products = ["hotel"]
when = "propensity.hotel < 0.1"
then = "adapt"
channel = "email"
"#;

const RULES: &str = r#"
version = 2

[[rule]]
portfolio = "premium"
name = "premium lounge at half price"
offers = ["lounge-pass"]
when = "tier = A"
then = "adapt"
discount_percent = 50
terms = "one visit today"
timing = "before boarding"
reason = "recognise our best travellers"

[[rule]]
portfolio = "premium"
name = "no upsell after a complaint or a long delay"
kinds = ["upsell", "cross-sell"]
when = "days_since_unresolved_complaint < 7 or days_since_long_delay < 7"
then = "block"
reason = "service recovery first"

[[rule]]
portfolio = "standard"
name = "lounge for the bottom tier after all"
offers = ["lounge-pass"]
when = "tier = D and propensity.lounge >= 0.5"
then = "allow"
reason = "they buy it"
"#;

fn today() -> Date {
    "2026-11-23".parse().unwrap()
}

struct World {
    book: PortfolioBook,
    catalogue: Catalogue,
    rules: RuleBook,
}

fn world() -> World {
    let book = PortfolioBook::parse("portfolios.toml", PORTFOLIOS).unwrap();
    let catalogue = Catalogue::parse("offers.toml", OFFERS).unwrap();
    let rules = RuleBook::parse("rules.toml", RULES, &book, &catalogue).unwrap();
    World {
        book,
        catalogue,
        rules,
    }
}

fn customer(tier: Tier, propensity: &[(&str, f64)]) -> CustomerFacts {
    let mut f = CustomerFacts::new(CustomerId(42), PartyKind::Person);
    f.scores = Some(ScoreFacts {
        tier,
        segment: "standard".into(),
        value: 1000.0,
        annual_value: 1000.0,
        profit: 200.0,
        clv: 4000.0,
        p_alive: 0.9,
        churn: None,
        expected_transactions: 4.0,
        top: tier == Tier::A,
        bottom: tier == Tier::D,
        propensity: propensity
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
    });
    f
}

impl World {
    fn decisions(&self, f: &CustomerFacts) -> Vec<OfferDecision> {
        let assignment = self.book.assign(f);
        let portfolio = self.book.portfolio(&assignment.portfolio).unwrap();
        explain(&self.catalogue, &self.rules, portfolio, f, today()).decisions
    }

    fn decision(&self, f: &CustomerFacts, offer: &str) -> OfferDecision {
        self.decisions(f)
            .into_iter()
            .find(|d| d.offer == offer)
            .unwrap()
    }
}

#[test]
fn allow_as_catalogued_when_no_rule_holds() {
    let w = world();
    let d = w.decision(&customer(Tier::B, &[("lounge", 0.3)]), "lounge-pass");
    assert_eq!(d.outcome, Outcome::Allowed);
    assert_eq!(d.price, Money::new(3500, Currency::EUR));
    assert_eq!(d.decided_by.rule, "catalogue");
    assert_eq!(d.decided_by.owner, "pmeyer");
    assert_eq!(d.decided_by.location, "offers.toml:4");
    assert_eq!(d.reason, "no rule holds: allowed as catalogued");
}

#[test]
fn adapt_changes_price_terms_timing_and_names_the_portfolio_rule() {
    let w = world();
    let d = w.decision(&customer(Tier::A, &[("lounge", 0.3)]), "lounge-pass");
    assert_eq!(d.outcome, Outcome::Adapted);
    assert_eq!(d.price, Money::new(1750, Currency::EUR));
    assert_eq!(d.terms, "one visit today");
    assert_eq!(d.timing.as_deref(), Some("before boarding"));
    assert_eq!(d.decided_by.rule, "premium lounge at half price");
    assert_eq!(d.decided_by.portfolio.as_deref(), Some("premium"));
    assert_eq!(d.decided_by.owner, "cdubois");
    assert_eq!(d.decided_by.location, "rules.toml:4");
    assert!(
        d.reason.contains("50% off: 17.50 EUR (was 35.00 EUR)"),
        "{}",
        d.reason
    );
    // A default that adapts the channel.
    let h = w.decision(&customer(Tier::B, &[("hotel", 0.05)]), "hotel-weekend");
    assert_eq!(h.outcome, Outcome::Adapted);
    assert_eq!(h.channels, vec![Channel::Email]);
    assert!(
        h.reason
            .starts_with("adapted by capability manager's default"),
        "{}",
        h.reason
    );
    assert_eq!(h.decided_by.owner, "lhansen");
}

#[test]
fn block_by_the_capability_managers_default() {
    let w = world();
    let d = w.decision(&customer(Tier::D, &[("lounge", 0.2)]), "lounge-pass");
    assert_eq!(d.outcome, Outcome::Blocked);
    assert_eq!(d.decided_by.rule, "no lounge for the bottom tier");
    assert_eq!(d.decided_by.portfolio, None);
    assert!(
        d.reason.contains("costs more than it earns"),
        "{}",
        d.reason
    );
}

#[test]
fn the_customer_managers_rule_wins_over_the_default() {
    let w = world();
    // Tier D with a high lounge propensity: the standard portfolio's allow beats the
    // capability manager's default block.
    let d = w.decision(&customer(Tier::D, &[("lounge", 0.6)]), "lounge-pass");
    assert_eq!(d.outcome, Outcome::Allowed);
    assert_eq!(d.decided_by.rule, "lounge for the bottom tier after all");
    assert_eq!(d.decided_by.portfolio.as_deref(), Some("standard"));
    assert_eq!(d.decided_by.owner, "bnovak");
}

#[test]
fn a_block_after_a_complaint_or_a_long_delay_protects_whatever_its_place() {
    let w = world();
    let mut f = customer(Tier::A, &[("lounge", 0.8), ("hotel", 0.4)]);
    f.history = HistoryFacts {
        days_since_unresolved_complaint: Some(3),
        days_since_complaint: Some(3),
        unresolved_complaints: 1,
        ..HistoryFacts::default()
    };
    // The adapt rule comes first in the file, yet the block decides.
    let lounge = w.decision(&f, "lounge-pass");
    assert_eq!(lounge.outcome, Outcome::Blocked);
    assert_eq!(
        lounge.decided_by.rule,
        "no upsell after a complaint or a long delay"
    );
    assert!(lounge.reason.contains("service recovery first"));
    let hotel = w.decision(&f, "hotel-weekend");
    assert_eq!(hotel.outcome, Outcome::Blocked);
    // The recovery offer is not an upsell: allowed.
    assert_eq!(w.decision(&f, "apology-letter").outcome, Outcome::Allowed);

    // Eight days after the complaint, the block no longer holds.
    f.history.days_since_unresolved_complaint = Some(8);
    assert_eq!(w.decision(&f, "lounge-pass").outcome, Outcome::Adapted);

    // A long delay yesterday blocks as well.
    let mut g = customer(Tier::A, &[("lounge", 0.8)]);
    g.history.days_since_long_delay = Some(1);
    g.history.days_since_disruption = Some(1);
    assert_eq!(w.decision(&g, "lounge-pass").outcome, Outcome::Blocked);
}

#[test]
fn validity_and_eligibility_come_before_rules() {
    let w = world();
    let f = customer(Tier::B, &[]);
    let sale = w.decision(&f, "winter-sale");
    assert_eq!(sale.outcome, Outcome::NotValid);
    assert_eq!(sale.reason, "valid from 2027-01-01, today is 2026-11-23");
    let org = CustomerFacts::new(CustomerId(9), PartyKind::Organisation);
    let d = w.decision(&org, "lounge-pass");
    assert_eq!(d.outcome, Outcome::NotEligible);
    assert!(d.reason.contains("kind = person"), "{}", d.reason);
    // Every offer has exactly one decision, in catalogue order.
    let ids: Vec<String> = w.decisions(&f).into_iter().map(|d| d.offer).collect();
    assert_eq!(
        ids,
        [
            "lounge-pass",
            "hotel-weekend",
            "winter-sale",
            "apology-letter"
        ]
    );
}

#[test]
fn next_best_action_ranks_allowed_offers_by_expected_value_and_recovers_first() {
    let w = world();
    let rates = ExchangeRates::reporting_only(Currency::EUR);
    let day = 20_415;
    let nba = |f: &CustomerFacts| {
        let a = w.book.assign(f);
        let p = w.book.portfolio(&a.portfolio).unwrap();
        let e = explain(&w.catalogue, &w.rules, p, f, today());
        next_best_action(&w.catalogue, &e, f, &rates, day)
    };
    // Lounge 0.5 x 35 x 1 = 17.5 against hotel 0.4 x 240 x 0.25 = 24: the hotel.
    let f = customer(Tier::B, &[("lounge", 0.5), ("hotel", 0.4)]);
    match nba(&f) {
        NextBestAction::Offer {
            decision,
            expected_value,
            propensity,
            reason,
        } => {
            assert_eq!(decision.offer, "hotel-weekend");
            assert!((expected_value - 24.0).abs() < 1e-9);
            assert_eq!(propensity, 0.4);
            assert!(reason.contains("propensity 0.40 x 240.00 EUR"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // For tier A the lounge is adapted to half price: 0.9 x 17.5 = 15.75 < hotel 0.3 x 60 = 18.
    let a = customer(Tier::A, &[("lounge", 0.9), ("hotel", 0.2)]);
    match nba(&a) {
        NextBestAction::Offer { decision, .. } => assert_eq!(decision.offer, "lounge-pass"),
        other => panic!("{other:?}"),
    }
    // An open complaint: recovery first, the apology letter.
    let mut c = customer(Tier::A, &[("lounge", 0.9)]);
    c.history.unresolved_complaints = 1;
    c.history.days_since_unresolved_complaint = Some(20);
    match nba(&c) {
        NextBestAction::Recover { offer, reason, .. } => {
            assert_eq!(offer.unwrap().offer, "apology-letter");
            assert!(reason.contains("a complaint is open"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A long delay yesterday, nothing open and nothing today: the apology letter holds for
    // the customer, so recovery still comes before the lounge (which the customer's
    // propensity would otherwise rank first).
    let mut d = customer(Tier::B, &[("lounge", 0.9)]);
    d.history.days_since_long_delay = Some(1);
    d.history.days_since_disruption = Some(1);
    match nba(&d) {
        NextBestAction::Recover { offer, reason, .. } => {
            assert_eq!(offer.unwrap().offer, "apology-letter");
            assert!(reason.contains("holds for this customer"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // No propensities at all (no model fitted): the allowed offer that earns most when
    // taken, price x margin, said so.
    match nba(&customer(Tier::B, &[])) {
        NextBestAction::Offer {
            decision,
            propensity,
            expected_value,
            reason,
        } => {
            assert_eq!(propensity, 0.0);
            assert!(reason.contains("no propensity score"), "{reason}");
            // Lounge 35 x 1 = 35 against hotel 240 x 0.25 = 60: the hotel.
            assert_eq!(decision.offer, "hotel-weekend");
            assert!((expected_value - 60.0).abs() < 1e-9, "{expected_value}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rule_files_with_mistakes_name_file_line_and_problem() {
    let w = world();
    let bad = r#"version = 3

[[rule]]
portfolio = "gold"
name = "unknown portfolio"
then = "allow"

[[rule]]
portfolio = "premium"
name = "bad condition"
when = "days_since_complaint < soon"
then = "block"

[[rule]]
portfolio = "premium"
name = "unknown offer"
offers = ["spa-day"]
then = "block"

[[rule]]
portfolio = "premium"
name = "bad effect"
then = "maybe"

[[rule]]
portfolio = "premium"
name = "adapt with nothing"
then = "adapt"

[[rule]]
portfolio = "premium"
name = "price in dollars"
offers = ["lounge-pass"]
then = "adapt"
price = "20.00 USD"

[[rule]]
portfolio = "premium"
name = "allow with a price"
then = "allow"
price = "1.00 EUR"

[[rule]]
name = "no portfolio"
then = "allow"
"#;
    let errs = RuleBook::parse("rules.toml", bad, &w.book, &w.catalogue).unwrap_err();
    let text = errs.to_string();
    for want in [
        "rules.toml:4: rule `unknown portfolio`: portfolio `gold` is not defined in portfolios.toml",
        "rules.toml:11: rule `bad condition`: when: `days_since_complaint` is a number, found `soon`",
        "rules.toml:17: rule `unknown offer`: offer `spa-day` is not in the catalogue",
        "rules.toml:14: rule `unknown offer`: applies to no offer of the catalogue",
        "rules.toml:23: rule `bad effect`: then is allow, adapt or block, not `maybe`",
        "rules.toml:28: rule `adapt with nothing`: `adapt` changes nothing",
        "rules.toml:35: rule `price in dollars`: price in USD but offer `lounge-pass` is priced in EUR",
        "rules.toml:40: rule `allow with a price`: price, discount_percent, terms, channel, timing and wording belong to `then = \"adapt\"`",
        "rules.toml:43: rule `no portfolio`: name the portfolio",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(errs.0.len(), 9, "{text}");

    // A TOML syntax error names its line too.
    let syntax = RuleBook::parse(
        "rules.toml",
        "version = 1\n[[rule]\n",
        &w.book,
        &w.catalogue,
    )
    .unwrap_err();
    assert_eq!(
        (syntax.0[0].file.as_str(), syntax.0[0].line),
        ("rules.toml", 2)
    );

    // The catalogue's own mistakes.
    let bad_offers = r#"version = 1

[[offer]]
id = "x"
title = "X"
product = "x"
kind = "downsell"
owner = "pmeyer"
price = "12.345 EUR"
channels = ["pigeon/post"]
valid_from = "2026-13-01"
eligible = "tier = Z"
"#;
    let errs = Catalogue::parse("offers.toml", bad_offers)
        .unwrap_err()
        .to_string();
    for want in [
        "offers.toml:7: offer `x`: kind is upsell, cross-sell, retention or recovery, not `downsell`",
        "offers.toml:9: offer `x`: price `12.345 EUR`: `12.345` is not an amount with at most 2 decimals",
        "offers.toml:10: offer `x`: channels: `pigeon/post` is not a channel name",
        "offers.toml:11: offer `x`: valid_from `2026-13-01` is not a date YYYY-MM-DD",
        "offers.toml:12: offer `x`: eligible: `tier` takes A, B, C or D",
    ] {
        assert!(errs.contains(want), "missing {want:?} in\n{errs}");
    }
}

#[test]
fn rules_are_plain_data_the_same_at_every_terminal() {
    // What a server sends a console is the parsed rules; they decide the same after a round
    // trip through JSON.
    let w = world();
    let json = serde_json::to_string(&w.rules).unwrap();
    let back: RuleBook = serde_json::from_str(&json).unwrap();
    assert_eq!(back, w.rules);
    assert!(matches!(back.rules[0].layer, Layer::Portfolio(ref p) if p == "premium"));
}
