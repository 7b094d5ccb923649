//! Operator accounts and their credentials: argon2id password hashes (PHC strings), never
//! the password itself.
//!
//! Hashing is slow on purpose (argon2 defaults: 19 MiB, 2 passes): callers in async code run
//! [`hash_password`] and [`OperatorAccount::verify`] off the runtime with a concurrency cap.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rapport_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Role;

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password (hashing cost does not depend on it, but memory does).
pub const MAX_PASSWORD_LEN: usize = 256;

/// An operator as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAccount {
    /// Login name: 1-40 of `a-z 0-9 . _ -`.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// A disabled operator cannot log in.
    pub disabled: bool,
    /// Created at.
    pub created: Timestamp,
    /// Last changed at.
    pub updated: Timestamp,
}

/// What may be shown about an operator (no hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorInfo {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Disabled.
    pub disabled: bool,
    /// Created at.
    pub created: Timestamp,
    /// Last changed at.
    pub updated: Timestamp,
}

/// Credential errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The operator name is not acceptable.
    #[error("invalid operator name {0:?}: use 1-40 of a-z, 0-9, '.', '_', '-'")]
    InvalidName(String),
    /// The password is too short or too long.
    #[error("password must be {MIN_PASSWORD_LEN}-{MAX_PASSWORD_LEN} characters")]
    WeakPassword,
    /// Hashing failed (should not happen with the defaults).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Checks an operator name.
pub fn validate_name(name: &str) -> Result<(), CredentialError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CredentialError::InvalidName(
            name.chars().take(40).collect(),
        ))
    }
}

/// Hashes a password with argon2id and a random salt; returns the PHC string.
pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) {
        return Err(CredentialError::WeakPassword);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CredentialError::Hash(e.to_string()))
}

impl OperatorAccount {
    /// A new, enabled account with a freshly hashed password.
    pub fn new(
        name: &str,
        role: Role,
        password: &str,
        now: Timestamp,
    ) -> Result<OperatorAccount, CredentialError> {
        validate_name(name)?;
        Ok(OperatorAccount {
            name: name.to_string(),
            role,
            password_hash: hash_password(password)?,
            disabled: false,
            created: now,
            updated: now,
        })
    }

    /// Whether `password` is this operator's password (constant-time compare inside argon2).
    /// A disabled account never verifies.
    pub fn verify(&self, password: &str) -> bool {
        if self.disabled || password.len() > MAX_PASSWORD_LEN * 4 {
            return false;
        }
        match PasswordHash::new(&self.password_hash) {
            Ok(h) => Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// What may be shown.
    pub fn info(&self) -> OperatorInfo {
        OperatorInfo {
            name: self.name.clone(),
            role: self.role,
            disabled: self.disabled,
            created: self.created,
            updated: self.updated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_reject() {
        let t = Timestamp::from_secs(1);
        let mut op = OperatorAccount::new("gate.c12", Role::FrontLine, "correct horse", t).unwrap();
        assert!(op.password_hash.starts_with("$argon2id$"));
        assert!(!op.password_hash.contains("correct horse"));
        assert!(op.verify("correct horse"));
        assert!(!op.verify("correct hors"));
        op.disabled = true;
        assert!(!op.verify("correct horse"));
        assert_eq!(
            OperatorAccount::new("x", Role::Admin, "short", t),
            Err(CredentialError::WeakPassword)
        );
        assert!(validate_name("Root").is_err());
        assert!(validate_name("a\u{1b}").is_err());
        assert!(validate_name("").is_err());
    }
}
