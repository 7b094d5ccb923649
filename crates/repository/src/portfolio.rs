//! Portfolios in the store: the relationship-governance files, the membership of every
//! customer in exactly one portfolio, every move with who, when and why, assignment by the
//! rules over the whole store, the customers not assigned yet, the facts the rules read, and
//! the portfolio metrics and customer-equity snapshots.
//!
//! | collection | key | document |
//! |---|---|---|
//! | `relationship_config` | `portfolios`, `offers`, `rules` | [`StoredText`]: a governance file as loaded |
//! | `relationship_config` | `portfolio_refs` | every portfolio's id, name and manager, for the record |
//! | `relationship_config` | `manager_scope` | what customer managers see (`all` or `portfolio`) |
//! | `portfolio_members` | customer id (20 digits) | [`Membership`]: the one portfolio the customer is in |
//! | `portfolio_index` | portfolio id `/` customer id (20 digits) | the customer id: members by portfolio |
//! | `portfolio_moves` | customer id (20 digits) `/` move number (10 digits) | [`Move`] |
//! | `equity_snapshots` | time of the scoring run (20 digits) | [`EquitySnapshot`] |
//!
//! **Exactly one portfolio.** A customer's membership is one document, so a customer is never
//! in two portfolios. Every change of it is a compare-and-swap (`Batch::expect_doc`): the
//! batch that writes the new membership, moves the customer in the index and records the
//! move applies only if the membership is still the one the writer read, so racing moves
//! serialise: each move's `from` is the portfolio the customer really left, the index holds
//! one entry per customer, and the move numbers have no gaps (`racing_moves_keep_one_portfolio`).

use std::collections::BTreeMap;

use rapport_core::{
    Customer, CustomerId, ExchangeRates, Interaction, InteractionKind, PortfolioRef,
    RelationshipKind, Timestamp,
};
use rapport_governance::equity::{EquitySnapshot, EquityTally, ScoreRow};
use rapport_governance::facts::{HistoryFacts, LONG_DELAY_MINUTES, ScoreFacts};
use rapport_governance::portfolio::{ManagerScope, MemberRow, portfolio_metrics};
use rapport_governance::{
    Assignment, CustomerFacts, PortfolioMetrics, RelationshipConfig, SourceText,
};
use rapport_store::{Batch, Durability, Store};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The governance files as loaded.
pub const CONFIG: &str = "relationship_config";
/// Each customer's membership.
pub const MEMBERS: &str = "portfolio_members";
/// Members by portfolio.
pub const INDEX: &str = "portfolio_index";
/// Every move.
pub const MOVES: &str = "portfolio_moves";
/// Customer equity after each scoring run.
pub const EQUITY: &str = "equity_snapshots";
/// The key of the portfolios' names and managers in [`CONFIG`].
const REFS: &str = "portfolio_refs";
/// The key of what customer managers see ([`ManagerScope`]) in [`CONFIG`].
const SCOPE: &str = "manager_scope";

const DAY: i64 = 86_400_000;
/// How far back the history facts look.
const HISTORY_DAYS: i64 = 365;
/// At most this many recent interactions are read per customer for its facts.
const HISTORY_LIMIT: usize = 2_000;
/// Customers per batch of a rule assignment.
const ASSIGN_BATCH: usize = 256;
/// Attempts of a move that lost a race before it gives up.
const MOVE_ATTEMPTS: usize = 64;

/// A governance file as stored, with who loaded it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredText {
    /// The file and its text.
    pub source: SourceText,
    /// Who loaded it.
    pub loaded_by: String,
    /// When.
    pub loaded_at: Timestamp,
}

/// The portfolio a customer is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The customer.
    pub customer: CustomerId,
    /// The portfolio id.
    pub portfolio: String,
    /// Since when.
    pub since: Timestamp,
    /// Who put the customer there (an operator, or the one who ran the assignment).
    pub by: String,
    /// Why.
    pub why: String,
    /// The assignment rule that decided, or `None` for a move by hand (which an assignment
    /// by rules keeps unless told otherwise).
    pub rule: Option<String>,
    /// The number of moves so far (the latest move's number).
    pub moves: u64,
}

/// One move of a customer between portfolios.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The customer.
    pub customer: CustomerId,
    /// Its number among the customer's moves (1 for the first assignment).
    pub number: u64,
    /// The portfolio left, `None` for the first assignment.
    pub from: Option<String>,
    /// The portfolio joined.
    pub to: String,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub by: String,
    /// Why.
    pub why: String,
    /// The assignment rule, for a move by the rules.
    pub rule: Option<String>,
}

