//! The permission matrix: every request type the service accepts, by every role.
//!
//! One table ([`MATRIX`]), documented in `docs/security.md`. The service looks every request up
//! here before doing anything, on the side that owns the store; the console hiding a button is
//! not security.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Role;

/// Every request type the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Find customers by name, phone, e-mail, loyalty number or source key.
    Search,
    /// Open a unified customer record.
    OpenRecord,
    /// Page through a customer's interactions.
    ReadInteractions,
    /// Log an interaction (a note, a complaint, an inquiry...).
    LogInteraction,
    /// Record a preference the customer stated.
    RecordPreference,
    /// Read what the compensation policy entitles a customer to.
    ReadEntitlement,
    /// Grant compensation for a disruption.
    GrantCompensation,
    /// Read the tier distribution, value skew and data-quality counts.
    ReadOverview,
    /// Read a working list (complainers, halved, lost...).
    ReadList,
    /// Receive live changes.
    Subscribe,
    /// List operators.
    ListOperators,
    /// Add an operator.
    AddOperator,
    /// Change one's own password.
    ChangeOwnPassword,
    /// Set another operator's password.
    SetPassword,
    /// Disable an operator.
    DisableOperator,
    /// Run the coordination-stage assessment and read its history.
    Assess,
    /// Answer the stage questionnaires (one's own answers; admins and executives load a
    /// survey's file).
    AnswerQuestionnaire,
    /// Take an online backup (written by the server to a file on its machine).
    Backup,
    /// Read disruptions: a customer's, or a flight's with its passengers.
    ReadDisruptions,
    /// Declare a disruption the sources do not report yet (with a reason).
    DeclareDisruption,
    /// Ingest source files (read where the database is).
    Ingest,
    /// List and show quarantined rows (they hold the source's raw data).
    ReadQuarantine,
    /// Retry quarantined rows with a fixed mapping, or remove them.
    WorkQuarantine,
    /// List the merge-review queue (with the compared values).
    ReadReviews,
    /// Accept (merge) or reject (keep apart) a review item.
    DecideReview,
    /// Explain a merge: compared values, weights and score.
    ExplainMerge,
    /// Undo a merge.
    Unmerge,
    /// Read the data-quality report (counts and rates).
    ReadQuality,
    /// Read the store's counts per keyspace and its size on disk.
    ReadStats,
    /// Export every source record with its customer (for scoring identity resolution).
    ExportIdentities,
    /// Load exchange rates from a file (read where the database is).
    LoadRates,
    /// Read the exchange rates stored, in summary.
    ReadRates,
    /// Explain how a customer's amounts count (currency, day rate, source).
    ExplainValue,
    /// Run scoring (full or incremental).
    Score,
    /// Read the tiers and the value skew of the latest run.
    ReadValueReport,
    /// List and show portfolios with their metrics; read a customer's moves.
    ReadPortfolios,
    /// Assign every customer by the portfolio rules.
    AssignPortfolios,
    /// Move a customer to another portfolio by hand (with a reason).
    MoveCustomer,
    /// Load the portfolio file (portfolios, managers, assignment rules).
    DefinePortfolios,
    /// Load the offer catalogue (offers and the capability managers' defaults).
    DefineOffers,
    /// Load the customer managers' offer rules.
    DefineOfferRules,
    /// Explain every offer's outcome for a customer, and the next best action.
    ExplainOffers,
    /// Record a customer's answer to a presented offer.
    RecordOfferAnswer,
    /// Read the offer report (answers by offer and portfolio).
    ReadOfferReport,
    /// Read customer equity by portfolio and tier, and its change since the last run.
    ReadEquity,
    /// Read the hand-offs of the serial pipeline (who owns which step, what is overdue).
    ReadHandoffs,
    /// Read experiments: their status and results.
    ReadExperiments,
    /// Create, declare and assign experiments.
    DesignExperiment,
    /// Read campaigns and their results.
    ReadCampaigns,
    /// Create a campaign: its list from scores, contacts and hold-out recorded.
    RunCampaign,
    /// Pass on an idea or observation, and read the outcome of one's own ideas.
    ShareIdea,
    /// Work the ideas queue: read every idea, tag, link and close it.
    WorkIdeas,
    /// List and verify the audit trail (who opened or changed what, when, from where).
    ReadAudit,
    /// Read the compensation policy in force and its versions.
    ReadPolicy,
    /// Set a new version of the compensation policy and the goodwill limits.
    SetPolicy,
    /// Grant goodwill for a disruption (up to the role's limit; above it, send it for
    /// approval).
    GrantGoodwill,
    /// Read the approval queue.
    ReadApprovals,
    /// Approve, change or refuse goodwill waiting for approval (within the role's limit, or
    /// as the customer's manager).
    DecideApproval,
    /// Read compensation and goodwill by value tier and portfolio, before and after a policy
    /// version.
    ReadPolicyReport,
    /// Erase a customer's personal data on request (crypto-shredding; the facts stay under a
    /// pseudonym).
    EraseCustomer,
}

