//! [`Client`]: the service embedded or remote, chosen at run time, and
//! [`connect_or_embed`], which the console and every subcommand use to reach the database.

use std::path::{Path, PathBuf};

use rapport_core::{Channel, CustomerId, CustomerRecord, CustomerSummary, Interaction, Preference};
use rapport_governance::{OperatorInfo, Role};

use crate::api::{
    CompensationRequest, Entitlement, GrantOutcome, InteractionQuery, ListEntry, NewInteraction,
    Overview, Service, ServiceError, ServiceResult, SessionInfo, Subscription, Watch,
};
use crate::{Embedded, OperatorAdmin, Remote};

/// The service, embedded or over the network.
#[derive(Clone, Debug)]
pub enum Client {
    /// In this process.
    Embedded(Embedded),
    /// Connected to `rapport serve`.
    Remote(Remote),
}

/// The file a running server writes next to the database (`<db>.serve`), saying where it
/// listens, so that commands finding the database locked can connect instead.
pub fn server_file(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".serve");
    db.with_file_name(name)
}

/// What a server's file says: its socket path and TCP address, if any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerAddress {
    /// Unix socket path.
    pub socket: Option<String>,
    /// TCP `host:port`.
    pub listen: Option<String>,
    /// The server's process id.
    pub pid: Option<u32>,
}

impl ServerAddress {
    /// The address to connect to: the socket if there is one, else TCP.
    pub fn preferred(&self) -> Option<&str> {
        self.socket.as_deref().or(self.listen.as_deref())
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(s) = &self.socket {
            out.push_str(&format!("socket={s}\n"));
        }
        if let Some(l) = &self.listen {
            out.push_str(&format!("listen={l}\n"));
        }
        if let Some(p) = self.pid {
            out.push_str(&format!("pid={p}\n"));
        }
        out
    }

    /// Parses the file's text (unknown lines are ignored).
    pub fn parse(text: &str) -> ServerAddress {
        let mut a = ServerAddress::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("socket", v)) => a.socket = Some(v.trim().to_string()),
                Some(("listen", v)) => a.listen = Some(v.trim().to_string()),
                Some(("pid", v)) => a.pid = v.trim().parse().ok(),
                _ => {}
            }
        }
        a
    }
}

/// The address of the server holding `db`, from its file, if one is running. A file left by
/// a server that was killed (its process is gone) is ignored.
pub fn running_server(db: &Path) -> Option<ServerAddress> {
    let text = std::fs::read_to_string(server_file(db)).ok()?;
    let a = ServerAddress::parse(&text);
    let proc = Path::new("/proc");
    if let Some(pid) = a.pid
        && proc.is_dir()
        && !proc.join(pid.to_string()).exists()
    {
        return None;
    }
    a.preferred().is_some().then_some(a)
}

/// Connects to `connect` when given; otherwise opens `db` embedded, and when a server holds
/// the database, connects to that server (found through [`server_file`]) instead, logging
/// that it does. Connecting needs `user` and `password`.
pub async fn connect_or_embed(
    db: &Path,
    connect: Option<&str>,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<Client, ServiceError> {
    let remote = |addr: String| async move {
        let (Some(user), Some(password)) = (user, password) else {
            return Err(ServiceError::Unauthenticated(format!(
                "connecting to {addr} needs an operator name and password \
                 (RAPPORT_USER and RAPPORT_PASSWORD)"
            )));
        };
        Remote::connect(&addr, user, password)
            .await
            .map(Client::Remote)
    };
    if let Some(addr) = connect {
        return remote(addr.to_string()).await;
    }
    let path = db.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || rapport_store::Store::open(&path))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    match opened {
        Ok(store) => {
            let mut e = Embedded::from_store(store);
            e.set_db_label(db);
            Ok(Client::Embedded(e))
        }
        Err(rapport_store::Error::Locked { .. }) => match running_server(db) {
            Some(a) => {
                let addr = a.preferred().unwrap_or_default().to_string();
                tracing::info!(
                    db = %db.display(),
                    %addr,
                    "the database is held by a running server; connecting to it"
                );
                remote(addr).await
            }
            None => Err(ServiceError::Unavailable(format!(
                "another process holds the database at {}, and no server address was found \
                 in {}: start `rapport serve --db {}` and connect with --connect",
                db.display(),
                server_file(db).display(),
                db.display()
            ))),
        },
        Err(e) => Err(crate::engine::store_err(e)),
    }
}

