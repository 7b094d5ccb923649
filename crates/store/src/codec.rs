//! The one place that knows how values are encoded. Every stored value starts with a format
//! byte, so the encoding can change (bincode is unmaintained) without rewriting old data
//! at once: a new format gets a new byte and old bytes keep decoding.
//!
//! - [`BINCODE_V1`]: bincode 2 `standard()` (varint integers) through serde, for the typed
//!   keyspaces (customers, interactions, grants, scores, removed, meta).
//! - [`JSON_V1`]: JSON through serde, for generic documents, so a backup can show them without
//!   knowing their Rust type.
//!
//! Decoding is defensive: bincode 2 has no size limit by default (11 hostile bytes can make it
//! try to allocate terabytes and abort the process), so every decode runs with
//! [`DECODE_LIMIT`], and a value that does not consume its whole input is rejected.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Format byte of bincode-encoded values, version 1.
pub const BINCODE_V1: u8 = 1;
/// Format byte of JSON-encoded documents, version 1.
pub const JSON_V1: u8 = 2;
/// The most memory a decoded value may claim, in bytes. bincode charges the limit by the
/// in-memory size of what it allocates, so it is far above the largest value we store.
pub const DECODE_LIMIT: usize = 16 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Encodes a typed value: format byte, then bincode.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(128);
    out.push(BINCODE_V1);
    bincode::serde::encode_into_std_write(value, &mut out, config()).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes a typed value written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&BINCODE_V1, body)) => {
            let (value, used) = bincode::serde::decode_from_slice::<T, _>(body, config())
                .map_err(|e| e.to_string())?;
            if used != body.len() {
                return Err(format!(
                    "{} trailing bytes after the value",
                    body.len() - used
                ));
            }
            Ok(value)
        }
        Some((other, _)) => Err(format!("unknown value format {other}")),
        None => Err("empty value".into()),
    }
}

/// Encodes a document: format byte, then JSON.
pub fn encode_doc<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(128);
    out.push(JSON_V1);
    serde_json::to_writer(&mut out, value).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes a document written by [`encode_doc`]. serde_json rejects trailing data itself.
pub fn decode_doc<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&JSON_V1, body)) => {
            if body.len() > DECODE_LIMIT {
                return Err(format!("document of {} bytes is too large", body.len()));
            }
            serde_json::from_slice(body).map_err(|e| e.to_string())
        }
        Some((other, _)) => Err(format!("unknown document format {other}")),
        None => Err("empty value".into()),
    }
}
