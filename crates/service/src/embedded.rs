//! The service in-process: the store opened in this process, every call run by the engine off
//! the async runtime. Needs file access to the database, so it acts as local admin.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use rapport_core::{Channel, CustomerId, CustomerRecord, CustomerSummary, Interaction, Preference};
use rapport_governance::{OperatorInfo, Role};
use rapport_store::Store;
use tokio::sync::watch;

use crate::api::{
    CompensationRequest, Entitlement, GrantOutcome, InteractionQuery, ListEntry, Mode,
    NewInteraction, Overview, Service, ServiceError, ServiceResult, SessionInfo, Subscription,
    Watch,
};
use crate::engine::{Caller, Engine};
use crate::protocol::{Reply, Request};
use crate::typed;
use crate::{OperatorAdmin, unexpected};

/// The service over a store opened in this process.
#[derive(Clone, Debug)]
pub struct Embedded {
    engine: Arc<Engine>,
    session: SessionInfo,
    caller: Caller,
}

fn local_operator() -> String {
    let user = std::env::var("USER").unwrap_or_default();
    let user: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .take(32)
        .collect();
    if user.is_empty() {
        "local-admin".to_string()
    } else {
        format!("local-admin:{user}")
    }
}

impl Embedded {
    /// Opens the database at `db` in this process. Fails with `Unavailable` (saying that a
    /// server holds it) when another process has it open.
    pub fn open(db: &Path) -> Result<Embedded, ServiceError> {
        let store = Store::open(db).map_err(crate::engine::store_err)?;
        let mut e = Embedded::from_store(store);
        e.session.mode = Mode::Embedded {
            db: db.display().to_string(),
        };
        Ok(e)
    }

    /// The service over an already open store.
    pub fn from_store(store: Store) -> Embedded {
        let db = store
            .path()
            .map_or_else(|| "(temporary)".to_string(), |p| p.display().to_string());
        Embedded::from_engine(Arc::new(Engine::new(store)), db)
    }

    /// The service over an engine (shared with a server in the same process, for tests).
    pub fn from_engine(engine: Arc<Engine>, db: String) -> Embedded {
        let operator = local_operator();
        Embedded {
            engine,
            session: SessionInfo {
                operator: operator.clone(),
                role: Role::Admin,
                mode: Mode::Embedded { db },
            },
            caller: Caller {
                operator,
                role: Role::Admin,
            },
        }
    }

    /// The same engine acting as `operator` with `role`: every request is then authorised,
    /// stamped and masked as for that operator (the permission matrix applies). For a process
    /// that holds the database and serves several people, and for the console's tests, which
    /// run two consoles with different roles on one engine.
    pub fn acting_as(&self, operator: &str, role: Role) -> Embedded {
        let mut e = self.clone();
        e.session.operator = operator.to_string();
        e.session.role = role;
        e.caller = Caller {
            operator: operator.to_string(),
            role,
        };
        e
    }

    /// Labels the session with the database path.
    pub(crate) fn set_db_label(&mut self, db: &Path) {
        self.session.mode = Mode::Embedded {
            db: db.display().to_string(),
        };
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    async fn call(&self, req: Request) -> ServiceResult<Reply> {
        let engine = self.engine.clone();
        let caller = self.caller.clone();
        tokio::task::spawn_blocking(move || engine.handle(&caller, req))
            .await
            .map_err(|e| ServiceError::Internal(format!("service task failed: {e}")))?
    }
}

impl typed::Transport for Embedded {
    fn send(&self, req: Request) -> impl Future<Output = ServiceResult<Reply>> + Send {
        Embedded::call(self, req)
    }
}

impl Service for Embedded {
    fn session(&self) -> SessionInfo {
        self.session.clone()
    }

    async fn search(&self, query: &str, limit: usize) -> ServiceResult<Vec<CustomerSummary>> {
        typed::search(self, query, limit).await
    }

    async fn open(
        &self,
        customer: CustomerId,
        query: InteractionQuery,
    ) -> ServiceResult<CustomerRecord> {
        typed::open(self, customer, query).await
    }

    async fn interactions(
        &self,
        customer: CustomerId,
        query: InteractionQuery,
    ) -> ServiceResult<Vec<Interaction>> {
        typed::interactions(self, customer, query).await
    }

    async fn log_interaction(&self, new: NewInteraction) -> ServiceResult<Interaction> {
        typed::log_interaction(self, new).await
    }

    async fn record_preference(
        &self,
        customer: CustomerId,
        topic: String,
        value: String,
        channel: Channel,
    ) -> ServiceResult<Preference> {
        typed::record_preference(self, customer, topic, value, channel).await
    }

    async fn entitlement(&self, request: CompensationRequest) -> ServiceResult<Entitlement> {
        typed::entitlement(self, request).await
    }

    async fn grant_compensation(
        &self,
        request: CompensationRequest,
    ) -> ServiceResult<GrantOutcome> {
        typed::grant_compensation(self, request).await
    }

    async fn overview(&self) -> ServiceResult<Overview> {
        typed::overview(self).await
    }

    async fn list(&self, name: &str, limit: usize) -> ServiceResult<Vec<ListEntry>> {
        typed::list(self, name, limit).await
    }

    async fn subscribe(&self, watch: Watch) -> ServiceResult<Subscription> {
        self.engine
            .authorize(&self.caller, rapport_governance::Action::Subscribe)?;
        let (watching, rx) = watch::channel(watch);
        let events = self.engine.live(rx);
        Ok(Subscription { events, watching })
    }
}

impl OperatorAdmin for Embedded {
    async fn operators(&self) -> ServiceResult<Vec<OperatorInfo>> {
        match self.call(Request::ListOperators).await? {
            Reply::Operators(o) => Ok(o),
            other => Err(unexpected(&other)),
        }
    }

    async fn add_operator(&self, name: &str, role: Role, password: &str) -> ServiceResult<()> {
        let req = Request::AddOperator {
            name: name.to_string(),
            role,
            password: password.to_string(),
        };
        self.call(req).await.map(|_| ())
    }

    async fn set_password(&self, name: &str, password: &str) -> ServiceResult<()> {
        let req = Request::SetPassword {
            name: name.to_string(),
            password: password.to_string(),
        };
        self.call(req).await.map(|_| ())
    }

    async fn disable_operator(&self, name: &str) -> ServiceResult<()> {
        let req = Request::DisableOperator {
            name: name.to_string(),
        };
        self.call(req).await.map(|_| ())
    }

    async fn backup(
        &self,
        path: &str,
        password_hashes: bool,
    ) -> ServiceResult<rapport_store::ExportSummary> {
        let req = Request::Backup {
            path: path.to_string(),
            password_hashes,
        };
        match self.call(req).await? {
            Reply::Backup(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }
}