macro_rules! both {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            Client::Embedded($c) => $e,
            Client::Remote($c) => $e,
        }
    };
}

impl Service for Client {
    fn session(&self) -> SessionInfo {
        both!(self, c => c.session())
    }
    async fn search(&self, query: &str, limit: usize) -> ServiceResult<Vec<CustomerSummary>> {
        both!(self, c => c.search(query, limit).await)
    }
    async fn open(
        &self,
        customer: CustomerId,
        query: InteractionQuery,
    ) -> ServiceResult<CustomerRecord> {
        both!(self, c => c.open(customer, query).await)
    }
    async fn interactions(
        &self,
        customer: CustomerId,
        query: InteractionQuery,
    ) -> ServiceResult<Vec<Interaction>> {
        both!(self, c => c.interactions(customer, query).await)
    }
    async fn log_interaction(&self, new: NewInteraction) -> ServiceResult<Interaction> {
        both!(self, c => c.log_interaction(new).await)
    }
    async fn record_preference(
        &self,
        customer: CustomerId,
        topic: String,
        value: String,
        channel: Channel,
    ) -> ServiceResult<Preference> {
        both!(self, c => c.record_preference(customer, topic, value, channel).await)
    }
    async fn entitlement(&self, request: CompensationRequest) -> ServiceResult<Entitlement> {
        both!(self, c => c.entitlement(request).await)
    }
    async fn grant_compensation(
        &self,
        request: CompensationRequest,
    ) -> ServiceResult<GrantOutcome> {
        both!(self, c => c.grant_compensation(request).await)
    }
    async fn overview(&self) -> ServiceResult<Overview> {
        both!(self, c => c.overview().await)
    }
    async fn list(&self, name: &str, limit: usize) -> ServiceResult<Vec<ListEntry>> {
        both!(self, c => c.list(name, limit).await)
    }
    async fn subscribe(&self, watch: Watch) -> ServiceResult<Subscription> {
        both!(self, c => c.subscribe(watch).await)
    }
}

impl OperatorAdmin for Client {
    async fn operators(&self) -> ServiceResult<Vec<OperatorInfo>> {
        both!(self, c => c.operators().await)
    }
    async fn add_operator(&self, name: &str, role: Role, password: &str) -> ServiceResult<()> {
        both!(self, c => c.add_operator(name, role, password).await)
    }
    async fn set_password(&self, name: &str, password: &str) -> ServiceResult<()> {
        both!(self, c => c.set_password(name, password).await)
    }
    async fn disable_operator(&self, name: &str) -> ServiceResult<()> {
        both!(self, c => c.disable_operator(name).await)
    }
    async fn backup(
        &self,
        path: &str,
        password_hashes: bool,
    ) -> ServiceResult<rapport_store::ExportSummary> {
        both!(self, c => c.backup(path, password_hashes).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_file_round_trips() {
        assert_eq!(
            server_file(Path::new("/tmp/x/db")),
            PathBuf::from("/tmp/x/db.serve")
        );
        let a = ServerAddress {
            socket: Some("/tmp/x/s.sock".into()),
            listen: Some("127.0.0.1:7878".into()),
            pid: Some(42),
        };
        assert_eq!(ServerAddress::parse(&a.render()), a);
        assert_eq!(a.preferred(), Some("/tmp/x/s.sock"));
        // A file naming this (live) process is believed; one naming a dead process is not.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let live = ServerAddress {
            pid: Some(std::process::id()),
            ..a.clone()
        };
        std::fs::write(server_file(&db), live.render()).unwrap();
        assert_eq!(running_server(&db), Some(live));
        if Path::new("/proc").is_dir() {
            let dead = ServerAddress {
                pid: Some(u32::MAX - 1),
                ..a
            };
            std::fs::write(server_file(&db), dead.render()).unwrap();
            assert_eq!(running_server(&db), None);
        }
    }
}
