//! Portfolios: every customer in exactly one, each with one accountable customer manager,
//! assigned by declarative rules tried in order (the first that holds decides, else the
//! default portfolio), with the reason for each assignment.
//!
//! The file (TOML, see `docs/guide.md`):
//!
//! ```toml
//! version = 1
//! default = "standard"
//!
//! [[portfolio]]
//! id = "corporate"
//! name = "Corporate accounts"
//! manager = "akeller"        # an operator name
//! target_size = 400          # the size the company chooses
//!
//! [[portfolio]]
//! id = "standard"
//! name = "Standard travellers"
//! manager = "bnovak"
//!
//! [[assign]]
//! name = "corporate accounts with their employees"
//! portfolio = "corporate"
//! when = "kind = organisation"
//! together = "employees"     # or "household"
//! ```

use std::collections::{BTreeMap, HashMap};

use rapport_core::{CustomerId, Tier};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::condition::Condition;
use crate::config::{ConfigErrors, Problems, check_id};
use crate::facts::CustomerFacts;

/// A portfolio of customers with its accountable customer manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Portfolio {
    /// Stable id (`premium`).
    pub id: String,
    /// Name to show.
    pub name: String,
    /// The customer manager: an operator name.
    pub manager: String,
    /// The number of customers the company intends the portfolio to hold.
    pub target_size: Option<u64>,
}

/// Which related customers follow a rule's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Together {
    /// A corporate account's employees follow the account.
    Employees,
    /// The whole household follows any member the rule holds for.
    Household,
}

/// One assignment rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignRule {
    /// The rule's name, given in explanations.
    pub name: String,
    /// The portfolio it assigns to.
    pub portfolio: String,
    /// When it holds.
    pub when: Condition,
    /// Who follows the customers it holds for.
    pub together: Option<Together>,
    /// Its line in the file.
    pub line: usize,
}

/// The portfolios and their assignment rules, as loaded from one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortfolioBook {
    /// Increases with every change of the file.
    pub version: u32,
    /// The file it was loaded from.
    pub file: String,
    /// The portfolios, in file order.
    pub portfolios: Vec<Portfolio>,
    /// The rules, tried in file order.
    pub rules: Vec<AssignRule>,
    /// Where a customer no rule holds for goes.
    pub default: String,
    /// What a customer manager sees: every customer (the default), or only the customers of
    /// the portfolios they manage. A customer manager acts only on those either way.
    #[serde(default)]
    pub managers_see: ManagerScope,
}

/// Which portfolio a customer belongs in, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The customer.
    pub customer: CustomerId,
    /// The portfolio id.
    pub portfolio: String,
    /// The deciding rule's name, or `default`.
    pub rule: String,
    /// Why, in words.
    pub reason: String,
}

/// What a customer manager may see (`customer_managers_see` in the portfolio file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManagerScope {
    /// Every customer (searching, opening records, working lists); acting stays limited to
    /// the customers of their portfolios.
    #[default]
    All,
    /// Only the customers of the portfolios they manage.
    Portfolio,
}

impl ManagerScope {
    /// The word used in the portfolio file.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagerScope::All => "all",
            ManagerScope::Portfolio => "portfolio",
        }
    }
}

