//! The condition language of portfolio assignment and offer rules: comparisons of a
//! customer's facts joined with `and`, `or`, `not` and parentheses. No arbitrary code: a
//! condition names only the facts listed below, and is checked when the file is loaded.
//!
//! ```text
//! tier in [A, B] and propensity.hotel >= 0.2
//! days_since_unresolved_complaint < 7 or days_since_long_delay < 7
//! kind = organisation and not country in [GB, IE]
//! open_complaint or disruption_today
//! has employer
//! ```
//!
//! | fact | type |
//! |---|---|
//! | `kind` | `person`, `organisation` or `intermediary` |
//! | `segment`, `country`, `city`, `loyalty_status`, `attr.NAME` | text (compared ignoring case) |
//! | `tier` | `A`-`D`, with `=`, `!=` or `in` |
//! | `clv`, `value`, `annual_value`, `profit`, `p_alive`, `churn`, `expected_transactions`, `propensity.PRODUCT` | number (scores) |
//! | `days_since_complaint`, `days_since_unresolved_complaint`, `days_since_disruption`, `days_since_long_delay`, `days_since_contact`, `unresolved_complaints`, `complaints_12m`, `disruptions_30d`, `compensation_12m` | number (history) |
//! | `top`, `bottom`, `open_complaint`, `disruption_today` | yes/no, alone or `= true` / `= false` |
//! | `employer`, `household` | only with `has` |
//!
//! A comparison with a fact the customer does not have (no scores yet, never complained) is
//! false, whatever the operator; `has FACT` tests presence.

use std::fmt;

use rapport_core::{PartyKind, Tier};
use serde::{Deserialize, Serialize};

use crate::facts::CustomerFacts;

/// A parsed, checked condition. Its text form ([`fmt::Display`]) parses back to itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Condition {
    /// Always true (a rule without a condition).
    True,
    /// Always false.
    False,
    /// All must hold.
    And(Vec<Condition>),
    /// One must hold.
    Or(Vec<Condition>),
    /// Must not hold.
    Not(Box<Condition>),
    /// The fact is present.
    Has(Fact),
    /// A comparison.
    Compare {
        /// The fact.
        fact: Fact,
        /// The operator.
        op: Op,
        /// The value(s) compared with (several for `in`).
        values: Vec<Value>,
    },
}

/// A fact a condition may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fact {
    /// Party kind.
    Kind,
    /// Segment.
    Segment,
    /// Country.
    Country,
    /// City.
    City,
    /// Loyalty status.
    LoyaltyStatus,
    /// A further golden field.
    Attr(String),
    /// Value tier.
    Tier,
    /// A number from the scores, by name.
    Score(ScoreField),
    /// A purchase propensity.
    Propensity(String),
    /// A number from recent history.
    History(HistoryField),
    /// A yes/no fact.
    Flag(FlagField),
    /// Works for a corporate account.
    Employer,
    /// Belongs to a household.
    Household,
}

/// Numbers from the scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // the names say it; see the module table
pub enum ScoreField {
    Clv,
    Value,
    AnnualValue,
    Profit,
    PAlive,
    Churn,
    ExpectedTransactions,
}

/// Numbers from recent history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // the names say it; see the module table
pub enum HistoryField {
    DaysSinceComplaint,
    DaysSinceUnresolvedComplaint,
    DaysSinceDisruption,
    DaysSinceLongDelay,
    DaysSinceContact,
    UnresolvedComplaints,
    Complaints12m,
    Disruptions30d,
    Compensation12m,
}

/// Yes/no facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // the names say it; see the module table
pub enum FlagField {
    Top,
    Bottom,
    OpenComplaint,
    DisruptionToday,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // the symbols say it
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

/// A literal in a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A number.
    Number(f64),
    /// A word or quoted text.
    Text(String),
    /// A tier.
    Tier(Tier),
    /// A party kind.
    Kind(PartyKind),
    /// Yes or no.
    Bool(bool),
}

