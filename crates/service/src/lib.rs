//! rapport-service
