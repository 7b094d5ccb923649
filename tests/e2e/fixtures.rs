//! End-to-end tests: fixtures.
