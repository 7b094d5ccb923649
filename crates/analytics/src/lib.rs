//! rapport-analytics
