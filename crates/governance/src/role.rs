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
    /// Heads the customer department: steers portfolios by lifetime value and customer equity.
    ChiefCustomerOfficer,
    /// Product (capability) manager: defines offers and their default rules.
    CapabilityManager,
    /// Operators, backups, audit.
    Admin,
}

impl Role {
    /// Every role with a column in the permission matrix, in column order.
    pub const ALL: [Role; 8] = Role::EVERY;

    /// Every role, the customer department's (#18) included, in the permission matrix's
    /// column order.
    pub const EVERY: [Role; 8] = [
        Role::FrontLine,
        Role::CustomerManager,
        Role::Analyst,
        Role::Steward,
        Role::Executive,
        Role::ChiefCustomerOfficer,
        Role::CapabilityManager,
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
            Role::ChiefCustomerOfficer => "chief-customer-officer",
            Role::CapabilityManager => "capability-manager",
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
    "unknown role {0:?} (expected one of: front-line, customer-manager, analyst, steward, executive, chief-customer-officer, capability-manager, admin)"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        Role::EVERY
            .into_iter()
            .find(|r| r.as_str() == t)
            .ok_or_else(|| UnknownRole(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_parses_from_its_name() {
        for r in Role::EVERY {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!(
            "Chief_Customer_Officer".parse::<Role>(),
            Ok(Role::ChiefCustomerOfficer)
        );
        assert_eq!(
            "capability-manager".parse::<Role>(),
            Ok(Role::CapabilityManager)
        );
        let err = "product-owner".parse::<Role>().unwrap_err().to_string();
        assert!(err.contains("capability-manager"), "{err}");
    }
}
