//! `rapport serve`: the server that owns the database and serves consoles and scripts over
//! TCP (loopback by default) and Unix sockets.
//!
//! Shape of tokio's mini-redis: [`run`] accepts on its listeners until `shutdown` is
//! cancelled; one task per connection under a semaphore; per connection a reader (requests,
//! at most [`ServerConfig::max_in_flight`] at once, so a flooding client is slowed by TCP
//! backpressure), a bounded outgoing queue and a writer. Engine work runs with
//! `spawn_blocking` under a time-out. On shutdown: stop accepting, stop reading, finish
//! in-flight requests, send their replies, flush the store, return.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rapport_governance::{Action, SessionToken};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{ServiceError, Watch};
use crate::codec;
use crate::engine::{Caller, Engine};
use crate::protocol::{ClientMsg, MAGIC, PROTOCOL_VERSION, Reply, Request, ServerMsg};

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Requests in flight per connection; beyond it the server stops reading that connection.
    pub max_in_flight: usize,
    /// Subscriptions per connection.
    pub max_subscriptions: usize,
    /// Outgoing messages queued per connection.
    pub out_queue: usize,
    /// A request taking longer is answered with `Timeout`.
    pub request_timeout: Duration,
    /// Handshake and login must complete within this.
    pub handshake_timeout: Duration,
    /// Password checks at once (argon2 takes ~19 MiB and tens of ms each).
    pub max_hashing: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// A signed-in connection with no subscription that sends nothing for this long is
    /// closed (a client reconnects by itself at its next request).
    pub idle_timeout: Duration,
    /// Connections at once from one IP address (TCP); more are refused at once.
    pub max_per_address: usize,
    /// How long a refused login waits before its answer.
    pub failed_login_delay: Duration,
    /// Run a full scoring run this often (the first one after this long), if set.
    pub score_every: Option<Duration>,
    /// Rescore incrementally after every ingest that stored rows (in the background: the
    /// ingest's reply does not wait for it).
    pub score_after_ingest: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 1024,
            max_in_flight: 32,
            max_subscriptions: 16,
            out_queue: 256,
            request_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_hashing: 2,
            shutdown_grace: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            max_per_address: 64,
            failed_login_delay: Duration::from_secs(1),
            score_every: None,
            score_after_ingest: false,
        }
    }
}

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A Unix socket, removed on shutdown.
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Binds TCP, e.g. `127.0.0.1:7878` (`127.0.0.1:0` picks a free port).
    pub async fn tcp(addr: &str) -> Result<Listener, ServiceError> {
        TcpListener::bind(addr)
            .await
            .map(Listener::Tcp)
            .map_err(|e| ServiceError::Unavailable(format!("cannot listen on {addr}: {e}")))
    }

    /// Binds a Unix socket at `path`, replacing a stale socket file left by a dead server.
    pub fn unix(path: &Path) -> Result<Listener, ServiceError> {
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServiceError::Unavailable(format!(
                    "a server is already listening on {}",
                    path.display()
                )));
            }
            let _ = std::fs::remove_file(path);
        }
        UnixListener::bind(path)
            .map(|l| Listener::Unix(l, path.to_path_buf()))
            .map_err(|e| {
                ServiceError::Unavailable(format!("cannot listen on {}: {e}", path.display()))
            })
    }

    /// The address clients connect to: `host:port` or the socket path.
    pub fn address(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "?".to_string(), |a| a.to_string()),
            Listener::Unix(_, p) => p.display().to_string(),
        }
    }
}

struct Shared {
    engine: Arc<Engine>,
    config: ServerConfig,
    hashing: Semaphore,
    shutdown: CancellationToken,
    /// Open TCP connections per peer IP address.
    per_address: std::sync::Mutex<HashMap<std::net::IpAddr, usize>>,
}

/// One counted connection from an address; uncounted when dropped.
struct AddressSlot {
    shared: Arc<Shared>,
    ip: std::net::IpAddr,
}