const SCORE_FIELDS: [(&str, ScoreField); 7] = [
    ("clv", ScoreField::Clv),
    ("value", ScoreField::Value),
    ("annual_value", ScoreField::AnnualValue),
    ("profit", ScoreField::Profit),
    ("p_alive", ScoreField::PAlive),
    ("churn", ScoreField::Churn),
    ("expected_transactions", ScoreField::ExpectedTransactions),
];

const HISTORY_FIELDS: [(&str, HistoryField); 9] = [
    ("days_since_complaint", HistoryField::DaysSinceComplaint),
    (
        "days_since_unresolved_complaint",
        HistoryField::DaysSinceUnresolvedComplaint,
    ),
    ("days_since_disruption", HistoryField::DaysSinceDisruption),
    ("days_since_long_delay", HistoryField::DaysSinceLongDelay),
    ("days_since_contact", HistoryField::DaysSinceContact),
    ("unresolved_complaints", HistoryField::UnresolvedComplaints),
    ("complaints_12m", HistoryField::Complaints12m),
    ("disruptions_30d", HistoryField::Disruptions30d),
    ("compensation_12m", HistoryField::Compensation12m),
];

const FLAG_FIELDS: [(&str, FlagField); 4] = [
    ("top", FlagField::Top),
    ("bottom", FlagField::Bottom),
    ("open_complaint", FlagField::OpenComplaint),
    ("disruption_today", FlagField::DisruptionToday),
];

const TEXT_FIELDS: [(&str, Fact); 5] = [
    ("kind", Fact::Kind),
    ("segment", Fact::Segment),
    ("country", Fact::Country),
    ("city", Fact::City),
    ("loyalty_status", Fact::LoyaltyStatus),
];

/// Every fact name a condition may use (`attr.` and `propensity.` take a name after the dot).
pub fn fact_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = TEXT_FIELDS.iter().map(|(n, _)| *n).collect();
    v.extend(["tier", "attr.NAME", "propensity.PRODUCT"]);
    v.extend(SCORE_FIELDS.iter().map(|(n, _)| *n));
    v.extend(HISTORY_FIELDS.iter().map(|(n, _)| *n));
    v.extend(FLAG_FIELDS.iter().map(|(n, _)| *n));
    v.extend(["employer", "household"]);
    v
}

impl Fact {
    fn parse(name: &str) -> Result<Fact, String> {
        if let Some(rest) = name.strip_prefix("attr.") {
            return valid_name(rest, "attr").map(Fact::Attr);
        }
        if let Some(rest) = name.strip_prefix("propensity.") {
            return valid_name(rest, "propensity").map(Fact::Propensity);
        }
        if name == "tier" {
            return Ok(Fact::Tier);
        }
        if name == "employer" {
            return Ok(Fact::Employer);
        }
        if name == "household" {
            return Ok(Fact::Household);
        }
        if let Some((_, f)) = TEXT_FIELDS.iter().find(|(n, _)| *n == name) {
            return Ok(f.clone());
        }
        if let Some((_, f)) = SCORE_FIELDS.iter().find(|(n, _)| *n == name) {
            return Ok(Fact::Score(*f));
        }
        if let Some((_, f)) = HISTORY_FIELDS.iter().find(|(n, _)| *n == name) {
            return Ok(Fact::History(*f));
        }
        if let Some((_, f)) = FLAG_FIELDS.iter().find(|(n, _)| *n == name) {
            return Ok(Fact::Flag(*f));
        }
        Err(format!(
            "unknown fact `{name}` (known: {})",
            fact_names().join(", ")
        ))
    }

    fn name(&self) -> String {
        match self {
            Fact::Kind => "kind".into(),
            Fact::Segment => "segment".into(),
            Fact::Country => "country".into(),
            Fact::City => "city".into(),
            Fact::LoyaltyStatus => "loyalty_status".into(),
            Fact::Attr(a) => format!("attr.{a}"),
            Fact::Tier => "tier".into(),
            Fact::Propensity(p) => format!("propensity.{p}"),
            Fact::Employer => "employer".into(),
            Fact::Household => "household".into(),
            Fact::Score(f) => lookup_name(&SCORE_FIELDS, f),
            Fact::History(f) => lookup_name(&HISTORY_FIELDS, f),
            Fact::Flag(f) => lookup_name(&FLAG_FIELDS, f),
        }
    }

