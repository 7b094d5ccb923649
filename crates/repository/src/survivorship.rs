//! Survivorship: building a customer's golden record from all its fragments.
//!
//! The rules, in the order they apply:
//!
//! 1. **One value per golden field** (names, birth date, loyalty number and status, extra
//!    fields): the value of the *most trusted* source that has one, and among fragments of
//!    equally trusted sources the *most recently observed* non-empty value. Trust is the order
//!    given by the manifest's `trust` list (first = most trusted); sources not listed come
//!    after, in name order. Every golden value keeps its source record and time ([`Sourced`]).
//! 2. **Display name**: given and family name for persons (the full name when a source does not
//!    split names); the organisation's name otherwise.
//! 3. **City and country** come from the current postal address.
//! 4. **Contact history**: every distinct e-mail, phone and address becomes a contact point,
//!    valid from its first observation (an address from its `address_since` when the source
//!    gives one). A newer address closes the previous one (`valid_to`): a move is contact
//!    history of the same customer. E-mails and phones stay current.
//! 5. **Identifiers**: every source record of the customer.
//! 6. **Kind**: the kind the most trusted, newest fragment states.
//! 7. **Quality flags**: no current contact; contact points not confirmed for two years;
//!    sources disagreeing on birth date or family name; a pending review (kept from the stored
//!    customer, set by the review queue).
//!
//! Preferences and relationships stated by other customers' records are kept from the stored
//! customer: they are not derived from this customer's fragments.

use std::collections::BTreeMap;

use rapport_core::{
    ContactKind, ContactPoint, Customer, CustomerId, Date, PartyKind, Profile, QualityFlag,
    Relationship, Sourced, Timestamp,
};

use crate::fragment::{Address, Fragment};

/// Key in [`Fragment::extra`] under which ingest keeps the booking references a source record
/// carried (space separated). Keys starting with `_` are internal and never golden fields.
pub const BOOKING_REFS: &str = "_booking_refs";

/// Key in [`Fragment::extra`] under which ingest keeps the phone numbers a source record
/// carried that could not be read as numbers of the source's region (a French number typed
/// in its national form at a British call center): their digits without the trunk `0`, space
/// separated. Never a golden contact (its country is unknown); the resolver compares and
/// blocks on its subscriber digits.
pub const NATIONAL_PHONES: &str = "_national_phones";

/// How long a contact point may go unconfirmed before it is flagged stale.
pub const STALE_AFTER_MS: i64 = 2 * 365 * 24 * 3_600_000;

/// Source trust for survivorship: the manifest's order, most trusted first.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trust {
    /// Source names, most trusted first.
    pub order: Vec<String>,
}

impl Trust {
    /// The rank of a source: its position in the list, or after all listed ones.
    pub fn rank(&self, source: &str) -> usize {
        self.order
            .iter()
            .position(|s| s == source)
            .unwrap_or(self.order.len())
    }
}