/// What a move should expect to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Whatever the customer's portfolio is now (racing moves all apply, in some order).
    Any,
    /// The customer must be in this portfolio (`None`: in none), as the operator saw it; if
    /// someone moved the customer meanwhile, the move fails with
    /// [`Error::PortfolioChanged`].
    In(Option<String>),
}

/// What an assignment by rules did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignReport {
    /// Customers considered.
    pub customers: u64,
    /// Assigned for the first time.
    pub assigned: u64,
    /// Moved to another portfolio by the rules.
    pub moved: u64,
    /// Already where the rules put them.
    pub unchanged: u64,
    /// Moved by hand earlier and kept there.
    pub kept_by_hand: u64,
    /// Customers per portfolio after the run.
    pub by_portfolio: BTreeMap<String, u64>,
}

// ---- the governance files ----

/// Checks the three files together and stores them (durably); returns what they define.
pub fn save_config(
    store: &Store,
    portfolios: SourceText,
    offers: SourceText,
    rules: SourceText,
    by: &str,
    now: Timestamp,
) -> Result<RelationshipConfig, Error> {
    let config = RelationshipConfig::parse(&portfolios, &offers, &rules)?;
    let mut batch = Batch::new();
    for (key, source) in [
        ("portfolios", portfolios),
        ("offers", offers),
        ("rules", rules),
    ] {
        let stored = StoredText {
            source,
            loaded_by: by.to_string(),
            loaded_at: now,
        };
        batch.put_doc(CONFIG, key, &stored)?;
    }
    let refs: Vec<PortfolioRef> = config
        .portfolios
        .portfolios
        .iter()
        .map(|p| PortfolioRef {
            id: p.id.clone(),
            name: p.name.clone(),
            manager: p.manager.clone(),
        })
        .collect();
    batch.put_doc(CONFIG, REFS, &refs)?;
    batch.put_doc(CONFIG, SCOPE, &config.portfolios.managers_see)?;
    store.write(batch, Durability::Durable)?;
    Ok(config)
}

/// Reads the three files from a directory (`portfolios.toml`, `offers.toml`, `rules.toml`)
/// and stores them with [`save_config`].
pub fn load_config_dir(
    store: &Store,
    dir: &std::path::Path,
    by: &str,
    now: Timestamp,
) -> Result<RelationshipConfig, Error> {
    let read = |name: &str| -> Result<SourceText, Error> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Ok(SourceText {
            file: path.display().to_string(),
            text,
        })
    };
    save_config(
        store,
        read("portfolios.toml")?,
        read("offers.toml")?,
        read("rules.toml")?,
        by,
        now,
    )
}

/// The stored governance files, checked; `None` when none were loaded.
pub fn config(store: &Store) -> Result<Option<RelationshipConfig>, Error> {
    let texts = config_texts(store)?;
    let [Some(p), Some(o), Some(r)] = texts else {
        return Ok(None);
    };
    Ok(Some(RelationshipConfig::parse(
        &p.source, &o.source, &r.source,
    )?))
}

/// The customer's portfolio with its name and manager, as a record shows it: two point
/// reads, no rule file parsed.
pub fn portfolio_ref(store: &Store, customer: CustomerId) -> Result<Option<PortfolioRef>, Error> {
    let Some(m) = membership(store, customer)? else {
        return Ok(None);
    };
    let refs: Vec<PortfolioRef> = store.doc(CONFIG, REFS)?.unwrap_or_default();
    Ok(Some(match refs.into_iter().find(|r| r.id == m.portfolio) {
        Some(r) => r,
        None => PortfolioRef {
            name: format!("{} (no longer defined)", m.portfolio),
            id: m.portfolio,
            manager: String::new(),
        },
    }))
}

/// Whether `operator` is the customer manager of the customer's portfolio: a customer
/// manager's scope is the customers of the portfolios they manage.
pub fn manages(store: &Store, operator: &str, customer: CustomerId) -> Result<bool, Error> {
    Ok(portfolio_ref(store, customer)?.is_some_and(|r| r.manager == operator))
}

/// Whether a portfolio file is stored (portfolios are defined).
pub fn has_portfolios(store: &Store) -> Result<bool, Error> {
    Ok(store.doc_exists(CONFIG, REFS)?)
}

