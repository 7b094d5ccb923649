use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant in UTC with millisecond precision, stored as milliseconds since the Unix epoch.
///
/// Compact in binary formats (an `i64`) and readable in JSON (RFC 3339, e.g.
/// `2026-11-22T14:05:00Z`). Convert to [`jiff::Timestamp`] for calendar work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// Now, from the system clock.
    pub fn now() -> Timestamp {
        Timestamp::from_jiff(jiff::Timestamp::now())
    }

    /// From milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// From seconds since the epoch.
    pub fn from_secs(s: i64) -> Timestamp {
        Timestamp(s.saturating_mul(1000))
    }

    /// From a jiff timestamp (sub-millisecond precision is dropped).
    pub fn from_jiff(t: jiff::Timestamp) -> Timestamp {
        Timestamp(t.as_millisecond())
    }

    /// As a jiff timestamp; out-of-range values clamp to jiff's range.
    pub fn to_jiff(self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.0).unwrap_or(if self.0 < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        })
    }

    /// Parses RFC 3339 (`2026-11-22T14:05:00Z`, offsets allowed).
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        s.parse::<jiff::Timestamp>().ok().map(Timestamp::from_jiff)
    }

    /// The instant `ms` milliseconds later (saturating).
    pub fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Whole hours from `earlier` to `self` (negative when `earlier` is later).
    pub fn hours_since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0) / 3_600_000
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.to_jiff();
        if self.0 % 1000 == 0 {
            write!(f, "{}", t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        } else {
            write!(f, "{}", t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            Timestamp::parse_rfc3339(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {s:?}")))
        } else {
            i64::deserialize(d).map(Timestamp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_and_parses_rfc3339() {
        let t = Timestamp::parse_rfc3339("2026-11-22T14:05:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-22T14:05:00Z");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-22T14:05:00Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }
}

/// Where "now" comes from: the system clock, a fixed instant (tests and snapshots), or an
/// instant a test moves by hand.
///
/// Everything that stamps or compares with "now" (the service's engine, the console, the
/// record's recency cues) takes a `Clock` instead of reading the system clock, so tests run
/// the real engine at a fixed time.
///
/// ```
/// use rapport_core::{Clock, Timestamp};
/// let t = Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap();
/// assert_eq!(Clock::Fixed(t).now(), t);
/// let manual = Clock::manual(t);
/// manual.advance_millis(60_000);
/// assert_eq!(manual.now(), t.plus_millis(60_000));
/// ```
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Always this instant.
    Fixed(Timestamp),
    /// An instant shared by its clones and moved with [`Clock::advance_millis`].
    Manual(std::sync::Arc<std::sync::atomic::AtomicI64>),
}

impl Clock {
    /// A clock at `at` that a test moves by hand (its clones move with it).
    pub fn manual(at: Timestamp) -> Clock {
        Clock::Manual(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
            at.as_millis(),
        )))
    }

    /// Now, by this clock.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(t) => *t,
            Clock::Manual(ms) => Timestamp(ms.load(std::sync::atomic::Ordering::Relaxed)),
        }
    }

    /// Moves a manual clock forward (or back, with a negative amount); other clocks ignore it.
    pub fn advance_millis(&self, ms: i64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl PartialEq for Clock {
    fn eq(&self, other: &Clock) -> bool {
        match (self, other) {
            (Clock::System, Clock::System) => true,
            (Clock::Fixed(a), Clock::Fixed(b)) => a == b,
            (Clock::Manual(a), Clock::Manual(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}
