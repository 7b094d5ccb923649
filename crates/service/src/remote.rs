//! The network client of `rapport serve`.
//!
//! One driver task owns the connection: requests carry ids and replies are matched to them;
//! live events are routed to subscriptions through bounded queues (a slow reader gets
//! `Change::Lagged`). When the connection drops, pending requests fail with `Unavailable`,
//! subscriptions get `LiveEvent::Reconnecting { attempt }` while the driver reconnects with
//! back-off, then the session is resumed (or the client logs in again), subscriptions are
//! restored and get `LiveEvent::Reconnected` (re-read what you show).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rapport_core::{Change, ChangeEvent, Timestamp};
use rapport_governance::{Role, SessionToken};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::Framed;

use crate::api::{
    LiveEvent, Mode, Service, ServiceError, ServiceResult, SessionInfo, Subscription, Watch,
};
use crate::codec;
use crate::live::SUBSCRIPTION_QUEUE;
use crate::protocol::{ClientMsg, MAGIC, PROTOCOL_VERSION, Reply, Request, ServerMsg};

/// How long a request may take before the client gives up.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting, the handshake and login may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of `rapport serve`.
#[derive(Clone, Debug)]
pub struct Remote {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    session: Mutex<SessionInfo>,
    commands: mpsc::Sender<Command>,
    next_sub: AtomicU64,
}

type ReplyTx = oneshot::Sender<ServiceResult<Reply>>;

#[derive(Debug)]
enum Command {
    Request(Request, ReplyTx),
    Subscribe {
        sub: u64,
        watch: Watch,
        events: mpsc::Sender<LiveEvent>,
        reply: ReplyTx,
    },
    SetWatch(u64, Watch),
    Unsubscribe(u64),
    /// The session expired: reconnect and log in again with the password.
    Relogin,
}