/// The name [`Assignment::rule`] has when no rule held.
pub const DEFAULT_RULE: &str = "default";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBook {
    version: Spanned<u32>,
    default: Spanned<String>,
    #[serde(default)]
    customer_managers_see: Option<Spanned<String>>,
    #[serde(default)]
    portfolio: Vec<Spanned<RawPortfolio>>,
    #[serde(default)]
    assign: Vec<Spanned<RawAssign>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPortfolio {
    id: Spanned<String>,
    name: String,
    manager: Spanned<String>,
    target_size: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssign {
    name: String,
    portfolio: Spanned<String>,
    #[serde(default)]
    when: Option<Spanned<String>>,
    #[serde(default)]
    together: Option<Spanned<String>>,
}

impl PortfolioBook {
    /// Parses and checks a portfolio file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<PortfolioBook, ConfigErrors> {
        let mut p = Problems::new(file, text);
        let raw: RawBook = p.toml()?;
        let mut portfolios: Vec<Portfolio> = Vec::new();
        for rp in &raw.portfolio {
            let line = p.line_of(&rp.span());
            let rp = rp.get_ref();
            if let Err(e) = check_id(rp.id.get_ref()) {
                p.at(&rp.id.span(), format!("portfolio id: {e}"));
            }
            if portfolios.iter().any(|q| q.id == *rp.id.get_ref()) {
                p.at(
                    &rp.id.span(),
                    format!("portfolio `{}` is defined twice", rp.id.get_ref()),
                );
            }
            if crate::validate_name(rp.manager.get_ref()).is_err() {
                p.at(
                    &rp.manager.span(),
                    format!(
                        "manager `{}` is not an operator name (lower-case letters, digits, `.`, `_`, `-`)",
                        rp.manager.get_ref().chars().take(40).collect::<String>()
                    ),
                );
            }
            if rp.name.trim().is_empty() {
                p.line(line, "portfolio name is empty");
            }
            if rp.target_size == Some(0) {
                p.line(line, "target_size must be at least 1");
            }
            portfolios.push(Portfolio {
                id: rp.id.get_ref().clone(),
                name: rp.name.trim().to_string(),
                manager: rp.manager.get_ref().clone(),
                target_size: rp.target_size,
            });
        }
        if portfolios.is_empty() {
            p.line(0, "no [[portfolio]] is defined");
        }
        let known = |id: &str| portfolios.iter().any(|q| q.id == id);
        if !known(raw.default.get_ref()) {
            p.at(
                &raw.default.span(),
                format!(
                    "default portfolio `{}` is not defined",
                    raw.default.get_ref()
                ),
            );
        }
        let mut rules = Vec::new();
        for ra in &raw.assign {
            let line = p.line_of(&ra.span());
            let ra = ra.get_ref();
            if !known(ra.portfolio.get_ref()) {
                p.at(
                    &ra.portfolio.span(),
                    format!(
                        "rule `{}`: portfolio `{}` is not defined",
                        ra.name,
                        ra.portfolio.get_ref()
                    ),
                );
            }
            let when = match &ra.when {
                None => Condition::True,
                Some(w) => match Condition::parse(w.get_ref()) {
                    Ok(c) => c,
                    Err(e) => {
                        p.at(&w.span(), format!("rule `{}`: when: {e}", ra.name));
                        Condition::False
                    }
                },
            };
            let together = match &ra.together {
                None => None,
                Some(t) => match t.get_ref().trim() {
                    "employees" => Some(Together::Employees),
                    "household" => Some(Together::Household),
                    other => {
                        p.at(
                            &t.span(),
                            format!(
                                "rule `{}`: together is `employees` or `household`, not `{other}`",
                                ra.name
                            ),
                        );
                        None
                    }
                },
            };
            rules.push(AssignRule {
                name: ra.name.clone(),
                portfolio: ra.portfolio.get_ref().clone(),
                when,
                together,
                line,
            });
        }
        let managers_see = match &raw.customer_managers_see {
            None => ManagerScope::All,
            Some(v) => match v.get_ref().trim() {
                "all" => ManagerScope::All,
                "portfolio" => ManagerScope::Portfolio,
                other => {
                    p.at(
                        &v.span(),
                        format!(
                            "customer_managers_see is `all` or `portfolio`, not `{}`",
                            other.chars().take(40).collect::<String>()
                        ),
                    );
                    ManagerScope::All
                }
            },
        };
        let book = PortfolioBook {
            managers_see,
            version: *raw.version.get_ref(),
            file: file.to_string(),
            portfolios,
            rules,
            default: raw.default.get_ref().clone(),
        };
        p.finish(book)
    }

    /// The portfolio with this id.
    pub fn portfolio(&self, id: &str) -> Option<&Portfolio> {
        self.portfolios.iter().find(|p| p.id == id)
    }

    /// The portfolios a manager is accountable for.
    pub fn managed_by<'a>(&'a self, manager: &'a str) -> impl Iterator<Item = &'a Portfolio> {
        self.portfolios.iter().filter(move |p| p.manager == manager)
    }

    /// The first rule that holds for the customer alone, by index.
    fn own_rule(&self, f: &CustomerFacts) -> Option<usize> {
        self.rules.iter().position(|r| r.when.eval(f))
    }

    /// Assigns one customer by its own facts (no group rules: see [`Self::assign_all`]).
    pub fn assign(&self, f: &CustomerFacts) -> Assignment {
        match self.own_rule(f) {
            Some(i) => self.by_rule(f.id, i, None),
            None => self.by_default(f.id),
        }
    }

    fn by_rule(
        &self,
        customer: CustomerId,
        i: usize,
        via: Option<(CustomerId, &str)>,
    ) -> Assignment {
        let r = &self.rules[i];
        let reason = match via {
            None => format!("rule `{}` (line {}): {}", r.name, r.line, r.when),
            Some((other, how)) => format!(
                "rule `{}` (line {}) holds for {how} {other}: {}",
                r.name, r.line, r.when
            ),
        };
        Assignment {
            customer,
            portfolio: r.portfolio.clone(),
            rule: r.name.clone(),
            reason,
        }
    }

    fn by_default(&self, customer: CustomerId) -> Assignment {
        Assignment {
            customer,
            portfolio: self.default.clone(),
            rule: DEFAULT_RULE.to_string(),
            reason: format!("no rule holds: default portfolio `{}`", self.default),
        }
    }

    /// Assigns every customer, with the group rules: a rule with `together = "employees"`
    /// that holds for a corporate account decides for its employees too, and one with
    /// `together = "household"` that holds for any member decides for the whole household,
    /// unless a customer's own first rule comes earlier in the file. One assignment per
    /// customer, in the order given.
    pub fn assign_all(&self, facts: &[CustomerFacts]) -> Vec<Assignment> {
        let own: Vec<Option<usize>> = facts.iter().map(|f| self.own_rule(f)).collect();
        let index: HashMap<CustomerId, usize> =
            facts.iter().enumerate().map(|(i, f)| (f.id, i)).collect();
        // Households: connected members, by union-find over the stated relations.
        let mut parent: Vec<usize> = (0..facts.len()).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for (i, f) in facts.iter().enumerate() {
            for other in &f.household {
                if let Some(&j) = index.get(other) {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    if a != b {
                        parent[a.max(b)] = a.min(b);
                    }
                }
            }
        }
        // The earliest household rule that holds for any member, and for whom.
        let mut household_rule: HashMap<usize, (usize, CustomerId)> = HashMap::new();
        for (i, f) in facts.iter().enumerate() {
            if f.household.is_empty() {
                continue;
            }
            if let Some(r) = self.first_group_rule(f, Together::Household) {
                let h = root(&mut parent, i);
                let e = household_rule.entry(h).or_insert((r, f.id));
                if r < e.0 || (r == e.0 && f.id < e.1) {
                    *e = (r, f.id);
                }
            }
        }
        facts
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut best: Option<(usize, Option<(CustomerId, &str)>)> =
                    own[i].map(|r| (r, None));
                let mut consider = |r: usize, via: (CustomerId, &'static str)| {
                    if best.is_none_or(|(b, _)| r < b) {
                        best = Some((r, Some(via)));
                    }
                };
                if let Some(emp) = f.employer
                    && let Some(&j) = index.get(&emp)
                    && let Some(r) = self.first_group_rule(&facts[j], Together::Employees)
                    && own[j] == Some(r)
                {
                    consider(r, (emp, "the employer"));
                }
                if !f.household.is_empty() {
                    let h = root(&mut parent, i);
                    if let Some(&(r, member)) = household_rule.get(&h)
                        && member != f.id
                    {
                        consider(r, (member, "household member"));
                    }
                }
                match best {
                    Some((r, via)) => self.by_rule(f.id, r, via),
                    None => self.by_default(f.id),
                }
            })
            .collect()
    }

    /// The first rule with `together = kind` that holds for the customer.
    fn first_group_rule(&self, f: &CustomerFacts, kind: Together) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.together == Some(kind) && r.when.eval(f))
    }
}