impl AddressSlot {
    /// Counts a connection from `ip`, or `None` when the address has its maximum open.
    fn take(shared: &Arc<Shared>, ip: std::net::IpAddr) -> Option<AddressSlot> {
        let mut map = shared
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if *n >= shared.config.max_per_address.max(1) {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            shared: shared.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self
            .shared
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serves on `listeners` until `shutdown` is cancelled, then finishes in-flight requests,
/// flushes the store and returns.
pub async fn run(
    listeners: Vec<Listener>,
    engine: Arc<Engine>,
    config: ServerConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let shared = Arc::new(Shared {
        hashing: Semaphore::new(config.max_hashing.max(1)),
        engine: engine.clone(),
        config: config.clone(),
        shutdown: shutdown.clone(),
        per_address: std::sync::Mutex::new(HashMap::new()),
    });
    let connections = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let tracker = TaskTracker::new();
    let mut sockets = Vec::new();
    for listener in listeners {
        tracing::info!(address = %listener.address(), "listening");
        if let Listener::Unix(_, p) = &listener {
            sockets.push(p.clone());
        }
        let (shared, connections, tracker2) =
            (shared.clone(), connections.clone(), tracker.clone());
        tracker.spawn(accept_loop(listener, shared, connections, tracker2));
    }
    if let Some(every) = config.score_every {
        let (engine, token) = (engine.clone(), shutdown.clone());
        tracker.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tick.tick() => scheduled_score(&engine, false, "cadence").await,
                }
            }
        });
    }
    shutdown.cancelled().await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    tracker.close();
    if tokio::time::timeout(config.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    for p in sockets {
        let _ = std::fs::remove_file(p);
    }
    let flushed = tokio::task::spawn_blocking(move || engine.flush())
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    flushed?;
    tracing::info!("stopped; store flushed");
    Ok(())
}

