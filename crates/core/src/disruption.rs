//! Disruptions as records: a canonical identity ([`DisruptionId`]) that every typed shape of a
//! reference is normalised to before any comparison, and the facts of one disruption
//! ([`Disruption`]): what happened, to whom, and where the record came from.
//!
//! ```
//! use rapport_core::DisruptionId;
//! let a: DisruptionId = "RP121/2026-11-23".parse().unwrap();
//! for typed in ["rp 121 / 23.11.2026", "RP0121 2026-11-23", "rp121/23NOV26", " RP121-20261123 "] {
//!     assert_eq!(typed.parse::<DisruptionId>().unwrap(), a);
//! }
//! assert_eq!(a.to_string(), "RP121/2026-11-23");
//! assert_eq!("bag 0582417549".parse::<DisruptionId>().unwrap().to_string(), "BAG/0582417549");
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::{CustomerId, Date, DisruptionKind, Timestamp};

/// The canonical identity of a disruption: a flight (carrier, number, scheduled local
/// departure date at the origin) or a lost bag (its tag). Two references name the same
/// disruption exactly when they parse to the same id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DisruptionId {
    /// A disrupted flight (delay, cancellation, denied boarding).
    Flight {
        /// Airline designator, two characters, upper case (`RP`).
        carrier: String,
        /// Flight number without leading zeros.
        number: u16,
        /// Scheduled departure date, local at the origin.
        date: Date,
    },
    /// A lost bag, by its tag number.
    Bag {
        /// The bag tag (digits, as printed).
        tag: String,
    },
}

/// Where a disruption record comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisruptionOrigin {
    /// Derived from source rows (airport and operations events).
    Source {
        /// The source that first reported it, e.g. `airport`.
        source: String,
    },
    /// Declared at a console or on the command line by an authorised operator.
    Declared {
        /// The operator who declared it.
        by: String,
        /// Why (what the operator knows that the sources do not say yet).
        reason: String,
        /// When.
        at: Timestamp,
    },
}

/// One customer a disruption affected, with what happened to that customer (on a delayed
/// flight everyone waited; on an overbooked one only some were denied boarding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    /// The customer (as resolved when the row was ingested: follow merges when reading).
    pub customer: CustomerId,
    /// What happened to this customer.
    pub kind: DisruptionKind,
    /// The delay this customer had, for delays.
    pub delay_minutes: Option<u32>,
    /// When it was recorded.
    pub at: Timestamp,
}

/// A disruption: its identity, its facts and the customers it affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disruption {
    /// Canonical identity.
    pub id: DisruptionId,
    /// What happened (the first event recorded; each affected customer has their own).
    pub kind: DisruptionKind,
    /// The longest delay recorded, for delays.
    pub delay_minutes: Option<u32>,
    /// The cause, when a source or the declaring operator gave one.
    pub cause: Option<String>,
    /// The flight's route, e.g. `LHR-CDG`, when known.
    pub route: Option<String>,
    /// For a lost bag: the flight it was lost on (`RP192/2026-11-02`), when known.
    pub flight: Option<String>,
    /// When it happened (the first event recorded).
    pub at: Timestamp,
    /// The customers it affected, in the order they were recorded.
    pub affected: Vec<Affected>,
    /// Source rows or an operator's declaration.
    pub origin: DisruptionOrigin,
}

impl Disruption {
    /// The entry of `customer`, if the disruption affected them.
    pub fn affected(&self, customer: CustomerId) -> Option<&Affected> {
        self.affected.iter().find(|a| a.customer == customer)
    }

    /// Adds (or updates) what happened to one customer; keeps the longest delay.
    pub fn note(&mut self, a: Affected) {
        if let Some(d) = a.delay_minutes {
            self.delay_minutes = Some(self.delay_minutes.map_or(d, |m| m.max(d)));
        }
        match self.affected.iter_mut().find(|x| x.customer == a.customer) {
            Some(x) => {
                // A cancellation or denied boarding outweighs a delay on the same flight.
                if x.kind == DisruptionKind::Delay || a.kind == x.kind {
                    x.kind = a.kind;
                    x.delay_minutes = match (x.delay_minutes, a.delay_minutes) {
                        (Some(p), Some(q)) => Some(p.max(q)),
                        (p, q) => p.or(q),
                    };
                }
            }
            None => self.affected.push(a),
        }
    }
}

impl DisruptionId {
    /// The id with its date moved by whole days (a bag tag has no date).
    pub fn shifted(&self, days: i64) -> DisruptionId {
        match self {
            DisruptionId::Flight {
                carrier,
                number,
                date,
            } if days != 0 => {
                let moved = date
                    .to_jiff()
                    .and_then(|d| d.checked_add(jiff::Span::new().days(days)).ok())
                    .and_then(|d| Date::new(d.year(), d.month() as u8, d.day() as u8))
                    .unwrap_or(*date);
                DisruptionId::Flight {
                    carrier: carrier.clone(),
                    number: *number,
                    date: moved,
                }
            }
            other => other.clone(),
        }
    }

