//! Working lists: short, ranked lists of customers to act on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use rapport_core::text::thousands;
use rapport_core::{Currency, CustomerId, Tier, Timestamp};

use crate::Error;

/// The working lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListName {
    /// Higher-value customers (tier A or B) with more than one complaint in the last year.
    Complainers,
    /// Last year's large customers who ordered half or less this year.
    Halved,
    /// Customers who hold only one or two of our products.
    SingleProduct,
    /// Valuable customers lost in the last two years (win back).
    LostValuable,
    /// Valuable customers at risk: low probability alive or high churn score.
    AtRisk,
}

impl ListName {
    /// Every list.
    pub const ALL: [ListName; 5] = [
        ListName::Complainers,
        ListName::Halved,
        ListName::SingleProduct,
        ListName::LostValuable,
        ListName::AtRisk,
    ];

    /// The kebab-case name used on the command line and in the store key `list/<name>`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ListName::Complainers => "complainers",
            ListName::Halved => "halved",
            ListName::SingleProduct => "single-product",
            ListName::LostValuable => "lost-valuable",
            ListName::AtRisk => "at-risk",
        }
    }

    /// What the list holds, in words.
    pub fn title(&self) -> &'static str {
        match self {
            ListName::Complainers => {
                "Higher-value customers with more than one complaint in the last year"
            }
            ListName::Halved => "Last year's large customers ordering half or less this year",
            ListName::SingleProduct => "Customers with only one or two of our products",
            ListName::LostValuable => "Valuable customers lost in the last two years (win back)",
            ListName::AtRisk => {
                "Valuable customers at risk (low probability alive or high churn score)"
            }
        }
    }
}

impl fmt::Display for ListName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ListName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        ListName::ALL
            .into_iter()
            .find(|l| l.as_str() == t)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "unknown list {s:?}; lists are {}",
                    ListName::ALL.map(|l| l.as_str()).join(", ")
                ))
            })
    }
}

/// Thresholds of the lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListRules {
    /// Complainers: more than this many complaints in the last year.
    pub complaints_more_than: u32,
    /// Halved: "large" means in this top share of customers by the previous year's revenue.
    pub large_share: f64,
    /// Halved: this year's revenue at most this fraction of the previous year's.
    pub halved_ratio: f64,
    /// Single product: holding at least one and at most this many products.
    pub max_products: u32,
    /// Lost: no transaction for more than this many days.
    pub lost_after_days: i64,
    /// Lost "in the last two years": lapsed (last transaction + `lost_after_days`) within
    /// this many days.
    pub lost_within_days: i64,
    /// Lost valuable: past annual value in this top share of customers' past values.
    pub valuable_share: f64,
    /// At risk: probability alive below this...
    pub p_alive_below: f64,
    /// ... or churn score above this.
    pub churn_above: f64,
    /// Entries kept per list (highest value first); the total matching is kept too.
    pub keep: usize,
}

impl Default for ListRules {
    fn default() -> Self {
        ListRules {
            complaints_more_than: 1,
            large_share: 0.2,
            halved_ratio: 0.5,
            max_products: 2,
            lost_after_days: 365,
            lost_within_days: 730,
            valuable_share: 0.2,
            p_alive_below: 0.3,
            churn_above: 0.5,
            keep: 500,
        }
    }
}

/// What the lists need to know about one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListInput {
    /// The customer.
    pub customer: CustomerId,
    /// Tier.
    pub tier: Tier,
    /// Current-period value.
    pub value: f64,
    /// Lifetime value.
    pub clv: f64,
    /// Probability alive.
    pub p_alive: f64,
    /// Churn score, if a model was fitted.
    pub churn: Option<f64>,
    /// Complaints in the last year.
    pub complaints_last_year: u32,
    /// Revenue in the last 365 days.
    pub revenue_this_year: f64,
    /// Revenue in the 365 days before.
    pub revenue_last_year: f64,
    /// Products held.
    pub products_held: u32,
    /// Days since the last transaction.
    pub days_since_last_purchase: Option<i64>,
    /// The highest yearly value in the years before the last one (for lost customers).
    pub past_value: f64,
}

/// One customer on a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEntry {
    /// The customer.
    pub customer: CustomerId,
    /// Tier.
    pub tier: Tier,
    /// The value the list is ranked by.
    pub rank_value: f64,
    /// Why the customer is on the list, in words.
    pub reason: String,
}

/// A working list as stored after a scoring run (collection `analytics`, key `list/<name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkingList {
    /// Which list.
    pub name: ListName,
    /// Its title.
    pub title: String,
    /// When computed.
    pub at: Timestamp,
    /// Customers matching.
    pub total: u64,
    /// The highest-ranked entries (at most `ListRules::keep`).
    pub entries: Vec<ListEntry>,
}

