//! Offers and the rules that allow, adapt or block them.
//!
//! Capability (product) managers define offers in a versioned catalogue (`offers.toml`), with
//! default rules for their offers. Customer managers write rules for their portfolios
//! (`rules.toml`). For one customer and one offer:
//!
//! 1. an offer outside its validity dates, or whose eligibility does not hold, is not made;
//! 2. the rules of the customer's portfolio that apply to the offer and hold for the customer
//!    decide: any block wins (a block protects the customer, whatever its place in the file),
//!    otherwise the first allow or adapt in file order;
//! 3. when no portfolio rule holds, the capability managers' default rules decide the same way;
//! 4. when no rule holds at all, the offer is allowed as catalogued.
//!
//! So a customer manager's rule wins over a capability manager's default, and within each
//! layer a block cannot be overridden by an allow. [`explain`] gives every offer with its
//! outcome and the deciding rule; [`next_best_action`] picks what to present.

use std::collections::BTreeMap;

use rapport_core::{Channel, Currency, Date, ExchangeRates, Money};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::condition::Condition;
use crate::config::{ConfigErrors, Problems, check_id};
use crate::facts::CustomerFacts;
use crate::portfolio::{Portfolio, PortfolioBook};

/// What an offer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OfferKind {
    /// More of what the customer buys (an upgrade, a better fare).
    Upsell,
    /// Another product (a hotel with the flight).
    CrossSell,
    /// Keeping a customer who may leave.
    Retention,
    /// Putting right what went wrong (an apology, a goodwill gesture): comes before selling.
    Recovery,
}

impl OfferKind {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            OfferKind::Upsell => "upsell",
            OfferKind::CrossSell => "cross-sell",
            OfferKind::Retention => "retention",
            OfferKind::Recovery => "recovery",
        }
    }

    fn parse(s: &str) -> Option<OfferKind> {
        Some(match s.trim() {
            "upsell" => OfferKind::Upsell,
            "cross-sell" => OfferKind::CrossSell,
            "retention" => OfferKind::Retention,
            "recovery" => OfferKind::Recovery,
            _ => return None,
        })
    }
}

/// One offer of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// Stable id (`hotel-weekend`).
    pub id: String,
    /// What it is called.
    pub title: String,
    /// The product it sells; its propensity score is `propensity.PRODUCT` unless
    /// [`Offer::propensity`] names another.
    pub product: String,
    /// Upsell, cross-sell, retention or recovery.
    pub kind: OfferKind,
    /// The capability manager who owns it (an operator name).
    pub owner: String,
    /// The terms as presented.
    pub terms: String,
    /// The price (zero for a gesture).
    pub price: Money,
    /// Share of the price that is margin (0-1), for ranking offers by expected value.
    pub margin: f64,
    /// The channels it may be presented through.
    pub channels: Vec<Channel>,
    /// Who may get it at all.
    pub eligibility: Condition,
    /// First day it may be made.
    pub valid_from: Date,
    /// Last day it may be made, if it ends.
    pub valid_to: Option<Date>,
    /// The propensity to rank it by, when not the product's.
    pub propensity: Option<String>,
    /// The words the front line says.
    pub wording: String,
    /// Its line in the catalogue.
    pub line: usize,
}

/// What a rule does to an offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// Made as catalogued.
    Allow,
    /// Made with changes.
    Adapt(Adaptation),
    /// Not made.
    Block,
}

/// The changes an adapting rule makes; unset parts stay as catalogued.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Adaptation {
    /// A new price (same currency as the offer's).
    pub price: Option<Money>,
    /// A discount in percent off the catalogued price (0-100), when no price is given.
    pub discount_percent: Option<f64>,
    /// New terms.
    pub terms: Option<String>,
    /// Present only through this channel.
    pub channel: Option<Channel>,
    /// When to present it (`after today's flight`, `at the next contact`).
    pub timing: Option<String>,
    /// New words.
    pub wording: Option<String>,
}

/// Which offers a rule applies to: an offer matches when every list given names it (an
/// empty list names every offer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Offer ids.
    pub offers: Vec<String>,
    /// Products.
    pub products: Vec<String>,
    /// Kinds.
    pub kinds: Vec<OfferKind>,
}

