//! Governance: who may do what, and how customers are treated.
//!
//! Roles and their permissions, operator credentials (argon2 hashes), the compensation
//! policy, and (in later issues) portfolios, offer rules, audit and the stage assessment.
//! Pure rules: no I/O, no store. The service enforces these rules at the server.

mod role;

pub use role::Role;