/// What a role may do with an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// Allowed, with personal data shown.
    Allow,
    /// Allowed, with personal data masked (see [`crate::masking`]).
    Masked,
    /// Refused.
    Deny,
}

impl Permission {
    /// Whether the request may go ahead (masked or not).
    pub fn allowed(self) -> bool {
        !matches!(self, Permission::Deny)
    }

    /// The word used in `docs/security.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Allow => "allow",
            Permission::Masked => "masked",
            Permission::Deny => "deny",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

use Permission::{Allow as A, Deny as D, Masked as M};

/// The permission matrix. Columns in the order of [`Role::ALL`]: front line, customer manager,
/// analyst, steward, executive, chief customer officer, capability manager, admin.
///
/// A customer manager's allowed cells are further scoped by the service to the customers of
/// the portfolios they manage (to act on; to see as well where the portfolio file says
/// `customer_managers_see = "portfolio"`): see `docs/security.md`.
#[rustfmt::skip] // one row per line, so the table reads as the matrix it is
pub const MATRIX: [(Action, [Permission; 8]); 60] = [
    //                              FL CM AN ST EX CO PM AD
    (Action::Search,                [A, A, M, A, M, M, M, A]),
    (Action::OpenRecord,            [A, A, M, A, M, M, M, A]),
    (Action::ReadInteractions,      [A, A, M, A, M, M, M, A]),
    (Action::LogInteraction,        [A, A, D, A, D, D, D, A]),
    (Action::RecordPreference,      [A, A, D, A, D, D, D, A]),
    (Action::ReadEntitlement,       [A, A, D, D, D, D, D, A]),
    (Action::GrantCompensation,     [A, A, D, D, D, D, D, A]),
    (Action::ReadOverview,          [A, A, A, A, A, A, A, A]),
    (Action::ReadList,              [D, A, M, D, M, M, M, A]),
    (Action::Subscribe,             [A, A, A, A, A, A, A, A]),
    (Action::ListOperators,         [D, D, D, D, D, D, D, A]),
    (Action::AddOperator,           [D, D, D, D, D, D, D, A]),
    (Action::ChangeOwnPassword,     [A, A, A, A, A, A, A, A]),
    (Action::SetPassword,           [D, D, D, D, D, D, D, A]),
    (Action::DisableOperator,       [D, D, D, D, D, D, D, A]),
    (Action::Assess,                [D, A, A, A, A, A, D, A]),
    (Action::AnswerQuestionnaire,   [A, A, A, A, A, A, A, A]),
    (Action::Backup,                [D, D, D, D, D, D, D, A]),
    (Action::ReadDisruptions,       [A, A, M, A, M, M, M, A]),
    (Action::DeclareDisruption,     [D, A, D, A, D, D, D, A]),
    (Action::Ingest,                [D, D, D, A, D, D, D, A]),
    (Action::ReadQuarantine,        [D, D, D, A, D, D, D, A]),
    (Action::WorkQuarantine,        [D, D, D, A, D, D, D, A]),
    (Action::ReadReviews,           [D, D, D, A, D, D, D, A]),
    (Action::DecideReview,          [D, D, D, A, D, D, D, A]),
    (Action::ExplainMerge,          [D, D, D, A, D, D, D, A]),
    (Action::Unmerge,               [D, D, D, A, D, D, D, A]),
    (Action::ReadQuality,           [D, A, A, A, A, A, D, A]),
    (Action::ReadStats,             [D, D, A, A, D, D, D, A]),
    (Action::ExportIdentities,      [D, D, A, A, D, D, D, A]),
    (Action::LoadRates,             [D, D, A, A, D, D, D, A]),
    (Action::ReadRates,             [A, A, A, A, A, A, A, A]),
    (Action::ExplainValue,          [D, A, A, A, D, A, D, A]),
    (Action::Score,                 [D, D, A, D, D, D, D, A]),
    (Action::ReadValueReport,       [D, A, A, A, A, A, A, A]),
    (Action::ReadPortfolios,        [D, A, A, A, A, A, A, A]),
    (Action::AssignPortfolios,      [D, D, D, A, D, A, D, A]),
    (Action::MoveCustomer,          [D, A, D, A, D, A, D, A]),
    (Action::DefinePortfolios,      [D, D, D, D, D, A, D, A]),
    (Action::DefineOffers,          [D, D, D, D, D, A, A, A]),
    (Action::DefineOfferRules,      [D, A, D, D, D, A, D, A]),
    (Action::ExplainOffers,         [A, A, A, D, A, A, A, A]),
    (Action::RecordOfferAnswer,     [A, A, D, D, D, D, D, A]),
    (Action::ReadOfferReport,       [D, A, A, D, A, A, A, A]),
    (Action::ReadEquity,            [D, A, A, D, A, A, D, A]),
    (Action::ReadHandoffs,          [D, A, A, A, A, A, A, A]),
    (Action::ReadExperiments,       [D, A, A, D, A, A, A, A]),
    (Action::DesignExperiment,      [D, D, A, D, D, D, D, A]),
    (Action::ReadCampaigns,         [D, A, A, D, A, A, A, A]),
    (Action::RunCampaign,           [D, A, A, D, D, D, D, A]),
    (Action::ShareIdea,             [A, A, A, A, A, A, A, A]),
    (Action::WorkIdeas,             [D, D, A, D, D, D, D, A]),
    (Action::ReadAudit,             [D, D, D, D, D, D, D, A]),
    (Action::ReadPolicy,            [A, A, A, A, A, A, A, A]),
    (Action::SetPolicy,             [D, D, D, D, A, A, D, A]),
    (Action::GrantGoodwill,         [A, A, D, D, D, D, D, A]),
    (Action::ReadApprovals,         [A, A, D, D, D, D, D, A]),
    (Action::DecideApproval,        [D, A, D, D, D, D, D, A]),
    (Action::ReadPolicyReport,      [D, A, A, D, A, A, D, A]),
    (Action::EraseCustomer,         [D, D, D, A, D, D, D, A]),
];

impl Action {
    /// Every action, in the order of the matrix.
    pub const ALL: [Action; MATRIX.len()] = {
        let mut out = [Action::Search; MATRIX.len()];
        let mut i = 0;
        while i < MATRIX.len() {
            out[i] = MATRIX[i].0;
            i += 1;
        }
        out
    };

