//! End-to-end tests: identity.
