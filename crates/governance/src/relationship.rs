//! The three relationship-governance files loaded together: the portfolios with their
//! assignment rules, the offer catalogue with the capability managers' defaults, and the
//! customer managers' offer rules (checked against the other two).

use rapport_core::{CustomerId, Date, ExchangeRates};
use serde::{Deserialize, Serialize};

use crate::config::ConfigErrors;
use crate::facts::CustomerFacts;
use crate::offer::{Catalogue, Explanation, NextBestAction, RuleBook, explain, next_best_action};
use crate::portfolio::PortfolioBook;

/// One governance file: the name to give in errors and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceText {
    /// The file name as the user knows it (`config/rules.toml`).
    pub file: String,
    /// Its contents.
    pub text: String,
}

/// Portfolios, offers and rules, checked together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationshipConfig {
    /// Portfolios and assignment rules.
    pub portfolios: PortfolioBook,
    /// The offer catalogue with its default rules.
    pub catalogue: Catalogue,
    /// The customer managers' rules.
    pub rules: RuleBook,
}

/// Why a decision could not be made for a customer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    /// The customer's portfolio is not (or no longer) defined.
    #[error(
        "customer {customer} is in portfolio `{portfolio}`, which the portfolio file no longer defines: assign again"
    )]
    UnknownPortfolio {
        /// The customer.
        customer: CustomerId,
        /// The portfolio it is in.
        portfolio: String,
    },
}

impl RelationshipConfig {
    /// Parses the three files; every mistake of every file is reported (the rules are
    /// checked against the other two only when those load).
    pub fn parse(
        portfolios: &SourceText,
        offers: &SourceText,
        rules: &SourceText,
    ) -> Result<RelationshipConfig, ConfigErrors> {
        let book = PortfolioBook::parse(&portfolios.file, &portfolios.text);
        let catalogue = Catalogue::parse(&offers.file, &offers.text);
        match (book, catalogue) {
            (Ok(book), Ok(catalogue)) => {
                let rules = RuleBook::parse(&rules.file, &rules.text, &book, &catalogue)?;
                Ok(RelationshipConfig {
                    portfolios: book,
                    catalogue,
                    rules,
                })
            }
            (book, catalogue) => {
                let mut errors = Vec::new();
                if let Err(e) = book {
                    errors.extend(e.0);
                }
                if let Err(e) = catalogue {
                    errors.extend(e.0);
                }
                Err(ConfigErrors(errors))
            }
        }
    }

    /// Every offer's outcome for a customer of `portfolio` on `today`.
    pub fn explain(
        &self,
        portfolio: &str,
        facts: &CustomerFacts,
        today: Date,
    ) -> Result<Explanation, DecideError> {
        let p =
            self.portfolios
                .portfolio(portfolio)
                .ok_or_else(|| DecideError::UnknownPortfolio {
                    customer: facts.id,
                    portfolio: portfolio.to_string(),
                })?;
        Ok(explain(&self.catalogue, &self.rules, p, facts, today))
    }

    /// The explanation and the next best action after it.
    pub fn next_best_action(
        &self,
        portfolio: &str,
        facts: &CustomerFacts,
        today: Date,
        rates: &ExchangeRates,
    ) -> Result<(Explanation, NextBestAction), DecideError> {
        let e = self.explain(portfolio, facts, today)?;
        let day = today
            .to_jiff()
            .map(|d| i64::from((d - jiff::civil::date(1970, 1, 1)).get_days()))
            .unwrap_or(0);
        let nba = next_best_action(&self.catalogue, &e, facts, rates, day);
        Ok((e, nba))
    }
}
