//! Bounded resources per connection: small frames before login, idle signed-in connections
//! closed (and the client reconnecting by itself), connections per address limited.

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rapport_service::codec;
use rapport_service::protocol::{ClientMsg, MAGIC, PROTOCOL_VERSION, ServerMsg};
use rapport_service::{ServerConfig, Service, ServiceError};
use tokio::io::AsyncWriteExt;

use common::{PASSWORD, TestServer, engine};

type Raw = tokio_util::codec::Framed<tokio::net::TcpStream, codec::Frames>;

async fn raw(addr: &str) -> Raw {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_util::codec::Framed::new(stream, codec::frames())
}

async fn logged_in(addr: &str) -> Raw {
    let mut f = raw(addr).await;
    let hello = ClientMsg::Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
    };
    f.send(codec::encode(&hello).unwrap()).await.unwrap();
    let _welcome: ServerMsg = codec::decode(&f.next().await.unwrap().unwrap()).unwrap();
    let login = ClientMsg::Login {
        user: "admin".into(),
        password: PASSWORD.into(),
    };
    f.send(codec::encode(&login).unwrap()).await.unwrap();
    let reply: ServerMsg = codec::decode(&f.next().await.unwrap().unwrap()).unwrap();
    assert!(matches!(reply, ServerMsg::LoggedIn { .. }), "{reply:?}");
    f
}

/// Regression: 1,000 unauthenticated clients each sending half of a 4 MiB frame made the
/// server reserve 4 MiB each (97 MiB to 3.8 GiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_login_a_frame_over_16_kib_ends_the_connection() {
    let (engine, _) = engine().await;
    let server = TestServer::start(engine).await;
    let mut stream = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    stream
        .write_all(&((codec::PRE_AUTH_FRAME + 1) as u32).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&[0u8; 1024]).await.unwrap();
    let mut f = tokio_util::codec::Framed::new(stream, codec::frames());
    let closed = tokio::time::timeout(Duration::from_secs(5), f.next())
        .await
        .expect("the server closes the connection at once");
    assert!(
        matches!(closed, None | Some(Err(_))),
        "no reply to a hostile frame: {closed:?}"
    );
    // After login, a frame of a megabyte is fine (a long list or record request).
    let mut f = logged_in(&server.addr).await;
    let big = ClientMsg::Request {
        id: 1,
        body: rapport_service::protocol::Request::Search {
            query: "x".repeat(1 << 20),
            limit: 5,
        },
    };
    f.send(codec::encode(&big).unwrap()).await.unwrap();
    let reply: ServerMsg = codec::decode(&f.next().await.unwrap().unwrap()).unwrap();
    let ServerMsg::Reply { result, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(
        matches!(result, Err(ServiceError::Invalid(ref m)) if m.contains("longer than")),
        "{result:?}"
    );
    server.stop().await;
}

/// Regression: signed-in connections never timed out; 50 idle sessions under
/// `--max-connections 50` locked out a legitimate search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_the_client_reconnects_by_itself() {
    let (engine, _) = engine().await;
    let config = ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(engine, config).await;
    // A raw idle connection is closed by the server.
    let mut idle = logged_in(&server.addr).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.next())
        .await
        .expect("closed within the idle time-out");
    assert!(matches!(closed, None | Some(Err(_))), "{closed:?}");
    // The client does not notice: its next request reconnects.
    let client = server.admin().await;
    assert!(!client.search("jane", 5).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(!client.search("jane", 5).await.unwrap().is_empty());
    assert!(!client.search("john", 5).await.unwrap().is_empty());
    // A subscribed console is not idle: it keeps its connection and its events.
    let mut sub = client.subscribe(rapport_service::Watch::All).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let reconnecting = std::iter::from_fn(|| sub.events.try_recv().ok())
        .any(|e| matches!(e, rapport_service::LiveEvent::Reconnecting { .. }));
    assert!(!reconnecting, "a subscribed connection is kept");
    server.stop().await;
}

/// Regression: one client reopening 1,100 idle connections made every search take 7-8 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_from_one_address_are_limited() {
    let (engine, _) = engine().await;
    let config = ServerConfig {
        max_per_address: 4,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(engine, config).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(logged_in(&server.addr).await);
    }
    let mut fifth = raw(&server.addr).await;
    let reply = tokio::time::timeout(Duration::from_secs(5), fifth.next())
        .await
        .expect("refused at once")
        .expect("a refusal")
        .unwrap();
    let msg: ServerMsg = codec::decode(&reply).unwrap();
    assert!(
        matches!(msg, ServerMsg::Refused(ServiceError::Unavailable(ref m)) if m.contains("too many connections from your address")),
        "{msg:?}"
    );
    // Closing one makes room.
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _again = logged_in(&server.addr).await;
    server.stop().await;
}

/// Regression: five wrong passwords a minute for a name locked that operator out everywhere
/// (the real admin was refused), refusals were answered at about 4,000 a second, and ten
/// seconds of them wrote 41,334 warning lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_out_the_admin_and_refusals_are_slow() {
    let (engine, _) = engine().await;
    let stranger = "203.0.113.9:5555";
    for _ in 0..8 {
        assert!(engine.login("admin", "guess", stranger).is_err());
    }
    // The stranger's address is locked, for every name ...
    let e = engine.login("admin", PASSWORD, stranger).unwrap_err();
    assert!(e.to_string().contains("too many failed logins"), "{e}");
    let e = engine
        .login("other", "guess", "203.0.113.9:6000")
        .unwrap_err();
    assert!(e.to_string().contains("too many failed logins"), "{e}");
    // ... the admin elsewhere is not.
    assert!(engine.login("admin", PASSWORD, "198.51.100.7:4444").is_ok());
    // A local guesser locks the name on loopback only; the Unix socket still works.
    for _ in 0..6 {
        let _ = engine.login("admin", "guess", "127.0.0.1:40000");
    }
    assert!(engine.login("admin", PASSWORD, "127.0.0.1:40001").is_err());
    assert!(engine.login("admin", PASSWORD, "unix").is_ok());

    // Over the socket a refusal takes the configured delay.
    let server = TestServer::start(engine).await;
    let started = std::time::Instant::now();
    let e = rapport_service::Remote::connect(&server.addr, "nobody", "wrong password")
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Unauthenticated(_)), "{e}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "refused after {:?}",
        started.elapsed()
    );
    server.stop().await;
}
