//! The one module that knows the wire format: length-delimited frames carrying bincode 2
//! messages.
//!
//! Frames are a 4-byte big-endian length and that many bytes, at most [`MAX_FRAME`] (and at
//! most [`PRE_AUTH_FRAME`] before a connection has logged in). The length is checked when it
//! arrives, and the buffer grows only as the frame's bytes arrive: a client announcing a
//! large frame and sending half of it holds only what it sent. Messages decode with a byte limit (bincode 2 without one aborts the process on a
//! hostile length prefix) and must consume the whole frame. Every message starts with a format
//! byte so the codec can be replaced in one place.

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use bytes::{Buf, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// Largest frame either side accepts (4 MiB: a record with a page of interactions is far
/// smaller).
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// Largest frame the server reads before a login succeeded (16 KiB: a handshake or a login
/// with a 256-character password is well under 2 KiB), so that unauthenticated clients cannot
/// make the server hold megabytes each.
pub const PRE_AUTH_FRAME: usize = 16 * 1024;

/// Decoding may allocate at most this much for one message (in-memory size, with room for
/// legitimate lists).
pub const DECODE_LIMIT: usize = 16 * 1024 * 1024;

/// The format byte that starts every message: bincode 2, standard configuration.
pub const FORMAT_BINCODE2: u8 = 1;

type Config = Configuration<LittleEndian, Varint, Limit<DECODE_LIMIT>>;

fn config() -> Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The frame is empty.
    #[error("empty frame")]
    Empty,
    /// The frame does not start with a known format byte.
    #[error("unknown message format {0}")]
    UnknownFormat(u8),
    /// The frame is larger than [`MAX_FRAME`].
    #[error("message of {0} bytes exceeds the {MAX_FRAME}-byte frame limit")]
    TooLarge(usize),
    /// bincode refused the bytes.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message decoded but did not use the whole frame.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// The value could not be encoded.
    #[error("cannot encode message: {0}")]
    Encode(String),
}

/// The framing both sides use, with the limit [`MAX_FRAME`].
pub fn frames() -> Frames {
    Frames::new(MAX_FRAME)
}

/// Length-delimited frames (4-byte big-endian length) with a limit that can change on a live
/// connection ([`Frames::set_max`]). Unlike tokio-util's `LengthDelimitedCodec`, decoding
/// never reserves room for a whole announced frame: the read buffer grows as bytes arrive.
#[derive(Debug)]
pub struct Frames {
    max: usize,
    encoder: LengthDelimitedCodec,
}

impl Frames {
    /// Frames of at most `max` bytes each way.
    pub fn new(max: usize) -> Frames {
        Frames {
            max,
            encoder: LengthDelimitedCodec::builder()
                .max_frame_length(MAX_FRAME)
                .length_field_length(4)
                .new_codec(),
        }
    }

    /// The largest frame accepted from now on.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// The largest frame accepted.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl Decoder for Frames {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, std::io::Error> {
        let Some(head) = src.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > self.max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("frame of {len} bytes exceeds the {}-byte limit", self.max),
            ));
        }
        if src.len() < 4 + len {
            // No reserve for the rest: the buffer grows as the bytes come.
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(len)))
    }
}

impl Encoder<Bytes> for Frames {
    type Error = std::io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        self.encoder.encode(item, dst)
    }
}

/// Encodes a message into one frame's payload.
pub fn encode<T: Serialize>(msg: &T) -> Result<Bytes, CodecError> {
    let mut out = vec![FORMAT_BINCODE2];
    bincode::serde::encode_into_std_write(msg, &mut out, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if out.len() > MAX_FRAME {
        return Err(CodecError::TooLarge(out.len()));
    }
    Ok(Bytes::from(out))
}

/// Decodes one frame's payload; refuses unknown formats, oversized input, malformed bytes
/// and trailing bytes.
pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, CodecError> {
    let (&format, body) = frame.split_first().ok_or(CodecError::Empty)?;
    if format != FORMAT_BINCODE2 {
        return Err(CodecError::UnknownFormat(format));
    }
    if frame.len() > MAX_FRAME {
        return Err(CodecError::TooLarge(frame.len()));
    }
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(body, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::Trailing(body.len() - used));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_trailing_bytes() {
        let v = (42u64, "hello".to_string(), vec![1.5f64]);
        let mut bytes = encode(&v).unwrap().to_vec();
        assert_eq!(decode::<(u64, String, Vec<f64>)>(&bytes).unwrap(), v);
        bytes.push(0);
        assert_eq!(
            decode::<(u64, String, Vec<f64>)>(&bytes),
            Err(CodecError::Trailing(1))
        );
        assert_eq!(decode::<u64>(&[]), Err(CodecError::Empty));
        assert_eq!(decode::<u64>(&[9, 1]), Err(CodecError::UnknownFormat(9)));
    }

    #[test]
    fn hostile_length_prefix_is_refused_not_allocated() {
        // A string claiming 2^40 bytes: without a limit bincode would try to allocate it.
        let mut frame = vec![FORMAT_BINCODE2, 253];
        frame.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(matches!(
            decode::<String>(&frame),
            Err(CodecError::Malformed(_))
        ));
        let mut frame = vec![FORMAT_BINCODE2, 253];
        frame.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(matches!(
            decode::<Vec<u64>>(&frame),
            Err(CodecError::Malformed(_))
        ));
    }
}