#[derive(Debug, Clone)]
struct Credentials {
    addr: String,
    user: String,
    password: String,
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

type Conn = Framed<Box<dyn AsyncReadWrite>, codec::Frames>;

trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

struct LoggedIn {
    conn: Conn,
    operator: String,
    role: Role,
    token: SessionToken,
}

fn is_unix_path(addr: &str) -> bool {
    addr.contains('/') || addr.ends_with(".sock")
}

async fn dial(addr: &str) -> Result<Conn, ServiceError> {
    let stream = if is_unix_path(addr) {
        tokio::net::UnixStream::connect(addr)
            .await
            .map(Stream::Unix)
    } else {
        tokio::net::TcpStream::connect(addr).await.map(Stream::Tcp)
    }
    .map_err(|e| ServiceError::Unavailable(format!("cannot connect to {addr}: {e}")))?;
    let boxed: Box<dyn AsyncReadWrite> = match stream {
        Stream::Tcp(s) => {
            let _ = s.set_nodelay(true);
            Box::new(s)
        }
        Stream::Unix(s) => Box::new(s),
    };
    Ok(Framed::new(boxed, codec::frames()))
}

async fn send(conn: &mut Conn, msg: &ClientMsg) -> Result<(), ServiceError> {
    let bytes = codec::encode(msg).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    conn.send(bytes)
        .await
        .map_err(|e| ServiceError::Unavailable(format!("connection lost: {e}")))
}

async fn recv(conn: &mut Conn) -> Result<ServerMsg, ServiceError> {
    match conn.next().await {
        Some(Ok(frame)) => codec::decode(&frame)
            .map_err(|e| ServiceError::Unavailable(format!("bad message from the server: {e}"))),
        Some(Err(e)) => Err(ServiceError::Unavailable(format!("connection lost: {e}"))),
        None => Err(ServiceError::Unavailable(
            "the server closed the connection".into(),
        )),
    }
}

/// Connects, shakes hands and logs in (resuming `token` first when given).
async fn establish(
    creds: &Credentials,
    token: Option<&SessionToken>,
) -> Result<LoggedIn, ServiceError> {
    let attempt = async {
        let mut conn = dial(&creds.addr).await?;
        send(
            &mut conn,
            &ClientMsg::Hello {
                magic: MAGIC,
                version: PROTOCOL_VERSION,
            },
        )
        .await?;
        match recv(&mut conn).await? {
            ServerMsg::Welcome { .. } => {}
            ServerMsg::Refused(e) => return Err(e),
            other => {
                return Err(ServiceError::Unavailable(format!(
                    "unexpected handshake reply {other:?}"
                )));
            }
        }
        let login = match token {
            Some(t) => ClientMsg::Resume { token: t.clone() },
            None => ClientMsg::Login {
                user: creds.user.clone(),
                password: creds.password.clone(),
            },
        };
        send(&mut conn, &login).await?;
        match recv(&mut conn).await? {
            ServerMsg::LoggedIn {
                operator,
                role,
                token,
                ..
            } => Ok(LoggedIn {
                conn,
                operator,
                role,
                token,
            }),
            ServerMsg::Refused(e) => Err(e),
            other => Err(ServiceError::Unavailable(format!(
                "unexpected login reply {other:?}"
            ))),
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| ServiceError::Timeout(CONNECT_TIMEOUT.as_millis() as u64))?
}

impl Remote {
    /// Connects to `rapport serve` at `addr` (`host:port` or a Unix socket path) and logs in.
    pub async fn connect(addr: &str, user: &str, password: &str) -> Result<Remote, ServiceError> {
        let creds = Credentials {
            addr: addr.to_string(),
            user: user.to_string(),
            password: password.to_string(),
        };
        let logged = establish(&creds, None).await?;
        let session = SessionInfo {
            operator: logged.operator.clone(),
            role: logged.role,
            mode: Mode::Remote {
                addr: addr.to_string(),
            },
        };
        let (commands, rx) = mpsc::channel(256);
        let inner = Arc::new(Inner {
            session: Mutex::new(session),
            commands,
            next_sub: AtomicU64::new(1),
        });
        tokio::spawn(drive(creds, logged, rx, Arc::downgrade(&inner)));
        Ok(Remote { inner })
    }

    /// Sends a request; when the session has expired, logs in again (with the credentials
    /// given to [`Remote::connect`]) and retries once.
    async fn call(&self, req: Request) -> ServiceResult<Reply> {
        match self.call_once(req.clone()).await {
            Err(ServiceError::Unauthenticated(m)) if m.contains("expired") => {
                tracing::info!("session expired; logging in again");
                let _ = self.inner.commands.send(Command::Relogin).await;
                self.call_once(req).await
            }
            r => r,
        }
    }

    async fn call_once(&self, req: Request) -> ServiceResult<Reply> {
        let limit = if req.is_long() {
            crate::server::BACKUP_TIMEOUT
        } else {
            REQUEST_TIMEOUT
        };
        let (tx, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Request(req, tx))
            .await
            .map_err(|_| ServiceError::Unavailable("the client has stopped".into()))?;
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ServiceError::Unavailable("connection lost".into())),
            Err(_) => Err(ServiceError::Timeout(limit.as_millis() as u64)),
        }
    }
}

struct SubState {
    watch: Watch,
    events: mpsc::Sender<LiveEvent>,
    lagged: bool,
}

