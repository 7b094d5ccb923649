//! End-to-end tests: repository.