impl Target {
    /// Whether the rule applies to the offer.
    pub fn covers(&self, o: &Offer) -> bool {
        (self.offers.is_empty() || self.offers.contains(&o.id))
            && (self.products.is_empty() || self.products.contains(&o.product))
            && (self.kinds.is_empty() || self.kinds.contains(&o.kind))
    }
}

/// Whose rule it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layer {
    /// A customer manager's rule for one portfolio.
    Portfolio(String),
    /// A capability manager's default (the owner's operator name).
    Default(String),
}

/// One rule over offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferRule {
    /// Its name, given in explanations.
    pub name: String,
    /// Whose rule.
    pub layer: Layer,
    /// The offers it applies to.
    pub target: Target,
    /// When it holds.
    pub when: Condition,
    /// What it does.
    pub effect: Effect,
    /// Why (shown to the front line and in explanations).
    pub reason: String,
    /// The file and line it comes from.
    pub file: String,
    /// Its line.
    pub line: usize,
}

/// The offer catalogue with the capability managers' default rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    /// Increases with every change; explanations name it.
    pub version: u32,
    /// The file it was loaded from.
    pub file: String,
    /// The offers, in file order.
    pub offers: Vec<Offer>,
    /// The default rules, in file order.
    pub defaults: Vec<OfferRule>,
}

/// The customer managers' rules, for every portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleBook {
    /// Increases with every change.
    pub version: u32,
    /// The file it was loaded from.
    pub file: String,
    /// The rules, in file order.
    pub rules: Vec<OfferRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    version: u32,
    #[serde(default)]
    offer: Vec<Spanned<RawOffer>>,
    #[serde(default)]
    default: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffer {
    id: Spanned<String>,
    title: String,
    product: Spanned<String>,
    kind: Spanned<String>,
    owner: Spanned<String>,
    #[serde(default)]
    terms: String,
    price: Spanned<String>,
    #[serde(default)]
    margin: Option<Spanned<f64>>,
    channels: Spanned<Vec<String>>,
    #[serde(default)]
    eligible: Option<Spanned<String>>,
    valid_from: Spanned<String>,
    #[serde(default)]
    valid_to: Option<Spanned<String>>,
    #[serde(default)]
    propensity: Option<String>,
    #[serde(default)]
    wording: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    version: u32,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    /// Portfolio rules only.
    #[serde(default)]
    portfolio: Option<Spanned<String>>,
    #[serde(default)]
    offers: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    products: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    kinds: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    when: Option<Spanned<String>>,
    then: Spanned<String>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    price: Option<Spanned<String>>,
    #[serde(default)]
    discount_percent: Option<Spanned<f64>>,
    #[serde(default)]
    terms: Option<String>,
    #[serde(default)]
    channel: Option<Spanned<String>>,
    #[serde(default)]
    timing: Option<String>,
    #[serde(default)]
    wording: Option<String>,
}

/// Parses `120.00 EUR` (a decimal amount and an ISO currency code).
pub fn parse_price(s: &str) -> Result<Money, String> {
    let mut parts = s.split_whitespace();
    let (Some(amount), Some(code), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "price `{s}` is not `AMOUNT CURRENCY` (e.g. `120.00 EUR`)"
        ));
    };
    let currency: Currency = code
        .parse()
        .map_err(|_| format!("price `{s}`: `{code}` is not a currency code"))?;
    let digits = currency.minor_digits() as usize;
    let (whole, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let bad = || format!("price `{s}`: `{amount}` is not an amount with at most {digits} decimals");
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > digits
        || whole.len() > 12
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac_value: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().map_err(|_| bad())? * 10i64.pow((digits - frac.len()) as u32)
    };
    Ok(Money::new(
        whole * 10i64.pow(digits as u32) + frac_value,
        currency,
    ))
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    s.parse::<Channel>()
        .map_err(|_| format!("`{s}` is not a channel name"))
}