    fn kind(&self) -> FactKind {
        match self {
            Fact::Kind => FactKind::PartyKind,
            Fact::Segment | Fact::Country | Fact::City | Fact::LoyaltyStatus | Fact::Attr(_) => {
                FactKind::Text
            }
            Fact::Tier => FactKind::Tier,
            Fact::Score(_) | Fact::Propensity(_) | Fact::History(_) => FactKind::Number,
            Fact::Flag(_) => FactKind::Flag,
            Fact::Employer | Fact::Household => FactKind::Presence,
        }
    }

    /// The fact's value for a customer, `None` when the customer does not have it.
    fn value(&self, f: &CustomerFacts) -> Option<Value> {
        let s = f.scores.as_ref();
        let h = &f.history;
        let text = |t: Option<&String>| t.map(|t| Value::Text(t.clone()));
        let days = |d: Option<u32>| d.map(|d| Value::Number(f64::from(d)));
        match self {
            Fact::Kind => Some(Value::Kind(f.kind)),
            Fact::Segment => text(s.map(|s| &s.segment)),
            Fact::Country => text(f.country.as_ref()),
            Fact::City => text(f.city.as_ref()),
            Fact::LoyaltyStatus => text(f.loyalty_status.as_ref()),
            Fact::Attr(a) => text(f.attributes.get(a)),
            Fact::Tier => s.map(|s| Value::Tier(s.tier)),
            Fact::Propensity(p) => s
                .and_then(|s| s.propensity.get(p))
                .map(|v| Value::Number(*v)),
            Fact::Score(field) => {
                let s = s?;
                let v = match field {
                    ScoreField::Clv => s.clv,
                    ScoreField::Value => s.value,
                    ScoreField::AnnualValue => s.annual_value,
                    ScoreField::Profit => s.profit,
                    ScoreField::PAlive => s.p_alive,
                    ScoreField::Churn => s.churn?,
                    ScoreField::ExpectedTransactions => s.expected_transactions,
                };
                Some(Value::Number(v))
            }
            Fact::History(field) => match field {
                HistoryField::DaysSinceComplaint => days(h.days_since_complaint),
                HistoryField::DaysSinceUnresolvedComplaint => {
                    days(h.days_since_unresolved_complaint)
                }
                HistoryField::DaysSinceDisruption => days(h.days_since_disruption),
                HistoryField::DaysSinceLongDelay => days(h.days_since_long_delay),
                HistoryField::DaysSinceContact => days(h.days_since_contact),
                HistoryField::UnresolvedComplaints => {
                    Some(Value::Number(f64::from(h.unresolved_complaints)))
                }
                HistoryField::Complaints12m => Some(Value::Number(f64::from(h.complaints_12m))),
                HistoryField::Disruptions30d => Some(Value::Number(f64::from(h.disruptions_30d))),
                HistoryField::Compensation12m => Some(Value::Number(h.compensation_12m)),
            },
            Fact::Flag(field) => Some(Value::Bool(match field {
                FlagField::Top => s?.top,
                FlagField::Bottom => s?.bottom,
                FlagField::OpenComplaint => h.open_complaint(),
                FlagField::DisruptionToday => h.disruption_today(),
            })),
            Fact::Employer => f.employer.map(|_| Value::Bool(true)),
            Fact::Household => (!f.household.is_empty()).then_some(Value::Bool(true)),
        }
    }
}

