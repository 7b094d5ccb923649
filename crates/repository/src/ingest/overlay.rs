//! Index keys the current run has given its customers, held in memory until the store has
//! them (or, on a first load, for the whole run).

use std::collections::HashMap;

use rapport_core::CustomerId;
use rapport_store::{IndexKey, IndexKind};

use crate::quarantine::Fnv;

/// Customers under index keys, by a 64-bit hash of the key: two keys of one hash share their
/// customers, which only adds a candidate (compared like any other), never loses one. A key
/// of one customer (most of them) costs one map entry of 16 bytes, not a string and a list.
#[derive(Default)]
pub(super) struct KeyOverlay {
    one: HashMap<u64, CustomerId>,
    more: HashMap<u64, Vec<CustomerId>>,
}

fn hash(k: &IndexKey) -> u64 {
    let mut h = Fnv::new();
    let kind = IndexKind::ALL
        .iter()
        .position(|x| *x == k.kind)
        .unwrap_or(0);
    h.write(&[kind as u8]);
    h.write(k.value.as_bytes());
    h.finish()
}

impl KeyOverlay {
    /// Records that `customer` holds `key` (once, however often it is added).
    pub(super) fn add(&mut self, key: &IndexKey, customer: CustomerId) {
        let h = hash(key);
        if let Some(list) = self.more.get_mut(&h) {
            if !list.contains(&customer) {
                list.push(customer);
            }
            return;
        }
        match self.one.get(&h) {
            None => {
                self.one.insert(h, customer);
            }
            Some(c) if *c == customer => {}
            Some(c) => {
                let first = *c;
                self.one.remove(&h);
                self.more.insert(h, vec![first, customer]);
            }
        }
    }

    /// The customers recorded under `key`.
    pub(super) fn get(&self, key: &IndexKey) -> &[CustomerId] {
        let h = hash(key);
        match self.one.get(&h) {
            Some(c) => std::slice::from_ref(c),
            None => self.more.get(&h).map(Vec::as_slice).unwrap_or(&[]),
        }
    }

    /// Keys held and the bytes their maps hold (by capacity), for the memory census.
    pub(super) fn census(&self) -> (usize, usize) {
        let lists: usize = self.more.values().map(|v| v.capacity() * 8).sum();
        (
            self.one.len() + self.more.len(),
            self.one.capacity() * 17 + self.more.capacity() * 33 + lists,
        )
    }

    /// Forgets every key.
    pub(super) fn clear(&mut self) {
        self.one.clear();
        self.more.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_their_customers_once_each() {
        let mut o = KeyOverlay::default();
        let e = IndexKey::new(IndexKind::Email, "a@example.com");
        let p = IndexKey::new(IndexKind::Phone, "a@example.com");
        assert!(o.get(&e).is_empty());
        o.add(&e, CustomerId(1));
        o.add(&e, CustomerId(1));
        assert_eq!(o.get(&e), &[CustomerId(1)]);
        o.add(&e, CustomerId(2));
        o.add(&e, CustomerId(1));
        o.add(&e, CustomerId(3));
        assert_eq!(o.get(&e), &[CustomerId(1), CustomerId(2), CustomerId(3)]);
        // Same value, another kind: another key.
        assert!(o.get(&p).is_empty());
        o.clear();
        assert!(o.get(&e).is_empty());
    }
}
