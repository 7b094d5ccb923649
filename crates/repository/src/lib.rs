//! rapport-repository