/// What customer managers see, as the stored portfolio file says (every customer when no
/// file is stored): one point read.
pub fn manager_scope(store: &Store) -> Result<ManagerScope, Error> {
    Ok(store.doc(CONFIG, SCOPE)?.unwrap_or_default())
}

/// The portfolios `operator` manages, in file order.
pub fn managed_by(store: &Store, operator: &str) -> Result<Vec<PortfolioRef>, Error> {
    let refs: Vec<PortfolioRef> = store.doc(CONFIG, REFS)?.unwrap_or_default();
    Ok(refs.into_iter().filter(|r| r.manager == operator).collect())
}

/// The stored governance files as loaded (portfolios, offers, rules).
pub fn config_texts(store: &Store) -> Result<[Option<StoredText>; 3], Error> {
    Ok([
        store.doc(CONFIG, "portfolios")?,
        store.doc(CONFIG, "offers")?,
        store.doc(CONFIG, "rules")?,
    ])
}

// ---- membership ----

fn member_key(c: CustomerId) -> String {
    format!("{:020}", c.0)
}

fn index_key(portfolio: &str, c: CustomerId) -> String {
    format!("{portfolio}/{:020}", c.0)
}

fn move_key(c: CustomerId, number: u64) -> String {
    format!("{:020}/{number:010}", c.0)
}

/// The customer's portfolio, if assigned.
pub fn membership(store: &Store, customer: CustomerId) -> Result<Option<Membership>, Error> {
    Ok(store.doc(MEMBERS, &member_key(customer))?)
}

/// The members of a portfolio, in id order.
pub fn members(store: &Store, portfolio: &str) -> Result<Vec<CustomerId>, Error> {
    store
        .docs::<CustomerId>(INDEX, &format!("{portfolio}/"))
        .map(|r| Ok(r?.1))
        .collect()
}

/// Every move of the customer, oldest first.
pub fn moves(store: &Store, customer: CustomerId) -> Result<Vec<Move>, Error> {
    store
        .docs::<Move>(MOVES, &format!("{:020}/", customer.0))
        .map(|r| Ok(r?.1))
        .collect()
}

