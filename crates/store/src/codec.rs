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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use rapport_core::{
        Amount, AmountRole, AttrValue, Channel, Currency, CustomerId, Interaction, InteractionId,
        InteractionKind, Money, Phase, Timestamp,
    };

    use super::*;

    fn attr() -> impl Strategy<Value = AttrValue> {
        prop_oneof![
            any::<String>().prop_map(AttrValue::Text),
            any::<i64>().prop_map(AttrValue::Int),
            // NaN != NaN, so compare finite floats only.
            (-1e12f64..1e12).prop_map(AttrValue::Float),
            any::<bool>().prop_map(AttrValue::Bool),
            any::<i64>().prop_map(|m| AttrValue::Money(Money::new(m, Currency::EUR))),
            prop_oneof![any::<i64>(), -62_135_596_800_000i64..=253_402_300_799_999]
                .prop_map(|t| AttrValue::Time(Timestamp(t))),
        ]
    }

    fn interaction() -> impl Strategy<Value = Interaction> {
        (
            any::<u64>(),
            any::<u64>(),
            prop_oneof![any::<i64>(), -62_135_596_800_000i64..=253_402_300_799_999],
            proptest::option::of(any::<String>()),
            "[a-z_]{1,12}",
            proptest::collection::btree_map("[a-z_]{1,10}", attr(), 0..6),
            proptest::collection::vec(any::<i64>(), 0..3),
            proptest::option::of(any::<String>()),
        )
            .prop_map(|(id, c, at, touchpoint, kind, attributes, amounts, text)| {
                let mut i = Interaction::new(
                    InteractionId(id),
                    CustomerId(c),
                    Timestamp(at),
                    Channel::CallCenter,
                    kind.parse().unwrap_or(InteractionKind::Note),
                );
                i.touchpoint = touchpoint;
                i.attributes = attributes;
                i.amounts = amounts
                    .into_iter()
                    .map(|m| Amount {
                        role: AmountRole::Revenue,
                        money: Money::new(m, Currency::USD),
                    })
                    .collect();
                i.phase = Some(Phase::Post);
                i.text = text;
                i
            })
    }

    proptest! {
        #[test]
        fn interactions_round_trip(i in interaction()) {
            let bytes = encode(&i).unwrap();
            prop_assert_eq!(bytes[0], BINCODE_V1);
            prop_assert_eq!(decode::<Interaction>(&bytes).unwrap(), i.clone());
            // JSON carries timestamps as RFC 3339, which covers years 0001-9999 only.
            let in_rfc3339_range = (-62_135_596_800_000..=253_402_300_799_999).contains(&i.at.0)
                && i.attributes.values().all(|a| match a {
                    AttrValue::Time(t) => (-62_135_596_800_000..=253_402_300_799_999).contains(&t.0),
                    _ => true,
                });
            if in_rfc3339_range {
                let doc = encode_doc(&i).unwrap();
                prop_assert_eq!(decode_doc::<Interaction>(&doc).unwrap(), i);
            }
        }

        #[test]
        fn maps_and_options_round_trip(m in proptest::collection::btree_map(any::<String>(), proptest::option::of(any::<u64>()), 0..10)) {
            prop_assert_eq!(decode::<BTreeMap<String, Option<u64>>>(&encode(&m).unwrap()).unwrap(), m);
        }

        #[test]
        fn arbitrary_bytes_decode_to_an_error_or_a_value_never_a_crash(
            raw in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            let _ = decode::<Interaction>(&raw);
            let _ = decode::<rapport_core::Customer>(&raw);
            let _ = decode_doc::<serde_json::Value>(&raw);
        }
    }

    #[test]
    fn hostile_lengths_and_trailing_bytes_are_rejected() {
        // A string claiming 2^40 bytes: without the limit bincode would try to allocate it.
        let hostile = [BINCODE_V1, 0xFD, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(decode::<String>(&hostile).is_err());
        let vec_of_strings = [BINCODE_V1, 0xFD, 0, 0, 0, 0, 0, 1, 0, 0, 0];
        assert!(decode::<Vec<String>>(&vec_of_strings).is_err());
        let mut ok = encode(&7u32).unwrap();
        assert_eq!(decode::<u32>(&ok).unwrap(), 7);
        ok.push(0);
        assert!(decode::<u32>(&ok).unwrap_err().contains("trailing"));
        assert!(decode::<u32>(&[]).is_err());
        assert!(
            decode::<u32>(&[JSON_V1, b'7'])
                .unwrap_err()
                .contains("format")
        );
    }
}
