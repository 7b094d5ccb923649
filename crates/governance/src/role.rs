use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An operator's role. What each role may do is the permission matrix in `docs/security.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Gate agent, call-center rep, branch banker, hotel desk.
    FrontLine,
    /// Owns one portfolio of customers.
    CustomerManager,
    /// Runs scoring and models; sees masked personal data.
    Analyst,
    /// Information steward: sources, quarantine, merges.
    Steward,
    /// Reads the stage assessment and metrics.
    Executive,
    /// Operators, backups, audit.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::FrontLine,
        Role::CustomerManager,
        Role::Analyst,
        Role::Steward,
        Role::Executive,
        Role::Admin,
    ];

    /// The kebab-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::FrontLine => "front-line",
            Role::CustomerManager => "customer-manager",
            Role::Analyst => "analyst",
            Role::Steward => "steward",
            Role::Executive => "executive",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?} (expected one of: front-line, customer-manager, analyst, steward, executive, admin)"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == t)
            .ok_or_else(|| UnknownRole(s.chars().take(40).collect()))
    }
}
