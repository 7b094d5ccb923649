//! End-to-end tests: console.