/// Customers not in any portfolio, in id order, at most `limit`.
pub fn unassigned(store: &Store, limit: usize) -> Result<Vec<CustomerId>, Error> {
    let mut out = Vec::new();
    for id in store.customer_ids(CustomerId(0), None) {
        let id = id?;
        if !store.doc_exists(MEMBERS, &member_key(id))? {
            out.push(id);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

/// Adds to `batch` the writes that move a customer from `old` (as read) to `to`, guarded by
/// the compare-and-swap on the membership; returns the move.
/// Who moves a customer, why, by which rule and when.
struct Stamp<'a> {
    by: &'a str,
    why: &'a str,
    rule: Option<&'a str>,
    now: Timestamp,
}

fn plan_move(
    batch: &mut Batch,
    customer: CustomerId,
    old: Option<&Membership>,
    to: &str,
    stamp: &Stamp<'_>,
) -> Result<Move, Error> {
    let Stamp { by, why, rule, now } = *stamp;
    let key = member_key(customer);
    batch.expect_doc(MEMBERS, &key, old);
    let number = old.map_or(0, |m| m.moves) + 1;
    let m = Membership {
        customer,
        portfolio: to.to_string(),
        since: now,
        by: by.to_string(),
        why: why.to_string(),
        rule: rule.map(str::to_string),
        moves: number,
    };
    if let Some(old) = old {
        batch.remove_doc(INDEX, &index_key(&old.portfolio, customer));
    }
    batch.put_doc(INDEX, &index_key(to, customer), &customer)?;
    batch.put_doc(MEMBERS, &key, &m)?;
    let mv = Move {
        customer,
        number,
        from: old.map(|o| o.portfolio.clone()),
        to: to.to_string(),
        at: now,
        by: by.to_string(),
        why: why.to_string(),
        rule: m.rule.clone(),
    };
    batch.put_doc(MOVES, &move_key(customer, number), &mv)?;
    Ok(mv)
}

/// Moves a customer into portfolio `to` by hand (durably), recording who, when and why.
/// The customer must exist and `to` must be a portfolio of the stored files (when files are
/// stored). With [`Expect::Any`], a move that loses a race with another reads again and
/// applies after it; with [`Expect::In`], it fails if the customer is no longer where the
/// operator saw it. Moving a customer to the portfolio it is in records nothing and returns
/// `None`.
pub fn move_customer(
    store: &Store,
    customer: CustomerId,
    to: &str,
    expect: &Expect,
    by: &str,
    why: &str,
    now: Timestamp,
) -> Result<Option<Move>, Error> {
    if why.trim().is_empty() {
        return Err(Error::Invalid("a move needs a reason (why)".into()));
    }
    if store.customer(customer)?.is_none() {
        let hint = match store.merged_into(customer)? {
            Some(into) => format!(" (merged into {into})"),
            None => String::new(),
        };
        return Err(Error::Invalid(format!("no customer {customer}{hint}")));
    }
    if let Some(cfg) = config(store)?
        && cfg.portfolios.portfolio(to).is_none()
    {
        let known: Vec<&str> = cfg
            .portfolios
            .portfolios
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        return Err(Error::Invalid(format!(
            "no portfolio `{to}` (defined: {})",
            known.join(", ")
        )));
    }
    for _ in 0..MOVE_ATTEMPTS {
        let old = membership(store, customer)?;
        if let Expect::In(seen) = expect
            && old.as_ref().map(|m| &m.portfolio) != seen.as_ref()
        {
            return Err(changed(customer, old));
        }
        if old.as_ref().is_some_and(|m| m.portfolio == to) {
            return Ok(None);
        }
        let mut batch = Batch::new();
        let stamp = Stamp {
            by,
            why,
            rule: None,
            now,
        };
        let mv = plan_move(&mut batch, customer, old.as_ref(), to, &stamp)?;
        match store.write(batch, Durability::Durable) {
            Ok(()) => return Ok(Some(mv)),
            Err(rapport_store::Error::Changed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Invalid(format!(
        "customer {customer} is being moved by others: try again"
    )))
}

fn changed(customer: CustomerId, now_in: Option<Membership>) -> Error {
    Error::PortfolioChanged {
        customer,
        portfolio: now_in.as_ref().map(|m| m.portfolio.clone()),
        by: now_in.as_ref().map(|m| m.by.clone()).unwrap_or_default(),
        at: now_in.map(|m| m.since),
    }
}

// ---- facts ----

fn day_of(t: Timestamp) -> i64 {
    t.0.div_euclid(DAY)
}

fn days_between(at: Timestamp, now: Timestamp) -> u32 {
    (day_of(now) - day_of(at)).clamp(0, i64::from(u32::MAX)) as u32
}

/// The history facts of a customer from its recent interactions (newest first, resolutions
/// of complaints included) and the compensation granted in the last year (already in the
/// reporting currency).
pub fn history_facts(
    recent: &[Interaction],
    compensation_12m: f64,
    now: Timestamp,
) -> HistoryFacts {
    let mut h = HistoryFacts {
        compensation_12m,
        ..HistoryFacts::default()
    };
    for i in recent {
        if i.at > now {
            continue;
        }
        let days = days_between(i.at, now);
        if i64::from(days) > HISTORY_DAYS {
            break;
        }
        let newest = |slot: &mut Option<u32>| {
            if slot.is_none_or(|d| days < d) {
                *slot = Some(days);
            }
        };
        newest(&mut h.days_since_contact);
        if i.kind.is_disruption() {
            newest(&mut h.days_since_disruption);
            if days < 30 {
                h.disruptions_30d += 1;
            }
            let long = i.kind == InteractionKind::Delay
                && i.attr_int("delay_minutes")
                    .is_some_and(|m| m >= i64::from(LONG_DELAY_MINUTES));
            if long {
                newest(&mut h.days_since_long_delay);
            }
        }
    }
    // Complaints are cases (`rapport_core::case`): open until a resolution names them or
    // their source reports them closed, as the record's cues show them.
    for c in rapport_core::case::cases(recent) {
        if c.opened > now {
            continue;
        }
        let days = days_between(c.opened, now);
        if i64::from(days) > HISTORY_DAYS {
            continue;
        }
        let newest = |slot: &mut Option<u32>| {
            if slot.is_none_or(|d| days < d) {
                *slot = Some(days);
            }
        };
        newest(&mut h.days_since_complaint);
        h.complaints_12m += 1;
        if c.is_open() {
            newest(&mut h.days_since_unresolved_complaint);
            if days <= 90 {
                h.unresolved_complaints += 1;
            }
        }
    }
    h
}

/// Converts an amount into the reporting currency (major units) at its day's rate.
fn to_reporting(rates: &ExchangeRates, m: rapport_core::Money, at: Timestamp) -> Option<f64> {
    rates
        .units_per_reporting(m.currency, day_of(at))
        .map(|u| m.as_major_f64() / u)
}

/// The stored exchange rates, or rates that know only euros when none were loaded.
pub fn reporting_rates(store: &Store) -> Result<ExchangeRates, Error> {
    Ok(crate::rates::stored(store)?
        .unwrap_or_else(|| ExchangeRates::reporting_only(rapport_core::Currency::EUR)))
}

/// Everything the rules may read about a customer at `now`.
pub fn facts(
    store: &Store,
    customer: &Customer,
    rates: &ExchangeRates,
    now: Timestamp,
) -> Result<CustomerFacts, Error> {
    let mut f = CustomerFacts::new(customer.id, customer.kind);
    let p = &customer.profile;
    f.country = p.country.as_ref().map(|s| s.value.clone());
    f.city = p.city.as_ref().map(|s| s.value.clone());
    f.loyalty_status = p.loyalty_status.as_ref().map(|s| s.value.clone());
    f.attributes = p
        .extra
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    for r in &customer.relationships {
        match r.kind {
            RelationshipKind::EmployeeOf if f.employer.is_none() => f.employer = Some(r.other),
            RelationshipKind::Household => f.household.push(r.other),
            _ => {}
        }
    }
    f.scores = store.scores(customer.id)?.map(|s| ScoreFacts {
        tier: s.tier,
        segment: s.segment,
        value: s.value,
        annual_value: s.annual_value,
        profit: s.profit,
        clv: s.clv,
        p_alive: s.p_alive,
        churn: s.churn,
        expected_transactions: s.expected_transactions,
        top: s.top,
        bottom: s.bottom,
        propensity: s.propensity,
    });
    let recent = store.interactions_newest(customer.id, HISTORY_LIMIT, None)?;
    let since = now.plus_millis(-HISTORY_DAYS * DAY);
    let compensation: f64 = store
        .grants_of(customer.id)?
        .iter()
        .filter(|g| g.at >= since && g.at <= now)
        .filter_map(|g| to_reporting(rates, g.amount, g.at))
        .sum();
    f.history = history_facts(&recent, compensation, now);
    Ok(f)
}

// ---- assignment by rules ----

/// Assigns every customer of the store by the stored rules (groups kept together), in
/// batches, each customer's change guarded like a move. Customers moved by hand stay where
/// they are unless `override_hand` is set. Every change is recorded as a move by `by`.
pub fn assign_all(
    store: &Store,
    config: &RelationshipConfig,
    by: &str,
    override_hand: bool,
    now: Timestamp,
) -> Result<AssignReport, Error> {
    let rates = reporting_rates(store)?;
    let mut all = Vec::new();
    for c in store.customers() {
        let c = c?;
        all.push(facts(store, &c, &rates, now)?);
    }
    let assignments = config.portfolios.assign_all(&all);
    drop(all);
    let mut report = AssignReport {
        customers: assignments.len() as u64,
        ..AssignReport::default()
    };
    for chunk in assignments.chunks(ASSIGN_BATCH) {
        assign_chunk(store, chunk, by, override_hand, now, &mut report)?;
    }
    store.flush()?;
    for p in &config.portfolios.portfolios {
        report.by_portfolio.insert(p.id.clone(), 0);
    }
    for kv in store.docs::<Membership>(MEMBERS, "") {
        *report.by_portfolio.entry(kv?.1.portfolio).or_default() += 1;
    }
    Ok(report)
}

fn assign_chunk(
    store: &Store,
    chunk: &[Assignment],
    by: &str,
    override_hand: bool,
    now: Timestamp,
    report: &mut AssignReport,
) -> Result<(), Error> {
    // One batch for the chunk; when a concurrent move changed one of its customers, the
    // chunk is read and planned again.
    for _ in 0..MOVE_ATTEMPTS {
        let mut batch = Batch::new();
        let mut counts = AssignReport::default();
        for a in chunk {
            let old = membership(store, a.customer)?;
            match &old {
                Some(m) if m.portfolio == a.portfolio => {
                    counts.unchanged += 1;
                    continue;
                }
                Some(m) if m.rule.is_none() && !override_hand => {
                    counts.kept_by_hand += 1;
                    continue;
                }
                Some(_) => counts.moved += 1,
                None => counts.assigned += 1,
            }
            let why = format!("assigned by rule: {}", a.reason);
            let stamp = Stamp {
                by,
                why: &why,
                rule: Some(&a.rule),
                now,
            };
            plan_move(&mut batch, a.customer, old.as_ref(), &a.portfolio, &stamp)?;
        }
        match store.write(batch, Durability::Batched) {
            Ok(()) => {
                report.assigned += counts.assigned;
                report.moved += counts.moved;
                report.unchanged += counts.unchanged;
                report.kept_by_hand += counts.kept_by_hand;
                return Ok(());
            }
            Err(rapport_store::Error::Changed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Invalid(
        "the assignment kept losing races with moves by hand: run it again".into(),
    ))
}

// ---- metrics and equity ----

/// The metrics of one portfolio, from its members' scores and grants.
pub fn metrics(
    store: &Store,
    config: &RelationshipConfig,
    portfolio: &str,
) -> Result<PortfolioMetrics, Error> {
    let p = config
        .portfolios
        .portfolio(portfolio)
        .ok_or_else(|| Error::Invalid(format!("no portfolio `{portfolio}`")))?;
    let rates = reporting_rates(store)?;
    let mut rows = Vec::new();
    for id in members(store, portfolio)? {
        let scores = store.scores(id)?;
        let grants = store.grants_of(id)?;
        rows.push(MemberRow {
            customer: id,
            tier: scores.as_ref().map(|s| s.tier),
            value: scores.as_ref().map_or(0.0, |s| s.value),
            clv: scores.as_ref().map_or(0.0, |s| s.clv),
            p_alive: scores.as_ref().map_or(0.0, |s| s.p_alive),
            churn: scores.as_ref().and_then(|s| s.churn),
            compensation: grants
                .iter()
                .filter_map(|g| to_reporting(&rates, g.amount, g.at))
                .sum(),
            grants: grants.len() as u64,
        });
    }
    Ok(portfolio_metrics(p, &rows))
}

/// Each placed customer's portfolio, from the memberships.
fn portfolio_of(store: &Store) -> Result<BTreeMap<CustomerId, String>, Error> {
    let mut out = BTreeMap::new();
    for kv in store.docs::<Membership>(MEMBERS, "") {
        let m = kv?.1;
        out.insert(m.customer, m.portfolio);
    }
    Ok(out)
}

/// Every scored customer as the equity view reads it (portfolio from the membership).
pub fn score_rows(store: &Store) -> Result<Vec<ScoreRow>, Error> {
    let mut portfolio_of = portfolio_of(store)?;
    let mut rows = Vec::new();
    for kv in store.scores_in(CustomerId(0), None) {
        let (id, s) = kv?;
        rows.push(ScoreRow {
            customer: id,
            portfolio: portfolio_of.remove(&id),
            tier: s.tier,
            segment: s.segment,
            clv: s.clv,
        });
    }
    Ok(rows)
}

/// Takes the equity snapshot of the latest scoring run and keeps it (replacing one of the
/// same run); returns it with the snapshot of the run before, if any. Reads each score's tier
/// and lifetime value only, summed as read (a million customers after every run).
pub fn record_equity(
    store: &Store,
) -> Result<Option<(EquitySnapshot, Option<EquitySnapshot>)>, Error> {
    let portfolio_of = portfolio_of(store)?;
    let mut tally = EquityTally::default();
    let mut first = None;
    for kv in store.equity_in(CustomerId(0), None) {
        let (id, (tier, clv)) = kv?;
        first.get_or_insert(id);
        tally.add(portfolio_of.get(&id).map(String::as_str), tier, clv);
    }
    let Some(first) = first else {
        return Ok(None);
    };
    let latest = store.scores(first)?;
    let (at, version) = latest
        .map(|s| (s.at, s.model_version))
        .unwrap_or((Timestamp::EPOCH, String::new()));
    let snap = tally.snapshot(at, &version);
    let key = format!("{:020}", at.0.max(0));
    let previous = equity_snapshots(store)?
        .into_iter()
        .rev()
        .find(|s| s.scored_at < at);
    let mut batch = Batch::new();
    batch.put_doc(EQUITY, &key, &snap)?;
    store.write(batch, Durability::Durable)?;
    Ok(Some((snap, previous)))
}

/// Every kept equity snapshot, oldest first.
pub fn equity_snapshots(store: &Store) -> Result<Vec<EquitySnapshot>, Error> {
    store
        .docs::<EquitySnapshot>(EQUITY, "")
        .map(|r| Ok(r?.1))
        .collect()
}
