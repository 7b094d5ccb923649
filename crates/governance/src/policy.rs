//! The compensation policy: what a disruption entitles a customer to, the same for everyone
//! with the same disruption (never the agent's mood, never the customer's tier).
//!
//! A policy is a versioned table of rules by disruption type and delay band. It is plain data
//! (serde), so it can be stored, shown and replaced by a newer version; every grant records the
//! rule name (with the version) that set its amount.

use rapport_core::{Currency, DisruptionKind, Money};
use serde::{Deserialize, Serialize};

/// One row of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// The disruption type the rule covers.
    pub kind: DisruptionKind,
    /// For delays: the band starts at this many minutes (inclusive).
    pub min_delay_minutes: Option<u32>,
    /// For delays: the band ends before this many minutes (exclusive); `None` is open-ended.
    pub max_delay_minutes: Option<u32>,
    /// What is granted: `voucher`, `cash`, `miles`...
    pub instrument: String,
    /// How much.
    pub amount: Money,
    /// The rule's name, e.g. `delay 6-9h`; grants record it with the policy version.
    pub name: String,
}

/// A care item the policy gives on the spot besides compensation (a meal voucher after a
/// long wait, a hotel night when the wait runs overnight): every matching item applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareRule {
    /// The disruption types it covers.
    pub kinds: Vec<DisruptionKind>,
    /// For delays: from this many minutes (inclusive).
    pub min_delay_minutes: Option<u32>,
    /// What is given, e.g. `meal voucher`, `hotel night`.
    pub item: String,
    /// Its value.
    pub amount: Money,
}

/// A versioned compensation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompensationPolicy {
    /// Increases with every change; grants name it.
    pub version: u32,
    /// The rules; the first that matches applies.
    pub rules: Vec<PolicyRule>,
    /// Care items (meals, a hotel night); a policy stored before they existed has none.
    #[serde(default)]
    pub care: Vec<CareRule>,
}

/// What the policy grants for one disruption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What is granted.
    pub instrument: String,
    /// How much.
    pub amount: Money,
    /// The rule and policy version, e.g. `delay 6-9h v1`.
    pub rule: String,
}

/// Why the policy grants nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A delay needs its length.
    #[error("a delay needs its length in minutes (--delay-minutes)")]
    DelayMinutesMissing,
    /// No rule covers this disruption (e.g. a delay under three hours).
    #[error("the compensation policy v{version} grants nothing for {what}")]
    NotEntitled {
        /// The policy version.
        version: u32,
        /// The disruption, in words.
        what: String,
    },
}

impl PolicyRule {
    fn matches(&self, kind: DisruptionKind, delay: Option<u32>) -> bool {
        if self.kind != kind {
            return false;
        }
        if kind != DisruptionKind::Delay {
            return true;
        }
        let Some(d) = delay else { return false };
        self.min_delay_minutes.is_none_or(|m| d >= m)
            && self.max_delay_minutes.is_none_or(|m| d < m)
    }
}

impl CompensationPolicy {
    /// The standard policy, version 1 (euro vouchers; cash for a lost bag's first needs):
    ///
    /// | disruption | band | grant |
    /// |---|---|---|
    /// | delay | under 3 h | nothing |
    /// | delay | 3-6 h | voucher 75 EUR |
    /// | delay | 6-9 h | voucher 150 EUR |
    /// | delay | 9 h or more | voucher 300 EUR |
    /// | cancellation | | voucher 250 EUR |
    /// | denied boarding | | voucher 400 EUR (a free flight) |
    /// | lost bag | | cash 100 EUR |
    ///
    /// Care on the spot: a meal voucher (15 EUR) after a delay of 3 hours or more, a
    /// cancellation or a denied boarding; a hotel night (120 EUR) after a delay of 10 hours
    /// or more, or a cancellation.
    pub fn standard() -> CompensationPolicy {
        let eur = |euros: i64| Money::new(euros * 100, Currency::EUR);
        let delay = |min: u32, max: Option<u32>, euros: i64, name: &str| PolicyRule {
            kind: DisruptionKind::Delay,
            min_delay_minutes: Some(min),
            max_delay_minutes: max,
            instrument: "voucher".into(),
            amount: eur(euros),
            name: name.into(),
        };
        let flat = |kind, instrument: &str, euros: i64, name: &str| PolicyRule {
            kind,
            min_delay_minutes: None,
            max_delay_minutes: None,
            instrument: instrument.into(),
            amount: eur(euros),
            name: name.into(),
        };
        CompensationPolicy {
            version: 1,
            rules: vec![
                delay(180, Some(360), 75, "delay 3-6h"),
                delay(360, Some(540), 150, "delay 6-9h"),
                delay(540, None, 300, "delay 9h+"),
                flat(DisruptionKind::Cancellation, "voucher", 250, "cancellation"),
                flat(
                    DisruptionKind::DeniedBoarding,
                    "voucher",
                    400,
                    "denied boarding",
                ),
                flat(DisruptionKind::LostBag, "cash", 100, "lost bag"),
            ],
            care: vec![
                CareRule {
                    kinds: vec![
                        DisruptionKind::Delay,
                        DisruptionKind::Cancellation,
                        DisruptionKind::DeniedBoarding,
                    ],
                    min_delay_minutes: Some(180),
                    item: "meal voucher".into(),
                    amount: eur(15),
                },
                CareRule {
                    kinds: vec![DisruptionKind::Delay, DisruptionKind::Cancellation],
                    min_delay_minutes: Some(600),
                    item: "hotel night".into(),
                    amount: eur(120),
                },
            ],
        }
    }

