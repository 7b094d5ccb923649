use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, parse_err};

/// A resolved customer. Compact (a `u64`), sortable (ids are handed out in increasing order)
/// and printable as `C` followed by at least eight digits, e.g. `C00000042`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub u64);

/// One interaction, unique across the store; printable as `I` followed by at least ten digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InteractionId(pub u64);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "C{:08}", self.0)
    }
}

impl FromStr for CustomerId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let digits = s
            .strip_prefix('C')
            .or_else(|| s.strip_prefix('c'))
            .unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(parse_err("customer id", s));
        }
        digits
            .parse()
            .map(CustomerId)
            .map_err(|_| parse_err("customer id", s))
    }
}

impl fmt::Display for InteractionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I{:010}", self.0)
    }
}

impl FromStr for InteractionId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let digits = s.strip_prefix('I').unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(parse_err("interaction id", s));
        }
        digits
            .parse()
            .map(InteractionId)
            .map_err(|_| parse_err("interaction id", s))
    }
}

/// Where a fact came from: a source system and that system's own key for the record,
/// e.g. `loyalty` / `M123456`. Printed as `source:key`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourceRef {
    /// The source system's name as declared in its mapping (e.g. `reservations`).
    pub source: String,
    /// The record's natural key in that source.
    pub key: String,
}

impl SourceRef {
    /// A reference to `key` in `source`.
    pub fn new(source: impl Into<String>, key: impl Into<String>) -> Self {
        SourceRef {
            source: source.into(),
            key: key.into(),
        }
    }
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.key)
    }
}

impl FromStr for SourceRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.split_once(':') {
            Some((source, key)) if !source.is_empty() && !key.is_empty() => {
                Ok(SourceRef::new(source, key))
            }
            _ => Err(parse_err("source reference", s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_id_round_trips_and_sorts() {
        let a = CustomerId(7);
        let b = CustomerId(1_000);
        assert_eq!(a.to_string(), "C00000007");
        assert_eq!("C00000007".parse::<CustomerId>().unwrap(), a);
        assert_eq!("1000".parse::<CustomerId>().unwrap(), b);
        assert!(a.to_string() < b.to_string());
        assert!("C12x".parse::<CustomerId>().is_err());
        assert!("C".parse::<CustomerId>().is_err());
    }

    #[test]
    fn source_ref_parses() {
        let r: SourceRef = "loyalty:M1:2".parse().unwrap();
        assert_eq!(r, SourceRef::new("loyalty", "M1:2"));
        assert!("nokey:".parse::<SourceRef>().is_err());
    }
}