impl SubState {
    /// Delivers a pending `Lagged` notice once the queue has room; false when the subscriber
    /// has gone.
    fn flush_lag(&mut self) -> bool {
        if !self.lagged {
            return !self.events.is_closed();
        }
        let lag = LiveEvent::Change(ChangeEvent {
            change: Change::Lagged,
            at: Timestamp::now(),
        });
        match self.events.try_send(lag) {
            Ok(()) => {
                self.lagged = false;
                true
            }
            Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Delivers without waiting; a full queue marks the subscription lagged. Returns false
    /// when the subscriber has gone.
    fn deliver(&mut self, event: LiveEvent) -> bool {
        if !self.flush_lag() {
            return false;
        }
        if self.lagged {
            return true;
        }
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.lagged = true;
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// The driver: owns the connection, reconnects when it drops, ends when every [`Remote`]
/// clone is gone.
async fn drive(
    creds: Credentials,
    first: LoggedIn,
    mut commands: mpsc::Receiver<Command>,
    inner: std::sync::Weak<Inner>,
) {
    let mut token = first.token.clone();
    let mut conn = Some(first.conn);
    let mut subs: HashMap<u64, SubState> = HashMap::new();
    let mut pending: HashMap<u64, ReplyTx> = HashMap::new();
    let mut next_id: u64 = 1;
    // Pending `Lagged` notices go out when the reader has made room, even if no further
    // event arrives.
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A command that waits for the connection (sent while it was closed for being idle).
    let mut deferred: Option<Command> = None;
    loop {
        let Some(c) = conn.as_mut() else {
            // A connection with nothing to wait for (no request pending, no subscription)
            // was closed by the server for being idle, or dropped: connect again only when
            // the next command comes, transparently for the caller.
            if pending.is_empty() && subs.is_empty() && deferred.is_none() {
                match commands.recv().await {
                    None => return,
                    Some(Command::Relogin) => {}
                    Some(cmd) => deferred = Some(cmd),
                }
            }
            // Reconnect with back-off, telling subscribers.
            for p in pending.drain() {
                let _ = p.1.send(Err(ServiceError::Unavailable(
                    "connection to the server lost".into(),
                )));
            }
            let mut attempt = 0u32;
            let logged = loop {
                attempt += 1;
                if attempt > 1
                    && let Some(cmd) = deferred.take()
                {
                    refuse_while_down(cmd, &mut subs);
                }
                subs.retain(|_, s| s.deliver(LiveEvent::Reconnecting { attempt }));
                // The first attempt is immediate (commands sent meanwhile wait in the queue);
                // then back off up to 2 s, refusing commands at once instead of queueing them.
                if attempt > 1 {
                    let delay = Duration::from_millis((50u64 << attempt.min(6)).min(2_000));
                    let sleep = tokio::time::sleep(delay);
                    tokio::pin!(sleep);
                    loop {
                        tokio::select! {
                            biased;
                            _ = &mut sleep => break,
                            cmd = commands.recv() => match cmd {
                                None => return,
                                Some(cmd) => refuse_while_down(cmd, &mut subs),
                            },
                        }
                    }
                }
                let resumed = establish(&creds, Some(&token)).await;
                let result = match resumed {
                    Err(ServiceError::Unauthenticated(_)) => establish(&creds, None).await,
                    other => other,
                };
                match result {
                    Ok(l) => break l,
                    Err(e) => tracing::debug!(attempt, error = %e, "reconnect failed"),
                }
            };
            tracing::info!(attempt, "reconnected");
            token = logged.token.clone();
            if let Some(inner) = inner.upgrade() {
                let mut s = inner.session.lock().unwrap_or_else(PoisonError::into_inner);
                s.operator = logged.operator.clone();
                s.role = logged.role;
            }
            let mut c = logged.conn;
            let mut ok = true;
            for (sub, s) in &subs {
                let id = next_id;
                next_id += 1;
                let msg = ClientMsg::Request {
                    id,
                    body: Request::Subscribe {
                        sub: *sub,
                        watch: s.watch.clone(),
                    },
                };
                if send(&mut c, &msg).await.is_err() {
                    ok = false;
                    break;
                }
            }
            if ok {
                subs.retain(|_, s| s.deliver(LiveEvent::Reconnected));
                conn = Some(c);
            }
            continue;
        };
        let cmd = match deferred.take() {
            Some(cmd) => Some(cmd),
            None => tokio::select! {
                _ = tick.tick() => {
                    subs.retain(|_, s| s.flush_lag());
                    continue;
                }
                cmd = commands.recv() => cmd,
                msg = recv(c) => {
                    match msg {
                        Ok(ServerMsg::Reply { id, result }) => {
                            if let Some(tx) = pending.remove(&id) {
                                let _ = tx.send(result);
                            }
                        }
                        Ok(ServerMsg::Event { sub, event }) => {
                            if let Some(s) = subs.get_mut(&sub)
                                && !s.deliver(event)
                            {
                                subs.remove(&sub);
                                let id = next_id;
                                next_id += 1;
                                let _ = send(c, &ClientMsg::Request { id, body: Request::Unsubscribe { sub } }).await;
                            }
                        }
                        Ok(ServerMsg::Refused(e)) => {
                            tracing::warn!(error = %e, "the server refused the connection");
                            conn = None;
                        }
                        Ok(other) => tracing::debug!(?other, "unexpected message from the server"),
                        Err(e) => {
                            tracing::info!(error = %e, "connection lost");
                            conn = None;
                        }
                    }
                    continue;
                }
            },
        };
        let Some(cmd) = cmd else { return };
        if matches!(cmd, Command::Relogin) {
            conn = None;
            continue;
        }
        let id = next_id;
        next_id += 1;
        let (body, reply) = match cmd {
            Command::Request(body, reply) => (body, Some(reply)),
            Command::Subscribe {
                sub,
                watch,
                events,
                reply,
            } => {
                subs.insert(
                    sub,
                    SubState {
                        watch: watch.clone(),
                        events,
                        lagged: false,
                    },
                );
                (Request::Subscribe { sub, watch }, Some(reply))
            }
            Command::SetWatch(sub, watch) => {
                if let Some(s) = subs.get_mut(&sub) {
                    s.watch = watch.clone();
                }
                (Request::SetWatch { sub, watch }, None)
            }
            Command::Unsubscribe(sub) => {
                subs.remove(&sub);
                (Request::Unsubscribe { sub }, None)
            }
            Command::Relogin => continue,
        };
        if let Some(r) = reply {
            pending.insert(id, r);
        }
        if let Err(e) = send(c, &ClientMsg::Request { id, body }).await {
            tracing::info!(error = %e, "connection lost while sending");
            conn = None;
        }
    }
}

fn refuse_while_down(cmd: Command, subs: &mut HashMap<u64, SubState>) {
    let down = || ServiceError::Unavailable("reconnecting to the server".into());
    match cmd {
        Command::Request(_, reply) => {
            let _ = reply.send(Err(down()));
        }
        Command::Subscribe {
            sub,
            watch,
            events,
            reply,
        } => {
            // Restored with the others once connected again.
            subs.insert(
                sub,
                SubState {
                    watch,
                    events,
                    lagged: false,
                },
            );
            let _ = reply.send(Ok(Reply::Done));
        }
        Command::SetWatch(sub, watch) => {
            if let Some(s) = subs.get_mut(&sub) {
                s.watch = watch;
            }
        }
        Command::Unsubscribe(sub) => {
            subs.remove(&sub);
        }
        Command::Relogin => {}
    }
}

impl crate::Transport for Remote {
    fn send(&self, req: Request) -> impl Future<Output = ServiceResult<Reply>> + Send {
        Remote::call(self, req)
    }
}

impl Service for Remote {
    fn session(&self) -> SessionInfo {
        self.inner
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn subscribe(&self, watch: Watch) -> ServiceResult<Subscription> {
        let sub = self.inner.next_sub.fetch_add(1, Ordering::Relaxed);
        let (events_tx, events) = mpsc::channel(SUBSCRIPTION_QUEUE);
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Subscribe {
                sub,
                watch: watch.clone(),
                events: events_tx,
                reply,
            })
            .await
            .map_err(|_| ServiceError::Unavailable("the client has stopped".into()))?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err(e))) => {
                let _ = self.inner.commands.send(Command::Unsubscribe(sub)).await;
                return Err(e);
            }
            Ok(Err(_)) => return Err(ServiceError::Unavailable("connection lost".into())),
            Err(_) => return Err(ServiceError::Timeout(REQUEST_TIMEOUT.as_millis() as u64)),
        }
        let (watching, mut changes) = watch::channel(watch);
        let commands = self.inner.commands.clone();
        // Forward watch changes to the server; end the subscription when it is dropped.
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let w = changes.borrow_and_update().clone();
                if commands.send(Command::SetWatch(sub, w)).await.is_err() {
                    return;
                }
            }
            let _ = commands.send(Command::Unsubscribe(sub)).await;
        });
        Ok(Subscription { events, watching })
    }
}