/// What a portfolio's manager and the executive read about it. Money figures are in the
/// reporting currency (major units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortfolioMetrics {
    /// The portfolio.
    pub portfolio: String,
    /// Customers in it now.
    pub customers: u64,
    /// Customers scored.
    pub scored: u64,
    /// The size the company chose, if any.
    pub target_size: Option<u64>,
    /// Sum of the current-period value.
    pub current_value: f64,
    /// Sum of the lifetime values: the projected multi-year value of the same customers.
    pub projected_value: f64,
    /// Customers per tier.
    pub tiers: BTreeMap<Tier, u64>,
    /// Valuable (tier A or B) customers at risk: P(alive) under 0.5 or churn 0.5 or more,
    /// while still alive (P(alive) 0.2 or more).
    pub at_risk: u64,
    /// Valuable (tier A or B) customers probably lost: P(alive) under 0.2.
    pub lost_valuable: u64,
    /// Compensation granted to its customers (reporting currency, major units).
    pub compensation: f64,
    /// Grants counted in `compensation`.
    pub grants: u64,
}

/// One customer's contribution to the portfolio metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRow {
    /// The customer.
    pub customer: CustomerId,
    /// Tier, when scored.
    pub tier: Option<Tier>,
    /// Current-period value.
    pub value: f64,
    /// Lifetime value.
    pub clv: f64,
    /// P(alive).
    pub p_alive: f64,
    /// Churn score, when modelled.
    pub churn: Option<f64>,
    /// Compensation granted, in the reporting currency.
    pub compensation: f64,
    /// Number of grants.
    pub grants: u64,
}