    /// The kebab-case name used in errors, logs and `docs/security.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Search => "search",
            Action::OpenRecord => "open-record",
            Action::ReadInteractions => "read-interactions",
            Action::LogInteraction => "log-interaction",
            Action::RecordPreference => "record-preference",
            Action::ReadEntitlement => "read-entitlement",
            Action::GrantCompensation => "grant-compensation",
            Action::ReadOverview => "read-overview",
            Action::ReadList => "read-list",
            Action::Subscribe => "subscribe",
            Action::ListOperators => "list-operators",
            Action::AddOperator => "add-operator",
            Action::ChangeOwnPassword => "change-own-password",
            Action::SetPassword => "set-password",
            Action::DisableOperator => "disable-operator",
            Action::Assess => "assess",
            Action::AnswerQuestionnaire => "answer-questionnaire",
            Action::Backup => "backup",
            Action::ReadDisruptions => "read-disruptions",
            Action::DeclareDisruption => "declare-disruption",
            Action::Ingest => "ingest",
            Action::ReadQuarantine => "read-quarantine",
            Action::WorkQuarantine => "work-quarantine",
            Action::ReadReviews => "read-reviews",
            Action::DecideReview => "decide-review",
            Action::ExplainMerge => "explain-merge",
            Action::Unmerge => "unmerge",
            Action::ReadQuality => "read-quality",
            Action::ReadStats => "read-stats",
            Action::ExportIdentities => "export-identities",
            Action::LoadRates => "load-rates",
            Action::ReadRates => "read-rates",
            Action::ExplainValue => "explain-value",
            Action::Score => "score",
            Action::ReadValueReport => "read-value-report",
            Action::ReadPortfolios => "read-portfolios",
            Action::AssignPortfolios => "assign-portfolios",
            Action::MoveCustomer => "move-customer",
            Action::DefinePortfolios => "define-portfolios",
            Action::DefineOffers => "define-offers",
            Action::DefineOfferRules => "define-offer-rules",
            Action::ExplainOffers => "explain-offers",
            Action::RecordOfferAnswer => "record-offer-answer",
            Action::ReadOfferReport => "read-offer-report",
            Action::ReadEquity => "read-equity",
            Action::ReadHandoffs => "read-handoffs",
            Action::ReadExperiments => "read-experiments",
            Action::DesignExperiment => "design-experiment",
            Action::ReadCampaigns => "read-campaigns",
            Action::RunCampaign => "run-campaign",
            Action::ShareIdea => "share-idea",
            Action::WorkIdeas => "work-ideas",
            Action::ReadAudit => "read-audit",
            Action::ReadPolicy => "read-policy",
            Action::SetPolicy => "set-policy",
            Action::GrantGoodwill => "grant-goodwill",
            Action::ReadApprovals => "read-approvals",
            Action::DecideApproval => "decide-approval",
            Action::ReadPolicyReport => "read-policy-report",
            Action::EraseCustomer => "erase-customer",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn column(role: Role) -> Option<usize> {
    Role::ALL.iter().position(|r| *r == role)
}

/// What `role` may do with `action`, from [`MATRIX`]; a role without a column is denied.
pub fn permission(role: Role, action: Action) -> Permission {
    let Some(col) = column(role) else {
        return Permission::Deny;
    };
    MATRIX
        .iter()
        .find(|(a, _)| *a == action)
        .map_or(Permission::Deny, |(_, row)| row[col])
}

/// The matrix as a Markdown table, as it appears in `docs/security.md`.
pub fn matrix_markdown() -> String {
    let mut out = String::from("| request |");
    for r in Role::ALL {
        out.push_str(&format!(" {r} |"));
    }
    out.push_str("\n|---|");
    for _ in Role::ALL {
        out.push_str("---|");
    }
    for (action, row) in MATRIX {
        out.push_str(&format!("\n| {action} |"));
        for p in row {
            out.push_str(&format!(" {p} |"));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_exactly_one_row() {
        for a in Action::ALL {
            assert_eq!(MATRIX.iter().filter(|(x, _)| *x == a).count(), 1, "{a}");
        }
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
    }

    #[test]
    fn only_admin_manages_operators_and_everyone_changes_own_password() {
        for r in Role::ALL {
            let admin = r == Role::Admin;
            for a in [
                Action::ListOperators,
                Action::AddOperator,
                Action::SetPassword,
                Action::DisableOperator,
                Action::Backup,
            ] {
                assert_eq!(permission(r, a).allowed(), admin, "{r} {a}");
            }
            assert_eq!(permission(r, Action::ChangeOwnPassword), Permission::Allow);
        }
        assert_eq!(
            permission(Role::Analyst, Action::OpenRecord),
            Permission::Masked
        );
        assert_eq!(
            permission(Role::Analyst, Action::GrantCompensation),
            Permission::Deny
        );
    }

    #[test]
    fn security_doc_shows_the_matrix() {
        let doc = include_str!("../../../docs/security.md");
        assert!(
            doc.contains(matrix_markdown().trim()),
            "docs/security.md is stale; paste:\n{}",
            matrix_markdown()
        );
    }
}