async fn accept_loop(
    listener: Listener,
    shared: Arc<Shared>,
    connections: Arc<Semaphore>,
    tracker: TaskTracker,
) {
    loop {
        let permit = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            a = accept(&listener) => a,
        };
        match accepted {
            Ok(Accepted::Tcp(stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let slot = peer
                    .parse::<std::net::SocketAddr>()
                    .ok()
                    .map(|a| AddressSlot::take(&shared, a.ip()));
                tracker.spawn(async move {
                    match slot {
                        Some(None) => refuse_busy(stream, &peer, &shared).await,
                        _ => connection(stream, peer, shared).await,
                    }
                    drop(slot);
                    drop(permit);
                });
            }
            Ok(Accepted::Unix(stream)) => {
                let shared = shared.clone();
                tracker.spawn(async move {
                    connection(stream, "unix".to_string(), shared).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // E.g. too many open files: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Tells a client its address has too many connections open, then closes.
async fn refuse_busy(stream: tokio::net::TcpStream, peer: &str, shared: &Shared) {
    tracing::debug!(peer, "refused: too many connections from this address");
    let mut framed = Framed::new(stream, codec::Frames::new(codec::PRE_AUTH_FRAME));
    let e = ServiceError::Unavailable(format!(
        "too many connections from your address (at most {}); close some and try again",
        shared.config.max_per_address
    ));
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        send(&mut framed, &ServerMsg::Refused(e)),
    )
    .await;
}

enum Accepted {
    Tcp(tokio::net::TcpStream, String),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => {
            let (s, a) = l.accept().await?;
            Ok(Accepted::Tcp(s, a.to_string()))
        }
        Listener::Unix(l, _) => Ok(Accepted::Unix(l.accept().await?.0)),
    }
}

type Conn<S> = Framed<S, codec::Frames>;

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Conn<S>,
    msg: &ServerMsg,
) -> Result<(), ServiceError> {
    let bytes = codec::encode(msg).map_err(|e| ServiceError::Internal(e.to_string()))?;
    framed
        .send(bytes)
        .await
        .map_err(|e| ServiceError::Unavailable(e.to_string()))
}

async fn recv<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Conn<S>,
) -> Result<ClientMsg, ServiceError> {
    match framed.next().await {
        Some(Ok(frame)) => codec::decode(&frame).map_err(|e| ServiceError::Invalid(e.to_string())),
        Some(Err(e)) => Err(ServiceError::Invalid(e.to_string())),
        None => Err(ServiceError::Unavailable("connection closed".into())),
    }
}

/// Handshake and login; returns the session token.
async fn greet<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Conn<S>,
    peer: &str,
    shared: &Shared,
) -> Result<SessionToken, ServiceError> {
    match recv(framed).await? {
        ClientMsg::Hello { magic, version } if magic == MAGIC && version == PROTOCOL_VERSION => {
            send(
                framed,
                &ServerMsg::Welcome {
                    version: PROTOCOL_VERSION,
                },
            )
            .await?;
        }
        ClientMsg::Hello { magic, version } if magic == MAGIC => {
            let e = ServiceError::VersionMismatch {
                client: version,
                server: PROTOCOL_VERSION,
            };
            let _ = send(framed, &ServerMsg::Refused(e.clone())).await;
            return Err(e);
        }
        _ => {
            let e = ServiceError::Invalid("expected the Rapport handshake".into());
            let _ = send(framed, &ServerMsg::Refused(e.clone())).await;
            return Err(e);
        }
    }
    let engine = shared.engine.clone();
    let session = match recv(framed).await? {
        ClientMsg::Login { user, password } => {
            let _permit = shared
                .hashing
                .acquire()
                .await
                .map_err(|_| ServiceError::Unavailable("shutting down".into()))?;
            let peer = peer.to_string();
            tokio::task::spawn_blocking(move || engine.login(&user, &password, &peer))
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?
        }
        ClientMsg::Resume { token } => tokio::task::spawn_blocking(move || engine.resume(&token))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        _ => Err(ServiceError::Unauthenticated("log in first".into())),
    };
    match session {
        Ok(s) => {
            send(
                framed,
                &ServerMsg::LoggedIn {
                    operator: s.operator.clone(),
                    role: s.role,
                    token: s.token.clone(),
                    expires_ms: s.expires.as_millis(),
                },
            )
            .await?;
            Ok(s.token)
        }
        Err(e) => {
            // A refused login is answered slowly (a second), so guessing is slow even
            // without the password check (a locked name) and refusals are few per second.
            if matches!(e, ServiceError::Unauthenticated(_)) {
                tokio::time::sleep(shared.config.failed_login_delay).await;
            }
            let _ = send(framed, &ServerMsg::Refused(e.clone())).await;
            Err(e)
        }
    }
}

struct SubHandle {
    watching: watch::Sender<Watch>,
    forwarder: tokio::task::AbortHandle,
}

async fn connection<S>(stream: S, peer: String, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Until the login succeeds, frames are small (a stranger cannot make the server hold
    // megabytes); after it, up to the protocol's limit.
    let mut framed = Framed::new(stream, codec::Frames::new(codec::PRE_AUTH_FRAME));
    let greeted = tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        r = tokio::time::timeout(shared.config.handshake_timeout, greet(&mut framed, &peer, &shared)) => r,
    };
    let token = match greeted {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::debug!(peer, error = %e, "connection refused");
            return;
        }
        Err(_) => {
            tracing::info!(peer, "handshake timed out");
            return;
        }
    };
    tracing::debug!(peer, "connection open");
    framed.codec_mut().set_max(codec::MAX_FRAME);
    let (mut sink, mut frames) = StreamExt::split::<bytes::Bytes>(framed);
    let (out_tx, mut out_rx) = mpsc::channel::<ServerMsg>(shared.config.out_queue.max(1));
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            let bytes = match (codec::encode(&msg), &msg) {
                (Ok(bytes), _) => bytes,
                // A reply too large for a frame becomes an error reply, so the client is not
                // left waiting.
                (Err(e), ServerMsg::Reply { id, .. }) => {
                    tracing::error!(error = %e, "cannot encode a reply");
                    let refusal = ServerMsg::Reply {
                        id: *id,
                        result: Err(ServiceError::Invalid(format!(
                            "the reply is too large ({e}); ask for a smaller page"
                        ))),
                    };
                    match codec::encode(&refusal) {
                        Ok(b) => b,
                        Err(_) => continue,
                    }
                }
                (Err(e), _) => {
                    tracing::error!(error = %e, "cannot encode a message");
                    continue;
                }
            };
            if sink.send(bytes).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let in_flight = Arc::new(Semaphore::new(shared.config.max_in_flight.max(1)));
    let tasks = TaskTracker::new();
    let mut subs: HashMap<u64, SubHandle> = HashMap::new();
    let max_in_flight = shared.config.max_in_flight.max(1);
    loop {
        // Idle: nothing in flight and nothing subscribed, and no frame for the idle time-out;
        // such a connection is closed (the client reconnects at its next request).
        let is_idle = |subs: &HashMap<u64, SubHandle>| {
            subs.is_empty() && in_flight.available_permits() == max_in_flight
        };
        let was_idle = is_idle(&subs);
        let frame = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            f = frames.next() => f,
            _ = tokio::time::sleep(shared.config.idle_timeout) => {
                if was_idle && is_idle(&subs) {
                    tracing::debug!(peer, "idle connection closed");
                    break;
                }
                continue;
            }
        };
        let msg = match frame {
            None => break,
            Some(Err(e)) => {
                tracing::info!(peer, error = %e, "bad frame; closing the connection");
                break;
            }
            Some(Ok(bytes)) => match codec::decode::<ClientMsg>(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    tracing::info!(peer, error = %e, "bad message; closing the connection");
                    let _ = out_tx
                        .send(ServerMsg::Refused(ServiceError::Invalid(e.to_string())))
                        .await;
                    break;
                }
            },
        };
        let ClientMsg::Request { id, body } = msg else {
            let _ = out_tx
                .send(ServerMsg::Refused(ServiceError::Invalid(
                    "already logged in".into(),
                )))
                .await;
            break;
        };
        // Backpressure: at most max_in_flight requests; beyond it, stop reading.
        let permit = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            p = in_flight.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        match body {
            Request::Subscribe { .. } | Request::SetWatch { .. } | Request::Unsubscribe { .. } => {
                let result = subscription(&shared, &token, body, &out_tx, &mut subs).await;
                drop(permit);
                if out_tx.send(ServerMsg::Reply { id, result }).await.is_err() {
                    break;
                }
            }
            body => {
                let (shared, token, out_tx) = (shared.clone(), token.clone(), out_tx.clone());
                let origin = format!("peer {peer}");
                tasks.spawn(async move {
                    let result = handle(&shared, token, &origin, body).await;
                    let _ = out_tx.send(ServerMsg::Reply { id, result }).await;
                    drop(permit);
                });
            }
        }
    }
    for (_, s) in subs.drain() {
        s.forwarder.abort();
    }
    tasks.close();
    tasks.wait().await;
    drop(out_tx);
    let _ = writer.await;
    tracing::debug!(peer, "connection closed");
}

