//! Freedom within guidelines: how much compensation each role may grant without approval.
//! Above its limit, a grant goes to a supervisor (a role with a higher limit).

use rapport_core::{Currency, Money};
use serde::{Deserialize, Serialize};

use crate::Role;

/// Approval limits per role, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalLimits {
    /// The currency of the limits; grants in another currency always need approval.
    pub currency: Currency,
    /// Limit per role in minor units (`None`: unlimited); roles not listed may grant nothing.
    pub limits: Vec<(Role, Option<i64>)>,
}

impl ApprovalLimits {
    /// Front line up to 500 EUR, customer managers up to 2,000 EUR, admins unlimited.
    pub fn standard() -> ApprovalLimits {
        ApprovalLimits {
            currency: Currency::EUR,
            limits: vec![
                (Role::FrontLine, Some(50_000)),
                (Role::CustomerManager, Some(200_000)),
                (Role::Admin, None),
            ],
        }
    }

    /// Whether `role` may grant `amount` without a supervisor's approval.
    pub fn within(&self, role: Role, amount: Money) -> bool {
        match self.limits.iter().find(|(r, _)| *r == role) {
            Some((_, None)) => true,
            Some((_, Some(limit))) => amount.currency == self.currency && amount.minor <= *limit,
            None => false,
        }
    }
}

impl Default for ApprovalLimits {
    fn default() -> Self {
        ApprovalLimits::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_line_acts_alone_up_to_its_limit() {
        let l = ApprovalLimits::standard();
        let eur = |m| Money::new(m, Currency::EUR);
        assert!(l.within(Role::FrontLine, eur(50_000)));
        assert!(!l.within(Role::FrontLine, eur(50_001)));
        assert!(!l.within(Role::FrontLine, Money::new(100, Currency::USD)));
        assert!(l.within(Role::CustomerManager, eur(200_000)));
        assert!(l.within(Role::Admin, eur(i64::MAX)));
        assert!(!l.within(Role::Analyst, eur(1)));
    }
}
