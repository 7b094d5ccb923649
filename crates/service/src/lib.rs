//! The service: one API ([`Service`]) for the console and the command line, served in-process
//! over the store ([`Embedded`]) or across a socket by `rapport serve` ([`Remote`] client of
//! [`server::run`]).
//!
//! Only this crate knows the wire format ([`codec`], [`protocol`]). Authorisation by role
//! happens here, at the side that owns the store ([`Engine`]), with the rules of
//! rapport-governance. Writes are flushed before they are acknowledged.
//!
//! ```no_run
//! use rapport_service::{connect_or_embed, Service};
//! # async fn demo() -> Result<(), rapport_service::ServiceError> {
//! // Embedded, or the running server if one holds the database.
//! let client = connect_or_embed(std::path::Path::new("db"), None, None, None).await?;
//! let hits = client.search("jane doe", 10).await?;
//! println!("{} hits as {}", hits.len(), client.session().operator);
//! # Ok(()) }
//! ```

pub mod api;
mod assess;
pub mod backup;
mod client;
pub mod codec;
pub mod data;
mod embedded;
mod engine;
pub mod governance_ops;
pub mod learning;
pub mod limits;
mod live;
pub mod protocol;
mod records;
pub mod relationship;
mod remote;
pub mod server;
mod typed;

use std::future::Future;

pub use api::{
    CareItem, CompensationRequest, Declaration, DisruptionEntry, Entitlement, FlightGrant,
    FlightView, GrantOutcome, InteractionQuery, ListEntry, LiveEvent, Mode, NewInteraction,
    Overview, Passenger, Service, ServiceError, ServiceResult, SessionInfo, Subscription, Watch,
};
pub use assess::{AssessmentEntry, Assessments};
pub use client::{
    Client, ServerAddress, connect_or_embed, connect_or_embed_with, running_server, server_file,
};
pub use data::Operations;
pub use embedded::Embedded;
pub use engine::{Caller, Engine, GOVERNANCE, OPERATORS, SESSION_TTL_MS};
pub use governance_ops::Governance;
pub use learning::Learning;
pub use rapport_governance::{OperatorInfo, Role};
pub use rapport_repository::erase::ErasureReport;
pub use relationship::Relationships;
pub use remote::Remote;
pub use server::{Listener, ServeOptions, ServerConfig, run, serve};
pub use typed::Transport;

/// Operator administration, embedded or remote (admins only, except changing one's own
/// password; see `docs/security.md`), written once over the transport.
pub trait OperatorAdmin: Service {
    /// Every operator, without password hashes.
    fn operators(&self) -> impl Future<Output = ServiceResult<Vec<OperatorInfo>>> + Send {
        async move {
            match self.send(protocol::Request::ListOperators).await? {
                protocol::Reply::Operators(o) => Ok(o),
                other => Err(unexpected(&other)),
            }
        }
    }
    /// Adds an operator; the password is hashed with argon2 where the store is.
    fn add_operator(
        &self,
        name: &str,
        role: Role,
        password: &str,
    ) -> impl Future<Output = ServiceResult<()>> + Send {
        let req = protocol::Request::AddOperator {
            name: name.to_string(),
            role,
            password: password.to_string(),
        };
        async move { self.send(req).await.map(|_| ()) }
    }
    /// Sets an operator's password (one's own, or anyone's for an admin).
    fn set_password(
        &self,
        name: &str,
        password: &str,
    ) -> impl Future<Output = ServiceResult<()>> + Send {
        let req = protocol::Request::SetPassword {
            name: name.to_string(),
            password: password.to_string(),
        };
        async move { self.send(req).await.map(|_| ()) }
    }
    /// Disables an operator: no more logins, sessions end.
    fn disable_operator(&self, name: &str) -> impl Future<Output = ServiceResult<()>> + Send {
        let req = protocol::Request::DisableOperator {
            name: name.to_string(),
        };
        async move { self.send(req).await.map(|_| ()) }
    }
    /// Writes a consistent backup of the whole database to `path` (absolute, on the machine
    /// that holds the database) while the service keeps serving; writers wait while it runs.
    /// Password hashes are written blank unless `password_hashes` (see `docs/durability.md`).
    fn backup(
        &self,
        path: &str,
        password_hashes: bool,
    ) -> impl Future<Output = ServiceResult<rapport_store::ExportSummary>> + Send {
        let req = protocol::Request::Backup {
            path: path.to_string(),
            password_hashes,
        };
        async move {
            match self.send(req).await? {
                protocol::Reply::Backup(s) => Ok(s),
                other => Err(unexpected(&other)),
            }
        }
    }
}

impl<T: Service> OperatorAdmin for T {}

pub(crate) fn unexpected(reply: &protocol::Reply) -> ServiceError {
    ServiceError::Internal(format!("unexpected reply {reply:?}"))
}