impl Catalogue {
    /// Parses and checks an offer catalogue; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Catalogue, ConfigErrors> {
        let mut p = Problems::new(file, text);
        let raw: RawCatalogue = p.toml()?;
        let mut offers: Vec<Offer> = Vec::new();
        for ro in &raw.offer {
            let line = p.line_of(&ro.span());
            let ro = ro.get_ref();
            let id = ro.id.get_ref();
            if let Err(e) = check_id(id) {
                p.at(&ro.id.span(), format!("offer id: {e}"));
            }
            if offers.iter().any(|o| o.id == *id) {
                p.at(&ro.id.span(), format!("offer `{id}` is defined twice"));
            }
            let what = format!("offer `{id}`");
            if let Err(e) = check_id(ro.product.get_ref()) {
                p.at(&ro.product.span(), format!("{what}: product: {e}"));
            }
            let kind = OfferKind::parse(ro.kind.get_ref()).unwrap_or_else(|| {
                p.at(
                    &ro.kind.span(),
                    format!(
                        "{what}: kind is upsell, cross-sell, retention or recovery, not `{}`",
                        ro.kind.get_ref()
                    ),
                );
                OfferKind::Upsell
            });
            if crate::validate_name(ro.owner.get_ref()).is_err() {
                p.at(
                    &ro.owner.span(),
                    format!(
                        "{what}: owner `{}` is not an operator name",
                        ro.owner.get_ref()
                    ),
                );
            }
            let price = parse_price(ro.price.get_ref()).unwrap_or_else(|e| {
                p.at(&ro.price.span(), format!("{what}: {e}"));
                Money::new(0, Currency::EUR)
            });
            let margin = match &ro.margin {
                None => 1.0,
                Some(m) if (0.0..=1.0).contains(m.get_ref()) => *m.get_ref(),
                Some(m) => {
                    p.at(&m.span(), format!("{what}: margin must be between 0 and 1"));
                    1.0
                }
            };
            let mut channels = Vec::new();
            for c in ro.channels.get_ref() {
                match parse_channel(c) {
                    Ok(c) => channels.push(c),
                    Err(e) => p.at(&ro.channels.span(), format!("{what}: channels: {e}")),
                }
            }
            if channels.is_empty() && ro.channels.get_ref().is_empty() {
                p.at(
                    &ro.channels.span(),
                    format!("{what}: name at least one channel"),
                );
            }
            let eligibility = match &ro.eligible {
                None => Condition::True,
                Some(w) => Condition::parse(w.get_ref()).unwrap_or_else(|e| {
                    p.at(&w.span(), format!("{what}: eligible: {e}"));
                    Condition::False
                }),
            };
            let mut date = |s: &Spanned<String>, field: &str| {
                s.get_ref().parse::<Date>().map_err(|_| {
                    p.at(
                        &s.span(),
                        format!("{what}: {field} `{}` is not a date YYYY-MM-DD", s.get_ref()),
                    );
                })
            };
            let valid_from = date(&ro.valid_from, "valid_from").ok();
            let valid_to = ro.valid_to.as_ref().and_then(|s| date(s, "valid_to").ok());
            if let (Some(f), Some(t)) = (valid_from, valid_to)
                && t < f
            {
                p.line(
                    line,
                    format!("{what}: valid_to {t} is before valid_from {f}"),
                );
            }
            if ro.title.trim().is_empty() {
                p.line(line, format!("{what}: title is empty"));
            }
            offers.push(Offer {
                id: id.clone(),
                title: ro.title.trim().to_string(),
                product: ro.product.get_ref().clone(),
                kind,
                owner: ro.owner.get_ref().clone(),
                terms: ro.terms.trim().to_string(),
                price,
                margin,
                channels,
                eligibility,
                valid_from: valid_from.unwrap_or(Date {
                    year: 1970,
                    month: 1,
                    day: 1,
                }),
                valid_to,
                propensity: ro.propensity.clone(),
                wording: ro.wording.trim().to_string(),
                line,
            });
        }
        let mut defaults = Vec::new();
        for rr in &raw.default {
            if let Some(port) = &rr.get_ref().portfolio {
                p.at(
                    &port.span(),
                    format!(
                        "default `{}`: a capability manager's default applies to every portfolio; portfolio rules go in the rules file",
                        rr.get_ref().name
                    ),
                );
            }
            let owner = {
                // The default belongs to the owner of the offers it targets (one owner).
                let targeted: Vec<&Offer> = offers
                    .iter()
                    .filter(|o| target_of(rr.get_ref()).covers(o))
                    .collect();
                let mut owners: Vec<&str> = targeted.iter().map(|o| o.owner.as_str()).collect();
                owners.sort_unstable();
                owners.dedup();
                if owners.len() > 1 {
                    p.at(
                        &rr.span(),
                        format!(
                            "default `{}` applies to offers of several capability managers ({}): name its offers, products or kinds so that one owner's offers are covered",
                            rr.get_ref().name,
                            owners.join(", ")
                        ),
                    );
                }
                owners.first().map(|s| s.to_string()).unwrap_or_default()
            };
            if let Some(rule) = build_rule(&mut p, rr, Layer::Default(owner), &offers) {
                defaults.push(rule);
            }
        }
        let catalogue = Catalogue {
            version: raw.version,
            file: file.to_string(),
            offers,
            defaults,
        };
        p.finish(catalogue)
    }

    /// The offer with this id.
    pub fn offer(&self, id: &str) -> Option<&Offer> {
        self.offers.iter().find(|o| o.id == id)
    }
}

