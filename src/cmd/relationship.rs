//! `portfolio`, `offer` and `equity`: relationship governance (#18) through the service.
//! Portfolios with their metrics, the assignment by rules and moves by hand; the governance
//! files, every offer explained for a customer, answers and the offer report; customer equity
//! by portfolio and tier with its change since the last scoring run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rapport_core::text::sanitize;
use rapport_core::{Channel, CustomerId, Tier, Timestamp};
use rapport_governance::{Answer, NextBestAction, OfferDecision};
use rapport_service::Relationships;
use rapport_service::relationship::{EquityView, MemberLine, PortfolioView};

use crate::cmd::repository::absolute;
use crate::cmd::service::{connect, finish, runtime};
use crate::global::Global;

/// `rapport portfolio ...`.
#[derive(Debug, Subcommand)]
pub enum PortfolioCommand {
    /// Every portfolio with its manager and metrics.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// One portfolio: metrics and its customers, highest lifetime value first.
    Show {
        /// The portfolio id.
        id: String,
        /// Customers listed.
        #[arg(long, value_name = "N", default_value_t = 20)]
        members: usize,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Place every customer by the portfolio rules (customers moved by hand stay).
    Assign {
        /// Also move the customers placed by hand to where the rules put them.
        #[arg(long)]
        override_hand: bool,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move a customer to another portfolio by hand, with a reason (kept with who and when).
    Move {
        /// The customer, e.g. C00000042.
        customer: CustomerId,
        /// The portfolio to move to.
        #[arg(long, value_name = "PORTFOLIO")]
        to: String,
        /// Why.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// The portfolio you saw the customer in (`none`: in none): the move fails if
        /// someone moved the customer meanwhile.
        #[arg(long, value_name = "PORTFOLIO")]
        from: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// The portfolio and offer rules in force, with who loaded them and when.
    Rules {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Customers in no portfolio yet.
    Unassigned {
        /// Customers listed.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// A customer's moves between portfolios, oldest first.
    History {
        /// The customer.
        customer: CustomerId,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport offer ...`.
#[derive(Debug, Subcommand)]
pub enum OfferCommand {
    /// Every offer's outcome for a customer, with the rule and portfolio that decided it,
    /// and the next best action.
    Explain {
        /// The customer.
        customer: CustomerId,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record a customer's answer to an offer presented: accepted, declined or not-now.
    Answer {
        /// The customer.
        customer: CustomerId,
        /// The offer id.
        offer: String,
        /// accepted, declined or not-now.
        answer: Answer,
        /// The channel it was presented through.
        #[arg(long, value_name = "CHANNEL", default_value = "call_center")]
        channel: Channel,
        /// Where, e.g. "gate C12".
        #[arg(long, value_name = "TEXT")]
        touchpoint: Option<String>,
    },
    /// Answers by offer: presented, accepted, declined, not now, by portfolio.
    Report {
        /// Answers on or after this day (YYYY-MM-DD).
        #[arg(long, value_name = "DAY")]
        since: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Load governance files (checked together; the ones not named stay as stored). Each
    /// file needs its role: portfolios the chief customer officer, offers a capability
    /// manager, rules a customer manager (their own portfolios' rules only).
    Load(LoadArgs),
}

/// `rapport offer load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// A directory with portfolios.toml, offers.toml and rules.toml.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The portfolio file.
    #[arg(long, value_name = "FILE")]
    pub portfolios: Option<PathBuf>,
    /// The offer catalogue.
    #[arg(long, value_name = "FILE")]
    pub offers: Option<PathBuf>,
    /// The customer managers' offer rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rapport equity`.
#[derive(Debug, Args)]
pub struct EquityArgs {
    /// The market's customer equity (reporting currency), for our share of it.
    #[arg(long, value_name = "AMOUNT")]
    pub market: Option<f64>,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
}

fn call<T>(
    g: &Global,
    f: impl AsyncFnOnce(&rapport_service::Client) -> Result<T, rapport_service::ServiceError>,
) -> anyhow::Result<T> {
    let rt = runtime()?;
    let client = rt.block_on(connect(g))?;
    let r = rt.block_on(f(&client));
    finish(client)?;
    Ok(r?)
}

fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> anyhow::Result<ExitCode> {
    println!("{}", crate::cmd::json_pretty(v)?);
    Ok(ExitCode::SUCCESS)
}

fn tiers(t: &std::collections::BTreeMap<Tier, u64>) -> String {
    let all: Vec<String> = t.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if all.is_empty() {
        "-".into()
    } else {
        all.join(", ")
    }
}

fn view_line(p: &PortfolioView) {
    let m = &p.metrics;
    let size = match m.target_size {
        Some(t) => format!("{}/{t}", m.customers),
        None => m.customers.to_string(),
    };
    println!(
        "{:<14} {:<10} {:>10} {:>14.2} {:>16.2} {:>7} {:>6} {:>12.2}  {}",
        sanitize(&p.id),
        sanitize(&p.manager),
        size,
        m.current_value,
        m.projected_value,
        m.at_risk,
        m.lost_valuable,
        m.compensation,
        tiers(&m.tiers)
    );
}

const VIEW_HEADER: &str = "portfolio      manager     customers  current value  projected (CLV) at-risk   lost compensation  tiers";

fn member_line(m: &MemberLine) {
    println!(
        "  {} {:<32} {:>4} {:>14}",
        m.customer,
        sanitize(&m.name),
        m.tier.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
        m.clv
            .map(|c| format!("{c:.2}"))
            .unwrap_or_else(|| "-".into())
    );
}

pub fn portfolio(g: &Global, c: PortfolioCommand) -> anyhow::Result<ExitCode> {
    match c {
        PortfolioCommand::List { json } => {
            let list = call(g, async |c| c.portfolios().await)?;
            if json {
                return print_json(&list);
            }
            println!("{VIEW_HEADER}");
            for p in &list {
                view_line(p);
            }
            let total: u64 = list.iter().map(|p| p.metrics.customers).sum();
            println!("{} portfolios, {total} customers", list.len());
        }
        PortfolioCommand::Show { id, members, json } => {
            let d = call(g, async |c| c.portfolio(&id, members).await)?;
            if json {
                return print_json(&d);
            }
            println!(
                "{} ({}), customer manager {}",
                sanitize(&d.view.name),
                sanitize(&d.view.id),
                sanitize(&d.view.manager)
            );
            println!("{VIEW_HEADER}");
            view_line(&d.view);
            println!(
                "{} scored; {} grants in its customers' history",
                d.view.metrics.scored, d.view.metrics.grants
            );
            match &d.view.previous_tiers {
                Some(before) => {
                    let mut tiers: std::collections::BTreeSet<Tier> =
                        before.keys().copied().collect();
                    tiers.extend(d.view.metrics.tiers.keys().copied());
                    let moves: Vec<String> = tiers
                        .into_iter()
                        .map(|t| {
                            let now = d.view.metrics.tiers.get(&t).copied().unwrap_or(0);
                            let then = before.get(&t).copied().unwrap_or(0);
                            format!("{t} {now} ({:+})", now as i64 - then as i64)
                        })
                        .collect();
                    println!(
                        "tier mix since the scoring run before: {}",
                        moves.join(", ")
                    );
                }
                None => println!("tier mix since the scoring run before: no earlier run kept"),
            }
            println!("customers by lifetime value (first {}):", d.members.len());
            d.members.iter().for_each(member_line);
        }
        PortfolioCommand::Assign {
            override_hand,
            json,
        } => {
            let r = call(g, async |c| c.assign(override_hand).await)?;
            if json {
                return print_json(&r);
            }
            println!(
                "{} customers: {} assigned, {} moved, {} unchanged, {} kept where they were \
                 moved by hand",
                r.customers, r.assigned, r.moved, r.unchanged, r.kept_by_hand
            );
            for (p, n) in &r.by_portfolio {
                println!("  {:<14} {n}", sanitize(p));
            }
        }
        PortfolioCommand::Move {
            customer,
            to,
            reason,
            from,
            json,
        } => {
            let seen = from.map(|f| (f != "none").then_some(f));
            let m = call(g, async |c| {
                c.move_customer(customer, &to, &reason, seen).await
            })?;
            if json {
                return print_json(&m);
            }
            match m {
                Some(m) => println!(
                    "{customer} moved from {} to {} by {} ({})",
                    m.from
                        .as_deref()
                        .map(sanitize)
                        .unwrap_or("no portfolio".into()),
                    sanitize(&m.to),
                    sanitize(&m.by),
                    sanitize(&m.why)
                ),
                None => println!("{customer} is already in {}", sanitize(&to)),
            }
        }
        PortfolioCommand::Rules { json } => {
            let r = call(g, async |c| c.portfolio_rules().await)?;
            if json {
                return print_json(&r);
            }
            for t in &r.loaded {
                println!(
                    "{} loaded by {} at {}",
                    sanitize(&t.source.file),
                    sanitize(&t.loaded_by),
                    t.loaded_at
                );
            }
            let b = &r.config.portfolios;
            println!(
                "\nAssignment rules (version {}; tried in order, else `{}`; customer managers \
                 see {}):",
                b.version,
                sanitize(&b.default),
                b.managers_see.as_str()
            );
            for a in &b.rules {
                let together = match a.together {
                    Some(t) => format!(", {t:?} together").to_lowercase(),
                    None => String::new(),
                };
                println!(
                    "  line {:>3}: {:<40} -> {:<12} when {}{together}",
                    a.line,
                    sanitize(&a.name),
                    sanitize(&a.portfolio),
                    a.when
                );
            }
            let c = &r.config.catalogue;
            println!("\nOffers (catalogue version {}):", c.version);
            for o in &c.offers {
                println!(
                    "  {:<18} {:<12} {:>12}  owner {:<8} eligible when {}",
                    sanitize(&o.id),
                    o.kind.as_str(),
                    o.price.to_string(),
                    sanitize(&o.owner),
                    o.eligibility
                );
            }
            println!("\nCapability managers' defaults:");
            for d in &c.defaults {
                rule_line(d);
            }
            println!(
                "\nCustomer managers' rules (version {}; they decide before the defaults):",
                r.config.rules.version
            );
            for d in &r.config.rules.rules {
                rule_line(d);
            }
        }
        PortfolioCommand::Unassigned { limit, json } => {
            let u = call(g, async |c| c.unassigned(limit).await)?;
            if json {
                return print_json(&u);
            }
            if u.is_empty() {
                println!("Every customer is in a portfolio.");
            } else {
                println!(
                    "{} customers in no portfolio (place them with `rapport portfolio assign` \
                     or `rapport portfolio move`):",
                    u.len()
                );
                u.iter().for_each(member_line);
            }
        }
        PortfolioCommand::History { customer, json } => {
            let moves = call(g, async |c| c.moves(customer).await)?;
            if json {
                return print_json(&moves);
            }
            if moves.is_empty() {
                println!("{customer} has never been placed in a portfolio.");
            }
            for m in &moves {
                println!(
                    "{:>3}. {} {} -> {} by {}: {}",
                    m.number,
                    m.at,
                    m.from.as_deref().map(sanitize).unwrap_or("-".into()),
                    sanitize(&m.to),
                    sanitize(&m.by),
                    sanitize(&m.why)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rule_line(r: &rapport_governance::offer::OfferRule) {
    println!(
        "  {}:{} {:<44} {:?} when {}{}",
        sanitize(&r.file),
        r.line,
        sanitize(&r.name),
        effect_word(&r.effect),
        r.when,
        if r.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", sanitize(&r.reason))
        }
    );
}

fn effect_word(e: &rapport_governance::offer::Effect) -> &'static str {
    match e {
        rapport_governance::offer::Effect::Allow => "allow",
        rapport_governance::offer::Effect::Block => "block",
        rapport_governance::offer::Effect::Adapt(_) => "adapt",
    }
}

fn decision_line(d: &OfferDecision) {
    println!(
        "  {:<18} {:<12} {:>12}  {} [{} at {}]",
        sanitize(&d.offer),
        d.outcome.as_str(),
        d.price.to_string(),
        sanitize(&d.reason),
        sanitize(&d.decided_by.rule),
        sanitize(&d.decided_by.location)
    );
}

/// The next best action in one or two lines (also the console's wording).
pub fn next_best_action_text(n: &NextBestAction) -> String {
    match n {
        NextBestAction::Recover { action, reason, .. } => format!("{action} ({reason})"),
        NextBestAction::Offer {
            decision, reason, ..
        } => format!("present `{}`: {}", decision.title, reason),
        NextBestAction::Nothing { reason } => format!("nothing to present ({reason})"),
    }
}

fn day_start(s: &str) -> anyhow::Result<Timestamp> {
    let d: jiff::civil::Date = s
        .parse()
        .with_context(|| format!("--since {s:?}: not a day (YYYY-MM-DD)"))?;
    let t = d
        .to_zoned(jiff::tz::TimeZone::UTC)
        .with_context(|| format!("--since {s}"))?
        .timestamp();
    Ok(Timestamp::from_jiff(t))
}

pub fn offer(g: &Global, c: OfferCommand) -> anyhow::Result<ExitCode> {
    match c {
        OfferCommand::Explain { customer, json } => {
            let v = call(g, async |c| c.explain_offers(customer).await)?;
            if json {
                return print_json(&v);
            }
            println!(
                "Offers for {} ({customer}) on {}, portfolio {} (customer manager {}); \
                 catalogue v{}, rules v{}",
                sanitize(&v.name),
                v.day,
                sanitize(&v.explanation.portfolio),
                sanitize(&v.explanation.manager),
                v.explanation.catalogue_version,
                v.explanation.rules_version
            );
            v.explanation.decisions.iter().for_each(decision_line);
            println!(
                "Next best action: {}",
                sanitize(&next_best_action_text(&v.next))
            );
        }
        OfferCommand::Answer {
            customer,
            offer,
            answer,
            channel,
            touchpoint,
        } => {
            let a = call(g, async |c| {
                c.answer_offer(customer, &offer, answer, channel, touchpoint)
                    .await
            })?;
            println!(
                "Recorded: {customer} {} `{}` ({}, by rule {}), interaction {}",
                a.answer.answer,
                sanitize(&a.answer.offer),
                a.answer.outcome.as_str(),
                sanitize(&a.answer.rule),
                a.interaction.id
            );
        }
        OfferCommand::Report { since, json } => {
            let since = since.as_deref().map(day_start).transpose()?;
            let rows = call(g, async |c| c.offer_report(since).await)?;
            if json {
                return print_json(&rows);
            }
            if rows.is_empty() {
                println!("No answers to offers recorded yet.");
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<18} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7}  accepted value, by portfolio (presented/accepted)",
                "offer", "presented", "accepted", "declined", "not now", "adapted", "rate"
            );
            for r in &rows {
                let value: Vec<String> = r.accepted_value.iter().map(|m| m.to_string()).collect();
                let by: Vec<String> = r
                    .by_portfolio
                    .iter()
                    .map(|(p, (n, a))| format!("{} {n}/{a}", sanitize(p)))
                    .collect();
                println!(
                    "{:<18} {:>9} {:>8} {:>8} {:>7} {:>7} {:>6.1}%  {}; {}",
                    sanitize(&r.offer),
                    r.presented,
                    r.accepted,
                    r.declined,
                    r.not_now,
                    r.adapted,
                    100.0 * r.acceptance_rate,
                    if value.is_empty() {
                        "-".into()
                    } else {
                        value.join(" + ")
                    },
                    by.join(", ")
                );
            }
        }
        OfferCommand::Load(a) => {
            let pick = |given: &Option<PathBuf>, name: &str| -> anyhow::Result<Option<String>> {
                let p = match (given, &a.dir) {
                    (Some(p), _) => p.clone(),
                    (None, Some(d)) => d.join(name),
                    (None, None) => return Ok(None),
                };
                if !p.exists() {
                    bail!("{}: no such file", sanitize(&p.display().to_string()));
                }
                absolute(&p).map(Some)
            };
            let (p, o, r) = (
                pick(&a.portfolios, "portfolios.toml")?,
                pick(&a.offers, "offers.toml")?,
                pick(&a.rules, "rules.toml")?,
            );
            if p.is_none() && o.is_none() && r.is_none() {
                bail!("name the files: --dir DIR, or --portfolios, --offers, --rules FILE");
            }
            let l = call(g, async |c| c.load_relationship(p, o, r).await)?;
            if a.json {
                return print_json(&l);
            }
            println!(
                "Loaded {}: {} portfolios ({} assignment rules; customer managers see {}), \
                 {} offers (catalogue v{}, {} defaults), {} customer managers' rules (v{})",
                l.files
                    .iter()
                    .map(|f| sanitize(f).into_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
                l.portfolios,
                l.assignment_rules,
                l.managers_see.as_str(),
                l.offers,
                l.catalogue_version,
                l.defaults,
                l.rules,
                l.rules_version
            );
            println!("Place the customers by the rules with `rapport portfolio assign`.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A bar of `width` cells for `value` out of `max`.
fn bar(value: f64, max: f64, width: usize) -> String {
    if max <= 0.0 || value <= 0.0 {
        return String::new();
    }
    let n = ((value / max) * width as f64).round() as usize;
    "#".repeat(n.clamp(1, width))
}

pub fn equity(g: &Global, a: EquityArgs) -> anyhow::Result<ExitCode> {
    let v: EquityView = call(g, async |c| c.equity(a.market).await)?;
    if a.json {
        return print_json(&v);
    }
    let l = &v.latest;
    println!(
        "Customer equity (sum of lifetime values) as of the scoring run of {} ({}): {:.2}{} over \
         {} customers",
        l.scored_at,
        sanitize(&l.model_version),
        l.total,
        v.currency.map_or(String::new(), |c| format!(" {c}")),
        l.customers
    );
    if let Some(p) = &v.previous {
        println!(
            "change since the run of {}: {:+.2} ({:.2} then)",
            p.scored_at,
            l.total - p.total,
            p.total
        );
    } else {
        println!("(no earlier scoring run kept: the change shows after the next run)");
    }
    if let (Some(m), Some(s)) = (v.market, v.share) {
        println!("equity share: {:.2}% of a market of {m:.2}", 100.0 * s);
    }
    let by_p = l.by_portfolio();
    let prev_p = v.previous.as_ref().map(|p| p.by_portfolio());
    let max = by_p.values().cloned().fold(0.0, f64::max);
    println!("\nby portfolio:");
    for (p, e) in &by_p {
        let manager = v
            .portfolios
            .iter()
            .find(|r| r.id == *p)
            .map(|r| r.manager.as_str())
            .unwrap_or("");
        let change = prev_p
            .as_ref()
            .map(|pp| format!("{:+14.2}", e - pp.get(p).copied().unwrap_or(0.0)))
            .unwrap_or_default();
        println!(
            "  {:<14} {:<10} {:>16.2} {change}  {}",
            sanitize(p),
            sanitize(manager),
            e,
            bar(*e, max, 30)
        );
    }
    let by_t = l.by_tier();
    let prev_t = v.previous.as_ref().map(|p| p.by_tier());
    let max = by_t.values().cloned().fold(0.0, f64::max);
    println!("\nby tier:");
    for (t, e) in &by_t {
        let change = prev_t
            .as_ref()
            .map(|pp| format!("{:+14.2}", e - pp.get(t).copied().unwrap_or(0.0)))
            .unwrap_or_default();
        println!(
            "  {:<4} {:>16.2} {change}  {}",
            t.to_string(),
            e,
            bar(*e, max, 30)
        );
    }
    if !v.changes.is_empty() {
        println!("\nlargest changes by portfolio and tier since the run before:");
        let mut ch = v.changes.clone();
        ch.sort_by(|a, b| b.change.abs().total_cmp(&a.change.abs()));
        for c in ch.iter().take(10) {
            println!(
                "  {:<14} {:<4} {:+14.2} ({} -> {} customers)",
                sanitize(&c.portfolio),
                c.tier.to_string(),
                c.change,
                c.customers.0,
                c.customers.1
            );
        }
    }
    println!("\nsegment lifetime value (average CLV x customers):");
    for s in &v.segments {
        println!(
            "  {:<12} {:>8} customers x {:>10.2} = {:>16.2} ({:.1}%)",
            sanitize(&s.segment),
            s.customers,
            s.average_clv,
            s.lifetime_value,
            100.0 * s.share
        );
    }
    Ok(ExitCode::SUCCESS)
}
