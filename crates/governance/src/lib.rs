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
//! later issues add portfolios, offer rules and audit.
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
mod credentials;
pub mod experiment;
pub mod handoff;
pub mod idea;
mod limits;
pub mod masking;
mod permission;
mod policy;
pub mod questionnaire;
mod role;
mod session;

pub use credentials::{
    CredentialError, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, OperatorAccount, OperatorInfo,
    hash_password, validate_name,
};
pub use limits::ApprovalLimits;
pub use permission::{Action, MATRIX, Permission, matrix_markdown, permission};
pub use policy::{CareRule, CompensationPolicy, Decision, PolicyError, PolicyRule};
pub use role::{Role, UnknownRole};
pub use session::{LoginLimiter, Session, SessionToken};