impl RuleBook {
    /// Parses and checks the customer managers' rules against the portfolios and the
    /// catalogue they refer to; `file` names it in errors.
    pub fn parse(
        file: &str,
        text: &str,
        portfolios: &PortfolioBook,
        catalogue: &Catalogue,
    ) -> Result<RuleBook, ConfigErrors> {
        let mut p = Problems::new(file, text);
        let raw: RawRules = p.toml()?;
        let mut rules = Vec::new();
        for rr in &raw.rule {
            let r = rr.get_ref();
            let Some(port) = &r.portfolio else {
                p.at(
                    &rr.span(),
                    format!(
                        "rule `{}`: name the portfolio it is for (portfolio = \"...\")",
                        r.name
                    ),
                );
                continue;
            };
            if portfolios.portfolio(port.get_ref()).is_none() {
                p.at(
                    &port.span(),
                    format!(
                        "rule `{}`: portfolio `{}` is not defined in {}",
                        r.name,
                        port.get_ref(),
                        portfolios.file
                    ),
                );
            }
            let layer = Layer::Portfolio(port.get_ref().clone());
            if let Some(rule) = build_rule(&mut p, rr, layer, &catalogue.offers) {
                rules.push(rule);
            }
        }
        p.finish(RuleBook {
            version: raw.version,
            file: file.to_string(),
            rules,
        })
    }

    /// The rules of one portfolio, in file order.
    pub fn of_portfolio<'a>(&'a self, portfolio: &'a str) -> impl Iterator<Item = &'a OfferRule> {
        self.rules
            .iter()
            .filter(move |r| r.layer == Layer::Portfolio(portfolio.to_string()))
    }
}

fn target_of(r: &RawRule) -> Target {
    let list = |l: &Option<Spanned<Vec<String>>>| {
        l.as_ref().map(|l| l.get_ref().clone()).unwrap_or_default()
    };
    Target {
        offers: list(&r.offers),
        products: list(&r.products),
        kinds: list(&r.kinds)
            .iter()
            .filter_map(|k| OfferKind::parse(k))
            .collect(),
    }
}