    /// The id of a flight by its number as printed (`RP121`, `rp 0121`) and its date.
    pub fn flight(flight: &str, date: Date) -> Result<DisruptionId, Error> {
        let (carrier, number, rest) = carrier_and_number(flight).ok_or_else(|| {
            bad(
                flight,
                "a flight is a two-character airline code and a number",
            )
        })?;
        if !rest.trim().is_empty() {
            return Err(bad(
                flight,
                "a flight is a two-character airline code and a number",
            ));
        }
        Ok(DisruptionId::Flight {
            carrier,
            number,
            date,
        })
    }

    /// The flight's date, for a flight.
    pub fn date(&self) -> Option<Date> {
        match self {
            DisruptionId::Flight { date, .. } => Some(*date),
            DisruptionId::Bag { .. } => None,
        }
    }
}

impl fmt::Display for DisruptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisruptionId::Flight {
                carrier,
                number,
                date,
            } => write!(f, "{carrier}{number}/{date}"),
            DisruptionId::Bag { tag } => write!(f, "BAG/{tag}"),
        }
    }
}

fn bad(input: &str, why: &'static str) -> Error {
    Error::Reference {
        input: input.chars().take(80).collect(),
        why,
    }
}

/// `RP0121 ...` → (`RP`, 121, rest after the number).
fn carrier_and_number(s: &str) -> Option<(String, u16, &str)> {
    let s = s.trim_start();
    let mut chars = s.char_indices().filter(|(_, c)| !c.is_whitespace());
    let (_, c1) = chars.next()?;
    let (i2, c2) = chars.next()?;
    if !(c1.is_ascii_alphanumeric() && c2.is_ascii_alphanumeric())
        || !(c1.is_ascii_alphabetic() || c2.is_ascii_alphabetic())
    {
        return None;
    }
    let carrier: String = [c1, c2].iter().map(|c| c.to_ascii_uppercase()).collect();
    let rest = s[i2 + c2.len_utf8()..].trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    // At most four significant digits (leading zeros are how some systems print them).
    let zeros = rest.bytes().take_while(|b| *b == b'0').count().min(digits);
    if digits == 0 || digits - zeros > 4 || digits > 6 {
        return None;
    }
    let number: u16 = rest[..digits].parse().ok()?;
    if number == 0 {
        return None;
    }
    Some((carrier, number, &rest[digits..]))
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// A date as people type it: `2026-11-23`, `2026/11/23`, `20261123`, `23.11.2026`,
/// `23/11/2026`, `23-11-26`, `23NOV26`, `23 Nov 2026`. Numeric dates with the year last are
/// read day first; one that is valid only month first (`11/23/2026`) is read so, and one
/// valid both ways with different meanings is not one of them (day first wins, as printed on
/// European tickets).
fn parse_date(s: &str) -> Result<Date, &'static str> {
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_digit = None;
    for c in s.chars() {
        let is_digit = c.is_ascii_digit();
        if c.is_ascii_alphanumeric() {
            if prev_digit.is_some_and(|p| p != is_digit) && !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            cur.push(c.to_ascii_uppercase());
            prev_digit = Some(is_digit);
        } else if matches!(c, '-' | '/' | '.' | ' ' | '_' | ',') {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            prev_digit = None;
        } else {
            return Err("the date has characters a date does not have");
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let num = |t: &str| -> Option<i32> {
        (t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() && t.len() <= 4)
            .then(|| t.parse().ok())
            .flatten()
    };
    let year = |t: &str| -> Option<i32> {
        match t.len() {
            4 => num(t),
            2 => num(t).map(|y| 2000 + y),
            _ => None,
        }
    };
    let make = |y: i32, m: i32, d: i32| -> Option<Date> {
        Date::new(
            i16::try_from(y).ok()?,
            u8::try_from(m).ok()?,
            u8::try_from(d).ok()?,
        )
    };
    let month_name = |t: &str| {
        MONTHS
            .iter()
            .position(|m| t.starts_with(m))
            .map(|i| i as i32 + 1)
    };
    let date = match tokens.as_slice() {
        [one] if one.len() == 8 && num(&one[..4]).is_some() => {
            let (y, m, d) = (num(&one[..4]), num(&one[4..6]), num(&one[6..]));
            y.zip(m).zip(d).and_then(|((y, m), d)| make(y, m, d))
        }
        [a, b, c] if a.len() == 4 => num(a)
            .zip(num(b))
            .zip(num(c))
            .and_then(|((y, m), d)| make(y, m, d)),
        [d, m, y] if month_name(m).is_some() => num(d)
            .zip(month_name(m))
            .zip(year(y))
            .and_then(|((d, m), y)| make(y, m, d)),
        [a, b, c] => match (num(a), num(b), year(c)) {
            (Some(a), Some(b), Some(y)) => make(y, b, a).or_else(|| make(y, a, b)),
            _ => None,
        },
        [] => return Err("the date is missing"),
        _ => None,
    };
    date.ok_or("the date is not a date (e.g. 2026-11-23 or 23.11.2026)")
}

impl FromStr for DisruptionId {
    type Err = Error;
    /// Any shape people type: case, spaces, leading zeros and date forms do not matter.
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        if t.is_empty() {
            return Err(bad(s, "the reference is empty"));
        }
        if t.chars().count() > 100 {
            return Err(bad(s, "the reference is longer than 100 characters"));
        }
        let upper = t.to_ascii_uppercase();
        // A bag: `BAG/0582417549`, `bag 0582417549`, or the bare ten-digit tag.
        let bag = upper.strip_prefix("BAG").map(|r| {
            r.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '/' | '-' | ':'))
        });
        let bare = (t.len() == 10 && t.bytes().all(|b| b.is_ascii_digit())).then_some(t);
        if let Some(tag) = bag.or(bare) {
            let tag: String = tag.chars().filter(|c| !c.is_whitespace()).collect();
            if tag.len() < 6 || tag.len() > 12 || !tag.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(s, "a bag tag is 6 to 12 digits"));
            }
            return Ok(DisruptionId::Bag { tag });
        }
        let (carrier, number, rest) = carrier_and_number(t).ok_or_else(|| {
            bad(
                s,
                "a disruption is a flight and its date (RP121/2026-11-23) or a bag tag (BAG/0582417549)",
            )
        })?;
        let rest = rest.trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, '/' | '-' | '_' | ',' | '@' | ':')
        });
        let date = parse_date(rest).map_err(|why| bad(s, why))?;
        Ok(DisruptionId::Flight {
            carrier,
            number,
            date,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<&str>) {
        let got = input.parse::<DisruptionId>().map(|d| d.to_string());
        match expected {
            Some(e) => assert_eq!(got.as_deref(), Ok(e), "{input:?}"),
            None => assert!(got.is_err(), "{input:?} parsed as {got:?}"),
        }
    }

    #[test]
    fn every_shape_of_a_reference_is_one_id() {
        let id = Some("RP121/2026-11-23");
        for s in [
            "RP121/2026-11-23",
            "rp121/2026-11-23",
            "  RP121 / 2026-11-23 ",
            "rp 121 / 23.11.2026",
            "RP0121 2026-11-23",
            "RP121-20261123",
            "RP121/23/11/2026",
            "RP121 23-11-26",
            "rp121/23NOV26",
            "RP 121 23 Nov 2026",
            "RP121/2026/11/23",
            "RP121/11/23/2026",
            "RP00121 2026-11-23",
        ] {
            check(s, id);
        }
        check("U2 17/2026-03-01", Some("U217/2026-03-01"));
        check("bag 0582417549", Some("BAG/0582417549"));
        check("BAG/0582417549", Some("BAG/0582417549"));
        check("0582417549", Some("BAG/0582417549"));
    }

    #[test]
    fn made_up_references_are_refused() {
        for s in [
            "",
            "whatever",
            "RP121",
            "RP121/2026-02-30",
            "RP121/yesterday",
            "RP/2026-11-23",
            "12/2026-11-23",
            "RP121/2026-11-23\u{1b}[2J",
            "bag 12",
        ] {
            check(s, None);
        }
    }

    #[test]
    fn shifting_moves_the_date_only() {
        let id: DisruptionId = "RP121/2026-11-23".parse().unwrap();
        assert_eq!(id.shifted(13).to_string(), "RP121/2026-12-06");
        assert_eq!(id.shifted(-23).to_string(), "RP121/2026-10-31");
        let bag: DisruptionId = "BAG/0582417549".parse().unwrap();
        assert_eq!(bag.shifted(5), bag);
    }

    #[test]
    fn a_cancellation_outweighs_a_delay_for_the_same_customer() {
        let mut d = Disruption {
            id: "RP1/2026-01-01".parse().unwrap(),
            kind: DisruptionKind::Delay,
            delay_minutes: None,
            cause: None,
            route: None,
            flight: None,
            at: Timestamp(0),
            affected: vec![],
            origin: DisruptionOrigin::Source {
                source: "airport".into(),
            },
        };
        let a = |kind, delay| Affected {
            customer: CustomerId(7),
            kind,
            delay_minutes: delay,
            at: Timestamp(0),
        };
        d.note(a(DisruptionKind::Delay, Some(200)));
        d.note(a(DisruptionKind::Cancellation, None));
        d.note(a(DisruptionKind::Delay, Some(300)));
        assert_eq!(d.affected.len(), 1);
        assert_eq!(d.affected[0].kind, DisruptionKind::Cancellation);
        assert_eq!(d.delay_minutes, Some(300));
    }
}
