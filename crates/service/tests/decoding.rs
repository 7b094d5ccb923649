//! Frame and message decoding under hostile input: oversized, truncated and random frames
//! are refused without panicking or allocating beyond the limits; a server that receives them
//! closes that connection and keeps serving others.

mod common;

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;
use rapport_core::CustomerId;
use rapport_service::api::InteractionQuery;
use rapport_service::codec::{self, CodecError, MAX_FRAME};
use rapport_service::protocol::{ClientMsg, MAGIC, Request, ServerMsg};
use tokio_util::codec::Decoder;

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        (any::<u32>()).prop_map(|version| ClientMsg::Hello {
            magic: MAGIC,
            version
        }),
        (".{0,40}", ".{0,40}").prop_map(|(user, password)| ClientMsg::Login { user, password }),
        (any::<u64>(), ".{0,200}", any::<usize>()).prop_map(|(id, query, limit)| {
            ClientMsg::Request {
                id,
                body: Request::Search { query, limit },
            }
        }),
        (any::<u64>(), any::<u64>(), 0usize..1000).prop_map(|(id, c, limit)| ClientMsg::Request {
            id,
            body: Request::Open {
                customer: CustomerId(c),
                query: InteractionQuery {
                    limit,
                    ..Default::default()
                },
            },
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = codec::decode::<ClientMsg>(&bytes);
        let _ = codec::decode::<ServerMsg>(&bytes);
        let mut with_format = vec![codec::FORMAT_BINCODE2];
        with_format.extend_from_slice(&bytes);
        let _ = codec::decode::<ClientMsg>(&with_format);
        let _ = codec::decode::<ServerMsg>(&with_format);
    }

    #[test]
    fn valid_messages_round_trip_and_every_truncation_is_refused(msg in client_msg()) {
        let bytes = codec::encode(&msg).unwrap();
        prop_assert_eq!(codec::decode::<ClientMsg>(&bytes).unwrap(), msg);
        for cut in 0..bytes.len() {
            prop_assert!(codec::decode::<ClientMsg>(&bytes[..cut]).is_err(), "prefix {} decoded", cut);
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        prop_assert_eq!(codec::decode::<ClientMsg>(&longer), Err(CodecError::Trailing(1)));
    }

    #[test]
    fn hostile_length_prefixes_are_refused_without_allocating(
        tag in 0u8..8,
        claimed in (1u64 << 24)..u64::MAX,
    ) {
        // A variant tag, then a varint claiming a huge string or list.
        let mut frame = vec![codec::FORMAT_BINCODE2, 3, 0, tag, 253];
        frame.extend_from_slice(&claimed.to_le_bytes());
        frame.extend_from_slice(b"short");
        prop_assert!(codec::decode::<ClientMsg>(&frame).is_err());
        prop_assert!(codec::decode::<ServerMsg>(&frame).is_err());
    }

    #[test]
    fn random_frame_streams_never_panic_and_never_buffer_past_the_limit(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..512), 0..16)
    ) {
        let mut dec = codec::frames();
        let mut buf = BytesMut::new();
        'feed: for c in chunks {
            buf.extend_from_slice(&c);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        prop_assert!(frame.len() <= MAX_FRAME);
                        let _ = codec::decode::<ClientMsg>(&frame);
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed, // the connection would be closed
                }
            }
            prop_assert!(buf.capacity() <= MAX_FRAME + 64 * 1024);
        }
    }
}

#[test]
fn an_oversized_frame_header_is_refused_before_reserving_memory() {
    let mut dec = codec::frames();
    let mut buf = BytesMut::new();
    buf.put_u32((MAX_FRAME + 1) as u32);
    buf.put_slice(b"x");
    assert!(dec.decode(&mut buf).is_err());
    assert!(
        buf.capacity() < 1024,
        "nothing reserved for the claimed frame"
    );
    let mut dec = codec::frames();
    let mut buf = BytesMut::new();
    buf.put_u32(u32::MAX);
    assert!(dec.decode(&mut buf).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_drops_hostile_connections_and_keeps_serving() {
    use rapport_service::Service;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (engine, _) = common::engine().await;
    let server = common::TestServer::start(engine).await;
    for hostile in [
        // Oversized frame header.
        {
            let mut v = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
            v.extend_from_slice(&[0; 64]);
            v
        },
        // A frame of garbage.
        {
            let mut v = 16u32.to_be_bytes().to_vec();
            v.extend_from_slice(&[0xff; 16]);
            v
        },
        // Not the protocol at all.
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    ] {
        let mut s = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
        s.write_all(&hostile).await.unwrap();
        let mut sink = Vec::new();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(15), s.read_to_end(&mut sink))
                .await;
        assert!(read.is_ok(), "the server closes a hostile connection");
    }
    let admin = server.admin().await;
    assert_eq!(admin.overview().await.unwrap().customers, 3);
    server.stop().await;
}