/// P(alive) under which a valuable customer counts as lost.
pub const LOST_P_ALIVE: f64 = 0.2;
/// P(alive) under which (or churn from which) a valuable customer counts as at risk.
pub const AT_RISK: f64 = 0.5;

/// Adds up a portfolio's members.
pub fn portfolio_metrics<'a>(
    portfolio: &Portfolio,
    members: impl IntoIterator<Item = &'a MemberRow>,
) -> PortfolioMetrics {
    let mut m = PortfolioMetrics {
        portfolio: portfolio.id.clone(),
        customers: 0,
        scored: 0,
        target_size: portfolio.target_size,
        current_value: 0.0,
        projected_value: 0.0,
        tiers: BTreeMap::new(),
        at_risk: 0,
        lost_valuable: 0,
        compensation: 0.0,
        grants: 0,
    };
    for r in members {
        m.customers += 1;
        m.compensation += r.compensation;
        m.grants += r.grants;
        let Some(tier) = r.tier else { continue };
        m.scored += 1;
        m.current_value += r.value;
        m.projected_value += r.clv;
        *m.tiers.entry(tier).or_default() += 1;
        if matches!(tier, Tier::A | Tier::B) {
            if r.p_alive < LOST_P_ALIVE {
                m.lost_valuable += 1;
            } else if r.p_alive < AT_RISK || r.churn.is_some_and(|c| c >= AT_RISK) {
                m.at_risk += 1;
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use rapport_core::PartyKind;

    use super::*;
    use crate::facts::ScoreFacts;

    const BOOK: &str = r#"
version = 3
default = "standard"

[[portfolio]]
id = "corporate"
name = "Corporate accounts"
manager = "akeller"
target_size = 20

[[portfolio]]
id = "premium"
name = "Premium"
manager = "cdubois"

[[portfolio]]
id = "nordic"
name = "Nordic"
manager = "eholm"

[[portfolio]]
id = "standard"
name = "Standard"
manager = "bnovak"

[[assign]]
name = "corporate accounts with their employees"
portfolio = "corporate"
when = "kind = organisation"
together = "employees"

[[assign]]
name = "premium households"
portfolio = "premium"
when = "tier = A"
together = "household"

[[assign]]
name = "nordic countries"
portfolio = "nordic"
when = "country in [SE, NO, DK, FI]"
"#;

    fn person(id: u64, tier: Option<Tier>, country: &str) -> CustomerFacts {
        let mut f = CustomerFacts::new(CustomerId(id), PartyKind::Person);
        f.country = Some(country.into());
        f.scores = tier.map(|tier| ScoreFacts {
            tier,
            segment: "standard".into(),
            value: 1.0,
            annual_value: 1.0,
            profit: 1.0,
            clv: 10.0,
            p_alive: 0.9,
            churn: None,
            expected_transactions: 1.0,
            top: false,
            bottom: false,
            propensity: BTreeMap::new(),
        });
        f
    }

    #[test]
    fn first_rule_wins_with_a_default_and_groups_stay_together() {
        let book = PortfolioBook::parse("portfolios.toml", BOOK).unwrap();
        assert_eq!(book.version, 3);
        let org = CustomerFacts::new(CustomerId(1), PartyKind::Organisation);
        let mut employee = person(2, Some(Tier::A), "SE");
        employee.employer = Some(CustomerId(1));
        let mut wife = person(3, Some(Tier::A), "FR");
        wife.household = vec![CustomerId(4)];
        let mut husband = person(4, Some(Tier::C), "SE");
        husband.household = vec![CustomerId(3)];
        let swede = person(5, Some(Tier::B), "SE");
        let nobody = person(6, None, "GB");
        let all = [org, employee, wife, husband, swede, nobody];
        let got: Vec<(u64, String, String)> = book
            .assign_all(&all)
            .into_iter()
            .map(|a| (a.customer.0, a.portfolio, a.rule))
            .collect();
        let want = [
            (1, "corporate", "corporate accounts with their employees"),
            (2, "corporate", "corporate accounts with their employees"),
            (3, "premium", "premium households"),
            (4, "premium", "premium households"),
            (5, "nordic", "nordic countries"),
            (6, "standard", "default"),
        ];
        assert_eq!(got, want.map(|(i, p, r)| (i, p.to_string(), r.to_string())));
        // Alone, the husband would be Nordic: the household rule comes first.
        assert_eq!(book.assign(&all[3]).portfolio, "nordic");
        let a = book.assign_all(&all);
        assert!(
            a[1].reason.contains("holds for the employer C00000001"),
            "{}",
            a[1].reason
        );
        assert!(
            a[3].reason.contains("household member C00000003"),
            "{}",
            a[3].reason
        );
        assert!(a[5].reason.contains("default portfolio `standard`"));
    }

    #[test]
    fn a_book_with_mistakes_names_file_line_and_problem() {
        let bad = r#"version = 1
default = "nowhere"

[[portfolio]]
id = "Premium!"
name = "Premium"
manager = "Carla Dubois"

[[assign]]
name = "top"
portfolio = "premium"
when = "tier = E"
together = "family"
"#;
        let errs = PortfolioBook::parse("p.toml", bad).unwrap_err();
        let text = errs.to_string();
        for want in [
            "p.toml:2: default portfolio `nowhere` is not defined",
            "p.toml:5: portfolio id: `Premium!` is not a valid id",
            "p.toml:7: manager `Carla Dubois` is not an operator name",
            "p.toml:11: rule `top`: portfolio `premium` is not defined",
            "p.toml:12: rule `top`: when: `tier` takes A, B, C or D",
            "p.toml:13: rule `top`: together is `employees` or `household`, not `family`",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        let unknown = PortfolioBook::parse("p.toml", "version = 1\ndefault = \"a\"\ncolour = 3\n")
            .unwrap_err();
        assert_eq!(unknown.0[0].line, 3, "{unknown}");
        assert!(unknown.0[0].problem.contains("colour"), "{unknown}");
    }

    #[test]
    fn metrics_add_up_members() {
        let p = Portfolio {
            id: "premium".into(),
            name: "Premium".into(),
            manager: "cdubois".into(),
            target_size: Some(100),
        };
        let row = |tier, value, clv, p_alive, churn, comp| MemberRow {
            customer: CustomerId(1),
            tier,
            value,
            clv,
            p_alive,
            churn,
            compensation: comp,
            grants: u64::from(comp > 0.0),
        };
        let rows = [
            row(Some(Tier::A), 100.0, 1000.0, 0.9, None, 300.0),
            row(Some(Tier::A), 50.0, 400.0, 0.4, None, 0.0),
            row(Some(Tier::B), 20.0, 100.0, 0.1, None, 0.0),
            row(Some(Tier::B), 30.0, 200.0, 0.9, Some(0.7), 75.0),
            row(Some(Tier::D), 1.0, 2.0, 0.05, None, 0.0),
            row(None, 0.0, 0.0, 0.0, None, 0.0),
        ];
        let m = portfolio_metrics(&p, &rows);
        assert_eq!((m.customers, m.scored), (6, 5));
        assert_eq!((m.current_value, m.projected_value), (201.0, 1702.0));
        assert_eq!((m.at_risk, m.lost_valuable), (2, 1));
        assert_eq!((m.compensation, m.grants), (375.0, 2));
        assert_eq!(m.tiers.get(&Tier::A), Some(&2));
        assert_eq!(m.tiers.get(&Tier::D), Some(&1));
    }
}
