//! Governance: who may do what, and how customers are treated.
//!
//! Roles and the permission matrix ([`permission`], [`MATRIX`], documented in
//! `docs/security.md`), personal-data masking per role ([`masking`]), the versioned
//! compensation policy ([`CompensationPolicy`]), front-line approval limits
//! ([`ApprovalLimits`]), operator credentials hashed with argon2 ([`OperatorAccount`]), session
//! tokens that expire and failed-login rate limiting ([`Session`], [`LoginLimiter`]), and the
//! coordination-stage assessment ([`assessment`]) and its questionnaires
//! ([`questionnaire`]); the learning loop: experiments with a control group ([`experiment`]:
//! definitions, validation, seeded assignment, declared assignments, outcome windows),
//! campaigns on short scored lists and their measured return ([`campaign`]), the serial
//! stage's hand-offs with owners and cadence ([`handoff`]) and front-line ideas ([`idea`]);
//! relationship governance: portfolios with their customer managers and assignment rules
//! ([`portfolio`]), the offer catalogue and the rules that allow, adapt or block offers with
//! the next best action ([`offer`]) in a small condition language over a customer's facts
//! ([`condition`], [`facts`]), loaded from TOML files with errors naming file, line and
//! problem ([`ConfigErrors`]), and the customer-equity view ([`equity`]); the audit chain
//! ([`audit`]).
//!
//! Pure rules: no I/O, no store, no clock (callers pass the time). The service enforces these
//! rules on the side that owns the store.
//!
//! ```
//! use rapport_core::DisruptionKind;
//! use rapport_governance::{permission, Action, CompensationPolicy, Permission, Role};
//!
//! assert_eq!(permission(Role::Analyst, Action::OpenRecord), Permission::Masked);
//! assert_eq!(permission(Role::Analyst, Action::GrantCompensation), Permission::Deny);
//! let d = CompensationPolicy::standard()
//!     .decide(DisruptionKind::Delay, Some(9 * 60))
//!     .unwrap();
//! assert_eq!((d.instrument.as_str(), d.rule.as_str()), ("voucher", "delay 9h+ v1"));
//! ```

pub mod assessment;
pub mod audit;
pub mod campaign;
pub mod condition;
mod config;
mod credentials;
pub mod equity;
pub mod experiment;
pub mod facts;
pub mod handoff;
pub mod idea;
mod limits;
pub mod masking;
pub mod offer;
mod permission;
mod policy;
pub mod portfolio;
pub mod questionnaire;
pub mod relationship;
mod role;
mod session;

pub use condition::Condition;
pub use config::{ConfigError, ConfigErrors};
pub use credentials::{
    CredentialError, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, OperatorAccount, OperatorInfo,
    hash_password, validate_name,
};
pub use facts::{CustomerFacts, HistoryFacts, ScoreFacts};
pub use limits::ApprovalLimits;
pub use offer::{
    Answer, Catalogue, Explanation, NextBestAction, Offer, OfferDecision, OfferKind, Outcome,
    RuleBook, explain, next_best_action,
};
pub use permission::{Action, MATRIX, Permission, matrix_markdown, permission};
pub use policy::{
    CareRule, CompensationPolicy, Decision, INSTRUMENTS, PolicyError, PolicyFile, PolicyRule,
};
pub use portfolio::{Assignment, Portfolio, PortfolioBook, PortfolioMetrics};
pub use relationship::{DecideError, RelationshipConfig, SourceText};
pub use role::{Role, UnknownRole};
pub use session::{LoginLimiter, Session, SessionToken};
