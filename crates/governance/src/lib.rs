//! rapport-governance
