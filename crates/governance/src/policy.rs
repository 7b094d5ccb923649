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

/// A policy as an operator writes it: the compensation table, the care items and the goodwill
/// limits per role, in one TOML file (`rapport policy set FILE`). [`PolicyFile::parse`] checks
/// it whole and reports every mistake with the file, the line and the problem; the service
/// numbers the version when it stores it.
///
/// ```toml
/// currency = "EUR"
///
/// [[rule]]
/// name = "delay 3-6h"
/// kind = "delay"
/// from_minutes = 180
/// until_minutes = 360
/// instrument = "voucher"
/// amount = 75
///
/// [[care]]
/// item = "meal voucher"
/// kinds = ["delay", "cancellation"]
/// from_minutes = 180
/// amount = 15
///
/// [limits]
/// front-line = 500
/// customer-manager = 2000
/// admin = "unlimited"
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// The compensation table (version 0 until stored).
    pub policy: CompensationPolicy,
    /// What each role may grant without approval.
    pub limits: crate::ApprovalLimits,
}

/// The instruments a rule may grant.
pub const INSTRUMENTS: [&str; 2] = ["voucher", "cash"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    currency: toml::Spanned<String>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RawRule>>,
    #[serde(default)]
    care: Vec<toml::Spanned<RawCare>>,
    limits: toml::Spanned<std::collections::BTreeMap<String, toml::Spanned<toml::Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: toml::Spanned<String>,
    kind: toml::Spanned<String>,
    from_minutes: Option<toml::Spanned<u32>>,
    until_minutes: Option<toml::Spanned<u32>>,
    instrument: toml::Spanned<String>,
    amount: toml::Spanned<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCare {
    item: toml::Spanned<String>,
    kinds: toml::Spanned<Vec<String>>,
    from_minutes: Option<u32>,
    amount: toml::Spanned<toml::Value>,
}

/// Largest amount a rule, care item or limit may name, in major units.
const MAX_MAJOR: i64 = 1_000_000;

/// An amount in major units (an integer or a decimal with at most the currency's minor digits)
/// as minor units.
fn minor_units(v: &toml::Value, currency: Currency) -> Result<i64, String> {
    let scale = 10i64.pow(currency.minor_digits());
    let minor = match v {
        toml::Value::Integer(n) => n.checked_mul(scale),
        toml::Value::Float(f) if f.is_finite() => {
            let m = (f * scale as f64).round();
            ((m - f * scale as f64).abs() < 1e-6).then_some(m as i64)
        }
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "an amount is a number of {currency} with at most {} decimals",
            currency.minor_digits()
        )
    })?;
    if minor <= 0 || minor > MAX_MAJOR * scale {
        return Err(format!(
            "an amount must be more than 0 and at most {MAX_MAJOR} {currency}"
        ));
    }
    Ok(minor)
}

