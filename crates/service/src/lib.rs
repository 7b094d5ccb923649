//! The service: one API ([`Service`]) for the console and the command line, served in-process
//! over the store ([`Embedded`]) or across a socket by `rapport serve` ([`Remote`] client).
//!
//! Only this crate knows the wire format. Authorisation by role happens here, at the side that
//! owns the store.

pub mod api;

pub use api::{
    CompensationRequest, Entitlement, GrantOutcome, InteractionQuery, ListEntry, LiveEvent, Mode,
    NewInteraction, Overview, Service, ServiceError, ServiceResult, SessionInfo, Subscription,
    Watch,
};