fn lookup_name<T: PartialEq>(table: &[(&'static str, T)], f: &T) -> String {
    table
        .iter()
        .find(|(_, v)| v == f)
        .map(|(n, _)| (*n).to_string())
        .unwrap_or_default()
}

fn valid_name(s: &str, what: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{what}.` needs a name of letters, digits, `_` or `-`"
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FactKind {
    PartyKind,
    Text,
    Tier,
    Number,
    Flag,
    Presence,
}

impl Condition {
    /// Parses and checks a condition. The error says what is wrong and where in the text
    /// (the caller adds the file and line).
    pub fn parse(text: &str) -> Result<Condition, String> {
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Ok(Condition::True);
        }
        let mut p = Parser { tokens, pos: 0 };
        let c = p.or()?;
        if let Some(t) = p.tokens.get(p.pos) {
            return Err(format!(
                "unexpected {} after a complete condition",
                t.describe()
            ));
        }
        Ok(c)
    }

    /// Whether the condition holds for the customer.
    pub fn eval(&self, f: &CustomerFacts) -> bool {
        match self {
            Condition::True => true,
            Condition::False => false,
            Condition::And(cs) => cs.iter().all(|c| c.eval(f)),
            Condition::Or(cs) => cs.iter().any(|c| c.eval(f)),
            Condition::Not(c) => !c.eval(f),
            Condition::Has(fact) => fact.value(f).is_some(),
            Condition::Compare { fact, op, values } => {
                let Some(have) = fact.value(f) else {
                    return false;
                };
                match op {
                    Op::In => values.iter().any(|v| equal(&have, v)),
                    Op::Eq => values.first().is_some_and(|v| equal(&have, v)),
                    Op::Ne => values.first().is_some_and(|v| !equal(&have, v)),
                    Op::Lt | Op::Le | Op::Gt | Op::Ge => match (&have, values.first()) {
                        (Value::Number(a), Some(Value::Number(b))) => match op {
                            Op::Lt => a < b,
                            Op::Le => a <= b,
                            Op::Gt => a > b,
                            _ => a >= b,
                        },
                        _ => false,
                    },
                }
            }
        }
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => x.eq_ignore_ascii_case(y),
        (Value::Number(x), Value::Number(y)) => x == y,
        _ => a == b,
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, cs: &[Condition], word: &str| {
            for (i, c) in cs.iter().enumerate() {
                if i > 0 {
                    write!(f, " {word} ")?;
                }
                match c {
                    Condition::And(_) | Condition::Or(_) => write!(f, "({c})")?,
                    _ => write!(f, "{c}")?,
                }
            }
            Ok(())
        };
        match self {
            Condition::True => f.write_str("true"),
            Condition::False => f.write_str("false"),
            Condition::And(cs) => join(f, cs, "and"),
            Condition::Or(cs) => join(f, cs, "or"),
            Condition::Not(c) => match **c {
                Condition::And(_) | Condition::Or(_) => write!(f, "not ({c})"),
                _ => write!(f, "not {c}"),
            },
            Condition::Has(fact) => write!(f, "has {}", fact.name()),
            Condition::Compare { fact, op, values } => {
                let op = match op {
                    Op::Eq => "=",
                    Op::Ne => "!=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::In => "in",
                };
                write!(f, "{} {op} ", fact.name())?;
                if values.len() == 1 && op != "in" {
                    write!(f, "{}", values[0])
                } else {
                    f.write_str("[")?;
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{v}")?;
                    }
                    f.write_str("]")
                }
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Text(t) if is_word(t) => f.write_str(t),
            Value::Text(t) => write!(f, "\"{}\"", t.replace('"', "")),
            Value::Tier(t) => write!(f, "{t}"),
            Value::Kind(k) => write!(f, "{k}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

fn is_word(t: &str) -> bool {
    !t.is_empty()
        && !matches!(t, "and" | "or" | "not" | "in" | "has" | "true" | "false")
        && t.chars().next().is_some_and(|c| !c.is_ascii_digit())
        && t.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Number(f64),
    Quoted(String),
    Op(Op),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("`{w}`"),
            Token::Number(n) => format!("`{n}`"),
            Token::Quoted(q) => format!("\"{q}\""),
            Token::Op(_) => "an operator".into(),
            Token::LParen => "`(`".into(),
            Token::RParen => "`)`".into(),
            Token::LBracket => "`[`".into(),
            Token::RBracket => "`]`".into(),
            Token::Comma => "`,`".into(),
        }
    }
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => (out.push(Token::LParen), i += 1).1,
            ')' => (out.push(Token::RParen), i += 1).1,
            '[' => (out.push(Token::LBracket), i += 1).1,
            ']' => (out.push(Token::RBracket), i += 1).1,
            ',' => (out.push(Token::Comma), i += 1).1,
            '=' => {
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                out.push(Token::Op(Op::Eq));
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                out.push(Token::Op(Op::Ne));
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                out.push(Token::Op(match (c, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                }));
                i += if eq { 2 } else { 1 };
            }
            '"' | '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .ok_or_else(|| format!("unclosed quote starting at column {}", i + 1))?;
                out.push(Token::Quoted(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                let n: f64 = s
                    .parse()
                    .map_err(|_| format!("`{s}` at column {} is not a number", start + 1))?;
                out.push(Token::Number(n));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '.'))
                {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => {
                return Err(format!(
                    "unexpected character {:?} at column {}",
                    other,
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::And(parts)
        })
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.keyword("not") {
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Condition, String> {
        match self.next() {
            None => Err("the condition ends too early".into()),
            Some(Token::LParen) => {
                let c = self.or()?;
                match self.next() {
                    Some(Token::RParen) => Ok(c),
                    Some(t) => Err(format!("expected `)`, found {}", t.describe())),
                    None => Err("missing `)`".into()),
                }
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Condition::True),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Condition::False),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("has") => match self.next() {
                Some(Token::Word(name)) => Ok(Condition::Has(Fact::parse(&name)?)),
                Some(t) => Err(format!("`has` needs a fact, found {}", t.describe())),
                None => Err("`has` needs a fact".into()),
            },
            Some(Token::Word(name)) => {
                let fact = Fact::parse(&name)?;
                self.comparison(fact)
            }
            Some(t) => Err(format!("expected a fact, found {}", t.describe())),
        }
    }

    fn comparison(&mut self, fact: Fact) -> Result<Condition, String> {
        let kind = fact.kind();
        let op = match self.peek() {
            Some(Token::Op(op)) => {
                let op = *op;
                self.pos += 1;
                op
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => {
                self.pos += 1;
                Op::In
            }
            _ if kind == FactKind::Flag => {
                // A yes/no fact alone means `= true`.
                return Ok(Condition::Compare {
                    fact,
                    op: Op::Eq,
                    values: vec![Value::Bool(true)],
                });
            }
            _ if kind == FactKind::Presence => {
                return Err(format!(
                    "`{}` can only be tested with `has {}`",
                    fact.name(),
                    fact.name()
                ));
            }
            Some(t) => {
                return Err(format!(
                    "expected an operator after `{}`, found {}",
                    fact.name(),
                    t.describe()
                ));
            }
            None => return Err(format!("expected an operator after `{}`", fact.name())),
        };
        if kind == FactKind::Presence {
            return Err(format!(
                "`{}` can only be tested with `has {}`",
                fact.name(),
                fact.name()
            ));
        }
        let ordered = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
        if ordered && kind != FactKind::Number {
            return Err(format!(
                "`{}` is not a number: compare it with =, != or in",
                fact.name()
            ));
        }
        let values = if op == Op::In {
            match self.next() {
                Some(Token::LBracket) => {}
                Some(t) => {
                    return Err(format!("`in` needs a list `[...]`, found {}", t.describe()));
                }
                None => return Err("`in` needs a list `[...]`".into()),
            }
            let mut values = Vec::new();
            loop {
                match self.peek() {
                    Some(Token::RBracket) if !values.is_empty() => {
                        self.pos += 1;
                        break;
                    }
                    _ => {}
                }
                values.push(self.value(&fact, kind)?);
                match self.next() {
                    Some(Token::Comma) => {}
                    Some(Token::RBracket) => break,
                    Some(t) => return Err(format!("expected `,` or `]`, found {}", t.describe())),
                    None => return Err("missing `]`".into()),
                }
            }
            values
        } else {
            vec![self.value(&fact, kind)?]
        };
        Ok(Condition::Compare { fact, op, values })
    }

    fn value(&mut self, fact: &Fact, kind: FactKind) -> Result<Value, String> {
        let name = fact.name();
        let t = self
            .next()
            .ok_or_else(|| format!("`{name}` needs a value to compare with"))?;
        let word = match &t {
            Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
            _ => None,
        };
        match kind {
            FactKind::Number => match t {
                Token::Number(n) => Ok(Value::Number(n)),
                other => Err(format!("`{name}` is a number, found {}", other.describe())),
            },
            FactKind::Tier => word
                .and_then(|w| w.parse::<Tier>().ok())
                .map(Value::Tier)
                .ok_or_else(|| format!("`tier` takes A, B, C or D, found {}", t.describe())),
            FactKind::PartyKind => word
                .and_then(|w| w.parse::<PartyKind>().ok())
                .map(Value::Kind)
                .ok_or_else(|| {
                    format!(
                        "`kind` takes person, organisation or intermediary, found {}",
                        t.describe()
                    )
                }),
            FactKind::Flag => match word.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("true" | "yes") => Ok(Value::Bool(true)),
                Some("false" | "no") => Ok(Value::Bool(false)),
                _ => Err(format!(
                    "`{name}` takes true or false, found {}",
                    t.describe()
                )),
            },
            FactKind::Text => match t {
                Token::Word(w) | Token::Quoted(w) => Ok(Value::Text(w)),
                Token::Number(n) => Ok(Value::Text(n.to_string())),
                other => Err(format!("`{name}` takes a word, found {}", other.describe())),
            },
            FactKind::Presence => Err(format!("`{name}` can only be tested with `has {name}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rapport_core::CustomerId;

    use super::*;
    use crate::facts::{HistoryFacts, ScoreFacts};

    fn facts() -> CustomerFacts {
        let mut f = CustomerFacts::new(CustomerId(7), PartyKind::Person);
        f.country = Some("GB".into());
        f.scores = Some(ScoreFacts {
            tier: Tier::B,
            segment: "standard".into(),
            value: 900.0,
            annual_value: 1000.0,
            profit: 300.0,
            clv: 2500.0,
            p_alive: 0.8,
            churn: None,
            expected_transactions: 3.0,
            top: false,
            bottom: false,
            propensity: BTreeMap::from([("hotel".to_string(), 0.31)]),
        });
        f.history = HistoryFacts {
            days_since_unresolved_complaint: Some(3),
            unresolved_complaints: 1,
            ..HistoryFacts::default()
        };
        f
    }

    fn check(text: &str, expected: bool) {
        let c = Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.eval(&facts()), expected, "{text} (parsed as {c})");
        let again = Condition::parse(&c.to_string()).unwrap();
        assert_eq!(again, c, "round trip of {text}");
    }

    #[test]
    fn conditions_evaluate_over_facts() {
        check("tier in [A, B]", true);
        check("tier = A", false);
        check("country = gb and clv >= 2500", true);
        check("propensity.hotel > 0.3 and not segment = premium", true);
        check("propensity.car > 0.0", false);
        check("propensity.car <= 0.0", false);
        check("not has propensity.car", true);
        check(
            "days_since_unresolved_complaint < 7 or days_since_long_delay < 7",
            true,
        );
        check("days_since_long_delay >= 0", false);
        check("open_complaint and not disruption_today", true);
        check("open_complaint = false", false);
        check("churn < 0.5", false);
        check("kind = person and (tier = C or city = \"London\")", false);
        check("has employer or has household", false);
        check("", true);
        check("kind in [organisation, intermediary]", false);
    }

    #[test]
    fn mistakes_are_named() {
        let err = |t: &str| Condition::parse(t).unwrap_err();
        assert!(err("tierr = A").contains("unknown fact `tierr`"));
        assert!(err("tier = E").contains("tier` takes A, B, C or D"));
        assert!(err("segment > 3").contains("not a number"));
        assert!(err("clv >= high").contains("`clv` is a number"));
        assert!(err("tier in [A, B").contains("missing `]`"));
        assert!(err("(tier = A").contains("missing `)`"));
        assert!(err("tier = A tier = B").contains("unexpected `tier`"));
        assert!(err("employer = 3").contains("has employer"));
        assert!(err("clv >= 1 and").contains("ends too early"));
        assert!(err("city = 'Paris").contains("unclosed quote"));
        assert!(err("clv ~ 3").contains("unexpected character '~'"));
    }
}