/// Checks one raw rule against the offers; `None` when it cannot be built at all.
fn build_rule(
    p: &mut Problems<'_>,
    rr: &Spanned<RawRule>,
    layer: Layer,
    offers: &[Offer],
) -> Option<OfferRule> {
    let line = p.line_of(&rr.span());
    let r = rr.get_ref();
    let what = format!("rule `{}`", r.name);
    if r.name.trim().is_empty() {
        p.line(line, "a rule needs a name");
    }
    if let Some(list) = &r.offers {
        for id in list.get_ref() {
            if !offers.iter().any(|o| o.id == *id) {
                p.at(
                    &list.span(),
                    format!("{what}: offer `{id}` is not in the catalogue"),
                );
            }
        }
    }
    if let Some(list) = &r.products {
        for prod in list.get_ref() {
            if !offers.iter().any(|o| o.product == *prod) {
                p.at(
                    &list.span(),
                    format!("{what}: no offer sells product `{prod}`"),
                );
            }
        }
    }
    if let Some(list) = &r.kinds {
        for k in list.get_ref() {
            if OfferKind::parse(k).is_none() {
                p.at(
                    &list.span(),
                    format!("{what}: kind is upsell, cross-sell, retention or recovery, not `{k}`"),
                );
            }
        }
    }
    let target = target_of(r);
    let covered: Vec<&Offer> = offers.iter().filter(|o| target.covers(o)).collect();
    if covered.is_empty() && !offers.is_empty() {
        p.line(
            line,
            format!("{what}: applies to no offer of the catalogue"),
        );
    }
    let when = match &r.when {
        None => Condition::True,
        Some(w) => Condition::parse(w.get_ref()).unwrap_or_else(|e| {
            p.at(&w.span(), format!("{what}: when: {e}"));
            Condition::False
        }),
    };
    let adapt_fields = r.price.is_some()
        || r.discount_percent.is_some()
        || r.terms.is_some()
        || r.channel.is_some()
        || r.timing.is_some()
        || r.wording.is_some();
    let effect = match r.then.get_ref().trim() {
        "allow" | "block" if adapt_fields => {
            p.at(
                &r.then.span(),
                format!(
                    "{what}: price, discount_percent, terms, channel, timing and wording belong to `then = \"adapt\"`"
                ),
            );
            return None;
        }
        "allow" => Effect::Allow,
        "block" => Effect::Block,
        "adapt" => {
            let mut a = Adaptation {
                terms: r.terms.clone(),
                timing: r.timing.clone(),
                wording: r.wording.clone(),
                ..Adaptation::default()
            };
            if let Some(price) = &r.price {
                match parse_price(price.get_ref()) {
                    Ok(m) => {
                        if let Some(o) = covered.iter().find(|o| o.price.currency != m.currency) {
                            p.at(
                                &price.span(),
                                format!(
                                    "{what}: price in {} but offer `{}` is priced in {}",
                                    m.currency, o.id, o.price.currency
                                ),
                            );
                        }
                        a.price = Some(m);
                    }
                    Err(e) => p.at(&price.span(), format!("{what}: {e}")),
                }
            }
            if let Some(d) = &r.discount_percent {
                if a.price.is_some() {
                    p.at(
                        &d.span(),
                        format!("{what}: give a price or a discount, not both"),
                    );
                } else if !(0.0..=100.0).contains(d.get_ref()) {
                    p.at(&d.span(), format!("{what}: discount_percent must be 0-100"));
                } else {
                    a.discount_percent = Some(*d.get_ref());
                }
            }
            if let Some(c) = &r.channel {
                match parse_channel(c.get_ref()) {
                    Ok(ch) => {
                        if let Some(o) = covered.iter().find(|o| !o.channels.contains(&ch)) {
                            p.at(
                                &c.span(),
                                format!(
                                    "{what}: channel `{ch}` is not one of offer `{}`'s channels",
                                    o.id
                                ),
                            );
                        }
                        a.channel = Some(ch);
                    }
                    Err(e) => p.at(&c.span(), format!("{what}: channel: {e}")),
                }
            }
            if !adapt_fields {
                p.at(
                    &r.then.span(),
                    format!(
                        "{what}: `adapt` changes nothing: give price, discount_percent, terms, channel, timing or wording"
                    ),
                );
            }
            Effect::Adapt(a)
        }
        other => {
            p.at(
                &r.then.span(),
                format!("{what}: then is allow, adapt or block, not `{other}`"),
            );
            return None;
        }
    };
    Some(OfferRule {
        name: r.name.trim().to_string(),
        layer,
        target,
        when,
        effect,
        reason: r.reason.trim().to_string(),
        file: p.file.to_string(),
        line,
    })
}

/// What happens to one offer for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Made as catalogued.
    Allowed,
    /// Made with changes.
    Adapted,
    /// Blocked by a rule.
    Blocked,
    /// The customer is not eligible.
    NotEligible,
    /// Outside the offer's validity dates.
    NotValid,
}

impl Outcome {
    /// Whether the offer may be presented.
    pub fn presentable(self) -> bool {
        matches!(self, Outcome::Allowed | Outcome::Adapted)
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Adapted => "adapted",
            Outcome::Blocked => "blocked",
            Outcome::NotEligible => "not-eligible",
            Outcome::NotValid => "not-valid",
        }
    }
}

