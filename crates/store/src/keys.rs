//! Key encodings: every keyspace is a two-byte prefix in one sled tree, followed by fixed-width
//! big-endian integers and order-preserving escaped strings, so that byte order is the order
//! the common reads want and those reads are range scans.
//!
//! | keyspace | prefix | rest of the key | value |
//! |---|---|---|---|
//! | customers | `Ec` | customer id (u64 BE) | `Customer` (sealed under the customer's key) |
//! | interactions | `EI` | customer id, then the page's fence: time (i64, sign bit flipped, BE) and interaction id | a page of the customer's interactions from the fence up to the next page's fence (`codec::INTERACTION_PAGE_V1`, body sealed) |
//! | grants | `Eg` | customer id, disruption (raw UTF-8) | `CompensationGrant` (sealed) |
//! | scores | `Ep` | page: customer id / 256 | a page of up to 256 customers' `Scores` (`codec::SCORE_PAGE_V1`) |
//! | removed | `Er` | customer id | `Option<CustomerId>` (merged into) |
//! | index (overlay) | `Xk` | kind (u8), keyed hash of the value (16 bytes, `seal`), customer id | a record: present (1) or removed (0), then the write's sequence number (u64 BE); the entries themselves live in segment files (`segment`, `index`) |
//! | customer_index | `Xr` | customer id | `Vec<IndexKey>`: the customer's index keys, sorted (sealed) |
//! | history_digests | `Xh` | customer id | the caller's compact digest of the customer's interactions; removed by every write to them |
//! | customer_ids | `Xc` | page: customer id / 256 | which of the page's 256 customer ids exist (`codec::ID_PAGE_V1` bitmap), kept by every customer write |
//! | docs | `Dd` | collection (escaped), key (raw UTF-8) | JSON or bincode document, sealed when its writer names an owner |
//! | meta | `Mm` | name (ASCII) | `u64` |
//!
//! The keyspaces whose changes produce change events share the first byte `E`, so the change
//! feed watches one prefix and index and document writes cost the feed nothing. A page of
//! interactions names in its header the interactions its write added, so the feed tells
//! each of them without a key to open the page. Schema 4 kept one key per interaction (`Ei` + customer, time,
//! id); the migration to 5 moves them into pages.

use rapport_core::{CustomerId, InteractionId, Timestamp};

use crate::IndexKind;
use crate::seal::HASH_LEN;

/// A keyspace: one logical tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Space {
    Customers,
    Interactions,
    Grants,
    Scores,
    Removed,
    Index,
    CustomerIndex,
    HistoryDigests,
    /// Customers whose history changed since scoring last read it (`Store::stale_digests`).
    StaleDigests,
    CustomerIds,
    Docs,
    Meta,
}

impl Space {
    pub(crate) const ALL: [Space; 12] = [
        Space::Customers,
        Space::Interactions,
        Space::Grants,
        Space::Scores,
        Space::Removed,
        Space::Index,
        Space::CustomerIndex,
        Space::HistoryDigests,
        Space::StaleDigests,
        Space::CustomerIds,
        Space::Docs,
        Space::Meta,
    ];

    /// The two-byte key prefix.
    pub(crate) fn prefix(self) -> [u8; 2] {
        match self {
            Space::Customers => *b"Ec",
            Space::Interactions => *b"EI",
            Space::Grants => *b"Eg",
            Space::Scores => *b"Ep",
            Space::Removed => *b"Er",
            Space::Index => *b"Xk",
            Space::CustomerIndex => *b"Xr",
            Space::HistoryDigests => *b"Xh",
            Space::StaleDigests => *b"Xs",
            Space::CustomerIds => *b"Xc",
            Space::Docs => *b"Dd",
            Space::Meta => *b"Mm",
        }
    }