impl PolicyFile {
    /// Parses and checks a policy file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<PolicyFile, crate::ConfigErrors> {
        use crate::config::Problems;
        let mut p = Problems::new(file, text);
        let raw: RawPolicy = p.toml()?;
        let currency = match raw.currency.get_ref().parse::<Currency>() {
            Ok(c) => c,
            Err(_) => {
                p.at(
                    &raw.currency.span(),
                    "currency must be a three-letter code such as EUR",
                );
                Currency::EUR
            }
        };
        let mut rules: Vec<(PolicyRule, usize)> = Vec::new();
        for rr in &raw.rule {
            let line = p.line_of(&rr.span());
            let rr = rr.get_ref();
            let name = rr.name.get_ref().trim().to_string();
            if name.is_empty() || name.chars().count() > 60 {
                p.at(&rr.name.span(), "a rule's name is 1 to 60 characters");
            } else if rules.iter().any(|(r, _)| r.name == name) {
                p.at(&rr.name.span(), format!("rule `{name}` is defined twice"));
            }
            let kind = match rr.kind.get_ref().parse::<DisruptionKind>() {
                Ok(k) => k,
                Err(_) => {
                    p.at(
                        &rr.kind.span(),
                        format!(
                            "rule `{name}`: unknown disruption type `{}` (delay, cancellation, \
                             denied-boarding, lost-bag)",
                            rr.kind.get_ref().chars().take(40).collect::<String>()
                        ),
                    );
                    continue;
                }
            };
            let (from, until) = (
                rr.from_minutes.as_ref().map(|m| *m.get_ref()),
                rr.until_minutes.as_ref().map(|m| *m.get_ref()),
            );
            if kind == DisruptionKind::Delay {
                match (from, until) {
                    (None, _) => p.line(
                        line,
                        format!(
                            "rule `{name}`: a delay rule needs from_minutes (its band's start)"
                        ),
                    ),
                    (Some(f), Some(u)) if u <= f => p.line(
                        line,
                        format!(
                            "rule `{name}`: until_minutes ({u}) must be after from_minutes ({f})"
                        ),
                    ),
                    _ => {}
                }
            } else if from.is_some() || until.is_some() {
                p.line(
                    line,
                    format!(
                        "rule `{name}`: only delay rules have a band (from_minutes, until_minutes)"
                    ),
                );
            }
            let instrument = rr.instrument.get_ref().trim().to_ascii_lowercase();
            if !INSTRUMENTS.contains(&instrument.as_str()) {
                p.at(
                    &rr.instrument.span(),
                    format!(
                        "rule `{name}`: unknown instrument `{}` (one of: {})",
                        instrument.chars().take(40).collect::<String>(),
                        INSTRUMENTS.join(", ")
                    ),
                );
            }
            let amount = match minor_units(rr.amount.get_ref(), currency) {
                Ok(m) => m,
                Err(e) => {
                    p.at(&rr.amount.span(), format!("rule `{name}`: {e}"));
                    continue;
                }
            };
            let rule = PolicyRule {
                kind,
                min_delay_minutes: if kind == DisruptionKind::Delay {
                    from
                } else {
                    None
                },
                max_delay_minutes: if kind == DisruptionKind::Delay {
                    until
                } else {
                    None
                },
                instrument,
                amount: Money::new(amount, currency),
                name,
            };
            // Equal disruption, equal entitlement: no two rules may price the same disruption.
            if let Some((other, _)) = rules.iter().find(|(r, _)| overlaps(r, &rule)) {
                p.line(
                    line,
                    match kind {
                        DisruptionKind::Delay => format!(
                            "rule `{}`: its band overlaps rule `{}`: the same delay would be priced by two rules",
                            rule.name, other.name
                        ),
                        _ => format!(
                            "rule `{}`: rule `{}` already prices a {kind}",
                            rule.name, other.name
                        ),
                    },
                );
            }
            rules.push((rule, line));
        }
        // A longer delay never entitles to less.
        let mut delays: Vec<&(PolicyRule, usize)> = rules
            .iter()
            .filter(|(r, _)| r.kind == DisruptionKind::Delay)
            .collect();
        delays.sort_by_key(|(r, _)| r.min_delay_minutes);
        for w in delays.windows(2) {
            let ((shorter, _), (longer, line)) = (w[0], w[1]);
            if longer.amount.minor < shorter.amount.minor {
                p.line(
                    *line,
                    format!(
                        "rule `{}` gives {} for a longer delay than rule `{}` ({}): a longer delay must not get less",
                        longer.name, longer.amount, shorter.name, shorter.amount
                    ),
                );
            }
        }
        if rules.is_empty() {
            p.line(0, "no [[rule]] is defined: the policy would grant nothing");
        }
        let mut care = Vec::new();
        for rc in &raw.care {
            let line = p.line_of(&rc.span());
            let rc = rc.get_ref();
            let item = rc.item.get_ref().trim().to_string();
            if item.is_empty() || item.chars().count() > 60 {
                p.at(&rc.item.span(), "a care item's name is 1 to 60 characters");
            }
            let mut kinds = Vec::new();
            for k in rc.kinds.get_ref() {
                match k.parse::<DisruptionKind>() {
                    Ok(k) => kinds.push(k),
                    Err(_) => p.at(
                        &rc.kinds.span(),
                        format!(
                            "care `{item}`: unknown disruption type `{}`",
                            k.chars().take(40).collect::<String>()
                        ),
                    ),
                }
            }
            if rc.kinds.get_ref().is_empty() {
                p.line(
                    line,
                    format!("care `{item}`: name the disruption types it covers"),
                );
            }
            match minor_units(rc.amount.get_ref(), currency) {
                Ok(m) => care.push(CareRule {
                    kinds,
                    min_delay_minutes: rc.from_minutes,
                    item,
                    amount: Money::new(m, currency),
                }),
                Err(e) => p.at(&rc.amount.span(), format!("care `{item}`: {e}")),
            }
        }
        let mut limits = Vec::new();
        for (role, value) in raw.limits.get_ref() {
            let role = match role.parse::<crate::Role>() {
                Ok(r) => r,
                Err(e) => {
                    p.at(&value.span(), format!("limits: {e}"));
                    continue;
                }
            };
            let limit = match value.get_ref() {
                toml::Value::String(s) if s == "unlimited" => None,
                v => match minor_units(v, currency) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        p.at(
                            &value.span(),
                            format!("limits: {role}: {e}, or \"unlimited\""),
                        );
                        continue;
                    }
                },
            };
            limits.push((role, limit));
        }
        // In the roles' order, whatever the file's.
        limits.sort_by_key(|(r, _)| crate::Role::EVERY.iter().position(|x| x == r));
        if limits.is_empty() {
            p.at(
                &raw.limits.span(),
                "limits: name at least one role that may grant (e.g. front-line = 500)",
            );
        }
        p.finish(PolicyFile {
            policy: CompensationPolicy {
                version: 0,
                rules: rules.into_iter().map(|(r, _)| r).collect(),
                care,
            },
            limits: crate::ApprovalLimits { currency, limits },
        })
    }

    /// The file that [`PolicyFile::parse`] reads back as this policy (for `rapport policy
    /// show`, and to start a new version from the one in force).
    pub fn to_toml(&self) -> String {
        let currency = self.limits.currency;
        let major = |m: Money| {
            let scale = 10i64.pow(m.currency.minor_digits());
            if m.minor % scale == 0 {
                format!("{}", m.minor / scale)
            } else {
                format!(
                    "{:.*}",
                    m.currency.minor_digits() as usize,
                    m.minor as f64 / scale as f64
                )
            }
        };
        let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
        let mut out = format!(
            "# Compensation policy v{}: what a disruption entitles a customer to (the same for\n\
             # everyone with the same disruption), care on the spot, and what each role may grant\n\
             # without approval.\ncurrency = {}\n",
            self.policy.version,
            quoted(currency.as_str())
        );
        for r in &self.policy.rules {
            out.push_str(&format!(
                "\n[[rule]]\nname = {}\nkind = {}\n",
                quoted(&r.name),
                quoted(r.kind.as_str())
            ));
            if let Some(m) = r.min_delay_minutes {
                out.push_str(&format!("from_minutes = {m}\n"));
            }
            if let Some(m) = r.max_delay_minutes {
                out.push_str(&format!("until_minutes = {m}\n"));
            }
            out.push_str(&format!(
                "instrument = {}\namount = {}\n",
                quoted(&r.instrument),
                major(r.amount)
            ));
        }
        for c in &self.policy.care {
            let kinds: Vec<String> = c.kinds.iter().map(|k| quoted(k.as_str())).collect();
            out.push_str(&format!(
                "\n[[care]]\nitem = {}\nkinds = [{}]\n",
                quoted(&c.item),
                kinds.join(", ")
            ));
            if let Some(m) = c.min_delay_minutes {
                out.push_str(&format!("from_minutes = {m}\n"));
            }
            out.push_str(&format!("amount = {}\n", major(c.amount)));
        }
        out.push_str("\n[limits]\n");
        for (role, limit) in &self.limits.limits {
            match limit {
                Some(m) => out.push_str(&format!(
                    "{} = {}\n",
                    role.as_str(),
                    major(Money::new(*m, currency))
                )),
                None => out.push_str(&format!("{} = \"unlimited\"\n", role.as_str())),
            }
        }
        out
    }
}