/// Who decided an offer's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decider {
    /// The rule's name (`catalogue` when no rule held, `eligibility` or `validity` when the
    /// offer itself excluded the customer).
    pub rule: String,
    /// The portfolio whose rule decided, for a customer manager's rule.
    pub portfolio: Option<String>,
    /// The accountable person: the portfolio's customer manager or the offer's owner.
    pub owner: String,
    /// Where the rule is written (`rules.toml:14`).
    pub location: String,
}

/// One offer's outcome for one customer, with the terms as they would be presented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferDecision {
    /// The offer id.
    pub offer: String,
    /// Its title.
    pub title: String,
    /// Its product.
    pub product: String,
    /// Its kind.
    pub kind: OfferKind,
    /// What happens.
    pub outcome: Outcome,
    /// The price as presented (after adaptation).
    pub price: Money,
    /// The terms as presented.
    pub terms: String,
    /// The channels it may be presented through.
    pub channels: Vec<Channel>,
    /// When to present it, if a rule says.
    pub timing: Option<String>,
    /// The words to say.
    pub wording: String,
    /// Who decided.
    pub decided_by: Decider,
    /// Why, in words.
    pub reason: String,
}

/// Every offer's outcome for one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The customer's portfolio.
    pub portfolio: String,
    /// Its customer manager.
    pub manager: String,
    /// The catalogue version.
    pub catalogue_version: u32,
    /// The rules version.
    pub rules_version: u32,
    /// One decision per offer, in catalogue order.
    pub decisions: Vec<OfferDecision>,
}

/// Decides every offer of the catalogue for one customer of `portfolio` on `today`.
pub fn explain(
    catalogue: &Catalogue,
    rules: &RuleBook,
    portfolio: &Portfolio,
    facts: &CustomerFacts,
    today: Date,
) -> Explanation {
    let decisions = catalogue
        .offers
        .iter()
        .map(|o| decide(catalogue, rules, portfolio, o, facts, today))
        .collect();
    Explanation {
        portfolio: portfolio.id.clone(),
        manager: portfolio.manager.clone(),
        catalogue_version: catalogue.version,
        rules_version: rules.version,
        decisions,
    }
}

/// Decides one offer for one customer.
pub fn decide(
    catalogue: &Catalogue,
    rules: &RuleBook,
    portfolio: &Portfolio,
    offer: &Offer,
    facts: &CustomerFacts,
    today: Date,
) -> OfferDecision {
    let mut d = OfferDecision {
        offer: offer.id.clone(),
        title: offer.title.clone(),
        product: offer.product.clone(),
        kind: offer.kind,
        outcome: Outcome::Allowed,
        price: offer.price,
        terms: offer.terms.clone(),
        channels: offer.channels.clone(),
        timing: None,
        wording: offer.wording.clone(),
        decided_by: Decider {
            rule: "catalogue".into(),
            portfolio: None,
            owner: offer.owner.clone(),
            location: format!("{}:{}", catalogue.file, offer.line),
        },
        reason: "no rule holds: allowed as catalogued".into(),
    };
    let ends = offer
        .valid_to
        .map(|t| format!(" to {t}"))
        .unwrap_or_default();
    if today < offer.valid_from || offer.valid_to.is_some_and(|t| today > t) {
        d.outcome = Outcome::NotValid;
        d.decided_by.rule = "validity".into();
        d.reason = format!("valid from {}{ends}, today is {today}", offer.valid_from);
        return d;
    }
    if !offer.eligibility.eval(facts) {
        d.outcome = Outcome::NotEligible;
        d.decided_by.rule = "eligibility".into();
        d.reason = format!("eligibility does not hold: {}", offer.eligibility);
        return d;
    }
    let portfolio_rules: Vec<&OfferRule> = rules.of_portfolio(&portfolio.id).collect();
    let deciding = deciding_rule(&portfolio_rules, offer, facts)
        .or_else(|| deciding_rule(&catalogue.defaults.iter().collect::<Vec<_>>(), offer, facts));
    let Some(rule) = deciding else {
        return d;
    };
    let (owner, port, whose) = match &rule.layer {
        Layer::Portfolio(p) => (
            portfolio.manager.clone(),
            Some(p.clone()),
            format!("portfolio `{p}` rule"),
        ),
        Layer::Default(o) => (o.clone(), None, "capability manager's default".to_string()),
    };
    d.decided_by = Decider {
        rule: rule.name.clone(),
        portfolio: port,
        owner,
        location: format!("{}:{}", rule.file, rule.line),
    };
    let because = if rule.reason.is_empty() {
        String::new()
    } else {
        format!(" ({})", rule.reason)
    };
    match &rule.effect {
        Effect::Allow => {
            d.reason = format!("allowed by {whose} `{}`: {}{because}", rule.name, rule.when);
        }
        Effect::Block => {
            d.outcome = Outcome::Blocked;
            d.reason = format!("blocked by {whose} `{}`: {}{because}", rule.name, rule.when);
        }
        Effect::Adapt(a) => {
            d.outcome = Outcome::Adapted;
            let mut changes = Vec::new();
            if let Some(p) = a.price {
                d.price = p;
                changes.push(format!("price {} (was {})", p, offer.price));
            } else if let Some(pct) = a.discount_percent {
                let minor = (offer.price.minor as f64 * (1.0 - pct / 100.0)).round() as i64;
                d.price = Money::new(minor, offer.price.currency);
                changes.push(format!("{pct}% off: {} (was {})", d.price, offer.price));
            }
            if let Some(t) = &a.terms {
                d.terms = t.clone();
                changes.push(format!("terms `{t}`"));
            }
            if let Some(c) = &a.channel {
                d.channels = vec![c.clone()];
                changes.push(format!("channel {c}"));
            }
            if let Some(t) = &a.timing {
                d.timing = Some(t.clone());
                changes.push(format!("timing `{t}`"));
            }
            if let Some(w) = &a.wording {
                d.wording = w.clone();
                changes.push("wording".to_string());
            }
            d.reason = format!(
                "adapted by {whose} `{}`: {}; {}{because}",
                rule.name,
                rule.when,
                changes.join(", ")
            );
        }
    }
    d
}