    /// The name used in errors, stats and docs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Space::Customers => "customers",
            Space::Interactions => "interactions",
            Space::Grants => "grants",
            Space::Scores => "scores",
            Space::Removed => "removed",
            Space::Index => "index",
            Space::CustomerIndex => "customer_index",
            Space::HistoryDigests => "history_digests",
            Space::StaleDigests => "stale_digests",
            Space::CustomerIds => "customer_ids",
            Space::Docs => "docs",
            Space::Meta => "meta",
        }
    }

    /// The keyspace a raw key belongs to.
    pub(crate) fn of(key: &[u8]) -> Option<Space> {
        let p = key.get(..2)?;
        Space::ALL.into_iter().find(|s| s.prefix() == p)
    }
}

/// The prefix every evented keyspace shares (see the module doc).
pub(crate) const EVENTED_PREFIX: &[u8] = b"E";

/// Where schema version 4 kept one interaction per key (`Ei` + customer id, flipped time, id).
pub(crate) const LEGACY_INTERACTIONS_PREFIX: &[u8] = b"Ei";

/// A schema-4 interaction key (for the migration's tests).
#[cfg(test)]
pub(crate) fn legacy_interaction(
    customer: CustomerId,
    at: Timestamp,
    id: InteractionId,
) -> Vec<u8> {
    let mut k = LEGACY_INTERACTIONS_PREFIX.to_vec();
    k.extend_from_slice(&customer.0.to_be_bytes());
    k.extend_from_slice(&time_bytes(at));
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

/// The customer, time and id of a schema-4 interaction key.
pub(crate) fn parse_legacy_interaction(
    raw: &[u8],
) -> Option<(CustomerId, Timestamp, InteractionId)> {
    let b = raw.strip_prefix(LEGACY_INTERACTIONS_PREFIX)?;
    if b.len() != 24 {
        return None;
    }
    let (c, rest) = take_u64(b)?;
    let t: [u8; 8] = rest.get(..8)?.try_into().ok()?;
    let (i, _) = take_u64(&rest[8..])?;
    Some((CustomerId(c), time_from(t), InteractionId(i)))
}

/// Timestamps flipped so that unsigned big-endian byte order equals signed order.
pub(crate) fn time_bytes(t: Timestamp) -> [u8; 8] {
    ((t.0 as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn time_from(b: [u8; 8]) -> Timestamp {
    Timestamp((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

/// Appends `s` escaped so that the encoding preserves byte order and is prefix-free:
/// `0x00` becomes `00 FF`, and the string ends with `00 01`.
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    push_escaped_open(out, s);
    out.extend_from_slice(&[0, 1]);
}

/// Like [`push_escaped`] without the terminator: the encoding of every string that starts
/// with `s` starts with these bytes (for prefix scans).
pub(crate) fn push_escaped_open(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        if b == 0 {
            out.extend_from_slice(&[0, 0xFF]);
        } else {
            out.push(b);
        }
    }
}

/// Reads an escaped string from the front of `b`; returns it and the rest.
pub(crate) fn take_escaped(b: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == 0 {
            match b.get(i + 1)? {
                0xFF => out.push(0),
                1 => return Some((out, &b[i + 2..])),
                _ => return None,
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    None
}

fn take_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    let head: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(head), &b[8..]))
}

fn with_prefix(space: Space, cap: usize) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + cap);
    k.extend_from_slice(&space.prefix());
    k
}

pub(crate) fn customer(id: CustomerId) -> Vec<u8> {
    let mut k = with_prefix(Space::Customers, 8);
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn removed(id: CustomerId) -> Vec<u8> {
    let mut k = with_prefix(Space::Removed, 8);
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

/// Where schema version 1 kept one customer's scores per key (`Es` + customer id).
pub(crate) const LEGACY_SCORES_PREFIX: &[u8] = b"Es";

/// The page holding a customer's scores, and the customer's slot in it.
pub(crate) fn score_slot(id: CustomerId) -> (u64, u8) {
    (
        id.0 / crate::codec::PAGE_SLOTS,
        (id.0 % crate::codec::PAGE_SLOTS) as u8,
    )
}

/// The key of a page of scores.
pub(crate) fn score_page(page: u64) -> Vec<u8> {
    let mut k = with_prefix(Space::Scores, 8);
    k.extend_from_slice(&page.to_be_bytes());
    k
}

/// The key of a page of customer ids (customers `page * 256 .. page * 256 + 256`).
pub(crate) fn customer_id_page(page: u64) -> Vec<u8> {
    let mut k = with_prefix(Space::CustomerIds, 8);
    k.extend_from_slice(&page.to_be_bytes());
    k
}

/// All keys of `space` that belong to customer `id` start with this.
pub(crate) fn customer_prefix(space: Space, id: CustomerId) -> Vec<u8> {
    let mut k = with_prefix(space, 8);
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

/// The key of the customer's page of interactions whose fence is (`at`, `id`): the page holds
/// the customer's interactions from the fence (inclusive) up to the next page's fence, or all
/// older ones too when it is the customer's first page.
pub(crate) fn interaction_page(customer: CustomerId, at: Timestamp, id: InteractionId) -> Vec<u8> {
    let mut k = with_prefix(Space::Interactions, 24);
    k.extend_from_slice(&customer.0.to_be_bytes());
    k.extend_from_slice(&time_bytes(at));
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn grant(customer: CustomerId, disruption: &str) -> Vec<u8> {
    let mut k = with_prefix(Space::Grants, 8 + disruption.len());
    k.extend_from_slice(&customer.0.to_be_bytes());
    k.extend_from_slice(disruption.as_bytes());
    k
}

pub(crate) fn index(kind: IndexKind, hash: &[u8; HASH_LEN], customer: CustomerId) -> Vec<u8> {
    let mut k = index_value_prefix(kind, hash);
    k.extend_from_slice(&customer.0.to_be_bytes());
    k
}

/// Every customer indexed under exactly (`kind`, the value of `hash`).
pub(crate) fn index_value_prefix(kind: IndexKind, hash: &[u8; HASH_LEN]) -> Vec<u8> {
    let mut k = with_prefix(Space::Index, 1 + HASH_LEN + 8);
    k.push(kind.code());
    k.extend_from_slice(hash);
    k
}

/// The reverse index: one value per customer listing its index keys, so replacing them
/// reads one value and costs one write.
pub(crate) fn customer_index(customer: CustomerId) -> Vec<u8> {
    customer_prefix(Space::CustomerIndex, customer)
}

pub(crate) fn history_digest(customer: CustomerId) -> Vec<u8> {
    customer_prefix(Space::HistoryDigests, customer)
}

pub(crate) fn stale_digest(customer: CustomerId) -> Vec<u8> {
    customer_prefix(Space::StaleDigests, customer)
}

pub(crate) fn doc_collection(collection: &str) -> Vec<u8> {
    let mut k = with_prefix(Space::Docs, collection.len() + 2);
    push_escaped(&mut k, collection.as_bytes());
    k
}

pub(crate) fn doc(collection: &str, key: &str) -> Vec<u8> {
    let mut k = doc_collection(collection);
    k.extend_from_slice(key.as_bytes());
    k
}

pub(crate) fn meta(name: &str) -> Vec<u8> {
    let mut k = with_prefix(Space::Meta, name.len());
    k.extend_from_slice(name.as_bytes());
    k
}

/// Parsed keys, for decoding scans and printing keys in errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Customer(CustomerId),
    /// A page of the customer's interactions, by its fence (time, id).
    Interaction(CustomerId, Timestamp, InteractionId),
    Grant(CustomerId, String),
    /// A page of scores: customers `page * 256 .. page * 256 + 256`.
    ScorePage(u64),
    /// A page of customer ids: customers `page * 256 .. page * 256 + 256`.
    CustomerIdPage(u64),
    Removed(CustomerId),
    Index(IndexKind, [u8; HASH_LEN], CustomerId),
    CustomerIndex(CustomerId),
    HistoryDigest(CustomerId),
    StaleDigest(CustomerId),
    Doc(String, String),
    Meta(String),
}

impl Key {
    /// Parses a raw key; `None` when it is not a well-formed key of a known keyspace.
    pub(crate) fn parse(raw: &[u8]) -> Option<Key> {
        let space = Space::of(raw)?;
        let b = &raw[2..];
        let text = |v: Vec<u8>| String::from_utf8(v).ok();
        Some(match space {
            Space::Scores | Space::CustomerIds => {
                let (page, rest) = take_u64(b)?;
                if !rest.is_empty() {
                    return None;
                }
                match space {
                    Space::Scores => Key::ScorePage(page),
                    _ => Key::CustomerIdPage(page),
                }
            }
            Space::Customers
            | Space::Removed
            | Space::CustomerIndex
            | Space::HistoryDigests
            | Space::StaleDigests => {
                let (id, rest) = take_u64(b)?;
                if !rest.is_empty() {
                    return None;
                }
                let id = CustomerId(id);
                match space {
                    Space::Customers => Key::Customer(id),
                    Space::CustomerIndex => Key::CustomerIndex(id),
                    Space::HistoryDigests => Key::HistoryDigest(id),
                    Space::StaleDigests => Key::StaleDigest(id),
                    _ => Key::Removed(id),
                }
            }
            Space::Interactions => {
                let (c, rest) = take_u64(b)?;
                let t: [u8; 8] = rest.get(..8)?.try_into().ok()?;
                let (i, rest) = take_u64(&rest[8..])?;
                if !rest.is_empty() {
                    return None;
                }
                Key::Interaction(CustomerId(c), time_from(t), InteractionId(i))
            }
            Space::Grants => {
                let (c, rest) = take_u64(b)?;
                Key::Grant(CustomerId(c), text(rest.to_vec())?)
            }
            Space::Index => {
                let kind = IndexKind::from_code(*b.first()?)?;
                let hash: [u8; HASH_LEN] = b.get(1..1 + HASH_LEN)?.try_into().ok()?;
                let (c, rest) = take_u64(&b[1 + HASH_LEN..])?;
                if !rest.is_empty() {
                    return None;
                }
                Key::Index(kind, hash, CustomerId(c))
            }
            Space::Docs => {
                let (coll, rest) = take_escaped(b)?;
                Key::Doc(text(coll)?, text(rest.to_vec())?)
            }
            Space::Meta => Key::Meta(text(b.to_vec())?),
        })
    }
}

/// A printable form of a raw key, for error messages: `C00000042`,
/// `C00000042/2026-11-22T14:05:00Z/I0000000007`, `email:a@b.example/C00000042`...
pub(crate) fn describe(raw: &[u8]) -> String {
    match Key::parse(raw) {
        Some(Key::ScorePage(p)) => format!("scores page {p}"),
        Some(Key::CustomerIdPage(p)) => format!("customer ids page {p}"),
        Some(
            Key::Customer(c)
            | Key::Removed(c)
            | Key::CustomerIndex(c)
            | Key::HistoryDigest(c)
            | Key::StaleDigest(c),
        ) => c.to_string(),
        Some(Key::Interaction(c, t, i)) => format!("{c}/{t}/{i}"),
        Some(Key::Grant(c, d)) => format!("{c}/{d}"),
        Some(Key::Index(k, h, c)) => {
            let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
            format!("{k}:#{hex}/{c}")
        }
        Some(Key::Doc(coll, k)) => format!("{coll}/{k}"),
        Some(Key::Meta(m)) => m,
        None => raw.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`: no such key).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn kind() -> impl Strategy<Value = IndexKind> {
        proptest::sample::select(IndexKind::ALL.to_vec())
    }

    /// Strings with NUL bytes and 0xFF-adjacent characters, where escaping could go wrong.
    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('\0'),
                Just('\u{1}'),
                Just('a'),
                Just('b'),
                Just('ÿ'),
                any::<char>()
            ],
            0..8,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn timestamps_keep_their_order(a in any::<i64>(), b in any::<i64>()) {
            let (ta, tb) = (Timestamp(a), Timestamp(b));
            prop_assert_eq!(ta.cmp(&tb), time_bytes(ta).cmp(&time_bytes(tb)));
            prop_assert_eq!(time_from(time_bytes(ta)), ta);
        }

        #[test]
        fn interaction_keys_sort_by_customer_time_id(
            a in (any::<u64>(), any::<i64>(), any::<u64>()),
            b in (any::<u64>(), any::<i64>(), any::<u64>()),
        ) {
            let ka = interaction_page(CustomerId(a.0), Timestamp(a.1), InteractionId(a.2));
            let kb = interaction_page(CustomerId(b.0), Timestamp(b.1), InteractionId(b.2));
            prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
            prop_assert_eq!(
                Key::parse(&ka),
                Some(Key::Interaction(CustomerId(a.0), Timestamp(a.1), InteractionId(a.2)))
            );
        }

        #[test]
        fn customer_keys_sort_by_id(a in any::<u64>(), b in any::<u64>()) {
            prop_assert_eq!(
                a.cmp(&b),
                customer(CustomerId(a)).cmp(&customer(CustomerId(b)))
            );
        }

        #[test]
        fn escaped_strings_keep_order_and_round_trip(a in text(), b in text()) {
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            push_escaped(&mut ea, a.as_bytes());
            push_escaped(&mut eb, b.as_bytes());
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), ea.cmp(&eb));
            let (back, rest) = take_escaped(&ea).unwrap();
            prop_assert_eq!(back, a.as_bytes().to_vec());
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn index_keys_sort_by_kind_hash_customer_and_parse_back(
            ka in kind(), ha in any::<[u8; 16]>(), ca in any::<u64>(),
            kb in kind(), hb in any::<[u8; 16]>(), cb in any::<u64>(),
        ) {
            let a = index(ka, &ha, CustomerId(ca));
            let b = index(kb, &hb, CustomerId(cb));
            let expected = (ka.code(), ha, ca).cmp(&(kb.code(), hb, cb));
            prop_assert_eq!(expected, a.cmp(&b));
            prop_assert_eq!(Key::parse(&a), Some(Key::Index(ka, ha, CustomerId(ca))));
            // Exact lookup: the value prefix never matches another value.
            prop_assert_eq!(b.starts_with(&index_value_prefix(ka, &ha)), kb == ka && hb == ha);
            let r = customer_index(CustomerId(ca));
            prop_assert_eq!(Key::parse(&r), Some(Key::CustomerIndex(CustomerId(ca))));
        }

        #[test]
        fn doc_keys_group_by_collection(ca in text(), ka in text(), cb in text(), kb in text()) {
            let a = doc(&ca, &ka);
            let b = doc(&cb, &kb);
            prop_assert_eq!(
                (ca.as_bytes(), ka.as_bytes()).cmp(&(cb.as_bytes(), kb.as_bytes())),
                a.cmp(&b)
            );
            prop_assert_eq!(b.starts_with(&doc_collection(&ca)), ca == cb);
            prop_assert_eq!(Key::parse(&a), Some(Key::Doc(ca, ka)));
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_key_parser(raw in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = Key::parse(&raw);
            let _ = describe(&raw);
        }
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"Ei"), Some(b"Ej".to_vec()));
        let legacy = legacy_interaction(CustomerId(3), Timestamp(-5), InteractionId(9));
        assert_eq!(
            parse_legacy_interaction(&legacy),
            Some((CustomerId(3), Timestamp(-5), InteractionId(9)))
        );
        assert_eq!(Space::of(&legacy), None);
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
    }
}