/// Builds the customer `id` from its fragments. `existing` is the stored customer (its
/// creation time, preferences, review flag and relationships stated by others are kept);
/// `relationships` are the ones this customer's own fragments state, already resolved.
pub fn build(
    id: CustomerId,
    existing: Option<&Customer>,
    fragments: &[Fragment],
    relationships: Vec<Relationship>,
    trust: &Trust,
    now: Timestamp,
) -> Customer {
    // Most trusted first, then newest first; ties by source reference for determinism.
    let mut order: Vec<&Fragment> = fragments.iter().collect();
    order.sort_by(|a, b| {
        trust
            .rank(&a.source.source)
            .cmp(&trust.rank(&b.source.source))
            .then(b.observed_at.cmp(&a.observed_at))
            .then(a.source.cmp(&b.source))
    });
    let pick = |get: &dyn Fn(&Fragment) -> Option<String>| -> Option<Sourced<String>> {
        order.iter().find_map(|f| {
            get(f)
                .filter(|v| !v.is_empty())
                .map(|v| Sourced::new(v, Some(f.source.clone()), f.observed_at))
        })
    };

    let kind = order.first().map(|f| f.kind).unwrap_or(PartyKind::Person);
    let mut profile = Profile {
        given_name: pick(&|f| f.given_name.clone()),
        family_name: pick(&|f| f.family_name.clone()),
        loyalty_number: pick(&|f| f.loyalty_number.clone()),
        loyalty_status: pick(&|f| f.loyalty_status.clone()),
        ..Profile::default()
    };
    profile.birth_date = order.iter().find_map(|f| {
        f.birth_date
            .map(|d| Sourced::new(d, Some(f.source.clone()), f.observed_at))
    });
    let full = pick(&|f| f.full_name.clone());
    profile.display_name = match kind {
        PartyKind::Person => match (&profile.given_name, &profile.family_name) {
            (Some(g), Some(fam)) => Some(Sourced::new(
                format!("{} {}", g.value, fam.value),
                fam.source.clone(),
                fam.at.max(g.at),
            )),
            _ => full
                .clone()
                .or_else(|| profile.family_name.clone())
                .or_else(|| profile.given_name.clone()),
        },
        _ => full.clone().or_else(|| profile.family_name.clone()),
    };
    let mut extra_keys: Vec<&String> = fragments
        .iter()
        .flat_map(|f| f.extra.keys())
        .filter(|k| !k.starts_with('_'))
        .collect();
    extra_keys.sort();
    extra_keys.dedup();
    for k in extra_keys {
        if let Some(v) = pick(&|f| f.extra.get(k).cloned()) {
            profile.extra.insert(k.clone(), v);
        }
    }

    let contacts = contact_history(fragments);
    if let Some(current) = contacts
        .iter()
        .filter(|c| c.kind == ContactKind::Address && c.valid_to.is_none())
        .max_by_key(|c| c.valid_from)
    {
        // The current address's parts, from the fragment that supplied it.
        let addr = fragments.iter().find_map(|f| {
            f.addresses
                .iter()
                .find(|a| address_line(a) == current.value)
                .map(|a| (f, a))
        });
        if let Some((f, a)) = addr {
            profile.city = a
                .locality
                .clone()
                .map(|v| Sourced::new(v, Some(f.source.clone()), f.observed_at));
            profile.country = a
                .country
                .clone()
                .map(|v| Sourced::new(v, Some(f.source.clone()), f.observed_at));
        }
    }

    let mut identifiers: Vec<_> = fragments.iter().map(|f| f.source.clone()).collect();
    identifiers.sort();
    identifiers.dedup();

    // Relationships: this customer's own statements, plus those other customers' records
    // state about it (kept from the stored customer).
    let own: std::collections::BTreeSet<_> = identifiers.iter().collect();
    let mut rels = relationships;
    if let Some(old) = existing {
        for r in &old.relationships {
            let stated_by_other = r.source.as_ref().is_some_and(|s| !own.contains(s));
            if stated_by_other && !rels.contains(r) {
                rels.push(r.clone());
            }
        }
    }
    rels.sort_by(|a, b| (a.other, &a.kind).cmp(&(b.other, &b.kind)));
    rels.dedup_by(|a, b| a.other == b.other && a.kind == b.kind);

    let mut quality = Vec::new();
    if !contacts.iter().any(|c| c.is_current_at(now)) {
        quality.push(QualityFlag::NoCurrentContact);
    }
    for c in contacts.iter().filter(|c| c.valid_to.is_none()) {
        if now.as_millis() - c.last_seen.as_millis() > STALE_AFTER_MS {
            quality.push(QualityFlag::StaleContact {
                value: c.value.clone(),
                last_seen: c.last_seen,
            });
        }
    }
    let distinct_dates: std::collections::BTreeSet<Date> =
        fragments.iter().filter_map(|f| f.birth_date).collect();
    if distinct_dates.len() > 1 {
        quality.push(QualityFlag::ConflictingValues {
            field: "birth_date".into(),
        });
    }
    // Initials (`Margaret O.`) do not disagree with the full name.
    let distinct_family: std::collections::BTreeSet<String> = fragments
        .iter()
        .filter_map(|f| f.family_name.as_deref())
        .map(crate::cleanse::fold)
        .filter(|n| n.chars().count() > 1)
        .collect();
    if distinct_family.len() > 1 {
        quality.push(QualityFlag::ConflictingValues {
            field: "family_name".into(),
        });
    }
    if let Some(old) = existing {
        for q in &old.quality {
            if matches!(q, QualityFlag::PendingReview | QualityFlag::Other(_))
                && !quality.contains(q)
            {
                quality.push(q.clone());
            }
        }
    }

    let first_seen = fragments.iter().map(|f| f.observed_at).min().unwrap_or(now);
    Customer {
        id,
        kind,
        profile,
        contacts,
        identifiers,
        relationships: rels,
        preferences: existing.map(|c| c.preferences.clone()).unwrap_or_default(),
        quality,
        created: existing.map(|c| c.created).unwrap_or(first_seen.min(now)),
        updated: now,
    }
}