/// Among rules of one layer that apply to the offer and hold: the first block, else the
/// first allow or adapt.
fn deciding_rule<'a>(
    rules: &[&'a OfferRule],
    offer: &Offer,
    facts: &CustomerFacts,
) -> Option<&'a OfferRule> {
    let mut first: Option<&OfferRule> = None;
    for r in rules {
        if !r.target.covers(offer) || !r.when.eval(facts) {
            continue;
        }
        if r.effect == Effect::Block {
            return Some(r);
        }
        first.get_or_insert(r);
    }
    first
}

/// The customer's answer to a presented offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// Took it.
    Accepted,
    /// Said no.
    Declined,
    /// Not now (ask again later).
    NotNow,
}

impl Answer {
    /// Every answer.
    pub const ALL: [Answer; 3] = [Answer::Accepted, Answer::Declined, Answer::NotNow];

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Accepted => "accepted",
            Answer::Declined => "declined",
            Answer::NotNow => "not-now",
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Answer {
    type Err = String;
    fn from_str(s: &str) -> Result<Answer, String> {
        let t = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Answer::ALL
            .into_iter()
            .find(|a| a.as_str() == t)
            .ok_or_else(|| {
                format!(
                    "unknown answer {:?} (expected accepted, declined or not-now)",
                    s.chars().take(40).collect::<String>()
                )
            })
    }
}

/// What the front line should do next with the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NextBestAction {
    /// Put things right first (an open complaint, a disruption today).
    Recover {
        /// What to do.
        action: String,
        /// The recovery offer to present, if the catalogue has one the rules allow.
        offer: Option<OfferDecision>,
        /// Why.
        reason: String,
    },
    /// Present this offer.
    Offer {
        /// The offer as it would be presented.
        decision: OfferDecision,
        /// The purchase propensity it was ranked by (0 when no allowed offer had one: then
        /// it was ranked by price x margin, and the reason says so).
        propensity: f64,
        /// Propensity x price x margin (price x margin without a propensity), in the
        /// reporting currency (major units).
        expected_value: f64,
        /// Why this one.
        reason: String,
    },
    /// Nothing to present.
    Nothing {
        /// Why.
        reason: String,
    },
}

