//! The service in-process: the store opened in this process, every call run by the engine off
//! the async runtime. Needs file access to the database, so it acts as local admin.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use rapport_governance::Role;
use rapport_store::Store;
use tokio::sync::watch;

use crate::api::{Mode, Service, ServiceError, ServiceResult, SessionInfo, Subscription, Watch};
use crate::engine::{Caller, Engine};
use crate::protocol::{Reply, Request};

/// The service over a store opened in this process.
#[derive(Clone, Debug)]
pub struct Embedded {
    engine: Arc<Engine>,
    session: SessionInfo,
    caller: Caller,
    /// What the audit trail names as the origin of this service's requests.
    origin: Arc<str>,
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
            origin: Arc::from(crate::governance_ops::EMBEDDED),
        }
    }

    /// Names the origin the audit trail records for this service's requests (the command
    /// that runs it, `console`), after `embedded`.
    pub fn with_origin(mut self, origin: &str) -> Embedded {
        let origin: String = rapport_core::text::sanitize(origin)
            .chars()
            .take(80)
            .collect();
        self.origin = Arc::from(format!("{} {origin}", crate::governance_ops::EMBEDDED));
        self
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

    /// The service over an already open store, for one command that exits next (see
    /// [`Engine::for_command`]).
    pub fn for_command(store: Store) -> Embedded {
        let db = store
            .path()
            .map_or_else(|| "(temporary)".to_string(), |p| p.display().to_string());
        Embedded::from_engine(Arc::new(Engine::for_command(store)), db)
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    async fn call(&self, req: Request) -> ServiceResult<Reply> {
        let engine = self.engine.clone();
        let caller = self.caller.clone();
        let origin = self.origin.clone();
        tokio::task::spawn_blocking(move || engine.handle_from(&caller, &origin, req))
            .await
            .map_err(|e| ServiceError::Internal(format!("service task failed: {e}")))?
    }
}

impl crate::Transport for Embedded {
    fn send(&self, req: Request) -> impl Future<Output = ServiceResult<Reply>> + Send {
        Embedded::call(self, req)
    }
}

impl Service for Embedded {
    fn session(&self) -> SessionInfo {
        self.session.clone()
    }

    async fn subscribe(&self, watch: Watch) -> ServiceResult<Subscription> {
        self.engine
            .authorize(&self.caller, rapport_governance::Action::Subscribe)?;
        let (watching, rx) = watch::channel(watch);
        let events = self.engine.live(rx);
        Ok(Subscription { events, watching })
    }
}