/// A normalised one-line form of an address, used as the contact point's value.
pub fn address_line(a: &Address) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let street = match (&a.street_number, &a.street) {
        (Some(n), Some(s)) => Some(format!("{n} {s}")),
        (None, Some(s)) => Some(s.clone()),
        (Some(n), None) => Some(n.clone()),
        (None, None) => None,
    };
    if let Some(s) = &street {
        parts.push(s);
    }
    for p in [&a.postcode, &a.locality, &a.region, &a.country]
        .into_iter()
        .flatten()
    {
        parts.push(p);
    }
    parts.join(", ")
}

/// Contact points from all fragments, with validity periods (see the module rules).
pub fn contact_history(fragments: &[Fragment]) -> Vec<ContactPoint> {
    let mut out: Vec<ContactPoint> = Vec::new();
    let mut seen: BTreeMap<(ContactKind, String), usize> = BTreeMap::new();
    let mut add = |kind: ContactKind, value: String, since: Timestamp, f: &Fragment| match seen
        .get(&(kind, value.clone()))
    {
        Some(&i) => {
            let c = &mut out[i];
            if c.valid_from.is_none_or(|v| since < v) {
                c.valid_from = Some(since);
                c.source = Some(f.source.clone());
            }
            c.last_seen = c.last_seen.max(f.observed_at.max(since));
        }
        None => {
            seen.insert((kind, value.clone()), out.len());
            out.push(ContactPoint {
                kind,
                value,
                valid_from: Some(since),
                valid_to: None,
                source: Some(f.source.clone()),
                last_seen: f.observed_at.max(since),
            });
        }
    };
    // A partial address (no street) at the postcode of a full one is the same address as a
    // source that keeps less of it (billing, marketing lists), not a move.
    let full_postcodes: std::collections::BTreeSet<&str> = fragments
        .iter()
        .flat_map(|f| &f.addresses)
        .filter(|a| a.street.is_some())
        .filter_map(|a| a.postcode.as_deref())
        .collect();
    for f in fragments {
        for e in &f.emails {
            add(ContactKind::Email, e.clone(), f.observed_at, f);
        }
        for p in &f.phones {
            add(ContactKind::Phone, p.clone(), f.observed_at, f);
        }
        for a in &f.addresses {
            if a.street.is_none()
                && a.postcode
                    .as_deref()
                    .is_some_and(|p| full_postcodes.contains(p))
            {
                continue;
            }
            let line = address_line(a);
            if !line.is_empty() {
                add(
                    ContactKind::Address,
                    line,
                    a.valid_from.unwrap_or(f.observed_at),
                    f,
                );
            }
        }
    }
    // A move: each address is closed by the next newer one.
    let mut addresses: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].kind == ContactKind::Address)
        .collect();
    addresses.sort_by_key(|&i| (out[i].valid_from, out[i].value.clone()));
    for w in addresses.windows(2) {
        let next_from = out[w[1]].valid_from;
        if next_from > out[w[0]].valid_from {
            out[w[0]].valid_to = next_from;
        }
    }
    out.sort_by(|a, b| {
        (a.kind, a.valid_to.is_some(), a.valid_from, &a.value).cmp(&(
            b.kind,
            b.valid_to.is_some(),
            b.valid_from,
            &b.value,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::SourceRef;

    fn frag(source: &str, key: &str, at: i64) -> Fragment {
        Fragment {
            source: SourceRef::new(source, key),
            kind: PartyKind::Person,
            observed_at: Timestamp::from_secs(at),
            given_name: None,
            family_name: None,
            full_name: None,
            birth_date: None,
            emails: vec![],
            phones: vec![],
            addresses: vec![],
            loyalty_number: None,
            loyalty_status: None,
            national_id: None,
            cross_refs: vec![],
            relations: vec![],
            extra: Default::default(),
        }
    }

    fn addr(street: &str, city: &str, since: Option<i64>) -> Address {
        Address {
            street: Some(street.into()),
            locality: Some(city.into()),
            valid_from: since.map(Timestamp::from_secs),
            ..Address::default()
        }
    }

    #[test]
    fn trusted_source_wins_then_newest() {
        let trust = Trust {
            order: vec!["loyalty".into(), "web".into()],
        };
        let mut a = frag("web", "1", 300);
        a.given_name = Some("Bobby".into());
        a.family_name = Some("Smith".into());
        let mut b = frag("loyalty", "M1", 100);
        b.given_name = Some("Robert".into());
        let mut c = frag("loyalty", "M1b", 200);
        c.given_name = Some("Rob".into());
        let cust = build(
            CustomerId(1),
            None,
            &[a, b, c],
            vec![],
            &trust,
            Timestamp::from_secs(400),
        );
        let g = cust.profile.given_name.clone().unwrap();
        assert_eq!(g.value, "Rob");
        assert_eq!(g.source, Some(SourceRef::new("loyalty", "M1b")));
        assert_eq!(cust.profile.family_name.clone().unwrap().value, "Smith");
        assert_eq!(cust.display_name(), "Rob Smith");
        assert_eq!(cust.identifiers.len(), 3);
    }

    #[test]
    fn a_move_closes_the_old_address() {
        let mut a = frag("crm", "1", 100);
        a.addresses.push(addr("1 HIGH ST", "LEEDS", Some(50)));
        let mut b = frag("web", "9", 500);
        b.addresses.push(addr("9 LOW RD", "YORK", Some(400)));
        b.emails.push("a@b.com".into());
        let cust = build(
            CustomerId(1),
            None,
            &[a, b],
            vec![],
            &Trust::default(),
            Timestamp::from_secs(600),
        );
        let addrs: Vec<_> = cust
            .contacts
            .iter()
            .filter(|c| c.kind == ContactKind::Address)
            .collect();
        assert_eq!(addrs.len(), 2);
        let old = addrs.iter().find(|c| c.value.contains("HIGH")).unwrap();
        assert_eq!(old.valid_to, Some(Timestamp::from_secs(400)));
        let new = addrs.iter().find(|c| c.value.contains("LOW")).unwrap();
        assert_eq!(new.valid_to, None);
        assert_eq!(cust.profile.city.unwrap().value, "YORK");
        assert!(cust.quality.is_empty(), "{:?}", cust.quality);
    }

    #[test]
    fn a_billing_postcode_is_not_a_move() {
        let mut a = frag("crm", "1", 100);
        a.addresses.push(Address {
            postcode: Some("SW8 3PF".into()),
            ..addr("3 HIGH STREET", "LONDON", Some(50))
        });
        let mut b = frag("finance", "9", 500);
        b.addresses.push(Address {
            postcode: Some("SW8 3PF".into()),
            ..Address::default()
        });
        b.family_name = Some("O.".into());
        a.family_name = Some("Okafor".into());
        let cust = build(
            CustomerId(1),
            None,
            &[a, b],
            vec![],
            &Trust::default(),
            Timestamp::from_secs(600),
        );
        let addrs: Vec<_> = cust
            .contacts
            .iter()
            .filter(|c| c.kind == ContactKind::Address)
            .collect();
        assert_eq!(addrs.len(), 1, "{addrs:?}");
        assert_eq!(addrs[0].valid_to, None);
        assert!(
            cust.quality
                .iter()
                .all(|q| !matches!(q, QualityFlag::ConflictingValues { .. }))
        );
    }

    #[test]
    fn conflicts_and_missing_contacts_are_flagged() {
        let mut a = frag("crm", "1", 100);
        a.birth_date = Date::new(1980, 1, 2);
        let mut b = frag("web", "2", 100);
        b.birth_date = Date::new(1980, 2, 1);
        let cust = build(
            CustomerId(1),
            None,
            &[a, b],
            vec![],
            &Trust::default(),
            Timestamp::from_secs(100),
        );
        assert!(cust.quality.contains(&QualityFlag::NoCurrentContact));
        assert!(cust.quality.contains(&QualityFlag::ConflictingValues {
            field: "birth_date".into()
        }));
    }
}