/// The best action after the rules: service recovery first when a complaint is open or a
/// disruption happened today, or when a recovery offer is allowed for the customer (its
/// eligibility reads the history, e.g. a long delay in the last week); otherwise the allowed (or adapted) offer with the highest
/// expected value (propensity x price x margin, converted into the reporting currency at
/// the rates of `day`, days since 1970-01-01). Offers the customer has no propensity for,
/// or whose price cannot be converted, are not ranked; when no allowed offer has a
/// propensity, the one with the highest price x margin is chosen (saying so).
pub fn next_best_action(
    catalogue: &Catalogue,
    explanation: &Explanation,
    facts: &CustomerFacts,
    rates: &ExchangeRates,
    day: i64,
) -> NextBestAction {
    let h = &facts.history;
    let trouble = match (h.open_complaint(), h.disruption_today()) {
        (true, true) => Some("a complaint is open and a disruption happened today"),
        (true, false) => Some("a complaint is open"),
        (false, true) => Some("a disruption happened today"),
        (false, false) => None,
    };
    let presentable = explanation
        .decisions
        .iter()
        .filter(|d| d.outcome.presentable());
    if let Some(trouble) = trouble {
        let recovery = presentable
            .clone()
            .find(|d| d.kind == OfferKind::Recovery)
            .cloned();
        let action = match (&recovery, h.open_complaint()) {
            (Some(r), _) => format!("present `{}`", r.title),
            (None, true) => "resolve the open complaint before offering anything".to_string(),
            (None, false) => {
                "acknowledge today's disruption and apply the compensation policy".to_string()
            }
        };
        return NextBestAction::Recover {
            action,
            reason: format!("service recovery before selling: {trouble}"),
            offer: recovery,
        };
    }
    // No open complaint and no disruption today, but a recovery offer holds for the customer
    // (its eligibility reads the history: a long delay yesterday): still recovery first.
    if let Some(r) = presentable.clone().find(|d| d.kind == OfferKind::Recovery) {
        return NextBestAction::Recover {
            action: format!("present `{}`", r.title),
            reason: format!(
                "service recovery before selling: `{}` holds for this customer ({})",
                r.title, r.reason
            ),
            offer: Some(r.clone()),
        };
    }
    let propensities: BTreeMap<&str, f64> = facts
        .scores
        .as_ref()
        .map(|s| s.propensity.iter().map(|(k, v)| (k.as_str(), *v)).collect())
        .unwrap_or_default();
    let mut best: Option<(f64, f64, &OfferDecision)> = None;
    // Without a propensity (no model fitted for the product, as on a small world), the
    // allowed offer that earns most when taken: price x margin.
    let mut by_margin: Option<(f64, &OfferDecision)> = None;
    let mut unranked = 0;
    for d in presentable.filter(|d| d.kind != OfferKind::Recovery) {
        let Some(offer) = catalogue.offer(&d.offer) else {
            continue;
        };
        let key = offer.propensity.as_deref().unwrap_or(&offer.product);
        let Some(units) = rates.units_per_reporting(d.price.currency, day) else {
            unranked += 1;
            continue;
        };
        let Some(&p) = propensities.get(key) else {
            unranked += 1;
            let margin = d.price.as_major_f64() / units * offer.margin;
            if margin > 0.0 && by_margin.is_none_or(|(b, _)| margin > b) {
                by_margin = Some((margin, d));
            }
            continue;
        };
        let ev = p * d.price.as_major_f64() / units * offer.margin;
        if best.is_none_or(|(b, _, _)| ev > b) {
            best = Some((ev, p, d));
        }
    }
    match best {
        Some((ev, p, d)) => NextBestAction::Offer {
            reason: format!(
                "highest expected value of the allowed offers: propensity {p:.2} x {} x margin = {ev:.2} {}; {}",
                d.price, rates.reporting, d.reason
            ),
            decision: d.clone(),
            propensity: p,
            expected_value: ev,
        },
        None if let Some((margin, d)) = by_margin => NextBestAction::Offer {
            reason: format!(
                "no propensity score for this customer's allowed offers: the one that earns \
                 most when taken, {} x margin = {margin:.2} {}; {}",
                d.price, rates.reporting, d.reason
            ),
            decision: d.clone(),
            propensity: 0.0,
            expected_value: margin,
        },
        None => NextBestAction::Nothing {
            reason: if unranked > 0 {
                format!("{unranked} allowed offers, none with a propensity score for this customer")
            } else {
                "no offer is allowed for this customer".to_string()
            },
        },
    }
}