fn quantile_from_top(values: &mut [f64], share: f64) -> f64 {
    if values.is_empty() || share <= 0.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| b.total_cmp(a));
    let k = ((share * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[k - 1]
}

/// Builds every working list; money in the reasons is in `currency` (the reporting currency
/// the inputs' values were converted into).
pub fn working_lists(
    inputs: &[ListInput],
    rules: &ListRules,
    at: Timestamp,
    currency: Currency,
) -> Vec<WorkingList> {
    let money = |v: f64| format!("{} {currency}", thousands(v));
    let mut prev: Vec<f64> = inputs
        .iter()
        .map(|i| i.revenue_last_year)
        .filter(|v| *v > 0.0)
        .collect();
    let large = quantile_from_top(&mut prev, rules.large_share);
    let mut past: Vec<f64> = inputs
        .iter()
        .map(|i| i.past_value)
        .filter(|v| *v > 0.0)
        .collect();
    let valuable_past = quantile_from_top(&mut past, rules.valuable_share);
    let lost = |i: &ListInput| {
        i.days_since_last_purchase.is_some_and(|d| {
            d > rules.lost_after_days && d - rules.lost_after_days <= rules.lost_within_days
        })
    };
    ListName::ALL
        .into_iter()
        .map(|name| {
            let mut entries: Vec<ListEntry> = inputs
                .iter()
                .filter_map(|i| {
                    let entry = |rank_value: f64, reason: String| ListEntry {
                        customer: i.customer,
                        tier: i.tier,
                        rank_value,
                        reason,
                    };
                    match name {
                        ListName::Complainers => ((i.tier == Tier::A || i.tier == Tier::B)
                            && i.complaints_last_year > rules.complaints_more_than)
                            .then(|| {
                                entry(
                                    i.value,
                                    format!(
                                        "tier {}, {} complaints in the last year",
                                        i.tier, i.complaints_last_year
                                    ),
                                )
                            }),
                        ListName::Halved => (i.revenue_last_year >= large
                            && i.revenue_last_year > 0.0
                            && i.revenue_this_year <= rules.halved_ratio * i.revenue_last_year)
                            .then(|| {
                                entry(
                                    i.revenue_last_year,
                                    format!(
                                        "revenue {} last year, {} this year ({:.0}%)",
                                        money(i.revenue_last_year),
                                        money(i.revenue_this_year),
                                        100.0 * i.revenue_this_year / i.revenue_last_year
                                    ),
                                )
                            }),
                        ListName::SingleProduct => (i.products_held >= 1
                            && i.products_held <= rules.max_products
                            && !lost(i))
                        .then(|| {
                            entry(
                                i.value,
                                format!("holds {} of our products", i.products_held),
                            )
                        }),
                        ListName::LostValuable => (lost(i)
                            && i.past_value >= valuable_past
                            && i.past_value > 0.0)
                            .then(|| {
                                entry(
                                    i.past_value,
                                    format!(
                                        "no purchase for {} days; yearly value was {}",
                                        i.days_since_last_purchase.unwrap_or_default(),
                                        money(i.past_value)
                                    ),
                                )
                            }),
                        ListName::AtRisk => {
                            let risky = i.p_alive < rules.p_alive_below
                                || i.churn.is_some_and(|c| c > rules.churn_above);
                            (i.tier == Tier::A && risky && !lost(i)).then(|| {
                                entry(
                                    i.clv.max(i.value),
                                    match i.churn {
                                        Some(c) => format!(
                                            "tier A, probability alive {:.2}, churn score {:.2}",
                                            i.p_alive, c
                                        ),
                                        None => {
                                            format!("tier A, probability alive {:.2}", i.p_alive)
                                        }
                                    },
                                )
                            })
                        }
                    }
                })
                .collect();
            let total = entries.len() as u64;
            entries.sort_by(|a, b| {
                b.rank_value
                    .total_cmp(&a.rank_value)
                    .then(a.customer.cmp(&b.customer))
            });
            entries.truncate(rules.keep);
            WorkingList {
                name,
                title: name.title().to_string(),
                at,
                total,
                entries,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: u64) -> ListInput {
        ListInput {
            customer: CustomerId(id),
            tier: Tier::C,
            value: 10.0,
            clv: 10.0,
            p_alive: 0.9,
            churn: Some(0.1),
            complaints_last_year: 0,
            revenue_this_year: 10.0,
            revenue_last_year: 10.0,
            products_held: 3,
            days_since_last_purchase: Some(30),
            past_value: 10.0,
        }
    }

    #[test]
    fn each_list_finds_its_planted_customer() {
        let mut inputs: Vec<ListInput> = (1..=20).map(input).collect();
        inputs[0] = ListInput {
            tier: Tier::A,
            complaints_last_year: 3,
            ..input(1)
        };
        inputs[1] = ListInput {
            revenue_last_year: 1000.0,
            revenue_this_year: 400.0,
            ..input(2)
        };
        inputs[2] = ListInput {
            products_held: 1,
            ..input(3)
        };
        inputs[3] = ListInput {
            days_since_last_purchase: Some(500),
            past_value: 900.0,
            ..input(4)
        };
        inputs[4] = ListInput {
            tier: Tier::A,
            p_alive: 0.1,
            ..input(5)
        };
        let lists = working_lists(&inputs, &ListRules::default(), Timestamp(0), Currency::EUR);
        let ids = |n: ListName| -> Vec<u64> {
            lists
                .iter()
                .find(|l| l.name == n)
                .unwrap()
                .entries
                .iter()
                .map(|e| e.customer.0)
                .collect()
        };
        assert_eq!(ids(ListName::Complainers), vec![1]);
        assert_eq!(ids(ListName::Halved), vec![2]);
        // Money in a reason says its currency.
        let halved = &lists.iter().find(|l| l.name == ListName::Halved).unwrap();
        assert_eq!(
            halved.entries[0].reason,
            "revenue 1,000 EUR last year, 400 EUR this year (40%)"
        );
        assert_eq!(ids(ListName::SingleProduct), vec![3]);
        assert_eq!(ids(ListName::LostValuable), vec![4]);
        assert_eq!(ids(ListName::AtRisk), vec![5]);
        assert_eq!(
            "lost_valuable".parse::<ListName>().unwrap(),
            ListName::LostValuable
        );
        assert!("nope".parse::<ListName>().is_err());
    }
}
