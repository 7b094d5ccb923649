//! [`Client`]: the service embedded or remote, chosen at run time, and
//! [`connect_or_embed`], which the console and every subcommand use to reach the database.

use std::path::{Path, PathBuf};

use crate::api::{Service, ServiceError, ServiceResult, SessionInfo, Subscription, Watch};
use crate::protocol::{Reply, Request};
use crate::{Embedded, Remote};

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
    connect_or_embed_with(
        db,
        &rapport_store::OpenOptions::default(),
        connect,
        user,
        password,
    )
    .await
}

/// [`connect_or_embed`] opening an embedded database with `options` (the page cache).
pub async fn connect_or_embed_with(
    db: &Path,
    options: &rapport_store::OpenOptions,
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
    let options = options.clone();
    let opened =
        tokio::task::spawn_blocking(move || rapport_store::Store::open_with(&path, &options))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
    match opened {
        Ok(store) => {
            let mut e = Embedded::for_command(store);
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

impl crate::Transport for Client {
    async fn send(&self, req: Request) -> ServiceResult<Reply> {
        match self {
            Client::Embedded(c) => c.send(req).await,
            Client::Remote(c) => c.send(req).await,
        }
    }
}

impl Service for Client {
    fn session(&self) -> SessionInfo {
        match self {
            Client::Embedded(c) => c.session(),
            Client::Remote(c) => c.session(),
        }
    }

    async fn subscribe(&self, watch: Watch) -> ServiceResult<Subscription> {
        match self {
            Client::Embedded(c) => c.subscribe(watch).await,
            Client::Remote(c) => c.subscribe(watch).await,
        }
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