    /// What the policy grants for a disruption of `kind` (with its delay for delays).
    pub fn decide(
        &self,
        kind: DisruptionKind,
        delay_minutes: Option<u32>,
    ) -> Result<Decision, PolicyError> {
        if kind == DisruptionKind::Delay && delay_minutes.is_none() {
            return Err(PolicyError::DelayMinutesMissing);
        }
        let rule = self
            .rules
            .iter()
            .find(|r| r.matches(kind, delay_minutes))
            .ok_or_else(|| PolicyError::NotEntitled {
                version: self.version,
                what: match delay_minutes {
                    Some(d) if kind == DisruptionKind::Delay => format!("a delay of {d} min"),
                    _ => kind.to_string(),
                },
            })?;
        Ok(Decision {
            instrument: rule.instrument.clone(),
            amount: rule.amount,
            rule: format!("{} v{}", rule.name, self.version),
        })
    }
}

impl CompensationPolicy {
    /// The care items for a disruption of `kind` (with its delay for delays); the delay
    /// threshold applies to delays only.
    pub fn care(&self, kind: DisruptionKind, delay_minutes: Option<u32>) -> Vec<&CareRule> {
        self.care
            .iter()
            .filter(|c| c.kinds.contains(&kind))
            .filter(|c| {
                kind != DisruptionKind::Delay
                    || c.min_delay_minutes
                        .is_none_or(|m| delay_minutes.is_some_and(|d| d >= m))
            })
            .collect()
    }
}

impl Default for CompensationPolicy {
    fn default() -> Self {
        CompensationPolicy::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: DisruptionKind, delay: Option<u32>, expected: Option<(&str, i64, &str)>) {
        let got = CompensationPolicy::standard().decide(kind, delay);
        match expected {
            Some((instrument, euros, rule)) => {
                let d = got.unwrap();
                assert_eq!(
                    (d.instrument.as_str(), d.amount.minor / 100, d.rule.as_str()),
                    (instrument, euros, rule)
                );
            }
            None => assert!(got.is_err(), "{kind} {delay:?}: {got:?}"),
        }
    }

    #[test]
    fn bands_are_half_open_and_the_same_for_everyone() {
        use DisruptionKind::*;
        check(Delay, Some(179), None);
        check(Delay, Some(180), Some(("voucher", 75, "delay 3-6h v1")));
        check(Delay, Some(359), Some(("voucher", 75, "delay 3-6h v1")));
        check(Delay, Some(360), Some(("voucher", 150, "delay 6-9h v1")));
        check(Delay, Some(540), Some(("voucher", 300, "delay 9h+ v1")));
        check(Delay, Some(14 * 60), Some(("voucher", 300, "delay 9h+ v1")));
        check(Delay, None, None);
        check(
            Cancellation,
            None,
            Some(("voucher", 250, "cancellation v1")),
        );
        check(
            DeniedBoarding,
            Some(5),
            Some(("voucher", 400, "denied boarding v1")),
        );
        check(LostBag, None, Some(("cash", 100, "lost bag v1")));
    }

    #[test]
    fn care_items_follow_the_wait() {
        use DisruptionKind::*;
        let p = CompensationPolicy::standard();
        let items = |k, d| {
            p.care(k, d)
                .iter()
                .map(|c| c.item.clone())
                .collect::<Vec<_>>()
        };
        assert!(items(Delay, Some(179)).is_empty());
        assert_eq!(items(Delay, Some(180)), ["meal voucher"]);
        assert_eq!(items(Delay, Some(840)), ["meal voucher", "hotel night"]);
        assert_eq!(items(Cancellation, None), ["meal voucher", "hotel night"]);
        assert_eq!(items(DeniedBoarding, None), ["meal voucher"]);
        assert!(items(LostBag, None).is_empty());
    }
}
