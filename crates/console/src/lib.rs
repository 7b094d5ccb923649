//! rapport-console
