//! Session tokens that expire, and failed-login rate limiting. Pure state: the caller passes
//! the time and the random bytes, so the rules are testable without clocks.

use std::collections::HashMap;
use std::fmt;

use rapport_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Role;

/// A session token: 32 random bytes, shown as 64 hex digits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionToken(pub String);

impl SessionToken {
    /// A token from 32 random bytes (the caller supplies them from a secure RNG).
    pub fn from_random(bytes: [u8; 32]) -> SessionToken {
        SessionToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never log a whole token.
        write!(f, "SessionToken({}…)", self.0.get(..6).unwrap_or(""))
    }
}

/// A logged-in operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The token the client presents.
    pub token: SessionToken,
    /// The operator.
    pub operator: String,
    /// The operator's role at login.
    pub role: Role,
    /// Issued at.
    pub issued: Timestamp,
    /// Expires at.
    pub expires: Timestamp,
}

impl Session {
    /// A session of `ttl_ms` from `now`.
    pub fn new(
        token: SessionToken,
        operator: &str,
        role: Role,
        now: Timestamp,
        ttl_ms: i64,
    ) -> Session {
        Session {
            token,
            operator: operator.to_string(),
            role,
            issued: now,
            expires: now.plus_millis(ttl_ms),
        }
    }

    /// Whether the session has expired at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.expires
    }
}

/// Failed-login rate limiting: after `max_failures` failures for one key (an operator name or
/// a peer address) within `window_ms`, the key is locked for `lockout_ms`.
#[derive(Debug, Clone)]
pub struct LoginLimiter {
    /// Failures allowed in the window.
    pub max_failures: u32,
    /// The window.
    pub window_ms: i64,
    /// How long a key stays locked.
    pub lockout_ms: i64,
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    first: Timestamp,
    failures: u32,
    locked_until: Option<Timestamp>,
    /// Attempts refused while locked (for one log line per burst).
    refused: u32,
}

impl LoginLimiter {
    /// Five failures a minute, then locked for a minute.
    pub fn standard() -> LoginLimiter {
        LoginLimiter::new(5, 60_000, 60_000)
    }

    /// A limiter with these settings.
    pub fn new(max_failures: u32, window_ms: i64, lockout_ms: i64) -> LoginLimiter {
        LoginLimiter {
            max_failures,
            window_ms,
            lockout_ms,
            entries: HashMap::new(),
        }
    }

    /// `Err(retry_after_ms)` while `key` is locked.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), i64> {
        match self.entries.get(key).and_then(|e| e.locked_until) {
            Some(until) if now < until => Err(until.as_millis() - now.as_millis()),
            _ => Ok(()),
        }
    }

    /// Records a failed login for `key`; returns true when this failure locks it.
    pub fn failure(&mut self, key: &str, now: Timestamp) -> bool {
        if self.entries.len() > 100_000 {
            // Bounded memory under a spray of names: forget entries that no longer matter.
            let (window, lockout) = (self.window_ms, self.lockout_ms);
            self.entries.retain(|_, e| {
                e.locked_until.is_some_and(|u| now < u)
                    || now.as_millis() - e.first.as_millis() < window.max(lockout)
            });
        }
        let e = self.entries.entry(key.to_string()).or_insert(Entry {
            first: now,
            failures: 0,
            locked_until: None,
            refused: 0,
        });
        if now.as_millis() - e.first.as_millis() >= self.window_ms
            || e.locked_until.is_some_and(|u| now >= u)
        {
            *e = Entry {
                first: now,
                failures: 0,
                locked_until: None,
                refused: 0,
            };
        }
        e.failures += 1;
        if e.failures >= self.max_failures {
            e.locked_until = Some(now.plus_millis(self.lockout_ms));
            true
        } else {
            false
        }
    }

    /// Failures of `key` in its current window (after [`LoginLimiter::failure`]: 1 for the
    /// first of a burst, which is worth a log line; later ones are counted, not logged).
    pub fn failures(&self, key: &str) -> u32 {
        self.entries.get(key).map_or(0, |e| e.failures)
    }

    /// Counts an attempt refused because `key` is locked; returns how many were refused
    /// since it was locked (log the first and every thousandth, not each one).
    pub fn refused(&mut self, key: &str) -> u32 {
        match self.entries.get_mut(key) {
            Some(e) => {
                e.refused += 1;
                e.refused
            }
            None => 0,
        }
    }

    /// Forgets failures of `key` after a successful login.
    pub fn success(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire() {
        let t = Timestamp::from_secs(100);
        let s = Session::new(
            SessionToken::from_random([7; 32]),
            "a",
            Role::Admin,
            t,
            1000,
        );
        assert_eq!(s.token.0.len(), 64);
        assert!(!s.expired(t.plus_millis(999)));
        assert!(s.expired(t.plus_millis(1000)));
        assert!(!format!("{:?}", s.token).contains(&s.token.0));
    }

    #[test]
    fn locks_after_repeated_failures_then_recovers() {
        let mut l = LoginLimiter::new(3, 10_000, 5_000);
        let t = Timestamp::from_secs(1000);
        assert!(!l.failure("eve", t));
        assert!(!l.failure("eve", t.plus_millis(1)));
        assert!(l.check("eve", t).is_ok());
        assert!(l.failure("eve", t.plus_millis(2)));
        assert_eq!(l.check("eve", t.plus_millis(2)), Err(5_000));
        assert!(l.check("bob", t).is_ok());
        assert!(l.check("eve", t.plus_millis(5_002)).is_ok());
        // Failures outside the window start a new count.
        let mut l = LoginLimiter::new(2, 1_000, 1_000);
        assert!(!l.failure("x", t));
        assert!(!l.failure("x", t.plus_millis(1_500)));
        l.success("x");
        assert!(!l.failure("x", t.plus_millis(1_600)));
        assert_eq!(l.failures("x"), 1);
        assert_eq!(l.refused("x"), 1);
        assert_eq!(l.refused("x"), 2);
        assert_eq!(l.refused("nobody"), 0);
    }
}