/// A scoring run the server starts by itself (on its cadence, or after an ingest), as the
/// server; its outcome is logged.
async fn scheduled_score(engine: &Arc<Engine>, incremental: bool, why: &'static str) {
    let engine = engine.clone();
    let caller = Caller {
        operator: "rapport-serve".into(),
        role: rapport_governance::Role::Admin,
    };
    let request = crate::data::ScoreRequest {
        incremental,
        as_of: None,
        value_definition: None,
        threads: 2,
    };
    let run = tokio::task::spawn_blocking(move || engine.score(&caller, &request)).await;
    match run {
        Ok(Ok(r)) => tracing::info!(
            why,
            scored = r.scored,
            full = r.full,
            "scheduled scoring run"
        ),
        Ok(Err(e)) => tracing::warn!(why, error = %e, "scheduled scoring run failed"),
        Err(e) => tracing::warn!(why, error = %e, "scheduled scoring run failed"),
    }
}

/// How long a long request (a backup, an ingest, a scoring run) may take, at the server and
/// in the client.
pub const BACKUP_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

async fn handle(
    shared: &Shared,
    token: SessionToken,
    origin: &str,
    body: Request,
) -> Result<Reply, ServiceError> {
    // Requests that hash a password share the cap with logins.
    let _hashing = match body {
        Request::AddOperator { .. } | Request::SetPassword { .. } => Some(
            shared
                .hashing
                .acquire()
                .await
                .map_err(|_| ServiceError::Unavailable("shutting down".into()))?,
        ),
        _ => None,
    };
    let engine = shared.engine.clone();
    // The server draws nothing on its terminal.
    let mut body = body;
    if let Request::Data(crate::data::DataRequest::Ingest(r)) = &mut body {
        r.progress = false;
    }
    // A backup, an ingest or a scoring run takes as long as the database needs.
    let limit = if body.is_long() {
        BACKUP_TIMEOUT
    } else {
        shared.config.request_timeout
    };
    let origin = origin.to_string();
    let work = tokio::task::spawn_blocking(move || {
        let caller = engine.caller(&token)?;
        engine.handle_from(&caller, &origin, body)
    });
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(Ok(Reply::Data(crate::data::DataReply::Ingested(r)))))
            if shared.config.score_after_ingest && r.rows_stored > 0 =>
        {
            let engine = shared.engine.clone();
            tokio::spawn(async move { scheduled_score(&engine, true, "after an ingest").await });
            Ok(Reply::Data(crate::data::DataReply::Ingested(r)))
        }
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(ServiceError::Internal(format!("request task failed: {e}"))),
        Err(_) => Err(ServiceError::Timeout(limit.as_millis() as u64)),
    }
}

