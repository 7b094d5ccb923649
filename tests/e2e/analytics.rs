//! End-to-end tests: analytics.