/// Whether two rules would price the same disruption.
fn overlaps(a: &PolicyRule, b: &PolicyRule) -> bool {
    if a.kind != b.kind {
        return false;
    }
    if a.kind != DisruptionKind::Delay {
        return true;
    }
    let (a0, a1) = (
        a.min_delay_minutes.unwrap_or(0),
        a.max_delay_minutes.unwrap_or(u32::MAX),
    );
    let (b0, b1) = (
        b.min_delay_minutes.unwrap_or(0),
        b.max_delay_minutes.unwrap_or(u32::MAX),
    );
    a0 < b1 && b0 < a1
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

    fn parse(text: &str) -> Result<PolicyFile, String> {
        PolicyFile::parse("policy.toml", text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_standard_policy_round_trips_through_its_file() {
        let standard = PolicyFile {
            policy: CompensationPolicy {
                version: 0,
                ..CompensationPolicy::standard()
            },
            limits: crate::ApprovalLimits::standard(),
        };
        let text = standard.to_toml();
        assert_eq!(parse(&text), Ok(standard), "{text}");
    }

    #[test]
    fn mistakes_are_named_with_file_line_and_problem() {
        let base = CompensationPolicy::standard();
        let file = PolicyFile {
            policy: base,
            limits: crate::ApprovalLimits::standard(),
        }
        .to_toml();
        let check = |from: &str, to: &str, expected: &str| {
            assert!(file.contains(from), "{from}");
            let bad = file.replacen(from, to, 1);
            let e = parse(&bad).unwrap_err();
            assert!(e.starts_with("policy.toml:"), "{e}");
            assert!(e.contains(expected), "{expected} not in: {e}");
            // The line named is the one changed (or the rule's first line).
            let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
            assert!(line > 0 && line <= bad.lines().count(), "{e}");
        };
        check(
            "until_minutes = 540",
            "until_minutes = 600",
            "rule `delay 9h+`: its band overlaps rule `delay 6-9h`",
        );
        check(
            "amount = 300",
            "amount = 50",
            "a longer delay must not get less",
        );
        check(
            "kind = \"lost-bag\"",
            "kind = \"cancellation\"",
            "already prices a cancellation",
        );
        check(
            "instrument = \"cash\"",
            "instrument = \"kisses\"",
            "unknown instrument `kisses`",
        );
        check("amount = 250", "amount = -5", "more than 0");
        check("amount = 250", "amount = 2.555", "at most 2 decimals");
        check(
            "kind = \"delay\"",
            "kind = \"storm\"",
            "unknown disruption type `storm`",
        );
        check("from_minutes = 180\nuntil", "until", "needs from_minutes");
        check("front-line = 500", "gate-agent = 500", "unknown role");
        check(
            "front-line = 500",
            "front-line = \"lots\"",
            "or \"unlimited\"",
        );
        check(
            "currency = \"EUR\"",
            "currency = \"EUR\"\ncolour = 1",
            "unknown field",
        );
        let e = parse("currency = \"EUR\"\n[limits]\nadmin = \"unlimited\"\n").unwrap_err();
        assert!(e.contains("no [[rule]]"), "{e}");
    }

    /// Equal disruption, equal entitlement: every delay from 0 to 48 hours is priced by at
    /// most one rule, the same whoever asks, and a longer delay never gets less; every other
    /// disruption type by at most one rule.
    #[test]
    fn equal_disruption_equal_entitlement() {
        let p = CompensationPolicy::standard();
        let mut last = 0;
        for minutes in 0..=48 * 60 {
            let matching = p
                .rules
                .iter()
                .filter(|r| r.matches(DisruptionKind::Delay, Some(minutes)))
                .count();
            assert!(matching <= 1, "{minutes} min priced by {matching} rules");
            let d = p.decide(DisruptionKind::Delay, Some(minutes));
            let amount = d.as_ref().map_or(0, |d| d.amount.minor);
            assert!(
                amount >= last,
                "{minutes} min gets less than a shorter delay"
            );
            last = amount;
            // Deciding again gives the same: nothing but the disruption is an input.
            assert_eq!(d, p.decide(DisruptionKind::Delay, Some(minutes)));
        }
        for kind in [
            DisruptionKind::Cancellation,
            DisruptionKind::DeniedBoarding,
            DisruptionKind::LostBag,
        ] {
            assert_eq!(
                p.rules.iter().filter(|r| r.kind == kind).count(),
                1,
                "{kind}"
            );
        }
        // A file that would price one delay twice is refused, so no stored version can.
        let twice = "currency = \"EUR\"\n\
            [[rule]]\nname = \"a\"\nkind = \"delay\"\nfrom_minutes = 180\ninstrument = \"voucher\"\namount = 75\n\
            [[rule]]\nname = \"b\"\nkind = \"delay\"\nfrom_minutes = 300\ninstrument = \"voucher\"\namount = 500\n\
            [limits]\nadmin = \"unlimited\"\n";
        assert!(parse(twice).unwrap_err().contains("overlaps"));
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