async fn authorized(shared: &Shared, token: &SessionToken) -> Result<Caller, ServiceError> {
    let engine = shared.engine.clone();
    let token = token.clone();
    let caller = tokio::task::spawn_blocking(move || engine.caller(&token))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))??;
    shared.engine.authorize(&caller, Action::Subscribe)?;
    Ok(caller)
}

async fn subscription(
    shared: &Shared,
    token: &SessionToken,
    body: Request,
    out_tx: &mpsc::Sender<ServerMsg>,
    subs: &mut HashMap<u64, SubHandle>,
) -> Result<Reply, ServiceError> {
    match body {
        Request::Subscribe { sub, watch } => {
            authorized(shared, token).await?;
            if let Some(old) = subs.remove(&sub) {
                old.forwarder.abort();
            }
            if subs.len() >= shared.config.max_subscriptions {
                return Err(ServiceError::Invalid(format!(
                    "at most {} subscriptions per connection",
                    shared.config.max_subscriptions
                )));
            }
            let (watching, rx) = watch::channel(watch);
            let mut events = shared.engine.live(rx);
            let out = out_tx.clone();
            // If the connection's queue is full this task waits, its hub queue fills and the
            // hub marks it lagged: the store never waits for a slow console.
            let forwarder = tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    if out.send(ServerMsg::Event { sub, event }).await.is_err() {
                        break;
                    }
                }
            })
            .abort_handle();
            subs.insert(
                sub,
                SubHandle {
                    watching,
                    forwarder,
                },
            );
            Ok(Reply::Done)
        }
        Request::SetWatch { sub, watch } => {
            authorized(shared, token).await?;
            let s = subs
                .get(&sub)
                .ok_or_else(|| ServiceError::NotFound(format!("subscription {sub}")))?;
            let _ = s.watching.send(watch);
            Ok(Reply::Done)
        }
        Request::Unsubscribe { sub } => {
            if let Some(s) = subs.remove(&sub) {
                s.forwarder.abort();
            }
            Ok(Reply::Done)
        }
        _ => Err(ServiceError::Internal("not a subscription request".into())),
    }
}

/// What `rapport serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The database.
    pub db: PathBuf,
    /// TCP address to listen on (loopback unless told otherwise).
    pub listen: Option<String>,
    /// Unix socket path.
    pub socket: Option<PathBuf>,
    /// Limits.
    pub config: ServerConfig,
}

/// Opens the database, listens, writes the server file next to the database (so commands that
/// find the database locked can connect), serves until SIGTERM or SIGINT, then shuts down
/// gracefully and removes the file. `ready` is called with the addresses once listening.
pub async fn serve(
    opts: ServeOptions,
    ready: impl FnOnce(&crate::ServerAddress),
) -> Result<(), ServiceError> {
    let db = opts.db.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::open(&db))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))??;
    engine.warm_search();
    let engine = Arc::new(engine);
    let mut listeners = Vec::new();
    let mut address = crate::ServerAddress {
        pid: Some(std::process::id()),
        ..Default::default()
    };
    if let Some(addr) = &opts.listen {
        let l = Listener::tcp(addr).await?;
        address.listen = Some(l.address());
        listeners.push(l);
    }
    if let Some(path) = &opts.socket {
        let l = Listener::unix(path)?;
        address.socket = Some(l.address());
        listeners.push(l);
    }
    if listeners.is_empty() {
        return Err(ServiceError::Invalid(
            "nothing to listen on: give --listen ADDR or --socket PATH".into(),
        ));
    }
    let file = crate::server_file(&opts.db);
    std::fs::write(&file, address.render())
        .map_err(|e| ServiceError::Unavailable(format!("cannot write {}: {e}", file.display())))?;
    ready(&address);
    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| ServiceError::Internal(format!("cannot handle SIGTERM: {e}")))?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
            _ = signals.cancelled() => return,
        }
        signals.cancel();
        // A second signal ends the process at once: every acknowledged write is already
        // flushed, so nothing acknowledged is lost, only the in-flight requests.
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::warn!("second signal: exiting without waiting for in-flight requests");
        std::process::exit(130);
    });
    let result = run(listeners, engine, opts.config, shutdown.clone()).await;
    shutdown.cancel();
    // Remove the file only if it is still ours (another server may have replaced it).
    if std::fs::read_to_string(&file)
        .is_ok_and(|t| crate::ServerAddress::parse(&t).pid == Some(std::process::id()))
    {
        let _ = std::fs::remove_file(&file);
    }
    result
}
